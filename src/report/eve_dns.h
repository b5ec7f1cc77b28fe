/* eve_dns.h — the EVE "dns" object (Suricata 8, version 3 names) and the DNS keys of "sinkhole". */
#ifndef SINKD_REPORT_EVE_DNS_H
#define SINKD_REPORT_EVE_DNS_H

#include "core/dynbuf.h"
#include "core/event.h"

/*
 * Writes ,"dns":{...} for an EVENT_DNS record: type "response" when an
 * answer was sent (else "request"), id, flags (hex), qr/aa/tc/rd/ra/z,
 * opcode, rcode, queries [{rrname, rrtype}], answers [{rrname, rrtype, ttl,
 * rdata}] and grouped {A: [...], AAAA: [...]}. Returns 0 or ERR_NOMEM.
 */
int eve_dns_object(struct dynbuf *b, const struct event_view *v);

/*
 * Writes the DNS keys of the "sinkhole" object, each preceded by a comma:
 * client_kind ("resolver": never an infected host), zone, qclass, action,
 * edns {udp_size, version, do}, client_subnet ("192.0.2.0/24").
 */
int eve_dns_sinkhole(struct dynbuf *b, const struct event_view *v);

#endif
