/* fuzz_metrics_http.c — libFuzzer harness: the admin listener's answer to hostile request heads. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "metrics/metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static int render(void *arg, struct dynbuf *out)
{
	(*(unsigned *)arg)++;
	return dynbuf_adds(out, "sinkd_up 1\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The listener never holds more than METRICS_HTTP_HEAD_MAX bytes of a head. */
	if (size > METRICS_HTTP_HEAD_MAX)
		size = METRICS_HTTP_HEAD_MAX;
	/* A copy of exactly `size` bytes, so ASan sees any read past the end. */
	char *buf = malloc(size ? size : 1);
	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	struct dynbuf resp;
	dynbuf_init(&resp, 1 << 16);
	unsigned calls = 0;
	int rc = metrics_http_answer(buf, size, render, &calls, &resp);
	if (rc == ERR_NEED_MORE) {
		FUZZ_CHECK(size < METRICS_HTTP_HEAD_MAX && resp.len == 0 && calls == 0);
	} else {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(resp.len > 12 && !memcmp(resp.data, "HTTP/1.1 ", 9));
		bool ok = !memcmp(resp.data + 9, "200 ", 4);
		/* Only a 200 renders, exactly once; every answer closes the connection. */
		FUZZ_CHECK(calls == (ok ? 1u : 0u));
		FUZZ_CHECK(ok || !memcmp(resp.data + 9, "400 ", 4) ||
			   !memcmp(resp.data + 9, "404 ", 4) || !memcmp(resp.data + 9, "405 ", 4) ||
			   !memcmp(resp.data + 9, "431 ", 4));
		FUZZ_CHECK(strstr(resp.data, "\r\nConnection: close\r\n\r\n") != NULL);
	}
	dynbuf_free(&resp);
	free(buf);
	return 0;
}
