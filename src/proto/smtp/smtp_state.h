/* smtp_state.h — per-connection SMTP state, embedded in struct conn (the session itself is on the heap). */
#ifndef SINKD_PROTO_SMTP_STATE_H
#define SINKD_PROTO_SMTP_STATE_H

#include <stdint.h>

struct smtp_session;

struct smtp_state {
	uint8_t phase;		/* enum smtp_phase in smtp_conn.c */
	struct smtp_session *s; /* from on_open to on_close */
};

#endif
