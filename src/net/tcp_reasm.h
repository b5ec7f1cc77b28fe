/* tcp_reasm.h — reassembles one direction of a TCP stream from captured segments, in bounded memory. */
#ifndef SINKD_NET_TCP_REASM_H
#define SINKD_NET_TCP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Policy (the same for every flow, so a replay is deterministic):
 *  - Stream offsets are 64-bit, counted from the byte after the SYN (or from
 *    the first segment seen, when the capture began mid-stream); sequence
 *    numbers are placed relative to the next expected byte, so wrap-around
 *    and flows beyond 4 GiB work.
 *  - The first copy of a byte wins. Bytes already delivered are never
 *    changed; a retransmission or overlap is trimmed to what is new, and a
 *    later copy that disagrees with a held one is counted as a conflict
 *    (an evasion attempt or a broken capture), not used.
 *  - Segments ahead of the next expected byte are held, sorted and without
 *    overlap, up to `flow_max` bytes per direction and the shared budget's
 *    maximum overall. When a segment cannot be held, or the stream ends with
 *    a hole, the hole is declared a gap: on_gap is called with its position
 *    and length, and delivery continues after it.
 *  - In-order data is delivered straight from the caller's buffer (no copy).
 */

struct reasm_seg;

/* Held bytes of all streams together, against one maximum. */
struct reasm_budget {
	size_t used;
	size_t max;
	size_t peak;
};

struct reasm_sink {
	/* In-order bytes at stream offset `off`. */
	void (*deliver)(void *arg, uint64_t off, const uint8_t *data, size_t len);
	/* Bytes [off, off + len) will never come. */
	void (*on_gap)(void *arg, uint64_t off, uint64_t len);
	void *arg;
};

struct tcp_reasm {
	bool started;
	uint32_t base; /* sequence number of stream offset 0 */
	uint64_t next; /* next offset to deliver */
	struct reasm_seg *held;
	size_t held_bytes;
	size_t flow_max;
	/* Counters. */
	uint64_t delivered;
	uint64_t dup_bytes;	 /* bytes seen again (retransmissions, overlaps), dropped */
	uint64_t conflict_bytes; /* of those, bytes that differed from the first copy */
	uint64_t gaps;
	uint64_t gap_bytes;
	uint64_t segments;
	uint64_t out_of_order; /* segments that had to be held */
};

/* flow_max: held bytes allowed for this direction. */
void tcp_reasm_init(struct tcp_reasm *r, size_t flow_max);

/* The SYN's sequence number: stream offset 0 is the byte after it. Ignored once started. */
void tcp_reasm_syn(struct tcp_reasm *r, uint32_t isn);

/* A segment's payload. Delivers what is now in order; may declare gaps (see policy). */
void tcp_reasm_add(struct tcp_reasm *r, struct reasm_budget *b, uint32_t seq, const uint8_t *data,
		   size_t len, const struct reasm_sink *s);

/* The stream offset a sequence number maps to (for FIN), relative to the next expected byte. */
uint64_t tcp_reasm_offset(const struct tcp_reasm *r, uint32_t seq);

/*
 * No more segments will come (FIN reached, reset, timeout, end of capture):
 * every hole before held data becomes a gap and everything held is
 * delivered. If `end` is beyond what was delivered (a FIN's offset), the
 * missing tail is a gap too. Pass end = 0 for "unknown".
 */
void tcp_reasm_finish(struct tcp_reasm *r, struct reasm_budget *b, uint64_t end,
		      const struct reasm_sink *s);

/* Frees held segments (without delivering them). */
void tcp_reasm_free(struct tcp_reasm *r, struct reasm_budget *b);

#endif
