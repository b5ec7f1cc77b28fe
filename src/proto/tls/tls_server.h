/* tls_server.h — one OpenSSL server context per TLS listener: versions, certificates per SNI, self-signed fallback. */
#ifndef SINKD_PROTO_TLS_SERVER_H
#define SINKD_PROTO_TLS_SERVER_H

#include <stddef.h>

#include "core/config.h"
#include "proto/tls/tls_hello.h"

typedef struct ssl_st SSL;

/*
 * Built once at start-up (before privileges are dropped, so key files may be
 * root-only) from a listener's `tls:` block; shared read-only by every worker
 * except the self-signed cache, which has its own lock. Certificates:
 *   - configured ones are chosen by SNI (exact name, or "*.example" for one
 *     label below it); names default to the certificate's own DNS names;
 *   - a hello whose name no configured certificate has (or with no SNI) gets
 *     a certificate generated for that name at runtime (self_signed: true,
 *     the default), signed by a per-process P-256 key and cached, or else the
 *     first configured certificate.
 * ALPN: http/1.1 is selected when offered (sinkd speaks no h2), otherwise no
 * ALPN is negotiated.
 */
struct tls_server;

/* ERR_CONFIG with a message naming the file on an unreadable or mismatched cert/key. */
int tls_server_new(const struct config_listener *lc, struct tls_server **out, char *errbuf,
		   size_t errlen);
void tls_server_free(struct tls_server *s);

/*
 * A new SSL for one connection with the certificate for `sni` (ptr NULL: no
 * SNI; then `fallback_name`, the address the client reached, names a
 * generated certificate). NULL when out of memory.
 */
SSL *tls_server_new_ssl(struct tls_server *s, struct tls_slice sni, const char *fallback_name);

/* tls.max_hello_bytes: raw bytes a connection may hold while its ClientHello arrives. */
size_t tls_server_max_hello(const struct tls_server *s);

/* Generated certificates currently cached (for tests and stats). */
size_t tls_server_self_signed_count(struct tls_server *s);

#endif
