/* test_starttls.c — tls_start() from inside a plain-text protocol: the STARTTLS path a mail module uses. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "net/conn_driver.h"
#include "proto/tls/tls_conn.h"
#include "proto/tls/tls_server.h"

/*
 * A toy line protocol on a connection driven as the worker does (through
 * net/conn_driver): "STARTTLS\r\n" is answered in clear
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

/* What the connection would have sent (staged answers and held output), in order. */
static uint8_t wire[65536];
static size_t wire_len;
static unsigned events;

static void wire_out(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	CHECK(len <= sizeof wire - wire_len);
	if (len > sizeof wire - wire_len)
		len = sizeof wire - wire_len;
	memcpy(wire + wire_len, data, len);
	wire_len += len;
}

static int count_event(void *arg, const uint8_t *rec, size_t len)
{
	(void)arg;
	(void)rec;
	(void)len;
	events++;
	return 0;
}

static size_t bio_take(BIO *b, uint8_t *out, size_t cap)
{
	int n = BIO_read(b, out, (int)cap);
	return n > 0 ? (size_t)n : 0;
}

int main(void)
{
	static struct conn_driver d;
	static uint8_t in[65536];
	struct config *cfg;
	char err[256];
	CHECK_INT(config_load_string(cfg_yaml, sizeof cfg_yaml - 1, "t.yaml", &cfg, err,
				     sizeof err),
		  0);
	CHECK_INT(conn_driver_init(&d, cfg, count_event, NULL, err, sizeof err), 0);
	d.on_output = wire_out;
	/* The listener's TLS server, under the toy protocol instead of the HTTP one. */
	d.listeners[0].ops = &toy_ops;
	srv = d.listeners[0].tls;
	CHECK(srv != NULL);
	struct conn *c = calloc(1, sizeof *c);
	CHECK(c != NULL);
	struct event_addr src = { .ipver = 4, .addr = { 198, 51, 100, 9 }, .port = 40000 };
	conn_driver_open(&d, c, 0, &src, &d.listeners[0].local, 1);

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
	CHECK_INT(conn_driver_input(&d, c, in, n), n);
	CHECK_INT(c->in_len, 0); /* all of it consumed */
	size_t w = wire_len;
	CHECK(w > 8 && memcmp(wire, "220 go\r\n", 8) == 0); /* the answer in clear ... */
	CHECK(w > 9 && wire[8] == 0x16);		    /* ... then the ServerHello record */
	CHECK(tls_conn_info(c) && tls_conn_info(c)->hello_seen && !tls_conn_info(c)->done);
	CHECK_INT(ready_calls, 0);

	BIO_write(c_in, wire + 8, (int)(w - 8));
	wire_len = 0;
	CHECK_INT(SSL_do_handshake(cl), 1);
	CHECK_INT(SSL_write(cl, "HELO x\r\n", 8), 8);
	n = bio_take(c_out, in, sizeof in);
	CHECK_INT(conn_driver_input(&d, c, in, n), n);
	CHECK_INT(c->in_len, 0);
	CHECK_INT(ready_calls, 1);
	CHECK_SLICE(plain, plain_len, "HELO x\r\n");
	CHECK_INT(c->tx_count, 1); /* the handshake event */
	CHECK_INT(events, 1);

	/* The answer comes back encrypted. */
	w = wire_len;
	CHECK(w > 0 && wire[0] == 0x17);
	CHECK(memmem(wire, w, "ok\r\n", 4) == NULL);
	BIO_write(c_in, wire, (int)w);
	char back[64];
	int r = SSL_read(cl, back, sizeof back);
	CHECK_INT(r, 4);
	if (r == 4)
		CHECK_SLICE(back, 4, "ok\r\n");

	conn_driver_close(&d, c);
	free(c);
	SSL_free(cl);
	SSL_CTX_free(cctx);
	conn_driver_free(&d);
	config_free(cfg);
	return check_done("starttls");
}
