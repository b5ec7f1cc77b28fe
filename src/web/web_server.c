/* web_server.c — accept loop and request threads: bounded reads, the HTTP head parser, auth, sessions, static files, headers. */
#include "web/web_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "metrics/metrics.h"
#include "proto/http/http_parse.h"
#include "web/query.h"

#define WS_MAX_HEAD	  16384
#define WS_MAX_BODY	  4096 /* login forms only */
#define WS_MAX_HEADERS	  64
#define WS_REQ_TIMEOUT_MS 10000 /* the whole request must arrive within this */
#define WS_IO_TIMEOUT_S	  10
#define WS_QUEUE	  256
#define WS_SESSIONS	  4096
#define WS_SESSION_US	  (12ull * 3600 * 1000000) /* a login lasts 12 hours */
#define WS_MAX_STATIC	  (8u << 20)
#define WS_COOKIE	  "sinkd_session"

/* Every answer carries these: no inline script, no framing, no sniffing, no referrer. */
static const char sec_headers[] =
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self';"
	" img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none';"
	" form-action 'self'; frame-ancestors 'none'\r\n"
	"X-Content-Type-Options: nosniff\r\n"
	"X-Frame-Options: DENY\r\n"
	"Referrer-Policy: no-referrer\r\n"
	"Cross-Origin-Opener-Policy: same-origin\r\n"
	"Cross-Origin-Resource-Policy: same-origin\r\n";

struct session {
	uint8_t hash[32]; /* SHA-256 of the cookie value */
	uint32_t token_id;
	uint64_t expires_us;
};

struct server {
	const struct web_server_opts *o;
	int lfd;
	volatile sig_atomic_t *stop;
	/* queue of accepted sockets */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	int queue[WS_QUEUE];
	size_t qhead, qlen;
	bool quit;
	/* tokens, reloaded when the file changes */
	pthread_mutex_t tmu;
	struct token_db db;
	struct timespec tmtime;
	ino_t tino;
	off_t tsize;
	bool tloaded;
	/* sessions */
	pthread_mutex_t smu;
	struct session sessions[WS_SESSIONS];
	struct web_rate rate;
	struct metrics_web mw; /* routes: the API's endpoints, then these three */
};

enum {
	EP_LOGIN = WEB_EP_N,
	EP_STATIC = WEB_EP_N + 1,
	EP_METRICS = WEB_EP_N + 2,
	EP_N
};

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 32;
	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* Reloads the token file if it changed (revocations take effect on the next request). */
static int tokens_refresh(struct server *sv)
{
	struct stat st;
	int rc = 0;
	pthread_mutex_lock(&sv->tmu);
	bool exists = stat(sv->o->tokens_path, &st) == 0;
	if (!exists) {
		token_db_free(&sv->db);
		sv->tloaded = true;
		sv->tino = 0;
	} else if (!sv->tloaded || st.st_ino != sv->tino || st.st_size != sv->tsize ||
		   st.st_mtim.tv_sec != sv->tmtime.tv_sec ||
		   st.st_mtim.tv_nsec != sv->tmtime.tv_nsec) {
		struct token_db db;
		char err[256];
		rc = token_db_load(&db, sv->o->tokens_path, err, sizeof err);
		if (!rc) {
			token_db_free(&sv->db);
			sv->db = db;
			sv->tino = st.st_ino;
			sv->tsize = st.st_size;
			sv->tmtime = st.st_mtim;
			sv->tloaded = true;
		} else {
			/* A broken file admits nobody rather than the last good set. */
			token_db_free(&sv->db);
			sv->tloaded = false;
			fprintf(stderr, "sinkd web: %s\n", err);
		}
	}
	pthread_mutex_unlock(&sv->tmu);
	return rc;
}

static bool token_by_secret(struct server *sv, const char *s, size_t n, struct token *out)
{
	if (tokens_refresh(sv))
		return false;
	pthread_mutex_lock(&sv->tmu);
	const struct token *t = token_db_check(&sv->db, s, n);
	if (t)
		*out = *t;
	pthread_mutex_unlock(&sv->tmu);
	return t != NULL;
}

static bool token_by_id(struct server *sv, uint32_t id, struct token *out)
{
	if (tokens_refresh(sv))
		return false;
	bool found = false;
	pthread_mutex_lock(&sv->tmu);
	for (size_t i = 0; i < sv->db.n; i++)
		if (sv->db.t[i].id == id && !sv->db.t[i].revoked_us) {
			*out = sv->db.t[i];
			found = true;
		}
	pthread_mutex_unlock(&sv->tmu);
	return found;
}

/* A new session for the token: the cookie value (64 hex digits) into out[65]. */
static int session_new(struct server *sv, uint32_t token_id, char *out)
{
	uint8_t raw[32];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return ERR_SYS;
	hex_encode(raw, sizeof raw, out);
	uint64_t now = time_now_us();
	pthread_mutex_lock(&sv->smu);
	/* A free or expired slot, else the one closest to expiry. */
	size_t pick = 0;
	for (size_t i = 0; i < WS_SESSIONS; i++) {
		if (sv->sessions[i].expires_us <= now) {
			pick = i;
			break;
		}
		if (sv->sessions[i].expires_us < sv->sessions[pick].expires_us)
			pick = i;
	}
	sha256(out, 64, sv->sessions[pick].hash);
	sv->sessions[pick].token_id = token_id;
	sv->sessions[pick].expires_us = now + WS_SESSION_US;
	pthread_mutex_unlock(&sv->smu);
	OPENSSL_cleanse(raw, sizeof raw);
	return 0;
}

/* The session's token id (constant-time over all slots), or 0; drop=true ends it. */
static uint32_t session_find(struct server *sv, const char *v, size_t n, bool drop)
{
	if (n != 64)
		return 0;
	uint8_t h[32];
	sha256(v, n, h);
	uint64_t now = time_now_us();
	uint32_t id = 0;
	pthread_mutex_lock(&sv->smu);
	for (size_t i = 0; i < WS_SESSIONS; i++) {
		struct session *s = &sv->sessions[i];
		bool eq = CRYPTO_memcmp(h, s->hash, 32) == 0;
		if (eq && s->expires_us > now) {
			id = s->token_id;
			if (drop)
				memset(s, 0, sizeof *s);
		}
	}
	pthread_mutex_unlock(&sv->smu);
	return id;
}

/* --- I/O ----------------------------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_SYS;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends a reply; extra is more header lines (each ending CRLF) or NULL. HEAD sends no body. */
static void send_reply(int fd, const struct web_reply *r, const char *extra, bool head, bool api,
		       uint64_t *sent)
{
	char h[2048];
	uint64_t len = r->file_fd >= 0 ? r->file_len : r->body.len;
	int n = snprintf(h, sizeof h,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %" PRIu64 "\r\n"
			 "Connection: close\r\n%sCache-Control: %s\r\n%s",
			 r->status, http_reason_phrase((uint16_t)r->status), r->content_type, len,
			 sec_headers, api ? "no-store" : "no-cache", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof h)
		return;
	if (r->filename[0]) {
		int m = snprintf(h + n, sizeof h - (size_t)n,
				 "Content-Disposition: attachment; filename=\"%s\"\r\n",
				 r->filename);
		if (m < 0 || (size_t)m >= sizeof h - (size_t)n)
			return;
		n += m;
	}
	if ((size_t)n + 2 >= sizeof h)
		return;
	memcpy(h + n, "\r\n", 2);
	n += 2;
	if (write_all(fd, h, (size_t)n) == 0) {
		*sent = (uint64_t)n;
		if (!head && r->file_fd >= 0) {
			/* A report file: from the page cache to the socket, no copy. */
			off_t off = 0;
			while ((uint64_t)off < r->file_len) {
				ssize_t w =
					sendfile(fd, r->file_fd, &off, r->file_len - (uint64_t)off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					break;
			}
			*sent += (uint64_t)off;
		} else if (!head && r->body.len && write_all(fd, r->body.data, r->body.len) == 0) {
			*sent += r->body.len;
		}
	}
}

/* Sends and counts an answer for /metrics (route, status class, bytes; 401s as auth failures). */
static void reply(struct server *sv, int fd, unsigned ep, const struct web_reply *r,
		  const char *extra, bool head, bool api)
{
	uint64_t sent = 0;
	send_reply(fd, r, extra, head, api, &sent);
	metrics_web_request(&sv->mw, ep < EP_N ? ep : WEB_EP_OTHER, (unsigned)r->status, sent);
	if (r->status == 401)
		metrics_web_auth_failure(&sv->mw);
}

static void send_error(struct server *sv, int fd, unsigned ep, int status, const char *msg)
{
	struct web_reply r;
	web_reply_init(&r);
	web_reply_error(&r, status, msg);
	reply(sv, fd, ep, &r, status == 401 ? "WWW-Authenticate: Bearer realm=\"sinkd\"\r\n" : NULL,
	      false, true);
	web_reply_free(&r);
}

/* --- static files ---------------------------------------------------------------------- */

static const char *mime_of(const char *name)
{
	static const char *const map[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".woff2", "font/woff2" },
	};
	size_t l = strlen(name);
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		size_t e = strlen(map[i][0]);
		if (l > e && !strcmp(name + l - e, map[i][0]))
			return map[i][1];
	}
	return NULL;
}

/* "/" -> index.html, "/assets/NAME" -> assets/NAME: no other path reaches the disk. */
static void serve_static(struct server *sv, int fd, const char *path, size_t len, bool head)
{
	char rel[128];
	if (len == 1 && path[0] == '/') {
		snprintf(rel, sizeof rel, "index.html");
	} else if (len > 8 && len < 100 && !memcmp(path, "/assets/", 8)) {
		char name[100];
		memcpy(name, path + 8, len - 8);
		name[len - 8] = '\0';
		if (!query_name_ok(name) || name[0] == '.') {
			send_error(sv, fd, EP_STATIC, 404, "not found");
			return;
		}
		snprintf(rel, sizeof rel, "assets/%s", name);
	} else {
		send_error(sv, fd, EP_STATIC, 404, "not found");
		return;
	}
	const char *mime = mime_of(rel);
	char full[4352];
	snprintf(full, sizeof full, "%s/%s", sv->o->static_dir ? sv->o->static_dir : "", rel);
	int f = sv->o->static_dir && mime ? open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	if (f < 0) {
		send_error(sv, fd, EP_STATIC, 404, "not found");
		return;
	}
	struct web_reply r;
	web_reply_init(&r);
	r.content_type = mime;
	char chunk[65536];
	ssize_t got;
	while ((got = read(f, chunk, sizeof chunk)) > 0 && r.body.len < WS_MAX_STATIC)
		if (dynbuf_add(&r.body, chunk, (size_t)got))
			break;
	close(f);
	if (got != 0)
		web_reply_error(&r, 500, "static file unreadable");
	reply(sv, fd, EP_STATIC, &r, NULL, head, false);
	web_reply_free(&r);
}

/* --- requests -------------------------------------------------------------------------- */

static struct http_slice header(const struct http_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_headers; i++)
		if (http_slice_eq_nocase(rq->headers[i].name, name))
			return rq->headers[i].value;
	return (struct http_slice){ NULL, 0 };
}

/* The value of cookie `name` in a Cookie header, or an empty slice. */
static struct http_slice cookie(struct http_slice c, const char *name)
{
	size_t nl = strlen(name), i = 0;
	while (c.ptr && i < c.len) {
		while (i < c.len && (c.ptr[i] == ' ' || c.ptr[i] == ';'))
			i++;
		size_t start = i;
		while (i < c.len && c.ptr[i] != ';')
			i++;
		const char *p = c.ptr + start;
		size_t l = i - start;
		if (l > nl && !memcmp(p, name, nl) && p[nl] == '=')
			return (struct http_slice){ p + nl + 1, l - nl - 1 };
	}
	return (struct http_slice){ NULL, 0 };
}

/* The caller's token: Authorization: Bearer, else the session cookie. */
static bool authenticate(struct server *sv, const struct http_request *rq, struct token *t)
{
	struct http_slice a = header(rq, "Authorization");
	if (a.ptr) {
		if (a.len > 7 && !strncasecmp(a.ptr, "Bearer ", 7))
			return token_by_secret(sv, a.ptr + 7, a.len - 7, t);
		return false;
	}
	struct http_slice c = cookie(header(rq, "Cookie"), WS_COOKIE);
	uint32_t id = c.ptr ? session_find(sv, c.ptr, c.len, false) : 0;
	return id && token_by_id(sv, id, t);
}

static void do_login(struct server *sv, int fd, const char *body, size_t len)
{
	struct query *q = calloc(1, sizeof *q);
	struct token t;
	const char *secret;
	if (!q) {
		send_error(sv, fd, EP_LOGIN, 503, "out of memory");
		return;
	}
	if (query_parse(q, body, len) || !(secret = query_get(q, "token"))) {
		send_error(sv, fd, EP_LOGIN, 400, "expected a form with token=...");
	} else if (!token_by_secret(sv, secret, strlen(secret), &t)) {
		send_error(sv, fd, EP_LOGIN, 401, "unknown or revoked token");
	} else {
		char sid[65], extra[256];
		if (session_new(sv, t.id, sid)) {
			send_error(sv, fd, EP_LOGIN, 503, "no randomness");
		} else {
			/* HttpOnly: no script reads it; SameSite=Strict: no other site sends it. */
			snprintf(extra, sizeof extra,
				 "Set-Cookie: " WS_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict;"
				 " Max-Age=43200\r\n",
				 sid);
			struct web_reply r;
			web_reply_init(&r);
			dynbuf_adds(&r.body, "{");
			json_key(&r.body, "name", 1);
			json_cstr(&r.body, t.name);
			json_key(&r.body, "admin", 0);
			dynbuf_adds(&r.body, t.admin ? "true}\n" : "false}\n");
			reply(sv, fd, EP_LOGIN, &r, extra, false, true);
			web_reply_free(&r);
			OPENSSL_cleanse(sid, sizeof sid);
		}
	}
	OPENSSL_cleanse(q, sizeof *q);
	free(q);
}

static void do_logout(struct server *sv, int fd, const struct http_request *rq)
{
	struct http_slice c = cookie(header(rq, "Cookie"), WS_COOKIE);
	if (c.ptr)
		session_find(sv, c.ptr, c.len, true);
	struct web_reply r;
	web_reply_init(&r);
	dynbuf_adds(&r.body, "{}\n");
	reply(sv, fd, EP_LOGIN, &r,
	      "Set-Cookie: " WS_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n", false,
	      true);
	web_reply_free(&r);
}

static void do_metrics(struct server *sv, int fd, struct store *st, const char *log_dir, bool head)
{
	struct web_reply r;
	web_reply_init(&r);
	r.content_type = "text/plain; version=0.0.4; charset=utf-8";
	struct metrics_web_store ms = { 0 };
	struct log_pos pos, end;
	bool have = store_count_events(st, &ms.events) == 0;
	ms.lag_known = have && web_store_lag(st, log_dir, &pos, &end, &ms.lag_bytes) == 0;
	if (metrics_web_render(&r.body, &sv->mw, SINKD_VERSION, time_now_us(), have ? &ms : NULL))
		web_reply_error(&r, 500, "metrics failed");
	reply(sv, fd, EP_METRICS, &r, NULL, head, false);
	web_reply_free(&r);
}

/* One read of what is there, waiting at most until the request deadline: bytes, -1 closed, -2 late. */
static ssize_t read_request(int fd, char *buf, size_t cap, uint64_t deadline_ms)
{
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		if (now >= deadline_ms)
			return -2;
		struct pollfd p = { fd, POLLIN, 0 };
		int pr = poll(&p, 1, (int)(deadline_ms - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -2;
		ssize_t n = recv(fd, buf, cap, 0);
		if (n < 0 && errno == EINTR)
			continue;
		return n <= 0 ? -1 : n;
	}
}

static bool path_eq(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(p, lit, n);
}

static void handle(struct server *sv, struct web_api *api, int fd)
{
	char *buf = malloc(WS_MAX_HEAD + WS_MAX_BODY);
	if (!buf)
		return;
	struct http_header hdrs[WS_MAX_HEADERS];
	struct http_request rq;
	struct http_parse_limits lim = { WS_MAX_HEAD, WS_MAX_HEADERS };
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t deadline =
		(uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + WS_REQ_TIMEOUT_MS;
	size_t len = 0;
	int rc = ERR_NEED_MORE;
	while (rc == ERR_NEED_MORE) {
		if (len >= WS_MAX_HEAD) {
			rc = ERR_LIMIT;
			break;
		}
		ssize_t n = read_request(fd, buf + len, WS_MAX_HEAD - len, deadline);
		if (n == -2) {
			if (len)
				send_error(sv, fd, WEB_EP_OTHER, 408, "request timeout");
			goto out;
		}
		if (n < 0 || (size_t)n == 0)
			goto out;
		len += (size_t)n;
		rc = http_parse_request(buf, len, &rq, hdrs, &lim, NULL);
	}
	if (rc == ERR_LIMIT) {
		send_error(sv, fd, WEB_EP_OTHER, 431, "request head too large");
		goto out;
	}
	if (rc) {
		send_error(sv, fd, WEB_EP_OTHER, 400, "malformed request");
		goto out;
	}
	bool get = rq.method.len == 3 && !memcmp(rq.method.ptr, "GET", 3);
	bool headm = rq.method.len == 4 && !memcmp(rq.method.ptr, "HEAD", 4);
	bool post = rq.method.len == 4 && !memcmp(rq.method.ptr, "POST", 4);
	const char *path = rq.path.ptr;
	size_t plen = rq.path.len;
	bool is_api = plen >= 8 && !memcmp(path, "/api/v1/", 8);
	if (rq.body_kind == HTTP_BODY_CHUNKED) {
		send_error(sv, fd, WEB_EP_OTHER, 411, "chunked bodies are not accepted");
		goto out;
	}
	if (rq.body_kind == HTTP_BODY_LENGTH && rq.content_length > WS_MAX_BODY) {
		send_error(sv, fd, WEB_EP_OTHER, 413, "body too large");
		goto out;
	}
	size_t body_len = rq.body_kind == HTTP_BODY_LENGTH ? (size_t)rq.content_length : 0;
	while (len < rq.head_len + body_len) {
		ssize_t n = read_request(fd, buf + len, rq.head_len + body_len - len, deadline);
		if (n <= 0) {
			if (n == -2)
				send_error(sv, fd, WEB_EP_OTHER, 408, "request timeout");
			goto out;
		}
		len += (size_t)n;
	}
	const char *body = buf + rq.head_len;
	if (rq.target.len > 4096) {
		send_error(sv, fd, WEB_EP_OTHER, 414, "request target too long");
	} else if (post && path_eq(path, plen, "/api/v1/login")) {
		do_login(sv, fd, body, body_len);
	} else if (post && path_eq(path, plen, "/api/v1/logout")) {
		do_logout(sv, fd, &rq);
	} else if (path_eq(path, plen, "/metrics") && (get || headm)) {
		do_metrics(sv, fd, api->store, api->log_dir, headm);
	} else if (is_api && !get && !headm) {
		send_error(sv, fd, WEB_EP_OTHER, 405, "method not allowed");
	} else if (is_api) {
		struct token *t = malloc(sizeof *t);
		if (!t) {
			send_error(sv, fd, WEB_EP_OTHER, 503, "out of memory");
		} else if (!authenticate(sv, &rq, t)) {
			send_error(sv, fd, WEB_EP_OTHER, 401, "a valid token is required");
		} else {
			struct web_reply r;
			web_reply_init(&r);
			web_api_handle(api, t, path, plen, rq.query.ptr ? rq.query.ptr : "",
				       rq.query.len, &r);
			reply(sv, fd, r.ep, &r, NULL, headm, true);
			web_reply_free(&r);
		}
		free(t);
	} else if (get || headm) {
		serve_static(sv, fd, path, plen, headm);
	} else {
		send_error(sv, fd, WEB_EP_OTHER, 405, "method not allowed");
	}
out:
	free(buf);
}

/*
 * Closing with unread input makes the kernel send a reset, which can destroy
 * the answer before the client reads it (a 431 to an oversized head): finish
 * our side, then read and discard briefly (bounded) before closing.
 */
static void linger_close(int fd)
{
	char sink[4096];
	size_t total = 0;
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 50 && total < (256u << 10); i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 20) <= 0)
			break;
		ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	close(fd);
}

/* --- threads ----------------------------------------------------------------------------- */

struct worker_arg {
	struct server *sv;
	pthread_t th;
	bool started;
};

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct server *sv = wa->sv;
	char err[256];
	struct web_api api = { 0 };
	if (store_open(&api.store, sv->o->store_path, false, err, sizeof err)) {
		fprintf(stderr, "sinkd web: %s\n", err);
		api.store = NULL;
	}
	api.log_dir = sv->o->log_dir;
	api.stats_path = sv->o->stats_path;
	api.rate = &sv->rate;
	api.make_reports = sv->o->make_reports;
	api.reports_ctx = sv->o->reports_ctx;
	api.tmp_dir = sv->o->tmp_dir;
	for (;;) {
		pthread_mutex_lock(&sv->qmu);
		while (!sv->qlen && !sv->quit)
			pthread_cond_wait(&sv->qcv, &sv->qmu);
		if (!sv->qlen) {
			pthread_mutex_unlock(&sv->qmu);
			break;
		}
		int fd = sv->queue[sv->qhead];
		sv->qhead = (sv->qhead + 1) % WS_QUEUE;
		sv->qlen--;
		pthread_mutex_unlock(&sv->qmu);
		/* A store that could not be opened (not created yet) is retried per request. */
		if (!api.store && store_open(&api.store, sv->o->store_path, false, err, sizeof err))
			api.store = NULL;
		if (api.store)
			handle(sv, &api, fd);
		else
			send_error(sv, fd, WEB_EP_OTHER, 503, "the store is not available yet");
		linger_close(fd);
		metrics_web_conn_close(&sv->mw);
	}
	store_close(api.store);
	return NULL;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof host)
		return ERR_INVAL;
	size_t hl = (size_t)(colon - s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	uint64_t port;
	if (query_u64(colon + 1, 65535, &port))
		return ERR_INVAL;
	memset(ss, 0, sizeof *ss);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return ERR_INVAL;
		*sl = sizeof *a;
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return ERR_INVAL;
	*sl = sizeof *a;
	return 0;
}

int web_server_run(const struct web_server_opts *o, volatile sig_atomic_t *stop, char *err,
		   size_t errlen)
{
	struct server *sv = calloc(1, sizeof *sv);
	if (!sv)
		return ERR_NOMEM;
	sv->o = o;
	sv->stop = stop;
	pthread_mutex_init(&sv->qmu, NULL);
	pthread_cond_init(&sv->qcv, NULL);
	pthread_mutex_init(&sv->tmu, NULL);
	pthread_mutex_init(&sv->smu, NULL);
	pthread_mutex_init(&sv->rate.mu, NULL);
	static const char *routes[EP_N];
	for (unsigned i = 0; i < WEB_EP_N; i++)
		routes[i] = web_endpoint_name((enum web_endpoint)i);
	routes[EP_LOGIN] = "login";
	routes[EP_STATIC] = "static";
	routes[EP_METRICS] = "metrics";
	int rc = metrics_web_init(&sv->mw, routes, EP_N, time_now_us());
	struct worker_arg *wa = NULL;
	unsigned nth = o->threads ? o->threads : 4;
	struct sockaddr_storage ss;
	socklen_t sl;
	sv->lfd = -1;
	if (rc) {
		snprintf(err, errlen, "metrics: bad route names");
		goto out;
	}
	if (tokens_refresh(sv)) {
		snprintf(err, errlen, "token file %s is not usable", o->tokens_path);
		rc = ERR_CONFIG;
		goto out;
	}
	if (parse_listen(o->listen, &ss, &sl)) {
		snprintf(err, errlen, "--listen %s: expected ADDR:PORT or [V6]:PORT", o->listen);
		rc = ERR_CONFIG;
		goto out;
	}
	sv->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (sv->lfd < 0 || setsockopt(sv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(sv->lfd, (struct sockaddr *)&ss, sl) || listen(sv->lfd, 128)) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->listen, strerror(errno));
		rc = ERR_SYS;
		goto out;
	}
	sl = sizeof ss;
	getsockname(sv->lfd, (struct sockaddr *)&ss, &sl);
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		port = ntohs(a->sin6_port);
		printf("sinkd web: listening on http://[%s]:%u/\n", host, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		port = ntohs(a->sin_port);
		printf("sinkd web: listening on http://%s:%u/\n", host, port);
	}
	fflush(stdout);
	wa = calloc(nth, sizeof *wa);
	if (!wa) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (unsigned i = 0; i < nth; i++) {
		wa[i].sv = sv;
		if (pthread_create(&wa[i].th, NULL, worker_main, &wa[i]) == 0)
			wa[i].started = true;
	}
	while (!*stop) {
		struct pollfd p = { sv->lfd, POLLIN, 0 };
		int pr = poll(&p, 1, 200);
		if (pr <= 0)
			continue;
		int fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = { WS_IO_TIMEOUT_S, 0 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		metrics_web_conn_open(&sv->mw);
		pthread_mutex_lock(&sv->qmu);
		if (sv->qlen < WS_QUEUE) {
			sv->queue[(sv->qhead + sv->qlen) % WS_QUEUE] = fd;
			sv->qlen++;
			fd = -1;
			pthread_cond_signal(&sv->qcv);
		}
		pthread_mutex_unlock(&sv->qmu);
		if (fd >= 0) {
			close(fd); /* every thread busy and the queue full: shed */
			metrics_web_conn_close(&sv->mw);
		}
	}
out:
	if (wa) {
		pthread_mutex_lock(&sv->qmu);
		sv->quit = true;
		pthread_cond_broadcast(&sv->qcv);
		pthread_mutex_unlock(&sv->qmu);
		for (unsigned i = 0; i < nth; i++)
			if (wa[i].started)
				pthread_join(wa[i].th, NULL);
		free(wa);
	}
	if (sv->lfd >= 0)
		close(sv->lfd);
	token_db_free(&sv->db);
	pthread_mutex_destroy(&sv->qmu);
	pthread_cond_destroy(&sv->qcv);
	pthread_mutex_destroy(&sv->tmu);
	pthread_mutex_destroy(&sv->smu);
	pthread_mutex_destroy(&sv->rate.mu);
	free(sv);
	return rc;
}
