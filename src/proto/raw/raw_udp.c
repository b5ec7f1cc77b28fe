/* raw_udp.c — raw UDP capture: one event per datagram, a per-source rate cap, never a reply. */
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/rules.h"
#include "net/daemon.h"
#include "net/worker.h"
#include "proto/raw/raw_conn.h"
#include "proto/raw/raw_internal.h"

/*
 * The cap is a fixed window of one second per source address, kept in a
 * direct-mapped table per worker (no lock, bounded memory: RAW_UDP_SLOTS
 * entries whatever the number of sources). Two sources that hash to the same
 * slot take it over from each other, which can only let a few more of their
 * datagrams through, never record fewer than the cap. The datagrams a source
 * loses to the cap are counted and the count travels with its next recorded
 * event (EVENT_T_RAW_SUPPRESSED), so the log still tells how much it sent.
 */
#define RAW_UDP_SLOTS 4096

struct raw_udp_slot {
	uint8_t ipver;
	uint8_t addr[16];
	uint32_t count;	     /* recorded in the current window */
	uint64_t window;     /* second the window belongs to */
	uint64_t suppressed; /* dropped by the cap since the last recorded event */
};

struct raw_udp_limiter {
	struct raw_udp_slot slot[RAW_UDP_SLOTS];
};

void raw_udp_limiter_free(struct raw_udp_limiter *lim)
{
	free(lim);
}

static struct raw_udp_slot *raw_udp_slot_for(struct raw_udp_limiter *lim,
					     const struct event_addr *a)
{
	uint64_t h = 0xcbf29ce484222325ull ^ a->ipver;
	for (size_t i = 0; i < sizeof a->addr; i++) {
		h ^= a->addr[i];
		h *= 0x100000001b3ull;
	}
	struct raw_udp_slot *s = &lim->slot[(h ^ (h >> 32)) & (RAW_UDP_SLOTS - 1)];
	if (s->ipver != a->ipver || memcmp(s->addr, a->addr, sizeof s->addr)) {
		memset(s, 0, sizeof *s);
		s->ipver = a->ipver;
		memcpy(s->addr, a->addr, sizeof s->addr);
	}
	return s;
}

static size_t raw_on_datagram(struct worker *w, struct dgram *dg)
{
	const struct config_raw *rc = &dg->l->cfg->raw;
	if (!w->raw_udp) {
		w->raw_udp = calloc(1, sizeof *w->raw_udp);
		if (!w->raw_udp) {
			STAT_INC(w->st.events_dropped);
			return 0;
		}
	}
	struct raw_udp_slot *s = raw_udp_slot_for(w->raw_udp, &dg->src);
	uint64_t sec = w->now_ms / 1000u;
	if (s->window != sec) {
		s->window = sec;
		s->count = 0;
	}
	if (s->count >= rc->udp_rate) {
		s->suppressed++;
		return 0;
	}
	s->count++;

	struct raw_capture cap = {
		.data = dg->data,
		.keep = dg->len < rc->capture_bytes ? dg->len : rc->capture_bytes,
		.total = dg->wire_len,
		.datagram = true,
		.listener = dg->l->cfg->name,
		.dst_port = dg->dst.port,
		.slot = w->id,
	};
	uint16_t flags = dg->truncated || cap.keep < dg->len ? EVENT_F_TRUNCATED : 0;
	struct event_builder b;
	dgram_event_begin(w, dg, &b, EVENT_RAW, flags);
	raw__put_capture(&b, w->rules->rules, &cap,
			 dg->truncated ? "datagram larger than the receive buffer" : NULL);
	if (s->suppressed)
		event_put_u64(&b, EVENT_T_RAW_SUPPRESSED, s->suppressed);
	if (dgram_event_submit(w, dg, &b))
		s->suppressed = 0;
	STAT_INC(w->st.requests);
	/* Never a reply: a sinkhole must not be an amplifier for spoofed sources. */
	return 0;
}

const struct proto_ops raw_dgram_ops = {
	.name = "raw-udp",
	.on_datagram = raw_on_datagram,
};
