"""make_seeds.py — writes the seed corpus of fuzz_replay (small crafted captures) with tests/e2e/pcapgen.py."""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "e2e"))
import pcapgen as pg  # noqa: E402

REQ = b"GET /a/x.php?id=1 HTTP/1.1\r\nHost: c.example.com\r\nUser-Agent: b\r\n\r\n"
POST = b"POST /p HTTP/1.1\r\nHost: x.example.com\r\nContent-Length: 5\r\n\r\nhello"
out = os.path.join(here, "corpus")


def flow(name, segs, ng=False, v6=False, port=80, prefix=b"", handshake=True, fin=True):
    w = pg.PcapWriter(os.path.join(out, name), ng=ng)
    cli, srv = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
    f = pg.TcpFlow(w, cli, 40000, srv, port)
    if handshake:
        f.handshake()
    data = prefix + REQ + POST
    total = 0
    for off, n in segs:
        f.send(off, data[off:off + n])
        total = max(total, off + n)
    f.answer(0, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    if fin:
        f.fin(total)
    w.close()


n = len(REQ) + len(POST)
flow("inorder.pcap", [(0, 20), (20, n - 20)])
flow("ooo.pcap", [(40, n - 40), (0, 20), (20, 20)])
flow("dup-overlap.pcap", [(0, 30), (10, 30), (0, 10), (25, n - 25), (25, 5)])
flow("gap.pcap", [(0, 20), (40, n - 40)])
flow("v6.pcapng", [(0, n)], ng=True, v6=True)
flow("mid.pcap", [(0, n)], handshake=False, fin=False)
pfx = b"PROXY TCP4 198.51.100.1 192.0.2.1 1111 80\r\n"
flow("proxy.pcap", [(0, len(pfx) + n)], port=8081, prefix=pfx)
w = pg.PcapWriter(os.path.join(out, "udp-icmp.pcap"))
w.packet(pg.ip_frame("10.0.0.1", "10.0.0.2", 17, pg.udp_datagram(5353, 53, b"\0" * 12)))
w.packet(pg.ip_frame("10.0.0.1", "10.0.0.2", 1, b"\x08\0\0\0\0\0\0\0"))
w.close()

# DNS over UDP (several queries, one truncated by the capture) and over TCP (two pipelined).
q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
     b"\x03www\x07seized\x07example\x03com\x00\x00\x01\x00\x01")
w = pg.PcapWriter(os.path.join(out, "dns.pcap"))
for i in range(3):
    w.packet(pg.ip_frame("10.0.0.1", "10.0.0.2", 17, pg.udp_datagram(5000 + i, 53, q)))
w.packet(pg.ip_frame("10.0.0.1", "10.0.0.2", 17, pg.udp_datagram(5009, 53, q)), caplen=50)
f = pg.TcpFlow(w, "10.0.0.1", 40053, "10.0.0.2", 53)
f.handshake()
msg = len(q).to_bytes(2, "big") + q
f.send(0, msg + msg[:9])
f.send(len(msg) + 9, msg[9:])
f.fin(2 * len(msg))
w.close()
