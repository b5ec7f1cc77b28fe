/* tls_conn.h — TLS as a transport under any connection: ClientHello fingerprints, handshake events, then the inner protocol. */
#ifndef SINKD_PROTO_TLS_CONN_H
#define SINKD_PROTO_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/rules.h"
#include "proto/tls/ja.h"

struct conn;
struct tls_server;
struct proto_ops;

/*
 * How it fits together. Once tls_start() has been called on a connection,
 * the worker hands every byte read from the socket to tls_conn_input()
 * instead of the listener's protocol, and conn_write() encrypts. The first
 * bytes are read ahead until our own parser (tls_hello.h) has the whole
 * ClientHello; the fingerprints are computed from those raw bytes, then the
 * bytes go to OpenSSL through a memory BIO. After the handshake the
 * decrypted bytes go to the listener's proto_ops->on_input exactly as plain
 * bytes would, so the inner protocol does not know TLS is there.
 *
 * Events. The handshake is recorded as one EVENT_TLS per connection (when it
 * completes, or fails: outcome "completed", "alert:<code>", "timeout",
 * "not-tls", "malformed", "closed"), with every TLS field: SNI, offered ALPNs,
 * versions, ciphers, JA3 and its string, JA4 and JA4_r, negotiated version,
 * cipher and ALPN, and the family from the rules (which see proto tls, sni,
 * ja3, ja4). Every later event of the connection (each HTTP request inside,
 * an SMTP transaction after STARTTLS) carries the compact TLS fields too —
 * SNI, negotiated version, JA3 hash and JA4 — added by conn_event_begin(),
 * and the inner protocol's rules can match sni/ja3/ja4 through
 * tls_conn_fill_rules().
 *
 * STARTTLS: a plain-text protocol calls tls_start(c, srv, on_ready) from its
 * on_input when it has answered STARTTLS, and returns the number of bytes up
 * to and including the command; whatever follows in the same read is the
 * start of the TLS stream and is handed to the TLS layer by the worker. The
 * answer to the command (written with conn_write before tls_start) goes out
 * in clear; everything written after tls_start is encrypted, and what is
 * written before the handshake has completed is dropped (there is no one to
 * send it to yet). `on_ready` (may
 * be NULL) is called once when the handshake has completed and its event has
 * been recorded: the protocol resets its state there (RFC 3207: forget
 * everything learned before TLS). tls_conn_info() then gives the
 * fingerprint for its own events.
 */

/* What the ClientHello said and what was negotiated. Valid while the connection lives. */
struct tls_info {
	bool hello_seen;  /* a ClientHello was parsed; the fields below are set */
	bool done;	  /* the handshake completed */
	bool sni_present; /* the hello had an SNI extension */
	char sni[256];	  /* server name (cut at 255 bytes), "" if none */
	char ja3[TLS_JA3_HASH_LEN + 1];
	char ja4[TLS_JA4_LEN + 1];
	uint16_t hello_version;	  /* ClientHello.legacy_version */
	uint16_t offered_version; /* highest offered (supported_versions, else legacy) */
	uint16_t version;	  /* negotiated (0 until done) */
	uint16_t cipher;	  /* negotiated cipher suite id (0 until done) */
	char alpn[32];		  /* negotiated ALPN, "" if none */
	bool resumed;		  /* the session was resumed */
};

/*
 * Starts TLS on c with the certificates and versions of srv. Returns 0, or
 * ERR_NOMEM (the connection should then be closed). srv must outlive c.
 */
int tls_start(struct conn *c, struct tls_server *srv, void (*on_ready)(struct conn *c));

/* NULL when the connection is not TLS. */
const struct tls_info *tls_conn_info(const struct conn *c);

/* Adds sni / ja3 / ja4 of a TLS connection to rules input (nothing for plain connections). */
void tls_conn_fill_rules(const struct conn *c, struct rules_input *in);

/* --- for the worker ---------------------------------------------------------------- */

/* Raw bytes from the socket; returns how many were consumed (always all of them). */
size_t tls_conn_input(struct conn *c, const uint8_t *buf, size_t len, bool eof);
/* Encrypts plaintext and queues the records with conn_write_raw. */
int tls_conn_write(struct conn *c, const void *data, size_t len);
/* The connection's timer expired: true if the TLS layer handled it (handshake not complete). */
bool tls_conn_timeout(struct conn *c);
/* At shutdown: true when the TLS layer holds nothing in flight (handshake done, no record pending). */
bool tls_conn_is_idle(const struct conn *c);
/* Adds the compact TLS fields to an event being begun on this connection. */
void tls_conn_put_fields(const struct conn *c, struct event_builder *b);
/* Frees the TLS state (any close). */
void tls_conn_free(struct conn *c);

/* The `proto: tls` listener: TLS first (after an optional PROXY header), then HTTP inside. */
extern const struct proto_ops tls_http_proto_ops;

#endif
