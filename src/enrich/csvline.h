/* csvline.h — split one line of a CSV/TSV data file into fields (RFC 4180 quoting), bounded. */
#ifndef SINKD_ENRICH_CSVLINE_H
#define SINKD_ENRICH_CSVLINE_H

#include <stdbool.h>
#include <stddef.h>

#define CSVLINE_MAX_FIELDS 16
#define CSVLINE_MAX_BYTES  4096 /* a longer line is refused */

struct csvline {
	size_t n;			   /* fields found */
	const char *f[CSVLINE_MAX_FIELDS]; /* NUL-terminated, in `buf` */
	size_t len[CSVLINE_MAX_FIELDS];
	char buf[CSVLINE_MAX_BYTES + CSVLINE_MAX_FIELDS];
};

/*
 * Splits line[0..len) (without its line end) at `sep`. With `quotes`, a field
 * that starts with '"' runs to the closing quote and "" inside it is one
 * quote (RFC 4180). Returns 0, or ERR_MALFORMED (unterminated quote, text
 * after a closing quote, more than CSVLINE_MAX_FIELDS fields, a NUL byte) or
 * ERR_LIMIT (line too long).
 */
int csvline_split(const char *line, size_t len, char sep, bool quotes, struct csvline *out);

/*
 * Iterates over the lines of buf[0..len): returns false at the end. Line ends
 * are LF or CRLF; the last line needs none.
 */
bool csvline_next(const char *buf, size_t len, size_t *pos, const char **line, size_t *line_len);

/* Reads a whole file (at most max bytes, else ERR_LIMIT) into a malloc'd, NUL-terminated buffer. */
int csvline_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
