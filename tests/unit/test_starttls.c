/* test_starttls.c — tls_start() from inside a plain-text protocol: the STARTTLS path a mail module uses. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/conn_driver.h"
#include "check.h"
#include "proto/tls/tls_conn.h"
#include "proto/tls/tls_server.h"

/*
 * A toy line protocol on a real worker's connection (driven as the worker
 * does, see tests/fuzz/conn_driver.h): "STARTTLS\r\n" is answered in clear
 * and starts TLS; after the handshake every plaintext line is answered "ok".
 * The client is OpenSSL over memory BIOs, so the test sees exactly the bytes
 * on the wire.
 */
static const char cfg_yaml[] = "listen: [ { proto: tls, addr: \"127.0.0.1:2525\", name: mx } ]\n";
static struct tls_server *srv;
static int ready_calls;
static char plain[256];
static size_t plain_len;

static void toy_ready(struct conn *c)
{
	const struct tls_info *i = tls_conn_info(c);
	ready_calls++;
	CHECK(i && i->hello_seen && i->done);
	if (i) {
		CHECK_STR(i->sni, "mx.seized.test");
		CHECK_INT(strlen(i->ja3), 32);
		CHECK_INT(strlen(i->ja4), 36);
		CHECK_INT(i->version, 0x0304);
	}
}

static size_t toy_input(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	static const char cmd[] = "STARTTLS\r\n";
	(void)eof;
	if (!c->tls) {
		if (len < sizeof cmd - 1)
			return 0;
		CHECK(memcmp(buf, cmd, sizeof cmd - 1) == 0);
		conn_write(c, "220 go\r\n", 8);
		CHECK_INT(tls_start(c, srv, toy_ready), 0);
		return sizeof cmd - 1;
	}
	size_t n = len < sizeof plain - plain_len ? len : sizeof plain - plain_len;
	memcpy(plain + plain_len, buf, n);
	plain_len += n;
	if (len)
		conn_write(c, "ok\r\n", 4);
	return len;
}

static const struct proto_ops toy_ops = { .name = "toy", .on_input = toy_input };

/* Takes what the connection would have sent (staged answers and held output). */
static size_t wire_out(struct worker *w, struct conn *c, uint8_t *out, size_t cap)
{
	size_t n = 0;
	if (w->stage_conn == c) {
		CHECK(w->stage_len <= cap);
		memcpy(out, w->stage, w->stage_len);
		n = w->stage_len;
		w->stage_len = 0;
		w->stage_conn = NULL;
	}
	if (c->out_len > c->out_off) {
		size_t m = c->out_len - c->out_off;
		CHECK(n + m <= cap);
		memcpy(out + n, c->out + c->out_off, m);
		n += m;
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = c->out_cap = 0;
	}
	return n;
}

static size_t bio_take(BIO *b, uint8_t *out, size_t cap)
{
	int n = BIO_read(b, out, (int)cap);
	return n > 0 ? (size_t)n : 0;
}

int main(void)
{
	static struct fuzz_state st;
	static uint8_t wire[65536], in[65536];
	char err[256];
	fuzz_ruleset_load(&st, cfg_yaml, sizeof cfg_yaml - 1);
	struct recorder *rec = fuzz_recorder_start("sinkd-test-starttls");
	fuzz_worker_init(&st.w, rec, &st.rs, st.l, 1, &toy_ops, 2525);
	CHECK_INT(tls_server_new(st.l[0].cfg, &srv, err, sizeof err), 0);
	struct conn *c = fuzz_conn_open(&st, 0);

	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *cl = SSL_new(cctx);
	BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
	SSL_set_bio(cl, c_in, c_out);
	SSL_set_verify(cl, SSL_VERIFY_NONE, NULL);
	SSL_set_tlsext_host_name(cl, "mx.seized.test");
	SSL_set_connect_state(cl);
	CHECK_INT(SSL_do_handshake(cl), -1); /* wants the server's answer */

	/* The command and the ClientHello in one read: the rest of it must go to TLS. */
	size_t n = 0;
	memcpy(in, "STARTTLS\r\n", 10);
	n = 10 + bio_take(c_out, in + 10, sizeof in - 10);
	CHECK(n > 100);
	CHECK_INT(fuzz_conn_feed(c, in, n, false), n);
	size_t w = wire_out(&st.w, c, wire, sizeof wire);
	CHECK(w > 8 && memcmp(wire, "220 go\r\n", 8) == 0); /* the answer in clear ... */
	CHECK(w > 9 && wire[8] == 0x16);		    /* ... then the ServerHello record */
	CHECK(tls_conn_info(c) && tls_conn_info(c)->hello_seen && !tls_conn_info(c)->done);
	CHECK_INT(ready_calls, 0);

	BIO_write(c_in, wire + 8, (int)(w - 8));
	CHECK_INT(SSL_do_handshake(cl), 1);
	CHECK_INT(SSL_write(cl, "HELO x\r\n", 8), 8);
	n = bio_take(c_out, in, sizeof in);
	CHECK_INT(fuzz_conn_feed(c, in, n, false), n);
	CHECK_INT(ready_calls, 1);
	CHECK_SLICE(plain, plain_len, "HELO x\r\n");
	CHECK_INT(c->tx_count, 1); /* the handshake event */

	/* The answer comes back encrypted. */
	w = wire_out(&st.w, c, wire, sizeof wire);
	CHECK(w > 0 && wire[0] == 0x17);
	CHECK(memmem(wire, w, "ok\r\n", 4) == NULL);
	BIO_write(c_in, wire, (int)w);
	char back[64];
	int r = SSL_read(cl, back, sizeof back);
	CHECK_INT(r, 4);
	if (r == 4)
		CHECK_SLICE(back, 4, "ok\r\n");

	tls_conn_free(c);
	free(c);
	SSL_free(cl);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
	return check_done("starttls");
}
