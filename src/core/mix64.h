/* mix64.h — a 64-bit integer finaliser (MurmurHash3's fmix64) for hash tables keyed by integers. */
#ifndef SINKD_CORE_MIX64_H
#define SINKD_CORE_MIX64_H

#include <stdint.h>

/* Spreads every input bit over the whole result; a bijection on 64-bit values. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

#endif
