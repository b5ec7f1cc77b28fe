/* http_parse.c — HTTP/1.x request head parser and streaming chunked decoder. */
#include "proto/http/http_parse.h"

#include <string.h>

#include "core/err.h"
#include "core/hex.h"

/*
 * The head parser works line by line inside a window of at most
 * max_head_bytes. Each line is handed to a line parser together with a flag
 * saying whether its end was seen: an unfinished line is checked as a prefix,
 * so garbage is rejected on its first bad byte instead of after the client
 * has filled the whole window (bots trickle bytes; we do not wait for them).
 * Meaning (Content-Length, Transfer-Encoding, Connection ...) is only derived
 * once the whole head is present.
 */

#define CHUNK_LINE_MAX	  4096 /* bytes of one chunk-size line, extensions included */
#define CHUNK_TRAILER_MAX 4096 /* bytes of the whole trailer section */

/* tchar from RFC 9110 §5.6.2: the characters of methods and header names. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Control characters: C0 and DEL. Bytes >= 0x80 (obs-text) are data. */
static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

bool http_slice_eq_nocase(struct http_slice s, const char *lit)
{
	size_t n = strlen(lit);

	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)lit[i]))
			return false;
	}
	return true;
}

static struct http_slice slice(const char *p, size_t n)
{
	struct http_slice s = { p, n };
	return s;
}

static struct http_slice trim_ows(struct http_slice s)
{
	while (s.len > 0 && is_ows(s.ptr[0])) {
		s.ptr++;
		s.len--;
	}
	while (s.len > 0 && is_ows(s.ptr[s.len - 1]))
		s.len--;
	return s;
}

static int malformed(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return ERR_MALFORMED;
}

/* Limits get a reason too: it goes into the event record like a malformation's. */
static int limited(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return ERR_LIMIT;
}

/* ------------------------------------------------------------------------- */
/* Request line                                                              */

/* Length of the run of bytes at p[0..n) accepted by ok(). */
static size_t span(const char *p, size_t n, bool (*ok)(unsigned char))
{
	size_t i = 0;

	while (i < n && ok((unsigned char)p[i]))
		i++;
	return i;
}

/*
 * Request-target: anything but space and controls. Bytes >= 0x80 are not
 * valid HTTP, but bots send raw UTF-8 and a sinkhole wants to record it.
 */
static bool is_target_char(unsigned char c)
{
	return c != ' ' && !is_ctl(c);
}

/* The version is checked as a prefix so "HTTP/2" fails on its '2'. */
static int parse_version(const char *p, size_t n, bool complete, struct http_request *req,
			 const char **why)
{
	static const char proto[] = "HTTP/1.";
	const size_t plen = sizeof proto - 1;
	size_t cmp = n < plen ? n : plen;

	if (n > plen + 1 || memcmp(p, proto, cmp) != 0)
		return malformed(why, "HTTP version not 1.x");
	if (n == plen + 1) {
		if (p[plen] != '0' && p[plen] != '1')
			return malformed(why, "HTTP version not 1.0 or 1.1");
		req->version_minor = (uint8_t)(p[plen] - '0');
		return complete ? 0 : ERR_NEED_MORE;
	}
	return complete ? malformed(why, "truncated HTTP version") : ERR_NEED_MORE;
}

/* Splits the target into path (up to '?' or '#') and query (after '?', up to '#'). */
static void split_target(struct http_request *req)
{
	const char *t = req->target.ptr;
	size_t n = req->target.len;
	size_t i = 0;

	while (i < n && t[i] != '?' && t[i] != '#')
		i++;
	req->path = slice(t, i);
	req->query = slice(t + n, 0);
	if (i < n && t[i] == '?') {
		size_t q = i + 1, e = q;

		while (e < n && t[e] != '#')
			e++;
		req->query = slice(t + q, e - q);
	}
}

/* method SP target SP version; exactly one space between the parts. */
static int parse_request_line(const char *p, size_t n, bool complete, struct http_request *req,
			      const char **why)
{
	size_t m = span(p, n, is_tchar);

	if (m == n)
		return complete ? malformed(why, "request line without target") : ERR_NEED_MORE;
	if (m == 0 || p[m] != ' ')
		return malformed(why, "bad method");
	req->method = slice(p, m);

	const char *t = p + m + 1;
	size_t left = n - m - 1;
	size_t tl = span(t, left, is_target_char);

	if (tl == left)
		return complete ? malformed(why, "request line without version") : ERR_NEED_MORE;
	if (tl == 0 || t[tl] != ' ')
		return malformed(why, "bad request target");
	req->target = slice(t, tl);

	int rc = parse_version(t + tl + 1, left - tl - 1, complete, req, why);
	if (rc == 0)
		split_target(req);
	return rc;
}

/* ------------------------------------------------------------------------- */
/* Header lines                                                              */

/* Value bytes: HTAB, SP, visible ASCII and obs-text; never other controls. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || !is_ctl(c);
}

static int parse_header_line(const char *p, size_t n, bool complete, struct http_header *h,
			     const char **why)
{
	/* A line starting with whitespace continues the previous one (obs-fold, RFC 9112 §5.2). */
	if (n > 0 && is_ows(p[0]))
		return malformed(why, "obs-fold or whitespace before header");

	size_t nl = span(p, n, is_tchar);

	if (nl == n)
		return complete ? malformed(why, "header without colon") : ERR_NEED_MORE;
	if (p[nl] != ':')
		return malformed(why, "bad header name");
	if (nl == 0)
		return malformed(why, "empty header name");

	const char *v = p + nl + 1;
	size_t vl = n - nl - 1;

	if (span(v, vl, is_value_char) != vl)
		return malformed(why, "control byte in header value");
	if (!complete)
		return ERR_NEED_MORE;
	h->name = slice(p, nl);
	h->value = trim_ows(slice(v, vl));
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Meaning of the head                                                       */

/*
 * Pops the next element of a comma-separated list (RFC 9110 §5.6.1), with
 * surrounding whitespace removed. Empty elements are skipped, as the RFC
 * asks of recipients. Returns false when the list is exhausted.
 */
static bool list_next(struct http_slice *list, struct http_slice *elem)
{
	while (list->len > 0) {
		size_t i = 0;

		while (i < list->len && list->ptr[i] != ',')
			i++;
		*elem = trim_ows(slice(list->ptr, i));
		if (i < list->len)
			i++; /* the comma */
		list->ptr += i;
		list->len -= i;
		if (elem->len > 0)
			return true;
	}
	return false;
}

/* Content-Length is 1*DIGIT; anything else, or a value above 2^64-1, is malformed. */
static bool parse_content_length(struct http_slice s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];

		if (c < '0' || c > '9')
			return false;
		uint64_t d = (uint64_t)(c - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * Transfer-Encoding over every TE header in order: the last coding must be
 * "chunked" and chunked may not appear earlier (RFC 9112 §6.1). Otherwise
 * the body length cannot be known and the request is rejected.
 */
static int apply_transfer_encoding(struct http_request *req, const char **why)
{
	bool any = false, last_chunked = false;

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		if (!http_slice_eq_nocase(h->name, "transfer-encoding"))
			continue;
		struct http_slice list = h->value, coding;
		bool elems = false;

		while (list_next(&list, &coding)) {
			if (last_chunked)
				return malformed(why, "chunked is not the last transfer coding");
			last_chunked = http_slice_eq_nocase(coding, "chunked");
			elems = true;
		}
		if (!elems)
			return malformed(why, "empty Transfer-Encoding");
		any = true;
	}
	if (!any)
		return 0;
	if (!last_chunked)
		return malformed(why, "Transfer-Encoding without chunked last");
	req->body_kind = HTTP_BODY_CHUNKED;
	return 0;
}

/* Content-Length headers must all agree; used only when there is no Transfer-Encoding. */
static int apply_content_length(struct http_request *req, const char **why)
{
	bool seen = false;

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		uint64_t v;

		if (!http_slice_eq_nocase(h->name, "content-length"))
			continue;
		if (!parse_content_length(h->value, &v))
			return malformed(why, "bad Content-Length");
		if (seen && v != req->content_length)
			return malformed(why, "conflicting Content-Length");
		req->content_length = v;
		seen = true;
	}
	if (seen)
		req->body_kind = HTTP_BODY_LENGTH;
	return 0;
}

/* Connection is a token list; "close" wins over "keep-alive" when both appear. */
static void apply_connection(struct http_slice value, bool *close, bool *keep)
{
	struct http_slice tok;

	while (list_next(&value, &tok)) {
		if (http_slice_eq_nocase(tok, "close"))
			*close = true;
		else if (http_slice_eq_nocase(tok, "keep-alive"))
			*keep = true;
	}
}

static void first_of(struct http_slice *dst, const struct http_header *h, const char *name)
{
	if (dst->len == 0 && dst->ptr == NULL && http_slice_eq_nocase(h->name, name))
		*dst = h->value;
}

static bool has_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		if (http_slice_eq_nocase(req->headers[i].name, name))
			return true;
	}
	return false;
}

/* Fills the derived fields once the whole head is known. */
static int interpret_head(struct http_request *req, const char **why)
{
	bool close = false, keep = false;

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		first_of(&req->host, h, "host");
		first_of(&req->user_agent, h, "user-agent");
		first_of(&req->referer, h, "referer");
		first_of(&req->content_type, h, "content-type");
		first_of(&req->xff, h, "x-forwarded-for");
		if (http_slice_eq_nocase(h->name, "connection"))
			apply_connection(h->value, &close, &keep);
		/* A 1.0 client does not know 100 Continue (RFC 9110 §10.1.1). */
		if (req->version_minor == 1 && http_slice_eq_nocase(h->name, "expect") &&
		    http_slice_eq_nocase(h->value, "100-continue"))
			req->expect_continue = true;
	}

	int rc = apply_transfer_encoding(req, why);
	if (rc != 0)
		return rc;
	/* With Transfer-Encoding, Content-Length is ignored entirely (RFC 9112 §6.3). */
	if (req->body_kind == HTTP_BODY_NONE) {
		rc = apply_content_length(req, why);
		if (rc != 0)
			return rc;
	} else if (has_header(req, "content-length")) {
		/* RFC 9112 §6.3: the server MUST close after answering such a request. */
		close = true;
	}

	req->keep_alive = req->version_minor == 1 ? !close : (keep && !close);
	/*
	 * A chunked 1.0 request has faulty framing as far as any intermediary
	 * is concerned (RFC 9112 §6.1): do not trust what follows it.
	 */
	if (req->body_kind == HTTP_BODY_CHUNKED && req->version_minor == 0)
		req->keep_alive = false;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Head driver                                                               */

int http_parse_request(const char *buf, size_t len, struct http_request *req,
		       struct http_header *headers, const struct http_parse_limits *limits,
		       const char **why)
{
	size_t max_headers = limits->max_headers;
	size_t win = len < limits->max_head_bytes ? len : limits->max_head_bytes;
	bool have_line = false;
	const char *p, *end;

	if (max_headers > HTTP_MAX_HEADERS_HARD)
		max_headers = HTTP_MAX_HEADERS_HARD;
	memset(req, 0, sizeof *req);
	req->headers = headers;
	if (win == 0) /* also keeps pointer arithmetic off a NULL buf */
		goto out_incomplete;

	p = buf;
	end = buf + win;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		bool complete = lf != NULL;
		size_t n = complete ? (size_t)(lf - p) : (size_t)(end - p);
		int rc;

		/* CRLF or bare LF; on an unfinished line a final CR may be half a CRLF. */
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0 && !complete)
			break;
		if (n == 0) {
			p = lf + 1;
			/* Empty lines before the request line are ignored (RFC 9112 §2.2). */
			if (!have_line)
				continue;
			req->head_len = (size_t)(p - buf);
			return interpret_head(req, why);
		}
		if (!have_line) {
			rc = parse_request_line(p, n, complete, req, why);
		} else {
			/* A further header line can only be over the limit or malformed. */
			if (req->n_headers >= max_headers)
				return limited(why, "too many headers");
			rc = parse_header_line(p, n, complete, &headers[req->n_headers], why);
		}
		if (rc != 0 && rc != ERR_NEED_MORE)
			return rc;
		/* A valid but unfinished line: wait for its end (or hit the limit). */
		if (!complete)
			break;
		if (have_line)
			req->n_headers++;
		have_line = true;
		p = lf + 1;
	}
out_incomplete:
	/* The head has not ended inside the window: it can only end past the limit. */
	if (len >= limits->max_head_bytes)
		return limited(why, "request head too large");
	return ERR_NEED_MORE;
}

/* ------------------------------------------------------------------------- */
/* Chunked decoder                                                           */

enum chunked_state {
	CH_SIZE_FIRST = 0, /* start of a size line: a hex digit must come */
	CH_SIZE,	   /* more hex digits */
	CH_SIZE_WS,	   /* whitespace after the size: only ';' may follow */
	CH_EXT,		   /* chunk extension, skipped up to the line end */
	CH_SIZE_LF,	   /* CR seen on the size line */
	CH_DATA,	   /* chunk_left data bytes */
	CH_DATA_CR,	   /* line end after the data */
	CH_DATA_LF,	   /* CR seen after the data */
	CH_TRAILER_START,  /* start of a trailer line or the final empty line */
	CH_TRAILER,	   /* inside a trailer line */
	CH_TRAILER_LF,	   /* CR seen inside a trailer line */
	CH_END_LF,	   /* CR of the final empty line seen */
	CH_DONE,
	CH_ERR_MALFORMED, /* sticky errors: feeding again repeats them */
	CH_ERR_LIMIT,
};

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof *c);
	c->state = CH_SIZE_FIRST;
}

static int chunked_fail(struct http_chunked *c, int err)
{
	c->state = err == ERR_LIMIT ? CH_ERR_LIMIT : CH_ERR_MALFORMED;
	return err;
}

/* The end of a size line: a zero size starts the trailers, anything else the data. */
static void size_line_done(struct http_chunked *c)
{
	c->line_len = 0;
	c->state = c->chunk_left == 0 ? CH_TRAILER_START : CH_DATA;
}

/* One byte of a chunk-size line (size, optional ;extensions, CRLF or LF). */
static int chunked_size_byte(struct http_chunked *c, uint8_t b)
{
	int hex = hex_value(b);

	if (++c->line_len > CHUNK_LINE_MAX)
		return chunked_fail(c, ERR_LIMIT);
	switch (c->state) {
	case CH_SIZE_FIRST:
		if (hex < 0)
			return chunked_fail(c, ERR_MALFORMED);
		c->chunk_left = (uint64_t)hex;
		c->state = CH_SIZE;
		return 0;
	case CH_SIZE:
		if (hex >= 0) {
			if (c->chunk_left > (UINT64_MAX >> 4))
				return chunked_fail(c, ERR_MALFORMED);
			c->chunk_left = c->chunk_left << 4 | (uint64_t)hex;
			return 0;
		}
		break;
	case CH_SIZE_WS:
		if (b == ' ' || b == '\t')
			return 0;
		if (b == ';') {
			c->state = CH_EXT;
			return 0;
		}
		return chunked_fail(c, ERR_MALFORMED);
	case CH_EXT:
		if (b == '\r' || b == '\n')
			break;
		if (is_ctl(b) && b != '\t')
			return chunked_fail(c, ERR_MALFORMED);
		return 0;
	case CH_SIZE_LF:
		if (b != '\n')
			return chunked_fail(c, ERR_MALFORMED);
		size_line_done(c);
		return 0;
	default:
		return chunked_fail(c, ERR_MALFORMED);
	}
	/* After the digits or inside an extension: the line may end here. */
	if (b == '\r') {
		c->state = CH_SIZE_LF;
	} else if (b == '\n') {
		size_line_done(c);
	} else if (c->state == CH_SIZE && (b == ' ' || b == '\t')) {
		c->state = CH_SIZE_WS; /* BWS before ';' (RFC 9112 §7.1.1) */
	} else if (c->state == CH_SIZE && b == ';') {
		c->state = CH_EXT;
	} else {
		return chunked_fail(c, ERR_MALFORMED);
	}
	return 0;
}

/* One byte of the trailer section; the section ends with an empty line. */
static int chunked_trailer_byte(struct http_chunked *c, uint8_t b)
{
	if (++c->trailer_bytes > CHUNK_TRAILER_MAX)
		return chunked_fail(c, ERR_LIMIT);
	switch (c->state) {
	case CH_TRAILER_START:
		if (b == '\n') {
			c->state = CH_DONE;
		} else if (b == '\r') {
			c->state = CH_END_LF;
		} else if (is_ctl(b) || b == ' ') {
			/* Controls are malformed; leading space would be obs-fold. */
			return chunked_fail(c, ERR_MALFORMED);
		} else {
			c->state = CH_TRAILER;
		}
		return 0;
	case CH_TRAILER:
		if (b == '\n')
			c->state = CH_TRAILER_START;
		else if (b == '\r')
			c->state = CH_TRAILER_LF;
		else if (is_ctl(b) && b != '\t')
			return chunked_fail(c, ERR_MALFORMED);
		return 0;
	case CH_TRAILER_LF:
	case CH_END_LF:
		if (b != '\n')
			return chunked_fail(c, ERR_MALFORMED);
		c->state = c->state == CH_END_LF ? CH_DONE : CH_TRAILER_START;
		return 0;
	default:
		return chunked_fail(c, ERR_MALFORMED);
	}
}

/* The line end that must follow each chunk's data. */
static int chunked_data_end_byte(struct http_chunked *c, uint8_t b)
{
	if (c->state == CH_DATA_CR && b == '\r') {
		c->state = CH_DATA_LF;
		return 0;
	}
	if (b != '\n')
		return chunked_fail(c, ERR_MALFORMED);
	c->state = CH_SIZE_FIRST;
	return 0;
}

int http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len, size_t *consumed,
		      void (*on_data)(void *ctx, const uint8_t *p, size_t n), void *ctx)
{
	size_t i = 0;
	int rc = 0;

	while (i < len && rc == 0) {
		switch (c->state) {
		case CH_DATA: {
			size_t avail = len - i;
			size_t n = c->chunk_left < avail ? (size_t)c->chunk_left : avail;

			if (on_data)
				on_data(ctx, in + i, n);
			i += n;
			c->chunk_left -= n;
			if (c->chunk_left == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		case CH_DATA_CR:
		case CH_DATA_LF:
			rc = chunked_data_end_byte(c, in[i]);
			break;
		case CH_TRAILER_START:
		case CH_TRAILER:
		case CH_TRAILER_LF:
		case CH_END_LF:
			rc = chunked_trailer_byte(c, in[i]);
			break;
		case CH_DONE:
			*consumed = i;
			return 0;
		case CH_ERR_MALFORMED:
			rc = ERR_MALFORMED;
			continue;
		case CH_ERR_LIMIT:
			rc = ERR_LIMIT;
			continue;
		default:
			rc = chunked_size_byte(c, in[i]);
			break;
		}
		if (rc == 0)
			i++;
	}
	*consumed = i;
	if (rc != 0)
		return rc;
	switch (c->state) {
	case CH_DONE:
		return 0;
	case CH_ERR_MALFORMED:
		return ERR_MALFORMED;
	case CH_ERR_LIMIT:
		return ERR_LIMIT;
	default:
		return ERR_NEED_MORE;
	}
}

const char *http_reason_phrase(uint16_t status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	}
	return "Status";
}
