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

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

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

struct fuzz_state {
	struct config *cfg;
	struct ruleset rs;
	struct recorder *rec;
	struct listener l[2];
	struct worker w;
	char dir[64];
	uint64_t inputs;
};

static struct fuzz_state fuzz_st;

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
	snprintf(fuzz_st.dir, sizeof fuzz_st.dir, "/tmp/sinkd-fuzz-tls-%ld", (long)getpid());
	struct recorder_opts ro = {
		.log_dir = fuzz_st.dir,
		.sensor_id = "fuzz",
		.segment_bytes = 1u << 20,
		.ring_bytes = 8u << 20,
		.lanes = 1,
		.fsync = CONFIG_FSYNC_NONE,
	};
	/* OpenSSL first, so its clean-up runs after the writer thread has stopped. */
	FUZZ_CHECK(OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1);
	FUZZ_CHECK(recorder_start(&fuzz_st.rec, &ro, NULL) == 0);
	atexit(fuzz_teardown);
	for (unsigned i = 0; i < 2; i++) {
		struct listener *l = &fuzz_st.l[i];
		l->cfg = &fuzz_st.cfg->listeners[i];
		l->index = i;
		l->ops = &tls_http_proto_ops;
		l->local.ipver = 4;
		memcpy(l->local.addr, "\x7f\x00\x00\x01", 4);
		l->local.port = (uint16_t)(18443 + i);
		FUZZ_CHECK(tls_server_new(l->cfg, &l->tls, err, sizeof err) == 0);
	}
	struct worker *w = &fuzz_st.w;
	w->lane = recorder_lane(fuzz_st.rec, 0);
	w->rules = &fuzz_st.rs;
	w->listeners = fuzz_st.l;
	w->n_listeners = 2;
	w->timers = calloc(2 * CONN_TIMER_KINDS, sizeof *w->timers);
	w->evbuf = malloc(EVENT_MAX_LEN);
	w->stage_cap = 64u * 1024;
	w->stage = malloc(w->stage_cap);
	FUZZ_CHECK(w->timers && w->evbuf && w->stage);
	ready = true;
	return &fuzz_st;
}

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

/* conn_feed: the TLS layer once started, the protocol before it; returns bytes consumed. */
static size_t fuzz_feed(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	if (c->tls)
		return tls_conn_input(c, buf, len, eof);
	size_t used = c->l->ops->on_input(c, buf, len, eof);
	FUZZ_CHECK(used <= len);
	if (c->tls && used < len && !c->closed)
		used += tls_conn_input(c, buf + used, len - used, eof);
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
	c->l = &st->l[ctl & 1];
	c->fd = -1;
	c->peer.ipver = 4;
	memcpy(c->peer.addr, "\xc6\x33\x64\x09", 4);
	c->peer.port = 40000;
	c->src = c->peer;
	c->dst = c->l->local;
	c->flow_id = st->inputs;
	w->answered = (ctl & 4) != 0;
	c->l->ops->on_open(c);
	conn_set_timer(c, CONN_TIMER_REQUEST);

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
		size_t used = fuzz_feed(c, buf, held, false);
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
				c->l->ops->on_timeout(c);
		} else {
			c->eof = true;
			fuzz_feed(c, buf, held, true);
		}
		fuzz_flush(w, c);
	}
	c->l->ops->on_close(c);
	tls_conn_free(c);
	memset(w->timers, 0, 2 * CONN_TIMER_KINDS * sizeof *w->timers);
	free(buf);
	free(c);
	return 0;
}
