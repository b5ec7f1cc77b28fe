/* test_proxy.c — PROXY v1/v2 parser and v2 encoder tests, from tests/vectors/proxy/. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "net/proxy.h"

/*
 * Vector files: one case per block, lines "key value". "name" starts a case,
 * "end" runs it. "in" and "rep N" append to the input; every value is
 * unescaped (\r \n \t \0 \s for a space, \\ and \xHH), so binary and
 * trailing whitespace stay visible. Lines starting with '#' are comments.
 */

#define VEC_MAX_IN  65536
#define VEC_MAX_KV  32
#define VEC_MAX_VAL 1024

struct vec_kv {
	char key[16];
	char val[VEC_MAX_VAL];
	size_t val_len;
};

struct vec_case {
	char name[96];
	const char *file;
	int line;
	char in[VEC_MAX_IN];
	size_t in_len;
	struct vec_kv kv[VEC_MAX_KV];
	size_t n_kv;
};

static int hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescapes s into out (at most cap bytes); returns the length or -1 on a bad escape. */
static long unescape(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		char c = *s++;

		if (c == '\\') {
			char e = *s ? *s++ : '\0';
			switch (e) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '0':
				c = '\0';
				break;
			case 's':
				c = ' ';
				break;
			case '\\':
				c = '\\';
				break;
			case 'x': {
				int hi = hexdig(s[0]), lo = hi < 0 ? -1 : hexdig(s[1]);
				if (lo < 0)
					return -1;
				c = (char)(hi << 4 | lo);
				s += 2;
				break;
			}
			default:
				return -1;
			}
		}
		if (n >= cap)
			return -1;
		out[n++] = c;
	}
	return (long)n;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *e;

	if (*s < '0' || *s > '9')
		return false;
	*out = strtoull(s, &e, 10);
	return *e == '\0';
}

static const struct vec_kv *vec_get(const struct vec_case *vc, const char *key)
{
	for (size_t i = 0; i < vc->n_kv; i++) {
		if (strcmp(vc->kv[i].key, key) == 0)
			return &vc->kv[i];
	}
	return NULL;
}

static bool vec_u64(const struct vec_case *vc, const char *key, uint64_t *out)
{
	const struct vec_kv *kv = vec_get(vc, key);

	return kv && parse_u64(kv->val, out);
}

/* Reads a vector file and calls run() for each case. Returns the number of cases, -1 on error. */
static int vec_load(const char *path, void (*run)(const struct vec_case *vc))
{
	static struct vec_case vc;
	char line[4096];
	int lineno = 0, cases = 0;
	bool open = false;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "%s: cannot open (run from tests/)\n", path);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		size_t l = strlen(line);

		lineno++;
		if (l > 0 && line[l - 1] == '\n')
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;

		char *val = strchr(line, ' ');
		if (val)
			*val++ = '\0';
		else
			val = line + l;

		if (strcmp(line, "name") == 0) {
			memset(&vc, 0, sizeof vc);
			snprintf(vc.name, sizeof vc.name, "%.80s", val);
			vc.file = path;
			vc.line = lineno;
			open = true;
			continue;
		}
		if (!open)
			goto bad;
		if (strcmp(line, "end") == 0) {
			run(&vc);
			cases++;
			open = false;
			continue;
		}
		if (strcmp(line, "in") == 0 || strcmp(line, "rep") == 0) {
			uint64_t times = 1;
			if (line[0] == 'r') {
				char *sp = strchr(val, ' ');
				if (!sp)
					goto bad;
				*sp = '\0';
				if (!parse_u64(val, &times))
					goto bad;
				val = sp + 1;
			}
			char tmp[VEC_MAX_VAL];
			long n = unescape(val, tmp, sizeof tmp);
			if (n < 0)
				goto bad;
			for (uint64_t t = 0; t < times; t++) {
				if ((size_t)n > sizeof vc.in - vc.in_len)
					goto bad;
				memcpy(vc.in + vc.in_len, tmp, (size_t)n);
				vc.in_len += (size_t)n;
			}
			continue;
		}
		if (vc.n_kv == VEC_MAX_KV || strlen(line) >= sizeof vc.kv[0].key)
			goto bad;
		struct vec_kv *kv = &vc.kv[vc.n_kv++];
		memcpy(kv->key, line, strlen(line) + 1); /* length checked above */
		long n = unescape(val, kv->val, sizeof kv->val - 1);
		if (n < 0)
			goto bad;
		kv->val_len = (size_t)n;
		kv->val[n] = '\0';
	}
	fclose(f);
	if (open) {
		fprintf(stderr, "%s: case without end\n", path);
		return -1;
	}
	return cases;
bad:
	fprintf(stderr, "%s:%d: bad vector line\n", path, lineno);
	fclose(f);
	return -1;
}

static int want_code(const struct vec_case *vc)
{
	const struct vec_kv *kv = vec_get(vc, "want");

	if (!kv)
		return 1;
	if (strcmp(kv->val, "ok") == 0)
		return 0;
	if (strcmp(kv->val, "need_more") == 0)
		return ERR_NEED_MORE;
	if (strcmp(kv->val, "malformed") == 0)
		return ERR_MALFORMED;
	if (strcmp(kv->val, "limit") == 0)
		return ERR_LIMIT;
	return 1;
}

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
	int want = want_code(vc);
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
