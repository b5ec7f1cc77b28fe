/* fuzz_conn.c — libFuzzer harness: hostile bytes through the HTTP and raw connection modules (PROXY, heads, bodies, captures, hand-over, rules, events, answers). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz_drive.h"
#include "net/conn_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

static bool fuzz_raw; /* this input is on the raw listener: its answers are not HTTP */

static void fuzz_answer(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	FUZZ_CHECK(fuzz_raw || (len >= 12 && !memcmp(data, "HTTP/1.", 7)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t inputs;
	struct conn_driver *d = fuzz_drive_driver(fuzz_config, sizeof fuzz_config - 1, fuzz_answer);
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	/* The top bit picks the raw listener (captures, and HTTP handed over from it). */
	unsigned li = (ctl & 128) ? 2 : (ctl & 1);
	fuzz_raw = li == 2;
	free(fuzz_drive(d, li, ctl, ++inputs, data + 1, size - 1, (struct fuzz_chunking){ 1, 97 }));
	return 0;
}
