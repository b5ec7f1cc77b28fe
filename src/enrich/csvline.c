/* csvline.c — bounded CSV/TSV line splitting and whole-file reading for the enrichment loaders. */
#include "enrich/csvline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

int csvline_split(const char *line, size_t len, char sep, bool quotes, struct csvline *out)
{
	if (len > CSVLINE_MAX_BYTES)
		return ERR_LIMIT;
	out->n = 0;
	size_t i = 0, o = 0;
	for (;;) {
		if (out->n == CSVLINE_MAX_FIELDS)
			return ERR_MALFORMED;
		size_t start = o;
		if (quotes && i < len && line[i] == '"') {
			i++;
			for (;;) {
				if (i == len)
					return ERR_MALFORMED;
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"') {
						out->buf[o++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				if (line[i] == '\0')
					return ERR_MALFORMED;
				out->buf[o++] = line[i++];
			}
			if (i < len && line[i] != sep)
				return ERR_MALFORMED;
		} else {
			while (i < len && line[i] != sep) {
				if (line[i] == '\0')
					return ERR_MALFORMED;
				out->buf[o++] = line[i++];
			}
		}
		out->buf[o] = '\0';
		out->f[out->n] = out->buf + start;
		out->len[out->n] = o - start;
		out->n++;
		o++;
		if (i == len)
			return 0;
		i++; /* the separator */
	}
}

bool csvline_next(const char *buf, size_t len, size_t *pos, const char **line, size_t *line_len)
{
	size_t p = *pos;
	if (p >= len)
		return false;
	const char *nl = memchr(buf + p, '\n', len - p);
	size_t end = nl ? (size_t)(nl - buf) : len;
	size_t l = end - p;
	if (l && buf[p + l - 1] == '\r')
		l--;
	*line = buf + p;
	*line_len = l;
	*pos = nl ? end + 1 : len;
	return true;
}

int csvline_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ERR_SYS;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return ERR_SYS;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return ERR_LIMIT;
	}
	size_t cap = (size_t)st.st_size;
	char *b = malloc(cap + 1);
	if (!b) {
		close(fd);
		return ERR_NOMEM;
	}
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, b + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	b[got] = '\0';
	*out = b;
	*len = got;
	return 0;
}
