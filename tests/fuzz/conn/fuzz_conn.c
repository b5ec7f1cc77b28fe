/* fuzz_conn.c — libFuzzer harness: hostile bytes through the whole HTTP connection module (PROXY, heads, bodies, rules, events, answers). */
#include <dirent.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conn_driver.h"
#include "core/config.h"
#include "core/recorder.h"
#include "core/rules.h"
#include "net/daemon.h"
#include "net/listener.h"
#include "net/worker.h"
#include "proto/http/http_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The worker loop is replaced by a small driver that does what it does for
 * one connection: feed bytes in chunks, keep what the protocol did not
 * consume (up to the same cap), "send" staged answers, and at the end deliver
 * end-of-stream or a timeout. The events go through a real recorder into a
 * real log, so event encoding is exercised too.
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
	"families:\n"
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

static struct fuzz_state fuzz_st;

static struct fuzz_state *fuzz_setup(void)
{
	static bool ready;
	if (ready)
		return &fuzz_st;
	fuzz_ruleset_load(&fuzz_st, fuzz_config, sizeof fuzz_config - 1);
	struct recorder *rec = fuzz_recorder_start("sinkd-fuzz-conn");
	fuzz_worker_init(&fuzz_st.w, rec, &fuzz_st.rs, fuzz_st.l, 2, &http_proto_ops, 18001);
	ready = true;
	return &fuzz_st;
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
	struct fuzz_state *st = fuzz_setup();
	struct worker *w = &st->w;
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	if (++st->inputs % 4096 == 0)
		fuzz_trim_log();

	struct conn *c = fuzz_conn_open(st, ctl);

	/* Chunk sizes from the control byte: whole, 1 byte at a time, or varied. */
	size_t cap = (size_t)c->l->cfg->http.max_header_bytes + 16 + 2048;
	uint8_t *buf = malloc(cap + size + 1);
	FUZZ_CHECK(buf != NULL);
	size_t held = 0, off = 0;
	uint32_t rnd = ctl * 2654435761u + 1;
	unsigned mode = (ctl >> 5) & 3;
	while (off < size && !c->closed && !c->close_after_flush) {
		size_t n = size - off;
		if (mode == 1)
			n = 1;
		else if (mode >= 2) {
			rnd = rnd * 1103515245u + 12345u;
			size_t k = 1 + (rnd >> 16) % 97;
			n = n < k ? n : k;
		}
		/* The worker never holds more than its cap: a full buffer is a protocol limit. */
		if (held + n > cap)
			n = cap > held ? cap - held : 0;
		if (n == 0)
			break;
		memcpy(buf + held, data + off, n);
		held += n;
		off += n;
		size_t used = c->l->ops->on_input(c, buf, held, false);
		FUZZ_CHECK(used <= held);
		if (c->closed)
			used = held;
		memmove(buf, buf + used, held - used);
		held -= used;
		fuzz_flush(w);
	}
	/* The end: the peer closes, or (odd control bytes) the timer fires first. */
	if (!c->closed && !c->close_after_flush) {
		if (ctl & 16) {
			c->in = buf;
			c->in_len = (uint32_t)held;
			c->l->ops->on_timeout(c);
			c->in = NULL;
		} else {
			c->eof = true;
			size_t used = c->l->ops->on_input(c, buf, held, true);
			FUZZ_CHECK(used <= held);
		}
		fuzz_flush(w);
	}
	c->l->ops->on_close(c);
	free(c->out); /* answers that had to wait, had there been any */
	/* The driver owns one connection at a time: reset the timer lists instead of unlinking. */
	memset(w->timers, 0, 2 * CONN_TIMER_KINDS * sizeof *w->timers);
	free(buf);
	free(c);
	return 0;
}
