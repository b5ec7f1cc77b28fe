"""pcapgen.py — writes pcap and pcapng captures of crafted TCP/UDP traffic (stdlib only), for replay tests.

    w = PcapWriter(path)                      # or PcapWriter(path, ng=True)
    f = TcpFlow(w, "10.0.0.1", 40000, "10.0.0.2", 80)
    f.handshake()
    f.send(0, b"GET / HTTP/1.1\\r\\n...")       # client bytes at stream offset 0
    f.fin(len(data))
    w.close()

Frames are Ethernet II + IPv4 or IPv6 + TCP/UDP. Checksums are left zero
(replay does not check them, as captures on loopback often carry none).
Timestamps advance 1 ms per packet unless given.
"""

import ipaddress
import struct

LINKTYPE_ETHERNET = 1


class PcapWriter:
    def __init__(self, path_or_file, ng=False, snaplen=262144, linktype=LINKTYPE_ETHERNET):
        self.f = open(path_or_file, "wb") if isinstance(path_or_file, str) else path_or_file
        self.ng = ng
        self.t = 1_764_300_000.0  # 2025-11-28
        self.linktype = linktype
        if ng:
            shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
            self._block(0x0A0D0D0A, shb)
            idb = struct.pack("<HHI", linktype, 0, snaplen)
            # if_tsresol = 6 (microseconds), then end of options
            idb += struct.pack("<HHB3x", 9, 1, 6) + struct.pack("<HH", 0, 0)
            self._block(1, idb)
        else:
            self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))

    def _block(self, btype, body):
        pad = (-len(body)) % 4
        total = 12 + len(body) + pad
        self.f.write(struct.pack("<II", btype, total) + body + b"\0" * pad +
                     struct.pack("<I", total))

    def packet(self, frame, ts=None, caplen=None):
        if ts is None:
            self.t += 0.001
            ts = self.t
        orig = len(frame)
        data = frame if caplen is None else frame[:caplen]
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        if self.ng:
            t = sec * 1_000_000 + usec
            body = struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(data), orig) + data
            self._block(6, body)
        else:
            self.f.write(struct.pack("<IIII", sec, usec, len(data), orig) + data)

    def raw(self, b):
        self.f.write(b)

    def close(self):
        self.f.close()


def ip_frame(src, dst, proto, l4, ttl=64):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, ttl, proto, 0,
                         s.packed, d.packed)
        et = 0x0800
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, ttl, s.packed, d.packed)
        et = 0x86DD
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", et) + ip + l4


def tcp_segment(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                       flags, 65535, 0, 0) + payload


def udp_datagram(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class TcpFlow:
    """One TCP connection; client data is addressed by stream offset."""

    def __init__(self, w, cli, cport, srv, sport, isn=1000, sisn=5000):
        self.w, self.cli, self.cport, self.srv, self.sport = w, cli, cport, srv, sport
        self.isn, self.sisn = isn, sisn

    def c2s(self, seq, flags, payload=b"", caplen=None, ts=None):
        frame = ip_frame(self.cli, self.srv, 6,
                         tcp_segment(self.cport, self.sport, seq, self.sisn + 1, flags, payload))
        self.w.packet(frame, ts=ts, caplen=caplen)

    def s2c(self, seq, flags, payload=b""):
        self.w.packet(ip_frame(self.srv, self.cli, 6,
                               tcp_segment(self.sport, self.cport, seq, self.isn + 1, flags,
                                           payload)))

    def handshake(self):
        self.w.packet(ip_frame(self.cli, self.srv, 6,
                               tcp_segment(self.cport, self.sport, self.isn, 0, SYN)))
        self.s2c(self.sisn, SYN | ACK)
        self.c2s(self.isn + 1, ACK)

    def send(self, off, data, caplen=None, ts=None):
        self.c2s(self.isn + 1 + off, PSH | ACK, data, caplen=caplen, ts=ts)

    def answer(self, off, data):
        self.s2c(self.sisn + 1 + off, PSH | ACK, data)

    def fin(self, off):
        self.c2s(self.isn + 1 + off, FIN | ACK)

    def rst(self, off):
        self.c2s(self.isn + 1 + off, RST)
