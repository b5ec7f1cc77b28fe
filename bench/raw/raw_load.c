/* raw_load.c — bounded loopback load for raw listeners: connect, send, half-close, wait for close. */

/*
 * Usage: raw_load 127.0.0.1:PORT CONNS SECONDS PAYLOAD_BYTES
 *
 * Keeps CONNS connections in flight from one epoll loop. Each connects,
 * sends PAYLOAD_BYTES (a fixed binary check-in), shuts its side down and
 * waits for the server to close; then the next one starts. Prints one JSON
 * line: completed connections, errors and the elapsed time. Only loopback
 * targets are accepted, and the run is bounded by SECONDS (at most 600).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOAD_MAX_CONNS 4096

enum {
	ST_CONNECTING = 0,
	ST_WAITING
};

struct lconn {
	int fd;
	int state;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int start_conn(int ep, struct lconn *c, const struct sockaddr_in *sa)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	c->state = ST_CONNECTING;
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: raw_load 127.0.0.1:PORT CONNS SECONDS PAYLOAD_BYTES\n");
		return 2;
	}
	const char *colon = strrchr(argv[1], ':');
	char host[64];
	if (!colon || (size_t)(colon - argv[1]) >= sizeof host)
		return 2;
	memcpy(host, argv[1], (size_t)(colon - argv[1]));
	host[colon - argv[1]] = '\0';
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10)) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "raw_load: only 127.0.0.0/8 targets\n");
		return 2;
	}
	long conns = strtol(argv[2], NULL, 10), secs = strtol(argv[3], NULL, 10);
	long plen = strtol(argv[4], NULL, 10);
	if (conns < 1 || conns > LOAD_MAX_CONNS || secs < 1 || secs > 600 || plen < 0 ||
	    plen > 4096)
		return 2;
	char payload[4096];
	for (long i = 0; i < plen; i++)
		payload[i] = (char)(i * 131 + 7);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct lconn *cs = calloc((size_t)conns, sizeof *cs);
	if (ep < 0 || !cs)
		return 1;
	unsigned long done = 0, errors = 0;
	for (long i = 0; i < conns; i++)
		if (start_conn(ep, &cs[i], &sa) != 0)
			errors++;
	double t0 = now_s(), end = t0 + (double)secs;
	struct epoll_event evs[256];
	char buf[4096];
	while (now_s() < end) {
		int n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			struct lconn *c = evs[i].data.ptr;
			bool failed = false;
			if (c->state == ST_CONNECTING && (evs[i].events & EPOLLOUT)) {
				if (plen &&
				    send(c->fd, payload, (size_t)plen, MSG_NOSIGNAL) != plen)
					failed = true;
				shutdown(c->fd, SHUT_WR);
				c->state = ST_WAITING;
				struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
							  .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				if (!failed)
					continue;
			}
			if (!failed) {
				ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
				if (r > 0 || (r < 0 && errno == EAGAIN))
					continue;
				failed = r < 0 && errno != ECONNRESET;
			}
			if (failed)
				errors++;
			else
				done++;
			close(c->fd);
			if (start_conn(ep, c, &sa) != 0)
				errors++;
		}
	}
	double el = now_s() - t0;
	printf("{\"connections\": %lu, \"errors\": %lu, \"seconds\": %.3f}\n", done, errors, el);
	return 0;
}
