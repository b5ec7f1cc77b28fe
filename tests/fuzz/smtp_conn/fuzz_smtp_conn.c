/* fuzz_smtp_conn.c — libFuzzer harness: hostile bytes through the whole SMTP module (PROXY, dialogue, DATA, STARTTLS, rules, campaigns, events, replies). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz_drive.h"
#include "net/conn_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * As fuzz_conn.c, one connection per input through net/conn_driver (the
 * worker's duties without a socket). The second listener offers STARTTLS,
 * so a session may switch to TLS mid-stream and the rest of the input goes
 * to the TLS layer. Every event must decode and render as EVE.
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

/*
 * What the connection sends (arg): in clear, every line is an SMTP reply
 * ("ddd " or "ddd-", CRLF, no bare CR or LF, nothing echoed from the client
 * that could split a line); once TLS has started, what follows the clear
 * replies (the "220 Ready" among them) is TLS records only.
 */
static void fuzz_answer(void *arg, const uint8_t *p, size_t n)
{
	const struct conn *c = arg;
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t inputs;
	struct conn_driver *d = fuzz_drive_driver(fuzz_config, sizeof fuzz_config - 1, fuzz_answer);
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	struct conn *c = fuzz_drive(d, ctl & 1, ctl, ++inputs, data + 1, size - 1,
				    (struct fuzz_chunking){ 1, 97 });
	/* The session and its message buffers went with on_close. */
	FUZZ_CHECK(c->p.smtp.s == NULL);
	free(c);
	return 0;
}
