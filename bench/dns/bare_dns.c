/* bare_dns.c — the physical limit for bench/dns: a recvmmsg/sendmmsg UDP echo that only sets QR, no parsing, no log. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define SLOT  4096

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bare_dns PORT\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)strtoul(argv[1], NULL, 10)) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rcv = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		perror("bare_dns");
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	static unsigned char buf[BATCH][SLOT];
	static struct sockaddr_in from[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	unsigned long long total = 0;
	while (!stop) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ buf[i], SLOT };
			msgs[i].msg_hdr = (struct msghdr){ .msg_name = &from[i],
							   .msg_namelen = sizeof from[i],
							   .msg_iov = &iov[i],
							   .msg_iovlen = 1 };
		}
		/* Blocking for the first datagram, then whatever else is queued. */
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EINTR)
				perror("recvmmsg");
			continue;
		}
		for (int i = 0; i < n; i++) {
			iov[i].iov_len = msgs[i].msg_len;
			if (msgs[i].msg_len >= 3)
				buf[i][2] |= 0x84; /* QR, AA */
		}
		int done = 0;
		while (done < n) {
			int k = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
			if (k <= 0)
				break;
			done += k;
		}
		total += (unsigned long long)n;
	}
	fprintf(stderr, "bare_dns: %llu datagrams\n", total);
	return 0;
}
