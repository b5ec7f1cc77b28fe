/* ch_schema.h — the ClickHouse schema of the store: one server, or shards behind a Distributed table. */
#ifndef SINKD_STORE_CH_SCHEMA_H
#define SINKD_STORE_CH_SCHEMA_H

#include <stddef.h>

#include "core/dynbuf.h"

/*
 * Statement i (0, 1, ...) of the schema for database `db`, without the
 * closing ";": 0 when written, ERR_END past the last one. cluster NULL: the
 * events table itself is the ReplacingMergeTree; else each shard holds
 * events_local and `events` is Distributed over the cluster (named as in the
 * servers' remote_servers). Every statement is IF NOT EXISTS: applying the
 * schema again changes nothing.
 */
int ch_schema_stmt(struct dynbuf *b, size_t i, const char *db, const char *cluster);

#endif
