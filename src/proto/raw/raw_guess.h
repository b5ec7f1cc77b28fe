/* raw_guess.h — protocol guess and byte entropy for the first bytes of an unknown stream or datagram. */
#ifndef SINKD_PROTO_RAW_GUESS_H
#define SINKD_PROTO_RAW_GUESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum raw_guess {
	RAW_GUESS_UNKNOWN = 0,
	RAW_GUESS_HTTP,
	RAW_GUESS_TLS,
	RAW_GUESS_SMTP,
	RAW_GUESS_SSH,
	RAW_GUESS_DNS,
	RAW_GUESS_COUNT,
};

/*
 * Guesses the protocol a client speaks from its first bytes (any length,
 * also 0; reads only p[0 .. n)). `datagram` selects DNS over UDP (no length
 * prefix) instead of DNS over TCP. A guess is a signature match, not a
 * parse: HTTP is a known method and a space, TLS a handshake record holding
 * a ClientHello (or an SSLv2-compatible hello), SSH the "SSH-" banner, SMTP
 * a client command (EHLO, HELO, MAIL FROM:, RCPT TO:), DNS a well-formed
 * query header with one question. Too few bytes for a signature is unknown.
 */
enum raw_guess raw_guess(const uint8_t *p, size_t n, bool datagram);

/* "http", "tls", "smtp", "ssh", "dns", "unknown". */
const char *raw_guess_name(enum raw_guess g);

/* Shannon entropy of the bytes in millibits per byte: 0 (constant or empty) … 8000. */
uint16_t raw_entropy_milli(const uint8_t *p, size_t n);

#endif
