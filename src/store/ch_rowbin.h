/* ch_rowbin.h — ClickHouse RowBinary: the events row encoder and a bounded, streaming row decoder. */
#ifndef SINKD_STORE_CH_ROWBIN_H
#define SINKD_STORE_CH_ROWBIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/log.h"
#include "store/store.h"

/*
 * RowBinary (ClickHouse's row format over HTTP): integers little-endian,
 * Date = UInt16 days, FixedString(N) = N bytes, String = LEB128 length then
 * the bytes. No per-row framing: a row decodes only with its column types.
 *
 * The decoder reads query results the store asked for. They come from the
 * network, so every length is checked against what arrived and against
 * CHR_STR_MAX; a row that stops short is "need more", never a guess.
 */
#define CHR_STR_MAX  (16u << 20) /* longest String accepted in a result */
#define CHR_COLS_MAX 40

enum chr_type {
	CHR_U8 = 1,
	CHR_U16,
	CHR_U32,
	CHR_U64,
	CHR_FS2,  /* FixedString(2): a country code */
	CHR_FS16, /* FixedString(16): an address */
	CHR_STR,
};

struct chr_val {
	uint64_t u;	  /* integers */
	const uint8_t *p; /* FixedString / String bytes (into the input) */
	size_t len;
};

/*
 * Decodes one row of n columns (types[i] from enum chr_type) at data[0..len).
 * Returns 0 and sets *used, ERR_NEED_MORE if the row is not complete, or
 * ERR_MALFORMED (a varint over 10 bytes, a string longer than CHR_STR_MAX, an
 * unknown type).
 */
int chr_row(const uint8_t *data, size_t len, const uint8_t *types, size_t n, struct chr_val *out,
	    size_t *used);

/* Rows of one result, fed in the pieces the network delivers them in. */
typedef int (*chr_row_fn)(void *ctx, const struct chr_val *row);
struct chr_stream {
	const uint8_t *types;
	size_t n;
	chr_row_fn fn;
	void *ctx;
	uint8_t *buf; /* an incomplete row carried over from the last piece */
	size_t len, cap;
	int stopped; /* the callback returned non-0 */
	uint64_t rows;
};
void chr_stream_init(struct chr_stream *s, const uint8_t *types, size_t n, chr_row_fn fn,
		     void *ctx);
/* Decodes every complete row of what has arrived. 0, ERR_MALFORMED, ERR_NOMEM. */
int chr_stream_feed(struct chr_stream *s, const uint8_t *data, size_t len);
/* End of the result: 0, or ERR_MALFORMED if bytes of an incomplete row remain. */
int chr_stream_end(struct chr_stream *s);
void chr_stream_free(struct chr_stream *s);

/* The events table's columns in insert order (ch_schema.c writes the same list). */
extern const char chr_event_columns[];
/* Appends one events row: the event, its sensor and its position in that sensor's log. */
int chr_put_event(struct dynbuf *b, const struct store_event *e, const struct log_pos *pos);

#endif
