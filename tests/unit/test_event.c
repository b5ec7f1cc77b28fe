/* test_event.c — unit tests for the binary event record: builder, decoder, fields, addresses. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "core/event.h"

static uint8_t buf[EVENT_MAX_LEN + 16];

static void header(struct event_header *h, const char *src, const char *dst)
{
	memset(h, 0, sizeof *h);
	h->type = EVENT_HTTP;
	h->flags = EVENT_F_VIA_PROXY;
	h->transport = 6;
	h->ts_us = 1695017613903924ULL;
	h->flow_id = 0x0102030405060708ULL;
	CHECK_INT(event_addr_parse(src, &h->src), 0);
	CHECK_INT(event_addr_parse(dst, &h->dst), 0);
	h->src.port = 49152;
	h->dst.port = 80;
}

/* A record with one field of each kind; returns its length. */
static size_t build_sample(void)
{
	struct event_header h;
	struct event_builder b;
	struct event_addr peer;
	size_t len = 0;
	header(&h, "192.0.2.10", "198.51.100.1");
	CHECK_INT(event_addr_parse("2001:db8::7", &peer), 0);
	peer.port = 4242;
	event_begin(&b, buf, sizeof buf, &h);
	event_put_str(&b, EVENT_T_FAMILY, "rustock");
	event_put_u16(&b, EVENT_T_HTTP_STATUS, 404);
	event_put_u32(&b, EVENT_T_TX_ID, 0x01020304);
	event_put_u64(&b, EVENT_T_HTTP_BODY_LEN, 0x1122334455667788ULL);
	event_put_addr(&b, EVENT_T_PEER, &peer);
	event_put(&b, 0x7ffe, "??", 2); /* a tag from the future */
	event_put(&b, EVENT_T_RAW_PREFIX, NULL, 0);
	event_add_flags(&b, EVENT_F_MALFORMED);
	CHECK_INT(event_finish(&b, &len), 0);
	return len;
}

static void test_round_trip(void)
{
	size_t len = build_sample();
	struct event_view v;
	struct event_field f;
	struct event_addr a;
	char text[64];

	CHECK_INT(len, EVENT_HEADER_LEN + (4 + 7) + (4 + 2) + (4 + 4) + (4 + 8) + (4 + 19) +
			       (4 + 2) + 4);
	CHECK_INT(event_decode(buf, len, &v), 0);
	CHECK_INT(v.h.version, EVENT_FORMAT_VERSION);
	CHECK_INT(v.h.type, EVENT_HTTP);
	CHECK_INT(v.h.flags, EVENT_F_VIA_PROXY | EVENT_F_MALFORMED);
	CHECK_INT(v.h.transport, 6);
	CHECK(v.h.ts_us == 1695017613903924ULL);
	CHECK(v.h.flow_id == 0x0102030405060708ULL);
	CHECK_INT(v.h.src.ipver, 4);
	CHECK_INT(v.h.dst.ipver, 4);
	CHECK_INT(v.h.src.port, 49152);
	CHECK_INT(v.h.dst.port, 80);
	CHECK_STR(event_addr_str(&v.h.src, text, sizeof text), "192.0.2.10");
	CHECK_STR(event_addr_str(&v.h.dst, text, sizeof text), "198.51.100.1");
	CHECK_INT(v.fields_len, len - EVENT_HEADER_LEN);

	/* The iterator returns every field in order, unknown tags included. */
	static const uint16_t tags[] = { EVENT_T_FAMILY,	EVENT_T_HTTP_STATUS, EVENT_T_TX_ID,
					 EVENT_T_HTTP_BODY_LEN, EVENT_T_PEER,	     0x7ffe,
					 EVENT_T_RAW_PREFIX };
	size_t pos = 0, n = 0;
	while (event_field_next(&v, &pos, &f)) {
		CHECK(n < sizeof tags / sizeof tags[0]);
		if (n < sizeof tags / sizeof tags[0])
			CHECK_INT(f.tag, tags[n]);
		n++;
	}
	CHECK_INT(n, sizeof tags / sizeof tags[0]);
	CHECK_INT(pos, v.fields_len);

	CHECK(event_find(&v, EVENT_T_FAMILY, &f));
	CHECK_SLICE(f.val, f.len, "rustock");
	CHECK(event_find(&v, EVENT_T_HTTP_STATUS, &f));
	CHECK_INT(event_field_uint(&f), 404);
	CHECK(event_find(&v, EVENT_T_TX_ID, &f));
	CHECK_INT(event_field_uint(&f), 0x01020304);
	CHECK(event_find(&v, EVENT_T_HTTP_BODY_LEN, &f));
	CHECK(event_field_uint(&f) == 0x1122334455667788ULL);
	CHECK(event_find(&v, EVENT_T_PEER, &f));
	CHECK(event_field_addr(&f, &a));
	CHECK_INT(a.ipver, 6);
	CHECK_INT(a.port, 4242);
	CHECK_STR(event_addr_str(&a, text, sizeof text), "2001:db8::7");
	CHECK(event_find(&v, EVENT_T_RAW_PREFIX, &f));
	CHECK_INT(f.len, 0);
	CHECK(!event_find(&v, EVENT_T_HTTP_URI, &f));

	/* Fields of the wrong size are not numbers or addresses. */
	CHECK(event_find(&v, 0x7ffe, &f));
	CHECK_INT(event_field_uint(&f), 0x3f3f);
	CHECK(event_find(&v, EVENT_T_FAMILY, &f));
	CHECK_INT(event_field_uint(&f), 0);
	CHECK(!event_field_addr(&f, &a));
}

static void test_repeated_tags(void)
{
	struct event_header h;
	struct event_builder b;
	struct event_view v;
	struct event_field f;
	size_t len = 0;
	header(&h, "192.0.2.1", "192.0.2.2");
	event_begin(&b, buf, sizeof buf, &h);
	event_put_str(&b, EVENT_T_TAG, "one");
	event_put_str(&b, EVENT_T_TAG, "two");
	CHECK_INT(event_finish(&b, &len), 0);
	CHECK_INT(event_decode(buf, len, &v), 0);
	CHECK(event_find(&v, EVENT_T_TAG, &f));
	CHECK_SLICE(f.val, f.len, "one");
}

static void test_overflow(void)
{
	struct event_header h;
	struct event_builder b;
	size_t len = 12345;
	uint8_t small[EVENT_HEADER_LEN + 8];
	header(&h, "192.0.2.1", "192.0.2.2");

	/* Too small for the header: nothing written, reported once at the end. */
	event_begin(&b, small, EVENT_HEADER_LEN - 1, &h);
	CHECK(b.overflow);
	event_put_str(&b, EVENT_T_FAMILY, "x");
	event_add_flags(&b, EVENT_F_MALFORMED);
	CHECK_INT(event_finish(&b, &len), ERR_NOMEM);
	CHECK_INT(len, 12345);

	/* Exactly full is fine; one byte more overflows and stays overflowed. */
	event_begin(&b, small, sizeof small, &h);
	event_put(&b, EVENT_T_REASON, "abcd", 4);
	CHECK(!b.overflow);
	CHECK_INT(event_finish(&b, &len), 0);
	CHECK_INT(len, sizeof small);
	event_put(&b, EVENT_T_REASON, "", 0);
	CHECK(b.overflow);
	CHECK_INT(event_finish(&b, &len), ERR_NOMEM);

	event_begin(&b, small, sizeof small, &h);
	event_put(&b, EVENT_T_REASON, "abcde", 5);
	CHECK(b.overflow);
	event_put(&b, EVENT_T_REASON, "", 0); /* would fit, but the error is sticky */
	CHECK_INT(event_finish(&b, &len), ERR_NOMEM);

	/* No record may pass EVENT_MAX_LEN, whatever the buffer. */
	static uint8_t big[EVENT_MAX_LEN];
	/* Fill with 65535-byte values up to exactly EVENT_MAX_LEN, then one byte more. */
	size_t fill_left = EVENT_MAX_LEN - EVENT_HEADER_LEN;
	event_begin(&b, buf, sizeof buf, &h);
	while (fill_left > 4) {
		size_t v = fill_left - 4 > 65535 ? 65535 : fill_left - 4;
		event_put(&b, EVENT_T_RAW_PREFIX, big, v);
		fill_left -= 4 + v;
	}
	CHECK_INT(fill_left, 0);
	CHECK(!b.overflow);
	CHECK_INT(event_finish(&b, &len), 0);
	CHECK_INT(len, EVENT_MAX_LEN);
	event_put(&b, EVENT_T_RAW_PREFIX, big, 0);
	CHECK(b.overflow);

	/* A value over 65535 bytes is cut and flags the record truncated. */
	static uint8_t huge[70000];
	event_begin(&b, huge, sizeof huge, &h);
	event_put(&b, EVENT_T_RAW_PREFIX, big, 65536 + 10);
	CHECK((huge[3] & EVENT_F_TRUNCATED) != 0);
}

static void test_truncated_and_tiling(void)
{
	size_t len = build_sample();
	struct event_view v;

	/* Every prefix: shorter than the header is corrupt; past it, field boundaries decode. */
	size_t boundaries[16], nb = 0;
	CHECK_INT(event_decode(buf, len, &v), 0);
	struct event_field f;
	size_t pos = 0;
	boundaries[nb++] = 0;
	while (event_field_next(&v, &pos, &f) && nb < 16)
		boundaries[nb++] = pos;
	for (size_t cut = 0; cut < len; cut++) {
		int want = ERR_CORRUPT;
		if (cut >= EVENT_HEADER_LEN)
			for (size_t i = 0; i < nb; i++)
				if (boundaries[i] == cut - EVENT_HEADER_LEN)
					want = 0;
		int rc = event_decode(buf, cut, &v);
		if (rc != want)
			fprintf(stderr, "cut at %zu\n", cut);
		CHECK_INT(rc, want);
	}

	/* A field length pointing past the end. */
	buf[EVENT_HEADER_LEN + 3] = 8; /* family "rustock" is 7 */
	CHECK_INT(event_decode(buf, len, &v), ERR_CORRUPT);
	buf[EVENT_HEADER_LEN + 3] = 7;
	CHECK_INT(event_decode(buf, len, &v), 0);

	/* Trailing bytes that are not a whole field. */
	for (size_t extra = 1; extra < 4; extra++) {
		memset(buf + len, 0, extra);
		CHECK_INT(event_decode(buf, len + extra, &v), ERR_CORRUPT);
	}
	/* ...but a trailing empty field is fine. */
	memset(buf + len, 0, 4);
	CHECK_INT(event_decode(buf, len + 4, &v), 0);

	/* Header checks. */
	CHECK_INT(event_decode(buf, EVENT_MAX_LEN + 1, &v), ERR_CORRUPT);
	buf[0] = 2;
	CHECK_INT(event_decode(buf, len, &v), ERR_UNSUPPORTED);
	buf[0] = 0;
	CHECK_INT(event_decode(buf, len, &v), ERR_UNSUPPORTED);
	buf[0] = EVENT_FORMAT_VERSION;
	buf[5] = 5;
	CHECK_INT(event_decode(buf, len, &v), ERR_CORRUPT);
	buf[5] = 6;
	CHECK_INT(event_decode(buf, len, &v), 0);
	CHECK_INT(v.h.src.ipver, 6);
	CHECK_INT(v.h.dst.ipver, 6);
}

static void test_addr(void)
{
	static const struct {
		const char *in;
		int ipver;
		const char *out;
	} ok[] = {
		{ "192.0.2.1", 4, "192.0.2.1" },
		{ "0.0.0.0", 4, "0.0.0.0" },
		{ "255.255.255.255", 4, "255.255.255.255" },
		{ "2001:db8::1", 6, "2001:db8::1" },
		{ "2001:DB8:0:0:0:0:0:1", 6, "2001:db8::1" },
		{ "::", 6, "::" },
		{ "::1", 6, "::1" },
		{ "::ffff:192.0.2.1", 6, "::ffff:192.0.2.1" },
		{ "fe80::1:2:3:4", 6, "fe80::1:2:3:4" },
	};
	static const char *const bad[] = {
		"",	    "1.2.3",	      "1.2.3.4.5", "256.0.0.1", "1.2.3.4:80",
		" 1.2.3.4", "2001:db8::1::2", "g::1",	   "[::1]",	"2001:db8::1%eth0",
		"12345::",
	};
	struct event_addr a;
	char text[64];
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		memset(&a, 0xee, sizeof a);
		CHECK_INT(event_addr_parse(ok[i].in, &a), 0);
		CHECK_INT(a.ipver, ok[i].ipver);
		CHECK_INT(a.port, 0);
		CHECK_STR(event_addr_str(&a, text, sizeof text), ok[i].out);
		if (ok[i].ipver == 4) {
			static const uint8_t zero[12];
			CHECK(memcmp(a.addr + 4, zero, sizeof zero) == 0);
		}
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = event_addr_parse(bad[i], &a);
		if (rc != ERR_INVAL)
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
		CHECK_INT(rc, ERR_INVAL);
	}

	/* Too small a buffer gives an empty string, never an overrun. */
	CHECK_INT(event_addr_parse("2001:db8::1", &a), 0);
	CHECK_STR(event_addr_str(&a, text, 4), "");

	/* Through the record as a field. */
	struct event_header h;
	struct event_builder b;
	struct event_view v;
	struct event_field f;
	struct event_addr back;
	size_t len = 0;
	header(&h, "2001:db8::1", "2001:db8::2");
	CHECK_INT(event_addr_parse("203.0.113.9", &a), 0);
	a.port = 65535;
	event_begin(&b, buf, sizeof buf, &h);
	event_put_addr(&b, EVENT_T_FORWARDED_BY, &a);
	CHECK_INT(event_finish(&b, &len), 0);
	CHECK_INT(event_decode(buf, len, &v), 0);
	CHECK_STR(event_addr_str(&v.h.src, text, sizeof text), "2001:db8::1");
	CHECK_STR(event_addr_str(&v.h.dst, text, sizeof text), "2001:db8::2");
	CHECK(event_find(&v, EVENT_T_FORWARDED_BY, &f));
	CHECK(event_field_addr(&f, &back));
	CHECK(memcmp(&back.addr, &a.addr, 16) == 0);
	CHECK_INT(back.ipver, 4);
	CHECK_INT(back.port, 65535);
	buf[EVENT_HEADER_LEN + 4] = 5; /* not an ip version */
	CHECK(!event_field_addr(&f, &back));
}

int main(void)
{
	test_round_trip();
	test_repeated_tags();
	test_overflow();
	test_truncated_and_tiling();
	test_addr();
	return check_done("test_event");
}
