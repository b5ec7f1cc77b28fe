/* raw_state.h — per-connection state of a raw capture, embedded in struct conn. */
#ifndef SINKD_PROTO_RAW_STATE_H
#define SINKD_PROTO_RAW_STATE_H

#include <stdbool.h>

struct raw_state {
	bool recorded; /* the connection's one event is written */
};

#endif
