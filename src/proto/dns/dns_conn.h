/* dns_conn.h — the DNS listener modules: UDP datagrams and RFC 7766 TCP, events, response rate limiting. */
#ifndef SINKD_PROTO_DNS_CONN_H
#define SINKD_PROTO_DNS_CONN_H

#include "net/worker.h"

/*
 * Every query is recorded (EVENT_DNS, docs/event-format.md), answered or not:
 * malformed ones with the raw prefix, rate-limited ones with their action.
 * Sources are resolvers, not infected hosts: every event carries
 * EVENT_T_DNS_CLIENT_KIND "resolver" so reports never count them as
 * infections. The zone table comes from the worker's current rule set.
 *
 * RRL (UDP only: TCP proves the source address) counts answers per client
 * prefix (/24, /56 by default) per second in a table per worker; over the rate
 * every `slip`-th answer goes out as an empty TC=1 answer (a real resolver
 * retries over TCP) and the others are dropped. SO_REUSEPORT spreads one
 * prefix's sources over workers by port, so the effective limit is at most
 * workers × rate.
 */
extern const struct proto_ops dns_udp_proto_ops;
extern const struct proto_ops dns_tcp_proto_ops;

#endif
