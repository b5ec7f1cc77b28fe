/* pkt.c — link, IPv4/IPv6 and TCP/UDP header decoding for captured frames, through the bounds-checked cursor. */
#include "net/pkt.h"

#include <string.h>

#include "core/cursor.h"

#define ETH_P_IPV4   0x0800
#define ETH_P_IPV6   0x86dd
#define ETH_P_VLAN   0x8100
#define ETH_P_QINQ   0x88a8
#define ETH_P_QINQ1  0x9100
#define AF_BSD_INET  2
#define IPV6_EXT_MAX 8 /* extension headers followed before giving up */

const char *pkt_skip_str(enum pkt_skip s)
{
	switch (s) {
	case PKT_OK:
		return "ok";
	case PKT_SKIP_LINK:
		return "not IP (link type or ethertype)";
	case PKT_SKIP_SHORT:
		return "headers cut short in the capture";
	case PKT_SKIP_BAD_IP:
		return "malformed IP header";
	case PKT_SKIP_FRAGMENT:
		return "IP fragment (not reassembled)";
	case PKT_SKIP_PROTO:
		return "neither TCP nor UDP";
	case PKT_SKIP_BAD_L4:
		return "malformed TCP/UDP header";
	default:
		return "?";
	}
}

/* BSD loopback families: 2 is IPv4; IPv6 is 24, 28 or 30 depending on the OS. */
static int bsd_family_version(uint32_t af)
{
	if (af == AF_BSD_INET)
		return 4;
	if (af == 24 || af == 28 || af == 30 || af == 10)
		return 6;
	return 0;
}

static uint16_t ethertype_version(uint16_t et)
{
	return et == ETH_P_IPV4 ? 4 : et == ETH_P_IPV6 ? 6 : 0;
}

/* Moves c past the link header; returns the IP version expected (0: not IP). */
static int link_skip(int link, struct cursor *c)
{
	switch (link) {
	case PKT_LINK_ETHERNET: {
		cursor_skip(c, 12);
		uint16_t et = cursor_be16(c);
		for (int tags = 0;
		     (et == ETH_P_VLAN || et == ETH_P_QINQ || et == ETH_P_QINQ1) && tags < 4;
		     tags++) {
			cursor_skip(c, 2);
			et = cursor_be16(c);
		}
		return ethertype_version(et);
	}
	case PKT_LINK_NULL: {
		const uint8_t *p = cursor_take(c, 4);
		if (!p)
			return 0;
		uint32_t af;
		memcpy(&af, p, 4); /* host byte order of the capturing machine: try both */
		int v = bsd_family_version(af);
		return v ? v : bsd_family_version(__builtin_bswap32(af));
	}
	case PKT_LINK_LOOP:
		return bsd_family_version(cursor_be32(c));
	case PKT_LINK_LINUX_SLL: {
		cursor_skip(c, 14);
		return ethertype_version(cursor_be16(c));
	}
	case PKT_LINK_LINUX_SLL2: {
		uint16_t et = cursor_be16(c);
		cursor_skip(c, 18);
		return ethertype_version(et);
	}
	case PKT_LINK_DLT_RAW:
	case PKT_LINK_DLT_RAW_BSD:
	case PKT_LINK_RAW: {
		if (cursor_left(c) < 1)
			return 0;
		return c->p[0] >> 4;
	}
	case PKT_LINK_IPV4:
		return 4;
	case PKT_LINK_IPV6:
		return 6;
	default:
		return -1;
	}
}

static enum pkt_skip ipv4(struct cursor *c, struct pkt *p, bool cut, size_t *l4_len,
			  size_t *l4_wire)
{
	const uint8_t *h = c->p;
	size_t left = cursor_left(c);
	if (left < 20)
		return PKT_SKIP_SHORT;
	if (h[0] >> 4 != 4)
		return PKT_SKIP_BAD_IP;
	size_t ihl = (size_t)(h[0] & 15) * 4;
	uint16_t total = get_be16(h + 2);
	if (ihl < 20 || total < ihl)
		return PKT_SKIP_BAD_IP;
	if (left < ihl)
		return PKT_SKIP_SHORT;
	/* A whole frame cannot hold less than its IP header says it does. */
	if (!cut && total > left)
		return PKT_SKIP_BAD_IP;
	uint16_t frag = get_be16(h + 6);
	if ((frag & 0x2000) || (frag & 0x1fff))
		return PKT_SKIP_FRAGMENT;
	p->proto = h[9];
	p->src.ipver = p->dst.ipver = 4;
	memset(p->src.addr, 0, 16);
	memset(p->dst.addr, 0, 16);
	memcpy(p->src.addr, h + 12, 4);
	memcpy(p->dst.addr, h + 16, 4);
	cursor_skip(c, ihl);
	*l4_wire = total - ihl;
	/* The capture may end before the IP packet does (snap length), or run past it (padding). */
	*l4_len = cursor_left(c) < *l4_wire ? cursor_left(c) : *l4_wire;
	return PKT_OK;
}

static enum pkt_skip ipv6(struct cursor *c, struct pkt *p, bool cut, size_t *l4_len,
			  size_t *l4_wire)
{
	const uint8_t *h = c->p;
	if (cursor_left(c) < 40)
		return PKT_SKIP_SHORT;
	if (h[0] >> 4 != 6)
		return PKT_SKIP_BAD_IP;
	size_t plen = get_be16(h + 4);
	uint8_t nh = h[6];
	if (!cut && plen > cursor_left(c) - 40)
		return PKT_SKIP_BAD_IP;
	p->src.ipver = p->dst.ipver = 6;
	memcpy(p->src.addr, h + 8, 16);
	memcpy(p->dst.addr, h + 24, 16);
	cursor_skip(c, 40);
	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		if (nh == 44)
			return PKT_SKIP_FRAGMENT;
		if (nh != 0 && nh != 43 && nh != 60)
			break;
		/* Hop-by-hop, routing, destination options: length in 8-byte units after the first 8. */
		if (cursor_left(c) < 8)
			return PKT_SKIP_SHORT;
		size_t elen = ((size_t)c->p[1] + 1) * 8;
		if (elen > plen)
			return PKT_SKIP_BAD_IP;
		nh = c->p[0];
		if (cursor_left(c) < elen)
			return PKT_SKIP_SHORT;
		cursor_skip(c, elen);
		plen -= elen;
	}
	p->proto = nh;
	*l4_wire = plen;
	*l4_len = cursor_left(c) < plen ? cursor_left(c) : plen;
	return PKT_OK;
}

enum pkt_skip pkt_decode(int link, const uint8_t *frame, size_t caplen, size_t wirelen,
			 struct pkt *p)
{
	struct cursor c;
	size_t l4_len = 0, l4_wire = 0;
	enum pkt_skip rc;

	bool cut = caplen < wirelen;
	memset(p, 0, sizeof *p);
	cursor_init(&c, frame, caplen);
	int v = link_skip(link, &c);
	if (!cursor_ok(&c))
		return PKT_SKIP_SHORT;
	if (v != 4 && v != 6)
		return PKT_SKIP_LINK;
	rc = v == 4 ? ipv4(&c, p, cut, &l4_len, &l4_wire) : ipv6(&c, p, cut, &l4_len, &l4_wire);
	if (rc)
		return rc;
	const uint8_t *l4 = c.p;
	if (p->proto == 6) {
		if (l4_len < 20)
			return l4_wire < 20 ? PKT_SKIP_BAD_L4 : PKT_SKIP_SHORT;
		size_t doff = (size_t)(l4[12] >> 4) * 4;
		if (doff < 20 || doff > l4_wire)
			return PKT_SKIP_BAD_L4;
		if (doff > l4_len)
			return PKT_SKIP_SHORT;
		p->src.port = get_be16(l4);
		p->dst.port = get_be16(l4 + 2);
		p->seq = get_be32(l4 + 4);
		p->ack = get_be32(l4 + 8);
		p->tcp_flags = l4[13];
		p->payload = l4 + doff;
		p->len = l4_len - doff;
		p->wire_len = l4_wire - doff;
		return PKT_OK;
	}
	if (p->proto == 17) {
		if (l4_len < 8)
			return l4_wire < 8 ? PKT_SKIP_BAD_L4 : PKT_SKIP_SHORT;
		size_t ulen = get_be16(l4 + 4);
		if (ulen < 8 || ulen > l4_wire)
			return PKT_SKIP_BAD_L4;
		p->src.port = get_be16(l4);
		p->dst.port = get_be16(l4 + 2);
		p->payload = l4 + 8;
		p->wire_len = ulen - 8;
		p->len = l4_len - 8 < p->wire_len ? l4_len - 8 : p->wire_len;
		return PKT_OK;
	}
	return PKT_SKIP_PROTO;
}
