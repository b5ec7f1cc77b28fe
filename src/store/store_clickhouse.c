/* store_clickhouse.c — the ClickHouse store backend: RowBinary over HTTP, rows keyed by sensor and log position. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/dlog.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "store/ch_rowbin.h"
#include "store/chttp.h"
#include "store/store_internal.h"

/*
 * Delivery is idempotent (docs/clickhouse.md): every row carries its
 * sensor, segment and offset, the events table is a ReplacingMergeTree
 * ordered by (day, sensor, seg, off), and every read says FINAL. A batch sent
 * twice (a retry after a lost answer, a replay after kill -9 between the
 * INSERT and the position write) collapses into one row per record, and reads
 * never see the second copy even before the background merge.
 *
 * The shipping position of a log is kept beside it (pos_path: a 24-byte
 * record with a CRC, rewritten in place and synced after each acknowledged
 * INSERT), locked so two shippers of one log refuse to run together. Losing
 * it (a torn write on power loss) only means shipping again from the start:
 * harmless, the rows collapse.
 */
#define CH_POS_MAGIC 0x53485031u /* "SHP1" */
#define CH_BODY_MAX  (1u << 30)
#define CH_READ_SETTINGS                                                                           \
	"wait_end_of_query=1&max_bytes_before_external_sort=1000000000"                            \
	"&max_bytes_before_external_group_by=1000000000"
#define CH_INSERT_SETTINGS   "insert_distributed_sync=1"
#define CH_INSERT_TIMEOUT_MS 120000L
#define CH_DAY_MAX	     65535 /* ClickHouse's Date: days 0 .. 65535 */

/*
 * The shipper overlaps work: while batch k's INSERT is in flight (a sender
 * thread, which also gzips it), the indexer reads, enriches and encodes
 * batch k+1. A batch's position is written only once its INSERT is
 * answered, so after any failure or kill the position is still that of the
 * last acknowledged batch.
 */
enum ch_send {
	CH_IDLE,
	CH_BUSY,
	CH_DONE
};

struct ch_store {
	struct store base; /* first */
	struct chttp *h;
	char table[CHTTP_DB_MAX + 16];
	char err[512];
	/* the shipper's side */
	int pos_fd;		  /* -1: read-only */
	struct log_pos pos;	  /* acknowledged: what the position file says */
	struct log_pos submitted; /* after the batch in flight: where the next one starts */
	struct dynbuf body[2];	  /* encoding into body[cur]; body[!cur] in flight */
	int cur;
	/* the sender thread */
	pthread_t thread;
	bool have_thread, quit;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum ch_send state;
	int result;
	struct log_pos inflight_next;
	char werr[512];
};

static int fail(struct ch_store *s, int rc)
{
	if (s->err[0])
		dlog(DLOG_ERROR, "%s", s->err);
	s->err[0] = '\0';
	return rc;
}

static int run_select(struct ch_store *s, struct dynbuf *sql, const uint8_t *types, size_t n,
		      chr_row_fn fn, void *ctx);
static int settle(struct ch_store *s);
static int on_count(void *ctx, const struct chr_val *v);

/* --- the position file ------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int pos_read(struct ch_store *s, const char *path)
{
	uint8_t b[24];
	ssize_t n = pread(s->pos_fd, b, sizeof b, 0);
	s->pos.segment = 0;
	s->pos.offset = 0;
	if (n == 0)
		return 0; /* new: ship from the start */
	if (n != (ssize_t)sizeof b || get32(b) != CH_POS_MAGIC ||
	    get32(b + 20) != crc32c(0, b, 20)) {
		/* Shipping again from the start is safe (rows collapse); say so. */
		dlog(DLOG_WARN, "clickhouse: %s: unreadable position, shipping from the start",
		     path);
		return 0;
	}
	s->pos.segment = get32(b + 4);
	s->pos.offset = (uint64_t)get32(b + 8) | (uint64_t)get32(b + 12) << 32;
	return 0;
}

static int pos_write(struct ch_store *s, const struct log_pos *p)
{
	uint8_t b[24];
	put32(b, CH_POS_MAGIC);
	put32(b + 4, p->segment);
	put32(b + 8, (uint32_t)p->offset);
	put32(b + 12, (uint32_t)(p->offset >> 32));
	put32(b + 16, 0);
	put32(b + 20, crc32c(0, b, 20));
	if (pwrite(s->pos_fd, b, sizeof b, 0) != (ssize_t)sizeof b || fdatasync(s->pos_fd))
		return ERR_SYS;
	s->pos = *p;
	return 0;
}

/* --- open / close ------------------------------------------------------------------------- */

static void *sender_main(void *arg)
{
	struct ch_store *s = arg;
	char sql[512];
	snprintf(sql, sizeof sql, "INSERT INTO %s (%s) FORMAT RowBinary", s->table,
		 chr_event_columns);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->state != CH_BUSY && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->quit)
			break;
		const struct dynbuf *b = &s->body[!s->cur];
		pthread_mutex_unlock(&s->mu);
		int rc = chttp_query(s->h, sql, CH_INSERT_SETTINGS, b->data, b->len, NULL, NULL,
				     s->werr, sizeof s->werr);
		pthread_mutex_lock(&s->mu);
		s->result = rc;
		s->state = CH_DONE;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/*
 * Waits for the INSERT in flight, if any: answered, its position is written;
 * failed, the next batch starts again after the last acknowledged one.
 */
static int settle(struct ch_store *s)
{
	if (!s->have_thread)
		return 0;
	pthread_mutex_lock(&s->mu);
	while (s->state == CH_BUSY)
		pthread_cond_wait(&s->cv, &s->mu);
	int rc = 0;
	if (s->state == CH_DONE) {
		rc = s->result;
		s->state = CH_IDLE;
		if (rc)
			snprintf(s->err, sizeof s->err, "%s", s->werr);
	}
	pthread_mutex_unlock(&s->mu);
	if (!rc && (s->inflight_next.segment != s->pos.segment ||
		    s->inflight_next.offset != s->pos.offset))
		rc = pos_write(s, &s->inflight_next);
	if (rc) {
		s->submitted = s->pos;
		s->inflight_next = s->pos;
	}
	return rc;
}

static void ch_close(struct store *base)
{
	struct ch_store *s = (struct ch_store *)base;
	if (!s)
		return;
	if (s->have_thread) {
		if (settle(s))
			fail(s, ERR_SYS);
		pthread_mutex_lock(&s->mu);
		s->quit = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
	}
	chttp_free(s->h);
	if (s->pos_fd >= 0)
		close(s->pos_fd);
	dynbuf_free(&s->body[0]);
	dynbuf_free(&s->body[1]);
	free(s);
}

int store__clickhouse_open(struct store **out, const char *url, const char *pos_path, char *err,
			   size_t errlen)
{
	struct ch_store *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	s->pos_fd = -1;
	s->base.ops = &store__clickhouse_ops;
	dynbuf_init(&s->body[0], CH_BODY_MAX);
	dynbuf_init(&s->body[1], CH_BODY_MAX);
	int rc = chttp_new(&s->h, url, err, errlen);
	if (rc) {
		ch_close(&s->base);
		return rc;
	}
	snprintf(s->table, sizeof s->table, "%s.events", chttp_db(s->h));
	if (pos_path) {
		s->pos_fd = open(pos_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
		if (s->pos_fd < 0) {
			snprintf(err, errlen, "clickhouse: %s: %s", pos_path, strerror(errno));
			ch_close(&s->base);
			return ERR_SYS;
		}
		if (flock(s->pos_fd, LOCK_EX | LOCK_NB)) {
			snprintf(err, errlen,
				 "clickhouse: %s: another shipper is shipping this log (%s)",
				 pos_path, strerror(errno));
			ch_close(&s->base);
			return ERR_INVAL;
		}
		pos_read(s, pos_path);
		s->submitted = s->inflight_next = s->pos;
		/* A server that hangs must not hold the shipper (or serve's shutdown) forever. */
		chttp_set_timeout(s->h, CH_INSERT_TIMEOUT_MS);
	}
	/* A reader checks the table now (a report fails early); a shipper does not need the
	 * server to be up to start: its INSERTs retry. */
	if (!pos_path) {
		static const uint8_t types[] = { CHR_U64 };
		uint64_t have = 0;
		struct dynbuf q;
		dynbuf_init(&q, 4096);
		dynbuf_printf(&q,
			      "SELECT count() FROM system.tables WHERE database = '%s' AND"
			      " name = 'events'",
			      chttp_db(s->h));
		rc = run_select(s, &q, types, sizeof types, on_count, &have);
		if (!rc && !have) {
			snprintf(err, errlen,
				 "clickhouse: no table %s (sinkd clickhouse schema --apply URL)",
				 s->table);
			rc = ERR_NOT_FOUND;
		} else if (rc) {
			snprintf(err, errlen, "%s", s->err[0] ? s->err : "clickhouse: no answer");
		}
		if (rc) {
			ch_close(&s->base);
			return rc;
		}
	}
	*out = &s->base;
	return 0;
}

static int ch_open_ro(struct store **out, const char *path, bool rw, char *err, size_t errlen)
{
	(void)rw; /* writing needs the log's position file: store_open_ingest */
	return store__clickhouse_open(out, path, NULL, err, errlen);
}

static int ch_get_pos(struct store *base, struct log_pos *pos)
{
	struct ch_store *s = (struct ch_store *)base;
	int rc = settle(s);
	*pos = s->pos;
	return rc ? fail(s, rc) : 0;
}

/* --- ingest ------------------------------------------------------------------------------- */

static int ch_ingest(struct store *base, const struct store_event *ev, size_t n,
		     const struct log_pos *from, const struct log_pos *next)
{
	struct ch_store *s = (struct ch_store *)base;
	if (s->pos_fd < 0) {
		dlog(DLOG_ERROR, "clickhouse: opened for reading; `sinkd ship` writes");
		return ERR_UNSUPPORTED;
	}
	if (from->segment != s->submitted.segment || from->offset != s->submitted.offset)
		return ERR_INVAL;
	struct dynbuf *b = &s->body[s->cur];
	dynbuf_reset(b);
	for (size_t i = 0; i < n; i++) {
		int rc = chr_put_event(b, &ev[i], &ev[i].pos);
		if (rc)
			return rc;
	}
	/* Encoded while the previous batch was on its way; now it must have arrived. */
	int rc = settle(s);
	if (rc)
		return fail(s, rc);
	if (!n) {
		/* Only undecodable records: nothing to send, the position moves on. */
		rc = pos_write(s, next);
		if (!rc)
			s->submitted = s->inflight_next = *next;
		return rc;
	}
	if (!s->have_thread) {
		pthread_mutex_init(&s->mu, NULL);
		pthread_cond_init(&s->cv, NULL);
		if (pthread_create(&s->thread, NULL, sender_main, s)) {
			pthread_mutex_destroy(&s->mu);
			pthread_cond_destroy(&s->cv);
			return ERR_SYS;
		}
		s->have_thread = true;
	}
	pthread_mutex_lock(&s->mu);
	s->cur = !s->cur;
	s->inflight_next = *next;
	s->state = CH_BUSY;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	s->submitted = *next;
	return 0;
}

static int ch_compact(struct store *base)
{
	/* Finishes the INSERT in flight and records its position (parts merge by themselves). */
	struct ch_store *s = (struct ch_store *)base;
	int rc = settle(s);
	return rc ? fail(s, rc) : 0;
}

/* --- reads -------------------------------------------------------------------------------- */

static void hexlit(struct dynbuf *b, const void *p, size_t n)
{
	const uint8_t *u = p;
	dynbuf_adds(b, "unhex('");
	for (size_t i = 0; i < n; i++)
		dynbuf_printf(b, "%02X", u[i]);
	dynbuf_adds(b, "')");
}

static void day_range(struct dynbuf *b, const struct store_filter *f)
{
	int64_t lo = f->day_from < 0 ? 0 : f->day_from;
	int64_t hi = f->day_to > CH_DAY_MAX ? CH_DAY_MAX : f->day_to;
	if (lo > hi || lo > CH_DAY_MAX || hi < 0)
		dynbuf_adds(b, " WHERE 0");
	else
		dynbuf_printf(b, " WHERE day BETWEEN toDate(%" PRId64 ") AND toDate(%" PRId64 ")",
			      lo, hi);
}

static const char infection_sql[] = " AND kind != 3 AND family != '' AND family != 'unknown'";

static void asn_in(struct dynbuf *b, const char *col, const struct store_filter *f)
{
	if (!f->n_asns)
		return;
	dynbuf_printf(b, " AND %s IN (", col);
	for (size_t i = 0; i < f->n_asns; i++)
		dynbuf_printf(b, "%s%" PRIu32, i ? "," : "", f->asns[i]);
	dynbuf_adds(b, ")");
}

/* The address conditions of the filter on columns ipver/src/cc, in SQL. */
static void addr_filter(struct dynbuf *b, const struct store_filter *f)
{
	if (f->n_ccs) {
		dynbuf_adds(b, " AND cc IN (");
		for (size_t i = 0; i < f->n_ccs; i++) {
			char c[2] = { f->ccs[i][0], f->ccs[i][0] ? f->ccs[i][1] : 0 };
			if (i)
				dynbuf_addc(b, ',');
			hexlit(b, c, 2);
		}
		dynbuf_adds(b, ")");
	}
	if (!f->n_nets)
		return;
	dynbuf_adds(b, " AND (");
	for (size_t i = 0; i < f->n_nets; i++) {
		const struct store_net *n = &f->nets[i];
		unsigned plen = n->plen > 128 ? 128 : n->plen, full = plen / 8, rest = plen % 8;
		dynbuf_printf(b, "%s(ipver = %u", i ? " OR " : "", n->ipver);
		if (full) {
			dynbuf_printf(b, " AND substring(src, 1, %u) = ", full);
			hexlit(b, n->addr, full);
		}
		if (rest) {
			unsigned m = (0xffu << (8 - rest)) & 0xffu;
			dynbuf_printf(
				b,
				" AND bitAnd(reinterpretAsUInt8(substring(src, %u, 1)), %u) = %u",
				full + 1, m, n->addr[full] & m);
		}
		dynbuf_adds(b, ")");
	}
	dynbuf_adds(b, ")");
}

struct rd {
	struct ch_store *s;
	struct chr_stream st;
	int rc;
};

static int on_bytes(void *ctx, const uint8_t *p, size_t n)
{
	struct rd *r = ctx;
	r->rc = chr_stream_feed(&r->st, p, n);
	return r->rc || r->st.stopped;
}

/* Runs a SELECT ... FORMAT RowBinary, rows to fn. */
static int run_select(struct ch_store *s, struct dynbuf *sql, const uint8_t *types, size_t n,
		      chr_row_fn fn, void *ctx)
{
	struct rd r = { .s = s };
	int rc = settle(s); /* a shipper's handle: its INSERT in flight first */
	if (rc) {
		dynbuf_free(sql);
		return rc;
	}
	chr_stream_init(&r.st, types, n, fn, ctx);
	rc = dynbuf_adds(sql, " FORMAT RowBinary");
	if (!rc)
		rc = chttp_query(s->h, sql->data, CH_READ_SETTINGS, NULL, 0, on_bytes, &r, s->err,
				 sizeof s->err);
	if (!rc && r.rc) {
		snprintf(s->err, sizeof s->err, "clickhouse: malformed result (%s)", err_str(r.rc));
		rc = ERR_CORRUPT;
	}
	if (!rc && chr_stream_end(&r.st)) {
		snprintf(s->err, sizeof s->err, "clickhouse: result ends inside a row");
		rc = ERR_CORRUPT;
	}
	chr_stream_free(&r.st);
	dynbuf_free(sql);
	return rc;
}

struct scan_ctx {
	const struct store_filter *f;
	store_event_fn fn;
	void *ctx;
};

static const uint8_t scan_types[] = {
	CHR_U64, CHR_U8,  CHR_U8,  CHR_U8,   CHR_U8,  CHR_U16, CHR_FS16,
	CHR_U16, CHR_U32, CHR_FS2, CHR_FS16, CHR_U16, CHR_U32, CHR_FS2, /* then STORE_C_N strings */
	CHR_STR, CHR_STR, CHR_STR, CHR_STR,  CHR_STR, CHR_STR, CHR_STR,
	CHR_STR, CHR_STR, CHR_STR, CHR_STR,  CHR_STR, CHR_STR, CHR_STR,
};
_Static_assert(sizeof scan_types == 14 + STORE_C_N, "one String per store column");

static void take_cc(char dst[3], const struct chr_val *v)
{
	dst[0] = dst[1] = dst[2] = '\0';
	if (v->len == 2 && v->p[0] && v->p[1]) {
		dst[0] = (char)v->p[0];
		dst[1] = (char)v->p[1];
	}
}

static int on_scan_row(void *ctx, const struct chr_val *v)
{
	struct scan_ctx *c = ctx;
	struct store_event e;
	memset(&e, 0, sizeof e);
	e.ts_us = v[0].u;
	e.kind = (uint8_t)v[1].u;
	e.type = (uint8_t)v[2].u;
	e.transport = (uint8_t)v[3].u;
	e.ipver = (uint8_t)v[4].u;
	e.flags = (uint16_t)v[5].u;
	size_t alen = e.ipver == 4 ? 4 : 16;
	memcpy(e.src, v[6].p, alen);
	e.src_port = (uint16_t)v[7].u;
	e.src_asn = (uint32_t)v[8].u;
	take_cc(e.src_cc, &v[9]);
	memcpy(e.dst, v[10].p, alen);
	e.dst_port = (uint16_t)v[11].u;
	e.dst_asn = (uint32_t)v[12].u;
	take_cc(e.dst_cc, &v[13]);
	for (int i = 0; i < STORE_C_N; i++) {
		e.col[i].p = v[14 + i].len ? (const char *)v[14 + i].p : NULL;
		e.col[i].len = v[14 + i].len;
	}
	if (!store__filter_addr(c->f, e.ipver, e.src, e.src_cc))
		return 0;
	return c->fn(c->ctx, &e);
}

static int ch_scan(struct store *base, const struct store_filter *f, store_event_fn fn, void *ctx)
{
	struct ch_store *s = (struct ch_store *)base;
	struct dynbuf q;
	dynbuf_init(&q, 1u << 20);
	dynbuf_printf(&q,
		      "SELECT ts_us, kind, type, transport, ipver, flags, src, src_port, src_asn,"
		      " src_cc, dst, dst_port, dst_asn, dst_cc, family, tag, sensor, http_url,"
		      " http_host, http_agent, forwarded_by, http_referer, ssl_servername,"
		      " machine_name, query_type, query, bot_id, ssl_cipher FROM %s FINAL",
		      s->table);
	day_range(&q, f);
	if (f->infections_only)
		dynbuf_adds(&q, infection_sql);
	asn_in(&q, "src_asn", f);
	/* Log order within each sensor: the order the embedded store keeps. */
	dynbuf_adds(&q, " ORDER BY sensor, seg, off");
	struct scan_ctx c = { f, fn, ctx };
	int rc = run_select(s, &q, scan_types, sizeof scan_types, on_scan_row, &c);
	return rc ? fail(s, rc) : 0;
}

/* Per (day, family, address): ASN, country and events, with the filter applied, as a subquery. */
static void per_address(struct ch_store *s, struct dynbuf *q, const struct store_filter *f)
{
	dynbuf_printf(q,
		      "(SELECT day, family, ipver, src, min(src_asn) AS asn, min(src_cc) AS cc,"
		      " count() AS ev FROM %s FINAL",
		      s->table);
	day_range(q, f);
	dynbuf_adds(q, infection_sql);
	dynbuf_adds(q, " GROUP BY day, family, ipver, src) WHERE 1");
	asn_in(q, "asn", f);
	addr_filter(q, f);
}

struct daily_ctx {
	store_daily_fn fn;
	void *ctx;
};

static int on_daily_row(void *ctx, const struct chr_val *v)
{
	struct daily_ctx *c = ctx;
	char fam[256], cc[3];
	size_t fl = v[1].len < sizeof fam - 1 ? v[1].len : sizeof fam - 1;
	memcpy(fam, v[1].p, fl);
	fam[fl] = '\0';
	take_cc(cc, &v[3]);
	struct store_daily d = { (int64_t)v[0].u, fam, (uint32_t)v[2].u, cc, v[4].u, v[5].u };
	return c->fn(c->ctx, &d);
}

static int ch_daily(struct store *base, const struct store_filter *f, store_daily_fn fn, void *ctx)
{
	static const uint8_t types[] = { CHR_U16, CHR_STR, CHR_U32, CHR_FS2, CHR_U64, CHR_U64 };
	struct ch_store *s = (struct ch_store *)base;
	struct dynbuf q;
	dynbuf_init(&q, 1u << 20);
	dynbuf_adds(&q, "SELECT toUInt16(day), family, asn, cc, count(), sum(ev) FROM ");
	per_address(s, &q, f);
	dynbuf_adds(&q, " GROUP BY day, family, asn, cc ORDER BY day, family, asn, cc");
	struct daily_ctx c = { fn, ctx };
	int rc = run_select(s, &q, types, sizeof types, on_daily_row, &c);
	return rc ? fail(s, rc) : 0;
}

static int on_count(void *ctx, const struct chr_val *v)
{
	*(uint64_t *)ctx = v[0].u;
	return 0;
}

static int ch_unique_sources(struct store *base, const struct store_filter *f, uint64_t *out)
{
	static const uint8_t types[] = { CHR_U64 };
	struct ch_store *s = (struct ch_store *)base;
	struct dynbuf q;
	dynbuf_init(&q, 1u << 20);
	dynbuf_adds(&q, "SELECT uniqExact(ipver, src) FROM ");
	per_address(s, &q, f);
	*out = 0;
	int rc = run_select(s, &q, types, sizeof types, on_count, out);
	return rc ? fail(s, rc) : 0;
}

struct bots_ctx {
	store_bots_fn fn;
	void *ctx;
};

static int on_bots_row(void *ctx, const struct chr_val *v)
{
	struct bots_ctx *c = ctx;
	char fam[256];
	size_t fl = v[1].len < sizeof fam - 1 ? v[1].len : sizeof fam - 1;
	memcpy(fam, v[1].p, fl);
	fam[fl] = '\0';
	struct store_bots b = { (int64_t)v[0].u, fam, v[2].u, v[3].u };
	return c->fn(c->ctx, &b);
}

static int ch_bots(struct store *base, const struct store_filter *f, store_bots_fn fn, void *ctx)
{
	static const uint8_t types[] = { CHR_U16, CHR_STR, CHR_U64, CHR_U64 };
	struct ch_store *s = (struct ch_store *)base;
	struct dynbuf q;
	dynbuf_init(&q, 1u << 20);
	dynbuf_printf(&q, "SELECT toUInt16(day), family, uniqExact(bot_id), count() FROM %s FINAL",
		      s->table);
	day_range(&q, f);
	dynbuf_adds(&q, infection_sql);
	dynbuf_adds(&q, " AND bot_id != '' GROUP BY day, family ORDER BY day, family");
	struct bots_ctx c = { fn, ctx };
	int rc = run_select(s, &q, types, sizeof types, on_bots_row, &c);
	return rc ? fail(s, rc) : 0;
}

static int ch_count_events(struct store *base, uint64_t *n)
{
	static const uint8_t types[] = { CHR_U64 };
	struct ch_store *s = (struct ch_store *)base;
	struct dynbuf q;
	dynbuf_init(&q, 4096);
	dynbuf_printf(&q, "SELECT count() FROM %s FINAL", s->table);
	*n = 0;
	int rc = run_select(s, &q, types, sizeof types, on_count, n);
	return rc ? fail(s, rc) : 0;
}

/*
 * The web API's other reads (series, top, hosts, events_page) are not
 * written for ClickHouse yet: `sinkd web` on a clickhouse:// store refuses
 * them with ERR_UNSUPPORTED and says so (docs/clickhouse.md, Limits).
 */
static int web_read_missing(const char *op)
{
	dlog(DLOG_ERROR, "clickhouse: %s is not implemented for the ClickHouse store yet", op);
	return ERR_UNSUPPORTED;
}

static int ch_series(struct store *base, const struct store_query *q, unsigned bucket_days,
		     bool per_family, store_series_fn fn, void *ctx)
{
	(void)base, (void)q, (void)bucket_days, (void)per_family, (void)fn, (void)ctx;
	return web_read_missing("store_series");
}

static int ch_top(struct store *base, const struct store_query *q, enum store_top_by by,
		  size_t limit, store_top_fn fn, void *ctx)
{
	(void)base, (void)q, (void)by, (void)limit, (void)fn, (void)ctx;
	return web_read_missing("store_top");
}

static int ch_hosts(struct store *base, const struct store_query *q, const struct store_host *after,
		    size_t limit, store_host_fn fn, void *ctx)
{
	(void)base, (void)q, (void)after, (void)limit, (void)fn, (void)ctx;
	return web_read_missing("store_hosts");
}

static int ch_events_page(struct store *base, const struct store_query *q, uint64_t after_id,
			  size_t limit, store_event_id_fn fn, void *ctx)
{
	(void)base, (void)q, (void)after_id, (void)limit, (void)fn, (void)ctx;
	return web_read_missing("store_events_page");
}

const struct store_ops store__clickhouse_ops = {
	.name = "clickhouse",
	.open = ch_open_ro,
	.close = ch_close,
	.get_pos = ch_get_pos,
	.ingest = ch_ingest,
	.compact = ch_compact,
	.scan = ch_scan,
	.daily = ch_daily,
	.unique_sources = ch_unique_sources,
	.bots = ch_bots,
	.series = ch_series,
	.top = ch_top,
	.hosts = ch_hosts,
	.events_page = ch_events_page,
	.count_events = ch_count_events,
};
