/* hex.h — hexadecimal digits: the value of one (for parsers that read hex) and lower-case encoding. */
#ifndef SINKD_CORE_HEX_H
#define SINKD_CORE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0..15 for [0-9a-fA-F], -1 for anything else. */
static inline int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Writes 2n lower-case hex digits and a NUL to out (2n+1 bytes). */
static inline void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

#endif
