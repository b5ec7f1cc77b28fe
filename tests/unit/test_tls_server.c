/* test_tls_server.c — certificate choice by SNI and the self-signed cache, from several threads at once. */
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "core/err.h"
#include "proto/tls/tls_server.h"

static char errbuf[512];

static struct tls_slice sni(const char *s)
{
	struct tls_slice t = { (const uint8_t *)s, s ? strlen(s) : 0 };
	return t;
}

/* The subject CN of the certificate a new SSL would present for this SNI ("" on failure). */
static void cn_for(struct tls_server *srv, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	SSL *ssl = tls_server_new_ssl(srv, sni(name), "192.0.2.1");
	if (!ssl)
		return;
	X509 *x = SSL_get_certificate(ssl);
	if (x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
	SSL_free(ssl);
}

static struct config *load(const char *yaml)
{
	struct config *c = NULL;
	int rc = config_load_string(yaml, strlen(yaml), "t.yaml", &c, errbuf, sizeof errbuf);
	if (rc)
		fprintf(stderr, "config: %s\n", errbuf);
	CHECK_INT(rc, 0);
	return c;
}

/* A listener with no certificates: everything self-signed. NULL (and nothing to free) on failure. */
static struct tls_server *default_server(struct config **cfg)
{
	struct tls_server *srv = NULL;
	*cfg = load("listen: [ { proto: tls, addr: \"127.0.0.1:8443\" } ]\n");
	if (*cfg)
		CHECK_INT(tls_server_new(&(*cfg)->listeners[0], &srv, errbuf, sizeof errbuf), 0);
	if (!srv)
		config_free(*cfg);
	return srv;
}

static void test_self_signed(void)
{
	struct config *c;
	struct tls_server *srv = default_server(&c);
	if (!srv)
		return;
	char cn[256];
	cn_for(srv, "CNC.Example.test", cn, sizeof cn);
	CHECK_STR(cn, "cnc.example.test"); /* lower-cased */
	cn_for(srv, "cnc.example.test.", cn, sizeof cn);
	CHECK_STR(cn, "cnc.example.test"); /* the root dot is the same name */
	CHECK_INT(tls_server_self_signed_count(srv), 1);
	cn_for(srv, NULL, cn, sizeof cn); /* no SNI: the address reached */
	CHECK_STR(cn, "192.0.2.1");
	cn_for(srv, "bad name,DNS:evil", cn, sizeof cn); /* never put into a certificate */
	CHECK_STR(cn, "sinkhole.invalid");
	CHECK_INT(tls_server_self_signed_count(srv), 2);
	tls_server_free(srv);
	config_free(c);
}

struct worker_arg {
	struct tls_server *srv;
	int id;
	int failures;
};

/* Every thread asks for the same 64 names (and a few of its own) at once. */
static void *hammer(void *p)
{
	struct worker_arg *a = p;
	char name[64], cn[256];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 64; i++) {
			snprintf(name, sizeof name, "n%d.seized.test", i);
			cn_for(a->srv, name, cn, sizeof cn);
			if (strcmp(cn, name) != 0)
				a->failures++;
		}
		snprintf(name, sizeof name, "t%d-%d.seized.test", a->id, round);
		cn_for(a->srv, name, cn, sizeof cn);
		if (strcmp(cn, name) != 0)
			a->failures++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct config *c;
	struct tls_server *srv = default_server(&c);
	if (!srv)
		return;
	enum {
		N = 4
	};
	pthread_t th[N];
	struct worker_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct worker_arg){ srv, i, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(args[i].failures, 0);
	}
	/* Each name generated once, however many workers asked at the same time. */
	CHECK_INT(tls_server_self_signed_count(srv), 64 + N * 3);
	tls_server_free(srv);
	config_free(c);
}

static void test_errors(void)
{
	struct config *c = load("listen:\n  - { proto: tls, addr: \"127.0.0.1:8443\",\n"
				"      tls: { certs: [ { cert: /nonexistent/a.pem } ] } }\n");
	if (!c)
		return;
	struct tls_server *srv = NULL;
	CHECK_INT(tls_server_new(&c->listeners[0], &srv, errbuf, sizeof errbuf), ERR_CONFIG);
	CHECK(srv == NULL && strstr(errbuf, "/nonexistent/a.pem") != NULL);
	config_free(c);
}

int main(void)
{
	test_self_signed();
	test_threads();
	test_errors();
	return check_done("tls_server");
}
