/* fuzz_event.c — libFuzzer harness: bytes -> event_decode -> eve_format -> strict JSON check. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/event.h"
#include "report/eve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A strict RFC 8259 checker: exactly one value, no leading zeros, every
 * string valid UTF-8 (no overlong forms, no surrogates) with no raw control
 * characters and only the defined escapes, nesting bounded.
 */
struct jv {
	const uint8_t *p;
	const uint8_t *end;
	int depth;
};

static bool jv_value(struct jv *v);

static void jv_ws(struct jv *v)
{
	while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
		v->p++;
}

static bool jv_lit(struct jv *v, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(v->end - v->p) < n || memcmp(v->p, s, n) != 0)
		return false;
	v->p += n;
	return true;
}

static bool jv_hex4(struct jv *v, uint32_t *out)
{
	uint32_t x = 0;
	if (v->end - v->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		uint8_t c = *v->p++;
		uint32_t d;
		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return false;
		x = x << 4 | d;
	}
	*out = x;
	return true;
}

static bool jv_utf8(struct jv *v)
{
	uint8_t c = *v->p;
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07u;
	} else {
		return false;
	}
	if ((size_t)(v->end - v->p) < n)
		return false;
	for (size_t i = 1; i < n; i++) {
		if ((v->p[i] & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (v->p[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	v->p += n;
	return true;
}

static bool jv_string(struct jv *v)
{
	if (!jv_lit(v, "\""))
		return false;
	while (v->p < v->end) {
		uint8_t c = *v->p;
		if (c == '"') {
			v->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!jv_utf8(v))
				return false;
			continue;
		}
		v->p++;
		if (c != '\\')
			continue;
		if (v->p >= v->end)
			return false;
		c = *v->p++;
		if (c == 'u') {
			uint32_t u, lo;
			if (!jv_hex4(v, &u))
				return false;
			/* A lone surrogate escape is not a character. */
			if (u >= 0xdc00 && u <= 0xdfff)
				return false;
			if (u >= 0xd800 && u <= 0xdbff &&
			    (!jv_lit(v, "\\u") || !jv_hex4(v, &lo) || lo < 0xdc00 || lo > 0xdfff))
				return false;
		} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
			return false;
		}
	}
	return false;
}

static bool jv_digits(struct jv *v)
{
	const uint8_t *s = v->p;
	while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > s;
}

static bool jv_number(struct jv *v)
{
	if (v->p < v->end && *v->p == '-')
		v->p++;
	if (v->p < v->end && *v->p == '0')
		v->p++;
	else if (!jv_digits(v))
		return false;
	if (v->p < v->end && *v->p == '.') {
		v->p++;
		if (!jv_digits(v))
			return false;
	}
	if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
		v->p++;
		if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
			v->p++;
		if (!jv_digits(v))
			return false;
	}
	return true;
}

static bool jv_container(struct jv *v, uint8_t close)
{
	bool obj = close == '}';
	if (++v->depth > 64)
		return false;
	v->p++;
	jv_ws(v);
	if (v->p < v->end && *v->p == close) {
		v->p++;
		v->depth--;
		return true;
	}
	for (;;) {
		jv_ws(v);
		if (obj) {
			if (!jv_string(v))
				return false;
			jv_ws(v);
			if (!jv_lit(v, ":"))
				return false;
		}
		if (!jv_value(v))
			return false;
		jv_ws(v);
		if (v->p >= v->end)
			return false;
		if (*v->p == close) {
			v->p++;
			v->depth--;
			return true;
		}
		if (*v->p != ',')
			return false;
		v->p++;
	}
}

static bool jv_value(struct jv *v)
{
	jv_ws(v);
	if (v->p >= v->end)
		return false;
	switch (*v->p) {
	case '{':
		return jv_container(v, '}');
	case '[':
		return jv_container(v, ']');
	case '"':
		return jv_string(v);
	case 't':
		return jv_lit(v, "true");
	case 'f':
		return jv_lit(v, "false");
	case 'n':
		return jv_lit(v, "null");
	default:
		return jv_number(v);
	}
}

/* The output must be one JSON object, then '\n', and no other newline. */
static bool eve_line_ok(const char *s, size_t n)
{
	if (n < 3 || s[0] != '{' || s[n - 1] != '\n' || memchr(s, '\n', n - 1))
		return false;
	struct jv v = { (const uint8_t *)s, (const uint8_t *)s + n - 1, 0 };
	if (!jv_value(&v))
		return false;
	return v.p == v.end;
}

static void fail(const char *what, const struct dynbuf *out)
{
	fprintf(stderr, "fuzz_event: %s\n%.*s\n", what, (int)(out->len > 4096 ? 4096 : out->len),
		out->data ? out->data : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_view v;
	struct dynbuf out, small;
	int drc = event_decode(data, size, &v);

	if (drc == 0) {
		/* The fields tile the record: the iterator must consume exactly all of it. */
		struct event_field f;
		size_t pos = 0;
		while (event_field_next(&v, &pos, &f))
			;
		if (pos != v.fields_len)
			abort();
	}

	dynbuf_init(&out, 1u << 22);
	int rc = eve_format(data, size, size & 1 ? "sensor-\xff\"1" : NULL, &out);
	if (rc != drc)
		fail("eve_format and event_decode disagree", &out);
	if (rc != 0) {
		if (out.len != 0)
			fail("output written for a record that does not decode", &out);
		dynbuf_free(&out);
		return 0;
	}
	if (!eve_line_ok(out.data, out.len))
		fail("invalid JSON line", &out);

	/* A maximum hit anywhere leaves the buffer as it was; otherwise the same line. */
	size_t max = size ? (size_t)data[size - 1] * 8 : 0;
	dynbuf_init(&small, max);
	rc = eve_format(data, size, size & 1 ? "sensor-\xff\"1" : NULL, &small);
	if (rc == 0 ? small.len != out.len || memcmp(small.data, out.data, out.len) != 0 :
		      rc != ERR_NOMEM || small.len != 0)
		fail("bounded output differs", &small);
	dynbuf_free(&small);
	dynbuf_free(&out);
	return 0;
}
