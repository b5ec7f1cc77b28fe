/* fuzz_conn.c — libFuzzer harness: hostile bytes through the HTTP and raw connection modules (PROXY, heads, bodies, captures, hand-over, rules, events, answers). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/event.h"
#include "../fuzz_events.h"
#include "net/conn_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/*
 * One connection per input, through net/conn_driver (the worker's duties
 * without a socket): bytes in chunks chosen by the control byte, then
 * end-of-stream or the timer. Every event must decode and render as EVE;
 * every answer must be an HTTP answer.
 */
static const char fuzz_config[] =
	"sensor: { id: fuzz }\n"
	"log: { dir: /tmp/unused, fsync: none }\n"
	"listen:\n"
	"  - { proto: http, addr: \"127.0.0.1:18001\", name: plain,\n"
	"      trusted_proxies: [ \"192.0.2.0/24\", \"10.0.0.0/8\" ],\n"
	"      limits: { max_header_bytes: 1024, max_headers: 16, max_body_bytes: 4096,\n"
	"                body_store_bytes: 64, max_requests_per_conn: 8 } }\n"
	"  - { proto: http, addr: \"127.0.0.1:18002\", name: proxied, proxy_protocol: true,\n"
	"      limits: { max_header_bytes: 2048, body_store_bytes: 16 } }\n"
	"  - { proto: raw, addr: \"127.0.0.1:18003\", name: raw, raw: { capture_bytes: 64 } }\n"
	"families:\n"
	"  - name: rawfam\n"
	"    match: { proto: raw, payload: { prefix: \"hex:c0de\", at: { offset: 4, bytes: x },\n"
	"             len: [ 5, 60 ], entropy: [ 1, 6.5 ] }, dst_port: \"18000-18010\" }\n"
	"  - name: login\n"
	"    match: { method: POST, path: /login.php, body_len: [1, 96],\n"
	"             host: { suffix: [ example.com, \".seized.test\" ] } }\n"
	"    answer: { status: 404 }\n"
	"  - name: regex\n"
	"    match: { uri: { regex: \"^/f[0-9]+\\\\.php\\\\?\" }, user_agent: { contains: MSIE, nocase: true } }\n"
	"    answer: { status: 200, headers: { Server: nginx }, body: \"ok\" }\n"
	"  - name: prefix\n"
	"    match: { body_prefix: \"hex:00ff\", listener: proxied, dst_port: [ 80, 18002 ] }\n"
	"default_answer: { status: 404 }\n";

static struct conn_driver fuzz_drv;
static struct config *fuzz_cfg;
static bool fuzz_raw; /* this input is on the raw listener: its answers are not HTTP */

static void fuzz_answer(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	FUZZ_CHECK(fuzz_raw || (len >= 12 && !memcmp(data, "HTTP/1.", 7)));
}

static void fuzz_setup(void)
{
	char err[256];
	FUZZ_CHECK(config_load_string(fuzz_config, sizeof fuzz_config - 1, "fuzz.yaml", &fuzz_cfg,
				      err, sizeof err) == 0);
	FUZZ_CHECK(conn_driver_init(&fuzz_drv, fuzz_cfg, fuzz_events_check, NULL, err,
				    sizeof err) == 0);
	fuzz_drv.on_output = fuzz_answer;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t inputs;
	if (!fuzz_cfg)
		fuzz_setup();
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	inputs++;

	struct conn_driver *d = &fuzz_drv;
	struct event_addr src = { .ipver = 4, .port = 40000 };
	memcpy(src.addr, (ctl & 2) ? "\xc0\x00\x02\x07" : "\xc6\x33\x64\x09", 4);
	/* The top bit picks the raw listener (captures, and HTTP handed over from it). */
	unsigned li = (ctl & 128) ? 2 : (ctl & 1);
	fuzz_raw = li == 2;
	struct event_addr dst = d->listeners[li].local;
	d->w.answered = (ctl & 4) != 0;
	d->w.draining = (ctl & 8) != 0 && (ctl & 16) != 0;
	conn_driver_set_time(d, 1764300000000000u + inputs * 1000u);

	struct conn *c = calloc(1, sizeof *c);
	FUZZ_CHECK(c != NULL);
	conn_driver_open(d, c, li, &src, &dst, inputs);
	/* Chunk sizes from the control byte: whole, 1 byte at a time, or varied. */
	size_t off = 0;
	uint32_t rnd = ctl * 2654435761u + 1;
	unsigned mode = (ctl >> 5) & 3;
	while (off < size && !conn_driver_done(c)) {
		size_t n = size - off;
		if (mode == 1)
			n = 1;
		else if (mode >= 2) {
			rnd = rnd * 1103515245u + 12345u;
			size_t k = 1 + (rnd >> 16) % 97;
			n = n < k ? n : k;
		}
		size_t taken = conn_driver_input(d, c, data + off, n);
		FUZZ_CHECK(taken <= n);
		off += n;
	}
	/* The end: the peer closes, or (odd control bytes) the timer fires first. */
	if (ctl & 16)
		conn_driver_timeout(d, c);
	else
		conn_driver_eof(d, c);
	conn_driver_close(d, c);
	free(c);
	return 0;
}
