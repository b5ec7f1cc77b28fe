/* metrics_http.c — the admin listener's thread: a small poll loop serving /metrics, one request per connection. */
#include "metrics/metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "metrics/prom.h"
#include "proto/http/http_parse.h"

struct mh_client {
	int fd; /* -1: free */
	uint64_t deadline_ms;
	char in[METRICS_HTTP_HEAD_MAX];
	size_t in_len;
	struct dynbuf out; /* the response, once the head is complete */
	size_t out_off;
	bool answering;
};

struct metrics_http {
	int fd;
	int stop_fd; /* eventfd */
	pthread_t thread;
	bool started;
	metrics_http_render_fn render;
	void *arg;
	struct mh_client c[METRICS_HTTP_CLIENTS];
};

static bool slice_is(struct http_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static int respond(struct dynbuf *resp, unsigned status, const char *reason, const char *ctype,
		   const char *extra, const char *body, size_t body_len, bool head_only)
{
	int rc = dynbuf_printf(resp,
			       "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			       "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
			       "%sConnection: close\r\n\r\n",
			       status, reason, ctype, body_len, extra);
	if (!rc && !head_only && body_len)
		rc = dynbuf_add(resp, body, body_len);
	return rc;
}

static int respond_text(struct dynbuf *resp, unsigned status, const char *reason, const char *extra,
			const char *text)
{
	return respond(resp, status, reason, "text/plain; charset=utf-8", extra, text, strlen(text),
		       false);
}

int metrics_http_answer(const char *buf, size_t len, metrics_http_render_fn render, void *arg,
			struct dynbuf *resp)
{
	struct http_header headers[METRICS_HTTP_HEADERS_MAX];
	struct http_request req;
	const struct http_parse_limits lim = { METRICS_HTTP_HEAD_MAX, METRICS_HTTP_HEADERS_MAX };
	int rc = http_parse_request(buf, len, &req, headers, &lim, NULL);
	if (rc == ERR_NEED_MORE && len < METRICS_HTTP_HEAD_MAX)
		return ERR_NEED_MORE;
	if (rc == ERR_LIMIT || rc == ERR_NEED_MORE)
		return respond_text(resp, 431, "Request Header Fields Too Large", "",
				    "request head too large\n");
	if (rc)
		return respond_text(resp, 400, "Bad Request", "", "bad request\n");
	bool head = slice_is(req.method, "HEAD");
	if (!head && !slice_is(req.method, "GET"))
		return respond_text(resp, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
				    "only GET and HEAD\n");
	if (!slice_is(req.path, "/metrics"))
		return respond_text(resp, 404, "Not Found", "", "not found: try /metrics\n");
	struct dynbuf body;
	dynbuf_init(&body, METRICS_HTTP_BODY_MAX);
	rc = render(arg, &body);
	if (rc)
		rc = respond_text(resp, 500, "Internal Server Error", "", "metrics unavailable\n");
	else
		rc = respond(resp, 200, "OK", PROM_CONTENT_TYPE, "", body.data, body.len, head);
	dynbuf_free(&body);
	return rc;
}

int metrics_http_open(struct metrics_http **out, const struct sockaddr *sa, socklen_t len,
		      metrics_http_render_fn render, void *arg)
{
	struct metrics_http *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	s->render = render;
	s->arg = arg;
	s->stop_fd = -1;
	for (size_t i = 0; i < METRICS_HTTP_CLIENTS; i++)
		s->c[i].fd = -1;
	int one = 1;
	s->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(s->fd, sa, len) != 0 || listen(s->fd, 64) != 0)
		goto out_sys;
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0)
		goto out_sys;
	*out = s;
	return 0;
out_sys:;
	int e = errno;
	metrics_http_stop(s);
	errno = e;
	return ERR_SYS;
}

uint16_t metrics_http_port(const struct metrics_http *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port) : 0;
}

static void client_close(struct mh_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->in_len = 0;
	c->out_off = 0;
	c->answering = false;
	dynbuf_free(&c->out);
}

static void client_accept(struct metrics_http *s, uint64_t now)
{
	for (size_t i = 0; i < METRICS_HTTP_CLIENTS; i++) {
		struct mh_client *c = &s->c[i];
		if (c->fd >= 0)
			continue;
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c->fd = fd;
		c->deadline_ms = now + METRICS_HTTP_TIMEOUT_MS;
		c->in_len = 0;
		c->out_off = 0;
		c->answering = false;
		dynbuf_init(&c->out, METRICS_HTTP_BODY_MAX + 4096);
	}
}

/* Sends what it can; closes when all is sent or the peer is gone. */
static void client_write(struct mh_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	/* Half-close, so the client sees the end even if it sent more than the head. */
	shutdown(c->fd, SHUT_WR);
	client_close(c);
}

static void client_read(struct metrics_http *s, struct mh_client *c)
{
	for (;;) {
		if (c->in_len == sizeof c->in)
			break;
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->in_len += (size_t)n;
		int rc = metrics_http_answer(c->in, c->in_len, s->render, s->arg, &c->out);
		if (rc == ERR_NEED_MORE)
			continue;
		if (rc) {
			client_close(c);
			return;
		}
		c->answering = true;
		client_write(c);
		return;
	}
	/* A full buffer is always answered (431) by metrics_http_answer: not reached. */
	client_close(c);
}

static void *metrics_http_main(void *arg)
{
	struct metrics_http *s = arg;
	struct pollfd pfd[METRICS_HTTP_CLIENTS + 2];
	size_t who[METRICS_HTTP_CLIENTS + 2];
	for (;;) {
		uint64_t now = time_mono_ms();
		size_t n = 0, active = 0;
		int timeout = -1;
		pfd[n++] = (struct pollfd){ .fd = s->stop_fd, .events = POLLIN };
		for (size_t i = 0; i < METRICS_HTTP_CLIENTS; i++) {
			struct mh_client *c = &s->c[i];
			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) {
				client_close(c);
				continue;
			}
			uint64_t left = c->deadline_ms - now;
			if (timeout < 0 || left < (uint64_t)timeout)
				timeout = (int)left;
			who[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->answering ? POLLOUT : POLLIN };
			active++;
		}
		/* With every slot taken, further clients wait in the listen backlog. */
		size_t lidx = n;
		if (active < METRICS_HTTP_CLIENTS)
			pfd[n++] = (struct pollfd){ .fd = s->fd, .events = POLLIN };
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (pfd[0].revents)
			break;
		for (size_t k = 1; k < lidx; k++) {
			if (!pfd[k].revents)
				continue;
			struct mh_client *c = &s->c[who[k]];
			if (c->answering)
				client_write(c);
			else
				client_read(s, c);
		}
		if (lidx < n && pfd[lidx].revents)
			client_accept(s, time_mono_ms());
	}
	return NULL;
}

int metrics_http_start(struct metrics_http *s)
{
	if (pthread_create(&s->thread, NULL, metrics_http_main, s) != 0)
		return ERR_SYS;
	s->started = true;
	return 0;
}

void metrics_http_stop(struct metrics_http *s)
{
	if (!s)
		return;
	if (s->started) {
		uint64_t one = 1;
		ssize_t w = write(s->stop_fd, &one, sizeof one);
		(void)w;
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < METRICS_HTTP_CLIENTS; i++)
		if (s->c[i].fd >= 0)
			client_close(&s->c[i]);
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
}
