"""test_malformed.py — hostile input on raw sockets: each gets the documented answer (or none) and exactly one event.

Every case runs on its own connection; its event is found by the client's
local port (the recorded src_port). After each case a normal request must
still be answered, and at the end the sanitizer build's stderr must be clean.
"""

import base64
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

MAX_BODY = 4096
LISTEN = [{"name": "web", "proto": "http", "limits": {"max_body_bytes": MAX_BODY}},
          {"name": "px", "proto": "http", "proxy_protocol": True}]

R400 = b"HTTP/1.1 400 Bad Request\r\n"
R413 = b"HTTP/1.1 413 Content Too Large\r\n"
R431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
RNONE = b""

_rnd = random.Random(20240601)
GARBAGE = bytes(_rnd.randrange(256) for _ in range(700)) + b"\r\n\r\n"
TLS_HELLO = (bytes.fromhex("16030100c8010000c40303") + bytes(_rnd.randrange(256) for _ in range(32))
             + b"\x00\x00\x04\x13\x01\x13\x02\x01\x00\x00\x97\x00\x00\x00\x10\x00\x0e\x00\x00"
             + b"\x0bexample.com" + bytes(120))
CHUNK_HEAD = b"POST /chunk HTTP/1.1\r\nHost: m.test\r\nTransfer-Encoding: chunked\r\n\r\n"

# name, listener, bytes, how to end (shut: half-close, rst: reset, none: keep open and read),
# expected answer prefix, flags, reason (None: any non-empty), http fields expected
CASES = [
    ("garbage", "web", GARBAGE, "shut", R400, {"malformed"}, None, None),
    ("nul-in-method", "web", b"GE\x00T / HTTP/1.1\r\nHost: m.test\r\n\r\n", "none", R400,
     {"malformed"}, "bad method", None),
    ("nul-in-target", "web", b"GET /a\x00b HTTP/1.1\r\nHost: m.test\r\n\r\n", "none", R400,
     {"malformed"}, "bad request target", None),
    ("nul-in-header", "web", b"GET / HTTP/1.1\r\nHost: m.test\r\nX-A: a\x00b\r\n\r\n", "none", R400,
     {"malformed"}, None, None),
    ("bad-request-line", "web", b"GET/HTTP/1.1\r\nHost: m.test\r\n\r\n", "none", R400,
     {"malformed"}, None, None),
    ("10KiB-header-line", "web", b"GET / HTTP/1.1\r\nHost: m.test\r\nX-Long: " + b"a" * 10240
     + b"\r\n\r\n", "none", R431, {"limit", "truncated"}, "request head too large", None),
    ("200-headers", "web", b"GET / HTTP/1.1\r\nHost: m.test\r\n"
     + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n", "none", R431,
     {"limit", "truncated"}, "too many headers", None),
    ("content-length-abc", "web", b"POST / HTTP/1.1\r\nHost: m.test\r\nContent-Length: abc\r\n\r\n",
     "none", R400, {"malformed"}, "bad Content-Length", None),
    ("content-length-neg", "web", b"POST / HTTP/1.1\r\nHost: m.test\r\nContent-Length: -1\r\n\r\n",
     "none", R400, {"malformed"}, "bad Content-Length", None),
    ("content-length-two", "web", b"POST / HTTP/1.1\r\nHost: m.test\r\nContent-Length: 3\r\n"
     b"Content-Length: 4\r\n\r\nabcd", "none", R400, {"malformed"}, "conflicting Content-Length",
     None),
    ("chunk-size-zz", "web", CHUNK_HEAD + b"zz\r\nabc\r\n0\r\n\r\n", "none", R400, {"malformed"},
     "malformed chunked body", {"url": "/chunk", "http_method": "POST", "status": 400}),
    ("chunk-size-huge", "web", CHUNK_HEAD + b"ffffffffffffffffff\r\nabc\r\n", "none", R400,
     {"malformed"}, "malformed chunked body", {"url": "/chunk", "status": 400}),
    ("chunk-after-data", "web", CHUNK_HEAD + b"3\r\nabcX\r\n0\r\n\r\n", "none", R400,
     {"malformed"}, "malformed chunked body", {"url": "/chunk", "status": 400}),
    ("obs-fold", "web", b"GET / HTTP/1.1\r\nHost: m.test\r\nX-A: a\r\n  folded\r\n\r\n", "none",
     R400, {"malformed"}, None, None),
    ("http2-preface", "web", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "none", R400, {"malformed"},
     "HTTP version not 1.x", None),
    ("tls-client-hello", "web", TLS_HELLO, "none", R400, {"malformed"}, None, None),
    ("body-over-max", "web", b"POST /big HTTP/1.1\r\nHost: m.test\r\nContent-Length: 100000\r\n\r\n"
     + b"z" * 100000, "none", R413, {"limit", "truncated"}, "body larger than max_body_bytes",
     {"url": "/big", "status": 413}),
    ("close-mid-head", "web", b"GET /partial HTTP/1.1\r\nHost: m.test\r\nX-", "shut", RNONE,
     {"truncated", "no_answer"}, "connection closed before the request head was complete", None),
    ("reset-mid-head", "web", b"GET /partial HTTP/1.1\r\nHost: m.te", "rst", RNONE,
     {"truncated", "no_answer"}, "connection closed before the request head was complete", None),
    ("close-mid-body", "web", b"POST /mid-body HTTP/1.1\r\nHost: m.test\r\nContent-Length: 100\r\n"
     b"\r\nhalf", "shut", RNONE, {"truncated", "no_answer"}, "connection closed mid-body",
     {"url": "/mid-body", "http_request_body": base64.b64encode(b"half").decode()}),
    ("close-without-data", "web", b"", "shut", RNONE, {"no_answer"},
     "connection closed without data", None),
    ("proxy-v1-truncated", "px", b"PROXY TCP4 198.51.100.1 192", "shut", RNONE,
     {"malformed", "no_answer"}, "PROXY header incomplete", None),
    ("proxy-v2-truncated", "px", u.proxy_v2_spec("198.51.100.1", "192.0.2.1", 1, 2)[:20], "shut",
     RNONE, {"malformed", "no_answer"}, "PROXY header incomplete", None),
    ("proxy-v2-sig-only", "px", u.proxy_v2_spec("198.51.100.1", "192.0.2.1", 1, 2)[:12], "shut",
     RNONE, {"malformed", "no_answer"}, "PROXY header incomplete", None),
    ("proxy-garbage", "px", b"PROXY FOO bar baz\r\nGET / HTTP/1.1\r\nHost: m.test\r\n\r\n", "none",
     RNONE, {"malformed", "no_answer"}, None, None),
    ("proxy-v2-bad-version", "px", b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + bytes(12)
     + b"GET / HTTP/1.1\r\n\r\n", "none", RNONE, {"malformed", "no_answer"}, None, None),
    ("proxy-missing-http-first", "px", b"GET / HTTP/1.1\r\nHost: m.test\r\n\r\n", "none", RNONE,
     {"malformed", "no_answer"}, None, None),
]


def run_case(d, listener, data, end, one_byte=False):
    """Sends one case; returns (local port, bytes received)."""
    s = h.connect(d.port(listener))
    port = s.getsockname()[1]
    try:
        if one_byte:
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                time.sleep(0.002)
        elif data:
            s.sendall(data)
        if end == "shut":
            s.shutdown(socket.SHUT_WR)
        elif end == "rst":
            time.sleep(0.1)  # let the daemon read the bytes before the reset
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            return port, b""
        got = h.recv_all(s, 5)
    finally:
        s.close()
    return port, got


def health(d, i):
    status, _, _ = h.http_request(d.port("web"), "GET", f"/health/{i}", "ok.test")
    assert status == 404, status
    assert d.running(), f"sinkd died\n{d.log_tail(40)}"


def by_port(evs):
    """Events by (the client's local port, listener): src_port, or the real peer's behind a
    PROXY header. The kernel may give two connections to different listeners the same
    local port, so the port alone does not name a connection."""
    out = {}
    for e in evs:
        key = (u.sk(e).get("peer_port", e["src_port"]), u.sk(e).get("listener"))
        out.setdefault(key, []).append(e)
    return out


def test_hostile_inputs_table():
    with h.Sinkd(listen=LISTEN) as d:
        sent = []
        for i, (name, lst, data, end, want, *_rest) in enumerate(CASES):
            port, got = run_case(d, lst, data, end)
            if want:
                assert got.startswith(want), f"{name}: answer {got[:80]!r}, want {want!r}"
                assert b"Connection: close\r\n" in got, f"{name}: refusal without Connection: close"
            else:
                assert got == b"", f"{name}: answered {got[:80]!r}, want no answer"
            sent.append(port)
            health(d, i)
        # A request split into 1-byte sends is an ordinary request.
        req = b"POST /one-byte HTTP/1.1\r\nHost: m.test\r\nContent-Length: 5\r\n\r\nhello"
        one_port, got = run_case(d, "web", req, "shut", one_byte=True)
        assert got.startswith(b"HTTP/1.1 404 "), got[:80]

        n_expected = 2 * len(CASES) + 1
        h.wait_until(lambda: len(d.events()) >= n_expected, timeout=10, what=f"{n_expected} events")
        time.sleep(0.3)
        evs = d.events()
        assert len(evs) == n_expected, f"{len(evs)} events, want {n_expected}"
        ports = by_port(evs)
        for (name, lst, data, end, want, flags, reason, http), port in zip(CASES, sent):
            got = ports.get((port, lst), [])
            assert len(got) == 1, f"{name}: {len(got)} events for its connection: {got}"
            ev = got[0]
            where = f"{name}: "
            assert u.flags(ev) == flags, f"{where}flags {u.flags(ev)}, want {flags}: {ev}"
            if reason:
                assert u.sk(ev).get("reason") == reason, f"{where}reason {u.sk(ev).get('reason')!r}"
            else:
                assert u.sk(ev).get("reason"), f"{where}no reason: {ev}"
            u.expect_fields(ev, "top", src_ip="127.0.0.1", dest_port=d.port(lst), tx_id=0,
                            event_type="http", proto="TCP")
            u.expect_fields(ev, "sinkhole", listener=lst, family="unknown")
            status = int(want.split(b" ")[1]) if want else None
            if status:
                u.expect_fields(ev, "http", status=status)
            else:
                assert "status" not in u.hp(ev), f"{where}status recorded without an answer: {ev}"
            if http:
                u.expect_fields(ev, "http", **http)
            # Input that is not a request head is kept raw: the first 512 bytes.
            if not http and data:
                raw = base64.b64decode(ev.get("payload", ""))
                assert raw == data[:512], f"{where}payload {raw[:60]!r}, want {data[:60]!r}"
                assert ev["payload"] == u.sk(ev)["raw_prefix"], ev
                want_pr = "".join(chr(b) if 32 <= b < 127 or b in (10, 13) else "."
                                  for b in data[:512])
                assert ev["payload_printable"] == want_pr, f"{where}{ev['payload_printable']!r}"
            elif not data:
                assert "payload" not in ev, ev
        ev = by_port(evs)[(one_port, "web")]
        assert len(ev) == 1, ev
        ev = ev[0]
        assert u.flags(ev) == set(), ev
        u.expect_fields(ev, "sinkhole", body_length=5, body_sha256=u.sha256(b"hello"))
        u.expect_fields(ev, "http", url="/one-byte", status=404)
        # Every health request was answered and recorded normally.
        assert sum(1 for e in evs if u.hp(e).get("url", "").startswith("/health/")) == len(CASES)

        want_malformed = sum(1 for e in evs if u.flags(e) & {"malformed", "limit"})
        st = u.wait_stats(d, lambda s: s["events"]["written"] >= n_expected, what="events written")
        assert st["malformed"] == want_malformed, (st["malformed"], want_malformed)
        assert st["events"]["dropped_ring"] == 0 and st["events"]["dropped_disk"] == 0, st
        u.stop_clean(d)


def test_timeouts():
    listen = [{"name": "web", "proto": "http",
               "limits": {"header_timeout_ms": 800, "idle_timeout_ms": 800}}]
    with h.Sinkd(listen=listen) as d:
        port = d.port()
        silent = h.connect(port)
        head = h.connect(port)
        head.sendall(b"GET /slow HTTP/1.1\r\nHost: t.test\r\n")
        body = h.connect(port)
        body.sendall(b"POST /slow-body HTTP/1.1\r\nHost: t.test\r\nContent-Length: 10\r\n\r\nabc")
        idle = h.connect(port)
        idle.sendall(b"GET /idle HTTP/1.1\r\nHost: t.test\r\n\r\n")
        assert h.recv_until(idle, b"\r\n\r\n").startswith(b"HTTP/1.1 404"), "no answer on idle conn"
        t0 = time.monotonic()
        socks = {"silent": silent, "head": head, "body": body, "idle": idle}
        ports = {k: s.getsockname()[1] for k, s in socks.items()}
        for k, s in socks.items():
            assert h.recv_all(s, 5) == b"", f"{k}: got an answer to a timed-out connection"
        took = time.monotonic() - t0
        assert took < 4, f"timed-out connections closed only after {took:.1f}s"
        for s in socks.values():
            s.close()
        evs = d.wait_events(4)
        time.sleep(0.3)
        evs = d.events()
        assert len(evs) == 4, evs
        p = {port: v for (port, _), v in by_port(evs).items()}  # one listener
        want = {"silent": ({"timeout", "no_answer"}, "no data before timeout"),
                "head": ({"timeout", "no_answer"}, "request head timed out"),
                "body": ({"timeout", "truncated", "no_answer"}, "request body timed out")}
        for k, (fl, reason) in want.items():
            assert len(p.get(ports[k], [])) == 1, (k, p.get(ports[k]))
            ev = p[ports[k]][0]
            assert u.flags(ev) == fl, (k, ev)
            u.expect_fields(ev, "sinkhole", reason=reason)
        assert base64.b64decode(p[ports["head"]][0]["payload"]) == \
            b"GET /slow HTTP/1.1\r\nHost: t.test\r\n", p[ports["head"]]
        u.expect_fields(p[ports["body"]][0], "sinkhole", body_length=3,
                        body_sha256=u.sha256(b"abc"))
        # The idle keep-alive connection was closed without an event of its own.
        assert len(p[ports["idle"]]) == 1 and u.flags(p[ports["idle"]][0]) == set(), p[ports["idle"]]
        st = u.wait_stats(d, lambda s: s["connections"]["timeouts"] >= 4, what="4 timeouts")
        assert st["connections"]["timeouts"] == 4, st
        assert st["connections"]["open"] == 0, st
        u.stop_clean(d)


VALID = [
    b"GET /gate.php?id=1 HTTP/1.1\r\nHost: cnc.test\r\nUser-Agent: bot\r\n\r\n",
    b"POST /login.php HTTP/1.1\r\nHost: cnc.test\r\nContent-Length: 10\r\n\r\n0123456789",
    b"POST /c HTTP/1.1\r\nHost: cnc.test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    u.proxy_v1_text("198.51.100.3", "192.0.2.1", 1234, 80) + b"GET /p HTTP/1.1\r\nHost: a\r\n\r\n",
]
TOKENS = [b"\r\n", b"\n", b"\x00", b":", b" ", b"\t", b"Content-Length: 99999999999999999999\r\n",
          b"Transfer-Encoding: chunked\r\n", b"\xff", b"%", b"HTTP/1.1", b"\r\n\r\n", b"fffffffff\r\n"]


def mutate(rnd, data):
    data = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(6)
        pos = rnd.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rnd.randrange(256)
        elif op == 1:
            data[pos:pos] = rnd.choice(TOKENS)
        elif op == 2 and data:
            del data[pos:pos + rnd.randint(1, 8)]
        elif op == 3:
            data = data[:pos]
        elif op == 4:
            a = rnd.randrange(len(data) + 1)
            data[pos:pos] = data[a:a + rnd.randint(1, 40)]
        else:
            data[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    return bytes(data)


def test_random_fuzz():
    seed = int(os.environ.get("SINKD_FUZZ_SEED", "424242"))
    rnd = random.Random(seed)
    listen = [{"name": "web", "proto": "http", "limits": {"max_body_bytes": MAX_BODY,
                                                          "header_timeout_ms": 2000}},
              {"name": "px", "proto": "http", "proxy_protocol": True,
               "limits": {"header_timeout_ms": 2000}}]
    deadline = time.monotonic() + 60
    with h.Sinkd(listen=listen) as d:
        conns = []  # (listener, local port, data, answer)
        for i in range(64):
            assert time.monotonic() < deadline, "fuzz loop over its time bound"
            base = rnd.choice(VALID)
            lst = "px" if base.startswith(b"PROXY") else "web"
            data = mutate(rnd, base)
            s = h.connect(d.port(lst))
            port = s.getsockname()[1]
            try:
                pos = 0
                while pos < len(data):  # random split points
                    n = rnd.randint(1, max(1, len(data) - pos))
                    s.sendall(data[pos:pos + n])
                    pos += n
                    if rnd.random() < 0.3:
                        time.sleep(0.005)
                s.shutdown(socket.SHUT_WR)
                got = h.recv_all(s, 4)
            except OSError:  # the daemon refused and closed (or reset) before we finished
                got = h.recv_all(s, 1)
            finally:
                s.close()
            conns.append((lst, port, data, got))
            if i % 8 == 7:
                health(d, i)
                u.assert_no_sanitizer(d)
        n_health = 8
        # Every connection leaves at least one event (one per request it held, in tx order).
        def enough():
            p = by_port(d.events())
            return all((port, lst) in p for lst, port, _, _ in conns) and p
        try:
            h.wait_until(enough, timeout=15, what="an event for every fuzz connection")
        except AssertionError:
            p = by_port(d.events())
            missing = [(data, got) for lst, port, data, got in conns if (port, lst) not in p]
            raise AssertionError(f"seed {seed}: {len(missing)} connection(s) left no event: "
                                 + "; ".join(f"sent {m!r} got {g[:60]!r}" for m, g in missing[:4])
                                 ) from None
        time.sleep(0.3)
        p = by_port(d.events())
        for lst, port, data, got in conns:
            evs = p.get((port, lst), [])
            answers = got.count(b"HTTP/1.")
            assert evs, f"seed {seed}: no event for {data!r}"
            assert [e["tx_id"] for e in evs] == list(range(len(evs))), \
                f"seed {seed}: tx_ids {[e['tx_id'] for e in evs]} for {data!r}"
            assert len({e["flow_id"] for e in evs}) == 1, evs
            assert len(evs) >= answers, f"seed {seed}: {answers} answers but {len(evs)} events " \
                f"for {data!r}"
            assert all(e["sinkhole"]["listener"] == lst for e in evs), evs
        total = sum(len(v) for v in p.values())
        assert total >= len(conns) + n_health, total
        u.assert_alive(d, "after the fuzz loop")
        u.stop_clean(d)


if __name__ == "__main__":
    h.run([
        test_hostile_inputs_table,
        test_timeouts,
        test_random_fuzz,
    ])
