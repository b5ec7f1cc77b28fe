/* cmem.c — per-thread size-class free lists behind OpenSSL's allocator hooks. */
#include "core/cmem.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CM_ASAN 1
#endif
#ifdef CM_ASAN
#include <sanitizer/asan_interface.h>
#define CM_POISON(p, n)	  ASAN_POISON_MEMORY_REGION((p), (n))
#define CM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define CM_POISON(p, n)	  ((void)(p), (void)(n))
#define CM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CM_CLASSES    44u
#define CM_MAX	      32768u
#define CM_LARGE      0xffffffffu
#define CM_MAGIC_USED 0x6d656d75u /* handed out */
#define CM_MAGIC_FREE 0x6d656d66u /* in a free list */

/* 16-byte steps to 256, then four classes per doubling to 32 KiB (at most 25% slack). */
static const uint32_t cm_sizes[CM_CLASSES] = {
	16,   32,   48,	  64,	 80,	96,    112,   128,   144,   160,   176,
	192,  208,  224,  240,	 256,	320,   384,   448,   512,   640,   768,
	896,  1024, 1280, 1536,	 1792,	2048,  2560,  3072,  3584,  4096,  5120,
	6144, 7168, 8192, 10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
};

/* Blocks a thread keeps per class: 1 MiB worth, within [64, 1024]. */
static const uint16_t cm_caps[CM_CLASSES] = {
	1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024,
	1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 819,  682,  585,	512,  409,  341,
	292,  256,  204,  170,	146,  128,  102,  85,	73,   64,   64,	  64,	64,   64,
};

/* In front of every block; 16 bytes, so the block keeps malloc's alignment. */
struct cm_hdr {
	uint32_t cls; /* index into cm_sizes, or CM_LARGE */
	uint32_t magic;
	union {
		struct cm_hdr *next; /* in a free list */
		size_t len;	     /* handed out: the size asked for */
	} u;
};

enum {
	CM_NEW = 0,
	CM_LIVE,
	CM_GONE
};

struct cm_cache {
	struct cm_hdr *head[CM_CLASSES];
	uint16_t count[CM_CLASSES];
	size_t bytes;
	uint8_t state; /* CM_LIVE once the thread-exit destructor is armed */
};

static __thread struct cm_cache cm_tc;
static pthread_key_t cm_key;
static pthread_once_t cm_once = PTHREAD_ONCE_INIT;
static bool cm_key_ok;

static inline unsigned cm_class(size_t n)
{
	if (n <= 256)
		return n ? (unsigned)((n - 1) >> 4) : 0;
	unsigned b = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 8..14 */
	return 16u + (b - 8u) * 4u + (unsigned)(((n - 1) >> (b - 2u)) & 3u);
}

static void cm_drain(struct cm_cache *tc)
{
	for (unsigned c = 0; c < CM_CLASSES; c++) {
		while (tc->head[c]) {
			struct cm_hdr *h = tc->head[c];
			tc->head[c] = h->u.next;
			CM_UNPOISON(h + 1, cm_sizes[c]);
			free(h);
		}
		tc->count[c] = 0;
	}
	tc->bytes = 0;
}

/* A thread's lists go back to libc when it exits; frees after that go straight there too. */
static void cm_thread_exit(void *arg)
{
	(void)arg;
	cm_drain(&cm_tc);
	cm_tc.state = CM_GONE;
}

static void cm_key_init(void)
{
	cm_key_ok = pthread_key_create(&cm_key, cm_thread_exit) == 0;
}

/* Arms the thread-exit destructor before the thread keeps its first block. */
static bool cm_arm(struct cm_cache *tc)
{
	if (tc->state == CM_GONE)
		return false;
	pthread_once(&cm_once, cm_key_init);
	if (!cm_key_ok || pthread_setspecific(cm_key, tc) != 0)
		return false;
	tc->state = CM_LIVE;
	return true;
}

static struct cm_hdr *cm_hdr_of(void *p)
{
	struct cm_hdr *h = (struct cm_hdr *)p - 1;
	/* Not a block cmem handed out (a foreign pointer, a double free, a smashed header). */
	if (h->magic != CM_MAGIC_USED)
		abort();
	return h;
}

void *cmem_alloc(size_t n)
{
	struct cm_hdr *h;
	if (n > CM_MAX) {
		if (n > SIZE_MAX - sizeof *h)
			return NULL;
		h = malloc(sizeof *h + n);
		if (!h)
			return NULL;
		h->cls = CM_LARGE;
	} else {
		unsigned c = cm_class(n);
		struct cm_cache *tc = &cm_tc;
		h = tc->head[c];
		if (h) {
			/* The next block's header is loaded now, not when the next allocation waits for it. */
			tc->head[c] = h->u.next;
			__builtin_prefetch(h->u.next, 1);
			tc->count[c]--;
			tc->bytes -= cm_sizes[c];
			CM_UNPOISON(h + 1, n);
		} else {
			h = malloc(sizeof *h + cm_sizes[c]);
			if (!h)
				return NULL;
			h->cls = c;
			CM_POISON((uint8_t *)(h + 1) + n, cm_sizes[c] - n);
		}
	}
	h->magic = CM_MAGIC_USED;
	h->u.len = n;
	return h + 1;
}

void cmem_free(void *p)
{
	if (!p)
		return;
	struct cm_hdr *h = cm_hdr_of(p);
	unsigned c = h->cls;
	struct cm_cache *tc = &cm_tc;
	if (c == CM_LARGE || tc->count[c] >= cm_caps[c] ||
	    tc->bytes + cm_sizes[c] > CMEM_THREAD_MAX || (tc->state != CM_LIVE && !cm_arm(tc))) {
		h->magic = 0;
		free(h);
		return;
	}
	CM_POISON(p, cm_sizes[c]);
	h->magic = CM_MAGIC_FREE;
	h->u.next = tc->head[c];
	tc->head[c] = h;
	tc->count[c]++;
	tc->bytes += cm_sizes[c];
}

void *cmem_realloc(void *p, size_t n)
{
	if (!p)
		return cmem_alloc(n);
	if (!n) {
		cmem_free(p);
		return NULL;
	}
	struct cm_hdr *h = cm_hdr_of(p);
	if (h->cls == CM_LARGE) {
		if (n > SIZE_MAX - sizeof *h)
			return NULL;
		struct cm_hdr *nh = realloc(h, sizeof *h + n);
		if (!nh)
			return NULL;
		nh->u.len = n;
		return nh + 1;
	}
	size_t have = cm_sizes[h->cls];
	if (n <= have) {
		CM_UNPOISON(p, n);
		CM_POISON((uint8_t *)p + n, have - n);
		h->u.len = n;
		return p;
	}
	void *q = cmem_alloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, h->u.len);
	cmem_free(p);
	return q;
}

size_t cmem_thread_cached(size_t *blocks)
{
	size_t k = 0;
	for (unsigned c = 0; c < CM_CLASSES; c++)
		k += cm_tc.count[c];
	if (blocks)
		*blocks = k;
	return cm_tc.bytes;
}

static void *cm_hook_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return cmem_alloc(n);
}

static void *cm_hook_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return cmem_realloc(p, n);
}

static void cm_hook_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	cmem_free(p);
}

int cmem_install(void)
{
	return CRYPTO_set_mem_functions(cm_hook_malloc, cm_hook_realloc, cm_hook_free) ? 0 :
											 ERR_INVAL;
}
