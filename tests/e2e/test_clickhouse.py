"""test_clickhouse.py — the ClickHouse store: two loopback servers as a two-shard cluster.

Everything runs against Debian's clickhouse-server (18.16) started here
(chcluster.py: own config and data under a mktemp dir, free ports, stopped by
PID). The proofs of issue 9:
  - differential: the same loadgen traffic indexed into SQLite and shipped
    to the cluster gives byte-identical reports (CSV, JSON lines, summary),
    with and without selections; shipping everything a second time changes
    nothing;
  - two sensors (serve's ship thread) under load while the whole cluster is
    stopped for 30 s: after the restart and catch-up, every event of both
    logs is present exactly once;
  - kill -9 of `sinkd ship` mid-batch, again and again: exactly once.
"""

import filecmp
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chcluster  # noqa: E402
import harness as h  # noqa: E402
import test_store as ts  # noqa: E402

CLUSTER = None


def cluster():
    global CLUSTER
    if CLUSTER is None:
        CLUSTER = chcluster.Cluster(2)
        CLUSTER.apply_schema()
    return CLUSTER


def exact_counts(c, db="sinkd"):
    """sensor -> (rows read with FINAL, distinct (seg, off)), over the Distributed table."""
    out = {}
    text = c.query(f"SELECT sensor, count(), uniqExact(seg, off) FROM {db}.events FINAL"
                   " GROUP BY sensor ORDER BY sensor FORMAT TSV")
    for line in text.splitlines():
        s, n, u = line.split("\t")
        out[s] = (int(n), int(u))
    return out


def log_count(log_dir):
    rc, out, err = h.sinkd_cmd("log", "stats", "--json", log_dir, timeout=60)
    assert rc == 0, err
    import json
    return json.loads(out)["events"]


def diff_dirs(a, b):
    fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
    assert fa == fb, f"different files: {set(fa) ^ set(fb)}"
    # Mails carry a random Message-ID (and MIME boundary) and the time they were
    # written: those are masked, every other byte must match.
    plain = [f for f in fa if not f.endswith(".eml")]
    _, mismatch, errors = filecmp.cmpfiles(a, b, plain, shallow=False)
    assert not mismatch and not errors, f"files differ: {mismatch[:5]} {errors[:5]}"
    for f in fa:
        if f.endswith(".eml"):
            ma, mb = (mask_mail(os.path.join(x, f)) for x in (a, b))
            assert ma == mb, f"mail {f} differs"
    return len(fa)


def mask_mail(path):
    with open(path, "rb") as f:
        data = f.read()
    ids = set(re.findall(rb"Message-ID: <([0-9a-f]+)@", data))
    for i in ids:
        data = data.replace(i, b"ID")
    return re.sub(rb"(?m)^Date: .*$", b"Date: X", data)


def sensor(name, extra_store="", segment="1M", more=False):
    listen = [{"name": "seized", "proto": "http", "proxy_protocol": True}]
    config = {"sensor": {"id": name}, "log": {"fsync": "none", "segment_bytes": segment}}
    if more:
        # Every report type: TLS handshakes (event4_sinkhole: cipher, SNI) and DNS
        # queries for a seized zone (event4_sinkhole_dns: query type and name).
        listen += [{"name": "tls", "proto": "tls", "proxy_protocol": True},
                   {"name": "dns", "proto": "dns"}]
        config["dns"] = {"a": ["192.0.2.10"],
                         "zones": [{"family": "rustock", "names": ["rustock-cc.test"]}]}
    families = [{"name": "rustock", "tag": "login",
                 "match": {"method": "POST", "path": "/login.php"}},
                {"name": "gatebot", "match": {"path": "/gate.php"}}]
    if more:
        families.append({"name": "tlsbot", "match": {"sni": "cnc.rustock-cc.test"}})
    d = h.Sinkd(listen=listen, families=families, config=config, start=False)
    asn_csv, mmdb, contacts = ts.write_fixtures(d.dir)
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write(f"store:\n{extra_store}  bot_ids:\n    - {{ family: gatebot, uri_param: id }}\n"
                f"enrich: {{ asn: [ {asn_csv} ], country: {mmdb}, contacts: {contacts} }}\n")
    return d, asn_csv


def test_differential_sqlite_vs_clickhouse():
    c = cluster()
    d, asn_csv = sensor("sensor-diff", more=True)
    d.start()
    with ts.running(d):
        port = d.port("seized")
        ts.loadgen(port, 3000, seed=3)
        rc, out, err = h.sinkd_cmd("loadgen", "--target", f"127.0.0.1:{port}", "--proxy-v2",
                                   "--profile", "generic", "--count", 600, "--duration", 60,
                                   "--concurrency", 4, "--sources", ts.SOURCES,
                                   "--seed", 4, "--quiet", timeout=120)
        assert rc == 0, err
        # Hand-made check-ins: IPv6 sources, a bot ID, odd bytes in a header.
        for k, src in enumerate(("2001:db8::77", "2001:db8::78", "2001:db8::1:5", "100.65.8.77")):
            s = h.connect(port)
            s.sendall(h.proxy_v2(src, "::1" if ":" in src else "127.0.0.1", 4000 + k, 80) +
                      h.http_bytes("GET", f"/gate.php?id=v6bot{k % 2}", host="cnc.example",
                                   headers=[("User-Agent", 'Bot "1" \u00e9, x;'
                                             .encode().decode("latin-1"))]))
            h.recv_all(s)
            s.close()
        rc, out, err = h.sinkd_cmd("loadgen", "--target", f"127.0.0.1:{d.port('tls')}",
                                   "--tls", "--sni", "cnc.rustock-cc.test", "--proxy-v2",
                                   "--profile", "rustock", "--count", 60, "--duration", 60,
                                   "--concurrency", 4, "--sources", ts.SOURCES, "--seed", 5,
                                   "--quiet", timeout=120)
        assert rc == 0, err
        import shutil
        extra = 0
        if shutil.which("dig"):
            for qname, qtype in (("rustock-cc.test", "A"), ("www.Rustock-CC.test", "AAAA"),
                                 ("x.rustock-cc.test", "TXT"), ("y.rustock-cc.test", "TYPE999")):
                p = subprocess.run(["dig", "@127.0.0.1", "-p", str(d.port("dns")), "+tries=1",
                                    "+time=3", qname, qtype], capture_output=True, text=True,
                                   timeout=20)
                assert p.returncode == 0, p.stdout + p.stderr
                extra += 1
        total = len(d.wait_events(3604 + 60 + extra))
    ref = os.path.join(d.dir, "ref.db")
    rc, out, err = h.sinkd_cmd("index", "-c", d.config_path, "--store", ref, timeout=120)
    assert rc == 0, err
    url = c.url(0)
    rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--store", url, "--once",
                               timeout=120)
    assert rc == 0 and f"shipped {total} events" in out, out + err
    assert exact_counts(c) == {"sensor-diff": (total, total)}
    days = sorted({ts.eve_day(e["timestamp"]) for e in d.events()})
    selections = [
        ["--per", "asn", "--format", "csv,jsonl,summary"],
        ["--per", "contact", "--format", "csv,jsonl,eml,summary"],
        ["--per", "all", "--cidr", "100.65.8.0/21", "--format", "csv,summary"],
        ["--per", "asn", "--country", "US", "--asn", "64502", "--format", "csv,summary"],
        ["--per", "asn", "--cidr", "2001:db8::/121", "--format", "csv,jsonl,summary"],
        ["--per", "all", "--format", "csv,jsonl,summary"],
    ]

    def reports(store, tag, sel):
        outdir = os.path.join(d.dir, f"rep-{tag}")
        rc, text, err = h.sinkd_cmd("report", "-c", d.config_path, "--store", store,
                                    "--from", days[0], "--to", days[-1], "-o", outdir, *sel,
                                    timeout=120)
        assert rc == 0, f"report {tag} {sel}: {err}"
        return outdir, text.replace(outdir, "OUT")

    for i, sel in enumerate(selections):
        a, ta = reports(ref, f"sqlite{i}", sel)
        b, tb = reports(url, f"ch{i}", sel)
        n = diff_dirs(a, b)
        if i == len(selections) - 1:
            kinds = {re.sub(r"^\d{4}-\d\d-\d\d-(\w+?)-.*$", r"\1", f) for f in os.listdir(a)}
            want = {"event4_sinkhole_http", "event6_sinkhole_http", "event4_sinkhole"}
            if extra:
                want.add("event4_sinkhole_dns")
            assert want <= kinds, kinds
        assert ta == tb, f"summaries differ for {sel}:\n{ta}\n----\n{tb}"
        assert n >= 1, f"no report files for {sel}"
    # The second node answers the same (Distributed), and a full second shipment
    # (position file removed) changes nothing that is read.
    b2, _ = reports(c.url(1), "ch-node1", selections[0])
    diff_dirs(os.path.join(d.dir, "rep-sqlite0"), b2)
    os.unlink(os.path.join(d.log_dir, "clickhouse.pos"))
    rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--store", url, "--once",
                               "--batch", "700", timeout=120)
    assert rc == 0 and f"shipped {total} events" in out, out + err
    raw = int(c.query("SELECT count() FROM sinkd.events WHERE sensor = 'sensor-diff'"))
    assert raw >= total, raw
    assert exact_counts(c)["sensor-diff"] == (total, total)
    b3, _ = reports(url, "ch-again", selections[0])
    diff_dirs(os.path.join(d.dir, "rep-sqlite0"), b3)
    # Nothing new: a further run ships nothing.
    rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--store", url, "--once")
    assert rc == 0 and "shipped 0 events" in out, out + err
    web_same(d, ref, url, days)


def web_get(port, path, token):
    s = h.connect(port)
    s.sendall((f"GET /api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    data = h.recv_all(s, timeout=30.0, limit=64 << 20)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status == 200, f"{path}: {status} {body[:300]!r}"
    return body


def web_same(d, ref, url, days):
    """`sinkd web` on the SQLite store and on the cluster: the same JSON bodies, page by page."""
    tokens = os.path.join(d.dir, "web.tokens")

    def token(*args):
        rc, out, err = h.sinkd_cmd("token", "add", "-c", d.config_path, "--tokens", tokens,
                                   *args)
        assert rc == 0, err
        return out.strip()

    toks = {"admin": token("--name", "op", "--admin"),
            "asn": token("--name", "beta", "--asn", "64502"),
            "cidr": token("--name", "gamma", "--cidr", "100.65.8.0/24"),
            "cidr6": token("--name", "delta", "--cidr", "2001:db8::/121"),
            "cc": token("--name", "ncsc", "--country", "US")}
    webs = []
    try:
        for store in (ref, url):
            port = h.free_ports(1)[0]
            err = open(os.path.join(d.dir, f"web-{len(webs)}.stderr"), "wb")
            p = subprocess.Popen([h.SINKD, "web", "-c", d.config_path, "--store", store,
                                  "--listen", f"127.0.0.1:{port}", "--tokens", tokens],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            err.close()
            webs.append((p, port))
            h.wait_until(lambda: h.port_listening(port) or p.poll() is not None, timeout=15,
                         what="sinkd web listening")
            assert p.poll() is None, f"sinkd web on {store} exited"
        rng = f"from={days[0]}&to={days[-1]}"
        compared, seen, t0 = 0, {}, time.monotonic()

        def same(path, tok, name=""):
            nonlocal compared
            try:
                a, b = (web_get(port, path, tok) for _, port in webs)
            except AssertionError as e:
                with open(os.path.join(d.dir, "web-1.stderr"), errors="replace") as f:
                    raise AssertionError(f"{e}\n{f.read()[-2000:]}") from None
            if path.startswith("summary") and tok == toks["admin"]:
                # The operator's extras: the sensor's stats file (its age moves between the two
                # requests) and the store's lag behind the log (the store's own business).
                a, b = (json.loads(x) for x in (a, b))
                for k in ("sensor", "store", "log_segment", "log_offset", "lag_bytes"):
                    a.pop(k, None)
                    b.pop(k, None)
            if a != b:
                i = next((k for k, (x, y) in enumerate(zip(str(a), str(b))) if x != y),
                         min(len(str(a)), len(str(b))))
                raise AssertionError(f"{path} ({name}), from character {i}:\n"
                                     f"sqlite:     {str(a)[max(0, i - 300):i + 300]}\n"
                                     f"clickhouse: {str(b)[max(0, i - 300):i + 300]}")
            compared += 1
            if isinstance(a, dict) or path.startswith("reports?"):
                return a if isinstance(a, dict) else json.loads(a)
            return json.loads(a) if not path.startswith("reports/") else None

        for name, tok in toks.items():
            for path in (f"summary?{rng}", f"summary?{rng}&distinct=1", f"series?{rng}",
                         f"series?{rng}&bucket=week", f"series?{rng}&family=gatebot",
                         f"networks?{rng}", f"networks?{rng}&by=country",
                         f"networks?{rng}&limit=2"):
                same(path, tok, name)
            # The portal's report files: the listing and every file in it.
            listing = same(f"reports?day={days[-1]}", tok, name)
            assert listing["files"] or name == "cidr6", (name, listing)
            for f in listing["files"]:
                same(f["url"][len("/api/v1/"):], tok, name)
            for kind, size in (("hosts", 37), ("hosts", 3), ("events", 400), ("events", 997)):
                extra = "&all=1" if size == 997 else ""
                after, rows = None, 0
                for _ in range(100):
                    cur = f"&after={urllib.parse.quote(str(after))}" if after else ""
                    page = same(f"{kind}?{rng}&limit={size}{extra}{cur}", tok, name)
                    rows += len(page["rows"])
                    after = page["next"]
                    if after is None:
                        break
                assert rows > 0, f"{name}: no {kind}"
                seen[name, kind, size] = rows
        # The owners see part of what the operator sees (the scope is in the query).
        for name in toks:
            for key in (("hosts", 37), ("events", 400)):
                assert name == "admin" or seen[name, *key] < seen["admin", *key], (name, seen)
        print(f"web: {compared} API answers identical on SQLite and ClickHouse"
              f" in {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        for p, _ in webs:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_cluster_down_30s_two_sensors():
    c = cluster()
    sensors = []
    for i, name in enumerate(("sensor-a", "sensor-b")):
        d, _ = sensor(name, extra_store=f"  path: {c.url(i)}\n")
        d.start()
        sensors.append(d)
    stop = threading.Event()
    errors = []

    def load(d, seed):
        port = d.port("seized")
        while not stop.is_set():
            rc, out, err = h.sinkd_cmd("loadgen", "--target", f"127.0.0.1:{port}",
                                       "--proxy-v2", "--profile", "rustock", "--count", 400,
                                       "--rate", 400, "--duration", 5, "--concurrency", 4,
                                       "--sources", ts.SOURCES, "--seed", seed, "--quiet",
                                       timeout=60)
            if rc != 0:
                errors.append(err)
                return
            seed += 2

    threads = [threading.Thread(target=load, args=(d, 10 + i)) for i, d in enumerate(sensors)]
    for t in threads:
        t.start()
    try:
        time.sleep(4)
        for i in range(c.n):
            c.stop(i)
        down_at = time.monotonic()
        time.sleep(30)
        for i in range(c.n):
            c.start(i)
        print(f"cluster down {time.monotonic() - down_at:.1f} s", flush=True)
        time.sleep(4)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0][-2000:]
    # The sensors' ship threads catch up by themselves (bounded wait).
    names = ("sensor-a", "sensor-b")

    def caught_up():
        got = exact_counts(c)
        return all(got.get(n) == (log_count(d.log_dir),) * 2 for d, n in zip(sensors, names))

    h.wait_until(caught_up, timeout=120, interval=1, what="the ship threads to catch up")
    for d in sensors:
        d.stop()
        assert d.returncode == 0, d.log_tail()
    got = exact_counts(c)
    for d, name in zip(sensors, names):
        n = log_count(d.log_dir)
        assert n > 2000, f"{name}: only {n} events under load"
        assert got.get(name) == (n, n), f"{name}: log {n}, cluster {got.get(name)}"
        # Nothing left to ship.
        rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--once", timeout=120)
        assert rc == 0 and "shipped 0 events" in out, out + err
    assert "will retry" in sensors[0].log_text(), sensors[0].log_tail()


def test_kill9_ship_exactly_once():
    c = cluster()
    d, _ = sensor("sensor-k9", segment="256K")
    d.start()
    with ts.running(d):
        ts.loadgen(d.port("seized"), 20000, seed=21, sources="100.64.0.0/16,100.65.0.0/16")
        total = len(d.wait_events(20000, timeout=60))

    def shipped():
        try:
            return int(c.query("SELECT count() FROM sinkd.events WHERE sensor = 'sensor-k9'"))
        except AssertionError:
            return 0

    kills = 0
    for attempt in range(100):
        before = shipped()
        p = subprocess.Popen([h.SINKD, "ship", "-c", d.config_path, "--store", c.url(attempt % 2),
                              "--batch", "1500", "--once"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        killed = False
        while p.poll() is None:
            n = shipped()
            if before < n < total and kills < 6:
                # Mid-run: a batch acknowledged, the next ones on their way.
                time.sleep(0.01 * (kills % 3))
                os.kill(p.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.005)
        rc = p.wait()
        err = p.stderr.read().decode()
        p.stderr.close()
        if killed:
            kills += 1
            continue
        assert rc == 0, err
        if exact_counts(c).get("sensor-k9", (0, 0))[0] == total:
            break
    else:
        raise AssertionError("ship never finished")
    assert kills >= 3, f"only {kills} kills landed mid-run"
    assert exact_counts(c)["sensor-k9"] == (total, total)
    rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--store", c.url(0), "--once")
    assert rc == 0 and "shipped 0 events" in out, out + err
    # A damaged position file (a torn write) means shipping everything again: harmless.
    pos = os.path.join(d.log_dir, "clickhouse.pos")
    with open(pos, "r+b") as f:
        f.seek(6)
        f.write(b"\xff")
    rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--store", c.url(1), "--once",
                               timeout=120)
    assert rc == 0 and f"shipped {total} events" in out and "shipping from the start" in err, \
        out + err
    assert exact_counts(c)["sensor-k9"] == (total, total)


def test_schema_and_refusals():
    c = cluster()
    rc, out, err = h.sinkd_cmd("clickhouse", "schema", "--cluster", "x y")
    assert rc == 2
    rc, out, err = h.sinkd_cmd("clickhouse", "schema", "--db", "demo")
    assert rc == 0 and "CREATE TABLE IF NOT EXISTS demo.events\n" in out and \
        "ReplacingMergeTree" in out and "Distributed" not in out, out
    # Applying twice is harmless (IF NOT EXISTS).
    c.apply_schema()
    # A report on a database without the table fails early and says why.
    rc, out, err = h.sinkd_cmd("report", "--store", c.url(0, "nosuch"), "--day", "2026-11-28")
    assert rc != 0 and "sinkd clickhouse schema" in err, err
    # ship refuses the embedded store; index/ship refuse a second shipper of one log.
    d, _ = sensor("sensor-x")
    rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--store", "/tmp/x.db", "--once")
    assert rc == 2 and "not a clickhouse://" in err, err
    os.makedirs(d.log_dir, exist_ok=True)
    import fcntl
    with open(os.path.join(d.log_dir, "clickhouse.pos"), "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        rc, out, err = h.sinkd_cmd("ship", "-c", d.config_path, "--store", c.url(0), "--once")
    assert rc == 1 and "another shipper" in err, err
    # Nothing listening: bounded retries, then a clear failure.
    port = h.free_ports(1)[0]
    rc, out, err = h.sinkd_cmd("report", "--store", f"clickhouse://127.0.0.1:{port}/sinkd",
                               "--day", "2026-11-28", timeout=60)
    assert rc != 0 and "clickhouse" in err, err


def main():
    try:
        h.run([test_schema_and_refusals, test_differential_sqlite_vs_clickhouse,
               test_kill9_ship_exactly_once, test_cluster_down_30s_two_sensors],
              per_test_timeout=280)
    finally:
        if CLUSTER is not None:
            CLUSTER.close()


if __name__ == "__main__":
    main()
