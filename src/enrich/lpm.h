/* lpm.h — longest-prefix-match tables for IPv4 and IPv6, built once in memory, read by any number of threads. */
#ifndef SINKD_ENRICH_LPM_H
#define SINKD_ENRICH_LPM_H

#include <stddef.h>
#include <stdint.h>

/*
 * A table maps addresses to a 31-bit value (0 = nothing known, so callers
 * store "index + 1"; at most LPM_VALUE_MAX). It is built from prefixes and inclusive ranges, which
 * may overlap: the most specific entry wins (a /24 inside a /8 wins inside
 * the /24; a default route 0.0.0.0/0 answers only where nothing else does).
 * Of two identical entries the one added last wins. Two ranges that cross
 * without one containing the other (possible in range files, never with
 * prefixes) resolve to the one that starts later over their overlap.
 *
 * The built table is a flat sorted array of disjoint segments per family with
 * a direct-indexed first level on the top 4..20 bits (about two blocks per
 * segment), so a lookup is one index load and a binary search over the few
 * segments that start inside that block. IPv6 is searched on its top 64
 * bits (a /64 holding longer prefixes is searched apart) through a trie of
 * direct-indexed levels that subdivide slots holding many segments. An IPv4 table of 4096 segments or more also gets a
 * DIR-24-8 view (64 MiB with 4-byte values, huge pages where available; with
 * few distinct values a /16-indexed first level over distinct rows of one- or
 * two-byte /24 entries): one or two loads per lookup, one more where a /24 is
 * split. Read-only after lpm_build(); no locks.
 */
#define LPM_NONE      0u
#define LPM_VALUE_MAX 0x7fffffffu

struct lpm_builder;
struct lpm;

int lpm_builder_new(struct lpm_builder **out);
/* Addresses in network byte order, IPv4 in the first 4 bytes. lo <= hi (else ERR_INVAL). */
int lpm_add_range(struct lpm_builder *b, int ipver, const uint8_t *lo, const uint8_t *hi,
		  uint32_t val);
/* Bits beyond plen are ignored. plen <= 32 / 128 (else ERR_INVAL). */
int lpm_add_prefix(struct lpm_builder *b, int ipver, const uint8_t *addr, unsigned plen,
		   uint32_t val);
/* Entries added so far (both families). */
size_t lpm_builder_count(const struct lpm_builder *b);
/* Builds the table and frees the builder (also on error). */
int lpm_build(struct lpm_builder *b, struct lpm **out);
void lpm_builder_free(struct lpm_builder *b);

/* ip in host byte order. */
uint32_t lpm_lookup4(const struct lpm *t, uint32_t ip);
/* 16 bytes, network order. An IPv4-mapped address (::ffff:a.b.c.d) is looked up as IPv4. */
uint32_t lpm_lookup6(const struct lpm *t, const uint8_t *addr);
/* n IPv6 lookups at once (their cache misses overlap): out[i] = lpm_lookup6(t, addrs[i]). */
void lpm_lookup6_batch(const struct lpm *t, const uint8_t (*addrs)[16], size_t n, uint32_t *out);
/* A hint that ip will be looked up soon (batched lookups overlap their cache misses). */
void lpm_prefetch4(const struct lpm *t, uint32_t ip);
/* ipver 4: addr holds 4 bytes; 6: 16 bytes. */
uint32_t lpm_lookup(const struct lpm *t, int ipver, const uint8_t *addr);
/* Number of disjoint segments of one family (for statistics). */
size_t lpm_segments(const struct lpm *t, int ipver);
/* Bytes the built table of one family holds (for statistics). */
size_t lpm_bytes(const struct lpm *t, int ipver);
void lpm_free(struct lpm *t);

#endif
