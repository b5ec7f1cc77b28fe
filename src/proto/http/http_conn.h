/* http_conn.h — the HTTP sinkhole protocol module: requests in, inert answers and events out. */
#ifndef SINKD_PROTO_HTTP_CONN_H
#define SINKD_PROTO_HTTP_CONN_H

#include "core/config.h"
#include "core/rules.h"

struct proto_ops;
extern const struct proto_ops http_proto_ops;

/*
 * Answers are built once per rule set (status line, Content-Length,
 * Connection, the family's headers and body) for HTTP/1.0 and 1.1, keep-alive
 * and close, so answering is one copy. ERR_CONFIG if a configured header
 * carries CR or LF.
 */
struct http_answers;
int http_answers_build(const struct config *cfg, struct http_answers **out, char *errbuf,
		       size_t errlen);
void http_answers_free(struct http_answers *a);

#endif
