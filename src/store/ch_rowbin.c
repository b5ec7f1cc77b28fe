/* ch_rowbin.c — RowBinary rows: encoding events for INSERT, decoding query results piece by piece. */
#include "store/ch_rowbin.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define US_PER_DAY 86400000000ull

/* LEB128 varint: at most 10 bytes for 64 bits. */
static int get_varint(const uint8_t *p, size_t len, uint64_t *v, size_t *used)
{
	uint64_t x = 0;
	for (size_t i = 0; i < 10; i++) {
		if (i == len)
			return ERR_NEED_MORE;
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			*used = i + 1;
			return 0;
		}
	}
	return ERR_MALFORMED;
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

int chr_row(const uint8_t *data, size_t len, const uint8_t *types, size_t n, struct chr_val *out,
	    size_t *used)
{
	size_t off = 0;
	if (n > CHR_COLS_MAX)
		return ERR_MALFORMED;
	for (size_t c = 0; c < n; c++) {
		size_t w;
		struct chr_val *v = &out[c];
		v->u = 0;
		v->p = NULL;
		v->len = 0;
		switch (types[c]) {
		case CHR_U8:
			w = 1;
			break;
		case CHR_U16:
			w = 2;
			break;
		case CHR_U32:
			w = 4;
			break;
		case CHR_U64:
			w = 8;
			break;
		case CHR_FS2:
			w = 2;
			break;
		case CHR_FS16:
			w = 16;
			break;
		case CHR_STR: {
			uint64_t sl;
			size_t vl;
			int rc = get_varint(data + off, len - off, &sl, &vl);
			if (rc)
				return rc;
			if (sl > CHR_STR_MAX)
				return ERR_MALFORMED;
			off += vl;
			w = (size_t)sl;
			break;
		}
		default:
			return ERR_MALFORMED;
		}
		if (w > len - off)
			return ERR_NEED_MORE;
		if (types[c] >= CHR_FS2) {
			v->p = data + off;
			v->len = w;
		} else {
			v->u = get_le(data + off, w);
		}
		off += w;
	}
	*used = off;
	return 0;
}

void chr_stream_init(struct chr_stream *s, const uint8_t *types, size_t n, chr_row_fn fn, void *ctx)
{
	memset(s, 0, sizeof *s);
	s->types = types;
	s->n = n;
	s->fn = fn;
	s->ctx = ctx;
}

/* Decodes the complete rows at p[0..len); returns the bytes consumed through *used. */
static int decode_rows(struct chr_stream *s, const uint8_t *p, size_t len, size_t *used)
{
	struct chr_val row[CHR_COLS_MAX];
	size_t off = 0;
	while (off < len && !s->stopped) {
		size_t u;
		int rc = chr_row(p + off, len - off, s->types, s->n, row, &u);
		if (rc == ERR_NEED_MORE)
			break;
		if (rc)
			return rc;
		off += u;
		s->rows++;
		if (s->fn(s->ctx, row))
			s->stopped = 1;
	}
	*used = off;
	return 0;
}

static int keep(struct chr_stream *s, const uint8_t *p, size_t len)
{
	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : 65536;
		while (cap < s->len + len)
			cap *= 2;
		if (cap > (size_t)CHR_STR_MAX * 2 + 65536 * 4)
			return ERR_MALFORMED; /* one row bigger than any row can be */
		uint8_t *nb = realloc(s->buf, cap);
		if (!nb)
			return ERR_NOMEM;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	return 0;
}

int chr_stream_feed(struct chr_stream *s, const uint8_t *data, size_t len)
{
	size_t used;
	int rc;
	if (s->stopped)
		return 0;
	if (s->len) {
		/* Complete the carried row first: append a bounded piece, decode, drop what was used. */
		if ((rc = keep(s, data, len)) != 0)
			return rc;
		if ((rc = decode_rows(s, s->buf, s->len, &used)) != 0)
			return rc;
		memmove(s->buf, s->buf + used, s->len - used);
		s->len -= used;
		return 0;
	}
	if ((rc = decode_rows(s, data, len, &used)) != 0)
		return rc;
	if (used < len && !s->stopped)
		return keep(s, data + used, len - used);
	return 0;
}

int chr_stream_end(struct chr_stream *s)
{
	return s->len && !s->stopped ? ERR_MALFORMED : 0;
}

void chr_stream_free(struct chr_stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

/* --- encoding --------------------------------------------------------------------------- */

const char chr_event_columns[] =
	"day, sensor, seg, off, ts_us, kind, type, transport, ipver, flags, src, src_port, src_asn,"
	" src_cc, dst, dst_port, dst_asn, dst_cc, family, tag, http_url, http_host, http_agent,"
	" forwarded_by, http_referer, ssl_servername, machine_name, query_type, query, bot_id,"
	" ssl_cipher";

/* The String columns after dst_cc, in chr_event_columns order. */
static const enum store_col str_cols[] = {
	STORE_C_FAMILY,	      STORE_C_TAG,	    STORE_C_HTTP_URL,	  STORE_C_HTTP_HOST,
	STORE_C_HTTP_AGENT,   STORE_C_FORWARDED_BY, STORE_C_HTTP_REFERER, STORE_C_SSL_SERVERNAME,
	STORE_C_MACHINE_NAME, STORE_C_QUERY_TYPE,   STORE_C_QUERY,	  STORE_C_BOT_ID,
	STORE_C_SSL_CIPHER,
};

static uint8_t *put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++, v >>= 8)
		*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
	size_t v = len;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		*p++ = v ? (uint8_t)(b | 0x80) : b;
	} while (v);
	if (len)
		memcpy(p, s, len);
	return p + len;
}

static uint8_t *put_cc(uint8_t *p, const char cc[3])
{
	bool ok = cc[0] && cc[1] && !cc[2];
	p[0] = ok ? (uint8_t)cc[0] : 0;
	p[1] = ok ? (uint8_t)cc[1] : 0;
	return p + 2;
}

int chr_put_event(struct dynbuf *b, const struct store_event *e, const struct log_pos *pos)
{
	/* Fixed part: 2+4+8+8+4+2+16+2+4+2+16+2+4+2 = 76 bytes, plus 14 strings of 10 + len. */
	size_t need = 80 + 10 * 14;
	const struct store_str *sensor = &e->col[STORE_C_SENSOR];
	need += sensor->len;
	for (size_t i = 0; i < sizeof str_cols / sizeof str_cols[0]; i++)
		need += e->col[str_cols[i]].len;
	int rc = dynbuf_reserve(b, need);
	if (rc)
		return rc;
	uint8_t *p = (uint8_t *)b->data + b->len;
	p = put_le(p, e->ts_us / US_PER_DAY, 2);
	p = put_str(p, sensor->p, sensor->len);
	p = put_le(p, pos->segment, 4);
	p = put_le(p, pos->offset, 8);
	p = put_le(p, e->ts_us, 8);
	*p++ = e->kind;
	*p++ = e->type;
	*p++ = e->transport;
	*p++ = e->ipver;
	p = put_le(p, e->flags, 2);
	size_t alen = e->ipver == 4 ? 4 : 16; /* an IPv4 address: the rest is zero, always */
	memset(p, 0, 16);
	memcpy(p, e->src, alen);
	p += 16;
	p = put_le(p, e->src_port, 2);
	p = put_le(p, e->src_asn, 4);
	p = put_cc(p, e->src_cc);
	memset(p, 0, 16);
	memcpy(p, e->dst, alen);
	p += 16;
	p = put_le(p, e->dst_port, 2);
	p = put_le(p, e->dst_asn, 4);
	p = put_cc(p, e->dst_cc);
	for (size_t i = 0; i < sizeof str_cols / sizeof str_cols[0]; i++) {
		const struct store_str *s = &e->col[str_cols[i]];
		p = put_str(p, s->p, s->len);
	}
	b->len = (size_t)(p - (uint8_t *)b->data);
	b->data[b->len] = '\0';
	return 0;
}
