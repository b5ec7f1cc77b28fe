/* anyport.h — every port of a seized address: original destinations and the nftables rules. */
#ifndef SINKD_NET_ANYPORT_H
#define SINKD_NET_ANYPORT_H

#include <sys/socket.h>

#include "core/config.h"
#include "core/dynbuf.h"

/*
 * The destination a REDIRECTed connection was sent to before the kernel
 * rewrote it (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST from conntrack).
 * ERR_SYS when the connection was not redirected (a direct connection to the
 * listener's own port).
 */
int anyport_original_dst(int fd, sa_family_t family, struct sockaddr_storage *out);

/*
 * Writes an nftables script (for `nft -f`) that sends the configured port
 * ranges of every any-port listener's seized addresses to its socket: NAT
 * REDIRECT, or TPROXY with the policy-routing commands it needs as comments.
 * Ports other listeners serve on the same address are left alone. The
 * script replaces the table `inet sinkd` as a whole, so applying it twice is
 * harmless. Returns 0, ERR_INVAL when no listener has `ports`, ERR_NOMEM.
 */
int anyport_nft_script(const struct config *cfg, struct dynbuf *out);

#endif
