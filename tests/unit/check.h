/* check.h — minimal assertion helpers for unit tests: print both values, count failures. */
#ifndef SINKD_TESTS_CHECK_H
#define SINKD_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		check_count++;                                                                     \
		if (check_a_ != check_b_) {                                                        \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,        \
				__LINE__, #a, #b, check_a_, check_b_);                             \
		}                                                                                  \
	} while (0)

/* Compares a (ptr, len) slice with a NUL-terminated expected string. */
#define CHECK_SLICE(ptr_, len_, lit)                                                               \
	do {                                                                                       \
		const char *check_p_ = (const char *)(ptr_);                                       \
		size_t check_n_ = (size_t)(len_);                                                  \
		const char *check_l_ = (lit);                                                      \
		check_count++;                                                                     \
		if (check_n_ != strlen(check_l_) ||                                                \
		    (check_n_ && memcmp(check_p_, check_l_, check_n_) != 0)) {                     \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s: got \"%.*s\", want \"%s\"\n", __FILE__,        \
				__LINE__, #ptr_, (int)check_n_, check_p_ ? check_p_ : "",          \
				check_l_);                                                         \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_sa_ = (a), *check_sb_ = (b);                                     \
		check_count++;                                                                     \
		if (!check_sa_ || !check_sb_ || strcmp(check_sa_, check_sb_) != 0) {               \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__,          \
				__LINE__, #a, check_sa_ ? check_sa_ : "(null)",                    \
				check_sb_ ? check_sb_ : "(null)");                                 \
		}                                                                                  \
	} while (0)

/* Call at the end of main: prints a summary, returns the exit status. */
static inline int check_done(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
