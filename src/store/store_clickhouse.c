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
static int run_select_set(struct ch_store *s, struct dynbuf *sql, const char *settings,
			  const uint8_t *types, size_t n, chr_row_fn fn, void *ctx);
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

/* "day BETWEEN ..." for the days [lo, hi] (clipped to what a Date holds), or "0". */
static void day_cond(struct dynbuf *b, int64_t lo, int64_t hi)
{
	lo = lo < 0 ? 0 : lo;
	hi = hi > CH_DAY_MAX ? CH_DAY_MAX : hi;
	if (lo > hi || lo > CH_DAY_MAX || hi < 0)
		dynbuf_adds(b, "0");
	else
		dynbuf_printf(b, "day BETWEEN toDate(%" PRId64 ") AND toDate(%" PRId64 ")", lo, hi);
}

static void day_range(struct dynbuf *b, const struct store_filter *f)
{
	dynbuf_adds(b, " WHERE ");
	day_cond(b, f->day_from, f->day_to);
}

static const char infection_sql[] = " AND kind != 3 AND family != '' AND family != 'unknown'";

static void asn_list(struct dynbuf *b, const char *col, const uint32_t *a, size_t n)
{
	dynbuf_printf(b, "%s IN (", col);
	for (size_t i = 0; i < n; i++)
		dynbuf_printf(b, "%s%" PRIu32, i ? "," : "", a[i]);
	dynbuf_adds(b, ")");
}

static void asn_in(struct dynbuf *b, const char *col, const struct store_filter *f)
{
	if (!f->n_asns)
		return;
	dynbuf_adds(b, " AND ");
	asn_list(b, col, f->asns, f->n_asns);
}

static void cc_list(struct dynbuf *b, const char *col, const char (*ccs)[3], size_t n)
{
	dynbuf_printf(b, "%s IN (", col);
	for (size_t i = 0; i < n; i++) {
		char c[2] = { ccs[i][0], ccs[i][0] ? ccs[i][1] : 0 };
		if (i)
			dynbuf_addc(b, ',');
		hexlit(b, c, 2);
	}
	dynbuf_adds(b, ")");
}

/* Any of the nets, on columns ipver/src: ((ipver = v AND the prefix's bytes) OR ...). */
static void net_list(struct dynbuf *b, const struct store_net *nets, size_t n_nets)
{
	dynbuf_adds(b, "(");
	for (size_t i = 0; i < n_nets; i++) {
		const struct store_net *n = &nets[i];
		unsigned max = n->ipver == 4 ? 32 : 128;
		unsigned plen = n->plen > max ? max : n->plen, full = plen / 8, rest = plen % 8;
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

/* The address conditions of the filter on columns ipver/src and the country column cc_col. */
static void addr_filter(struct dynbuf *b, const char *cc_col, const struct store_filter *f)
{
	if (f->n_ccs) {
		dynbuf_adds(b, " AND ");
		cc_list(b, cc_col, f->ccs, f->n_ccs);
	}
	if (f->n_nets) {
		dynbuf_adds(b, " AND ");
		net_list(b, f->nets, f->n_nets);
	}
}

/*
 * " AND <scope> AND <filter> AND <family>" of a web read (store.h): the scope
 * a union, the filter's lists an intersection; every value a number or a hex
 * literal, never the caller's text.
 */
static void query_where(struct dynbuf *b, const char *asn_col, const char *cc_col,
			const struct store_query *q)
{
	const struct store_scope *sc = q->scope;
	if (!sc->all) {
		dynbuf_adds(b, " AND (0");
		if (sc->n_asns) {
			dynbuf_adds(b, " OR ");
			asn_list(b, asn_col, sc->asns, sc->n_asns);
		}
		if (sc->n_nets) {
			dynbuf_adds(b, " OR ");
			net_list(b, sc->nets, sc->n_nets);
		}
		if (sc->n_ccs) {
			dynbuf_adds(b, " OR ");
			cc_list(b, cc_col, sc->ccs, sc->n_ccs);
		}
		dynbuf_adds(b, ")");
	}
	asn_in(b, asn_col, &q->f);
	addr_filter(b, cc_col, &q->f);
	if (q->family) {
		dynbuf_adds(b, " AND family = ");
		hexlit(b, q->family, strlen(q->family));
	}
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
	return run_select_set(s, sql, CH_READ_SETTINGS, types, n, fn, ctx);
}

static int run_select_set(struct ch_store *s, struct dynbuf *sql, const char *settings,
			  const uint8_t *types, size_t n, chr_row_fn fn, void *ctx)
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
		rc = chttp_query(s->h, sql->data, settings, NULL, 0, on_bytes, &r, s->err,
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
static const char scan_cols[] =
	"ts_us, kind, type, transport, ipver, flags, src, src_port, src_asn, src_cc, dst, dst_port,"
	" dst_asn, dst_cc, family, tag, sensor, http_url, http_host, http_agent, forwarded_by,"
	" http_referer, ssl_servername, machine_name, query_type, query, bot_id, ssl_cipher";

static void take_cc(char dst[3], const struct chr_val *v)
{
	dst[0] = dst[1] = dst[2] = '\0';
	if (v->len == 2 && v->p[0] && v->p[1]) {
		dst[0] = (char)v->p[0];
		dst[1] = (char)v->p[1];
	}
}

/* The event of a row of scan_cols (valid while the row is). */
static void decode_event(struct store_event *ev, const struct chr_val *v)
{
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
	*ev = e;
}

static int on_scan_row(void *ctx, const struct chr_val *v)
{
	struct scan_ctx *c = ctx;
	struct store_event e;
	decode_event(&e, v);
	if (!store__filter_addr(c->f, e.ipver, e.src, e.src_cc))
		return 0;
	return c->fn(c->ctx, &e);
}

static int ch_scan(struct store *base, const struct store_filter *f, store_event_fn fn, void *ctx)
{
	struct ch_store *s = (struct ch_store *)base;
	struct dynbuf q;
	dynbuf_init(&q, 1u << 20);
	dynbuf_printf(&q, "SELECT %s FROM %s FINAL", scan_cols, s->table);
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

/*
 * Per (day, family, address): ASN, country, first/last time and events, with
 * the filter applied (or, for a web read, q's scope, filter and family), as a
 * subquery: what the embedded store's daily aggregate rows hold.
 */
static void per_address(struct ch_store *s, struct dynbuf *q, const struct store_filter *f,
			const struct store_query *wq)
{
	dynbuf_printf(q,
		      "(SELECT day, family, ipver, src, min(src_asn) AS asn, min(src_cc) AS cc,"
		      " min(ts_us) AS first_us, max(ts_us) AS last_us, count() AS ev FROM %s FINAL",
		      s->table);
	day_range(q, f);
	dynbuf_adds(q, infection_sql);
	dynbuf_adds(q, " GROUP BY day, family, ipver, src) WHERE 1");
	if (wq) {
		query_where(q, "asn", "cc", wq);
	} else {
		asn_in(q, "asn", f);
		addr_filter(q, "cc", f);
	}
}

/* A String column into buf as a C string, cut to cap - 1 bytes. */
static void take_str(char *buf, size_t cap, const struct chr_val *v)
{
	size_t n = v->len < cap - 1 ? v->len : cap - 1;
	memcpy(buf, v->p, n);
	buf[n] = '\0';
}

struct daily_ctx {
	store_daily_fn fn;
	void *ctx;
};

static int on_daily_row(void *ctx, const struct chr_val *v)
{
	struct daily_ctx *c = ctx;
	char fam[256], cc[3];
	take_str(fam, sizeof fam, &v[1]);
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
	per_address(s, &q, f, NULL);
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
	per_address(s, &q, f, NULL);
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
	take_str(fam, sizeof fam, &v[1]);
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

/* --- the web API's reads (store.h; the same rows as store_sqlite.c) ----------------------- */

/* The day's bucket, as in the embedded store: calendar weeks (Monday) for 0, else from day_from. */
static void bucket_expr(struct dynbuf *b, const struct store_query *q, unsigned bucket_days)
{
	static const char d[] = "toInt64(toUInt16(day))";
	if (bucket_days == 1)
		dynbuf_printf(b, "%s", d);
	else if (bucket_days == 0)
		dynbuf_printf(b, "(%s - (%s + 3) %% 7)", d, d);
	else
		dynbuf_printf(b, "(intDiv(%s - %" PRId64 ", %u) * %u + %" PRId64 ")", d,
			      q->f.day_from, bucket_days, bucket_days, q->f.day_from);
}

struct series_ctx {
	store_series_fn fn;
	void *ctx;
};

static int on_series_row(void *ctx, const struct chr_val *v)
{
	struct series_ctx *c = ctx;
	char fam[256];
	take_str(fam, sizeof fam, &v[1]);
	struct store_series_row r = { (int64_t)v[0].u, fam, v[2].u, v[3].u };
	return c->fn(c->ctx, &r);
}

static int ch_series(struct store *base, const struct store_query *q, unsigned bucket_days,
		     bool per_family, store_series_fn fn, void *ctx)
{
	static const uint8_t types[] = { CHR_U64, CHR_STR, CHR_U64, CHR_U64 };
	struct ch_store *s = (struct ch_store *)base;
	/* Weeks are counted whole: the Monday of the first day to the Sunday of the last. */
	struct store_filter f = q->f;
	if (bucket_days == 0) {
		f.day_from = store__week_of(f.day_from);
		f.day_to = store__week_of(f.day_to) + 6;
	}
	struct dynbuf sql;
	dynbuf_init(&sql, 1u << 20);
	dynbuf_adds(&sql, "SELECT ");
	bucket_expr(&sql, q, bucket_days);
	/* An address of two families is one address in the totals. */
	dynbuf_adds(&sql, per_family ? " AS b, family AS fam" : " AS b, '' AS fam");
	dynbuf_adds(&sql, ", uniqExact(ipver, src), sum(ev) FROM ");
	per_address(s, &sql, &f, q);
	dynbuf_adds(&sql,
		    per_family ? " GROUP BY b, fam ORDER BY b, fam" : " GROUP BY b ORDER BY b");
	struct series_ctx c = { fn, ctx };
	int rc = run_select(s, &sql, types, sizeof types, on_series_row, &c);
	return rc ? fail(s, rc) : 0;
}

struct top_ctx {
	store_top_fn fn;
	void *ctx;
};

static int on_top_row(void *ctx, const struct chr_val *v)
{
	struct top_ctx *c = ctx;
	struct store_top_row r = { .asn = (uint32_t)v[0].u,
				   .unique_src = v[2].u,
				   .events = v[3].u };
	take_cc(r.cc, &v[1]);
	return c->fn(c->ctx, &r);
}

static int ch_top(struct store *base, const struct store_query *q, enum store_top_by by,
		  size_t limit, store_top_fn fn, void *ctx)
{
	static const uint8_t types[] = { CHR_U32, CHR_FS2, CHR_U64, CHR_U64 };
	struct ch_store *s = (struct ch_store *)base;
	struct dynbuf sql;
	dynbuf_init(&sql, 1u << 20);
	/* Most addresses first, ties by ASN (and its first country) or by country. */
	dynbuf_adds(&sql, by == STORE_TOP_ASN ? "SELECT asn AS k, min(cc) AS kc" :
						"SELECT toUInt32(0) AS k, cc AS kc");
	dynbuf_adds(&sql, ", uniqExact(ipver, src) AS n, sum(ev) FROM ");
	per_address(s, &sql, &q->f, q);
	dynbuf_printf(&sql, " GROUP BY %s ORDER BY n DESC, k, kc LIMIT %zu",
		      by == STORE_TOP_ASN ? "asn" : "cc", limit);
	struct top_ctx c = { fn, ctx };
	int rc = run_select(s, &sql, types, sizeof types, on_top_row, &c);
	return rc ? fail(s, rc) : 0;
}

/* An address as the hex of its 16-byte column (IPv4 in the first 4 bytes): sorts as the bytes. */
static void addr_hex(struct dynbuf *b, uint8_t ipver, const uint8_t *addr)
{
	uint8_t a[16] = { 0 };
	memcpy(a, addr, ipver == 4 ? 4 : 16);
	dynbuf_addc(b, '\'');
	for (size_t i = 0; i < sizeof a; i++)
		dynbuf_printf(b, "%02X", a[i]);
	dynbuf_addc(b, '\'');
}

struct hosts_ctx {
	struct store_host *hosts;
	char **fams;
	struct store__host_detail *det;
	size_t n, limit;
	int rc;
};

static int on_host_row(void *ctx, const struct chr_val *v)
{
	struct hosts_ctx *c = ctx;
	if (c->n == c->limit)
		return 1;
	struct store_host *h = &c->hosts[c->n];
	h->ipver = v[0].u == 4 ? 4 : 6;
	memcpy(h->addr, v[1].p, 16);
	if (h->ipver == 4)
		memset(h->addr + 4, 0, 12);
	h->asn = (uint32_t)v[2].u;
	take_cc(h->cc, &v[3]);
	h->first_us = v[4].u;
	h->last_us = v[5].u;
	h->events = v[6].u;
	c->fams[c->n] = strndup((const char *)v[7].p, v[7].len);
	if (!c->fams[c->n] || store__sort_list(c->fams[c->n])) {
		c->rc = ERR_NOMEM;
		return 1;
	}
	c->det[c->n].ipver = h->ipver;
	memcpy(c->det[c->n].addr, h->addr, 16);
	c->n++;
	return 0;
}

static int on_host_event(void *ctx, const struct chr_val *v)
{
	struct hosts_ctx *c = ctx;
	struct store_str t[3];
	for (int i = 0; i < 3; i++) {
		t[i].p = (const char *)v[3 + i].p;
		t[i].len = v[3 + i].len;
	}
	store__host_note(c->det, c->n, v[0].u == 4 ? 4 : 6, v[1].p, (unsigned)v[2].u, t);
	return 0;
}

static int ch_hosts(struct store *base, const struct store_query *q, const struct store_host *after,
		    size_t limit, store_host_fn fn, void *ctx)
{
	static const uint8_t page_types[] = { CHR_U8,  CHR_FS16, CHR_U32, CHR_FS2,
					      CHR_U64, CHR_U64,	 CHR_U64, CHR_STR };
	static const uint8_t ev_types[] = { CHR_U8, CHR_FS16, CHR_U16, CHR_STR, CHR_STR, CHR_STR };
	struct ch_store *s = (struct ch_store *)base;
	if (limit > 1000)
		limit = 1000;
	struct hosts_ctx c = { .limit = limit };
	size_t cap = limit ? limit : 1;
	c.hosts = calloc(cap, sizeof *c.hosts);
	c.fams = calloc(cap, sizeof *c.fams);
	c.det = calloc(cap, sizeof *c.det);
	int rc = (!c.hosts || !c.fams || !c.det) ? ERR_NOMEM : 0;
	/* The page: addresses in (ipver, address) order after the cursor. */
	struct dynbuf sql;
	if (!rc) {
		dynbuf_init(&sql, 1u << 20);
		dynbuf_adds(&sql,
			    "SELECT ipver, src, min(asn), min(cc), min(first_us), max(last_us),"
			    " sum(ev), arrayStringConcat(groupUniqArray(family), ',') FROM ");
		per_address(s, &sql, &q->f, q);
		if (after->ipver) {
			dynbuf_printf(&sql, " AND (ipver > %u OR (ipver = %u AND hex(src) > ",
				      after->ipver, after->ipver);
			addr_hex(&sql, after->ipver, after->addr);
			dynbuf_adds(&sql, "))");
		}
		dynbuf_printf(&sql, " GROUP BY ipver, src ORDER BY ipver, src LIMIT %zu", limit);
		rc = run_select(s, &sql, page_types, sizeof page_types, on_host_row, &c);
		rc = rc ? rc : c.rc;
	}
	/* Their ports and fingerprints: the page's addresses' events in log order. */
	if (!rc && c.n) {
		dynbuf_init(&sql, 1u << 20);
		dynbuf_printf(&sql,
			      "SELECT ipver, src, dst_port, http_agent, ssl_servername, bot_id"
			      " FROM %s FINAL",
			      s->table);
		day_range(&sql, &q->f);
		dynbuf_adds(&sql, infection_sql);
		query_where(&sql, "src_asn", "src_cc", q);
		dynbuf_adds(&sql, " AND (ipver, hex(src)) IN (");
		for (size_t i = 0; i < c.n; i++) {
			dynbuf_printf(&sql, "%s(%u, ", i ? "," : "", c.hosts[i].ipver);
			addr_hex(&sql, c.hosts[i].ipver, c.hosts[i].addr);
			dynbuf_adds(&sql, ")");
		}
		dynbuf_adds(&sql, ") ORDER BY sensor, seg, off");
		rc = run_select(s, &sql, ev_types, sizeof ev_types, on_host_event, &c);
	}
	for (size_t i = 0; !rc && i < c.n; i++) {
		struct store_host *h = &c.hosts[i];
		h->families = c.fams[i];
		h->ports = c.det[i].set[0];
		h->agents = c.det[i].set[1];
		h->servernames = c.det[i].set[2];
		h->bot_ids = c.det[i].set[3];
		if (fn(ctx, h))
			break;
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.fams[i]);
	free(c.fams);
	free(c.hosts);
	free(c.det);
	return rc ? fail(s, rc) : 0;
}

struct page_ctx {
	store_event_id_fn fn;
	void *ctx;
};

static int on_page_row(void *ctx, const struct chr_val *v)
{
	struct page_ctx *c = ctx;
	struct store_event e;
	decode_event(&e, v);
	return c->fn(c->ctx, v[sizeof scan_types].u, &e);
}

/*
 * An event's id is its rank in log order over the whole table (1, 2, ...):
 * for one sensor's log the embedded store's rowid. Counting it reads every
 * row's key (docs/clickhouse.md, Limits); the rank is numbered on the one
 * sorted stream, so the outer conditions must not be pushed below it.
 */
#define CH_PAGE_SETTINGS CH_READ_SETTINGS "&enable_optimize_predicate_expression=0&max_threads=1"

static int ch_events_page(struct store *base, const struct store_query *q, uint64_t after_id,
			  size_t limit, store_event_id_fn fn, void *ctx)
{
	struct ch_store *s = (struct ch_store *)base;
	uint8_t types[sizeof scan_types + 1];
	memcpy(types, scan_types, sizeof scan_types);
	types[sizeof scan_types] = CHR_U64;
	struct dynbuf sql;
	dynbuf_init(&sql, 1u << 20);
	dynbuf_printf(
		&sql,
		"SELECT %s, id FROM (SELECT *, rowNumberInAllBlocks() + 1 AS id FROM"
		" (SELECT %s, day FROM %s FINAL ORDER BY sensor, seg, off)) WHERE id > %" PRIu64
		" AND ",
		scan_cols, scan_cols, s->table, after_id > INT64_MAX ? INT64_MAX : after_id);
	day_cond(&sql, q->f.day_from, q->f.day_to);
	if (q->f.infections_only)
		dynbuf_adds(&sql, infection_sql);
	query_where(&sql, "src_asn", "src_cc", q);
	dynbuf_printf(&sql, " ORDER BY id LIMIT %zu", limit);
	struct page_ctx c = { fn, ctx };
	int rc = run_select_set(s, &sql, CH_PAGE_SETTINGS, types, sizeof types, on_page_row, &c);
	return rc ? fail(s, rc) : 0;
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
