/* fuzz_events.h — an event sink for harnesses that drive modules: every event must decode and render as EVE. */
#ifndef SINKD_TESTS_FUZZ_EVENTS_H
#define SINKD_TESTS_FUZZ_EVENTS_H

#include <stdint.h>
#include <stdlib.h>

#include "core/dynbuf.h"
#include "core/event.h"
#include "report/eve.h"

static struct dynbuf fuzz_events_line;

/* A conn_driver_sink: aborts (a finding) on an event the log's readers could not handle. */
static int fuzz_events_check(void *arg, const uint8_t *rec, size_t len)
{
	struct event_view v;
	(void)arg;
	if (!fuzz_events_line.max)
		dynbuf_init(&fuzz_events_line, 4u * EVENT_MAX_LEN);
	if (event_decode(rec, len, &v) != 0)
		abort();
	dynbuf_reset(&fuzz_events_line);
	if (eve_format(rec, len, "fuzz", &fuzz_events_line) != 0)
		abort();
	return 0;
}

#endif
