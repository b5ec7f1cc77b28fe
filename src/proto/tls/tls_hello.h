/* tls_hello.h — bounds-checked TLS ClientHello parser over raw record bytes (pure, no OpenSSL). */
#ifndef SINKD_PROTO_TLS_HELLO_H
#define SINKD_PROTO_TLS_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Two steps, both pure functions over caller bytes:
 *
 * tls_hello_scan() reads TLS records from the start of a connection and
 * reassembles the ClientHello handshake message, which may be split across
 * any number of records (a hello over 16 KiB always is). It distinguishes
 * "need more bytes" from "this is not TLS at all" (plain HTTP, SSLv2-style
 * hellos, random bytes) from "TLS, but malformed".
 *
 * tls_hello_parse() turns the reassembled message into slices: ciphers,
 * extensions in order, SNI, ALPN, supported versions, groups, point formats,
 * signature algorithms. Every length is checked against what remains; the
 * extensions must tile their block exactly. Slices point into the message.
 */

/* OpenSSL's own ceiling for a ClientHello body (CLIENT_HELLO_MAX_LENGTH). */
#define TLS_HELLO_MAX	    131396u
/* Raw bytes we read ahead for one hello: room for every fragment's 5-byte record header. */
#define TLS_HELLO_RAW_MAX   (TLS_HELLO_MAX + 64u * 1024)
#define TLS_RECORD_MAX	    16384u /* plaintext record payload, RFC 8446 5.1 */
#define TLS_RECORD_HEADER   5u
#define TLS_CT_HANDSHAKE    22u
#define TLS_HS_CLIENT_HELLO 1u

/* Extension types we read. */
#define TLS_EXT_SNI		   0x0000u
#define TLS_EXT_SUPPORTED_GROUPS   0x000au
#define TLS_EXT_EC_POINT_FORMATS   0x000bu
#define TLS_EXT_SIG_ALGS	   0x000du
#define TLS_EXT_ALPN		   0x0010u
#define TLS_EXT_SUPPORTED_VERSIONS 0x002bu

struct tls_slice {
	const uint8_t *ptr;
	size_t len;
};

/* Result of scanning the first bytes of a connection. */
enum tls_scan_result {
	TLS_SCAN_DONE = 0,  /* the whole ClientHello message is in msg */
	TLS_SCAN_NEED_MORE, /* a valid prefix: read more */
	TLS_SCAN_NOT_TLS,   /* the first bytes are not a TLS handshake record */
	TLS_SCAN_MALFORMED, /* TLS records, but broken (why says how) */
};

/*
 * Scans raw[0..len) (the connection's first bytes). On TLS_SCAN_DONE the
 * handshake message body (after its 4-byte header) is copied to msg (cap
 * bytes, at least TLS_HELLO_MAX) and its length stored in *msg_len;
 * *raw_used is the number of raw bytes the hello's records took. `why` gets a
 * static reason for NOT_TLS and MALFORMED. Never reads beyond len.
 */
enum tls_scan_result tls_hello_scan(const uint8_t *raw, size_t len, uint8_t *msg, size_t cap,
				    size_t *msg_len, size_t *raw_used, const char **why);

struct tls_hello {
	uint16_t record_version; /* version field of the first record */
	uint16_t legacy_version; /* ClientHello.legacy_version */
	struct tls_slice session_id;
	struct tls_slice ciphers;     /* be16 values */
	struct tls_slice compression; /* u8 values */
	bool has_exts;		      /* an extensions block was present (even empty) */
	struct tls_slice exts;	      /* the whole block: (be16 type, be16 len, data)* */
	size_t n_exts;
	/* Absent extensions have ptr NULL; present but empty ones a non-NULL ptr and len 0. */
	struct tls_slice sni;		/* first host_name entry */
	struct tls_slice alpn;		/* ProtocolNameList body: (u8 len, name)* */
	struct tls_slice versions;	/* supported_versions body: be16 values */
	struct tls_slice groups;	/* be16 values */
	struct tls_slice point_formats; /* u8 values */
	struct tls_slice sigalgs;	/* be16 values */
};

/* Parses a ClientHello body. 0, or ERR_MALFORMED with a static reason in *why. */
int tls_hello_parse(const uint8_t *msg, size_t len, struct tls_hello *h, const char **why);

/* RFC 8701 GREASE: 0x?a?a with equal bytes. */
static inline bool tls_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* Walks the extensions block: type and body of the next extension; false at the end. */
bool tls_ext_next(const struct tls_hello *h, size_t *pos, uint16_t *type, struct tls_slice *body);

/* The highest non-GREASE version offered: supported_versions if present, else legacy_version. */
uint16_t tls_hello_max_version(const struct tls_hello *h);

/* The first ALPN protocol name, or ptr NULL. */
struct tls_slice tls_hello_first_alpn(const struct tls_hello *h);

#endif
