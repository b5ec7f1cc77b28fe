"""test_slowloris.py — 1,000 slow request heads do not starve a normal client, all time out and are recorded, memory stays bounded."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

N_SLOW = 1000
HEADER_TIMEOUT_MS = 3000
DRIP_SECONDS = 6            # one byte per second per slow connection, this many rounds
CLIENT_PERIOD = 0.1         # the normal client's request interval
CLIENT_MAX_LATENCY = 1.0
# ASan's redzones and quarantine inflate the heap; this is a bound on the growth the slow
# connections may cause, generous for ASan (about 100 KiB per connection) and still far
# below what an unbounded per-connection buffer would reach.
MAX_RSS_GROWTH_KIB = 100 * 1024


class NormalClient(threading.Thread):
    """Sends a request every CLIENT_PERIOD until stopped; records each latency (None: failed)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.latencies = []
        self.errors = []

    def run(self):
        i = 0
        end = time.monotonic() + 60  # hard bound whatever happens
        while not self.stop.is_set() and time.monotonic() < end:
            t0 = time.monotonic()
            try:
                status, _, body = h.http_request(self.port, "GET", f"/normal/{i}", "normal.test",
                                                 timeout=5)
                lat = time.monotonic() - t0
                if status != 200 or body != b"NORMAL":
                    self.errors.append(f"request {i}: {status} {body!r}")
                self.latencies.append(lat)
            except (OSError, AssertionError) as e:
                self.errors.append(f"request {i}: {type(e).__name__}: {e}")
                self.latencies.append(None)
            i += 1
            left = CLIENT_PERIOD - (time.monotonic() - t0)
            if left > 0:
                self.stop.wait(left)


def test_slowloris():
    u.raise_nofile(N_SLOW + 512)
    listen = [{"name": "web", "proto": "http",
               "limits": {"header_timeout_ms": HEADER_TIMEOUT_MS, "idle_timeout_ms": 30000}}]
    families = [{"name": "normal", "match": {"host": "normal.test"},
                 "answer": {"status": 200, "body": "NORMAL"}}]
    with h.Sinkd(listen=listen, families=families) as d:
        port = d.port()
        rss0 = u.settled_rss_kib(d)
        rss_peak = rss0
        client = NormalClient(port)
        client.start()
        slow = []
        ports = set()
        try:
            t_open = time.monotonic()
            for i in range(N_SLOW):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(f"GET /slow/{i} HTTP/1.1\r\nHost: slow.test\r\nX-Drip: ".encode())
                s.setblocking(False)
                slow.append(s)
                ports.add(s.getsockname()[1])
                if i % 100 == 99:
                    rss_peak = max(rss_peak, u.vmrss_kib(d.pid))
            opened = time.monotonic() - t_open
            print(f"  opened {N_SLOW} slow connections in {opened:.1f}s", flush=True)
            # Drip one byte per second on every connection that is still open (bounded rounds).
            dripped = closed_seen = 0
            for _ in range(DRIP_SECONDS):
                t0 = time.monotonic()
                for s in slow:
                    if s.fileno() < 0:
                        continue
                    try:
                        s.send(b"a")
                        dripped += 1
                    except OSError:  # the daemon timed it out and closed it
                        s.close()
                        closed_seen += 1
                rss_peak = max(rss_peak, u.vmrss_kib(d.pid))
                left = 1.0 - (time.monotonic() - t0)
                if left > 0:
                    time.sleep(left)
            st_mid = d.stats()
        finally:
            client.stop.set()
            client.join(10)
            for s in slow:
                s.close()

        lat = [x for x in client.latencies if x is not None]
        print(f"  normal client: {len(client.latencies)} requests, max latency "
              f"{max(lat) if lat else -1:.3f}s; slow bytes dripped {dripped}, "
              f"closed by the daemon while dripping {closed_seen}", flush=True)
        assert not client.errors, f"normal client failures: {client.errors[:5]}"
        assert len(client.latencies) >= 40, f"only {len(client.latencies)} normal requests"
        slow_ones = [x for x in lat if x > CLIENT_MAX_LATENCY]
        assert not slow_ones, f"{len(slow_ones)} normal requests over {CLIENT_MAX_LATENCY}s: " \
            f"{sorted(slow_ones)[-5:]}"
        # With a 3 s head timeout and 6 s of dripping the daemon closed (nearly) all of them.
        assert closed_seen >= N_SLOW * 0.9, f"only {closed_seen} slow connections were closed"

        n_normal = len(client.latencies)
        want = N_SLOW + n_normal
        h.wait_until(lambda: len(d.events()) >= want, timeout=30, interval=0.5,
                     what=f"{want} events")
        evs = d.events()
        timeouts = [e for e in evs if "timeout" in u.flags(e)]
        print(f"  events: {len(evs)} ({len(timeouts)} timeouts)", flush=True)
        assert len(timeouts) == N_SLOW, f"{len(timeouts)} timeout events for {N_SLOW} slow heads"
        assert {e["src_port"] for e in timeouts} == ports, "timeout events do not match the slow ports"
        for e in timeouts:
            assert u.flags(e) == {"timeout", "no_answer"}, e
            assert u.sk(e)["reason"] == "request head timed out", e
            assert e["payload_printable"].startswith("GET /slow/"), e
        normal = [e for e in evs if u.sk(e).get("family") == "normal"]
        assert len(normal) == n_normal, (len(normal), n_normal)
        assert len(evs) == want, f"{len(evs)} events, want {want}"

        st = u.wait_stats(d, lambda s: s["connections"]["open"] == 0, what="all connections closed")
        assert st["connections"]["timeouts"] == N_SLOW, st["connections"]
        assert st_mid["connections"]["timeouts"] >= N_SLOW * 0.9, st_mid["connections"]
        rss_end = u.vmrss_kib(d.pid)
        print(f"  VmRSS: {rss0} KiB at start, peak {rss_peak} KiB, {rss_end} KiB at the end "
              f"(growth {rss_peak - rss0} KiB for {N_SLOW} connections)", flush=True)
        assert rss_peak - rss0 < MAX_RSS_GROWTH_KIB, f"VmRSS grew by {rss_peak - rss0} KiB"
        u.stop_clean(d)


if __name__ == "__main__":
    h.run([test_slowloris], per_test_timeout=120)
