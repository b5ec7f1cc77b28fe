/* enrich.h — address enrichment: ASN, AS organisation and country by longest-prefix match, from real data files. */
#ifndef SINKD_ENRICH_ENRICH_H
#define SINKD_ENRICH_ENRICH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sources (formats: ../shared/reference/formats.md §5, docs/enrichment.md):
 *   ASN:     MaxMind DB (autonomous_system_number / _organization),
 *            @ip-location-db CSV (start,end,asn,org; text or integer addresses),
 *            iptoasn TSV (start, end, asn, country, description),
 *            RouteViews pfx2as (prefix, length, asn; multi-origin "a_b": the first).
 *   country: MaxMind DB (country.iso_code, or ip-location-db's country_code).
 * Files are loaded in order; where entries cover the same range the one
 * loaded later wins, elsewhere the most specific prefix wins. The format is
 * chosen by the name (".mmdb", "pfx2as", ".tsv", ".csv") or forced with a
 * "FORMAT:" prefix ("mmdb:", "iplocdb:", "iptoasn:", "pfx2as:").
 *
 * Data lines that do not parse are counted and skipped (the public files carry
 * the odd broken line); each loader reports how many, with the first.
 */

struct enrich_builder;
struct enrich;

struct enrich_info {
	uint32_t asn;	    /* 0 = unknown */
	const char *as_org; /* "" when unknown; valid while the enrich table lives */
	char cc[3];	    /* ISO 3166-1 alpha-2, "" when unknown */
};

struct enrich_load_stats {
	uint64_t lines;
	uint64_t entries;
	uint64_t skipped;
	uint64_t first_bad_line; /* 1-based, 0 = none */
};

int enrich_builder_new(struct enrich_builder **out);
void enrich_builder_free(struct enrich_builder *b);

/* Loads one file into the ASN (or country) table. err gets a message on failure. */
int enrich_load_asn(struct enrich_builder *b, const char *spec, struct enrich_load_stats *st,
		    char *err, size_t errlen);
int enrich_load_country(struct enrich_builder *b, const char *spec, struct enrich_load_stats *st,
			char *err, size_t errlen);

/* The text parsers, on a buffer in memory (tests, fuzzing). Return 0 or ERR_NOMEM. */
int enrich_parse_iplocdb(struct enrich_builder *b, const char *buf, size_t len,
			 struct enrich_load_stats *st);
int enrich_parse_iptoasn(struct enrich_builder *b, const char *buf, size_t len,
			 struct enrich_load_stats *st);
int enrich_parse_pfx2as(struct enrich_builder *b, const char *buf, size_t len,
			struct enrich_load_stats *st);

/* Builds the lookup tables; frees the builder (also on error). */
int enrich_build(struct enrich_builder *b, struct enrich **out);

/* ipver 4 (addr: 4 bytes) or 6 (16 bytes). Thread-safe: the tables are read-only. */
void enrich_lookup(const struct enrich *e, int ipver, const uint8_t *addr, struct enrich_info *out);
/*
 * The same for n addresses of one family (addrs[i] as above), faster than n
 * calls: the table reads of later addresses are started early, so their
 * cache misses overlap.
 */
void enrich_lookup_batch(const struct enrich *e, int ipver, const uint8_t (*addrs)[16], size_t n,
			 struct enrich_info *out);
/* Organisation recorded for an ASN ("" if none). */
const char *enrich_as_org(const struct enrich *e, uint32_t asn);
/* Bytes the built prefix tables of one family hold (ASN and country; for statistics). */
size_t enrich_table_bytes(const struct enrich *e, int ipver);
void enrich_free(struct enrich *e);

#endif
