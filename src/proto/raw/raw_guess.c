/* raw_guess.c — signature-based protocol guess and Shannon entropy of captured bytes. */
#include "proto/raw/raw_guess.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* c * log2(c) for the small counts short captures have; filled once, read-only after. */
#define RAW_CLOG_SMALL 256
static double raw_clog[RAW_CLOG_SMALL];
static pthread_once_t raw_clog_once = PTHREAD_ONCE_INIT;

static void raw_clog_init(void)
{
	for (unsigned c = 1; c < RAW_CLOG_SMALL; c++)
		raw_clog[c] = (double)c * log2((double)c);
}

static const char *const raw_guess_names[RAW_GUESS_COUNT] = {
	[RAW_GUESS_UNKNOWN] = "unknown", [RAW_GUESS_HTTP] = "http", [RAW_GUESS_TLS] = "tls",
	[RAW_GUESS_SMTP] = "smtp",	 [RAW_GUESS_SSH] = "ssh",   [RAW_GUESS_DNS] = "dns",
};

const char *raw_guess_name(enum raw_guess g)
{
	return (unsigned)g < RAW_GUESS_COUNT ? raw_guess_names[g] : "unknown";
}

static bool starts_with(const uint8_t *p, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	return n >= m && memcmp(p, lit, m) == 0;
}

static bool starts_with_nocase(const uint8_t *p, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	if (n < m)
		return false;
	for (size_t i = 0; i < m; i++) {
		uint8_t c = p[i];
		if (c >= 'a' && c <= 'z')
			c = (uint8_t)(c - 32);
		if (c != (uint8_t)lit[i])
			return false;
	}
	return true;
}

static bool guess_http(const uint8_t *p, size_t n)
{
	static const char *const methods[] = {
		"GET ",	    "POST ",  "HEAD ",	"PUT ",	     "DELETE ",	       "OPTIONS ",
		"CONNECT ", "PATCH ", "TRACE ", "PROPFIND ", "PRI * HTTP/2.0",
	};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (starts_with(p, n, methods[i]))
			return true;
	return false;
}

static bool guess_tls(const uint8_t *p, size_t n)
{
	/* TLS record: handshake (22), version 3.x, length, then a ClientHello (1). */
	if (n >= 6 && p[0] == 0x16 && p[1] == 0x03 && p[2] <= 0x04) {
		size_t rec = (size_t)p[3] << 8 | p[4];
		return rec >= 4 && p[5] == 0x01;
	}
	/* SSLv2-compatible ClientHello: 2-byte header with the top bit, type 1, version 3.x. */
	if (n >= 5 && (p[0] & 0x80) && p[2] == 0x01 && p[3] == 0x03 && p[4] <= 0x04)
		return (((size_t)(p[0] & 0x7f) << 8) | p[1]) >= 9;
	return false;
}

static bool guess_smtp(const uint8_t *p, size_t n)
{
	return starts_with_nocase(p, n, "EHLO ") || starts_with_nocase(p, n, "HELO ") ||
	       starts_with_nocase(p, n, "MAIL FROM:") || starts_with_nocase(p, n, "RCPT TO:");
}

/* A DNS query header: QR 0, opcode QUERY/IQUERY/STATUS/NOTIFY/UPDATE, one question, no answers. */
static bool dns_query_header(const uint8_t *h, size_t n)
{
	if (n < 12 + 5) /* header, then at least the root name, type and class */
		return false;
	unsigned flags = (unsigned)h[2] << 8 | h[3];
	unsigned opcode = (flags >> 11) & 15;
	unsigned qd = (unsigned)h[4] << 8 | h[5];
	unsigned an = (unsigned)h[6] << 8 | h[7];
	unsigned ns = (unsigned)h[8] << 8 | h[9];
	unsigned ar = (unsigned)h[10] << 8 | h[11];
	if ((flags & 0x8000) || opcode > 5 || opcode == 3 || (flags & 0x0040))
		return false; /* a response, an unassigned opcode or the reserved Z bit */
	if (qd != 1 || an != 0 || ar > 1 || (opcode != 5 && ns != 0))
		return false;
	/* The question name: labels of 1..63 bytes up to the root label, within what is here. */
	size_t off = 12;
	for (unsigned labels = 0; labels < 128; labels++) {
		if (off >= n)
			return false;
		uint8_t l = h[off];
		if (l == 0)
			return n - off - 1 >= 4;
		if (l > 63)
			return false;
		off += 1u + l;
	}
	return false;
}

static bool guess_dns(const uint8_t *p, size_t n, bool datagram)
{
	if (datagram)
		return dns_query_header(p, n);
	if (n < 2)
		return false;
	size_t len = (size_t)p[0] << 8 | p[1];
	if (len < 17)
		return false;
	return dns_query_header(p + 2, n - 2 < len ? n - 2 : len);
}

enum raw_guess raw_guess(const uint8_t *p, size_t n, bool datagram)
{
	if (!p || n == 0)
		return RAW_GUESS_UNKNOWN;
	if (guess_http(p, n))
		return RAW_GUESS_HTTP;
	if (guess_tls(p, n))
		return RAW_GUESS_TLS;
	if (starts_with(p, n, "SSH-"))
		return RAW_GUESS_SSH;
	if (guess_smtp(p, n))
		return RAW_GUESS_SMTP;
	if (guess_dns(p, n, datagram))
		return RAW_GUESS_DNS;
	return RAW_GUESS_UNKNOWN;
}

uint16_t raw_entropy_milli(const uint8_t *p, size_t n)
{
	if (!p || n < 2)
		return 0;
	uint32_t count[256];
	memset(count, 0, sizeof count);
	for (size_t i = 0; i < n; i++)
		count[p[i]]++;
	pthread_once(&raw_clog_once, raw_clog_init);
	/* H = log2(n) - (1/n) * sum(c * log2(c)) over the byte counts c. */
	double sum = 0.0, total = (double)n;
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = count[i];
		sum += c < RAW_CLOG_SMALL ? raw_clog[c] : (double)c * log2((double)c);
	}
	double h = log2(total) - sum / total;
	long milli = lround(h * 1000.0);
	if (milli < 0)
		milli = 0;
	if (milli > 8000)
		milli = 8000;
	return (uint16_t)milli;
}
