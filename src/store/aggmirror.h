/* aggmirror.h — the indexer's in-memory copy of the pending per-address aggregates, merged and sorted at compaction. */
#ifndef SINKD_STORE_AGGMIRROR_H
#define SINKD_STORE_AGGMIRROR_H

#include <stddef.h>
#include <stdint.h>

/*
 * The SQLite store appends each batch's per-address aggregates to agg_delta
 * and now and then merges them into daily_src in key order. Letting SQLite
 * group and sort millions of delta rows costs more than the indexing itself;
 * the indexer wrote every one of those rows, so it keeps them merged here
 * (by day, family, address) and hands them over already grouped and sorted.
 * The store uses the mirror only while it holds exactly what agg_delta
 * holds (it checks the row count in the compacting transaction).
 */
struct aggmirror;

/* One merged aggregate: as daily_src stores it (family NUL-terminated, owned by the mirror). */
struct aggm_row {
	int64_t day;
	const char *family;
	size_t family_len;
	uint8_t ipver; /* 4: src holds 4 bytes */
	uint8_t src[16];
	uint32_t asn; /* the smallest seen, as min(asn) */
	char cc[3];   /* the smallest seen, as min(cc) */
	uint64_t first, last, events;
	uint64_t key; /* the mirror's: src's first 8 bytes big-endian (fast ordering) */
};

int aggm_new(struct aggmirror **out);
void aggm_free(struct aggmirror *m);
/* Merges one delta row (family copied). 0 or ERR_NOMEM (the mirror is then emptied: unusable). */
int aggm_add(struct aggmirror *m, const struct aggm_row *r);
/* The same for n rows, their table slots fetched ahead (a batch's rows miss the cache one by one). */
int aggm_add_many(struct aggmirror *m, const struct aggm_row *r, size_t n);
/* Distinct rows held. */
size_t aggm_count(const struct aggmirror *m);
/*
 * The rows sorted as daily_src's primary key (day, family, src, each
 * compared as SQLite's BINARY collation does); valid until the next add or
 * clear. NULL with ERR_NOMEM in *rc.
 */
const struct aggm_row *const *aggm_sorted(struct aggmirror *m, int *rc);
void aggm_clear(struct aggmirror *m);

#endif
