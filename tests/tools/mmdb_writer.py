#!/usr/bin/env python3
"""mmdb_writer.py — writes small MaxMind DB files (format 2.0) for sinkd's tests (stdlib only).

As a program it writes the enrichment test fixture: an IPv6 tree (IPv4 under
::/96, with the ::ffff:0:0/96 alias MaxMind files carry) whose records hold
both GeoLite2-ASN keys and a GeoLite2-Country `country.iso_code`, from random
overlapping prefixes drawn with a fixed seed:

    mmdb_writer.py OUT.mmdb [--seed N] [--prefixes N] [--ipv4-tree]

Spec: https://maxmind.github.io/MaxMind-DB/ (../shared/reference/formats.md §5).
"""

import ipaddress
import random
import struct
import sys

# --- data section encoding ------------------------------------------------------


def _ctrl(type_, size):
    """Control byte(s) for a type and payload size."""
    if type_ <= 7:
        first, ext = type_ << 5, b""
    else:
        first, ext = 0, bytes([type_ - 7])
    if size < 29:
        return bytes([first | size]) + ext
    if size < 29 + 256:
        return bytes([first | 29]) + ext + bytes([size - 29])
    if size < 285 + 65536:
        return bytes([first | 30]) + ext + struct.pack(">H", size - 285)
    return bytes([first | 31]) + ext + struct.pack(">I", size - 65821)[1:]


def _uint(type_, v, nmax):
    b = v.to_bytes(nmax, "big").lstrip(b"\0")
    return _ctrl(type_, len(b)) + b


def encode(v):
    """Encodes a Python value: dict (map), str, list (array), int (uint32), ('u16'|'u64', n)."""
    if isinstance(v, dict):
        out = _ctrl(7, len(v))
        for k, x in v.items():
            out += encode(k) + encode(x)
        return out
    if isinstance(v, str):
        b = v.encode()
        return _ctrl(2, len(b)) + b
    if isinstance(v, list):
        out = _ctrl(11, len(v))
        for x in v:
            out += encode(x)
        return out
    if isinstance(v, tuple) and v[0] == "u16":
        return _uint(5, v[1], 2)
    if isinstance(v, tuple) and v[0] == "u64":
        return _uint(9, v[1], 8)
    if isinstance(v, int):
        return _uint(6, v, 4)
    raise TypeError(v)


# --- the search tree ------------------------------------------------------------


class Node:
    __slots__ = ("kids", "num")

    def __init__(self, left=None, right=None):
        self.kids = [left, right]
        self.num = -1


class Leaf:
    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


def insert(root, bits, key):
    """Inserts a prefix (list of bits) with a data key; shorter prefixes must come first."""
    node = root
    for i, b in enumerate(bits):
        if i == len(bits) - 1:
            node.kids[b] = Leaf(key)
            return
        child = node.kids[b]
        if isinstance(child, Leaf):
            child = Node(child, child)  # a less specific record is pushed down
            node.kids[b] = child
        elif child is None:
            child = Node()
            node.kids[b] = child
        node = child


def bits_of(net):
    n = int(net.network_address)
    width = 128
    if net.version == 4:
        n, width = n, 32
    return [(n >> (width - 1 - i)) & 1 for i in range(net.prefixlen)], width


def build(records, ip_version=6, alias=True, description="sinkd test fixture"):
    """records: list of (ipaddress network, dict). Returns the file bytes."""
    root = Node()
    keyed = []
    for net, val in records:
        bits, width = bits_of(net)
        if ip_version == 6 and net.version == 4:
            bits = [0] * 96 + bits
        keyed.append((len(bits), bits, val))
    keyed.sort(key=lambda t: t[0])
    data = bytearray()
    offsets = {}
    for _, bits, val in keyed:
        enc = encode(val)
        if enc not in offsets:
            offsets[enc] = len(data)
            data += enc
        if bits:
            insert(root, bits, offsets[enc])
    if ip_version == 6 and alias:
        # ::ffff:0:0/96 leads to the same node as ::/96, as in MaxMind's files.
        v4 = root
        for _ in range(96):
            if not isinstance(v4, Node):
                break
            v4 = v4.kids[0]
        if isinstance(v4, Node):
            path = [0] * 80 + [1] * 16
            node = root
            for b in path[:-1]:
                if not isinstance(node.kids[b], Node):
                    node.kids[b] = Node(node.kids[b], node.kids[b]) if node.kids[b] else Node()
                node = node.kids[b]
            node.kids[path[-1]] = v4
    # Number the nodes breadth first (an alias is numbered once).
    order, queue = [], [root]
    while queue:
        n = queue.pop(0)
        if n.num >= 0:
            continue
        n.num = len(order)
        order.append(n)
        for k in n.kids:
            if isinstance(k, Node) and k.num < 0:
                queue.append(k)
    count = len(order)
    tree = bytearray()
    for n in order:
        rec = []
        for k in n.kids:
            if k is None:
                rec.append(count)
            elif isinstance(k, Node):
                rec.append(k.num)
            else:
                rec.append(count + 16 + k.key)
        for r in rec:
            if r >= 1 << 32:
                raise ValueError("database too large for 32-bit records")
        tree += struct.pack(">II", rec[0], rec[1])
    meta = {
        "node_count": count,
        "record_size": ("u16", 32),
        "ip_version": ("u16", ip_version),
        "database_type": "sinkd-Test",
        "languages": ["en"],
        "binary_format_major_version": ("u16", 2),
        "binary_format_minor_version": ("u16", 0),
        "build_epoch": ("u64", 1700000000),
        "description": {"en": description},
    }
    return bytes(tree) + b"\0" * 16 + bytes(data) + b"\xab\xcd\xefMaxMind.com" + encode(meta)


# --- the fixture ----------------------------------------------------------------


def fixture_records(seed, n, ipv4_tree):
    rnd = random.Random(seed)
    ccs = ["DE", "US", "GB", "BR", "FR", "NL", "JP", "AU"]
    recs = []

    def rec(i):
        return {"autonomous_system_number": 64496 + i,
                "autonomous_system_organization": f"Test Org {i} \u00e9",
                "country": {"iso_code": ccs[i % len(ccs)]}}

    # Wide records (a "default route") that more specific ones cut into.
    recs.append((ipaddress.ip_network("0.0.0.0/1"), rec(0)))
    if not ipv4_tree:
        recs.append((ipaddress.ip_network("2000::/3"), rec(1)))
    for i in range(n):
        v6 = not ipv4_tree and rnd.random() < 0.4
        if v6:
            plen = rnd.randint(8, 64)
            a = (0x2000 << 112) | rnd.getrandbits(125) if rnd.random() < 0.8 else rnd.getrandbits(128)
            net = ipaddress.ip_network((a >> (128 - plen) << (128 - plen), plen))
        else:
            plen = rnd.randint(1, 32)
            a = rnd.getrandbits(32)
            net = ipaddress.ip_network((a >> (32 - plen) << (32 - plen), plen))
        recs.append((net, rec(2 + i % 500)))
    return recs


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out, seed, n, v4tree = argv[0], 1, 2000, False
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a == "--seed":
            seed = int(args.pop(0))
        elif a == "--prefixes":
            n = int(args.pop(0))
        elif a == "--ipv4-tree":
            v4tree = True
        else:
            print(f"mmdb_writer: unknown option {a}", file=sys.stderr)
            return 2
    recs = fixture_records(seed, n, v4tree)
    blob = build(recs, ip_version=4 if v4tree else 6)
    with open(out, "wb") as f:
        f.write(blob)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
