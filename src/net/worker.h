/* worker.h — a worker thread: its own epoll loop, its listeners' sockets, its connections, its event lane. */
#ifndef SINKD_NET_WORKER_H
#define SINKD_NET_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/recorder.h"
#include "net/listener.h"
#include "proto/http/http_state.h"
#include "proto/smtp/smtp_state.h"
#include "proto/raw/raw_state.h"

struct daemon;
struct ruleset;
struct worker;
struct conn;
struct tls_conn;
struct dgram;
struct dns_rrl;
struct dns_batch;

/*
 * The interface every protocol module gives the worker loop. The worker owns
 * sockets, buffers, timers and the event lane; the protocol turns bytes into
 * answers and events. A stream (TCP) listener needs on_input; a datagram
 * (UDP) listener needs on_datagram and uses none of the others.
 */
struct proto_ops {
	const char *name;
	/* A new connection (addresses known, PROXY not yet seen). */
	void (*on_open)(struct conn *c);
	/*
	 * Bytes arrived: buf holds everything unconsumed so far. Returns how many
	 * bytes were consumed (the rest is kept and offered again with more).
	 * `eof` is true when the peer closed its side: no more bytes will come.
	 */
	size_t (*on_input)(struct conn *c, const uint8_t *buf, size_t len, bool eof);
	/* The connection's timer expired. The protocol records what it must; the worker then closes. */
	void (*on_timeout)(struct conn *c);
	/* The connection is being closed (any reason): free protocol state. */
	void (*on_close)(struct conn *c);
	/*
	 * At shutdown: true when nothing is in flight, so the drain may close the
	 * connection now (on_close says goodbye if the protocol has one) rather
	 * than wait up to drain_timeout_ms. Asked only when no input is buffered
	 * and no output is queued. Absent: such a connection is idle.
	 */
	bool (*is_idle)(const struct conn *c);
	/*
	 * One datagram arrived on a UDP listener (see struct dgram). The module
	 * records what it must (dgram_event_begin / dgram_event_submit) and
	 * writes at most one reply into dg->reply (dg->reply_cap bytes at most).
	 * Returns the reply length; 0 sends nothing. The reply goes back to
	 * dg->src from dg->dst. Called on the worker's thread; the datagram and
	 * the reply buffer belong to the worker and are valid only during the
	 * call. In `fsync: answered` mode the reply is held until the datagram's
	 * event is durable (a bounded queue: replies beyond it are not sent and
	 * are counted as dgram_held_dropped).
	 */
	size_t (*on_datagram)(struct worker *w, struct dgram *dg);
	/*
	 * Optional: a whole received batch, before on_datagram is called for each
	 * of its datagrams in order. A module may do work for every datagram
	 * ahead (parse, start the memory loads its answers will need, so they
	 * overlap instead of stalling one datagram at a time) and leave it in
	 * dg->proto_ctx for on_datagram.
	 */
	void (*on_datagram_batch)(struct worker *w, struct dgram *dgs, unsigned n);
};

/*
 * One received datagram. The worker receives in batches (recvmmsg) and sends
 * the replies of a batch together (sendmmsg): one or two syscalls for up to
 * WORKER_DGRAM_BATCH datagrams. Datagrams larger than the receive slot
 * (WORKER_DGRAM_MAX bytes) are cut and marked `truncated`; `wire_len` keeps
 * the size the client sent.
 */
struct dgram {
	struct listener *l;
	struct event_addr src; /* the client */
	struct event_addr dst; /* the sinkhole address it wrote to */
	const uint8_t *data;
	size_t len;
	size_t wire_len;    /* the datagram's size as sent (> len when truncated) */
	bool truncated;	    /* the datagram was longer than len: the rest is lost */
	uint64_t flow_id;   /* a fresh flow id per datagram */
	uint8_t *reply;	    /* the module writes its answer here ... */
	size_t reply_cap;   /* ... up to this many bytes */
	uint64_t event_seq; /* set by dgram_event_submit: what the reply waits for */
	void *proto_ctx;    /* NULL, or what on_datagram_batch prepared for this datagram */
	uint64_t ts_us;	    /* when its batch was received (µs, wall clock; 0: take it now) */
};

#define WORKER_DGRAM_BATCH 32
#define WORKER_DGRAM_MAX   8192u /* receive slot: larger datagrams are cut */
#define WORKER_DGRAM_REPLY 4096u /* reply slot */

enum conn_timer {
	CONN_TIMER_REQUEST = 0, /* waiting for a request to complete: header_timeout_ms */
	CONN_TIMER_IDLE = 1,	/* between requests, or writing: idle_timeout_ms */
	CONN_TIMER_KINDS = 2,
};

struct conn {
	struct worker *w;
	struct listener *l;
	const struct proto_ops *ops; /* the listener's, until a hand-over (conn_handover) */
	int fd;
	uint32_t epoll_mask;	/* what epoll watches now */
	struct event_addr src;	/* the client as recorded (after PROXY / X-Forwarded-For) */
	struct event_addr dst;	/* the sinkhole address it reached */
	struct event_addr peer; /* the TCP peer (differs from src when proxied) */
	uint16_t flags;		/* EVENT_F_VIA_PROXY ... applied to every event of the connection */
	uint64_t flow_id;
	uint32_t tx_count; /* events recorded on this connection */
	uint64_t bytes_in;

	/* Input not yet consumed by the protocol (NULL while empty: idle connections hold none). */
	uint8_t *in;
	uint32_t in_len, in_cap;
	/* Output not yet sent, and the event it must wait for in fsync: answered mode. */
	uint8_t *out;
	uint32_t out_len, out_off, out_cap;
	uint64_t wait_seq; /* 0 = nothing to wait for */
	uint64_t last_seq; /* lane sequence of the last event recorded here */

	bool close_after_flush; /* close once out is sent */
	bool closed;		/* closing: ignore further input */
	bool eof;		/* the peer shut down its side */
	bool in_wait_list;
	bool registered; /* added to epoll (done lazily: see conn_set_epoll) */

	/* Timer list links; the list is chosen by (listener, kind) so it stays sorted. */
	uint8_t timer_kind;
	bool timer_on;
	uint64_t deadline_ms;
	struct conn *tprev, *tnext;
	/* Durability wait list links. */
	struct conn *wprev, *wnext;

	/* TLS transport (proto/tls/tls_conn.h): when set, socket bytes pass through it both ways. */
	struct tls_conn *tls;

	union {
		struct http_state http;
		struct smtp_state smtp;
		struct raw_state raw;
	} p;
};

/* Counters of one worker: written by it alone, read by the stats thread. */
struct worker_stats {
	_Atomic uint64_t accepted;
	_Atomic uint64_t refused_limit; /* closed at once: max_connections reached */
	_Atomic uint64_t open;
	_Atomic uint64_t events;	 /* submitted to the lane */
	_Atomic uint64_t events_dropped; /* lane full */
	_Atomic uint64_t requests;
	_Atomic uint64_t malformed;
	_Atomic uint64_t timeouts;
	_Atomic uint64_t
		refused_unrecorded; /* answered mode: closed unanswered because the lane was full */
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	_Atomic uint64_t dgram_in;	     /* datagrams received on UDP listeners */
	_Atomic uint64_t dgram_out;	     /* replies sent */
	_Atomic uint64_t dgram_send_errors;  /* replies the kernel refused */
	_Atomic uint64_t dgram_held_dropped; /* answered mode: reply queue full, not sent */
	_Atomic uint64_t dns_rrl_dropped;    /* DNS answers withheld by response rate limiting */
	_Atomic uint64_t dns_rrl_slipped;    /* ... sent instead as empty TC=1 answers */
};

/* Every worker's counters summed: what the stats file and /metrics report. */
struct worker_totals {
	uint64_t accepted, refused_limit, open, events, events_dropped, requests, malformed,
		timeouts, refused_unrecorded, bytes_in, bytes_out, dgram_in, dgram_out,
		dgram_send_errors, dgram_held_dropped, dns_rrl_dropped, dns_rrl_slipped;
};
/* Any thread, while the workers run (relaxed loads: each counter is exact, the set is not a snapshot). */
void worker_stats_total(const struct worker *ws, unsigned n, struct worker_totals *t);

#define STAT_ADD(field, n)                                                                         \
	atomic_store_explicit(&(field),                                                            \
			      atomic_load_explicit(&(field), memory_order_relaxed) + (n),          \
			      memory_order_relaxed)
#define STAT_INC(field) STAT_ADD(field, 1)

struct conn_list {
	struct conn *head, *tail;
};

struct worker {
	unsigned id;
	struct daemon *d;
	int epfd;
	int wake_fd; /* eventfd: durability advanced, stop, reload */
	pthread_t thread;
	struct recorder_lane *lane;
	bool answered; /* fsync: answered — hold answers until durable */

	struct listener *listeners;
	unsigned n_listeners;
	struct conn_list *timers; /* [n_listeners * CONN_TIMER_KINDS] */
	struct conn_list waiting; /* connections with output held for durability */
	struct conn *free_conns;  /* recycled connection structs */
	unsigned n_free;
	uint64_t n_conns;

	uint64_t now_ms; /* monotonic, refreshed each loop turn */
	uint64_t flow_base;
	uint64_t flow_next;

	uint8_t *scratch; /* read buffer shared by all connections of this worker */
	size_t scratch_cap;
	uint8_t *evbuf; /* EVENT_MAX_LEN bytes to encode one event */
	uint8_t *stage; /* answers of the connection being processed, not yet sent */
	size_t stage_len, stage_cap;
	struct conn *stage_conn;	 /* whose answers the stage holds (NULL: empty) */
	struct worker_dgram *dg;	 /* batch buffers for datagram listeners (NULL: none) */
	struct raw_udp_limiter *raw_udp; /* proto/raw: per-source datagram cap (NULL: none yet) */
	struct dns_rrl *dns_rrl; /* DNS response-rate-limit table (one allocation; NULL: none yet) */
	struct dns_batch *dns_batch; /* DNS: the datagram batch's queries, parsed ahead */

	const struct ruleset *rules; /* the rule set for the connection being processed now */
	_Atomic uint64_t
		seen_gen; /* rule-set generation this worker no longer references older than */
	_Atomic bool stop;
	bool draining;
	uint64_t drain_deadline_ms;

	/*
	 * Socketless use (net/conn_driver: replay, fuzzing): events go to `sink`
	 * instead of the lane, and are stamped `clock_us` (the capture's time)
	 * instead of the wall clock. Both unset in the daemon.
	 */
	int (*sink)(void *arg, const uint8_t *rec, size_t len);
	void *sink_arg;
	uint64_t sink_seq;
	uint64_t clock_us;

	struct worker_stats st;
};

int worker_init(struct worker *w, unsigned id, struct daemon *d, struct listener *listeners,
		unsigned n_listeners, struct recorder_lane *lane, bool answered);
int worker_start(struct worker *w);
/* Asks the worker to stop accepting and drain; join with worker_join. */
void worker_request_stop(struct worker *w);
void worker_wake(struct worker *w);
void worker_join(struct worker *w);
void worker_destroy(struct worker *w);
/* Frees what protocol modules allocated per worker (rate-limit tables); worker_destroy does it too. */
void worker_free_protocol_state(struct worker *w);

/* --- for protocol modules ------------------------------------------------- */

/*
 * Starts an event for this connection in the worker's event buffer: header
 * from the connection (src replaced by `src` when not NULL), time now, the
 * connection's flags plus `flags`, the listener name and the transaction id.
 */
void conn_event_begin(struct conn *c, struct event_builder *b, uint8_t type,
		      const struct event_addr *src, uint16_t flags);
/* The same into a caller buffer (an event that must outlive this turn of the loop). */
void conn_event_begin_buf(struct conn *c, struct event_builder *b, uint8_t *buf, size_t cap,
			  uint8_t type, const struct event_addr *src, uint16_t flags);
/*
 * Submits the finished event to the worker's lane. Returns the sequence to
 * wait for in answered mode (0 if the event could not be recorded).
 */
uint64_t conn_event_submit(struct conn *c, struct event_builder *b);

/*
 * Datagram listeners: starts an event for one datagram (transport UDP, the
 * datagram's addresses and flow id, the listener name), and submits it,
 * remembering its sequence in dg->event_seq for answered mode. Returns the
 * sequence, or 0 if it could not be recorded (counted in events_dropped).
 */
void dgram_event_begin(struct worker *w, struct dgram *dg, struct event_builder *b, uint8_t type,
		       uint16_t flags);
uint64_t dgram_event_submit(struct worker *w, struct dgram *dg, struct event_builder *b);

/*
 * Queues answer bytes; they go out when the connection's last event is durable (answered mode).
 * On a TLS connection they are encrypted first.
 */
int conn_write(struct conn *c, const void *data, size_t len);
/* The same, bypassing the connection's TLS layer (TLS records, STARTTLS answers). */
int conn_write_raw(struct conn *c, const void *data, size_t len);
struct rules_input;
struct rules_family;
/*
 * Classifies `in` with the worker's current rule set (slot and the
 * connection's TLS fields filled in here) and records the family, its tag
 * and the rule index in the event. Returns the family (never NULL).
 */
const struct rules_family *conn_event_classify(struct conn *c, struct event_builder *b,
					       struct rules_input *in);
struct proxy_result;
/* Takes the source and destination from a parsed PROXY header (kind PROXY with addresses). */
void conn_apply_proxy(struct conn *c, const struct proxy_result *pr);
/* Arms the connection's timer of this kind from now. */
void conn_set_timer(struct conn *c, enum conn_timer kind);
/* Close after the queued output is sent (or at once if none). */
void conn_close_after_flush(struct conn *c);
/*
 * The PROXY v1/v2 header at the start of a connection (listeners with
 * proxy_protocol). Returns 0 with *used = the header's length, the
 * connection's source and destination then being the ones it announced;
 * ERR_NEED_MORE when it may still complete (not at eof, under the cap);
 * ERR_MALFORMED with *why ("PROXY header incomplete" at eof or past the cap).
 */
int conn_read_proxy(struct conn *c, const uint8_t *buf, size_t len, bool eof, size_t *used,
		    const char **why);

/*
 * Hands the connection to another protocol module (a raw capture that turned
 * out to be HTTP). Call from on_input, consuming nothing and having freed the
 * old module's state: the new module's on_open runs now and its on_input is
 * then given every unconsumed byte, as if it had owned the connection from
 * the start. Timers and buffers stay as they are.
 */
void conn_handover(struct conn *c, const struct proto_ops *ops);

/*
 * What the worker does for every connection, for it and for socketless
 * drivers (net/conn_driver): the input a connection may hold; offering held
 * input to the connection's module, or to its TLS transport (returns the
 * bytes consumed; follows hand-overs); its timer firing; releasing the
 * module's and the transport's state; taking it off the timer lists.
 */
size_t conn_input_cap(const struct conn *c);
size_t conn_offer(struct conn *c, const uint8_t *data, size_t len);
void conn_expire(struct conn *c);
void conn_release(struct conn *c);
void conn_timer_stop(struct conn *c);

#endif
