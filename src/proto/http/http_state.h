/* http_state.h — per-connection HTTP state, embedded in struct conn (no allocation while idle). */
#ifndef SINKD_PROTO_HTTP_STATE_H
#define SINKD_PROTO_HTTP_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum http_phase {
	HTTP_PHASE_PROXY = 0, /* waiting for the PROXY header (listeners with proxy_protocol) */
	HTTP_PHASE_HEAD,      /* waiting for a request head */
	HTTP_PHASE_BODY,      /* head done, body still arriving: see pending */
};

struct http_pending; /* heap, only while a body spans reads */

struct http_state {
	uint8_t phase;
	bool in_request; /* bytes of the current request have arrived */
	struct http_pending *pending;
};

#endif
