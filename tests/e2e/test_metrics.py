"""test_metrics.py — the sensor's /metrics end to end: curl scrapes, a strict exposition parser (and promtool), counters against the log.

The daemon has two HTTP listeners, a DNS listener with response rate limiting,
the embedded store and the admin listener (metrics.listen) on its own port.
`sinkd loadgen` and hand-made requests feed it; every scrape goes through
curl and a strict parser of the text format 0.0.4 written here (and
`promtool check metrics` when the Debian package is installed). Checked:
events by listener and family equal what `sinkd log cat` holds and what
`sinkd log stats` counts; log records, segments and bytes equal the files;
RRL drops and slips equal the events' actions; connections open per listener
follow idle connections; the store's and the EVE file's lags reach 0 with
every record indexed and one EVE line per record; scrapes are never recorded
as events; the admin listener answers 404/405/400/431 and HEAD; config check
refuses a metrics address that overlaps a sinkhole listener and reports
metrics off by default.
"""

import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns_wire as w  # noqa: E402
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

CONFIG = """\
sensor: { id: "e2e\\"metrics\\\\" }
log: { dir: "$log_dir", fsync: interval, fsync_interval_ms: 20, segment_bytes: 64k }
log_level: debug
workers: 2
pid_file: "$dir/sinkd.pid"
store: { path: "$dir/store.db" }
eve: { file: "$dir/eve.json" }
metrics: { listen: "127.0.0.1:$port3" }
listen:
  - { name: web, proto: http, addr: "127.0.0.1:$port0" }
  - { name: web2, proto: http, addr: "127.0.0.1:$port1" }
  - { name: dns, proto: dns, addr: "127.0.0.1:$port2" }
dns:
  ttl: 600
  a: [192.0.2.10]
  ns: [ns1]
  soa: { rname: hostmaster, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 120 }
  rrl: { responses_per_second: 5, slip: 2 }
  zones:
    - { family: rustock, names: [rustock-cc.test] }
families:
  - { name: rustock, match: { path: { prefix: /login.php } } }
  - { name: "forum\\"spam\\\\é", match: { method: POST } }
  - { name: probe, match: { path: { prefix: /probe } } }
"""

# --- a strict parser of the Prometheus text format 0.0.4 -----------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(r"^(" + NAME + r")(\{(.*)\})? (\S+)$")
LABEL_PAIR = re.compile(r"(" + LABEL + r')="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def unescape(s, quote):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1] if i + 1 < len(s) else ""
            if n == "\\":
                out.append("\\")
            elif n == "n":
                out.append("\n")
            elif n == '"' and quote:
                out.append('"')
            else:
                raise AssertionError(f"bad escape in {s!r}")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_exposition(body):
    """{name: {"type", "help", "samples": {frozenset(labels): int}}}; raises on any deviation."""
    text = body.decode("utf-8")  # strict: the format is UTF-8
    assert text.endswith("\n"), "exposition must end with a line feed"
    fams, order, current = {}, [], None
    for ln, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {ln}: {line!r}"
        assert line, f"{where}: empty line"
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (" + NAME + r") (.*)$", line) or \
                re.match(r"^# (HELP) (" + NAME + r") ()$", line)
            assert m, f"{where}: only HELP and TYPE comments are written"
            kind, name, rest = m.groups()
            f = fams.setdefault(name, {"type": None, "help": None, "samples": {}})
            if name not in order:
                order.append(name)
            assert not f["samples"], f"{where}: {kind} after the family's samples"
            if kind == "HELP":
                assert f["help"] is None, f"{where}: second HELP"
                f["help"] = unescape(rest, quote=False)
            else:
                assert f["type"] is None, f"{where}: second TYPE"
                assert rest in ("counter", "gauge"), f"{where}: type {rest}"
                f["type"] = rest
            current = name
            continue
        m = SAMPLE.match(line)
        assert m, f"{where}: not a sample"
        name, _, labels_text, value = m.groups()
        assert name == current, f"{where}: sample outside its family ({current})"
        f = fams[name]
        assert f["type"] and f["help"] is not None, f"{where}: no TYPE/HELP before the samples"
        labels = {}
        rest = labels_text or ""
        while rest:
            lm = LABEL_PAIR.match(rest)
            assert lm, f"{where}: bad labels at {rest!r}"
            lname, lval, sep = lm.groups()
            assert not lname.startswith("__"), f"{where}: reserved label name"
            assert lname not in labels, f"{where}: label {lname} twice"
            labels[lname] = unescape(lval, quote=True)
            rest = rest[lm.end():]
            assert sep == "," or not rest, f"{where}: trailing text"
        assert re.fullmatch(r"[0-9]+", value), f"{where}: value {value!r} is not a count"
        key = frozenset(labels.items())
        assert key not in f["samples"], f"{where}: series twice"
        f["samples"][key] = int(value)
        if f["type"] == "counter":
            assert name.endswith("_total"), f"{where}: counter without _total"
    for name in order:
        assert fams[name]["type"], f"{name}: no TYPE"
    return fams


def value(fams, name, **labels):
    return fams[name]["samples"][frozenset(labels.items())]


def series(fams, name, *keys):
    """{tuple of label values: value} of a family."""
    out = {}
    for k, v in fams[name]["samples"].items():
        d = dict(k)
        out[tuple(d[x] for x in keys)] = v
    return out


def scrape(port, check_promtool=True):
    rc, out, err = u.curl("-D", "-", f"http://127.0.0.1:{port}/metrics")
    assert rc == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK", lines[0]
    hdrs = {k.lower(): v for k, _, v in (x.partition(": ") for x in lines[1:])}
    assert hdrs["content-type"] == "text/plain; version=0.0.4; charset=utf-8", hdrs
    assert int(hdrs["content-length"]) == len(body)
    fams = parse_exposition(body)
    if check_promtool and shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    return fams


def raw_admin(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        return h.recv_all(s)


def drained(mport):
    """A scrape once every submitted event is in the log and the store has caught up."""
    last = [None]

    def ok():
        f = scrape(mport, check_promtool=False)
        last[0] = f
        return (value(f, "sinkd_events_submitted_total") == value(f, "sinkd_log_records_total")
                and value(f, "sinkd_ring_waiting_bytes") == 0
                and value(f, "sinkd_consumer_lag_bytes", consumer="store") == 0
                and value(f, "sinkd_consumer_lag_bytes", consumer="eve") == 0)
    h.wait_until(ok, timeout=30, interval=0.2, what="log written, store and EVE caught up")
    return last[0]


def test_counters_match_the_log():
    d = h.Sinkd(yaml_text=CONFIG, nports=4)
    with d:
        web, web2, dns, mport = (d.ports[f"port{i}"] for i in range(4))
        fams = scrape(mport)
        assert value(fams, "sinkd_build_info", component="sensor", version="0.1.0",
                     sensor='e2e"metrics\\') == 1
        # Loadgen's rustock mix on one listener, hand-made requests on the other.
        rc, out, err = h.sinkd_cmd("loadgen", "--target", f"127.0.0.1:{web}", "--count", "3000",
                                   "--concurrency", "8", "--seed", "5", "--json", "--quiet",
                                   timeout=120)
        assert rc == 0, out + err
        for i in range(7):
            st, _, _ = h.http_request(web2, "GET", f"/probe/{i}", host="x.test")
            assert st > 0
        for i in range(3):
            st, _, _ = h.http_request(web2, "GET", "/other", host="x.test")
        for bad in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /\x01 HTTP/1.1\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", web2), timeout=5) as s:
                s.sendall(bad)
                h.recv_all(s)
        # RRL: one source floods one name; UDP answers beyond the rate are dropped or slipped.
        q = w.query("flood.rustock-cc.test", "A", edns=1232)
        w.flood(dns, q, 40)

        fams = drained(mport)
        evs = d.events()
        assert evs, "no events"
        want = collections.Counter((e["sinkhole"]["listener"], e["sinkhole"].get("family", "unknown"))
                                   for e in evs)
        got = series(fams, "sinkd_events_total", "listener", "family")
        assert got == dict(want), f"metrics {got}\nlog {dict(want)}"
        assert got[("web2", "probe")] == 7 and got[("web", "rustock")] > 0
        assert sum(got.values()) == len(evs) == value(fams, "sinkd_log_records_total")
        assert ("web", 'forum"spam\\é') in got, got
        # `sinkd log stats` counts the same per family and per listener.
        rc, out, err = u.cli("log", "stats", "--json", d.log_dir)
        assert rc == 0, err
        st = json.loads(out)
        for fam in st["families"]:
            assert fam["events"] == sum(v for (l, f), v in got.items() if f == fam["name"]), fam
        for lis in st["listeners"]:
            assert lis["events"] == sum(v for (l, f), v in got.items() if l == lis["name"]), lis
        # The log's files: segments (64 KiB each: several) and bytes.
        segs = sorted(x for x in os.listdir(d.log_dir) if x.endswith(".seg"))
        assert len(segs) > 1, segs
        assert value(fams, "sinkd_log_segment") == len(segs)
        size = sum(os.path.getsize(os.path.join(d.log_dir, x)) for x in segs)
        assert value(fams, "sinkd_log_bytes_total") == size, (size, fams["sinkd_log_bytes_total"])
        last = os.path.getsize(os.path.join(d.log_dir, segs[-1]))
        assert value(fams, "sinkd_log_segment_bytes") == last
        # RRL actions equal the events' actions.
        actions = collections.Counter(e["sinkhole"].get("action") for e in evs
                                      if e["sinkhole"]["listener"] == "dns")
        assert value(fams, "sinkd_dns_rrl_actions_total", action="drop") == actions["rrl-drop"]
        assert value(fams, "sinkd_dns_rrl_actions_total", action="slip") == actions["rrl-slip"]
        assert actions["rrl-drop"] + actions["rrl-slip"] > 0, actions
        # Malformed requests: the three bad heads are in the log and in the counter.
        bad = [e for e in evs if "malformed" in u.flags(e)]
        assert len(bad) == 3, [e["sinkhole"] for e in bad]
        assert value(fams, "sinkd_malformed_total") == len(bad)
        assert value(fams, "sinkd_events_dropped_total", reason="disk") == 0
        assert value(fams, "sinkd_events_dropped_total", reason="ring_full") == 0
        # The store indexed every record; the EVE file has one line per record.
        assert value(fams, "sinkd_consumer_records_total", consumer="store") == len(evs)
        assert value(fams, "sinkd_consumer_records_total", consumer="eve") == len(evs)
        with open(os.path.join(d.dir, "eve.json"), "rb") as f:
            assert sum(1 for _ in f) == len(evs)
        # Counters agree with stats.json where both say the same thing.
        stats = u.wait_stats(d, lambda s: s["events"]["written"] == len(evs))
        assert value(fams, "sinkd_connections_accepted_total") == stats["connections"]["accepted"]

        # Scrapes are not events: many more, and the log is unchanged.
        for _ in range(5):
            scrape(mport, check_promtool=False)
        assert len(d.events()) == len(evs)
        assert all(e["dest_port"] != mport for e in evs)

        # Connections open per listener follow idle connections.
        # (A request each, kept alive: the listener may defer accepting silent connections.)
        socks = [socket.create_connection(("127.0.0.1", web2), timeout=5) for _ in range(4)]
        for s in socks:
            s.sendall(b"GET /probe/keep HTTP/1.1\r\nHost: x.test\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 ")
        h.wait_until(lambda: value(scrape(mport, False), "sinkd_connections_open",
                                   listener="web2", proto="http") == 4,
                     what="4 open on web2")
        assert value(scrape(mport, False), "sinkd_connections_open", listener="web",
                     proto="http") == 0
        for s in socks:
            s.close()
        h.wait_until(lambda: value(scrape(mport, False), "sinkd_connections_open",
                                   listener="web2", proto="http") == 0,
                     what="0 open on web2")
        u.stop_clean(d)


def test_admin_listener_answers():
    d = h.Sinkd(yaml_text=CONFIG, nports=4)
    with d:
        mport = d.ports["port3"]
        st = lambda raw: raw.split(b"\r\n", 1)[0]  # noqa: E731
        assert st(raw_admin(mport, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")) == b"HTTP/1.1 404 Not Found"
        r = raw_admin(mport, b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        assert st(r) == b"HTTP/1.1 405 Method Not Allowed" and b"\r\nAllow: GET, HEAD\r\n" in r
        assert st(raw_admin(mport, b"GET /metrics HTTP/7\r\n\r\n")) == b"HTTP/1.1 400 Bad Request"
        assert st(raw_admin(mport, b"\x16\x03\x01\x00\x05hello\r\n\r\n")) == b"HTTP/1.1 400 Bad Request"
        big = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n"
        assert st(raw_admin(mport, big)).startswith(b"HTTP/1.1 431 ")
        r = raw_admin(mport, b"HEAD /metrics HTTP/1.0\r\n\r\n")
        head, _, body = r.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and body == b"", r[:300]
        # A scraper that connects and says nothing does not block the others.
        idle = [socket.create_connection(("127.0.0.1", mport), timeout=5) for _ in range(3)]
        scrape(mport)
        for s in idle:
            s.close()
        # None of it reached the log.
        assert d.events() == []
        u.assert_no_sanitizer(d)
        u.stop_clean(d)


def test_config():
    tmp = h.Sinkd(yaml_text=CONFIG, nports=4, start=False)
    with tmp:
        text = open(tmp.config_path, encoding="utf-8").read()
        rc, out, err = u.cli("config", "check", tmp.config_path)
        assert rc == 0 and re.search(r"^metrics\s+127\.0\.0\.1:\d+$", out, re.M), out + err
        web = tmp.ports["port0"]
        for addr in (f"127.0.0.1:{web}", f"0.0.0.0:{web}"):
            bad = re.sub(r'metrics: \{ listen: "[^"]*" \}', f'metrics: {{ listen: "{addr}" }}', text)
            path = os.path.join(tmp.dir, "bad.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(bad)
            rc, out, err = u.cli("config", "check", path)
            assert rc == 1 and "overlaps listener web" in err, (addr, rc, out, err)
        off = re.sub(r"metrics: .*\n", "", text)
        with open(path, "w", encoding="utf-8") as f:
            f.write(off)
        rc, out, err = u.cli("config", "check", path)
        assert rc == 0 and re.search(r"^metrics\s+\(off\)$", out, re.M), out + err


if __name__ == "__main__":
    h.run([test_counters_match_the_log, test_admin_listener_answers, test_config])
