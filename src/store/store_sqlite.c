/* store_sqlite.c — the embedded store backend: SQLite in WAL mode, one transaction per ingested batch. */
#include "store/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/aggmirror.h"
#include "store/store_internal.h"

#define STORE_SCHEMA_VERSION 3
#define US_PER_DAY	     86400000000ull

/*
 * Writes are append-mostly so indexing stays fast however many addresses a
 * day has: events go to a rowid table in log order (a day is a rowid range,
 * day_rows), and each batch's per-address aggregates are appended to
 * agg_delta. When agg_delta grows past STORE_COMPACT_ROWS its rows are merged
 * into daily_src in key order (one pass over the b-tree) and deleted, in one
 * transaction: from the indexer's merged copy of what it appended (aggmirror)
 * when that copy is complete, else by SQLite grouping agg_delta. Readers see
 * daily_all, the two combined; addr_seen (first/last seen per address over
 * all days) is a view over it.
 */
#define STORE_COMPACT_ROWS 2000000
#define STORE_MULTI	   16	      /* rows per multi-row INSERT */
#define STORE_MIRROR_MAX   (1u << 20) /* merged rows the mirror holds before a compaction */
#define STORE_EV_COLS	   29	      /* parameters of one events row */
#define STORE_DELTA_COLS   9	      /* parameters of one agg_delta row */

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events("
	" day INTEGER NOT NULL, ts_us INTEGER NOT NULL, kind INTEGER NOT NULL,"
	" type INTEGER NOT NULL, transport INTEGER NOT NULL, ipver INTEGER NOT NULL,"
	" flags INTEGER NOT NULL, src BLOB NOT NULL, src_port INTEGER NOT NULL,"
	" src_asn INTEGER NOT NULL, src_cc TEXT NOT NULL, dst BLOB NOT NULL,"
	" dst_port INTEGER NOT NULL, dst_asn INTEGER NOT NULL, dst_cc TEXT NOT NULL,"
	" family TEXT, tag TEXT, sensor TEXT, http_url TEXT, http_host TEXT, http_agent TEXT,"
	" forwarded_by TEXT, http_referer TEXT, ssl_servername TEXT, machine_name TEXT,"
	" query_type TEXT, query TEXT, bot_id TEXT, ssl_cipher TEXT);"
	"CREATE TABLE IF NOT EXISTS day_rows(day INTEGER PRIMARY KEY, first_rowid INTEGER NOT NULL,"
	" last_rowid INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS daily_src("
	" day INTEGER NOT NULL, family TEXT NOT NULL, src BLOB NOT NULL, ipver INTEGER NOT NULL,"
	" asn INTEGER NOT NULL, cc TEXT NOT NULL, first_us INTEGER NOT NULL,"
	" last_us INTEGER NOT NULL, events INTEGER NOT NULL,"
	" PRIMARY KEY(day, family, src)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS agg_delta("
	" day INTEGER NOT NULL, family TEXT NOT NULL, src BLOB NOT NULL, ipver INTEGER NOT NULL,"
	" asn INTEGER NOT NULL, cc TEXT NOT NULL, first_us INTEGER NOT NULL,"
	" last_us INTEGER NOT NULL, events INTEGER NOT NULL);"
	"CREATE VIEW IF NOT EXISTS daily_all AS SELECT day, family, src, min(ipver) AS ipver,"
	" min(asn) AS asn, min(cc) AS cc, min(first_us) AS first_us, max(last_us) AS last_us,"
	" sum(events) AS events FROM (SELECT * FROM daily_src UNION ALL SELECT * FROM agg_delta)"
	" GROUP BY day, family, src;"
	"CREATE TABLE IF NOT EXISTS daily_bot("
	" day INTEGER NOT NULL, family TEXT NOT NULL, bot_id TEXT NOT NULL,"
	" first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, events INTEGER NOT NULL,"
	" PRIMARY KEY(day, family, bot_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS bot_delta("
	" day INTEGER NOT NULL, family TEXT NOT NULL, bot_id TEXT NOT NULL,"
	" first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, events INTEGER NOT NULL);"
	"CREATE VIEW IF NOT EXISTS daily_bots AS SELECT day, family, bot_id,"
	" min(first_us) AS first_us, max(last_us) AS last_us, sum(events) AS events"
	" FROM (SELECT * FROM daily_bot UNION ALL SELECT * FROM bot_delta)"
	" GROUP BY day, family, bot_id;"
	"CREATE VIEW IF NOT EXISTS addr_seen AS SELECT src, min(ipver) AS ipver,"
	" min(first_us) AS first_us, max(last_us) AS last_us, sum(events) AS events"
	" FROM daily_all GROUP BY src;";

static const char compact_src_sql[] =
	"INSERT INTO daily_src SELECT day, family, src, min(ipver), min(asn), min(cc),"
	" min(first_us), max(last_us), sum(events) FROM agg_delta WHERE true"
	" GROUP BY day, family, src ON CONFLICT(day, family, src) DO UPDATE SET"
	" first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us),"
	" events = events + excluded.events;";

/* One merged row into daily_src (the mirror's way of compacting): the same upsert. */
static const char upsert_src_sql[] =
	"INSERT INTO daily_src VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(day, family, src) DO UPDATE SET"
	" first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us),"
	" events = events + excluded.events";

static const char compact_bot_sql[] =
	"INSERT INTO daily_bot SELECT day, family, bot_id, min(first_us), max(last_us), sum(events)"
	" FROM bot_delta WHERE true GROUP BY day, family, bot_id"
	" ON CONFLICT(day, family, bot_id) DO UPDATE SET"
	" first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us),"
	" events = events + excluded.events;"
	"DELETE FROM bot_delta;";

/*
 * What each parameter of a prepared statement is bound to now. Rows of one
 * sensor repeat most columns (family, tag, host, agent, sensor, the
 * sinkhole's own address), and binding costs more than comparing. An entry
 * is valid only in the ingest (generation) that bound it: the strings of
 * earlier batches are gone.
 */
enum {
	BC_INT = 1,
	BC_TEXT,
	BC_BLOB,
	BC_NULL
};

struct bind_cache {
	uint32_t gen[STORE_MULTI * STORE_EV_COLS];
	uint8_t type[STORE_MULTI * STORE_EV_COLS];
	int len[STORE_MULTI * STORE_EV_COLS];
	int64_t iv[STORE_MULTI * STORE_EV_COLS];
	const void *p[STORE_MULTI * STORE_EV_COLS];
};

struct binder {
	sqlite3_stmt *st;
	struct bind_cache *c;
	uint32_t gen;
};

struct sqlite_store {
	struct store base; /* first: a struct store * is a struct sqlite_store * */
	sqlite3 *db;
	sqlite3_stmt *ins_event, *ins_delta, *ins_bot, *up_day, *set_pos;
	/*
	 * The same inserts for STORE_MULTI rows per statement: one step, one
	 * statement start and halt for many rows. Parameters stay bound across
	 * steps, so a parameter bound to the value it already holds is not bound
	 * again (bind_cache; only within one ingest: the batch's strings stay put).
	 */
	sqlite3_stmt *ins_event_n, *ins_delta_n;
	struct bind_cache *bc_1, *bc_n; /* ins_event's and ins_event_n's parameters */
	uint32_t gen;	    /* this ingest's generation: older cache entries are stale */
	int64_t delta_rows; /* rows in agg_delta, to decide when to compact */
	/*
	 * What this process appended to agg_delta, merged (aggmirror.h): used by
	 * the compaction while mirror_ok (agg_delta was empty when the mirror
	 * started, and still holds mirror_rows rows: nobody else wrote to it).
	 */
	struct aggmirror *mirror;
	struct aggm_row *mrows; /* a batch's rows for it (agg_cap / 2) */
	bool mirror_ok;
	int64_t mirror_rows;
	sqlite3_stmt *upsert_src;
	/*
	 * Per-batch pre-aggregation of (day, family, src) and (day, family, bot ID):
	 * the aggregates lie dense in insertion order (written out sequentially), found
	 * through a small open-addressing table of 8-byte slots (hash tag << 32 | index
	 * + 1), so a probe touches one cache line instead of a 100-byte record.
	 */
	struct agg *agg;    /* dense, agg_n in use */
	uint64_t *agg_slot; /* agg_cap slots, 0 = empty */
	uint32_t *agg_used; /* the slots in use: cleared without a scan */
	size_t agg_cap, agg_n;
};

/* A per-batch aggregate: an address of a family on a day, or (bot) a bot ID of a family on a day. */
struct agg {
	bool bot;
	const char *bot_id;
	size_t bot_len;
	int64_t day;
	const char *family;
	size_t family_len;
	uint8_t ipver;
	uint8_t src[16];
	uint32_t asn;
	char cc[3];
	uint64_t first, last, events;
};

static int sql_err(struct sqlite_store *s, char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "store: %s: %s", what, sqlite3_errmsg(s->db));
	return ERR_SYS;
}

static int exec(struct sqlite_store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : ERR_SYS;
}

static void sq_close(struct store *base);

static const char ins_event_sql[] =
	"INSERT OR FAIL INTO events(day, ts_us, kind, type, transport, ipver, flags, src,"
	" src_port, src_asn, src_cc, dst, dst_port, dst_asn, dst_cc, family, tag,"
	" sensor, http_url, http_host, http_agent, forwarded_by, http_referer,"
	" ssl_servername, machine_name, query_type, query, bot_id, ssl_cipher) VALUES";

/* Prepares `head` followed by `rows` groups of `cols` parameters. */
static int prepare_rows(sqlite3 *db, const char *head, int cols, int rows, sqlite3_stmt **out)
{
	size_t cap = strlen(head) + (size_t)rows * ((size_t)cols * 2 + 4) + 1, len = strlen(head);
	char *sql = malloc(cap);
	if (!sql)
		return ERR_NOMEM;
	memcpy(sql, head, len);
	for (int r = 0; r < rows; r++) {
		sql[len++] = r ? ',' : ' ';
		sql[len++] = '(';
		for (int c = 0; c < cols; c++) {
			if (c)
				sql[len++] = ',';
			sql[len++] = '?';
		}
		sql[len++] = ')';
	}
	sql[len] = '\0';
	int r = sqlite3_prepare_v2(db, sql, (int)len, out, NULL);
	free(sql);
	return r == SQLITE_OK ? 0 : ERR_SYS;
}

/*
 * No memory statistics: they take a global mutex and bookkeeping on every
 * SQLite allocation (several per inserted row). Only possible before SQLite
 * initialises; later calls fail harmlessly.
 */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(struct store **out, const char *path, bool rw, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_setup);
	struct sqlite_store *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	int flags = rw ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
	if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "store: cannot open %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sq_close(&s->base);
		return ERR_SYS;
	}
	sqlite3_busy_timeout(s->db, 10000);
	int rc = 0;
	if (rw) {
		/*
		 * WAL: readers (reports, the web UI) never block the indexer. NORMAL
		 * sync in WAL mode keeps the database consistent across a crash; a
		 * power loss may lose the last transactions, which the indexer then
		 * re-reads from the log because the position went with them.
		 */
		/* Bigger pages: a quarter of the write calls for the same bytes (only takes
		 * effect when the database is created). */
		if (exec(s, "PRAGMA page_size=16384") || exec(s, "PRAGMA journal_mode=WAL") ||
		    exec(s, "PRAGMA synchronous=NORMAL") || exec(s, "PRAGMA cache_size=-131072") ||
		    exec(s, "PRAGMA wal_autocheckpoint=4096") || exec(s, schema_sql))
			rc = sql_err(s, err, errlen, "schema");
		if (!rc &&
		    (prepare_rows(s->db, ins_event_sql, STORE_EV_COLS, 1, &s->ins_event) ||
		     prepare_rows(s->db, ins_event_sql, STORE_EV_COLS, STORE_MULTI,
				  &s->ins_event_n) ||
		     prepare_rows(s->db, "INSERT OR FAIL INTO agg_delta VALUES", STORE_DELTA_COLS,
				  1, &s->ins_delta) ||
		     prepare_rows(s->db, "INSERT OR FAIL INTO agg_delta VALUES", STORE_DELTA_COLS,
				  STORE_MULTI, &s->ins_delta_n) ||
		     sqlite3_prepare_v2(s->db, "INSERT INTO bot_delta VALUES(?,?,?,?,?,?)", -1,
					&s->ins_bot, NULL) != SQLITE_OK ||
		     sqlite3_prepare_v2(
			     s->db,
			     "INSERT INTO day_rows VALUES(?, ?, ?) ON CONFLICT(day) DO UPDATE SET"
			     " first_rowid = min(first_rowid, excluded.first_rowid),"
			     " last_rowid = max(last_rowid, excluded.last_rowid)",
			     -1, &s->up_day, NULL) != SQLITE_OK ||
		     sqlite3_prepare_v2(
			     s->db,
			     "INSERT INTO meta VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET"
			     " value = excluded.value",
			     -1, &s->set_pos, NULL) != SQLITE_OK))
			rc = sql_err(s, err, errlen, "prepare");
		if (!rc) {
			char sql[96];
			snprintf(sql, sizeof sql,
				 "INSERT OR IGNORE INTO meta VALUES('schema_version', %d)",
				 STORE_SCHEMA_VERSION);
			if (exec(s, sql))
				rc = sql_err(s, err, errlen, "schema");
		}
	}
	if (!rc) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'",
				       -1, &st, NULL) != SQLITE_OK) {
			rc = sql_err(s, err, errlen, "not a sinkd store");
		} else {
			if (sqlite3_step(st) != SQLITE_ROW ||
			    sqlite3_column_int(st, 0) != STORE_SCHEMA_VERSION) {
				snprintf(err, errlen, "store: %s: schema version is not %d", path,
					 STORE_SCHEMA_VERSION);
				rc = ERR_UNSUPPORTED;
			}
			sqlite3_finalize(st);
		}
	}
	if (rc) {
		sq_close(&s->base);
		return rc;
	}
	s->delta_rows = -1; /* counted on first use */
	if (rw &&
	    (!(s->bc_1 = calloc(1, sizeof *s->bc_1)) || !(s->bc_n = calloc(1, sizeof *s->bc_n)) ||
	     aggm_new(&s->mirror) ||
	     sqlite3_prepare_v2(s->db, upsert_src_sql, -1, &s->upsert_src, NULL) != SQLITE_OK)) {
		sq_close(&s->base);
		return ERR_NOMEM;
	}
	s->base.ops = &store__sqlite_ops;
	*out = &s->base;
	return 0;
}

static void sq_close(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!s)
		return;
	sqlite3_finalize(s->ins_event);
	sqlite3_finalize(s->ins_delta);
	sqlite3_finalize(s->ins_event_n);
	free(s->bc_1);
	free(s->bc_n);
	aggm_free(s->mirror);
	free(s->mrows);
	sqlite3_finalize(s->upsert_src);
	sqlite3_finalize(s->ins_delta_n);
	sqlite3_finalize(s->ins_bot);
	sqlite3_finalize(s->up_day);
	sqlite3_finalize(s->set_pos);
	sqlite3_close(s->db);
	free(s->agg);
	free(s->agg_slot);
	free(s->agg_used);
	free(s);
}

static int sq_get_pos(struct sqlite_store *s, struct log_pos *pos)
{
	sqlite3_stmt *st;
	pos->segment = 0;
	pos->offset = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT key, value FROM meta WHERE key LIKE 'log_%'", -1, &st,
			       NULL) != SQLITE_OK)
		return ERR_SYS;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		sqlite3_int64 v = sqlite3_column_int64(st, 1);
		if (k && !strcmp(k, "log_segment"))
			pos->segment = (uint32_t)v;
		else if (k && !strcmp(k, "log_offset"))
			pos->offset = (uint64_t)v;
	}
	sqlite3_finalize(st);
	return 0;
}

/* --- ingest ------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static uint64_t agg_hash(const struct agg *a)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)a->day ^ ((uint64_t)a->bot << 48);
	for (size_t i = 0; i < a->bot_len; i++)
		h = (h ^ (uint8_t)a->bot_id[i]) * 1099511628211ull;
	for (size_t i = 0; i < a->family_len; i++)
		h = (h ^ (uint8_t)a->family[i]) * 1099511628211ull;
	uint64_t lo, hi;
	memcpy(&lo, a->src, 8);
	memcpy(&hi, a->src + 8, 8);
	return mix64(h ^ mix64(lo ^ mix64(hi + a->ipver)));
}

static bool agg_eq(const struct agg *a, const struct agg *b)
{
	return a->bot == b->bot && a->ipver == b->ipver && !memcmp(a->src, b->src, 16) &&
	       a->day == b->day && a->family_len == b->family_len &&
	       !memcmp(a->family, b->family, a->family_len) && a->bot_len == b->bot_len &&
	       (!a->bot_len || !memcmp(a->bot_id, b->bot_id, a->bot_len));
}

static void agg_add(struct sqlite_store *s, const struct agg *k, uint64_t ts)
{
	uint64_t h = agg_hash(k), tag = h >> 32 << 32;
	size_t mask = s->agg_cap - 1, i = h & mask;
	for (uint64_t v; (v = s->agg_slot[i]); i = (i + 1) & mask) {
		if ((v & ~0xffffffffull) != tag)
			continue;
		struct agg *a = &s->agg[(uint32_t)v - 1];
		if (agg_eq(a, k)) {
			a->first = ts < a->first ? ts : a->first;
			a->last = ts > a->last ? ts : a->last;
			a->events++;
			return;
		}
	}
	struct agg *a = &s->agg[s->agg_n];
	*a = *k;
	a->first = a->last = ts;
	a->events = 1;
	s->agg_used[s->agg_n] = (uint32_t)i;
	s->agg_slot[i] = tag | (uint32_t)(s->agg_n + 1);
	s->agg_n++;
}

/* Every caller binds every parameter before each step, so bindings are not cleared. */
static int step_reset(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? 0 : ERR_SYS;
}

static bool bc_same(const struct binder *b, int i, uint8_t type)
{
	return b->c->gen[i] == b->gen && b->c->type[i] == type;
}

static void bc_set(const struct binder *b, int i, uint8_t type)
{
	b->c->gen[i] = b->gen;
	b->c->type[i] = type;
}

/* i: 0-based parameter number */
static void bc_int(const struct binder *b, int i, int64_t v)
{
	if (bc_same(b, i, BC_INT) && b->c->iv[i] == v)
		return;
	sqlite3_bind_int64(b->st, i + 1, v);
	bc_set(b, i, BC_INT);
	b->c->iv[i] = v;
}

static void bc_bytes(const struct binder *b, int i, uint8_t type, const void *p, int len)
{
	if (bc_same(b, i, type) && b->c->len[i] == len && !memcmp(b->c->p[i], p, (size_t)len))
		return;
	if (type == BC_TEXT)
		sqlite3_bind_text(b->st, i + 1, p, len, SQLITE_STATIC);
	else
		sqlite3_bind_blob(b->st, i + 1, p, len, SQLITE_STATIC);
	bc_set(b, i, type);
	b->c->p[i] = p;
	b->c->len[i] = len;
}

static void bc_null(const struct binder *b, int i)
{
	if (bc_same(b, i, BC_NULL))
		return;
	sqlite3_bind_null(b->st, i + 1);
	bc_set(b, i, BC_NULL);
}

/* Binds one events row at parameter offset `base` (0-based). */
static void bind_event(const struct binder *b, int base, const struct store_event *e)
{
	int alen = e->ipver == 4 ? 4 : 16;
	bc_int(b, base + 0, (int64_t)(e->ts_us / US_PER_DAY));
	bc_int(b, base + 1, (int64_t)e->ts_us);
	bc_int(b, base + 2, e->kind);
	bc_int(b, base + 3, e->type);
	bc_int(b, base + 4, e->transport);
	bc_int(b, base + 5, e->ipver);
	bc_int(b, base + 6, e->flags);
	bc_bytes(b, base + 7, BC_BLOB, e->src, alen);
	bc_int(b, base + 8, e->src_port);
	bc_int(b, base + 9, e->src_asn);
	bc_bytes(b, base + 10, BC_TEXT, e->src_cc, (int)strnlen(e->src_cc, 3));
	bc_bytes(b, base + 11, BC_BLOB, e->dst, alen);
	bc_int(b, base + 12, e->dst_port);
	bc_int(b, base + 13, e->dst_asn);
	bc_bytes(b, base + 14, BC_TEXT, e->dst_cc, (int)strnlen(e->dst_cc, 3));
	for (int c = 0; c < STORE_C_N; c++) {
		const struct store_str *v = &e->col[c];
		if (v->p && v->len)
			bc_bytes(b, base + 15 + c, BC_TEXT, v->p, (int)v->len);
		else
			bc_null(b, base + 15 + c);
	}
}

static void bind_delta(sqlite3_stmt *st, int base, const struct agg *a)
{
	sqlite3_bind_int64(st, base + 1, a->day);
	sqlite3_bind_text(st, base + 2, a->family, (int)a->family_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, base + 3, a->src, a->ipver == 4 ? 4 : 16, SQLITE_STATIC);
	sqlite3_bind_int(st, base + 4, a->ipver);
	sqlite3_bind_int64(st, base + 5, a->asn);
	sqlite3_bind_text(st, base + 6, a->cc, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, base + 7, (sqlite3_int64)a->first);
	sqlite3_bind_int64(st, base + 8, (sqlite3_int64)a->last);
	sqlite3_bind_int64(st, base + 9, (sqlite3_int64)a->events);
}

/* The rowid range of each day in a batch (a batch spans few days), written to day_rows. */
struct day_ranges {
	int64_t day[4], first[4], last[4];
	size_t n;
};

static int day_flush(struct sqlite_store *s, struct day_ranges *d)
{
	int rc = 0;
	for (size_t k = 0; k < d->n && !rc; k++) {
		sqlite3_bind_int64(s->up_day, 1, d->day[k]);
		sqlite3_bind_int64(s->up_day, 2, d->first[k]);
		sqlite3_bind_int64(s->up_day, 3, d->last[k]);
		rc = step_reset(s->up_day);
	}
	d->n = 0;
	return rc;
}

static int day_note(struct sqlite_store *s, struct day_ranges *d, int64_t day, int64_t rowid)
{
	size_t k;
	for (k = 0; k < d->n && d->day[k] != day; k++)
		;
	if (k == d->n) {
		/* More than four days in one batch: flush the ranges so far and start over. */
		if (d->n == 4) {
			int rc = day_flush(s, d);
			if (rc)
				return rc;
			k = 0;
		}
		d->day[k] = day;
		d->first[k] = rowid;
		d->n++;
	}
	d->last[k] = rowid;
	return 0;
}

/* Rows in agg_delta now (before the first ingest: is the mirror complete?). */
static int count_delta(struct sqlite_store *s, int64_t *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM agg_delta", -1, &st, NULL) != SQLITE_OK)
		return ERR_SYS;
	int r = sqlite3_step(st);
	*out = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return r == SQLITE_ROW ? 0 : ERR_SYS;
}

/* The mirror's rows into daily_src, in key order (inside the compacting transaction). */
static int compact_from_mirror(struct sqlite_store *s)
{
	int rc;
	const struct aggm_row *const *r = aggm_sorted(s->mirror, &rc);
	sqlite3_stmt *st = s->upsert_src;
	for (size_t i = 0; r && i < aggm_count(s->mirror) && !rc; i++) {
		const struct aggm_row *a = r[i];
		sqlite3_bind_int64(st, 1, a->day);
		sqlite3_bind_text(st, 2, a->family, (int)a->family_len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, a->src, a->ipver == 4 ? 4 : 16, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, a->ipver);
		sqlite3_bind_int64(st, 5, a->asn);
		sqlite3_bind_text(st, 6, a->cc, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)a->first);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)a->last);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)a->events);
		rc = step_reset(st);
	}
	return rc;
}

/*
 * Compacts agg_delta into daily_src when it has grown (or the mirror is
 * full); a transaction of its own. The mirror's rows are used when it holds
 * exactly what agg_delta holds, else SQLite groups and sorts agg_delta.
 */
static int maybe_compact(struct sqlite_store *s, bool force)
{
	if (s->delta_rows < 0 && count_delta(s, &s->delta_rows))
		return ERR_SYS;
	bool full = s->mirror_ok && aggm_count(s->mirror) >= STORE_MIRROR_MAX;
	if (!s->delta_rows || (!force && !full && s->delta_rows < STORE_COMPACT_ROWS))
		return 0;
	if (exec(s, "BEGIN"))
		return ERR_SYS;
	int64_t now = -1;
	int rc = s->mirror_ok ? count_delta(s, &now) : 0;
	if (!rc && s->mirror_ok && now == s->mirror_rows)
		rc = compact_from_mirror(s);
	else if (!rc)
		rc = exec(s, compact_src_sql);
	if (rc || exec(s, "DELETE FROM agg_delta") || exec(s, compact_bot_sql) ||
	    exec(s, "COMMIT")) {
		exec(s, "ROLLBACK");
		return ERR_SYS;
	}
	/* agg_delta is empty: the mirror starts over, complete. */
	aggm_clear(s->mirror);
	s->mirror_ok = true;
	s->mirror_rows = 0;
	s->delta_rows = 0;
	return 0;
}

static int sq_compact(struct store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	return maybe_compact(s, true);
}

static int sq_ingest(struct store *base, const struct store_event *ev, size_t n,
		     const struct log_pos *from, const struct log_pos *next)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!s->ins_event)
		return ERR_INVAL;
	size_t need = 16;
	while (need < n * 4 + 16)
		need *= 2;
	if (need > s->agg_cap) {
		/* At most two aggregates per event (address, bot ID); load factor <= 1/2. */
		struct agg *na = malloc(need / 2 * sizeof *na);
		uint64_t *ns = calloc(need, sizeof *ns);
		uint32_t *nu = malloc(need / 2 * sizeof *nu);
		struct aggm_row *nm = malloc(need / 2 * sizeof *nm);
		if (!na || !ns || !nu || !nm) {
			free(na);
			free(ns);
			free(nu);
			free(nm);
			return ERR_NOMEM;
		}
		free(s->mrows);
		s->mrows = nm;
		free(s->agg);
		free(s->agg_slot);
		free(s->agg_used);
		s->agg = na;
		s->agg_slot = ns;
		s->agg_used = nu;
		s->agg_cap = need;
		s->agg_n = 0;
	}
	/* Strings bound by earlier ingests are gone: every cached binding is stale (0 is never current). */
	if (++s->gen == 0)
		s->gen = 1;
	/* Only the slots the last batch used are dirty. */
	for (size_t i = 0; i < s->agg_n; i++)
		s->agg_slot[s->agg_used[i]] = 0;
	s->agg_n = 0;
	if (s->delta_rows < 0) {
		/* The first ingest: the mirror is complete only if agg_delta starts empty. */
		if (count_delta(s, &s->delta_rows))
			return ERR_SYS;
		s->mirror_ok = s->delta_rows == 0;
	}
	/* IMMEDIATE: take the write lock first, then check nobody moved the position. */
	if (exec(s, "BEGIN IMMEDIATE"))
		return ERR_SYS;
	struct log_pos cur;
	int rc = sq_get_pos(s, &cur);
	if (!rc && (cur.segment != from->segment || cur.offset != from->offset))
		rc = ERR_INVAL;
	struct day_ranges dr = { .n = 0 };
	for (size_t i = 0; i < n && !rc;) {
		/* STORE_MULTI rows per step while that many are left, then one at a time. */
		size_t k = n - i >= STORE_MULTI ? STORE_MULTI : 1;
		sqlite3_stmt *st = k > 1 ? s->ins_event_n : s->ins_event;
		struct binder bd = { st, k > 1 ? s->bc_n : s->bc_1, s->gen };
		for (size_t j = 0; j < k; j++)
			bind_event(&bd, (int)j * STORE_EV_COLS, &ev[i + j]);
		if ((rc = step_reset(st)) != 0)
			break;
		/* One writer: the rows of one statement got consecutive rowids. */
		int64_t last = sqlite3_last_insert_rowid(s->db);
		for (size_t j = 0; j < k && !rc; j++) {
			const struct store_event *e = &ev[i + j];
			int64_t day = (int64_t)(e->ts_us / US_PER_DAY);
			rc = day_note(s, &dr, day, last - (int64_t)(k - 1 - j));
			if (store_is_infection(e)) {
				struct agg ak = { .day = day,
						  .family = e->col[STORE_C_FAMILY].p,
						  .family_len = e->col[STORE_C_FAMILY].len,
						  .ipver = e->ipver,
						  .asn = e->src_asn };
				memcpy(ak.src, e->src, 16);
				memcpy(ak.cc, e->src_cc, 3);
				agg_add(s, &ak, e->ts_us);
				const struct store_str *bt = &e->col[STORE_C_BOT_ID];
				if (bt->len) {
					struct agg kb = { .bot = true,
							  .bot_id = bt->p,
							  .bot_len = bt->len,
							  .day = day,
							  .family = ak.family,
							  .family_len = ak.family_len };
					agg_add(s, &kb, e->ts_us);
				}
			}
		}
		i += k;
	}
	if (!rc)
		rc = day_flush(s, &dr);
	int64_t added = 0;
	/* Bot IDs one at a time (few), address aggregates STORE_MULTI per step. */
	const struct agg *pend[STORE_MULTI];
	size_t np = 0;
	for (size_t i = 0; i < s->agg_n && !rc; i++) {
		const struct agg *a = &s->agg[i];
		if (a->bot) {
			sqlite3_stmt *bs = s->ins_bot;
			sqlite3_bind_int64(bs, 1, a->day);
			sqlite3_bind_text(bs, 2, a->family, (int)a->family_len, SQLITE_STATIC);
			sqlite3_bind_text(bs, 3, a->bot_id, (int)a->bot_len, SQLITE_STATIC);
			sqlite3_bind_int64(bs, 4, (sqlite3_int64)a->first);
			sqlite3_bind_int64(bs, 5, (sqlite3_int64)a->last);
			sqlite3_bind_int64(bs, 6, (sqlite3_int64)a->events);
			rc = step_reset(bs);
			added++;
			continue;
		}
		pend[np++] = a;
		if (np == STORE_MULTI) {
			for (size_t j = 0; j < np; j++)
				bind_delta(s->ins_delta_n, (int)j * STORE_DELTA_COLS, pend[j]);
			rc = step_reset(s->ins_delta_n);
			added += (int64_t)np;
			np = 0;
		}
	}
	for (size_t j = 0; j < np && !rc; j++) {
		bind_delta(s->ins_delta, 0, pend[j]);
		rc = step_reset(s->ins_delta);
		added++;
	}
	if (!rc) {
		sqlite3_bind_text(s->set_pos, 1, "log_segment", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s->set_pos, 2, next->segment);
		rc = step_reset(s->set_pos);
	}
	if (!rc) {
		sqlite3_bind_text(s->set_pos, 1, "log_offset", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s->set_pos, 2, (sqlite3_int64)next->offset);
		rc = step_reset(s->set_pos);
	}
	if (!rc && exec(s, "COMMIT"))
		rc = ERR_SYS;
	if (rc) {
		exec(s, "ROLLBACK");
		return rc;
	}
	s->delta_rows += added;
	/* Committed: the batch's address aggregates join the mirror. */
	size_t nm = 0;
	for (size_t i = 0; i < s->agg_n && s->mirror_ok; i++) {
		const struct agg *a = &s->agg[i];
		if (a->bot)
			continue;
		struct aggm_row *r = &s->mrows[nm++];
		*r = (struct aggm_row){ .day = a->day,
					.family = a->family,
					.family_len = a->family_len,
					.ipver = a->ipver,
					.asn = a->asn,
					.first = a->first,
					.last = a->last,
					.events = a->events };
		memcpy(r->src, a->src, 16);
		memcpy(r->cc, a->cc, 3);
	}
	if (s->mirror_ok && aggm_add_many(s->mirror, s->mrows, nm))
		s->mirror_ok = false; /* no memory: SQLite compacts */
	else
		s->mirror_rows += (int64_t)nm;
	return maybe_compact(s, false);
}

/* --- reads --------------------------------------------------------------------------- */

static bool filter_addr(const struct store_filter *f, uint8_t ipver, const uint8_t *addr,
			const char *cc)
{
	if (f->n_nets) {
		size_t i;
		for (i = 0; i < f->n_nets; i++)
			if (store_net_contains(&f->nets[i], ipver, addr))
				break;
		if (i == f->n_nets)
			return false;
	}
	if (f->n_ccs) {
		size_t i;
		for (i = 0; i < f->n_ccs; i++)
			if (cc && !strcmp(cc, f->ccs[i]))
				break;
		if (i == f->n_ccs)
			return false;
	}
	return true;
}

/* "SELECT ... WHERE <day> BETWEEN ?1 AND ?2 <extra> [AND <asn> IN (?3...)] <tail>", bound. */
static int prepare_filtered(struct sqlite_store *s, const char *head, const char *daycol,
			    const char *asncol, const char *extra, const char *tail,
			    const struct store_filter *f, sqlite3_stmt **out)
{
	size_t cap = strlen(head) + strlen(tail) + strlen(extra) + 128 + f->n_asns * 8;
	char *sql = malloc(cap);
	if (!sql)
		return ERR_NOMEM;
	int w = snprintf(sql, cap, "%s WHERE %s BETWEEN ?1 AND ?2 %s", head, daycol, extra);
	size_t len = (size_t)w;
	if (f->n_asns) {
		len += (size_t)snprintf(sql + len, cap - len, " AND %s IN (", asncol);
		for (size_t i = 0; i < f->n_asns; i++)
			len += (size_t)snprintf(sql + len, cap - len, "%s?%zu", i ? "," : "",
						i + 3);
		len += (size_t)snprintf(sql + len, cap - len, ")");
	}
	snprintf(sql + len, cap - len, " %s", tail);
	int r = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
	free(sql);
	if (r != SQLITE_OK)
		return ERR_SYS;
	sqlite3_bind_int64(*out, 1, f->day_from);
	sqlite3_bind_int64(*out, 2, f->day_to);
	for (size_t i = 0; i < f->n_asns; i++)
		sqlite3_bind_int64(*out, 3 + (int)i, f->asns[i]);
	return 0;
}

static void copy_cc(char dst[3], const unsigned char *t)
{
	dst[0] = dst[1] = dst[2] = '\0';
	if (t && t[0] && t[1] && !t[2]) {
		dst[0] = (char)t[0];
		dst[1] = (char)t[1];
	}
}

static int sq_scan(struct store *base, const struct store_filter *f, store_event_fn fn, void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	/* A day is a rowid range (day_rows): no index to maintain while indexing. */
	char extra[512];
	snprintf(extra, sizeof extra,
		 "AND rowid BETWEEN (SELECT min(first_rowid) FROM day_rows WHERE day BETWEEN ?1 AND"
		 " ?2) AND (SELECT max(last_rowid) FROM day_rows WHERE day BETWEEN ?1 AND ?2) %s",
		 f->infections_only ?
			 "AND kind != 3 AND family IS NOT NULL AND family != 'unknown'" :
			 "");
	int rc = prepare_filtered(
		s,
		"SELECT ts_us, kind, type, transport, ipver, flags, src, src_port,"
		" src_asn, src_cc, dst, dst_port, dst_asn, dst_cc, family, tag,"
		" sensor, http_url, http_host, http_agent, forwarded_by,"
		" http_referer, ssl_servername, machine_name, query_type, query, bot_id,"
		" ssl_cipher"
		" FROM events",
		"day", "src_asn", extra, "ORDER BY rowid", f, &st);
	if (rc)
		return rc;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_event e = { 0 };
		e.ts_us = (uint64_t)sqlite3_column_int64(st, 0);
		e.kind = (uint8_t)sqlite3_column_int(st, 1);
		e.type = (uint8_t)sqlite3_column_int(st, 2);
		e.transport = (uint8_t)sqlite3_column_int(st, 3);
		e.ipver = (uint8_t)sqlite3_column_int(st, 4);
		e.flags = (uint16_t)sqlite3_column_int(st, 5);
		size_t alen = e.ipver == 4 ? 4 : 16;
		const void *b = sqlite3_column_blob(st, 6);
		if (b && (size_t)sqlite3_column_bytes(st, 6) == alen)
			memcpy(e.src, b, alen);
		e.src_port = (uint16_t)sqlite3_column_int(st, 7);
		e.src_asn = (uint32_t)sqlite3_column_int64(st, 8);
		copy_cc(e.src_cc, sqlite3_column_text(st, 9));
		b = sqlite3_column_blob(st, 10);
		if (b && (size_t)sqlite3_column_bytes(st, 10) == alen)
			memcpy(e.dst, b, alen);
		e.dst_port = (uint16_t)sqlite3_column_int(st, 11);
		e.dst_asn = (uint32_t)sqlite3_column_int64(st, 12);
		copy_cc(e.dst_cc, sqlite3_column_text(st, 13));
		for (int c = 0; c < STORE_C_N; c++) {
			e.col[c].p = (const char *)sqlite3_column_text(st, 14 + c);
			e.col[c].len = (size_t)sqlite3_column_bytes(st, 14 + c);
		}
		if (!filter_addr(f, e.ipver, e.src, e.src_cc))
			continue;
		if (fn(ctx, &e)) {
			r = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : ERR_SYS;
}

static int sq_daily(struct store *base, const struct store_filter *f, store_daily_fn fn, void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	int rc = prepare_filtered(s,
				  "SELECT day, family, asn, cc, src, ipver, events FROM daily_all",
				  "day", "asn", "", "ORDER BY day, family, asn, cc", f, &st);
	if (rc)
		return rc;
	struct store_daily cur = { 0 };
	char fam[256] = "", cc[3] = "";
	bool have = false;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t day = sqlite3_column_int64(st, 0);
		const char *family = (const char *)sqlite3_column_text(st, 1);
		uint32_t asn = (uint32_t)sqlite3_column_int64(st, 2);
		char c[3];
		copy_cc(c, sqlite3_column_text(st, 3));
		const uint8_t *src = sqlite3_column_blob(st, 4);
		uint8_t ipver = (uint8_t)sqlite3_column_int(st, 5);
		uint8_t a[16] = { 0 };
		if (src)
			memcpy(a, src,
			       (size_t)sqlite3_column_bytes(st, 4) > 16 ?
				       16 :
				       (size_t)sqlite3_column_bytes(st, 4));
		if (!family || !filter_addr(f, ipver, a, c))
			continue;
		if (!have || cur.day != day || strcmp(fam, family) || cur.asn != asn ||
		    strcmp(cc, c)) {
			if (have && fn(ctx, &cur))
				break;
			snprintf(fam, sizeof fam, "%s", family);
			memcpy(cc, c, 3);
			cur = (struct store_daily){ day, fam, asn, cc, 0, 0 };
			have = true;
		}
		cur.unique_src++;
		cur.events += (uint64_t)sqlite3_column_int64(st, 6);
	}
	if (r == SQLITE_DONE && have)
		fn(ctx, &cur);
	sqlite3_finalize(st);
	return r == SQLITE_DONE || r == SQLITE_ROW ? 0 : ERR_SYS;
}

static int sq_unique_sources(struct store *base, const struct store_filter *f, uint64_t *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	int rc = prepare_filtered(s, "SELECT src, ipver, cc FROM daily_all", "day", "asn", "",
				  "ORDER BY src", f, &st);
	if (rc)
		return rc;
	uint8_t prev[17] = { 0 };
	bool have = false;
	uint64_t n = 0;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t key[17] = { 0 };
		size_t bl = (size_t)sqlite3_column_bytes(st, 0);
		const uint8_t *src = sqlite3_column_blob(st, 0);
		key[0] = (uint8_t)sqlite3_column_int(st, 1);
		if (src)
			memcpy(key + 1, src, bl > 16 ? 16 : bl);
		char c[3];
		copy_cc(c, sqlite3_column_text(st, 2));
		if (!filter_addr(f, key[0], key + 1, c))
			continue;
		if (have && !memcmp(prev, key, sizeof key))
			continue;
		memcpy(prev, key, sizeof key);
		have = true;
		n++;
	}
	sqlite3_finalize(st);
	*out = n;
	return r == SQLITE_DONE ? 0 : ERR_SYS;
}

static int sq_bots(struct store *base, const struct store_filter *f, store_bots_fn fn, void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
		    s->db,
		    "SELECT day, family, count(*), sum(events) FROM daily_bots"
		    " WHERE day BETWEEN ?1 AND ?2 GROUP BY day, family ORDER BY day, family",
		    -1, &st, NULL) != SQLITE_OK)
		return ERR_SYS;
	sqlite3_bind_int64(st, 1, f->day_from);
	sqlite3_bind_int64(st, 2, f->day_to);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *fam = (const char *)sqlite3_column_text(st, 1);
		struct store_bots b = { sqlite3_column_int64(st, 0), fam ? fam : "",
					(uint64_t)sqlite3_column_int64(st, 2),
					(uint64_t)sqlite3_column_int64(st, 3) };
		if (fn(ctx, &b)) {
			r = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : ERR_SYS;
}

static int sq_get_pos_pub(struct store *base, struct log_pos *pos)
{
	return sq_get_pos((struct sqlite_store *)base, pos);
}

const struct store_ops store__sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.get_pos = sq_get_pos_pub,
	.ingest = sq_ingest,
	.compact = sq_compact,
	.scan = sq_scan,
	.daily = sq_daily,
	.unique_sources = sq_unique_sources,
	.bots = sq_bots,
};
