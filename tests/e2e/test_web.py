"""test_web.py — `sinkd web` end to end: tokens, sessions, every API endpoint's scope, malformed requests, reports, and the UI in headless Chromium.

One sensor (loadgen check-ins from three networks of the fixture data) feeds
a store; `sinkd web` serves it. Network A is AS64501 (100.64.1.0/24, DE),
B is AS64502 (100.65.9.0/24, US), C is AS64503 (100.65.8.0/24, GB). Expected
numbers come from the store file itself (sqlite3, read-only), independently
of the API's queries.
"""

import datetime
import ipaddress
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import harness as h  # noqa: E402
import test_metrics as tm  # noqa: E402
import test_store as ts  # noqa: E402

A_NET, B_NET, C_NET = "100.64.1.0/24", "100.65.9.0/24", "100.65.8.0/24"
A_ASN, B_ASN, C_ASN = 64501, 64502, 64503

ENDPOINTS = ["me", "summary", "series", "series?bucket=week", "networks", "networks?by=country",
             "hosts", "events", "reports?day=%DAY%"]

S = {}  # the shared fixture: daemon, web server, tokens


class Web:
    """`sinkd web` on a free loopback port, stopped by PID."""

    def __init__(self, config, tokens):
        self.port = h.free_ports(1)[0]
        self.out = open(os.path.join(os.path.dirname(tokens), "web.stdout"), "wb")
        self.err_path = os.path.join(os.path.dirname(tokens), "web.stderr")
        err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([h.SINKD, "web", "-c", config, "--listen",
                                      f"127.0.0.1:{self.port}", "--tokens", tokens],
                                     stdin=subprocess.DEVNULL, stdout=self.out, stderr=err)
        err.close()
        h.wait_until(lambda: h.port_listening(self.port) or self.proc.poll() is not None,
                     timeout=15, what="sinkd web listening")
        assert self.proc.poll() is None, self.stderr()

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


def raw(data, timeout=10.0):
    """Sends bytes to the web server; returns (status, headers dict lower-case, body bytes)."""
    s = socket.create_connection(("127.0.0.1", S["web"].port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            buf += c
    finally:
        s.close()
    if not buf:
        return 0, {}, b""
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return status, hdrs, body


def req(path, token=None, method="GET", body=b"", headers=None, cookie=None):
    hs = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if token:
        hs.append(f"Authorization: Bearer {token}")
    if cookie:
        hs.append(f"Cookie: {cookie}")
    for k, v in (headers or []):
        hs.append(f"{k}: {v}")
    if body or method == "POST":
        hs.append(f"Content-Length: {len(body)}")
    return raw(("\r\n".join(hs) + "\r\n\r\n").encode() + body)


def api(path, token, expect=200):
    st, hd, body = req("/api/v1/" + path, token)
    assert st == expect, f"{path}: {st} {body[:300]!r}"
    assert hd["content-type"][0].startswith("application/json"), hd
    return json.loads(body)


def token_add(*args):
    rc, out, err = h.sinkd_cmd("token", "add", "-c", S["config"], "--tokens", S["tokens"], *args)
    assert rc == 0, f"token add {args}: {err}"
    tok = out.strip()
    assert re.fullmatch(r"sinkd_[0-9a-f]{64}", tok), out
    return tok


def setup():
    d, store, asn_csv, mmdb, contacts = ts.make_daemon()
    ts.loadgen(d.port("seized"), 1500, sources=f"{A_NET},{B_NET},{C_NET}")
    evs = d.wait_events(1500)
    ts.wait_indexed(store, len(evs))
    S.update(d=d, store=store, config=d.config_path, tokens=os.path.join(d.dir, "web.tokens"),
             day=str(ts.eve_day(evs[0]["timestamp"])))
    S["admin"] = token_add("--name", "operator", "--admin")
    S["a"] = token_add("--name", "alpha-abuse", "--asn", str(A_ASN))
    S["b"] = token_add("--name", "beta-abuse", "--asn", f"AS{B_ASN}")
    S["c_cidr"] = token_add("--name", "gamma-desk", "--cidr", C_NET)
    S["c_cc"] = token_add("--name", "ncsc-gb", "--country", "gb")
    S["gone"] = token_add("--name", "leaver", "--asn", str(A_ASN))
    S["web"] = Web(S["config"], S["tokens"])
    # The store as the oracle: addresses per ASN from the aggregate tables.
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        S["addrs"] = {}
        for asn in (A_ASN, B_ASN, C_ASN):
            rows = con.execute("SELECT DISTINCT src FROM (SELECT src, asn FROM daily_src UNION ALL"
                               " SELECT src, asn FROM agg_delta) WHERE asn = ?", (asn,)).fetchall()
            S["addrs"][asn] = {str(ipaddress.ip_address(bytes(r[0]))) for r in rows}
        S["events"] = dict(con.execute("SELECT src_asn, count(*) FROM events WHERE family ="
                                       " 'rustock' GROUP BY src_asn").fetchall())
    finally:
        con.close()
    for asn in (A_ASN, B_ASN, C_ASN):
        assert S["addrs"][asn], f"no addresses of AS{asn} in the store"


def ep(path):
    return path.replace("%DAY%", S["day"])


def monday(day):
    d = datetime.date.fromisoformat(day)
    return str(d - datetime.timedelta(days=d.weekday()))


def day_range():
    return f"from={S['day']}&to={S['day']}"


def with_range(path):
    p = ep(path)
    if p.startswith("reports") or p == "me":
        return p
    return p + ("&" if "?" in p else "?") + day_range()


# --- authentication ----------------------------------------------------------------------


def test_no_token_bad_token_revoked():
    for p in ENDPOINTS + ["reports/%DAY%/x.csv"]:
        for tok in (None, "sinkd_" + "0" * 64, "garbage", S["gone"][:-1]):
            st, hd, body = req("/api/v1/" + ep(p), tok)
            assert st == 401, f"{p} with {tok!r}: {st}"
            assert json.loads(body)["error"]["status"] == 401
            assert hd.get("www-authenticate") == ['Bearer realm="sinkd"'], hd
    assert api("me", S["gone"])["name"] == "leaver"
    # A session opened before the revocation dies with the token too.
    st, hd, _ = req("/api/v1/login", method="POST", body=f"token={S['gone']}".encode(),
                    headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert st == 200
    cookie = hd["set-cookie"][0].split(";")[0]
    assert req("/api/v1/me", cookie=cookie)[0] == 200
    rc, out, err = h.sinkd_cmd("token", "revoke", "-c", S["config"], "--tokens", S["tokens"],
                               "leaver")
    assert rc == 0, err
    for p in ENDPOINTS:
        assert req("/api/v1/" + ep(p), S["gone"])[0] == 401, p
        assert req("/api/v1/" + ep(p), cookie=cookie)[0] == 401, p
    rc, out, err = h.sinkd_cmd("token", "list", "-c", S["config"], "--tokens", S["tokens"])
    assert rc == 0 and re.search(r"leaver\towner\tAS64501\t\S+\t20\d\d-", out), out
    assert S["gone"] not in out and S["a"] not in out
    # Only hashes on disk, and the file is private.
    with open(S["tokens"], encoding="utf-8") as f:
        text = f.read()
    assert "sinkd_" not in text.replace("# sinkd web tokens", ""), text[:200]
    assert os.stat(S["tokens"]).st_mode & 0o777 == 0o600


def test_login_session_cookie_and_headers():
    st, hd, body = req("/api/v1/login", method="POST", body=b"token=wrong")
    assert st == 401, st
    assert "set-cookie" not in hd
    st, hd, body = req("/api/v1/login", method="POST",
                       body=f"token={urllib.parse.quote(S['a'])}".encode())
    assert st == 200, body
    assert json.loads(body) == {"name": "alpha-abuse", "admin": False}
    c = hd["set-cookie"][0]
    assert re.match(r"sinkd_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict", c), c
    cookie = c.split(";")[0]
    me = json.loads(req("/api/v1/me", cookie=cookie)[2])
    assert me["name"] == "alpha-abuse" and me["scope"]["asns"] == [A_ASN], me
    # A made-up or altered session id is nobody.
    assert req("/api/v1/me", cookie="sinkd_session=" + "a" * 64)[0] == 401
    assert req("/api/v1/me", cookie=cookie[:-1] + ("0" if cookie[-1] != "0" else "1"))[0] == 401
    st, hd, _ = req("/api/v1/logout", method="POST", cookie=cookie)
    assert st == 200 and "Max-Age=0" in hd["set-cookie"][0]
    assert req("/api/v1/me", cookie=cookie)[0] == 401
    # Security headers on every kind of answer: API, error, page, asset.
    for path in ("/api/v1/me", "/nowhere", "/", "/assets/app.js"):
        st, hd, _ = req(path, S["admin"])
        csp = hd["content-security-policy"][0]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
        assert "frame-ancestors 'none'" in csp
        assert hd["x-content-type-options"] == ["nosniff"], path
        assert hd["x-frame-options"] == ["DENY"], path


# --- scope ---------------------------------------------------------------------------------


def all_pages(kind, token, extra=""):
    """Follows `next` to the end; returns every row."""
    rows, after = [], None
    for _ in range(1000):
        q = f"{kind}?{day_range()}&limit=2{extra}" + (f"&after={after}" if after else "")
        r = api(q, token)
        rows += r["rows"]
        if r["next"] is None:
            return rows
        after = r["next"]
    raise AssertionError("paging did not end")


def in_net(addr, net):
    return ipaddress.ip_address(addr) in ipaddress.ip_network(net)


def test_owner_sees_exactly_its_network():
    for tok, asn, net in ((S["a"], A_ASN, A_NET), (S["b"], B_ASN, B_NET),
                          (S["c_cidr"], C_ASN, C_NET), (S["c_cc"], C_ASN, C_NET)):
        hosts = all_pages("hosts", tok)
        assert {x["addr"] for x in hosts} == S["addrs"][asn], (asn, len(hosts))
        assert all(x["asn"] == asn and in_net(x["addr"], net) for x in hosts)
        evs = all_pages("events", tok)
        assert len(evs) == S["events"][asn], (asn, len(evs), S["events"][asn])
        assert all(e["asn"] == asn and in_net(e["src"], net) for e in evs)
        assert len({e["id"] for e in evs}) == len(evs)
        s = api(f"summary?{day_range()}&distinct=1", tok)
        n = len(S["addrs"][asn])
        assert s["unique_src"] == n and s["last_day_unique_src"] == n, s
        assert s["week_unique_src"] == n and s["week"] == monday(S["day"]), s
        assert s["events"] == S["events"][asn] == s["week_events"], s
        assert "sensor" not in s and "store" not in s, "sensor-wide numbers are the operator's"
        ser = api(f"series?{day_range()}", tok)
        assert ser["total"] == [{"day": S["day"], "unique_src": len(S["addrs"][asn]),
                                 "events": S["events"][asn]}], ser
        nets = api(f"networks?{day_range()}", tok)["rows"]
        assert [r["asn"] for r in nets] == [asn], nets
        assert nets[0]["unique_src"] == len(S["addrs"][asn])
    # The operator sees all three.
    hosts = all_pages("hosts", S["admin"])
    want = set().union(*S["addrs"].values())
    assert {x["addr"] for x in hosts} == want
    nets = api(f"networks?{day_range()}", S["admin"])["rows"]
    assert {r["asn"]: r["unique_src"] for r in nets} == {a: len(v) for a, v in S["addrs"].items()}
    cc = api(f"networks?by=country&{day_range()}", S["admin"])["rows"]
    assert {r["country"] for r in cc} == {"DE", "US", "GB"}, cc


def test_owner_cannot_reach_other_network():
    b_addrs = S["addrs"][B_ASN]
    b_first = sorted(b_addrs, key=lambda a: ipaddress.ip_address(a))[0]
    b_ev = all_pages("events", S["b"])
    a = S["a"]
    tricks = [f"&asn={B_ASN}", f"&asn=AS{B_ASN}", f"&cidr={B_NET}", "&cidr=0.0.0.0/0",
              "&cc=US", f"&asn={A_ASN}&asn={B_ASN}", f"&cidr={A_NET}&cidr={B_NET}"]
    for kind in ("hosts", "events"):
        for t in tricks:
            rows = all_pages(kind, a, t)
            addrs = {r.get("addr") or r.get("src") for r in rows}
            assert not addrs & b_addrs, (kind, t)
            assert all(r["asn"] == A_ASN for r in rows), (kind, t)
        # Starting a page just before B's first address or id.
        lo = str(ipaddress.ip_address(b_first) - 1)
        after = lo if kind == "hosts" else str(b_ev[0]["id"] - 1)
        r = api(f"{kind}?{day_range()}&after={after}&limit=1000", a)
        assert all(x["asn"] == A_ASN for x in r["rows"]), r["rows"][:2]
        assert not {x.get("addr") or x.get("src") for x in r["rows"]} & b_addrs
    for kind in ("summary", "series", "networks"):
        for t in tricks if kind != "summary" else [""]:
            body = json.dumps(api(f"{kind}?{day_range()}{t}", a))
            assert str(B_ASN) not in body and "US" not in body, (kind, t, body[:300])
    # An event id of B's is not reachable by id either: the page after id-1 holds none of B's.
    r = api(f"events?{day_range()}&after={b_ev[0]['id'] - 1}&limit=1", a)
    assert not r["rows"] or r["rows"][0]["id"] != b_ev[0]["id"]
    # Reports: A lists only its own; B's file names and traversal get 404 and nothing of B.
    mine = api(f"reports?day={S['day']}", a)["files"]
    assert mine and all(f"-as{A_ASN}." in f["name"] for f in mine), mine
    theirs = api(f"reports?day={S['day']}", S["b"])["files"]
    assert theirs and all(f"-as{B_ASN}." in f["name"] for f in theirs), theirs
    bad = [f"reports/{S['day']}/{f['name']}" for f in theirs] + [
        f"reports/{S['day']}/..%2f..%2fetc%2fpasswd", f"reports/{S['day']}/../../../etc/passwd",
        f"reports/{S['day']}/..", f"reports/{S['day']}/.", "reports/../../etc/passwd",
        f"reports/{S['day']}/%2e%2e", f"reports/{S['day']}/{theirs[0]['name']}%00.csv",
        f"reports/{S['day']}/sub/{theirs[0]['name']}", f"reports/{S['day']}//{theirs[0]['name']}",
        f"reports/..%2F{S['day']}/{theirs[0]['name']}"]
    for p in bad:
        st, _, body = req("/api/v1/" + p, a)
        assert st in (400, 404), (p, st)
        assert b"100.65.9." not in body and str(B_ASN).encode() not in body, p


def test_report_download_identical_to_sinkd_report():
    out = tempfile.mkdtemp(prefix="sinkd-web-report.")
    try:
        rc, _, err = h.sinkd_cmd("report", "-c", S["config"], "--day", S["day"], "--asn",
                                 str(A_ASN), "--per", "asn", "--format", "csv,jsonl", "-o", out)
        assert rc == 0, err
        want = sorted(os.listdir(out))
        files = api(f"reports?day={S['day']}", S["a"])["files"]
        assert [f["name"] for f in files] == want, (files, want)
        for f in files:
            st, hd, body = req(f["url"], S["a"])
            assert st == 200, (f, st)
            with open(os.path.join(out, f["name"]), "rb") as fh:
                ref = fh.read()
            assert body == ref, f["name"]
            assert len(body) == f["bytes"]
            assert hd["content-disposition"] == [f'attachment; filename="{f["name"]}"'], hd
            if f["name"].endswith(".csv"):
                lines = body.decode().splitlines()
                assert len(lines) == S["events"][A_ASN] + 1, len(lines)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --- malformed requests ----------------------------------------------------------------------


def test_malformed_requests_get_4xx_and_server_survives():
    adm = S["admin"]
    cases = [
        ("summary?from=2026-02-30", 400), ("summary?distinct=2", 400), ("summary?from=yesterday", 400),
        ("summary?from=2026-11-28&to=2026-11-01", 400), ("series?from=2020-01-01&to=2026-01-01", 400),
        ("series?bucket=month", 400), ("hosts?limit=0", 400), ("hosts?limit=100000", 400),
        ("hosts?after=not-an-ip", 400), ("events?after=-1", 400),
        ("events?after=99999999999999999999999", 400), ("events?asn=AS", 400),
        ("events?cidr=10.1.2.3/8", 400), ("events?cidr=10.0.0.0/33", 400), ("events?cc=DEU", 400),
        ("events?family=../x", 400), ("events?bogus=1", 400), ("events?from=%zz", 400),
        ("events?from=%00", 400), ("events?" + "&".join(f"asn={i}" for i in range(17)), 400),
        ("events?" + "a=b&" * 40, 414), ("events?x=" + "A" * 3000, 414),
        ("reports", 400), ("reports?day=2026-13-01", 400), ("nope", 404), ("", 404),
        ("reports/2026-11-28", 404),
    ]
    for path, want in cases:
        st, hd, body = req("/api/v1/" + path, adm)
        assert st == want, (path, st, body[:200])
        e = json.loads(body)["error"]
        assert e["status"] == want and e["message"], e
    # Bad bodies, methods, heads.
    assert req("/api/v1/login", method="POST", body=b'{"token": "x"}',
               headers=[("Content-Type", "application/json")])[0] == 400
    assert req("/api/v1/login", method="POST", body=b"token=%G1")[0] == 400
    assert req("/api/v1/login", method="POST", body=b"x" * 5000)[0] == 413
    assert req("/api/v1/summary", adm, method="DELETE")[0] == 405
    assert req("/api/v1/summary", adm, method="POST", body=b"{}")[0] == 405
    assert raw(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")[0] == 411
    assert raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64)[0] == 400
    assert raw(b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n")[0] == 431
    assert raw(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 414
    assert raw(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n")[0] in (400, 401)
    # A slow client holds one thread until the deadline, then gets 408; others are served meanwhile.
    s = socket.create_connection(("127.0.0.1", S["web"].port))
    s.sendall(b"GET /api/v1/me HTTP/1.1\r\n")
    assert api("me", adm)["admin"] is True
    s.close()
    assert S["web"].proc.poll() is None, S["web"].stderr()
    assert api("me", adm)["name"] == "operator"


def test_dashboard_data_for_operator():
    s = api(f"summary?{day_range()}", S["admin"])
    total = len(set().union(*S["addrs"].values()))
    assert s["last_day_unique_src"] == total and s["families"][0]["family"] == "rustock", s
    assert s["families"][0]["unique_src"] == total and "unique_src" not in s, s
    assert s["sensor"] is not None and s["sensor"]["stats"]["listeners"][0]["name"] == "seized", s
    # Everything is indexed: at most the last seal's frame lies beyond the store's position.
    assert s["store"]["log_offset"] > 0 and s["store"]["lag_bytes"] < 4096, s
    w = api(f"series?bucket=week&{day_range()}", S["admin"])
    assert w["rows"] == [{"day": monday(S["day"]), "family": "rustock", "unique_src": total,
                          "events": sum(S["events"].values())}], w


def test_metrics_endpoint():
    """/metrics: Prometheus text (the project's strict parser, promtool when installed)."""
    st, hd, body = req("/metrics")
    assert st == 200, (st, body[:300])
    assert hd["content-type"] == ["text/plain; version=0.0.4; charset=utf-8"], hd
    fams = tm.parse_exposition(body)
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()

    def sample(name, **labels):
        return fams[name]["samples"].get(frozenset(labels.items()))
    # Everything the tests above did is counted, by route and status class.
    assert sample("sinkd_web_requests_total", route="api_summary", code="2xx") >= 4, fams
    assert sample("sinkd_web_requests_total", route="api_hosts", code="4xx") >= 1
    assert sample("sinkd_web_requests_total", route="login", code="2xx") >= 2
    assert sample("sinkd_web_requests_total", route="other", code="4xx") >= 40
    assert sample("sinkd_web_auth_failures_total") >= 40
    assert sample("sinkd_web_connections_accepted_total") >= 100
    assert sample("sinkd_web_connections_open") >= 1  # this very scrape
    assert sample("sinkd_web_sent_bytes_total") > 100000
    con = sqlite3.connect(f"file:{S['store']}?mode=ro", uri=True)
    try:
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        con.close()
    assert sample("sinkd_store_events") == n, (sample("sinkd_store_events"), n)
    assert sample("sinkd_consumer_lag_bytes", consumer="store") < 4096
    assert [(dict(k)["component"], v) for k, v in fams["sinkd_build_info"]["samples"].items()] == \
        [("web", 1)], fams["sinkd_build_info"]


def test_ui_in_chromium():
    node = shutil.which("node")
    chromium = "/usr/bin/chromium"
    pw = os.path.join(h.SINKD_SRC, "web", "node_modules", "playwright-core")
    if not node or not os.path.exists(chromium) or not os.path.isdir(pw):
        raise h.Skip("node, /usr/bin/chromium or web/node_modules (scripts/setup) missing")
    shots = os.environ.get("SINKD_WEB_SHOTS") or S["d"].dir
    env = dict(os.environ, WEB_URL=f"http://127.0.0.1:{S['web'].port}/", ADMIN=S["admin"],
               OWNER=S["a"], DAY=S["day"], SHOTS=shots,
               EXPECT=json.dumps({"total": len(set().union(*S["addrs"].values())),
                                  "owner_hosts": sorted(S["addrs"][A_ASN]),
                                  "b_hosts": sorted(S["addrs"][B_ASN]),
                                  "owner_asn": A_ASN}))
    p = subprocess.run([node, os.path.join(h.SINKD_SRC, "tests", "e2e", "web_ui.mjs")],
                       env=env, capture_output=True, text=True, timeout=150)
    print(p.stdout[-3000:])
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    # The CSV the browser downloaded is the one `sinkd report` writes.
    out = tempfile.mkdtemp(prefix="sinkd-web-report.")
    try:
        rc, _, err = h.sinkd_cmd("report", "-c", S["config"], "--day", S["day"], "--asn",
                                 str(A_ASN), "--per", "asn", "--format", "csv", "-o", out)
        assert rc == 0, err
        (name,) = os.listdir(out)
        with open(os.path.join(out, name), "rb") as f, \
                open(os.path.join(shots, "download.csv"), "rb") as g:
            assert f.read() == g.read(), name
    finally:
        shutil.rmtree(out, ignore_errors=True)


def teardown():
    if "web" in S:
        rc = S["web"].stop()
        assert rc == 0, f"sinkd web exit {rc}: {S['web'].stderr()}"
    if "d" in S and S["d"].running():
        S["d"].stop()


def test_all():
    """One fixture for every check (a sensor run and a store are costly to make)."""
    setup()
    failed = []
    try:
        for t in (test_no_token_bad_token_revoked, test_login_session_cookie_and_headers,
                  test_owner_sees_exactly_its_network, test_owner_cannot_reach_other_network,
                  test_report_download_identical_to_sinkd_report,
                  test_malformed_requests_get_4xx_and_server_survives,
                  test_dashboard_data_for_operator, test_metrics_endpoint, test_ui_in_chromium):
            try:
                t()
                print(f"  ok {t.__name__}", flush=True)
            except h.Skip as e:
                print(f"  skip {t.__name__}: {e}", flush=True)
            except AssertionError as e:
                failed.append(t.__name__)
                print(f"  FAIL {t.__name__}: {e}", flush=True)
    finally:
        teardown()
    assert not failed, failed


if __name__ == "__main__":
    h.run([test_all], per_test_timeout=280)
