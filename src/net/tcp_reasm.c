/* tcp_reasm.c — TCP reassembly: in-order delivery without copies, first-copy-wins overlaps, bounded holding, recorded gaps. */
#include "net/tcp_reasm.h"

#include <stdlib.h>
#include <string.h>

struct reasm_seg {
	struct reasm_seg *next;
	uint64_t off;
	size_t len;
	uint8_t data[];
};

void tcp_reasm_init(struct tcp_reasm *r, size_t flow_max)
{
	memset(r, 0, sizeof *r);
	r->flow_max = flow_max;
}

void tcp_reasm_syn(struct tcp_reasm *r, uint32_t isn)
{
	if (r->started)
		return;
	r->started = true;
	r->base = isn + 1;
}

uint64_t tcp_reasm_offset(const struct tcp_reasm *r, uint32_t seq)
{
	uint32_t expect = r->base + (uint32_t)r->next;
	int64_t d = (int32_t)(seq - expect);
	if (d < 0 && (uint64_t)-d > r->next)
		return 0;
	return (uint64_t)((int64_t)r->next + d);
}

static void seg_free(struct tcp_reasm *r, struct reasm_budget *b, struct reasm_seg *g)
{
	r->held_bytes -= g->len;
	b->used -= g->len;
	free(g);
}

/* Delivers held segments that are now in order. */
static void drain(struct tcp_reasm *r, struct reasm_budget *b, const struct reasm_sink *s)
{
	while (r->held && r->held->off <= r->next) {
		struct reasm_seg *g = r->held;
		r->held = g->next;
		uint64_t end = g->off + g->len;
		if (end > r->next) {
			size_t skip = (size_t)(r->next - g->off);
			s->deliver(s->arg, r->next, g->data + skip, g->len - skip);
			r->delivered += g->len - skip;
			r->next = end;
		}
		seg_free(r, b, g);
	}
}

/* Jumps over the hole before the first held segment (or up to `to`). */
static void declare_gap(struct tcp_reasm *r, struct reasm_budget *b, uint64_t to,
			const struct reasm_sink *s)
{
	if (r->held && r->held->off < to)
		to = r->held->off;
	if (to > r->next) {
		r->gaps++;
		r->gap_bytes += to - r->next;
		if (s->on_gap)
			s->on_gap(s->arg, r->next, to - r->next);
		r->next = to;
	}
	drain(r, b, s);
}

/*
 * Holds the parts of [off, off+len) not already held (first copy wins).
 * Returns false when the budget does not allow it; nothing is held then.
 */
static bool hold(struct tcp_reasm *r, struct reasm_budget *b, uint64_t off, const uint8_t *data,
		 size_t len)
{
	uint64_t end = off + len;
	/* First pass: how many new bytes, and compare overlaps. */
	size_t fresh = 0;
	uint64_t cur = off;
	for (struct reasm_seg *g = r->held; g && cur < end; g = g->next) {
		uint64_t gend = g->off + g->len;
		if (gend <= cur)
			continue;
		if (g->off >= end)
			break;
		if (g->off > cur)
			fresh += (size_t)(g->off - cur);
		uint64_t o0 = cur > g->off ? cur : g->off, o1 = end < gend ? end : gend;
		if (memcmp(data + (o0 - off), g->data + (o0 - g->off), (size_t)(o1 - o0)) != 0)
			r->conflict_bytes += o1 - o0;
		r->dup_bytes += o1 - o0;
		cur = gend;
	}
	if (cur < end)
		fresh += (size_t)(end - cur);
	if (fresh == 0)
		return true;
	if (r->held_bytes + fresh > r->flow_max || b->used + fresh > b->max)
		return false;
	/* Second pass: fill each hole with a new segment, keeping the list sorted. */
	struct reasm_seg **link = &r->held;
	cur = off;
	while (cur < end) {
		while (*link && (*link)->off + (*link)->len <= cur)
			link = &(*link)->next;
		uint64_t hole_end = end;
		if (*link && (*link)->off <= cur) {
			cur = (*link)->off + (*link)->len;
			continue;
		}
		if (*link && (*link)->off < hole_end)
			hole_end = (*link)->off;
		size_t n = (size_t)(hole_end - cur);
		struct reasm_seg *g = malloc(sizeof *g + n);
		if (!g)
			return false; /* what was inserted stays; the rest becomes a gap later */
		g->off = cur;
		g->len = n;
		memcpy(g->data, data + (cur - off), n);
		g->next = *link;
		*link = g;
		link = &g->next;
		r->held_bytes += n;
		b->used += n;
		if (b->used > b->peak)
			b->peak = b->used;
		cur = hole_end;
	}
	return true;
}

void tcp_reasm_add(struct tcp_reasm *r, struct reasm_budget *b, uint32_t seq, const uint8_t *data,
		   size_t len, const struct reasm_sink *s)
{
	if (len == 0)
		return;
	if (!r->started) {
		r->started = true;
		r->base = seq;
	}
	r->segments++;
	uint64_t off = tcp_reasm_offset(r, seq);
	uint64_t end = off + len;
	if (end <= r->next) {
		r->dup_bytes += len;
		return;
	}
	if (off < r->next) {
		size_t skip = (size_t)(r->next - off);
		r->dup_bytes += skip;
		data += skip;
		len -= skip;
		off = r->next;
	}
	if (off == r->next) {
		/* In order: straight through, up to where held data (which came first) begins. */
		size_t n = len;
		if (r->held && r->held->off < end)
			n = (size_t)(r->held->off - off);
		if (n) {
			s->deliver(s->arg, off, data, n);
			r->delivered += n;
			r->next += n;
			data += n;
			len -= n;
			off += n;
		}
		if (len == 0) {
			drain(r, b, s);
			return;
		}
	} else {
		r->out_of_order++;
	}
	/* Out of order, or overlapping held data: hold what is new, making room by gaps if needed. */
	for (int tries = 0; tries < 64; tries++) {
		if (hold(r, b, off, data, len))
			break;
		if (!r->held) {
			/* Nothing held to give up: the hole up to this segment is a gap. */
			declare_gap(r, b, off, s);
			if (off + len > r->next) {
				size_t skip = off < r->next ? (size_t)(r->next - off) : 0;
				s->deliver(s->arg, r->next, data + skip, len - skip);
				r->delivered += len - skip;
				r->next = off + len;
			}
			break;
		}
		declare_gap(r, b, UINT64_MAX, s);
		if (off + len <= r->next) {
			r->dup_bytes += len;
			break;
		}
		if (off < r->next) {
			size_t skip = (size_t)(r->next - off);
			data += skip;
			len -= skip;
			off = r->next;
		}
	}
	drain(r, b, s);
}

void tcp_reasm_finish(struct tcp_reasm *r, struct reasm_budget *b, uint64_t end,
		      const struct reasm_sink *s)
{
	while (r->held)
		declare_gap(r, b, UINT64_MAX, s);
	if (end > r->next) {
		r->gaps++;
		r->gap_bytes += end - r->next;
		if (s->on_gap)
			s->on_gap(s->arg, r->next, end - r->next);
		r->next = end;
	}
}

void tcp_reasm_free(struct tcp_reasm *r, struct reasm_budget *b)
{
	while (r->held) {
		struct reasm_seg *g = r->held;
		r->held = g->next;
		seg_free(r, b, g);
	}
}
