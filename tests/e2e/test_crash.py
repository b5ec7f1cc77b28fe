"""test_crash.py — kill -9 under load: restart recovers the log, `sinkd verify` passes, and with fsync: answered nothing answered is lost."""

import glob
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

SEG_HEADER = 136  # docs/event-format.md §1.1: frames start here
RECOVERY_RE = re.compile(r"event log recovered after a crash: cut (\d+) torn bytes, sealed (\d+) records")
RECORDS_RE = re.compile(r"event log .*: (\d+) records in (\d+) segment")


def _frames(data):
    """Frame (offset, length) list of a segment body per docs/event-format.md §1.2, or None if it
    does not end on a frame boundary. The length field's byte order is found by trying both."""
    for fmt in ("<I", ">I"):
        off, out = SEG_HEADER, []
        while off + 9 <= len(data):
            (ln,) = struct.unpack_from(fmt, data, off)
            typ = data[off + 8]
            if typ not in (1, 2) or ln == 0 or ln > 262144 or off + 9 + ln > len(data):
                break
            out.append((off, 9 + ln, typ))
            off += 9 + ln
        if off == len(data) and out:
            return out
    return None


def _new_log_text(d, since):
    return d.log_text()[since:]


def _restart_and_check(d, before_restart_len):
    """Restarts on the same log dir; returns (recovery (cut, sealed) or None, records at start)."""
    d.start()
    h.wait_until(lambda: RECORDS_RE.search(_new_log_text(d, before_restart_len)), timeout=10,
                 what="the start-up log line")
    text = _new_log_text(d, before_restart_len)
    m = RECOVERY_RE.search(text)
    recov = (int(m.group(1)), int(m.group(2))) if m else None
    records = int(RECORDS_RE.search(text).group(1))
    return recov, records


def test_kill9_under_loadgen_interval():
    with h.Sinkd(config={"log": {"fsync": "interval", "fsync_interval_ms": 50}}) as d:
        port = d.port()
        lg = subprocess.Popen([h.SINKD, "loadgen", "--target", f"127.0.0.1:{port}",
                               "--duration", "3", "--count", "200000", "--concurrency", "32",
                               "--timeout-ms", "1000", "--seed", "7", "--json", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            h.wait_until(lambda: os.path.exists(os.path.join(d.log_dir, "stats.json"))
                         and d.stats()["requests"] > 200, timeout=10, what="load")
            time.sleep(0.5)
            assert d.kill9() == -9
            out, err = lg.communicate(timeout=30)
        finally:
            if lg.poll() is None:
                lg.kill()
                lg.wait()
        summary = json.loads(out) if out.strip().startswith("{") else {}
        print(f"  loadgen: exit {lg.returncode} {json.dumps(summary)[:300]}", flush=True)
        u.assert_no_sanitizer(d)

        rc, crashed_cat, err = h.sinkd_cmd("log", "cat", d.log_dir, timeout=60)
        assert rc == 0, f"log cat of the crashed log failed: {err[:500]}"
        n_crashed = sum(1 for x in crashed_cat.splitlines() if x.strip())
        assert n_crashed > 200, n_crashed

        # Simulate what a crash mid-write leaves: one whole event frame that no seal covers,
        # then the first half of another (a torn tail). Start-up must seal the first and cut
        # the second.
        segs = sorted(glob.glob(os.path.join(d.log_dir, "*.seg")))
        assert segs, os.listdir(d.log_dir)
        with open(segs[-1], "rb") as f:
            data = f.read()
        frames = _frames(data)
        injected = None
        if frames is None:
            print("  note: the crash itself left a torn tail; not injecting", flush=True)
        else:
            ev_off, ev_len, _ = [fr for fr in frames if fr[2] == 1][-1]
            whole = data[ev_off:ev_off + ev_len]
            torn = whole[:ev_len // 2]
            with open(segs[-1], "ab") as f:
                f.write(whole + torn)
            injected = (len(torn), 1)
            vrc, vout = d.verify()
            assert vrc != 0, f"verify accepted an unsealed, torn tail: {vout[:300]}"

        mark = len(d.log_text())
        recov, records = _restart_and_check(d, mark)
        print(f"  restart: recovery {recov}, {records} records", flush=True)
        if injected:
            assert recov is not None, f"no recovery line after a torn tail:\n{d.log_tail()}"
            assert recov[0] == injected[0], f"cut {recov[0]} bytes, want {injected[0]}"
            assert recov[1] >= injected[1], f"sealed {recov[1]} records, want >= 1"
            assert records == n_crashed + recov[1], (records, n_crashed, recov)
        elif recov is None:
            assert records == n_crashed, (records, n_crashed)
        # The restarted daemon serves and appends to the same chain.
        st, _, _ = h.http_request(port, "GET", "/after-crash", "x.test")
        assert st == 404
        evs = d.wait_events(records + 1, timeout=30)
        assert len(evs) == records + 1, (len(evs), records)
        assert u.hp(evs[-1]).get("url") == "/after-crash", evs[-1]
        # Every event from before the crash is still readable, unchanged.
        before = [json.loads(x) for x in crashed_cat.splitlines() if x.strip()]
        assert evs[:len(before)] == before, "events before the crash changed after recovery"
        u.stop_clean(d)


class AnsweredClient:
    """Threads doing one POST per connection to /c?id=N; an id counts once its answer is read."""

    def __init__(self, port, threads=32, deadline_s=8.0):
        self.port = port
        self.lock = threading.Lock()
        self.next_id = 0
        self.answered = set()
        self.failed = 0
        self.stop = threading.Event()
        self.deadline = time.monotonic() + deadline_s
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _take(self):
        with self.lock:
            self.next_id += 1
            return self.next_id

    def _one(self, i):
        body = f"payload-{i}".encode()
        req = (f"POST /c?id={i} HTTP/1.1\r\nHost: crash.test\r\nContent-Length: {len(body)}\r\n"
               f"Connection: close\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.settimeout(5)
            s.sendall(req)
            buf = b""
            while b"\r\n\r\n" not in buf:
                b = s.recv(4096)
                if not b:
                    return False
                buf += b
            head, _, rest = buf.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200 "):
                return False
            m = re.search(rb"\r\nContent-Length: (\d+)", head)
            want = int(m.group(1)) if m else 0
            while len(rest) < want:
                b = s.recv(4096)
                if not b:
                    return False
                rest += b
            return rest[:want] == b"OK"

    def _run(self):
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline and n < 20000:
            n += 1
            i = self._take()
            try:
                ok = self._one(i)
            except OSError:
                ok = False
            with self.lock:
                if ok:
                    self.answered.add(i)
                else:
                    self.failed += 1
            if not ok and self.stop.is_set():
                break
            if not ok:
                time.sleep(0.01)

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)


def test_kill9_answered_are_logged():
    families = [{"name": "crashfam", "match": {"path": "/c"}, "answer": {"status": 200, "body": "OK"}}]
    cfg = {"log": {"fsync": "answered"}}
    with h.Sinkd(families=families, config=cfg) as d:
        port = d.port()
        client = AnsweredClient(port)
        client.start()
        try:
            h.wait_until(lambda: len(client.answered) >= 300, timeout=20, interval=0.05,
                         what="300 answered requests")
            time.sleep(0.3)
            assert d.kill9() == -9
            killed_at = len(client.answered)
            time.sleep(0.3)
        finally:
            client.join()
        answered = set(client.answered)
        print(f"  answered {len(answered)} requests ({killed_at} when killed), "
              f"{client.failed} failed", flush=True)
        u.assert_no_sanitizer(d)
        assert len(answered) >= 300

        mark = len(d.log_text())
        recov, records = _restart_and_check(d, mark)
        print(f"  restart: recovery {recov}, {records} records", flush=True)
        evs = d.events(timeout=60)
        assert len(evs) == records, (len(evs), records)
        logged = {}
        for e in evs:
            m = re.fullmatch(r"/c\?id=(\d+)", u.hp(e).get("url", ""))
            assert m, f"unexpected event {e}"
            i = int(m.group(1))
            assert i not in logged, f"id {i} logged twice"
            logged[i] = e
        missing = sorted(answered - set(logged))
        assert not missing, f"{len(missing)} answered requests are not in the log: {missing[:20]}"
        for i in list(answered)[:50]:
            e = logged[i]
            u.expect_fields(e, "sinkhole", family="crashfam", body_length=len(f"payload-{i}"),
                            body_sha256=u.sha256(f"payload-{i}".encode()))
            u.expect_fields(e, "http", status=200)
        # The log may hold requests whose answer the kill cut off; never the other way round.
        print(f"  logged {len(logged)} ids; {len(set(logged) - answered)} logged but not answered",
              flush=True)
        st, _, _ = h.http_request(port, "POST", "/c?id=0", "crash.test", body=b"payload-0")
        assert st == 200
        d.wait_events(records + 1)
        u.stop_clean(d)


if __name__ == "__main__":
    h.run([
        test_kill9_under_loadgen_interval,
        test_kill9_answered_are_logged,
    ])
