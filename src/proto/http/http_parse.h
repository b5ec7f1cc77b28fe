/* http_parse.h — HTTP/1.0 and 1.1 request head parser and chunked-body decoder over untrusted bytes. */
#ifndef SINKD_PROTO_HTTP_PARSE_H
#define SINKD_PROTO_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Zero-copy: every string in the result is a (ptr, len) slice into the
 * caller's buffer, valid while that buffer is unchanged. Nothing assumes a NUL.
 * The parser is restartable from the beginning: call it again on the grown
 * buffer after ERR_NEED_MORE.
 */

#define HTTP_MAX_HEADERS_HARD 256 /* hard cap whatever the configured limit */

struct http_slice {
	const char *ptr;
	size_t len;
};

struct http_header {
	struct http_slice name;
	struct http_slice value; /* leading/trailing spaces and tabs removed */
};

enum http_body_kind {
	HTTP_BODY_NONE = 0,
	HTTP_BODY_LENGTH,  /* Content-Length: content_length bytes */
	HTTP_BODY_CHUNKED, /* Transfer-Encoding: chunked (last coding) */
};

struct http_request {
	struct http_slice method;
	struct http_slice target;    /* request target as sent */
	struct http_slice path;	     /* target up to '?' or '#' */
	struct http_slice query;     /* after '?', empty if none */
	uint8_t version_minor;	     /* 0 or 1 (HTTP/1.x only) */
	struct http_header *headers; /* points into the caller's array */
	size_t n_headers;
	/*
	 * Headers of interest, first occurrence. Absent: ptr NULL and len 0, so
	 * "not sent" and "sent empty" (ptr set, len 0) stay distinguishable.
	 */
	struct http_slice host;
	struct http_slice user_agent;
	struct http_slice referer;
	struct http_slice content_type;
	struct http_slice xff;
	enum http_body_kind body_kind;
	uint64_t content_length;
	bool keep_alive;      /* from version and Connection header */
	bool expect_continue; /* "Expect: 100-continue" */
	size_t head_len;      /* bytes of request line + headers + blank line */
};

struct http_parse_limits {
	size_t max_head_bytes; /* ERR_LIMIT once the head passes this without ending */
	size_t max_headers;    /* ERR_LIMIT above this many headers (<= HTTP_MAX_HEADERS_HARD) */
};

/*
 * Parses a request head at the start of buf. `headers` is an array of
 * `limits->max_headers` slots owned by the caller.
 * Returns 0 (req filled, req->head_len set), ERR_NEED_MORE, ERR_MALFORMED
 * (bad syntax, NUL or control bytes, bad or conflicting Content-Length,
 * Transfer-Encoding other than chunked last, obs-fold, HTTP version not 1.x)
 * or ERR_LIMIT. Accepts bare LF line ends as well as CRLF (bots send both).
 * When malformed, *why (if not NULL) gets a short static reason.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req,
		       struct http_header *headers, const struct http_parse_limits *limits,
		       const char **why);

/* Case-insensitive compare of a slice against a NUL-terminated ASCII string. */
bool http_slice_eq_nocase(struct http_slice s, const char *lit);

/*
 * Streaming chunked decoder. Feed it the bytes after the head; it reports
 * how much input it consumed and which of those bytes are body data, so the
 * caller can digest the data in place. State is a few integers: no buffering.
 */
struct http_chunked {
	int state;		/* private */
	uint64_t chunk_left;	/* private */
	uint32_t line_len;	/* private: bytes of the current size/trailer line */
	uint32_t trailer_bytes; /* private */
};

void http_chunked_init(struct http_chunked *c);

/*
 * Decodes from in[0..len). Calls on_data(ctx, p, n) for each run of body bytes.
 * *consumed is how many input bytes were used. Returns 0 when the final chunk
 * and trailers are complete (the request ends at in + *consumed),
 * ERR_NEED_MORE when all input was used and more is needed, ERR_MALFORMED
 * (bad hex, size overflow, missing CRLF after data) or ERR_LIMIT (a size line
 * or the trailers longer than 4 KiB).
 */
int http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len, size_t *consumed,
		      void (*on_data)(void *ctx, const uint8_t *p, size_t n), void *ctx);

/* The reason phrase for a status code (RFC 9110 §15); "Status" for codes not listed. */
const char *http_reason_phrase(uint16_t status);

#endif
