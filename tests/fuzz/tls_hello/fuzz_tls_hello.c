/* fuzz_tls_hello.c — libFuzzer harness: ClientHello record scanner, parser, JA3 and JA4. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "proto/tls/ja.h"
#include "proto/tls/tls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A parsed hello: fingerprints always succeed and have their fixed shapes. */
static void fingerprint(const struct tls_hello *h)
{
	struct dynbuf s, r;
	char ja3[TLS_JA3_HASH_LEN + 1], ja4[TLS_JA4_LEN + 1];
	dynbuf_init(&s, TLS_JA_STR_MAX);
	dynbuf_init(&r, TLS_JA_STR_MAX);
	FUZZ_CHECK(tls_ja3(h, &s, ja3) == 0);
	FUZZ_CHECK(strlen(ja3) == 32 && all_hex(ja3, 32));
	size_t commas = 0;
	for (size_t i = 0; i < s.len; i++)
		commas += s.data[i] == ',';
	FUZZ_CHECK(commas == 4);
	FUZZ_CHECK(tls_ja4(h, ja4, &r) == 0);
	FUZZ_CHECK(strlen(ja4) == 36 && ja4[0] == 't' && ja4[10] == '_' && ja4[23] == '_');
	FUZZ_CHECK(ja4[3] == (h->sni.ptr ? 'd' : 'i'));
	FUZZ_CHECK(all_hex(ja4 + 11, 12) && all_hex(ja4 + 24, 12));
	FUZZ_CHECK(r.len >= 11 && !memcmp(r.data, ja4, 10) && r.data[10] == '_');
	dynbuf_free(&s);
	dynbuf_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t msg[TLS_HELLO_MAX];
	size_t ml = 0, used = 0;
	const char *why = NULL;
	enum tls_scan_result r = tls_hello_scan(data, size, msg, sizeof msg, &ml, &used, &why);
	FUZZ_CHECK(r == TLS_SCAN_DONE || r == TLS_SCAN_NEED_MORE || r == TLS_SCAN_NOT_TLS ||
		   r == TLS_SCAN_MALFORMED);
	FUZZ_CHECK(r == TLS_SCAN_DONE || r == TLS_SCAN_NEED_MORE || why != NULL);
	if (r == TLS_SCAN_DONE) {
		FUZZ_CHECK(ml <= TLS_HELLO_MAX && used <= size && used >= TLS_RECORD_HEADER + 4);
		/* The hello's records alone give the same message; a byte less is not enough. */
		size_t ml2 = 0, used2 = 0;
		uint8_t *copy = malloc(ml ? ml : 1);
		FUZZ_CHECK(copy != NULL);
		memcpy(copy, msg, ml);
		FUZZ_CHECK(tls_hello_scan(data, used, msg, sizeof msg, &ml2, &used2, NULL) ==
			   TLS_SCAN_DONE);
		FUZZ_CHECK(ml2 == ml && used2 == used && !memcmp(copy, msg, ml));
		FUZZ_CHECK(tls_hello_scan(data, used - 1, NULL, 0, &ml2, &used2, NULL) ==
			   TLS_SCAN_NEED_MORE);
		struct tls_hello h;
		if (tls_hello_parse(copy, ml, &h, &why) == 0)
			fingerprint(&h);
		else
			FUZZ_CHECK(why != NULL);
		free(copy);
	}
	/* The parser on its own, over the raw bytes as a hello body. */
	struct tls_hello h;
	int rc = tls_hello_parse(data, size, &h, &why);
	FUZZ_CHECK(rc == 0 || rc == ERR_MALFORMED);
	if (rc == 0) {
		FUZZ_CHECK(h.ciphers.len % 2 == 0 && h.ciphers.len <= size);
		FUZZ_CHECK(!h.sni.ptr ||
			   (h.sni.ptr >= data && h.sni.ptr + h.sni.len <= data + size));
		fingerprint(&h);
	}
	return 0;
}
