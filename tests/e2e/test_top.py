"""test_top.py — `sinkd top` live on a real terminal (a pty), following a running daemon.

The daemon has an HTTP and a raw listener. `sinkd top` runs on the slave side
of a pty (so it takes its live mode) with a short interval; the test reads the
master side. Phase 1 sends HTTP check-ins from two loopback sources, phase 2
raw connections with unknown bytes to the raw port from two other sources; a
later screen must show the raw port and `raw:unknown` with the right event
and unique-source counts. Also: the screen redraws (home + clear); a window
resize (TIOCSWINSZ + SIGWINCH) redraws at once with as many rows as fit; the
tool turns off line mode and echo while live, and both `q` and SIGINT end it
with status 0 and the terminal's modes as they were before.
"""

import fcntl
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

CLEAR = b"\033[H\033[2J"  # what cmd_top.c writes before each live screen
ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)[+ ]\s+(\d+)s$")
TITLES = {"destination port": "port", "family": "family", "protocol (guess)": "guess"}


class Top:
    """`sinkd top` on a pty; collects everything it writes."""

    def __init__(self, log_dir, interval_ms=200, rows=40):
        self.master, slave = os.openpty()
        self.set_size(rows, 100)
        self.mode_before = termios.tcgetattr(self.master)
        self.proc = subprocess.Popen([h.SINKD, "top", "--interval", str(interval_ms), log_dir],
                                     stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.buf = b""
        self.idle = False  # the last read waited in vain: the last screen is whole

    def set_size(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def pump(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        self.idle = not r
        if r:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the slave side is closed (the tool exited)
                return False
            self.buf += data
            return bool(data)
        return True

    def screens(self):
        """Complete screens: the text after each clear, the last one only once output paused."""
        parts = self.buf.split(CLEAR)[1:]
        if not self.idle:
            parts = parts[:-1]
        return [p.decode("utf-8", "replace").replace("\r", "") for p in parts]

    def wait_screen(self, pred, timeout=15.0, after=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, s in enumerate(self.screens()):
                if i >= after and pred(parse(s)):
                    return i, parse(s)
            assert self.proc.poll() is None, f"top exited {self.proc.returncode}: {self.buf[-2000:]!r}"
            self.pump(0.2)
        raise AssertionError(f"no such screen in {timeout}s; last: {self.screens()[-1:]}")

    def live_mode(self):
        """The pty's local flags once the tool has switched them (no line mode, no echo)."""
        h.wait_until(lambda: not termios.tcgetattr(self.master)[3] & (termios.ICANON | termios.ECHO),
                     timeout=10, what="top to switch the terminal to key mode")

    def wait_exit(self):
        deadline = time.monotonic() + 10
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.1)
        assert self.proc.wait(timeout=5) == 0, self.proc.returncode
        deadline = time.monotonic() + 5
        while self.pump(0.2) and time.monotonic() < deadline:
            pass
        assert termios.tcgetattr(self.master) == self.mode_before, "terminal not restored"
        assert b"ERROR" not in self.buf and b"runtime error" not in self.buf, self.buf[-2000:]
        assert self.buf.endswith(b"\n"), self.buf[-200:]  # the last screen is whole

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        os.close(self.master)


def parse(screen):
    """{'port': {key: (events, sources)}, 'family': ..., 'guess': ..., 'total': N}."""
    out = {"port": {}, "family": {}, "guess": {}, "total": None}
    table = None
    for line in screen.split("\n"):
        m = re.match(r"^sinkd top — .* — (\d+) events", line)
        if m:
            out["total"] = int(m.group(1))
            continue
        title = line[:24].rstrip()
        if title in TITLES and "events" in line:
            table = TITLES[title]
            continue
        m = ROW.match(line.rstrip())
        if m and table:
            out[table][m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def connect_from(src, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def test_live_screen():
    listen = [{"name": "web", "proto": "http"},
              {"name": "raw", "proto": "raw", "raw": {"timeout_ms": 500, "capture_bytes": 4096}}]
    with h.Sinkd(listen=listen) as d:
        web, raw = d.port("web"), d.port("raw")
        h.wait_until(lambda: os.path.isdir(d.log_dir), what="log dir")
        top = Top(d.log_dir)
        try:
            top.live_mode()
            # An empty log still gets a screen, and it keeps being redrawn.
            top.wait_screen(lambda s: s["total"] == 0)
            # Phase 1: HTTP check-ins, 2 from 127.0.0.1 and 1 from 127.0.0.4.
            for src in ("127.0.0.1", "127.0.0.1", "127.0.0.4"):
                s = connect_from(src, web)
                s.sendall(h.http_bytes(path="/check.php?id=1", host="cnc.example",
                                       headers={"Connection": "close"}))
                assert h.recv_all(s).startswith(b"HTTP/1.1 "), src
                s.close()
            d.wait_events(3)
            i1, s1 = top.wait_screen(lambda s: s["total"] == 3)
            assert s1["port"] == {f"tcp/{web}": (3, 2)}, s1
            assert s1["guess"] == {"http": (3, 2)}, s1
            assert s1["family"] == {"unknown": (3, 2)}, s1

            # Phase 2: unknown bytes to the raw port, 3 from 127.0.0.2 and 1 from 127.0.0.3.
            for src in ("127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3"):
                s = connect_from(src, raw)
                s.sendall(b"\x8f\x01zq-unknown-checkin\x00\x7f")
                s.shutdown(socket.SHUT_WR)
                h.recv_all(s)
                s.close()
            evs = d.wait_events(7)
            assert sum(e["event_type"] == "sinkhole_raw" for e in evs) == 4, evs
            assert all(e["raw"]["guess"] == "unknown" for e in evs
                       if e["event_type"] == "sinkhole_raw"), evs
            i2, s2 = top.wait_screen(lambda s: s["total"] == 7, after=i1 + 1)
            assert i2 > i1, (i1, i2)
            assert s2["port"] == {f"tcp/{web}": (3, 2), f"tcp/{raw}": (4, 2)}, s2
            assert s2["guess"] == {"http": (3, 2), "raw:unknown": (4, 2)}, s2
            assert s2["family"] == {"unknown": (7, 4)}, s2
            # Ranked by events: the new raw port now comes first.
            scr = top.screens()[i2]
            assert scr.index(f"tcp/{raw} ") < scr.index(f"tcp/{web} "), scr
            assert scr.index("raw:unknown") < scr.index("http "), scr

            # Shrunk to 16 lines: one row per table fits, the rest is "(N more)".
            top.set_size(16, 80)
            n = len(top.screens())
            os.kill(top.proc.pid, signal.SIGWINCH)
            i3, s3 = top.wait_screen(lambda s: len(s["port"]) == 1, timeout=5, after=n)
            assert s3["port"] == {f"tcp/{raw}": (4, 2)} and s3["guess"] == {"raw:unknown": (4, 2)}
            scr = top.screens()[i3]
            assert scr.count("(1 more)") == 2 and len(scr.rstrip("\n").split("\n")) <= 16, scr
            top.set_size(40, 100)
            os.kill(top.proc.pid, signal.SIGWINCH)
            top.wait_screen(lambda s: len(s["port"]) == 2, timeout=5, after=i3 + 1)

            # q: a clean exit, status 0, the terminal as it was.
            os.write(top.master, b"q")
            top.wait_exit()
        finally:
            top.close()

        # A second top over the same log with a one-minute interval: its first screen
        # comes at once, and only SIGWINCH can bring a second one within the wait.
        # Then SIGINT (Ctrl-C): the same clean exit.
        top = Top(d.log_dir, interval_ms=60000)
        try:
            top.live_mode()
            i, _ = top.wait_screen(lambda s: s["total"] == 7 and s["guess"].get("raw:unknown") == (4, 2))
            top.pump(0.5)
            assert len(top.screens()) == i + 1, "redrawn before the interval"
            top.set_size(30, 90)
            os.kill(top.proc.pid, signal.SIGWINCH)
            top.wait_screen(lambda s: s["total"] == 7, timeout=10, after=i + 1)
            os.kill(top.proc.pid, signal.SIGINT)
            top.wait_exit()
        finally:
            top.close()
        u.stop_clean(d)


if __name__ == "__main__":
    h.run([test_live_screen])
