"""test_ops.py — operations: a failing disk, segment rotation, max_requests_per_conn, draining on SIGTERM, EVE reopen on SIGHUP."""

import os
import resource
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

FAMILY = [{"name": "ops", "match": {"path": {"prefix": "/"}},
           "answer": {"status": 200, "body": "ok"}}]


def segments(d):
    return sorted(f for f in os.listdir(d.log_dir) if f.endswith(".seg"))


def get(port, path):
    st, _, body = h.http_request(port, "GET", path, host="ops.test")
    return st, body


def test_disk_full_keeps_answering():
    """Writes failing with EFBIG (RLIMIT_FSIZE): every request is still answered, drops are counted, the log stays valid."""
    with h.Sinkd(families=FAMILY) as d:
        port = d.port("http")
        for i in range(20):
            assert get(port, f"/before/{i}")[0] == 200
        d.wait_events(20)
        seg = os.path.join(d.log_dir, segments(d)[-1])
        size = os.path.getsize(seg)
        # The disk is "full" one byte past the current segment.
        resource.prlimit(d.pid, resource.RLIMIT_FSIZE, (size + 1, resource.RLIM_INFINITY))
        for i in range(50):
            st, body = get(port, f"/full/{i}")
            assert st == 200 and body == b"ok", (st, body)
        u.wait_stats(d, lambda s: s["events"]["dropped_disk"] >= 50,
                     what="dropped_disk counted")
        u.assert_alive(d, "after write errors")
        assert "event log write failed" in d.log_text(), d.log_tail()
        # The disk recovers: recording resumes.
        resource.prlimit(d.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for i in range(10):
            assert get(port, f"/after/{i}")[0] == 200
        u.stop_clean(d)
        urls = [e["http"]["url"] for e in d.events()]
        assert sum(x.startswith("/before/") for x in urls) == 20
        assert sum(x.startswith("/after/") for x in urls) == 10
        # What could not be written is absent, never half there.
        assert sum(x.startswith("/full/") for x in urls) == 0, urls
        rc, out = d.verify()
        assert rc == 0, out


def test_segment_rotation():
    """Small segments: the log rotates many times, nothing is lost, verify checks the chain across segments."""
    cfg = {"log": {"segment_bytes": "64KiB"}}
    with h.Sinkd(families=FAMILY, config=cfg) as d:
        port = d.port("http")
        s = h.connect(port)
        n = 600
        for i in range(n):
            s.sendall(h.http_bytes("GET", f"/rot/{i}", host="ops.test",
                                   headers={"User-Agent": "x" * 400}))
            h.recv_until(s, b"ok")
            # Let the writer commit every 100 requests (> 64 KiB), so batches
            # stay small even on a loaded machine and the log must rotate.
            if i % 100 == 99:
                d.wait_events(i + 1)
        s.close()
        d.wait_events(n)
        u.stop_clean(d)
        assert len(segments(d)) >= 3, segments(d)
        evs = d.events()
        assert [e["http"]["url"] for e in evs] == [f"/rot/{i}" for i in range(n)]
        rc, out = d.verify()
        assert rc == 0 and "ok" in out, out


def test_max_requests_per_conn():
    """The last allowed request on a keep-alive connection is answered with Connection: close."""
    listen = [{"name": "http", "proto": "http", "limits": {"max_requests_per_conn": 3}}]
    with h.Sinkd(listen=listen, families=FAMILY) as d:
        port = d.port("http")
        s = h.connect(port)
        s.sendall(h.http_bytes("GET", "/k/1", host="a") + h.http_bytes("GET", "/k/2", host="a")
                  + h.http_bytes("GET", "/k/3", host="a") + h.http_bytes("GET", "/k/4", host="a"))
        raw = h.recv_all(s, timeout=3)
        s.close()
        answers = u.parse_responses(raw)
        assert len(answers) == 3, raw
        assert [a[1].get("connection") for a in answers] == [None, None, "close"], answers
        u.stop_clean(d)
        urls = [e["http"]["url"] for e in d.events()]
        assert urls == ["/k/1", "/k/2", "/k/3"], urls


def test_sigterm_drains_in_flight():
    """SIGTERM: idle keep-alive connections are closed at once; a request whose body is arriving is completed and recorded."""
    cfg = {"drain_timeout_ms": 5000}
    with h.Sinkd(families=FAMILY, config=cfg) as d:
        port = d.port("http")
        idle = h.connect(port)
        idle.sendall(h.http_bytes("GET", "/idle", host="a"))
        h.recv_until(idle, b"ok")
        busy = h.connect(port)
        busy.sendall(b"POST /busy HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
        time.sleep(0.3)
        d.signal(signal.SIGTERM)
        assert h.is_closed(idle, timeout=3), "idle keep-alive connection not closed on SIGTERM"
        time.sleep(0.3)
        assert d.running(), "daemon exited with a request in flight"
        busy.sendall(b"67890")
        raw = h.recv_all(busy, timeout=5)
        assert raw.startswith(b"HTTP/1.1 200"), raw
        assert b"Connection: close" in raw, raw
        busy.close()
        rc = d.wait_exit(timeout=10)
        assert rc == 0, rc
        evs = u.by_url(d.events())
        assert "/busy" in evs and "/idle" in evs, list(evs)
        busy_ev = evs["/busy"][0]
        assert u.sk(busy_ev)["body_length"] == 10
        assert u.sk(busy_ev)["body_sha256"] == u.sha256(b"1234567890")


def test_sigterm_drain_deadline():
    """A connection that never finishes does not hold the daemon past drain_timeout_ms; it is recorded."""
    cfg = {"drain_timeout_ms": 500}
    with h.Sinkd(families=FAMILY, config=cfg) as d:
        port = d.port("http")
        stuck = h.connect(port)
        stuck.sendall(b"GET /stuck HTTP/1.1\r\nHost: a\r\n")
        time.sleep(0.2)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait_exit(timeout=10)
        took = time.monotonic() - t0
        stuck.close()
        assert rc == 0, rc
        assert took < 5, took
        evs = d.events()
        assert len(evs) == 1 and "timeout" in u.flags(evs[0]), evs


def test_eve_reopen_on_sighup():
    """logrotate style: move the EVE file away, SIGHUP, new events go to a fresh file."""
    with h.Sinkd(families=FAMILY, start=False) as d:
        eve = os.path.join(d.dir, "eve.json")
        with open(d.config_path, "a", encoding="utf-8") as f:
            f.write(f'eve: {{ file: "{eve}" }}\n')
        d.start()
        port = d.port("http")
        for i in range(5):
            get(port, f"/old/{i}")
        h.wait_until(lambda: os.path.exists(eve) and open(eve, "rb").read().count(b"\n") == 5,
                     what="5 EVE lines")
        os.rename(eve, eve + ".1")
        d.reload()
        h.wait_until(lambda: os.path.exists(eve), what="EVE file reopened")
        for i in range(3):
            get(port, f"/new/{i}")
        h.wait_until(lambda: open(eve, "rb").read().count(b"\n") == 3, what="3 new EVE lines")
        u.stop_clean(d)
        assert b"/old/" not in open(eve, "rb").read()
        assert open(eve + ".1", "rb").read().count(b"/old/") == 5


if __name__ == "__main__":
    h.run([test_disk_full_keeps_answering, test_segment_rotation, test_max_requests_per_conn,
           test_sigterm_drains_in_flight, test_sigterm_drain_deadline, test_eve_reopen_on_sighup])
