/* test_cmem.c — the per-thread allocator behind OpenSSL: classes, reuse, bounds, realloc, threads, a real handshake. */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/cmem.h"
#include "core/err.h"

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7u);
}

static int same(const uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(seed + i * 7u))
			return 0;
	return 1;
}

/* Every size up to past the largest class: usable, 16-byte aligned, freed blocks come back. */
static void test_sizes_and_reuse(void)
{
	size_t b0;
	size_t c0 = cmem_thread_cached(&b0);
	for (size_t n = 0; n <= 40000; n += (n < 600 ? 1 : 97)) {
		uint8_t *p = cmem_alloc(n);
		CHECK(p != NULL);
		if (!p)
			return;
		CHECK_INT((uintptr_t)p % 16, 0);
		fill(p, n, (uint8_t)n);
		CHECK(same(p, n, (uint8_t)n));
		cmem_free(p);
		/* The same size again gets the block just freed (LIFO), when it was kept. */
		uint8_t *q = cmem_alloc(n);
		if (n <= 32768)
			CHECK(q == p);
		cmem_free(q);
	}
	size_t b1;
	size_t c1 = cmem_thread_cached(&b1);
	CHECK(b1 > b0);
	CHECK(c1 > c0);
	CHECK(c1 <= CMEM_THREAD_MAX);
	cmem_free(NULL);
}

/* A class keeps at most its share; the thread at most CMEM_THREAD_MAX. */
static void test_bounds(void)
{
	enum {
		N = 1500
	};
	static void *p[N];
	size_t b0;
	cmem_thread_cached(&b0);
	for (size_t i = 0; i < N; i++)
		p[i] = cmem_alloc(24);
	for (size_t i = 0; i < N; i++)
		cmem_free(p[i]);
	size_t b1;
	cmem_thread_cached(&b1);
	CHECK(b1 > b0);
	CHECK(b1 - b0 <= 1024); /* the 32-byte class keeps 1024 blocks */
	CHECK(b1 - b0 >= 1000);
	for (size_t i = 0; i < N; i++)
		p[i] = cmem_alloc(20000 + i * 8);
	for (size_t i = 0; i < N; i++)
		cmem_free(p[i]);
	CHECK(cmem_thread_cached(NULL) <= CMEM_THREAD_MAX);
}

static void test_realloc(void)
{
	uint8_t *p = cmem_realloc(NULL, 10);
	CHECK(p != NULL);
	fill(p, 10, 3);
	uint8_t *q = cmem_realloc(p, 16); /* same class: in place */
	CHECK(q == p);
	CHECK(same(q, 10, 3));
	fill(q, 16, 4);
	p = cmem_realloc(q, 5000); /* grows into another class */
	CHECK(p != NULL);
	CHECK(same(p, 16, 4));
	fill(p, 5000, 5);
	q = cmem_realloc(p, 100000); /* into a large block */
	CHECK(q != NULL);
	CHECK(same(q, 5000, 5));
	fill(q, 100000, 6);
	p = cmem_realloc(q, 300000); /* large stays large */
	CHECK(p != NULL);
	CHECK(same(p, 100000, 6));
	p = cmem_realloc(p, 7); /* shrinks in place */
	CHECK(p != NULL);
	CHECK(same(p, 7, 6));
	CHECK(cmem_realloc(p, 0) == NULL); /* frees */
	CHECK(cmem_realloc(NULL, (size_t)-1) == NULL);
	CHECK(cmem_alloc((size_t)-8) == NULL);
}

/* Blocks allocated on one thread and freed on another; a thread's lists are released when it exits. */
struct xfer {
	void *blocks[64];
	size_t cached_before_exit;
};

static void *alloc_thread(void *arg)
{
	struct xfer *x = arg;
	for (size_t i = 0; i < 64; i++) {
		x->blocks[i] = cmem_alloc(100 + i * 50);
		if (x->blocks[i])
			fill(x->blocks[i], 100 + i * 50, (uint8_t)i);
	}
	/* Some churn of its own, so it exits holding blocks (LeakSanitizer checks they are freed). */
	for (size_t i = 0; i < 200; i++)
		cmem_free(cmem_alloc(i * 13));
	x->cached_before_exit = cmem_thread_cached(NULL);
	return NULL;
}

static void test_threads(void)
{
	struct xfer x = { 0 };
	pthread_t t;
	CHECK_INT(pthread_create(&t, NULL, alloc_thread, &x), 0);
	CHECK_INT(pthread_join(t, NULL), 0);
	CHECK(x.cached_before_exit > 0);
	size_t b0;
	cmem_thread_cached(&b0);
	for (size_t i = 0; i < 64; i++) {
		CHECK(x.blocks[i] && same(x.blocks[i], 100 + i * 50, (uint8_t)i));
		cmem_free(x.blocks[i]);
	}
	size_t b1;
	cmem_thread_cached(&b1);
	CHECK(b1 > b0); /* kept by the thread that freed them */
}

/* A TLS 1.3 handshake between two SSL objects in memory, every OpenSSL allocation through cmem. */
static void test_openssl_handshake(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	CHECK(key && x);
	if (!key || !x)
		return;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"cmem.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	CHECK(X509_sign(x, key, EVP_sha256()) > 0);
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	CHECK(sctx && cctx);
	CHECK_INT(SSL_CTX_use_cert_and_key(sctx, x, key, NULL, 1), 1);
	SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
	for (int round = 0; round < 20; round++) {
		SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
		BIO *sb, *cb;
		CHECK_INT(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
		SSL_set_bio(s, sb, sb);
		SSL_set_bio(c, cb, cb);
		SSL_set_accept_state(s);
		SSL_set_connect_state(c);
		int done = 0;
		for (int i = 0; i < 20 && done != 3; i++) {
			if (!(done & 1) && SSL_do_handshake(c) == 1)
				done |= 1;
			if (!(done & 2) && SSL_do_handshake(s) == 1)
				done |= 2;
		}
		CHECK_INT(done, 3);
		char buf[16] = { 0 };
		CHECK_INT(SSL_write(c, "ping", 4), 4);
		CHECK_INT(SSL_read(s, buf, sizeof buf), 4);
		CHECK_STR(buf, "ping");
		SSL_free(s);
		SSL_free(c);
	}
	size_t blocks;
	cmem_thread_cached(&blocks);
	CHECK(blocks > 20); /* OpenSSL's frees landed in this thread's lists */
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* Once OpenSSL has allocated with its own allocator, installing is refused and changes nothing. */
static void test_install_too_late(const char *self)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl(self, self, "--late", (char *)NULL);
		_exit(3);
	}
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer a cached block is poisoned: touching it after the free is reported. */
static void test_asan_poison(void)
{
	for (int overflow = 0; overflow < 2; overflow++) {
		fflush(stderr);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stderr))
				_exit(3);
			volatile char *p = cmem_alloc(40);
			if (overflow) {
				p[44] = 1; /* inside the 48-byte class, past the 40 asked for */
			} else {
				cmem_free((void *)p);
				p[3] = 1;
			}
			_exit(0);
		}
		int st = 0;
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0));
	}
}
#endif

static int late_child(void)
{
	void *p = OPENSSL_malloc(32);
	int rc = cmem_install();
	OPENSSL_free(p);
	return rc == ERR_INVAL ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--late"))
		return late_child();
	CHECK_INT(cmem_install(), 0);
	test_sizes_and_reuse();
	test_bounds();
	test_realloc();
	test_threads();
	test_openssl_handshake();
	test_install_too_late(argv[0]);
#if defined(__SANITIZE_ADDRESS__)
	test_asan_poison();
#endif
	return check_done("test_cmem");
}
