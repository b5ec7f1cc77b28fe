/* payload_match.h — rule conditions on the first bytes of a raw capture (match.payload). */
#ifndef SINKD_CORE_PAYLOAD_MATCH_H
#define SINKD_CORE_PAYLOAD_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* What a protocol module saw: the captured prefix, how much arrived in all, its entropy. */
struct payload_input {
	const uint8_t *data; /* captured bytes; NULL = this input has no payload */
	size_t len;	     /* captured bytes */
	uint64_t total;	     /* bytes received (may exceed len) */
	uint16_t entropy;    /* Shannon entropy of data, millibits per byte */
};

/*
 * True if every condition of `m` holds for `in`. A condition on bytes beyond
 * what was captured does not hold. Reads only in->data[0 .. len).
 */
bool payload_match(const struct config_payload *m, const struct payload_input *in);

#endif
