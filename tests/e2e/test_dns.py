"""test_dns.py — the DNS sinkhole end to end: dig and kdig field by field, TCP pipelining and fallback, EDNS, ECS, RRL, malformed packets, reload, events."""

import os
import re
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns_wire as w  # noqa: E402
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

CONFIG = """\
sensor: { id: e2e }
log: { dir: "$log_dir", fsync: interval, fsync_interval_ms: 20 }
log_level: debug
workers: 2
pid_file: "$dir/sinkd.pid"
listen:
  - { name: dns, proto: dns, addr: "127.0.0.1:$port0" }
dns:
  ttl: 600
  a: [192.0.2.10, 192.0.2.11]
  aaaa: [2001:db8::10]
  ns: [ns1, ns2.sinkhole-ops.test]
  soa: { rname: hostmaster, serial: 2026112801, refresh: 3600, retry: 600, expire: 86400, minimum: 120 }
  rrl: { responses_per_second: $rate, slip: 2 }
  zones:
    - family: rustock
      files: [zones.txt]
    - family: conficker
      tag: dga
      names: [cf-seized.test]
      a: [198.51.100.7]
      ttl: 60
""" + w.BIG_ZONES

ZONES = "# seized by court order\nrustock-cc.test\nEvil-Two.example. ; with a dot\n\n"


def start(rate=0, zones=ZONES):
    d = h.Sinkd(yaml_text=CONFIG.replace("$rate", str(rate)), nports=1, start=False)
    with open(os.path.join(d.dir, "zones.txt"), "w", encoding="ascii") as f:
        f.write(zones)
    d.start()
    return d


def dig(port, *args, tool="dig"):
    p = subprocess.run([tool, "@127.0.0.1", "-p", str(port), *args], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, f"{tool} {args} exited {p.returncode}: {p.stderr}"
    return p.stdout


def section(out, name):
    """The record lines of one section of dig/kdig output, as lists of fields."""
    m = re.search(r";; " + name + r" SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    if not m:
        return []
    return [ln.split() for ln in m.group(1).splitlines() if ln and not ln.startswith(";")]


def status(out):
    return re.search(r"status: (\w+)", out).group(1)


def flags_of(out):
    return set(re.search(r"[Ff]lags: ([a-z ]*);", out).group(1).split())


def test_dig_answers():
    with start() as d:
        port = d.port()
        # A below a seized name, case preserved (0x20), authoritative, no recursion offered.
        out = dig(port, "+norec", "wWw.Rustock-CC.Test", "A")
        assert status(out) == "NOERROR" and flags_of(out) == {"qr", "aa"}, out
        assert sorted(section(out, "ANSWER")) == [
            ["wWw.Rustock-CC.Test.", "600", "IN", "A", "192.0.2.10"],
            ["wWw.Rustock-CC.Test.", "600", "IN", "A", "192.0.2.11"]], out
        assert section(out, "AUTHORITY") == [] and "udp: 1232" in out, out
        # AAAA, RD copied.
        out = dig(port, "+rec", "a.b.evil-two.example", "AAAA")
        assert flags_of(out) == {"qr", "aa", "rd"}, out
        assert section(out, "ANSWER") == [["a.b.evil-two.example.", "600", "IN", "AAAA",
                                           "2001:db8::10"]], out
        # SOA at the apex.
        out = dig(port, "rustock-cc.test", "SOA")
        assert section(out, "ANSWER") == [[
            "rustock-cc.test.", "600", "IN", "SOA", "ns1.rustock-cc.test.",
            "hostmaster.rustock-cc.test.", "2026112801", "3600", "600", "86400", "120"]], out
        # NS at the apex: in-zone ns1 has glue (A and AAAA), the absolute name has none.
        out = dig(port, "rustock-cc.test", "NS")
        assert sorted(section(out, "ANSWER")) == [
            ["rustock-cc.test.", "600", "IN", "NS", "ns1.rustock-cc.test."],
            ["rustock-cc.test.", "600", "IN", "NS", "ns2.sinkhole-ops.test."]], out
        assert sorted(section(out, "ADDITIONAL")) == [
            ["ns1.rustock-cc.test.", "600", "IN", "A", "192.0.2.10"],
            ["ns1.rustock-cc.test.", "600", "IN", "A", "192.0.2.11"],
            ["ns1.rustock-cc.test.", "600", "IN", "AAAA", "2001:db8::10"]], out
        # NODATA: MX below a seized name, SOA in authority with TTL min(ttl, minimum).
        out = dig(port, "x.cf-seized.test", "MX")
        assert status(out) == "NOERROR" and "aa" in flags_of(out), out
        assert section(out, "ANSWER") == [], out
        auth = section(out, "AUTHORITY")
        assert len(auth) == 1 and auth[0][:4] == ["cf-seized.test.", "60", "IN", "SOA"], out
        # SOA asked below the apex: NODATA too.
        out = dig(port, "x.cf-seized.test", "SOA")
        assert section(out, "ANSWER") == [] and section(out, "AUTHORITY")[0][3] == "SOA", out
        # Per-zone addresses and TTL; AAAA absent there (override without aaaa): NODATA.
        out = dig(port, "cf-seized.test", "A")
        assert section(out, "ANSWER") == [["cf-seized.test.", "60", "IN", "A",
                                           "198.51.100.7"]], out
        out = dig(port, "cf-seized.test", "AAAA")
        assert section(out, "ANSWER") == [] and status(out) == "NOERROR", out
        # RFC 8482 ANY: one RRset (the A set), not everything.
        out = dig(port, "rustock-cc.test", "ANY")
        ans = section(out, "ANSWER")
        assert ans and {r[3] for r in ans} == {"A"}, out
        # Outside every seized zone: REFUSED, no AA, nothing answered.
        for name in ("google.com", "test", "rustock-cc.test.evil.org", "xrustock-cc.test"):
            out = dig(port, name, "A")
            assert status(out) == "REFUSED" and "aa" not in flags_of(out), out
            assert section(out, "ANSWER") == [], out
        # Class CH and zone transfers: REFUSED.
        out = dig(port, "-c", "CH", "rustock-cc.test", "TXT")
        assert status(out) == "REFUSED", out
        out = dig(port, "+tcp", "rustock-cc.test", "AXFR")
        assert "Transfer failed" in out or "REFUSED" in out, out
        # EDNS version 1: BADVERS with an OPT.
        out = dig(port, "+edns=1", "+noednsnegotiation", "rustock-cc.test", "A")
        assert status(out) == "BADVERS", out
        # No EDNS: no OPT in the answer.
        out = dig(port, "+noedns", "rustock-cc.test", "A")
        assert "OPT PSEUDOSECTION" not in out and status(out) == "NOERROR", out
        # DO bit copied.
        out = dig(port, "+dnssec", "rustock-cc.test", "A")
        assert re.search(r"EDNS: version: 0, flags: do;", out), out
        u.stop_clean(d)


def test_kdig_answers():
    with start() as d:
        port = d.port()
        out = dig(port, "+norec", "Deep.Sub.Evil-Two.Example", "A", tool="kdig")
        assert status(out) == "NOERROR" and flags_of(out) == {"qr", "aa"}, out
        assert sorted(r[-1] for r in section(out, "ANSWER")) == ["192.0.2.10", "192.0.2.11"]
        # kdig lower-cases the name it sends; the answer's owner is the name as sent.
        assert all(r[0] == "deep.sub.evil-two.example." for r in section(out, "ANSWER")), out
        out = dig(port, "+tcp", "evil-two.example", "NS", tool="kdig")
        assert len(section(out, "ANSWER")) == 2 and len(section(out, "ADDITIONAL")) == 3, out
        out = dig(port, "+subnet=203.0.113.77/24", "cf-seized.test", "A", tool="kdig")
        assert re.search(r"CLIENT-SUBNET: 203\.0\.113\.0/24/0", out), out
        out = dig(port, "nonexistent.example", "A", tool="kdig")
        assert status(out) == "REFUSED", out
        u.stop_clean(d)


def test_wire_fields_and_events():
    """Field-by-field on the wire, then the same queries in the event log and EVE."""
    with start() as d:
        port = d.port()
        q = w.query("Www.Rustock-CC.test", "A", qid=0x1234, rd=True, edns=4096,
                    ecs=("203.0.113.77", 24))
        r = w.parse(w.udp(port, q))
        assert r["id"] == 0x1234 and r["qr"] and r["aa"] and r["rd"] and not r["ra"], r
        assert not r["tc"] and r["rcode"] == "NOERROR" and r["opcode"] == 0, r
        assert r["question"] == [("Www.Rustock-CC.test", 1, 1)], r
        assert sorted(r["answer"]) == [("Www.Rustock-CC.test", "A", 600, "192.0.2.10"),
                                       ("Www.Rustock-CC.test", "A", 600, "192.0.2.11")], r
        assert r["opt"]["size"] == 1232 and r["opt"]["version"] == 0, r
        # ECS echoed with scope 0 (RFC 7871 §7.2.1), address cut to the source prefix.
        assert r["opt"]["options"] == [(8, struct.pack(">HBB", 1, 24, 0) + bytes([203, 0, 113]))]
        # No EDNS and an answer over 512 bytes: TC, empty sections; TCP gives it all.
        q2 = w.query("huge.test", "A", qid=7)
        r2 = w.parse(w.udp(port, q2))
        assert r2["tc"] and r2["answer"] == r2["additional"] == [] and r2["aa"], r2
        (raw,) = w.tcp(port, [q2])
        r3 = w.parse(raw)
        assert not r3["tc"] and len(r3["answer"]) == 40, r3
        # Glue that does not fit is left out whole (A sets first), without TC.
        r5 = w.parse(w.udp(port, w.query("big.test", "NS", qid=8)))
        assert not r5["tc"] and len(r5["answer"]) == 2, r5
        assert len(r5["additional"]) == 16 and {x[1] for x in r5["additional"]} == {"A"}, r5
        (raw,) = w.tcp(port, [w.query("big.test", "NS", qid=9)])
        assert len(w.parse(raw)["additional"]) == 26
        # Opcode other than QUERY: NOTIMP.
        r4 = w.parse(w.udp(port, w.query("rustock-cc.test", "A", qid=11, opcode=2)))
        assert r4["rcode"] == "NOTIMP" and not r4["aa"], r4
        # A label holding a dot and an odd byte, below a seized name: answered; the event
        # escapes them in the name and still names the zone in lower case.
        odd = (struct.pack(">HHHHHH", 12, 0, 1, 0, 0, 0) + b"\x05a.b\x07Z" +
               w.name_wire("Rustock-CC.test") + struct.pack(">HH", 1, 1))
        r6 = w.parse(w.udp(port, odd))
        assert r6["rcode"] == "NOERROR" and len(r6["answer"]) == 2, r6
        evs = h.wait_until(lambda: [e for e in d.events() if e["event_type"] == "dns"]
                           if len(d.events()) >= 7 else None, what="7 events")
        by_id = {}
        for ev in evs:
            by_id.setdefault(ev["dns"]["id"], []).append(ev)
        e = by_id[0x1234][0]
        u.expect_fields(e, "top", proto="UDP", app_proto="dns", src_ip="127.0.0.1",
                        dest_port=port)
        u.expect_fields(e, "dns", version=3, type="response", id=0x1234, flags="8500", qr=True,
                        aa=True, rd=True, rcode="NOERROR", opcode=0,
                        queries=[{"rrname": "Www.Rustock-CC.test", "rrtype": "A"}])
        assert e["dns"]["grouped"] == {"A": ["192.0.2.10", "192.0.2.11"]}, e
        assert {"rrname": "Www.Rustock-CC.test", "rrtype": "A", "ttl": 600,
                "rdata": "192.0.2.10"} in e["dns"]["answers"], e
        u.expect_fields(e, "sinkhole", family="rustock", client_kind="resolver",
                        zone="rustock-cc.test", qclass=1, action="answered",
                        client_subnet="203.0.113.0/24",
                        edns={"udp_size": 4096, "version": 0, "do": False})
        (t1,) = [x for x in by_id[7] if x["proto"] == "UDP"]
        assert t1["dns"]["tc"] is True and t1["sinkhole"]["action"] == "truncated", t1
        assert t1["sinkhole"]["family"] == "huge", t1
        tcp_ev = [e for e in evs if e["proto"] == "TCP"]
        assert len(tcp_ev) == 2 and tcp_ev[0]["dns"]["rcode"] == "NOERROR", evs
        (n1,) = by_id[11]
        assert n1["dns"]["rcode"] == "NOTIMP" and n1["sinkhole"]["family"] == "unknown", n1
        (o1,) = by_id[12]
        assert o1["dns"]["queries"] == [{"rrname": "a\\.b\\007Z.Rustock-CC.test",
                                         "rrtype": "A"}], o1
        assert o1["sinkhole"]["zone"] == "rustock-cc.test", o1
        u.stop_clean(d)


def test_tcp_pipelining_and_idle():
    with start() as d:
        port = d.port()
        qs = [w.query(f"h{i}.rustock-cc.test", "A", qid=i) for i in range(20)]
        answers = w.tcp(port, qs)
        assert [w.parse(a)["id"] for a in answers] == list(range(20))
        assert all(w.parse(a)["question"][0][0] == f"h{i}.rustock-cc.test"
                   for i, a in enumerate(answers))
        # A message split across writes is reassembled.
        s = h.connect(port)
        m = w.query("split.rustock-cc.test", "AAAA", qid=99)
        framed = struct.pack(">H", len(m)) + m
        s.sendall(framed[:5])
        time.sleep(0.2)
        s.sendall(framed[5:])
        buf = h.recv_until(s, b"\x20\x01\x0d\xb8")
        assert w.parse(buf[2:])["id"] == 99
        s.close()
        u.stop_clean(d)


def test_malformed_recorded_never_crash():
    with start() as d:
        port = d.port()
        hdr = struct.pack(">HHHHHH", 0xBEEF, 0, 1, 0, 0, 0)
        cases = {
            # question name points at itself
            "loop": hdr + b"\xc0\x0c" + b"\x00\x01\x00\x01",
            # pointer forward
            "forward": hdr + b"\xc0\x20" + b"\x00\x01\x00\x01" + b"\0" * 20,
            # label longer than 63
            "long-label": hdr + b"\x40" + b"a" * 64 + b"\0\x00\x01\x00\x01",
            # name longer than 255
            "long-name": hdr + (b"\x3f" + b"a" * 63) * 5 + b"\0\x00\x01\x00\x01",
            # question cut short
            "cut": hdr + b"\x03abc",
            # bogus counts: 65535 answers promised, none present
            "counts": struct.pack(">HHHHHH", 0xBEEF, 0, 1, 65535, 65535, 65535)
            + w.name_wire("rustock-cc.test") + b"\x00\x01\x00\x01",
            # truncated resource record in the additional section
            "rr-cut": struct.pack(">HHHHHH", 0xBEEF, 0, 1, 0, 0, 1)
            + w.name_wire("rustock-cc.test") + b"\x00\x01\x00\x01" + b"\0\x00\x29\x10",
            # two questions
            "qdcount": struct.pack(">HHHHHH", 0xBEEF, 0, 2, 0, 0, 0)
            + w.name_wire("a.test") + b"\x00\x01\x00\x01",
            # a bad client subnet option (bits set beyond the prefix)
            "ecs": w.query("rustock-cc.test", "A", qid=0xBEEF, edns=1232,
                           ecs=("203.0.112.0", 20))[:-1] + b"\x7f",
        }
        for name, pkt in cases.items():
            ans = w.udp(port, pkt, timeout=2)
            assert ans is not None, f"{name}: no answer"
            r = w.parse(ans)
            assert r["id"] == 0xBEEF and r["rcode"] == "FORMERR" and r["qr"], (name, r)
        # Too short for a header, and a response: no answer at all (no reflection loops).
        assert w.udp(port, b"\x01\x02\x03", timeout=0.5) is None
        resp = bytearray(w.query("rustock-cc.test", "A"))
        resp[2] |= 0x80
        assert w.udp(port, bytes(resp), timeout=0.5) is None
        # TCP garbage: a message cut by the peer.
        s = h.connect(port)
        s.sendall(b"\x00\x40" + b"\x12\x34")
        s.shutdown(1)
        assert h.is_closed(s)
        s.close()
        n = len(cases) + 3
        evs = h.wait_until(lambda: (lambda e: e if len(e) >= n else None)(d.events()),
                           what=f"{n} events")
        bad = [e for e in evs if "malformed" in u.flags(e)]
        assert len(bad) == n - 1, [e["sinkhole"] for e in evs]
        assert all(e["sinkhole"]["reason"] and "raw_prefix" in e["sinkhole"] for e in bad)
        quiet = [e for e in evs if "no_answer" in u.flags(e)]
        assert len(quiet) == 3, [e["sinkhole"] for e in evs]
        assert d.running()
        u.stop_clean(d)


def test_rrl_slip_and_count():
    with start(rate=5) as d:
        port = d.port()
        q = w.query("flood.rustock-cc.test", "A", edns=1232)
        got = w.flood(port, q, 40)
        full = [r for r in got if not r["tc"]]
        slips = [r for r in got if r["tc"]]
        # SO_REUSEPORT: one source port always reaches the same worker.
        assert 5 <= len(full) <= 10, len(full)
        assert slips and all(r["answer"] == [] for r in slips), len(slips)
        assert len(full) + len(slips) < 40
        st = u.wait_stats(d, lambda s: s.get("dns", {}).get("rrl_dropped", 0) > 0,
                          what="rrl counters")
        assert st["dns"]["rrl_dropped"] + st["dns"]["rrl_slipped"] == 40 - len(full), st
        assert st["dns"]["rrl_slipped"] == len(slips), st
        evs = h.wait_until(lambda: (lambda e: e if len(e) >= 40 else None)(d.events()),
                           what="40 events")
        actions = [e["sinkhole"]["action"] for e in evs]
        assert actions.count("rrl-drop") == st["dns"]["rrl_dropped"], actions
        assert actions.count("rrl-slip") == len(slips), actions
        # TCP is never rate limited.
        assert len(w.tcp(port, [q] * 10)) == 10
        u.stop_clean(d)


def test_burst_then_single_queries():
    """Bursts are answered in full, and the socket is still served after each one.

    A worker takes a busy UDP socket out of epoll while it drains a batch and
    puts it back afterwards: a socket left out would answer nothing more.
    """
    with start() as d:
        port = d.port()
        q = w.query("burst.rustock-cc.test", "A")
        for rnd in range(3):
            got = w.flood(port, q, 200, wait=1.0)
            assert len(got) == 200 and all(r["rcode"] == "NOERROR" for r in got), (rnd, len(got))
            raw = w.udp(port, w.query(f"single{rnd}.rustock-cc.test", "A"))
            assert raw is not None, f"no answer after burst {rnd}: the socket is no longer served"
            one = w.parse(raw)
            assert one["rcode"] == "NOERROR" and one["answer"], one
        evs = h.wait_until(lambda: (lambda e: e if len(e) >= 603 else None)(d.events()),
                           what="603 events")
        assert len(evs) == 603, len(evs)
        u.stop_clean(d)


def test_reload_zone_list():
    with start() as d:
        port = d.port()
        assert w.parse(w.udp(port, w.query("new-seizure.test", "A")))["rcode"] == "REFUSED"
        with open(os.path.join(d.dir, "zones.txt"), "a", encoding="ascii") as f:
            f.write("new-seizure.test\n")
        d.reload()
        h.wait_until(lambda: w.parse(w.udp(port, w.query("x.new-seizure.test", "A")))["rcode"]
                     == "NOERROR", what="reloaded zone answers")
        # A broken list keeps the running table.
        with open(os.path.join(d.dir, "zones.txt"), "a", encoding="ascii") as f:
            f.write("not a name!\n")
        d.reload()
        h.wait_until(lambda: any("not a valid seized domain name" in m
                                 for _, m in d.log_lines()), what="reload error logged")
        assert w.parse(w.udp(port, w.query("x.new-seizure.test", "A")))["rcode"] == "NOERROR"
        u.stop_clean(d)


def test_wildcard_bind_answers_from_the_address_asked():
    """Bound to 0.0.0.0: the answer leaves from the address the query was sent to (IP_PKTINFO)."""
    text = CONFIG.replace("$rate", "0").replace('addr: "127.0.0.1:$port0"', 'addr: "0.0.0.0:$port0"')
    d = h.Sinkd(yaml_text=text, nports=1, start=False)
    with open(os.path.join(d.dir, "zones.txt"), "w", encoding="ascii") as f:
        f.write(ZONES)
    with d.start():
        port = d.port()
        for dst in ("127.0.0.1", "127.0.0.2", "127.3.4.5"):
            with __import__("socket").socket(2, 2) as s:
                s.settimeout(3)
                s.connect((dst, port))  # a connected socket drops datagrams from any other address
                s.send(w.query("rustock-cc.test", "A", qid=0x77))
                r = w.parse(s.recv(4096))
                assert r["id"] == 0x77 and r["rcode"] == "NOERROR", r
        evs = h.wait_until(lambda: (lambda e: e if len(e) >= 3 else None)(d.events()),
                           what="3 events")
        assert sorted(e["dest_ip"] for e in evs) == ["127.0.0.1", "127.0.0.2", "127.3.4.5"], evs
        u.stop_clean(d)


def custom(replacements, rate=0):
    text = CONFIG.replace("$rate", str(rate))
    for a, b in replacements:
        assert a in text, a
        text = text.replace(a, b)
    d = h.Sinkd(yaml_text=text, nports=1, start=False)
    with open(os.path.join(d.dir, "zones.txt"), "w", encoding="ascii") as f:
        f.write(ZONES)
    return d.start()


def test_answered_mode_udp_and_tcp():
    """fsync: answered — UDP replies are held until their event is on disk, then sent."""
    with custom([("fsync: interval, fsync_interval_ms: 20", "fsync: answered")]) as d:
        port = d.port()
        for i in range(50):
            r = w.parse(w.udp(port, w.query(f"q{i}.rustock-cc.test", "A", qid=i)))
            assert r["id"] == i and r["rcode"] == "NOERROR", r
        assert len(w.tcp(port, [w.query("t.rustock-cc.test", "A")] * 5)) == 5
        st = u.wait_stats(d, lambda s: s["events"]["written"] >= 55, what="55 written")
        assert st["datagrams"]["held_dropped"] == 0 and st["log"]["syncs"] > 0, st
        u.stop_clean(d)


def test_tcp_idle_timeout():
    with custom([("  rrl:", "  tcp_idle_timeout_ms: 300\n  rrl:")]) as d:
        s = h.connect(d.port())
        t0 = time.monotonic()
        assert h.is_closed(s, timeout=5), "idle TCP connection not closed"
        assert time.monotonic() - t0 < 3
        s.close()
        # Half a message at the timeout is recorded as malformed.
        s = h.connect(d.port())
        s.sendall(b"\x00\x20\x12\x34")
        assert h.is_closed(s, timeout=5)
        s.close()
        evs = h.wait_until(lambda: d.events() or None, what="an event")
        assert len(evs) == 1 and "malformed" in u.flags(evs[0]), evs
        assert "idle timeout" in evs[0]["sinkhole"]["reason"], evs
        u.stop_clean(d)


def test_ipv6_listener_and_rrl_prefix():
    import socket as so
    if not so.has_ipv6:
        raise h.Skip("no IPv6")
    with custom([('addr: "127.0.0.1:$port0"', 'addr: "[::1]:$port0"')], rate=3) as d:
        port = d.port()
        q = w.query("v6.rustock-cc.test", "AAAA", edns=1232, ecs=("2001:db8:aa::", 48))
        got = w.flood(port, q, 12, host="::1")
        full = [r for r in got if not r["tc"]]
        assert 3 <= len(full) <= 6 and full[0]["answer"][0][3] == "2001:db8::10", got
        ecs = struct.pack(">HBB", 2, 48, 0) + bytes.fromhex("20010db800aa")
        assert full[0]["opt"]["options"] == [(8, ecs)], full[0]
        evs = h.wait_until(lambda: (lambda e: e if len(e) >= 12 else None)(d.events()),
                           what="12 events")
        assert all(e["src_ip"] == "0000:0000:0000:0000:0000:0000:0000:0001" for e in evs), evs[0]
        assert evs[0]["sinkhole"]["client_subnet"] == "2001:db8:aa::/48", evs[0]
        assert sum(1 for e in evs if "limit" in u.flags(e)) == 12 - len(full)
        u.stop_clean(d)


def test_zones_export_formats():
    d = start()
    try:
        out_dir = os.path.join(d.dir, "nsd-out")
        rc, _, err = h.sinkd_cmd("zones", "export", "-c", d.config_path, "--format", "nsd",
                                 "-o", out_dir)
        assert rc == 0, err
        conf = open(os.path.join(out_dir, "nsd.conf"), encoding="ascii").read()
        assert conf.count("zone:") == 5 and 'name: "evil-two.example"' in conf, conf
        zone = open(os.path.join(out_dir, "sinkd-group-0.zone"), encoding="ascii").read()
        assert "@ 600 IN SOA ns1 hostmaster 2026112801 3600 600 86400 120" in zone, zone
        assert "* 600 IN A 192.0.2.10" in zone and "ns2.sinkhole-ops.test." in zone, zone
        rc, out, err = h.sinkd_cmd("zones", "export", "-c", d.config_path, "--format", "rpz")
        assert rc == 0 and "*.cf-seized.test 60 IN A 198.51.100.7" in out, out + err
        rc, _, err = h.sinkd_cmd("zones", "export", "-c", d.config_path, "--format", "bind",
                                 "-o", os.path.join(d.dir, "bind-out"))
        assert rc == 0, err
        named = open(os.path.join(d.dir, "bind-out", "named.conf"), encoding="ascii").read()
        assert 'zone "rustock-cc.test" { type primary;' in named, named
        rc, _, _ = h.sinkd_cmd("zones", "export", "-c", d.config_path, "--format", "djbdns")
        assert rc == 2
    finally:
        d.stop()


if __name__ == "__main__":
    h.run([test_dig_answers, test_kdig_answers, test_wire_fields_and_events,
           test_tcp_pipelining_and_idle, test_malformed_recorded_never_crash,
           test_rrl_slip_and_count, test_burst_then_single_queries, test_reload_zone_list,
           test_wildcard_bind_answers_from_the_address_asked, test_answered_mode_udp_and_tcp,
           test_tcp_idle_timeout, test_ipv6_listener_and_rrl_prefix, test_zones_export_formats])
