/* test_json.c — unit tests for the JSON output helpers: escaping, UTF-8 handling, limits. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/json.h"

struct vec {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *want;
};

static const struct vec vectors[] = {
	{ "", 0, "\"\"" },
	{ "plain text", 0, "\"plain text\"" },
	/* Quotes and backslash. */
	{ "say \"hi\"", 0, "\"say \\\"hi\\\"\"" },
	{ "C:\\dir\\", 0, "\"C:\\\\dir\\\\\"" },
	{ "/", 0, "\"/\"" },
	/* Control characters: short forms where JSON has them, \u00XX otherwise. */
	{ "a\nb\rc\td", 0, "\"a\\nb\\rc\\td\"" },
	{ "\x00", 1, "\"\\u0000\"" },
	{ "\x01\x08\x0b\x0c\x1f", 0, "\"\\u0001\\u0008\\u000b\\u000c\\u001f\"" },
	{ "\x7f", 0, "\"\x7f\"" }, /* DEL needs no escape */
	{ "a\x00z", 3, "\"a\\u0000z\"" },
	/* Valid UTF-8 is kept as it is. */
	{ "\xc3\xa9t\xc3\xa9", 0, "\"\xc3\xa9t\xc3\xa9\"" }, /* U+00E9 */
	{ "\xc2\x80", 0, "\"\xc2\x80\"" },		     /* U+0080, smallest 2-byte */
	{ "\xdf\xbf", 0, "\"\xdf\xbf\"" },		     /* U+07FF */
	{ "\xe0\xa0\x80", 0, "\"\xe0\xa0\x80\"" },	     /* U+0800 */
	{ "\xe2\x82\xac", 0, "\"\xe2\x82\xac\"" },	     /* U+20AC */
	{ "\xed\x9f\xbf", 0, "\"\xed\x9f\xbf\"" },	     /* U+D7FF, below surrogates */
	{ "\xee\x80\x80", 0, "\"\xee\x80\x80\"" },	     /* U+E000, above surrogates */
	{ "\xef\xbf\xbf", 0, "\"\xef\xbf\xbf\"" },	     /* U+FFFF */
	{ "\xf0\x90\x80\x80", 0, "\"\xf0\x90\x80\x80\"" },   /* U+10000 */
	{ "\xf0\x9f\x98\x80", 0, "\"\xf0\x9f\x98\x80\"" },   /* U+1F600 */
	{ "\xf4\x8f\xbf\xbf", 0, "\"\xf4\x8f\xbf\xbf\"" },   /* U+10FFFF */
	/* Invalid UTF-8: every offending byte becomes \u00XX (its Latin-1 reading). */
	{ "\x80", 0, "\"\\u0080\"" }, /* lone continuation */
	{ "\xbf", 0, "\"\\u00bf\"" },
	{ "\xff\xfe", 0, "\"\\u00ff\\u00fe\"" },
	{ "\xc0\xaf", 0, "\"\\u00c0\\u00af\"" },		       /* overlong '/' */
	{ "\xc1\xbf", 0, "\"\\u00c1\\u00bf\"" },		       /* overlong */
	{ "\xe0\x80\xaf", 0, "\"\\u00e0\\u0080\\u00af\"" },	       /* overlong 3-byte */
	{ "\xe0\x9f\xbf", 0, "\"\\u00e0\\u009f\\u00bf\"" },	       /* overlong U+07FF */
	{ "\xf0\x80\x80\xaf", 0, "\"\\u00f0\\u0080\\u0080\\u00af\"" }, /* overlong 4-byte */
	{ "\xf0\x8f\xbf\xbf", 0, "\"\\u00f0\\u008f\\u00bf\\u00bf\"" }, /* overlong U+FFFF */
	{ "\xed\xa0\x80", 0, "\"\\u00ed\\u00a0\\u0080\"" },	       /* surrogate U+D800 */
	{ "\xed\xbf\xbf", 0, "\"\\u00ed\\u00bf\\u00bf\"" },	       /* surrogate U+DFFF */
	{ "\xed\xa0\xbd\xed\xb8\x80", 0,
	  "\"\\u00ed\\u00a0\\u00bd\\u00ed\\u00b8\\u0080\"" },	       /* CESU-8 pair */
	{ "\xf4\x90\x80\x80", 0, "\"\\u00f4\\u0090\\u0080\\u0080\"" }, /* past U+10FFFF */
	{ "\xf5\x80\x80\x80", 0, "\"\\u00f5\\u0080\\u0080\\u0080\"" },
	{ "\xf8\x88\x80\x80\x80", 0, "\"\\u00f8\\u0088\\u0080\\u0080\\u0080\"" },
	{ "\xc3", 0, "\"\\u00c3\"" }, /* cut at the end */
	{ "\xe2\x82", 0, "\"\\u00e2\\u0082\"" },
	{ "\xf0\x9f\x98", 0, "\"\\u00f0\\u009f\\u0098\"" },
	{ "\xc3"
	  "A",
	  0, "\"\\u00c3A\"" }, /* cut by ASCII */
	{ "\xe2\x82"
	  "\"",
	  0, "\"\\u00e2\\u0082\\\"\"" },
	{ "ok\xc3\xa9\xc3(\xc3\xa9", 0, "\"ok\xc3\xa9\\u00c3(\xc3\xa9\"" }, /* resynchronises */
};

static void test_vectors(void)
{
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		struct dynbuf b;
		size_t len = vectors[i].len ? vectors[i].len : strlen(vectors[i].in);
		dynbuf_init(&b, 1024);
		CHECK_INT(json_str(&b, vectors[i].in, len), 0);
		CHECK_SLICE(b.data, b.len, vectors[i].want);
		dynbuf_free(&b);
	}
}

static void test_helpers(void)
{
	static const uint8_t bytes[] = { 0x00, 0x0f, 0xa5, 0xff };
	struct dynbuf b;
	dynbuf_init(&b, 1024);
	CHECK_INT(dynbuf_addc(&b, '{'), 0);
	CHECK_INT(json_key(&b, "a\"b", 1), 0);
	CHECK_INT(json_u64(&b, 0), 0);
	CHECK_INT(json_key(&b, "max", 0), 0);
	CHECK_INT(json_u64(&b, UINT64_MAX), 0);
	CHECK_INT(json_key(&b, "s", 0), 0);
	CHECK_INT(json_cstr(&b, "x\ty"), 0);
	CHECK_INT(json_key(&b, "h", 0), 0);
	CHECK_INT(json_hex(&b, bytes, sizeof bytes), 0);
	CHECK_INT(json_key(&b, "e", 0), 0);
	CHECK_INT(json_hex(&b, bytes, 0), 0);
	CHECK_INT(dynbuf_addc(&b, '}'), 0);
	CHECK_SLICE(b.data, b.len,
		    "{\"a\\\"b\":0,\"max\":18446744073709551615,\"s\":\"x\\ty\",\"h\":\"000fa5ff\","
		    "\"e\":\"\"}");
	CHECK_INT(b.data[b.len], '\0');
	dynbuf_free(&b);
}

/* A long mixed input, to cross the run-copy fast path and the escapes many times. */
static void test_long(void)
{
	static uint8_t in[4096];
	struct dynbuf b;
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i % 7 == 0 ? '"' : 'a' + i % 26);
	dynbuf_init(&b, 1 << 16);
	CHECK_INT(json_str(&b, in, sizeof in), 0);
	CHECK_INT(b.len, 2 + sizeof in + (sizeof in + 6) / 7);
	dynbuf_free(&b);
}

/*
 * When the maximum is reached, the call fails with ERR_NOMEM and the buffer is
 * left exactly as it was (no half-written string), so a caller can flush and
 * retry, or skip the value, without producing broken JSON.
 */
static void test_max(void)
{
	static const char in[] = "ab\"c\xc3\xa9\x01 tail";
	struct dynbuf full;
	dynbuf_init(&full, 1024);
	CHECK_INT(json_str(&full, in, sizeof in - 1), 0);
	for (size_t max = 3; max < 3 + full.len + 1; max++) {
		struct dynbuf b;
		dynbuf_init(&b, max);
		CHECK_INT(dynbuf_adds(&b, "pre"), 0);
		int rc = json_str(&b, in, sizeof in - 1);
		if (3 + full.len <= max) {
			CHECK_INT(rc, 0);
		} else {
			CHECK_INT(rc, ERR_NOMEM);
			if (b.len != 3)
				fprintf(stderr, "max %zu: left \"%s\"\n", max, b.data);
			CHECK_SLICE(b.data, b.len, "pre");
		}
		dynbuf_free(&b);
	}
	dynbuf_free(&full);

	struct dynbuf b;
	dynbuf_init(&b, 5);
	CHECK_INT(dynbuf_adds(&b, "pre"), 0);
	CHECK_INT(json_u64(&b, 123), ERR_NOMEM);
	CHECK_INT(json_hex(&b, (const uint8_t *)"\x01", 1), ERR_NOMEM);
	CHECK_INT(json_key(&b, "k", 0), ERR_NOMEM);
	CHECK_SLICE(b.data, b.len, "pre");
	dynbuf_free(&b);
}

int main(void)
{
	test_vectors();
	test_helpers();
	test_long();
	test_max();
	return check_done("test_json");
}
