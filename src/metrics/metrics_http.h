/* metrics_http.h — the admin listener: GET /metrics over HTTP/1.x on its own socket and thread. */
#ifndef SINKD_METRICS_METRICS_HTTP_H
#define SINKD_METRICS_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/dynbuf.h"

/*
 * Separate from every sinkhole listener: its own socket and thread, so its
 * requests never reach a worker, a protocol module or the event log, and a
 * slow scraper cannot slow a listener. Request heads go through the
 * project's HTTP parser (proto/http/http_parse) with tight limits:
 * METRICS_HTTP_HEAD_MAX bytes, METRICS_HTTP_HEADERS_MAX headers, one request
 * per connection (answered with Connection: close), METRICS_HTTP_CLIENTS at
 * once (more wait in the backlog), METRICS_HTTP_TIMEOUT_MS per connection.
 * GET and HEAD of /metrics answer 200 with the exposition; other paths 404,
 * other methods 405, bad heads 400, heads too long 431.
 */

#define METRICS_HTTP_HEAD_MAX	 4096
#define METRICS_HTTP_HEADERS_MAX 32
#define METRICS_HTTP_CLIENTS	 16
#define METRICS_HTTP_TIMEOUT_MS	 5000
#define METRICS_HTTP_BODY_MAX	 (16u << 20) /* the largest exposition served */

/* Renders the exposition into out (called on the admin thread, once per scrape). 0 or an ERR_*. */
typedef int (*metrics_http_render_fn)(void *arg, struct dynbuf *out);

struct metrics_http;

/* Binds and listens (call while privileges still allow the port). ERR_SYS with errno. */
int metrics_http_open(struct metrics_http **out, const struct sockaddr *sa, socklen_t len,
		      metrics_http_render_fn render, void *arg);
/* The port it listens on (useful when opened on port 0); 0 if unknown. */
uint16_t metrics_http_port(const struct metrics_http *s);
/* Starts the thread. ERR_SYS. */
int metrics_http_start(struct metrics_http *s);
/* Stops the thread (if started), closes every socket, frees s. NULL is fine. */
void metrics_http_stop(struct metrics_http *s);

/*
 * The answer to one request head in buf[0..len) (exposed for tests and
 * fuzzing): appends the whole HTTP response to `resp` and returns 0, or
 * ERR_NEED_MORE when the head is not complete yet (and len is under
 * METRICS_HTTP_HEAD_MAX). The render function is called only for a 200.
 */
int metrics_http_answer(const char *buf, size_t len, metrics_http_render_fn render, void *arg,
			struct dynbuf *resp);

#endif
