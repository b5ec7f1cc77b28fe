/* test_chrow.c — RowBinary: an encoded events row decodes to the same values; results in any pieces; the schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "store/ch_rowbin.h"
#include "store/ch_schema.h"

/* The insert layout of chr_event_columns. */
static const uint8_t insert_types[] = {
	CHR_U16, CHR_STR, CHR_U32,  CHR_U64, CHR_U64, CHR_U8,  CHR_U8,	 CHR_U8,
	CHR_U8,	 CHR_U16, CHR_FS16, CHR_U16, CHR_U32, CHR_FS2, CHR_FS16, CHR_U16,
	CHR_U32, CHR_FS2, CHR_STR,  CHR_STR, CHR_STR, CHR_STR, CHR_STR,	 CHR_STR,
	CHR_STR, CHR_STR, CHR_STR,  CHR_STR, CHR_STR, CHR_STR, CHR_STR,
};

static void set(struct store_event *e, enum store_col c, const char *s)
{
	e->col[c].p = s;
	e->col[c].len = strlen(s);
}

static void test_event_roundtrip(void)
{
	static char long_url[300];
	memset(long_url, 'u', sizeof long_url - 1);
	struct store_event e = { 0 };
	e.ts_us = 1795900000123456ull; /* 2026-11-28 */
	e.kind = 1;
	e.type = 2;
	e.transport = 6;
	e.ipver = 4;
	e.flags = 0x8001;
	memcpy(e.src, "\x64\x41\x08\x4d", 4);
	e.src[9] = 0xee; /* garbage past an IPv4 address is not shipped */
	e.src_port = 4321;
	e.src_asn = 64503;
	memcpy(e.src_cc, "GB", 3);
	memcpy(e.dst, "\x7f\x00\x00\x01", 4);
	e.dst_port = 80;
	set(&e, STORE_C_FAMILY, "rustock");
	set(&e, STORE_C_SENSOR, "s1");
	set(&e, STORE_C_HTTP_URL, long_url);
	set(&e, STORE_C_SSL_CIPHER, "TLS_AES_128_GCM_SHA256");
	struct log_pos pos = { 7, 0x123456789ull };
	struct dynbuf b;
	dynbuf_init(&b, 1 << 20);
	CHECK_INT(chr_put_event(&b, &e, &pos), 0);
	struct chr_val v[CHR_COLS_MAX];
	size_t used = 0;
	CHECK_INT(chr_row((const uint8_t *)b.data, b.len, insert_types, sizeof insert_types, v,
			  &used),
		  0);
	CHECK_INT(used, b.len);
	CHECK_INT(v[0].u, 1795900000123456ull / 86400000000ull);
	CHECK_SLICE(v[1].p, v[1].len, "s1");
	CHECK_INT(v[2].u, 7);
	CHECK_INT(v[3].u, 0x123456789ull);
	CHECK_INT(v[4].u, e.ts_us);
	CHECK_INT(v[5].u, 1);
	CHECK_INT(v[8].u, 4);
	CHECK_INT(v[9].u, 0x8001);
	CHECK(!memcmp(v[10].p, "\x64\x41\x08\x4d\0\0\0\0\0\0\0\0\0\0\0\0", 16));
	CHECK_INT(v[11].u, 4321);
	CHECK_INT(v[12].u, 64503);
	CHECK_SLICE(v[13].p, v[13].len, "GB");
	CHECK(!memcmp(v[17].p, "\0\0", 2)); /* no country: two zero bytes */
	CHECK_SLICE(v[18].p, v[18].len, "rustock");
	CHECK_INT(v[19].len, 0);
	CHECK_INT(v[20].len, sizeof long_url - 1); /* a two-byte length */
	CHECK_SLICE(v[30].p, v[30].len, "TLS_AES_128_GCM_SHA256");
	/* Every prefix is "need more", never a row. */
	for (size_t k = 0; k < b.len; k++)
		CHECK_INT(chr_row((const uint8_t *)b.data, k, insert_types, sizeof insert_types, v,
				  &used),
			  ERR_NEED_MORE);
	dynbuf_free(&b);
}

struct sum {
	uint64_t rows, total;
};

static int add_row(void *ctx, const struct chr_val *row)
{
	struct sum *s = ctx;
	s->rows++;
	s->total += row[0].u + row[1].len;
	return 0;
}

static void test_stream_pieces(void)
{
	/* 50 rows of (UInt64, String) fed one byte at a time and in one piece. */
	static const uint8_t types[] = { CHR_U64, CHR_STR };
	uint8_t buf[50 * 64];
	size_t len = 0;
	uint64_t want = 0;
	for (int i = 0; i < 50; i++) {
		uint64_t v = (uint64_t)i * 1000003u;
		for (int k = 0; k < 8; k++)
			buf[len++] = (uint8_t)(v >> (8 * k));
		buf[len++] = (uint8_t)(i % 40);
		memset(buf + len, 'x', (size_t)(i % 40));
		len += (size_t)(i % 40);
		want += v + (uint64_t)(i % 40);
	}
	for (size_t piece = 1; piece <= len; piece = piece * 3 + 1) {
		struct sum s = { 0, 0 };
		struct chr_stream st;
		chr_stream_init(&st, types, 2, add_row, &s);
		for (size_t off = 0; off < len; off += piece)
			CHECK_INT(chr_stream_feed(&st, buf + off,
						  len - off < piece ? len - off : piece),
				  0);
		CHECK_INT(chr_stream_end(&st), 0);
		CHECK_INT(s.rows, 50);
		CHECK_INT(s.total, want);
		chr_stream_free(&st);
	}
	/* A result cut inside a row is an error at its end. */
	struct sum s = { 0, 0 };
	struct chr_stream st;
	chr_stream_init(&st, types, 2, add_row, &s);
	CHECK_INT(chr_stream_feed(&st, buf, len - 1), 0);
	CHECK_INT(chr_stream_end(&st), ERR_MALFORMED);
	chr_stream_free(&st);
	/* A String longer than any result may hold is refused, not waited for. */
	uint8_t huge[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f };
	chr_stream_init(&st, types, 2, add_row, &s);
	CHECK_INT(chr_stream_feed(&st, huge, sizeof huge), ERR_MALFORMED);
	chr_stream_free(&st);
}

static void test_schema(void)
{
	struct dynbuf b;
	dynbuf_init(&b, 1 << 16);
	size_t n = 0;
	while (ch_schema_stmt(&b, n, "db1", "c1") == 0) {
		dynbuf_addc(&b, '\n');
		n++;
	}
	CHECK_INT(n, 3);
	CHECK(strstr(b.data, "CREATE TABLE IF NOT EXISTS db1.events_local") != NULL);
	CHECK(strstr(b.data, "Distributed(c1, db1, events_local, cityHash64(sensor, seg))") !=
	      NULL);
	CHECK(strstr(b.data, "ORDER BY (day, sensor, seg, off)") != NULL);
	dynbuf_reset(&b);
	n = 0;
	while (ch_schema_stmt(&b, n, "db1", NULL) == 0)
		n++;
	CHECK_INT(n, 2);
	CHECK(strstr(b.data, "db1.events\n") != NULL && !strstr(b.data, "Distributed"));
	/* Every column the encoder writes is in the table. */
	char cols[1024];
	CHECK(strlen(chr_event_columns) < sizeof cols);
	snprintf(cols, sizeof cols, "%s", chr_event_columns);
	for (char *save, *t = strtok_r(cols, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		char want[64];
		snprintf(want, sizeof want, "  %s ", t);
		CHECK(strstr(b.data, want) != NULL);
	}
	dynbuf_free(&b);
}

int main(void)
{
	test_event_roundtrip();
	test_stream_pieces();
	test_schema();
	return check_done("test_chrow");
}
