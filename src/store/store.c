/* store.c — the store interface: picks the backend by the path's scheme and dispatches to it. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_internal.h"

int store_open(struct store **out, const char *path, bool rw, char *err, size_t errlen)
{
	/* "sqlite:PATH" or a plain path: the embedded store. */
	if (!strncmp(path, "sqlite:", 7))
		return store__sqlite_ops.open(out, path + 7, rw, err, errlen);
	if (store_path_is_remote(path))
		return store__clickhouse_ops.open(out, path, rw, err, errlen);
	if (strstr(path, "://")) {
		snprintf(err, errlen, "store: %s: no backend for this scheme in this build", path);
		return ERR_UNSUPPORTED;
	}
	return store__sqlite_ops.open(out, path, rw, err, errlen);
}

bool store_path_is_remote(const char *path)
{
	return !strncmp(path, "clickhouse://", 13);
}

int store_open_ingest(struct store **out, const char *path, const char *log_dir, char *err,
		      size_t errlen)
{
	if (!store_path_is_remote(path))
		return store_open(out, path, true, err, errlen);
	size_t n = strlen(log_dir) + sizeof "/clickhouse.pos";
	char *pos = malloc(n);
	if (!pos)
		return ERR_NOMEM;
	snprintf(pos, n, "%s/clickhouse.pos", log_dir);
	int rc = store__clickhouse_open(out, path, pos, err, errlen);
	free(pos);
	return rc;
}

bool store__filter_addr(const struct store_filter *f, uint8_t ipver, const uint8_t *addr,
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

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_get_pos(struct store *s, struct log_pos *pos)
{
	return s->ops->get_pos(s, pos);
}

int store_ingest(struct store *s, const struct store_event *ev, size_t n,
		 const struct log_pos *from, const struct log_pos *next)
{
	return s->ops->ingest(s, ev, n, from, next);
}

int store_compact(struct store *s)
{
	return s->ops->compact(s);
}

int store_scan(struct store *s, const struct store_filter *f, store_event_fn fn, void *ctx)
{
	return s->ops->scan(s, f, fn, ctx);
}

int store_daily(struct store *s, const struct store_filter *f, store_daily_fn fn, void *ctx)
{
	return s->ops->daily(s, f, fn, ctx);
}

int store_bots(struct store *s, const struct store_filter *f, store_bots_fn fn, void *ctx)
{
	return s->ops->bots(s, f, fn, ctx);
}

int store_unique_sources(struct store *s, const struct store_filter *f, uint64_t *out)
{
	return s->ops->unique_sources(s, f, out);
}

bool store_is_infection(const struct store_event *e)
{
	const struct store_str *f = &e->col[STORE_C_FAMILY];
	return e->kind != STORE_KIND_DNS && f->len && !(f->len == 7 && !memcmp(f->p, "unknown", 7));
}

bool store_net_contains(const struct store_net *n, uint8_t ipver, const uint8_t *addr)
{
	if (n->ipver != ipver)
		return false;
	unsigned full = n->plen / 8, rest = n->plen % 8;
	if (memcmp(n->addr, addr, full))
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xffu << (8 - rest));
		return (n->addr[full] & m) == (addr[full] & m);
	}
	return true;
}

/* Every web read goes through here: no scope, no answer. */
static bool query_ok(const struct store_query *q)
{
	return q && q->scope && q->f.day_from <= q->f.day_to;
}

int store_series(struct store *s, const struct store_query *q, unsigned bucket_days,
		 bool per_family, store_series_fn fn, void *ctx)
{
	if (!query_ok(q) || bucket_days > 400)
		return ERR_INVAL;
	return s->ops->series(s, q, bucket_days, per_family, fn, ctx);
}

int store_top(struct store *s, const struct store_query *q, enum store_top_by by, size_t limit,
	      store_top_fn fn, void *ctx)
{
	if (!query_ok(q) || (by != STORE_TOP_ASN && by != STORE_TOP_CC))
		return ERR_INVAL;
	return s->ops->top(s, q, by, limit, fn, ctx);
}

int store_hosts(struct store *s, const struct store_query *q, const struct store_host *after,
		size_t limit, store_host_fn fn, void *ctx)
{
	if (!query_ok(q) || !after)
		return ERR_INVAL;
	return s->ops->hosts(s, q, after, limit, fn, ctx);
}

int store_events_page(struct store *s, const struct store_query *q, uint64_t after_id, size_t limit,
		      store_event_id_fn fn, void *ctx)
{
	if (!query_ok(q))
		return ERR_INVAL;
	return s->ops->events_page(s, q, after_id, limit, fn, ctx);
}

int store_count_events(struct store *s, uint64_t *n)
{
	return s->ops->count_events(s, n);
}

bool store_scope_contains(const struct store_scope *sc, uint8_t ipver, const uint8_t *addr,
			  uint32_t asn, const char *cc)
{
	if (!sc)
		return false;
	if (sc->all)
		return true;
	for (size_t i = 0; i < sc->n_asns; i++)
		if (sc->asns[i] == asn)
			return true;
	for (size_t i = 0; i < sc->n_nets; i++)
		if (store_net_contains(&sc->nets[i], ipver, addr))
			return true;
	for (size_t i = 0; cc && i < sc->n_ccs; i++)
		if (!strcmp(sc->ccs[i], cc))
			return true;
	return false;
}

static void set_add(char *set, const char *v, size_t vlen)
{
	size_t len = strlen(set);
	if (!vlen)
		return;
	/* already there? */
	const char *p = set;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == vlen && !memcmp(p, v, n))
			return;
		p += n + (e ? 1 : 0);
	}
	if (memchr(v, ',', vlen) || len + vlen + 2 > STORE_HOST_SET_BYTES)
		return;
	if (len)
		set[len++] = ',';
	memcpy(set + len, v, vlen);
	set[len + vlen] = '\0';
}

static int host_cmp(uint8_t av, const uint8_t *a, uint8_t bv, const uint8_t *b)
{
	if (av != bv)
		return av < bv ? -1 : 1;
	return memcmp(a, b, av == 4 ? 4 : 16);
}

void store__host_note(struct store__host_detail *det, size_t n, uint8_t ipver, const uint8_t *addr,
		      unsigned port, const struct store_str txt[3])
{
	/* The page is sorted: binary search. */
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (host_cmp(det[mid].ipver, det[mid].addr, ipver, addr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || host_cmp(det[lo].ipver, det[lo].addr, ipver, addr))
		return;
	char ps[8];
	int pl = snprintf(ps, sizeof ps, "%u", port & 0xffffu);
	set_add(det[lo].set[0], ps, (size_t)pl);
	for (int c = 0; c < 3; c++) {
		/* Text from the wire: only printable ASCII without commas goes in. */
		const char *t = txt[c].p;
		size_t tl = t ? txt[c].len : 0;
		bool ok = tl && tl < 128;
		for (size_t i = 0; ok && i < tl; i++)
			ok = t[i] >= 0x20 && t[i] < 0x7f;
		if (ok)
			set_add(det[lo].set[1 + c], t, tl);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store__sort_list(char *csv)
{
	size_t len = strlen(csv), n = 1;
	for (size_t i = 0; i < len; i++)
		n += csv[i] == ',';
	char *copy = malloc(len + 1);
	char **item = malloc(n * sizeof *item);
	if (!copy || !item) {
		free(copy);
		free(item);
		return ERR_NOMEM;
	}
	memcpy(copy, csv, len + 1);
	n = 0;
	for (char *p = copy, *e; p; p = e ? e + 1 : NULL) {
		e = strchr(p, ',');
		if (e)
			*e = '\0';
		item[n++] = p;
	}
	qsort(item, n, sizeof *item, cmp_str);
	char *o = csv;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(item[i]);
		if (i)
			*o++ = ',';
		memcpy(o, item[i], l);
		o += l;
	}
	*o = '\0';
	free(item);
	free(copy);
	return 0;
}

int64_t store__week_of(int64_t day)
{
	int64_t r = (day + 3) % 7;
	return day - (r < 0 ? r + 7 : r);
}
