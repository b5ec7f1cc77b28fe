/* dns_answer.c — authoritative answers for seized zones: A/AAAA, SOA, NS + glue, NODATA, ANY, refusals. */
#include "proto/dns/dns_answer.h"

#include <string.h>

#include "core/err.h"

/* A bounded writer: a write past cap sets `over` and is dropped. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool over;
};

static void w_bytes(struct wbuf *w, const void *d, size_t n)
{
	if (w->over || n > w->cap - w->len) {
		w->over = true;
		return;
	}
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void w_u8(struct wbuf *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 2);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 4);
}

static void w_ptr(struct wbuf *w, size_t off)
{
	w_u16(w, (uint16_t)(0xc000u | off));
}

static void w_set16(struct wbuf *w, size_t at, uint16_t v)
{
	if (!w->over && at + 2 <= w->len) {
		w->p[at] = (uint8_t)(v >> 8);
		w->p[at + 1] = (uint8_t)v;
	}
}

/*
 * Writes a configured name: one label without a dot is relative to the apex
 * (label + pointer to the apex in the question); anything else is absolute.
 */
static void w_cfg_name(struct wbuf *w, const char *s, size_t apex_off)
{
	uint8_t wire[256];
	size_t wl = 0;
	if (!dns_config_name_to_wire(s, strlen(s), wire, &wl)) {
		w->over = true;
		return;
	}
	bool relative = strchr(s, '.') == NULL;
	w_bytes(w, wire, wl);
	if (relative)
		w_ptr(w, apex_off);
	else
		w_u8(w, 0);
}

static void w_rr_head(struct wbuf *w, size_t owner_off, uint16_t type, uint32_t ttl)
{
	w_ptr(w, owner_off);
	w_u16(w, type);
	w_u16(w, DNS_C_IN);
	w_u32(w, ttl);
}

struct ctx {
	const struct dns_zones *z;
	const struct config_dns *cfg;
	const struct dns_query *q;
	struct dns_answer_info *info;
	struct wbuf w;
	size_t apex_off; /* offset of the apex name inside the echoed question */
};

static void put_addrs(struct ctx *c, size_t owner_off, bool six)
{
	const struct dns_zone_group *g = c->info->match.group;
	size_t n = six ? g->n_aaaa : g->n_a;
	for (size_t i = 0; i < n; i++) {
		w_rr_head(&c->w, owner_off, six ? DNS_T_AAAA : DNS_T_A, g->ttl);
		w_u16(&c->w, six ? 16 : 4);
		w_bytes(&c->w, six ? (const void *)g->aaaa[i] : (const void *)g->a[i],
			six ? 16 : 4);
		if (owner_off == DNS_HEADER_LEN && c->info->n_addrs < DNS_CFG_MAX_ADDRS) {
			uint8_t *a = c->info->addrs[c->info->n_addrs++];
			a[0] = six ? 6 : 4;
			memcpy(a + 1, six ? (const void *)g->aaaa[i] : (const void *)g->a[i],
			       six ? 16 : 4);
		}
	}
}

static void put_soa(struct ctx *c, uint32_t ttl)
{
	const struct config_dns *cfg = c->cfg;
	w_rr_head(&c->w, c->apex_off, DNS_T_SOA, ttl);
	size_t rdlen_at = c->w.len;
	w_u16(&c->w, 0);
	size_t start = c->w.len;
	w_cfg_name(&c->w, cfg->n_ns ? cfg->ns[0] : "ns1", c->apex_off);
	w_cfg_name(&c->w, cfg->soa_rname ? cfg->soa_rname : "hostmaster", c->apex_off);
	w_u32(&c->w, dns_zones_serial(c->z));
	w_u32(&c->w, cfg->soa_refresh);
	w_u32(&c->w, cfg->soa_retry);
	w_u32(&c->w, cfg->soa_expire);
	w_u32(&c->w, cfg->soa_minimum);
	w_set16(&c->w, rdlen_at, (uint16_t)(c->w.len - start));
}

/* NS set at the apex; returns how many names are in-zone (relative) and need glue. */
static void put_ns(struct ctx *c, size_t *ns_offs, size_t *n_glue)
{
	const struct config_dns *cfg = c->cfg;
	size_t n = cfg->n_ns ? cfg->n_ns : 1;
	*n_glue = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = cfg->n_ns ? cfg->ns[i] : "ns1";
		w_rr_head(&c->w, c->apex_off, DNS_T_NS, c->info->match.group->ttl);
		size_t rdlen_at = c->w.len;
		w_u16(&c->w, 0);
		size_t start = c->w.len;
		w_cfg_name(&c->w, name, c->apex_off);
		w_set16(&c->w, rdlen_at, (uint16_t)(c->w.len - start));
		if (!strchr(name, '.') && *n_glue < 16)
			ns_offs[(*n_glue)++] = start;
	}
}

/*
 * Glue for in-zone name servers: every A set, then every AAAA set (NSD's
 * order). Additional data is optional (RFC 2181 §9): RRsets that would push
 * the answer past `limit` are left out, whole, and TC is not set for them.
 * Returns the number of records kept.
 */
static uint16_t put_glue(struct ctx *c, const size_t *ns_offs, size_t n_glue, size_t limit)
{
	const struct dns_zone_group *g = c->info->match.group;
	uint16_t kept = 0;
	for (int six = 0; six < 2; six++) {
		size_t per = six ? g->n_aaaa : g->n_a;
		for (size_t i = 0; i < n_glue && per; i++) {
			size_t before = c->w.len;
			put_addrs(c, ns_offs[i], six != 0);
			if (c->w.over || c->w.len > limit) {
				c->w.over = false;
				c->w.len = before;
				return kept;
			}
			kept = (uint16_t)(kept + per);
		}
	}
	return kept;
}

/* RFC 8482 §4.2: answer ANY with one RRset that exists, or a synthesized HINFO. */
static uint16_t put_any(struct ctx *c)
{
	const struct dns_zone_group *g = c->info->match.group;
	if (g->n_a) {
		put_addrs(c, DNS_HEADER_LEN, false);
		return (uint16_t)g->n_a;
	}
	if (g->n_aaaa) {
		put_addrs(c, DNS_HEADER_LEN, true);
		return (uint16_t)g->n_aaaa;
	}
	w_rr_head(&c->w, DNS_HEADER_LEN, DNS_T_HINFO, g->ttl);
	static const uint8_t hinfo[] = { 7, 'R', 'F', 'C', '8', '4', '8', '2', 0 };
	w_u16(&c->w, sizeof hinfo);
	w_bytes(&c->w, hinfo, sizeof hinfo);
	return 1;
}

static void put_opt(struct ctx *c, uint16_t rcode)
{
	const struct dns_query *q = c->q;
	w_u8(&c->w, 0);
	w_u16(&c->w, DNS_T_OPT);
	w_u16(&c->w, c->cfg ? c->cfg->edns_udp_size : 1232);
	w_u32(&c->w, (uint32_t)(rcode >> 4) << 24 | (q->edns_flags & DNS_EDNS_DO));
	if (q->has_ecs) {
		size_t alen = ((size_t)q->ecs_source + 7) / 8;
		w_u16(&c->w, (uint16_t)(8 + alen));
		w_u16(&c->w, DNS_OPT_ECS);
		w_u16(&c->w, (uint16_t)(4 + alen));
		w_u16(&c->w, q->ecs_family);
		w_u8(&c->w, q->ecs_source);
		w_u8(&c->w, 0);
		w_bytes(&c->w, q->ecs_addr, alen);
	} else {
		w_u16(&c->w, 0);
	}
}

static size_t opt_len(const struct dns_query *q)
{
	if (!q->has_edns)
		return 0;
	return 11 + (q->has_ecs ? 8 + ((size_t)q->ecs_source + 7) / 8 : 0);
}

/* Header and the echoed question; returns false if it does not fit. */
static void put_head(struct ctx *c, uint16_t flags, bool with_question)
{
	const struct dns_query *q = c->q;
	w_u16(&c->w, q->id);
	w_u16(&c->w, flags);
	w_u16(&c->w, with_question ? 1 : 0);
	w_u16(&c->w, 0);
	w_u16(&c->w, 0);
	w_u16(&c->w, 0);
	if (with_question) {
		w_bytes(&c->w, q->qname.wire, q->qname.len);
		w_u16(&c->w, q->qtype);
		w_u16(&c->w, q->qclass);
	}
}

static void finish_counts(struct ctx *c, uint16_t an, uint16_t ns, uint16_t ar)
{
	w_set16(&c->w, 6, an);
	w_set16(&c->w, 8, ns);
	w_set16(&c->w, 10, ar);
	c->info->ancount = an;
	c->info->nscount = ns;
	c->info->arcount = ar;
}

static uint16_t resp_flags(const struct dns_query *q, bool aa, uint16_t rcode)
{
	uint16_t f = DNS_F_QR | (uint16_t)(q->flags & (0x7800u | DNS_F_RD | DNS_F_CD));
	if (aa)
		f |= DNS_F_AA;
	return (uint16_t)(f | (rcode & 0xfu));
}

size_t dns_answer_build(const struct dns_zones *z, int parse_rc, const struct dns_query *q,
			bool tcp, uint8_t *out, size_t cap, struct dns_answer_info *info)
{
	return dns_answer_build_key(z, parse_rc, q, NULL, tcp, out, cap, info);
}

size_t dns_answer_build_key(const struct dns_zones *z, int parse_rc, const struct dns_query *q,
			    const struct dns_zone_key *key, bool tcp, uint8_t *out, size_t cap,
			    struct dns_answer_info *info)
{
	memset(info, 0, sizeof *info);
	if (parse_rc == ERR_NEED_MORE || (q->flags & DNS_F_QR))
		return 0;
	struct ctx c = { z, z ? dns_zones_config(z) : NULL, q, info, { out, 0, cap, false }, 0 };
	size_t limit = tcp ? 65535 : 512;
	if (!tcp && q->has_edns && c.cfg) {
		size_t want = q->edns_size < 512 ? 512 : q->edns_size;
		limit = want < c.cfg->edns_udp_size ? want : c.cfg->edns_udp_size;
	}
	if (limit > cap)
		limit = cap;

	uint16_t rcode = DNS_R_NOERROR;
	if (parse_rc != 0) {
		rcode = DNS_R_FORMERR;
	} else if (DNS_OPCODE(q->flags) != 0) {
		rcode = DNS_R_NOTIMP;
	} else if (q->has_edns && q->edns_version > 0) {
		rcode = DNS_R_BADVERS;
	} else if (q->qclass != DNS_C_IN || q->qtype == DNS_T_AXFR || q->qtype == DNS_T_IXFR ||
		   q->qtype == DNS_T_OPT || !z) {
		rcode = DNS_R_REFUSED;
	} else if (!(key ? dns_zones_lookup_key(z, &q->qname, key, &info->match) :
			   dns_zones_lookup(z, &q->qname, &info->match))) {
		rcode = DNS_R_REFUSED;
	} else {
		info->matched = true;
	}
	info->rcode = rcode;
	if (!info->matched) {
		/* FORMERR echoes the question only if it parsed; OPT only if EDNS parsed cleanly. */
		bool question = q->has_question;
		bool edns = q->has_edns && parse_rc == 0;
		info->flags = resp_flags(q, false, rcode);
		put_head(&c, info->flags, question);
		if (edns)
			put_opt(&c, rcode);
		finish_counts(&c, 0, 0, edns ? 1 : 0);
		return c.w.over ? 0 : c.w.len;
	}

	const struct dns_zone_group *g = info->match.group;
	c.apex_off = DNS_HEADER_LEN + q->qname.label_off[info->match.apex_label];
	info->flags = resp_flags(q, true, rcode);
	put_head(&c, info->flags, true);
	size_t body = c.w.len;
	uint16_t an = 0, ns = 0, ar = 0;
	size_t ns_offs[16], n_glue = 0;
	bool apex = info->match.at_apex;
	switch (q->qtype) {
	case DNS_T_A:
		an = (uint16_t)g->n_a;
		put_addrs(&c, DNS_HEADER_LEN, false);
		break;
	case DNS_T_AAAA:
		an = (uint16_t)g->n_aaaa;
		put_addrs(&c, DNS_HEADER_LEN, true);
		break;
	case DNS_T_ANY:
		an = put_any(&c);
		break;
	case DNS_T_SOA:
		if (apex) {
			put_soa(&c, g->ttl);
			an = 1;
		}
		break;
	case DNS_T_NS:
		if (apex) {
			put_ns(&c, ns_offs, &n_glue);
			an = (uint16_t)(c.cfg->n_ns ? c.cfg->n_ns : 1);
			if (!c.w.over && c.w.len + opt_len(q) <= limit)
				ar = put_glue(&c, ns_offs, n_glue, limit - opt_len(q));
		}
		break;
	default:
		break;
	}
	if (an == 0) {
		/* NODATA: the name exists (everything below a seized name does), the type does not. */
		uint32_t neg = g->ttl < c.cfg->soa_minimum ? g->ttl : c.cfg->soa_minimum;
		put_soa(&c, neg);
		ns = 1;
	} else {
		info->ttl = g->ttl;
	}
	size_t olen = opt_len(q);
	if (c.w.over || c.w.len + olen > limit) {
		/* Too big for this transport: header and question only, TC set, retry over TCP. */
		c.w.over = false;
		c.w.len = body;
		an = ns = ar = 0;
		info->truncated = true;
		info->flags |= DNS_F_TC;
		info->n_addrs = 0;
		info->ttl = 0;
		w_set16(&c.w, 2, info->flags);
	}
	if (q->has_edns) {
		put_opt(&c, rcode);
		ar++;
	}
	finish_counts(&c, an, ns, ar);
	return c.w.over ? 0 : c.w.len;
}

size_t dns_answer_slip(const struct dns_zones *z, const struct dns_query *q, uint8_t *out,
		       size_t cap)
{
	struct dns_answer_info info;
	memset(&info, 0, sizeof info);
	struct ctx c = { z, z ? dns_zones_config(z) : NULL, q, &info, { out, 0, cap, false }, 0 };
	uint16_t flags = (uint16_t)(resp_flags(q, false, 0) | DNS_F_TC);
	put_head(&c, flags, q->has_question);
	if (q->has_edns)
		put_opt(&c, 0);
	finish_counts(&c, 0, 0, q->has_edns ? 1 : 0);
	return c.w.over ? 0 : c.w.len;
}
