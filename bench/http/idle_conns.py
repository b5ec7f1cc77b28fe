#!/usr/bin/env python3
# idle_conns.py — memory per idle connection of a running HTTP server (ΔRSS / N), two phases.
"""Open N idle TCP connections to a running server and report its memory cost.

    idle_conns.py --port PORT --pid PID [-n 10000] [--json]

PID is the server's process; its RSS is VmRSS of PID plus every descendant
(nginx's master + worker).  Phases, all on the same N connections:

  0. baseline: RSS and open fds of the server before any connection;
  1. connected: N TCP connections are established, nothing is sent;
  2. used: each connection sends one complete keep-alive request and reads
     its answer, then stays open and idle.

For each phase it reports bytes per connection = (RSS_phase - RSS_0) / N and
the server's fd delta, which shows how many connections the server had
actually accepted when RSS was read (a server using TCP_DEFER_ACCEPT does not
accept a connection that has sent nothing, so phase 1 costs it nothing in
user space; the fd delta makes that visible).  Loopback only; every socket is
closed with an RST (SO_LINGER 0) so that no TIME_WAIT is left behind to
exhaust ephemeral ports for the next run.  Python 3 stdlib only.
"""

import argparse
import json
import os
import resource
import socket
import struct
import sys
import time

REQUEST = (b"GET /gate.php?id=1 HTTP/1.1\r\n"
           b"Host: cnc.seized-example.test\r\n"
           b"User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)\r\n"
           b"\r\n")


def raise_nofile(want):
    """Raise the soft fd limit as far as the hard limit allows; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_children():
    """Map parent pid -> [child pids], from /proc/*/stat."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def tree(pid):
    """pid and all its descendants that exist now."""
    kids = proc_children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_bytes(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def fd_count(pid):
    total = 0
    for p in tree(pid):
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return total


def settle(pid, want_fds, timeout):
    """Wait until the server holds at least want_fds fds, or its fd count stops moving."""
    deadline = time.monotonic() + timeout
    last, still = -1, 0
    while time.monotonic() < deadline:
        n = fd_count(pid)
        if n >= want_fds:
            break
        still = still + 1 if n == last else 0
        if still >= 5:          # 0.5 s without change: it is not going to accept more
            break
        last = n
        time.sleep(0.1)
    time.sleep(0.3)             # let the allocator and the event loop finish the last batch
    return fd_count(pid)


def read_answer(s, deadline):
    """Read one HTTP answer (head + Content-Length body); True on success."""
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            clen = 0
            for line in buf[:end].split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    try:
                        clen = int(v.strip())
                    except ValueError:
                        return False
            if len(buf) >= end + 4 + clen:
                return buf.startswith(b"HTTP/1.")
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except OSError:
            return False
        if not chunk:
            return False
        buf += chunk


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="server pid (descendants are included)")
    ap.add_argument("-n", type=int, default=10000, help="connections (default 10000)")
    ap.add_argument("--timeout", type=float, default=60.0, help="overall bound, seconds")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    a = ap.parse_args()

    t_end = time.monotonic() + a.timeout
    limit = raise_nofile(65536)
    if limit < a.n + 64:
        sys.exit(f"idle_conns: fd limit {limit} too low for {a.n} connections")
    if not os.path.exists(f"/proc/{a.pid}"):
        sys.exit(f"idle_conns: no process {a.pid}")

    res = {"n": a.n, "port": a.port, "fd_limit_client": limit}
    fds0 = settle(a.pid, 0, 0)
    res["rss0"] = rss_bytes(a.pid)
    res["fds0"] = fds0

    socks = []
    linger = struct.pack("ii", 1, 0)
    failed_connect = 0
    try:
        # Phase 1: connect.  Blocking connects complete in the kernel (SYN-ACK),
        # whether or not the server has accepted yet; pace them so its accept
        # queue never overflows (a dropped SYN costs a 1 s retransmit).
        for i in range(a.n):
            if time.monotonic() > t_end:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.settimeout(5.0)
            try:
                s.connect(("127.0.0.1", a.port))
            except OSError:
                failed_connect += 1
                s.close()
                continue
            socks.append(s)
            if i % 512 == 511:
                settle(a.pid, fds0 + len(socks) - 1024, 2.0)
        res["connected"] = len(socks)
        res["connect_failed"] = failed_connect
        res["fds1"] = settle(a.pid, fds0 + len(socks), 10.0)
        res["rss1"] = rss_bytes(a.pid)

        # Phase 2: one keep-alive request per connection, answer read, then idle.
        sent = 0
        for s in socks:
            try:
                s.sendall(REQUEST)
                sent += 1
            except OSError:
                pass
        answered = 0
        deadline = min(t_end, time.monotonic() + 30.0)
        # Answers are read in connection order; each read is bounded by the deadline.
        for s in socks:
            if read_answer(s, deadline):
                answered += 1
        res["sent"] = sent
        res["answered"] = answered
        res["fds2"] = settle(a.pid, fds0 + len(socks), 5.0)
        res["rss2"] = rss_bytes(a.pid)
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    n = max(res.get("connected", 0), 1)
    res["bytes_per_conn_connected"] = (res["rss1"] - res["rss0"]) / n
    res["bytes_per_conn_used"] = (res["rss2"] - res["rss0"]) / n
    res["accepted_connected"] = res["fds1"] - res["fds0"]
    res["accepted_used"] = res["fds2"] - res["fds0"]
    if a.json:
        print(json.dumps(res))
    else:
        print(f"baseline: RSS {res['rss0'] / 1024:.0f} KiB, {res['fds0']} fds")
        print(f"phase 1 (connected, nothing sent): {res['connected']} conns, server fds +{res['accepted_connected']}, "
              f"RSS {res['rss1'] / 1024:.0f} KiB -> {res['bytes_per_conn_connected']:.0f} B/conn")
        print(f"phase 2 (one request answered, idle): {res['answered']}/{res['sent']} answered, "
              f"server fds +{res['accepted_used']}, RSS {res['rss2'] / 1024:.0f} KiB -> "
              f"{res['bytes_per_conn_used']:.0f} B/conn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
