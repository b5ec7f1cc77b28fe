/* fuzz_chunked.c — libFuzzer harness: chunked decoder, whole versus split feeding. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "proto/http/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* What the decoder reported: amount and a running hash of the data bytes, in order. */
struct sink {
	const uint8_t *lo, *hi;
	size_t bytes;
	uint64_t hash;
};

static void on_data(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;

	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(p >= s->lo && n <= (size_t)(s->hi - p));
	for (size_t i = 0; i < n; i++)
		s->hash = (s->hash ^ p[i]) * 0x100000001b3ull; /* FNV-1a */
	s->bytes += n;
}

/*
 * Feeds the input in pieces whose sizes come from `step` (1 = byte at a
 * time, 0 = whole). Returns the code; *used is the total input consumed.
 */
static int feed(const uint8_t *in, size_t len, size_t step, struct sink *s, size_t *used)
{
	struct http_chunked c;
	int rc = ERR_NEED_MORE;

	http_chunked_init(&c);
	*used = 0;
	s->lo = in;
	s->hi = in + len;
	s->bytes = 0;
	s->hash = 0xcbf29ce484222325ull;
	do {
		size_t left = len - *used;
		size_t n = step == 0 || step > left ? left : step;
		size_t got = 0;

		rc = http_chunked_feed(&c, in + *used, n, &got, on_data, s);
		FUZZ_CHECK(got <= n);
		FUZZ_CHECK(rc != ERR_NEED_MORE || got == n);
		*used += got;
	} while (rc == ERR_NEED_MORE && *used < len);
	FUZZ_CHECK(rc == 0 || rc == ERR_NEED_MORE || rc == ERR_MALFORMED || rc == ERR_LIMIT);
	FUZZ_CHECK(s->bytes <= *used);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sink whole, part;
	size_t used_whole, used_part;
	static const size_t steps[] = { 1, 2, 5, 64 };
	int rc = feed(data, size, 0, &whole, &used_whole);

	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		int rc2 = feed(data, size, steps[i], &part, &used_part);
		FUZZ_CHECK(rc2 == rc);
		FUZZ_CHECK(used_part == used_whole);
		FUZZ_CHECK(part.bytes == whole.bytes && part.hash == whole.hash);
	}

	/* Errors and the end are sticky: more input changes nothing. */
	if (rc != ERR_NEED_MORE) {
		struct http_chunked c;
		size_t used = 0, more = 0;
		struct sink s = { data, data + size, 0, 0 };

		http_chunked_init(&c);
		FUZZ_CHECK(http_chunked_feed(&c, data, size, &used, on_data, &s) == rc);
		FUZZ_CHECK(http_chunked_feed(&c, data, size, &more, on_data, &s) == rc);
		FUZZ_CHECK(rc != 0 || more == 0);
	}
	return 0;
}
