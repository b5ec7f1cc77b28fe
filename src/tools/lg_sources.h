/* lg_sources.h — the load generators' simulated bot sources (--proxy-v2, --sources, --asn-file, --sources-unique). */
#ifndef SINKD_TOOLS_LG_SOURCES_H
#define SINKD_TOOLS_LG_SOURCES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

/*
 * Both generators (HTTP in loadgen.c, SMTP in loadgen_smtp.c) announce each
 * connection's simulated bot in a PROXY v2 header, so a sinkhole behind a
 * "load balancer" records real-looking sources on loopback. The sources come
 * from CIDRs, from an ASN CSV file, or from a pre-drawn pool of distinct
 * addresses; draws are reproducible from the generator's --seed.
 */

#define LG_MAX_UNIQUE	   (1u << 20)
#define LG_MAX_CIDRS	   64
#define LG_DEFAULT_SOURCES "198.51.100.0/24,203.0.113.0/24"

/* The usage lines of the source options; one %u argument: LG_MAX_UNIQUE. */
#define LG_SOURCES_USAGE                                                                           \
	"  --proxy-v2              start each connection with a PROXY v2 header\n"                 \
	"  --sources CIDR[,CIDR]   announced sources (default " LG_DEFAULT_SOURCES ")\n"           \
	"  --asn-file FILE         draw sources from start_ip,end_ip,asn,org CSV ranges\n"         \
	"  --sources-unique N      use a pre-drawn pool of N distinct sources (max %u)\n"

/* xoshiro256**, seeded through splitmix64: fast, good, and reproducible from --seed. */
struct lg_rng {
	uint64_t s[4];
};

/* Open-addressing set of addresses; key[0] is the IP version (0 = empty slot). */
struct lg_akey {
	uint8_t k[17];
};

struct lg_aset {
	struct lg_akey *keys;
	size_t cap; /* power of two */
	size_t n;
	bool full; /* an insert was refused: counts are a lower bound */
};

/* The source options as given on the command line (strings owned by argv). */
struct lg_sources_opts {
	bool proxy_v2;
	const char *sources;  /* --sources; NULL: LG_DEFAULT_SOURCES */
	const char *asn_file; /* --asn-file */
	uint64_t sources_unique;
};

struct lg_range;

/* Loaded sources, shared read-only by the generator's threads (but the pool cursor). */
struct lg_sources {
	struct lg_range *ranges;
	size_t nranges;
	struct event_addr *pool; /* --sources-unique: npool distinct addresses, used in turn */
	size_t npool;
	atomic_uint_fast64_t next;
};

void lg_rng_seed(struct lg_rng *r, uint64_t seed);
uint64_t lg_rng_next(struct lg_rng *r);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t lg_rng_below(struct lg_rng *r, uint64_t n);

/* Full-check unsigned parse: digits only, in [min, max]. 0 or ERR_INVAL. */
int lg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A set of at least `want` addresses (0 or ERR_NOMEM); lg_aset_free releases it. */
int lg_aset_init(struct lg_aset *s, size_t want);
void lg_aset_free(struct lg_aset *s);
/* Returns 1 if added, 0 if already there or refused (the set then marks itself full). */
int lg_aset_add_key(struct lg_aset *s, const struct lg_akey *key);
int lg_aset_add(struct lg_aset *s, const struct event_addr *a);

/* Checks the combination of source options; prints the error itself. 0 or ERR_INVAL. */
int lg_sources_check(const struct lg_sources_opts *o);
/*
 * Loads the ranges (--sources or --asn-file) and, with --sources-unique, draws
 * the pool from `seed`. Prints its own errors. On success the caller frees
 * with lg_sources_free (also safe after a failure).
 */
int lg_sources_setup(struct lg_sources *src, const struct lg_sources_opts *o, uint64_t seed);
void lg_sources_free(struct lg_sources *src);

/*
 * Picks the next simulated source (from the pool, or drawn with `rng`, with a
 * random port) into *out and writes the PROXY v2 header announcing it to
 * `target` into hdr (cap bytes). Returns the header length, 0 on failure.
 * Thread-safe for distinct rngs.
 */
int lg_sources_proxy_header(struct lg_sources *src, struct lg_rng *rng,
			    const struct event_addr *target, struct event_addr *out, uint8_t *hdr,
			    size_t cap);

#endif
