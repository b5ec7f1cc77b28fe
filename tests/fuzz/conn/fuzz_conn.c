/* fuzz_conn.c — libFuzzer harness: hostile bytes through the HTTP and raw connection modules (PROXY, heads, bodies, captures, hand-over, rules, events, answers). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../conn_driver.h"
#include "proto/http/http_conn.h"
#include "proto/raw/raw_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The worker's part is tests/fuzz/conn_driver.c. Listeners: two HTTP (plain,
 * PROXY) and a raw one (control byte bit 7), whose HTTP streams are handed
 * over to the HTTP module.
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

static struct fuzz_env fuzz_env;

static struct fuzz_env *fuzz_setup(void)
{
	static bool ready;
	if (!ready) {
		static const struct proto_ops *const ops[] = { &http_proto_ops, &http_proto_ops,
							       &raw_proto_ops };
		fuzz_env_setup(&fuzz_env, fuzz_config, sizeof fuzz_config - 1, ops, 3, "conn");
		FUZZ_CHECK(http_answers_build(fuzz_env.cfg, &fuzz_env.rs.http, NULL, 0) == 0);
		ready = true;
	}
	return &fuzz_env;
}

/* What the worker does with staged answers: check they are HTTP answers, then "send" them. */
static void fuzz_flush(struct worker *w)
{
	if (w->stage_len)
		FUZZ_CHECK(w->stage_len >= 12 && !memcmp(w->stage, "HTTP/1.", 7));
	w->stage_len = 0;
	w->stage_conn = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_env *e = fuzz_setup();
	if (size < 1)
		return 0;
	fuzz_env_conn(e, data[0], data + 1, size - 1, fuzz_flush);
	return 0;
}
