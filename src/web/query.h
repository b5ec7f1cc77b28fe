/* query.h — URL query strings and form bodies (a=b&c=d, percent-decoding) into typed, bounded values. */
#ifndef SINKD_WEB_QUERY_H
#define SINKD_WEB_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define QUERY_MAX_BYTES	 2048 /* longer query strings are ERR_LIMIT (414 upstream) */
#define QUERY_MAX_PARAMS 32
#define QUERY_MAX_VALUE	 256 /* decoded bytes of one value */

struct query_param {
	const char *key; /* NUL-terminated, decoded, in the query's own buffer */
	const char *val;
	size_t key_len, val_len;
};

/* Owns copies of the decoded keys and values; no pointer into the input survives. */
struct query {
	struct query_param p[QUERY_MAX_PARAMS];
	size_t n;
	char buf[QUERY_MAX_BYTES + QUERY_MAX_PARAMS * 2];
	size_t used;
};

/*
 * Parses `a=b&c=d` (application/x-www-form-urlencoded: '+' is a space, %XX a
 * byte). Empty pieces (`&&`) are skipped; a piece without '=' has an empty
 * value. Returns 0, ERR_LIMIT (input longer than QUERY_MAX_BYTES, more than
 * QUERY_MAX_PARAMS pieces, a value over QUERY_MAX_VALUE) or ERR_MALFORMED
 * (a bad %-escape, a decoded NUL or control byte).
 */
int query_parse(struct query *q, const char *s, size_t len);

/* The first value of key, or NULL. */
const char *query_get(const struct query *q, const char *key);
/* How many times key occurs. */
size_t query_count(const struct query *q, const char *key);
/* The i-th value of key (0-based), or NULL. */
const char *query_get_nth(const struct query *q, const char *key, size_t i);
/* True if every key is one of the NULL-terminated list (unknown parameters are errors). */
bool query_only(const struct query *q, const char *const *allowed, const char **bad);

/* Typed values (NUL-terminated text in, 0 or ERR_MALFORMED / ERR_INVAL out). */
int query_day(const char *s, int64_t *day);		   /* YYYY-MM-DD -> days since the epoch */
int query_u64(const char *s, uint64_t max, uint64_t *out); /* decimal, no sign, <= max */
int query_asn(const char *s, uint32_t *out);		   /* 123 or AS123 */
int query_cc(const char *s, char out[3]);		   /* two letters, upper-cased */
int query_net(const char *s, struct store_net *out);	   /* a.b.c.d/n or x::/n, no host bits */
int query_addr(const char *s, uint8_t *ipver, uint8_t addr[16]); /* one address */
/* A family or report name token: [A-Za-z0-9_.-], 1..64 bytes, not "." or "..". */
bool query_name_ok(const char *s);

#endif
