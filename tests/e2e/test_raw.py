"""test_raw.py — raw TCP capture end to end: banner, first bytes, guesses, hand-over, hostile peers.

A `proto: raw` listener on loopback. Every connection must give exactly one
event (or, for HTTP, the HTTP module's events), whatever the peer does:
send nothing, close at once, hold the connection open, trickle one byte a
second, or send far more than is captured. Memory stays bounded.
"""

import base64
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns_wire as w  # noqa: E402
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

TIMEOUT_MS = 1500
BANNER = b"220 sinkhole ready\r\n"
CLIENT_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) + b"\x00" * 140


def raw_listener(**extra):
    lst = {"name": "raw", "proto": "raw",
           "raw": {"timeout_ms": TIMEOUT_MS, "capture_bytes": 4096}}
    lst.update(extra)
    return [lst]


FAMILIES = [
    {"name": "rustock_raw", "tag": "loader",
     "match": {"proto": "raw", "payload": {"prefix": "hex:c0de", "len": [4, 64]}}},
    {"name": "noise", "match": {"proto": "raw", "payload": {"entropy": [7.0, 8]}}},
    {"name": "webbot", "match": {"proto": "http", "path": "/gate.php"}, "answer": {"status": 200}},
]


def by_sport(evs):
    return {e["src_port"]: e for e in evs}


def test_capture_banner_guess():
    with h.Sinkd(listen=raw_listener(raw={"timeout_ms": TIMEOUT_MS, "banner": "220 sinkhole ready\r\n"}),
                 families=FAMILIES) as d:
        port = d.port()
        sent = {}
        # A custom binary check-in: banner first, then recorded and closed after EOF.
        s = h.connect(port)
        assert h.recv_until(s, b"\r\n") == BANNER
        s.sendall(b"\xc0\xde\x00\x10hello")
        s.shutdown(socket.SHUT_WR)
        assert h.recv_all(s) == b"", "raw listeners send nothing but the banner"
        sent[s.getsockname()[1]] = ("rustock_raw", b"\xc0\xde\x00\x10hello", "unknown")
        s.close()
        # 64 KiB of random bytes: the first 4 KiB are kept, the event says how much came.
        big = os.urandom(65536)
        s = h.connect(port)
        try:
            s.sendall(big)
        except OSError:
            pass  # closed after the capture: the rest may be refused
        h.recv_all(s, timeout=3)
        sent[s.getsockname()[1]] = ("noise", big[:4096], "unknown")
        s.close()
        # A TLS ClientHello on a raw port: handed to the TLS module, which records this
        # (zero-filled, so malformed) hello as a tls event with its bytes.
        s = h.connect(port)
        s.sendall(CLIENT_HELLO)
        s.shutdown(socket.SHUT_WR)
        h.recv_all(s)
        sent[s.getsockname()[1]] = ("unknown", CLIENT_HELLO, "tls")
        s.close()
        for line, g in ((b"SSH-2.0-Go\r\n", "ssh"), (b"EHLO bot\r\n", "smtp")):
            s = h.connect(port)
            s.sendall(line)
            s.shutdown(socket.SHUT_WR)
            h.recv_all(s)
            sent[s.getsockname()[1]] = ("unknown", line, g)
            s.close()

        evs = d.wait_events(len(sent))
        got = by_sport(evs)
        assert sorted(got) == sorted(sent), (sorted(got), sorted(sent))
        for sport, (fam, data, guess) in sent.items():
            e = got[sport]
            if guess == "tls":
                assert e["event_type"] == "tls" and e["tls"]["handshake"] == "malformed", e
                assert base64.b64decode(e["payload"]) == data, e
                continue
            assert e["event_type"] == "sinkhole_raw" and e["app_proto"] == "failed", e
            assert base64.b64decode(e["payload"]) == data, (sport, e["payload"][:80])
            assert e["raw"]["guess"] == guess, (guess, e["raw"])
            assert e["raw"]["banner_length"] == len(BANNER), e["raw"]
            assert u.sk(e)["family"] == fam, (fam, u.sk(e))
        e = got[[p for p, v in sent.items() if v[0] == "noise"][0]]
        assert e["raw"]["length"] > 4096 and "truncated" in u.flags(e), e["raw"]
        assert e["raw"]["entropy"] > 7.0, e["raw"]
        assert u.sk(got[[p for p, v in sent.items() if v[0] == "rustock_raw"][0]])["tag"] == "loader"
        u.stop_clean(d)  # exit 0, no sanitizer report, the log verifies


def test_http_handover():
    with h.Sinkd(listen=raw_listener(), families=FAMILIES) as d:
        port = d.port()
        body = b"id=42&os=win7"
        req = (b"POST /gate.php HTTP/1.1\r\nHost: cnc.example\r\nContent-Length: %d\r\n\r\n%s"
               % (len(body), body))
        s = h.connect(port)
        # Trickled in three pieces, the first too short to guess: still handed over whole.
        s.sendall(req[:2])
        time.sleep(0.2)
        s.sendall(req[2:30])
        time.sleep(0.2)
        s.sendall(req[30:])
        resp = h.recv_until(s, b"\r\n\r\n")
        assert resp.startswith(b"HTTP/1.1 200"), resp
        # Keep-alive: a second request on the same connection is recorded too.
        s.sendall(b"GET /second HTTP/1.1\r\nHost: cnc.example\r\nConnection: close\r\n\r\n")
        resp = h.recv_all(s)
        assert resp.startswith(b"HTTP/1.1 404"), resp
        s.close()
        evs = d.wait_events(2)
        assert [e["event_type"] for e in evs] == ["http", "http"], evs
        assert evs[0]["http"]["url"] == "/gate.php" and u.sk(evs[0])["family"] == "webbot", evs[0]
        assert u.sk(evs[0])["body_sha256"] == hashlib.sha256(body).hexdigest(), evs[0]
        assert u.sk(evs[0])["listener"] == "raw" and evs[1]["http"]["url"] == "/second"
        assert evs[0]["flow_id"] == evs[1]["flow_id"]
        u.stop_clean(d)


def test_hostile_peers():
    n_silent, n_empty, n_trickle = 300, 100, 4
    u.raise_nofile(n_silent + 512)
    with h.Sinkd(listen=raw_listener(max_connections=2000), families=FAMILIES) as d:
        port = d.port()
        rss0 = u.settled_rss_kib(d)
        rss_peak = rss0
        empty_ports, silent, trickle = set(), [], []
        for _ in range(n_empty):  # connect and close at once: zero-length connections
            s = h.connect(port)
            empty_ports.add(s.getsockname()[1])
            s.close()
        for _ in range(n_silent):  # a flood of connections that never say anything
            s = h.connect(port)
            silent.append(s)
        for _ in range(n_trickle):
            trickle.append(h.connect(port))
        rss_peak = max(rss_peak, u.vmrss_kib(d.pid))
        # One byte per second until the daemon's capture timeout closes them.
        trickled = {t.getsockname()[1]: b"" for t in trickle}
        for i in range(4):
            for t in trickle:
                try:
                    t.send(b"%c" % (0x41 + i))
                    trickled[t.getsockname()[1]] += b"%c" % (0x41 + i)
                except OSError:
                    pass
            rss_peak = max(rss_peak, u.vmrss_kib(d.pid))
            time.sleep(1.0)
        closed = sum(1 for s in silent[:50] if h.is_closed(s, timeout=3))
        assert closed == 50, f"only {closed} of 50 silent connections closed by the daemon"
        for s in silent + trickle:
            s.close()

        want = n_empty + n_silent + n_trickle
        evs = d.wait_events(want, timeout=30)
        assert len(evs) == want, f"{len(evs)} events, want {want}"
        got = by_sport(evs)
        for p in empty_ports:
            e = got[p]
            assert e["raw"]["length"] == 0 and "payload" not in e, e
            assert u.sk(e)["reason"] == "connection closed without data", e
        silent_evs = [e for e in evs if u.sk(e).get("reason") == "no data before timeout"]
        assert len(silent_evs) == n_silent, len(silent_evs)
        assert all("timeout" in u.flags(e) for e in silent_evs)
        for p, data in trickled.items():
            e = got[p]
            assert "timeout" in u.flags(e), e
            got_bytes = base64.b64decode(e["payload"])
            # What arrived before the timeout, in order: a prefix of what was trickled.
            assert got_bytes and data.startswith(got_bytes) and len(got_bytes) <= 3, (got_bytes, data)
        rss_end = u.vmrss_kib(d.pid)
        print(f"  VmRSS {rss0} KiB at start, peak {rss_peak} KiB, {rss_end} KiB at the end",
              flush=True)
        assert rss_peak - rss0 < 16 * 1024, f"VmRSS grew by {rss_peak - rss0} KiB"
        st = u.wait_stats(d, lambda s: s["connections"]["open"] == 0, what="all closed")
        assert st["connections"]["accepted"] == want, st["connections"]
        u.stop_clean(d)  # exit 0, no sanitizer report, the log verifies


DNS_QUERY = bytes.fromhex("123401000001000000000000") + b"\x03cnc\x07example\x00\x00\x01\x00\x01"


def udp_from(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    return s


def test_udp_datagrams_and_cap():
    rate, flood = 10, 100
    lst = raw_listener(raw={"timeout_ms": TIMEOUT_MS, "udp_rate": rate})
    with h.Sinkd(listen=lst, families=FAMILIES) as d:
        port = d.port()
        rss0 = u.settled_rss_kib(d)
        a = udp_from("127.0.0.1")
        for i in range(flood):
            a.sendto(b"\xc0\xde\x00\x10flood%03d" % i, ("127.0.0.1", port))
        b = udp_from("127.0.0.2")
        b.sendto(DNS_QUERY, ("127.0.0.1", port))
        b.sendto(os.urandom(65000), ("127.0.0.1", port))
        # 64 KiB datagrams from many sources, each under its cap: bounded memory, no crash.
        big = [udp_from(f"127.0.1.{i}") for i in range(1, 51)]
        for k in range(4):
            for s in big:
                s.sendto(os.urandom(65507), ("127.0.0.1", port))
        # Nothing ever comes back: a sinkhole is not an amplifier.
        a.settimeout(0.5)
        try:
            reply = a.recv(65536)
        except socket.timeout:
            reply = None
        assert reply is None, reply
        time.sleep(1.2)  # a new window: the next datagram carries the suppressed count
        a.sendto(b"\xc0\xde\x00\x10final", ("127.0.0.1", port))
        evs = [e for e in d.wait_events(1) if e["proto"] == "UDP"]
        h.wait_until(lambda: any(base64.b64decode(e.get("payload", "")).endswith(b"final")
                                 for e in d.events()), timeout=10, what="the final datagram")
        evs = d.events()
        from_a = [e for e in evs if e["src_ip"] == "127.0.0.1"]
        flood_evs = [e for e in from_a if b"flood" in base64.b64decode(e["payload"])]
        final = [e for e in from_a if base64.b64decode(e["payload"]).endswith(b"final")]
        assert len(final) == 1, final
        suppressed = sum(e.get("raw", {}).get("suppressed", 0) for e in from_a)
        print(f"  source A: {len(flood_evs)} of {flood} recorded, {suppressed} suppressed",
              flush=True)
        # One-second windows: a burst may straddle two of them, never more.
        assert rate <= len(flood_evs) <= 2 * rate, len(flood_evs)
        assert len(flood_evs) + suppressed == flood, (len(flood_evs), suppressed)
        for e in flood_evs:
            assert u.sk(e)["family"] == "rustock_raw" and e["proto"] == "UDP", e
        from_b = {e["raw"]["guess"]: e for e in evs if e["src_ip"] == "127.0.0.2"}
        assert from_b["dns"]["dest_port"] == port, from_b
        e = from_b["unknown"]
        assert "truncated" in u.flags(e), e
        assert len(base64.b64decode(e["payload"])) == 4096 and e["raw"]["length"] == 65000, e["raw"]
        n_big = len([e for e in evs if e["src_ip"].startswith("127.0.1.")])
        assert n_big > 0, "no 64 KiB datagram recorded"
        rss = u.vmrss_kib(d.pid)
        print(f"  {n_big} of 200 64 KiB datagrams recorded; VmRSS {rss0} -> {rss} KiB", flush=True)
        assert rss - rss0 < 16 * 1024, (rss0, rss)
        for s in [a, b] + big:
            s.close()
        u.stop_clean(d)  # exit 0, no sanitizer report, the log verifies


def test_beside_dns():
    """Raw TCP/UDP and the DNS sinkhole in one daemon: both datagram modules on one worker
    loop, answered mode (held DNS replies), each event with its own object only, clean exit."""
    lst = raw_listener(raw={"timeout_ms": TIMEOUT_MS, "udp_rate": 5}) + [
        {"name": "dns", "proto": "dns"}]
    dns = {"a": ["192.0.2.10"], "zones": [{"family": "rustock", "names": ["rustock-cc.test"]}]}
    with h.Sinkd(listen=lst, families=FAMILIES,
                 config={"log": {"fsync": "answered"}, "dns": dns}) as d:
        raw_port, dns_port = d.port("raw"), d.port("dns")
        for i in range(10):
            r = w.parse(w.udp(dns_port, w.query(f"q{i}.rustock-cc.test", "A", qid=i)))
            assert r["id"] == i and r["rcode"] == "NOERROR", r
            assert r["answer"] == [(f"q{i}.rustock-cc.test", "A", r["answer"][0][2],
                                    "192.0.2.10")], r
        (t,) = w.tcp(dns_port, [w.query("t.rustock-cc.test", "A", qid=77)])
        assert w.parse(t)["id"] == 77
        # The same DNS query on the raw port: recorded as a guess, never answered.
        c = udp_from("127.0.0.3")
        c.settimeout(0.5)
        c.sendto(w.query("q.rustock-cc.test", "A", qid=5), ("127.0.0.1", raw_port))
        try:
            reply = c.recv(65536)
        except socket.timeout:
            reply = None
        assert reply is None, reply
        c.close()
        s = h.connect(raw_port)
        s.sendall(b"\xc0\xde\x00\x10beside")
        s.shutdown(socket.SHUT_WR)
        assert h.recv_all(s) == b""
        s.close()
        evs = d.wait_events(13)
        dns_evs = [e for e in evs if e["event_type"] == "dns"]
        raw_evs = [e for e in evs if e["event_type"] == "sinkhole_raw"]
        assert len(dns_evs) == 11 and len(raw_evs) == 2, evs
        for e in dns_evs:
            assert "raw" not in e and u.sk(e)["family"] == "rustock", e
            assert u.sk(e)["listener"] == "dns" and e["dest_port"] == dns_port, e
        by_proto = {e["proto"]: e for e in raw_evs}
        assert by_proto["UDP"]["raw"]["guess"] == "dns" and "dns" not in by_proto["UDP"], by_proto
        assert u.sk(by_proto["TCP"])["family"] == "rustock_raw", by_proto
        st = u.wait_stats(d, lambda x: x["events"]["written"] >= 13, what="13 written")
        assert st["datagrams"]["held_dropped"] == 0, st
        u.stop_clean(d)  # held replies and both per-worker tables torn down cleanly


if __name__ == "__main__":
    h.run([test_capture_banner_guess, test_http_handover, test_hostile_peers,
           test_udp_datagrams_and_cap, test_beside_dns])
