/* tally.h — events written to the log, counted by listener and family (fed by the log writer thread). */
#ifndef SINKD_METRICS_TALLY_H
#define SINKD_METRICS_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The workers' hot path is not touched: the log writer thread, which already
 * handles every record, names each one by its listener and family fields as
 * it appends it to a batch (metrics_tally_append) and credits the batch's
 * counts once the batch is on disk (metrics_tally_commit(t, true)); a batch
 * lost to a write error is forgotten (it is counted as dropped_disk by the
 * recorder). So the counts are exactly the records the log holds, written
 * since the sensor started.
 *
 * One writer thread calls append/commit; any thread may read with
 * metrics_tally_get at the same time (relaxed atomics, entries published
 * with release/acquire; no lock). The number of distinct (listener, family)
 * pairs is bounded by the config; past METRICS_TALLY_MAX pairs, or for names
 * longer than METRICS_TALLY_NAME_MAX bytes, events are counted in one
 * overflow entry named ("(other)", "(other)"). A record with no family field
 * counts as family "unknown", one with no listener as "(none)", as
 * `sinkd log stats` names them.
 */

#define METRICS_TALLY_MAX      1024
#define METRICS_TALLY_NAME_MAX 255

struct metrics_tally;

int metrics_tally_new(struct metrics_tally **out);
void metrics_tally_free(struct metrics_tally *t);

/* Writer thread: one record appended to the current batch (an encoded event). */
void metrics_tally_append(struct metrics_tally *t, const uint8_t *rec, size_t len);
/* Writer thread: the batch was committed (`written`) or dropped. */
void metrics_tally_commit(struct metrics_tally *t, bool written);

/* Any thread: how many entries exist now; entries never move or disappear. */
size_t metrics_tally_count(const struct metrics_tally *t);
struct metrics_tally_entry_view {
	const char *listener; /* valid as long as the tally; not NUL-terminated */
	size_t listener_len;
	const char *family;
	size_t family_len;
	uint64_t events;
};
/* Entry i < metrics_tally_count(t). */
void metrics_tally_get(const struct metrics_tally *t, size_t i, struct metrics_tally_entry_view *v);

#endif
