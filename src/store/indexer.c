/* indexer.c — log → store: one transaction per batch, carrying the log position it reaches. */
#include "store/indexer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/dlog.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/log.h"

#define INDEXER_POLL_NS	       100000000L
#define INDEXER_POLL_REMOTE_NS 1000000000L
#define INDEXER_ARENA	       (4u << 20)
#define INDEXER_COL_MAX	       4096 /* bytes kept of one text column (the log keeps everything) */

/* Per-batch copies of the strings: the log reader's record is valid only until its next call. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
};

struct arena {
	struct arena_chunk *head;
};

static const char *arena_copy(struct arena *a, const char *s, size_t n)
{
	struct arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > INDEXER_ARENA ? n : INDEXER_ARENA;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	char *d = c->data + c->used;
	memcpy(d, s, n);
	c->used += n;
	return d;
}

static void arena_reset(struct arena *a, bool all)
{
	struct arena_chunk *c = a->head;
	while (c && (all || c->next)) {
		struct arena_chunk *n = c->next;
		if (!all && !n)
			break;
		free(c);
		c = n;
	}
	a->head = c;
	if (c)
		c->used = 0;
}

/* DNS type mnemonics for the report's query_type; others as "TYPEnnn" (RFC 3597). */
static void set_qtype(struct store_event *e, uint16_t t)
{
	static const struct {
		uint16_t t;
		const char *name;
	} names[] = {
		{ 1, "A" },   { 2, "NS" },	{ 5, "CNAME" }, { 6, "SOA" },	 { 12, "PTR" },
		{ 15, "MX" }, { 16, "TXT" },	{ 28, "AAAA" }, { 33, "SRV" },	 { 35, "NAPTR" },
		{ 43, "DS" }, { 48, "DNSKEY" }, { 64, "SVCB" }, { 65, "HTTPS" }, { 255, "ANY" },
	};
	const char *n = NULL;
	for (size_t i = 0; i < sizeof names / sizeof names[0] && !n; i++)
		if (names[i].t == t)
			n = names[i].name;
	if (!n) {
		snprintf(e->qtype_buf, sizeof e->qtype_buf, "TYPE%u", t);
		n = e->qtype_buf;
	}
	e->col[STORE_C_QUERY_TYPE].p = n;
	e->col[STORE_C_QUERY_TYPE].len = strlen(n);
}

/* TLS 1.3 suites by their IANA names; others as the code point. */
static void set_cipher(struct store_event *e, uint16_t c)
{
	static const struct {
		uint16_t c;
		const char *name;
	} names[] = {
		{ 0x1301, "TLS_AES_128_GCM_SHA256" },
		{ 0x1302, "TLS_AES_256_GCM_SHA384" },
		{ 0x1303, "TLS_CHACHA20_POLY1305_SHA256" },
		{ 0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
		{ 0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
		{ 0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
		{ 0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
		{ 0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
		{ 0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
	};
	const char *n = NULL;
	for (size_t i = 0; i < sizeof names / sizeof names[0] && !n; i++)
		if (names[i].c == c)
			n = names[i].name;
	if (!n) {
		snprintf(e->cipher_buf, sizeof e->cipher_buf, "0x%04X", c);
		n = e->cipher_buf;
	}
	e->col[STORE_C_SSL_CIPHER].p = n;
	e->col[STORE_C_SSL_CIPHER].len = strlen(n);
}

static void set_col(struct store_event *e, enum store_col c, const struct event_field *f)
{
	e->col[c].p = (const char *)f->val;
	e->col[c].len = f->len > INDEXER_COL_MAX ? INDEXER_COL_MAX : f->len;
}

#define INDEXER_BOT_ID_MAX 128

static bool slice_is(const uint8_t *p, size_t n, const char *s)
{
	return n == strlen(s) && !memcmp(p, s, n);
}

/* The value of query parameter `name` in a request target (raw, not decoded). */
static bool uri_param(const uint8_t *uri, size_t len, const char *name, struct store_str *out)
{
	const uint8_t *q = memchr(uri, '?', len);
	if (!q)
		return false;
	size_t i = (size_t)(q - uri) + 1, nl = strlen(name);
	while (i < len) {
		size_t end = i;
		while (end < len && uri[end] != '&' && uri[end] != '#')
			end++;
		if (end - i > nl && !memcmp(uri + i, name, nl) && uri[i + nl] == '=') {
			out->p = (const char *)uri + i + nl + 1;
			out->len = end - i - nl - 1;
			return out->len > 0;
		}
		if (end < len && uri[end] == '#')
			break;
		i = end + 1;
	}
	return false;
}

/* The value of header `name` in the recorded header list (be16 count, then be16-length pairs). */
static bool header_value(const uint8_t *p, size_t len, const char *name, struct store_str *out)
{
	if (len < 2)
		return false;
	size_t count = (size_t)p[0] << 8 | p[1], off = 2, nl = strlen(name);
	for (size_t i = 0; i < count; i++) {
		if (len - off < 2)
			return false;
		size_t hn = (size_t)p[off] << 8 | p[off + 1];
		off += 2;
		if (hn > len - off)
			return false;
		const uint8_t *hname = p + off;
		off += hn;
		if (len - off < 2)
			return false;
		size_t hv = (size_t)p[off] << 8 | p[off + 1];
		off += 2;
		if (hv > len - off)
			return false;
		if (hn == nl && !strncasecmp((const char *)hname, name, nl) && hv) {
			out->p = (const char *)p + off;
			out->len = hv;
			return true;
		}
		off += hv;
	}
	return false;
}

static void find_bot_id(const struct event_view *v, const struct config_store *bots,
			struct store_event *out)
{
	const struct store_str *fam = &out->col[STORE_C_FAMILY];
	for (size_t i = 0; i < bots->n_bot_ids; i++) {
		const struct config_bot_id *b = &bots->bot_ids[i];
		if (!slice_is((const uint8_t *)fam->p, fam->len, b->family))
			continue;
		struct event_field f;
		struct store_str val = { NULL, 0 };
		bool ok = false;
		if (b->uri_param && event_find(v, EVENT_T_HTTP_URI, &f))
			ok = uri_param(f.val, f.len, b->uri_param, &val);
		else if (b->header && event_find(v, EVENT_T_HTTP_HEADERS, &f))
			ok = header_value(f.val, f.len, b->header, &val);
		if (ok) {
			if (val.len > INDEXER_BOT_ID_MAX)
				val.len = INDEXER_BOT_ID_MAX;
			out->col[STORE_C_BOT_ID] = val;
			return;
		}
	}
}

int indexer_convert(const uint8_t *rec, size_t len, const char *sensor, const struct enrich *e,
		    const struct config_store *bots, struct store_event *out)
{
	struct event_view v;
	if (event_decode(rec, len, &v))
		return ERR_CORRUPT;
	memset(out, 0, sizeof *out);
	out->ts_us = v.h.ts_us;
	out->type = v.h.type;
	out->transport = v.h.transport;
	out->ipver = v.h.src.ipver;
	out->flags = v.h.flags;
	out->src_port = v.h.src.port;
	out->dst_port = v.h.dst.port;
	memcpy(out->src, v.h.src.addr, 16);
	memcpy(out->dst, v.h.dst.addr, 16);
	/* The report a record belongs to: by protocol, so types added later still land somewhere. */
	if (v.h.type == EVENT_HTTP)
		out->kind = STORE_KIND_HTTP;
	else if (v.h.type == EVENT_DNS)
		out->kind = STORE_KIND_DNS;
	else
		out->kind = STORE_KIND_TCP;
	size_t pos = 0;
	struct event_field f;
	while (event_field_next(&v, &pos, &f)) {
		switch (f.tag) {
		case EVENT_T_FAMILY:
			set_col(out, STORE_C_FAMILY, &f);
			break;
		case EVENT_T_TAG:
			set_col(out, STORE_C_TAG, &f);
			break;
		case EVENT_T_HTTP_URI:
			set_col(out, STORE_C_HTTP_URL, &f);
			break;
		case EVENT_T_HTTP_HOST:
			set_col(out, STORE_C_HTTP_HOST, &f);
			break;
		case EVENT_T_HTTP_USER_AGENT:
			set_col(out, STORE_C_HTTP_AGENT, &f);
			break;
		case EVENT_T_HTTP_REFERER:
			set_col(out, STORE_C_HTTP_REFERER, &f);
			break;
		case EVENT_T_HTTP_XFF:
			set_col(out, STORE_C_FORWARDED_BY, &f);
			break;
		case EVENT_T_TLS_SNI:
			set_col(out, STORE_C_SSL_SERVERNAME, &f);
			break;
		case EVENT_T_TLS_CIPHER:
			if (f.len == 2)
				set_cipher(out, (uint16_t)event_field_uint(&f));
			break;
		case EVENT_T_DNS_QNAME:
			set_col(out, STORE_C_QUERY, &f);
			break;
		case EVENT_T_DNS_QTYPE:
			if (f.len == 2)
				set_qtype(out, (uint16_t)event_field_uint(&f));
			break;
		case EVENT_T_DNS_CLIENT_KIND:
			/* The DNS module marks queries from resolvers: their own report. */
			if (f.len == 8 && !memcmp(f.val, "resolver", 8))
				out->kind = STORE_KIND_DNS;
			break;
		default:
			break; /* tags of other protocols or later versions: not needed here */
		}
	}
	if (bots && bots->n_bot_ids && out->col[STORE_C_FAMILY].len)
		find_bot_id(&v, bots, out);
	if (sensor) {
		out->col[STORE_C_SENSOR].p = sensor;
		out->col[STORE_C_SENSOR].len = strlen(sensor);
	}
	if (e && (out->ipver == 4 || out->ipver == 6)) {
		struct enrich_info in;
		enrich_lookup(e, out->ipver, out->src, &in);
		out->src_asn = in.asn;
		memcpy(out->src_cc, in.cc, 3);
		enrich_lookup(e, out->ipver, out->dst, &in);
		out->dst_asn = in.asn;
		memcpy(out->dst_cc, in.cc, 3);
	}
	return 0;
}

/*
 * The sinkhole's own addresses repeat in every event: their enrichment is
 * remembered (the last one), the sources are looked up each time.
 */
struct dst_memo {
	bool valid;
	uint8_t ipver;
	uint8_t addr[16];
	uint32_t asn;
	char cc[3];
};

/* Sources in runs of one family through the batched lookup; destinations through the memo. */
static void enrich_batch(const struct enrich *e, struct store_event *ev, size_t n,
			 struct dst_memo *m)
{
	uint8_t addrs[256][16];
	struct enrich_info in[256];
	for (size_t i = 0; i < n;) {
		int fam = ev[i].ipver;
		size_t k = 0;
		while (i + k < n && k < 256 && ev[i + k].ipver == fam) {
			memcpy(addrs[k], ev[i + k].src, 16);
			k++;
		}
		if (fam == 4 || fam == 6) {
			enrich_lookup_batch(e, fam, (const uint8_t(*)[16])addrs, k, in);
			for (size_t j = 0; j < k; j++) {
				ev[i + j].src_asn = in[j].asn;
				memcpy(ev[i + j].src_cc, in[j].cc, 3);
			}
		}
		i += k;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_event *x = &ev[i];
		if (x->ipver != 4 && x->ipver != 6)
			continue;
		if (!m->valid || m->ipver != x->ipver || memcmp(m->addr, x->dst, 16)) {
			struct enrich_info d;
			enrich_lookup(e, x->ipver, x->dst, &d);
			m->valid = true;
			m->ipver = x->ipver;
			memcpy(m->addr, x->dst, 16);
			m->asn = d.asn;
			memcpy(m->cc, d.cc, 3);
		}
		x->dst_asn = m->asn;
		memcpy(x->dst_cc, m->cc, 3);
	}
}

/* Moves the event's strings into the batch arena. */
static int own_strings(struct arena *a, struct store_event *ev)
{
	for (int c = 0; c < STORE_C_N; c++) {
		if (!ev->col[c].len)
			continue;
		ev->col[c].p = arena_copy(a, ev->col[c].p, ev->col[c].len);
		if (!ev->col[c].p)
			return ERR_NOMEM;
	}
	return 0;
}

/*
 * Catching up runs as a pipeline of two threads: a reader thread reads,
 * decodes, copies and enriches the next batch while the calling thread
 * writes the previous one into the store. The store alone decides what is
 * committed: each batch still goes in one transaction with the position
 * after its last record, in log order, so a crash loses or repeats nothing.
 * Two batch buffers go back and forth under one mutex.
 */
struct ix_batch {
	struct store_event *evs;
	size_t n;
	struct arena arena;
	struct log_pos next; /* the log position after the batch's last record */
	uint64_t skipped;    /* records that did not decode */
	/* 0: more follows; ERR_END or ERR_CORRUPT: the last, committed; other: an error, not committed */
	int rc;
};

struct ix_pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ix_batch b[2];
	bool full[2]; /* filled by the reader, not yet written by the store side */
	bool quit;    /* the store side has stopped: the reader stops too */
	/* the reader's, read-only while it runs */
	struct log_reader *r;
	struct log_pos start;
	const struct enrich *e;
	const struct config_store *bots;
	size_t batch;
};

/* Fills one batch: up to p->batch events, the end of the log, or a record that stops it. */
static void ix_fill(struct ix_pipe *p, struct ix_batch *b, struct log_pos *next,
		    struct dst_memo *memo)
{
	b->n = 0;
	b->skipped = 0;
	b->rc = 0;
	arena_reset(&b->arena, false);
	while (b->n < p->batch) {
		struct log_record rec;
		int rc = log_reader_next(p->r, &rec);
		if (rc) {
			b->rc = rc;
			break;
		}
		*next = rec.next;
		if (indexer_convert(rec.data, rec.len, rec.sensor_id, NULL, p->bots,
				    &b->evs[b->n])) {
			b->skipped++;
			continue;
		}
		if ((rc = own_strings(&b->arena, &b->evs[b->n])) != 0) {
			b->rc = rc;
			break;
		}
		b->evs[b->n].pos = rec.pos;
		b->n++;
	}
	b->next = *next;
	if (p->e)
		enrich_batch(p->e, b->evs, b->n, memo);
}

static void *ix_reader(void *arg)
{
	struct ix_pipe *p = arg;
	struct dst_memo memo = { 0 };
	struct log_pos next = p->start;
	for (int i = 0;; i ^= 1) {
		pthread_mutex_lock(&p->mu);
		while (p->full[i] && !p->quit)
			pthread_cond_wait(&p->cv, &p->mu);
		bool quit = p->quit;
		pthread_mutex_unlock(&p->mu);
		if (quit)
			break;
		ix_fill(p, &p->b[i], &next, &memo);
		int rc = p->b[i].rc;
		pthread_mutex_lock(&p->mu);
		p->full[i] = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc)
			break; /* the last batch */
	}
	return NULL;
}

int indexer_catch_up(struct store *s, const char *log_dir, const struct enrich *e,
		     const struct config_store *bots, size_t batch, struct indexer_stats *st,
		     indexer_progress_fn progress, void *pctx, volatile int *stop)
{
	struct log_pos pos;
	int rc = store_get_pos(s, &pos);
	if (rc)
		return rc;
	struct ix_pipe p = { .start = pos, .e = e, .bots = bots };
	rc = log_reader_open(&p.r, log_dir, &pos);
	if (rc == ERR_NOT_FOUND)
		return 0; /* no log yet */
	if (rc)
		return rc;
	p.batch = batch == 0		    ? INDEXER_BATCH :
		  batch > INDEXER_BATCH_MAX ? INDEXER_BATCH_MAX :
					      batch;
	p.b[0].evs = malloc(p.batch * sizeof *p.b[0].evs);
	p.b[1].evs = malloc(p.batch * sizeof *p.b[1].evs);
	pthread_t reader;
	bool started = false;
	if (!p.b[0].evs || !p.b[1].evs) {
		rc = ERR_NOMEM;
	} else if (pthread_mutex_init(&p.mu, NULL)) {
		rc = ERR_SYS;
	} else if (pthread_cond_init(&p.cv, NULL)) {
		pthread_mutex_destroy(&p.mu);
		rc = ERR_SYS;
	} else if (pthread_create(&reader, NULL, ix_reader, &p)) {
		pthread_cond_destroy(&p.cv);
		pthread_mutex_destroy(&p.mu);
		rc = ERR_SYS;
	} else {
		started = true;
	}
	for (int i = 0; started; i ^= 1) {
		pthread_mutex_lock(&p.mu);
		while (!p.full[i])
			pthread_cond_wait(&p.cv, &p.mu);
		pthread_mutex_unlock(&p.mu);
		struct ix_batch *b = &p.b[i];
		int brc = b->rc;
		st->skipped += b->skipped;
		if (brc && brc != ERR_END && brc != ERR_CORRUPT) {
			rc = brc; /* a read error or no memory: nothing of this batch is committed */
			break;
		}
		/* A full batch, the end of what the log holds, or a damaged record: commit what came before it, with the position. */
		if (b->n || b->next.segment != pos.segment || b->next.offset != pos.offset) {
			int irc = store_ingest(s, b->evs, b->n, &pos, &b->next);
			if (irc) {
				rc = irc;
				break;
			}
			st->events += b->n;
			st->batches++;
			pos = b->next;
			if (progress)
				progress(pctx, st, &pos);
		}
		if (brc) {
			rc = brc == ERR_END ? 0 : brc;
			break;
		}
		if (stop && *stop)
			break;
		pthread_mutex_lock(&p.mu);
		p.full[i] = false;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	if (started) {
		pthread_mutex_lock(&p.mu);
		p.quit = true;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		pthread_join(reader, NULL);
		pthread_cond_destroy(&p.cv);
		pthread_mutex_destroy(&p.mu);
	}
	for (int i = 0; i < 2; i++) {
		arena_reset(&p.b[i].arena, true);
		free(p.b[i].evs);
	}
	log_reader_close(p.r);
	return rc;
}

/* --- the thread in serve ------------------------------------------------------------ */

struct indexer {
	char *log_dir;
	struct store *store;
	const struct enrich *enrich;
	const struct config_store *bots;
	size_t batch;
	long poll_ns;
	pthread_t thread;
	_Atomic int stop;
	_Atomic uint64_t indexed;
	struct enrich *owned_enrich; /* when started from the config */
	struct log_pos_shared pos;   /* the store's position, for metrics */
};

static void indexer_progress(void *ctx, const struct indexer_stats *st, const struct log_pos *pos)
{
	(void)st;
	struct indexer *ix = ctx;
	log_pos_publish(&ix->pos, pos);
}

void indexer_position(struct indexer *ix, struct log_pos *pos)
{
	log_pos_read(&ix->pos, pos);
}

static void *indexer_main(void *arg)
{
	struct indexer *ix = arg;
	bool warned = false;
	for (;;) {
		bool stopping = atomic_load(&ix->stop);
		struct indexer_stats st = { 0 };
		int rc = indexer_catch_up(ix->store, ix->log_dir, ix->enrich, ix->bots, ix->batch,
					  &st, indexer_progress, ix, NULL);
		atomic_fetch_add(&ix->indexed, st.events);
		if (rc && !warned) {
			dlog(DLOG_ERROR, "store: indexing stopped: %s; will retry", err_str(rc));
			warned = true;
		} else if (!rc) {
			warned = false;
		}
		if (stopping)
			break;
		/* A remote store that failed is given time (its own retries already waited). */
		long ns = ix->poll_ns * (rc ? 5 : 1);
		struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int indexer_start(struct indexer **out, const char *log_dir, const char *store_path,
		  const struct enrich *e, const struct config_store *bots, char *err, size_t errlen)
{
	struct indexer *ix = calloc(1, sizeof *ix);
	if (!ix)
		return ERR_NOMEM;
	ix->enrich = e;
	ix->bots = bots;
	ix->log_dir = strdup(log_dir);
	/* A remote store: batches of up to a second's worth, polled every second. */
	bool remote = store_path_is_remote(store_path);
	ix->batch = remote ? INDEXER_BATCH_REMOTE : 0;
	ix->poll_ns = remote ? INDEXER_POLL_REMOTE_NS : INDEXER_POLL_NS;
	int rc = ix->log_dir ? store_open_ingest(&ix->store, store_path, log_dir, err, errlen) :
			       ERR_NOMEM;
	struct log_pos pos;
	if (!rc && store_get_pos(ix->store, &pos) == 0)
		log_pos_publish(&ix->pos, &pos);
	if (!rc && pthread_create(&ix->thread, NULL, indexer_main, ix) != 0)
		rc = ERR_SYS;
	if (rc) {
		store_close(ix->store);
		free(ix->log_dir);
		free(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

uint64_t indexer_indexed(struct indexer *ix)
{
	return ix ? atomic_load(&ix->indexed) : 0;
}

void indexer_stop(struct indexer *ix)
{
	if (!ix)
		return;
	atomic_store(&ix->stop, 1);
	pthread_join(ix->thread, NULL);
	store_close(ix->store);
	enrich_free(ix->owned_enrich);
	free(ix->log_dir);
	free(ix);
}

int indexer_start_config(struct indexer **out, const struct config *cfg)
{
	const struct config_store *cs = &cfg->store;
	struct enrich_builder *b;
	struct enrich *e = NULL;
	char err[512];
	if (enrich_builder_new(&b))
		return ERR_NOMEM;
	for (size_t i = 0; i < cs->n_asn + cs->n_country; i++) {
		bool asn = i < cs->n_asn;
		const char *f = asn ? cs->asn[i] : cs->country[i - cs->n_asn];
		struct enrich_load_stats st;
		int rc = asn ? enrich_load_asn(b, f, &st, err, sizeof err) :
			       enrich_load_country(b, f, &st, err, sizeof err);
		if (rc) {
			dlog(DLOG_ERROR, "enrich: %s", err);
			enrich_builder_free(b);
			return rc;
		}
		dlog(DLOG_INFO, "enrich: %s: %" PRIu64 " entries, %" PRIu64 " lines skipped", f,
		     st.entries, st.skipped);
	}
	int rc = enrich_build(b, &e);
	if (rc)
		return rc;
	rc = indexer_start(out, cfg->log_dir, cs->path, e, cs, err, sizeof err);
	if (rc) {
		dlog(DLOG_ERROR, "%s", err);
		enrich_free(e);
		return rc;
	}
	(*out)->owned_enrich = e;
	dlog(DLOG_INFO, "store %s: %s the log", cs->path,
	     store_path_is_remote(cs->path) ? "shipping" : "indexing");
	return 0;
}
