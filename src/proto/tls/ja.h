/* ja.h — JA3 and JA4 client fingerprints of a parsed ClientHello (pure functions). */
#ifndef SINKD_PROTO_TLS_JA_H
#define SINKD_PROTO_TLS_JA_H

#include "core/dynbuf.h"
#include "proto/tls/tls_hello.h"

/*
 * Exactly per ../shared/reference/takedown.md §4 (salesforce/ja3 README and
 * FoxIO's technical_details/JA4.md):
 *
 * JA3 string = SSLVersion,Ciphers,Extensions,EllipticCurves,ECPointFormats,
 * decimal, '-' inside a field, GREASE removed everywhere; JA3 = MD5 of it
 * (lowercase hex).
 *
 * JA4 = a_b_c: a = "t" + version (highest supported_versions entry, else the
 * hello's version) + d|i (SNI or not) + cipher count + extension count (both
 * capped at 99, GREASE excluded) + first/last character of the first ALPN
 * value ("00" if none, hex nibbles if not alphanumeric); b = sha256-12 of the
 * sorted cipher list; c = sha256-12 of the sorted extension list without SNI
 * and ALPN, "_", signature algorithms in their order. JA4_r is the same with
 * the lists in clear.
 */

#define TLS_JA3_HASH_LEN 32
#define TLS_JA4_LEN	 36
/* The longest JA3 / JA4_r string a 128 KiB hello can produce fits in this. */
#define TLS_JA_STR_MAX	 (1u << 20)

/* Writes the JA3 string to str (reset first) and its MD5 to hash. 0 or ERR_NOMEM. */
int tls_ja3(const struct tls_hello *h, struct dynbuf *str, char hash[TLS_JA3_HASH_LEN + 1]);

/* Writes JA4 to ja4 and, when raw is not NULL, JA4_r to raw (reset first). 0 or ERR_NOMEM. */
int tls_ja4(const struct tls_hello *h, char ja4[TLS_JA4_LEN + 1], struct dynbuf *raw);

#endif
