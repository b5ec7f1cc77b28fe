/* dns_zone.h — the seized-zone table: every configured name, found by longest suffix in O(labels). */
#ifndef SINKD_PROTO_DNS_ZONE_H
#define SINKD_PROTO_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/dns/dns_config.h"
#include "proto/dns/dns_msg.h"

/*
 * All seized names live in one arena in lower-cased wire form; an open-
 * addressing hash table indexes them by a hash computed over the labels from
 * the right (the TLD first). A query name's suffix hashes therefore come out
 * of one right-to-left pass, and the deepest seized apex above it is found
 * with at most one probe sequence per label: the cost does not grow with the
 * number of names. Built once per rule set (start, SIGHUP), then read-only
 * and shared by every worker.
 */

#define DNS_GROUP_EV_MAX 160

struct dns_zone_group {
	const struct config_dns_zone *cfg;
	const char *family;
	const char *tag; /* NULL if none */
	uint32_t index;	 /* position in dns.zones */
	uint32_t ttl;
	const uint8_t (*a)[4];
	size_t n_a;
	const uint8_t (*aaaa)[16];
	size_t n_aaaa;
	/*
	 * The fields every query event of this group starts with (family, tag,
	 * rule, client kind), encoded once when the table is built and copied
	 * per query; ev_len 0 if they did not fit (then encoded per query).
	 */
	uint16_t ev_len;
	uint8_t ev[DNS_GROUP_EV_MAX];
};

/*
 * Puts those fields into an event: the group's (g NULL: family "unknown",
 * for a query no seized zone matched), then client kind "resolver".
 */
struct event_builder;
void dns_zone_group_event_fields(struct event_builder *b, const struct dns_zone_group *g);

struct dns_zones;

struct dns_match {
	const struct dns_zone_group *group;
	unsigned apex_label; /* index in the query name of the apex's first label */
	bool at_apex;	     /* the query name is the seized name itself */
};

struct dns_zones_stats {
	uint64_t names;	     /* distinct seized names */
	uint64_t duplicates; /* names given more than once (first one kept) */
	uint64_t bytes;	     /* memory held by the table */
	uint64_t load_us;
};

/*
 * Builds the table from cfg (names inline and from files). cfg must outlive
 * it. ERR_CONFIG with "file:line: why" in errbuf for a bad name or an
 * unreadable file.
 */
int dns_zones_build(const struct config_dns *cfg, struct dns_zones **out, char *errbuf,
		    size_t errlen);
void dns_zones_free(struct dns_zones *z);

/* Finds the deepest seized name at or above qname; false if none (answer REFUSED). */
bool dns_zones_lookup(const struct dns_zones *z, const struct dns_name *qname, struct dns_match *m);

/*
 * The same lookup in steps, so a batch of queries can overlap its memory
 * loads instead of waiting for them one query at a time (the table and the
 * names are far bigger than the caches that the kernel's UDP path leaves
 * us): dns_zones_key() hashes every suffix of the name once,
 * dns_zones_prefetch() starts loading what the lookup will read (stage 0:
 * the table slots; stage 1, once those have arrived: the names they point
 * at), and dns_zones_lookup_key() is dns_zones_lookup() with the hashes
 * given. The key belongs to the name it was made from.
 */
struct dns_zone_key {
	unsigned labels; /* qname->labels: hashes of the suffixes at labels 0 .. labels-1 */
	uint32_t hash[DNS_LABELS_MAX];
};

void dns_zones_key(const struct dns_name *qname, struct dns_zone_key *k);
void dns_zones_prefetch(const struct dns_zones *z, const struct dns_zone_key *k, int stage);
bool dns_zones_lookup_key(const struct dns_zones *z, const struct dns_name *qname,
			  const struct dns_zone_key *k, struct dns_match *m);

void dns_zones_get_stats(const struct dns_zones *z, struct dns_zones_stats *st);
const struct config_dns *dns_zones_config(const struct dns_zones *z);
/* The SOA serial in force (configured, or the build time in seconds). */
uint32_t dns_zones_serial(const struct dns_zones *z);

/* The resolved settings of dns.zones[i] (NULL if out of range). */
const struct dns_zone_group *dns_zones_group(const struct dns_zones *z, size_t i);

size_t dns_zones_count(const struct dns_zones *z);
/*
 * Iteration in load order, for export: start with *pos = 0; returns the next
 * name (lower-case wire form without the root byte, *wlen bytes) and its
 * group, or NULL at the end.
 */
const uint8_t *dns_zones_next(const struct dns_zones *z, size_t *pos, size_t *wlen,
			      const struct dns_zone_group **group);

#endif
