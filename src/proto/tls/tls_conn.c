/* tls_conn.c — the TLS transport: hello read-ahead and fingerprints, OpenSSL over a connection BIO, events, the tls listener. */
#include "proto/tls/tls_conn.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "net/daemon.h"
#include "net/proxy.h"
#include "net/worker.h"
#include "proto/http/http_conn.h"
#include "proto/tls/tls_server.h"

#define TLS_RAW_PREFIX_MAX 512
#define TLS_ALPN_KEEP	   1024u	/* offered ALPN list bytes kept for the event */
#define TLS_PLAIN_MAX	   (96u * 1024) /* decrypted bytes the inner protocol has not consumed */
#define TLS_READ_CHUNK	   16384u	/* one TLS record's plaintext */
#define TLS_PROXY_MAX	   (16u + PROXY_V2_MAX_LEN)

enum tls_phase {
	TLS_PH_HELLO = 0, /* reading ahead until the whole ClientHello is here */
	TLS_PH_HANDSHAKE, /* OpenSSL has the hello; the handshake is under way */
	TLS_PH_OPEN,	  /* application data flows */
	TLS_PH_FAILED,	  /* recorded and closing: input is ignored */
};

struct tls_conn {
	struct tls_server *srv;
	void (*on_ready)(struct conn *c);
	SSL *ssl;
	BIO *bio; /* owned by ssl: reads from `src`, writes to the connection */
	/* TLS bytes the BIO hands OpenSSL: the caller's buffer during one input call, else `pend`. */
	const uint8_t *src;
	size_t src_len;
	bool src_eof;
	uint8_t *pend; /* bytes OpenSSL has not read yet, kept between input calls */
	size_t pend_len;
	uint8_t phase;
	bool inner_eof;
	int alert;	   /* first alert seen during the handshake, -1 if none */
	bool alert_sent;   /* we sent it (else the client did) */
	struct dynbuf raw; /* hello bytes when the hello spans reads */
	struct dynbuf ja3_str, ja4_r;
	uint8_t *alpn; /* offered ALPN list (u8 len, name)*, until the handshake event */
	size_t alpn_len;
	uint8_t *pt; /* plaintext the inner protocol has not consumed */
	size_t pt_len, pt_cap;
	struct tls_info info;
};

const struct tls_info *tls_conn_info(const struct conn *c)
{
	return c->tls ? &c->tls->info : NULL;
}

static struct rules_slice slice_of(const char *s)
{
	struct rules_slice r = { s, strlen(s) };
	return r;
}

void tls_conn_fill_rules(const struct conn *c, struct rules_input *in)
{
	const struct tls_conn *t = c->tls;
	if (!t || !t->info.hello_seen)
		return;
	if (t->info.sni_present)
		in->sni = slice_of(t->info.sni);
	in->ja3 = slice_of(t->info.ja3);
	in->ja4 = slice_of(t->info.ja4);
}

void tls_conn_put_fields(const struct conn *c, struct event_builder *b)
{
	const struct tls_info *i = &c->tls->info;
	if (!i->hello_seen)
		return;
	if (i->sni_present)
		event_put_str(b, EVENT_T_TLS_SNI, i->sni);
	if (i->version)
		event_put_u16(b, EVENT_T_TLS_VERSION, i->version);
	event_put_str(b, EVENT_T_TLS_JA3, i->ja3);
	event_put_str(b, EVENT_T_TLS_JA4, i->ja4);
}

/* --- the handshake event --------------------------------------------------------- */

/*
 * Records the handshake (or what happened instead). `c->tls` may be NULL
 * (a bad PROXY header before TLS started). Failures close the connection.
 */
static void tls_record(struct conn *c, const char *outcome, uint16_t flags, const char *reason,
		       const uint8_t *raw, size_t raw_len)
{
	struct worker *w = c->w;
	struct tls_conn *t = c->tls;
	struct event_builder b;
	conn_event_begin(c, &b, EVENT_TLS, NULL, flags);
	struct rules_input in = {
		.proto = CONFIG_PROTO_TLS,
		.listener = c->l->cfg->name,
		.dst_port = c->dst.port,
	};
	conn_event_classify(c, &b, &in);
	event_put_str(&b, EVENT_T_TLS_OUTCOME, outcome);
	if (reason)
		event_put_str(&b, EVENT_T_REASON, reason);
	if (raw_len)
		event_put(&b, EVENT_T_RAW_PREFIX, raw,
			  raw_len > TLS_RAW_PREFIX_MAX ? TLS_RAW_PREFIX_MAX : raw_len);
	if (t && t->info.hello_seen) {
		event_put_u16(&b, EVENT_T_TLS_HELLO_VERSION, t->info.hello_version);
		event_put_u16(&b, EVENT_T_TLS_VERSION_OFFERED, t->info.offered_version);
		/* The long forms exist until the handshake event has them (recorded once). */
		if (t->ja3_str.len)
			event_put(&b, EVENT_T_TLS_JA3_STRING, t->ja3_str.data, t->ja3_str.len);
		if (t->ja4_r.len)
			event_put(&b, EVENT_T_TLS_JA4_R, t->ja4_r.data, t->ja4_r.len);
		for (size_t i = 0; i < t->alpn_len && t->alpn;) {
			size_t n = t->alpn[i];
			if (n > t->alpn_len - i - 1)
				break;
			event_put(&b, EVENT_T_TLS_ALPN_OFFERED, t->alpn + i + 1, n);
			i += 1 + n;
		}
	}
	if (t && t->info.done) {
		event_put_u16(&b, EVENT_T_TLS_CIPHER, t->info.cipher);
		if (t->info.alpn[0])
			event_put_str(&b, EVENT_T_TLS_ALPN, t->info.alpn);
		if (t->info.resumed)
			event_put_u16(&b, EVENT_T_TLS_RESUMED, 1);
	}
	conn_event_submit(c, &b);
	if (flags & EVENT_F_MALFORMED)
		STAT_INC(w->st.malformed);
	if (t) {
		/* The long strings are only for this event. */
		dynbuf_free(&t->ja3_str);
		dynbuf_free(&t->ja4_r);
		free(t->alpn);
		t->alpn = NULL;
		t->alpn_len = 0;
	}
}

/* Records a failed handshake and closes once any alert we queued has gone out. */
static void tls_fail(struct conn *c, const char *outcome, uint16_t flags, const char *reason,
		     const uint8_t *raw, size_t raw_len)
{
	tls_record(c, outcome, flags | EVENT_F_NO_ANSWER, reason, raw, raw_len);
	if (c->tls)
		c->tls->phase = TLS_PH_FAILED;
	conn_close_after_flush(c);
}

/* --- OpenSSL plumbing ------------------------------------------------------------ */

static void tls_info_cb(const SSL *ssl, int where, int ret)
{
	if (!(where & SSL_CB_ALERT))
		return;
	/* The connection BIO's data is the connection (no ex_data to allocate per SSL). */
	BIO *b = SSL_get_rbio(ssl);
	struct conn *c = b ? BIO_get_data(b) : NULL;
	struct tls_conn *t = c ? c->tls : NULL;
	if (t && t->alert < 0 && t->phase == TLS_PH_HANDSHAKE) {
		t->alert = ret & 0xff;
		t->alert_sent = (where & SSL_CB_WRITE) != 0;
	}
}

/*
 * The connection BIO. OpenSSL writes records (a whole handshake flight, an
 * alert, application data) straight into the connection's output, which
 * the worker sends once per input: no copy through a memory BIO, no buffer
 * to allocate, grow, cleanse and free per connection. It reads the TLS
 * bytes of the current input call in place; what it has not read by the
 * end of the call is kept in `pend` (rare: with read-ahead OpenSSL takes
 * whole records).
 */
static int cbio_write(BIO *b, const char *data, int len)
{
	struct conn *c = BIO_get_data(b);
	if (len > 0)
		conn_write_raw(c, data, (size_t)len);
	return len;
}

static int cbio_read(BIO *b, char *out, int len)
{
	struct conn *c = BIO_get_data(b);
	struct tls_conn *t = c->tls;
	BIO_clear_retry_flags(b);
	if (t->src_len == 0) {
		if (t->src_eof)
			return 0;
		BIO_set_retry_read(b);
		return -1;
	}
	size_t n = len < 0 ? 0 : (size_t)len;
	if (n > t->src_len)
		n = t->src_len;
	memcpy(out, t->src, n);
	t->src += n;
	t->src_len -= n;
	return (int)n;
}

static long cbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING: {
		struct conn *c = BIO_get_data(b);
		return c && c->tls ? (long)c->tls->src_len : 0;
	}
	default:
		return 0;
	}
}

static BIO_METHOD *cbio_method;
static pthread_once_t cbio_once = PTHREAD_ONCE_INIT;

static void cbio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sinkd conn");
	if (m && (!BIO_meth_set_write(m, cbio_write) || !BIO_meth_set_read(m, cbio_read) ||
		  !BIO_meth_set_ctrl(m, cbio_ctrl))) {
		BIO_meth_free(m);
		m = NULL;
	}
	cbio_method = m;
}

static BIO *cbio_new(struct conn *c)
{
	pthread_once(&cbio_once, cbio_init);
	BIO *b = cbio_method ? BIO_new(cbio_method) : NULL;
	if (b) {
		BIO_set_data(b, c);
		BIO_set_init(b, 1);
	}
	return b;
}

/* Input for OpenSSL: after what it has not read yet, or in place when nothing waits. */
static bool tls_src_begin(struct tls_conn *t, const uint8_t *buf, size_t len, bool eof)
{
	t->src_eof = eof;
	if (!t->pend_len) {
		t->src = buf;
		t->src_len = len;
		return true;
	}
	if (len) {
		uint8_t *p = realloc(t->pend, t->pend_len + len);
		if (!p)
			return false;
		memcpy(p + t->pend_len, buf, len);
		t->pend = p;
		t->pend_len += len;
	}
	t->src = t->pend;
	t->src_len = t->pend_len;
	return true;
}

/* Keeps what OpenSSL left unread (the caller's buffer is only valid during the call). */
static bool tls_src_end(struct tls_conn *t)
{
	bool ok = true;
	if (t->src_len && t->phase != TLS_PH_FAILED) {
		if (t->pend && t->src >= t->pend && t->src < t->pend + t->pend_len) {
			memmove(t->pend, t->src, t->src_len);
		} else {
			uint8_t *p = realloc(t->pend, t->src_len);
			if (p) {
				memcpy(p, t->src, t->src_len);
				t->pend = p;
			} else {
				ok = false;
			}
		}
		t->pend_len = ok ? t->src_len : 0;
	} else {
		t->pend_len = 0;
	}
	if (!t->pend_len) {
		free(t->pend);
		t->pend = NULL;
	}
	t->src = NULL;
	t->src_len = 0;
	return ok;
}

int tls_conn_write(struct conn *c, const void *data, size_t len)
{
	struct tls_conn *t = c->tls;
	if (t->phase != TLS_PH_OPEN || c->closed)
		return 0;
	size_t done = 0;
	while (done < len) {
		size_t n = len - done > INT32_MAX ? INT32_MAX : len - done;
		ERR_clear_error();
		int r = SSL_write(t->ssl, (const uint8_t *)data + done, (int)n);
		if (r <= 0) {
			c->closed = true;
			return ERR_MALFORMED;
		}
		done += (size_t)r;
	}
	return 0;
}

/* --- plaintext to the inner protocol ---------------------------------------------- */

static void tls_deliver(struct conn *c, const uint8_t *data, size_t n, bool eof)
{
	struct tls_conn *t = c->tls;
	const struct proto_ops *ops = c->ops;
	if (c->closed || c->close_after_flush)
		return;
	if (!t->pt_len) {
		size_t used = ops->on_input(c, data, n, eof);
		if (used >= n || c->closed || c->close_after_flush)
			return;
		data += used;
		n -= used;
	}
	if (n > TLS_PLAIN_MAX - t->pt_len) {
		c->closed = true; /* the inner protocol caps its own input well below this */
		return;
	}
	if (t->pt_len + n > t->pt_cap) {
		size_t cap = t->pt_len + n < 4096 ? 4096 : t->pt_len + n;
		uint8_t *p = realloc(t->pt, cap);
		if (!p) {
			c->closed = true;
			return;
		}
		t->pt = p;
		t->pt_cap = cap;
	}
	memcpy(t->pt + t->pt_len, data, n);
	t->pt_len += n;
	if (n == 0 && !eof)
		return;
	size_t used = ops->on_input(c, t->pt, t->pt_len, eof);
	if (used > t->pt_len || c->closed)
		used = t->pt_len;
	memmove(t->pt, t->pt + used, t->pt_len - used);
	t->pt_len -= used;
	if (!t->pt_len) {
		free(t->pt);
		t->pt = NULL;
		t->pt_cap = 0;
	}
}

static void tls_inner_eof(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (t->inner_eof)
		return;
	t->inner_eof = true;
	if (t->pt_len)
		tls_deliver(c, NULL, 0, true);
	else if (!c->closed && !c->close_after_flush)
		c->ops->on_input(c, NULL, 0, true);
	conn_close_after_flush(c);
}

static void tls_read_plain(struct conn *c, bool eof)
{
	struct tls_conn *t = c->tls;
	uint8_t buf[TLS_READ_CHUNK];
	while (!c->closed && !c->close_after_flush) {
		ERR_clear_error();
		int n = SSL_read(t->ssl, buf, sizeof buf);
		if (n > 0) {
			tls_deliver(c, buf, (size_t)n, false);
			continue;
		}
		int e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ && !eof)
			break;
		/* close_notify, the end of the stream, or a broken record: no more input. */
		tls_inner_eof(c);
		break;
	}
}

/* --- the handshake -------------------------------------------------------------- */

static void tls_outcome_alert(struct conn *c, const char *fallback_reason)
{
	struct tls_conn *t = c->tls;
	char outcome[16], reason[192];
	unsigned long e = ERR_peek_error();
	snprintf(outcome, sizeof outcome, "alert:%d", t->alert);
	snprintf(reason, sizeof reason, "alert %s: %s%s%s", t->alert_sent ? "sent" : "received",
		 SSL_alert_desc_string_long(t->alert), e ? "; " : "",
		 e ? ERR_reason_error_string(e) : "");
	(void)fallback_reason;
	tls_fail(c, outcome, 0, reason, NULL, 0);
}

static void tls_handshake(struct conn *c, bool eof)
{
	struct tls_conn *t = c->tls;
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		const SSL_CIPHER *ciph = SSL_get_current_cipher(t->ssl);
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL_get0_alpn_selected(t->ssl, &alpn, &alen);
		t->info.done = true;
		t->info.version = (uint16_t)SSL_version(t->ssl);
		t->info.cipher = ciph ? SSL_CIPHER_get_protocol_id(ciph) : 0;
		t->info.resumed = SSL_session_reused(t->ssl) == 1;
		if (alpn && alen < sizeof t->info.alpn) {
			memcpy(t->info.alpn, alpn, alen);
			t->info.alpn[alen] = '\0';
		}
		t->phase = TLS_PH_OPEN;
		/* Idle keep-alive connections give their 34 KiB of record buffers back (nginx does too). */
		SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
		tls_record(c, "completed", 0, NULL, NULL, 0);
		/* The request inside gets its own full header timeout. */
		conn_set_timer(c, CONN_TIMER_REQUEST);
		if (t->on_ready)
			t->on_ready(c);
		tls_read_plain(c, eof);
		return;
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ && !eof)
		return;
	if (t->alert >= 0) {
		tls_outcome_alert(c, NULL);
		return;
	}
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ||
	    eof) {
		tls_fail(c, "closed", EVENT_F_TRUNCATED, "connection closed during the handshake",
			 NULL, 0);
		return;
	}
	unsigned long err = ERR_peek_error();
	tls_fail(c, "malformed", EVENT_F_MALFORMED,
		 err ? ERR_reason_error_string(err) : "handshake failed", NULL, 0);
}

/* The whole ClientHello is in raw[0..len): fingerprint it and give it to OpenSSL. */
static void tls_hello_done(struct conn *c, const uint8_t *raw, size_t len, size_t msg_len, bool eof)
{
	struct tls_conn *t = c->tls;
	size_t ml = 0, used = 0;
	const char *why = NULL;
	uint8_t *msg = malloc(msg_len ? msg_len : 1);
	if (!msg) {
		c->closed = true;
		return;
	}
	struct tls_hello h;
	int rc = ERR_MALFORMED;
	if (tls_hello_scan(raw, len, msg, msg_len, &ml, &used, &why) == TLS_SCAN_DONE)
		rc = tls_hello_parse(msg, ml, &h, &why);
	if (rc == 0) {
		struct tls_info *i = &t->info;
		dynbuf_init(&t->ja3_str, TLS_JA_STR_MAX);
		dynbuf_init(&t->ja4_r, TLS_JA_STR_MAX);
		if (tls_ja3(&h, &t->ja3_str, i->ja3) || tls_ja4(&h, i->ja4, &t->ja4_r)) {
			free(msg);
			c->closed = true;
			return;
		}
		i->hello_seen = true;
		i->sni_present = h.sni.ptr != NULL;
		size_t sn = h.sni.len < sizeof i->sni ? h.sni.len : sizeof i->sni - 1;
		if (sn)
			memcpy(i->sni, h.sni.ptr, sn);
		i->sni[sn] = '\0';
		/* A NUL inside the name would cut it: keep it visible as what it is, bytes. */
		for (size_t k = 0; k < sn; k++)
			if (!i->sni[k])
				i->sni[k] = '?';
		i->hello_version = h.legacy_version;
		i->offered_version = tls_hello_max_version(&h);
		if (h.alpn.ptr && h.alpn.len) {
			t->alpn_len = h.alpn.len < TLS_ALPN_KEEP ? h.alpn.len : TLS_ALPN_KEEP;
			t->alpn = malloc(t->alpn_len);
			if (t->alpn)
				memcpy(t->alpn, h.alpn.ptr, t->alpn_len);
			else
				t->alpn_len = 0;
		}
	}
	free(msg);
	if (rc != 0) {
		tls_fail(c, "malformed", EVENT_F_MALFORMED, why ? why : "bad ClientHello", raw,
			 len);
		return;
	}
	char fallback[64];
	event_addr_str(&c->dst, fallback, sizeof fallback);
	struct tls_slice sni = { NULL, 0 };
	if (t->info.sni_present) {
		sni.ptr = (const uint8_t *)t->info.sni;
		sni.len = strlen(t->info.sni);
	}
	t->ssl = tls_server_new_ssl(t->srv, sni, fallback);
	t->bio = t->ssl ? cbio_new(c) : NULL;
	if (!t->bio) {
		tls_fail(c, "malformed", EVENT_F_LIMIT, "out of memory starting TLS", NULL, 0);
		return;
	}
	SSL_set_bio(t->ssl, t->bio, t->bio);
	SSL_set_info_callback(t->ssl, tls_info_cb);
	SSL_set_accept_state(t->ssl);
	t->phase = TLS_PH_HANDSHAKE;
	if (!tls_src_begin(t, raw, len, eof)) {
		tls_fail(c, "malformed", EVENT_F_LIMIT, "out of memory starting TLS", NULL, 0);
		return;
	}
	tls_handshake(c, eof);
	if (!tls_src_end(t))
		c->closed = true;
}

static void tls_input_hello(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	struct tls_conn *t = c->tls;
	const uint8_t *raw = buf;
	size_t rlen = len;
	if (t->raw.len) {
		if (dynbuf_add(&t->raw, buf, len)) {
			tls_fail(c, "malformed", EVENT_F_LIMIT | EVENT_F_TRUNCATED,
				 "ClientHello larger than tls.max_hello_bytes",
				 (const uint8_t *)t->raw.data, t->raw.len);
			return;
		}
		raw = (const uint8_t *)t->raw.data;
		rlen = t->raw.len;
	}
	size_t ml = 0, used = 0;
	const char *why = NULL;
	switch (tls_hello_scan(raw, rlen, NULL, 0, &ml, &used, &why)) {
	case TLS_SCAN_DONE:
		tls_hello_done(c, raw, rlen, ml, eof);
		break;
	case TLS_SCAN_NOT_TLS:
		tls_fail(c, "not-tls", EVENT_F_MALFORMED, why, raw, rlen);
		break;
	case TLS_SCAN_MALFORMED:
		tls_fail(c, "malformed", EVENT_F_MALFORMED, why, raw, rlen);
		break;
	case TLS_SCAN_NEED_MORE:
		if (eof) {
			tls_fail(c, "closed", rlen ? EVENT_F_TRUNCATED : 0,
				 rlen ? "connection closed before the ClientHello was complete" :
					"connection closed without data",
				 raw, rlen);
		} else if (!t->raw.len && rlen && dynbuf_add(&t->raw, raw, rlen)) {
			c->closed = true;
		}
		break;
	}
	if (t->raw.len && t->phase != TLS_PH_HELLO)
		dynbuf_free(&t->raw);
}

bool tls_conn_is_idle(const struct conn *c)
{
	const struct tls_conn *t = c->tls;
	/* A handshake under way is in flight; a failed one is recorded and closing. */
	if (t->phase == TLS_PH_FAILED)
		return true;
	return t->phase == TLS_PH_OPEN && SSL_pending(t->ssl) == 0 && !SSL_has_pending(t->ssl);
}

size_t tls_conn_input(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	struct tls_conn *t = c->tls;
	switch (t->phase) {
	case TLS_PH_HELLO:
		tls_input_hello(c, buf, len, eof);
		break;
	case TLS_PH_HANDSHAKE:
	case TLS_PH_OPEN:
		if (!tls_src_begin(t, buf, len, eof)) {
			c->closed = true;
			break;
		}
		if (t->phase == TLS_PH_HANDSHAKE)
			tls_handshake(c, eof);
		else
			tls_read_plain(c, eof);
		if (!tls_src_end(t))
			c->closed = true;
		break;
	default:
		break;
	}
	return len;
}

bool tls_conn_timeout(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (t->phase == TLS_PH_OPEN || t->phase == TLS_PH_FAILED)
		return t->phase == TLS_PH_FAILED;
	const char *reason = t->phase == TLS_PH_HELLO ?
				     (t->raw.len ? "ClientHello incomplete at the timeout" :
						   "no data before timeout") :
				     "handshake incomplete at the timeout";
	tls_record(c, "timeout", EVENT_F_TIMEOUT | EVENT_F_NO_ANSWER, reason,
		   (const uint8_t *)t->raw.data, t->raw.len);
	t->phase = TLS_PH_FAILED;
	return true;
}

int tls_start(struct conn *c, struct tls_server *srv, void (*on_ready)(struct conn *c))
{
	struct tls_conn *t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	t->srv = srv;
	t->on_ready = on_ready;
	t->alert = -1;
	size_t max = tls_server_max_hello(srv);
	dynbuf_init(&t->raw, max < TLS_HELLO_RAW_MAX ? max : TLS_HELLO_RAW_MAX);
	c->tls = t;
	return 0;
}

void tls_conn_free(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (!t)
		return;
	SSL_free(t->ssl); /* frees the BIO */
	free(t->pend);
	dynbuf_free(&t->raw);
	dynbuf_free(&t->ja3_str);
	dynbuf_free(&t->ja4_r);
	free(t->alpn);
	free(t->pt);
	free(t);
	c->tls = NULL;
}

/* --- the `proto: tls` listener: [PROXY header,] TLS, HTTP inside ------------------- */

/* Also the hand-over target of raw listeners, whose TLS context the daemon creates too. */
static void tls_http_open(struct conn *c)
{
	http_proto_ops.on_open(c);
	c->p.http.phase = HTTP_PHASE_HEAD;
	if (!c->l->tls)
		c->closed = true;
	else if (!c->l->cfg->proxy_protocol && tls_start(c, c->l->tls, NULL) != 0)
		c->closed = true;
}

/* Before TLS: the PROXY header of a proxied listener. After: decrypted bytes for HTTP. */
static size_t tls_http_input(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	if (c->tls)
		return http_proto_ops.on_input(c, buf, len, eof);
	struct proxy_result pr;
	const char *why = NULL;
	int rc = proxy_parse(buf, len, &pr, &why);
	if (rc == ERR_NEED_MORE && !eof && len < TLS_PROXY_MAX)
		return 0;
	if (rc != 0) {
		tls_fail(c, "malformed", EVENT_F_MALFORMED,
			 rc == ERR_NEED_MORE ? "PROXY header incomplete" :
					       (why ? why : "bad PROXY header"),
			 buf, len);
		return len;
	}
	conn_apply_proxy(c, &pr);
	if (tls_start(c, c->l->tls, NULL) != 0) {
		c->closed = true;
		return len;
	}
	return pr.header_len;
}

static void tls_http_timeout(struct conn *c)
{
	if (c->tls) {
		http_proto_ops.on_timeout(c);
		return;
	}
	tls_record(c, "timeout", EVENT_F_TIMEOUT | EVENT_F_NO_ANSWER,
		   c->bytes_in ? "PROXY header timed out" : "no data before timeout", c->in,
		   c->in_len);
}

static void tls_http_close(struct conn *c)
{
	http_proto_ops.on_close(c);
}

/* Before TLS (a PROXY header awaited) nothing is idle; after, HTTP inside decides. */
static bool tls_http_is_idle(const struct conn *c)
{
	return c->tls && http_proto_ops.is_idle(c);
}

const struct proto_ops tls_http_proto_ops = {
	.name = "tls",
	.on_open = tls_http_open,
	.on_input = tls_http_input,
	.on_timeout = tls_http_timeout,
	.on_close = tls_http_close,
	.is_idle = tls_http_is_idle,
};
