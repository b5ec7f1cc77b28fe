/* fuzz_smtp_conn.c — libFuzzer harness: hostile bytes through the whole SMTP module (PROXY, dialogue, DATA, STARTTLS, rules, campaigns, events, replies). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../conn_driver.h"
#include "proto/smtp/smtp_conn.h"
#include "proto/tls/tls_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * As fuzz_conn.c, the worker loop is replaced by the shared driver
 * (conn_driver.h). The second listener offers STARTTLS, so a session may
 * switch to TLS mid-stream and the rest of the input goes to the TLS layer.
 */
static const char fuzz_config[] =
	"sensor: { id: fuzz }\n"
	"log: { dir: /tmp/unused, fsync: none }\n"
	"listen:\n"
	"  - { proto: smtp, addr: \"127.0.0.1:18001\", name: plain,\n"
	"      smtp: { max_line_bytes: 512, max_recipients: 4, max_message_bytes: 2048,\n"
	"              max_commands: 64, max_transactions: 4, max_errors: 8,\n"
	"              campaign_slots: 8 } }\n"
	"  - { proto: smtp, addr: \"127.0.0.1:18002\", name: proxied, proxy_protocol: true,\n"
	"      smtp: { starttls: true } }\n"
	"families:\n"
	"  - name: subj\n"
	"    match: { proto: smtp, subject: { regex: \"^Dear [^ ]+ -[0-9]+% now$\" } }\n"
	"  - name: helo\n"
	"    match: { helo: { suffix: bots.example }, mail_from: [ a.example ] }\n"
	"  - name: order\n"
	"    match: { header_order: { prefix: \"From,To\" }, x_mailer: { contains: bat, nocase: true } }\n"
	"  - name: camp\n"
	"    match: { campaign: { regex: \"^0\" } }\n";

static struct fuzz_state fuzz_st;

static struct fuzz_state *fuzz_setup(void)
{
	static bool ready;
	if (ready)
		return &fuzz_st;
	fuzz_ruleset_load(&fuzz_st, fuzz_config, sizeof fuzz_config - 1);
	struct recorder *rec = fuzz_recorder_start("sinkd-fuzz-smtp");
	fuzz_worker_init(&fuzz_st.w, rec, &fuzz_st.rs, fuzz_st.l, 2, &smtp_proto_ops, 18001);
	char err[256];
	for (unsigned i = 0; i < 2; i++)
		FUZZ_CHECK(smtp_listener_init(&fuzz_st.l[i]) == 0);
	FUZZ_CHECK(tls_server_new(fuzz_st.l[1].cfg, &fuzz_st.l[1].tls, err, sizeof err) == 0);
	ready = true;
	return &fuzz_st;
}

/*
 * What the worker does with staged replies: in clear, every line is an SMTP
 * reply ("ddd " or "ddd-", CRLF, no bare CR or LF, nothing echoed from the
 * client that could split a line); once TLS has started, what follows the
 * clear replies (the "220 Ready" among them) is TLS records only.
 */
static void fuzz_flush(struct worker *w, struct conn *c)
{
	const uint8_t *p = w->stage;
	size_t n = w->stage_len;
	while (n && !(c->tls && (p[0] < '2' || p[0] > '5'))) {
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
	if (n)
		FUZZ_CHECK(c->tls && p[0] >= 0x14 && p[0] <= 0x17);
	if (c->out_len)
		FUZZ_CHECK(c->tls || c->out[0] >= '2');
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
		size_t used = fuzz_conn_feed(c, buf, held, false);
		FUZZ_CHECK(used <= held);
		if (c->closed)
			used = held;
		memmove(buf, buf + used, held - used);
		held -= used;
		fuzz_flush(w, c);
	}
	/* The end: the peer closes, or (odd control bytes) the timer fires first. */
	if (!c->closed && !c->close_after_flush) {
		if (ctl & 16) {
			c->in = buf;
			c->in_len = (uint32_t)held;
			if (!(c->tls && tls_conn_timeout(c)))
				c->ops->on_timeout(c);
			c->in = NULL;
		} else {
			c->eof = true;
			fuzz_conn_feed(c, buf, held, true);
		}
		fuzz_flush(w, c);
	}
	c->ops->on_close(c);
	FUZZ_CHECK(c->p.smtp.s == NULL);
	tls_conn_free(c);
	memset(w->timers, 0, 2 * CONN_TIMER_KINDS * sizeof *w->timers);
	free(buf);
	free(c);
	return 0;
}
