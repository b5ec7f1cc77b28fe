/* proxy.h — PROXY protocol v1 (text) and v2 (binary) header parser and v2 encoder. */
#ifndef SINKD_NET_PROXY_H
#define SINKD_NET_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

/*
 * Spec: haproxy's proxy-protocol.txt. v1: "PROXY TCP4|TCP6|UNKNOWN ... \r\n",
 * at most 107 bytes. v2: 12-byte signature, ver/cmd, family/transport,
 * be16 length, addresses, TLVs (TLVs are skipped; length capped at 2048).
 */

#define PROXY_V1_MAX	 107
#define PROXY_V2_MAX_LEN 2048 /* our cap on v2's address+TLV length */

enum proxy_kind {
	PROXY_KIND_PROXY = 1, /* addresses given: use them */
	PROXY_KIND_LOCAL,     /* v2 LOCAL or v1 UNKNOWN / v2 UNSPEC: keep the real peer */
};

struct proxy_result {
	int version; /* 1 or 2 */
	enum proxy_kind kind;
	uint8_t transport; /* 6 TCP, 17 UDP, 0 unspecified */
	struct event_addr src;
	struct event_addr dst;
	size_t header_len; /* bytes to drop from the stream */
};

/*
 * Parses a PROXY header at the start of buf. Returns 0, ERR_NEED_MORE (a
 * valid prefix of a header) or ERR_MALFORMED (not a PROXY header, or a bad
 * one). *why (if not NULL) gets a short static reason when malformed.
 */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_result *res, const char **why);

/*
 * Writes a v2 PROXY header for a TCP connection from src to dst (same IP
 * version) into out. Returns the length written (16 + 12 or 16 + 36), or
 * ERR_INVAL if cap is too small or the versions differ.
 */
int proxy_v2_encode(const struct event_addr *src, const struct event_addr *dst, uint8_t *out,
		    size_t cap);

#endif
