/* vec.h — loader for the vector files of the parser tests (tests/vectors/PROTO/NAME.vec). */
#ifndef SINKD_TESTS_VEC_H
#define SINKD_TESTS_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Vector files: one case per block, lines "key value". "name" starts a case,
 * "end" runs it. "in" and "rep N" append to the input; every value is
 * unescaped (\r \n \t \0 \s for a space, \\ and \xHH), so binary and
 * trailing whitespace stay visible. Lines starting with '#' are comments.
 */

#define VEC_MAX_IN  65536
#define VEC_MAX_KV  32
#define VEC_MAX_VAL 1024

struct vec_kv {
	char key[16];
	char val[VEC_MAX_VAL];
	size_t val_len;
};

struct vec_case {
	char name[96];
	const char *file;
	int line;
	char in[VEC_MAX_IN];
	size_t in_len;
	struct vec_kv kv[VEC_MAX_KV];
	size_t n_kv;
};

/* Unescapes s into out (at most cap bytes); returns the length or -1 on a bad escape. */
long vec_unescape(const char *s, char *out, size_t cap);
/* Decimal digits only, whole string. */
bool vec_parse_u64(const char *s, uint64_t *out);
/* The case's value for key, or NULL. */
const struct vec_kv *vec_get(const struct vec_case *vc, const char *key);
bool vec_u64(const struct vec_case *vc, const char *key, uint64_t *out);
/* Reads a vector file and calls run() for each case. Returns the number of cases, -1 on error. */
int vec_load(const char *path, void (*run)(const struct vec_case *vc));
/* The "want" key as an ERR_* code (ok = 0); 1 when absent or unknown. */
int vec_want_code(const struct vec_case *vc);

#endif
