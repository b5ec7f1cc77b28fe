/* fuzz_proxy.c — libFuzzer harness: PROXY v1/v2 parser and v2 encode/parse round trip. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX_CHECK_MAX 512

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static bool same_addr(const struct event_addr *a, const struct event_addr *b)
{
	return a->ipver == b->ipver && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

/* A parsed PROXY result, encoded as v2 and parsed back, gives the same endpoints. */
static void round_trip(const struct proxy_result *res)
{
	uint8_t out[64];
	struct proxy_result back;
	int n = proxy_v2_encode(&res->src, &res->dst, out, sizeof out);

	FUZZ_CHECK(n == (res->src.ipver == 4 ? 28 : 52));
	FUZZ_CHECK(proxy_parse(out, (size_t)n, &back, NULL) == 0);
	FUZZ_CHECK(back.version == 2 && back.kind == PROXY_KIND_PROXY && back.transport == 6);
	FUZZ_CHECK(back.header_len == (size_t)n);
	FUZZ_CHECK(same_addr(&back.src, &res->src) && same_addr(&back.dst, &res->dst));
	FUZZ_CHECK(proxy_v2_encode(&res->src, &res->dst, out, (size_t)n - 1) == ERR_INVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_result res, again;
	const char *why = NULL;
	int rc = proxy_parse(data, size, &res, &why);

	FUZZ_CHECK(rc == 0 || rc == ERR_NEED_MORE || rc == ERR_MALFORMED);
	FUZZ_CHECK(rc != ERR_MALFORMED || why != NULL);
	if (rc == ERR_NEED_MORE) {
		/* v1 ends within 107 bytes; v2 within 16 + its capped length. */
		FUZZ_CHECK(size < 16 + PROXY_V2_MAX_LEN);
		return 0;
	}
	if (rc != 0)
		return 0;

	FUZZ_CHECK(res.version == 1 || res.version == 2);
	FUZZ_CHECK(res.header_len > 0 && res.header_len <= size);
	FUZZ_CHECK(res.version != 1 || res.header_len <= PROXY_V1_MAX);
	FUZZ_CHECK(res.version != 2 || res.header_len <= 16 + PROXY_V2_MAX_LEN);

	/* The header alone parses the same; every shorter prefix is a valid one. */
	FUZZ_CHECK(proxy_parse(data, res.header_len, &again, NULL) == 0);
	FUZZ_CHECK(again.header_len == res.header_len && again.kind == res.kind);
	for (size_t k = 0; k < res.header_len; k++) {
		if (res.header_len > PREFIX_CHECK_MAX && k + 1 < res.header_len && k > 32)
			continue; /* long v2 bodies: the header part and the last byte suffice */
		FUZZ_CHECK(proxy_parse(data, k, &again, NULL) == ERR_NEED_MORE);
	}

	if (res.kind == PROXY_KIND_PROXY) {
		FUZZ_CHECK(res.src.ipver == 4 || res.src.ipver == 6);
		FUZZ_CHECK(res.src.ipver == res.dst.ipver);
		FUZZ_CHECK(res.transport == 6 || res.transport == 17);
		round_trip(&res);
	} else {
		FUZZ_CHECK(res.kind == PROXY_KIND_LOCAL && res.transport == 0);
	}
	return 0;
}
