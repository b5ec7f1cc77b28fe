/* event.c — encode and decode the binary event record (format in event.h). */
#include "core/event.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"

static void event_write_addr(uint8_t *p, const uint8_t addr[16])
{
	memcpy(p, addr, 16);
}

void event_begin(struct event_builder *b, uint8_t *buf, size_t cap, const struct event_header *h)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->overflow = cap < EVENT_HEADER_LEN;
	if (b->overflow)
		return;
	memset(buf, 0, EVENT_HEADER_LEN);
	buf[0] = EVENT_FORMAT_VERSION;
	buf[1] = h->type;
	put_be16(buf + 2, h->flags);
	buf[4] = h->transport;
	buf[5] = h->src.ipver;
	put_be16(buf + 6, h->src.port);
	put_be16(buf + 8, h->dst.port);
	put_be64(buf + 12, h->ts_us);
	put_be64(buf + 20, h->flow_id);
	event_write_addr(buf + 28, h->src.addr);
	event_write_addr(buf + 44, h->dst.addr);
	b->len = EVENT_HEADER_LEN;
}

void event_add_flags(struct event_builder *b, uint16_t flags)
{
	if (b->cap < EVENT_HEADER_LEN)
		return;
	put_be16(b->buf + 2, (uint16_t)(get_be16(b->buf + 2) | flags));
}

/* Room for a field of vlen value bytes: its start, or NULL (overflow set). */
static uint8_t *event_field_room(struct event_builder *b, uint16_t tag, size_t vlen)
{
	if (b->overflow)
		return NULL;
	if (4 + vlen > b->cap - b->len || b->len + 4 + vlen > EVENT_MAX_LEN) {
		b->overflow = true;
		return NULL;
	}
	uint8_t *p = b->buf + b->len;
	put_be16(p, tag);
	put_be16(p + 2, (uint16_t)vlen);
	b->len += 4 + vlen;
	return p + 4;
}

void event_put(struct event_builder *b, uint16_t tag, const void *val, size_t len)
{
	if (b->overflow)
		return;
	if (len > UINT16_MAX) {
		len = UINT16_MAX;
		event_add_flags(b, EVENT_F_TRUNCATED);
	}
	uint8_t *p = event_field_room(b, tag, len);
	if (p && len)
		memcpy(p, val, len);
}

void event_put_str(struct event_builder *b, uint16_t tag, const char *s)
{
	event_put(b, tag, s, strlen(s));
}

/* The fixed-size puts write in place: no staging copy, no memcpy call. */
void event_put_u16(struct event_builder *b, uint16_t tag, uint16_t v)
{
	uint8_t *p = event_field_room(b, tag, 2);
	if (p)
		put_be16(p, v);
}

void event_put_u32(struct event_builder *b, uint16_t tag, uint32_t v)
{
	uint8_t *p = event_field_room(b, tag, 4);
	if (p)
		put_be32(p, v);
}

void event_put_u64(struct event_builder *b, uint16_t tag, uint64_t v)
{
	uint8_t *p = event_field_room(b, tag, 8);
	if (p)
		put_be64(p, v);
}

void event_put_encoded(struct event_builder *b, const uint8_t *fields, size_t len)
{
	if (b->overflow)
		return;
	if (len > b->cap - b->len || b->len + len > EVENT_MAX_LEN) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->len, fields, len);
	b->len += len;
}

void event_put_addr(struct event_builder *b, uint16_t tag, const struct event_addr *a)
{
	uint8_t tmp[EVENT_ADDR_LEN];
	tmp[0] = a->ipver;
	memcpy(tmp + 1, a->addr, 16);
	put_be16(tmp + 17, a->port);
	event_put(b, tag, tmp, sizeof tmp);
}

int event_finish(struct event_builder *b, size_t *len_out)
{
	if (b->overflow)
		return ERR_NOMEM;
	*len_out = b->len;
	return 0;
}

int event_decode(const uint8_t *rec, size_t len, struct event_view *v)
{
	if (len < EVENT_HEADER_LEN || len > EVENT_MAX_LEN)
		return ERR_CORRUPT;
	if (rec[0] != EVENT_FORMAT_VERSION)
		return ERR_UNSUPPORTED;
	memset(v, 0, sizeof *v);
	v->h.version = rec[0];
	v->h.type = rec[1];
	v->h.flags = get_be16(rec + 2);
	v->h.transport = rec[4];
	uint8_t ipver = rec[5];
	if (ipver != 4 && ipver != 6)
		return ERR_CORRUPT;
	v->h.src.ipver = ipver;
	v->h.dst.ipver = ipver;
	v->h.src.port = get_be16(rec + 6);
	v->h.dst.port = get_be16(rec + 8);
	v->h.ts_us = get_be64(rec + 12);
	v->h.flow_id = get_be64(rec + 20);
	memcpy(v->h.src.addr, rec + 28, 16);
	memcpy(v->h.dst.addr, rec + 44, 16);
	v->fields = rec + EVENT_HEADER_LEN;
	v->fields_len = len - EVENT_HEADER_LEN;

	/* The fields must tile the rest exactly. */
	struct cursor c;
	cursor_init(&c, v->fields, v->fields_len);
	while (cursor_left(&c) > 0) {
		cursor_be16(&c);
		uint16_t flen = cursor_be16(&c);
		cursor_skip(&c, flen);
		if (!cursor_ok(&c))
			return ERR_CORRUPT;
	}
	return 0;
}

bool event_field_next(const struct event_view *v, size_t *pos, struct event_field *f)
{
	if (*pos >= v->fields_len || v->fields_len - *pos < 4)
		return false;
	const uint8_t *p = v->fields + *pos;
	uint16_t len = get_be16(p + 2);
	if (len > v->fields_len - *pos - 4)
		return false;
	f->tag = get_be16(p);
	f->len = len;
	f->val = p + 4;
	*pos += 4 + (size_t)len;
	return true;
}

bool event_find(const struct event_view *v, uint16_t tag, struct event_field *f)
{
	size_t pos = 0;
	while (event_field_next(v, &pos, f))
		if (f->tag == tag)
			return true;
	return false;
}

uint64_t event_field_uint(const struct event_field *f)
{
	switch (f->len) {
	case 1:
		return f->val[0];
	case 2:
		return get_be16(f->val);
	case 4:
		return get_be32(f->val);
	case 8:
		return get_be64(f->val);
	}
	return 0;
}

bool event_field_addr(const struct event_field *f, struct event_addr *a)
{
	if (f->len != EVENT_ADDR_LEN || (f->val[0] != 4 && f->val[0] != 6))
		return false;
	a->ipver = f->val[0];
	memcpy(a->addr, f->val + 1, 16);
	a->port = get_be16(f->val + 17);
	return true;
}

const char *event_addr_str(const struct event_addr *a, char *buf, size_t cap)
{
	if (!inet_ntop(a->ipver == 6 ? AF_INET6 : AF_INET, a->addr, buf, (socklen_t)cap)) {
		if (cap)
			buf[0] = '\0';
	}
	return buf;
}

int event_addr_parse(const char *s, struct event_addr *a)
{
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->ipver = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->ipver = 6;
		return 0;
	}
	return ERR_INVAL;
}
