/* test_proxy.c — PROXY v1/v2 parser and v2 encoder tests, from tests/vectors/proxy/. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vec.h"
#include "core/err.h"
#include "net/proxy.h"

/* ------------------------------------------------------------------------- */
/* Parser                                                                    */

/* "addr port" as text, for comparison with the vector. */
static void addr_text(const struct event_addr *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "-";

	if (a->ipver == 4 || a->ipver == 6)
		inet_ntop(a->ipver == 4 ? AF_INET : AF_INET6, a->addr, ip, sizeof ip);
	snprintf(out, cap, "%s %u", ip, (unsigned)a->port);
}

static int parse_exact(const struct vec_case *vc, size_t len, struct proxy_result *res,
		       const char **why)
{
	/* An exact-size heap copy, so ASan sees any read past the input. */
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		abort();
	memcpy(buf, vc->in, len);
	int rc = proxy_parse(buf, len, res, why);
	free(buf);
	return rc;
}

static void check_result(const struct vec_case *vc, const struct proxy_result *res)
{
	const struct vec_kv *kv;
	char got[96];
	uint64_t v;

	if (vec_u64(vc, "version", &v))
		CHECK_INT(res->version, v);
	if (vec_u64(vc, "transport", &v))
		CHECK_INT(res->transport, v);
	if (vec_u64(vc, "header_len", &v))
		CHECK_INT(res->header_len, v);
	if ((kv = vec_get(vc, "kind")) != NULL)
		CHECK_INT(res->kind,
			  strcmp(kv->val, "local") == 0 ? PROXY_KIND_LOCAL : PROXY_KIND_PROXY);
	if ((kv = vec_get(vc, "src")) != NULL) {
		addr_text(&res->src, got, sizeof got);
		CHECK_STR(got, kv->val);
	}
	if ((kv = vec_get(vc, "dst")) != NULL) {
		addr_text(&res->dst, got, sizeof got);
		CHECK_STR(got, kv->val);
	}
}

/*
 * Every prefix of a good header must ask for more, and every longer input
 * must give the same header. For a bad one, "need more" must turn into
 * "malformed" exactly at bad_at bytes and stay there: the parser rejects a
 * prefix as soon as no continuation can make it valid, and never earlier.
 */
static void check_prefixes(const struct vec_case *vc, int want, size_t header_len)
{
	struct proxy_result res;
	uint64_t bad_at = 0;
	bool have_bad_at = want == ERR_MALFORMED && vec_u64(vc, "bad_at", &bad_at);
	bool seen_bad = false;

	for (size_t k = 0; k < vc->in_len; k++) {
		int rc = parse_exact(vc, k, &res, NULL);

		if (want == 0) {
			CHECK_INT(rc, k < header_len ? ERR_NEED_MORE : 0);
			if (rc == 0)
				CHECK_INT(res.header_len, header_len);
		} else if (have_bad_at) {
			CHECK_INT(rc, k < bad_at ? ERR_NEED_MORE : ERR_MALFORMED);
		} else {
			CHECK(rc == ERR_NEED_MORE || rc == ERR_MALFORMED);
			if (seen_bad)
				CHECK_INT(rc, ERR_MALFORMED);
		}
		if (want == 0 ? rc != (k < header_len ? ERR_NEED_MORE : 0) :
				have_bad_at && rc != (k < bad_at ? ERR_NEED_MORE : ERR_MALFORMED))
			fprintf(stderr, "%s: prefix %zu gave %d\n", vc->name, k, rc);
		seen_bad |= rc == ERR_MALFORMED;
	}
}

static void run_proxy(const struct vec_case *vc)
{
	struct proxy_result res;
	const char *why = NULL;
	int want = vec_want_code(vc);
	int rc = parse_exact(vc, vc->in_len, &res, &why);

	if (rc != want)
		fprintf(stderr, "%s:%d: %s: got %d (%s), want %d\n", vc->file, vc->line, vc->name,
			rc, why ? why : "-", want);
	CHECK_INT(rc, want);
	if (rc == 0) {
		check_result(vc, &res);
		CHECK(res.header_len <= vc->in_len);
	}
	check_prefixes(vc, want, rc == 0 ? res.header_len : 0);
}

/* ------------------------------------------------------------------------- */
/* Encoder                                                                   */

static void test_roundtrip(uint8_t ipver)
{
	struct event_addr src = { .ipver = ipver, .port = 40000 };
	struct event_addr dst = { .ipver = ipver, .port = 80 };
	struct proxy_result res;
	uint8_t out[64];
	size_t alen = ipver == 4 ? 4 : 16;

	for (size_t i = 0; i < alen; i++) {
		src.addr[i] = (uint8_t)(0xa0 + i);
		dst.addr[i] = (uint8_t)(0x10 + i);
	}
	int n = proxy_v2_encode(&src, &dst, out, sizeof out);
	CHECK_INT(n, ipver == 4 ? 28 : 52);
	if (n <= 0)
		return;
	CHECK_INT(proxy_parse(out, (size_t)n, &res, NULL), 0);
	CHECK_INT(res.version, 2);
	CHECK_INT(res.kind, PROXY_KIND_PROXY);
	CHECK_INT(res.transport, 6);
	CHECK_INT(res.header_len, n);
	CHECK_INT(res.src.ipver, ipver);
	CHECK(memcmp(res.src.addr, src.addr, 16) == 0);
	CHECK(memcmp(res.dst.addr, dst.addr, 16) == 0);
	CHECK_INT(res.src.port, 40000);
	CHECK_INT(res.dst.port, 80);

	/* Too small a buffer is refused, and nothing is written past cap. */
	uint8_t small[64];
	memset(small, 0xee, sizeof small);
	CHECK_INT(proxy_v2_encode(&src, &dst, small, (size_t)n - 1), ERR_INVAL);
	CHECK_INT(small[n - 1], 0xee);
	CHECK_INT(proxy_v2_encode(&src, &dst, small, (size_t)n), n);
}

static void test_encode_inval(void)
{
	struct event_addr a4 = { .ipver = 4 }, a6 = { .ipver = 6 }, bad = { .ipver = 5 };
	uint8_t out[64];

	CHECK_INT(proxy_v2_encode(&a4, &a6, out, sizeof out), ERR_INVAL);
	CHECK_INT(proxy_v2_encode(&bad, &bad, out, sizeof out), ERR_INVAL);
	CHECK_INT(proxy_v2_encode(&a4, &a4, out, 0), ERR_INVAL);
}

int main(void)
{
	int n = vec_load("vectors/proxy/proxy.vec", run_proxy);
	CHECK(n > 0);
	test_roundtrip(4);
	test_roundtrip(6);
	test_encode_inval();
	return check_done("test_proxy");
}
