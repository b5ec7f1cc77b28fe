/* dns_msg.c — DNS query parser: header, one question, sections walked safely, EDNS0 and ECS. */
#include "proto/dns/dns_msg.h"

#include <stdio.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"

int dns_name_read(const uint8_t *msg, size_t len, size_t off, struct dns_name *out, size_t *next,
		  const char **why)
{
	size_t pos = off;
	size_t end_of_first = 0; /* where the name ends in the message, before any pointer */
	size_t lowest = off;	 /* a pointer must go strictly below every position seen so far */
	unsigned hops = 0;
	out->len = 0;
	out->labels = 0;
	for (;;) {
		if (pos >= len) {
			*why = "name runs past the end of the message";
			return ERR_MALFORMED;
		}
		uint8_t b = msg[pos];
		if ((b & 0xc0) == 0xc0) {
			if (pos + 1 >= len) {
				*why = "compression pointer cut short";
				return ERR_MALFORMED;
			}
			size_t target = (size_t)(b & 0x3f) << 8 | msg[pos + 1];
			if (!end_of_first && hops == 0)
				end_of_first = pos + 2;
			if (++hops > DNS_PTR_HOPS_MAX) {
				*why = "too many compression pointers";
				return ERR_MALFORMED;
			}
			/* Only backwards: every pointer lands lower than anything read, so loops cannot happen. */
			if (target >= lowest) {
				*why = "compression pointer loop or forward pointer";
				return ERR_MALFORMED;
			}
			lowest = target;
			pos = target;
			continue;
		}
		/* 0x40 and 0x80: reserved label types; so a length byte never exceeds 63. */
		if (b & 0xc0) {
			*why = "label longer than 63 bytes (reserved label type)";
			return ERR_MALFORMED;
		}
		if ((size_t)b + 1 > len - pos) {
			*why = "label runs past the end of the message";
			return ERR_MALFORMED;
		}
		if ((size_t)out->len + b + 1 > DNS_NAME_MAX) {
			*why = "name longer than 255 bytes";
			return ERR_MALFORMED;
		}
		if (b == 0) {
			out->wire[out->len++] = 0;
			out->label_off[out->labels] = (uint8_t)(out->len - 1);
			*next = end_of_first ? end_of_first : pos + 1;
			return 0;
		}
		if (out->labels >= DNS_LABELS_MAX) {
			*why = "too many labels";
			return ERR_MALFORMED;
		}
		out->label_off[out->labels++] = (uint8_t)out->len;
		memcpy(out->wire + out->len, msg + pos, (size_t)b + 1);
		out->len = (uint16_t)(out->len + b + 1);
		pos += (size_t)b + 1;
	}
}

/* Skips one name (validating it) at the cursor. */
static int skip_name(const uint8_t *msg, size_t len, struct cursor *c, const char **why)
{
	struct dns_name tmp;
	size_t next;
	size_t off = (size_t)(c->p - msg);
	int rc = dns_name_read(msg, len, off, &tmp, &next, why);
	if (rc)
		return rc;
	c->p = msg + next;
	return 0;
}

static int parse_ecs(struct dns_query *q, const uint8_t *p, size_t n)
{
	struct cursor c;
	cursor_init(&c, p, n);
	uint16_t fam = cursor_be16(&c);
	uint8_t src = cursor_u8(&c);
	uint8_t scope = cursor_u8(&c);
	if (!cursor_ok(&c))
		goto bad;
	unsigned max = fam == 1 ? 32 : fam == 2 ? 128 : 0;
	if (!max || src > max || scope > max)
		goto bad;
	size_t alen = ((size_t)src + 7) / 8;
	if (cursor_left(&c) != alen)
		goto bad;
	memset(q->ecs_addr, 0, sizeof q->ecs_addr);
	cursor_copy(&c, q->ecs_addr, alen);
	/* RFC 7871 §6: bits beyond SOURCE PREFIX-LENGTH must be zero. */
	if (src % 8 && (q->ecs_addr[alen - 1] & (uint8_t)(0xffu >> (src % 8))))
		goto bad;
	q->has_ecs = true;
	q->ecs_family = fam;
	q->ecs_source = src;
	q->ecs_scope = scope;
	return 0;
bad:
	q->error = "malformed client subnet option";
	return ERR_MALFORMED;
}

static int parse_opt(struct dns_query *q, uint16_t klass, uint32_t ttl, const uint8_t *rdata,
		     size_t rdlen)
{
	if (q->has_edns) {
		q->error = "more than one OPT record";
		return ERR_MALFORMED;
	}
	q->has_edns = true;
	q->edns_size = klass;
	q->edns_ext_rcode = (uint8_t)(ttl >> 24);
	q->edns_version = (uint8_t)(ttl >> 16);
	q->edns_flags = (uint16_t)ttl;
	struct cursor c;
	cursor_init(&c, rdata, rdlen);
	while (cursor_left(&c)) {
		uint16_t code = cursor_be16(&c);
		uint16_t olen = cursor_be16(&c);
		const uint8_t *od = cursor_take(&c, olen);
		if (!cursor_ok(&c)) {
			q->error = "EDNS option runs past its record";
			return ERR_MALFORMED;
		}
		if (code == DNS_OPT_ECS) {
			if (q->has_ecs) {
				q->error = "more than one client subnet option";
				return ERR_MALFORMED;
			}
			if (parse_ecs(q, od, olen))
				return ERR_MALFORMED;
		}
	}
	return 0;
}

int dns_msg_parse(const uint8_t *msg, size_t len, struct dns_query *q)
{
	memset(q, 0, sizeof *q);
	if (len < DNS_HEADER_LEN) {
		q->error = "shorter than a DNS header";
		return ERR_NEED_MORE;
	}
	struct cursor c;
	cursor_init(&c, msg, len);
	q->id = cursor_be16(&c);
	q->flags = cursor_be16(&c);
	q->qdcount = cursor_be16(&c);
	q->ancount = cursor_be16(&c);
	q->nscount = cursor_be16(&c);
	q->arcount = cursor_be16(&c);
	if (q->qdcount != 1) {
		/* Zero or several questions: no server answers those (RFC 9619 for several). */
		q->error = q->qdcount ? "more than one question" : "no question";
		return ERR_MALFORMED;
	}
	const char *why = NULL;
	size_t next = 0;
	if (dns_name_read(msg, len, DNS_HEADER_LEN, &q->qname, &next, &why)) {
		q->error = why;
		return ERR_MALFORMED;
	}
	q->qname_plain = next == (size_t)DNS_HEADER_LEN + q->qname.len;
	c.p = msg + next;
	q->qtype = cursor_be16(&c);
	q->qclass = cursor_be16(&c);
	if (!cursor_ok(&c)) {
		q->error = "question cut short";
		return ERR_MALFORMED;
	}
	q->has_question = true;
	q->question_end = (size_t)(c.p - msg);
	unsigned rrs = (unsigned)q->ancount + q->nscount + q->arcount;
	for (unsigned i = 0; i < rrs; i++) {
		bool additional = i >= (unsigned)q->ancount + q->nscount;
		const uint8_t *owner = c.p;
		if (cursor_left(&c) == 0 || skip_name(msg, len, &c, &why)) {
			q->error = why ? why : "record count exceeds the records present";
			return ERR_MALFORMED;
		}
		uint16_t type = cursor_be16(&c);
		uint16_t klass = cursor_be16(&c);
		uint32_t ttl = cursor_be32(&c);
		uint16_t rdlen = cursor_be16(&c);
		const uint8_t *rdata = cursor_take(&c, rdlen);
		if (!cursor_ok(&c)) {
			q->error = "resource record cut short";
			return ERR_MALFORMED;
		}
		if (type == DNS_T_OPT) {
			if (!additional || *owner != 0) {
				q->error =
					"OPT record outside the additional section or not at the root";
				return ERR_MALFORMED;
			}
			if (parse_opt(q, klass, ttl, rdata, rdlen))
				return ERR_MALFORMED;
		}
	}
	if (cursor_left(&c)) {
		q->error = "trailing bytes after the last record";
		return ERR_MALFORMED;
	}
	return 0;
}

/* How a byte of a label is written: 0 as \DDD, 1 as itself, 2 after a backslash. */
static const uint8_t name_text_class[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1,
	['_'] = 1,	   ['*'] = 1,	      ['.'] = 2,	 ['\\'] = 2,
};

size_t dns_name_text(const struct dns_name *n, char *buf, size_t cap)
{
	size_t o = 0;
	if (cap == 0)
		return 0;
	if (n->labels == 0) {
		if (cap > 1)
			buf[o++] = '.';
		buf[o] = '\0';
		return o;
	}
	/* At most 4 characters per wire byte: with that much room nothing needs checking. */
	bool roomy = cap > 4u * n->len;
	for (unsigned i = 0; i < n->labels; i++) {
		size_t lo = n->label_off[i];
		uint8_t ll = n->wire[lo];
		if (i && (roomy || o + 1 < cap))
			buf[o++] = '.';
		for (size_t k = 1; k <= ll; k++) {
			uint8_t ch = n->wire[lo + k];
			uint8_t cls = name_text_class[ch];
			if (cls == 1) {
				if (roomy || o + 1 < cap)
					buf[o++] = (char)ch;
			} else if (cls == 2) {
				if (roomy || o + 2 < cap) {
					buf[o++] = '\\';
					buf[o++] = (char)ch;
				}
			} else if (roomy || o + 4 < cap) {
				buf[o++] = '\\';
				buf[o++] = (char)('0' + ch / 100);
				buf[o++] = (char)('0' + ch / 10 % 10);
				buf[o++] = (char)('0' + ch % 10);
			}
		}
	}
	buf[o] = '\0';
	return o;
}

const char *dns_type_str(uint16_t type, char *buf, size_t cap)
{
	static const struct {
		uint16_t t;
		const char *s;
	} names[] = {
		{ 1, "A" },	 { 2, "NS" },	  { 5, "CNAME" },  { 6, "SOA" },
		{ 12, "PTR" },	 { 13, "HINFO" }, { 15, "MX" },	   { 16, "TXT" },
		{ 28, "AAAA" },	 { 33, "SRV" },	  { 35, "NAPTR" }, { 41, "OPT" },
		{ 43, "DS" },	 { 46, "RRSIG" }, { 47, "NSEC" },  { 48, "DNSKEY" },
		{ 50, "NSEC3" }, { 52, "TLSA" },  { 64, "SVCB" },  { 65, "HTTPS" },
		{ 99, "SPF" },	 { 251, "IXFR" }, { 252, "AXFR" }, { 255, "ANY" },
		{ 256, "URI" },	 { 257, "CAA" },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].t == type) {
			snprintf(buf, cap, "%s", names[i].s);
			return buf;
		}
	snprintf(buf, cap, "TYPE%u", type);
	return buf;
}

const char *dns_rcode_str(uint16_t rcode, char *buf, size_t cap)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP",	"REFUSED", "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH", "NOTZONE" };
	if (rcode < sizeof names / sizeof names[0])
		snprintf(buf, cap, "%s", names[rcode]);
	else if (rcode == DNS_R_BADVERS)
		snprintf(buf, cap, "BADVERS");
	else
		snprintf(buf, cap, "RCODE%u", rcode);
	return buf;
}
