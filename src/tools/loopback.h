/* loopback.h — the load generators' target: "127.x.y.z:PORT" or "[::1]:PORT", nothing else. */
#ifndef SINKD_TOOLS_LOOPBACK_H
#define SINKD_TOOLS_LOOPBACK_H

#include <sys/socket.h>

#include "core/event.h"

/*
 * Parses a target and refuses anything but a loopback address: the load
 * generators exist to exercise our own sinkhole, never anyone else's host.
 * Fills the address and the sockaddr to connect to. Returns 0, ERR_INVAL
 * (not ADDR:PORT; an IPv6 address needs brackets) or ERR_LIMIT (not
 * loopback).
 */
int loopback_target_parse(const char *s, struct event_addr *a, struct sockaddr_storage *sa,
			  socklen_t *salen);

#endif
