"""test_http.py — the HTTP sinkhole with real clients: classification, answers, framing, PROXY, XFF, privileges, EVE file.

Each test starts `sinkd serve` on loopback, drives it with curl, http.client or
raw sockets, and checks every event field by field from `sinkd log cat`.
"""

import http.client
import json
import os
import pwd
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

# First match wins; the order below is the rule index recorded in sinkhole.rule.
FAMILIES = [
    {"name": "exacthost", "tag": "t-exact", "match": {"host": "cnc.exact.test"},
     "answer": {"status": 200, "headers": {"X-Sinkhole": "exact", "Content-Type": "text/plain"},
                "body": "EXACT-BODY"}},
    {"name": "suffixfam", "tag": "t-suffix", "match": {"host": {"suffix": ["a.test", "b.test"]}},
     "answer": {"status": 403, "headers": {"X-Sinkhole": "suffix"}, "body": "SUFFIX"}},
    {"name": "pathpre", "match": {"path": {"prefix": "/gate/"}},
     "answer": {"status": 200, "body": "PRE"}},
    {"name": "pathre", "match": {"path": {"regex": "^/f[0-9]+\\.php$"}},
     "answer": {"status": 200, "body": "RE"}},
    {"name": "methodfam", "match": {"method": "PUT"},
     "answer": {"status": 201, "body": "PUT-OK"}},
    {"name": "uafam", "match": {"user_agent": {"contains": "EvilBot"}},
     "answer": {"status": 200, "headers": {"X-Sinkhole": "ua"}, "body": "UA"}},
    {"name": "bodylen", "tag": "login", "match": {"method": "POST", "body_len": 96},
     "answer": {"status": 404}},
    {"name": "bodypfx", "match": {"body_prefix": "hex:deadbeef"},
     "answer": {"status": 202, "body": "PFX"}},
]
RULE = {f["name"]: i for i, f in enumerate(FAMILIES)}
DEFAULT_ANSWER = {"status": 410, "headers": {"X-Default": "yes"}, "body": "GONE"}
CONFIG = {"default_answer": DEFAULT_ANSWER}


def sinkd(listen=None, config=None, **kw):
    cfg = dict(CONFIG)
    cfg.update(config or {})
    return h.Sinkd(listen=listen or [{"name": "web", "proto": "http"}], families=FAMILIES,
                   config=cfg, **kw)


def check_common(ev, port, *, src="127.0.0.1", listener="web"):
    u.expect_fields(ev, "top", event_type="http", proto="TCP", app_proto="http", src_ip=src,
                    dest_port=port, host="e2e")
    u.expect_fields(ev, "sinkhole", sensor="e2e", listener=listener)
    assert ev["tx_id"] == u.sk(ev)["tx_id"], ev
    assert isinstance(ev["flow_id"], int) and ev["flow_id"] > 0, ev


def check_family(ev, name):
    if name == "unknown":
        u.expect_fields(ev, "sinkhole", family="unknown")
        assert "rule" not in u.sk(ev) and "tag" not in u.sk(ev), ev
        return
    fam = FAMILIES[RULE[name]]
    u.expect_fields(ev, "sinkhole", family=name, rule=RULE[name])
    if "tag" in fam:
        u.expect_fields(ev, "sinkhole", tag=fam["tag"])
    else:
        assert "tag" not in u.sk(ev), ev


def curl_i(port, path, *args, host6=False):
    """curl -i: returns (raw response bytes, parsed (status, headers, body))."""
    base = f"http://[::1]:{port}" if host6 else f"http://127.0.0.1:{port}"
    rc, out, err = u.curl("-i", *args, base + path)
    assert rc == 0, f"curl {path} failed ({rc}): {err}"
    return out, u.parse_responses(out)[-1]


# ---------------------------------------------------------------------------


def test_curl_requests_and_families():
    with sinkd() as d:
        port = d.port()
        cases = []  # (url, family, raw answer, method, extra checks)

        # GET: exact host (also matches the user-agent rule: first match wins).
        raw, (st, hd, body) = curl_i(port, "/index.html?q=1", "-A", "EvilBot/1.0",
                                     "-e", "http://ref.test/page", "-H", "Host: cnc.exact.test")
        assert (st, body) == (200, b"EXACT-BODY"), (st, body)
        assert hd["x-sinkhole"] == "exact" and hd["content-type"] == "text/plain", hd
        assert hd["content-length"] == "10", hd
        cases.append(("/index.html?q=1", "exacthost", raw, "GET",
                      {"http_user_agent": "EvilBot/1.0", "http_refer": "http://ref.test/page",
                       "hostname": "cnc.exact.test", "status": 200}))

        # Host compared without port and without case; EVE keeps the port apart.
        raw, (st, hd, body) = curl_i(port, "/case", "-H", "Host: CNC.Exact.Test:8080")
        assert (st, body) == (200, b"EXACT-BODY"), (st, body)
        cases.append(("/case", "exacthost", raw, "GET",
                      {"hostname": "cnc.exact.test", "http_port": 8080}))

        # Host suffixes: the name itself and sub-domains, not a longer label.
        for host, path, fam in (("a.test", "/s1", "suffixfam"), ("deep.x.b.test", "/s2", "suffixfam"),
                                ("ba.test", "/s3", "unknown")):
            raw, (st, hd, body) = curl_i(port, path, "-H", f"Host: {host}")
            if fam == "suffixfam":
                assert (st, body, hd.get("x-sinkhole")) == (403, b"SUFFIX", "suffix"), (st, hd, body)
            else:
                assert (st, body, hd.get("x-default")) == (410, b"GONE", "yes"), (st, hd, body)
            cases.append((path, fam, raw, "GET", {"hostname": host}))

        # Path prefix and regex (anchored by the pattern itself).
        for path, fam, want in (("/gate/x.php", "pathpre", b"PRE"), ("/gate", "unknown", b"GONE"),
                                ("/f12.php", "pathre", b"RE"), ("/f12.phpx", "unknown", b"GONE"),
                                ("/f7.php?x=/gate/", "pathre", b"RE")):
            raw, (st, hd, body) = curl_i(port, path, "-H", "Host: other.test")
            assert body == want, (path, st, body)
            cases.append((path, fam, raw, "GET", {}))

        # User-agent contains.
        raw, (st, hd, body) = curl_i(port, "/ua", "-A", "Mozilla/5.0 (EvilBot 2)", "-H", "Host: o.test")
        assert (st, body, hd["x-sinkhole"]) == (200, b"UA", "ua"), (st, hd, body)
        cases.append(("/ua", "uafam", raw, "GET", {"http_user_agent": "Mozilla/5.0 (EvilBot 2)"}))

        # POST with a 96-byte binary body: body_len rule; stored whole (< body_store_bytes).
        body96 = bytes(range(96))
        bodyfile = os.path.join(d.dir, "body96")
        with open(bodyfile, "wb") as f:
            f.write(body96)
        raw, (st, hd, body) = curl_i(port, "/login.php", "--data-binary", "@" + bodyfile,
                                     "-H", "Content-Type: application/octet-stream",
                                     "-H", "Host: o.test")
        assert (st, body) == (404, b""), (st, body)
        cases.append(("/login.php", "bodylen", raw, "POST",
                      {"http_content_type": "application/octet-stream", "status": 404,
                       "http_request_body": u.b64(body96)},
                      {"body_length": 96, "body_sha256": u.sha256(body96)}))

        # POST whose body starts with de ad be ef: body_prefix rule.
        bodyp = bytes.fromhex("deadbeef") + b"rest of it" * 5
        with open(bodyfile, "wb") as f:
            f.write(bodyp)
        raw, (st, hd, body) = curl_i(port, "/pfx", "--data-binary", "@" + bodyfile,
                                     "-H", "Host: o.test")
        assert (st, body) == (202, b"PFX"), (st, body)
        cases.append(("/pfx", "bodypfx", raw, "POST",
                      {"http_content_type": "application/x-www-form-urlencoded",
                       "http_request_body": u.b64(bodyp)},
                      {"body_length": len(bodyp), "body_sha256": u.sha256(bodyp)}))

        # 95 bytes: neither body rule.
        with open(bodyfile, "wb") as f:
            f.write(b"x" * 95)
        raw, (st, hd, body) = curl_i(port, "/login.php?n=95", "--data-binary", "@" + bodyfile,
                                     "-H", "Host: o.test")
        assert (st, body) == (410, b"GONE"), (st, body)
        cases.append(("/login.php?n=95", "unknown", raw, "POST", {},
                      {"body_length": 95, "body_sha256": u.sha256(b"x" * 95)}))

        # PUT: method rule.
        raw, (st, hd, body) = curl_i(port, "/put", "-X", "PUT", "--data-binary", "abc",
                                     "-H", "Host: o.test")
        assert (st, body) == (201, b"PUT-OK"), (st, body)
        cases.append(("/put", "methodfam", raw, "PUT", {},
                      {"body_length": 3, "body_sha256": u.sha256(b"abc")}))

        # HEAD: the head of the family's answer, Content-Length of the body, no body.
        rc, out, err = u.curl("-I", "-H", "Host: x.b.test", f"http://127.0.0.1:{port}/head")
        assert rc == 0, err
        assert out.endswith(b"\r\n\r\n"), out
        st, hd, _ = u.parse_responses(out)[0]
        assert (st, hd["content-length"], hd["x-sinkhole"]) == (403, "6", "suffix"), (st, hd)
        cases.append(("/head", "suffixfam", out, "HEAD", {"status": 403}))

        evs = d.wait_events(len(cases))
        time.sleep(0.3)
        evs = d.events()
        assert len(evs) == len(cases), f"{len(evs)} events for {len(cases)} requests"
        for case in cases:
            url, fam, raw, method, want_http = case[:5]
            want_sk = case[5] if len(case) > 5 else {}
            ev = u.one_by_url(evs, url)
            check_common(ev, port)
            check_family(ev, fam)
            u.expect_fields(ev, "http", url=url, http_method=method, protocol="HTTP/1.1",
                            length=len(raw), **want_http)
            u.expect_fields(ev, "top", tx_id=0)
            assert u.flags(ev) == set(), ev
            if want_sk:
                u.expect_fields(ev, "sinkhole", **want_sk)
            else:
                assert "body_length" not in u.sk(ev) and "http_request_body" not in u.hp(ev), ev
            if "status" not in want_http:
                want_status = int(raw.split(b" ", 2)[1])
                u.expect_fields(ev, "http", status=want_status)
            hdrs = {x["name"].lower(): x["value"] for x in u.hp(ev)["request_headers"]}
            assert hdrs.get("user-agent") == ev["http"].get("http_user_agent"), ev
            assert "host" in hdrs, ev
        # curl sends no Referer unless told: the key must then be absent.
        assert "http_refer" not in u.one_by_url(evs, "/case")["http"]
        u.stop_clean(d)


def test_keepalive_http_client():
    with sinkd() as d:
        port = d.port()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sent = []
        conn.request("GET", "/gate/1", headers={"Host": "ka.test", "User-Agent": "ka/1"})
        r = conn.getresponse()
        assert (r.status, r.read(), r.getheader("Connection")) == (200, b"PRE", None)
        sent.append(("/gate/1", "pathpre", "GET", None))
        body = os.urandom(96)
        conn.request("POST", "/login.php", body=body, headers={"Host": "ka.test"})
        r = conn.getresponse()
        assert (r.status, r.read()) == (404, b"")
        sent.append(("/login.php", "bodylen", "POST", body))
        conn.request("GET", "/nomatch", headers={"Host": "ka.test"})
        r = conn.getresponse()
        assert (r.status, r.read(), r.getheader("X-Default")) == (410, b"GONE", "yes")
        sent.append(("/nomatch", "unknown", "GET", None))
        local_port = conn.sock.getsockname()[1]
        conn.close()

        d.wait_events(3)
        evs = d.events()
        assert len(evs) == 3, evs
        flow = evs[0]["flow_id"]
        for i, (url, fam, method, body) in enumerate(sent):
            ev = u.one_by_url(evs, url)
            check_common(ev, port)
            check_family(ev, fam)
            u.expect_fields(ev, "top", tx_id=i, flow_id=flow, src_port=local_port)
            u.expect_fields(ev, "http", http_method=method, hostname="ka.test")
            if body is not None:
                u.expect_fields(ev, "sinkhole", body_length=len(body), body_sha256=u.sha256(body))
                u.expect_fields(ev, "http", http_request_body=u.b64(body))
        u.stop_clean(d)


def _raw_req(path, version="HTTP/1.1", extra=""):
    return f"GET {path} {version}\r\nHost: raw.test\r\n{extra}\r\n".encode()


def test_http10_and_connection_close():
    with sinkd() as d:
        port = d.port()
        # 1.0 without keep-alive: answered as 1.0 with Connection: close, then closed.
        s = h.connect(port)
        s.sendall(_raw_req("/gate/10a", "HTTP/1.0"))
        raw = h.recv_all(s, 5)
        s.close()
        st, hd, body = u.parse_responses(raw)[0]
        assert raw.startswith(b"HTTP/1.0 200 "), raw
        assert (hd.get("connection"), body) == ("close", b"PRE"), raw
        # 1.0 with keep-alive: stays open for a second request.
        s = h.connect(port)
        s.sendall(_raw_req("/gate/10b", "HTTP/1.0", "Connection: keep-alive\r\n"))
        raw = h.recv_until(s, b"PRE")
        assert raw.startswith(b"HTTP/1.0 200 ") and b"Connection: keep-alive\r\n" in raw, raw
        assert not h.is_closed(s, 0.5), "1.0 keep-alive connection closed after the answer"
        s.sendall(_raw_req("/gate/10c", "HTTP/1.0"))
        raw = h.recv_all(s, 5)
        assert raw.startswith(b"HTTP/1.0 200 ") and b"Connection: close" in raw, raw
        s.close()
        # 1.1 with Connection: close: answered, then closed.
        s = h.connect(port)
        s.sendall(_raw_req("/gate/11", "HTTP/1.1", "Connection: close\r\n"))
        raw = h.recv_all(s, 5)
        s.close()
        assert raw.startswith(b"HTTP/1.1 200 ") and b"Connection: close\r\n" in raw, raw
        # 1.1 default: persistent, no Connection header in the answer.
        s = h.connect(port)
        s.sendall(_raw_req("/gate/11ka"))
        raw = h.recv_until(s, b"PRE")
        assert raw.startswith(b"HTTP/1.1 200 ") and b"Connection:" not in raw, raw
        assert not h.is_closed(s, 0.5), "1.1 connection closed after the answer"
        s.close()

        d.wait_events(5)
        time.sleep(0.2)
        evs = d.events()
        assert len(evs) == 5, evs
        b = u.one_by_url(evs, "/gate/10b")
        c = u.one_by_url(evs, "/gate/10c")
        assert b["flow_id"] == c["flow_id"] and (b["tx_id"], c["tx_id"]) == (0, 1), (b, c)
        for url, proto in (("/gate/10a", "HTTP/1.0"), ("/gate/10b", "HTTP/1.0"),
                           ("/gate/10c", "HTTP/1.0"), ("/gate/11", "HTTP/1.1"),
                           ("/gate/11ka", "HTTP/1.1")):
            ev = u.one_by_url(evs, url)
            check_family(ev, "pathpre")
            u.expect_fields(ev, "http", protocol=proto, status=200)
        # The connection closed after an answer leaves no "closed without data" event.
        assert all("reason" not in u.sk(e) for e in evs if "url" in u.hp(e)), evs
        u.stop_clean(d)


def test_pipelined():
    with sinkd() as d:
        port = d.port()
        body = b"0123456789"
        data = (_raw_req("/gate/p1")
                + h.http_bytes("POST", "/f1.php", "pipe.test", body=body)
                + _raw_req("/p3", extra="Connection: close\r\n"))
        with h.connect(port) as s:
            s.sendall(data)
            raw = h.recv_all(s, 5)
        resps = u.parse_responses(raw)
        assert [(st, b) for st, _, b in resps] == [(200, b"PRE"), (200, b"RE"), (410, b"GONE")], resps
        assert resps[2][1].get("connection") == "close", resps
        d.wait_events(3)
        evs = d.events()
        assert len(evs) == 3, evs
        assert len({e["flow_id"] for e in evs}) == 1, evs
        for i, (url, fam) in enumerate((("/gate/p1", "pathpre"), ("/f1.php", "pathre"), ("/p3", "unknown"))):
            ev = u.one_by_url(evs, url)
            u.expect_fields(ev, "top", tx_id=i)
            check_family(ev, fam)
        u.expect_fields(u.one_by_url(evs, "/f1.php"), "sinkhole", body_length=10,
                        body_sha256=u.sha256(body))
        u.stop_clean(d)


def test_chunked_bodies():
    with sinkd() as d:
        port = d.port()
        part1, part2, part3 = b"hello", bytes(range(256)) * 3, b"X" * 4000
        whole = part1 + part2 + part3
        head = (b"POST /chunked HTTP/1.1\r\nHost: ch.test\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: application/x-bot\r\n\r\n")
        pieces = [head,
                  b"5;ext=1;name=\"v\"\r\n" + part1 + b"\r\n",
                  f"{len(part2):X}\r\n".encode() + part2[:100],
                  part2[100:] + b"\r\n",
                  f"{len(part3):x} ; another-ext\r\n".encode() + part3 + b"\r\n",
                  b"0\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n"]
        with h.connect(port) as s:
            for p in pieces:  # the body arrives across several reads
                s.sendall(p)
                time.sleep(0.05)
            raw = h.recv_until(s, b"GONE")
            assert u.parse_responses(raw)[0][::2] == (410, b"GONE"), raw
            # The connection is still usable after a chunked body with trailers.
            s.sendall(_raw_req("/after-chunked", extra="Connection: close\r\n"))
            raw2 = h.recv_all(s, 5)
            assert u.parse_responses(raw2)[0][0] == 410, raw2

        # curl chunks a body itself when told to.
        bodyfile = os.path.join(d.dir, "cbody")
        cbody = os.urandom(5000)
        with open(bodyfile, "wb") as f:
            f.write(cbody)
        rc, out, err = u.curl("-i", "-H", "Transfer-Encoding: chunked", "-H", "Host: ch.test",
                              "--data-binary", "@" + bodyfile,
                              f"http://127.0.0.1:{port}/curl-chunked")
        assert rc == 0, err
        assert u.parse_responses(out)[-1][0] == 410, out

        d.wait_events(3)
        evs = d.events()
        assert len(evs) == 3, evs
        ev = u.one_by_url(evs, "/chunked")
        u.expect_fields(ev, "sinkhole", body_length=len(whole), body_sha256=u.sha256(whole))
        u.expect_fields(ev, "http", http_request_body=u.b64(whole[:256]),
                        http_content_type="application/x-bot", status=410)
        assert "malformed" not in u.flags(ev), ev
        after = u.one_by_url(evs, "/after-chunked")
        assert (after["flow_id"], after["tx_id"]) == (ev["flow_id"], 1), (ev, after)
        ev = u.one_by_url(evs, "/curl-chunked")
        u.expect_fields(ev, "sinkhole", body_length=len(cbody), body_sha256=u.sha256(cbody))
        u.expect_fields(ev, "http", http_request_body=u.b64(cbody[:256]))
        u.stop_clean(d)


def test_expect_100_continue():
    with sinkd() as d:
        port = d.port()
        body = os.urandom(2048)
        bodyfile = os.path.join(d.dir, "b2k")
        with open(bodyfile, "wb") as f:
            f.write(body)
        with u.Timer() as t:
            # A long expect timeout: if no 100 came, curl would sit on it and the test would see it.
            rc, out, err = u.curl("-v", "-i", "--expect100-timeout", "15", "-H", "Host: e.test",
                                  "-H", "Expect: 100-continue", "--data-binary", "@" + bodyfile,
                                  f"http://127.0.0.1:{port}/expect")
        assert rc == 0, err
        assert "< HTTP/1.1 100 Continue" in err, f"no 100 Continue seen by curl:\n{err}"
        assert t.elapsed < 10, f"curl took {t.elapsed:.1f}s: 100 Continue came late"
        assert u.parse_responses(out[out.index(b"HTTP/1.1 410"):])[0][0] == 410, out
        ev = d.wait_events(1)[0]
        u.expect_fields(ev, "sinkhole", body_length=2048, body_sha256=u.sha256(body))
        u.expect_fields(ev, "http", url="/expect", http_request_body=u.b64(body[:256]), status=410)
        hdrs = {x["name"].lower(): x["value"] for x in u.hp(ev)["request_headers"]}
        assert hdrs.get("expect") == "100-continue", hdrs
        u.stop_clean(d)


def test_body_store_truncated_but_digested():
    listen = [{"name": "web", "proto": "http",
               "limits": {"body_store_bytes": 64, "max_body_bytes": 1048576}}]
    with sinkd(listen) as d:
        port = d.port()
        small = os.urandom(1000)           # arrives with the head: the one-buffer path
        big = os.urandom(300 * 1024)        # spans many reads: the streaming path
        st, _, _ = h.http_request(port, "POST", "/store-small", "st.test", body=small)
        assert st == 410
        st, _, _ = h.http_request(port, "POST", "/store-big", "st.test", body=big, timeout=15)
        assert st == 410
        d.wait_events(2)
        evs = d.events()
        assert len(evs) == 2, evs
        for url, body in (("/store-small", small), ("/store-big", big)):
            ev = u.one_by_url(evs, url)
            u.expect_fields(ev, "sinkhole", body_length=len(body), body_sha256=u.sha256(body))
            u.expect_fields(ev, "http", http_request_body=u.b64(body[:64]), status=410)
            assert not u.flags(ev) & {"limit", "malformed"}, ev
        u.stop_clean(d)


def test_ipv6_listener():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise h.Skip(f"no IPv6 loopback: {e}")
    port = h.free_ports(1)[0]
    with sinkd([{"name": "web6", "proto": "http", "addr": f"[::1]:{port}"}]) as d:
        raw, (st, hd, body) = curl_i(port, "/v6", "-g", "-H", "Host: cnc.exact.test", host6=True)
        assert (st, body) == (200, b"EXACT-BODY"), raw
        with socket.create_connection(("::1", port), timeout=5) as s:
            s.sendall(_raw_req("/v6raw", extra="Connection: close\r\n"))
            raw2 = h.recv_all(s, 5)
            local = s.getsockname()[1]
        assert u.parse_responses(raw2)[0][0] == 410, raw2
        d.wait_events(2)
        evs = d.events()
        assert len(evs) == 2, evs
        v6 = u.suricata_ip("::1")
        for url in ("/v6", "/v6raw"):
            ev = u.one_by_url(evs, url)
            check_common(ev, port, src=v6, listener="web6")
            u.expect_fields(ev, "top", dest_ip=v6)
        u.expect_fields(u.one_by_url(evs, "/v6raw"), "top", src_port=local)
        check_family(u.one_by_url(evs, "/v6"), "exacthost")
        u.stop_clean(d)


def test_proxy_protocol_v1_v2():
    listen = [{"name": "px", "proto": "http", "proxy_protocol": True}]
    with sinkd(listen) as d:
        port = d.port()
        cases = [
            ("/pv1", u.proxy_v1_text("198.51.100.7", "192.0.2.10", 40001, 80),
             "198.51.100.7", 40001, "192.0.2.10", 80),
            ("/pv1-6", u.proxy_v1_text("2001:db8::7", "2001:db8::10", 40002, 8080),
             u.suricata_ip("2001:db8::7"), 40002, u.suricata_ip("2001:db8::10"), 8080),
            ("/pv2", u.proxy_v2_spec("203.0.113.9", "192.0.2.11", 40003, 81),
             "203.0.113.9", 40003, "192.0.2.11", 81),
            ("/pv2-6", u.proxy_v2_spec("2001:db8::9", "2001:db8::11", 40004, 443,
                                       tlvs=bytes([0x04, 0, 3]) + b"abc"),
             u.suricata_ip("2001:db8::9"), 40004, u.suricata_ip("2001:db8::11"), 443),
        ]
        peers = {}
        for url, prefix, *_ in cases:
            with h.connect(port) as s:
                # Header and request in separate sends: the header alone must wait for more.
                s.sendall(prefix)
                time.sleep(0.05)
                s.sendall(_raw_req(url))
                raw = h.recv_until(s, b"GONE")
                assert u.parse_responses(raw)[0][0] == 410, raw
                # A second request on the same connection keeps the announced source.
                s.sendall(_raw_req(url + "/2", extra="Connection: close\r\n"))
                raw = h.recv_all(s, 5)
                assert u.parse_responses(raw)[0][0] == 410, raw
                peers[url] = s.getsockname()[1]
        # v2 LOCAL (health checks): the real peer stays the source.
        with h.connect(port) as s:
            s.sendall(u.proxy_v2_spec("203.0.113.1", "192.0.2.1", 1, 2, command=0)
                      + _raw_req("/local", extra="Connection: close\r\n"))
            assert u.parse_responses(h.recv_all(s, 5))[0][0] == 410
            local_port = s.getsockname()[1]

        evs = d.wait_events(2 * len(cases) + 1)
        assert len(evs) == 2 * len(cases) + 1, evs
        for url, _, src, sport, dst, dport in cases:
            for k, path in enumerate((url, url + "/2")):
                ev = u.one_by_url(evs, path)
                u.expect_fields(ev, "top", src_ip=src, src_port=sport, dest_ip=dst, dest_port=dport,
                                tx_id=k, app_proto="http")
                u.expect_fields(ev, "sinkhole", peer_ip="127.0.0.1", peer_port=peers[url],
                                listener="px")
                assert u.flags(ev) == {"via_proxy"}, ev
        ev = u.one_by_url(evs, "/local")
        u.expect_fields(ev, "top", src_ip="127.0.0.1", src_port=local_port, dest_port=port)
        assert u.flags(ev) == set() and "peer_ip" not in u.sk(ev), ev
        u.stop_clean(d)


def test_xff_trusted_and_untrusted():
    listen = [{"name": "trust", "proto": "http", "trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]},
              {"name": "notrust", "proto": "http", "trusted_proxies": ["10.0.0.0/8"]},
              {"name": "pxtrust", "proto": "http", "proxy_protocol": True,
               "trusted_proxies": ["198.51.100.0/24"]}]
    with sinkd(listen) as d:
        xff = "203.0.113.50, 10.1.2.3"
        st, _, _ = h.http_request(d.port("trust"), "GET", "/xff-t", "x.test",
                                  headers={"X-Forwarded-For": xff})
        assert st == 410
        st, _, _ = h.http_request(d.port("notrust"), "GET", "/xff-u", "x.test",
                                  headers={"X-Forwarded-For": xff})
        assert st == 410
        # Behind PROXY: trust is judged on the announced source, not the TCP peer.
        st, _, _ = h.http_request(d.port("pxtrust"), "GET", "/xff-pt", "x.test",
                                  headers={"X-Forwarded-For": "192.0.2.77"},
                                  prefix=u.proxy_v2_spec("198.51.100.5", "192.0.2.1", 5555, 80))
        assert st == 410
        st, _, _ = h.http_request(d.port("pxtrust"), "GET", "/xff-pu", "x.test",
                                  headers={"X-Forwarded-For": "192.0.2.77"},
                                  prefix=u.proxy_v1_text("192.0.2.200", "192.0.2.1", 6666, 80))
        assert st == 410
        evs = d.wait_events(4)
        assert len(evs) == 4, evs

        ev = u.one_by_url(evs, "/xff-t")
        u.expect_fields(ev, "top", src_ip="203.0.113.50")
        u.expect_fields(ev, "sinkhole", forwarded_by="127.0.0.1", listener="trust")
        u.expect_fields(ev, "http", xff=xff)
        assert u.flags(ev) == {"forwarded"}, ev

        ev = u.one_by_url(evs, "/xff-u")
        u.expect_fields(ev, "top", src_ip="127.0.0.1")
        u.expect_fields(ev, "http", xff=xff)
        assert u.flags(ev) == set() and "forwarded_by" not in u.sk(ev), ev

        ev = u.one_by_url(evs, "/xff-pt")
        u.expect_fields(ev, "top", src_ip="192.0.2.77")
        u.expect_fields(ev, "sinkhole", forwarded_by="198.51.100.5", peer_ip="127.0.0.1")
        assert u.flags(ev) == {"via_proxy", "forwarded"}, ev

        ev = u.one_by_url(evs, "/xff-pu")
        u.expect_fields(ev, "top", src_ip="192.0.2.200", src_port=6666)
        u.expect_fields(ev, "sinkhole", peer_ip="127.0.0.1")
        assert u.flags(ev) == {"via_proxy"} and "forwarded_by" not in u.sk(ev), ev
        u.stop_clean(d)


def test_absent_headers_absent_keys():
    """docs/eve.md: a key appears only when the event has the value (no UA sent: no http_user_agent)."""
    with sinkd() as d:
        with h.connect(d.port()) as s:
            s.sendall(b"GET /bare HTTP/1.1\r\nHost: bare.test\r\nConnection: close\r\n\r\n")
            h.recv_all(s, 5)
        with h.connect(d.port()) as s:
            s.sendall(b"GET /empty-ua HTTP/1.1\r\nHost: bare.test\r\nUser-Agent:\r\n"
                      b"Connection: close\r\n\r\n")
            h.recv_all(s, 5)
        evs = d.wait_events(2)
        ev = u.one_by_url(evs, "/bare")
        for key in ("http_user_agent", "http_refer", "http_content_type", "xff"):
            assert key not in u.hp(ev), f"http.{key} present though the request had no such header: {ev}"
        # An empty header that was sent is a value: kept.
        u.expect_fields(u.one_by_url(evs, "/empty-ua"), "http", http_user_agent="")
        u.stop_clean(d)


def test_privilege_drop():
    if os.geteuid() != 0:
        raise h.Skip("not running as root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise h.Skip("no user nobody")
    d = sinkd(config={"user": "nobody", "group": "nogroup", "pid_file": None}, start=False)
    with d:
        os.chmod(d.dir, 0o755)  # nobody must reach the log dir inside the temp dir
        d.start()
        st = u.proc_status(d.pid)
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        assert uids == [str(nobody.pw_uid)] * 4, f"Uid: {st['Uid']}"
        assert gids == [str(nobody.pw_gid)] * 4, f"Gid: {st['Gid']}"
        assert st["Groups"] in ("", str(nobody.pw_gid)), f"supplementary groups kept: {st['Groups']}"
        # Every thread too (setuid applies per thread at the syscall level).
        for tid in os.listdir(f"/proc/{d.pid}/task"):
            tuid = u.proc_status(f"{d.pid}/task/{tid}")["Uid"].split()
            assert tuid == [str(nobody.pw_uid)] * 4, f"thread {tid} Uid {tuid}"
        status, _, _ = h.http_request(d.port(), "GET", "/as-nobody", "p.test")
        assert status == 410
        d.wait_events(1)
        u.wait_stats(d, lambda s: s["requests"] >= 1, what="stats written as nobody")
        owners = {}
        for root, dirs, files in os.walk(d.log_dir):
            for name in dirs + files + ["."]:
                p = os.path.join(root, name)
                try:
                    owners[p] = os.stat(p).st_uid
                except FileNotFoundError:
                    pass  # stats.json.tmp, renamed between the listing and the stat
        assert len(owners) > 2, owners
        bad = {p: o for p, o in owners.items() if o != nobody.pw_uid}
        assert not bad, f"not owned by nobody: {bad}"
        assert any(n.startswith("stats") for n in os.listdir(d.log_dir)), os.listdir(d.log_dir)
        rc = d.stop()
        assert rc == 0, f"exit {rc}\n{d.log_tail()}"
        u.assert_no_sanitizer(d)
        vrc, out = d.verify()
        assert vrc == 0, out
        assert any("running as user nobody" in m for _, m in d.log_lines()), d.log_tail()


def test_eve_file_matches_log_cat():
    d = sinkd(start=False)
    eve_path = os.path.join(d.dir, "eve.json")
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write(f"eve:\n  file: {json.dumps(eve_path)}\n")
    with d:
        d.start()
        port = d.port()
        for i in range(5):
            h.http_request(port, "GET", f"/eve/{i}", "cnc.exact.test" if i % 2 else "e.test")
        h.http_request(port, "POST", "/eve/post", "e.test", body=b"\x00\x01binary\xff")
        h.send_recv(port, b"\x16\x03\x01garbage\r\n\r\n")
        h.connect(port).close()
        d.wait_events(8)
        u.stop_clean(d)
        rc, out, err = h.sinkd_cmd("log", "cat", d.log_dir)
        assert rc == 0, err
        with open(eve_path, encoding="utf-8") as f:
            eve = f.read()
        cat = [json.loads(x) for x in out.splitlines() if x.strip()]
        got = [json.loads(x) for x in eve.splitlines() if x.strip()]
        assert len(cat) == 8, cat
        assert got == cat, f"eve file differs from log cat:\n{eve[:2000]}\n---\n{out[:2000]}"


def test_max_connections_refused():
    # defer_accept off: the extra connections send nothing, and must be seen at once.
    listen = [{"name": "web", "proto": "http", "max_connections": 2, "defer_accept": False}]
    with sinkd(listen) as d:
        port = d.port()
        a = h.connect(port)
        b = h.connect(port)
        a.sendall(b"GET /held-a HTTP/1.1\r\n")
        b.sendall(b"GET /held-b HTTP/1.1\r\n")
        u.wait_stats(d, lambda s: s["connections"]["open"] == 2, what="2 open connections")
        refused = 0
        for _ in range(3):
            c = h.connect(port)
            if h.is_closed(c, 3):
                refused += 1
            c.close()
        assert refused == 3, f"{refused}/3 connections over max_connections were closed"
        st = u.wait_stats(d, lambda s: s["connections"]["refused_limit"] >= 3, what="refused_limit")
        assert st["connections"]["refused_limit"] == 3, st
        assert st["connections"]["accepted"] == 2, st
        # The held connections still work.
        for s, path in ((a, "/held-a"), (b, "/held-b")):
            s.sendall(b"Host: held.test\r\nConnection: close\r\n\r\n")
            assert u.parse_responses(h.recv_all(s, 5))[0][0] == 410, path
            s.close()
        u.wait_stats(d, lambda s: s["connections"]["open"] == 0, what="connections closed")
        st, _, _ = h.http_request(port, "GET", "/after", "held.test")
        assert st == 410
        evs = d.wait_events(3)
        time.sleep(0.2)
        evs = d.events()
        # Refused connections leave no event; each request leaves one.
        assert sorted(u.hp(e).get("url") for e in evs) == ["/after", "/held-a", "/held-b"], evs
        u.stop_clean(d)


def test_sigterm_exit_and_verify():
    with sinkd() as d:
        port = d.port()
        for i in range(20):
            h.http_request(port, "GET", f"/t/{i}", "t.test")
        d.wait_events(20)
        out = u.stop_clean(d)
        assert d.returncode == 0
        assert any("stopped" in m for _, m in d.log_lines()), d.log_tail()
        assert out.strip(), "verify printed nothing"
        assert len(d.events()) == 20


if __name__ == "__main__":
    h.run([
        test_curl_requests_and_families,
        test_keepalive_http_client,
        test_http10_and_connection_close,
        test_pipelined,
        test_chunked_bodies,
        test_expect_100_continue,
        test_body_store_truncated_but_digested,
        test_ipv6_listener,
        test_proxy_protocol_v1_v2,
        test_xff_trusted_and_untrusted,
        test_absent_headers_absent_keys,
        test_privilege_drop,
        test_eve_file_matches_log_cat,
        test_max_connections_refused,
        test_sigterm_exit_and_verify,
    ])
