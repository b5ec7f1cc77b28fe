/* listener.c — bind the configured endpoints, one SO_REUSEPORT socket per worker. */
#include "net/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"

#define LISTENER_BACKLOG    4096
/* Receive buffer asked for on UDP sockets: absorbs bursts while the worker is busy. */
#define LISTENER_UDP_RCVBUF (4 << 20)

/* TCP: no Nagle (answers are one small write), TCP_DEFER_ACCEPT if configured. */
static int listener_setup_stream(int fd, const struct config_listener *cfg)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
		return -1;
	if (cfg->defer_accept) {
		int secs = (int)((cfg->http.header_timeout_ms + 999) / 1000);
		if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs) != 0)
			return -1;
	}
	return 0;
}

/*
 * UDP: only a wildcard bind needs each datagram's destination (to answer
 * from it); elsewhere the kernel would build a control message per datagram
 * for nothing. TPROXY (any-port capture) diverts datagrams for foreign
 * addresses and ports: the socket must accept them and report each one's
 * original destination (IP_ORIGDSTADDR). A large receive buffer absorbs
 * bursts (best effort: the kernel caps it at rmem_max without failing).
 */
static int listener_setup_dgram(int fd, const struct sockaddr_storage *addr,
				const struct config_listener *cfg)
{
	int one = 1;
	if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) != 0)
			return -1;
	} else {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
		if (sin->sin_addr.s_addr == htonl(INADDR_ANY) &&
		    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0)
			return -1;
	}
	if (cfg->redirect == CONFIG_REDIRECT_TPROXY &&
	    (addr->ss_family == AF_INET6 ?
		     setsockopt(fd, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof one) :
		     setsockopt(fd, IPPROTO_IP, IP_RECVORIGDSTADDR, &one, sizeof one)) != 0)
		return -1;
	int rcv = LISTENER_UDP_RCVBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	return 0;
}

static int listener_socket(const struct sockaddr_storage *addr, socklen_t addr_len,
			   const struct config_listener *cfg, bool dgram)
{
	int fam = addr->ss_family;
	int fd = socket(fam, (dgram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
		goto fail;
	if (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
		goto fail;
	/* TPROXY delivers connections and datagrams for foreign addresses: accept them. */
	if (cfg->redirect == CONFIG_REDIRECT_TPROXY &&
	    (fam == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof one) :
			       setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one)) != 0)
		goto fail;
	if (dgram ? listener_setup_dgram(fd, addr, cfg) : listener_setup_stream(fd, cfg))
		goto fail;
	if (bind(fd, (const struct sockaddr *)addr, addr_len) != 0)
		goto fail;
	if (!dgram && listen(fd, LISTENER_BACKLOG) != 0)
		goto fail;
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void listener_fill_local(struct listener *l, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	memset(&l->local, 0, sizeof l->local);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		l->local.ipver = 4;
		memcpy(l->local.addr, &sin->sin_addr, 4);
		l->local.port = ntohs(sin->sin_port);
		l->wildcard = sin->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
		l->local.ipver = 6;
		memcpy(l->local.addr, &sin6->sin6_addr, 16);
		l->local.port = ntohs(sin6->sin6_port);
		l->wildcard = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
	}
}

static int listener_open_any(struct listener *l, const struct config_listener *cfg, unsigned index,
			     unsigned workers, bool dgram)
{
	memset(l, 0, sizeof *l);
	l->cfg = cfg;
	l->index = index;
	l->fds = malloc(sizeof *l->fds * workers);
	if (!l->fds)
		return ERR_NOMEM;
	l->n_fds = workers;
	for (unsigned i = 0; i < workers; i++)
		l->fds[i] = -1;
	atomic_init(&l->open, 0);
	/* With port 0 the kernel picks one: the other workers must bind that same port. */
	struct sockaddr_storage addr = cfg->addr;
	for (unsigned i = 0; i < workers; i++) {
		l->fds[i] = listener_socket(&addr, cfg->addr_len, cfg, dgram);
		if (l->fds[i] < 0) {
			int saved = errno;
			listener_free(l);
			errno = saved;
			return ERR_SYS;
		}
		if (i == 0) {
			socklen_t len = sizeof addr;
			if (getsockname(l->fds[0], (struct sockaddr *)&addr, &len) != 0) {
				int saved = errno;
				listener_free(l);
				errno = saved;
				return ERR_SYS;
			}
		}
	}
	listener_fill_local(l, l->fds[0]);
	l->dgram = dgram;
	return 0;
}

int listener_open(struct listener *l, const struct config_listener *cfg, unsigned index,
		  unsigned workers)
{
	return listener_open_any(l, cfg, index, workers, false);
}

int listener_open_dgram(struct listener *l, const struct config_listener *cfg, unsigned index,
			unsigned workers)
{
	return listener_open_any(l, cfg, index, workers, true);
}

void listener_close_fd(struct listener *l, unsigned worker)
{
	if (worker < l->n_fds && l->fds[worker] >= 0) {
		close(l->fds[worker]);
		l->fds[worker] = -1;
	}
}

void listener_free(struct listener *l)
{
	if (!l->fds)
		return;
	for (unsigned i = 0; i < l->n_fds; i++)
		listener_close_fd(l, i);
	free(l->fds);
	l->fds = NULL;
}
