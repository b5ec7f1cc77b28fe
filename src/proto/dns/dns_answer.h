/* dns_answer.h — builds the authoritative answer to one parsed query from the seized-zone table. */
#ifndef SINKD_PROTO_DNS_ANSWER_H
#define SINKD_PROTO_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/dns/dns_msg.h"
#include "proto/dns/dns_zone.h"

/*
 * What sinkd answers (README "DNS sinkhole" has the table):
 *   A / AAAA at or below a seized name     the zone's sinkhole addresses (AA)
 *   SOA, NS at a seized name (the apex)    the SOA / the NS set with in-zone glue (AA)
 *   ANY at or below a seized name          RFC 8482: the A set (else AAAA, else HINFO)
 *   anything else there                    NODATA: NOERROR, SOA in authority (AA)
 *   names outside every seized zone        REFUSED (never recursion)
 *   a class other than IN, AXFR/IXFR       REFUSED;   opcode other than QUERY: NOTIMP
 *   EDNS version > 0                       BADVERS;   malformed: FORMERR
 *   a response (QR set), < 12 bytes        nothing at all (no reflection, no loops)
 * The question is echoed with the case it was sent in (0x20) and every owner
 * name is a compression pointer into it. With EDNS an OPT record is added
 * (our UDP size, DO copied, a client subnet option echoed with scope 0: the
 * answer is the same for every client network, RFC 7871 §7.2.1). An answer
 * larger than the UDP limit (512, or the smaller of the client's EDNS size and
 * edns_udp_size) is sent empty with TC set so the client retries over TCP.
 */

struct dns_answer_info {
	uint16_t rcode; /* full 12-bit rcode (BADVERS = 16) */
	uint16_t flags; /* header flags of the answer */
	uint16_t ancount, nscount, arcount;
	bool truncated;			      /* TC: did not fit the UDP limit */
	bool matched;			      /* the name is at or below a seized name */
	struct dns_match match;		      /* valid when matched */
	uint32_t ttl;			      /* TTL of the answer records (0 if none) */
	uint8_t addrs[DNS_CFG_MAX_ADDRS][17]; /* answered addresses: ipver then 4 or 16 bytes */
	unsigned n_addrs;
};

/*
 * Writes the answer to `q` (parsed from msg with result parse_rc) into out.
 * `tcp` lifts the UDP size limit. Returns the answer length, 0 for "send
 * nothing" (info->rcode is then meaningless). cap must be at least 512.
 */
size_t dns_answer_build(const struct dns_zones *z, int parse_rc, const struct dns_query *q,
			bool tcp, uint8_t *out, size_t cap, struct dns_answer_info *info);
/* The same with the question name's zone key already made (dns_zones_key); key may be NULL. */
size_t dns_answer_build_key(const struct dns_zones *z, int parse_rc, const struct dns_query *q,
			    const struct dns_zone_key *key, bool tcp, uint8_t *out, size_t cap,
			    struct dns_answer_info *info);

/* A minimal TC=1 answer (header and question, plus OPT if the query had one): the RRL slip. */
size_t dns_answer_slip(const struct dns_zones *z, const struct dns_query *q, uint8_t *out,
		       size_t cap);

#endif
