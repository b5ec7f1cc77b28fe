/* eve.h — render one binary event record as a Suricata-style EVE JSON line. */
#ifndef SINKD_REPORT_EVE_H
#define SINKD_REPORT_EVE_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"

/*
 * Appends one JSON object and a '\n' to out. Field names follow Suricata's
 * EVE (timestamp, flow_id, event_type, src_ip, src_port, dest_ip, dest_port,
 * proto, app_proto, and an object named after the event type), plus a
 * "sinkhole" object for our own fields (family, tag, sensor, listener, flags).
 * `sensor_id` may be NULL. Returns 0, ERR_CORRUPT (record does not decode),
 * ERR_UNSUPPORTED (a record format version this build does not know) or
 * ERR_NOMEM (out's maximum reached; out is left as it was). Keys and types:
 * docs/eve.md.
 */
int eve_format(const uint8_t *rec, size_t len, const char *sensor_id, struct dynbuf *out);

#endif
