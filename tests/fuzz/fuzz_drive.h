/* fuzz_drive.h — one fuzz input as one connection through net/conn_driver, shaped by its control byte. */
#ifndef SINKD_TESTS_FUZZ_DRIVE_H
#define SINKD_TESTS_FUZZ_DRIVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/event.h"
#include "fuzz_events.h"
#include "net/conn_driver.h"

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/*
 * The harness's driver, built on first use from its config (yaml, len):
 * every event must decode and render as EVE (fuzz_events_check), every
 * answer goes to on_output.
 */
static struct conn_driver *fuzz_drive_driver(const char *yaml, size_t len,
					     void (*on_output)(void *, const uint8_t *, size_t))
{
	static struct conn_driver d;
	static struct config *cfg;
	if (!cfg) {
		char err[256];
		FUZZ_CHECK(config_load_string(yaml, len, "fuzz.yaml", &cfg, err, sizeof err) == 0);
		FUZZ_CHECK(conn_driver_init(&d, cfg, fuzz_events_check, NULL, err, sizeof err) ==
			   0);
		d.on_output = on_output;
	}
	return &d;
}

/*
 * How a harness cuts its input into reads: `one` bytes at a time (control
 * mode 1), or 1..`spread` bytes drawn from the control byte (modes 2, 3);
 * mode 0 sends it whole.
 */
struct fuzz_chunking {
	size_t one;
	uint32_t spread;
};

/*
 * Input number `seq` (the clock and the flow id) as a connection on listener
 * li. The control byte: bit 1 picks the client address, bit 2 answered mode,
 * bits 3 and 4 together draining, bits 5-6 the chunking, bit 4 the end (the
 * timer fires rather than the peer closing). The driver's output_arg is set
 * to the connection, so an on_output check can look at it. Returns c,
 * closed (on_close has run, TLS freed): the caller checks what it wants and
 * frees it.
 */
static struct conn *fuzz_drive(struct conn_driver *d, unsigned li, uint8_t ctl, uint64_t seq,
			       const uint8_t *data, size_t size, struct fuzz_chunking ch)
{
	struct event_addr src = { .ipver = 4, .port = 40000 };
	memcpy(src.addr, (ctl & 2) ? "\xc0\x00\x02\x07" : "\xc6\x33\x64\x09", 4);
	struct event_addr dst = d->listeners[li].local;
	d->w.answered = (ctl & 4) != 0;
	d->w.draining = (ctl & 8) != 0 && (ctl & 16) != 0;
	conn_driver_set_time(d, 1764300000000000u + seq * 1000u);

	struct conn *c = calloc(1, sizeof *c);
	FUZZ_CHECK(c != NULL);
	d->output_arg = c;
	conn_driver_open(d, c, li, &src, &dst, seq);
	size_t off = 0;
	uint32_t rnd = ctl * 2654435761u + 1;
	unsigned mode = (ctl >> 5) & 3;
	while (off < size && !conn_driver_done(c)) {
		size_t n = size - off;
		if (mode == 1)
			n = n < ch.one ? n : ch.one;
		else if (mode >= 2) {
			rnd = rnd * 1103515245u + 12345u;
			size_t k = 1 + (rnd >> 16) % ch.spread;
			n = n < k ? n : k;
		}
		size_t taken = conn_driver_input(d, c, data + off, n);
		FUZZ_CHECK(taken <= n);
		off += n;
	}
	if (ctl & 16)
		conn_driver_timeout(d, c);
	else
		conn_driver_eof(d, c);
	conn_driver_close(d, c);
	d->output_arg = NULL;
	return c;
}

#endif
