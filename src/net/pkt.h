/* pkt.h — decodes one captured frame (Ethernet, Linux cooked, loopback, raw IP) down to its TCP or UDP payload. */
#ifndef SINKD_NET_PKT_H
#define SINKD_NET_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

/*
 * Link types this decoder knows: the pcap LINKTYPE_ values, plus the DLT_
 * values libpcap reports for raw IP (12 on Linux, 14 on some BSDs) when a
 * file says LINKTYPE_RAW.
 */
enum pkt_link {
	PKT_LINK_NULL = 0,     /* BSD loopback: 4-byte address family, host byte order */
	PKT_LINK_ETHERNET = 1, /* Ethernet II, 802.1Q / QinQ tags skipped */
	PKT_LINK_DLT_RAW = 12, /* raw IPv4 or IPv6 (DLT_RAW) */
	PKT_LINK_DLT_RAW_BSD = 14,
	PKT_LINK_RAW = 101,	  /* raw IPv4 or IPv6 */
	PKT_LINK_LOOP = 108,	  /* OpenBSD loopback: address family in network byte order */
	PKT_LINK_LINUX_SLL = 113, /* Linux "cooked" capture (-i any) */
	PKT_LINK_IPV4 = 228,
	PKT_LINK_IPV6 = 229,
	PKT_LINK_LINUX_SLL2 = 276,
};

enum pkt_tcp_flag {
	PKT_FIN = 0x01,
	PKT_SYN = 0x02,
	PKT_RST = 0x04,
	PKT_ACK = 0x10,
};

/* Why a frame yields no TCP/UDP payload (counted in the replay summary). */
enum pkt_skip {
	PKT_OK = 0,
	PKT_SKIP_LINK,	   /* unknown link type or non-IP ethertype */
	PKT_SKIP_SHORT,	   /* cut short: a header is incomplete in the capture */
	PKT_SKIP_BAD_IP,   /* bad IP version, header length or total length */
	PKT_SKIP_FRAGMENT, /* an IP fragment (fragments are not reassembled) */
	PKT_SKIP_PROTO,	   /* neither TCP nor UDP (ICMP, ...) */
	PKT_SKIP_BAD_L4,   /* bad TCP data offset or UDP length */
	PKT_SKIP_KINDS
};

struct pkt {
	uint8_t proto; /* 6 TCP, 17 UDP */
	struct event_addr src, dst;
	uint8_t tcp_flags;
	uint32_t seq, ack;
	const uint8_t *payload; /* points into the frame */
	size_t len;		/* payload bytes present in the capture */
	size_t wire_len;	/* payload bytes on the wire (more when the capture cut it) */
};

/*
 * Decodes `caplen` captured bytes of a frame that was `wirelen` long.
 * Returns PKT_OK and fills p, or the reason it was skipped. Reads only
 * inside the captured bytes; the IP total length bounds the payload (so
 * Ethernet padding is never taken for data).
 */
enum pkt_skip pkt_decode(int link, const uint8_t *frame, size_t caplen, size_t wirelen,
			 struct pkt *p);

/* "fragment", "not TCP or UDP", ... */
const char *pkt_skip_str(enum pkt_skip s);

#endif
