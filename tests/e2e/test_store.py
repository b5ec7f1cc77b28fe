"""test_store.py — enrichment, the store and reports end to end: loadgen → serve (store thread) → report.

Fixture data is generated here: an ip-location-db style ASN CSV, a country
MMDB from the project's own writer (tests/tools/mmdb_writer.py) and a contacts
CSV. Expected report rows are derived independently from the event log (EVE
JSON) and the fixture ranges, then compared with the CSV files, which a strict
reader keyed by header name validates value by value.
"""

import base64
import csv
import datetime
import email
import email.policy
import io
import ipaddress
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import harness as h  # noqa: E402
import mmdb_writer  # noqa: E402

HTTP_COLS = ("timestamp,protocol,src_ip,src_port,src_asn,src_geo,src_region,src_city,src_hostname,"
             "src_naics,src_sector,device_vendor,device_type,device_model,severity,dst_ip,dst_port,"
             "dst_asn,dst_geo,dst_region,dst_city,dst_hostname,dst_naics,dst_sector,public_source,"
             "infection,family,tag,application,version,event_id,http_url,http_host,http_agent,"
             "forwarded_by,ssl_cipher,http_referer,ssl_servername,machine_name").split(",")
INT_COLS = {"src_port", "src_asn", "src_naics", "dst_port", "dst_asn", "dst_naics", "count"}

# Test networks: (range, ASN, org, country). 10.x is split so a more specific
# range cuts into a wider one.
NETS = [
    ("100.64.0.0", "100.64.255.255", 64501, "Alpha Net", "DE"),
    ("100.65.0.0", "100.65.255.255", 64502, "Beta, Inc.", "US"),
    ("100.65.8.0", "100.65.8.255", 64503, "Gamma Ltd", "GB"),
    ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 64504, "Delta6", "NL"),
]
SOURCES = "100.64.1.0/24,100.65.8.0/24,100.65.9.0/24"
CONTACTS = ("selector,email,org,source\n"
            "AS64501,abuse@alpha.example,Alpha Net,imported\n"
            "AS64502,abuse@beta.example,\"Beta, Inc.\",imported\n"
            "100.65.8.0/24,desk@gamma.example,Gamma Desk,manual\n"
            "NL,cert@nl.example,CERT NL,imported\n")


def write_fixtures(d):
    asn_csv = os.path.join(d, "asn.csv")
    with open(asn_csv, "w", encoding="utf-8") as f:
        for lo, hi, asn, org, _ in NETS:
            org_q = f'"{org}"' if "," in org else org
            f.write(f"{lo},{hi},{asn},{org_q}\n")
    recs = []
    for lo, hi, _, _, cc in NETS:
        for net in ipaddress.summarize_address_range(ipaddress.ip_address(lo),
                                                     ipaddress.ip_address(hi)):
            recs.append((net, {"country": {"iso_code": cc}}))
    mmdb = os.path.join(d, "country.mmdb")
    with open(mmdb, "wb") as f:
        f.write(mmdb_writer.build(recs))
    contacts = os.path.join(d, "contacts.csv")
    with open(contacts, "w", encoding="utf-8") as f:
        f.write(CONTACTS)
    return asn_csv, mmdb, contacts


def enrich_ref(ip):
    """The expected (asn, org, cc) of an address: the most specific fixture range."""
    a = ipaddress.ip_address(ip)
    best = None
    for lo, hi, asn, org, cc in NETS:
        l, u = ipaddress.ip_address(lo), ipaddress.ip_address(hi)
        if l.version == a.version and l <= a <= u:
            size = int(u) - int(l)
            if best is None or size < best[0]:
                best = (size, asn, org, cc)
    return (best[1], best[2], best[3]) if best else (0, "", "")


def contact_ref(ip, asn, cc):
    a = ipaddress.ip_address(ip)
    if a in ipaddress.ip_network("100.65.8.0/24"):
        return "desk@gamma.example"
    return {64501: "abuse@alpha.example", 64502: "abuse@beta.example"}.get(asn) or \
        ("cert@nl.example" if cc == "NL" else None)


# --- a strict CSV reader keyed by header name -------------------------------------


def split_strict(line):
    """Splits one CSV line; returns [(value, quoted)]. Raises on anything irregular."""
    out, i, n = [], 0, len(line)
    while True:
        if i < n and line[i] == '"':
            j, val = i + 1, []
            while True:
                if j >= n:
                    raise AssertionError(f"unterminated quote: {line[:120]}")
                if line[j] == '"':
                    if j + 1 < n and line[j + 1] == '"':
                        val.append('"')
                        j += 2
                        continue
                    break
                val.append(line[j])
                j += 1
            out.append(("".join(val), True))
            i = j + 1
        else:
            j = line.find(",", i)
            j = n if j < 0 else j
            v = line[i:j]
            assert '"' not in v, f"stray quote in unquoted field: {line[:120]}"
            out.append((v, False))
            i = j
        if i == n:
            return out
        assert line[i] == ",", f"text after a closing quote: {line[:120]}"
        i += 1


def read_strict(path, want_cols):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")  # must be UTF-8
    assert "\r" not in text, f"{path}: CR in file (LF line ends expected)"
    assert text.endswith("\n"), f"{path}: no final LF"
    lines = text[:-1].split("\n")
    header = split_strict(lines[0])
    assert all(q for _, q in header), f"{path}: header names must be quoted"
    names = [v for v, _ in header]
    assert names == want_cols, f"{path}: header {names} != {want_cols}"
    rows = []
    for ln, line in enumerate(lines[1:], 2):
        fields = split_strict(line)
        assert len(fields) == len(names), f"{path}:{ln}: {len(fields)} fields"
        row = {}
        for name, (v, quoted) in zip(names, fields):
            where = f"{path}:{ln}: {name}={v!r}"
            if quoted:
                assert v != "", f"{where}: empty value must be empty, not \"\""
                assert name not in INT_COLS, f"{where}: integer quoted"
            if v == "":
                row[name] = None
                continue
            if name in INT_COLS:
                assert not quoted and re.fullmatch(r"0|[1-9][0-9]*", v), f"{where}: not an integer"
                row[name] = int(v)
                continue
            assert quoted, f"{where}: string not quoted"
            if name == "timestamp":
                assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", v), where
                datetime.datetime.strptime(v, "%Y-%m-%d %H:%M:%S")
            elif name in ("src_ip", "dst_ip"):
                assert str(ipaddress.ip_address(v)) == v, f"{where}: not a canonical address"
            elif name in ("src_geo", "dst_geo"):
                assert re.fullmatch(r"[A-Z]{2}", v), f"{where}: not a country code"
            elif name == "protocol":
                assert v in ("tcp", "udp"), where
            elif name == "severity":
                assert v in ("critical", "high", "medium", "low", "info"), where
            assert all(ord(c) >= 0x20 and ord(c) != 0x7f for c in v), f"{where}: control char"
            row[name] = v
        rows.append(row)
    return rows


# --- helpers ------------------------------------------------------------------------


def make_daemon(extra=None):
    d = h.Sinkd(listen=[{"name": "seized", "proto": "http", "proxy_protocol": True}],
                families=[{"name": "rustock", "tag": "login",
                           "match": {"method": "POST", "path": "/login.php"}}],
                config={"log": {"fsync": "none"}}, start=False)
    asn_csv, mmdb, contacts = write_fixtures(d.dir)
    store = os.path.join(d.dir, "store.db")
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write(f"store: {{ path: {store} }}\n"
                f"enrich: {{ asn: [ {asn_csv} ], country: {mmdb}, contacts: {contacts} }}\n")
        if extra:
            f.write(extra)
    d.start()
    return d, store, asn_csv, mmdb, contacts


def loadgen(port, count, seed=1, sources=SOURCES):
    rc, out, err = h.sinkd_cmd("loadgen", "--target", f"127.0.0.1:{port}", "--proxy-v2",
                               "--profile", "rustock", "--count", count, "--duration", 60,
                               "--concurrency", 8, "--mode", "keepalive", "--sources", sources,
                               "--seed", seed, "--quiet", timeout=120)
    assert rc == 0, f"loadgen exit {rc}: {err[-2000:]}"


def wait_indexed(store, n, timeout=60):
    def done():
        try:
            con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
            try:
                return con.execute("select count(*) from events").fetchone()[0] >= n
            finally:
                con.close()
        except sqlite3.Error:
            return False
    h.wait_until(done, timeout=timeout, interval=0.2, what=f"{n} events in the store")


class running:
    """Stops the daemon at the end of the block but keeps its directory (h.run cleans up)."""

    def __init__(self, d):
        self.d = d

    def __enter__(self):
        return self.d

    def __exit__(self, exc_type, exc, tb):
        if self.d.running():
            self.d.stop()
        if exc_type is not None:
            self.d._failed = True
        return False


def eve_day(ts):
    return datetime.datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").date()


def expected_rows(events):
    """Report rows per report file key (day, asn), from the log's EVE JSON."""
    out = {}
    for e in events:
        if e.get("sinkhole", {}).get("family") in (None, "unknown"):
            continue
        asn, org, cc = enrich_ref(e["src_ip"])
        ts = e["timestamp"][:19].replace("T", " ")
        http = e.get("http", {})
        # EVE writes IPv6 in full; the CSV in the canonical short form.
        src, dst = str(ipaddress.ip_address(e["src_ip"])), str(ipaddress.ip_address(e["dest_ip"]))
        row = {"timestamp": ts, "protocol": "tcp", "src_ip": src, "src_port": e["src_port"],
               "src_asn": asn or None, "src_geo": cc or None, "severity": "critical",
               "dst_ip": dst, "dst_port": e["dest_port"],
               "infection": e["sinkhole"]["family"], "family": e["sinkhole"]["family"],
               "tag": e["sinkhole"].get("tag"), "application": "http",
               "http_url": http.get("url"), "http_host": http.get("hostname"),
               "http_agent": http.get("http_user_agent"), "forwarded_by": http.get("xff"),
               "http_referer": http.get("http_refer")}
        out.setdefault((eve_day(e["timestamp"]), asn), []).append(row)
    return out


def row_key(r):
    return tuple(sorted((k, str(v)) for k, v in r.items() if v is not None))


# --- tests --------------------------------------------------------------------------


def test_loadgen_serve_index_report():
    d, store, asn_csv, mmdb, contacts = make_daemon()
    with running(d):
        port = d.port("seized")
        loadgen(port, 3000)
        # Two hand-made check-ins with exactly known values, one from IPv6.
        for src, sport in (("100.65.8.77", 4321), ("2001:db8::77", 4322)):
            s = h.connect(port)
            s.sendall(h.proxy_v2(src, "::1" if ":" in src else "127.0.0.1", sport, 80) +
                      h.http_bytes("POST", "/login.php", host="cnc.example",
                                   headers=[("User-Agent", 'Bot "1" \u00e9'.encode().decode("latin-1"))], body=b"x" * 96))
            h.recv_all(s)
            s.close()
        evs = d.wait_events(3002)
        wait_indexed(store, len(evs))
        st = d.stats()
        assert st.get("store_indexed", 0) >= len(evs), st
    assert d.returncode == 0
    exp = expected_rows(evs)
    days = sorted({k[0] for k in exp})
    out = os.path.join(d.dir, "reports")
    rc, text, err = h.sinkd_cmd("report", "--store", store, "--asn", asn_csv, "--from", days[0],
                                "--to", days[-1], "--per", "asn", "--format", "csv,jsonl,summary",
                                "-o", out)
    assert rc == 0, f"report exit {rc}: {err}"
    assert "unique IP addresses, not of machines" in text, text
    orgs = {asn: org for _, _, asn, org, _ in NETS}
    files = sorted(os.listdir(out))
    seen = 0
    for (day, asn), rows in exp.items():
        slug = re.sub(r"[^a-z0-9]+", "_", orgs[asn].lower()).strip("_")
        kind = "event6_sinkhole_http" if asn == 64504 else "event4_sinkhole_http"
        name = f"{day}-{kind}-{slug}-as{asn}.csv"
        assert name in files, f"{name} not in {files}"
        # IntelMQ's Shadowserver parser detects the report type from the name.
        m = re.match(r"^(?:\d{4}-\d{2}-\d{2}-)?(\w+)(-\w+)*\.csv$", name)
        assert m and m.group(1) == kind, name
        got = read_strict(os.path.join(out, name), HTTP_COLS)
        got_keys = sorted(row_key(r) for r in got)
        want_keys = sorted(row_key(r) for r in rows)
        assert got_keys == want_keys, (f"{name}: {len(got)} rows vs {len(rows)} expected; "
                                       f"first difference: "
                                       f"{next((g, w) for g, w in zip(got_keys, want_keys) if g != w) if got_keys != want_keys else ''}")
        seen += len(got)
        # JSON lines: the same rows.
        jl = os.path.join(out, f"{day}-{slug}-as{asn}.jsonl")
        with open(jl, encoding="utf-8") as f:
            js = [json.loads(x) for x in f]
        assert len(js) == len(rows), jl
        assert {j["src_ip"] for j in js} == {r["src_ip"] for r in rows}
    assert seen == sum(len(v) for v in exp.values())
    assert len([f for f in files if f.endswith(".csv")]) == len(exp), files
    # The hand-made row, value by value (the quote survives doubling, é stays UTF-8).
    g = read_strict(os.path.join(out, f"{days[-1]}-event4_sinkhole_http-gamma_ltd-as64503.csv"),
                    HTTP_COLS) if (days[-1], 64503) in exp else []
    # loadgen may draw the same address from 100.65.0.0/16: the source port tells them apart.
    mine = [r for r in g if r["src_ip"] == "100.65.8.77" and r["src_port"] == 4321]
    if (days[-1], 64503) in exp:
        assert len(mine) == 1, mine
        r = mine[0]
        assert (r["src_port"], r["src_asn"], r["src_geo"], r["http_host"], r["http_agent"]) == \
            (4321, 64503, "GB", "cnc.example", 'Bot "1" \u00e9'), r

    # Selection by CIDR and country gives the subsets, and the summary agrees.
    out2 = os.path.join(d.dir, "r2")
    rc, text, err = h.sinkd_cmd("report", "--store", store, "--from", days[0], "--to", days[-1],
                                "--cidr", "100.65.0.0/16", "--country", "GB", "--per", "all",
                                "-o", out2)
    assert rc == 0, err
    rows = []
    for f in os.listdir(out2):
        rows += read_strict(os.path.join(out2, f), HTTP_COLS)
    want = [r for k, v in exp.items() for r in v if k[1] == 64503]
    assert sorted(map(row_key, rows)) == sorted(map(row_key, want))
    uniq = len({r["src_ip"] for r in want})
    if len(days) == 1:
        assert re.search(rf"{days[0]}\s+{uniq}\s+{len(want)}\b", text), text

    # Mails per contact: X-ARF headers and YAML, the CSV attached, manual contact wins.
    out3 = os.path.join(d.dir, "mail")
    rc, text, err = h.sinkd_cmd("report", "-c", d.config_path, "--from", days[0], "--to",
                                days[-1], "--format", "eml,csv", "--from-addr",
                                "sinkhole@cert.example", "-o", out3)
    assert rc == 0, err
    emls = [f for f in os.listdir(out3) if f.endswith(".eml")]
    by_contact = {}
    for day_rows in exp.values():
        for r in day_rows:
            c = contact_ref(r["src_ip"], r["src_asn"], r["src_geo"])
            by_contact.setdefault(c, []).append(r)
    assert len(emls) == len(days) and len(days) > 1 or \
        sorted(emls) == sorted(f"{days[0]}-{s}.eml" for s in
                               ("alpha_net", "beta_inc", "gamma_desk", "cert_nl")), emls
    for f in emls:
        with open(os.path.join(out3, f), "rb") as fh:
            raw = fh.read()
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), f"{f}: bare LF"
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["X-ARF"] == "YES" and msg["Auto-Submitted"] == "auto-generated"
        assert msg["From"] == "sinkhole@cert.example"
        to = msg["To"]
        parts = list(msg.iter_parts())
        assert parts[0].get_content_type() == "text/plain"
        assert "not of machines" in parts[0].get_content()
        yaml = parts[1].get_content()
        assert parts[1].get_param("name") == "report.txt"
        for key in ("Reported-From:", "Category: abuse", "Report-Type: bot-infection",
                    "Version: 0.2", "Source-Type: ip-address", "Source:", "Date:"):
            assert key in yaml, f"{f}: {key} missing in\n{yaml}"
        att = parts[2]
        assert att.get_filename().endswith(".csv")
        body = att.get_content()
        body = body.decode() if isinstance(body, bytes) else body
        with open(os.path.join(out3, att.get_filename()), encoding="utf-8") as fh:
            assert fh.read() == body, f"{f}: attachment differs from the CSV file"
        got = {r["src_ip"] for r in read_strict(os.path.join(out3, att.get_filename()), HTTP_COLS)}
        want_ips = {r["src_ip"] for r in by_contact[to]}
        assert got <= want_ips and (len(days) > 1 or got == want_ips), f"{f}: {to}"


class SmtpSink(threading.Thread):
    """A minimal SMTP server on loopback that keeps the messages it receives."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.messages = []

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            f = c.makefile("rwb")
            f.write(b"220 sink ESMTP\r\n")
            f.flush()
            rcpt, data = [], None
            while True:
                line = f.readline()
                if not line:
                    break
                cmd = line.strip().upper()
                if cmd.startswith(b"DATA"):
                    f.write(b"354 go\r\n")
                    f.flush()
                    buf = []
                    while True:
                        l2 = f.readline()
                        if l2 in (b".\r\n", b""):
                            break
                        buf.append(l2[1:] if l2.startswith(b"..") else l2)
                    data = b"".join(buf)
                    self.messages.append((rcpt, data))
                    f.write(b"250 ok\r\n")
                elif cmd.startswith(b"QUIT"):
                    f.write(b"221 bye\r\n")
                    f.flush()
                    break
                else:
                    if cmd.startswith(b"RCPT"):
                        rcpt.append(line.strip()[8:].strip(b"<>").decode())
                    f.write(b"250 ok\r\n")
                f.flush()
            c.close()


def test_smtp_submission():
    d, store, asn_csv, mmdb, contacts = make_daemon()
    with running(d):
        loadgen(d.port("seized"), 400, seed=3)
        evs = d.wait_events(400)
        wait_indexed(store, len(evs))
    days = sorted({eve_day(e["timestamp"]) for e in evs})
    sink = SmtpSink()
    sink.start()
    rc, text, err = h.sinkd_cmd("report", "-c", d.config_path, "--from", days[0], "--to", days[-1],
                                "--format", "eml", "--smtp", f"127.0.0.1:{sink.port}",
                                "--from-addr", "sinkhole@cert.example",
                                "-o", os.path.join(d.dir, "smtp-out"))
    sink.sock.close()
    assert rc == 0, err
    assert sink.messages, "no mail arrived"
    rcpts = {r for rc_, _ in sink.messages for r in rc_}
    assert rcpts <= {"abuse@alpha.example", "abuse@beta.example", "desk@gamma.example"}, rcpts
    for _, data in sink.messages:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        assert msg["X-ARF"] == "YES"
    # Two contacts with one organisation name still get a file each; events of
    # networks without a contact go to "unassigned" and are mailed to no one.
    c2 = os.path.join(d.dir, "c2.csv")
    with open(c2, "w", encoding="utf-8") as f:
        f.write("selector,email,org\nAS64501,a@x.example,Same Org\nAS64502,b@y.example,Same Org\n")
    out = os.path.join(d.dir, "same")
    rc, text, err = h.sinkd_cmd("report", "--store", store, "--contacts", c2, "--from", days[0],
                                "--to", days[-1], "-o", out, "--format", "csv,eml")
    assert rc == 0, err
    files = os.listdir(out)
    emls = {f.split("-", 3)[3] for f in files if f.endswith(".eml")}
    assert emls == {"same_org.eml", "same_org-a_x_example.eml"} or \
        emls == {"same_org.eml", "same_org-b_y_example.eml"}, files
    assert any(f.endswith("-unassigned.csv") for f in files), files


def dump(store):
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return (con.execute("select * from daily_all order by 1,2,3").fetchall(),
                con.execute("select * from addr_seen order by 1").fetchall(),
                con.execute("select count(*), sum(ts_us % 1000003), sum(src_port), sum(src_asn) from events").fetchone(),
                con.execute("select value from meta where key like 'log_%' order by key").fetchall())
    finally:
        con.close()


def test_kill9_indexer_resumes_exactly():
    d = h.Sinkd(listen=[{"name": "seized", "proto": "http", "proxy_protocol": True}],
                families=[{"name": "rustock", "match": {"method": "POST"}}],
                config={"log": {"fsync": "none", "segment_bytes": "1M"}})
    asn_csv, mmdb, _ = write_fixtures(d.dir)
    with running(d):
        loadgen(d.port("seized"), 30000, seed=5, sources="100.64.0.0/16,100.65.0.0/16")
        total = len(d.wait_events(30000, timeout=60))
    ref = os.path.join(d.dir, "ref.db")
    rc, out, err = h.sinkd_cmd("index", "--log", d.log_dir, "--store", ref, "--asn", asn_csv,
                               "--country", mmdb, timeout=300)
    assert rc == 0, err
    want = dump(ref)
    assert want[2][0] == total
    victim = os.path.join(d.dir, "victim.db")

    def indexed():
        try:
            con = sqlite3.connect(f"file:{victim}?mode=ro", uri=True, timeout=0.05)
            try:
                return con.execute("select count(*) from events").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return 0

    # Small transactions, and kill -9 as soon as the store shows progress that is
    # not complete: each kill lands between (or inside) transactions mid-run.
    partial_kills = 0
    for attempt in range(200):
        before = indexed()
        p = subprocess.Popen([h.SINKD, "index", "--log", d.log_dir, "--store", victim,
                              "--asn", asn_csv, "--country", mmdb, "--batch", "500"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        killed = False
        while p.poll() is None:
            n = indexed()
            if before < n < total and partial_kills < 5:
                os.kill(p.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
        rc = p.wait()
        err = p.stderr.read().decode()
        p.stderr.close()
        if killed:
            partial_kills += 1
            continue
        assert rc == 0, err
        if indexed() == total:
            break
    else:
        raise AssertionError("index never finished")
    assert partial_kills >= 3, f"only {partial_kills} kills landed mid-run"
    got = dump(victim)
    assert got == want, "aggregates after kill -9 and restarts differ from an uninterrupted run"
    # A further run finds nothing new and changes nothing.
    rc, out, err = h.sinkd_cmd("index", "--log", d.log_dir, "--store", victim, "--asn", asn_csv)
    assert rc == 0 and "indexed 0 events" in out, out + err
    assert dump(victim) == want


def test_lookup():
    d = h.Sinkd(start=False)
    asn_csv, mmdb, contacts = write_fixtures(d.dir)
    rc, out, err = h.sinkd_cmd("lookup", "--asn", asn_csv, "--country", mmdb, "--contacts",
                               contacts, "--json", "100.65.8.1", "100.65.9.1", "2001:db8::1",
                               "192.0.2.1")
    assert rc == 0, err
    js = [json.loads(x) for x in out.splitlines()]
    assert [(j["asn"], j["country"], j.get("contact", {}).get("email")) for j in js] == [
        (64503, "GB", "desk@gamma.example"), (64502, "US", "abuse@beta.example"),
        (64504, "NL", "cert@nl.example"), (0, "", None)], js
    assert js[1]["as_org"] == "Beta, Inc."
    rc, out, err = h.sinkd_cmd("lookup", "--asn", asn_csv, "not-an-ip")
    assert rc == 1 and "not an IP address" in err


DNS_COLS = ("timestamp,protocol,src_ip,src_port,src_asn,src_geo,src_region,src_city,src_hostname,"
            "src_naics,src_sector,device_vendor,device_type,device_model,severity,infection,family,"
            "tag,query_type,query,count").split(",")


def test_dns_queries_are_their_own_report():
    import shutil as _sh
    if not _sh.which("dig"):
        raise h.Skip("dig is not installed")
    d = h.Sinkd(yaml_text="""
sensor: { id: e2e }
log: { dir: $log_dir, fsync: none }
workers: 1
listen:
  - { name: dns, proto: dns, addr: "127.0.0.1:$port0" }
dns:
  a: [192.0.2.10]
  zones:
    - { family: rustock, names: [rustock-cc.test] }
store: { path: $dir/store.db }
""", nports=1)
    with running(d):
        port = d.ports["port0"]
        for name, qtype in (("rustock-cc.test", "A"), ("www.Rustock-CC.test", "AAAA"),
                            ("x.rustock-cc.test", "TXT")):
            p = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3",
                                name, qtype], capture_output=True, text=True, timeout=20)
            assert p.returncode == 0, p.stdout + p.stderr
        wait_indexed(os.path.join(d.dir, "store.db"), 3)
    evs = [e for e in d.events() if e["event_type"] == "dns"]
    days = sorted({eve_day(e["timestamp"]) for e in evs})
    out = os.path.join(d.dir, "reports")
    rc, text, err = h.sinkd_cmd("report", "--store", os.path.join(d.dir, "store.db"), "--from",
                                days[0], "--to", days[-1], "--per", "all", "-o", out)
    assert rc == 0, err
    files = sorted(os.listdir(out))
    assert files and all("-event4_sinkhole_dns-" in f for f in files), files
    rows = []
    for f in files:
        rows += read_strict(os.path.join(out, f), DNS_COLS)
    got = sorted((r["query_type"], r["query"], r["severity"], r["family"], r["count"]) for r in rows)
    assert got == sorted([("A", "rustock-cc.test", "info", "rustock", 1),
                          ("AAAA", "www.Rustock-CC.test", "info", "rustock", 1),
                          ("TXT", "x.rustock-cc.test", "info", "rustock", 1)]), got
    # Resolver queries are never counted as infections.
    assert re.search(r"\d{4}-\d\d-\d\d\s+0\s+0\b", text), text


def test_bot_ids_counted():
    # Families whose check-ins name the bot (store.bot_ids) get unique bot IDs per day.
    d = h.Sinkd(listen=[{"name": "seized", "proto": "http", "proxy_protocol": True}],
                families=[{"name": "gatebot", "match": {"path": "/gate.php"}}],
                config={"log": {"fsync": "none"}}, start=False)
    store = os.path.join(d.dir, "store.db")
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write(f"store:\n  path: {store}\n  bot_ids:\n    - {{ family: gatebot, uri_param: id }}\n")
    d.start()
    with running(d):
        loadgen_generic = ["loadgen", "--target", f"127.0.0.1:{d.port('seized')}", "--proxy-v2",
                           "--profile", "generic", "--count", 500, "--duration", 60,
                           "--concurrency", 4, "--sources", SOURCES, "--seed", 11, "--quiet"]
        rc, out, err = h.sinkd_cmd(*loadgen_generic, timeout=120)
        assert rc == 0, err
        evs = d.wait_events(500)
        wait_indexed(store, len(evs))
    per_day = {}
    for e in evs:
        m = re.search(r"[?&]id=([^&#]+)", e["http"]["url"])
        assert m, e["http"]["url"]
        per_day.setdefault(eve_day(e["timestamp"]), set()).add(m.group(1))
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        got = {str(datetime.date(1970, 1, 1) + datetime.timedelta(days=day)): n for day, n in
               con.execute("select day, count(*) from daily_bots where family = 'gatebot'"
                           " group by day")}
    finally:
        con.close()
    want = {str(k): len(v) for k, v in per_day.items()}
    assert got == want, (got, want)
    days = sorted(per_day)
    rc, text, err = h.sinkd_cmd("report", "--store", store, "--from", days[0], "--to", days[-1],
                                "--format", "summary")
    assert rc == 0, err
    for day, ids in per_day.items():
        assert re.search(rf"{day}\s+gatebot\s+{len(ids)}\s", text), text


def test_bad_data_refused():
    # A missing data file stops serve at start-up, naming the file.
    d = h.Sinkd(start=False)
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write(f"store: {{ path: {d.dir}/s.db }}\nenrich: {{ asn: {d.dir}/missing.csv }}\n")
    try:
        d.start(timeout=10)
    except h.SinkdError:
        pass
    else:
        raise AssertionError("serve started with a missing enrichment file")
    assert "missing.csv" in d.log_text(), d.log_tail()
    d._failed = False
    # A bad contacts line is an error with its line number; nothing is half-loaded.
    bad = os.path.join(d.dir, "contacts.csv")
    with open(bad, "w", encoding="utf-8") as f:
        f.write("selector,email,org\nAS1,a@b.example,Org\n10.1.2.3/8,c@d.example,Org\n")
    rc, out, err = h.sinkd_cmd("lookup", "--contacts", bad, "10.1.2.3")
    assert rc == 1 and f"{bad}:3:" in err, err


if __name__ == "__main__":
    h.run([test_lookup, test_bad_data_refused, test_dns_queries_are_their_own_report,
           test_bot_ids_counted,
           test_loadgen_serve_index_report, test_smtp_submission,
           test_kill9_indexer_resumes_exactly], per_test_timeout=280)
