/* store_sqlite.c — the embedded store backend: SQLite in WAL mode, one transaction per ingested batch. */
#include "store/store.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_internal.h"

#define STORE_SCHEMA_VERSION 3
#define US_PER_DAY	     86400000000ull

/*
 * Writes are append-mostly so indexing stays fast however many addresses a
 * day has: events go to a rowid table in log order (a day is a rowid range,
 * day_rows), and each batch's per-address aggregates are appended to
 * agg_delta. When agg_delta grows past STORE_COMPACT_ROWS its rows are merged
 * into daily_src in key order (one pass over the b-tree) and deleted, in one
 * transaction. Readers see daily_all, the two combined; addr_seen (first/last
 * seen per address over all days) is a view over it.
 */
#define STORE_COMPACT_ROWS 2000000

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

static const char compact_sql[] =
	"INSERT INTO daily_src SELECT day, family, src, min(ipver), min(asn), min(cc),"
	" min(first_us), max(last_us), sum(events) FROM agg_delta WHERE true"
	" GROUP BY day, family, src ON CONFLICT(day, family, src) DO UPDATE SET"
	" first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us),"
	" events = events + excluded.events;"
	"DELETE FROM agg_delta;"
	"INSERT INTO daily_bot SELECT day, family, bot_id, min(first_us), max(last_us), sum(events)"
	" FROM bot_delta WHERE true GROUP BY day, family, bot_id"
	" ON CONFLICT(day, family, bot_id) DO UPDATE SET"
	" first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us),"
	" events = events + excluded.events;"
	"DELETE FROM bot_delta;";

struct sqlite_store {
	struct store base; /* first: a struct store * is a struct sqlite_store * */
	sqlite3 *db;
	sqlite3_stmt *ins_event, *ins_delta, *ins_bot, *up_day, *set_pos;
	int64_t delta_rows; /* rows in agg_delta, to decide when to compact */
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

static int sq_open(struct store **out, const char *path, bool rw, char *err, size_t errlen)
{
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
		    (sqlite3_prepare_v2(
			     s->db,
			     "INSERT INTO events(day, ts_us, kind, type, transport, ipver, flags, src,"
			     " src_port, src_asn, src_cc, dst, dst_port, dst_asn, dst_cc, family, tag,"
			     " sensor, http_url, http_host, http_agent, forwarded_by, http_referer,"
			     " ssl_servername, machine_name, query_type, query, bot_id, ssl_cipher)"
			     " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			     -1, &s->ins_event, NULL) != SQLITE_OK ||
		     sqlite3_prepare_v2(s->db, "INSERT INTO agg_delta VALUES(?,?,?,?,?,?,?,?,?)",
					-1, &s->ins_delta, NULL) != SQLITE_OK ||
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

static void bind_str(sqlite3_stmt *st, int i, const struct store_str *v)
{
	if (v->p && v->len)
		sqlite3_bind_text(st, i, v->p, (int)v->len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Every caller binds every parameter before each step, so bindings are not cleared. */
static int step_reset(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? 0 : ERR_SYS;
}

/* Compacts agg_delta into daily_src when it has grown; a transaction of its own. */
static int maybe_compact(struct sqlite_store *s, bool force)
{
	if (s->delta_rows < 0) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM agg_delta", -1, &st, NULL) !=
		    SQLITE_OK)
			return ERR_SYS;
		s->delta_rows = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_finalize(st);
	}
	if (!s->delta_rows || (!force && s->delta_rows < STORE_COMPACT_ROWS))
		return 0;
	if (exec(s, "BEGIN"))
		return ERR_SYS;
	if (exec(s, compact_sql) || exec(s, "COMMIT")) {
		exec(s, "ROLLBACK");
		return ERR_SYS;
	}
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
		if (!na || !ns || !nu) {
			free(na);
			free(ns);
			free(nu);
			return ERR_NOMEM;
		}
		free(s->agg);
		free(s->agg_slot);
		free(s->agg_used);
		s->agg = na;
		s->agg_slot = ns;
		s->agg_used = nu;
		s->agg_cap = need;
		s->agg_n = 0;
	}
	/* Only the slots the last batch used are dirty. */
	for (size_t i = 0; i < s->agg_n; i++)
		s->agg_slot[s->agg_used[i]] = 0;
	s->agg_n = 0;
	/* IMMEDIATE: take the write lock first, then check nobody moved the position. */
	if (exec(s, "BEGIN IMMEDIATE"))
		return ERR_SYS;
	struct log_pos cur;
	int rc = sq_get_pos(s, &cur);
	if (!rc && (cur.segment != from->segment || cur.offset != from->offset))
		rc = ERR_INVAL;
	int64_t day_first[4] = { 0 }, day_last[4] = { 0 }, days[4];
	size_t n_days = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct store_event *e = &ev[i];
		sqlite3_stmt *st = s->ins_event;
		size_t alen = e->ipver == 4 ? 4 : 16;
		int64_t day = (int64_t)(e->ts_us / US_PER_DAY);
		sqlite3_bind_int64(st, 1, day);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)e->ts_us);
		sqlite3_bind_int(st, 3, e->kind);
		sqlite3_bind_int(st, 4, e->type);
		sqlite3_bind_int(st, 5, e->transport);
		sqlite3_bind_int(st, 6, e->ipver);
		sqlite3_bind_int(st, 7, e->flags);
		sqlite3_bind_blob(st, 8, e->src, (int)alen, SQLITE_STATIC);
		sqlite3_bind_int(st, 9, e->src_port);
		sqlite3_bind_int64(st, 10, e->src_asn);
		sqlite3_bind_text(st, 11, e->src_cc, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 12, e->dst, (int)alen, SQLITE_STATIC);
		sqlite3_bind_int(st, 13, e->dst_port);
		sqlite3_bind_int64(st, 14, e->dst_asn);
		sqlite3_bind_text(st, 15, e->dst_cc, -1, SQLITE_STATIC);
		for (int c = 0; c < STORE_C_N; c++)
			bind_str(st, 16 + c, &e->col[c]);
		rc = step_reset(st);
		if (rc)
			break;
		/* The rowid range of each day in this batch (a batch spans few days). */
		int64_t rowid = sqlite3_last_insert_rowid(s->db);
		size_t d;
		for (d = 0; d < n_days && days[d] != day; d++)
			;
		if (d == n_days && n_days < 4) {
			days[n_days] = day;
			day_first[n_days] = rowid;
			n_days++;
		}
		if (d < n_days)
			day_last[d] = rowid;
		else
			rc = ERR_INVAL; /* more than four days in one batch: handled below */
		if (rc) {
			/* Flush the ranges so far and start over for the rest of the batch. */
			rc = 0;
			for (size_t k = 0; k < n_days && !rc; k++) {
				sqlite3_bind_int64(s->up_day, 1, days[k]);
				sqlite3_bind_int64(s->up_day, 2, day_first[k]);
				sqlite3_bind_int64(s->up_day, 3, day_last[k]);
				rc = step_reset(s->up_day);
			}
			days[0] = day;
			day_first[0] = day_last[0] = rowid;
			n_days = 1;
		}
		if (store_is_infection(e)) {
			struct agg k = { .day = day,
					 .family = e->col[STORE_C_FAMILY].p,
					 .family_len = e->col[STORE_C_FAMILY].len,
					 .ipver = e->ipver,
					 .asn = e->src_asn };
			memcpy(k.src, e->src, 16);
			memcpy(k.cc, e->src_cc, 3);
			agg_add(s, &k, e->ts_us);
			const struct store_str *b = &e->col[STORE_C_BOT_ID];
			if (b->len) {
				struct agg kb = { .bot = true,
						  .bot_id = b->p,
						  .bot_len = b->len,
						  .day = day,
						  .family = k.family,
						  .family_len = k.family_len };
				agg_add(s, &kb, e->ts_us);
			}
		}
	}
	for (size_t k = 0; k < n_days && !rc; k++) {
		sqlite3_bind_int64(s->up_day, 1, days[k]);
		sqlite3_bind_int64(s->up_day, 2, day_first[k]);
		sqlite3_bind_int64(s->up_day, 3, day_last[k]);
		rc = step_reset(s->up_day);
	}
	int64_t added = 0;
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
		sqlite3_stmt *st = s->ins_delta;
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
	if (s->delta_rows >= 0)
		s->delta_rows += added;
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
