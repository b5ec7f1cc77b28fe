/* indexer.h — follows the event log into the store: decode, enrich, batch, commit rows with the log position. */
#ifndef SINKD_STORE_INDEXER_H
#define SINKD_STORE_INDEXER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "enrich/enrich.h"
#include "store/store.h"

struct config_store; /* core/config.h: store.bot_ids */

/*
 * Each batch (up to INDEXER_BATCH events) is one store transaction that also
 * records the log position after its last event, so the store is always
 * exactly "the log up to position P": kill -9 at any moment and a restart
 * continues from P. Records whose type or tags the indexer does not know are
 * indexed with what it does know (kind by event type and transport); records
 * that do not decode are skipped and counted, never fatal. A reader thread
 * prepares the next batch (read, decode, enrich) while the calling thread
 * commits the previous one.
 */
#define INDEXER_BATCH	     20000
/* Shipping to a remote store (ClickHouse) favours fewer, bigger INSERTs (each one is a part to merge). */
#define INDEXER_BATCH_REMOTE 200000
#define INDEXER_BATCH_MAX    1000000

struct indexer_stats {
	uint64_t events;  /* indexed */
	uint64_t skipped; /* records that did not decode */
	uint64_t batches;
};

typedef void (*indexer_progress_fn)(void *ctx, const struct indexer_stats *st,
				    const struct log_pos *pos);

/*
 * Indexes everything the log holds now (sealed records), then returns;
 * `batch` events per transaction (0 = INDEXER_BATCH, at most INDEXER_BATCH_MAX).
 * `e` may be NULL (no enrichment). `stop`, if not NULL, is polled between
 * batches. Errors: ERR_CORRUPT (a bad log record: stops before it), ERR_SYS.
 */
int indexer_catch_up(struct store *s, const char *log_dir, const struct enrich *e,
		     const struct config_store *bots, size_t batch, struct indexer_stats *st,
		     indexer_progress_fn progress, void *pctx, volatile int *stop);

/* The store thread of `sinkd serve`: follows the log until indexer_stop. */
struct indexer;
int indexer_start(struct indexer **out, const char *log_dir, const char *store_path,
		  const struct enrich *e, const struct config_store *bots, char *err,
		  size_t errlen);
/* The same with the config's store.path and enrich.* files (serve's store thread). */
struct config;
int indexer_start_config(struct indexer **out, const struct config *cfg);
uint64_t indexer_indexed(struct indexer *ix);
/*
 * The log position the store holds (the next record to index): where the
 * store started when the thread began, then after each committed batch.
 * Any thread may ask; `consumer lag` is the distance from here to the log's end.
 */
void indexer_position(struct indexer *ix, struct log_pos *pos);
/* Indexes what the log holds, commits, stops, frees. */
void indexer_stop(struct indexer *ix);

/*
 * Decodes one log record into a store event (strings point into rec), and
 * takes the bot identifier where a rule of `bots` (store.bot_ids; may be
 * NULL) names one for the event's family. 0 or ERR_CORRUPT.
 */
int indexer_convert(const uint8_t *rec, size_t len, const char *sensor, const struct enrich *e,
		    const struct config_store *bots, struct store_event *out);

#endif
