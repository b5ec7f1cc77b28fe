/* loadgen.c — `sinkd loadgen`: bounded, loopback-only generator of simulated bot check-ins. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "net/proxy.h"
#include "tools/commands.h"
#include "tools/lg_sources.h"
#include "tools/loopback.h"

/*
 * Model: T threads, each with its own epoll loop (edge-triggered) and its
 * share of the connection slots, the request budget and the rate. One
 * request is in flight per connection (no pipelining). Requests are rendered
 * once per thread into a table of variants at start-up, so sending one is a
 * single sendmsg() of a ready buffer (plus the PROXY header on the first
 * request of a connection) and nothing is allocated per request.
 *
 * Everything is bounded: --count and --duration always both apply, every
 * input has a maximum, and the target must be a loopback address. This tool
 * exists to exercise our own sinkhole, never anyone else's host.
 */

#define LG_MAX_COUNT	   1000000000ULL
#define LG_MAX_DURATION	   3600
#define LG_MAX_CONCURRENCY 20000
#define LG_MAX_THREADS	   64
#define LG_MAX_RATE	   10000000ULL
#define LG_MAX_RPC	   1000000
#define LG_MAX_TIMEOUT_MS  600000
#define LG_SEEN_MAX	   (1u << 20) /* distinct sources tracked per thread before "capped" */
#define LG_RESP_BUF	   4096	      /* response head must fit; bodies are counted, not kept */
#define LG_REQ_MAX	   2048	      /* largest rendered request */
#define LG_VARIANTS	   256	      /* pre-rendered requests per kind per thread */
#define LG_EVENTS	   256
#define LG_TICK_NS	   20000000ULL /* timeout scan and stop-flag check period */
#define LG_BACKOFF_NS	   20000000ULL /* wait after a failed connect before retrying that slot */
#define LG_BURST_NS	   10000000ULL /* rate limiter tolerance: 10 ms worth of requests */
#define LG_MAX_CL	   (1ULL << 40)

/*
 * The real Rustock User-Agent is not in any source we hold (reference
 * takedown.md §1.2 lists it as unknown); this old-IE string is a plausible
 * stand-in for a 2009-era Windows XP bot, not a fingerprint.
 */
static const char lg_ua[] = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)";

/* Rustock C&C domains seen in 2009 samples (M86 Labs, takedown.md §1.1). */
static const char *const lg_rustock_hosts[] = {
	"onlinescannow.com",   "protectionforless.com", "guardandprotector.com",
	"piecefordesktop.com", "lekatariba.info",	"ekbad.me",
	"mordva2009aa.info",   "belarus2014in.com",	"moscow1766bc.me",
};
#define LG_NHOSTS (sizeof lg_rustock_hosts / sizeof lg_rustock_hosts[0])

static const char lg_generic_host[] = "cnc.seized-example.test";

/* Set by SIGINT; the only mutable global, as the style allows for signal flags. */
static volatile sig_atomic_t lg_interrupted;

static void lg_on_sigint(int sig)
{
	(void)sig;
	lg_interrupted = 1;
}

enum lg_profile {
	LG_P_RUSTOCK,
	LG_P_GENERIC
};

enum lg_kind {
	LG_K_LOGIN,
	LG_K_FORUM,
	LG_K_ROOT,
	LG_K_GATE,
	LG_K__N
};

enum lg_state {
	LG_S_FREE,	 /* no connection, nothing in flight */
	LG_S_BACKOFF,	 /* connect failed; retry at deadline */
	LG_S_CONNECTING, /* in flight: connect() pending */
	LG_S_IDLE,	 /* keep-alive connection open, waiting for a token */
	LG_S_SENDING,	 /* in flight: request partly written */
	LG_S_READING,	 /* in flight: waiting for (the rest of) the response */
	LG_S_HANDSHAKE,	 /* in flight: --tls handshake under way */
};

enum lg_stop {
	LG_STOP_COUNT,
	LG_STOP_DURATION,
	LG_STOP_SIGNAL,
	LG_STOP_UNREACHABLE,
	LG_STOP_ERROR
};

static const char *const lg_stop_names[] = { "count", "duration", "signal", "unreachable",
					     "error" };

struct lg_opts {
	struct event_addr target;
	struct sockaddr_storage sa;
	socklen_t salen;
	char target_str[64];
	uint64_t count;
	uint64_t duration_s;
	uint64_t concurrency;
	uint64_t threads;
	uint64_t rate;
	uint64_t rpc;
	uint64_t timeout_ms;
	uint64_t seed;
	enum lg_profile profile;
	bool keepalive;
	bool json;
	bool quiet;
	bool tls;		    /* check in over TLS (full handshakes unless tls_resume) */
	bool tls_resume;	    /* offer each slot's previous session */
	const char *sni;	    /* --sni; default: the profile's host */
	struct lg_sources_opts src; /* --proxy-v2, --sources, --asn-file, --sources-unique */
};

struct lg_req {
	const uint8_t *data;
	size_t len;
};

struct lg_stats {
	uint64_t issued;
	uint64_t sent;
	uint64_t responses;
	uint64_t status[600];
	uint64_t conns;
	uint64_t connect_errors;
	uint64_t connect_timeouts;
	uint64_t timeouts;
	uint64_t io_errors;
	uint64_t bad_responses;
	uint64_t idle_closed;
	uint64_t aborted;
	uint64_t bytes_out;
	uint64_t bytes_in;
	uint64_t tls_handshakes;
	uint64_t tls_resumed;
	uint64_t tls_errors;
};

struct lg_conn {
	int fd;
	uint8_t state;	  /* enum lg_state */
	bool queued;	  /* in the thread's start queue */
	bool rd_pending;  /* readable edge seen while not reading (edge-triggered epoll) */
	bool peer_closed; /* the peer's FIN or an error was reported: read to the end */
	bool have_head;
	bool body_to_eof;
	bool close_after;
	uint8_t hdr_len; /* PROXY header bytes still to send before the request */
	uint16_t status;
	uint32_t reqs_on_conn;
	const struct lg_req *req;
	size_t sent;
	size_t blen;
	uint64_t body_left;
	uint64_t deadline;
	SSL *ssl;	   /* --tls: the connection's TLS state */
	SSL_SESSION *sess; /* --tls-resume: the slot's last session */
	struct event_addr src;
	uint8_t hdr[64];
	uint8_t buf[LG_RESP_BUF];
};

/* Read-only state shared by all threads, plus the source-pool cursor. */
struct lg_shared {
	const struct lg_opts *o;
	struct lg_sources *src;
	uint64_t end_ns;
	SSL_CTX *tls_ctx; /* --tls: client context, no verification (loopback tests) */
};

struct lg_thread {
	struct lg_shared *sh;
	pthread_t tid;
	unsigned idx;
	int ep;
	struct lg_rng rng;
	struct lg_conn *conns;
	size_t nconns;
	size_t *queue; /* FIFO ring of slot indices waiting to start a request */
	size_t qhead;
	size_t qlen;
	size_t inflight;
	uint64_t quota;
	uint64_t now;
	uint64_t next_tick;
	uint64_t interval_ns; /* 0: no rate limit */
	uint64_t tau_ns;
	uint64_t tat_ns; /* GCRA theoretical arrival time */
	bool connected_once;
	bool stopping;
	enum lg_stop stop;
	uint8_t *arena;
	struct lg_req reqs[LG_K__N][LG_VARIANTS];
	struct lg_aset seen;
	struct lg_stats st;
	char err[128];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- option parsing --------------------------------------------------------------------- */

/*
 * "127.0.0.1:8080" or "[::1]:8080". Returns ERR_INVAL on bad syntax and
 * ERR_LIMIT when the address is valid but not loopback.
 */
static int lg_parse_target(const char *s, struct lg_opts *o)
{
	char host[INET6_ADDRSTRLEN + 2];
	int rc = loopback_target_parse(s, &o->target, &o->sa, &o->salen);
	if (rc)
		return rc;
	event_addr_str(&o->target, host, sizeof host);
	snprintf(o->target_str, sizeof o->target_str, "%s%s%s:%u", *s == '[' ? "[" : "", host,
		 *s == '[' ? "]" : "", (unsigned)o->target.port);
	return 0;
}

/* ---- request templates ------------------------------------------------------------------ */

static void lg_add_req(struct lg_thread *t, size_t *used, enum lg_kind k, unsigned i,
		       const char *head, size_t hlen, const uint8_t *body, size_t blen)
{
	uint8_t *p = t->arena + *used;

	memcpy(p, head, hlen);
	if (blen)
		memcpy(p + hlen, body, blen);
	t->reqs[k][i].data = p;
	t->reqs[k][i].len = hlen + blen;
	*used += hlen + blen;
}

/*
 * Renders LG_VARIANTS requests per kind. Each variant has its own host and
 * random body, so the sinkhole sees a spread of bodies and digests; they do
 * repeat across requests, which is fine for load and shape tests.
 */
static int lg_render(struct lg_thread *t)
{
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+";
	const struct lg_opts *o = t->sh->o;
	const char *conn = o->keepalive ? "Keep-Alive" : "close";
	char head[LG_REQ_MAX];
	uint8_t body[LG_REQ_MAX];
	size_t used = 0;
	int n;

	t->arena = malloc((size_t)LG_K__N * LG_VARIANTS * LG_REQ_MAX);
	if (!t->arena)
		return ERR_NOMEM;
	for (unsigned i = 0; i < LG_VARIANTS; i++) {
		const char *host = lg_rustock_hosts[lg_rng_below(&t->rng, LG_NHOSTS)];
		unsigned topic = 1000 + (unsigned)lg_rng_below(&t->rng, 90000);
		unsigned forum = 1 + (unsigned)lg_rng_below(&t->rng, 40);
		size_t plen = 32 + lg_rng_below(&t->rng, 800), blen;

		if (o->profile == LG_P_GENERIC) {
			n = snprintf(head, sizeof head,
				     "GET /gate.php?id=%016" PRIx64 " HTTP/1.1\r\nHost: %s\r\n"
				     "User-Agent: %s\r\nAccept: */*\r\nConnection: %s\r\n\r\n",
				     lg_rng_next(&t->rng), lg_generic_host, lg_ua, conn);
			lg_add_req(t, &used, LG_K_GATE, i, head, (size_t)n, NULL, 0);
			continue;
		}

		/* Key exchange: 96 opaque bytes to login.php (takedown.md §1.1). */
		for (size_t j = 0; j < 96; j++)
			body[j] = (uint8_t)lg_rng_next(&t->rng);
		n = snprintf(head, sizeof head,
			     "POST /login.php HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
			     "Content-Type: application/octet-stream\r\nContent-Length: 96\r\n"
			     "Connection: %s\r\n\r\n",
			     host, lg_ua, conn);
		lg_add_req(t, &used, LG_K_LOGIN, i, head, (size_t)n, body, 96);

		/* Check-ins dressed up as forum posts (SecureWorks, takedown.md §1.1). */
		n = snprintf((char *)body, sizeof body, "act=Post&CODE=03&f=%u&t=%u&Post=", forum,
			     topic);
		blen = (size_t)n;
		for (size_t j = 0; j < plen; j++)
			body[blen++] = (uint8_t)alnum[lg_rng_below(&t->rng, sizeof alnum - 1)];
		n = snprintf(
			head, sizeof head,
			"POST /index.php?showtopic=%u HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
			"Referer: http://%s/index.php?showtopic=%u\r\n"
			"Content-Type: application/x-www-form-urlencoded\r\n"
			"Content-Length: %zu\r\nConnection: %s\r\n\r\n",
			topic, host, lg_ua, host, topic, blen, conn);
		lg_add_req(t, &used, LG_K_FORUM, i, head, (size_t)n, body, blen);

		n = snprintf(head, sizeof head,
			     "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
			     "Connection: %s\r\n\r\n",
			     host, lg_ua, conn);
		lg_add_req(t, &used, LG_K_ROOT, i, head, (size_t)n, NULL, 0);
	}
	return 0;
}

/* rustock: 75% login.php, 20% forum posts, 5% GET /; generic: gate.php only. */
static const struct lg_req *lg_pick(struct lg_thread *t)
{
	enum lg_kind k = LG_K_GATE;

	if (t->sh->o->profile == LG_P_RUSTOCK) {
		uint64_t d = lg_rng_below(&t->rng, 100);

		k = d < 75 ? LG_K_LOGIN : d < 95 ? LG_K_FORUM : LG_K_ROOT;
	}
	return &t->reqs[k][lg_rng_below(&t->rng, LG_VARIANTS)];
}

/* ---- connection state machine ----------------------------------------------------------- */

static bool lg_is_inflight(uint8_t s)
{
	return s == LG_S_CONNECTING || s == LG_S_SENDING || s == LG_S_READING ||
	       s == LG_S_HANDSHAKE;
}

static void lg_set_state(struct lg_thread *t, struct lg_conn *c, enum lg_state s)
{
	if (lg_is_inflight(c->state))
		t->inflight--;
	if (lg_is_inflight((uint8_t)s))
		t->inflight++;
	c->state = (uint8_t)s;
}

/*
 * Keeps a copy of the connection's session for the slot's next connection.
 * A copy through DER, not the object itself: OpenSSL 3.0 does not offer a
 * session taken from an SSL that has since been freed (it stays tied to its
 * first owner), so the ticket would silently not be sent.
 */
static void lg_keep_session(struct lg_conn *c)
{
	SSL_SESSION *sess = SSL_get1_session(c->ssl);
	unsigned char der[8192];
	if (sess && SSL_SESSION_is_resumable(sess) && i2d_SSL_SESSION(sess, NULL) > 0 &&
	    i2d_SSL_SESSION(sess, NULL) <= (int)sizeof der) {
		unsigned char *p = der;
		int n = i2d_SSL_SESSION(sess, &p);
		const unsigned char *cp = der;
		SSL_SESSION *copy = d2i_SSL_SESSION(NULL, &cp, n);
		if (copy) {
			SSL_SESSION_free(c->sess);
			c->sess = copy;
		}
	}
	SSL_SESSION_free(sess);
}

static void lg_close(struct lg_thread *t, struct lg_conn *c, enum lg_state s)
{
	if (c->ssl) {
		/* TLS 1.3 tickets arrive after the handshake: take the session at the end. */
		if (t->sh->o->tls_resume)
			lg_keep_session(c);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rd_pending = false;
	c->peer_closed = false;
	lg_set_state(t, c, s);
}

static void lg_enqueue(struct lg_thread *t, struct lg_conn *c)
{
	if (c->queued)
		return;
	c->queued = true;
	t->queue[(t->qhead + t->qlen) % t->nconns] = (size_t)(c - t->conns);
	t->qlen++;
}

/* GCRA: a request conforms if now >= tat - tau. */
static bool lg_token_ready(const struct lg_thread *t)
{
	return !t->interval_ns || t->now + t->tau_ns >= t->tat_ns;
}

static bool lg_take_token(struct lg_thread *t)
{
	if (!lg_token_ready(t))
		return false;
	if (t->interval_ns)
		t->tat_ns = (t->tat_ns > t->now ? t->tat_ns : t->now) + t->interval_ns;
	return true;
}

/* The request failed after it was started: count it, drop the connection, try again later. */
static void lg_fail(struct lg_thread *t, struct lg_conn *c, uint64_t *counter)
{
	(*counter)++;
	lg_close(t, c, LG_S_FREE);
	lg_enqueue(t, c);
}

/* A connection could not be set up: its request is given back and the slot waits a little. */
static void lg_connect_failed(struct lg_thread *t, struct lg_conn *c, uint64_t *counter)
{
	(*counter)++;
	t->st.issued--;
	lg_close(t, c, LG_S_BACKOFF);
	c->deadline = t->now + LG_BACKOFF_NS;
	if (!t->connected_once && t->st.connect_errors + t->st.connect_timeouts >= 4 * t->nconns) {
		t->stopping = true;
		t->stop = LG_STOP_UNREACHABLE;
	}
}

static void lg_read(struct lg_thread *t, struct lg_conn *c);

static void lg_send(struct lg_thread *t, struct lg_conn *c)
{
	size_t total = c->hdr_len + c->req->len;

	while (c->sent < total) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t w;

		if (c->ssl) {
			int n = SSL_write(c->ssl, c->req->data + (c->sent - c->hdr_len),
					  (int)(total - c->sent));
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, n);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					lg_set_state(t, c, LG_S_SENDING);
					return;
				}
				lg_fail(t, c, &t->st.io_errors);
				return;
			}
			c->sent += (size_t)n;
			t->st.bytes_out += (uint64_t)n;
			continue;
		}
		if (c->sent < c->hdr_len) {
			iov[0].iov_base = c->hdr + c->sent;
			iov[0].iov_len = c->hdr_len - c->sent;
			iov[1].iov_base = (void *)c->req->data;
			iov[1].iov_len = c->req->len;
			mh.msg_iovlen = 2;
		} else {
			iov[0].iov_base = (void *)(c->req->data + (c->sent - c->hdr_len));
			iov[0].iov_len = total - c->sent;
			mh.msg_iovlen = 1;
		}
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				lg_set_state(t, c, LG_S_SENDING);
				return;
			}
			lg_fail(t, c, &t->st.io_errors);
			return;
		}
		c->sent += (size_t)w;
		t->st.bytes_out += (uint64_t)w;
	}
	c->sent = 0;
	c->hdr_len = 0;
	c->reqs_on_conn++;
	c->blen = 0;
	c->have_head = false;
	c->body_to_eof = false;
	c->close_after = false;
	c->body_left = 0;
	t->st.sent++;
	lg_set_state(t, c, LG_S_READING);
	if (c->rd_pending)
		lg_read(t, c);
}

/* Drives the TLS handshake; the request follows once it is done. */
static void lg_handshake(struct lg_thread *t, struct lg_conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		t->st.tls_handshakes++;
		if (SSL_session_reused(c->ssl))
			t->st.tls_resumed++;
		lg_send(t, c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		lg_set_state(t, c, LG_S_HANDSHAKE);
		return;
	}
	lg_fail(t, c, &t->st.tls_errors);
}

/*
 * --tls: the PROXY header (at most 52 bytes, on a socket that has sent
 * nothing yet) goes out in clear first, then the handshake starts.
 */
static void lg_tls_start(struct lg_thread *t, struct lg_conn *c)
{
	const struct lg_opts *o = t->sh->o;
	if (c->hdr_len) {
		ssize_t w = send(c->fd, c->hdr, c->hdr_len, MSG_NOSIGNAL);
		if (w != (ssize_t)c->hdr_len) {
			lg_fail(t, c, &t->st.io_errors);
			return;
		}
		t->st.bytes_out += (uint64_t)w;
		c->hdr_len = 0;
	}
	c->ssl = SSL_new(t->sh->tls_ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set_tlsext_host_name(c->ssl,
				      (char *)(uintptr_t)(o->sni ? o->sni : lg_generic_host))) {
		ERR_clear_error();
		lg_fail(t, c, &t->st.tls_errors);
		return;
	}
	if (o->tls_resume && c->sess)
		SSL_set_session(c->ssl, c->sess);
	SSL_set_connect_state(c->ssl);
	lg_handshake(t, c);
}

static void lg_connected(struct lg_thread *t, struct lg_conn *c)
{
	t->st.conns++;
	t->connected_once = true;
	if (t->sh->o->src.proxy_v2)
		lg_aset_add(&t->seen, &c->src);
	c->deadline = t->now + t->sh->o->timeout_ms * 1000000ULL;
	if (t->sh->o->tls)
		lg_tls_start(t, c);
	else
		lg_send(t, c);
}

static void lg_proxy_header(struct lg_thread *t, struct lg_conn *c)
{
	c->hdr_len = (uint8_t)lg_sources_proxy_header(t->sh->src, &t->rng, &t->sh->o->target,
						      &c->src, c->hdr, sizeof c->hdr);
}

static void lg_open(struct lg_thread *t, struct lg_conn *c)
{
	const struct lg_opts *o = t->sh->o;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.ptr = c };
	int one = 1;

	c->fd = socket(o->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->reqs_on_conn = 0;
	c->sent = 0;
	c->hdr_len = 0;
	c->rd_pending = false;
	c->peer_closed = false;
	c->deadline = t->now + o->timeout_ms * 1000000ULL;
	if (c->fd < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev)) {
		lg_connect_failed(t, c, &t->st.connect_errors);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (o->src.proxy_v2)
		lg_proxy_header(t, c);
	if (connect(c->fd, (const struct sockaddr *)&o->sa, o->salen) == 0) {
		lg_set_state(t, c, LG_S_CONNECTING);
		lg_connected(t, c);
	} else if (errno == EINPROGRESS) {
		lg_set_state(t, c, LG_S_CONNECTING);
	} else {
		lg_connect_failed(t, c, &t->st.connect_errors);
	}
}

/* The slot is ready for its next request (with or without an open connection). */
static void lg_start(struct lg_thread *t, struct lg_conn *c)
{
	if (t->stopping || t->st.issued >= t->quota) {
		lg_close(t, c, LG_S_FREE);
		return;
	}
	if (!lg_take_token(t)) {
		lg_enqueue(t, c);
		return;
	}
	t->st.issued++;
	c->req = lg_pick(t);
	if (c->fd < 0) {
		lg_open(t, c);
		return;
	}
	c->deadline = t->now + t->sh->o->timeout_ms * 1000000ULL;
	lg_send(t, c);
}

static bool lg_ieq(const uint8_t *p, size_t len, const char *s)
{
	return len == strlen(s) && !strncasecmp((const char *)p, s, len);
}

static bool lg_has_token(const uint8_t *p, size_t len, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= len; i++)
		if (!strncasecmp((const char *)p + i, tok, tl))
			return true;
	return false;
}

/*
 * Parses a response head (status line and headers, head_len bytes ending in
 * CRLFCRLF) enough to frame the body. Chunked bodies are not supported: the
 * sinkhole's answers are small and carry Content-Length.
 */
static int lg_parse_head(struct lg_conn *c, size_t head_len)
{
	const uint8_t *p = c->buf, *end = c->buf + head_len;
	bool have_cl = false, http10;
	uint64_t cl = 0;

	if (head_len < 16 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
	    p[11] > '9' || (p[12] != ' ' && p[12] != '\r'))
		return ERR_MALFORMED;
	http10 = p[7] == '0';
	c->status = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
	c->close_after = http10;
	p = memchr(p, '\n', (size_t)(end - p));
	if (!p)
		return ERR_MALFORMED;
	for (p++; p < end;) {
		const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *colon, *v, *ve;

		if (!eol)
			return ERR_MALFORMED;
		ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (ve == p)
			break; /* the empty line */
		colon = memchr(p, ':', (size_t)(ve - p));
		if (!colon)
			return ERR_MALFORMED;
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		if (lg_ieq(p, (size_t)(colon - p), "content-length")) {
			cl = 0;
			if (v == ve)
				return ERR_MALFORMED;
			for (const uint8_t *d = v; d < ve && *d != ' ' && *d != '\t'; d++) {
				if (*d < '0' || *d > '9' || cl > LG_MAX_CL)
					return ERR_MALFORMED;
				cl = cl * 10 + (uint64_t)(*d - '0');
			}
			have_cl = true;
		} else if (lg_ieq(p, (size_t)(colon - p), "transfer-encoding")) {
			return ERR_UNSUPPORTED;
		} else if (lg_ieq(p, (size_t)(colon - p), "connection")) {
			if (lg_has_token(v, (size_t)(ve - v), "close"))
				c->close_after = true;
			else if (lg_has_token(v, (size_t)(ve - v), "keep-alive"))
				c->close_after = false;
		}
		p = eol + 1;
	}
	/* We never send Expect or Upgrade, so an interim 1xx is not something we can frame. */
	if (c->status < 200)
		return ERR_MALFORMED;
	if (c->status == 204 || c->status == 304) {
		c->body_left = 0;
	} else if (have_cl) {
		c->body_left = cl;
	} else {
		c->body_to_eof = true;
		c->close_after = true;
	}
	return 0;
}

/* Returns 0 when the response is complete, ERR_NEED_MORE, or an error (bad response). */
static int lg_consume(struct lg_conn *c)
{
	size_t extra;

	if (!c->have_head) {
		const uint8_t *e = memmem(c->buf, c->blen, "\r\n\r\n", 4);
		size_t hl;

		if (!e)
			return c->blen == sizeof c->buf ? ERR_LIMIT : ERR_NEED_MORE;
		hl = (size_t)(e - c->buf) + 4;
		if (lg_parse_head(c, hl))
			return ERR_MALFORMED;
		c->have_head = true;
		extra = c->blen - hl;
	} else {
		extra = c->blen;
	}
	c->blen = 0;
	if (c->body_to_eof)
		return ERR_NEED_MORE;
	if (extra > c->body_left)
		return ERR_MALFORMED; /* bytes beyond the response: we never pipeline */
	c->body_left -= extra;
	return c->body_left ? ERR_NEED_MORE : 0;
}

static void lg_done(struct lg_thread *t, struct lg_conn *c)
{
	const struct lg_opts *o = t->sh->o;

	t->st.responses++;
	t->st.status[c->status]++;
	if (!o->keepalive || c->close_after || c->reqs_on_conn >= o->rpc)
		lg_close(t, c, LG_S_FREE);
	else
		lg_set_state(t, c, LG_S_IDLE);
	lg_start(t, c);
}

static void lg_read(struct lg_thread *t, struct lg_conn *c)
{
	c->rd_pending = false;
	for (;;) {
		size_t room = sizeof c->buf - c->blen;
		ssize_t n;
		int rc;

		if (c->ssl) {
			int r = SSL_read(c->ssl, c->buf + c->blen, (int)room);
			n = r;
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return;
				/* close_notify or the end of the stream: as recv() returning 0. */
				n = e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
				errno = n < 0 ? EPROTO : 0;
			}
		} else {
			n = recv(c->fd, c->buf + c->blen, room, 0);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				lg_fail(t, c, &t->st.io_errors);
			return;
		}
		if (n == 0) {
			if (c->have_head && c->body_to_eof)
				lg_done(t, c);
			else
				lg_fail(t, c, &t->st.io_errors);
			return;
		}
		t->st.bytes_in += (uint64_t)n;
		c->blen += (size_t)n;
		rc = lg_consume(c);
		if (rc == 0) {
			lg_done(t, c);
			return;
		}
		if (rc != ERR_NEED_MORE) {
			lg_fail(t, c, &t->st.bad_responses);
			return;
		}
		/*
		 * A short read drained the socket and edge-triggered epoll will
		 * report new data, but not a FIN it already reported along with
		 * this data: then read on until recv() returns 0.
		 */
		if ((size_t)n < room && !c->peer_closed && !c->ssl)
			return; /* TLS may hold decrypted bytes: read until it wants more */
	}
}

static void lg_event(struct lg_thread *t, struct lg_conn *c, uint32_t ev)
{
	bool rd = ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	bool wr = ev & (EPOLLOUT | EPOLLERR | EPOLLHUP);

	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->peer_closed = true;
	switch (c->state) {
	case LG_S_CONNECTING:
		if (rd)
			c->rd_pending = true;
		if (wr) {
			int err = 0;
			socklen_t len = sizeof err;

			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
				lg_connect_failed(t, c, &t->st.connect_errors);
			else
				lg_connected(t, c);
		}
		break;
	case LG_S_SENDING:
		if (rd)
			c->rd_pending = true;
		if (wr)
			lg_send(t, c);
		break;
	case LG_S_READING:
		if (rd)
			lg_read(t, c);
		break;
	case LG_S_HANDSHAKE:
		if (rd || wr)
			lg_handshake(t, c);
		break;
	case LG_S_IDLE:
		/* The server closed (or wrote to) an idle keep-alive connection. */
		if (rd) {
			t->st.idle_closed++;
			lg_close(t, c, LG_S_FREE);
		}
		break;
	default:
		break;
	}
}

/* Expires timeouts and backoffs; runs every LG_TICK_NS. */
static void lg_tick(struct lg_thread *t)
{
	for (size_t i = 0; i < t->nconns; i++) {
		struct lg_conn *c = &t->conns[i];

		if (c->deadline > t->now)
			continue;
		switch (c->state) {
		case LG_S_CONNECTING:
			lg_connect_failed(t, c, &t->st.connect_timeouts);
			break;
		case LG_S_SENDING:
		case LG_S_READING:
		case LG_S_HANDSHAKE:
			lg_fail(t, c, &t->st.timeouts);
			break;
		case LG_S_BACKOFF:
			lg_set_state(t, c, LG_S_FREE);
			lg_enqueue(t, c);
			break;
		default:
			break;
		}
	}
}

/* Starts queued slots while tokens last; at most one pass over the queue per loop turn. */
static void lg_drain(struct lg_thread *t)
{
	for (size_t n = t->qlen; n > 0 && t->qlen > 0 && lg_token_ready(t); n--) {
		struct lg_conn *c = &t->conns[t->queue[t->qhead]];

		t->qhead = (t->qhead + 1) % t->nconns;
		t->qlen--;
		c->queued = false;
		if (c->state == LG_S_FREE || c->state == LG_S_IDLE)
			lg_start(t, c);
	}
}

static int lg_wait_ms(const struct lg_thread *t)
{
	uint64_t until = t->next_tick < t->sh->end_ns ? t->next_tick : t->sh->end_ns;

	if (t->qlen) {
		if (lg_token_ready(t))
			return 0;
		if (t->tat_ns - t->tau_ns < until)
			until = t->tat_ns - t->tau_ns;
	}
	if (until <= t->now)
		return 0;
	return (int)((until - t->now + 999999) / 1000000);
}

static void *lg_thread_main(void *arg)
{
	struct lg_thread *t = arg;
	struct epoll_event evs[LG_EVENTS];

	t->now = lg_now_ns();
	t->next_tick = t->now + LG_TICK_NS;
	for (size_t i = 0; i < t->nconns; i++)
		lg_enqueue(t, &t->conns[i]);
	for (;;) {
		int n;

		lg_drain(t);
		if (lg_interrupted) {
			t->stop = LG_STOP_SIGNAL;
			break;
		}
		if (t->now >= t->sh->end_ns) {
			/*
			 * Time is up: issue nothing new, but let requests in flight finish
			 * (bounded by one response timeout, at most 2 s) so the target does
			 * not see a burst of connections closed before they said anything.
			 */
			uint64_t grace = t->sh->o->timeout_ms * 1000000ULL;
			if (grace > 2000000000ULL)
				grace = 2000000000ULL;
			t->stop = LG_STOP_DURATION;
			t->stopping = true;
			if (t->inflight == 0 || t->now >= t->sh->end_ns + grace)
				break;
		}
		if ((t->stopping || t->st.issued >= t->quota) && t->inflight == 0)
			break;
		n = epoll_wait(t->ep, evs, LG_EVENTS, lg_wait_ms(t));
		if (n < 0 && errno != EINTR) {
			snprintf(t->err, sizeof t->err, "epoll_wait: %s", strerror(errno));
			t->stop = LG_STOP_ERROR;
			break;
		}
		t->now = lg_now_ns();
		for (int i = 0; i < n; i++)
			lg_event(t, evs[i].data.ptr, evs[i].events);
		if (t->now >= t->next_tick) {
			lg_tick(t);
			t->next_tick = t->now + LG_TICK_NS;
		}
	}
	for (size_t i = 0; i < t->nconns; i++) {
		struct lg_conn *c = &t->conns[i];

		if (c->state == LG_S_SENDING || c->state == LG_S_READING ||
		    c->state == LG_S_HANDSHAKE)
			t->st.aborted++;
		lg_close(t, c, LG_S_FREE);
		SSL_SESSION_free(c->sess);
		c->sess = NULL;
	}
	return NULL;
}

/* ---- set-up, report, entry point -------------------------------------------------------- */

static int lg_thread_init(struct lg_thread *t, struct lg_shared *sh, unsigned idx, uint64_t nconns,
			  uint64_t quota)
{
	const struct lg_opts *o = sh->o;
	size_t want;

	t->sh = sh;
	t->idx = idx;
	t->ep = -1;
	t->quota = quota;
	t->nconns = (size_t)(nconns < quota ? nconns : quota);
	lg_rng_seed(&t->rng, o->seed + 0x1000193ULL * (idx + 1));
	if (o->rate) {
		t->interval_ns = o->threads * 1000000000ULL / o->rate;
		if (t->interval_ns == 0)
			t->interval_ns = 1;
		t->tau_ns = LG_BURST_NS;
	}
	if (t->nconns == 0)
		return 0;
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	t->conns = calloc(t->nconns, sizeof *t->conns);
	t->queue = calloc(t->nconns, sizeof *t->queue);
	if (t->ep < 0 || !t->conns || !t->queue || lg_render(t))
		return ERR_SYS;
	for (size_t i = 0; i < t->nconns; i++)
		t->conns[i].fd = -1;
	if (o->src.proxy_v2) {
		want = o->src.sources_unique ? (size_t)o->src.sources_unique : LG_SEEN_MAX;
		if (o->keepalive && !o->src.sources_unique && quota / o->rpc + t->nconns < want)
			want = (size_t)(quota / o->rpc + t->nconns);
		else if (!o->keepalive && !o->src.sources_unique && quota < want)
			want = (size_t)quota;
		if (lg_aset_init(&t->seen, want))
			return ERR_NOMEM;
	}
	return 0;
}

static void lg_thread_free(struct lg_thread *t)
{
	if (t->ep >= 0)
		close(t->ep);
	free(t->conns);
	free(t->queue);
	free(t->arena);
	lg_aset_free(&t->seen);
}

static const char *lg_profile_name(enum lg_profile p)
{
	return p == LG_P_RUSTOCK ? "rustock" : "generic";
}

static int lg_print_json(const struct lg_opts *o, const struct lg_stats *s, double elapsed,
			 uint64_t unique, bool capped, enum lg_stop stop)
{
	struct dynbuf b;
	int rc = 0, first = 1;
	const struct {
		const char *key;
		uint64_t v;
	} nums[] = {
		{ "count", o->count },
		{ "duration_s", o->duration_s },
		{ "threads", o->threads },
		{ "concurrency", o->concurrency },
		{ "rate", o->rate },
		{ "seed", o->seed },
		{ "requests_sent", s->sent },
		{ "responses", s->responses },
		{ "connections", s->conns },
		{ "connect_errors", s->connect_errors },
		{ "connect_timeouts", s->connect_timeouts },
		{ "timeouts", s->timeouts },
		{ "io_errors", s->io_errors },
		{ "bad_responses", s->bad_responses },
		{ "idle_closed", s->idle_closed },
		{ "aborted", s->aborted },
		{ "bytes_sent", s->bytes_out },
		{ "bytes_received", s->bytes_in },
		{ "unique_sources", unique },
		{ "tls_handshakes", s->tls_handshakes },
		{ "tls_resumed", s->tls_resumed },
		{ "tls_errors", s->tls_errors },
	};

	dynbuf_init(&b, 1 << 16);
	rc |= dynbuf_addc(&b, '{');
	rc |= json_key(&b, "target", first);
	rc |= json_cstr(&b, o->target_str);
	rc |= json_key(&b, "profile", 0);
	rc |= json_cstr(&b, lg_profile_name(o->profile));
	rc |= json_key(&b, "mode", 0);
	rc |= json_cstr(&b, o->keepalive ? "keepalive" : "close");
	rc |= json_key(&b, "proxy_v2", 0);
	rc |= dynbuf_adds(&b, o->src.proxy_v2 ? "true" : "false");
	rc |= json_key(&b, "tls", 0);
	rc |= dynbuf_adds(&b, o->tls ? "true" : "false");
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		rc |= json_key(&b, nums[i].key, 0);
		rc |= json_u64(&b, nums[i].v);
	}
	rc |= json_key(&b, "unique_sources_capped", 0);
	rc |= dynbuf_adds(&b, capped ? "true" : "false");
	rc |= json_key(&b, "status", 0);
	rc |= dynbuf_addc(&b, '{');
	first = 1;
	for (unsigned code = 0; code < 600; code++) {
		char key[8];

		if (!s->status[code])
			continue;
		snprintf(key, sizeof key, "%u", code);
		rc |= json_key(&b, key, first);
		rc |= json_u64(&b, s->status[code]);
		first = 0;
	}
	rc |= dynbuf_addc(&b, '}');
	rc |= dynbuf_printf(&b,
			    ",\"elapsed_s\":%.3f,\"requests_per_s\":%.1f,"
			    "\"responses_per_s\":%.1f",
			    elapsed, elapsed > 0 ? (double)s->sent / elapsed : 0.0,
			    elapsed > 0 ? (double)s->responses / elapsed : 0.0);
	rc |= json_key(&b, "stopped_by", 0);
	rc |= json_cstr(&b, lg_stop_names[stop]);
	rc |= dynbuf_adds(&b, "}\n");
	if (rc == 0)
		fputs(b.data, stdout);
	dynbuf_free(&b);
	return rc ? ERR_NOMEM : 0;
}

static void lg_print_text(const struct lg_opts *o, const struct lg_stats *s, double elapsed,
			  uint64_t unique, bool capped, enum lg_stop stop)
{
	printf("sinkd loadgen: %s, profile %s, mode %s%s, %" PRIu64 " thread(s), %" PRIu64
	       " connection(s), seed %" PRIu64 "\n",
	       o->target_str, lg_profile_name(o->profile), o->keepalive ? "keepalive" : "close",
	       o->src.proxy_v2 ? " + PROXY v2" : "", o->threads, o->concurrency, o->seed);
	printf("  requests sent     %" PRIu64 "\n", s->sent);
	printf("  responses         %" PRIu64, s->responses);
	for (unsigned code = 0; code < 600; code++)
		if (s->status[code])
			printf("  [%u: %" PRIu64 "]", code, s->status[code]);
	printf("\n  connections       %" PRIu64 " opened, %" PRIu64 " connect errors, %" PRIu64
	       " connect timeouts, %" PRIu64 " idle closed by server\n",
	       s->conns, s->connect_errors, s->connect_timeouts, s->idle_closed);
	printf("  errors            %" PRIu64 " response timeouts, %" PRIu64 " i/o errors, %" PRIu64
	       " bad responses, %" PRIu64 " in flight at stop\n",
	       s->timeouts, s->io_errors, s->bad_responses, s->aborted);
	if (o->tls)
		printf("  tls               %" PRIu64 " handshakes (%" PRIu64 " resumed), %" PRIu64
		       " failed\n",
		       s->tls_handshakes, s->tls_resumed, s->tls_errors);
	if (o->src.proxy_v2)
		printf("  unique sources    %" PRIu64 "%s\n", unique,
		       capped ? "+ (tracking capped)" : "");
	printf("  bytes             %" PRIu64 " sent, %" PRIu64 " received\n", s->bytes_out,
	       s->bytes_in);
	printf("  elapsed           %.3f s (stopped by %s)\n", elapsed, lg_stop_names[stop]);
	printf("  rate              %.0f requests/s, %.0f responses/s\n",
	       elapsed > 0 ? (double)s->sent / elapsed : 0.0,
	       elapsed > 0 ? (double)s->responses / elapsed : 0.0);
}

static void lg_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd loadgen [options]\n\n"
		"Sends simulated infected-host HTTP check-ins to a sinkhole on THIS machine.\n"
		"Only 127.0.0.0/8 and ::1 are accepted as targets. Stops after --count\n"
		"requests or --duration seconds, whichever comes first, or on Ctrl-C.\n"
		"SMTP spam sessions instead: sinkd loadgen --proto smtp --help.\n\n"
		"  --target ADDR:PORT      127.0.0.1:PORT or [::1]:PORT (required)\n"
		"  --count N               total requests (default 10000, max %llu)\n"
		"  --duration SECONDS      time bound (default 20, max %d)\n"
		"  --concurrency C         connections in flight (default 64, max %d)\n"
		"  --threads T             event-loop threads (default 1, max %d)\n"
		"  --rate R                requests/second cap, 0 = unlimited (default 0)\n"
		"  --mode keepalive|close  reuse connections, or one request each\n"
		"                          (default keepalive)\n"
		"  --requests-per-conn N   keep-alive requests per connection (default 100)\n"
		"  --profile NAME          request mix (default rustock):\n"
		"                          rustock: 75%% POST /login.php (96-byte body),\n"
		"                          20%% forum-post POSTs, 5%% GET /, Host drawn from\n"
		"                          Rustock's seized C&C domains;\n"
		"                          generic: GET /gate.php?id=HEX to Host\n"
		"                          cnc.seized-example.test\n"
		"  --timeout-ms MS         connect/response timeout, counted as an error\n"
		"                          (default 5000)\n"
		"  --tls                   check in over TLS (no certificate checks; each new\n"
		"                          connection is a full handshake)\n"
		"  --tls-resume            with --tls: resume each slot's previous session\n"
		"  --sni NAME              with --tls: server name (default cnc.seized-example.test)\n" LG_SOURCES_USAGE
		"  --seed N                PRNG seed for reproducible draws (default: random)\n"
		"  --json                  print the summary as one JSON object on stdout\n"
		"  --quiet                 no text summary\n"
		"  --help\n\n"
		"Exit status: 0 if at least one response came back, 1 otherwise, 2 for a\n"
		"usage error (including an unusable --sources or --asn-file).\n",
		(unsigned long long)LG_MAX_COUNT, LG_MAX_DURATION, LG_MAX_CONCURRENCY,
		LG_MAX_THREADS, LG_MAX_UNIQUE);
}

enum {
	LG_O_TARGET = 256,
	LG_O_COUNT,
	LG_O_DURATION,
	LG_O_CONC,
	LG_O_THREADS,
	LG_O_RATE,
	LG_O_MODE,
	LG_O_RPC,
	LG_O_PROFILE,
	LG_O_TIMEOUT,
	LG_O_PROXY,
	LG_O_SOURCES,
	LG_O_ASN,
	LG_O_UNIQUE,
	LG_O_SEED,
	LG_O_JSON,
	LG_O_QUIET,
	LG_O_TLS,
	LG_O_TLS_RESUME,
	LG_O_SNI,
	LG_O_HELP,
};

static const struct option lg_longopts[] = {
	{ "target", required_argument, NULL, LG_O_TARGET },
	{ "count", required_argument, NULL, LG_O_COUNT },
	{ "duration", required_argument, NULL, LG_O_DURATION },
	{ "concurrency", required_argument, NULL, LG_O_CONC },
	{ "threads", required_argument, NULL, LG_O_THREADS },
	{ "rate", required_argument, NULL, LG_O_RATE },
	{ "mode", required_argument, NULL, LG_O_MODE },
	{ "requests-per-conn", required_argument, NULL, LG_O_RPC },
	{ "profile", required_argument, NULL, LG_O_PROFILE },
	{ "timeout-ms", required_argument, NULL, LG_O_TIMEOUT },
	{ "proxy-v2", no_argument, NULL, LG_O_PROXY },
	{ "sources", required_argument, NULL, LG_O_SOURCES },
	{ "asn-file", required_argument, NULL, LG_O_ASN },
	{ "sources-unique", required_argument, NULL, LG_O_UNIQUE },
	{ "seed", required_argument, NULL, LG_O_SEED },
	{ "json", no_argument, NULL, LG_O_JSON },
	{ "quiet", no_argument, NULL, LG_O_QUIET },
	{ "tls", no_argument, NULL, LG_O_TLS },
	{ "tls-resume", no_argument, NULL, LG_O_TLS_RESUME },
	{ "sni", required_argument, NULL, LG_O_SNI },
	{ "help", no_argument, NULL, LG_O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Returns 0, 1 for --help (exit 0) or 2 for a usage error (message printed). */
static int lg_parse_args(int argc, char **argv, struct lg_opts *o)
{
	const char *target = NULL, *bad = NULL;
	bool seed_set = false;
	int ch, rc;

	memset(o, 0, sizeof *o);
	o->count = 10000;
	o->duration_s = 20;
	o->concurrency = 64;
	o->threads = 1;
	o->rpc = 100;
	o->timeout_ms = 5000;
	o->keepalive = true;
	o->profile = LG_P_RUSTOCK;
	optind = 0; /* glibc: full re-initialisation, so this can run more than once per process */
	while ((ch = getopt_long(argc, argv, "", lg_longopts, NULL)) != -1) {
		switch (ch) {
		case LG_O_TARGET:
			target = optarg;
			break;
		case LG_O_COUNT:
			if (lg_parse_u64(optarg, 1, LG_MAX_COUNT, &o->count))
				bad = "--count";
			break;
		case LG_O_DURATION:
			if (lg_parse_u64(optarg, 1, LG_MAX_DURATION, &o->duration_s))
				bad = "--duration";
			break;
		case LG_O_CONC:
			if (lg_parse_u64(optarg, 1, LG_MAX_CONCURRENCY, &o->concurrency))
				bad = "--concurrency";
			break;
		case LG_O_THREADS:
			if (lg_parse_u64(optarg, 1, LG_MAX_THREADS, &o->threads))
				bad = "--threads";
			break;
		case LG_O_RATE:
			if (lg_parse_u64(optarg, 0, LG_MAX_RATE, &o->rate))
				bad = "--rate";
			break;
		case LG_O_MODE:
			if (!strcmp(optarg, "keepalive"))
				o->keepalive = true;
			else if (!strcmp(optarg, "close"))
				o->keepalive = false;
			else
				bad = "--mode";
			break;
		case LG_O_RPC:
			if (lg_parse_u64(optarg, 1, LG_MAX_RPC, &o->rpc))
				bad = "--requests-per-conn";
			break;
		case LG_O_PROFILE:
			if (!strcmp(optarg, "rustock"))
				o->profile = LG_P_RUSTOCK;
			else if (!strcmp(optarg, "generic"))
				o->profile = LG_P_GENERIC;
			else
				bad = "--profile";
			break;
		case LG_O_TIMEOUT:
			if (lg_parse_u64(optarg, 1, LG_MAX_TIMEOUT_MS, &o->timeout_ms))
				bad = "--timeout-ms";
			break;
		case LG_O_PROXY:
			o->src.proxy_v2 = true;
			break;
		case LG_O_SOURCES:
			o->src.sources = optarg;
			break;
		case LG_O_ASN:
			o->src.asn_file = optarg;
			break;
		case LG_O_UNIQUE:
			if (lg_parse_u64(optarg, 1, LG_MAX_UNIQUE, &o->src.sources_unique))
				bad = "--sources-unique";
			break;
		case LG_O_SEED:
			if (lg_parse_u64(optarg, 0, UINT64_MAX, &o->seed))
				bad = "--seed";
			seed_set = true;
			break;
		case LG_O_JSON:
			o->json = true;
			break;
		case LG_O_QUIET:
			o->quiet = true;
			break;
		case LG_O_TLS:
			o->tls = true;
			break;
		case LG_O_TLS_RESUME:
			o->tls_resume = true;
			break;
		case LG_O_SNI:
			o->sni = optarg;
			break;
		case LG_O_HELP:
			lg_usage(stdout);
			return 1;
		default:
			lg_usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "sinkd loadgen: bad value for %s: '%s'\n", bad, optarg);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sinkd loadgen: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!target) {
		fprintf(stderr,
			"sinkd loadgen: --target 127.0.0.1:PORT (or [::1]:PORT) is required\n");
		lg_usage(stderr);
		return 2;
	}
	rc = lg_parse_target(target, o);
	if (rc == ERR_LIMIT) {
		fprintf(stderr,
			"sinkd loadgen: refusing target %s: only loopback (127.0.0.0/8, ::1) "
			"is allowed\n",
			target);
		return 2;
	}
	if (rc) {
		fprintf(stderr,
			"sinkd loadgen: bad --target '%s' (want 127.0.0.1:PORT or "
			"[::1]:PORT)\n",
			target);
		return 2;
	}
	if (o->threads > o->concurrency) {
		fprintf(stderr, "sinkd loadgen: --threads must not exceed --concurrency\n");
		return 2;
	}
	if (lg_sources_check(&o->src))
		return 2;
	if ((o->tls_resume || o->sni) && !o->tls) {
		fprintf(stderr, "sinkd loadgen: --tls-resume and --sni need --tls\n");
		return 2;
	}
	if (!seed_set && getrandom(&o->seed, sizeof o->seed, 0) != (ssize_t)sizeof o->seed)
		o->seed = lg_now_ns();
	return 0;
}

/* The descriptor limit must cover every connection. */
static int lg_raise_nofile(uint64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return ERR_SYS;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		return ERR_LIMIT;
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) ? ERR_SYS : 0;
}

int cmd_loadgen(int argc, char **argv)
{
	struct lg_opts o;
	struct lg_shared sh = { 0 };
	struct lg_sources src = { 0 };
	struct lg_thread *th = NULL;
	struct lg_stats total;
	struct lg_aset uniq = { 0 };
	struct sigaction sa, old_sa;
	enum lg_stop stop = LG_STOP_COUNT;
	size_t seen_sum = 0;
	uint64_t start;
	double elapsed;
	unsigned started = 0;
	bool capped = false;
	int rc, status = 1;

	/* SMTP sessions are their own generator (loadgen_smtp.c). */
	for (int i = 1; i < argc; i++)
		if ((!strcmp(argv[i], "--proto") && i + 1 < argc && !strcmp(argv[i + 1], "smtp")) ||
		    !strcmp(argv[i], "--proto=smtp"))
			return cmd_loadgen_smtp(argc, argv);
	rc = lg_parse_args(argc, argv, &o);
	if (rc)
		return rc == 1 ? 0 : 2;
	if (o.src.proxy_v2 && lg_sources_setup(&src, &o.src, o.seed)) {
		status = 2;
		goto out_free;
	}
	if (lg_raise_nofile(o.concurrency + 64)) {
		fprintf(stderr,
			"sinkd loadgen: cannot raise the open-file limit to %" PRIu64
			" for --concurrency %" PRIu64 "\n",
			o.concurrency + 64, o.concurrency);
		goto out_free;
	}
	memset(&sh, 0, sizeof sh);
	sh.o = &o;
	sh.src = &src;
	if (o.tls) {
		sh.tls_ctx = SSL_CTX_new(TLS_client_method());
		if (!sh.tls_ctx) {
			fprintf(stderr, "sinkd loadgen: cannot create a TLS context\n");
			goto out_free;
		}
		SSL_CTX_set_verify(sh.tls_ctx, SSL_VERIFY_NONE, NULL);
		/* Sessions are kept per slot by hand; OpenSSL's client cache stays out of it. */
		SSL_CTX_set_session_cache_mode(sh.tls_ctx, SSL_SESS_CACHE_OFF);
		if (!o.tls_resume)
			SSL_CTX_set_options(sh.tls_ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_alpn_protos(sh.tls_ctx, (const unsigned char *)"\x08http/1.1", 9);
	}
	th = calloc((size_t)o.threads, sizeof *th);
	if (!th) {
		fprintf(stderr, "sinkd loadgen: %s\n", err_str(ERR_NOMEM));
		goto out_free;
	}
	for (unsigned i = 0; i < o.threads; i++) {
		uint64_t conns = o.concurrency / o.threads + (i < o.concurrency % o.threads);
		uint64_t quota = o.count / o.threads + (i < o.count % o.threads);

		if (lg_thread_init(&th[i], &sh, i, conns, quota)) {
			fprintf(stderr, "sinkd loadgen: thread set-up failed: %s\n",
				strerror(errno));
			started = i + 1;
			goto out_threads;
		}
	}
	started = (unsigned)o.threads;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = lg_on_sigint;
	sigemptyset(&sa.sa_mask);
	lg_interrupted = 0;
	sigaction(SIGINT, &sa, &old_sa);
	start = lg_now_ns();
	sh.end_ns = start + o.duration_s * 1000000000ULL;
	for (unsigned i = 0; i < o.threads; i++) {
		if (pthread_create(&th[i].tid, NULL, lg_thread_main, &th[i])) {
			fprintf(stderr, "sinkd loadgen: cannot start thread %u\n", i);
			lg_interrupted = 1;
			started = i;
			break;
		}
		started = i + 1;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i].tid, NULL);
	elapsed = (double)(lg_now_ns() - start) / 1e9;
	sigaction(SIGINT, &old_sa, NULL);

	memset(&total, 0, sizeof total);
	for (unsigned i = 0; i < started; i++) {
		const struct lg_stats *s = &th[i].st;

		total.issued += s->issued;
		total.sent += s->sent;
		total.responses += s->responses;
		for (unsigned code = 0; code < 600; code++)
			total.status[code] += s->status[code];
		total.conns += s->conns;
		total.connect_errors += s->connect_errors;
		total.connect_timeouts += s->connect_timeouts;
		total.timeouts += s->timeouts;
		total.io_errors += s->io_errors;
		total.bad_responses += s->bad_responses;
		total.idle_closed += s->idle_closed;
		total.aborted += s->aborted;
		total.bytes_out += s->bytes_out;
		total.bytes_in += s->bytes_in;
		total.tls_handshakes += s->tls_handshakes;
		total.tls_resumed += s->tls_resumed;
		total.tls_errors += s->tls_errors;
		if (th[i].stop > stop)
			stop = th[i].stop;
		if (th[i].err[0])
			fprintf(stderr, "sinkd loadgen: thread %u: %s\n", i, th[i].err);
		seen_sum += th[i].seen.n;
		capped |= th[i].seen.full;
	}
	/* Distinct sources across threads: merge the per-thread sets. */
	if (o.src.proxy_v2 && lg_aset_init(&uniq, seen_sum) == 0) {
		for (unsigned i = 0; i < started; i++)
			for (size_t j = 0; th[i].seen.keys && j < th[i].seen.cap; j++)
				if (th[i].seen.keys[j].k[0])
					lg_aset_add_key(&uniq, &th[i].seen.keys[j]);
	}
	if (stop == LG_STOP_UNREACHABLE && !o.quiet)
		fprintf(stderr, "sinkd loadgen: %s refuses connections; giving up\n", o.target_str);
	if (o.json)
		lg_print_json(&o, &total, elapsed, uniq.n, capped, stop);
	else if (!o.quiet)
		lg_print_text(&o, &total, elapsed, uniq.n, capped, stop);
	status = total.responses > 0 ? 0 : 1;
	lg_aset_free(&uniq);
out_threads:
	for (unsigned i = 0; i < started; i++)
		lg_thread_free(&th[i]);
	free(th);
out_free:
	SSL_CTX_free(sh.tls_ctx);
	lg_sources_free(&src);
	return status;
}
