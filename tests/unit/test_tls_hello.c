/* test_tls_hello.c — ClientHello scanning and parsing, JA3 and JA4 against the spec's vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "proto/tls/ja.h"
#include "proto/tls/tls_hello.h"
#include "tls_build.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t msgbuf[TLS_HELLO_MAX];

struct fp {
	char ja3[TLS_JA3_HASH_LEN + 1];
	char ja4[TLS_JA4_LEN + 1];
	struct dynbuf ja3s, ja4r;
	int rc;
};

/* Builds the hello, wraps it in records of `frag` bytes, scans, parses and fingerprints it. */
static void fingerprint(const struct tb_hello *h, size_t frag, struct fp *f)
{
	struct tb_buf body = { 0 }, raw = { 0 };
	tb_hello_body(&body, h);
	tb_records(&raw, body.p, body.len, frag);
	size_t ml = 0, used = 0;
	const char *why = NULL;
	dynbuf_init(&f->ja3s, TLS_JA_STR_MAX);
	dynbuf_init(&f->ja4r, TLS_JA_STR_MAX);
	f->rc = -100;
	enum tls_scan_result r =
		tls_hello_scan(raw.p, raw.len, msgbuf, sizeof msgbuf, &ml, &used, &why);
	CHECK_INT(r, TLS_SCAN_DONE);
	CHECK_INT(used, raw.len);
	CHECK_INT(ml, body.len);
	CHECK(ml == body.len && memcmp(msgbuf, body.p, ml) == 0);
	struct tls_hello hello;
	f->rc = tls_hello_parse(msgbuf, ml, &hello, &why);
	if (f->rc == 0) {
		CHECK_INT(tls_ja3(&hello, &f->ja3s, f->ja3), 0);
		CHECK_INT(tls_ja4(&hello, f->ja4, &f->ja4r), 0);
	} else {
		fprintf(stderr, "parse: %s\n", why ? why : "?");
	}
	free(body.p);
	free(raw.p);
}

static void fp_free(struct fp *f)
{
	dynbuf_free(&f->ja3s);
	dynbuf_free(&f->ja4r);
}

/* FoxIO technical_details/JA4.md worked example, with GREASE sprinkled in (it must not count). */
static const uint16_t spec_ciphers[] = { 0x1a1a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
					 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
					 0x009c, 0x009d, 0x002f, 0x0035 };
static const uint16_t spec_sigalgs[] = { 0x0403, 0x0804, 0x0401, 0x0503,
					 0x0805, 0x0501, 0x0806, 0x0601 };
static const uint16_t spec_versions[] = { 0x7a7a, 0x0304, 0x0303 };
static const uint16_t spec_groups[] = { 0x2a2a, 0x001d, 0x0017, 0x0018 };
static const uint8_t spec_pf[] = { 0 };
static const char *const alpn_h2[] = { "h2", "http/1.1", NULL };

static struct tb_ext spec_exts[] = {
	{ 0x0a0a, NULL, 0 },
	{ 0x001b, (const uint8_t *)"\x02\x00\x02", 3 },
	{ 0x0000, NULL, 0 },
	{ 0x0033, (const uint8_t *)"\x00\x00", 2 },
	{ 0x0010, NULL, 0 },
	{ 0x4469, (const uint8_t *)"\x00\x03\x02h2", 5 },
	{ 0x0017, NULL, 0 },
	{ 0x002d, (const uint8_t *)"\x01\x01", 2 },
	{ 0x000d, NULL, 0 },
	{ 0x0005, (const uint8_t *)"\x01\x00\x00\x00\x00", 5 },
	{ 0x0023, NULL, 0 },
	{ 0x0012, NULL, 0 },
	{ 0x002b, NULL, 0 },
	{ 0xff01, (const uint8_t *)"\x00", 1 },
	{ 0x000b, NULL, 0 },
	{ 0x000a, NULL, 0 },
	{ 0x0015, (const uint8_t *)"\x00\x00\x00", 3 },
	{ 0xfafa, NULL, 0 },
};

static struct tb_hello spec_hello(void)
{
	struct tb_hello h = {
		.version = 0x0303,
		.ciphers = spec_ciphers,
		.n_ciphers = N(spec_ciphers),
		.exts = spec_exts,
		.n_exts = N(spec_exts),
		.sni = "example.com",
		.alpn = alpn_h2,
		.versions = spec_versions,
		.n_versions = N(spec_versions),
		.groups = spec_groups,
		.n_groups = N(spec_groups),
		.pf = spec_pf,
		.n_pf = N(spec_pf),
		.sigalgs = spec_sigalgs,
		.n_sigalgs = N(spec_sigalgs),
	};
	return h;
}

static void test_spec_example(void)
{
	struct tb_hello h = spec_hello();
	/* Whole, and split into records of every awkward size: the result must not change. */
	static const size_t frags[] = { 16384, 1, 2, 3, 4, 5, 7, 100 };
	for (size_t i = 0; i < N(frags); i++) {
		struct fp f;
		fingerprint(&h, frags[i], &f);
		CHECK_INT(f.rc, 0);
		CHECK_STR(f.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
		CHECK_STR(f.ja4r.data,
			  "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,"
			  "c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,"
			  "002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601");
		CHECK_STR(f.ja3s.data, "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-"
				       "49171-49172-156-157-47-53,27-0-51-16-17513-23-45-13-5-"
				       "35-18-43-65281-11-10-21,29-23-24,0");
		fp_free(&f);
	}

	/* Without signature algorithms the extension hash ends without "_" (spec: 6d807ffa2a79). */
	struct tb_hello h2 = spec_hello();
	h2.n_sigalgs = 0;
	/* The signature_algorithms extension stays (empty): it still counts as an extension. */
	struct fp f;
	fingerprint(&h2, 16384, &f);
	CHECK_INT(f.rc, 0);
	CHECK_STR(f.ja4, "t13d1516h2_8daaf6152771_6d807ffa2a79");
	fp_free(&f);
}

/* salesforce/ja3 README vectors (MD5 recomputed in takedown.md §4.1). */
static void test_ja3_readme(void)
{
	static const uint16_t c1[] = { 47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4 };
	static const uint16_t g1[] = { 23, 24, 25 };
	static const uint8_t pf1[] = { 0 };
	static const struct tb_ext e1[] = { { 0, NULL, 0 }, { 10, NULL, 0 }, { 11, NULL, 0 } };
	struct tb_hello h = {
		.version = 769,
		.ciphers = c1,
		.n_ciphers = N(c1),
		.exts = e1,
		.n_exts = N(e1),
		.sni = "a.example",
		.groups = g1,
		.n_groups = N(g1),
		.pf = pf1,
		.n_pf = 1,
	};
	struct fp f;
	fingerprint(&h, 16384, &f);
	CHECK_STR(f.ja3s.data,
		  "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
	CHECK_STR(f.ja3, "ada70206e40642a3e4461f35503241d5");
	/* TLS 1.0, SNI, no ALPN, no sigalgs: a = t10d1203 00. */
	CHECK(strncmp(f.ja4, "t10d120300_", 11) == 0);
	fp_free(&f);

	static const uint16_t c2[] = { 4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99 };
	struct tb_hello h2 = {
		.version = 769, .ciphers = c2, .n_ciphers = N(c2), .no_ext_block = true
	};
	fingerprint(&h2, 16384, &f);
	CHECK_STR(f.ja3s.data, "769,4-5-10-9-100-98-3-6-19-18-99,,,");
	CHECK_STR(f.ja3, "de350869b8c85de67a350c8d186f11e6");
	/* No extensions at all: no SNI ("i"), count 00, c = 000000000000. */
	CHECK(strncmp(f.ja4, "t10i110000_", 11) == 0);
	CHECK(strcmp(f.ja4 + 23, "_000000000000") == 0);
	fp_free(&f);
}

static void check_alpn(const char *const *alpn, const char *want)
{
	static const uint16_t c[] = { 0x1301 };
	static const struct tb_ext e[] = { { 0x0010, NULL, 0 } };
	struct tb_hello h = {
		.version = 0x0303, .ciphers = c, .n_ciphers = 1, .exts = e, .n_exts = 1, .alpn = alpn
	};
	struct fp f;
	fingerprint(&h, 16384, &f);
	CHECK_INT(f.rc, 0);
	CHECK_SLICE(f.ja4 + 8, 2, want);
	/* No SNI: "i"; the ALPN extension counts in a but not in c. */
	CHECK(strncmp(f.ja4, "t12i0101", 8) == 0);
	CHECK(strcmp(f.ja4 + 23, "_000000000000") == 0);
	fp_free(&f);
}

static void test_alpn_forms(void)
{
	static const char *const a1[] = { "http/1.1", "h2", NULL };
	static const char *const a2[] = { "\xab", NULL };
	static const char *const a3[] = { "\xab\xcd", NULL };
	static const char *const a4[] = { "0\xab", NULL };
	static const char *const a5[] = { "01\xab\xcd", NULL };
	static const char *const a6[] = { "0\xab\xcd"
					  "1",
					  NULL };
	static const char *const a7[] = { "h", NULL };
	static const char *const a8[] = { "", "h2", NULL };
	check_alpn(a1, "h1");
	check_alpn(a2, "ab");
	check_alpn(a3, "ad");
	check_alpn(a4, "3b");
	check_alpn(a5, "3d");
	check_alpn(a6, "01");
	check_alpn(a7, "hh");
	check_alpn(a8, "00"); /* first value empty */
}

static void test_empty_ciphers_and_versions(void)
{
	static const uint16_t v[] = { 0x0a0a, 0x0302, 0x0301 };
	static const struct tb_ext e[] = { { 0x002b, NULL, 0 } };
	struct tb_hello h = { .version = 0x0303,
			      .n_ciphers = 0,
			      .exts = e,
			      .n_exts = 1,
			      .versions = v,
			      .n_versions = N(v) };
	struct fp f;
	fingerprint(&h, 16384, &f);
	CHECK_INT(f.rc, 0);
	/* supported_versions wins over legacy_version, GREASE ignored: 1.1. */
	CHECK(strncmp(f.ja4, "t11i000100_000000000000_", 24) == 0);
	CHECK_STR(f.ja3s.data, "771,,43,,");
	fp_free(&f);

	/* Only GREASE in supported_versions: unknown version "00". */
	static const uint16_t g[] = { 0x1a1a };
	h.versions = g;
	h.n_versions = 1;
	fingerprint(&h, 16384, &f);
	CHECK(strncmp(f.ja4, "t00i0001", 8) == 0);
	fp_free(&f);
}

static void test_many_extensions(void)
{
	/* 150 private-use extensions plus GREASE: count capped at 99, hash over all 150. */
	struct tb_ext e[152];
	size_t n = 0;
	e[n++] = (struct tb_ext){ 0x3a3a, NULL, 0 };
	for (unsigned i = 0; i < 150; i++)
		e[n++] = (struct tb_ext){ (uint16_t)(0xff00 - i), NULL, 0 };
	e[n++] = (struct tb_ext){ 0x4a4a, NULL, 0 };
	static const uint16_t c[] = { 0x1301, 0x1302 };
	struct tb_hello h = {
		.version = 0x0303, .ciphers = c, .n_ciphers = 2, .exts = e, .n_exts = n
	};
	struct fp f;
	fingerprint(&h, 16384, &f);
	CHECK_INT(f.rc, 0);
	CHECK(strncmp(f.ja4, "t12i029900_", 11) == 0);
	/* JA4_r lists all 150, sorted ascending. */
	CHECK(strncmp(f.ja4r.data + 11 + 9 + 1, "fe6b,fe6c", 9) == 0);
	CHECK_INT(f.ja4r.len, 11 + 9 + 1 + 150 * 5 - 1);
	fp_free(&f);

	/* 120 ciphers: "99". */
	uint16_t many[120];
	for (unsigned i = 0; i < 120; i++)
		many[i] = (uint16_t)(0x0100 + i);
	struct tb_hello h2 = {
		.version = 0x0303, .ciphers = many, .n_ciphers = 120, .no_ext_block = true
	};
	fingerprint(&h2, 16384, &f);
	CHECK(strncmp(f.ja4, "t12i990000_", 11) == 0);
	fp_free(&f);
}

/* A hello over 16 KiB (post-quantum key shares, padding): several records, same answer. */
static void test_big_hello(void)
{
	struct tb_hello h = spec_hello();
	struct tb_ext e[N(spec_exts) + 1];
	memcpy(e, spec_exts, sizeof spec_exts);
	size_t big = 40000;
	uint8_t *pad = calloc(1, big);
	e[N(spec_exts)] = (struct tb_ext){ 0xfe0d, pad, big }; /* a big extension */
	h.exts = e;
	h.n_exts = N(e);
	struct fp f;
	fingerprint(&h, 16384, &f);
	CHECK_INT(f.rc, 0);
	CHECK(strncmp(f.ja4, "t13d1517h2_8daaf6152771_", 24) == 0);
	fp_free(&f);
	fingerprint(&h, 1000, &f);
	CHECK_INT(f.rc, 0);
	fp_free(&f);
	free(pad);
}

static void test_scan_prefixes_and_garbage(void)
{
	struct tb_hello h = spec_hello();
	struct tb_buf body = { 0 }, raw = { 0 };
	tb_hello_body(&body, &h);
	tb_records(&raw, body.p, body.len, 50);
	size_t ml, used;
	const char *why;
	for (size_t k = 0; k < raw.len; k++) {
		enum tls_scan_result r =
			tls_hello_scan(raw.p, k, msgbuf, sizeof msgbuf, &ml, &used, &why);
		if (r != TLS_SCAN_NEED_MORE) {
			CHECK_INT(r, TLS_SCAN_NEED_MORE);
			fprintf(stderr, "prefix %zu\n", k);
			break;
		}
	}
	/* Bytes after the hello (a pipelined record) are left for the TLS library. */
	tb_put(&raw, "\x14\x03\x03\x00\x01\x01", 6);
	CHECK_INT(tls_hello_scan(raw.p, raw.len, msgbuf, sizeof msgbuf, &ml, &used, &why),
		  TLS_SCAN_DONE);
	CHECK_INT(used, raw.len - 6);

	static const struct {
		const char *in;
		size_t len;
		enum tls_scan_result want;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n", 16, TLS_SCAN_NOT_TLS },
		{ "\x80\x2e\x01\x00\x02", 5, TLS_SCAN_NOT_TLS }, /* SSLv2-style hello */
		{ "\x16\x02", 2, TLS_SCAN_NOT_TLS },
		{ "\x16", 1, TLS_SCAN_NEED_MORE },
		{ "\x16\x03\x01\x00\x00", 5, TLS_SCAN_MALFORMED }, /* empty record */
		{ "\x16\x03\x01\x40\x01", 5, TLS_SCAN_MALFORMED }, /* > 16384 */
		{ "\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9, TLS_SCAN_MALFORMED }, /* ServerHello */
		{ "\x16\x03\x01\x00\x04\x01\x03\x00\x00", 9, TLS_SCAN_MALFORMED }, /* too long */
		{ "\x16\x03\x01\x00\x02\x01\x00\x15\x03\x01", 10, TLS_SCAN_MALFORMED }, /* alert */
		{ "\x16\x03\x01\x00\x02\x01\x00\x16\x03", 9, TLS_SCAN_NEED_MORE },
	};
	for (size_t i = 0; i < N(cases); i++) {
		enum tls_scan_result r = tls_hello_scan((const uint8_t *)cases[i].in, cases[i].len,
							msgbuf, sizeof msgbuf, &ml, &used, &why);
		if (r != cases[i].want)
			fprintf(stderr, "scan case %zu\n", i);
		CHECK_INT(r, cases[i].want);
		CHECK(r == TLS_SCAN_NEED_MORE || why != NULL);
	}

	/* Too many tiny records. */
	struct tb_buf tiny = { 0 };
	static uint8_t junk[400];
	tb_records(&tiny, junk, sizeof junk, 1);
	CHECK_INT(tls_hello_scan(tiny.p, tiny.len, msgbuf, sizeof msgbuf, &ml, &used, &why),
		  TLS_SCAN_MALFORMED);
	free(tiny.p);
	free(body.p);
	free(raw.p);
}

static void test_parse_malformed(void)
{
	struct tb_hello h = spec_hello();
	struct tb_buf body = { 0 };
	tb_hello_body(&body, &h);
	struct tls_hello p;
	const char *why;
	CHECK_INT(tls_hello_parse(body.p, body.len, &p, &why), 0);
	CHECK_SLICE(p.sni.ptr, p.sni.len, "example.com");
	CHECK_INT(tls_hello_max_version(&p), 0x0304);
	CHECK_INT(p.n_exts, N(spec_exts));
	/* Every truncation is malformed, never a crash (ASan checks the reads). */
	for (size_t k = 0; k < body.len; k++) {
		int rc = tls_hello_parse(body.p, k, &p, &why);
		/* Cutting exactly before the extensions block leaves a valid old-style hello. */
		if (rc == 0)
			continue;
		CHECK_INT(rc, ERR_MALFORMED);
		CHECK(why != NULL);
	}
	/* A wrong inner length: the SNI list length one too long. */
	uint8_t *sni = memmem(body.p, body.len, "example.com", 11);
	CHECK(sni != NULL);
	if (sni) {
		sni[-5]++;
		CHECK_INT(tls_hello_parse(body.p, body.len, &p, &why), ERR_MALFORMED);
	}
	free(body.p);
}

int main(void)
{
	test_spec_example();
	test_ja3_readme();
	test_alpn_forms();
	test_empty_ciphers_and_versions();
	test_many_extensions();
	test_big_hello();
	test_scan_prefixes_and_garbage();
	test_parse_malformed();
	return check_done("tls_hello");
}
