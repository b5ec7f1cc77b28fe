/* bare_http.c — do-nothing HTTP/1.1 server: the physical limit sinkd is measured against. */

/*
 * Usage: bare_http ADDR:PORT THREADS
 *
 * Each thread owns an epoll loop and its own SO_REUSEPORT listening socket, so
 * the kernel spreads connections over threads and no state is shared.  A
 * request is "everything up to \r\n\r\n"; every request gets the same fixed
 * answer.  Pipelined requests that arrive in one read are all answered with
 * one write.  "Connection: close" makes the server close after the answer.
 * There is no logging and no parsing beyond that: whatever sinkd does on top
 * of this is its own cost.
 *
 * Level-triggered epoll with one read per readiness event: a keep-alive
 * request then costs epoll_wait + read + write, the floor for any server
 * built on readiness notification.  The listener uses TCP_DEFER_ACCEPT and a
 * new connection is read at once, before it is added to epoll: a
 * connection-per-request check-in then costs accept4 + read + write + close,
 * and never reaches epoll_ctl.  These are the cheapest tricks a real server
 * can use, so they belong in the limit it is measured against.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BARE_RESP	    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
#define BARE_RESP_LEN	    (sizeof(BARE_RESP) - 1)
/* The last answer on a connection the client asked to close says so, as nginx does; wrk
 * otherwise expects the connection to stay open and counts the close as a read error. */
#define BARE_RESP_CLOSE	    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nok\n"
#define BARE_RESP_CLOSE_LEN (sizeof(BARE_RESP_CLOSE) - 1)
/* Longest request head accepted; longer ones get the connection closed. */
#define BARE_CONN_BUF	    4096
#define BARE_MAX_EVENTS	    256
#define BARE_MAX_THREADS    256
/* Largest single write of queued answers. */
#define BARE_OUT_CHUNK	    16384

struct bare_conn {
	int fd;
	bool registered;   /* added to the epoll set */
	bool close_after;  /* a request asked for Connection: close: its answer ends the stream */
	size_t owed;	   /* bytes of the repeating keep-alive answer not yet written */
	size_t sent_total; /* keep-alive answer bytes written so far, gives the stream offset */
	size_t close_sent; /* bytes of the closing answer written so far */
	size_t len;	   /* bytes of an incomplete request head kept in partial */
	char *partial;	   /* NULL unless a head was split across reads */
};

struct bare_worker {
	pthread_t thread;
	int lfd;
	int epfd;
	/* Reads land here; only an incomplete head is copied to its connection. */
	char rbuf[BARE_CONN_BUF];
};

static int bare_listen(const struct sockaddr_in *addr)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 4096) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static char bare_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive prefix test: does p[0..n) start with the lowercase word w? */
static bool bare_starts_with(const char *p, size_t n, const char *w)
{
	size_t wl = strlen(w);

	if (wl > n)
		return false;
	for (size_t i = 0; i < wl; i++)
		if (bare_lower(p[i]) != w[i])
			return false;
	return true;
}

/* Does the request head h[0..n) carry a "Connection: close" header? */
static bool bare_wants_close(const char *h, size_t n)
{
	static const char name[] = "connection:";

	for (size_t i = 0; i + 1 < n; i++) {
		if (h[i] != '\n')
			continue;
		const char *p = h + i + 1;
		size_t left = n - i - 1;

		if (!bare_starts_with(p, left, name))
			continue;
		p += sizeof(name) - 1;
		left -= sizeof(name) - 1;
		while (left > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			left--;
		}
		if (bare_starts_with(p, left, "close"))
			return true;
	}
	return false;
}

/* Offset of the first byte after "\r\n\r\n" in p[0..n), or 0 if the head is incomplete. */
static size_t bare_head_end(const char *p, size_t n)
{
	const char *q = n >= 4 ? memmem(p, n, "\r\n\r\n", 4) : NULL;

	return q ? (size_t)(q - p) + 4 : 0;
}

static void bare_close(struct bare_worker *w, struct bare_conn *c)
{
	/* close() removes the fd from the epoll set; no epoll_ctl needed. */
	(void)w;
	close(c->fd);
	free(c->partial);
	free(c);
}

static int bare_set_events(struct bare_worker *w, struct bare_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	int op = c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	c->registered = true;
	return epoll_ctl(w->epfd, op, c->fd, &ev);
}

/*
 * Write as much of the owed answers as the socket takes.  Returns 1 when
 * everything is written, 0 when the socket is full, -1 on error.
 */
static int bare_flush(struct bare_conn *c)
{
	char out[BARE_OUT_CHUNK];

	while (c->owed > 0) {
		size_t off = c->sent_total % BARE_RESP_LEN;
		size_t n = 0;

		/* The answer stream is the fixed answer repeated; start mid-answer if a write was short. */
		while (n < sizeof(out) && n < c->owed) {
			size_t k = BARE_RESP_LEN - off;

			if (k > sizeof(out) - n)
				k = sizeof(out) - n;
			if (k > c->owed - n)
				k = c->owed - n;
			memcpy(out + n, &BARE_RESP[off], k);
			n += k;
			off = 0;
		}
		ssize_t r = write(c->fd, out, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		}
		c->owed -= (size_t)r;
		c->sent_total += (size_t)r;
	}
	while (c->close_after && c->close_sent < BARE_RESP_CLOSE_LEN) {
		ssize_t r = write(c->fd, &BARE_RESP_CLOSE[c->close_sent],
				  BARE_RESP_CLOSE_LEN - c->close_sent);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		}
		c->close_sent += (size_t)r;
	}
	return 1;
}

/*
 * Queue one answer per complete request head in buf[0..n); keep an incomplete
 * tail in the connection.  An idle connection thus holds no buffer at all.
 */
static int bare_consume(struct bare_conn *c, const char *buf, size_t n)
{
	size_t pos = 0;

	while (pos < n) {
		size_t end = bare_head_end(buf + pos, n - pos);

		if (end == 0)
			break;
		if (bare_wants_close(buf + pos, end)) {
			/* Bytes after this request are ignored: the connection ends with its answer. */
			c->close_after = true;
			n = pos = 0;
			break;
		}
		c->owed += BARE_RESP_LEN;
		pos += end;
	}
	c->len = n - pos;
	if (c->len == 0) {
		free(c->partial);
		c->partial = NULL;
		return 0;
	}
	/* A head that fills the whole read buffer will never complete. */
	if (c->len == BARE_CONN_BUF)
		return -1;
	if (c->partial == NULL) {
		c->partial = malloc(BARE_CONN_BUF);
		if (c->partial == NULL)
			return -1;
	}
	memmove(c->partial, buf + pos, c->len);
	return 0;
}

/* Finish a round: write what is owed, then close, wait for writability, or read on. */
static void bare_after_io(struct bare_worker *w, struct bare_conn *c, bool waiting_out)
{
	int r = bare_flush(c);

	if (r < 0 || (r > 0 && c->close_after)) {
		bare_close(w, c);
		return;
	}
	if (r == 0 && !waiting_out) {
		/* Stop reading until the client drains its answers; this bounds 'owed'. */
		if (bare_set_events(w, c, EPOLLOUT) < 0)
			bare_close(w, c);
	} else if (r > 0 && (waiting_out || !c->registered)) {
		if (bare_set_events(w, c, EPOLLIN | EPOLLRDHUP) < 0)
			bare_close(w, c);
	}
}

static void bare_on_readable(struct bare_worker *w, struct bare_conn *c)
{
	/* Resume a split head in front of the new bytes. */
	if (c->len > 0)
		memcpy(w->rbuf, c->partial, c->len);

	ssize_t n = read(c->fd, w->rbuf + c->len, sizeof(w->rbuf) - c->len);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		/* A new connection with nothing to read yet: now it needs epoll. */
		if (!c->registered && bare_set_events(w, c, EPOLLIN | EPOLLRDHUP) < 0)
			bare_close(w, c);
		return;
	}
	if (n <= 0) {
		bare_close(w, c);
		return;
	}
	if (bare_consume(c, w->rbuf, c->len + (size_t)n) < 0) {
		bare_close(w, c);
		return;
	}
	bare_after_io(w, c, false);
}

static void bare_accept_all(struct bare_worker *w)
{
	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EAGAIN: drained; EMFILE and friends: retry on the next wakeup. */
			return;
		}
		struct bare_conn *c = malloc(sizeof(*c));

		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->registered = false;
		c->close_after = false;
		c->owed = 0;
		c->sent_total = 0;
		c->close_sent = 0;
		c->len = 0;
		c->partial = NULL;

		/*
		 * No TCP_NODELAY: each answer goes out in one write, so Nagle never
		 * delays it, and skipping the setsockopt keeps this the syscall floor.
		 * With TCP_DEFER_ACCEPT the request is usually here already: serve it
		 * before touching epoll.
		 */
		bare_on_readable(w, c);
	}
}

static void *bare_loop(void *arg)
{
	struct bare_worker *w = arg;
	struct epoll_event evs[BARE_MAX_EVENTS];

	for (;;) {
		int n = epoll_wait(w->epfd, evs, BARE_MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("bare_http: epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct bare_conn *c = evs[i].data.ptr;

			if (c == NULL) {
				bare_accept_all(w);
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				bare_after_io(w, c, true);
			else if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				bare_on_readable(w, c);
		}
	}
	return NULL;
}

static int bare_parse_addr(const char *s, struct sockaddr_in *out)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	char *end = NULL;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';

	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);

	if (errno != 0 || end == colon + 1 || *end != '\0' || port == 0 || port > 65535)
		return -1;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	char *end = NULL;

	if (argc != 3 || bare_parse_addr(argv[1], &addr) < 0) {
		fprintf(stderr,
			"usage: bare_http ADDR:PORT THREADS   (IPv4, e.g. 127.0.0.1:18091 1)\n");
		return 2;
	}
	errno = 0;
	unsigned long nthreads = strtoul(argv[2], &end, 10);

	if (errno != 0 || *end != '\0' || nthreads == 0 || nthreads > BARE_MAX_THREADS) {
		fprintf(stderr, "bare_http: THREADS must be 1..%d\n", BARE_MAX_THREADS);
		return 2;
	}

	/* Block the stop signals in every thread; main waits for them with sigwait. */
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct bare_worker *ws = calloc(nthreads, sizeof(*ws));

	if (ws == NULL) {
		perror("bare_http: calloc");
		return 1;
	}
	/* Bind every socket before serving, so "port accepts" means all threads are up. */
	for (size_t i = 0; i < nthreads; i++) {
		struct bare_worker *w = &ws[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		w->lfd = bare_listen(&addr);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->lfd < 0 || w->epfd < 0 ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lfd, &ev) < 0) {
			fprintf(stderr, "bare_http: cannot listen on %s: %s\n", argv[1],
				strerror(errno));
			return 1;
		}
	}
	for (size_t i = 0; i < nthreads; i++) {
		int err = pthread_create(&ws[i].thread, NULL, bare_loop, &ws[i]);

		if (err != 0) {
			fprintf(stderr, "bare_http: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	fprintf(stderr, "bare_http: serving %s with %lu thread(s)\n", argv[1], nthreads);

	int sig = 0;

	sigwait(&stop, &sig);
	/* Nothing to drain or flush: exiting closes every socket. */
	return 0;
}
