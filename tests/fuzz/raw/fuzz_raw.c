/* fuzz_raw.c — libFuzzer harness: raw protocol guesser, entropy and payload matcher against a reference. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/payload_match.h"
#include "proto/raw/raw_guess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* The obvious, slow matcher the real one must agree with. */
static bool reference(const struct config_payload *m, const uint8_t *p, size_t n, uint64_t total,
		      uint16_t ent)
{
	if (m->has_len && (total < m->len_min || total > m->len_max))
		return false;
	if (m->has_entropy && (ent < m->entropy_min || ent > m->entropy_max))
		return false;
	for (size_t i = 0; i < m->prefix_len; i++)
		if (i >= n || p[i] != m->prefix[i])
			return false;
	for (size_t k = 0; k < m->n_at; k++)
		for (size_t i = 0; i < m->at[k].len; i++)
			if (m->at[k].offset + i >= n || p[m->at[k].offset + i] != m->at[k].bytes[i])
				return false;
	if (m->contains_len) {
		bool found = false;
		for (size_t s = 0; !found && s + m->contains_len <= n; s++)
			found = !memcmp(p + s, m->contains, m->contains_len);
		if (!found)
			return false;
	}
	return true;
}

static uint8_t take(const uint8_t **d, size_t *n)
{
	if (!*n)
		return 0;
	uint8_t v = **d;
	(*d)++;
	(*n)--;
	return v;
}

/*
 * Input: a 12-byte control block (which conditions, their sizes and
 * offsets), then the condition bytes, then the payload. Every input is also
 * guessed whole, as a stream and as a datagram.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int dgram = 0; dgram < 2; dgram++) {
		enum raw_guess g = raw_guess(data, size, dgram);
		FUZZ_CHECK((unsigned)g < RAW_GUESS_COUNT);
		FUZZ_CHECK(raw_guess_name(g) != NULL);
	}
	uint16_t ent = raw_entropy_milli(data, size);
	FUZZ_CHECK(ent <= 8000);

	const uint8_t *d = data;
	size_t n = size;
	uint8_t sel = take(&d, &n);
	size_t prefix_len = take(&d, &n) % 9, contains_len = take(&d, &n) % 9;
	size_t at_len = take(&d, &n) % 9, at_off = take(&d, &n) % 40;
	uint64_t lo = take(&d, &n), hi = lo + take(&d, &n);
	uint16_t elo = (uint16_t)(take(&d, &n) * 32), ehi = (uint16_t)(elo + take(&d, &n) * 32);
	uint64_t extra = take(&d, &n);
	take(&d, &n);
	take(&d, &n);
	uint8_t cond[24];
	size_t want = prefix_len + contains_len + at_len;
	if (n < want)
		return 0;
	memcpy(cond, d, want);
	d += want;
	n -= want;

	struct config_payload m;
	struct config_payload_at at;
	memset(&m, 0, sizeof m);
	m.present = true;
	if ((sel & 1) && prefix_len) {
		m.prefix = cond;
		m.prefix_len = prefix_len;
	}
	if ((sel & 2) && contains_len) {
		m.contains = cond + prefix_len;
		m.contains_len = contains_len;
	}
	if ((sel & 4) && at_len) {
		at.offset = (uint32_t)at_off;
		at.bytes = cond + prefix_len + contains_len;
		at.len = at_len;
		m.at = &at;
		m.n_at = 1;
	}
	m.has_len = sel & 8;
	m.len_min = lo;
	m.len_max = hi;
	m.has_entropy = sel & 16;
	m.entropy_min = elo;
	m.entropy_max = ehi;

	/* An exact-size copy: ASan sees any read past the payload. */
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return 0;
	if (n)
		memcpy(p, d, n);
	uint16_t pe = raw_entropy_milli(p, n);
	uint64_t total = n + extra;
	struct payload_input in = { p, n, total, pe };
	FUZZ_CHECK(payload_match(&m, &in) == reference(&m, p, n, total, pe));
	struct payload_input none = { NULL, 0, 0, 0 };
	FUZZ_CHECK(!payload_match(&m, &none));
	free(p);
	return 0;
}
