/* anyport.c — original destination of redirected connections; nftables rules for any-port capture. */
#include "net/anyport.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/event.h"

/* From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, which clash with glibc's headers. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

/* The mark TPROXY rules set, and the routing table that delivers marked packets locally. */
#define ANYPORT_MARK  0x5d
#define ANYPORT_TABLE 100

int anyport_original_dst(int fd, sa_family_t family, struct sockaddr_storage *out)
{
	socklen_t len = sizeof *out;
	int rc;
	if (family == AF_INET6)
		rc = getsockopt(fd, IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, out, &len);
	else
		rc = getsockopt(fd, IPPROTO_IP, SO_ORIGINAL_DST, out, &len);
	return rc == 0 ? 0 : ERR_SYS;
}

static bool listener_addr(const struct config_listener *l, struct event_addr *a, bool *wild)
{
	static const uint8_t zero[16];
	memset(a, 0, sizeof *a);
	if (l->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
		a->ipver = 4;
		memcpy(a->addr, &sin->sin_addr, 4);
		a->port = ntohs(sin->sin_port);
	} else if (l->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;
		a->ipver = 6;
		memcpy(a->addr, &sin6->sin6_addr, 16);
		a->port = ntohs(sin6->sin6_port);
	} else {
		return false;
	}
	*wild = !memcmp(a->addr, zero, 16);
	return true;
}

/* Which transports a listener serves: raw listeners as configured, DNS both, the rest TCP. */
static bool serves(const struct config_listener *l, bool udp)
{
	if (l->proto == CONFIG_PROTO_RAW)
		return udp ? l->raw.udp : l->raw.tcp;
	if (l->proto == CONFIG_PROTO_DNS)
		return true;
	return !udp;
}

/* Ports other (non any-port) listeners serve on `seized`: they must not be redirected. */
static int nft_exclusions(const struct config *cfg, const struct config_listener *self,
			  const struct event_addr *seized, bool udp, struct dynbuf *out)
{
	bool any = false;
	int rc = 0;
	for (size_t i = 0; i < cfg->n_listeners && !rc; i++) {
		const struct config_listener *o = &cfg->listeners[i];
		struct event_addr a;
		bool wild;
		if (o == self || o->n_ports || !serves(o, udp) || !listener_addr(o, &a, &wild))
			continue;
		if (a.ipver != seized->ipver || (!wild && memcmp(a.addr, seized->addr, 16)))
			continue;
		if (any)
			rc = dynbuf_printf(out, ", %u", (unsigned)a.port);
		else
			rc = dynbuf_printf(out, " %s dport != { %u", udp ? "udp" : "tcp",
					   (unsigned)a.port);
		any = true;
	}
	if (!rc && any)
		rc = dynbuf_adds(out, " }");
	return rc;
}

static int nft_rule(const struct config *cfg, const struct config_listener *l,
		    const struct event_addr *self, bool wild, const struct event_addr *a, bool udp,
		    struct dynbuf *out)
{
	char text[64];
	event_addr_str(a, text, sizeof text);
	const char *l4 = udp ? "udp" : "tcp";
	int rc = dynbuf_printf(out, "\t\t%s daddr %s %s dport { ", a->ipver == 6 ? "ip6" : "ip",
			       text, l4);
	for (size_t i = 0; i < l->n_ports && !rc; i++) {
		const struct config_port_range *r = &l->ports[i];
		rc = dynbuf_printf(out, "%s%u", i ? ", " : "", (unsigned)r->lo);
		if (!rc && r->hi != r->lo)
			rc = dynbuf_printf(out, "-%u", (unsigned)r->hi);
	}
	if (!rc)
		rc = dynbuf_adds(out, " }");
	if (!rc)
		rc = nft_exclusions(cfg, l, a, udp, out);
	if (rc)
		return rc;
	if (l->redirect != CONFIG_REDIRECT_TPROXY)
		return dynbuf_printf(out, " redirect to :%u\n", (unsigned)self->port);
	/* TPROXY needs the listener's own address of the same family (or none). */
	char to[80] = "";
	if (!wild && self->ipver == a->ipver) {
		char st[64];
		event_addr_str(self, st, sizeof st);
		snprintf(to, sizeof to, self->ipver == 6 ? "[%s]" : "%s", st);
	}
	return dynbuf_printf(out, " tproxy %s to %s:%u meta mark set 0x%x accept\n",
			     a->ipver == 6 ? "ip6" : "ip", to, (unsigned)self->port, ANYPORT_MARK);
}

static int nft_listener(const struct config *cfg, const struct config_listener *l,
			struct dynbuf *out)
{
	struct event_addr self;
	bool wild;
	if (!listener_addr(l, &self, &wild))
		return ERR_INVAL;
	int rc = 0;
	for (int udp = 0; udp < 2 && !rc; udp++) {
		if (!serves(l, udp))
			continue;
		if (udp && l->redirect != CONFIG_REDIRECT_TPROXY) {
			/* A NAT-redirected datagram's original port cannot be read back. */
			rc = dynbuf_adds(out,
					 "\t\t# udp: not redirected (needs redirect: tproxy)\n");
			continue;
		}
		for (size_t s = 0; s < l->n_seized && !rc; s++)
			rc = nft_rule(cfg, l, &self, wild, &l->seized[s], udp, out);
	}
	return rc;
}

int anyport_nft_script(const struct config *cfg, struct dynbuf *out)
{
	bool nat = false, tproxy = false;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		if (!cfg->listeners[i].n_ports)
			continue;
		if (cfg->listeners[i].redirect == CONFIG_REDIRECT_TPROXY)
			tproxy = true;
		else
			nat = true;
	}
	if (!nat && !tproxy)
		return ERR_INVAL;
	int rc = dynbuf_printf(out,
			       "#!/usr/sbin/nft -f\n"
			       "# sinkd any-port capture for %s\n"
			       "# Apply: sinkd firewall print -c FILE | nft -f -   "
			       "(replaces table inet sinkd)\n"
			       "table inet sinkd\n"
			       "delete table inet sinkd\n"
			       "table inet sinkd {\n",
			       cfg->path ? cfg->path : "(config)");
	for (int pass = 0; pass < 2 && !rc; pass++) {
		bool want_tproxy = pass == 1;
		if (want_tproxy ? !tproxy : !nat)
			continue;
		rc = dynbuf_adds(out, want_tproxy ?
					      "\tchain sinkd_tproxy {\n"
					      "\t\ttype filter hook prerouting priority mangle; "
					      "policy accept;\n" :
					      "\tchain sinkd_redirect {\n"
					      "\t\ttype nat hook prerouting priority dstnat; "
					      "policy accept;\n");
		for (size_t i = 0; i < cfg->n_listeners && !rc; i++) {
			const struct config_listener *l = &cfg->listeners[i];
			if (!l->n_ports || (l->redirect == CONFIG_REDIRECT_TPROXY) != want_tproxy)
				continue;
			rc = dynbuf_printf(out, "\t\t# listener %s\n", l->name);
			if (!rc)
				rc = nft_listener(cfg, l, out);
		}
		if (!rc)
			rc = dynbuf_adds(out, "\t}\n");
	}
	if (!rc)
		rc = dynbuf_adds(out, "}\n");
	if (!rc && tproxy)
		rc = dynbuf_printf(out,
				   "# TPROXY also needs marked packets routed to the local host "
				   "(once, as root):\n"
				   "#   ip rule add fwmark 0x%x lookup %d\n"
				   "#   ip route add local 0.0.0.0/0 dev lo table %d\n"
				   "#   ip -6 rule add fwmark 0x%x lookup %d\n"
				   "#   ip -6 route add local ::/0 dev lo table %d\n",
				   ANYPORT_MARK, ANYPORT_TABLE, ANYPORT_TABLE, ANYPORT_MARK,
				   ANYPORT_TABLE, ANYPORT_TABLE);
	return rc ? ERR_NOMEM : 0;
}
