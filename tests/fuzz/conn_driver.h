/* conn_driver.h — what the connection-level fuzz harnesses share: a real recorder into a temp log, kept small. */
#ifndef SINKD_TESTS_FUZZ_CONN_DRIVER_H
#define SINKD_TESTS_FUZZ_CONN_DRIVER_H

#include <dirent.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/recorder.h"
#include "net/daemon.h"
#include "net/listener.h"
#include "net/worker.h"
#include "proto/http/http_conn.h"
#include "proto/tls/tls_conn.h"

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static struct recorder *fuzz_rec;
static char fuzz_dir[64];

/* Stop the writer thread before the process tears down (libFuzzer ends with exit()). */
static inline void fuzz_recorder_teardown(void)
{
	recorder_stop(fuzz_rec);
	fuzz_rec = NULL;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
	if (system(cmd) != 0)
		return;
}

/*
 * Starts a recorder with one lane in /tmp/<name>-<pid>. OpenSSL is
 * initialised first: atexit handlers run last-registered first, so the
 * writer thread is stopped before OpenSSL is torn down under it.
 */
static inline struct recorder *fuzz_recorder_start(const char *name)
{
	snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/%s-%ld", name, (long)getpid());
	struct recorder_opts ro = {
		.log_dir = fuzz_dir,
		.sensor_id = "fuzz",
		.segment_bytes = 1u << 20,
		.ring_bytes = 8u << 20,
		.lanes = 1,
		.fsync = CONFIG_FSYNC_NONE,
	};
	FUZZ_CHECK(OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1);
	FUZZ_CHECK(recorder_start(&fuzz_rec, &ro, NULL) == 0);
	atexit(fuzz_recorder_teardown);
	return fuzz_rec;
}

/* One connection-level harness: its config and rules, two listeners, one worker. */
struct fuzz_state {
	struct config *cfg;
	struct ruleset rs;
	struct listener l[2];
	struct worker w;
	uint64_t inputs;
};

/* Loads the harness's config and compiles what a rule set holds (rules, HTTP answers). */
static inline void fuzz_ruleset_load(struct fuzz_state *st, const char *yaml, size_t len)
{
	char err[256];
	FUZZ_CHECK(config_load_string(yaml, len, "fuzz.yaml", &st->cfg, err, sizeof err) == 0);
	st->rs.cfg = st->cfg;
	FUZZ_CHECK(rules_compile_slots(st->cfg, 1, &st->rs.rules, err, sizeof err) == 0);
	FUZZ_CHECK(http_answers_build(st->cfg, &st->rs.http, err, sizeof err) == 0);
}

/*
 * A worker for the driver: its lane, rule set, listeners (each on 127.0.0.1,
 * ports base, base + 1, ...), timer lists and buffers, but no thread and no
 * epoll. The harness hands it one connection at a time.
 */
static inline void fuzz_worker_init(struct worker *w, struct recorder *rec,
				    const struct ruleset *rs, struct listener *l, unsigned n,
				    const struct proto_ops *ops, uint16_t base)
{
	for (unsigned i = 0; i < n; i++) {
		l[i].cfg = &rs->cfg->listeners[i];
		l[i].index = i;
		l[i].ops = ops;
		l[i].local.ipver = 4;
		memcpy(l[i].local.addr, "\x7f\x00\x00\x01", 4);
		l[i].local.port = (uint16_t)(base + i);
	}
	w->lane = recorder_lane(rec, 0);
	w->rules = rs;
	w->listeners = l;
	w->n_listeners = n;
	w->timers = calloc((size_t)n * CONN_TIMER_KINDS, sizeof *w->timers);
	w->evbuf = malloc(EVENT_MAX_LEN);
	w->stage_cap = 64u * 1024;
	w->stage = malloc(w->stage_cap);
	FUZZ_CHECK(w->timers && w->evbuf && w->stage);
}

/*
 * One connection from a peer (address chosen by ctl bit 1) to listener
 * ctl & 1, opened as accept would: protocol on_open, request timer armed.
 */
static inline struct conn *fuzz_conn_open(struct fuzz_state *st, uint8_t ctl)
{
	struct conn *c = calloc(1, sizeof *c);
	FUZZ_CHECK(c != NULL);
	c->w = &st->w;
	c->l = &st->l[ctl & 1];
	c->fd = -1;
	c->peer.ipver = 4;
	memcpy(c->peer.addr, (ctl & 2) ? "\xc0\x00\x02\x07" : "\xc6\x33\x64\x09", 4);
	c->peer.port = 40000;
	c->src = c->peer;
	c->dst = c->l->local;
	c->flow_id = st->inputs;
	st->w.answered = (ctl & 4) != 0;
	st->w.draining = (ctl & 8) != 0 && (ctl & 16) != 0;
	c->ops = c->l->ops;
	if (c->ops->on_open)
		c->ops->on_open(c);
	conn_set_timer(c, CONN_TIMER_REQUEST);
	return c;
}

/*
 * What the worker's conn_feed does (its own conn_offer): bytes go to the TLS
 * layer once it is started, to the protocol before it, and the rest of a read
 * in which the protocol started TLS goes to TLS. Returns the bytes consumed.
 */
static inline size_t fuzz_conn_feed(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	if (eof)
		c->eof = true;
	size_t used = conn_offer(c, buf, len);
	FUZZ_CHECK(c->closed || used <= len);
	return used;
}

/* The writer keeps appending: drop old segments now and then so a long campaign stays small. */
static inline void fuzz_trim_log(void)
{
	DIR *d = opendir(fuzz_dir);
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
		snprintf(path, sizeof path, "%s/%s", fuzz_dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

#endif
