"""e2e_util.py — helpers shared by the HTTP-daemon end-to-end tests (on top of harness.py).

Everything here is stdlib only and talks to 127.0.0.1 / ::1 only.
"""

import base64
import hashlib
import os
import resource
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "AddressSanitizer:DEADLYSIGNAL")


# ---------------------------------------------------------------------------
# daemon health


def assert_no_sanitizer(d):
    """Fails if the daemon's stderr holds an ASan/UBSan/LSan report."""
    text = d.log_text()
    for mark in SANITIZER_MARKS:
        if mark in text:
            i = text.index(mark)
            raise AssertionError(f"sanitizer report in sinkd's stderr ({mark}):\n"
                                 f"{text[max(0, i - 200):i + 3000]}")


def check_cli(args, rc, err):
    """Fails if a sinkd command was killed by a signal or printed a sanitizer report."""
    where = args if isinstance(args, str) else "sinkd " + " ".join(map(str, args))
    assert rc >= 0, f"{where}: killed by signal {-rc}\n{err[-2000:]}"
    for mark in SANITIZER_MARKS:
        assert mark not in err, f"{where}: sanitizer report:\n{err[-3000:]}"


def cli(*args, timeout=30, env=None):
    """Runs `sinkd ARGS` (see harness.sinkd_cmd) and checks it died of no signal or sanitizer."""
    rc, out, err = h.sinkd_cmd(*args, timeout=timeout, env=env)
    check_cli(args, rc, err)
    return rc, out, err


def assert_alive(d, what=""):
    """The daemon still runs, has reported nothing to the sanitizers, and answers a request."""
    assert d.running(), f"sinkd died {what}: exit {d.proc.poll()}\n{d.log_tail(40)}"
    assert_no_sanitizer(d)
    status, _, _ = h.http_request(d.port(), "GET", "/health-probe", host="health.test")
    assert status > 0


def stop_clean(d):
    """SIGTERM: exit 0, no sanitizer report, `sinkd verify` passes. Returns the verify output."""
    rc = d.stop()
    assert rc == 0, f"sinkd exited {rc} after SIGTERM\n{d.log_tail(40)}"
    assert_no_sanitizer(d)
    vrc, out = d.verify()
    assert vrc == 0, f"sinkd verify exited {vrc}: {out.strip()[:1000]}"
    return out


# ---------------------------------------------------------------------------
# events


def flags(ev):
    return set(ev.get("sinkhole", {}).get("flags", []))


def sk(ev):
    return ev.get("sinkhole", {})


def hp(ev):
    return ev.get("http", {})


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def b64(b):
    return base64.b64encode(b).decode()


def by_url(evs):
    """{url: [events]} for events that have one."""
    out = {}
    for e in evs:
        u = hp(e).get("url")
        if u is not None:
            out.setdefault(u, []).append(e)
    return out


def one_by_url(evs, url):
    got = by_url(evs).get(url, [])
    assert len(got) == 1, f"expected exactly one event for {url}, got {len(got)}: {got}"
    return got[0]


def expect_fields(ev, where, **want):
    """Asserts ev[where][k] == v for each k=v ('top' for top-level keys)."""
    obj = ev if where == "top" else ev.get(where, {})
    for k, v in want.items():
        got = obj.get(k, "<absent>")
        assert got == v, f"{where}.{k} = {got!r}, want {v!r}\n  event: {ev}"


def wait_stats(d, pred, timeout=10.0, what="stats"):
    """Polls stats.json (SIGUSR1 forces a rewrite) until pred(stats) is true; returns stats."""
    last = [None]

    def ok():
        try:
            d.signal(__import__("signal").SIGUSR1)
        except h.SinkdError:
            pass
        try:
            last[0] = d.stats()
        except (OSError, ValueError):
            return False
        return pred(last[0])

    try:
        h.wait_until(ok, timeout=timeout, interval=0.2, what=what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; last stats: {last[0]}") from None
    return last[0]


# ---------------------------------------------------------------------------
# clients


def curl(*args, timeout=20):
    """Runs curl (no proxy, no config files); returns (rc, stdout bytes, stderr text)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    p = subprocess.run(["curl", "-q", "--noproxy", "*", "-sS", "--max-time", str(timeout),
                        *map(str, args)], capture_output=True, timeout=timeout + 10, env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def parse_responses(raw):
    """All complete responses in raw bytes: [(status, {lower header: value}, body)]."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"incomplete response: {raw[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        raw = rest[n:]
    return out


def proxy_v2_spec(src, dst, sport, dport, command=1, tlvs=b""):
    """A PROXY v2 header built from haproxy's proxy-protocol.txt §2.2, independent of harness.

    12-byte signature; byte 13 = version 2 (high nibble) | command (0 LOCAL, 1 PROXY);
    byte 14 = address family (1 INET, 2 INET6) << 4 | transport (1 STREAM);
    bytes 15-16 = length of what follows (big endian); then the addresses and ports.
    """
    sig = bytes([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A])
    if ":" in src:
        fam = (0x2 << 4) | 0x1
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    else:
        fam = (0x1 << 4) | 0x1
        body = socket.inet_aton(src) + socket.inet_aton(dst)
    body += struct.pack(">HH", sport, dport) + tlvs
    return sig + bytes([(0x2 << 4) | command, fam]) + struct.pack(">H", len(body)) + body


def proxy_v1_text(src, dst, sport, dport):
    """A PROXY v1 line (haproxy proxy-protocol.txt §2.1)."""
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode("ascii")


def suricata_ip(addr):
    """An address as sinkd's EVE writes it (IPv6: 8 uncompressed 4-digit groups)."""
    if ":" not in addr:
        return addr
    raw = socket.inet_pton(socket.AF_INET6, addr)
    return ":".join(raw[i:i + 2].hex() for i in range(0, 16, 2))


def raise_nofile(want):
    """Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def proc_status(pid):
    """/proc/PID/status as {key: value text}."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def vmrss_kib(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def settled_rss_kib(d, timeout=10.0):
    """VmRSS once start-up is over: a memory baseline. Listening sockets come up
    before the workers, the recorder and their buffers are all in place, so a
    sample taken as soon as the ports accept can be far below where the idle
    daemon settles. Waits for the first stats.json, then until two samples
    0.3 s apart differ by under 512 KiB."""
    wait_stats(d, lambda s: True, what="start-up finished")
    deadline = time.monotonic() + timeout
    prev = vmrss_kib(d.pid)
    while True:
        time.sleep(0.3)
        cur = vmrss_kib(d.pid)
        if abs(cur - prev) < 512 or time.monotonic() >= deadline:
            return cur
        prev = cur


class Timer:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.monotonic() - self.t0
        return False
