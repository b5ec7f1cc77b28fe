/* proxy.c — PROXY protocol v1 (text) and v2 (binary) header parser and v2 encoder. */
#include "net/proxy.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"

/*
 * Both versions are parsed so that a truncated header is told apart from a
 * bad one on the bytes seen so far: a listener expecting PROXY drops a peer
 * as soon as its first bytes cannot start a header, instead of waiting for a
 * full line from something that is not a proxy.
 */

static const uint8_t v2_sig[12] = {
	'\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n'
};

#define V2_HDR_LEN  16
#define V1_LINE_MAX (PROXY_V1_MAX - 2) /* bytes before the CRLF */
#define V6_TEXT_MAX 45		       /* INET6_ADDRSTRLEN - 1 */

enum v2_cmd {
	V2_LOCAL = 0,
	V2_PROXY = 1
};
enum v2_fam {
	V2_UNSPEC = 0,
	V2_INET = 1,
	V2_INET6 = 2,
	V2_UNIX = 3
};
enum v2_proto {
	V2_TP_UNSPEC = 0,
	V2_STREAM = 1,
	V2_DGRAM = 2
};

static int malformed(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return ERR_MALFORMED;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------------- */
/* v1                                                                        */

/*
 * A field of the v1 line: the bytes up to the next space or the end of what
 * we have. `last` says the field runs to the end of the data; whether that
 * is the end of the line (CR seen) or just of the bytes received so far is
 * the caller's `complete`. A field is "whole" unless it is last and the line
 * is not complete, and only a whole field is checked as a full value.
 */
struct v1_field {
	const uint8_t *p;
	size_t n;
	bool last;
};

static struct v1_field v1_next(struct cursor *c)
{
	struct v1_field f = { c->p, 0, false };
	size_t left = cursor_left(c);

	while (f.n < left && f.p[f.n] != ' ')
		f.n++;
	f.last = f.n == left;
	cursor_skip(c, f.last ? f.n : f.n + 1);
	return f;
}

/* Is p[0..n) a prefix of lit (whole == false) or equal to it (whole == true)? */
static bool prefix_of(const uint8_t *p, size_t n, const char *lit, bool whole)
{
	size_t l = strlen(lit);

	if (n > l || (whole && n != l))
		return false;
	return memcmp(p, lit, n) == 0;
}

/*
 * Dotted-quad IPv4: four decimal octets 0-255 without leading zeros (which
 * some parsers read as octal). With whole == false, checks a prefix.
 */
static bool v1_ipv4(const uint8_t *p, size_t n, bool whole, uint8_t out[4])
{
	size_t octet = 0, digits = 0;
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (digits == 0 || octet == 3)
				return false;
			out[octet++] = (uint8_t)v;
			v = 0;
			digits = 0;
			continue;
		}
		if (!is_digit(p[i]) || (digits == 1 && v == 0))
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
		if (++digits > 3 || v > 255)
			return false;
	}
	if (!whole)
		return true;
	if (octet != 3 || digits == 0)
		return false;
	out[3] = (uint8_t)v;
	return true;
}

/*
 * IPv6 through inet_pton on a bounded, NUL-terminated copy. A prefix is only
 * checked for its alphabet and length: exact prefix validity of the v6 text
 * grammar is not worth a second parser, and the field ends within 45 bytes.
 */
static bool v1_ipv6(const uint8_t *p, size_t n, bool whole, uint8_t out[16])
{
	char tmp[V6_TEXT_MAX + 1];

	if (n > V6_TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		bool ok = is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
			  c == ':' || c == '.';
		if (!ok)
			return false;
	}
	if (!whole)
		return true;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/* Decimal port 0-65535: digits only, no sign, no leading zero. */
static bool v1_port(const uint8_t *p, size_t n, bool whole, uint16_t *out)
{
	uint32_t v = 0;

	if (whole && n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]) || (i == 1 && p[0] == '0'))
			return false;
		v = v * 10 + (uint32_t)(p[i] - '0');
		if (v > 65535)
			return false;
	}
	*out = (uint16_t)v;
	return true;
}

static bool v1_addr(const struct v1_field *f, bool whole, uint8_t ipver, struct event_addr *a)
{
	a->ipver = ipver;
	if (ipver == 4)
		return v1_ipv4(f->p, f->n, whole, a->addr);
	return v1_ipv6(f->p, f->n, whole, a->addr);
}

/*
 * Parses the line before its CRLF. With complete == false the line is
 * unfinished and is checked as a prefix: ERR_NEED_MORE if it can still
 * become a header.
 */
static int v1_line(const uint8_t *line, size_t n, bool complete, struct proxy_result *res,
		   const char **why)
{
	struct cursor c;
	struct v1_field f;
	uint8_t ipver;

	cursor_init(&c, line, n);
	f = v1_next(&c);
	if (!prefix_of(f.p, f.n, "PROXY", !f.last || complete))
		return malformed(why, "not a PROXY v1 header");
	if (f.last)
		return complete ? malformed(why, "v1 without protocol") : ERR_NEED_MORE;

	f = v1_next(&c);
	if (f.last && !complete) {
		if (prefix_of(f.p, f.n, "TCP4", false) || prefix_of(f.p, f.n, "TCP6", false) ||
		    prefix_of(f.p, f.n, "UNKNOWN", false))
			return ERR_NEED_MORE;
		return malformed(why, "bad v1 protocol");
	}
	if (prefix_of(f.p, f.n, "UNKNOWN", true)) {
		/* Whatever follows UNKNOWN up to the CRLF is ignored, as the spec says. */
		res->kind = PROXY_KIND_LOCAL;
		res->transport = 0;
		return 0;
	}
	if (prefix_of(f.p, f.n, "TCP4", true))
		ipver = 4;
	else if (prefix_of(f.p, f.n, "TCP6", true))
		ipver = 6;
	else
		return malformed(why, "bad v1 protocol");
	if (f.last)
		return malformed(why, "v1 without addresses");

	struct event_addr *addrs[2] = { &res->src, &res->dst };
	bool whole;

	for (int i = 0; i < 2; i++) {
		f = v1_next(&c);
		whole = !f.last || complete;
		if (!v1_addr(&f, whole, ipver, addrs[i]))
			return malformed(why, "bad v1 address");
		if (f.last)
			return complete ? malformed(why, "v1 line truncated") : ERR_NEED_MORE;
	}
	f = v1_next(&c);
	if (!v1_port(f.p, f.n, !f.last || complete, &res->src.port))
		return malformed(why, "bad v1 source port");
	if (f.last)
		return complete ? malformed(why, "v1 line truncated") : ERR_NEED_MORE;
	f = v1_next(&c);
	if (!v1_port(f.p, f.n, !f.last || complete, &res->dst.port))
		return malformed(why, "bad v1 destination port");
	/* The destination port is the last field: no space may follow it. */
	if (!f.last)
		return malformed(why, "trailing data in v1 line");
	if (!complete)
		return ERR_NEED_MORE;
	res->kind = PROXY_KIND_PROXY;
	res->transport = 6;
	return 0;
}

static int parse_v1(const uint8_t *buf, size_t len, struct proxy_result *res, const char **why)
{
	size_t scan = len < V1_LINE_MAX + 1 ? len : V1_LINE_MAX + 1;
	size_t i = 0;

	/* The line ends at the first CR, which must be followed by LF. */
	while (i < scan && buf[i] != '\r' && buf[i] != '\n')
		i++;
	if (i == scan) {
		if (len > V1_LINE_MAX)
			return malformed(why, "v1 line too long");
		int rc = v1_line(buf, i, false, res, why);
		/* UNKNOWN accepts its line before the end is seen; the CRLF is still due. */
		return rc == 0 ? ERR_NEED_MORE : rc;
	}
	if (buf[i] == '\n')
		return malformed(why, "v1 line without CR");

	/* The fields are whole once the CR is seen, even if the LF is still to come. */
	int rc = v1_line(buf, i, true, res, why);
	if (rc != 0)
		return rc;
	if (i + 1 == len)
		return ERR_NEED_MORE;
	if (buf[i + 1] != '\n')
		return malformed(why, "v1 CR without LF");
	res->version = 1;
	res->header_len = i + 2;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* v2                                                                        */

/* Size of the address block a family needs (proxy-protocol.txt §2.2). */
static size_t v2_addr_len(unsigned fam)
{
	switch (fam) {
	case V2_INET:
		return 12;
	case V2_INET6:
		return 36;
	case V2_UNIX:
		return 216;
	default:
		return 0;
	}
}

/* Valid family/transport bytes for PROXY: UNSPEC alone, or INET/INET6/UNIX with STREAM/DGRAM. */
static bool v2_fam_ok(uint8_t fam_proto)
{
	unsigned fam = fam_proto >> 4, proto = fam_proto & 0x0f;

	if (fam_proto == 0)
		return true;
	return fam >= V2_INET && fam <= V2_UNIX && (proto == V2_STREAM || proto == V2_DGRAM);
}

static void v2_read_addrs(struct cursor *c, unsigned fam, struct proxy_result *res)
{
	size_t alen = fam == V2_INET ? 4 : 16;

	res->src.ipver = res->dst.ipver = fam == V2_INET ? 4 : 6;
	cursor_copy(c, res->src.addr, alen);
	cursor_copy(c, res->dst.addr, alen);
	res->src.port = cursor_be16(c);
	res->dst.port = cursor_be16(c);
}

/* TLVs are skipped, but each must fit exactly in what the length field announced. */
static int v2_skip_tlvs(struct cursor *c, const char **why)
{
	while (cursor_left(c) > 0) {
		(void)cursor_u8(c); /* type */
		uint16_t n = cursor_be16(c);

		if (!cursor_ok(c))
			return malformed(why, "truncated v2 TLV header");
		if (n > cursor_left(c))
			return malformed(why, "v2 TLV overruns the header");
		cursor_skip(c, n);
	}
	return 0;
}

static int parse_v2(const uint8_t *buf, size_t len, struct proxy_result *res, const char **why)
{
	struct cursor c;
	size_t sig = len < sizeof v2_sig ? len : sizeof v2_sig;

	if (memcmp(buf, v2_sig, sig) != 0)
		return malformed(why, "bad v2 signature");
	cursor_init(&c, buf, len);
	cursor_skip(&c, sizeof v2_sig);
	uint8_t ver_cmd = cursor_u8(&c);
	if (!cursor_ok(&c))
		return ERR_NEED_MORE;
	unsigned cmd = ver_cmd & 0x0f;
	if (ver_cmd >> 4 != 2)
		return malformed(why, "bad v2 version");
	if (cmd != V2_LOCAL && cmd != V2_PROXY)
		return malformed(why, "bad v2 command");

	/* LOCAL ignores the family byte, as the spec asks. */
	uint8_t fam_proto = cursor_u8(&c);
	if (!cursor_ok(&c))
		return ERR_NEED_MORE;
	unsigned fam = fam_proto >> 4;
	if (cmd == V2_PROXY && !v2_fam_ok(fam_proto))
		return malformed(why, "bad v2 family or transport");

	uint16_t body_len = cursor_be16(&c);
	if (!cursor_ok(&c))
		return ERR_NEED_MORE;
	if (body_len > PROXY_V2_MAX_LEN)
		return malformed(why, "v2 length above our cap");
	if (cmd == V2_PROXY && body_len < v2_addr_len(fam))
		return malformed(why, "v2 length shorter than the address block");

	const uint8_t *body = cursor_take(&c, body_len);
	if (body == NULL)
		return ERR_NEED_MORE;

	struct cursor b;
	cursor_init(&b, body, body_len);
	res->version = 2;
	res->header_len = V2_HDR_LEN + (size_t)body_len;
	if (cmd == V2_LOCAL || fam == V2_UNSPEC || fam == V2_UNIX) {
		/* Keep the real peer; the block (UNIX paths, TLVs) is not interpreted. */
		res->kind = PROXY_KIND_LOCAL;
		res->transport = 0;
		return 0;
	}
	res->kind = PROXY_KIND_PROXY;
	res->transport = (fam_proto & 0x0f) == V2_STREAM ? 6 : 17;
	v2_read_addrs(&b, fam, res);
	return v2_skip_tlvs(&b, why);
}

int proxy_parse(const uint8_t *buf, size_t len, struct proxy_result *res, const char **why)
{
	memset(res, 0, sizeof *res);
	if (len == 0)
		return ERR_NEED_MORE;
	if (buf[0] == 'P')
		return parse_v1(buf, len, res, why);
	if (buf[0] == '\r')
		return parse_v2(buf, len, res, why);
	return malformed(why, "not a PROXY header");
}

int proxy_v2_encode(const struct event_addr *src, const struct event_addr *dst, uint8_t *out,
		    size_t cap)
{
	if (src->ipver != dst->ipver || (src->ipver != 4 && src->ipver != 6))
		return ERR_INVAL;

	size_t alen = src->ipver == 4 ? 4 : 16;
	size_t body = 2 * alen + 4;

	if (V2_HDR_LEN + body > cap)
		return ERR_INVAL;
	memcpy(out, v2_sig, sizeof v2_sig);
	out[12] = 0x20 | V2_PROXY;
	out[13] = (uint8_t)((src->ipver == 4 ? V2_INET : V2_INET6) << 4 | V2_STREAM);
	put_be16(out + 14, (uint16_t)body);

	uint8_t *p = out + V2_HDR_LEN;
	memcpy(p, src->addr, alen);
	memcpy(p + alen, dst->addr, alen);
	put_be16(p + 2 * alen, src->port);
	put_be16(p + 2 * alen + 2, dst->port);
	return (int)(V2_HDR_LEN + body);
}
