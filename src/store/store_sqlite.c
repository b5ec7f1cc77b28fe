/* store_sqlite.c — the embedded store backend: SQLite in WAL mode, one transaction per ingested batch. */
#include "store/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/mix64.h"
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
 *
 * Counting distinct addresses per day or week over millions of rows takes
 * seconds, too slow for the web API. So each compaction also writes the
 * rollup of the days it merged and of their weeks (Monday to Sunday): unique
 * addresses and events per (family, ASN, country), and per (ASN, country)
 * over all families (family ''). delta_days lists the days whose rollup is
 * not current (rows in agg_delta, or merged but not rolled up yet: the
 * newest day waits until a later day is merged or store_compact forces it);
 * a day's or a week's rollup is used only when none of its days is listed
 * there (else it is computed from the rows, as for a small store).
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
	"CREATE TABLE IF NOT EXISTS delta_days(day INTEGER PRIMARY KEY);"
	"CREATE TABLE IF NOT EXISTS rollup(period INTEGER NOT NULL, asn INTEGER NOT NULL,"
	" day INTEGER NOT NULL, family TEXT NOT NULL, cc TEXT NOT NULL, uniq INTEGER NOT NULL,"
	" events INTEGER NOT NULL, PRIMARY KEY(period, asn, day, family, cc)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS rollup_cc ON rollup(period, cc, day);"
	"CREATE TABLE IF NOT EXISTS rollup_done(period INTEGER NOT NULL, day INTEGER NOT NULL,"
	" PRIMARY KEY(period, day)) WITHOUT ROWID;"
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
	sqlite3_stmt *ins_event, *ins_delta, *ins_bot, *up_day, *set_pos, *ins_dday;
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
			     -1, &s->set_pos, NULL) != SQLITE_OK ||
		     sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO delta_days VALUES(?)", -1,
					&s->ins_dday, NULL) != SQLITE_OK))
			rc = sql_err(s, err, errlen, "prepare");
		if (!rc) {
			char sql[96];
			snprintf(sql, sizeof sql,
				 "INSERT OR IGNORE INTO meta VALUES('schema_version', %d)",
				 STORE_SCHEMA_VERSION);
			if (exec(s, sql))
				rc = sql_err(s, err, errlen, "schema");
		}
		/* A store written before delta_days existed: list its pending days once. */
		if (!rc &&
		    exec(s, "INSERT OR IGNORE INTO delta_days SELECT DISTINCT day FROM agg_delta"
			    " WHERE NOT EXISTS (SELECT 1 FROM delta_days)"))
			rc = sql_err(s, err, errlen, "schema");
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
	sqlite3_finalize(s->ins_dday);
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

/* Monday of the week of a day (day 0, 1970-01-01, was a Thursday). */
/* The rollup of one day (period 1) or one week (period 7) from daily_src, replacing any. */
static int rollup_one(struct sqlite_store *s, int period, int64_t day)
{
	static const char *const sql[] = {
		"DELETE FROM rollup WHERE period = ?1 AND day = ?2",
		/* Per family: a (day, family, src) is one row of daily_src, so a day counts rows. */
		"INSERT INTO rollup SELECT ?1, asn, ?2, family, cc,"
		" CASE WHEN ?1 = 1 THEN count(*) ELSE count(DISTINCT src) END, sum(events)"
		" FROM daily_src WHERE day BETWEEN ?2 AND ?2 + ?1 - 1 GROUP BY family, asn, cc",
		"INSERT INTO rollup SELECT ?1, asn, ?2, '', cc, count(DISTINCT src), sum(events)"
		" FROM daily_src WHERE day BETWEEN ?2 AND ?2 + ?1 - 1 GROUP BY asn, cc",
		/* Every network together (ASN -1): what the operator's charts read, exact. */
		"INSERT INTO rollup SELECT ?1, -1, ?2, family, '',"
		" CASE WHEN ?1 = 1 THEN count(*) ELSE count(DISTINCT src) END, sum(events)"
		" FROM daily_src WHERE day BETWEEN ?2 AND ?2 + ?1 - 1 GROUP BY family",
		"INSERT INTO rollup SELECT ?1, -1, ?2, '', '', count(DISTINCT src), sum(events)"
		" FROM daily_src WHERE day BETWEEN ?2 AND ?2 + ?1 - 1",
		"INSERT OR IGNORE INTO rollup_done VALUES(?1, ?2)",
	};
	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL) != SQLITE_OK)
			return ERR_SYS;
		sqlite3_bind_int(st, 1, period);
		sqlite3_bind_int64(st, 2, day);
		int r = sqlite3_step(st);
		sqlite3_finalize(st);
		if (r != SQLITE_DONE)
			return ERR_SYS;
	}
	return 0;
}

/*
 * After a merge: the rollups of the days that had pending rows, and of their
 * weeks. Unless forced, the newest pending day is left pending: it is the day
 * being indexed, so its rollup would be stale again at the next merge (and a
 * day of a million addresses costs seconds to roll up). Readers count a
 * pending day from its rows, as before any merge. At most 512 days are rolled
 * up per merge (a backfill); later days stay pending for the next one.
 */
static int rollup_pending(struct sqlite_store *s, bool force)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT day FROM delta_days ORDER BY day", -1, &st, NULL) !=
	    SQLITE_OK)
		return ERR_SYS;
	int64_t days[513];
	size_t n = 0;
	while (n < 513 && sqlite3_step(st) == SQLITE_ROW)
		days[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	/* days[n_done] (if any) is the first day left pending: that one and all later ones. */
	size_t n_done = n > 512 ? 512 : n;
	if (!force && n_done == n && n_done > 0)
		n_done--;
	/* Whatever is not recomputed below is no longer current. */
	int rc = exec(s, "DELETE FROM rollup_done WHERE (period = 1 AND day IN (SELECT day FROM"
			 " delta_days)) OR (period = 7 AND day IN (SELECT day - ((day + 3) % 7)"
			 " FROM delta_days))") ?
			 ERR_SYS :
			 0;
	for (size_t i = 0; i < n_done && !rc; i++) {
		rc = rollup_one(s, 1, days[i]);
		int64_t w = store__week_of(days[i]);
		/* A week with a day still pending would be stale at once: it waits too. */
		bool week_pending = n_done < n && w >= store__week_of(days[n_done]);
		if (!rc && !week_pending && (i == 0 || w != store__week_of(days[i - 1])))
			rc = rollup_one(s, 7, w);
	}
	if (rc)
		return rc;
	if (n_done == n)
		return exec(s, "DELETE FROM delta_days") ? ERR_SYS : 0;
	if (sqlite3_prepare_v2(s->db, "DELETE FROM delta_days WHERE day < ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return ERR_SYS;
	sqlite3_bind_int64(st, 1, days[n_done]);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ERR_SYS;
	sqlite3_finalize(st);
	return rc;
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
	if (force && !s->delta_rows) {
		/* Nothing to merge, but days may wait for their rollup. */
		if (exec(s, "BEGIN"))
			return ERR_SYS;
		if (rollup_pending(s, true) || exec(s, "COMMIT")) {
			exec(s, "ROLLBACK");
			return ERR_SYS;
		}
		return 0;
	}
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
	    rollup_pending(s, force) || exec(s, "COMMIT")) {
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
		if (i == 0 || a->day != s->agg[i - 1].day) {
			sqlite3_bind_int64(s->ins_dday, 1, a->day);
			rc = step_reset(s->ins_dday);
			if (rc)
				break;
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

/*
 * One events row from a statement whose columns, from `base` on, are ts_us,
 * kind, type, transport, ipver, flags, src, src_port, src_asn, src_cc, dst,
 * dst_port, dst_asn, dst_cc and the STORE_C_N text columns. The strings point
 * into the statement: valid until its next step.
 */
static void row_to_event(sqlite3_stmt *st, int base, struct store_event *e)
{
	e->ts_us = (uint64_t)sqlite3_column_int64(st, base + 0);
	e->kind = (uint8_t)sqlite3_column_int(st, base + 1);
	e->type = (uint8_t)sqlite3_column_int(st, base + 2);
	e->transport = (uint8_t)sqlite3_column_int(st, base + 3);
	e->ipver = (uint8_t)sqlite3_column_int(st, base + 4);
	e->flags = (uint16_t)sqlite3_column_int(st, base + 5);
	size_t alen = e->ipver == 4 ? 4 : 16;
	const void *b = sqlite3_column_blob(st, base + 6);
	if (b && (size_t)sqlite3_column_bytes(st, base + 6) == alen)
		memcpy(e->src, b, alen);
	e->src_port = (uint16_t)sqlite3_column_int(st, base + 7);
	e->src_asn = (uint32_t)sqlite3_column_int64(st, base + 8);
	copy_cc(e->src_cc, sqlite3_column_text(st, base + 9));
	b = sqlite3_column_blob(st, base + 10);
	if (b && (size_t)sqlite3_column_bytes(st, base + 10) == alen)
		memcpy(e->dst, b, alen);
	e->dst_port = (uint16_t)sqlite3_column_int(st, base + 11);
	e->dst_asn = (uint32_t)sqlite3_column_int64(st, base + 12);
	copy_cc(e->dst_cc, sqlite3_column_text(st, base + 13));
	for (int c = 0; c < STORE_C_N; c++) {
		e->col[c].p = (const char *)sqlite3_column_text(st, base + 14 + c);
		e->col[c].len = (size_t)sqlite3_column_bytes(st, base + 14 + c);
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
		row_to_event(st, 0, &e);
		if (!store__filter_addr(f, e.ipver, e.src, e.src_cc))
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
		if (!family || !store__filter_addr(f, ipver, a, c))
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
		if (!store__filter_addr(f, key[0], key + 1, c))
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

/* --- the web API's reads: scope and filter rendered into the SQL ----------------------- */

/*
 * A statement under construction with its bindings. Every value the caller
 * gives (ASNs, prefixes, countries, family, paging keys) is a bound parameter;
 * the text only ever holds fixed column names and placeholders.
 */
#define SQLQ_MAX_BIND 1024

struct sqlq_bind {
	int kind; /* 1 int64, 2 blob, 3 text */
	int64_t i;
	uint8_t blob[16];
	size_t len;
	const char *text;
};

struct sqlq {
	struct dynbuf sql;
	struct sqlq_bind *b;
	int n;
	int err;
};

/* The column names of one table: events, or the aggregate union. */
struct sqlq_cols {
	const char *src, *ipver, *asn, *cc, *family, *day;
};

static const struct sqlq_cols agg_cols = { "src", "ipver", "asn", "cc", "family", "day" };
static const struct sqlq_cols ev_cols = { "src", "ipver", "src_asn", "src_cc", "family", "day" };

static void q_add(struct sqlq *q, const char *text)
{
	if (!q->err && dynbuf_adds(&q->sql, text))
		q->err = ERR_NOMEM;
}

static struct sqlq_bind *q_bind(struct sqlq *q)
{
	if (q->err || q->n >= SQLQ_MAX_BIND) {
		q->err = q->err ? q->err : ERR_LIMIT;
		return NULL;
	}
	struct sqlq_bind *b = &q->b[q->n++];
	memset(b, 0, sizeof *b);
	if (dynbuf_printf(&q->sql, "?%d", q->n))
		q->err = ERR_NOMEM;
	return b;
}

static void q_int(struct sqlq *q, int64_t v)
{
	struct sqlq_bind *b = q_bind(q);
	if (b) {
		b->kind = 1;
		b->i = v;
	}
}

static void q_blob(struct sqlq *q, const uint8_t *p, size_t len)
{
	struct sqlq_bind *b = q_bind(q);
	if (b) {
		b->kind = 2;
		memcpy(b->blob, p, len);
		b->len = len;
	}
}

static void q_text(struct sqlq *q, const char *t)
{
	struct sqlq_bind *b = q_bind(q);
	if (b) {
		b->kind = 3;
		b->text = t;
	}
}

static void q_col(struct sqlq *q, const char *col, const char *op)
{
	q_add(q, col);
	q_add(q, op);
}

/* (ipver = v AND src BETWEEN first AND last address of the prefix) */
static void q_net(struct sqlq *q, const struct sqlq_cols *c, const struct store_net *n)
{
	size_t alen = n->ipver == 4 ? 4 : 16;
	unsigned plen = n->plen > alen * 8 ? (unsigned)alen * 8 : n->plen;
	uint8_t lo[16], hi[16];
	for (size_t i = 0; i < alen; i++) {
		unsigned bits = plen > i * 8 ? plen - (unsigned)i * 8 : 0;
		uint8_t m = (uint8_t)(bits >= 8 ? 0xffu : 0xffu << (8 - bits));
		lo[i] = n->addr[i] & m;
		hi[i] = (uint8_t)(lo[i] | (uint8_t)~m);
	}
	q_add(q, "(");
	q_col(q, c->ipver, " = ");
	q_int(q, n->ipver == 4 ? 4 : 6);
	q_add(q, " AND ");
	q_col(q, c->src, " BETWEEN ");
	q_blob(q, lo, alen);
	q_add(q, " AND ");
	q_blob(q, hi, alen);
	q_add(q, ")");
}

static void q_asns(struct sqlq *q, const struct sqlq_cols *c, const uint32_t *a, size_t n)
{
	q_col(q, c->asn, " IN (");
	for (size_t i = 0; i < n; i++) {
		if (i)
			q_add(q, ",");
		q_int(q, a[i]);
	}
	q_add(q, ")");
}

static void q_ccs(struct sqlq *q, const struct sqlq_cols *c, const char (*cc)[3], size_t n)
{
	q_col(q, c->cc, " IN (");
	for (size_t i = 0; i < n; i++) {
		if (i)
			q_add(q, ",");
		q_text(q, cc[i]);
	}
	q_add(q, ")");
}

static void q_nets(struct sqlq *q, const struct sqlq_cols *c, const struct store_net *nets,
		   size_t n)
{
	q_add(q, "(");
	for (size_t i = 0; i < n; i++) {
		if (i)
			q_add(q, " OR ");
		q_net(q, c, &nets[i]);
	}
	q_add(q, ")");
}

/* " AND <scope> AND <filter>": the scope is a union, the filter's lists an intersection. */
static void q_where(struct sqlq *q, const struct sqlq_cols *c, const struct store_query *sq)
{
	const struct store_scope *sc = sq->scope;
	/* One kind of selector is written bare, so the planner can use an index on it. */
	int kinds = !!sc->n_asns + !!sc->n_nets + !!sc->n_ccs;
	if (!sc->all && kinds == 1) {
		q_add(q, " AND ");
		if (sc->n_asns)
			q_asns(q, c, sc->asns, sc->n_asns);
		else if (sc->n_nets)
			q_nets(q, c, sc->nets, sc->n_nets);
		else
			q_ccs(q, c, sc->ccs, sc->n_ccs);
	} else if (!sc->all) {
		q_add(q, " AND (0");
		if (sc->n_asns) {
			q_add(q, " OR ");
			q_asns(q, c, sc->asns, sc->n_asns);
		}
		if (sc->n_nets) {
			q_add(q, " OR ");
			q_nets(q, c, sc->nets, sc->n_nets);
		}
		if (sc->n_ccs) {
			q_add(q, " OR ");
			q_ccs(q, c, sc->ccs, sc->n_ccs);
		}
		q_add(q, ")");
	}
	const struct store_filter *f = &sq->f;
	if (f->n_asns) {
		q_add(q, " AND ");
		q_asns(q, c, f->asns, f->n_asns);
	}
	if (f->n_nets) {
		q_add(q, " AND ");
		q_nets(q, c, f->nets, f->n_nets);
	}
	if (f->n_ccs) {
		q_add(q, " AND ");
		q_ccs(q, c, f->ccs, f->n_ccs);
	}
	if (sq->family) {
		q_add(q, " AND ");
		q_col(q, c->family, " = ");
		q_text(q, sq->family);
	}
}

static int q_init(struct sqlq *q)
{
	memset(q, 0, sizeof *q);
	dynbuf_init(&q->sql, 1u << 20);
	q->b = malloc(SQLQ_MAX_BIND * sizeof *q->b);
	return q->b ? 0 : ERR_NOMEM;
}

static void q_free(struct sqlq *q)
{
	dynbuf_free(&q->sql);
	free(q->b);
}

static int q_prepare(struct sqlite_store *s, struct sqlq *q, sqlite3_stmt **out)
{
	if (q->err)
		return q->err;
	if (sqlite3_prepare_v2(s->db, q->sql.data, -1, out, NULL) != SQLITE_OK)
		return ERR_SYS;
	for (int i = 0; i < q->n; i++) {
		const struct sqlq_bind *b = &q->b[i];
		if (b->kind == 1)
			sqlite3_bind_int64(*out, i + 1, b->i);
		else if (b->kind == 2)
			sqlite3_bind_blob(*out, i + 1, b->blob, (int)b->len, SQLITE_TRANSIENT);
		else
			sqlite3_bind_text(*out, i + 1, b->text, -1, SQLITE_STATIC);
	}
	return 0;
}

/*
 * The aggregates of the query's days, scope and filter: the merged rows and
 * the pending deltas, each filtered on its own (the WHERE reaches both arms
 * and daily_src's key), so a (day, family, address) may appear twice: readers
 * count distinct addresses and sum events.
 */
static void q_agg_from(struct sqlq *q, const struct store_query *sq, const char *cols)
{
	static const char *const tables[2] = { "daily_src", "agg_delta" };
	q_add(q, "(");
	for (int t = 0; t < 2; t++) {
		q_add(q, t ? " UNION ALL SELECT " : "SELECT ");
		q_add(q, cols);
		q_add(q, " FROM ");
		q_add(q, tables[t]);
		q_add(q, " WHERE day BETWEEN ");
		q_int(q, sq->f.day_from);
		q_add(q, " AND ");
		q_int(q, sq->f.day_to);
		q_where(q, &agg_cols, sq);
	}
	q_add(q, ")");
}

/* A row of a series answer, collected before sorting. */
struct series_acc {
	int64_t day;
	char family[72]; /* a family name is 1..64 bytes (config.c) */
	uint64_t uniq, events;
};

struct series_buf {
	struct series_acc *r;
	size_t n, cap;
	int err;
};

static void sbuf_add(struct series_buf *b, int64_t day, const char *fam, uint64_t u, uint64_t e)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct series_acc *nr = cap <= (1u << 22) ? realloc(b->r, cap * sizeof *nr) : NULL;
		if (!nr) {
			b->err = ERR_NOMEM;
			return;
		}
		b->r = nr;
		b->cap = cap;
	}
	struct series_acc *a = &b->r[b->n++];
	a->day = day;
	snprintf(a->family, sizeof a->family, "%s", fam ? fam : "");
	a->uniq = u;
	a->events = e;
}

static int sacc_cmp(const void *x, const void *y)
{
	const struct series_acc *a = x, *b = y;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return strcmp(a->family, b->family);
}

/* The bucket of a day: calendar weeks for 0, else counted from day_from. */
static void q_bucket(struct sqlq *q, const struct store_query *sq, unsigned bucket_days)
{
	if (bucket_days == 1) {
		q_add(q, "day");
	} else if (bucket_days == 0) {
		q_add(q, "(day - ((day + 3) % 7))");
	} else {
		q_add(q, "(day - ");
		q_int(q, sq->f.day_from);
		q_add(q, ") / ");
		q_int(q, bucket_days);
		q_add(q, " * ");
		q_int(q, bucket_days);
		q_add(q, " + ");
		q_int(q, sq->f.day_from);
	}
}

/* Counts from the aggregate rows, for the days [lo, hi]. */
static int series_live(struct sqlite_store *s, const struct store_query *sq, int64_t lo, int64_t hi,
		       unsigned bucket_days, bool per_family, struct series_buf *out)
{
	struct store_query rq = *sq;
	rq.f.day_from = lo;
	rq.f.day_to = hi;
	struct sqlq q;
	sqlite3_stmt *st = NULL;
	int rc = q_init(&q);
	if (!rc) {
		q_add(&q, "SELECT ");
		q_bucket(&q, sq, bucket_days);
		/* An address of two families is one address in the totals. */
		q_add(&q, per_family ? " AS b, family, count(DISTINCT src), sum(events) FROM " :
				       " AS b, '', count(DISTINCT src), sum(events) FROM ");
		q_agg_from(&q, &rq, "day, family, src, events");
		q_add(&q, per_family ? " GROUP BY b, family" : " GROUP BY b");
		rc = q_prepare(s, &q, &st);
	}
	int r = SQLITE_DONE;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW)
		sbuf_add(out, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			 (uint64_t)sqlite3_column_int64(st, 2),
			 (uint64_t)sqlite3_column_int64(st, 3));
	if (!rc && r != SQLITE_DONE)
		rc = ERR_SYS;
	sqlite3_finalize(st);
	q_free(&q);
	return rc ? rc : out->err;
}

/* Buckets [lo, hi] (bucket starts) whose rollup is current: a bitmap by (start - lo) / period. */
static int rollup_valid(struct sqlite_store *s, unsigned period, int64_t lo, int64_t hi,
			uint8_t *valid, size_t nb)
{
	memset(valid, 0, (nb + 7) / 8);
	sqlite3_stmt *st;
	/*
	 * A store written before the rollup and opened read-only has no such
	 * tables (the first read-write open adds them): no rollup, count rows.
	 */
	if (sqlite3_prepare_v2(
		    s->db,
		    "SELECT day FROM rollup_done WHERE period = ?1 AND day BETWEEN ?2 AND ?3"
		    " AND NOT EXISTS (SELECT 1 FROM delta_days WHERE delta_days.day BETWEEN"
		    " rollup_done.day AND rollup_done.day + ?1 - 1)",
		    -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int(st, 1, (int)period);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t d = sqlite3_column_int64(st, 0);
		if ((d - lo) % (int64_t)period)
			continue;
		size_t i = (size_t)((d - lo) / (int64_t)period);
		if (i < nb)
			valid[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : ERR_SYS;
}

/*
 * Which rollup rows: every network together (ASN -1) when nothing narrows by
 * network, else the per-network rows the scope and filter select.
 */
static void q_rollup_nets(struct sqlq *q, const struct store_query *sq)
{
	bool all = sq->scope->all && !sq->f.n_asns && !sq->f.n_ccs;
	/* Otherwise an ASN or country condition follows, which the -1 rows never meet. */
	if (all)
		q_add(q, " AND asn = -1");
}

static int series_rollup(struct sqlite_store *s, const struct store_query *sq, unsigned period,
			 int64_t lo, int64_t hi, bool per_family, const uint8_t *valid,
			 struct series_buf *out)
{
	struct sqlq q;
	sqlite3_stmt *st = NULL;
	int rc = q_init(&q);
	if (!rc) {
		q_add(&q, per_family ? "SELECT day, family," : "SELECT day, '',");
		q_add(&q, " sum(uniq), sum(events) FROM rollup WHERE period = ");
		q_int(&q, period);
		q_add(&q, " AND day BETWEEN ");
		q_int(&q, lo);
		q_add(&q, " AND ");
		q_int(&q, hi);
		/* One family: its own rows are its totals; else the '' rows are all families'. */
		if (!sq->family)
			q_add(&q, per_family ? " AND family != ''" : " AND family = ''");
		q_rollup_nets(&q, sq);
		q_where(&q, &agg_cols, sq);
		q_add(&q, per_family ? " GROUP BY day, family" : " GROUP BY day");
		rc = q_prepare(s, &q, &st);
	}
	int r = SQLITE_DONE;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t d = sqlite3_column_int64(st, 0);
		size_t i = (size_t)((d - lo) / (int64_t)period);
		if (!(valid[i / 8] & (1u << (i % 8))))
			continue;
		sbuf_add(out, d, (const char *)sqlite3_column_text(st, 1),
			 (uint64_t)sqlite3_column_int64(st, 2),
			 (uint64_t)sqlite3_column_int64(st, 3));
	}
	if (!rc && r != SQLITE_DONE)
		rc = ERR_SYS;
	sqlite3_finalize(st);
	q_free(&q);
	return rc ? rc : out->err;
}

static int sq_series(struct store *base, const struct store_query *sq, unsigned bucket_days,
		     bool per_family, store_series_fn fn, void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct series_buf out = { 0 };
	int rc = 0;
	bool weeks = bucket_days == 0;
	unsigned period = weeks ? 7 : bucket_days;
	/*
	 * Days and calendar weeks come from the rollup where it is current and the
	 * scope and filter are by ASN and country (the rollup has no addresses);
	 * everything else is counted from the rows.
	 */
	bool by_rollup = (period == 1 || weeks) && !sq->scope->n_nets && !sq->f.n_nets;
	int64_t lo = sq->f.day_from, hi = sq->f.day_to;
	if (weeks) {
		lo = store__week_of(lo);
		hi = store__week_of(hi);
	}
	size_t nb = (size_t)((hi - lo) / (int64_t)period) + 1;
	uint8_t *valid = calloc((nb + 7) / 8 + 1, 1);
	if (!valid)
		return ERR_NOMEM;
	if (by_rollup)
		rc = rollup_valid(s, period, lo, hi, valid, nb);
	bool any = false;
	for (size_t i = 0; by_rollup && i < (nb + 7) / 8; i++)
		any = any || valid[i];
	if (!rc && any)
		rc = series_rollup(s, sq, period, lo, hi, per_family, valid, &out);
	/* Runs of buckets without a current rollup, counted from the rows. */
	for (size_t i = 0; !rc && i < nb;) {
		if (by_rollup && (valid[i / 8] & (1u << (i % 8)))) {
			i++;
			continue;
		}
		size_t j = i;
		while (j + 1 < nb && !(by_rollup && (valid[(j + 1) / 8] & (1u << ((j + 1) % 8)))))
			j++;
		int64_t from = lo + (int64_t)i * (int64_t)period;
		int64_t to = lo + (int64_t)(j + 1) * (int64_t)period - 1;
		if (!weeks) { /* days and counted buckets stay inside the range; weeks are whole */
			from = from < sq->f.day_from ? sq->f.day_from : from;
			to = to > sq->f.day_to ? sq->f.day_to : to;
		}
		rc = series_live(s, sq, from, to, bucket_days, per_family, &out);
		i = j + 1;
	}
	free(valid);
	if (!rc) {
		if (out.n)
			qsort(out.r, out.n, sizeof *out.r, sacc_cmp);
		for (size_t i = 0; i < out.n; i++) {
			struct store_series_row row = { out.r[i].day, out.r[i].family,
							out.r[i].uniq, out.r[i].events };
			if (fn(ctx, &row))
				break;
		}
	}
	free(out.r);
	return rc;
}

static int sq_top(struct store *base, const struct store_query *sq, enum store_top_by by,
		  size_t limit, store_top_fn fn, void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct sqlq q;
	memset(&q, 0, sizeof q);
	sqlite3_stmt *st = NULL;
	/*
	 * One day, or exactly one calendar week, by ASN and country: the rollup
	 * (an address has one ASN and country a day, so its groups add up).
	 */
	int64_t lo = sq->f.day_from, hi = sq->f.day_to;
	unsigned period = lo == hi ? 1 : (hi - lo == 6 && store__week_of(lo) == lo) ? 7 : 0;
	uint8_t valid = 0;
	int rc = 0;
	if (period && !sq->scope->n_nets && !sq->f.n_nets)
		rc = rollup_valid(s, period, lo, lo, &valid, 1);
	if (!rc)
		rc = q_init(&q);
	if (!rc && valid) {
		q_add(&q, by == STORE_TOP_ASN ? "SELECT asn, min(cc)" : "SELECT 0, cc");
		q_add(&q, ", sum(uniq) AS n, sum(events) FROM rollup WHERE period = ");
		q_int(&q, period);
		q_add(&q, " AND day = ");
		q_int(&q, lo);
		if (!sq->family)
			q_add(&q, " AND family = ''");
		if (sq->scope->all && !sq->f.n_asns && !sq->f.n_ccs)
			q_add(&q, " AND asn >= 0"); /* the networks, not their sum */
		q_where(&q, &agg_cols, sq);
		q_add(&q, by == STORE_TOP_ASN ? " GROUP BY asn" : " GROUP BY cc");
		q_add(&q, " ORDER BY n DESC, 1, 2 LIMIT ");
		q_int(&q, (int64_t)limit);
		rc = q_prepare(s, &q, &st);
	} else if (!rc) {
		q_add(&q, by == STORE_TOP_ASN ? "SELECT asn, min(cc)" : "SELECT 0, cc");
		q_add(&q, ", count(DISTINCT src) AS n, sum(events) FROM ");
		q_agg_from(&q, sq, "src, asn, cc, events, family, ipver");
		q_add(&q, by == STORE_TOP_ASN ? " GROUP BY asn" : " GROUP BY cc");
		q_add(&q, " ORDER BY n DESC, 1, 2 LIMIT ");
		q_int(&q, (int64_t)limit);
		rc = q_prepare(s, &q, &st);
	}
	int r = SQLITE_DONE;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_top_row row = { .asn = (uint32_t)sqlite3_column_int64(st, 0),
					     .unique_src = (uint64_t)sqlite3_column_int64(st, 2),
					     .events = (uint64_t)sqlite3_column_int64(st, 3) };
		copy_cc(row.cc, sqlite3_column_text(st, 1));
		if (fn(ctx, &row)) {
			r = SQLITE_DONE;
			break;
		}
	}
	if (!rc && r != SQLITE_DONE)
		rc = ERR_SYS;
	sqlite3_finalize(st);
	if (q.b)
		q_free(&q);
	return rc;
}

static int sq_hosts(struct store *base, const struct store_query *sq,
		    const struct store_host *after, size_t limit, store_host_fn fn, void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (limit > 1000)
		limit = 1000;
	struct store_host *hosts = calloc(limit ? limit : 1, sizeof *hosts);
	char **fams = calloc(limit ? limit : 1, sizeof *fams);
	struct store__host_detail *det = calloc(limit ? limit : 1, sizeof *det);
	struct sqlq q;
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc = (!hosts || !fams || !det) ? ERR_NOMEM : q_init(&q);
	if (rc) {
		free(hosts);
		free(fams);
		free(det);
		return rc;
	}
	/* The page: addresses in key order after the cursor. */
	q_add(&q, "SELECT ipver, src, min(asn), min(cc), min(first_us), max(last_us), sum(events),"
		  " group_concat(DISTINCT family) FROM ");
	q_agg_from(&q, sq, "ipver, src, asn, cc, first_us, last_us, events, family");
	if (after->ipver) {
		q_add(&q, " WHERE (ipver, src) > (");
		q_int(&q, after->ipver);
		q_add(&q, ", ");
		q_blob(&q, after->addr, after->ipver == 4 ? 4 : 16);
		q_add(&q, ")");
	}
	q_add(&q, " GROUP BY ipver, src ORDER BY ipver, src LIMIT ");
	q_int(&q, (int64_t)limit);
	rc = q_prepare(s, &q, &st);
	int r = SQLITE_DONE;
	while (!rc && n < limit && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_host *h = &hosts[n];
		h->ipver = sqlite3_column_int(st, 0) == 4 ? 4 : 6;
		size_t alen = h->ipver == 4 ? 4 : 16;
		const void *b = sqlite3_column_blob(st, 1);
		if (!b || (size_t)sqlite3_column_bytes(st, 1) != alen)
			continue;
		memcpy(h->addr, b, alen);
		h->asn = (uint32_t)sqlite3_column_int64(st, 2);
		copy_cc(h->cc, sqlite3_column_text(st, 3));
		h->first_us = (uint64_t)sqlite3_column_int64(st, 4);
		h->last_us = (uint64_t)sqlite3_column_int64(st, 5);
		h->events = (uint64_t)sqlite3_column_int64(st, 6);
		const char *fam = (const char *)sqlite3_column_text(st, 7);
		fams[n] = strdup(fam ? fam : "");
		if (!fams[n] || store__sort_list(fams[n])) {
			rc = ERR_NOMEM;
			break;
		}
		det[n].ipver = h->ipver;
		memcpy(det[n].addr, h->addr, 16);
		n++;
	}
	if (!rc && r != SQLITE_DONE && r != SQLITE_ROW)
		rc = ERR_SYS;
	sqlite3_finalize(st);
	st = NULL;
	q_free(&q);
	/* Their ports and fingerprints: one pass over the days' events for the page's addresses. */
	if (!rc && n && !(rc = q_init(&q))) {
		q_add(&q,
		      "SELECT ipver, src, dst_port, http_agent, ssl_servername, bot_id FROM events"
		      " WHERE rowid BETWEEN (SELECT min(first_rowid) FROM day_rows WHERE day"
		      " BETWEEN ");
		q_int(&q, sq->f.day_from);
		q_add(&q, " AND ");
		q_int(&q, sq->f.day_to);
		q_add(&q, ") AND (SELECT max(last_rowid) FROM day_rows WHERE day BETWEEN ");
		q_int(&q, sq->f.day_from);
		q_add(&q, " AND ");
		q_int(&q, sq->f.day_to);
		q_add(&q, ") AND kind != 3 AND family IS NOT NULL AND family != 'unknown'");
		q_where(&q, &ev_cols, sq);
		q_add(&q, " AND src IN (");
		for (size_t i = 0; i < n; i++) {
			if (i)
				q_add(&q, ",");
			q_blob(&q, hosts[i].addr, hosts[i].ipver == 4 ? 4 : 16);
		}
		q_add(&q, ")");
		rc = q_prepare(s, &q, &st);
		while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
			uint8_t v = (uint8_t)(sqlite3_column_int(st, 0) == 4 ? 4 : 6);
			const void *b = sqlite3_column_blob(st, 1);
			if (!b || (size_t)sqlite3_column_bytes(st, 1) != (v == 4 ? 4u : 16u))
				continue;
			struct store_str t[3];
			for (int c = 0; c < 3; c++) {
				t[c].p = (const char *)sqlite3_column_text(st, 3 + c);
				t[c].len = t[c].p ? (size_t)sqlite3_column_bytes(st, 3 + c) : 0;
			}
			store__host_note(det, n, v, b, (unsigned)sqlite3_column_int(st, 2), t);
		}
		if (!rc && r != SQLITE_DONE)
			rc = ERR_SYS;
		sqlite3_finalize(st);
		q_free(&q);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		hosts[i].families = fams[i];
		hosts[i].ports = det[i].set[0];
		hosts[i].agents = det[i].set[1];
		hosts[i].servernames = det[i].set[2];
		hosts[i].bot_ids = det[i].set[3];
		if (fn(ctx, &hosts[i]))
			break;
	}
	for (size_t i = 0; i < n; i++)
		free(fams[i]);
	free(fams);
	free(hosts);
	free(det);
	return rc;
}

static int sq_events_page(struct store *base, const struct store_query *sq, uint64_t after_id,
			  size_t limit, store_event_id_fn fn, void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct sqlq q;
	sqlite3_stmt *st = NULL;
	int rc = q_init(&q);
	if (!rc) {
		q_add(&q, "SELECT rowid, ts_us, kind, type, transport, ipver, flags, src, src_port,"
			  " src_asn, src_cc, dst, dst_port, dst_asn, dst_cc, family, tag,"
			  " sensor, http_url, http_host, http_agent, forwarded_by,"
			  " http_referer, ssl_servername, machine_name, query_type, query, bot_id,"
			  " ssl_cipher FROM events WHERE rowid > ");
		q_int(&q, after_id > INT64_MAX ? INT64_MAX : (int64_t)after_id);
		q_add(&q, " AND rowid BETWEEN (SELECT min(first_rowid) FROM day_rows WHERE day"
			  " BETWEEN ");
		q_int(&q, sq->f.day_from);
		q_add(&q, " AND ");
		q_int(&q, sq->f.day_to);
		q_add(&q, ") AND (SELECT max(last_rowid) FROM day_rows WHERE day BETWEEN ");
		q_int(&q, sq->f.day_from);
		q_add(&q, " AND ");
		q_int(&q, sq->f.day_to);
		q_add(&q, ") AND day BETWEEN ");
		q_int(&q, sq->f.day_from);
		q_add(&q, " AND ");
		q_int(&q, sq->f.day_to);
		if (sq->f.infections_only)
			q_add(&q, " AND kind != 3 AND family IS NOT NULL AND family != 'unknown'");
		q_where(&q, &ev_cols, sq);
		q_add(&q, " ORDER BY rowid LIMIT ");
		q_int(&q, (int64_t)limit);
		rc = q_prepare(s, &q, &st);
	}
	int r = SQLITE_DONE;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_event e = { 0 };
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
		row_to_event(st, 1, &e);
		if (fn(ctx, id, &e)) {
			r = SQLITE_DONE;
			break;
		}
	}
	if (!rc && r != SQLITE_DONE)
		rc = ERR_SYS;
	sqlite3_finalize(st);
	q_free(&q);
	return rc;
}

/* Events are a rowid table that is only appended to: the largest rowid is the count. */
static int sq_count_events(struct store *base, uint64_t *n)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT max(rowid) FROM events", -1, &st, NULL) != SQLITE_OK)
		return ERR_SYS;
	int r = sqlite3_step(st);
	*n = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return r == SQLITE_ROW ? 0 : ERR_SYS;
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
	.series = sq_series,
	.top = sq_top,
	.hosts = sq_hosts,
	.events_page = sq_events_page,
	.count_events = sq_count_events,
};
