"""dns_wire.py — a small stdlib DNS message codec for the DNS end-to-end tests (queries out, answers in)."""

import random
import socket
import struct

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "HINFO": 13, "MX": 15, "TXT": 16, "AAAA": 28,
         "OPT": 41, "AXFR": 252, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
# Two seized zones for size limits, appended to the tests' `dns.zones`: big.test has
# 16 A and 10 AAAA (NS glue that does not fit 512 bytes), huge.test 40 A (an answer
# that does not fit: TC over UDP).
BIG_ZONES = """    - family: many
      names: [big.test]
      a: [%s]
      aaaa: [%s]
    - family: huge
      names: [huge.test]
      a: [%s]
""" % (", ".join(f"10.0.0.{i}" for i in range(1, 17)),
       ", ".join(f'"2001:db8::{i:x}"' for i in range(1, 11)),
       ", ".join(f"10.1.0.{i}" for i in range(1, 41)))

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          16: "BADVERS"}


def name_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            b = label.encode()
            out += bytes([len(b)]) + b
    return out + b"\0"


def query(name, qtype="A", qid=None, rd=False, edns=None, do=False, ecs=None, qclass=1,
          edns_version=0, opcode=0):
    """A query message. edns: UDP size (None: no OPT); ecs: ("203.0.113.0", 24)."""
    qid = random.randrange(65536) if qid is None else qid
    flags = (opcode << 11) | (0x0100 if rd else 0)
    t = TYPES[qtype] if isinstance(qtype, str) else qtype
    msg = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    msg += name_wire(name) + struct.pack(">HH", t, qclass)
    if edns:
        opts = b""
        if ecs:
            addr, plen = ecs
            fam = 2 if ":" in addr else 1
            raw = socket.inet_pton(socket.AF_INET6 if fam == 2 else socket.AF_INET, addr)
            raw = raw[:(plen + 7) // 8]
            opts += struct.pack(">HHHBB", 8, 4 + len(raw), fam, plen, 0) + raw
        ttl = (edns_version << 16) | (0x8000 if do else 0)
        msg += b"\0" + struct.pack(">HHIH", 41, edns, ttl, len(opts)) + opts
    return msg


def read_name(msg, off, hops=0):
    labels = []
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            ptr = ((n & 0x3F) << 8) | msg[off + 1]
            assert hops < 64, "pointer loop in answer"
            rest, _ = read_name(msg, ptr, hops + 1)
            return ".".join(labels + ([rest] if rest else [])), off + 2
        off += 1
        if n == 0:
            return ".".join(labels), off
        labels.append(msg[off:off + n].decode("latin-1"))
        off += n


def parse(msg):
    """An answer as a dict: id, flags, rcode (with extended bits), qd, an, ns, ar lists, opt."""
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    r = {"id": qid, "flags": flags, "qr": bool(flags & 0x8000), "aa": bool(flags & 0x0400),
         "tc": bool(flags & 0x0200), "rd": bool(flags & 0x0100), "ra": bool(flags & 0x0080),
         "opcode": (flags >> 11) & 15, "rcode_low": flags & 15, "question": [], "answer": [],
         "authority": [], "additional": [], "opt": None}
    for _ in range(qd):
        name, off = read_name(msg, off)
        t, c = struct.unpack(">HH", msg[off:off + 4])
        off += 4
        r["question"].append((name, t, c))
    for sect, count in (("answer", an), ("authority", ns), ("additional", ar)):
        for _ in range(count):
            name, off = read_name(msg, off)
            t, c, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
            off += 10
            rd = msg[off:off + rdlen]
            rdoff = off
            off += rdlen
            if t == 41:
                r["opt"] = {"size": c, "ext_rcode": ttl >> 24, "version": (ttl >> 16) & 255,
                            "do": bool(ttl & 0x8000), "options": _opts(rd)}
                continue
            r[sect].append((name, TYPE_NAMES.get(t, t), ttl, _rdata(msg, t, rd, rdoff)))
    assert off == len(msg), f"{len(msg) - off} trailing bytes in the answer"
    ext = r["opt"]["ext_rcode"] if r["opt"] else 0
    r["rcode"] = RCODES.get((ext << 4) | r["rcode_low"], (ext << 4) | r["rcode_low"])
    return r


def _opts(rd):
    out, off = [], 0
    while off < len(rd):
        code, ln = struct.unpack(">HH", rd[off:off + 4])
        out.append((code, rd[off + 4:off + 4 + ln]))
        off += 4 + ln
    return out


def _rdata(msg, t, rd, rdoff):
    if t == 1:
        return socket.inet_ntop(socket.AF_INET, rd)
    if t == 28:
        return socket.inet_ntop(socket.AF_INET6, rd)
    if t == 2:
        return read_name(msg, rdoff)[0]
    if t == 6:
        mname, o = read_name(msg, rdoff)
        rname, o = read_name(msg, o)
        return (mname, rname) + struct.unpack(">IIIII", msg[o:o + 20])
    return rd


def udp(port, msg, timeout=3.0, host="127.0.0.1"):
    """Sends one datagram; returns the answer bytes or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(msg, (host, port))
        try:
            return s.recvfrom(65535)[0]
        except socket.timeout:
            return None


def flood(port, msg, n, host="127.0.0.1", wait=0.3):
    """Sends msg n times from one socket as fast as possible; returns the answers parsed."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    got = []
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        for _ in range(n):
            s.sendto(msg, (host, port))
        try:
            while True:
                got.append(parse(s.recvfrom(4096)[0]))
        except OSError:
            pass
    return got


def tcp(port, msgs, timeout=5.0, host="127.0.0.1"):
    """Sends the messages pipelined in one write; returns the answers read (in order)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"".join(struct.pack(">H", len(m)) + m for m in msgs))
        out, buf = [], b""
        while len(out) < len(msgs):
            chunk = s.recv(65535)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                n = struct.unpack(">H", buf[:2])[0]
                out.append(buf[2:2 + n])
                buf = buf[2 + n:]
        return out
