/* fuzz_tls_conn.c — libFuzzer harness: hostile bytes through a `proto: tls` connection (PROXY, hello read-ahead, OpenSSL, events, HTTP inside). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../fuzz_drive.h"
#include "net/conn_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * As fuzz_conn.c, one connection per input through net/conn_driver (the
 * worker's duties without a socket): bytes go to the TLS layer once it is
 * started, to the listener's protocol before (the PROXY header). Every event
 * must decode and render as EVE.
 */
static const char fuzz_config[] =
	"sensor: { id: fuzz }\n"
	"log: { dir: /tmp/unused, fsync: none }\n"
	"listen:\n"
	"  - { proto: tls, addr: \"127.0.0.1:18443\", name: tls,\n"
	"      limits: { max_header_bytes: 1024, max_body_bytes: 4096, body_store_bytes: 64 } }\n"
	"  - { proto: tls, addr: \"127.0.0.1:18444\", name: tlsproxied, proxy_protocol: true,\n"
	"      tls: { min_version: \"1.2\", session_tickets: false } }\n"
	"families:\n"
	"  - name: bysni\n"
	"    match: { sni: { suffix: [ example.com, \".seized.test\" ] } }\n"
	"  - name: byja3\n"
	"    match: { proto: tls, ja3: { regex: \"^[0-7]\" } }\n"
	"default_answer: { status: 404 }\n";

/* Everything a TLS listener sends is TLS records (handshake, alert, application data). */
static void fuzz_answer(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	FUZZ_CHECK(len > 0 && data[0] >= 0x14 && data[0] <= 0x17);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t inputs;
	struct conn_driver *d = fuzz_drive_driver(fuzz_config, sizeof fuzz_config - 1, fuzz_answer);
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	free(fuzz_drive(d, ctl & 1, ctl, ++inputs, data + 1, size - 1,
			(struct fuzz_chunking){ 7, 301 }));
	return 0;
}
