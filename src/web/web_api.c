/* web_api.c — the JSON API: parameters checked, the token's scope handed to every store read, JSON out. */
#include "web/web_api.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "report/shadowserver.h"
#include "web/query.h"

#define API_MAX_BODY   (64u << 20) /* a reply's hard maximum */
#define API_MAX_DAYS   400	   /* a year of daily data and some */
#define API_DEF_DAYS   30
#define API_MAX_LIMIT  1000
#define API_DEF_LIMIT  100
#define API_MAX_FILTER 16 /* values per filter parameter */
#define US_PER_DAY     86400000000ull

/* The routes' names on /metrics (sinkd_web_requests_total{route=...}). */
static const char *const ep_names[WEB_EP_N] = {
	"api_me",     "api_summary", "api_series",	"api_networks", "api_hosts",
	"api_events", "api_reports", "api_report_file", "other",
};

const char *web_endpoint_name(enum web_endpoint e)
{
	return e < WEB_EP_N ? ep_names[e] : "other";
}

void web_reply_init(struct web_reply *r)
{
	memset(r, 0, sizeof *r);
	dynbuf_init(&r->body, API_MAX_BODY);
	r->status = 200;
	r->content_type = "application/json";
	r->ep = WEB_EP_OTHER;
	r->file_fd = -1;
}

void web_reply_free(struct web_reply *r)
{
	dynbuf_free(&r->body);
	if (r->file_fd >= 0)
		close(r->file_fd);
	r->file_fd = -1;
}

void web_reply_error(struct web_reply *r, int status, const char *msg)
{
	dynbuf_reset(&r->body);
	if (r->file_fd >= 0)
		close(r->file_fd);
	r->file_fd = -1;
	r->status = status;
	r->content_type = "application/json";
	r->filename[0] = '\0';
	dynbuf_printf(&r->body, "{\"error\":{\"status\":%d,\"message\":", status);
	json_cstr(&r->body, msg);
	dynbuf_adds(&r->body, "}}\n");
}

static void day_str(int64_t day, char *buf, size_t cap)
{
	char iso[40];
	time_iso_us((uint64_t)day * US_PER_DAY, iso, sizeof iso);
	snprintf(buf, cap, "%.10s", iso);
}

static void put_day(struct dynbuf *b, const char *key, int64_t day, int first)
{
	char d[16];
	day_str(day, d, sizeof d);
	json_key(b, key, first);
	json_cstr(b, d);
}

static void put_u64(struct dynbuf *b, const char *key, uint64_t v, int first)
{
	json_key(b, key, first);
	json_u64(b, v);
}

static void put_time(struct dynbuf *b, const char *key, uint64_t us, int first)
{
	char iso[40];
	json_key(b, key, first);
	json_cstr(b, time_iso_us(us, iso, sizeof iso));
}

static void put_addr(struct dynbuf *b, uint8_t ipver, const uint8_t *a)
{
	char s[INET6_ADDRSTRLEN];
	inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a, s, sizeof s);
	json_cstr(b, s);
}

/* A parsed request: the query, the day range and the optional filters. */
struct req {
	struct query q;
	struct store_scope scope;
	struct store_query sq;
	uint32_t asns[API_MAX_FILTER];
	struct store_net nets[API_MAX_FILTER];
	char ccs[API_MAX_FILTER][3];
	char family[65];
};

/* from/to (default: the last 30 days to today), family, asn, cc, cidr filters. */
static int parse_common(struct req *rq, struct web_reply *r, bool filters)
{
	int64_t today = (int64_t)(time_now_us() / US_PER_DAY);
	int64_t from = today - (API_DEF_DAYS - 1), to = today;
	const char *v;
	if ((v = query_get(&rq->q, "to")) && query_day(v, &to)) {
		web_reply_error(r, 400, "to: expected a valid date YYYY-MM-DD");
		return -1;
	}
	if (!query_get(&rq->q, "from"))
		from = to - (API_DEF_DAYS - 1);
	if ((v = query_get(&rq->q, "from")) && query_day(v, &from)) {
		web_reply_error(r, 400, "from: expected a valid date YYYY-MM-DD");
		return -1;
	}
	if (from > to) {
		web_reply_error(r, 400, "from is after to");
		return -1;
	}
	if (to - from >= API_MAX_DAYS) {
		web_reply_error(r, 400, "the range is longer than 400 days");
		return -1;
	}
	rq->sq.f.day_from = from;
	rq->sq.f.day_to = to;
	rq->sq.f.infections_only = true;
	rq->sq.scope = &rq->scope;
	if ((v = query_get(&rq->q, "family"))) {
		if (!query_name_ok(v)) {
			web_reply_error(r, 400, "family: expected a family name");
			return -1;
		}
		snprintf(rq->family, sizeof rq->family, "%s", v);
		rq->sq.family = rq->family;
	}
	if (!filters)
		return 0;
	size_t n = query_count(&rq->q, "asn");
	if (n > API_MAX_FILTER || query_count(&rq->q, "cidr") > API_MAX_FILTER ||
	    query_count(&rq->q, "cc") > API_MAX_FILTER) {
		web_reply_error(r, 400, "too many filter values (at most 16 each)");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (query_asn(query_get_nth(&rq->q, "asn", i), &rq->asns[i])) {
			web_reply_error(r, 400, "asn: expected a number (or AS123)");
			return -1;
		}
	rq->sq.f.asns = rq->asns;
	rq->sq.f.n_asns = n;
	n = query_count(&rq->q, "cidr");
	for (size_t i = 0; i < n; i++)
		if (query_net(query_get_nth(&rq->q, "cidr", i), &rq->nets[i])) {
			web_reply_error(r, 400, "cidr: expected a prefix without host bits");
			return -1;
		}
	rq->sq.f.nets = rq->nets;
	rq->sq.f.n_nets = n;
	n = query_count(&rq->q, "cc");
	for (size_t i = 0; i < n; i++)
		if (query_cc(query_get_nth(&rq->q, "cc", i), rq->ccs[i])) {
			web_reply_error(r, 400, "cc: expected a two-letter country code");
			return -1;
		}
	rq->sq.f.ccs = (const char(*)[3])rq->ccs;
	rq->sq.f.n_ccs = n;
	return 0;
}

static int parse_limit(struct req *rq, struct web_reply *r, size_t *limit)
{
	const char *v = query_get(&rq->q, "limit");
	uint64_t l = API_DEF_LIMIT;
	if (v && (query_u64(v, API_MAX_LIMIT, &l) || l == 0)) {
		web_reply_error(r, 400, "limit: expected 1..1000");
		return -1;
	}
	*limit = (size_t)l;
	return 0;
}

static void store_failed(struct web_reply *r, int rc)
{
	web_reply_error(r, rc == ERR_LIMIT ? 400 : 500,
			rc == ERR_LIMIT ? "the query is too large" : "store read failed");
}

/* --- /me --------------------------------------------------------------------------------- */

static void put_scope(struct dynbuf *b, const struct token *t)
{
	dynbuf_adds(b, "{");
	json_key(b, "asns", 1);
	dynbuf_adds(b, "[");
	for (size_t i = 0; i < t->n_asns; i++)
		dynbuf_printf(b, "%s%" PRIu32, i ? "," : "", t->asns[i]);
	dynbuf_adds(b, "]");
	json_key(b, "cidrs", 0);
	dynbuf_adds(b, "[");
	for (size_t i = 0; i < t->n_nets; i++) {
		char s[INET6_ADDRSTRLEN + 8];
		char a[INET6_ADDRSTRLEN];
		inet_ntop(t->nets[i].ipver == 4 ? AF_INET : AF_INET6, t->nets[i].addr, a, sizeof a);
		snprintf(s, sizeof s, "%s/%u", a, t->nets[i].plen);
		if (i)
			dynbuf_adds(b, ",");
		json_cstr(b, s);
	}
	dynbuf_adds(b, "]");
	json_key(b, "countries", 0);
	dynbuf_adds(b, "[");
	for (size_t i = 0; i < t->n_ccs; i++) {
		if (i)
			dynbuf_adds(b, ",");
		json_cstr(b, t->ccs[i]);
	}
	dynbuf_adds(b, "]}");
}

static void api_me(const struct token *t, struct web_reply *r)
{
	struct dynbuf *b = &r->body;
	dynbuf_adds(b, "{");
	json_key(b, "name", 1);
	json_cstr(b, t->name);
	json_key(b, "admin", 0);
	dynbuf_adds(b, t->admin ? "true" : "false");
	json_key(b, "scope", 0);
	put_scope(b, t);
	dynbuf_adds(b, "}\n");
}

/* --- /summary ---------------------------------------------------------------------------- */

struct fam_ctx {
	struct dynbuf *b;
	int n;
	uint64_t unique, events;
};

static int on_family(void *ctx, const struct store_series_row *row)
{
	struct fam_ctx *c = ctx;
	dynbuf_adds(c->b, c->n++ ? ",{" : "{");
	json_key(c->b, "family", 1);
	json_cstr(c->b, row->family);
	put_u64(c->b, "unique_src", row->unique_src, 0);
	put_u64(c->b, "events", row->events, 0);
	dynbuf_adds(c->b, "}");
	return 0;
}

/* The first number after "key": in a JSON text of our own daemon (stats.json). */
static bool json_find_u64(const char *s, const char *key, uint64_t *out)
{
	const char *p = strstr(s, key);
	if (!p)
		return false;
	p += strlen(key);
	if (*p < '0' || *p > '9')
		return false;
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9' && v < UINT64_MAX / 10)
		v = v * 10 + (uint64_t)(*p++ - '0');
	*out = v;
	return true;
}

/* The sensor: its stats file as written (our daemon's JSON), its age and the event rate. */
static void put_sensor(struct web_api *a, struct dynbuf *b)
{
	json_key(b, "sensor", 0);
	char buf[65536];
	ssize_t n = -1;
	struct stat st;
	int fd = a->stats_path ? open(a->stats_path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		if (fstat(fd, &st) == 0)
			n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (n <= 1 || buf[0] != '{' || buf[n - 1] != '}') {
		dynbuf_adds(b, "null");
		return;
	}
	buf[n] = '\0';
	uint64_t now = time_now_us(), rec = 0;
	uint64_t mtime_us =
		(uint64_t)st.st_mtim.tv_sec * 1000000u + (uint64_t)st.st_mtim.tv_nsec / 1000u;
	bool have_rate = false;
	double rate = 0;
	if (a->rate && json_find_u64(buf, "\"recorded\":", &rec)) {
		struct web_rate *wr = a->rate;
		pthread_mutex_lock(&wr->mu);
		/* Samples at least 2 s apart, keyed by the file's own write time. */
		if (!wr->t1_us || mtime_us >= wr->t1_us + 2000000u || rec < wr->rec1) {
			wr->t0_us = wr->t1_us;
			wr->rec0 = wr->rec1;
			wr->t1_us = mtime_us;
			wr->rec1 = rec;
		}
		if (wr->t0_us && wr->t1_us > wr->t0_us && wr->rec1 >= wr->rec0) {
			rate = (double)(wr->rec1 - wr->rec0) * 1e6 /
			       (double)(wr->t1_us - wr->t0_us);
			have_rate = true;
		}
		pthread_mutex_unlock(&wr->mu);
	}
	dynbuf_adds(b, "{");
	json_key(b, "stats_age_s", 1);
	dynbuf_printf(b, "%.1f", now > mtime_us ? (double)(now - mtime_us) / 1e6 : 0.0);
	json_key(b, "events_per_s", 0);
	if (have_rate)
		dynbuf_printf(b, "%.1f", rate);
	else
		dynbuf_adds(b, "null");
	json_key(b, "stats", 0);
	dynbuf_add(b, buf, (size_t)n);
	dynbuf_adds(b, "}");
}

int web_store_lag(struct store *s, const char *log_dir, struct log_pos *pos, struct log_pos *end,
		  uint64_t *lag)
{
	if (!log_dir)
		return ERR_INVAL;
	int rc = store_get_pos(s, pos);
	struct log_segment_info *segs = NULL;
	size_t n = 0;
	if (!rc)
		rc = log_segments(log_dir, &segs, &n);
	if (!rc && !n)
		rc = ERR_NOT_FOUND;
	uint64_t size = 0, index;
	if (!rc) {
		end->segment = segs[n - 1].segment;
		rc = log_segment_sealed_size(log_dir, end->segment, &size, &index);
		end->offset = size;
	}
	if (!rc)
		rc = log_distance(log_dir, pos, end, lag);
	free(segs);
	return rc;
}

/* How far the store lags behind the log (admin): positions and bytes. */
static void put_lag(struct web_api *a, struct dynbuf *b)
{
	json_key(b, "store", 0);
	struct log_pos pos, end;
	uint64_t lag;
	if (store_get_pos(a->store, &pos)) {
		dynbuf_adds(b, "null");
		return;
	}
	dynbuf_adds(b, "{");
	put_u64(b, "segment", pos.segment, 1);
	put_u64(b, "offset", pos.offset, 0);
	if (!web_store_lag(a->store, a->log_dir, &pos, &end, &lag)) {
		put_u64(b, "log_segment", end.segment, 0);
		put_u64(b, "log_offset", end.offset, 0);
		put_u64(b, "lag_bytes", lag, 0);
	}
	dynbuf_adds(b, "}");
}

struct total_ctx {
	int64_t day;
	uint64_t unique, events;
	size_t rows;
};

static int on_total(void *ctx, const struct store_series_row *row)
{
	struct total_ctx *c = ctx;
	c->day = row->day;
	c->unique = row->unique_src;
	c->events += row->events;
	c->rows++;
	return 0;
}

/*
 * The headline numbers, all cheap on a big store (days and calendar weeks):
 * the range's last day (per family and in all), the calendar week holding it,
 * the range's check-ins; the distinct addresses over the whole range only on
 * request (distinct=1: counted from the rows).
 */
static void api_summary(struct web_api *a, const struct token *t, struct req *rq,
			struct web_reply *r)
{
	static const char *const allowed[] = { "from", "to", "family", "distinct", NULL };
	const char *bad, *v;
	if (!query_only(&rq->q, allowed, &bad)) {
		web_reply_error(r, 400, "unknown parameter");
		return;
	}
	if (parse_common(rq, r, false))
		return;
	bool distinct = false;
	if ((v = query_get(&rq->q, "distinct"))) {
		if (strcmp(v, "0") && strcmp(v, "1")) {
			web_reply_error(r, 400, "distinct: expected 0 or 1");
			return;
		}
		distinct = v[0] == '1';
	}
	struct dynbuf *b = &r->body;
	struct store_query last = rq->sq;
	last.f.day_from = last.f.day_to;
	struct total_ctx day = { 0 }, week = { 0 }, range = { 0 }, all = { 0 };
	dynbuf_adds(b, "{");
	put_day(b, "from", rq->sq.f.day_from, 1);
	put_day(b, "to", rq->sq.f.day_to, 0);
	json_key(b, "families", 0);
	dynbuf_adds(b, "[");
	struct fam_ctx fc = { b, 0, 0, 0 };
	int rc = store_series(a->store, &last, 1, true, on_family, &fc);
	dynbuf_adds(b, "]");
	if (!rc)
		rc = store_series(a->store, &last, 1, false, on_total, &day);
	if (!rc)
		rc = store_series(a->store, &last, 0, false, on_total, &week);
	if (!rc)
		rc = store_series(a->store, &rq->sq, 1, false, on_total, &range);
	if (!rc && distinct)
		rc = store_series(a->store, &rq->sq,
				  (unsigned)(rq->sq.f.day_to - rq->sq.f.day_from + 1), false,
				  on_total, &all);
	if (rc) {
		store_failed(r, rc);
		return;
	}
	put_u64(b, "last_day_unique_src", day.unique, 0);
	put_u64(b, "last_day_events", day.events, 0);
	/* The calendar week of the last day: its Monday, whatever the data. */
	int64_t to = rq->sq.f.day_to, wr = (to + 3) % 7;
	put_day(b, "week", to - wr, 0);
	put_u64(b, "week_unique_src", week.unique, 0);
	put_u64(b, "week_events", week.events, 0);
	put_u64(b, "events", range.events, 0);
	if (distinct)
		put_u64(b, "unique_src", all.unique, 0);
	if (t->admin) { /* the sensor and the store are the operator's business */
		put_sensor(a, b);
		put_lag(a, b);
	}
	dynbuf_adds(b, "}\n");
}

/* --- /series ----------------------------------------------------------------------------- */

struct series_ctx {
	struct dynbuf *b;
	int n;
};

static int on_series(void *ctx, const struct store_series_row *row)
{
	struct series_ctx *c = ctx;
	dynbuf_adds(c->b, c->n++ ? ",{" : "{");
	put_day(c->b, "day", row->day, 1);
	if (row->family[0]) {
		json_key(c->b, "family", 0);
		json_cstr(c->b, row->family);
	}
	put_u64(c->b, "unique_src", row->unique_src, 0);
	put_u64(c->b, "events", row->events, 0);
	dynbuf_adds(c->b, "}");
	return 0;
}

static void api_series(struct web_api *a, struct req *rq, struct web_reply *r)
{
	static const char *const allowed[] = { "from", "to",   "family", "bucket",
					       "asn",  "cidr", "cc",	 NULL };
	const char *bad;
	if (!query_only(&rq->q, allowed, &bad)) {
		web_reply_error(r, 400, "unknown parameter");
		return;
	}
	if (parse_common(rq, r, true))
		return;
	const char *bucket = query_get(&rq->q, "bucket");
	unsigned days = 1;
	if (bucket && !strcmp(bucket, "week"))
		days = 0; /* calendar weeks */
	else if (bucket && strcmp(bucket, "day")) {
		web_reply_error(r, 400, "bucket: expected day or week");
		return;
	}
	struct dynbuf *b = &r->body;
	dynbuf_adds(b, "{");
	json_key(b, "bucket", 1);
	json_cstr(b, days == 0 ? "week" : "day");
	put_day(b, "from", rq->sq.f.day_from, 0);
	put_day(b, "to", rq->sq.f.day_to, 0);
	json_key(b, "rows", 0);
	dynbuf_adds(b, "[");
	struct series_ctx c = { b, 0 };
	int rc = store_series(a->store, &rq->sq, days, true, on_series, &c);
	dynbuf_adds(b, "]");
	json_key(b, "total", 0);
	dynbuf_adds(b, "[");
	c.n = 0;
	if (!rc)
		rc = store_series(a->store, &rq->sq, days, false, on_series, &c);
	if (rc) {
		store_failed(r, rc);
		return;
	}
	dynbuf_adds(b, "]}\n");
}

/* --- /networks --------------------------------------------------------------------------- */

struct top_ctx {
	struct dynbuf *b;
	int n;
	enum store_top_by by;
};

static int on_top(void *ctx, const struct store_top_row *row)
{
	struct top_ctx *c = ctx;
	dynbuf_adds(c->b, c->n++ ? ",{" : "{");
	if (c->by == STORE_TOP_ASN) {
		put_u64(c->b, "asn", row->asn, 1);
		json_key(c->b, "country", 0);
	} else {
		json_key(c->b, "country", 1);
	}
	if (row->cc[0])
		json_cstr(c->b, row->cc);
	else
		dynbuf_adds(c->b, "null");
	put_u64(c->b, "unique_src", row->unique_src, 0);
	put_u64(c->b, "events", row->events, 0);
	dynbuf_adds(c->b, "}");
	return 0;
}

static void api_networks(struct web_api *a, struct req *rq, struct web_reply *r)
{
	static const char *const allowed[] = { "from", "to",   "family", "by", "limit",
					       "asn",  "cidr", "cc",	 NULL };
	const char *bad;
	size_t limit;
	if (!query_only(&rq->q, allowed, &bad)) {
		web_reply_error(r, 400, "unknown parameter");
		return;
	}
	if (parse_common(rq, r, true) || parse_limit(rq, r, &limit))
		return;
	const char *by = query_get(&rq->q, "by");
	enum store_top_by tb = STORE_TOP_ASN;
	if (by && !strcmp(by, "country"))
		tb = STORE_TOP_CC;
	else if (by && strcmp(by, "asn")) {
		web_reply_error(r, 400, "by: expected asn or country");
		return;
	}
	struct dynbuf *b = &r->body;
	dynbuf_adds(b, "{");
	json_key(b, "by", 1);
	json_cstr(b, tb == STORE_TOP_ASN ? "asn" : "country");
	put_day(b, "from", rq->sq.f.day_from, 0);
	put_day(b, "to", rq->sq.f.day_to, 0);
	json_key(b, "rows", 0);
	dynbuf_adds(b, "[");
	struct top_ctx c = { b, 0, tb };
	int rc = store_top(a->store, &rq->sq, tb, limit, on_top, &c);
	if (rc) {
		store_failed(r, rc);
		return;
	}
	dynbuf_adds(b, "]}\n");
}

/* --- /hosts ------------------------------------------------------------------------------ */

struct host_ctx {
	struct dynbuf *b;
	size_t n;
	struct store_host last;
};

static void put_list(struct dynbuf *b, const char *key, const char *csv, bool numbers)
{
	json_key(b, key, 0);
	dynbuf_adds(b, "[");
	const char *p = csv;
	int first = 1;
	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (!first)
			dynbuf_adds(b, ",");
		first = 0;
		if (numbers)
			dynbuf_add(b, p, n);
		else
			json_str(b, p, n);
		p += n + (e ? 1 : 0);
	}
	dynbuf_adds(b, "]");
}

static int on_host(void *ctx, const struct store_host *h)
{
	struct host_ctx *c = ctx;
	struct dynbuf *b = c->b;
	dynbuf_adds(b, c->n++ ? ",{" : "{");
	json_key(b, "addr", 1);
	put_addr(b, h->ipver, h->addr);
	put_u64(b, "asn", h->asn, 0);
	json_key(b, "country", 0);
	if (h->cc[0])
		json_cstr(b, h->cc);
	else
		dynbuf_adds(b, "null");
	put_time(b, "first_seen", h->first_us, 0);
	put_time(b, "last_seen", h->last_us, 0);
	put_u64(b, "events", h->events, 0);
	put_list(b, "families", h->families, false);
	put_list(b, "ports", h->ports, true);
	put_list(b, "user_agents", h->agents, false);
	put_list(b, "tls_server_names", h->servernames, false);
	put_list(b, "bot_ids", h->bot_ids, false);
	dynbuf_adds(b, "}");
	c->last = *h;
	return 0;
}

static void api_hosts(struct web_api *a, struct req *rq, struct web_reply *r)
{
	static const char *const allowed[] = { "from", "to",   "family", "after", "limit",
					       "asn",  "cidr", "cc",	 NULL };
	const char *bad, *v;
	size_t limit;
	if (!query_only(&rq->q, allowed, &bad)) {
		web_reply_error(r, 400, "unknown parameter");
		return;
	}
	if (parse_common(rq, r, true) || parse_limit(rq, r, &limit))
		return;
	struct store_host after = { 0 };
	if ((v = query_get(&rq->q, "after")) && query_addr(v, &after.ipver, after.addr)) {
		web_reply_error(r, 400, "after: expected an address (the previous page's next)");
		return;
	}
	struct dynbuf *b = &r->body;
	dynbuf_adds(b, "{");
	put_day(b, "from", rq->sq.f.day_from, 1);
	put_day(b, "to", rq->sq.f.day_to, 0);
	json_key(b, "rows", 0);
	dynbuf_adds(b, "[");
	struct host_ctx c = { b, 0, { 0 } };
	int rc = store_hosts(a->store, &rq->sq, &after, limit, on_host, &c);
	if (rc) {
		store_failed(r, rc);
		return;
	}
	dynbuf_adds(b, "]");
	json_key(b, "next", 0);
	if (c.n == limit)
		put_addr(b, c.last.ipver, c.last.addr);
	else
		dynbuf_adds(b, "null");
	dynbuf_adds(b, "}\n");
}

/* --- /events ----------------------------------------------------------------------------- */

struct ev_ctx {
	struct dynbuf *b;
	size_t n;
	uint64_t last;
};

static void put_col(struct dynbuf *b, const char *key, const struct store_str *s)
{
	json_key(b, key, 0);
	if (s->p && s->len)
		json_str(b, s->p, s->len);
	else
		dynbuf_adds(b, "null");
}

static int on_event_row(void *ctx, uint64_t id, const struct store_event *e)
{
	struct ev_ctx *c = ctx;
	struct dynbuf *b = c->b;
	dynbuf_adds(b, c->n++ ? ",{" : "{");
	put_u64(b, "id", id, 1);
	put_time(b, "time", e->ts_us, 0);
	json_key(b, "report_type", 0);
	json_cstr(b, ss_type_name(ss_type_of(e)));
	json_key(b, "src", 0);
	put_addr(b, e->ipver, e->src);
	put_u64(b, "src_port", e->src_port, 0);
	put_u64(b, "asn", e->src_asn, 0);
	json_key(b, "country", 0);
	if (e->src_cc[0])
		json_cstr(b, e->src_cc);
	else
		dynbuf_adds(b, "null");
	json_key(b, "dst", 0);
	put_addr(b, e->ipver, e->dst);
	put_u64(b, "dst_port", e->dst_port, 0);
	put_col(b, "family", &e->col[STORE_C_FAMILY]);
	put_col(b, "tag", &e->col[STORE_C_TAG]);
	put_col(b, "http_url", &e->col[STORE_C_HTTP_URL]);
	put_col(b, "http_host", &e->col[STORE_C_HTTP_HOST]);
	put_col(b, "http_agent", &e->col[STORE_C_HTTP_AGENT]);
	put_col(b, "ssl_servername", &e->col[STORE_C_SSL_SERVERNAME]);
	put_col(b, "bot_id", &e->col[STORE_C_BOT_ID]);
	dynbuf_adds(b, "}");
	c->last = id;
	return 0;
}

static void api_events(struct web_api *a, struct req *rq, struct web_reply *r)
{
	static const char *const allowed[] = { "from", "to",   "family", "after", "limit",
					       "asn",  "cidr", "cc",	 "all",	  NULL };
	const char *bad, *v;
	size_t limit;
	if (!query_only(&rq->q, allowed, &bad)) {
		web_reply_error(r, 400, "unknown parameter");
		return;
	}
	if (parse_common(rq, r, true) || parse_limit(rq, r, &limit))
		return;
	uint64_t after = 0;
	if ((v = query_get(&rq->q, "after")) && query_u64(v, INT64_MAX, &after)) {
		web_reply_error(r, 400, "after: expected an event id");
		return;
	}
	/* all=1: unclassified events (scanners, noise) too; the default is infections only. */
	if ((v = query_get(&rq->q, "all"))) {
		if (strcmp(v, "1") && strcmp(v, "0")) {
			web_reply_error(r, 400, "all: expected 0 or 1");
			return;
		}
		rq->sq.f.infections_only = v[0] == '0';
	}
	struct dynbuf *b = &r->body;
	dynbuf_adds(b, "{");
	put_day(b, "from", rq->sq.f.day_from, 1);
	put_day(b, "to", rq->sq.f.day_to, 0);
	json_key(b, "rows", 0);
	dynbuf_adds(b, "[");
	struct ev_ctx c = { b, 0, 0 };
	int rc = store_events_page(a->store, &rq->sq, after, limit, on_event_row, &c);
	if (rc) {
		store_failed(r, rc);
		return;
	}
	dynbuf_adds(b, "]");
	json_key(b, "next", 0);
	if (c.n == limit)
		json_u64(b, c.last);
	else
		dynbuf_adds(b, "null");
	dynbuf_adds(b, "}\n");
}

/* --- /reports ---------------------------------------------------------------------------- */

/* Removes the files of a temporary report directory and the directory. */
static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * The report files of a day for the token's scope, generated now into a
 * private temporary directory: only files made for this scope can be listed
 * or served, so no file name of another network's report can reach anything.
 */
static void api_reports(struct web_api *a, const struct token *t, struct req *rq, const char *day_s,
			const char *file, struct web_reply *r)
{
	int64_t day;
	const char *v = day_s ? day_s : query_get(&rq->q, "day");
	static const char *const allowed[] = { "day", NULL };
	const char *bad;
	if (!query_only(&rq->q, allowed, &bad) || (day_s && rq->q.n)) {
		web_reply_error(r, 400, "unknown parameter");
		return;
	}
	if (!v || query_day(v, &day)) {
		web_reply_error(r, 400, "day: expected a valid date YYYY-MM-DD");
		return;
	}
	if (file && !query_name_ok(file)) {
		web_reply_error(r, 404, "no such report");
		return;
	}
	if (!a->make_reports) {
		web_reply_error(r, 501, "reports are not available");
		return;
	}
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/sinkd-web-XXXXXX", a->tmp_dir ? a->tmp_dir : "/tmp");
	if (!mkdtemp(dir)) {
		web_reply_error(r, 500, "cannot make a temporary directory");
		return;
	}
	struct store_scope sc;
	token_scope(t, &sc);
	if (a->make_reports(a->reports_ctx, day, &sc, dir)) {
		rm_dir(dir);
		web_reply_error(r, 500, "report generation failed");
		return;
	}
	char *names[512];
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) && n < 512) {
		size_t l = strlen(de->d_name);
		bool csv = l > 4 && !strcmp(de->d_name + l - 4, ".csv");
		bool jsonl = l > 6 && !strcmp(de->d_name + l - 6, ".jsonl");
		if (de->d_name[0] != '.' && (csv || jsonl) && (names[n] = strdup(de->d_name)))
			n++;
	}
	if (d)
		closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	struct dynbuf *b = &r->body;
	if (!file) {
		dynbuf_adds(b, "{");
		put_day(b, "day", day, 1);
		json_key(b, "files", 0);
		dynbuf_adds(b, "[");
		for (size_t i = 0; i < n; i++) {
			struct stat st;
			char p[4400];
			snprintf(p, sizeof p, "%s/%s", dir, names[i]);
			if (stat(p, &st))
				continue;
			dynbuf_adds(b, i ? ",{" : "{");
			json_key(b, "name", 1);
			json_cstr(b, names[i]);
			put_u64(b, "bytes", (uint64_t)st.st_size, 0);
			char url[512];
			char ds[16];
			day_str(day, ds, sizeof ds);
			snprintf(url, sizeof url, "/api/v1/reports/%s/%s", ds, names[i]);
			json_key(b, "url", 0);
			json_cstr(b, url);
			dynbuf_adds(b, "}");
		}
		dynbuf_adds(b, "]}\n");
	} else {
		bool found = false;
		for (size_t i = 0; i < n && !found; i++)
			found = !strcmp(names[i], file);
		char p[4400];
		snprintf(p, sizeof p, "%s/%s", dir, file);
		int fd = found ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
		struct stat st;
		if (fd < 0) {
			web_reply_error(r, 404, "no such report");
		} else {
			/* Kept open: the directory goes below, the file's bytes stay readable. */
			if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
				close(fd);
				web_reply_error(r, 500, "report unreadable");
			} else {
				r->file_fd = fd;
				r->file_len = (uint64_t)st.st_size;
				size_t l = strlen(file);
				r->content_type = l > 4 && !strcmp(file + l - 4, ".csv") ?
							  "text/csv; charset=utf-8" :
							  "application/x-ndjson";
				snprintf(r->filename, sizeof r->filename, "%s", file);
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	rm_dir(dir);
}

/* --- dispatch ---------------------------------------------------------------------------- */

static bool path_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(p, lit, n);
}

void web_api_handle(struct web_api *a, const struct token *t, const char *path, size_t path_len,
		    const char *query, size_t query_len, struct web_reply *r)
{
	struct req *rq = calloc(1, sizeof *rq);
	if (!rq) {
		web_reply_error(r, 503, "out of memory");
		return;
	}
	token_scope(t, &rq->scope);
	int qrc = query_parse(&rq->q, query, query_len);
	static const char pre[] = "/api/v1/";
	const char *p = path + (sizeof pre - 1);
	size_t n = path_len >= sizeof pre - 1 ? path_len - (sizeof pre - 1) : 0;
	if (path_len < sizeof pre - 1 || memcmp(path, pre, sizeof pre - 1)) {
		web_reply_error(r, 404, "no such endpoint");
	} else if (qrc == ERR_LIMIT) {
		web_reply_error(r, 414, "query string too long or too many parameters");
	} else if (qrc) {
		web_reply_error(r, 400, "malformed query string");
	} else if (path_is(p, n, "me")) {
		r->ep = WEB_EP_ME;
		api_me(t, r);
	} else if (path_is(p, n, "summary")) {
		r->ep = WEB_EP_SUMMARY;
		api_summary(a, t, rq, r);
	} else if (path_is(p, n, "series")) {
		r->ep = WEB_EP_SERIES;
		api_series(a, rq, r);
	} else if (path_is(p, n, "networks")) {
		r->ep = WEB_EP_NETWORKS;
		api_networks(a, rq, r);
	} else if (path_is(p, n, "hosts")) {
		r->ep = WEB_EP_HOSTS;
		api_hosts(a, rq, r);
	} else if (path_is(p, n, "events")) {
		r->ep = WEB_EP_EVENTS;
		api_events(a, rq, r);
	} else if (path_is(p, n, "reports")) {
		r->ep = WEB_EP_REPORTS;
		api_reports(a, t, rq, NULL, NULL, r);
	} else if (n > 8 && !memcmp(p, "reports/", 8)) {
		/* reports/YYYY-MM-DD/NAME: exactly two plain segments, nothing encoded. */
		r->ep = WEB_EP_REPORT_FILE;
		char seg[2][80];
		const char *s = p + 8, *end = p + n;
		const char *slash = memchr(s, '/', (size_t)(end - s));
		size_t l0 = slash ? (size_t)(slash - s) : 0;
		size_t l1 = slash ? (size_t)(end - slash - 1) : 0;
		if (!slash || l0 >= sizeof seg[0] || l1 >= sizeof seg[1] || !l1) {
			web_reply_error(r, 404, "no such report");
		} else {
			memcpy(seg[0], s, l0);
			seg[0][l0] = '\0';
			memcpy(seg[1], slash + 1, l1);
			seg[1][l1] = '\0';
			if (!query_name_ok(seg[1]) || strchr(seg[0], '%'))
				web_reply_error(r, 404, "no such report");
			else
				api_reports(a, t, rq, seg[0], seg[1], r);
		}
	} else {
		web_reply_error(r, 404, "no such endpoint");
	}
	free(rq);
}
