/* cursor.h — bounds-checked reader over untrusted bytes with a sticky error (Knot's wire cursor idea). */
#ifndef SINKD_CORE_CURSOR_H
#define SINKD_CORE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Every read checks what remains. A failed read sets `bad`, returns zero and
 * leaves the position unchanged; later reads keep failing, so a chain of
 * reads can be checked once at the end with cursor_ok().
 */
struct cursor {
	const uint8_t *p;
	const uint8_t *end;
	bool bad;
};

static inline void cursor_init(struct cursor *c, const void *data, size_t len)
{
	c->p = (const uint8_t *)data;
	c->end = c->p + len;
	c->bad = false;
}

static inline size_t cursor_left(const struct cursor *c)
{
	return c->bad ? 0 : (size_t)(c->end - c->p);
}

static inline bool cursor_ok(const struct cursor *c)
{
	return !c->bad;
}

static inline bool cursor_need(struct cursor *c, size_t n)
{
	if (c->bad || n > (size_t)(c->end - c->p)) {
		c->bad = true;
		return false;
	}
	return true;
}

static inline uint8_t cursor_u8(struct cursor *c)
{
	if (!cursor_need(c, 1))
		return 0;
	return *c->p++;
}

static inline uint16_t cursor_be16(struct cursor *c)
{
	if (!cursor_need(c, 2))
		return 0;
	uint16_t v = (uint16_t)((uint16_t)c->p[0] << 8 | c->p[1]);
	c->p += 2;
	return v;
}

static inline uint32_t cursor_be32(struct cursor *c)
{
	if (!cursor_need(c, 4))
		return 0;
	uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 |
		     (uint32_t)c->p[3];
	c->p += 4;
	return v;
}

static inline uint64_t cursor_be64(struct cursor *c)
{
	uint64_t hi = cursor_be32(c);
	uint64_t lo = cursor_be32(c);
	return hi << 32 | lo;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and bad) if fewer remain. */
static inline const uint8_t *cursor_take(struct cursor *c, size_t n)
{
	if (!cursor_need(c, n))
		return NULL;
	const uint8_t *p = c->p;
	c->p += n;
	return p;
}

static inline void cursor_copy(struct cursor *c, void *dst, size_t n)
{
	const uint8_t *p = cursor_take(c, n);
	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

static inline void cursor_skip(struct cursor *c, size_t n)
{
	(void)cursor_take(c, n);
}

/* Big-endian writers into a caller buffer that is known to be large enough. */
static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

#endif
