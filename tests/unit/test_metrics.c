/* test_metrics.c — unit tests for the Prometheus writer, the listener/family tally, the admin HTTP answers and the web metrics. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/event.h"
#include "metrics/metrics.h"
#include "metrics/metrics_http.h"
#include "metrics/prom.h"
#include "metrics/tally.h"
#include "testfs.h"

static void test_names(void)
{
	static const struct {
		const char *s;
		bool metric, label;
	} v[] = {
		{ "sinkd_events_total", true, true },
		{ "_x", true, true },
		{ "a:b", true, false },
		{ ":a", true, false },
		{ "__reserved", true, false },
		{ "9abc", false, false },
		{ "a-b", false, false },
		{ "a b", false, false },
		{ "", false, false },
		{ "é", false, false },
		{ "A1_", true, true },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		CHECK_INT(prom_metric_name_ok(v[i].s, strlen(v[i].s)), v[i].metric);
		CHECK_INT(prom_label_name_ok(v[i].s, strlen(v[i].s)), v[i].label);
	}
	char longname[PROM_NAME_MAX + 2];
	memset(longname, 'a', sizeof longname);
	CHECK(prom_metric_name_ok(longname, PROM_NAME_MAX));
	CHECK(!prom_metric_name_ok(longname, PROM_NAME_MAX + 1));
}

static void test_exposition(void)
{
	struct dynbuf b;
	dynbuf_init(&b, 1 << 16);
	struct prom p;
	prom_init(&p, &b);
	CHECK_INT(prom_family(&p, "x_total", PROM_COUNTER, "Help with \\ and\nnewline \"kept\"."),
		  0);
	struct prom_label l[2] = { { "listener", "a\"b\\c\nd", 7 }, { "family", "é\xff", 3 } };
	CHECK_INT(prom_sample(&p, l, 2, 42), 0);
	CHECK_INT(prom_sample(&p, NULL, 0, UINT64_MAX), 0);
	CHECK_INT(prom_single(&p, "g", PROM_GAUGE, "", 0), 0);
	CHECK_INT(prom_finish(&p), 0);
	CHECK_STR(b.data,
		  "# HELP x_total Help with \\\\ and\\nnewline \"kept\".\n"
		  "# TYPE x_total counter\n"
		  "x_total{listener=\"a\\\"b\\\\c\\nd\",family=\"\xc3\xa9\xef\xbf\xbd\"} 42\n"
		  "x_total 18446744073709551615\n"
		  "# HELP g \n"
		  "# TYPE g gauge\n"
		  "g 0\n");
	dynbuf_free(&b);
}

/* Every refusal leaves the buffer as it was, and the first error sticks. */
static void test_errors(void)
{
	struct dynbuf b;
	dynbuf_init(&b, 1 << 16);
	struct prom p;

	prom_init(&p, &b);
	CHECK_INT(prom_sample(&p, NULL, 0, 1), ERR_INVAL); /* no family yet */
	CHECK_INT(b.len, 0);

	prom_init(&p, &b);
	CHECK_INT(prom_family(&p, "events", PROM_COUNTER, "no _total suffix"), ERR_INVAL);
	CHECK_INT(b.len, 0);
	CHECK_INT(prom_family(&p, "events_total", PROM_COUNTER, "fine"), ERR_INVAL); /* sticky */
	CHECK_INT(prom_finish(&p), ERR_INVAL);
	CHECK_INT(b.len, 0);

	prom_init(&p, &b);
	CHECK_INT(prom_family(&p, "bad-name", PROM_GAUGE, "x"), ERR_INVAL);
	prom_init(&p, &b);
	CHECK_INT(prom_family(&p, "ok", PROM_GAUGE, "x"), 0);
	size_t after_family = b.len;
	struct prom_label dup[2] = { { "a", "1", 1 }, { "a", "2", 1 } };
	CHECK_INT(prom_sample(&p, dup, 2, 1), ERR_INVAL);
	CHECK_INT(b.len, after_family);
	prom_init(&p, &b);
	CHECK_INT(prom_family(&p, "ok2", PROM_GAUGE, "x"), 0);
	struct prom_label reserved = { "__name__", "x", 1 };
	CHECK_INT(prom_sample(&p, &reserved, 1, 1), ERR_INVAL);
	dynbuf_free(&b);

	/* The dynbuf's maximum: the half-written line is taken back. */
	dynbuf_init(&b, 64);
	prom_init(&p, &b);
	CHECK_INT(prom_family(&p, "m", PROM_GAUGE, "h"), 0);
	size_t keep = b.len;
	char big[100];
	memset(big, 'v', sizeof big);
	struct prom_label l = { "l", big, sizeof big };
	CHECK_INT(prom_sample(&p, &l, 1, 7), ERR_NOMEM);
	CHECK_INT(b.len, keep);
	CHECK_INT(b.data[keep], '\0');
	CHECK_INT(prom_finish(&p), ERR_NOMEM);
	dynbuf_free(&b);
}

/* An HTTP event naming a listener and a family (either may be absent); 0 if it cannot be built. */
static size_t build_event(uint8_t *buf, size_t cap, const char *listener, const char *family)
{
	struct event_header h = { .version = EVENT_FORMAT_VERSION,
				  .type = EVENT_HTTP,
				  .transport = 6 };
	h.src.ipver = h.dst.ipver = 4;
	struct event_builder eb;
	event_begin(&eb, buf, cap, &h);
	event_put_u32(&eb, EVENT_T_TX_ID, 0);
	if (listener)
		event_put_str(&eb, EVENT_T_LISTENER, listener);
	event_put_str(&eb, EVENT_T_HTTP_URI, "/x");
	if (family)
		event_put_str(&eb, EVENT_T_FAMILY, family);
	size_t len = 0;
	return event_finish(&eb, &len) == 0 ? len : 0;
}

static size_t make_event(uint8_t *buf, size_t cap, const char *listener, const char *family)
{
	size_t len = build_event(buf, cap, listener, family);
	CHECK(len > 0);
	return len;
}

static uint64_t tally_of(struct metrics_tally *t, const char *listener, const char *family)
{
	for (size_t i = 0; i < metrics_tally_count(t); i++) {
		struct metrics_tally_entry_view v;
		metrics_tally_get(t, i, &v);
		if (v.listener_len == strlen(listener) &&
		    !memcmp(v.listener, listener, v.listener_len) &&
		    v.family_len == strlen(family) && !memcmp(v.family, family, v.family_len))
			return v.events;
	}
	return UINT64_MAX;
}

static void test_tally(void)
{
	struct metrics_tally *t;
	CHECK_INT(metrics_tally_new(&t), 0);
	uint8_t buf[512];
	size_t n;
	for (int i = 0; i < 3; i++) {
		n = make_event(buf, sizeof buf, "web", "rustock");
		metrics_tally_append(t, buf, n);
	}
	n = make_event(buf, sizeof buf, "web", NULL);
	metrics_tally_append(t, buf, n);
	n = make_event(buf, sizeof buf, NULL, "x");
	metrics_tally_append(t, buf, n);
	/* Not counted before the batch is on disk. */
	CHECK_INT(tally_of(t, "web", "rustock"), 0);
	metrics_tally_commit(t, true);
	CHECK_INT(tally_of(t, "web", "rustock"), 3);
	CHECK_INT(tally_of(t, "web", "unknown"), 1);
	CHECK_INT(tally_of(t, "(none)", "x"), 1);
	/* A batch lost to the disk is forgotten. */
	n = make_event(buf, sizeof buf, "web", "rustock");
	metrics_tally_append(t, buf, n);
	metrics_tally_commit(t, false);
	metrics_tally_append(t, buf, n);
	metrics_tally_commit(t, true);
	CHECK_INT(tally_of(t, "web", "rustock"), 4);
	/* Names differing only across the boundary stay apart. */
	n = make_event(buf, sizeof buf, "webr", "ustock");
	metrics_tally_append(t, buf, n);
	metrics_tally_commit(t, true);
	CHECK_INT(tally_of(t, "webr", "ustock"), 1);
	CHECK_INT(tally_of(t, "web", "rustock"), 4);
	/* A record cut short counts with what could be read; one shorter than a header not at all. */
	metrics_tally_append(t, buf, 10);
	metrics_tally_commit(t, true);
	/* Past the table's size every new pair goes to the overflow entry. */
	char fam[32];
	for (int i = 0; i < METRICS_TALLY_MAX + 10; i++) {
		snprintf(fam, sizeof fam, "f%d", i);
		n = make_event(buf, sizeof buf, "many", fam);
		metrics_tally_append(t, buf, n);
		metrics_tally_commit(t, true);
	}
	CHECK_INT(metrics_tally_count(t), METRICS_TALLY_MAX + 1);
	uint64_t sum = 0;
	for (size_t i = 0; i < metrics_tally_count(t); i++) {
		struct metrics_tally_entry_view v;
		metrics_tally_get(t, i, &v);
		sum += v.events;
	}
	CHECK_INT(sum, 4 + 1 + 1 + 1 + METRICS_TALLY_MAX + 10);
	CHECK(tally_of(t, "(other)", "(other)") > 10);
	metrics_tally_free(t);
}

static int render_fixed(void *arg, struct dynbuf *out)
{
	(*(int *)arg)++;
	return dynbuf_adds(out, "m 1\n");
}

static int render_fail(void *arg, struct dynbuf *out)
{
	(void)arg;
	(void)out;
	return ERR_NOMEM;
}

static void answer(const char *req, size_t len, metrics_http_render_fn fn, int *calls,
		   struct dynbuf *resp)
{
	dynbuf_reset(resp);
	int rc = metrics_http_answer(req, len, fn, calls, resp);
	CHECK_INT(rc, 0);
}

static bool starts(const struct dynbuf *b, const char *prefix)
{
	return b->data && !strncmp(b->data, prefix, strlen(prefix));
}

static bool ends(const struct dynbuf *b, const char *suffix)
{
	size_t n = strlen(suffix);
	return b->len >= n && !memcmp(b->data + b->len - n, suffix, n);
}

static void test_http(void)
{
	struct dynbuf r;
	dynbuf_init(&r, 1 << 16);
	int calls = 0;
	const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	answer(get, strlen(get), render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 200 OK\r\nContent-Type: " PROM_CONTENT_TYPE "\r\n"));
	CHECK(strstr(r.data, "Content-Length: 4\r\n") != NULL);
	CHECK(ends(&r, "\r\n\r\nm 1\n"));
	CHECK_INT(calls, 1);
	/* Every prefix of the head needs more; nothing is rendered for them. */
	for (size_t i = 0; i < strlen(get); i++) {
		dynbuf_reset(&r);
		CHECK_INT(metrics_http_answer(get, i, render_fixed, &calls, &r), ERR_NEED_MORE);
		CHECK_INT(r.len, 0);
	}
	CHECK_INT(calls, 1);
	const char *head = "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n";
	answer(head, strlen(head), render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 200 OK\r\n"));
	CHECK(strstr(r.data, "Content-Length: 4\r\n") != NULL);
	CHECK(ends(&r, "\r\n\r\n"));
	const char *other = "GET /metricsx HTTP/1.1\r\n\r\n";
	answer(other, strlen(other), render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 404 "));
	const char *post = "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
	answer(post, strlen(post), render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 405 "));
	CHECK(strstr(r.data, "\r\nAllow: GET, HEAD\r\n") != NULL);
	const char *lower = "get /metrics HTTP/1.1\r\n\r\n";
	answer(lower, strlen(lower), render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 405 "));
	const char *bad = "GET /metrics HTTP/2.0\r\n\r\n";
	answer(bad, strlen(bad), render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 400 "));
	const char *nul = "GET /met\0rics HTTP/1.1\r\n\r\n";
	answer(nul, 26, render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 400 "));
	CHECK_INT(calls, 2);
	/* A head that never ends within the limit. */
	char *big = malloc(METRICS_HTTP_HEAD_MAX);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', METRICS_HTTP_HEAD_MAX - 26);
	answer(big, METRICS_HTTP_HEAD_MAX, render_fixed, &calls, &r);
	CHECK(starts(&r, "HTTP/1.1 431 "));
	free(big);
	answer(get, strlen(get), render_fail, NULL, &r);
	CHECK(starts(&r, "HTTP/1.1 500 "));
	CHECK(strstr(r.data, "Connection: close\r\n") != NULL);
	dynbuf_free(&r);
}

static void test_web(void)
{
	static const char *const routes[] = { "api_summary", "static" };
	struct metrics_web *m = calloc(1, sizeof *m);
	CHECK_INT(metrics_web_init(m, routes, 0, 0), ERR_INVAL);
	static const char *const empty[] = { "" };
	CHECK_INT(metrics_web_init(m, empty, 1, 0), ERR_INVAL);
	CHECK_INT(metrics_web_init(m, routes, 2, 1000000), 0);
	metrics_web_request(m, 0, 200, 100);
	metrics_web_request(m, 0, 200, 50);
	metrics_web_request(m, 0, 401, 10);
	metrics_web_request(m, 1, 304, 0);
	metrics_web_request(m, 2, 200, 5); /* no such route: ignored */
	metrics_web_request(m, 0, 600, 5); /* no such status: ignored */
	metrics_web_auth_failure(m);
	metrics_web_conn_open(m);
	metrics_web_conn_open(m);
	metrics_web_conn_close(m);
	struct metrics_web_store st = { .events = 12, .lag_known = true, .lag_bytes = 34 };
	struct dynbuf b;
	dynbuf_init(&b, 1 << 16);
	CHECK_INT(metrics_web_render(&b, m, "9.9", 3500000, &st), 0);
	CHECK(strstr(b.data, "sinkd_build_info{component=\"web\",version=\"9.9\"} 1\n") != NULL);
	CHECK(strstr(b.data, "\nsinkd_uptime_seconds 2\n") != NULL);
	CHECK(strstr(b.data, "\nsinkd_web_requests_total{route=\"api_summary\",code=\"2xx\"} 2\n"));
	CHECK(strstr(b.data, "\nsinkd_web_requests_total{route=\"api_summary\",code=\"4xx\"} 1\n"));
	CHECK(strstr(b.data, "\nsinkd_web_requests_total{route=\"static\",code=\"2xx\"} 0\n"));
	CHECK(strstr(b.data, "\nsinkd_web_requests_total{route=\"static\",code=\"3xx\"} 1\n"));
	CHECK(strstr(b.data, "code=\"5xx\"") == NULL);
	CHECK(strstr(b.data, "\nsinkd_web_sent_bytes_total 160\n") != NULL);
	CHECK(strstr(b.data, "\nsinkd_web_auth_failures_total 1\n") != NULL);
	CHECK(strstr(b.data, "\nsinkd_web_connections_open 1\n") != NULL);
	CHECK(strstr(b.data, "\nsinkd_web_connections_accepted_total 2\n") != NULL);
	CHECK(strstr(b.data, "\nsinkd_store_events 12\n") != NULL);
	CHECK(strstr(b.data, "\nsinkd_consumer_lag_bytes{consumer=\"store\"} 34\n") != NULL);
	dynbuf_reset(&b);
	CHECK_INT(metrics_web_render(&b, m, "9.9", 3500000, NULL), 0);
	CHECK(strstr(b.data, "sinkd_store_events") == NULL);
	dynbuf_free(&b);
	free(m);
}

/* Consumer lag: bytes of log between two positions, segments in between counted by size. */
static void test_log_distance(void)
{
	char *dir = tmpdir_new_named("metrics");
	CHECK(dir != NULL);
	if (!dir)
		return;
	static const size_t sizes[] = { 1000, 500, 300 };
	char path[512], zero[1000] = { 0 };
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%016u.seg", dir, i + 1);
		FILE *f = fopen(path, "w");
		CHECK(f && fwrite(zero, 1, sizes[i], f) == sizes[i]);
		if (f)
			fclose(f);
	}
	static const struct {
		struct log_pos from, to;
		int rc;
		uint64_t bytes;
	} v[] = {
		{ { 0, 0 }, { 1, 400 }, 0, 400 },   { { 1, 100 }, { 1, 400 }, 0, 300 },
		{ { 1, 400 }, { 1, 100 }, 0, 0 },   { { 1, 400 }, { 1, 400 }, 0, 0 },
		{ { 1, 900 }, { 3, 50 }, 0, 650 },  { { 0, 0 }, { 3, 300 }, 0, 1800 },
		{ { 2, 600 }, { 3, 10 }, 0, 10 },   { { 3, 10 }, { 2, 400 }, 0, 0 },
		{ { 1, 0 }, { 5, 0 }, ERR_SYS, 0 },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint64_t bytes = 12345;
		CHECK_INT(log_distance(dir, &v[i].from, &v[i].to, &bytes), v[i].rc);
		if (v[i].rc == 0)
			CHECK_INT(bytes, v[i].bytes);
	}
	rm_rf(dir);

	struct log_pos_shared sh = { 0 };
	struct log_pos p;
	log_pos_read(&sh, &p);
	CHECK(p.segment == 0 && p.offset == 0);
	log_pos_publish(&sh, &(struct log_pos){ 7, UINT64_C(1) << 40 });
	log_pos_read(&sh, &p);
	CHECK(p.segment == 7 && p.offset == UINT64_C(1) << 40);
}

/* --- threads: the log writer fills the tally while scrapes read it; the admin thread serves -- */

#define THREAD_RECORDS 20000

struct writer_arg {
	struct metrics_tally *t;
	_Atomic bool done;
	_Atomic unsigned failed; /* events that could not be built (checked by the main thread) */
};

static void *tally_writer(void *arg)
{
	struct writer_arg *wa = arg;
	static const char *const fams[] = { "a", "b", "c" };
	uint8_t buf[512];
	for (int i = 0; i < THREAD_RECORDS; i++) {
		size_t n = build_event(buf, sizeof buf, "l", fams[i % 3]);
		if (!n)
			atomic_fetch_add(&wa->failed, 1);
		metrics_tally_append(wa->t, buf, n);
		if (i % 7 == 6)
			metrics_tally_commit(wa->t, true);
	}
	metrics_tally_commit(wa->t, true);
	atomic_store(&wa->done, true);
	return NULL;
}

/* Any thread: the tally's total; *ok false if an entry is not listener "l". */
static uint64_t tally_sum(const struct metrics_tally *t, bool *ok)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < metrics_tally_count(t); i++) {
		struct metrics_tally_entry_view v;
		metrics_tally_get(t, i, &v);
		if (v.listener_len != 1 || v.listener[0] != 'l')
			*ok = false;
		sum += v.events;
	}
	return sum;
}

static int render_count(void *arg, struct dynbuf *out)
{
	bool ok = true;
	uint64_t sum = tally_sum(arg, &ok);
	return dynbuf_printf(out, "sum %llu %s\n", (unsigned long long)sum, ok ? "ok" : "bad");
}

static void test_threads(void)
{
	struct writer_arg wa = { 0 };
	CHECK_INT(metrics_tally_new(&wa.t), 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct metrics_http *s = NULL;
	CHECK_INT(metrics_http_open(&s, (struct sockaddr *)&sa, sizeof sa, render_count, wa.t), 0);
	if (!s)
		return;
	uint16_t port = metrics_http_port(s);
	CHECK(port != 0);
	CHECK_INT(metrics_http_start(s), 0);
	pthread_t th;
	CHECK_INT(pthread_create(&th, NULL, tally_writer, &wa), 0);
	/* Scrapes over real sockets while the writer runs: every sum read is a whole number of commits. */
	uint64_t last = 0;
	int scrapes = 0;
	while (!atomic_load(&wa.done) || scrapes < 3) {
		bool ok = true;
		uint64_t now = tally_sum(wa.t, &ok);
		CHECK(ok && now >= last && now <= THREAD_RECORDS);
		last = now;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		sa.sin_port = htons(port);
		CHECK_INT(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
		const char *req = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
		CHECK_INT(write(fd, req, strlen(req)), (long long)strlen(req));
		char resp[1024];
		size_t got = 0;
		ssize_t n;
		while (got < sizeof resp - 1 &&
		       (n = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
			got += (size_t)n;
		resp[got] = '\0';
		close(fd);
		CHECK(!strncmp(resp, "HTTP/1.1 200 OK\r\n", 17));
		CHECK(strstr(resp, "\r\n\r\nsum ") != NULL && strstr(resp, " ok\n") != NULL);
		scrapes++;
	}
	pthread_join(th, NULL);
	bool ok = true;
	CHECK_INT(tally_sum(wa.t, &ok), THREAD_RECORDS);
	CHECK(ok);
	CHECK_INT(atomic_load(&wa.failed), 0);
	metrics_http_stop(s);
	metrics_tally_free(wa.t);
}

int main(void)
{
	test_names();
	test_exposition();
	test_errors();
	test_tally();
	test_http();
	test_web();
	test_log_distance();
	test_threads();
	return check_done("test_metrics");
}
