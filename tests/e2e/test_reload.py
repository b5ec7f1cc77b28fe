"""test_reload.py — SIGHUP swaps families and answers under traffic without dropping a connection, request or event; a broken config keeps the old rules."""

import http.client
import os
import string
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

BASE = """\
sensor: { id: e2e }
log: { dir: "$log_dir", fsync: interval, fsync_interval_ms: 20 }
log_level: debug
workers: 2
pid_file: "$dir/sinkd.pid"
listen:
  - { name: web, proto: http, addr: "127.0.0.1:$port0" }
"""

RULES_A = """\
families:
  - name: alpha
    tag: gen-a
    match: { path: { prefix: "/r/" } }
    answer: { status: 200, headers: { X-Gen: a }, body: "ALPHA" }
"""

RULES_B = """\
families:
  - name: decoy
    match: { host: "never.test" }
    answer: { status: 500 }
  - name: beta
    tag: gen-b
    match: { path: { prefix: "/r/" } }
    answer: { status: 201, headers: { X-Gen: b }, body: "BETA-NEW" }
default_answer: { status: 418 }
"""

BROKEN_YAML = RULES_B + "  - name: [unclosed\n"
BROKEN_REGEX = """\
families:
  - name: gamma
    match: { path: { regex: "([" } }
    answer: { status: 200, body: "GAMMA" }
"""

ANSWERS = {b"ALPHA": ("alpha", 200), b"BETA-NEW": ("beta", 201)}


def write_config(d, rules):
    text = string.Template(BASE + rules).substitute(dir=d.dir, log_dir=d.log_dir,
                                                    port0=d.port("port0"))
    tmp = d.config_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, d.config_path)  # the daemon never reads a half-written file


class Background(threading.Thread):
    """A fresh connection per request, every ~20 ms; records (id, t_sent, body) per answer."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.results = []
        self.errors = []

    def run(self):
        end = time.monotonic() + 60
        i = 0
        while not self.stop.is_set() and time.monotonic() < end and i < 5000:
            t = time.monotonic()
            try:
                st, hd, body = h.http_request(self.port, "GET", f"/r/bg-{i}", "reload.test",
                                              timeout=5)
                self.results.append((f"/r/bg-{i}", t, st, hd.get("x-gen"), body))
            except (OSError, AssertionError) as e:
                self.errors.append(f"/r/bg-{i}: {type(e).__name__}: {e}")
            i += 1
            self.stop.wait(0.02)


def test_sighup_reload_under_traffic():
    with h.Sinkd(yaml_text=BASE + RULES_A, nports=1) as d:
        port = d.port("port0")
        write_config(d, RULES_A)
        ka = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        ka_results = []

        def ka_request(n):
            ka.request("GET", f"/r/ka-{n}", headers={"Host": "reload.test"})
            r = ka.getresponse()
            ka_results.append((f"/r/ka-{n}", r.status, r.getheader("X-Gen"), r.read()))

        for n in range(3):
            ka_request(n)
        assert [x[3] for x in ka_results] == [b"ALPHA"] * 3, ka_results
        ka_sock = ka.sock

        bg = Background(port)
        bg.start()
        try:
            h.wait_until(lambda: len(bg.results) >= 20, timeout=15, what="background traffic")
            write_config(d, RULES_B)
            d.reload()
            st = u.wait_stats(d, lambda s: s["rules"]["generation"] == 1, what="generation 1")
            t_gen = time.monotonic()
            n_at_gen = len(bg.results)
            h.wait_until(lambda: len(bg.results) >= n_at_gen + 20, timeout=15,
                         what="traffic after the reload")
            for n in range(3, 6):
                ka_request(n)
        finally:
            bg.stop.set()
            bg.join(10)
        assert ka.sock is ka_sock, "the keep-alive connection was replaced"
        ka.close()

        assert not bg.errors, f"requests failed across the reload: {bg.errors[:5]}"
        assert [x[3] for x in ka_results[3:]] == [b"BETA-NEW"] * 3, ka_results
        assert [(x[1], x[2]) for x in ka_results[3:]] == [(201, "b")] * 3, ka_results
        for url, t, status, gen, body in bg.results:
            assert body in ANSWERS and ANSWERS[body][1] == status, (url, status, body)
            assert gen == ("a" if body == b"ALPHA" else "b"), (url, gen, body)
            if t > t_gen:
                assert body == b"BETA-NEW", f"{url} sent after the reload got {body!r}"
        assert any(r[4] == b"ALPHA" for r in bg.results), "no request before the reload"

        n_requests = len(bg.results) + len(ka_results)
        d.wait_events(n_requests)
        time.sleep(0.3)
        evs = d.events()
        assert len(evs) == n_requests, f"{len(evs)} events for {n_requests} requests"
        urls = u.by_url(evs)
        for url, _, status, _, body in bg.results + [(x[0], 0, x[1], x[2], x[3])
                                                     for x in ka_results]:
            assert len(urls.get(url, [])) == 1, (url, urls.get(url))
            ev = urls[url][0]
            fam, want_status = ANSWERS[body]
            u.expect_fields(ev, "sinkhole", family=fam, tag="gen-a" if fam == "alpha" else "gen-b",
                            rule=0 if fam == "alpha" else 1)
            u.expect_fields(ev, "http", status=want_status)
        ka_evs = [urls[x[0]][0] for x in ka_results]
        assert len({e["flow_id"] for e in ka_evs}) == 1, "keep-alive requests on several flows"
        assert [e["tx_id"] for e in ka_evs] == list(range(6)), [e["tx_id"] for e in ka_evs]

        st = u.wait_stats(d, lambda s: s["requests"] >= n_requests, what="request count")
        assert st["rules"] == {"generation": 1, "families": 2, "reloads": 1}, st["rules"]
        # The new default answer is in force too.
        status, _, _ = h.http_request(port, "GET", "/elsewhere", "reload.test")
        assert status == 418, status
        assert any("reload: 2 families active (generation 1)" in m for _, m in d.log_lines("info")), \
            d.log_tail()

        # Broken configs: logged, the running rules stay, the daemon keeps serving.
        for i, broken in enumerate((BROKEN_YAML, BROKEN_REGEX)):
            n_err = len(d.log_lines("error"))
            write_config(d, broken)
            d.reload()
            h.wait_until(lambda: len(d.log_lines("error")) > n_err, timeout=10,
                         what="an error for the broken config")
            msg = d.log_lines("error")[-1][1]
            assert "reload:" in msg and "keeping the running rules" in msg, msg
            assert d.running()
            status, hd, body = h.http_request(port, "GET", f"/r/after-broken-{i}", "reload.test")
            assert (status, hd.get("x-gen"), body) == (201, "b", b"BETA-NEW"), (status, hd, body)
        st = u.wait_stats(d, lambda s: s["requests"] >= n_requests + 3, what="requests")
        assert st["rules"] == {"generation": 1, "families": 2, "reloads": 1}, st["rules"]
        evs = d.wait_events(n_requests + 3)
        for i in range(2):
            u.expect_fields(u.one_by_url(evs, f"/r/after-broken-{i}"), "sinkhole", family="beta")
        u.stop_clean(d)


def test_reload_keeps_pending_request():
    """A request whose body is still arriving across the reload is answered and recorded once."""
    with h.Sinkd(yaml_text=BASE + RULES_A, nports=1) as d:
        port = d.port("port0")
        with h.connect(port) as s:
            s.sendall(b"POST /r/pending HTTP/1.1\r\nHost: reload.test\r\nContent-Length: 10\r\n\r\n01234")
            time.sleep(0.2)
            write_config(d, RULES_B)
            d.reload()
            u.wait_stats(d, lambda st: st["rules"]["generation"] == 1, what="generation 1")
            s.sendall(b"56789")
            raw = h.recv_until(s, b"\r\n\r\n")
            body = h.recv_all(s, 1)
            resp = h.parse_response(raw + body)
            assert resp[0] in (200, 201), resp
        ev = d.wait_events(1)[0]
        fam = "alpha" if resp[0] == 200 else "beta"
        u.expect_fields(ev, "sinkhole", family=fam, body_length=10, body_sha256=u.sha256(b"0123456789"))
        assert len(d.events()) == 1
        u.stop_clean(d)


if __name__ == "__main__":
    h.run([
        test_sighup_reload_under_traffic,
        test_reload_keeps_pending_request,
    ])
