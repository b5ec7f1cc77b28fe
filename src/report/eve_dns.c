/* eve_dns.c — renders the DNS fields of an event as Suricata's EVE "dns" object (format version 3). */
#include "report/eve_dns.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "proto/dns/dns_msg.h"

struct dout {
	struct dynbuf *b;
	int rc;
};

static void add(struct dout *o, const char *s)
{
	if (o->rc == 0)
		o->rc = dynbuf_adds(o->b, s);
}

static void str(struct dout *o, const void *p, size_t n)
{
	if (o->rc == 0)
		o->rc = json_str(o->b, p, n);
}

static void u64(struct dout *o, uint64_t v)
{
	if (o->rc == 0)
		o->rc = json_u64(o->b, v);
}

static bool field_uint(const struct event_view *v, uint16_t tag, uint64_t *out)
{
	struct event_field f;
	if (!event_find(v, tag, &f) || !(f.len == 2 || f.len == 4 || f.len == 8))
		return false;
	*out = event_field_uint(&f);
	return true;
}

/* Suricata writes IPv6 rdata as eight zero-padded groups, IPv4 dotted. */
static void addr_text(const uint8_t *a, bool six, char *buf, size_t cap)
{
	if (!six) {
		snprintf(buf, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	snprintf(buf, cap,
		 "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x", a[0],
		 a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
		 a[14], a[15]);
}

/* Walks EVENT_T_DNS_ANSWERS: calls back per address of the wanted family (4, 6, or 0 = all). */
static void answers(struct dout *o, const struct event_field *f, const struct event_field *qname,
		    int want, bool detailed)
{
	if (f->len < 4)
		return;
	uint32_t ttl = (uint32_t)f->val[0] << 24 | (uint32_t)f->val[1] << 16 |
		       (uint32_t)f->val[2] << 8 | f->val[3];
	size_t pos = 4;
	bool first = true;
	while (pos < f->len) {
		uint8_t ver = f->val[pos++];
		size_t al = ver == 4 ? 4 : ver == 6 ? 16 : 0;
		if (!al || al > (size_t)f->len - pos)
			return;
		const uint8_t *a = f->val + pos;
		pos += al;
		if (want && want != ver)
			continue;
		char t[48];
		addr_text(a, ver == 6, t, sizeof t);
		if (!first)
			add(o, ",");
		first = false;
		if (!detailed) {
			str(o, t, strlen(t));
			continue;
		}
		add(o, "{\"rrname\":");
		str(o, qname->val, qname->len);
		add(o, ver == 6 ? ",\"rrtype\":\"AAAA\",\"ttl\":" : ",\"rrtype\":\"A\",\"ttl\":");
		u64(o, ttl);
		add(o, ",\"rdata\":");
		str(o, t, strlen(t));
		add(o, "}");
	}
}

static bool has_family(const struct event_field *f, uint8_t ver)
{
	for (size_t pos = 4; pos < f->len;) {
		uint8_t v = f->val[pos++];
		size_t al = v == 4 ? 4 : v == 6 ? 16 : 0;
		if (!al || al > (size_t)f->len - pos)
			return false;
		if (v == ver)
			return true;
		pos += al;
	}
	return false;
}

int eve_dns_object(struct dynbuf *b, const struct event_view *v)
{
	struct dout o = { b, 0 };
	struct event_field qname, ans;
	uint64_t id = 0, qflags = 0, rflags = 0, rcode = 0, qtype = 0;
	bool has_q = event_find(v, EVENT_T_DNS_QNAME, &qname);
	bool has_id = field_uint(v, EVENT_T_DNS_ID, &id);
	bool has_r = field_uint(v, EVENT_T_DNS_RFLAGS, &rflags);
	field_uint(v, EVENT_T_DNS_QFLAGS, &qflags);
	bool has_rcode = field_uint(v, EVENT_T_DNS_RCODE, &rcode);
	field_uint(v, EVENT_T_DNS_QTYPE, &qtype);
	if (!has_q && !has_id)
		return 0;
	uint64_t fl = has_r ? rflags : qflags;
	char tmp[32];
	add(&o, ",\"dns\":{\"version\":3,\"type\":");
	add(&o, has_r ? "\"response\"" : "\"request\"");
	add(&o, ",\"id\":");
	u64(&o, id);
	snprintf(tmp, sizeof tmp, ",\"flags\":\"%x\"", (unsigned)fl);
	add(&o, tmp);
	add(&o, fl & DNS_F_QR ? ",\"qr\":true" : ",\"qr\":false");
	if (fl & DNS_F_AA)
		add(&o, ",\"aa\":true");
	if (fl & DNS_F_TC)
		add(&o, ",\"tc\":true");
	if (fl & DNS_F_RD)
		add(&o, ",\"rd\":true");
	if (fl & DNS_F_RA)
		add(&o, ",\"ra\":true");
	if (fl & DNS_F_Z)
		add(&o, ",\"z\":true");
	add(&o, ",\"opcode\":");
	u64(&o, DNS_OPCODE(fl));
	if (has_rcode) {
		add(&o, ",\"rcode\":");
		dns_rcode_str((uint16_t)rcode, tmp, sizeof tmp);
		str(&o, tmp, strlen(tmp));
	}
	if (has_q) {
		add(&o, ",\"queries\":[{\"rrname\":");
		str(&o, qname.val, qname.len);
		add(&o, ",\"rrtype\":");
		dns_type_str((uint16_t)qtype, tmp, sizeof tmp);
		str(&o, tmp, strlen(tmp));
		add(&o, "}]");
	}
	if (has_q && event_find(v, EVENT_T_DNS_ANSWERS, &ans) && ans.len > 4) {
		add(&o, ",\"answers\":[");
		answers(&o, &ans, &qname, 0, true);
		add(&o, "],\"grouped\":{");
		bool four = has_family(&ans, 4), six = has_family(&ans, 6);
		if (four) {
			add(&o, "\"A\":[");
			answers(&o, &ans, &qname, 4, false);
			add(&o, "]");
		}
		if (six) {
			add(&o, four ? ",\"AAAA\":[" : "\"AAAA\":[");
			answers(&o, &ans, &qname, 6, false);
			add(&o, "]");
		}
		add(&o, "}");
	}
	add(&o, "}");
	return o.rc;
}

int eve_dns_sinkhole(struct dynbuf *b, const struct event_view *v)
{
	struct dout o = { b, 0 };
	struct event_field f;
	uint64_t u = 0;
	if (event_find(v, EVENT_T_DNS_CLIENT_KIND, &f)) {
		add(&o, ",\"client_kind\":");
		str(&o, f.val, f.len);
	}
	if (event_find(v, EVENT_T_DNS_ZONE, &f)) {
		add(&o, ",\"zone\":");
		str(&o, f.val, f.len);
	}
	if (field_uint(v, EVENT_T_DNS_QCLASS, &u)) {
		add(&o, ",\"qclass\":");
		u64(&o, u);
	}
	if (event_find(v, EVENT_T_DNS_ACTION, &f)) {
		add(&o, ",\"action\":");
		str(&o, f.val, f.len);
	}
	if (field_uint(v, EVENT_T_DNS_EDNS_SIZE, &u)) {
		uint64_t ef = 0;
		field_uint(v, EVENT_T_DNS_EDNS_FLAGS, &ef);
		add(&o, ",\"edns\":{\"udp_size\":");
		u64(&o, u);
		add(&o, ",\"version\":");
		u64(&o, (ef >> 16) & 0xff);
		add(&o, ef & DNS_EDNS_DO ? ",\"do\":true}" : ",\"do\":false}");
	}
	if (event_find(v, EVENT_T_DNS_ECS, &f) && f.len == 20) {
		uint16_t fam = (uint16_t)(f.val[0] << 8 | f.val[1]);
		char t[64], a[48];
		if (fam == 1 || fam == 2) {
			if (fam == 1)
				inet_ntop(AF_INET, f.val + 4, a, sizeof a);
			else
				inet_ntop(AF_INET6, f.val + 4, a, sizeof a);
			snprintf(t, sizeof t, "%s/%u", a, f.val[2]);
			add(&o, ",\"client_subnet\":");
			str(&o, t, strlen(t));
		}
	}
	return o.rc;
}
