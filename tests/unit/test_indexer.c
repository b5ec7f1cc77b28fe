/* test_indexer.c — the pipelined indexer (reader thread + store thread): every record once, in order, stop and resume. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "core/event.h"
#include "core/log.h"
#include "store/indexer.h"
#include "store/store.h"
#include "testfs.h"

#define N_EVENTS  3000
#define N_SOURCES 400
#define N_GARBAGE 3
#define DAY_US	  86400000000ull
#define T0	  (20785ull * DAY_US) /* 2026-11-28 00:00 UTC */

/*
 * A log of N_EVENTS HTTP events over two days from N_SOURCES addresses (every
 * fifth unclassified), with N_GARBAGE undecodable records among them.
 */
static void write_log(const char *dir)
{
	struct log_writer *w;
	struct log_writer_opts o = { .dir = dir, .sensor_id = "t", .segment_bytes = 64 * 1024 };
	CHECK_INT(log_writer_open(&w, &o, NULL), 0);
	uint8_t buf[512];
	for (int i = 0; i < N_EVENTS; i++) {
		if (i % 1000 == 500) {
			const uint8_t junk[7] = { 1, 2, 3, 4, 5, 6, 7 };
			CHECK_INT(log_writer_append(w, junk, sizeof junk), 0);
		}
		struct event_header h = { .version = EVENT_FORMAT_VERSION,
					  .type = EVENT_HTTP,
					  .transport = 6,
					  .ts_us = T0 + (uint64_t)i * (2 * DAY_US / N_EVENTS),
					  .flow_id = (uint64_t)i };
		char src[32];
		snprintf(src, sizeof src, "198.51.%d.%d", (i % N_SOURCES) / 200,
			 (i % N_SOURCES) % 200);
		event_addr_parse(src, &h.src);
		h.src.port = 40000;
		event_addr_parse("192.0.2.1", &h.dst);
		h.dst.port = 80;
		struct event_builder b;
		event_begin(&b, buf, sizeof buf, &h);
		event_put_str(&b, EVENT_T_FAMILY, i % 5 ? "rustock" : "unknown");
		event_put_str(&b, EVENT_T_HTTP_URI, "/login.php");
		size_t len;
		CHECK_INT(event_finish(&b, &len), 0);
		CHECK_INT(log_writer_append(w, buf, len), 0);
		if (i % 97 == 0)
			CHECK_INT(log_writer_commit(w), 0);
	}
	CHECK_INT(log_writer_close(w), 0);
}

static int count_row(void *ctx, const struct store_event *ev)
{
	(void)ev;
	(*(uint64_t *)ctx)++;
	return 0;
}

static uint64_t rows(struct store *s)
{
	struct store_filter f = { .day_from = 0, .day_to = 1000000 };
	uint64_t n = 0;
	CHECK_INT(store_scan(s, &f, count_row, &n), 0);
	return n;
}

struct daily_sum {
	uint64_t unique, events;
};

static int add_daily(void *ctx, const struct store_daily *d)
{
	struct daily_sum *sum = ctx;
	sum->unique += d->unique_src;
	sum->events += d->events;
	return 0;
}

static struct daily_sum daily(struct store *s)
{
	struct store_filter f = { .day_from = 0, .day_to = 1000000 };
	struct daily_sum sum = { 0, 0 };
	CHECK_INT(store_daily(s, &f, add_daily, &sum), 0);
	return sum;
}

/* FNV-1a over every column of the readers' daily view, in key order. */
static uint64_t daily_view_hash(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t h = 1469598103934665603ull;
	CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db,
				     "SELECT day, family, quote(src), ipver, asn, cc, first_us,"
				     " last_us, events FROM daily_all ORDER BY day, family, src",
				     -1, &st, NULL),
		  SQLITE_OK);
	size_t n = 0;
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < 9; c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			for (; t && *t; t++)
				h = (h ^ *t) * 1099511628211ull;
			h = (h ^ '|') * 1099511628211ull;
		}
		n++;
	}
	CHECK(n > 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return h;
}

/* Stops the catch-up after a few commits, from the store side (as SIGINT does in `sinkd index`). */
struct stopper {
	int stop;
	uint64_t batches;
};

static void stop_after(void *ctx, const struct indexer_stats *st, const struct log_pos *pos)
{
	(void)pos;
	struct stopper *sp = ctx;
	if (st->batches == sp->batches)
		sp->stop = 1;
}

static struct store *open_store(const char *dir, const char *name)
{
	char path[512], err[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct store *s = NULL;
	CHECK_INT(store_open(&s, path, true, err, sizeof err), 0);
	return s;
}

int main(void)
{
	char *logdir = tmpdir_new_named("indexer-log"), *dbdir = tmpdir_new_named("indexer-db");
	CHECK(logdir && dbdir);
	write_log(logdir);

	/* Stopped after 5 batches of 97: exactly those are in, though the reader had read ahead. */
	struct store *s = open_store(dbdir, "a.db");
	struct stopper sp = { 0, 5 };
	struct indexer_stats st = { 0 };
	CHECK_INT(indexer_catch_up(s, logdir, NULL, NULL, 97, &st, stop_after, &sp, &sp.stop), 0);
	CHECK_INT(st.batches, 5);
	CHECK_INT(st.events, 5 * 97);
	CHECK_INT(rows(s), 5 * 97);
	/*
	 * Resumed by another process (a reopened store: the pending aggregates
	 * were written by someone else, so the compaction must not rely on this
	 * process's copy of them): the rest, nothing twice; then nothing new.
	 */
	store_close(s);
	s = open_store(dbdir, "a.db");
	struct indexer_stats st2 = { 0 };
	CHECK_INT(indexer_catch_up(s, logdir, NULL, NULL, 0, &st2, NULL, NULL, NULL), 0);
	CHECK_INT(st.events + st2.events, N_EVENTS);
	CHECK_INT(st.skipped + st2.skipped, N_GARBAGE);
	CHECK_INT(rows(s), N_EVENTS);
	struct indexer_stats st3 = { 0 };
	CHECK_INT(indexer_catch_up(s, logdir, NULL, NULL, 0, &st3, NULL, NULL, NULL), 0);
	CHECK_INT(st3.events, 0);
	CHECK_INT(rows(s), N_EVENTS);
	struct daily_sum da = daily(s);
	/* Infections only (4 of 5 events), each source once per day over two days. */
	CHECK_INT(da.events, N_EVENTS / 5 * 4);
	CHECK_INT(da.unique, 2 * N_SOURCES / 5 * 4);

	/* Compacting the pending aggregates changes nothing a reader sees. */
	CHECK_INT(store_compact(s), 0);
	struct daily_sum dc = daily(s);
	CHECK_INT(dc.events, da.events);
	CHECK_INT(dc.unique, da.unique);

	/* One event per batch: many hand-overs between the threads, the same result. */
	struct store *s1 = open_store(dbdir, "b.db");
	struct indexer_stats sb = { 0 };
	CHECK_INT(indexer_catch_up(s1, logdir, NULL, NULL, 1, &sb, NULL, NULL, NULL), 0);
	CHECK_INT(sb.events, N_EVENTS);
	CHECK_INT(sb.skipped, N_GARBAGE);
	CHECK(sb.batches >= N_EVENTS);
	struct daily_sum db = daily(s1);
	CHECK_INT(db.events, da.events);
	CHECK_INT(db.unique, da.unique);
	/* This store's pending aggregates are all this process's: compacted from its copy. */
	CHECK_INT(store_compact(s1), 0);
	db = daily(s1);
	CHECK_INT(db.events, da.events);
	CHECK_INT(db.unique, da.unique);
	struct log_pos pa, pb;
	CHECK_INT(store_get_pos(s, &pa), 0);
	CHECK_INT(store_get_pos(s1, &pb), 0);
	CHECK_INT(pa.segment, pb.segment);
	CHECK_INT(pa.offset, pb.offset);
	store_close(s);
	store_close(s1);
	/* Every column the same, compacted by SQLite (a) or from the indexer's copy (b). */
	CHECK(daily_view_hash(dbdir, "a.db") == daily_view_hash(dbdir, "b.db"));

	/* A second indexer on a store another one has moved on refuses: nothing is written twice. */
	struct store *c1 = open_store(dbdir, "a.db"), *c2 = open_store(dbdir, "a.db");
	struct log_pos zero = { 0, 0 };
	struct store_event none;
	memset(&none, 0, sizeof none);
	CHECK_INT(store_ingest(c2, &none, 0, &zero, &pa), ERR_INVAL);
	store_close(c1);
	store_close(c2);
	rm_rf(logdir);
	rm_rf(dbdir);
	return check_done("indexer");
}
