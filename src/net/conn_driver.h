/* conn_driver.h — runs protocol modules without sockets: bytes in, events out (replay, fuzzing, tests). */
#ifndef SINKD_NET_CONN_DRIVER_H
#define SINKD_NET_CONN_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/event.h"
#include "net/listener.h"
#include "net/worker.h"

struct ruleset;

/*
 * The worker loop minus the sockets. A driver holds one worker (its event
 * buffer, answer stage, timer lists and rules, compiled from the config
 * exactly as the daemon compiles them) and the config's listeners, each with
 * the protocol module the daemon would give it. The caller owns the
 * connections (struct conn, usually embedded in its own flow state) and
 * feeds each one the client's bytes in order; the module parses, classifies
 * and records as it does live. Answers are discarded: nobody is listening.
 *
 * Events go to `sink` (encoded records, see core/event.h), stamped with the
 * time given to conn_driver_set_time. Single-threaded.
 */
typedef int (*conn_driver_sink)(void *arg, const uint8_t *rec, size_t len);

struct conn_driver {
	struct worker w;
	struct ruleset *rs;
	struct listener *listeners; /* one per cfg->listeners[], with its stream module (or NULL) */
	struct listener *dlisteners; /* the same, with its datagram module (or NULL) */
	unsigned n_listeners;
	const struct config *cfg;
	uint8_t *reply; /* datagram answers are written here, then dropped */
	/* Optional: sees every answer a stream module writes before it is dropped (tests, fuzzing). */
	void (*on_output)(void *arg, const uint8_t *data, size_t len);
	void *output_arg;
};

/*
 * Builds the driver from cfg (which must outlive it). ERR_CONFIG with a
 * message when the rules do not compile; ERR_NOMEM.
 */
int conn_driver_init(struct conn_driver *d, struct config *cfg, conn_driver_sink sink, void *arg,
		     char *errbuf, size_t errlen);
void conn_driver_free(struct conn_driver *d);

/* Listener li has a module for TCP streams / for UDP datagrams in this build. */
bool conn_driver_has_stream(const struct conn_driver *d, unsigned li);
bool conn_driver_has_dgram(const struct conn_driver *d, unsigned li);

/*
 * One datagram from src to dst on listener li (which must have a datagram
 * module): the module answers (dropped) and records, as on a live socket.
 * `truncated`: the capture cut it (the module sees the same flag as for a
 * datagram larger than the live receive slot, which is also applied here).
 */
void conn_driver_datagram(struct conn_driver *d, unsigned li, const struct event_addr *src,
			  const struct event_addr *dst, const uint8_t *data, size_t len,
			  bool truncated, uint64_t flow_id);

/* Sets the clock: event timestamps and the protocol's timers. */
void conn_driver_set_time(struct conn_driver *d, uint64_t now_us);

/*
 * Starts connection c (zeroed by the caller) on listener `li` between src
 * (the client) and dst; the module's on_open runs and its first timer is armed.
 */
void conn_driver_open(struct conn_driver *d, struct conn *c, unsigned li,
		      const struct event_addr *src, const struct event_addr *dst, uint64_t flow_id);

/*
 * The client sent these bytes. Holds what the module does not consume, up to
 * the same cap as the live worker. Returns the bytes taken: all of them, or
 * fewer once the connection is done (the sensor closed it; the rest would
 * have met a closed socket).
 */
size_t conn_driver_input(struct conn_driver *d, struct conn *c, const uint8_t *data, size_t len);
/* The client closed its side (FIN or RST): the module sees end of input. */
void conn_driver_eof(struct conn_driver *d, struct conn *c);
/* The connection's own timer expired (see conn_driver_expired). */
void conn_driver_timeout(struct conn_driver *d, struct conn *c);
/* Finishes the connection: on_close, buffers freed, timers unlinked. c may then be freed. */
void conn_driver_close(struct conn_driver *d, struct conn *c);

/* The sensor has finished with this connection (closed, or closing after its answer). */
bool conn_driver_done(const struct conn *c);

/*
 * A connection whose timer expired at or before now_ms, or NULL. The timer
 * lists are kept in deadline order, so this only looks at their heads.
 */
struct conn *conn_driver_expired(struct conn_driver *d, uint64_t now_ms);

#endif
