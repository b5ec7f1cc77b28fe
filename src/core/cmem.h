/* cmem.h — OpenSSL's allocations through per-thread free lists (a TLS handshake makes ~670). */
#ifndef SINKD_CORE_CMEM_H
#define SINKD_CORE_CMEM_H

#include <stddef.h>

/*
 * A full TLS 1.3 handshake allocates and frees some 670 blocks inside
 * OpenSSL (contexts, parameters, keys, record buffers), which costs glibc's
 * malloc about 6% of the handshake's CPU. cmem keeps freed blocks in
 * per-thread lists by size class (16 bytes to 32 KiB) and hands them out
 * again without locks; larger blocks and what does not fit the bounds go
 * straight back to libc. A class keeps up to 1 MiB (64 to 1024 blocks: the
 * record buffers of a burst of handshakes that one epoll_wait hands over),
 * a thread at most CMEM_THREAD_MAX bytes. Blocks carry a
 * 16-byte header, so a pointer from cmem must only ever be freed by cmem:
 * OpenSSL guarantees that for its own memory (everything goes through
 * OPENSSL_malloc/OPENSSL_free). A block freed on another thread than the one
 * that allocated it joins the freeing thread's lists. A thread's lists are
 * released when it exits. Under AddressSanitizer cached blocks are poisoned,
 * so a use after free is still reported.
 */
#define CMEM_THREAD_MAX (4u * 1024 * 1024)

/*
 * Routes OpenSSL's allocator through cmem. Call first thing in main(),
 * before anything has touched OpenSSL: afterwards OpenSSL refuses
 * (ERR_INVAL, nothing changed).
 */
int cmem_install(void);

/* The allocator itself (the OpenSSL hooks call these). cmem_alloc(0) gives a valid block. */
void *cmem_alloc(size_t n);
/* n == 0 frees p and returns NULL; on failure p is untouched and NULL is returned. */
void *cmem_realloc(void *p, size_t n);
void cmem_free(void *p);

/* Bytes and blocks the calling thread holds in its lists (for tests). */
size_t cmem_thread_cached(size_t *blocks);

#endif
