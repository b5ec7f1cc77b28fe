/* raw_conn.h — the raw TCP capture module: first bytes, guess, optional banner, one event, close. */
#ifndef SINKD_PROTO_RAW_CONN_H
#define SINKD_PROTO_RAW_CONN_H

struct proto_ops;

/*
 * A connection on a `proto: raw` listener gets the configured banner (if
 * any) at once, then its first raw.capture_bytes bytes are read, or what
 * arrived before raw.timeout_ms or the peer's close. One EVENT_RAW record
 * holds them with their length, entropy and protocol guess, and the
 * connection is closed. A stream guessed as a protocol sinkd has a module
 * for (HTTP; TLS once it lands) is handed to that module with every byte
 * read so far, and recorded by it in full instead.
 */
extern const struct proto_ops raw_proto_ops;

/*
 * The same for UDP (raw.transport udp or both): one EVENT_RAW per datagram
 * (first raw.capture_bytes bytes, size, entropy, guess), at most
 * raw.udp_rate events per second per source address (the rest are counted
 * and reported with the source's next event), and never a reply.
 */
extern const struct proto_ops raw_dgram_ops;

/* Per-worker state of the UDP rate cap (allocated on the first datagram). */
struct raw_udp_limiter;
void raw_udp_limiter_free(struct raw_udp_limiter *lim);

#endif
