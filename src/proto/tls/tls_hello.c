/* tls_hello.c — ClientHello record reassembly and parsing through the bounds-checked cursor. */
#include "proto/tls/tls_hello.h"

#include <string.h>

#include "core/cursor.h"
#include "core/err.h"

/*
 * A legitimate hello needs at most ceil(131396 / 16384) = 9 full records;
 * clients with small fragments use more. The cap bounds the work of
 * rescanning a hello that arrives a byte at a time.
 */
#define TLS_HELLO_MAX_RECORDS 256u

/*
 * Walks the records once. Without `msg` it only decides whether the hello is
 * complete; with it, it copies the fragments. Both walks see the same bytes,
 * so the second cannot fail where the first succeeded.
 */
static enum tls_scan_result scan(const uint8_t *raw, size_t len, uint8_t *msg, size_t cap,
				 size_t *msg_len, size_t *raw_used, const char **why)
{
	uint8_t hs[4];
	size_t got = 0;	 /* handshake bytes seen, header included */
	size_t want = 0; /* 4 + body length once the header is known */
	size_t pos = 0;
	for (unsigned rec = 0;; rec++) {
		size_t left = len - pos;
		if (left == 0)
			return TLS_SCAN_NEED_MORE;
		/* What is there of a record header is checked before waiting for the rest. */
		if (raw[pos] != TLS_CT_HANDSHAKE) {
			*why = rec == 0 ? "first byte is not a TLS handshake record" :
					  "a non-handshake record inside the ClientHello";
			return rec == 0 ? TLS_SCAN_NOT_TLS : TLS_SCAN_MALFORMED;
		}
		if (left >= 2 && raw[pos + 1] != 3) {
			*why = rec == 0 ? "record version is not 3.x" :
					  "record version is not 3.x inside the ClientHello";
			return rec == 0 ? TLS_SCAN_NOT_TLS : TLS_SCAN_MALFORMED;
		}
		if (rec >= TLS_HELLO_MAX_RECORDS) {
			*why = "ClientHello split into too many records";
			return TLS_SCAN_MALFORMED;
		}
		if (left < TLS_RECORD_HEADER)
			return TLS_SCAN_NEED_MORE;
		size_t rlen = get_be16(raw + pos + 3);
		if (rlen == 0) {
			*why = "empty handshake record";
			return TLS_SCAN_MALFORMED;
		}
		if (rlen > TLS_RECORD_MAX) {
			*why = "record longer than 16384 bytes";
			return TLS_SCAN_MALFORMED;
		}
		const uint8_t *frag = raw + pos + TLS_RECORD_HEADER;
		size_t avail = left - TLS_RECORD_HEADER < rlen ? left - TLS_RECORD_HEADER : rlen;
		size_t i = 0;
		while (got < 4 && i < avail)
			hs[got++] = frag[i++];
		if (got == 4 && want == 0) {
			if (hs[0] != TLS_HS_CLIENT_HELLO) {
				*why = "first handshake message is not a ClientHello";
				return TLS_SCAN_MALFORMED;
			}
			size_t body = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
			if (body > TLS_HELLO_MAX) {
				*why = "ClientHello longer than 131396 bytes";
				return TLS_SCAN_MALFORMED;
			}
			want = 4 + body;
		}
		if (want) {
			size_t take = avail - i;
			if (take > want - got)
				take = want - got;
			if (msg) {
				if (got - 4 + take > cap) {
					*why = "ClientHello larger than the buffer";
					return TLS_SCAN_MALFORMED;
				}
				memcpy(msg + (got - 4), frag + i, take);
			}
			got += take;
			if (got == want) {
				*msg_len = want - 4;
				*raw_used = pos + TLS_RECORD_HEADER + rlen;
				/* The record may still be arriving after the hello's last byte. */
				return avail == rlen ? TLS_SCAN_DONE : TLS_SCAN_NEED_MORE;
			}
		}
		if (avail < rlen)
			return TLS_SCAN_NEED_MORE;
		pos += TLS_RECORD_HEADER + rlen;
	}
}

enum tls_scan_result tls_hello_scan(const uint8_t *raw, size_t len, uint8_t *msg, size_t cap,
				    size_t *msg_len, size_t *raw_used, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	size_t ml = 0, used = 0;
	enum tls_scan_result r = scan(raw, len, NULL, 0, &ml, &used, why);
	if (r != TLS_SCAN_DONE)
		return r;
	r = scan(raw, len, msg, cap, &ml, &used, why);
	if (r == TLS_SCAN_DONE) {
		*msg_len = ml;
		*raw_used = used;
	}
	return r;
}

bool tls_ext_next(const struct tls_hello *h, size_t *pos, uint16_t *type, struct tls_slice *body)
{
	/* The block was validated by tls_hello_parse: every header and body fits. */
	if (!h->exts.ptr || *pos + 4 > h->exts.len)
		return false;
	const uint8_t *p = h->exts.ptr + *pos;
	size_t n = get_be16(p + 2);
	if (n > h->exts.len - *pos - 4)
		return false;
	*type = get_be16(p);
	body->ptr = p + 4;
	body->len = n;
	*pos += 4 + n;
	return true;
}

/* Checks that a vector of 2-byte values with a 1- or 2-byte length prefix fills body exactly. */
static bool vec16(struct tls_slice body, size_t prefix, size_t min, struct tls_slice *out)
{
	struct cursor c;
	cursor_init(&c, body.ptr, body.len);
	size_t n = prefix == 1 ? cursor_u8(&c) : cursor_be16(&c);
	const uint8_t *p = cursor_take(&c, n);
	if (!cursor_ok(&c) || cursor_left(&c) != 0 || n % 2 || n < min)
		return false;
	out->ptr = p ? p : body.ptr + prefix;
	out->len = n;
	return true;
}

static int parse_ext(struct tls_hello *h, uint16_t type, struct tls_slice body, const char **why)
{
	struct cursor c;
	cursor_init(&c, body.ptr, body.len);
	switch (type) {
	case TLS_EXT_SNI: {
		/* server_name_list: (u8 name_type, u16 len, name)*; the first host_name counts. */
		if (body.len == 0) {
			/* A server's echo is empty; a client's is not, but record it as present. */
			h->sni.ptr = body.ptr ? body.ptr : (const uint8_t *)"";
			h->sni.len = 0;
			return 0;
		}
		size_t list = cursor_be16(&c);
		if (!cursor_ok(&c) || list != cursor_left(&c)) {
			*why = "bad server_name list length";
			return ERR_MALFORMED;
		}
		bool found = false;
		while (cursor_left(&c)) {
			uint8_t kind = cursor_u8(&c);
			size_t n = cursor_be16(&c);
			const uint8_t *name = cursor_take(&c, n);
			if (!cursor_ok(&c)) {
				*why = "server_name entry overruns its list";
				return ERR_MALFORMED;
			}
			if (kind == 0 && !found) {
				h->sni.ptr = name ? name : body.ptr;
				h->sni.len = n;
				found = true;
			}
		}
		if (!found) {
			h->sni.ptr = body.ptr;
			h->sni.len = 0;
		}
		return 0;
	}
	case TLS_EXT_ALPN: {
		size_t list = cursor_be16(&c);
		const uint8_t *p = cursor_take(&c, list);
		if (!cursor_ok(&c) || cursor_left(&c) != 0) {
			*why = "bad ALPN list length";
			return ERR_MALFORMED;
		}
		struct cursor names;
		cursor_init(&names, p, list);
		while (cursor_left(&names)) {
			size_t n = cursor_u8(&names);
			cursor_skip(&names, n);
			if (!cursor_ok(&names)) {
				*why = "ALPN name overruns its list";
				return ERR_MALFORMED;
			}
		}
		h->alpn.ptr = p ? p : body.ptr + 2;
		h->alpn.len = list;
		return 0;
	}
	case TLS_EXT_SUPPORTED_VERSIONS:
		if (!vec16(body, 1, 0, &h->versions)) {
			*why = "bad supported_versions list";
			return ERR_MALFORMED;
		}
		return 0;
	case TLS_EXT_SUPPORTED_GROUPS:
		if (!vec16(body, 2, 0, &h->groups)) {
			*why = "bad supported_groups list";
			return ERR_MALFORMED;
		}
		return 0;
	case TLS_EXT_SIG_ALGS:
		if (!vec16(body, 2, 0, &h->sigalgs)) {
			*why = "bad signature_algorithms list";
			return ERR_MALFORMED;
		}
		return 0;
	case TLS_EXT_EC_POINT_FORMATS: {
		size_t n = cursor_u8(&c);
		const uint8_t *p = cursor_take(&c, n);
		if (!cursor_ok(&c) || cursor_left(&c) != 0) {
			*why = "bad ec_point_formats list";
			return ERR_MALFORMED;
		}
		h->point_formats.ptr = p ? p : body.ptr + 1;
		h->point_formats.len = n;
		return 0;
	}
	}
	return 0;
}

int tls_hello_parse(const uint8_t *msg, size_t len, struct tls_hello *h, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	memset(h, 0, sizeof *h);
	struct cursor c;
	cursor_init(&c, msg, len);
	h->legacy_version = cursor_be16(&c);
	cursor_skip(&c, 32); /* random */
	size_t sid = cursor_u8(&c);
	h->session_id.ptr = cursor_take(&c, sid);
	h->session_id.len = sid;
	if (!cursor_ok(&c) || sid > 32) {
		*why = "ClientHello too short or bad session id";
		return ERR_MALFORMED;
	}
	size_t nc = cursor_be16(&c);
	const uint8_t *ciphers = cursor_take(&c, nc);
	if (!cursor_ok(&c) || nc % 2) {
		*why = "bad cipher suite list";
		return ERR_MALFORMED;
	}
	h->ciphers.ptr = ciphers ? ciphers : msg;
	h->ciphers.len = nc;
	size_t ncomp = cursor_u8(&c);
	const uint8_t *comp = cursor_take(&c, ncomp);
	if (!cursor_ok(&c) || ncomp == 0) {
		*why = "bad compression method list";
		return ERR_MALFORMED;
	}
	h->compression.ptr = comp;
	h->compression.len = ncomp;
	if (cursor_left(&c) == 0)
		return 0; /* TLS 1.0-era hello without extensions */
	size_t ne = cursor_be16(&c);
	const uint8_t *exts = cursor_take(&c, ne);
	if (!cursor_ok(&c) || cursor_left(&c) != 0) {
		*why = "extensions block length does not match the message";
		return ERR_MALFORMED;
	}
	h->has_exts = true;
	h->exts.ptr = exts ? exts : msg + len;
	h->exts.len = ne;
	struct cursor e;
	cursor_init(&e, h->exts.ptr, ne);
	while (cursor_left(&e)) {
		uint16_t type = cursor_be16(&e);
		size_t n = cursor_be16(&e);
		const uint8_t *body = cursor_take(&e, n);
		if (!cursor_ok(&e)) {
			*why = "extension overruns the extensions block";
			return ERR_MALFORMED;
		}
		h->n_exts++;
		struct tls_slice s = { body ? body : h->exts.ptr, n };
		int rc = parse_ext(h, type, s, why);
		if (rc)
			return rc;
	}
	return 0;
}

uint16_t tls_hello_max_version(const struct tls_hello *h)
{
	if (!h->versions.ptr)
		return h->legacy_version;
	uint16_t best = 0;
	for (size_t i = 0; i + 1 < h->versions.len; i += 2) {
		uint16_t v = get_be16(h->versions.ptr + i);
		if (!tls_is_grease(v) && v > best)
			best = v;
	}
	return best;
}

struct tls_slice tls_hello_first_alpn(const struct tls_hello *h)
{
	struct tls_slice s = { NULL, 0 };
	if (!h->alpn.ptr || h->alpn.len < 1)
		return s;
	size_t n = h->alpn.ptr[0];
	if (n + 1 > h->alpn.len)
		return s;
	s.ptr = h->alpn.ptr + 1;
	s.len = n;
	return s;
}
