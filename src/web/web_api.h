/* web_api.h — the JSON API under /api/v1/: one request in, status and body out, every read through the token's scope. */
#ifndef SINKD_WEB_WEB_API_H
#define SINKD_WEB_WEB_API_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "core/log.h"
#include "store/store.h"
#include "web/tokens.h"

/* The sensor's event rate, sampled from its stats file; shared by the server's threads. */
struct web_rate {
	pthread_mutex_t mu;
	uint64_t t0_us, rec0; /* older sample */
	uint64_t t1_us, rec1; /* newer sample */
};

/*
 * Writes the report files of `day` for the scope into `dir` (exactly what
 * `sinkd report` writes). Supplied by the command that runs the server.
 */
typedef int (*web_reports_fn)(void *ctx, int64_t day, const struct store_scope *sc,
			      const char *dir);

struct web_api {
	struct store *store;	/* this thread's handle */
	const char *log_dir;	/* for the consumer lag; NULL: not shown */
	const char *stats_path; /* the sensor's stats.json; NULL: not shown */
	struct web_rate *rate;
	web_reports_fn make_reports;
	void *reports_ctx;
	const char *tmp_dir; /* where report files are written for a request */
};

/*
 * How far the store lags behind the log: bytes from the store's position to
 * the end of the log's last sealed batch (log_distance). ERR_* when the log
 * or the store cannot be read.
 */
int web_store_lag(struct store *s, const char *log_dir, struct log_pos *pos, struct log_pos *end,
		  uint64_t *lag);

/* Endpoint numbers (the routes of /metrics). */
enum web_endpoint {
	WEB_EP_ME,
	WEB_EP_SUMMARY,
	WEB_EP_SERIES,
	WEB_EP_NETWORKS,
	WEB_EP_HOSTS,
	WEB_EP_EVENTS,
	WEB_EP_REPORTS,
	WEB_EP_REPORT_FILE,
	WEB_EP_OTHER,
	WEB_EP_N
};
const char *web_endpoint_name(enum web_endpoint e);

struct web_reply {
	int status;
	const char *content_type;
	struct dynbuf body;
	char filename[160]; /* set: Content-Disposition: attachment */
	enum web_endpoint ep;
	/*
	 * A report file is sent from this descriptor instead of body (files can
	 * be far larger than a reply buffer): file_len bytes; -1 = none. The
	 * reply owns it (web_reply_free closes it).
	 */
	int file_fd;
	uint64_t file_len;
};

void web_reply_init(struct web_reply *r);
void web_reply_free(struct web_reply *r);
/* A JSON error body {"error": {"status": N, "message": "..."}} with that status. */
void web_reply_error(struct web_reply *r, int status, const char *msg);

/*
 * Answers a GET under /api/v1/ (path and query as sent, percent-encoded)
 * for the authenticated token t. Never fails: problems become 4xx/5xx JSON.
 */
void web_api_handle(struct web_api *a, const struct token *t, const char *path, size_t path_len,
		    const char *query, size_t query_len, struct web_reply *r);

#endif
