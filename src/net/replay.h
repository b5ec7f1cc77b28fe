/* replay.h — a packet capture (pcap, pcapng) through the sensor's own protocol modules and rules. */
#ifndef SINKD_NET_REPLAY_H
#define SINKD_NET_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "net/conn_driver.h"
#include "net/pkt.h"

/*
 * Each TCP flow is matched to a listener of the config by its server port
 * (the side that received the SYN; without a SYN, the side whose port a
 * listener has), its client-to-server bytes are reassembled (net/tcp_reasm:
 * first copy wins, bounded holding, gaps recorded) and fed, in order, to that
 * listener's protocol module through net/conn_driver, exactly as the worker
 * would feed bytes read from a socket. The modules' own timers run on the
 * capture's clock. Events carry the capture's timestamps. Answers in the
 * capture (server to client) are not replayed: the module makes its own.
 *
 * A flow ends when its client's FIN is reached, on a reset, when the sensor
 * closed the connection, when it is idle longer than flow_timeout_us (capture
 * time), when the flow table is full (the least recently active goes first),
 * or at the end of the capture; the client's side is then closed (end of
 * input, like a client that disconnects). A gap ends the stream for the
 * protocol too: bytes after a hole cannot be parsed as the protocol would
 * have seen them, so they are counted and skipped.
 */

struct replay_opts {
	struct config *cfg;   /* listeners, limits, families; must outlive the replay */
	const char *listener; /* every TCP flow to this listener, whatever its port; NULL = by port */
	size_t max_flows;     /* flows tracked at once; 0 = 65536 */
	size_t flow_buffer;   /* out-of-order bytes held per flow; 0 = 1 MiB */
	size_t memory;	      /* out-of-order bytes held in all; 0 = 256 MiB */
	uint64_t flow_timeout_us; /* idle flows are ended; 0 = 120 s */
	conn_driver_sink sink;	  /* each event, encoded */
	void *sink_arg;
	FILE *progress; /* a terminal to draw progress on, or NULL */
	FILE *gap_log;	/* one line per gap, or NULL */
};

struct replay_stats {
	uint64_t packets;
	uint64_t capture_bytes; /* frame bytes read */
	uint64_t skipped[PKT_SKIP_KINDS];
	uint64_t tcp_packets, udp_packets;
	uint64_t flows;		  /* TCP flows replayed through a module */
	uint64_t flows_midstream; /* of which began without a SYN in the capture */
	uint64_t flows_unmatched; /* TCP flows no listener serves (skipped) */
	uint64_t flows_no_module; /* matched a listener whose protocol this build cannot replay */
	uint64_t stray_packets;	  /* TCP packets of no known flow with neither SYN nor data */
	uint64_t evicted_idle;	  /* flows ended by flow_timeout_us */
	uint64_t evicted_full;	  /* flows ended because the table was full */
	uint64_t udp_replayed;	  /* datagrams given to a datagram module */
	uint64_t udp_unmatched;	  /* datagrams no listener serves */
	uint64_t udp_no_module; /* datagrams for a listener whose protocol has no datagram module */
	uint64_t events;
	uint64_t client_bytes;	    /* client-to-server payload bytes delivered in order */
	uint64_t server_bytes;	    /* server-to-client payload, not replayed */
	uint64_t after_close_bytes; /* client bytes after the sensor closed or after a gap */
	uint64_t dup_bytes, conflict_bytes, out_of_order, gaps, gap_bytes;
	size_t peak_flows;
	size_t peak_held;
	uint64_t first_us, last_us;
	bool truncated; /* the capture file ended in the middle of a packet */
	char error[512];
};

/*
 * Replays a capture file. Returns 0 when it was read to the end (a truncated
 * last packet counts as the end: st->truncated), ERR_SYS / ERR_MALFORMED
 * with st->error when it could not be opened or is not a capture,
 * ERR_CONFIG when the rules do not compile or `listener` is unknown.
 */
int replay_file(const char *path, const struct replay_opts *o, struct replay_stats *st);

/* The same from a FILE (a capture in memory, for fuzzing). The FILE is closed. */
int replay_stream(FILE *f, const struct replay_opts *o, struct replay_stats *st);

#endif
