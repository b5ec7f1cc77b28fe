/* loopback.c — parse a load generator's target and insist that it is a loopback address. */
#include "tools/loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int loopback_target_parse(const char *s, struct event_addr *a, struct sockaddr_storage *sa,
			  socklen_t *salen)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *hs = s;
	size_t hlen;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return ERR_INVAL;
		hs = s + 1;
		hlen = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return ERR_INVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof host)
		return ERR_INVAL;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	const char *ps = colon + 1;
	char *end;
	errno = 0;
	unsigned long port = strtoul(ps, &end, 10);
	if (*ps < '0' || *ps > '9' || errno || *end || port == 0 || port > 65535)
		return ERR_INVAL;
	if (event_addr_parse(host, a))
		return ERR_INVAL;
	a->port = (uint16_t)port;
	if (*s != '[' && a->ipver == 6)
		return ERR_INVAL; /* IPv6 needs brackets */
	memset(sa, 0, sizeof *sa);
	if (a->ipver == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		if (a->addr[0] != 127)
			return ERR_LIMIT;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->addr, 4);
		*salen = sizeof *sin;
	} else {
		static const uint8_t loop6[16] = { [15] = 1 };
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
		if (memcmp(a->addr, loop6, 16))
			return ERR_LIMIT;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->addr, 16);
		*salen = sizeof *sin6;
	}
	return 0;
}
