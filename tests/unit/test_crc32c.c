/* test_crc32c.c — CRC32C known vectors, continuation, and hardware vs table equality. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/crc32c.h"

struct crc_vector {
	const char *name;
	const uint8_t *data;
	size_t len;
	uint32_t want;
};

static void test_vectors(void)
{
	/* RFC 3720 (iSCSI) appendix B.4 test patterns. */
	uint8_t zeros[32], ones[32], inc[32], dec[32];
	memset(zeros, 0, sizeof zeros);
	memset(ones, 0xff, sizeof ones);
	for (size_t i = 0; i < 32; i++) {
		inc[i] = (uint8_t)i;
		dec[i] = (uint8_t)(31 - i);
	}
	static const uint8_t scsi_read[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	const struct crc_vector vec[] = {
		{ "empty", (const uint8_t *)"", 0, 0x00000000 },
		{ "a", (const uint8_t *)"a", 1, 0xc1d04330 },
		{ "123456789", (const uint8_t *)"123456789", 9, 0xe3069283 },
		{ "zeros32", zeros, 32, 0x8a9136aa },
		{ "ones32", ones, 32, 0x62a8ab43 },
		{ "inc32", inc, 32, 0x46dd794e },
		{ "dec32", dec, 32, 0x113fdb5c },
		{ "scsi_read", scsi_read, 48, 0xd9963a56 },
	};
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		uint32_t got = crc32c(0, vec[i].data, vec[i].len);
		if (got != vec[i].want)
			fprintf(stderr, "vector %s\n", vec[i].name);
		CHECK_INT(got, vec[i].want);
		CHECK_INT(crc32c_sw(0, vec[i].data, vec[i].len), vec[i].want);
		if (crc32c_hw_available())
			CHECK_INT(crc32c_hw(0, vec[i].data, vec[i].len), vec[i].want);
	}
}

/* Feeding the bytes in pieces gives the same value as one call. */
static void test_continuation(void)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);
	uint32_t whole = crc32c(0, s, n);
	CHECK_INT(whole, 0x22620404);
	for (size_t cut = 0; cut <= n; cut++) {
		CHECK_INT(crc32c(crc32c(0, s, cut), s + cut, n - cut), whole);
		CHECK_INT(crc32c_sw(crc32c_sw(0, s, cut), s + cut, n - cut), whole);
	}
}

/* xorshift: deterministic test data without libc rand state. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void test_hw_vs_sw(void)
{
	enum {
		BUF = 8192
	};
	uint8_t *buf = malloc(BUF + 16);
	CHECK(buf != NULL);
	if (!buf)
		return;
	uint64_t s = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < BUF + 16; i++)
		buf[i] = (uint8_t)rng_next(&s);
	if (!crc32c_hw_available())
		fprintf(stderr, "test_crc32c: no SSE4.2, checking the table path only\n");
	int mismatches = 0;
	for (int i = 0; i < 5000; i++) {
		size_t off = (size_t)(rng_next(&s) % 16);
		size_t len = (size_t)(rng_next(&s) % (i < 2500 ? 64 : BUF));
		uint32_t seed = (uint32_t)rng_next(&s);
		uint32_t sw = crc32c_sw(seed, buf + off, len);
		uint32_t dispatch = crc32c(seed, buf + off, len);
		if (dispatch != sw)
			mismatches++;
		if (crc32c_hw_available() && crc32c_hw(seed, buf + off, len) != sw)
			mismatches++;
	}
	CHECK_INT(mismatches, 0);
	free(buf);
}

int main(void)
{
	test_vectors();
	test_continuation();
	test_hw_vs_sw();
	return check_done("test_crc32c");
}
