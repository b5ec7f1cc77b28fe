/* fuzz_chrow.c — libFuzzer harness: hostile RowBinary query results through the streaming row decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/ch_rowbin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: byte 0 picks the column types (the store's result shapes, or a
 * mix of every type), byte 1 the size of the pieces the result arrives in;
 * the rest is the result. Every row the stream yields must also decode in
 * one piece from the whole input at the same place, with the same values:
 * piecing never changes what is read, and every value lies inside the input.
 */
static const uint8_t shapes[][8] = {
	{ CHR_U16, CHR_STR, CHR_U32, CHR_FS2, CHR_U64, CHR_U64 },
	{ CHR_U16, CHR_STR, CHR_U64, CHR_U64 },
	{ CHR_U64 },
	{ CHR_U8, CHR_U16, CHR_U32, CHR_U64, CHR_FS2, CHR_FS16, CHR_STR, CHR_STR },
};
static const size_t shape_n[] = { 6, 4, 1, 8 };

struct check {
	const uint8_t *whole;
	size_t len, off;
	const uint8_t *types;
	size_t n;
};

static int on_row(void *ctx, const struct chr_val *row)
{
	struct check *c = ctx;
	struct chr_val ref[CHR_COLS_MAX];
	size_t used;
	if (chr_row(c->whole + c->off, c->len - c->off, c->types, c->n, ref, &used) != 0)
		abort();
	for (size_t i = 0; i < c->n; i++) {
		if (row[i].u != ref[i].u || row[i].len != ref[i].len)
			abort();
		if (row[i].len && memcmp(row[i].p, ref[i].p, row[i].len))
			abort();
		if (ref[i].p && (ref[i].p < c->whole || ref[i].p + ref[i].len > c->whole + c->len))
			abort();
	}
	c->off += used;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t shape = data[0] % (sizeof shape_n / sizeof shape_n[0]);
	size_t piece = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	struct check c = { data, size, 0, shapes[shape], shape_n[shape] };
	struct chr_stream s;
	chr_stream_init(&s, c.types, c.n, on_row, &c);
	int rc = 0;
	for (size_t off = 0; off < size && !rc; off += piece) {
		size_t k = size - off < piece ? size - off : piece;
		rc = chr_stream_feed(&s, data + off, k);
	}
	if (!rc) {
		int end = chr_stream_end(&s);
		/* Complete means: every byte was a row. */
		if ((end == 0) != (c.off == size))
			abort();
	}
	chr_stream_free(&s);
	return 0;
}
