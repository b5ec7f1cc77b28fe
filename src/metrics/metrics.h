/* metrics.h — what the sensor and the web server expose on /metrics, rendered with metrics/prom. */
#ifndef SINKD_METRICS_METRICS_H
#define SINKD_METRICS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/recorder.h"
#include "metrics/tally.h"
#include "net/worker.h"

/*
 * Every metric, its type and labels are listed in docs/metrics.md. The
 * renderers read counters that already exist (the workers' struct
 * worker_stats, the recorder's stats, the listeners' open counts, the
 * tally); nothing is counted twice, and rendering happens on the scraping
 * thread, never on a worker's.
 */

/* --- the sensor (`sinkd serve`) ------------------------------------------------------ */

struct metrics_listener {
	const char *name;  /* the configured listener name */
	const char *proto; /* http, tls, dns, smtp, raw */
	bool udp;	   /* the datagram side of a listener: it has no connections */
	uint64_t open;	   /* connections open now (TCP) */
};

/* A snapshot the daemon gathers at each scrape; pointers are borrowed for the call. */
struct metrics_sensor {
	const char *sensor_id;
	const char *version;
	uint64_t start_us, now_us; /* wall clock, µs since the epoch */
	unsigned workers;
	const struct worker_totals *wt;
	const struct recorder_stats *rs;
	const struct metrics_listener *listeners;
	size_t n_listeners;
	const struct metrics_tally *tally; /* NULL: no per-listener/family counts */
	uint64_t rules_generation;
	bool store;		  /* the store thread runs (store.path) */
	uint64_t store_indexed;	  /* records it indexed since the start */
	bool store_lag_known;	  /* the lag could be measured (segments readable) */
	uint64_t store_lag_bytes; /* log bytes between its position and the log's end */
	bool eve;		  /* the EVE file writer runs (eve.file) */
	uint64_t eve_written;	  /* records it wrote since the start */
	bool eve_lag_known;
	uint64_t eve_lag_bytes;
};

/* Appends the sensor's exposition to out. 0, ERR_NOMEM (out's maximum) or ERR_INVAL (a bug). */
int metrics_sensor_render(struct dynbuf *out, const struct metrics_sensor *s);

/* --- the web server (`sinkd web`) ----------------------------------------------------- */

#define METRICS_WEB_ROUTES_MAX 32

/*
 * The web server's counters. It names its routes once (metrics_web_init:
 * labels such as "api_summary", "static", "login"; at most
 * METRICS_WEB_ROUTES_MAX, the strings must outlive m), then counts from any
 * thread with the calls below (relaxed atomic adds: no lock), and renders
 * on /metrics with metrics_web_render, passing what it knows of the store
 * (NULL: the store lines are left out). Its requests to /metrics count like
 * any other route.
 */
struct metrics_web {
	const char *const *routes;
	size_t n_routes;
	uint64_t start_us;
	_Atomic uint64_t requests[METRICS_WEB_ROUTES_MAX][5]; /* by status class 1xx .. 5xx */
	_Atomic uint64_t bytes_sent;
	_Atomic uint64_t
		auth_failures; /* 401/403: missing, unknown, revoked or out-of-scope token */
	_Atomic uint64_t connections_open;
	_Atomic uint64_t connections_accepted;
};

/* ERR_INVAL when n is 0 or too large, or a route name is not a valid label value (empty). */
int metrics_web_init(struct metrics_web *m, const char *const *routes, size_t n, uint64_t now_us);
/* One answered request: route index (< n), HTTP status (100..599), bytes sent. */
void metrics_web_request(struct metrics_web *m, size_t route, unsigned status, uint64_t bytes);
void metrics_web_auth_failure(struct metrics_web *m);
void metrics_web_conn_open(struct metrics_web *m);
void metrics_web_conn_close(struct metrics_web *m);

/*
 * What the web server knows of the store at scrape time. The lag: log_distance
 * (core/log.h) from the store's position (store_get_pos) to the log's end
 * (the last segment of log_segments and its log_segment_sealed_size).
 */
struct metrics_web_store {
	uint64_t events;    /* events the store holds */
	bool lag_known;	    /* the log is readable from the web server */
	uint64_t lag_bytes; /* log bytes not yet in the store (core/log.h log_distance) */
};

int metrics_web_render(struct dynbuf *out, const struct metrics_web *m, const char *version,
		       uint64_t now_us, const struct metrics_web_store *store);

#endif
