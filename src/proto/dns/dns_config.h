/* dns_config.h — the `dns:` section of the config: seized zones, sinkhole addresses, SOA/NS, EDNS, RRL. */
#ifndef SINKD_PROTO_DNS_CONFIG_H
#define SINKD_PROTO_DNS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/config.h"

/*
 * YAML (every key optional except zones; README "DNS sinkhole" documents them):
 *
 *   dns:
 *     ttl: 300                      # answers' TTL
 *     a: [192.0.2.10]               # sinkhole addresses every seized name answers
 *     aaaa: [2001:db8::10]
 *     ns: [ns1, ns2]                # relative: ns1.<apex> (in-zone, glue); or absolute names
 *     soa: { rname: hostmaster, serial: 2026112801, refresh: 3600, retry: 600,
 *            expire: 86400, minimum: 300 }
 *     edns_udp_size: 1232           # the largest UDP answer we send with EDNS
 *     tcp_idle_timeout_ms: 10000    # RFC 7766 idle timeout between queries
 *     tcp_max_queries: 1000         # per connection (pipelined)
 *     rrl: { responses_per_second: 100, slip: 2, ipv4_prefix: 24, ipv6_prefix: 56,
 *            exempt: [127.0.0.0/8] }
 *     zones:
 *       - family: rustock           # family recorded for queries below these names
 *         tag: dga                  # optional
 *         names: [a.example, b.example]
 *         files: [rustock.txt]      # one name per line; '#' or ';' comments; relative to the config
 *         a: [...]                  # optional overrides of the addresses and TTL
 *         aaaa: [...]
 *         ttl: 60
 *
 * Zone files are read when the zone table is built (start and SIGHUP), not
 * when the config is parsed, so `config check` stays quick.
 */

#define DNS_CFG_MAX_ADDRS 64

struct config_dns_zone {
	char *family;
	char *tag;
	char **names;
	size_t n_names;
	char **files; /* resolved against the config file's directory */
	size_t n_files;
	uint8_t a[DNS_CFG_MAX_ADDRS][4];
	size_t n_a;
	uint8_t aaaa[DNS_CFG_MAX_ADDRS][16];
	size_t n_aaaa;
	bool has_addrs; /* a or aaaa given here: overrides the section's */
	uint32_t ttl;	/* 0 = the section's */
};

struct config_dns {
	uint32_t ttl;
	uint8_t a[DNS_CFG_MAX_ADDRS][4];
	size_t n_a;
	uint8_t aaaa[DNS_CFG_MAX_ADDRS][16];
	size_t n_aaaa;
	char **ns; /* as written; a name without a dot is relative to each apex */
	size_t n_ns;
	char *soa_rname; /* as written; relative like ns */
	uint32_t soa_serial, soa_refresh, soa_retry, soa_expire, soa_minimum;
	bool soa_serial_set; /* else the load time in seconds */
	uint16_t edns_udp_size;
	uint32_t tcp_idle_timeout_ms;
	uint32_t tcp_max_queries;
	uint32_t rrl_rate; /* responses per second per prefix; 0 = off */
	uint32_t rrl_slip; /* every Nth limited response goes out as TC=1; 0 = never */
	uint8_t rrl_v4_prefix, rrl_v6_prefix;
	struct config_cidr *rrl_exempt;
	size_t n_rrl_exempt;
	struct config_dns_zone *zones;
	size_t n_zones;
};

/*
 * Parses the `dns:` mapping node of doc. `file` is the config's path (for
 * messages and for resolving relative zone files). ERR_CONFIG with
 * "file:line: dns.key: why" in errbuf.
 */
int config_dns_parse(yaml_document_t *doc, yaml_node_t *n, const char *file,
		     struct config_dns **out, char *errbuf, size_t errlen);
void config_dns_free(struct config_dns *d);

/*
 * Checks a domain name as written in the config or a zone file: letters,
 * digits, '-', '_' labels of 1..63 bytes, at most 253 characters, an optional
 * final dot. Writes the lower-cased wire form (no root byte) into wire and
 * its length into *wlen. Returns false if it is not a valid name.
 */
bool dns_config_name_to_wire(const char *s, size_t len, uint8_t *wire, size_t *wlen);

#endif
