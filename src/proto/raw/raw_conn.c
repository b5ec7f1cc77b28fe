/* raw_conn.c — raw TCP capture: banner, first bytes, protocol guess, hand-over, one event, close. */
#include "proto/raw/raw_conn.h"

#include <stddef.h>
#include <string.h>

#include "core/event.h"
#include "core/rules.h"
#include "net/daemon.h"
#include "net/worker.h"
#include "proto/http/http_conn.h"
#include "proto/raw/raw_guess.h"
#include "proto/raw/raw_internal.h"
#include "proto/tls/tls_conn.h"

/*
 * Streams guessed as a protocol sinkd has a module for are handed to it, so
 * they are recorded in full rather than as a byte prefix. One entry per
 * module. A TLS stream gets the TLS listener's treatment (handshake event
 * with JA3/JA4, then HTTP inside) with a self-signed certificate per name:
 * the daemon gives raw TCP listeners a TLS context for this.
 */
static const struct raw_handover {
	enum raw_guess guess;
	const struct proto_ops *ops;
} raw_handovers[] = {
	{ RAW_GUESS_HTTP, &http_proto_ops },
	{ RAW_GUESS_TLS, &tls_http_proto_ops },
};

static const struct proto_ops *raw_handover_for(enum raw_guess g)
{
	for (size_t i = 0; i < sizeof raw_handovers / sizeof raw_handovers[0]; i++)
		if (raw_handovers[i].guess == g)
			return raw_handovers[i].ops;
	return NULL;
}

void raw__put_capture(struct event_builder *b, const struct rules *rules,
		      const struct raw_capture *cap, const char *reason)
{
	const uint8_t *data = cap->keep ? cap->data : (const uint8_t *)"";
	enum raw_guess g = raw_guess(data, cap->keep, cap->datagram);
	uint16_t ent = raw_entropy_milli(data, cap->keep);
	struct rules_input in = {
		.proto = CONFIG_PROTO_RAW,
		.listener = cap->listener,
		.dst_port = cap->dst_port,
		.payload = { .data = data, .len = cap->keep, .total = cap->total, .entropy = ent },
		.slot = cap->slot,
	};
	const struct rules_family *fam = rules_classify(rules, &in);
	event_put_str(b, EVENT_T_FAMILY, fam->name);
	if (fam->tag)
		event_put_str(b, EVENT_T_TAG, fam->tag);
	if (fam->index != UINT32_MAX)
		event_put_u32(b, EVENT_T_RULE, fam->index);
	if (reason)
		event_put_str(b, EVENT_T_REASON, reason);
	if (cap->keep)
		event_put(b, EVENT_T_RAW_PREFIX, data, cap->keep);
	event_put_u64(b, EVENT_T_RAW_LEN, cap->total);
	event_put_u16(b, EVENT_T_RAW_ENTROPY, ent);
	event_put_str(b, EVENT_T_RAW_GUESS, raw_guess_name(g));
}

/* Records the connection's one event from the first bytes `buf` and marks it for closing. */
static void raw_record(struct conn *c, const uint8_t *buf, size_t len, uint16_t flags,
		       const char *reason)
{
	struct worker *w = c->w;
	const struct config_raw *rc = &c->l->cfg->raw;
	struct raw_capture cap = {
		.data = buf,
		.keep = buf ? (len < rc->capture_bytes ? len : rc->capture_bytes) : 0,
		.total = c->bytes_in,
		.listener = c->l->cfg->name,
		.dst_port = c->dst.port,
		.slot = w->id,
	};
	if (cap.total > cap.keep)
		flags |= EVENT_F_TRUNCATED;
	struct event_builder b;
	conn_event_begin(c, &b, EVENT_RAW, NULL, flags);
	raw__put_capture(&b, w->rules->rules, &cap, reason);
	if (rc->banner_len)
		event_put_u32(&b, EVENT_T_RAW_BANNER_LEN, (uint32_t)rc->banner_len);
	conn_event_submit(c, &b);
	STAT_INC(w->st.requests);
	c->p.raw.recorded = true;
	/* The banner (if still queued) goes out first; nothing else is ever sent. */
	conn_close_after_flush(c);
}

static void raw_on_open(struct conn *c)
{
	const struct config_raw *rc = &c->l->cfg->raw;
	c->p.raw.recorded = false;
	if (rc->banner_len)
		conn_write(c, rc->banner, rc->banner_len);
}

static size_t raw_on_input(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	const struct config_raw *rc = &c->l->cfg->raw;
	if (c->p.raw.recorded)
		return len;
	if (len && rc->handover) {
		const struct proto_ops *ops = raw_handover_for(raw_guess(buf, len, false));
		if (ops) {
			conn_handover(c, ops);
			return 0;
		}
	}
	if (len >= rc->capture_bytes) {
		raw_record(c, buf, len, 0, NULL);
		return len;
	}
	if (eof) {
		raw_record(c, buf, len, 0, len ? NULL : "connection closed without data");
		return len;
	}
	return 0; /* keep reading: the bytes stay buffered in the connection */
}

static void raw_on_timeout(struct conn *c)
{
	if (c->p.raw.recorded)
		return;
	raw_record(c, c->in, c->in_len, EVENT_F_TIMEOUT,
		   c->in_len ? NULL : "no data before timeout");
}

/* The capture is recorded once, at the end: until then the connection is in flight. */
static bool raw_is_idle(const struct conn *c)
{
	return c->p.raw.recorded;
}

const struct proto_ops raw_proto_ops = {
	.name = "raw",
	.on_open = raw_on_open,
	.on_input = raw_on_input,
	.on_timeout = raw_on_timeout,
	.is_idle = raw_is_idle,
};
