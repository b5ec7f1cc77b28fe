/* fuzz_smtp_msg.c — libFuzzer harness: DATA unstuffing and the header parser (whole and in pieces must agree), RFC 2047 decoding. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp/smtp_campaign.h"
#include "proto/smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#define OUT_MAX (1u << 16)

struct out {
	uint8_t *buf;
	size_t len;
	struct smtp_hdrs *h;
	size_t hdr_bytes;
};

static void collect(void *ctx, const uint8_t *p, size_t n)
{
	struct out *o = ctx;
	FUZZ_CHECK(n > 0);
	size_t k = n < OUT_MAX - o->len ? n : OUT_MAX - o->len;
	memcpy(o->buf + o->len, p, k);
	o->len += k;
	if (!o->h->done) {
		size_t used = smtp_hdrs_feed(o->h, p, n);
		FUZZ_CHECK(used <= n);
		FUZZ_CHECK(used == n || o->h->done);
		o->hdr_bytes += used;
	}
}

struct dec_out {
	uint8_t *buf;
	size_t len;
};

static void dec_collect(void *ctx, const uint8_t *p, size_t n)
{
	struct dec_out *o = ctx;
	FUZZ_CHECK(n <= OUT_MAX - o->len);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Runs the decoder over data in pieces of `step` bytes (0 = whole); returns bytes consumed. */
static size_t run(const uint8_t *data, size_t size, size_t step, struct out *o, bool *done,
		  struct smtp_data *d)
{
	smtp_data_init(d);
	smtp_hdrs_init(o->h);
	o->len = 0;
	o->hdr_bytes = 0;
	size_t off = 0;
	*done = false;
	while (off < size && !*done) {
		size_t k = step && step < size - off ? step : size - off;
		size_t used = smtp_data_feed(d, data + off, k, done, collect, o);
		FUZZ_CHECK(used <= k);
		/* Nothing is ever held back: all is consumed up to the terminator. */
		FUZZ_CHECK(*done || used == k);
		off += used;
	}
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out a = { malloc(OUT_MAX), 0, malloc(sizeof(struct smtp_hdrs)), 0 };
	struct out b = { malloc(OUT_MAX), 0, malloc(sizeof(struct smtp_hdrs)), 0 };
	if (!a.buf || !b.buf || !a.h || !b.h)
		goto out;
	struct smtp_data da, db;
	bool done_a, done_b;
	size_t ua = run(data, size, 0, &a, &done_a, &da);
	size_t step = size ? 1 + data[0] % 7 : 1;
	size_t ub = run(data, size, step, &b, &done_b, &db);
	/* Pieces or whole: the same message, the same end, the same headers. */
	FUZZ_CHECK(ua == ub && done_a == done_b);
	FUZZ_CHECK(a.len == b.len && !memcmp(a.buf, b.buf, a.len));
	FUZZ_CHECK(a.len <= ua);
	FUZZ_CHECK(da.bare_lf == db.bare_lf && da.nul == db.nul && da.long_line == db.long_line);
	FUZZ_CHECK(a.hdr_bytes == b.hdr_bytes && a.h->done == b.h->done);
	FUZZ_CHECK(a.h->order_len == b.h->order_len &&
		   !memcmp(a.h->order, b.h->order, a.h->order_len));
	FUZZ_CHECK(a.h->order_len <= SMTP_HDR_ORDER_MAX && a.h->n_headers <= SMTP_HDR_COUNT_MAX);
	for (int i = 0; i < SMTP_H_COUNT; i++) {
		struct smtp_slice sa = smtp_hdrs_get(a.h, (enum smtp_hdr_id)i);
		struct smtp_slice sb = smtp_hdrs_get(b.h, (enum smtp_hdr_id)i);
		FUZZ_CHECK(sa.len == sb.len && sa.len <= SMTP_HDR_VALUE_MAX);
		FUZZ_CHECK(!sa.len || !memcmp(sa.ptr, sb.ptr, sa.len));
	}
	if (done_a) {
		/* The terminator is a "." line: the consumed input ends with LF. */
		FUZZ_CHECK(ua > 0 && data[ua - 1] == '\n');
	}
	/* RFC 2047 decoding of any bytes, as a whole and of each kept value, stays in bounds. */
	char dec[SMTP_HDR_VALUE_MAX];
	FUZZ_CHECK(smtp_decode_words((const char *)data, size, dec, sizeof dec) <= sizeof dec);
	for (int i = 0; i < SMTP_H_COUNT; i++) {
		struct smtp_slice sv = smtp_hdrs_get(a.h, (enum smtp_hdr_id)i);
		if (sv.ptr)
			FUZZ_CHECK(smtp_decode_words(sv.ptr, sv.len, dec, sizeof dec) <=
				   sizeof dec);
	}
	/* Transfer decoding of the body: whole or in pieces, the same bytes, never more than in. */
	static const char *const ctes[] = { "quoted-printable", "base64", "7bit" };
	for (int k = 0; k < 3; k++) {
		struct smtp_slice cte = { ctes[k], strlen(ctes[k]) }, none = { NULL, 0 };
		struct smtp_body_dec d1, d2;
		smtp_body_dec_init(&d1, cte, none);
		smtp_body_dec_init(&d2, cte, none);
		size_t body_len = a.len - a.hdr_bytes;
		if (body_len > OUT_MAX / 2)
			body_len = OUT_MAX / 2;
		const uint8_t *body = a.buf + a.hdr_bytes;
		struct dec_out x = { malloc(OUT_MAX), 0 }, y = { malloc(OUT_MAX), 0 };
		if (x.buf && y.buf) {
			smtp_body_dec_feed(&d1, body, body_len, dec_collect, &x);
			for (size_t off = 0; off < body_len; off += step)
				smtp_body_dec_feed(&d2, body + off,
						   body_len - off < step ? body_len - off : step,
						   dec_collect, &y);
			FUZZ_CHECK(x.len == y.len && !memcmp(x.buf, y.buf, x.len));
			FUZZ_CHECK(x.len <= body_len + 2);
		}
		free(x.buf);
		free(y.buf);
	}
	/* The body digest never fails on any bytes. */
	struct smtp_fuzzy f;
	char digest[SMTP_CAMPAIGN_DIGEST_MAX];
	if (smtp_fuzzy_init(&f) == 0) {
		smtp_fuzzy_update(&f, a.buf + a.hdr_bytes, a.len - a.hdr_bytes);
		FUZZ_CHECK(smtp_fuzzy_digest(&f, digest) == 0 && strlen(digest) < sizeof digest);
		smtp_fuzzy_free(&f);
	}
out:
	free(a.buf);
	free(b.buf);
	free(a.h);
	free(b.h);
	return 0;
}
