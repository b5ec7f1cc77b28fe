/* chttp.h — ClickHouse's HTTP interface through libcurl: one kept-alive connection, gzip bodies, bounded retries. */
#ifndef SINKD_STORE_CHTTP_H
#define SINKD_STORE_CHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A target is "clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?compress=0]"
 * (port 8123 by default; the HTTP interface; compress=0: send bodies as they are). Queries go as POST with the SQL
 * in the `query` parameter and the data (an INSERT's rows) as the body.
 *
 * Retries: a request that fails (no connection, a timeout, any status but
 * 200) is sent again up to `attempts` times in all, waiting 100 ms, 200 ms,
 * 400 ms ... (at most 5 s) in between. A query whose answer has started to
 * reach the callback is not repeated (the caller has seen rows). Reads set
 * wait_end_of_query=1 so an error in the middle of a result comes back as a
 * status, never as rows.
 */
#define CHTTP_DB_MAX 64

/* A database or cluster name sinkd accepts: 1..CHTTP_DB_MAX-1 of [A-Za-z0-9_] (safe unquoted in SQL). */
bool chttp_ident_ok(const char *s, size_t n);

struct chttp;

int chttp_new(struct chttp **out, const char *url, char *err, size_t errlen);
void chttp_free(struct chttp *c);
/* The database named by the URL: a plain identifier ([A-Za-z0-9_]). */
const char *chttp_db(const struct chttp *c);
/* Attempts per request (default 6); 1 = no retry. */
void chttp_set_attempts(struct chttp *c, unsigned attempts);
/* Compress request bodies (gzip, Content-Encoding); default on. */
void chttp_set_gzip(struct chttp *c, bool on);
/* Gives up on one attempt after ms (0 = no limit, the default: reports may run long). */
void chttp_set_timeout(struct chttp *c, long ms);

/* Receives the answer's bytes as they arrive; non-0 stops the transfer (not an error). */
typedef int (*chttp_data_fn)(void *ctx, const uint8_t *p, size_t n);

/*
 * Runs `sql` (extra URL settings in `settings`, "name=value&...", may be
 * NULL) with body[0..len) (NULL: none). The answer goes to fn (may be NULL).
 * 0, or ERR_SYS with err set (the server's message, trimmed).
 */
int chttp_query(struct chttp *c, const char *sql, const char *settings, const void *body,
		size_t len, chttp_data_fn fn, void *ctx, char *err, size_t errlen);

/* Requests sent and retries made (for `ship` statistics). */
uint64_t chttp_retries(const struct chttp *c);

#endif
