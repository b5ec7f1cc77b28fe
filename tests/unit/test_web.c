/* test_web.c — the web API's query parser, the token file, and the store's scoped reads against a brute-force oracle. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "check.h"
#include "core/err.h"
#include "store/store.h"
#include "testfs.h"
#include "web/query.h"
#include "web/tokens.h"

/* --- query strings -------------------------------------------------------------------- */

static void test_query(void)
{
	struct query q;
	CHECK_INT(query_parse(&q, "a=1&b=x+y%2Fz&&c&a=2", 20), 0);
	CHECK_INT(q.n, 4);
	CHECK_STR(query_get(&q, "a"), "1");
	CHECK_STR(query_get_nth(&q, "a", 1), "2");
	CHECK(query_get_nth(&q, "a", 2) == NULL);
	CHECK_STR(query_get(&q, "b"), "x y/z");
	CHECK_STR(query_get(&q, "c"), "");
	CHECK_INT(query_count(&q, "a"), 2);
	static const char *const ok[] = { "a", "b", "c", NULL }, *const few[] = { "a", NULL };
	const char *bad = NULL;
	CHECK(query_only(&q, ok, &bad));
	CHECK(!query_only(&q, few, &bad) && !strcmp(bad, "b"));
	/* Bad escapes, NUL and control bytes, limits. */
	const char *malformed[] = { "a=%", "a=%4", "a=%zz", "a=%00", "a=%0a", "%7f=1", "a=\x01" };
	for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
		CHECK_INT(query_parse(&q, malformed[i], strlen(malformed[i])), ERR_MALFORMED);
	char big[QUERY_MAX_BYTES + 2];
	memset(big, 'a', sizeof big);
	CHECK_INT(query_parse(&q, big, sizeof big), ERR_LIMIT);
	big[0] = 'k';
	big[1] = '=';
	CHECK_INT(query_parse(&q, big, QUERY_MAX_VALUE + 3), ERR_LIMIT);
	CHECK_INT(query_parse(&q, big, QUERY_MAX_VALUE + 2), 0);
	char many[200] = "";
	for (int i = 0; i <= QUERY_MAX_PARAMS; i++)
		memcpy(many + 2 * i, "a&", 2);
	CHECK_INT(query_parse(&q, many, 2 * QUERY_MAX_PARAMS), 0);
	CHECK_INT(query_parse(&q, many, 2 * QUERY_MAX_PARAMS + 1), ERR_LIMIT);

	int64_t d;
	CHECK_INT(query_day("1970-01-01", &d), 0);
	CHECK_INT(d, 0);
	CHECK_INT(query_day("2026-11-28", &d), 0);
	CHECK_INT(d, 20785);
	CHECK_INT(query_day("2024-02-29", &d), 0);
	CHECK_INT(d, 19782);
	CHECK_INT(query_day("2026-02-29", &d), ERR_INVAL);
	CHECK_INT(query_day("2026-04-31", &d), ERR_INVAL);
	CHECK_INT(query_day("1969-12-31", &d), ERR_INVAL);
	CHECK_INT(query_day("2026-1-01", &d), ERR_MALFORMED);
	CHECK_INT(query_day("2026-11-28x", &d), ERR_MALFORMED);
	uint64_t u;
	CHECK_INT(query_u64("18446744073709551615", UINT64_MAX, &u), 0);
	CHECK(u == UINT64_MAX);
	CHECK_INT(query_u64("18446744073709551616", UINT64_MAX, &u), ERR_INVAL);
	CHECK_INT(query_u64("-1", 10, &u), ERR_MALFORMED);
	CHECK_INT(query_u64("11", 10, &u), ERR_INVAL);
	CHECK_INT(query_u64("", 10, &u), ERR_MALFORMED);
	uint32_t asn;
	CHECK_INT(query_asn("AS64501", &asn), 0);
	CHECK_INT(asn, 64501);
	CHECK_INT(query_asn("as1", &asn), 0);
	CHECK_INT(query_asn("4294967296", &asn), ERR_INVAL);
	CHECK_INT(query_asn("AS", &asn), ERR_MALFORMED);
	char cc[3];
	CHECK_INT(query_cc("de", cc), 0);
	CHECK_STR(cc, "DE");
	CHECK_INT(query_cc("D1", cc), ERR_MALFORMED);
	CHECK_INT(query_cc("DEU", cc), ERR_MALFORMED);
	struct store_net n;
	CHECK_INT(query_net("10.0.0.0/8", &n), 0);
	CHECK_INT(n.ipver, 4);
	CHECK_INT(n.plen, 8);
	CHECK_INT(query_net("10.1.2.3/8", &n), ERR_INVAL);
	CHECK_INT(query_net("10.1.2.3", &n), 0);
	CHECK_INT(n.plen, 32);
	CHECK_INT(query_net("2001:db8::/32", &n), 0);
	CHECK_INT(n.ipver, 6);
	CHECK_INT(query_net("2001:db8::/129", &n), ERR_MALFORMED);
	CHECK_INT(query_net("0.0.0.0/0", &n), 0);
	CHECK_INT(query_net("10.0.0.0/", &n), ERR_MALFORMED);
	CHECK_INT(query_net("x/8", &n), ERR_MALFORMED);
	CHECK(query_name_ok("2026-11-28-event4_sinkhole_http-alpha_net-as64501.csv"));
	CHECK(!query_name_ok(".."));
	CHECK(!query_name_ok("."));
	CHECK(!query_name_ok("a/b"));
	CHECK(!query_name_ok(""));
	CHECK(!query_name_ok("a%2fb"));
}

/* --- tokens ----------------------------------------------------------------------------- */

static void test_tokens(void)
{
	char *dir = tmpdir_new_named("web-tokens");
	char path[512];
	snprintf(path, sizeof path, "%s/tokens", dir);
	struct token_db db;
	char err[256];
	CHECK_INT(token_db_load(&db, path, err, sizeof err), 0); /* missing: empty */
	CHECK_INT(db.n, 0);
	struct token t = { 0 };
	snprintf(t.name, sizeof t.name, "alpha");
	char sa[TOKEN_SECRET_LEN + 1], sb[TOKEN_SECRET_LEN + 1], sc[TOKEN_SECRET_LEN + 1];
	CHECK_INT(token_db_add(&db, &t, sa), ERR_INVAL); /* no scope */
	t.asns[t.n_asns++] = 64501;
	CHECK_INT(query_net("2001:db8::/32", &t.nets[t.n_nets++]), 0);
	memcpy(t.ccs[t.n_ccs++], "DE", 3);
	CHECK_INT(token_db_add(&db, &t, sa), 0);
	CHECK_INT(token_db_add(&db, &t, sb), ERR_INVAL); /* the name is taken */
	snprintf(t.name, sizeof t.name, "op");
	t.admin = true;
	t.n_asns = t.n_nets = t.n_ccs = 0;
	CHECK_INT(token_db_add(&db, &t, sb), 0);
	CHECK_INT(strlen(sa), TOKEN_SECRET_LEN);
	CHECK(!strncmp(sa, "sinkd_", 6) && strcmp(sa, sb));
	CHECK_INT(token_db_save(&db, path), 0);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	token_db_free(&db);
	/* Nothing of the secrets in the file. */
	FILE *f = fopen(path, "r");
	char text[4096] = "";
	size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
	text[got] = '\0';
	if (f)
		fclose(f);
	CHECK(!strstr(text, sa + 6) && !strstr(text, sb + 6));
	CHECK_INT(token_db_load(&db, path, err, sizeof err), 0);
	CHECK_INT(db.n, 2);
	const struct token *a = token_db_check(&db, sa, strlen(sa));
	CHECK(a && !strcmp(a->name, "alpha") && !a->admin && a->n_asns == 1 &&
	      a->asns[0] == 64501 && a->n_nets == 1 && a->nets[0].plen == 32 && a->n_ccs == 1 &&
	      !strcmp(a->ccs[0], "DE"));
	const struct token *o = token_db_check(&db, sb, strlen(sb));
	CHECK(o && o->admin);
	/* Near misses are nobody. */
	memcpy(sc, sa, sizeof sc);
	sc[TOKEN_SECRET_LEN - 1] = sc[TOKEN_SECRET_LEN - 1] == '0' ? '1' : '0';
	CHECK(token_db_check(&db, sc, strlen(sc)) == NULL);
	CHECK(token_db_check(&db, sa, strlen(sa) - 1) == NULL);
	CHECK(token_db_check(&db, "", 0) == NULL);
	CHECK_INT(token_db_revoke(&db, "alpha"), 0);
	CHECK_INT(token_db_revoke(&db, "alpha"), ERR_NOT_FOUND);
	CHECK(token_db_check(&db, sa, strlen(sa)) == NULL);
	CHECK_INT(token_db_revoke(&db, "2"), 0); /* by id */
	CHECK(token_db_check(&db, sb, strlen(sb)) == NULL);
	/* The name of a revoked token may be used again, with a new id. */
	snprintf(t.name, sizeof t.name, "alpha");
	CHECK_INT(token_db_add(&db, &t, sc), 0);
	CHECK_INT(db.t[2].id, 3);
	CHECK_INT(token_db_save(&db, path), 0);
	token_db_free(&db);
	CHECK_INT(token_db_load(&db, path, err, sizeof err), 0);
	CHECK_INT(db.n, 3);
	CHECK(db.t[0].revoked_us && db.t[1].revoked_us && !db.t[2].revoked_us);
	token_db_free(&db);
	/* A damaged file is refused, naming the line. */
	f = fopen(path, "a");
	if (f) {
		fputs("4\tx\t1\t-\t-\t-\tzz\t0\t0\tv1\n", f);
		fclose(f);
	}
	CHECK_INT(token_db_load(&db, path, err, sizeof err), ERR_MALFORMED);
	CHECK(strstr(err, "line 5") != NULL);
	rm_rf(dir);
}

/* --- scoped store reads against brute force ---------------------------------------------- */

#define NEV  3000
#define DAY0 20780

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static const char *const fams[] = { "rustock", "gatebot", "unknown" };
static const uint32_t asns[] = { 64501, 64502, 64503, 0 };
static const char ccs[][3] = { "DE", "US", "GB", "" };

static struct store_event evs[NEV];

static void make_events(void)
{
	for (int i = 0; i < NEV; i++) {
		struct store_event *e = &evs[i];
		memset(e, 0, sizeof *e);
		e->ts_us = ((uint64_t)DAY0 + (uint64_t)i * 7 / NEV) * 86400000000ull + (uint64_t)i;
		e->kind = rnd() % 10 == 0 ? STORE_KIND_DNS : STORE_KIND_HTTP;
		e->type = 1;
		e->transport = 6;
		unsigned net = rnd() % 4;
		e->ipver = rnd() % 5 == 0 ? 6 : 4;
		if (e->ipver == 4) {
			/* 10.N.x.y: /16 per network, a few hundred addresses each */
			e->src[0] = 10;
			e->src[1] = (uint8_t)net;
			e->src[2] = (uint8_t)(rnd() % 2);
			e->src[3] = (uint8_t)(rnd() % 200);
		} else {
			e->src[0] = 0x20;
			e->src[1] = 0x01;
			e->src[2] = 0x0d;
			e->src[3] = 0xb8;
			e->src[4] = (uint8_t)net;
			e->src[15] = (uint8_t)(rnd() % 50);
		}
		e->dst[0] = 127;
		e->src_port = (uint16_t)(1024 + rnd() % 1000);
		e->dst_port = (uint16_t)(rnd() % 2 ? 80 : 8080);
		e->src_asn = asns[net];
		memcpy(e->src_cc, ccs[net], 3);
		const char *f = fams[rnd() % 3];
		e->col[STORE_C_FAMILY] = (struct store_str){ f, strlen(f) };
	}
}

struct oracle_host {
	uint8_t v, a[16];
	uint64_t events;
};

static bool infection(const struct store_event *e)
{
	return store_is_infection(e);
}

static bool in_filter(const struct store_query *q, const struct store_event *e)
{
	int64_t day = (int64_t)(e->ts_us / 86400000000ull);
	if (day < q->f.day_from || day > q->f.day_to || !infection(e))
		return false;
	if (!store_scope_contains(q->scope, e->ipver, e->src, e->src_asn, e->src_cc))
		return false;
	if (q->f.n_asns) {
		size_t i;
		for (i = 0; i < q->f.n_asns && q->f.asns[i] != e->src_asn; i++)
			;
		if (i == q->f.n_asns)
			return false;
	}
	if (q->f.n_nets) {
		size_t i;
		for (i = 0; i < q->f.n_nets && !store_net_contains(&q->f.nets[i], e->ipver, e->src);
		     i++)
			;
		if (i == q->f.n_nets)
			return false;
	}
	if (q->family && (e->col[STORE_C_FAMILY].len != strlen(q->family) ||
			  memcmp(e->col[STORE_C_FAMILY].p, q->family, strlen(q->family))))
		return false;
	return true;
}

struct acc {
	uint64_t uniq, events, rows, ids_bad;
	uint64_t last_id;
};

static int on_series(void *ctx, const struct store_series_row *r)
{
	struct acc *a = ctx;
	a->uniq += r->unique_src;
	a->events += r->events;
	a->rows++;
	return 0;
}

static int on_host(void *ctx, const struct store_host *h)
{
	struct acc *a = ctx;
	a->uniq++;
	a->events += h->events;
	return 0;
}

static int on_ev(void *ctx, uint64_t id, const struct store_event *e)
{
	struct acc *a = ctx;
	(void)e;
	a->ids_bad += id <= a->last_id;
	a->last_id = id;
	a->events++;
	return 0;
}

static int on_top(void *ctx, const struct store_top_row *r)
{
	struct acc *a = ctx;
	a->uniq += r->unique_src;
	a->events += r->events;
	a->rows++;
	return 0;
}

struct page_ctx {
	struct store_host last;
	uint64_t n, total, events, disorder;
};

static int on_page(void *ctx, const struct store_host *h)
{
	struct page_ctx *p = ctx;
	if (p->last.ipver && (h->ipver < p->last.ipver || (h->ipver == p->last.ipver &&
							   memcmp(h->addr, p->last.addr, 16) <= 0)))
		p->disorder++;
	p->last = *h;
	p->n++;
	p->total++;
	p->events += h->events;
	return 0;
}

static int oracle_n = NEV; /* events ingested so far */

/* Distinct (ipver, address) pairs and event count of the filter, by brute force. */
static void oracle(const struct store_query *q, uint64_t *uniq, uint64_t *events)
{
	static uint8_t seen[NEV][17];
	size_t n = 0;
	*events = 0;
	for (int i = 0; i < oracle_n; i++) {
		const struct store_event *e = &evs[i];
		if (!in_filter(q, e))
			continue;
		(*events)++;
		uint8_t key[17] = { e->ipver };
		memcpy(key + 1, e->src, 16);
		size_t j;
		for (j = 0; j < n && memcmp(seen[j], key, 17); j++)
			;
		if (j == n)
			memcpy(seen[n++], key, 17);
	}
	*uniq = n;
}

static void test_scoped_reads(void)
{
	make_events();
	struct store *s;
	char err[256];
	CHECK_INT(store_open(&s, ":memory:", true, err, sizeof err), 0);
	struct log_pos from = { 0, 0 }, next = { 1, 1 };
	CHECK_INT(store_ingest(s, evs, NEV, &from, &next), 0);
	uint64_t count = 0;
	CHECK_INT(store_count_events(s, &count), 0);
	CHECK_INT(count, NEV);

	/* Scopes: each kind alone, mixed (a union), empty, everything. */
	uint32_t a1[] = { 64501 }, a2[] = { 64502, 64503 };
	struct store_net n1[2], n6[1];
	query_net("10.2.0.0/16", &n1[0]);
	query_net("10.3.1.0/24", &n1[1]);
	query_net("2001:db8:300::/40", &n6[0]);
	const char cc1[][3] = { "GB" };
	struct store_scope scopes[] = {
		{ .asns = a1, .n_asns = 1 },
		{ .asns = a2, .n_asns = 2 },
		{ .nets = n1, .n_nets = 2 },
		{ .nets = n6, .n_nets = 1 },
		{ .ccs = cc1, .n_ccs = 1 },
		{ .asns = a1, .n_asns = 1, .nets = n6, .n_nets = 1, .ccs = cc1, .n_ccs = 1 },
		{ 0 },
		{ .all = true },
	};
	/* Filters the caller adds: none, another network's ASN, a prefix, a family. */
	uint32_t fa[] = { 64502 };
	struct store_net fn[1];
	query_net("10.0.0.0/15", &fn[0]);
	for (size_t si = 0; si < sizeof scopes / sizeof *scopes; si++) {
		for (int fi = 0; fi < 4; fi++) {
			struct store_query q = { .scope = &scopes[si] };
			q.f.day_from = DAY0 + 1;
			q.f.day_to = DAY0 + 5;
			q.f.infections_only = true;
			if (fi == 1) {
				q.f.asns = fa;
				q.f.n_asns = 1;
			} else if (fi == 2) {
				q.f.nets = fn;
				q.f.n_nets = 1;
			} else if (fi == 3) {
				q.family = "gatebot";
			}
			uint64_t want_u, want_e;
			oracle(&q, &want_u, &want_e);
			struct acc a = { 0 };
			/* One bucket over the whole range, all families: exactly the distinct addresses. */
			CHECK_INT(store_series(s, &q, 5, false, on_series, &a), 0);
			if (a.uniq != want_u || a.events != want_e)
				fprintf(stderr, "scope %zu filter %d\n", si, fi);
			CHECK_INT(a.uniq, want_u);
			CHECK_INT(a.events, want_e);
			memset(&a, 0, sizeof a);
			struct store_host after = { 0 };
			CHECK_INT(store_hosts(s, &q, &after, 1000, on_host, &a), 0);
			CHECK_INT(a.uniq, want_u);
			CHECK_INT(a.events, want_e);
			memset(&a, 0, sizeof a);
			CHECK_INT(store_events_page(s, &q, 0, 100000, on_ev, &a), 0);
			CHECK_INT(a.events, want_e);
			CHECK_INT(a.ids_bad, 0);
			memset(&a, 0, sizeof a);
			CHECK_INT(store_top(s, &q, STORE_TOP_ASN, 100, on_top, &a), 0);
			CHECK_INT(a.events, want_e);
			CHECK_INT(a.uniq, want_u); /* an address has one ASN here */
		}
	}
	/* Paging walks every host exactly once, in strictly increasing order. */
	struct store_query q = { .scope = &scopes[7] };
	q.f.day_from = DAY0;
	q.f.day_to = DAY0 + 7;
	q.f.infections_only = true;
	uint64_t want_u, want_e;
	oracle(&q, &want_u, &want_e);
	struct page_ctx pc = { 0 };
	int pages = 0;
	for (; pages < 10000; pages++) {
		pc.n = 0;
		CHECK_INT(store_hosts(s, &q, &pc.last, 7, on_page, &pc), 0);
		if (!pc.n)
			break;
	}
	CHECK_INT(pc.total, want_u);
	CHECK_INT(pc.events, want_e);
	CHECK_INT(pc.disorder, 0);
	CHECK(pages > 10);
	struct store_host after = { 0 };
	/* Missing scope: refused. */
	struct store_query noscope = q;
	noscope.scope = NULL;
	struct acc a = { 0 };
	CHECK_INT(store_series(s, &noscope, 1, true, on_series, &a), ERR_INVAL);
	CHECK_INT(store_events_page(s, &noscope, 0, 10, on_ev, &a), ERR_INVAL);
	CHECK_INT(store_hosts(s, &noscope, &after, 10, on_host, &a), ERR_INVAL);
	CHECK_INT(store_top(s, &noscope, STORE_TOP_CC, 10, on_top, &a), ERR_INVAL);
	CHECK_INT(a.rows + a.events, 0);
	store_close(s);
}

/* --- days and calendar weeks: counted from rows, from the rollup, and a stale rollup ----- */

struct bucket_ctx {
	int64_t day[64];
	uint64_t uniq[64], events[64];
	size_t n;
};

static int on_bucket(void *ctx, const struct store_series_row *r)
{
	struct bucket_ctx *c = ctx;
	if (c->n < 64) {
		c->day[c->n] = r->day;
		c->uniq[c->n] = r->unique_src;
		c->events[c->n] = r->events;
		c->n++;
	}
	return 0;
}

static int64_t monday(int64_t day)
{
	return day - (day + 3) % 7;
}

static void check_buckets(struct store *s, const char *when)
{
	uint32_t a1[] = { 64501 }, a2[] = { 64502, 64503 };
	struct store_net n1[1];
	query_net("10.2.0.0/16", &n1[0]);
	const char cc1[][3] = { "GB" };
	struct store_scope scopes[] = {
		{ .asns = a1, .n_asns = 1 },
		{ .asns = a2, .n_asns = 2, .ccs = cc1, .n_ccs = 1 },
		{ .nets = n1, .n_nets = 1 },
		{ .all = true },
	};
	uint32_t fa[] = { 64503 };
	int fails = check_failures;
	for (size_t si = 0; si < sizeof scopes / sizeof *scopes; si++) {
		for (int fi = 0; fi < 3; fi++) {
			struct store_query q = { .scope = &scopes[si] };
			q.f.day_from = DAY0;
			q.f.day_to = DAY0 + 8;
			q.f.infections_only = true;
			if (fi == 1) {
				q.f.asns = fa;
				q.f.n_asns = 1;
			} else if (fi == 2) {
				q.family = "rustock";
			}
			for (unsigned bucket = 0; bucket <= 1; bucket++) {
				struct bucket_ctx c = { .n = 0 };
				CHECK_INT(store_series(s, &q, bucket, false, on_bucket, &c), 0);
				/* Every day (week) with infections, in order, with the oracle's counts. */
				size_t k = 0;
				int64_t first = bucket ? DAY0 : monday(DAY0);
				for (int64_t d = first; d <= DAY0 + 8; d += bucket ? 1 : 7) {
					struct store_query o = q;
					o.f.day_from = d;
					o.f.day_to = d + (bucket ? 0 : 6);
					uint64_t u, e;
					oracle(&o, &u, &e);
					if (!u)
						continue;
					CHECK(k < c.n && c.day[k] == d);
					/* Top networks of that day or week: the groups add up. */
					struct acc t = { 0 };
					CHECK_INT(store_top(s, &o,
							    bucket ? STORE_TOP_ASN : STORE_TOP_CC,
							    100, on_top, &t),
						  0);
					CHECK_INT(t.uniq, u);
					CHECK_INT(t.events, e);
					CHECK_INT(k < c.n ? c.uniq[k] : 0, u);
					CHECK_INT(k < c.n ? c.events[k] : 0, e);
					k++;
				}
				CHECK_INT(c.n, k);
			}
		}
	}
	if (check_failures != fails)
		fprintf(stderr, "check_buckets: failures %s\n", when);
}

static void test_rollup(void)
{
	char *dir = tmpdir_new_named("web-rollup");
	char path[512];
	snprintf(path, sizeof path, "%s/store.db", dir);
	struct store *s;
	char err[256];
	CHECK_INT(store_open(&s, path, true, err, sizeof err), 0);
	struct log_pos p0 = { 0, 0 }, p1 = { 1, 1 }, p2 = { 1, 2 };
	oracle_n = 2000;
	CHECK_INT(store_ingest(s, evs, 2000, &p0, &p1), 0);
	check_buckets(s, "from rows");
	CHECK_INT(store_compact(s), 0);
	check_buckets(s, "from the rollup");
	/* Later rows for days already rolled up: those days and weeks are counted from rows again. */
	oracle_n = NEV;
	CHECK_INT(store_ingest(s, evs + 2000, NEV - 2000, &p1, &p2), 0);
	check_buckets(s, "with pending rows");
	CHECK_INT(store_compact(s), 0);
	check_buckets(s, "from the new rollup");
	store_close(s);
	/*
	 * The rollup is what answers: with the rows gone (behind the store's
	 * back), days by ASN still count, prefix scopes (counted from rows) see nothing.
	 */
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DELETE FROM daily_src", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(store_open(&s, path, false, err, sizeof err), 0);
	uint32_t a1[] = { 64501 };
	struct store_net n1[1];
	query_net("10.0.0.0/16", &n1[0]);
	struct store_scope by_asn = { .asns = a1, .n_asns = 1 },
			   by_net = { .nets = n1, .n_nets = 1 };
	struct store_query q = { .scope = &by_asn };
	q.f.day_from = DAY0;
	q.f.day_to = DAY0 + 8;
	q.f.infections_only = true;
	uint64_t u, e;
	oracle(&q, &u, &e);
	struct bucket_ctx c = { .n = 0 };
	CHECK_INT(store_series(s, &q, 0, false, on_bucket, &c), 0);
	uint64_t events = 0;
	for (size_t i = 0; i < c.n; i++)
		events += c.events[i];
	CHECK(c.n > 0);
	CHECK_INT(events, e);
	q.scope = &by_net;
	c.n = 0;
	CHECK_INT(store_series(s, &q, 1, false, on_bucket, &c), 0);
	CHECK_INT(c.n, 0);
	store_close(s);
	/* A store from before the rollup, opened read-only: counted from the rows, no error. */
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DROP TABLE rollup; DROP TABLE rollup_done; DROP TABLE delta_days",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(store_open(&s, path, false, err, sizeof err), 0);
	q.scope = &by_asn;
	c.n = 0;
	CHECK_INT(store_series(s, &q, 0, false, on_bucket, &c), 0);
	CHECK_INT(c.n, 0); /* the rows were deleted above */
	struct acc t = { 0 };
	q.f.day_from = q.f.day_to = DAY0 + 2;
	CHECK_INT(store_top(s, &q, STORE_TOP_ASN, 10, on_top, &t), 0);
	store_close(s);
	rm_rf(dir);
}

int main(void)
{
	test_query();
	test_tokens();
	test_scoped_reads();
	test_rollup();
	return check_done("web");
}
