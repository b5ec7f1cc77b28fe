/* json.c — JSON text output helpers. */
#include "core/json.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/err.h"

size_t json_utf8_seq_len(const uint8_t *p, size_t left)
{
	uint8_t c = p[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* On failure every function leaves the buffer as it found it: no half-written strings. */
static int json_rollback(struct dynbuf *b, size_t start, int rc)
{
	if (rc) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
	}
	return rc;
}

int json_str(struct dynbuf *b, const void *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = s;
	size_t start = b->len;
	int rc = dynbuf_addc(b, '"');
	size_t i = 0;
	while (rc == 0 && i < len) {
		/* Copy the longest run that needs no escaping in one go. */
		size_t run = i;
		while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			rc = dynbuf_add(b, p + i, run - i);
			i = run;
			continue;
		}
		uint8_t c = p[i];
		char esc[7];
		switch (c) {
		case '"':
			rc = dynbuf_add(b, "\\\"", 2);
			i++;
			continue;
		case '\\':
			rc = dynbuf_add(b, "\\\\", 2);
			i++;
			continue;
		case '\n':
			rc = dynbuf_add(b, "\\n", 2);
			i++;
			continue;
		case '\r':
			rc = dynbuf_add(b, "\\r", 2);
			i++;
			continue;
		case '\t':
			rc = dynbuf_add(b, "\\t", 2);
			i++;
			continue;
		default:
			break;
		}
		size_t n = c >= 0x80 ? json_utf8_seq_len(p + i, len - i) : 0;
		if (n > 1) {
			rc = dynbuf_add(b, p + i, n);
			i += n;
			continue;
		}
		esc[0] = '\\';
		esc[1] = 'u';
		esc[2] = '0';
		esc[3] = '0';
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		rc = dynbuf_add(b, esc, 6);
		i++;
	}
	if (rc == 0)
		rc = dynbuf_addc(b, '"');
	return json_rollback(b, start, rc);
}

int json_cstr(struct dynbuf *b, const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return json_str(b, s, n);
}

int json_key(struct dynbuf *b, const char *key, int first)
{
	size_t start = b->len;
	int rc = first ? 0 : dynbuf_addc(b, ',');
	if (rc == 0)
		rc = json_cstr(b, key);
	if (rc == 0)
		rc = dynbuf_addc(b, ':');
	return json_rollback(b, start, rc);
}

int json_u64(struct dynbuf *b, uint64_t v)
{
	return dynbuf_printf(b, "%" PRIu64, v);
}

int json_hex(struct dynbuf *b, const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = b->len;
	int rc = dynbuf_addc(b, '"');
	for (size_t i = 0; rc == 0 && i < len; i++) {
		char two[2] = { hex[p[i] >> 4], hex[p[i] & 15] };
		rc = dynbuf_add(b, two, 2);
	}
	if (rc == 0)
		rc = dynbuf_addc(b, '"');
	return json_rollback(b, start, rc);
}
