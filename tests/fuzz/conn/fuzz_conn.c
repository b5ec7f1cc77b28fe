/* fuzz_conn.c — libFuzzer harness: hostile bytes through the HTTP and raw connection modules (PROXY, heads, bodies, captures, hand-over, rules, events, answers). */
#include <dirent.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/recorder.h"
#include "core/rules.h"
#include "net/daemon.h"
#include "net/listener.h"
#include "net/worker.h"
#include "proto/http/http_conn.h"
#include "proto/raw/raw_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

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

struct fuzz_state {
	struct config *cfg;
	struct ruleset rs;
	struct recorder *rec;
	struct listener l[3];
	struct worker w;
	char dir[64];
	uint64_t inputs;
};

static struct fuzz_state fuzz_st;

/* Stop the writer thread before the process tears down (libFuzzer ends with exit()). */
static void fuzz_teardown(void)
{
	recorder_stop(fuzz_st.rec);
	fuzz_st.rec = NULL;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_st.dir);
	if (system(cmd) != 0)
		return;
}

static struct fuzz_state *fuzz_setup(void)
{
	static bool ready;
	if (ready)
		return &fuzz_st;
	char err[256];
	FUZZ_CHECK(config_load_string(fuzz_config, sizeof fuzz_config - 1, "fuzz.yaml",
				      &fuzz_st.cfg, err, sizeof err) == 0);
	fuzz_st.rs.cfg = fuzz_st.cfg;
	FUZZ_CHECK(rules_compile_slots(fuzz_st.cfg, 1, &fuzz_st.rs.rules, err, sizeof err) == 0);
	FUZZ_CHECK(http_answers_build(fuzz_st.cfg, &fuzz_st.rs.http, err, sizeof err) == 0);
	snprintf(fuzz_st.dir, sizeof fuzz_st.dir, "/tmp/sinkd-fuzz-conn-%ld", (long)getpid());
	struct recorder_opts ro = {
		.log_dir = fuzz_st.dir,
		.sensor_id = "fuzz",
		.segment_bytes = 1u << 20,
		.ring_bytes = 8u << 20,
		.lanes = 1,
		.fsync = CONFIG_FSYNC_NONE,
	};
	/*
	 * atexit handlers run last-registered first: initialise OpenSSL (which
	 * registers its own clean-up) before ours, so the writer thread is
	 * stopped before OpenSSL is torn down under it.
	 */
	FUZZ_CHECK(OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1);
	FUZZ_CHECK(recorder_start(&fuzz_st.rec, &ro, NULL) == 0);
	atexit(fuzz_teardown);
	for (unsigned i = 0; i < 3; i++) {
		fuzz_st.l[i].cfg = &fuzz_st.cfg->listeners[i];
		fuzz_st.l[i].index = i;
		fuzz_st.l[i].ops = i == 2 ? &raw_proto_ops : &http_proto_ops;
		fuzz_st.l[i].local.ipver = 4;
		memcpy(fuzz_st.l[i].local.addr, "\x7f\x00\x00\x01", 4);
		fuzz_st.l[i].local.port = (uint16_t)(18001 + i);
	}
	struct worker *w = &fuzz_st.w;
	w->lane = recorder_lane(fuzz_st.rec, 0);
	w->rules = &fuzz_st.rs;
	w->listeners = fuzz_st.l;
	w->n_listeners = 3;
	w->timers = calloc(3 * CONN_TIMER_KINDS, sizeof *w->timers);
	w->evbuf = malloc(EVENT_MAX_LEN);
	w->stage_cap = 64u * 1024;
	w->stage = malloc(w->stage_cap);
	FUZZ_CHECK(w->timers && w->evbuf && w->stage);
	ready = true;
	return &fuzz_st;
}

/* The writer keeps appending: drop old segments now and then so a long campaign stays small. */
static void fuzz_trim_log(struct fuzz_state *st)
{
	DIR *d = opendir(st->dir);
	if (!d)
		return;
	char newest[256] = "";
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".seg") && strcmp(e->d_name, newest) > 0)
			snprintf(newest, sizeof newest, "%s", e->d_name);
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (!strstr(e->d_name, ".seg") || !strcmp(e->d_name, newest))
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/%s", st->dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* What the worker does with staged answers: check they are HTTP answers, then "send" them. */
static void fuzz_flush(struct worker *w)
{
	if (w->stage_len)
		FUZZ_CHECK(w->stage_len >= 12 && !memcmp(w->stage, "HTTP/1.", 7));
	w->stage_len = 0;
	w->stage_conn = NULL;
}

/* What the worker's conn_feed does: offer the bytes, and again to the new module after a hand-over. */
static size_t fuzz_input(struct conn *c, const uint8_t *buf, size_t held, bool eof)
{
	const struct proto_ops *ops = c->ops;
	size_t used = ops->on_input(c, buf, held, eof);
	if (c->ops != ops && !c->closed) {
		FUZZ_CHECK(used == 0 && c->ops == &http_proto_ops);
		used = c->ops->on_input(c, buf, held, eof);
	}
	FUZZ_CHECK(used <= held);
	return used;
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
		fuzz_trim_log(st);

	struct conn *c = calloc(1, sizeof *c);
	FUZZ_CHECK(c != NULL);
	c->w = w;
	/* The top bit picks the raw listener (captures, and HTTP handed over from it). */
	c->l = &st->l[(ctl & 128) ? 2 : (ctl & 1)];
	c->ops = c->l->ops;
	c->fd = -1;
	c->peer.ipver = 4;
	memcpy(c->peer.addr, (ctl & 2) ? "\xc0\x00\x02\x07" : "\xc6\x33\x64\x09", 4);
	c->peer.port = 40000;
	c->src = c->peer;
	c->dst = c->l->local;
	c->flow_id = st->inputs;
	w->answered = (ctl & 4) != 0;
	w->draining = (ctl & 8) != 0 && (ctl & 16) != 0;
	c->ops->on_open(c);
	conn_set_timer(c, CONN_TIMER_REQUEST);

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
		size_t used = fuzz_input(c, buf, held, false);
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
			c->ops->on_timeout(c);
			c->in = NULL;
		} else {
			c->eof = true;
			fuzz_input(c, buf, held, true);
		}
		fuzz_flush(w);
	}
	if (c->ops->on_close)
		c->ops->on_close(c);
	free(c->out); /* answers that had to wait, had there been any */
	/* The driver owns one connection at a time: reset the timer lists instead of unlinking. */
	memset(w->timers, 0, 3 * CONN_TIMER_KINDS * sizeof *w->timers);
	free(buf);
	free(c);
	return 0;
}
