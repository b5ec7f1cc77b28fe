"""test_replay.py — `sinkd replay` and `sinkd rules test` on crafted captures: reassembly and hostile input.

Captures are written by pcapgen.py: in-order, out-of-order, duplicated and
overlapping segments, a missing segment (a gap), mid-stream flows, IPv6,
pcapng, keep-alive, malformed frames, truncated and non-capture files, and
one 1 GiB flow streamed through a pipe in bounded memory.
"""

import hashlib
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402
import pcapgen as pg  # noqa: E402

CONFIG = """sensor: { id: replay-test }
log: { dir: /nonexistent }
listen:
  - { proto: http, addr: "0.0.0.0:80", name: web,
      limits: { max_body_bytes: 2GiB, header_timeout_ms: 10000, idle_timeout_ms: 30000 } }
  - { proto: http, addr: "0.0.0.0:8081", name: proxied, proxy_protocol: true }
families:
  - name: alpha
    tag: login
    match: { path: { prefix: /a } }
  - name: beta
    match: { method: POST }
  - name: never
    match: { host: never.example }
"""

TMP = tempfile.mkdtemp(prefix="sinkd-replay.", dir="/tmp")
CFG = os.path.join(TMP, "replay.yaml")
with open(CFG, "w", encoding="utf-8") as fh:
    fh.write(CONFIG)


def replay(pcap, *extra, expect_rc=0):
    """Replays; returns (events, summary dict, stderr)."""
    args = ["replay", "-c", CFG, "--summary", "json", "--no-progress", *extra, pcap]
    rc, out, err = h.sinkd_cmd(*args, timeout=300)
    u.check_cli(args, rc, err)
    assert rc == expect_rc, f"{args}: rc {rc}\n{err[-3000:]}"
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    summary = None
    for line in err.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    return events, summary, err


def path(name):
    return os.path.join(TMP, name)


REQ = (b"GET /alpha/check.php?id=42 HTTP/1.1\r\nHost: cnc.example\r\n"
       b"User-Agent: bot/1.0\r\nAccept: */*\r\n\r\n")


def one_flow(name, segments, fin=True, ng=False, cli="10.1.0.1", srv="10.2.0.1", handshake=True,
             total=None):
    """A capture of one flow whose client sends `segments` [(offset, bytes), ...] in that order."""
    w = pg.PcapWriter(path(name), ng=ng)
    f = pg.TcpFlow(w, cli, 40001, srv, 80)
    if handshake:
        f.handshake()
    for off, data in segments:
        f.send(off, data)
    if fin:
        f.fin(total if total is not None else max(o + len(d) for o, d in segments))
    w.close()
    return path(name)


def split(data, *cuts):
    pieces, last = [], 0
    for c in list(cuts) + [len(data)]:
        pieces.append((last, data[last:c]))
        last = c
    return pieces


def only_event(events):
    assert len(events) == 1, events
    return events[0]


def test_in_order():
    ev, s, _ = replay(one_flow("inorder.pcap", split(REQ, 10, 30)))
    e = only_event(ev)
    assert e["http"]["url"] == "/alpha/check.php?id=42", e
    assert e["http"]["http_user_agent"] == "bot/1.0"
    assert e["sinkhole"]["family"] == "alpha" and e["sinkhole"]["tag"] == "login", e
    assert e["src_ip"] == "10.1.0.1" and e["src_port"] == 40001 and e["dest_port"] == 80
    assert e["timestamp"].startswith("2025-11-28T"), e["timestamp"]
    assert s["flows"] == 1 and s["events"] == 1 and s["gaps"] == 0 and s["out_of_order"] == 0, s


def test_progress():
    rc, out, err = h.sinkd_cmd("replay", "-c", CFG, "--progress", "--summary", "none",
                               one_flow("progress.pcap", split(REQ, 10)))
    u.check_cli("progress", rc, err)
    assert rc == 0 and "replay: 100.0%" in err and " 1 events" in err, err
    assert "packets (" not in err, err  # --summary none


def test_out_of_order():
    pieces = split(REQ, 10, 30, 50)
    ev, s, _ = replay(one_flow("ooo.pcap", [pieces[3], pieces[1], pieces[0], pieces[2]]))
    e = only_event(ev)
    assert e["http"]["url"] == "/alpha/check.php?id=42", e
    assert s["out_of_order"] == 2 and s["gaps"] == 0, s


def test_duplicates():
    pieces = split(REQ, 10, 30)
    ev, s, _ = replay(one_flow("dup.pcap", [pieces[0], pieces[0], pieces[1], pieces[0], pieces[1],
                                            pieces[2], pieces[2]]))
    e = only_event(ev)
    assert e["http"]["url"] == "/alpha/check.php?id=42", e
    assert s["dup_bytes"] == 10 + 10 + 20 + len(pieces[2][1]), s
    assert s["conflict_bytes"] == 0, s


def test_overlaps_first_copy_wins():
    req_a = REQ
    req_b = REQ.replace(b"/alpha/", b"/bravo/")
    assert len(req_a) == len(req_b)
    # In order, then a conflicting retransmission of the URI bytes: the first copy stays.
    # (Delivered bytes are not kept, so this overlap is trimmed without comparing.)
    ev, s, _ = replay(one_flow("overlap1.pcap", [(0, req_a[:30]), (4, req_b[4:40]),
                                                 (30, req_a[30:])]))
    assert only_event(ev)["http"]["url"].startswith("/alpha/"), ev
    assert s["dup_bytes"] == 26 + 10, s
    # Held out of order, then overlapped by a conflicting copy: again the first copy stays,
    # whichever version that is.
    ev, s, _ = replay(one_flow("overlap2.pcap", [(4, req_b[4:40]), (2, req_a[2:50]),
                                                 (0, req_a[:2]), (50, req_a[50:])]))
    assert only_event(ev)["http"]["url"].startswith("/bravo/"), ev
    assert s["conflict_bytes"] > 0 and s["out_of_order"] >= 1, s


def test_gap_recorded():
    pieces = split(REQ, 10, 30)
    ev, s, err = replay(one_flow("gap.pcap", [pieces[0], pieces[2]]), "--gaps")
    assert s["gaps"] == 1 and s["gap_bytes"] == 20, s
    assert "gap: flow" in err and "20 bytes missing at stream offset 10" in err, err
    # The stream before the hole reaches the module as a client that broke off.
    assert s["after_close_bytes"] == len(pieces[2][1]), s
    for e in ev:
        assert "alpha" not in json.dumps(e.get("http", {})), e


def test_keepalive_and_tx_ids():
    req2 = REQ.replace(b"/alpha/", b"/other/")
    post = (b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
    data = REQ + req2 + post
    ev, s, _ = replay(one_flow("keepalive.pcap", split(data, 7, len(REQ) + 3, len(REQ) + 70)))
    assert [e["http"]["url"] for e in ev] == ["/alpha/check.php?id=42", "/other/check.php?id=42",
                                             "/x"], ev
    assert [e["tx_id"] for e in ev] == [0, 1, 2]
    assert ev[2]["sinkhole"]["family"] == "beta"
    assert ev[2]["sinkhole"]["body_length"] == 5, ev[2]
    assert len({e["flow_id"] for e in ev}) == 1


def test_pcapng_ipv6_midstream():
    ev, s, _ = replay(one_flow("v6.pcapng", split(REQ, 17), ng=True, cli="2001:db8::1",
                               srv="2001:db8::2"))
    e = only_event(ev)
    assert ipaddress.ip_address(e["src_ip"]) == ipaddress.ip_address("2001:db8::1"), e
    assert e["http"]["url"].startswith("/alpha/"), e
    # No handshake in the capture: the server side is the one with a listener's port.
    ev, s, _ = replay(one_flow("mid.pcap", split(REQ, 5), handshake=False))
    assert only_event(ev)["http"]["url"].startswith("/alpha/")
    assert s["flows_midstream"] == 1, s


def test_link_types():
    """Linux cooked (v1, v2: tcpdump -i any), raw IP, BSD loopback, and 802.1Q-tagged Ethernet."""
    def ip_only(frame):
        return frame[14:]

    def sll(ip, et):
        return struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, et) + ip

    def sll2(ip, et):
        return struct.pack("!HHIHBB8s", et, 0, 1, 772, 0, 6, b"\0" * 8) + ip

    cases = [
        (113, lambda fr: sll(ip_only(fr), 0x0800)),
        (276, lambda fr: sll2(ip_only(fr), 0x0800)),
        (101, ip_only),
        (228, ip_only),
        (0, lambda fr: struct.pack("=I", 2) + ip_only(fr)),
        (108, lambda fr: struct.pack("!I", 2) + ip_only(fr)),
        (1, lambda fr: fr[:12] + b"\x81\x00\x00\x07" + fr[12:]),
    ]
    for link, wrap in cases:
        name = path(f"link{link}.pcap")
        w = pg.PcapWriter(name, linktype=link)

        class Wrapped:
            def packet(self, frame, ts=None, caplen=None):
                w.packet(wrap(frame), ts=ts, caplen=caplen)
        f = pg.TcpFlow(Wrapped(), "10.3.0.1", 40000, "10.3.0.2", 80)
        f.handshake()
        f.send(0, REQ)
        f.fin(len(REQ))
        w.close()
        ev, s, _ = replay(name)
        assert len(ev) == 1 and ev[0]["http"]["url"].startswith("/alpha/"), (link, ev, s)


def test_proxy_protocol_listener():
    w = pg.PcapWriter(path("proxy.pcap"))
    f = pg.TcpFlow(w, "127.0.0.1", 40010, "127.0.0.1", 8081)
    f.handshake()
    data = b"PROXY TCP4 198.51.100.7 192.0.2.1 5555 80\r\n" + REQ
    f.send(0, data)
    f.fin(len(data))
    w.close()
    ev, s, _ = replay(path("proxy.pcap"))
    e = only_event(ev)
    assert e["src_ip"] == "198.51.100.7" and e["src_port"] == 5555, e
    assert e["sinkhole"]["peer_ip"] == "127.0.0.1", e
    assert "via_proxy" in e["sinkhole"]["flags"], e


def test_unmatched_and_udp():
    w = pg.PcapWriter(path("other.pcap"))
    f = pg.TcpFlow(w, "10.0.0.1", 40000, "10.0.0.2", 9999)
    f.handshake()
    f.send(0, b"hello")
    w.packet(pg.ip_frame("10.0.0.1", "10.0.0.2", 17, pg.udp_datagram(5353, 53, b"\0" * 12)))
    w.close()
    ev, s, _ = replay(path("other.pcap"))
    assert ev == [] and s["flows_unmatched"] == 1 and s["udp_packets"] == 1, s
    # --listener sends every flow to one listener, whatever its port.
    w = pg.PcapWriter(path("anyport.pcap"))
    f = pg.TcpFlow(w, "10.0.0.1", 40000, "10.0.0.2", 31337)
    f.handshake()
    f.send(0, REQ)
    w.close()
    ev, s, _ = replay(path("anyport.pcap"), "--listener", "web")
    assert only_event(ev)["dest_port"] == 31337


def test_timeout_on_capture_clock():
    # Half a request, then silence for 15 s of capture time: the header timeout fires
    # (10 s) and the event carries that time, as the live sensor's would.
    w = pg.PcapWriter(path("slow.pcap"))
    f = pg.TcpFlow(w, "10.0.0.1", 40000, "10.0.0.2", 80)
    f.handshake()
    f.send(0, REQ[:20])
    later = pg.TcpFlow(w, "10.0.0.9", 40000, "10.0.0.2", 80)
    w.t += 15
    later.handshake()
    w.close()
    ev, s, _ = replay(path("slow.pcap"))
    assert len(ev) == 1 and "timeout" in ev[0]["sinkhole"]["flags"], ev


def test_malformed_frames():
    w = pg.PcapWriter(path("bad.pcap"))
    good = pg.ip_frame("10.0.0.1", "10.0.0.2", 6, pg.tcp_segment(1, 80, 1, 0, pg.SYN))
    w.packet(b"")                                   # empty frame
    w.packet(b"\x01" * 7)                           # shorter than Ethernet
    w.packet(good[:14] + b"\x46" + good[15:])       # IHL says options that are not there
    w.packet(good[:14] + b"\x44" + good[15:])       # IHL below 5
    w.packet(good[:16] + b"\xff\xff" + good[18:])   # total length beyond the frame
    bad_doff = bytearray(good)
    bad_doff[14 + 20 + 12] = 0x10                   # TCP data offset 4 words
    w.packet(bytes(bad_doff))
    frag = bytearray(good)
    frag[14 + 6] = 0x20                             # more fragments
    w.packet(bytes(frag))
    w.packet(pg.ip_frame("10.0.0.1", "10.0.0.2", 1, b"\x08\0\0\0\0\0\0\0"))  # ICMP
    w.packet(b"\x02" * 12 + b"\x08\x06" + b"\0" * 28)   # ARP
    w.packet(good, caplen=30)                        # cut inside the IP header
    w.packet(b"\x02" * 12 + b"\x86\xdd" + b"\x60" + b"\0" * 5 + b"\x2c" + b"\0" * 33)  # v6 fragment
    w.close()
    ev, s, _ = replay(path("bad.pcap"))
    assert ev == [], ev
    sk = s["skipped"]
    assert sk["fragment"] == 2 and sk["not_tcp_udp"] == 1 and sk["not_ip"] >= 1, s
    assert sk["bad_ip"] >= 2 and sk["bad_l4"] >= 1 and sk["short"] >= 2, s


def test_truncated_and_garbage_files():
    src = one_flow("full.pcap", split(REQ, 10, 30))
    blob = open(src, "rb").read()
    for cut in (30, len(blob) - 5, len(blob) // 2):
        p = path(f"cut{cut}.pcap")
        with open(p, "wb") as fh:
            fh.write(blob[:cut])
        ev, s, _ = replay(p)
        assert s["truncated"] or cut < 40, (cut, s)
    with open(path("garbage.pcap"), "wb") as fh:
        fh.write(b"this is not a capture\n" * 10)
    rc, out, err = h.sinkd_cmd("replay", "--no-progress", path("garbage.pcap"))
    u.check_cli("garbage", rc, err)
    assert rc == 1 and out == "", (rc, out, err)
    rc, _, err = h.sinkd_cmd("replay", "--no-progress", path("missing.pcap"))
    assert rc == 1, err


def test_log_output():
    logdir = path("replaylog")
    rc, out, err = h.sinkd_cmd("replay", "-c", CFG, "--no-progress", "--log", logdir,
                               one_flow("tolog.pcap", split(REQ, 10)))
    u.check_cli("log", rc, err)
    assert rc == 0, err
    rc, out, err = h.sinkd_cmd("log", "cat", logdir)
    assert rc == 0 and json.loads(out.splitlines()[0])["http"]["url"].startswith("/alpha/"), out
    rc, out, err = h.sinkd_cmd("verify", logdir)
    assert rc == 0, out + err
    # With log.signing_key in the config, the backfilled log is signed.
    key = path("replay.key")
    rc, _, err = h.sinkd_cmd("key", "generate", key)
    assert rc == 0, err
    signed_cfg = path("signed.yaml")
    with open(signed_cfg, "w", encoding="utf-8") as fh:
        fh.write(CONFIG.replace("log: { dir: /nonexistent }",
                                f"log: {{ dir: /nonexistent, signing_key: {key} }}"))
    signed_log = path("signedlog")
    rc, out, err = h.sinkd_cmd("replay", "-c", signed_cfg, "--no-progress", "--log", signed_log,
                               path("tolog.pcap"))
    u.check_cli("replay --log signed", rc, err)
    assert rc == 0, err
    rc, out, err = h.sinkd_cmd("verify", "--key", key + ".pub", signed_log)
    assert rc == 0 and "signed heads: 2 checked" in out, out + err


def test_rules_test():
    w = pg.PcapWriter(path("rules.pcap"))
    reqs = [REQ, REQ.replace(b"GET /alpha", b"GET /zulu_"),
            b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"]
    for i, r in enumerate(reqs):
        f = pg.TcpFlow(w, "10.0.0.1", 41000 + i, "10.0.0.2", 80)
        f.handshake()
        f.send(0, r)
        f.fin(len(r))
    w.close()
    rc, out, err = h.sinkd_cmd("rules", "test", "--no-progress", CFG, path("rules.pcap"))
    u.check_cli("rules test", rc, err)
    assert rc == 0, err
    lines = out.splitlines()
    alpha = next(x for x in lines if x.startswith("rule 0"))
    never = next(x for x in lines if x.startswith("rule 2"))
    unknown = next(x for x in lines if x.startswith("unknown"))
    assert " 1 events" in alpha and "alpha/login" in alpha, out
    assert "matched nothing" in never, out
    assert " 1 events" in unknown and "/zulu_" in out, out
    assert "2 of 3 events matched a rule" in out, out


def test_one_gib_flow_bounded_memory():
    """1 GiB of request body in one flow, streamed into replay through a pipe.

    Every 64th pair of segments is swapped, so reassembly holds data the whole
    way. The body's SHA-256 computed by the HTTP module must equal Python's,
    and replay's peak memory must stay far below the flow's size.
    """
    size = 1 << 30
    seg = 60000
    block = bytes((i * 7 + 3) & 0xFF for i in range(seg))
    head = (b"POST /upload HTTP/1.1\r\nHost: big.example\r\nContent-Length: "
            + str(size).encode() + b"\r\n\r\n")
    digest = hashlib.sha256()
    args = [h.SINKD, "replay", "-c", CFG, "--summary", "json", "--no-progress", "-"]
    # Under ASan, freed blocks wait in a quarantine (256 MiB by default): keep it
    # small so the resident size measures replay, not the sanitizer.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS"), "quarantine_size_mb=16")
                                   if x)
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        w = pg.PcapWriter(p.stdin)
        f = pg.TcpFlow(w, "10.9.0.1", 45000, "10.9.0.2", 80, isn=0xFFFF0000)  # wraps
        f.handshake()
        f.send(0, head)
        off = len(head)
        sent = 0
        pending = None
        n = 0
        while sent < size:
            chunk = block[: min(seg, size - sent)]
            digest.update(chunk)
            item = (off + sent, chunk)
            sent += len(chunk)
            n += 1
            if n % 64 == 0 and pending is None:
                pending = item           # hold this one back...
                continue
            f.send(*item)
            if pending is not None:
                f.send(*pending)         # ...and send it after its successor
                pending = None
        if pending is not None:
            f.send(*pending)
        f.fin(off + size)
        w.close()  # closes replay's stdin: the end of the capture
        out = p.stdout.read()
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = err.decode(errors="replace")
    u.check_cli("1 GiB", p.returncode, err)
    assert p.returncode == 0, err[-2000:]
    ev = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
    e = only_event(ev)
    assert e["sinkhole"]["body_length"] == size, e
    assert e["sinkhole"]["body_sha256"] == digest.hexdigest(), e
    s = json.loads([x for x in err.splitlines() if x.startswith("{")][-1])
    assert s["out_of_order"] >= (size // seg) // 64 - 1 and s["gaps"] == 0, s
    assert s["peak_held"] <= 2 * seg, s
    # A release build peaks near 18 MiB; sanitizer builds need more room.
    assert ru.ru_maxrss < 160 * 1024, f"replay used {ru.ru_maxrss} KiB for a 1 GiB flow"


def cleanup():
    if not os.environ.get("SINKD_KEEP"):
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    try:
        h.run([test_in_order, test_progress, test_out_of_order, test_duplicates,
               test_overlaps_first_copy_wins, test_gap_recorded, test_keepalive_and_tx_ids,
               test_pcapng_ipv6_midstream, test_link_types, test_proxy_protocol_listener,
               test_unmatched_and_udp, test_timeout_on_capture_clock, test_malformed_frames, test_truncated_and_garbage_files, test_log_output,
               test_rules_test, test_one_gib_flow_bounded_memory], per_test_timeout=600)
    finally:
        cleanup()
