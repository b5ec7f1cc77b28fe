/* tls_build.h — assembles ClientHellos for tests and fuzz seeds: lists in, record bytes out. */
#ifndef SINKD_TESTS_TLS_BUILD_H
#define SINKD_TESTS_TLS_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tb_ext {
	uint16_t type;
	const uint8_t *data; /* NULL: built from the hello's lists for known types, else empty */
	size_t len;
};

struct tb_hello {
	uint16_t version;
	const uint16_t *ciphers;
	size_t n_ciphers;
	const struct tb_ext *exts; /* in order */
	size_t n_exts;
	bool no_ext_block;
	const char *sni;
	const char *const *alpn; /* NULL-terminated list of protocol names */
	const uint16_t *versions;
	size_t n_versions;
	const uint16_t *groups;
	size_t n_groups;
	const uint8_t *pf;
	size_t n_pf;
	const uint16_t *sigalgs;
	size_t n_sigalgs;
};

struct tb_buf {
	uint8_t *p;
	size_t len, cap;
};

static void tb_put(struct tb_buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *np = realloc(b->p, cap);
		if (!np)
			abort();
		b->p = np;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void tb_u8(struct tb_buf *b, unsigned v)
{
	uint8_t x = (uint8_t)v;
	tb_put(b, &x, 1);
}

static void tb_u16(struct tb_buf *b, unsigned v)
{
	tb_u8(b, v >> 8);
	tb_u8(b, v);
}

static void tb_u16_at(struct tb_buf *b, size_t at, size_t v)
{
	b->p[at] = (uint8_t)(v >> 8);
	b->p[at + 1] = (uint8_t)v;
}

/* The extension body for a known type, from the hello's lists. */
static void tb_ext_body(struct tb_buf *e, const struct tb_hello *h, uint16_t type)
{
	switch (type) {
	case 0x0000: {
		size_t n = strlen(h->sni);
		tb_u16(e, (unsigned)(n + 3));
		tb_u8(e, 0);
		tb_u16(e, (unsigned)n);
		tb_put(e, h->sni, n);
		break;
	}
	case 0x0010: {
		size_t at = e->len;
		tb_u16(e, 0);
		for (const char *const *a = h->alpn; *a; a++) {
			tb_u8(e, (unsigned)strlen(*a));
			tb_put(e, *a, strlen(*a));
		}
		tb_u16_at(e, at, e->len - at - 2);
		break;
	}
	case 0x002b:
		tb_u8(e, (unsigned)(2 * h->n_versions));
		for (size_t i = 0; i < h->n_versions; i++)
			tb_u16(e, h->versions[i]);
		break;
	case 0x000a:
		tb_u16(e, (unsigned)(2 * h->n_groups));
		for (size_t i = 0; i < h->n_groups; i++)
			tb_u16(e, h->groups[i]);
		break;
	case 0x000d:
		tb_u16(e, (unsigned)(2 * h->n_sigalgs));
		for (size_t i = 0; i < h->n_sigalgs; i++)
			tb_u16(e, h->sigalgs[i]);
		break;
	case 0x000b:
		tb_u8(e, (unsigned)h->n_pf);
		tb_put(e, h->pf, h->n_pf);
		break;
	}
}

/* The ClientHello body (without the handshake header). Caller frees out->p. */
static void tb_hello_body(struct tb_buf *out, const struct tb_hello *h)
{
	tb_u16(out, h->version);
	for (int i = 0; i < 32; i++)
		tb_u8(out, (unsigned)i);
	tb_u8(out, 0); /* session id */
	tb_u16(out, (unsigned)(2 * h->n_ciphers));
	for (size_t i = 0; i < h->n_ciphers; i++)
		tb_u16(out, h->ciphers[i]);
	tb_u8(out, 1);
	tb_u8(out, 0);
	if (h->no_ext_block)
		return;
	size_t at = out->len;
	tb_u16(out, 0);
	for (size_t i = 0; i < h->n_exts; i++) {
		const struct tb_ext *x = &h->exts[i];
		tb_u16(out, x->type);
		size_t lat = out->len;
		tb_u16(out, 0);
		if (x->data || x->len)
			tb_put(out, x->data, x->len);
		else
			tb_ext_body(out, h, x->type);
		tb_u16_at(out, lat, out->len - lat - 2);
	}
	tb_u16_at(out, at, out->len - at - 2);
}

/* Wraps a hello body into handshake records of at most `frag` bytes each. */
static void tb_records(struct tb_buf *out, const uint8_t *body, size_t len, size_t frag)
{
	struct tb_buf hs = { 0 };
	tb_u8(&hs, 1);
	tb_u8(&hs, (unsigned)(len >> 16));
	tb_u16(&hs, (unsigned)(len & 0xffff));
	tb_put(&hs, body, len);
	for (size_t off = 0; off < hs.len; off += frag) {
		size_t n = hs.len - off < frag ? hs.len - off : frag;
		tb_u8(out, 22);
		tb_u16(out, 0x0301);
		tb_u16(out, (unsigned)n);
		tb_put(out, hs.p + off, n);
	}
	free(hs.p);
}

#endif
