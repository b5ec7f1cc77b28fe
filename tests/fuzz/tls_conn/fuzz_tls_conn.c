/* fuzz_tls_conn.c — libFuzzer harness: hostile bytes through a `proto: tls` connection (PROXY, hello read-ahead, OpenSSL, events, HTTP inside). */
#include <dirent.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
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
#include "proto/tls/tls_conn.h"
#include "proto/tls/tls_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * As fuzz_conn.c, the worker loop is replaced by a driver doing what
 * conn_feed does for one connection: bytes go to the TLS layer once it is
 * started, to the listener's protocol before (the PROXY header). Events go
 * through a real recorder into a real log.
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

static struct fuzz_state fuzz_st;

static struct fuzz_state *fuzz_setup(void)
{
	static bool ready;
	if (ready)
		return &fuzz_st;
	fuzz_ruleset_load(&fuzz_st, fuzz_config, sizeof fuzz_config - 1);
	struct recorder *rec = fuzz_recorder_start("sinkd-fuzz-tls");
	fuzz_worker_init(&fuzz_st.w, rec, &fuzz_st.rs, fuzz_st.l, 2, &tls_http_proto_ops, 18443);
	char err[256];
	for (unsigned i = 0; i < 2; i++)
		FUZZ_CHECK(tls_server_new(fuzz_st.l[i].cfg, &fuzz_st.l[i].tls, err, sizeof err) ==
			   0);
	ready = true;
	return &fuzz_st;
}

/* Everything a TLS listener sends is TLS records (handshake, alert, application data). */
static void fuzz_flush(struct worker *w, struct conn *c)
{
	if (w->stage_len)
		FUZZ_CHECK(w->stage[0] >= 0x14 && w->stage[0] <= 0x17);
	if (c->out_len)
		FUZZ_CHECK(c->out[0] >= 0x14 && c->out[0] <= 0x17);
	w->stage_len = 0;
	w->stage_conn = NULL;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
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

	size_t cap = 4096 + size;
	uint8_t *buf = malloc(cap + 1);
	FUZZ_CHECK(buf != NULL);
	size_t held = 0, off = 0;
	uint32_t rnd = ctl * 2654435761u + 1;
	unsigned mode = (ctl >> 5) & 3;
	while (off < size && !c->closed && !c->close_after_flush) {
		size_t n = size - off;
		if (mode == 1)
			n = n < 7 ? n : 7;
		else if (mode >= 2) {
			rnd = rnd * 1103515245u + 12345u;
			size_t k = 1 + (rnd >> 16) % 301;
			n = n < k ? n : k;
		}
		memcpy(buf + held, data + off, n);
		held += n;
		off += n;
		size_t used = fuzz_conn_feed(c, buf, held, false);
		FUZZ_CHECK(used <= held);
		if (c->closed)
			used = held;
		memmove(buf, buf + used, held - used);
		held -= used;
		fuzz_flush(w, c);
	}
	if (!c->closed && !c->close_after_flush) {
		if (ctl & 16) {
			if (!(c->tls && tls_conn_timeout(c)))
				c->ops->on_timeout(c);
		} else {
			c->eof = true;
			fuzz_conn_feed(c, buf, held, true);
		}
		fuzz_flush(w, c);
	}
	c->ops->on_close(c);
	tls_conn_free(c);
	memset(w->timers, 0, 2 * CONN_TIMER_KINDS * sizeof *w->timers);
	free(buf);
	free(c);
	return 0;
}
