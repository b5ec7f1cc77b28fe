/* conn_driver.c — the worker's part for one connection, for the connection fuzz harnesses (see conn_driver.h). */
#include "conn_driver.h"

#include <dirent.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rules.h"

static struct fuzz_env *fuzz_env_live;

/* Stop the writer thread before the process tears down (libFuzzer ends with exit()). */
static void fuzz_env_teardown(void)
{
	struct fuzz_env *e = fuzz_env_live;
	recorder_stop(e->rec);
	e->rec = NULL;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
	if (system(cmd) != 0)
		return;
}

void fuzz_env_setup(struct fuzz_env *e, const char *yaml, size_t len,
		    const struct proto_ops *const *ops, unsigned n_ops, const char *name)
{
	char err[256];
	FUZZ_CHECK(config_load_string(yaml, len, "fuzz.yaml", &e->cfg, err, sizeof err) == 0);
	FUZZ_CHECK(n_ops >= 2 && n_ops <= FUZZ_LISTENERS && e->cfg->n_listeners >= n_ops);
	e->n_l = n_ops;
	e->rs.cfg = e->cfg;
	FUZZ_CHECK(rules_compile_slots(e->cfg, 1, &e->rs.rules, err, sizeof err) == 0);
	snprintf(e->dir, sizeof e->dir, "/tmp/sinkd-fuzz-%s-%ld", name, (long)getpid());
	struct recorder_opts ro = {
		.log_dir = e->dir,
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
	FUZZ_CHECK(recorder_start(&e->rec, &ro, NULL) == 0);
	fuzz_env_live = e;
	atexit(fuzz_env_teardown);
	for (unsigned i = 0; i < n_ops; i++) {
		e->l[i].cfg = &e->cfg->listeners[i];
		e->l[i].index = i;
		e->l[i].ops = ops[i];
		e->l[i].local.ipver = 4;
		memcpy(e->l[i].local.addr, "\x7f\x00\x00\x01", 4);
		e->l[i].local.port = (uint16_t)(18001 + i);
	}
	struct worker *w = &e->w;
	w->lane = recorder_lane(e->rec, 0);
	w->rules = &e->rs;
	w->listeners = e->l;
	w->n_listeners = n_ops;
	w->timers = calloc(n_ops * CONN_TIMER_KINDS, sizeof *w->timers);
	w->evbuf = malloc(EVENT_MAX_LEN);
	w->stage_cap = 64u * 1024;
	w->stage = malloc(w->stage_cap);
	FUZZ_CHECK(w->timers && w->evbuf && w->stage);
}

/* The writer keeps appending: drop old segments now and then so a long campaign stays small. */
static void fuzz_trim_log(struct fuzz_env *st)
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

/* What the worker's conn_feed does: offer the bytes, and again to the new module after a hand-over. */
static size_t fuzz_input(struct conn *c, const uint8_t *buf, size_t held, bool eof)
{
	const struct proto_ops *ops = c->ops;
	size_t used = ops->on_input(c, buf, held, eof);
	if (c->ops != ops && !c->closed) {
		FUZZ_CHECK(used == 0);
		used = c->ops->on_input(c, buf, held, eof);
	}
	FUZZ_CHECK(used <= held);
	return used;
}

void fuzz_env_conn(struct fuzz_env *st, uint8_t ctl, const uint8_t *data, size_t size,
		   void (*fuzz_flush)(struct worker *w))
{
	struct worker *w = &st->w;
	if (++st->inputs % 4096 == 0)
		fuzz_trim_log(st);

	struct conn *c = calloc(1, sizeof *c);
	FUZZ_CHECK(c != NULL);
	c->w = w;
	c->l = &st->l[(ctl & 128) && st->n_l > 2 ? 2 : (ctl & 1)];
	c->fd = -1;
	c->peer.ipver = 4;
	memcpy(c->peer.addr, (ctl & 2) ? "\xc0\x00\x02\x07" : "\xc6\x33\x64\x09", 4);
	c->peer.port = 40000;
	c->src = c->peer;
	c->dst = c->l->local;
	c->flow_id = st->inputs;
	w->answered = (ctl & 4) != 0;
	w->draining = (ctl & 8) != 0 && (ctl & 16) != 0;
	c->ops = c->l->ops;
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
	memset(w->timers, 0, st->n_l * CONN_TIMER_KINDS * sizeof *w->timers);
	free(buf);
	free(c);
}
