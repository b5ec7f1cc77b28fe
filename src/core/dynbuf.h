/* dynbuf.h — growable byte buffer with a hard maximum (curl's dynbuf idea). */
#ifndef SINKD_CORE_DYNBUF_H
#define SINKD_CORE_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The buffer owns `data` (heap). It never grows past `max`: an append that
 * would is refused with ERR_NOMEM and leaves the contents unchanged. The
 * contents are always followed by a NUL byte (not counted in len) so text
 * can be handed to libc printing functions.
 */
struct dynbuf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void dynbuf_init(struct dynbuf *b, size_t max);
void dynbuf_free(struct dynbuf *b);
void dynbuf_reset(struct dynbuf *b); /* len = 0, keeps memory */
/* Room for `extra` more bytes and the NUL at data + len (writers then set len themselves). */
int dynbuf_reserve(struct dynbuf *b, size_t extra);
int dynbuf_add(struct dynbuf *b, const void *data, size_t len);
int dynbuf_addc(struct dynbuf *b, char c);
int dynbuf_adds(struct dynbuf *b, const char *s);
int dynbuf_printf(struct dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dynbuf_vprintf(struct dynbuf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
