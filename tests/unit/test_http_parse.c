/* test_http_parse.c — HTTP head parser and chunked decoder tests, from tests/vectors/http/. */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vec.h"
#include "core/err.h"
#include "proto/http/http_parse.h"

/* ------------------------------------------------------------------------- */
/* Head parser                                                               */

static struct http_header hdrs[HTTP_MAX_HEADERS_HARD + 8];

static struct http_parse_limits vec_limits(const struct vec_case *vc)
{
	struct http_parse_limits lim = { 8192, 64 };
	uint64_t v;

	if (vec_u64(vc, "max_head", &v))
		lim.max_head_bytes = (size_t)v;
	if (vec_u64(vc, "max_headers", &v))
		lim.max_headers = (size_t)v;
	return lim;
}

/* Every slice must lie inside the input: the parser returns views, never copies. */
static bool inside(struct http_slice s, const char *buf, size_t len)
{
	if (s.len == 0)
		return true;
	return s.ptr >= buf && s.len <= len && (size_t)(s.ptr - buf) <= len - s.len;
}

static void check_slices(const struct vec_case *vc, const struct http_request *r)
{
	const char *b = vc->in;
	size_t n = vc->in_len;
	struct http_slice all[] = { r->method,	   r->target,  r->path,		r->query, r->host,
				    r->user_agent, r->referer, r->content_type, r->xff };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		CHECK(inside(all[i], b, n));
	for (size_t i = 0; i < r->n_headers; i++)
		CHECK(inside(r->headers[i].name, b, n) && inside(r->headers[i].value, b, n));
	CHECK(r->head_len <= n);
}

static void check_http_fields(const struct vec_case *vc, const struct http_request *r)
{
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
		{ "method", offsetof(struct http_request, method) },
		{ "target", offsetof(struct http_request, target) },
		{ "path", offsetof(struct http_request, path) },
		{ "query", offsetof(struct http_request, query) },
		{ "host", offsetof(struct http_request, host) },
		{ "user_agent", offsetof(struct http_request, user_agent) },
		{ "referer", offsetof(struct http_request, referer) },
		{ "content_type", offsetof(struct http_request, content_type) },
		{ "xff", offsetof(struct http_request, xff) },
	};
	size_t hdr_i = 0;
	uint64_t v;

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const struct vec_kv *kv = vec_get(vc, fields[i].key);
		const struct http_slice *s =
			(const struct http_slice *)((const char *)r + fields[i].off);
		if (kv)
			CHECK_SLICE(s->ptr, s->len, kv->val);
	}
	if (vec_u64(vc, "version", &v))
		CHECK_INT(r->version_minor, v);
	if (vec_u64(vc, "n_headers", &v))
		CHECK_INT(r->n_headers, v);
	if (vec_u64(vc, "length", &v))
		CHECK_INT(r->content_length, v);
	if (vec_u64(vc, "keep_alive", &v))
		CHECK_INT(r->keep_alive, v);
	if (vec_u64(vc, "expect", &v))
		CHECK_INT(r->expect_continue, v);
	if (vec_u64(vc, "head_len", &v))
		CHECK_INT(r->head_len, v);
	const struct vec_kv *body = vec_get(vc, "body");
	if (body) {
		int kind = strcmp(body->val, "chunked") == 0 ? HTTP_BODY_CHUNKED :
			   strcmp(body->val, "length") == 0  ? HTTP_BODY_LENGTH :
							       HTTP_BODY_NONE;
		CHECK_INT(r->body_kind, kind);
	}
	/* "hdr Name:value" lines are compared with the headers in order. */
	for (size_t i = 0; i < vc->n_kv; i++) {
		const struct vec_kv *kv = &vc->kv[i];
		char got[2 * VEC_MAX_VAL];

		if (strcmp(kv->key, "hdr") != 0)
			continue;
		if (hdr_i >= r->n_headers) {
			CHECK(hdr_i < r->n_headers);
			break;
		}
		const struct http_header *h = &r->headers[hdr_i++];
		snprintf(got, sizeof got, "%.*s:%.*s", (int)h->name.len, h->name.ptr,
			 (int)h->value.len, h->value.ptr);
		CHECK_STR(got, kv->val);
	}
}

/*
 * Runs the parser on every prefix too. Before the head ends a prefix can
 * only be "need more"; from there on it must give the same head_len, so a
 * parser that answers early on partial input is caught.
 */
static void check_http_prefixes(const struct vec_case *vc, int want, size_t head_len,
				const struct http_parse_limits *lim)
{
	struct http_request r;

	for (size_t k = 0; k < vc->in_len; k++) {
		char *copy = malloc(k ? k : 1);
		if (!copy)
			abort();
		memcpy(copy, vc->in, k);
		int rc = http_parse_request(copy, k, &r, hdrs, lim, NULL);
		if (want == 0 && k < head_len && rc != ERR_NEED_MORE) {
			fprintf(stderr, "%s: prefix %zu gave %d\n", vc->name, k, rc);
			CHECK_INT(rc, ERR_NEED_MORE);
		} else if (want == 0 && k >= head_len) {
			CHECK_INT(rc, 0);
			CHECK_INT(r.head_len, head_len);
		} else if (want != 0 && rc == 0) {
			fprintf(stderr, "%s: prefix %zu parsed though the whole is bad\n", vc->name,
				k);
			CHECK(rc != 0);
		}
		free(copy);
	}
}

static void run_http(const struct vec_case *vc)
{
	struct http_parse_limits lim = vec_limits(vc);
	struct http_request r;
	const char *why = NULL;
	int want = vec_want_code(vc);

	/* An exact-size heap copy, so ASan sees any read past the input. */
	char *buf = malloc(vc->in_len ? vc->in_len : 1);
	if (!buf)
		abort();
	memcpy(buf, vc->in, vc->in_len);
	int rc = http_parse_request(buf, vc->in_len, &r, hdrs, &lim, &why);
	if (rc != want)
		fprintf(stderr, "%s:%d: %s: got %d (%s), want %d\n", vc->file, vc->line, vc->name,
			rc, why ? why : "-", want);
	CHECK_INT(rc, want);
	free(buf);

	/* Re-parse over the static copy so slices can be checked against vc->in. */
	rc = http_parse_request(vc->in, vc->in_len, &r, hdrs, &lim, &why);
	if (rc == 0) {
		check_slices(vc, &r);
		check_http_fields(vc, &r);
	}
	check_http_prefixes(vc, want, rc == 0 ? r.head_len : 0, &lim);
}

/* ------------------------------------------------------------------------- */
/* Chunked decoder                                                           */

struct sink {
	char buf[VEC_MAX_IN];
	size_t len;
	bool overflow;
};

static void sink_data(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;

	if (n == 0 || n > sizeof s->buf - s->len) {
		s->overflow = true; /* empty runs are a decoder bug too */
		return;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* Feeds in pieces of at most `step` bytes; returns the final code and total consumed. */
static int feed_steps(const struct vec_case *vc, size_t step, struct sink *s, size_t *total)
{
	struct http_chunked c;
	const uint8_t *in = (const uint8_t *)vc->in;
	int rc = ERR_NEED_MORE;

	http_chunked_init(&c);
	memset(s, 0, sizeof *s);
	*total = 0;
	while (rc == ERR_NEED_MORE && *total < vc->in_len) {
		size_t n = vc->in_len - *total < step ? vc->in_len - *total : step;
		size_t used = 0;
		rc = http_chunked_feed(&c, in + *total, n, &used, sink_data, s);
		CHECK(used <= n);
		if (rc == ERR_NEED_MORE)
			CHECK_INT(used, n);
		*total += used;
	}
	return rc;
}

static void run_chunked(const struct vec_case *vc)
{
	static struct sink whole, piece;
	size_t total_whole, total_piece;
	int want = vec_want_code(vc);
	uint64_t v;

	int rc = feed_steps(vc, vc->in_len ? vc->in_len : 1, &whole, &total_whole);
	if (rc != want)
		fprintf(stderr, "%s:%d: %s: got %d, want %d\n", vc->file, vc->line, vc->name, rc,
			want);
	CHECK_INT(rc, want);
	CHECK(!whole.overflow);
	const struct vec_kv *data = vec_get(vc, "data");
	if (data)
		CHECK_SLICE(whole.buf, whole.len, data->val);
	if (vec_u64(vc, "consumed", &v))
		CHECK_INT(total_whole, v);

	/* Byte at a time and in odd pieces, the decoder must agree with one feed. */
	static const size_t steps[] = { 1, 2, 3, 7 };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		int rc2 = feed_steps(vc, steps[i], &piece, &total_piece);
		CHECK_INT(rc2, rc);
		CHECK_INT(total_piece, total_whole);
		CHECK(!piece.overflow);
		CHECK(piece.len == whole.len && memcmp(piece.buf, whole.buf, whole.len) == 0);
	}
}

/* ------------------------------------------------------------------------- */
/* Cases easier to write in C                                                */

static void test_eq_nocase(void)
{
	struct http_slice s = { "Keep-Alive", 10 };

	CHECK(http_slice_eq_nocase(s, "keep-alive"));
	CHECK(http_slice_eq_nocase(s, "KEEP-ALIVE"));
	CHECK(!http_slice_eq_nocase(s, "keep-aliv"));
	CHECK(!http_slice_eq_nocase(s, "keep-alivee"));
	s.len = 0;
	CHECK(http_slice_eq_nocase(s, ""));
}

/* A configured limit above the hard cap is clamped to HTTP_MAX_HEADERS_HARD. */
static void test_hard_header_cap(void)
{
	static char buf[16384];
	size_t n = 0;
	struct http_parse_limits lim = { sizeof buf, 100000 };
	struct http_request r;

	n += (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS_HARD + 1; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "X: %d\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof buf - n, "\r\n");
	CHECK_INT(http_parse_request(buf, n, &r, hdrs, &lim, NULL), ERR_LIMIT);
}

/* Pipelining: a second request starts at head_len and parses on its own. */
static void test_pipeline_walk(void)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\n\n";
	struct http_parse_limits lim = { 8192, 16 };
	struct http_request r;
	size_t off = 0;

	CHECK_INT(http_parse_request(two, sizeof two - 1, &r, hdrs, &lim, NULL), 0);
	CHECK_SLICE(r.target.ptr, r.target.len, "/a");
	off = r.head_len;
	CHECK_INT(http_parse_request(two + off, sizeof two - 1 - off, &r, hdrs, &lim, NULL), 0);
	CHECK_SLICE(r.target.ptr, r.target.len, "/b");
	CHECK_INT(off + r.head_len, sizeof two - 1);
}

/* The chunked decoder stops exactly at the request end and stays done. */
static void test_chunked_done_sticky(void)
{
	static const uint8_t in[] = "3\r\nabc\r\n0\r\n\r\nGET";
	struct http_chunked c;
	struct sink s = { .len = 0 };
	size_t used = 0;

	http_chunked_init(&c);
	CHECK_INT(http_chunked_feed(&c, in, sizeof in - 1, &used, sink_data, &s), 0);
	CHECK_INT(used, sizeof in - 4);
	CHECK_INT(http_chunked_feed(&c, in + used, 3, &used, sink_data, &s), 0);
	CHECK_INT(used, 0);
	CHECK_SLICE(s.buf, s.len, "abc");

	/* Errors are sticky as well, and a NULL callback is allowed. */
	http_chunked_init(&c);
	CHECK_INT(http_chunked_feed(&c, (const uint8_t *)"z", 1, &used, NULL, NULL), ERR_MALFORMED);
	CHECK_INT(http_chunked_feed(&c, (const uint8_t *)"0", 1, &used, NULL, NULL), ERR_MALFORMED);
}

int main(void)
{
	int n = vec_load("vectors/http/requests.vec", run_http);
	CHECK(n > 0);
	n = vec_load("vectors/http/chunked.vec", run_chunked);
	CHECK(n > 0);
	test_eq_nocase();
	test_hard_header_cap();
	test_pipeline_walk();
	test_chunked_done_sticky();
	return check_done("test_http_parse");
}
