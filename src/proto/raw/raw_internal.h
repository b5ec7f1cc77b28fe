/* raw_internal.h — what the raw TCP and UDP capture modules share: classifying a capture into its event. */
#ifndef SINKD_PROTO_RAW_INTERNAL_H
#define SINKD_PROTO_RAW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/rules.h"

/* One capture: the first bytes kept, how many came in all, where it was sent. */
struct raw_capture {
	const uint8_t *data; /* may be NULL when keep is 0 */
	size_t keep;	     /* captured bytes (<= raw.capture_bytes) */
	uint64_t total;	     /* bytes received (connection) or datagram size */
	bool datagram;	     /* guess DNS without the TCP length prefix */
	const char *listener;
	uint16_t dst_port;
	unsigned slot; /* the worker's id, for the rules' regex copies */
};

/*
 * Guesses, measures entropy, classifies with `rules` and appends the
 * capture's fields to the event being built: family, tag, rule, `reason`
 * (may be NULL), the captured bytes, length, entropy and guess.
 */
void raw__put_capture(struct event_builder *b, const struct rules *rules,
		      const struct raw_capture *cap, const char *reason);

#endif
