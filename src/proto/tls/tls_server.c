/* tls_server.c — SSL_CTX per listener, certificates by SNI, generated self-signed certificates cached per name. */
#include "proto/tls/tls_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/*
 * SNI is chosen by the bot, so generated certificates are bounded: names
 * with characters a DNS name does not have, and every name once the cache is
 * full, get one generic certificate instead of a new one.
 */
#define TLS_SELF_MAX	 4096u
#define TLS_SELF_BUCKETS 1024u
#define TLS_NAME_MAX	 253u
#define TLS_GENERIC_NAME "sinkhole.invalid"
/*
 * TLS 1.3 suites, all three enabled, chosen in this order (server
 * preference): AES-128-GCM first, the suite every TLS 1.3 client must have
 * (RFC 8446 section 9.1) and the strength of the X25519/P-256 exchange it
 * sits on, as Firefox and Go order them. Its key schedule and transcript
 * run on SHA-256, which CPUs with SHA extensions hash several times faster
 * than SHA-384 (OpenSSL's default order puts AES-256-GCM-SHA384 first): about
 * 5% of a full handshake's CPU (docs/benchmarks.md, TLS).
 */
#define TLS_DEFAULT_SUITES                                                                         \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct tls_cert {
	X509 *x509;
	EVP_PKEY *key;
	STACK_OF(X509) * chain;
	char **names; /* lower case; "*.example" matches one label below example */
	size_t n_names;
};

struct self_entry {
	struct self_entry *next;
	X509 *x509;
	char name[];
};

struct tls_server {
	SSL_CTX *ctx;
	struct tls_cert *certs;
	size_t n_certs;
	bool self_signed;
	size_t max_hello;
	EVP_PKEY *self_key;
	X509 *generic;
	pthread_mutex_t lock; /* the self-signed cache below */
	struct self_entry *buckets[TLS_SELF_BUCKETS];
	size_t n_self;
};

/* Selects http/1.1 when the client offers it; otherwise the handshake goes on without ALPN. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];
		if (n > inlen - i - 1)
			break;
		if (n == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int ssl_err(char *errbuf, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char msg[256];
	ERR_error_string_n(e, msg, sizeof msg);
	ERR_clear_error();
	snprintf(errbuf, errlen, "%s %s: %s", what, file ? file : "", e ? msg : "failed");
	return ERR_CONFIG;
}

static char *lower_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	d[n] = '\0';
	return d;
}

static int add_name(struct tls_cert *c, const char *s, size_t n)
{
	char **names = realloc(c->names, (c->n_names + 1) * sizeof *names);
	if (!names)
		return ERR_NOMEM;
	c->names = names;
	c->names[c->n_names] = lower_dup(s, n);
	if (!c->names[c->n_names])
		return ERR_NOMEM;
	c->n_names++;
	return 0;
}

/* The certificate's own DNS names (subjectAltName), or its CN when it has none. */
static int names_from_cert(struct tls_cert *c)
{
	GENERAL_NAMES *san = X509_get_ext_d2i(c->x509, NID_subject_alt_name, NULL, NULL);
	int rc = 0;
	for (int i = 0; san && rc == 0 && i < sk_GENERAL_NAME_num(san); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
		if (g->type != GEN_DNS)
			continue;
		rc = add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			      (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(san);
	if (rc || c->n_names)
		return rc;
	char cn[256];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(c->x509), NID_commonName, cn,
					  sizeof cn);
	return n > 0 ? add_name(c, cn, (size_t)n) : 0;
}

static int load_cert(struct tls_cert *c, const struct config_tls_cert *cc, char *errbuf,
		     size_t errlen)
{
	FILE *f = fopen(cc->cert_file, "r");
	if (!f) {
		snprintf(errbuf, errlen, "tls cert %s: cannot open", cc->cert_file);
		return ERR_CONFIG;
	}
	c->x509 = PEM_read_X509(f, NULL, NULL, NULL);
	c->chain = sk_X509_new_null();
	X509 *extra;
	while (c->chain && (extra = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		sk_X509_push(c->chain, extra);
	fclose(f);
	ERR_clear_error(); /* the end of the chain reads as an error */
	if (!c->x509 || !c->chain)
		return ssl_err(errbuf, errlen, "tls cert", cc->cert_file);
	const char *kf = cc->key_file ? cc->key_file : cc->cert_file;
	f = fopen(kf, "r");
	if (!f) {
		snprintf(errbuf, errlen, "tls key %s: cannot open", kf);
		return ERR_CONFIG;
	}
	c->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!c->key)
		return ssl_err(errbuf, errlen, "tls key", kf);
	if (X509_check_private_key(c->x509, c->key) != 1)
		return ssl_err(errbuf, errlen, "tls key does not match cert", cc->cert_file);
	for (size_t i = 0; i < cc->n_names; i++)
		if (add_name(c, cc->names[i], strlen(cc->names[i])))
			return ERR_NOMEM;
	if (!cc->n_names && names_from_cert(c))
		return ERR_NOMEM;
	return 0;
}

/* A self-signed certificate for one name (a DNS name, or an address as an IP SAN). */
static X509 *self_make(EVP_PKEY *key, const char *name)
{
	X509 *x = X509_new();
	if (!x)
		return NULL;
	uint64_t serial = 0;
	if (RAND_bytes((unsigned char *)&serial, sizeof serial) != 1)
		goto fail;
	X509V3_CTX v3;
	char san[TLS_NAME_MAX + 8];
	bool ip = strspn(name, "0123456789.") == strlen(name) || strchr(name, ':');
	snprintf(san, sizeof san, "%s:%s", ip ? "IP" : "DNS", name);
	X509_NAME *nm = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 397L * 86400) || !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1,
					0) ||
	    !X509_set_issuer_name(x, nm))
		goto fail;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (!ext)
		goto fail;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok || !X509_sign(x, key, EVP_sha256()))
		goto fail;
	return x;
fail:
	ERR_clear_error();
	X509_free(x);
	return NULL;
}

/* A name fit for a certificate: DNS characters only, lower-cased into out. */
static bool clean_name(const uint8_t *s, size_t n, char out[TLS_NAME_MAX + 1])
{
	if (n == 0 || n > TLS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_' || c == ':'))
			return false;
		out[i] = (char)c;
	}
	out[n] = '\0';
	return true;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The cached certificate for name, generated on first use; the generic one when full or unfit. */
static X509 *self_get(struct tls_server *s, const uint8_t *raw, size_t n)
{
	char name[TLS_NAME_MAX + 1];
	if (!clean_name(raw, n, name))
		return s->generic;
	uint32_t b = name_hash(name) % TLS_SELF_BUCKETS;
	pthread_mutex_lock(&s->lock);
	for (struct self_entry *e = s->buckets[b]; e; e = e->next) {
		if (!strcmp(e->name, name)) {
			pthread_mutex_unlock(&s->lock);
			return e->x509;
		}
	}
	bool full = s->n_self >= TLS_SELF_MAX;
	pthread_mutex_unlock(&s->lock);
	if (full)
		return s->generic;
	/* Signed outside the lock; a race between two workers keeps the first. */
	X509 *x = self_make(s->self_key, name);
	size_t len = strlen(name);
	struct self_entry *ne = x ? malloc(sizeof *ne + len + 1) : NULL;
	if (!ne) {
		X509_free(x);
		return s->generic;
	}
	memcpy(ne->name, name, len + 1);
	ne->x509 = x;
	pthread_mutex_lock(&s->lock);
	for (struct self_entry *e = s->buckets[b]; e; e = e->next) {
		if (!strcmp(e->name, name)) {
			pthread_mutex_unlock(&s->lock);
			X509_free(x);
			free(ne);
			return e->x509;
		}
	}
	ne->next = s->buckets[b];
	s->buckets[b] = ne;
	s->n_self++;
	pthread_mutex_unlock(&s->lock);
	return x;
}

size_t tls_server_max_hello(const struct tls_server *s)
{
	return s->max_hello;
}

size_t tls_server_self_signed_count(struct tls_server *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n_self;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static bool name_match(const char *pat, const uint8_t *sni, size_t n)
{
	size_t pl = strlen(pat);
	if (pat[0] == '*' && pat[1] == '.') {
		/* One label: "x.example" matches "*.example", "a.x.example" does not. */
		const uint8_t *dot = memchr(sni, '.', n);
		if (!dot || dot == sni)
			return false;
		size_t rest = n - (size_t)(dot - sni);
		return rest == pl - 1 && !strncasecmp((const char *)dot, pat + 1, rest);
	}
	return pl == n && !strncasecmp((const char *)sni, pat, n);
}

static const struct tls_cert *cert_for(const struct tls_server *s, struct tls_slice sni)
{
	size_t n = sni.len;
	if (n && sni.ptr[n - 1] == '.')
		n--; /* "example.com." is example.com */
	for (size_t i = 0; sni.ptr && n && i < s->n_certs; i++)
		for (size_t j = 0; j < s->certs[i].n_names; j++)
			if (name_match(s->certs[i].names[j], sni.ptr, n))
				return &s->certs[i];
	return NULL;
}

SSL *tls_server_new_ssl(struct tls_server *s, struct tls_slice sni, const char *fallback_name)
{
	SSL *ssl = SSL_new(s->ctx);
	if (!ssl)
		return NULL;
	const struct tls_cert *c = cert_for(s, sni);
	int ok = 1;
	/*
	 * The context holds the first certificate; another one replaces it
	 * rather than joining it (OpenSSL keeps one per key type and would pick
	 * the ECDSA one over an RSA one).
	 */
	if ((c && c != &s->certs[0]) || (!c && s->self_signed))
		SSL_certs_clear(ssl);
	if (c && c != &s->certs[0]) {
		ok = SSL_use_cert_and_key(ssl, c->x509, c->key, c->chain, 1);
	} else if (!c && s->self_signed) {
		const uint8_t *name = sni.ptr && sni.len ? sni.ptr : (const uint8_t *)fallback_name;
		size_t len = sni.ptr && sni.len ? sni.len : strlen(fallback_name);
		if (len && name[len - 1] == '.')
			len--;
		X509 *x = self_get(s, name, len);
		ok = SSL_use_cert_and_key(ssl, x, s->self_key, NULL, 1);
	}
	if (ok != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void tls_server_free(struct tls_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_certs; i++) {
		X509_free(s->certs[i].x509);
		EVP_PKEY_free(s->certs[i].key);
		sk_X509_pop_free(s->certs[i].chain, X509_free);
		for (size_t j = 0; j < s->certs[i].n_names; j++)
			free(s->certs[i].names[j]);
		free(s->certs[i].names);
	}
	free(s->certs);
	for (size_t b = 0; b < TLS_SELF_BUCKETS; b++) {
		while (s->buckets[b]) {
			struct self_entry *e = s->buckets[b];
			s->buckets[b] = e->next;
			X509_free(e->x509);
			free(e);
		}
	}
	X509_free(s->generic);
	EVP_PKEY_free(s->self_key);
	SSL_CTX_free(s->ctx);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int tls_server_new(const struct config_listener *lc, struct tls_server **out, char *errbuf,
		   size_t errlen)
{
	const struct config_tls *t = &lc->tls;
	*out = NULL;
	struct tls_server *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->self_signed = t->self_signed || t->n_certs == 0;
	s->max_hello = t->max_hello_bytes ? t->max_hello_bytes : 64u << 10;
	int rc = ERR_CONFIG;
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (!s->ctx)
		goto fail_ssl;
	SSL_CTX_set_min_proto_version(s->ctx, t->min_version);
	SSL_CTX_set_max_proto_version(s->ctx, t->max_version);
	uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			SSL_OP_NO_COMPRESSION;
	if (!t->session_tickets)
		opts |= SSL_OP_NO_TICKET;
	SSL_CTX_set_options(s->ctx, opts);
	SSL_CTX_set_session_cache_mode(s->ctx, t->session_cache ? SSL_SESS_CACHE_SERVER :
								  SSL_SESS_CACHE_OFF);
	if (!t->session_cache && !t->session_tickets)
		SSL_CTX_set_num_tickets(s->ctx, 0);
	SSL_CTX_set_session_id_context(s->ctx, (const unsigned char *)"sinkd", 5);
	/* Old bots speak old TLS: by default nothing is refused for being weak. */
	if (!SSL_CTX_set_cipher_list(s->ctx, t->ciphers ? t->ciphers : "ALL:@SECLEVEL=0"))
		goto fail_ssl;
	if (!SSL_CTX_set_ciphersuites(s->ctx,
				      t->ciphersuites ? t->ciphersuites : TLS_DEFAULT_SUITES))
		goto fail_ssl;
	SSL_CTX_set_alpn_select_cb(s->ctx, alpn_select, NULL);
	/*
	 * Record buffers are released once the handshake is over (tls_conn.c):
	 * during it, releasing would free and allocate 17 KiB per flight.
	 */
	SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_NO_AUTO_CHAIN);
	/* The connection BIO reads from memory: whole records per read, not header then body. */
	SSL_CTX_set_read_ahead(s->ctx, 1);

	if (t->n_certs) {
		s->certs = calloc(t->n_certs, sizeof *s->certs);
		if (!s->certs) {
			rc = ERR_NOMEM;
			goto fail;
		}
		for (size_t i = 0; i < t->n_certs; i++) {
			s->n_certs = i + 1;
			rc = load_cert(&s->certs[i], &t->certs[i], errbuf, errlen);
			if (rc)
				goto fail;
		}
		if (SSL_CTX_use_cert_and_key(s->ctx, s->certs[0].x509, s->certs[0].key,
					     s->certs[0].chain, 1) != 1)
			goto fail_ssl;
	}
	if (s->self_signed) {
		s->self_key = EVP_EC_gen("P-256");
		if (!s->self_key)
			goto fail_ssl;
		s->generic = self_make(s->self_key, TLS_GENERIC_NAME);
		if (!s->generic)
			goto fail_ssl;
	}
	*out = s;
	return 0;
fail_ssl:
	rc = ssl_err(errbuf, errlen, "tls setup for listener", lc->name);
fail:
	tls_server_free(s);
	return rc;
}
