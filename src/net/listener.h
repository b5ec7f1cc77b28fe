/* listener.h — configured listening endpoints: one SO_REUSEPORT socket per worker each. */
#ifndef SINKD_NET_LISTENER_H
#define SINKD_NET_LISTENER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/event.h"

struct proto_ops;
struct tls_server;

struct listener {
	const struct config_listener *cfg; /* owned by the startup config, which lives as long */
	unsigned index;
	const struct proto_ops *ops;
	int *fds; /* one listening socket per worker; -1 once closed */
	unsigned n_fds;
	struct event_addr local; /* the bound address (port filled in) */
	bool wildcard;		 /* bound to 0.0.0.0 / :: : ask the socket for the destination */
	bool dgram;		 /* UDP: datagrams go to proto_ops.on_datagram, no connections */
	_Atomic uint32_t open;	 /* connections open on all workers together */
	void *proto_state;	 /* the protocol module's per-listener state (SMTP: campaigns) */
	struct tls_server *tls;	 /* proto tls: certificates and versions (owned by the daemon) */
};

/*
 * Creates and binds `workers` sockets for the listener (SO_REUSEPORT, so the
 * kernel spreads connections over the workers' own sockets: no shared accept
 * queue, no lock). Errors: ERR_SYS with errno (port in use, permission).
 */
int listener_open(struct listener *l, const struct config_listener *cfg, unsigned index,
		  unsigned workers);
/*
 * The same for a UDP endpoint (SO_REUSEPORT: the kernel hashes each client's
 * datagrams to one worker's socket). A wildcard address asks for the
 * destination of each datagram (IP_PKTINFO / IPV6_RECVPKTINFO) so that the
 * reply leaves from the address the client wrote to. The PROXY protocol does
 * not apply to datagrams.
 */
int listener_open_dgram(struct listener *l, const struct config_listener *cfg, unsigned index,
			unsigned workers);
void listener_close_fd(struct listener *l, unsigned worker);
void listener_free(struct listener *l);

#endif
