/* fuzz_smtp_conn.c — libFuzzer harness: hostile bytes through the whole SMTP module (PROXY, dialogue, DATA, rules, campaigns, events, replies). */
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
#include "proto/smtp/smtp_conn.h"

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
	"  - { proto: smtp, addr: \"127.0.0.1:18001\", name: plain,\n"
	"      smtp: { max_line_bytes: 512, max_recipients: 4, max_message_bytes: 2048,\n"
	"              max_commands: 64, max_transactions: 4, max_errors: 8,\n"
	"              campaign_slots: 8 } }\n"
	"  - { proto: smtp, addr: \"127.0.0.1:18002\", name: proxied, proxy_protocol: true }\n"
	"families:\n"
	"  - name: subj\n"
	"    match: { proto: smtp, subject: { regex: \"^Dear [^ ]+ -[0-9]+% now$\" } }\n"
	"  - name: helo\n"
	"    match: { helo: { suffix: bots.example }, mail_from: [ a.example ] }\n"
	"  - name: order\n"
	"    match: { header_order: { prefix: \"From,To\" }, x_mailer: { contains: bat, nocase: true } }\n"
	"  - name: camp\n"
	"    match: { campaign: { regex: \"^0\" } }\n";

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
	snprintf(fuzz_st.dir, sizeof fuzz_st.dir, "/tmp/sinkd-fuzz-smtp-conn-%ld", (long)getpid());
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
	for (unsigned i = 0; i < 2; i++) {
		fuzz_st.l[i].cfg = &fuzz_st.cfg->listeners[i];
		fuzz_st.l[i].index = i;
		fuzz_st.l[i].ops = &smtp_proto_ops;
		FUZZ_CHECK(smtp_listener_init(&fuzz_st.l[i]) == 0);
		fuzz_st.l[i].local.ipver = 4;
		memcpy(fuzz_st.l[i].local.addr, "\x7f\x00\x00\x01", 4);
		fuzz_st.l[i].local.port = (uint16_t)(18001 + i);
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

/*
 * What the worker does with staged replies: check every line is an SMTP reply
 * ("ddd " or "ddd-", CRLF, no bare CR or LF, nothing echoed from the client
 * that could split a line), then "send" them.
 */
static void fuzz_flush(struct worker *w)
{
	const uint8_t *p = w->stage;
	size_t n = w->stage_len;
	while (n) {
		const uint8_t *lf = memchr(p, '\n', n);
		FUZZ_CHECK(lf != NULL);
		size_t ll = (size_t)(lf - p) + 1;
		FUZZ_CHECK(ll >= 6 && p[ll - 2] == '\r');
		FUZZ_CHECK(p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
			   p[2] >= '0' && p[2] <= '9' && (p[3] == ' ' || p[3] == '-'));
		FUZZ_CHECK(!memchr(p, '\r', ll - 2));
		p += ll;
		n -= ll;
	}
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
		fuzz_trim_log(st);

	struct conn *c = calloc(1, sizeof *c);
	FUZZ_CHECK(c != NULL);
	c->w = w;
	c->l = &st->l[ctl & 1];
	c->fd = -1;
	c->peer.ipver = 4;
	memcpy(c->peer.addr, (ctl & 2) ? "\xc0\x00\x02\x07" : "\xc6\x33\x64\x09", 4);
	c->peer.port = 40000;
	c->src = c->peer;
	c->dst = c->l->local;
	c->flow_id = st->inputs;
	w->answered = (ctl & 4) != 0;
	w->draining = (ctl & 8) != 0 && (ctl & 16) != 0;
	c->l->ops->on_open(c);
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
	FUZZ_CHECK(c->p.smtp.s == NULL);
	free(c->out); /* answers that had to wait, had there been any */
	/* The driver owns one connection at a time: reset the timer lists instead of unlinking. */
	memset(w->timers, 0, 2 * CONN_TIMER_KINDS * sizeof *w->timers);
	free(buf);
	free(c);
	return 0;
}
