/* bare_raw.c — do-nothing accept-read-close TCP server: the limit the raw listener is measured against. */

/*
 * Usage: bare_raw ADDR:PORT
 *
 * One thread, one epoll loop, one listening socket. A new connection is read
 * at once (bots send right after connecting); it is added to epoll only if
 * its peer has not finished yet. The server reads up to 4 KiB, and closes
 * when the peer half-closes or 4 KiB have arrived. Nothing is parsed,
 * recorded or sent: whatever sinkd's raw listener does on top of this is its
 * own cost.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BARE_CAPTURE	4096
#define BARE_MAX_EVENTS 256

static volatile sig_atomic_t bare_stop;

static void on_term(int sig)
{
	(void)sig;
	bare_stop = 1;
}

/* Reads what is there; returns 1 when the connection is done (closed by us), 0 to wait. */
static int bare_read(int fd, size_t *got)
{
	char buf[BARE_CAPTURE];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf - *got, MSG_DONTWAIT);
		if (n > 0) {
			*got += (size_t)n;
			if (*got >= BARE_CAPTURE)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		break; /* EOF or error */
	}
	close(fd);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bare_raw ADDR:PORT\n");
		return 2;
	}
	char host[64];
	const char *colon = strrchr(argv[1], ':');
	if (!colon || (size_t)(colon - argv[1]) >= sizeof host)
		return 2;
	memcpy(host, argv[1], (size_t)(colon - argv[1]));
	host[colon - argv[1]] = '\0';
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10)) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return 2;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	int one = 1;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096)) {
		perror("bare_raw: listen");
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	/* Bytes read so far per fd (fds are small integers; the table grows on demand). */
	size_t *got = calloc(65536, sizeof *got);
	if (!got)
		return 1;
	struct epoll_event evs[BARE_MAX_EVENTS];
	while (!bare_stop) {
		int n = epoll_wait(ep, evs, BARE_MAX_EVENTS, 200);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == UINT64_MAX) {
				for (int k = 0; k < 64; k++) {
					int fd = accept4(lfd, NULL, NULL,
							 SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					if (fd >= 65536) {
						close(fd);
						continue;
					}
					got[fd] = 0;
					if (bare_read(fd, &got[fd]) == 0) {
						struct epoll_event cev = {
							.events = EPOLLIN | EPOLLRDHUP,
							.data.u64 = (uint64_t)fd
						};
						epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
					}
				}
				continue;
			}
			int fd = (int)evs[i].data.u64;
			bare_read(fd, &got[fd]); /* close() also drops it from epoll */
		}
	}
	free(got);
	close(ep);
	close(lfd);
	return 0;
}
