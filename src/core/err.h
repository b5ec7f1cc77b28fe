/* err.h — the project's one error enum: every function returns 0 or a negative ERR_* code. */
#ifndef SINKD_CORE_ERR_H
#define SINKD_CORE_ERR_H

/*
 * Parsers distinguish ERR_NEED_MORE (the input is a valid prefix, feed more
 * bytes) from ERR_MALFORMED (no continuation can make it valid).
 * ERR_SYS means "look at errno", which the caller must read before any other
 * libc call.
 */
enum err_code {
	ERR_OK = 0,
	ERR_NEED_MORE = -1,   /* incomplete input: call again with more bytes */
	ERR_MALFORMED = -2,   /* input violates the protocol */
	ERR_LIMIT = -3,	      /* a configured or protocol limit was exceeded */
	ERR_NOMEM = -4,	      /* allocation failed or a buffer's hard maximum was hit */
	ERR_SYS = -5,	      /* a system call failed; errno holds why */
	ERR_CONFIG = -6,      /* configuration is invalid */
	ERR_CORRUPT = -7,     /* stored data failed a CRC, chain or framing check */
	ERR_FULL = -8,	      /* a queue or ring has no room */
	ERR_INVAL = -9,	      /* an argument is out of range */
	ERR_NOT_FOUND = -10,  /* the thing asked for does not exist */
	ERR_END = -11,	      /* no more items (end of log, end of iteration) */
	ERR_UNSUPPORTED = -12 /* a version or feature this build does not handle */
};

/* Static English text for a code; never NULL. */
const char *err_str(int code);

#endif
