/* fuzz_smtp_conn.c — libFuzzer harness: hostile bytes through the whole SMTP module (PROXY, dialogue, DATA, rules, campaigns, events, replies). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../conn_driver.h"
#include "proto/smtp/smtp_conn.h"

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

static struct fuzz_env fuzz_env;

static struct fuzz_env *fuzz_setup(void)
{
	static bool ready;
	if (!ready) {
		static const struct proto_ops *const ops[] = { &smtp_proto_ops, &smtp_proto_ops };
		fuzz_env_setup(&fuzz_env, fuzz_config, sizeof fuzz_config - 1, ops, 2, "smtp-conn");
		for (unsigned i = 0; i < 2; i++)
			FUZZ_CHECK(smtp_listener_init(&fuzz_env.l[i]) == 0);
		ready = true;
	}
	return &fuzz_env;
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
	struct fuzz_env *e = fuzz_setup();
	if (size < 1)
		return 0;
	fuzz_env_conn(e, data[0], data + 1, size - 1, fuzz_flush);
	return 0;
}
