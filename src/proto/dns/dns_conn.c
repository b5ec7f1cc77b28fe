/* dns_conn.c — DNS over UDP (one answer per datagram) and TCP (RFC 7766 framing, pipelining), events, RRL. */
#include "proto/dns/dns_conn.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "net/daemon.h"
#include "proto/dns/dns_answer.h"
#include "proto/dns/dns_msg.h"
#include "proto/dns/dns_zone.h"

#define DNS_RAW_PREFIX_MAX 512
#define DNS_RRL_BUCKETS	   8192u /* per worker; a collision just restarts the newer prefix's count */
#define DNS_TCP_ANSWER_MAX 16384u

struct dns_rrl_bucket {
	uint8_t key[17]; /* ipver, prefix bytes */
	uint32_t second;
	uint32_t used;
	uint32_t over; /* answers over the rate in this second: decides the slip */
};

struct dns_rrl {
	struct dns_rrl_bucket b[DNS_RRL_BUCKETS];
};

enum rrl_verdict {
	RRL_PASS,
	RRL_DROP,
	RRL_SLIP
};

static enum rrl_verdict dns_rrl_check(struct worker *w, const struct config_dns *cfg,
				      const struct event_addr *src)
{
	if (!cfg->rrl_rate)
		return RRL_PASS;
	for (size_t i = 0; i < cfg->n_rrl_exempt; i++)
		if (config_cidr_contains(&cfg->rrl_exempt[i], src))
			return RRL_PASS;
	if (!w->dns_rrl) {
		w->dns_rrl = calloc(1, sizeof(struct dns_rrl));
		if (!w->dns_rrl)
			return RRL_PASS;
	}
	struct dns_rrl *r = w->dns_rrl;
	uint8_t key[17] = { src->ipver };
	unsigned bits = src->ipver == 4 ? cfg->rrl_v4_prefix : cfg->rrl_v6_prefix;
	unsigned bytes = bits / 8;
	memcpy(key + 1, src->addr, bytes);
	if (bits % 8)
		key[1 + bytes] = (uint8_t)(src->addr[bytes] & (0xffu << (8 - bits % 8)));
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof key; i++)
		h = (h ^ key[i]) * 16777619u;
	struct dns_rrl_bucket *b = &r->b[h & (DNS_RRL_BUCKETS - 1)];
	uint32_t sec = (uint32_t)(w->now_ms / 1000);
	if (memcmp(b->key, key, sizeof key) != 0 || b->second != sec) {
		memcpy(b->key, key, sizeof key);
		b->second = sec;
		b->used = 0;
		b->over = 0;
	}
	if (b->used < cfg->rrl_rate) {
		b->used++;
		return RRL_PASS;
	}
	b->over++;
	if (cfg->rrl_slip && b->over % cfg->rrl_slip == 0)
		return RRL_SLIP;
	return RRL_DROP;
}

static void put_ecs(struct event_builder *b, const struct dns_query *q)
{
	uint8_t v[20] = { (uint8_t)(q->ecs_family >> 8), (uint8_t)q->ecs_family, q->ecs_source,
			  q->ecs_scope };
	memcpy(v + 4, q->ecs_addr, 16);
	event_put(b, EVENT_T_DNS_ECS, v, sizeof v);
}

static void put_answers(struct event_builder *b, const struct dns_answer_info *ai)
{
	uint8_t v[4 + DNS_CFG_MAX_ADDRS * 17];
	size_t n = 4;
	v[0] = (uint8_t)(ai->ttl >> 24);
	v[1] = (uint8_t)(ai->ttl >> 16);
	v[2] = (uint8_t)(ai->ttl >> 8);
	v[3] = (uint8_t)ai->ttl;
	for (unsigned i = 0; i < ai->n_addrs; i++) {
		size_t al = ai->addrs[i][0] == 4 ? 4 : 16;
		v[n++] = ai->addrs[i][0];
		memcpy(v + n, ai->addrs[i] + 1, al);
		n += al;
	}
	event_put(b, EVENT_T_DNS_ANSWERS, v, n);
}

/*
 * Lower-case presentation form of the matched apex. `qtext` is the question
 * name's text (qtext_len characters): when it has no escapes, label i starts
 * there at the label's wire offset and the apex is its tail, lower-cased.
 */
static void put_zone(struct event_builder *b, const struct dns_query *q,
		     const struct dns_answer_info *ai, const char *qtext, size_t qtext_len)
{
	unsigned first = ai->match.apex_label;
	size_t off = q->qname.label_off[first];
	char text[DNS_TEXT_NAME_MAX];
	if (q->qname.len >= 2 && qtext_len == (size_t)q->qname.len - 2 && off < qtext_len) {
		size_t n = qtext_len - off;
		for (size_t i = 0; i < n; i++) {
			char ch = qtext[off + i];
			text[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
		}
		event_put(b, EVENT_T_DNS_ZONE, text, n);
		return;
	}
	struct dns_name apex;
	apex.len = (uint16_t)(q->qname.len - off);
	memcpy(apex.wire, q->qname.wire + off, apex.len);
	apex.labels = (uint8_t)(q->qname.labels - first);
	for (unsigned i = 0; i <= apex.labels; i++)
		apex.label_off[i] = (uint8_t)(q->qname.label_off[first + i] - off);
	for (size_t i = 0; i < apex.len; i++)
		if (apex.wire[i] >= 'A' && apex.wire[i] <= 'Z')
			apex.wire[i] = (uint8_t)(apex.wire[i] + 32);
	size_t n = dns_name_text(&apex, text, sizeof text);
	event_put(b, EVENT_T_DNS_ZONE, text, n);
}

/* The DNS fields of one query's event (the header is already begun). */
static void dns_event_fields(struct event_builder *b, const uint8_t *msg, size_t len, int prc,
			     const struct dns_query *q, const struct dns_answer_info *ai,
			     bool answered, const char *action)
{
	dns_zone_group_event_fields(b, ai->matched ? ai->match.group : NULL);
	if (prc != ERR_NEED_MORE) {
		event_put_u16(b, EVENT_T_DNS_ID, q->id);
		event_put_u16(b, EVENT_T_DNS_QFLAGS, q->flags);
	}
	char text[DNS_TEXT_NAME_MAX];
	size_t text_len = 0;
	if (q->has_question) {
		text_len = dns_name_text(&q->qname, text, sizeof text);
		event_put(b, EVENT_T_DNS_QNAME, text, text_len);
		event_put_u16(b, EVENT_T_DNS_QTYPE, q->qtype);
		event_put_u16(b, EVENT_T_DNS_QCLASS, q->qclass);
	}
	if (q->has_edns) {
		event_put_u16(b, EVENT_T_DNS_EDNS_SIZE, q->edns_size);
		event_put_u32(b, EVENT_T_DNS_EDNS_FLAGS,
			      (uint32_t)q->edns_version << 16 | q->edns_flags);
	}
	if (q->has_ecs)
		put_ecs(b, q);
	if (ai->matched)
		put_zone(b, q, ai, q->has_question ? text : "", text_len);
	if (answered) {
		event_put_u16(b, EVENT_T_DNS_RCODE, ai->rcode);
		event_put_u16(b, EVENT_T_DNS_RFLAGS, ai->flags);
		if (ai->n_addrs)
			put_answers(b, ai);
	}
	event_put_str(b, EVENT_T_DNS_ACTION, action);
	if (prc != 0) {
		event_add_flags(b, EVENT_F_MALFORMED);
		event_put_str(b, EVENT_T_REASON, q->error ? q->error : "malformed message");
		event_put(b, EVENT_T_RAW_PREFIX, msg,
			  len > DNS_RAW_PREFIX_MAX ? DNS_RAW_PREFIX_MAX : len);
	}
}

static const struct dns_zones *dns_zones_now(struct worker *w)
{
	return w->rules ? w->rules->dns : NULL;
}

/* One datagram's query, parsed (and its name hashed for the zone table) ahead of answering. */
struct dns_prepared {
	int prc;
	struct dns_query q;
	struct dns_zone_key key; /* key.labels == 0: not made (no table, or nothing to look up) */
};

struct dns_batch {
	struct dns_prepared e[WORKER_DGRAM_BATCH];
};

static void dns_prepare(const struct dns_zones *z, const struct dgram *dg, struct dns_prepared *p)
{
	p->prc = dns_msg_parse(dg->data, dg->len, &p->q);
	if (dg->truncated && p->prc == 0) {
		p->prc = ERR_MALFORMED;
		p->q.error = "datagram larger than the receive buffer";
	}
	p->key.labels = 0;
	if (z && p->prc == 0)
		dns_zones_key(&p->q.qname, &p->key);
}

/*
 * Parses the whole batch first, then looks up its names in two passes that
 * only start loads (table slots, then the names they point at), so the
 * cache misses of 32 lookups overlap; dns_on_datagram then finds them done.
 */
static void dns_on_datagram_batch(struct worker *w, struct dgram *dgs, unsigned n)
{
	if (!w->dns_batch) {
		w->dns_batch = malloc(sizeof *w->dns_batch);
		if (!w->dns_batch)
			return; /* each datagram is then parsed on its own */
	}
	struct dns_batch *b = w->dns_batch;
	const struct dns_zones *z = dns_zones_now(w);
	if (n > WORKER_DGRAM_BATCH)
		n = WORKER_DGRAM_BATCH;
	for (unsigned i = 0; i < n; i++) {
		dns_prepare(z, &dgs[i], &b->e[i]);
		if (b->e[i].key.labels)
			dns_zones_prefetch(z, &b->e[i].key, 0);
		dgs[i].proto_ctx = &b->e[i];
	}
	for (unsigned i = 0; z && i < n; i++)
		if (b->e[i].key.labels)
			dns_zones_prefetch(z, &b->e[i].key, 1);
}

static size_t dns_on_datagram(struct worker *w, struct dgram *dg)
{
	const struct dns_zones *z = dns_zones_now(w);
	struct dns_prepared local;
	struct dns_prepared *p = dg->proto_ctx;
	if (!p) {
		dns_prepare(z, dg, &local);
		p = &local;
	}
	const struct dns_query *qp = &p->q;
	int prc = p->prc;
	struct dns_answer_info ai;
	size_t n = dns_answer_build_key(z, prc, qp, p->key.labels ? &p->key : NULL, false,
					dg->reply, dg->reply_cap, &ai);
	const char *action = n ? (ai.truncated ? "truncated" : "answered") : "dropped";
	uint16_t flags = 0;
	if (n && z) {
		enum rrl_verdict v = dns_rrl_check(w, dns_zones_config(z), &dg->src);
		if (v == RRL_DROP) {
			n = 0;
			action = "rrl-drop";
			flags |= EVENT_F_LIMIT;
			STAT_INC(w->st.dns_rrl_dropped);
		} else if (v == RRL_SLIP) {
			n = dns_answer_slip(z, qp, dg->reply, dg->reply_cap);
			action = "rrl-slip";
			flags |= EVENT_F_LIMIT;
			STAT_INC(w->st.dns_rrl_slipped);
		}
	}
	if (!n)
		flags |= EVENT_F_NO_ANSWER;
	STAT_INC(w->st.requests);
	if (prc)
		STAT_INC(w->st.malformed);
	struct event_builder b;
	dgram_event_begin(w, dg, &b, EVENT_DNS, flags);
	bool real = n && strcmp(action, "rrl-slip") != 0;
	dns_event_fields(&b, dg->data, dg->len, prc, qp, &ai, real, action);
	if (!strcmp(action, "rrl-slip")) {
		event_put_u16(&b, EVENT_T_DNS_RCODE, 0);
		event_put_u16(&b, EVENT_T_DNS_RFLAGS, (uint16_t)(dg->reply[2] << 8 | dg->reply[3]));
	}
	dgram_event_submit(w, dg, &b);
	return n;
}

/* --- TCP (RFC 7766): two-byte length prefix, any number of pipelined queries. */

static void dns_tcp_query(struct conn *c, const uint8_t *msg, size_t len)
{
	struct worker *w = c->w;
	const struct dns_zones *z = dns_zones_now(w);
	struct dns_query q;
	struct dns_answer_info ai;
	uint8_t out[2 + DNS_TCP_ANSWER_MAX];
	int prc = dns_msg_parse(msg, len, &q);
	size_t n = dns_answer_build(z, prc, &q, true, out + 2, DNS_TCP_ANSWER_MAX, &ai);
	STAT_INC(w->st.requests);
	if (prc)
		STAT_INC(w->st.malformed);
	struct event_builder b;
	conn_event_begin(c, &b, EVENT_DNS, NULL, n ? 0 : EVENT_F_NO_ANSWER);
	dns_event_fields(&b, msg, len, prc, &q, &ai, n != 0, n ? "answered" : "dropped");
	conn_event_submit(c, &b);
	if (n) {
		out[0] = (uint8_t)(n >> 8);
		out[1] = (uint8_t)n;
		conn_write(c, out, n + 2);
	}
}

static void dns_tcp_reject(struct conn *c, const uint8_t *raw, size_t len, const char *why)
{
	struct worker *w = c->w;
	STAT_INC(w->st.malformed);
	struct event_builder b;
	conn_event_begin(c, &b, EVENT_DNS, NULL, EVENT_F_MALFORMED | EVENT_F_NO_ANSWER);
	dns_zone_group_event_fields(&b, NULL);
	event_put_str(&b, EVENT_T_DNS_ACTION, "dropped");
	event_put_str(&b, EVENT_T_REASON, why);
	if (len)
		event_put(&b, EVENT_T_RAW_PREFIX, raw,
			  len > DNS_RAW_PREFIX_MAX ? DNS_RAW_PREFIX_MAX : len);
	conn_event_submit(c, &b);
}

static size_t dns_tcp_input(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	size_t used = 0;
	const struct dns_zones *z = dns_zones_now(c->w);
	uint32_t max_q = z ? dns_zones_config(z)->tcp_max_queries : 1000;
	/* The worker keeps at most this much unconsumed input per connection. */
	size_t in_max = (size_t)c->l->cfg->http.max_header_bytes;
	while (len - used >= 2 && !c->closed && !c->close_after_flush) {
		size_t mlen = (size_t)buf[used] << 8 | buf[used + 1];
		if (mlen + 2 > in_max) {
			dns_tcp_reject(c, buf + used, len - used,
				       "TCP message longer than the limit");
			conn_close_after_flush(c);
			return len;
		}
		if (len - used - 2 < mlen)
			break;
		dns_tcp_query(c, buf + used + 2, mlen);
		used += 2 + mlen;
		if (c->tx_count >= max_q)
			conn_close_after_flush(c);
	}
	if (eof && used < len && !c->close_after_flush) {
		dns_tcp_reject(c, buf + used, len - used, "TCP message cut short by the peer");
		return len;
	}
	if (!c->close_after_flush)
		conn_set_timer(c, CONN_TIMER_IDLE);
	return used;
}

static void dns_tcp_timeout(struct conn *c)
{
	/* Idle between queries is normal (RFC 7766 §6.2.3); half a message is not. */
	if (c->in_len)
		dns_tcp_reject(c, c->in, c->in_len, "TCP message incomplete at the idle timeout");
}

const struct proto_ops dns_udp_proto_ops = {
	.name = "dns",
	.on_datagram = dns_on_datagram,
	.on_datagram_batch = dns_on_datagram_batch,
};

const struct proto_ops dns_tcp_proto_ops = {
	.name = "dns",
	.on_input = dns_tcp_input,
	.on_timeout = dns_tcp_timeout,
};
