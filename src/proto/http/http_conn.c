/* http_conn.c — the HTTP sinkhole: PROXY header, request heads, bodies, classification, answers, events. */

/*
 * Bodies are digested with OpenSSL's one-context SHA-256 API: it needs no
 * allocation or provider fetch per request, which EVP would on OpenSSL 3.0's
 * hot path. It is deprecated but present throughout 3.x.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "proto/http/http_conn.h"

#include <openssl/sha.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/event.h"
#include "net/daemon.h"
#include "net/worker.h"
#include "proto/http/http_parse.h"
#include "proto/tls/tls_conn.h"

#define HTTP_RAW_PREFIX_MAX 512
/* Space kept in a held event for the fields added when the request completes. */
#define HTTP_EVENT_TAIL	    1024

/* --- prebuilt answers --------------------------------------------------------- */

struct http_answer {
	/* [version_minor][keep_alive]: whole answer; head_len = without the body (HEAD requests). */
	uint8_t *data[2][2];
	size_t len[2][2];
	size_t head_len[2][2];
	uint16_t status;
};

struct http_answers {
	struct http_answer *by_index; /* families in order, then the default answer */
	size_t n;
};

static bool http_has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static int http_answer_build(struct http_answer *a, const struct config_answer *cfg, char *errbuf,
			     size_t errlen)
{
	a->status = cfg->status;
	for (size_t i = 0; i < cfg->n_headers; i++) {
		if (http_has_crlf(cfg->headers[i].name) || http_has_crlf(cfg->headers[i].value)) {
			snprintf(errbuf, errlen, "answer header \"%s\" contains CR or LF",
				 cfg->headers[i].name);
			return ERR_CONFIG;
		}
	}
	for (int v = 0; v < 2; v++) {
		for (int ka = 0; ka < 2; ka++) {
			struct dynbuf b;
			dynbuf_init(&b, 1u << 20);
			int rc = dynbuf_printf(&b, "HTTP/1.%d %u %s\r\nContent-Length: %zu\r\n", v,
					       cfg->status, http_reason_phrase(cfg->status),
					       cfg->body_len);
			/* 1.1 is persistent unless told; 1.0 only if told. */
			if (rc == 0 && !ka)
				rc = dynbuf_adds(&b, "Connection: close\r\n");
			else if (rc == 0 && v == 0)
				rc = dynbuf_adds(&b, "Connection: keep-alive\r\n");
			for (size_t i = 0; rc == 0 && i < cfg->n_headers; i++)
				rc = dynbuf_printf(&b, "%s: %s\r\n", cfg->headers[i].name,
						   cfg->headers[i].value);
			if (rc == 0)
				rc = dynbuf_adds(&b, "\r\n");
			size_t head_len = b.len;
			if (rc == 0 && cfg->body_len)
				rc = dynbuf_add(&b, cfg->body, cfg->body_len);
			if (rc) {
				dynbuf_free(&b);
				snprintf(errbuf, errlen, "answer too large");
				return ERR_CONFIG;
			}
			a->data[v][ka] = (uint8_t *)b.data;
			a->len[v][ka] = b.len;
			a->head_len[v][ka] = head_len;
		}
	}
	return 0;
}

void http_answers_free(struct http_answers *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		for (int v = 0; v < 2; v++)
			for (int ka = 0; ka < 2; ka++)
				free(a->by_index[i].data[v][ka]);
	free(a->by_index);
	free(a);
}

int http_answers_build(const struct config *cfg, struct http_answers **out, char *errbuf,
		       size_t errlen)
{
	struct http_answers *a = calloc(1, sizeof *a);
	if (!a)
		return ERR_NOMEM;
	a->by_index = calloc(cfg->n_families + 1, sizeof *a->by_index);
	if (!a->by_index) {
		free(a);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i <= cfg->n_families; i++) {
		const struct config_answer *ans = &cfg->default_answer;
		if (i < cfg->n_families && cfg->families[i].has_answer)
			ans = &cfg->families[i].answer;
		int rc = http_answer_build(&a->by_index[i], ans, errbuf, errlen);
		a->n = i + 1;
		if (rc) {
			http_answers_free(a);
			return rc;
		}
	}
	*out = a;
	return 0;
}

static const struct http_answer *http_answer_for(const struct http_answers *a,
						 const struct rules_family *fam)
{
	size_t i = fam->index == UINT32_MAX ? a->n - 1 : fam->index;
	if (i >= a->n)
		i = a->n - 1;
	return &a->by_index[i];
}

/* Fixed answers to requests we refuse; always closing. */
static const char http_400[] =
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char http_413[] =
	"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char http_431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
			       "Content-Length: 0\r\nConnection: close\r\n\r\n";
static const char http_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* --- one request ---------------------------------------------------------------- */

/* Where a string field sits in the event buffer, so rules can read it after the head is gone. */
struct http_span {
	uint32_t off, len;
};

struct http_pending {
	struct event_builder b;
	struct http_span method, host, uri, path, user_agent;
	enum http_body_kind kind;
	uint64_t remaining; /* HTTP_BODY_LENGTH: bytes still to come */
	struct http_chunked chunked;
	uint64_t body_len;
	SHA256_CTX sha;
	uint8_t *prefix; /* body bytes kept (prefix_cap = body_store_bytes) */
	uint32_t prefix_len, prefix_cap;
	uint64_t max_body;
	bool keep_alive;
	bool head_method;
	bool over_limit;
	uint8_t version_minor;
	uint8_t buf[]; /* the event being built (b.buf points here when held) */
};

static struct http_span http_put_span(struct event_builder *b, uint16_t tag, struct http_slice s)
{
	struct http_span sp = { 0, 0 };
	if (!s.ptr)
		return sp;
	size_t before = b->len;
	event_put(b, tag, s.ptr, s.len);
	if (!b->overflow && b->len > before) {
		sp.off = (uint32_t)(before + 4);
		sp.len = (uint32_t)(b->len - before - 4);
	}
	return sp;
}

static struct rules_slice http_span_slice(const struct event_builder *b, struct http_span sp)
{
	struct rules_slice s = { NULL, 0 };
	if (sp.len || sp.off)
		s.ptr = (const char *)b->buf + sp.off;
	s.len = sp.len;
	return s;
}

/* The Host header without its port ("a.example:8080" -> "a.example", "[::1]:80" -> "[::1]"). */
static struct rules_slice http_host_for_rules(struct rules_slice h)
{
	if (!h.ptr || !h.len)
		return h;
	if (h.ptr[0] == '[') {
		const char *end = memchr(h.ptr, ']', h.len);
		if (end)
			h.len = (size_t)(end - h.ptr) + 1;
		return h;
	}
	const char *colon = memchr(h.ptr, ':', h.len);
	if (colon && !memchr(colon + 1, ':', h.len - (size_t)(colon - h.ptr) - 1))
		h.len = (size_t)(colon - h.ptr);
	return h;
}

/* Every header in order: be16 count, then (be16 name len, name, be16 value len, value)*. */
static void http_put_headers(struct event_builder *b, const struct http_request *req)
{
	size_t total = 2;
	size_t n = 0;
	for (; n < req->n_headers; n++) {
		size_t one = 4 + req->headers[n].name.len + req->headers[n].value.len;
		if (one > UINT16_MAX - total)
			break;
		total += one;
	}
	if (n < req->n_headers)
		event_add_flags(b, EVENT_F_TRUNCATED);
	if (b->overflow || 4 + total > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	uint8_t *p = b->buf + b->len;
	put_be16(p, EVENT_T_HTTP_HEADERS);
	put_be16(p + 2, (uint16_t)total);
	put_be16(p + 4, (uint16_t)n);
	p += 6;
	for (size_t i = 0; i < n; i++) {
		const struct http_header *h = &req->headers[i];
		put_be16(p, (uint16_t)h->name.len);
		memcpy(p + 2, h->name.ptr, h->name.len);
		p += 2 + h->name.len;
		put_be16(p, (uint16_t)h->value.len);
		memcpy(p + 2, h->value.ptr, h->value.len);
		p += 2 + h->value.len;
	}
	b->len += 4 + total;
}

/*
 * X-Forwarded-For from a trusted proxy: the client is the right-most entry
 * that is not itself a trusted proxy. Returns false when nothing usable.
 */
static bool http_xff_client(const struct config_listener *lc, const struct event_addr *hop,
			    struct http_slice xff, struct event_addr *client)
{
	if (!lc->n_trusted_proxies || !xff.len)
		return false;
	bool trusted = false;
	for (size_t i = 0; i < lc->n_trusted_proxies && !trusted; i++)
		trusted = config_cidr_contains(&lc->trusted_proxies[i], hop);
	if (!trusted)
		return false;
	size_t end = xff.len;
	while (end > 0) {
		size_t start = end;
		while (start > 0 && xff.ptr[start - 1] != ',')
			start--;
		size_t a = start, z = end;
		while (a < z && (xff.ptr[a] == ' ' || xff.ptr[a] == '\t'))
			a++;
		while (z > a && (xff.ptr[z - 1] == ' ' || xff.ptr[z - 1] == '\t'))
			z--;
		char text[64];
		if (z - a == 0 || z - a >= sizeof text)
			return false;
		memcpy(text, xff.ptr + a, z - a);
		text[z - a] = '\0';
		struct event_addr cand;
		if (event_addr_parse(text, &cand) != 0)
			return false;
		bool cand_trusted = false;
		for (size_t i = 0; i < lc->n_trusted_proxies && !cand_trusted; i++)
			cand_trusted = config_cidr_contains(&lc->trusted_proxies[i], &cand);
		if (!cand_trusted) {
			*client = cand;
			return true;
		}
		if (start == 0)
			break;
		end = start - 1;
	}
	return false;
}

static void http_body_data(void *ctx, const uint8_t *p, size_t n)
{
	struct http_pending *pd = ctx;
	uint64_t room = pd->max_body > pd->body_len ? pd->max_body - pd->body_len : 0;
	if (n > room) {
		pd->over_limit = true;
		n = (size_t)room;
	}
	if (!n)
		return;
	SHA256_Update(&pd->sha, p, n);
	if (pd->prefix_len < pd->prefix_cap) {
		size_t keep = pd->prefix_cap - pd->prefix_len;
		if (keep > n)
			keep = n;
		memcpy(pd->prefix + pd->prefix_len, p, keep);
		pd->prefix_len += (uint32_t)keep;
	}
	pd->body_len += n;
}

enum http_answer_mode {
	HTTP_ANSWER_FAMILY = 0, /* the family's configured answer */
	HTTP_ANSWER_400,	/* the body turned out malformed */
	HTTP_ANSWER_NONE,	/* the peer is gone or timed out: record only */
};

/*
 * Classifies with what the event holds, records it, and queues the answer.
 * `reason` (may be NULL) is recorded with the event.
 */
static void http_complete(struct conn *c, struct http_pending *pd, const uint8_t *prefix,
			  size_t prefix_len, uint16_t extra_flags, const char *reason,
			  enum http_answer_mode mode)
{
	struct worker *w = c->w;
	const struct ruleset *rs = w->rules;
	struct event_builder *b = &pd->b;
	struct rules_input in = {
		.proto = CONFIG_PROTO_HTTP,
		.listener = c->l->cfg->name,
		.dst_port = c->dst.port,
		.method = http_span_slice(b, pd->method),
		.host = http_host_for_rules(http_span_slice(b, pd->host)),
		.uri = http_span_slice(b, pd->uri),
		.path = http_span_slice(b, pd->path),
		.user_agent = http_span_slice(b, pd->user_agent),
		.body_len = pd->body_len,
		.body_prefix = prefix,
		.body_prefix_len = prefix_len,
		.slot = w->id,
	};
	tls_conn_fill_rules(c, &in);
	const struct rules_family *fam = rules_classify(rs->rules, &in);
	const struct http_answer *ans = http_answer_for(rs->http, fam);
	if (pd->over_limit) {
		extra_flags |= EVENT_F_LIMIT | EVENT_F_TRUNCATED;
		reason = "body larger than max_body_bytes";
	}
	bool keep = mode == HTTP_ANSWER_FAMILY && pd->keep_alive && !pd->over_limit &&
		    !w->draining && c->tx_count + 1 < c->l->cfg->http.max_requests_per_conn;
	int v = pd->version_minor ? 1 : 0;
	const uint8_t *resp = ans->data[v][keep];
	size_t resp_len = pd->head_method ? ans->head_len[v][keep] : ans->len[v][keep];
	uint16_t status = ans->status;
	if (pd->over_limit) {
		resp = (const uint8_t *)http_413;
		resp_len = sizeof http_413 - 1;
		status = 413;
	} else if (mode == HTTP_ANSWER_400) {
		resp = (const uint8_t *)http_400;
		resp_len = sizeof http_400 - 1;
		status = 400;
	}

	event_add_flags(b, extra_flags);
	event_put_str(b, EVENT_T_FAMILY, fam->name);
	if (fam->tag)
		event_put_str(b, EVENT_T_TAG, fam->tag);
	if (fam->index != UINT32_MAX)
		event_put_u32(b, EVENT_T_RULE, fam->index);
	if (pd->kind != HTTP_BODY_NONE) {
		uint8_t digest[SHA256_DIGEST_LENGTH];
		SHA256_Final(digest, &pd->sha);
		event_put_u64(b, EVENT_T_HTTP_BODY_LEN, pd->body_len);
		event_put(b, EVENT_T_HTTP_BODY_SHA256, digest, sizeof digest);
		if (prefix_len)
			event_put(b, EVENT_T_HTTP_BODY_PREFIX, prefix, prefix_len);
	}
	if (reason)
		event_put_str(b, EVENT_T_REASON, reason);
	if (mode != HTTP_ANSWER_NONE) {
		event_put_u16(b, EVENT_T_HTTP_STATUS, status);
		event_put_u64(b, EVENT_T_HTTP_RESPONSE_LEN, resp_len);
	}

	uint64_t seq = conn_event_submit(c, b);
	STAT_INC(w->st.requests);
	if (pd->over_limit || mode == HTTP_ANSWER_400)
		STAT_INC(w->st.malformed);
	c->p.http.in_request = false;
	if (mode == HTTP_ANSWER_NONE) {
		c->closed = true;
		return;
	}
	if (w->answered && seq == 0) {
		/* Never answer what is not recorded: the bot will call again. */
		STAT_INC(w->st.refused_unrecorded);
		c->closed = true;
		return;
	}
	conn_write(c, resp, resp_len);
	if (!keep)
		conn_close_after_flush(c);
	conn_set_timer(c, CONN_TIMER_IDLE);
}

/* Records input that is not a valid request, answers `resp` (may be NULL) and closes. */
static void http_reject(struct conn *c, const uint8_t *raw, size_t raw_len, uint16_t flags,
			const char *reason, const char *resp, uint16_t status)
{
	struct worker *w = c->w;
	struct event_builder b;
	conn_event_begin(c, &b, EVENT_HTTP, NULL, flags);
	struct rules_input in = {
		.proto = CONFIG_PROTO_HTTP,
		.listener = c->l->cfg->name,
		.dst_port = c->dst.port,
	};
	conn_event_classify(c, &b, &in);
	event_put_str(&b, EVENT_T_REASON, reason);
	if (raw_len)
		event_put(&b, EVENT_T_RAW_PREFIX, raw,
			  raw_len > HTTP_RAW_PREFIX_MAX ? HTTP_RAW_PREFIX_MAX : raw_len);
	if (status)
		event_put_u16(&b, EVENT_T_HTTP_STATUS, status);
	uint64_t seq = conn_event_submit(c, &b);
	if (flags & (EVENT_F_MALFORMED | EVENT_F_LIMIT))
		STAT_INC(w->st.malformed);
	if (resp && !(w->answered && seq == 0)) {
		conn_write(c, resp, strlen(resp));
		conn_close_after_flush(c);
	} else {
		c->closed = true;
	}
	c->p.http.in_request = false;
}

static void http_pending_free(struct conn *c)
{
	struct http_pending *pd = c->p.http.pending;
	if (!pd)
		return;
	free(pd->prefix);
	free(pd);
	c->p.http.pending = NULL;
}

/* Feeds body bytes; returns how many were consumed and whether the body is complete. */
static size_t http_body_feed(struct http_pending *pd, const uint8_t *p, size_t n, bool *done,
			     bool *bad)
{
	*done = false;
	*bad = false;
	if (pd->kind == HTTP_BODY_LENGTH) {
		size_t take = pd->remaining < n ? (size_t)pd->remaining : n;
		http_body_data(pd, p, take);
		pd->remaining -= take;
		*done = pd->remaining == 0;
		return take;
	}
	size_t used = 0;
	int rc = http_chunked_feed(&pd->chunked, p, n, &used, http_body_data, pd);
	if (rc == 0)
		*done = true;
	else if (rc != ERR_NEED_MORE)
		*bad = true;
	return used;
}

/* Parses one request head at buf; returns bytes consumed (0 = need more). */
static size_t http_on_head(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	const struct config_http_limits *lim = &c->l->cfg->http;
	struct http_header headers[HTTP_MAX_HEADERS_HARD];
	struct http_parse_limits pl = {
		.max_head_bytes = lim->max_header_bytes,
		.max_headers = lim->max_headers < HTTP_MAX_HEADERS_HARD ? lim->max_headers :
									  HTTP_MAX_HEADERS_HARD,
	};
	struct http_request req;
	const char *why = NULL;
	int rc = http_parse_request((const char *)buf, len, &req, headers, &pl, &why);
	if (rc == ERR_NEED_MORE) {
		if (eof) {
			http_reject(c, buf, len, EVENT_F_TRUNCATED | EVENT_F_NO_ANSWER,
				    "connection closed before the request head was complete", NULL,
				    0);
			return len;
		}
		return 0;
	}
	if (rc == ERR_LIMIT) {
		http_reject(c, buf, len, EVENT_F_LIMIT | EVENT_F_TRUNCATED,
			    why ? why : "request head over the limits", http_431, 431);
		return len;
	}
	if (rc != 0) {
		http_reject(c, buf, len, EVENT_F_MALFORMED, why ? why : "malformed request",
			    http_400, 400);
		return len;
	}

	/* The head is valid: start the event with everything it says. */
	struct event_addr client;
	bool forwarded = http_xff_client(c->l->cfg, &c->src, req.xff, &client);
	struct http_pending local;
	struct http_pending *pd = &local;
	memset(pd, 0, offsetof(struct http_pending, buf));
	conn_event_begin(c, &pd->b, EVENT_HTTP, forwarded ? &client : NULL,
			 forwarded ? EVENT_F_FORWARDED : 0);
	if (forwarded)
		event_put_addr(&pd->b, EVENT_T_FORWARDED_BY, &c->src);
	pd->method = http_put_span(&pd->b, EVENT_T_HTTP_METHOD, req.method);
	pd->uri = http_put_span(&pd->b, EVENT_T_HTTP_URI, req.target);
	pd->path = pd->uri;
	pd->path.len = (uint32_t)(req.path.len < pd->uri.len ? req.path.len : pd->uri.len);
	if (req.host.ptr)
		pd->host = http_put_span(&pd->b, EVENT_T_HTTP_HOST, req.host);
	if (req.user_agent.ptr)
		pd->user_agent = http_put_span(&pd->b, EVENT_T_HTTP_USER_AGENT, req.user_agent);
	if (req.referer.ptr)
		event_put(&pd->b, EVENT_T_HTTP_REFERER, req.referer.ptr, req.referer.len);
	event_put_str(&pd->b, EVENT_T_HTTP_PROTOCOL, req.version_minor ? "HTTP/1.1" : "HTTP/1.0");
	if (req.content_type.ptr)
		event_put(&pd->b, EVENT_T_HTTP_CONTENT_TYPE, req.content_type.ptr,
			  req.content_type.len);
	if (req.xff.ptr)
		event_put(&pd->b, EVENT_T_HTTP_XFF, req.xff.ptr, req.xff.len);
	http_put_headers(&pd->b, &req);
	pd->kind = req.body_kind;
	pd->keep_alive = req.keep_alive;
	pd->version_minor = req.version_minor;
	pd->head_method = http_slice_eq_nocase(req.method, "HEAD");
	pd->max_body = lim->max_body_bytes;
	pd->remaining = req.content_length;
	if (pd->kind != HTTP_BODY_NONE) {
		http_chunked_init(&pd->chunked);
		SHA256_Init(&pd->sha);
	}

	size_t used = req.head_len;
	const uint8_t *body = buf + used;
	size_t avail = len - used;
	if (pd->kind == HTTP_BODY_NONE) {
		http_complete(c, pd, NULL, 0, 0, NULL, HTTP_ANSWER_FAMILY);
		return used;
	}
	/* Whole body already here: complete without holding anything. */
	if (pd->kind == HTTP_BODY_LENGTH && req.content_length <= avail &&
	    req.content_length <= pd->max_body) {
		size_t cl = (size_t)req.content_length;
		SHA256_Update(&pd->sha, body, cl);
		pd->body_len = cl;
		size_t keep = cl < lim->body_store_bytes ? cl : lim->body_store_bytes;
		http_complete(c, pd, body, keep, 0, NULL, HTTP_ANSWER_FAMILY);
		return used + cl;
	}
	/* The body spans reads (or is chunked): hold the event and stream the body. */
	size_t cap = pd->b.len + HTTP_EVENT_TAIL + lim->body_store_bytes;
	struct http_pending *held = malloc(sizeof *held + cap);
	uint8_t *prefix = lim->body_store_bytes ? malloc(lim->body_store_bytes) : NULL;
	if (!held || (lim->body_store_bytes && !prefix)) {
		free(held);
		free(prefix);
		http_reject(c, buf, len, EVENT_F_LIMIT, "out of memory holding the request", NULL,
			    0);
		return len;
	}
	memcpy(held, pd, offsetof(struct http_pending, buf));
	memcpy(held->buf, pd->b.buf, pd->b.len);
	held->b.buf = held->buf;
	held->b.cap = cap;
	held->prefix = prefix;
	held->prefix_cap = lim->body_store_bytes;
	c->p.http.pending = held;
	c->p.http.phase = HTTP_PHASE_BODY;
	if (req.expect_continue && pd->kind == HTTP_BODY_LENGTH && avail == 0) {
		/* The client waits for this before sending the body; it leaves with this turn's output. */
		conn_write(c, http_100, sizeof http_100 - 1);
	}
	return used;
}

static size_t http_on_body(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	struct http_pending *pd = c->p.http.pending;
	bool done, bad;
	size_t used = http_body_feed(pd, buf, len, &done, &bad);
	if (bad || pd->over_limit || done || eof) {
		bool next_ok = done && !bad && !pd->over_limit;
		if (bad)
			http_complete(c, pd, pd->prefix, pd->prefix_len, EVENT_F_MALFORMED,
				      "malformed chunked body", HTTP_ANSWER_400);
		else if (pd->over_limit)
			http_complete(c, pd, pd->prefix, pd->prefix_len, 0, NULL,
				      HTTP_ANSWER_FAMILY);
		else if (done)
			http_complete(c, pd, pd->prefix, pd->prefix_len, 0, NULL,
				      HTTP_ANSWER_FAMILY);
		else
			http_complete(c, pd, pd->prefix, pd->prefix_len,
				      EVENT_F_TRUNCATED | EVENT_F_NO_ANSWER,
				      "connection closed mid-body", HTTP_ANSWER_NONE);
		http_pending_free(c);
		c->p.http.phase = HTTP_PHASE_HEAD;
		/* After a refusal nothing more is read; after a good body the next request may follow. */
		return next_ok ? used : len;
	}
	/* Progress on a body re-arms the request timer; a stalled body times out. */
	if (used)
		conn_set_timer(c, CONN_TIMER_REQUEST);
	return used;
}

static size_t http_on_proxy(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	const char *why;
	size_t used = 0;
	int rc = conn_read_proxy(c, buf, len, eof, &used, &why);
	if (rc == ERR_NEED_MORE)
		return 0;
	if (rc != 0) {
		http_reject(c, buf, len, EVENT_F_MALFORMED | EVENT_F_NO_ANSWER, why, NULL, 0);
		return len;
	}
	c->p.http.phase = HTTP_PHASE_HEAD;
	return used;
}

static size_t http_on_input(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	size_t done = 0;
	while (!c->closed && !c->close_after_flush) {
		const uint8_t *p = buf + done;
		size_t n = len - done;
		if (n == 0 && !eof)
			return done;
		size_t used;
		switch (c->p.http.phase) {
		case HTTP_PHASE_PROXY:
			if (n == 0) {
				http_reject(c, NULL, 0, EVENT_F_NO_ANSWER,
					    "connection closed without data", NULL, 0);
				return len;
			}
			used = http_on_proxy(c, p, n, eof);
			break;
		case HTTP_PHASE_HEAD:
			if (n == 0) {
				/* A connection that never said anything is still a check-in attempt. */
				if (c->tx_count == 0)
					http_reject(c, NULL, 0, EVENT_F_NO_ANSWER,
						    "connection closed without data", NULL, 0);
				return done;
			}
			if (!c->p.http.in_request) {
				c->p.http.in_request = true;
				conn_set_timer(c, CONN_TIMER_REQUEST);
			}
			used = http_on_head(c, p, n, eof);
			break;
		case HTTP_PHASE_BODY:
			used = http_on_body(c, p, n, eof);
			break;
		default:
			return len;
		}
		if (used == 0)
			return done;
		done += used;
	}
	/* Once closing, whatever else arrived is not read. */
	return len;
}

static void http_on_open(struct conn *c)
{
	c->p.http.phase = c->l->cfg->proxy_protocol ? HTTP_PHASE_PROXY : HTTP_PHASE_HEAD;
	c->p.http.in_request = false;
	c->p.http.pending = NULL;
}

static void http_on_timeout(struct conn *c)
{
	struct http_pending *pd = c->p.http.pending;
	if (pd) {
		http_complete(c, pd, pd->prefix, pd->prefix_len,
			      EVENT_F_TIMEOUT | EVENT_F_TRUNCATED | EVENT_F_NO_ANSWER,
			      "request body timed out", HTTP_ANSWER_NONE);
		http_pending_free(c);
		return;
	}
	if (c->in_len || c->p.http.in_request) {
		http_reject(c, c->in, c->in_len, EVENT_F_TIMEOUT | EVENT_F_NO_ANSWER,
			    c->p.http.phase == HTTP_PHASE_PROXY ? "PROXY header timed out" :
								  "request head timed out",
			    NULL, 0);
		return;
	}
	if (c->bytes_in == 0 && c->tx_count == 0)
		http_reject(c, NULL, 0, EVENT_F_TIMEOUT | EVENT_F_NO_ANSWER,
			    "no data before timeout", NULL, 0);
}

static void http_on_close(struct conn *c)
{
	http_pending_free(c);
}

/*
 * A keep-alive connection between requests has nothing in flight. One that has
 * not finished its first request yet keeps its header timeout at a shutdown:
 * its check-in may be on the way.
 */
static bool http_is_idle(const struct conn *c)
{
	return c->tx_count > 0 && !c->p.http.in_request && !c->p.http.pending;
}

const struct proto_ops http_proto_ops = {
	.name = "http",
	.on_open = http_on_open,
	.on_input = http_on_input,
	.on_timeout = http_on_timeout,
	.on_close = http_on_close,
	.is_idle = http_is_idle,
};
