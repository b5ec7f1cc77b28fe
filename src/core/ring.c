/* ring.c — SPSC ring of variable-length records. */
#include "core/ring.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/*
 * head and tail are byte positions that only grow (mod 2^64); the slot of a
 * position is pos & mask. Each record is a 4-byte length then the bytes,
 * padded to 8. A length of RING_WRAP means "skip to the start of the buffer":
 * records never straddle the end.
 */
#define RING_WRAP UINT32_MAX
#define RING_HDR  4u

struct ring {
	/* Producer and consumer fields on separate cache lines (no false sharing). */
	_Alignas(64) _Atomic uint64_t head; /* written by the producer */
	uint64_t tail_cache;		    /* producer's view of tail */
	uint64_t reserve_pos;		    /* producer: where the reserved record starts */
	_Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
	uint64_t head_cache;		    /* consumer's view of head */
	_Alignas(64) uint8_t *buf;
	size_t cap;
	size_t mask;
};

static size_t ring_pad(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

int ring_create(struct ring **out, size_t bytes)
{
	size_t cap = 64 * 1024;
	while (cap < bytes && cap < ((size_t)1 << 40))
		cap <<= 1;
	struct ring *r = aligned_alloc(64, sizeof *r);
	if (!r)
		return ERR_NOMEM;
	memset(r, 0, sizeof *r);
	r->buf = malloc(cap);
	if (!r->buf) {
		free(r);
		return ERR_NOMEM;
	}
	/* Touched now, so that producers never take a page fault on first use. */
	memset(r->buf, 0, cap);
	r->cap = cap;
	r->mask = cap - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	*out = r;
	return 0;
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

uint8_t *ring_reserve(struct ring *r, size_t max)
{
	size_t need = ring_pad(RING_HDR + max);
	if (need > r->cap / 4)
		return NULL;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t off = (size_t)(head & r->mask);
	size_t to_end = r->cap - off;
	/* If the record would straddle the end, it needs the wrap filler too. */
	size_t total = need <= to_end ? need : to_end + need;
	if (head + total - r->tail_cache > r->cap) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + total - r->tail_cache > r->cap)
			return NULL;
	}
	if (need > to_end) {
		uint32_t wrap = RING_WRAP;
		memcpy(r->buf + off, &wrap, sizeof wrap);
		head += to_end;
		off = 0;
		/* Publish the filler now so head stays the start of the reserved record. */
		atomic_store_explicit(&r->head, head, memory_order_release);
	}
	r->reserve_pos = head;
	return r->buf + off + RING_HDR;
}

void ring_commit(struct ring *r, size_t len)
{
	uint32_t l32 = (uint32_t)len;
	size_t off = (size_t)(r->reserve_pos & r->mask);
	memcpy(r->buf + off, &l32, sizeof l32);
	atomic_store_explicit(&r->head, r->reserve_pos + ring_pad(RING_HDR + len),
			      memory_order_release);
}

int ring_push(struct ring *r, const void *rec, size_t len)
{
	if (ring_pad(RING_HDR + len) > r->cap / 4)
		return ERR_LIMIT;
	uint8_t *p = ring_reserve(r, len);
	if (!p)
		return ERR_FULL;
	memcpy(p, rec, len);
	ring_commit(r, len);
	return 0;
}

bool ring_peek(struct ring *r, const uint8_t **rec, size_t *len)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	for (;;) {
		if (tail == r->head_cache) {
			r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
			if (tail == r->head_cache)
				return false;
		}
		size_t off = (size_t)(tail & r->mask);
		uint32_t l32;
		memcpy(&l32, r->buf + off, sizeof l32);
		if (l32 == RING_WRAP) {
			tail += r->cap - off;
			atomic_store_explicit(&r->tail, tail, memory_order_release);
			continue;
		}
		*rec = r->buf + off + RING_HDR;
		*len = l32;
		return true;
	}
}

void ring_pop(struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t off = (size_t)(tail & r->mask);
	uint32_t l32;
	memcpy(&l32, r->buf + off, sizeof l32);
	atomic_store_explicit(&r->tail, tail + ring_pad(RING_HDR + l32), memory_order_release);
}

size_t ring_used(const struct ring *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	return (size_t)(h - t);
}

size_t ring_capacity(const struct ring *r)
{
	return r->cap;
}

bool ring_empty(const struct ring *r)
{
	return ring_used(r) == 0;
}
