/* web_server.h — `sinkd web`'s HTTP server: a thread pool over the project's HTTP parser, sessions, static UI, the API. */
#ifndef SINKD_WEB_WEB_SERVER_H
#define SINKD_WEB_WEB_SERVER_H

#include <signal.h>
#include <stddef.h>

#include "web/web_api.h"

struct web_server_opts {
	const char *listen;	/* "ADDR:PORT" ([v6]:port); port 0 picks one */
	const char *store_path; /* opened read-only, once per thread */
	const char *tokens_path;
	const char *static_dir; /* the built UI (index.html, assets/); NULL: API only */
	const char *log_dir;	/* consumer lag; may be NULL */
	const char *stats_path; /* the sensor's stats.json; may be NULL */
	const char *tmp_dir;	/* report files are made here per request */
	unsigned threads;	/* request threads (each holds one connection at a time) */
	web_reports_fn make_reports;
	void *reports_ctx;
};

/*
 * GET /metrics answers the Prometheus text format (src/metrics, docs/metrics.md):
 * requests by route and status class, bytes, authentication failures,
 * connections, the store's events and its lag behind the log. It needs no
 * token, like other exporters: it holds counts only, nothing of any network.
 *
 * Binds, prints "sinkd web: listening on http://ADDR:PORT/" on stdout, and
 * serves until *stop becomes non-zero. Returns 0, or an error with a message
 * in err (bind failure, store or token file unusable).
 */
int web_server_run(const struct web_server_opts *o, volatile sig_atomic_t *stop, char *err,
		   size_t errlen);

#endif
