"""test_tls.py — the TLS sinkhole: handshake outcomes, hellos split across records and over 16 KiB, rules on sni/ja3/ja4, configured certificates, a slow-handshake flood.

Each case runs on its own connection; its event is found by the client's local
port (the recorded src_port).
"""

import os
import random
import select
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402


def client_ctx(verify=False, maxv=None, minv=None, alpn=("http/1.1",)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if maxv:
        ctx.maximum_version = maxv
    if minv:
        ctx.minimum_version = minv
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def https_get(port, sni="cnc.tls.test", path="/x", ctx=None):
    """One TLS request; returns (client port, status line, peer certificate DER)."""
    ctx = ctx or client_ctx()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        cport = s.getsockname()[1]
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            t.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + sni.encode()
                      + b"\r\nConnection: close\r\n\r\n")
            data = b""
            while not data.endswith(b"\r\n\r\n") and len(data) < 4096:
                chunk = t.recv(4096)
                if not chunk:
                    break
                data += chunk
            return cport, data.split(b"\r\n", 1)[0], t.getpeercert(binary_form=True)


def events_by_port(d, n):
    evs = d.wait_events(n)
    out = {}
    for ev in evs:
        out.setdefault(ev["src_port"], []).append(ev)
    return out


def tls_ev(byport, cport):
    evs = [e for e in byport.get(cport, []) if e["event_type"] == "tls"]
    assert len(evs) == 1, (cport, byport.get(cport))
    return evs[0]


def raw_case(port, data, end="shut", wait=0.0):
    """Sends bytes on a fresh connection; returns (client port, what came back)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    cport = s.getsockname()[1]
    s.sendall(data)
    if wait:
        time.sleep(wait)
    if end == "shut":
        s.shutdown(socket.SHUT_WR)
    if end == "none":
        return cport, s  # kept open: the caller closes it
    got = h.recv_all(s, timeout=5)
    s.close()
    return cport, got


def python_hello():
    """A real ClientHello from Python's ssl, and the objects to finish its handshake."""
    ctx = client_ctx()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="split.tls.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out, out.read()


def refragment(records, size, extra_ext=b""):
    """Rewrites handshake records into records of `size` bytes (optionally adding an extension)."""
    assert records[0] == 22
    body = b""
    i = 0
    while i < len(records):
        n = struct.unpack(">H", records[i + 3:i + 5])[0]
        body += records[i + 5:i + 5 + n]
        i += 5 + n
    if extra_ext:
        # ClientHello: type, len24, version, random, sid, ciphers, comp, exts.
        p = 4 + 2 + 32
        p += 1 + body[p]
        p += 2 + struct.unpack(">H", body[p:p + 2])[0]
        p += 1 + body[p]
        elen = struct.unpack(">H", body[p:p + 2])[0]
        exts = body[p + 2:p + 2 + elen] + extra_ext
        hello = body[4:p] + struct.pack(">H", len(exts)) + exts
        body = b"\x01" + struct.pack(">I", len(hello))[1:] + hello
    out = b""
    for off in range(0, len(body), size):
        frag = body[off:off + size]
        out += b"\x16\x03\x01" + struct.pack(">H", len(frag)) + frag
    return out


def finish_handshake(sock, obj, inc, out):
    """Pumps a MemoryBIO handshake over the socket; returns the first response line."""
    deadline = time.monotonic() + 10
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            assert data, "server closed during the handshake"
            inc.write(data)
        assert time.monotonic() < deadline
    obj.write(b"GET /split HTTP/1.1\r\nHost: split.tls.test\r\nConnection: close\r\n\r\n")
    sock.sendall(out.read())
    resp = b""
    while b"\r\n" not in resp:
        try:
            resp += obj.read(4096)
        except ssl.SSLWantReadError:
            data = sock.recv(65536)
            if not data:
                break
            inc.write(data)
    return resp.split(b"\r\n", 1)[0]


def test_outcomes():
    listen = [{"name": "tls", "proto": "tls", "limits": {"header_timeout_ms": 1500}},
              {"name": "tls12", "proto": "tls", "tls": {"max_version": "1.2",
                                                       "max_hello_bytes": "16K"}}]
    with h.Sinkd(listen=listen) as d:
        port, port12 = d.port("tls"), d.port("tls12")
        cases = {}
        # A normal request: handshake event and the HTTP event inside, sharing the flow.
        cport, status, _ = https_get(port)
        assert status.startswith(b"HTTP/1.1 404"), status
        cases["ok"] = cport
        cases["http"] = raw_case(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[0]
        cases["sslv2"] = raw_case(port, bytes.fromhex("802e0100020015000000100000050000"
                                                      "04010080") + bytes(16))[0]
        rnd = random.Random(7)
        cases["garbage"] = raw_case(port, bytes(rnd.randrange(256) for _ in range(300)))[0]
        cases["badrec"] = raw_case(port, b"\x16\x03\x01\x00\x04\x02\x00\x00\x00")[0]
        _, _, _, hello0 = python_hello()
        cases["trunc"] = raw_case(port, hello0[:60])[0]
        cases["timeout"], held = raw_case(port, hello0[:60], end="none")
        cases["empty"] = raw_case(port, b"")[0]
        # The client refuses the self-signed certificate: alert received.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            cases["unknown_ca"] = s.getsockname()[1]
            try:
                client_ctx(verify=True).wrap_socket(s, server_hostname="cnc.tls.test")
                raise AssertionError("verification should have failed")
            except ssl.SSLCertVerificationError:
                pass
        # TLS 1.3 only against a 1.2 listener: we send protocol_version.
        with socket.create_connection(("127.0.0.1", port12), timeout=10) as s:
            cases["version"] = s.getsockname()[1]
            try:
                client_ctx(minv=ssl.TLSVersion.TLSv1_3).wrap_socket(s, server_hostname="v.test")
                raise AssertionError("TLS 1.3 against max 1.2 should fail")
            except ssl.SSLError:
                pass
        # Split into 100-byte records and completed: same handshake, answered.
        obj, inc, out, hello = python_hello()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            cases["split"] = s.getsockname()[1]
            s.sendall(refragment(hello, 100))
            assert finish_handshake(s, obj, inc, out).startswith(b"HTTP/1.1 404")
        # A 40 KiB hello (post-quantum sized): parsed, fingerprinted, answered with a ServerHello.
        _, _, _, hello = python_hello()
        big = refragment(hello, 16384, extra_ext=b"\xfe\x0d" + struct.pack(">H", 40000)
                         + bytes(40000))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            cases["big"] = s.getsockname()[1]
            s.sendall(big)
            first = s.recv(6)
            assert first[:1] == b"\x16" and first[5:6] == b"\x02", first  # ServerHello
        # The same hello in two writes to a listener holding at most 16 KiB: refused, recorded.
        with socket.create_connection(("127.0.0.1", port12), timeout=10) as s:
            cases["toobig"] = s.getsockname()[1]
            s.sendall(big[:10000])
            time.sleep(0.3)
            try:
                s.sendall(big[10000:])
                s.recv(10)
            except OSError:
                pass
        time.sleep(2.5)  # the timeout case expires (1.5 s)
        held.close()

        byport = events_by_port(d, 15)
        ev = tls_ev(byport, cases["ok"])
        t = ev["tls"]
        u.expect_fields(ev, "top", app_proto="tls", dest_port=port)
        assert t["handshake"] == "completed" and t["sni"] == "cnc.tls.test", t
        assert t["version"] == "TLS 1.3" and t["alpn"] == "http/1.1", t
        # Server preference: AES-128-GCM (4865), although Python's OpenSSL offers AES-256-GCM first.
        assert t["client_alpns"] == ["http/1.1"] and t["cipher_suite"] == 4865, t
        httpev = [e for e in byport[cases["ok"]] if e["event_type"] == "http"]
        assert len(httpev) == 1 and httpev[0]["flow_id"] == ev["flow_id"], byport[cases["ok"]]
        ht = httpev[0]["tls"]
        assert ht == {"sni": "cnc.tls.test", "version": "TLS 1.3", "ja3": {"hash": t["ja3"]["hash"]},
                      "ja4": t["ja4"]}, ht
        assert httpev[0]["http"]["url"] == "/x" and httpev[0]["tx_id"] == 1, httpev[0]

        def outcome(name, want, flags=None, payload=None, reason=None):
            e = tls_ev(byport, cases[name])
            assert e["tls"]["handshake"] == want, (name, e)
            if flags is not None:
                assert u.flags(e) == flags, (name, e)
            if payload is not None:
                assert u.b64(payload[:512]) == e["payload"], (name, e)
            if reason is not None:
                assert reason in u.sk(e).get("reason", ""), (name, e)
            return e

        e = outcome("http", "not-tls", {"malformed", "no_answer"}, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert e["app_proto"] == "failed" and "ja3" not in e["tls"], e
        outcome("sslv2", "not-tls", {"malformed", "no_answer"})
        outcome("garbage", "not-tls", {"malformed", "no_answer"})
        outcome("badrec", "malformed", {"malformed", "no_answer"}, reason="not a ClientHello")
        outcome("trunc", "closed", {"truncated", "no_answer"}, hello0[:60])
        outcome("timeout", "timeout", {"timeout", "no_answer"}, hello0[:60])
        outcome("empty", "closed", {"no_answer"}, reason="without data")
        e = outcome("unknown_ca", "alert:48", {"no_answer"}, reason="alert received")
        assert e["tls"]["sni"] == "cnc.tls.test" and len(e["tls"]["ja3"]["hash"]) == 32, e
        e = outcome("version", "alert:70", {"no_answer"}, reason="alert sent")
        assert e["tls"]["version_offered"] == "TLS 1.3", e
        e = outcome("split", "completed")
        assert e["tls"]["sni"] == "split.tls.test", e
        e = tls_ev(byport, cases["big"])
        assert e["tls"]["sni"] == "split.tls.test", e
        assert e["tls"]["handshake"] in ("closed", "alert:51", "alert:20", "alert:50"), e
        # The big extension counts: one more extension than the same client's normal hello.
        n_split = int(tls_ev(byport, cases["split"])["tls"]["ja4"][6:8])
        assert int(e["tls"]["ja4"][6:8]) == n_split + 1, (e["tls"]["ja4"], n_split)
        outcome("toobig", "malformed", {"limit", "truncated", "no_answer"},
                reason="max_hello_bytes")
        u.stop_clean(d)


def test_proxy_then_tls():
    """A PROXY header first, then TLS started mid-connection (the STARTTLS path): separate and in one write."""
    listen = [{"name": "ptls", "proto": "tls", "proxy_protocol": True}]
    with h.Sinkd(listen=listen) as d:
        port = d.port("ptls")
        hdr = u.proxy_v1_text("198.51.100.7", "192.0.2.1", 43210, 443)
        # Header and ClientHello in separate writes: Python's ssl on the same socket.
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        c1 = s.getsockname()[1]
        s.sendall(hdr)
        time.sleep(0.2)
        with client_ctx().wrap_socket(s, server_hostname="px.tls.test") as t:
            t.sendall(b"GET /p HTTP/1.1\r\nHost: px.tls.test\r\nConnection: close\r\n\r\n")
            assert t.recv(100).startswith(b"HTTP/1.1 404")
        # Header and ClientHello in one write: the rest of the read is handed to TLS.
        obj, inc, out, hello = python_hello()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s2:
            c2 = s2.getsockname()[1]
            s2.sendall(hdr + hello)
            assert finish_handshake(s2, obj, inc, out).startswith(b"HTTP/1.1 404")
        # A bad PROXY header: recorded as a malformed TLS-listener event, nothing else.
        c3, got = raw_case(port, b"PROXY NONSENSE\r\n" + hello)
        assert got == b"", got
        evs = d.wait_events(5)
        peers = {e["sinkhole"].get("peer_port"): e for e in evs if e["event_type"] == "tls"}
        for cport in (c1, c2):
            e = peers[cport]
            u.expect_fields(e, "top", src_ip="198.51.100.7", src_port=43210)
            assert "via_proxy" in u.flags(e) and e["tls"]["handshake"] == "completed", e
        bad = [e for e in evs if e["src_port"] == c3]
        assert len(bad) == 1 and bad[0]["tls"]["handshake"] == "malformed", bad
        assert "malformed" in u.flags(bad[0]), bad
        https = [e for e in evs if e["event_type"] == "http"]
        assert len(https) == 2 and all(e["src_ip"] == "198.51.100.7" for e in https), https
        assert {e["tls"]["sni"] for e in https} == {"px.tls.test", "split.tls.test"}, https
        u.stop_clean(d)


def test_raw_handover():
    """A raw listener hands a guessed TLS stream to the TLS module: fingerprinted, answered, recorded."""
    listen = [{"name": "raw", "proto": "raw", "raw": {"timeout_ms": 3000}}]
    with h.Sinkd(listen=listen) as d:
        port = d.port("raw")
        cport, status, der = https_get(port, sni="raw.seized.test", path="/r")
        assert status.startswith(b"HTTP/1.1 404"), status
        assert "raw.seized.test" in cert_cn(der), cert_cn(der)
        # The hello trickled in: the guess waits for enough bytes, then hands over from the start.
        obj, inc, out, hello = python_hello()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            c2 = s.getsockname()[1]
            s.sendall(hello[:3])
            time.sleep(0.2)
            s.sendall(hello[3:])
            assert finish_handshake(s, obj, inc, out).startswith(b"HTTP/1.1 404")
        byport = events_by_port(d, 4)
        for c in (cport, c2):
            e = tls_ev(byport, c)
            assert e["tls"]["handshake"] == "completed" and len(e["tls"]["ja4"]) == 36, e
            assert u.sk(e)["listener"] == "raw", e
            assert [x["event_type"] for x in byport[c]] == ["tls", "http"], byport[c]
        u.stop_clean(d)


def make_cert(dirname, name, kind="ec"):
    key = os.path.join(dirname, name + ".key")
    crt = os.path.join(dirname, name + ".pem")
    keyopt = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else \
        ["-newkey", "rsa:2048"]
    subprocess.run(["openssl", "req", "-x509", *keyopt, "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", f"/CN={name}", "-addext",
                    f"subjectAltName=DNS:{name},DNS:*.{name}"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def cert_cn(der):
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                       capture_output=True, timeout=10)
    return p.stdout.decode().strip()


def test_certs_and_rules():
    tmp = tempfile.mkdtemp(prefix="sinkd-tls-certs.")
    a_crt, a_key = make_cert(tmp, "seized-a.test")
    b_crt, b_key = make_cert(tmp, "seized-b.test", kind="rsa")
    # First learn this client's fingerprints, then write rules with them.
    with h.Sinkd(listen=[{"name": "tls", "proto": "tls"}]) as d:
        cport, _, _ = https_get(d.port("tls"), sni="learn.test")
        probe = tls_ev(events_by_port(d, 2), cport)["tls"]
        u.stop_clean(d)
    families = [
        {"name": "bysni", "tag": "sni", "match": {"sni": {"suffix": "evil.test"}}},
        {"name": "byja4", "match": {"proto": "tls", "sni": "ja4.test", "ja4": probe["ja4"]}},
        {"name": "byja3", "match": {"ja3": probe["ja3"]["hash"].upper()}},
    ]
    listen = [{"name": "tls", "proto": "tls",
               "tls": {"certs": [{"cert": a_crt, "key": a_key},
                                 {"cert": b_crt, "key": b_key, "names": ["seized-b.test", "other.test"]}]}}]
    with h.Sinkd(listen=listen, families=families) as d:
        port = d.port("tls")
        c1, _, der = https_get(port, sni="x.evil.test")
        assert "x.evil.test" in cert_cn(der), cert_cn(der)  # generated for the name, cached
        c2, _, der = https_get(port, sni="ja4.test")
        c3, _, der = https_get(port, sni="www.seized-a.test")
        assert "CN = seized-a.test" in cert_cn(der), cert_cn(der)
        c4, _, der = https_get(port, sni="other.test")
        assert "CN = seized-b.test" in cert_cn(der), cert_cn(der)
        c5, _, der = https_get(port, sni="x.evil.test")
        assert "x.evil.test" in cert_cn(der)
        c6, _, _ = https_get(port, ctx=client_ctx(maxv=ssl.TLSVersion.TLSv1_2, alpn=None),
                             sni="z.test")
        byport = events_by_port(d, 12)
        assert u.sk(tls_ev(byport, c1))["family"] == "bysni"
        # sni rules see HTTP events on the connection too.
        assert [u.sk(e)["family"] for e in byport[c1]] == ["bysni", "bysni"], byport[c1]
        # The ja4 rule is limited to proto tls: the HTTP event falls through to the ja3 rule.
        assert [u.sk(e)["family"] for e in byport[c2]] == ["byja4", "byja3"], byport[c2]
        assert u.sk(tls_ev(byport, c3))["family"] == "byja3"
        assert u.sk(tls_ev(byport, c6))["family"] == "unknown"  # a TLS 1.2 hello differs
        u.stop_clean(d)


def test_slow_handshake_flood():
    """1,000 connections dribbling a ClientHello one byte a second; normal handshakes still succeed."""
    n = 1000
    u.raise_nofile(n * 2 + 200)
    listen = [{"name": "tls", "proto": "tls", "limits": {"header_timeout_ms": 30000}}]
    with h.Sinkd(listen=listen, config={"log": {"fsync": "none"}}) as d:
        port = d.port("tls")
        _, _, _, hello = python_hello()
        slow = []
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            slow.append(s)
        ok = 0
        t0 = time.monotonic()
        for sec in range(4):
            for s in slow:
                try:
                    s.send(hello[sec:sec + 1])
                except OSError:
                    pass
            for _ in range(5):
                _, status, _ = https_get(port, sni="normal.test")
                assert status.startswith(b"HTTP/1.1 404"), status
                ok += 1
            time.sleep(max(0.0, t0 + sec + 1 - time.monotonic()))
        assert ok == 20
        for s in slow:
            s.close()
        evs = d.wait_events(2 * ok + n, timeout=60)
        closed = [e for e in evs if e["event_type"] == "tls" and e["tls"]["handshake"] == "closed"]
        assert len(closed) == n, len(closed)
        assert all(e["payload"] == u.b64(hello[:4]) for e in closed), closed[0]
        done = [e for e in evs if e["event_type"] == "tls" and e["tls"]["handshake"] == "completed"]
        assert len(done) == ok
        assert d.running()
        u.stop_clean(d)


def test_loadgen_tls():
    """`sinkd loadgen --tls`: every check-in is a recorded handshake; resumptions are counted on both sides."""
    import json
    with h.Sinkd(listen=[{"name": "tls", "proto": "tls"}], config={"log": {"fsync": "none"}}) as d:
        target = f"127.0.0.1:{d.port('tls')}"
        runs = {}
        for name, extra in (("full", []), ("resume", ["--tls-resume"])):
            rc, out, err = h.sinkd_cmd("loadgen", "--target", target, "--tls", *extra, "--mode",
                                       "close", "--count", "150", "--concurrency", "4",
                                       "--duration", "60", "--json", "--quiet", timeout=90)
            assert rc == 0, err
            runs[name] = json.loads(out)
            assert runs[name]["responses"] == 150 and runs[name]["tls_handshakes"] == 150, out
        assert runs["full"]["tls_resumed"] == 0, runs["full"]
        assert runs["resume"]["tls_resumed"] >= 140, runs["resume"]
        evs = d.wait_events(600, timeout=60)
        tls = [e for e in evs if e["event_type"] == "tls"]
        assert len(tls) == 300 and all(e["tls"]["handshake"] == "completed" for e in tls)
        resumed = sum(1 for e in tls if e["tls"].get("resumed"))
        assert resumed == runs["resume"]["tls_resumed"], (resumed, runs["resume"])
        assert sum(1 for e in evs if e["event_type"] == "http") == 300
        u.stop_clean(d)


if __name__ == "__main__":
    h.run([test_outcomes, test_proxy_then_tls, test_raw_handover, test_certs_and_rules,
           test_slow_handshake_flood, test_loadgen_tls],
          per_test_timeout=300)
