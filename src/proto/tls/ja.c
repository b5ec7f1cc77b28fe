/* ja.c — JA3 (MD5 of the decimal ClientHello summary) and JA4 (FoxIO, BSD-3-Clause spec). */

/*
 * The low-level MD5 and SHA-256 calls need no context allocation or
 * provider fetch, which EVP does per call on OpenSSL 3.0's hot path (the
 * one-shot SHA256() too: 3.0 implements it with EVP_Q_digest, a fetch per
 * call). Deprecated but present throughout 3.x.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "proto/tls/ja.h"

#include <openssl/md5.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"

static const char hexdig[] = "0123456789abcdef";

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Appends sep (if not 0) and v in decimal: JA3 has dozens per hello, printf is too slow here. */
static int dec_add(struct dynbuf *b, char sep, unsigned v)
{
	char t[8];
	size_t i = sizeof t;
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (sep)
		t[--i] = sep;
	return dynbuf_add(b, t + i, sizeof t - i);
}

/* Appends the non-GREASE be16 values of s as decimals joined by '-'. */
static int dec_list16(struct dynbuf *b, struct tls_slice s)
{
	bool first = true;
	for (size_t i = 0; i + 1 < s.len; i += 2) {
		uint16_t v = get_be16(s.ptr + i);
		if (tls_is_grease(v))
			continue;
		if (dec_add(b, first ? 0 : '-', v))
			return ERR_NOMEM;
		first = false;
	}
	return 0;
}

int tls_ja3(const struct tls_hello *h, struct dynbuf *str, char hash[TLS_JA3_HASH_LEN + 1])
{
	dynbuf_reset(str);
	int rc = dec_add(str, 0, h->legacy_version);
	if (!rc)
		rc = dynbuf_addc(str, ',');
	if (!rc)
		rc = dec_list16(str, h->ciphers);
	if (!rc)
		rc = dynbuf_addc(str, ',');
	size_t pos = 0;
	uint16_t type;
	struct tls_slice body;
	bool first = true;
	while (!rc && tls_ext_next(h, &pos, &type, &body)) {
		if (tls_is_grease(type))
			continue;
		rc = dec_add(str, first ? 0 : '-', type);
		first = false;
	}
	if (!rc)
		rc = dynbuf_addc(str, ',');
	if (!rc)
		rc = dec_list16(str, h->groups);
	if (!rc)
		rc = dynbuf_addc(str, ',');
	for (size_t i = 0; !rc && i < h->point_formats.len; i++)
		rc = dec_add(str, i ? '-' : 0, h->point_formats.ptr[i]);
	if (rc)
		return ERR_NOMEM;
	uint8_t md[MD5_DIGEST_LENGTH];
	MD5_CTX md5;
	MD5_Init(&md5);
	MD5_Update(&md5, str->data, str->len);
	MD5_Final(md, &md5);
	hex_encode(md, sizeof md, hash);
	return 0;
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return (x > y) - (x < y);
}

#define JA4_INSERTION_MAX 64

/* Every real hello has a few dozen values: insertion sort; a hostile one gets qsort. */
static void sort_u16(uint16_t *v, size_t n)
{
	if (n > JA4_INSERTION_MAX) {
		qsort(v, n, sizeof *v, cmp_u16);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		uint16_t x = v[i];
		size_t j = i;
		for (; j && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* A JA4 list goes to the raw string (b) or straight into a SHA-256 (sha). */
static int sink_add(struct dynbuf *b, SHA256_CTX *sha, const char *t, size_t n)
{
	if (sha) {
		SHA256_Update(sha, t, n);
		return 0;
	}
	return dynbuf_add(b, t, n);
}

/* Appends values as 4-digit lowercase hex joined by ',', in chunks. */
static int hex_list(struct dynbuf *b, SHA256_CTX *sha, const uint16_t *v, size_t n)
{
	char t[5 * 64];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k > sizeof t - 5) {
			if (sink_add(b, sha, t, k))
				return ERR_NOMEM;
			k = 0;
		}
		if (i)
			t[k++] = ',';
		t[k++] = hexdig[v[i] >> 12];
		t[k++] = hexdig[(v[i] >> 8) & 15];
		t[k++] = hexdig[(v[i] >> 4) & 15];
		t[k++] = hexdig[v[i] & 15];
	}
	return k ? sink_add(b, sha, t, k) : 0;
}

static void sha12(SHA256_CTX *sha, char out[13])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	char full[2 * SHA256_DIGEST_LENGTH + 1];
	SHA256_Final(md, sha);
	hex_encode(md, sizeof md, full);
	memcpy(out, full, 12);
	out[12] = '\0';
}

static const char *ja4_version(uint16_t v)
{
	switch (v) {
	case 0x0304:
		return "13";
	case 0x0303:
		return "12";
	case 0x0302:
		return "11";
	case 0x0301:
		return "10";
	case 0x0300:
		return "s3";
	case 0x0002:
		return "s2";
	case 0xfeff:
		return "d1";
	case 0xfefd:
		return "d2";
	case 0xfefc:
		return "d3";
	}
	return "00";
}

static bool alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static void ja4_alpn(const struct tls_hello *h, char out[2])
{
	struct tls_slice a = tls_hello_first_alpn(h);
	if (!a.ptr || a.len == 0) {
		out[0] = out[1] = '0';
		return;
	}
	uint8_t f = a.ptr[0], l = a.ptr[a.len - 1];
	if (alnum(f) && alnum(l)) {
		out[0] = (char)f;
		out[1] = (char)l;
	} else {
		out[0] = hexdig[f >> 4];
		out[1] = hexdig[l & 15];
	}
}

/* Copies the non-GREASE be16 values of s into v; returns how many. */
static size_t collect16(struct tls_slice s, uint16_t *v)
{
	size_t n = 0;
	for (size_t i = 0; i + 1 < s.len; i += 2) {
		uint16_t x = get_be16(s.ptr + i);
		if (!tls_is_grease(x))
			v[n++] = x;
	}
	return n;
}

/* Room for n values: the stack array when it fits (every real client), else the heap. */
static uint16_t *ja4_array(uint16_t *stack, size_t cap, size_t n)
{
	return n <= cap ? stack : malloc(n * sizeof(uint16_t));
}

#define JA4_STACK 128

int tls_ja4(const struct tls_hello *h, char ja4[TLS_JA4_LEN + 1], struct dynbuf *raw)
{
	int rc = ERR_NOMEM;
	uint16_t cs[JA4_STACK], es[JA4_STACK], ss[JA4_STACK];
	uint16_t *ciphers = ja4_array(cs, JA4_STACK, h->ciphers.len / 2 + 1);
	uint16_t *exts = ja4_array(es, JA4_STACK, h->exts.len / 4 + 1);
	uint16_t *sigs = ja4_array(ss, JA4_STACK, h->sigalgs.len / 2 + 1);
	if (!ciphers || !exts || !sigs)
		goto out;

	size_t nc = collect16(h->ciphers, ciphers);
	size_t ns = collect16(h->sigalgs, sigs);
	size_t ne_all = 0, ne = 0;
	size_t pos = 0;
	uint16_t type;
	struct tls_slice body;
	while (tls_ext_next(h, &pos, &type, &body)) {
		if (tls_is_grease(type))
			continue;
		ne_all++;
		if (type != TLS_EXT_SNI && type != TLS_EXT_ALPN)
			exts[ne++] = type;
	}
	sort_u16(ciphers, nc);
	sort_u16(exts, ne);

	char a[11];
	char alpn[2];
	ja4_alpn(h, alpn);
	const char *ver = ja4_version(tls_hello_max_version(h));
	unsigned cc = nc > 99 ? 99 : (unsigned)nc, ec = ne_all > 99 ? 99 : (unsigned)ne_all;
	a[0] = 't';
	a[1] = ver[0];
	a[2] = ver[1];
	a[3] = h->sni.ptr ? 'd' : 'i';
	a[4] = (char)('0' + cc / 10);
	a[5] = (char)('0' + cc % 10);
	a[6] = (char)('0' + ec / 10);
	a[7] = (char)('0' + ec % 10);
	a[8] = alpn[0];
	a[9] = alpn[1];
	a[10] = '\0';

	char b[13] = "000000000000", c[13] = "000000000000";
	SHA256_CTX sha;
	if (nc) {
		SHA256_Init(&sha);
		hex_list(NULL, &sha, ciphers, nc);
		sha12(&sha, b);
	}
	if (ne) {
		SHA256_Init(&sha);
		hex_list(NULL, &sha, exts, ne);
		if (ns) {
			SHA256_Update(&sha, "_", 1);
			hex_list(NULL, &sha, sigs, ns);
		}
		sha12(&sha, c);
	}
	memcpy(ja4, a, 10);
	ja4[10] = '_';
	memcpy(ja4 + 11, b, 12);
	ja4[23] = '_';
	memcpy(ja4 + 24, c, 12);
	ja4[36] = '\0';

	if (raw) {
		dynbuf_reset(raw);
		if (dynbuf_add(raw, a, 10) || dynbuf_addc(raw, '_') ||
		    hex_list(raw, NULL, ciphers, nc) || dynbuf_addc(raw, '_') ||
		    hex_list(raw, NULL, exts, ne) || (ns && dynbuf_addc(raw, '_')) ||
		    hex_list(raw, NULL, sigs, ns))
			goto out;
	}
	rc = 0;
out:
	if (ciphers != cs)
		free(ciphers);
	if (exts != es)
		free(exts);
	if (sigs != ss)
		free(sigs);
	return rc;
}
