/* fuzz_http.c — libFuzzer harness: HTTP head parser, pipelining and body framing. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "proto/http/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Invariant checks abort, so libFuzzer and the replay both report them as crashes. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#define MAX_PIPELINED	 16
#define PREFIX_CHECK_MAX 512

struct body_sink {
	const uint8_t *lo, *hi; /* the input; every data run must lie inside it */
	size_t bytes;
};

static void on_body(void *ctx, const uint8_t *p, size_t n)
{
	struct body_sink *s = ctx;

	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(p >= s->lo && n <= (size_t)(s->hi - p));
	s->bytes += n;
}

static bool inside(struct http_slice s, const char *buf, size_t len)
{
	if (s.len == 0)
		return true;
	return s.ptr >= buf && s.len <= len && (size_t)(s.ptr - buf) <= len - s.len;
}

static void check_request(const struct http_request *r, const char *buf, size_t len,
			  const struct http_parse_limits *lim)
{
	struct http_slice all[] = { r->method,	   r->target,  r->path,		r->query, r->host,
				    r->user_agent, r->referer, r->content_type, r->xff };

	FUZZ_CHECK(r->head_len > 0 && r->head_len <= len && r->head_len <= lim->max_head_bytes);
	FUZZ_CHECK(r->n_headers <= lim->max_headers);
	FUZZ_CHECK(r->version_minor <= 1);
	FUZZ_CHECK(r->method.len > 0 && r->target.len > 0);
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		FUZZ_CHECK(inside(all[i], buf, r->head_len));
	for (size_t i = 0; i < r->n_headers; i++) {
		FUZZ_CHECK(r->headers[i].name.len > 0);
		FUZZ_CHECK(inside(r->headers[i].name, buf, r->head_len));
		FUZZ_CHECK(inside(r->headers[i].value, buf, r->head_len));
	}
	FUZZ_CHECK(r->body_kind != HTTP_BODY_CHUNKED || r->content_length == 0);
}

/*
 * Decodes a chunked body whole and again one byte at a time: both must agree
 * on the result, the bytes used and the amount of data. Returns the bytes used.
 */
static size_t run_chunked(const uint8_t *in, size_t len)
{
	struct http_chunked c;
	struct body_sink whole = { in, in + len, 0 }, bytewise = { in, in + len, 0 };
	size_t used = 0, total = 0;
	int rc, rc2 = ERR_NEED_MORE;

	http_chunked_init(&c);
	rc = http_chunked_feed(&c, in, len, &used, on_body, &whole);
	FUZZ_CHECK(used <= len && whole.bytes <= used);
	FUZZ_CHECK(rc == 0 || rc == ERR_NEED_MORE || rc == ERR_MALFORMED || rc == ERR_LIMIT);
	FUZZ_CHECK(rc != ERR_NEED_MORE || used == len);

	http_chunked_init(&c);
	while (rc2 == ERR_NEED_MORE && total < len) {
		size_t one = 0;
		rc2 = http_chunked_feed(&c, in + total, 1, &one, on_body, &bytewise);
		FUZZ_CHECK(one <= 1);
		total += one;
	}
	FUZZ_CHECK(rc2 == rc && total == used && bytewise.bytes == whole.bytes);
	return rc == 0 ? used : len;
}

/* Parses one request at buf; returns the bytes it spans, or 0 if the stream stops here. */
static size_t one_request(const char *buf, size_t len, const struct http_parse_limits *lim)
{
	static struct http_header hdrs[HTTP_MAX_HEADERS_HARD];
	struct http_request r;
	const char *why = NULL;
	int rc = http_parse_request(buf, len, &r, hdrs, lim, &why);

	FUZZ_CHECK(rc == 0 || rc == ERR_NEED_MORE || rc == ERR_MALFORMED || rc == ERR_LIMIT);
	FUZZ_CHECK(rc != ERR_MALFORMED || why != NULL);
	if (rc != 0)
		return 0;
	check_request(&r, buf, len, lim);

	/* Restartable and exact: the head alone parses the same, one byte less asks for more. */
	size_t head = r.head_len;
	struct http_request again;
	FUZZ_CHECK(http_parse_request(buf, head, &again, hdrs, lim, NULL) == 0);
	FUZZ_CHECK(again.head_len == head);
	FUZZ_CHECK(http_parse_request(buf, head - 1, &again, hdrs, lim, NULL) == ERR_NEED_MORE);
	/* Every shorter prefix too, for heads small enough to afford it. */
	for (size_t k = 0; head <= PREFIX_CHECK_MAX && k + 1 < head; k++)
		FUZZ_CHECK(http_parse_request(buf, k, &again, hdrs, lim, NULL) == ERR_NEED_MORE);

	const uint8_t *body = (const uint8_t *)buf + head;
	size_t left = len - head;
	if (r.body_kind == HTTP_BODY_CHUNKED)
		return head + run_chunked(body, left);
	if (r.body_kind == HTTP_BODY_LENGTH)
		return head + (r.content_length < left ? (size_t)r.content_length : left);
	return r.keep_alive ? head : len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Default-like limits, and tight ones so the limit paths are reached too. */
	static const struct http_parse_limits limits[] = { { 8192, 64 }, { 96, 3 } };

	for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
		const char *p = (const char *)data;
		size_t left = size;

		for (int i = 0; i < MAX_PIPELINED && left > 0; i++) {
			size_t used = one_request(p, left, &limits[l]);
			if (used == 0)
				break;
			FUZZ_CHECK(used <= left);
			p += used;
			left -= used;
		}
	}
	return 0;
}
