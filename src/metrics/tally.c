/* tally.c — events by (listener, family): a fixed table the log writer fills and scrapes read. */
#include "metrics/tally.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/event.h"

#define TALLY_ENTRIES (METRICS_TALLY_MAX + 1) /* the last one is the overflow entry */
#define TALLY_SLOTS   (2 * METRICS_TALLY_MAX) /* hash slots: a power of two, half full at most */

struct tally_entry {
	_Atomic uint64_t events;
	uint64_t hash;
	uint16_t listener_len, family_len;
	char listener[METRICS_TALLY_NAME_MAX];
	char family[METRICS_TALLY_NAME_MAX];
};

struct metrics_tally {
	/* Writer-thread state. */
	uint16_t slots[TALLY_SLOTS]; /* entry index + 1; 0 = empty */
	uint32_t pending[TALLY_ENTRIES];
	uint16_t touched[TALLY_ENTRIES]; /* entries with a pending count, in first-touch order */
	size_t n_touched;
	int overflow; /* index of the overflow entry, -1 until needed */
	/* Shared: entries [0, n) are complete; n is published with release. */
	_Atomic size_t n;
	struct tally_entry *e; /* TALLY_ENTRIES, allocated once: entries never move */
};

int metrics_tally_new(struct metrics_tally **out)
{
	struct metrics_tally *t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	/* calloc: the pages of entries never used are never touched. */
	t->e = calloc(TALLY_ENTRIES, sizeof *t->e);
	if (!t->e) {
		free(t);
		return ERR_NOMEM;
	}
	t->overflow = -1;
	*out = t;
	return 0;
}

void metrics_tally_free(struct metrics_tally *t)
{
	if (!t)
		return;
	free(t->e);
	free(t);
}

/* FNV-1a over listener, a separator no name can hold in the same place, family. */
static uint64_t tally_hash(const uint8_t *l, size_t ll, const uint8_t *f, size_t fl)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < ll; i++)
		h = (h ^ l[i]) * 0x100000001b3ull;
	h = (h ^ 0x100) * 0x100000001b3ull;
	for (size_t i = 0; i < fl; i++)
		h = (h ^ f[i]) * 0x100000001b3ull;
	return h;
}

/* A new entry, written completely before it is published. */
static int tally_add(struct metrics_tally *t, const void *l, size_t ll, const void *f, size_t fl,
		     uint64_t h)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
	if (n >= TALLY_ENTRIES)
		return -1;
	struct tally_entry *e = &t->e[n];
	memcpy(e->listener, l, ll);
	e->listener_len = (uint16_t)ll;
	memcpy(e->family, f, fl);
	e->family_len = (uint16_t)fl;
	e->hash = h;
	atomic_store_explicit(&t->n, n + 1, memory_order_release);
	return (int)n;
}

static int tally_overflow(struct metrics_tally *t)
{
	if (t->overflow < 0)
		t->overflow = tally_add(t, "(other)", 7, "(other)", 7, 0);
	return t->overflow;
}

static int tally_find(struct metrics_tally *t, const uint8_t *l, size_t ll, const uint8_t *f,
		      size_t fl)
{
	if (ll > METRICS_TALLY_NAME_MAX || fl > METRICS_TALLY_NAME_MAX)
		return tally_overflow(t);
	uint64_t h = tally_hash(l, ll, f, fl);
	for (size_t i = (size_t)h & (TALLY_SLOTS - 1);; i = (i + 1) & (TALLY_SLOTS - 1)) {
		uint16_t s = t->slots[i];
		if (s == 0) {
			/* Keep one entry for the overflow, so it always exists when needed. */
			if (atomic_load_explicit(&t->n, memory_order_relaxed) >= METRICS_TALLY_MAX)
				return tally_overflow(t);
			int idx = tally_add(t, l, ll, f, fl, h);
			if (idx >= 0)
				t->slots[i] = (uint16_t)(idx + 1);
			return idx;
		}
		const struct tally_entry *e = &t->e[s - 1];
		if (e->hash == h && e->listener_len == ll && e->family_len == fl &&
		    !memcmp(e->listener, l, ll) && !memcmp(e->family, f, fl))
			return s - 1;
	}
}

void metrics_tally_append(struct metrics_tally *t, const uint8_t *rec, size_t len)
{
	if (len < EVENT_HEADER_LEN)
		return;
	/* The recorder only carries records its workers built: walk the fields, bounds-checked. */
	struct event_view v = { .fields = rec + EVENT_HEADER_LEN,
				.fields_len = len - EVENT_HEADER_LEN };
	struct event_field f;
	const uint8_t *lis = (const uint8_t *)"(none)", *fam = (const uint8_t *)"unknown";
	size_t lis_len = 6, fam_len = 7;
	unsigned found = 0;
	size_t pos = 0;
	while (found != 3 && event_field_next(&v, &pos, &f)) {
		if (f.tag == EVENT_T_LISTENER && !(found & 1)) {
			lis = f.val;
			lis_len = f.len;
			found |= 1;
		} else if (f.tag == EVENT_T_FAMILY && !(found & 2)) {
			fam = f.val;
			fam_len = f.len;
			found |= 2;
		}
	}
	int idx = tally_find(t, lis, lis_len, fam, fam_len);
	if (idx < 0)
		return;
	if (t->pending[idx]++ == 0)
		t->touched[t->n_touched++] = (uint16_t)idx;
}

void metrics_tally_commit(struct metrics_tally *t, bool written)
{
	for (size_t i = 0; i < t->n_touched; i++) {
		uint16_t idx = t->touched[i];
		if (written) {
			_Atomic uint64_t *c = &t->e[idx].events;
			atomic_store_explicit(
				c, atomic_load_explicit(c, memory_order_relaxed) + t->pending[idx],
				memory_order_relaxed);
		}
		t->pending[idx] = 0;
	}
	t->n_touched = 0;
}

size_t metrics_tally_count(const struct metrics_tally *t)
{
	return atomic_load_explicit(&t->n, memory_order_acquire);
}

void metrics_tally_get(const struct metrics_tally *t, size_t i, struct metrics_tally_entry_view *v)
{
	const struct tally_entry *e = &t->e[i];
	v->listener = e->listener;
	v->listener_len = e->listener_len;
	v->family = e->family;
	v->family_len = e->family_len;
	v->events = atomic_load_explicit(&e->events, memory_order_relaxed);
}
