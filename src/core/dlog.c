/* dlog.c — the daemon's own diagnostics to stderr. */
#include "core/dlog.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

static _Atomic int dlog_max = DLOG_INFO;

void dlog_set_level(enum dlog_level lvl)
{
	atomic_store(&dlog_max, (int)lvl);
}

int dlog_parse_level(const char *name, enum dlog_level *out)
{
	static const struct {
		const char *name;
		enum dlog_level lvl;
	} names[] = { { "error", DLOG_ERROR },
		      { "warn", DLOG_WARN },
		      { "info", DLOG_INFO },
		      { "debug", DLOG_DEBUG } };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!strcmp(name, names[i].name)) {
			*out = names[i].lvl;
			return 0;
		}
	}
	return ERR_INVAL;
}

static const char *dlog_level_name(enum dlog_level lvl)
{
	switch (lvl) {
	case DLOG_ERROR:
		return "error";
	case DLOG_WARN:
		return "warn";
	case DLOG_INFO:
		return "info";
	case DLOG_DEBUG:
		return "debug";
	}
	return "?";
}

void dlog(enum dlog_level lvl, const char *fmt, ...)
{
	if ((int)lvl > atomic_load_explicit(&dlog_max, memory_order_relaxed))
		return;
	/* Build the whole line first so concurrent threads never interleave. */
	char line[1024];
	int n;
	if (getenv("JOURNAL_STREAM"))
		n = snprintf(line, sizeof line, "<%d>%s: ", (int)lvl, dlog_level_name(lvl));
	else
		n = snprintf(line, sizeof line, "sinkd[%ld]: %s: ", (long)getpid(),
			     dlog_level_name(lvl));
	if (n < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w; /* nowhere else to report a failing stderr */
}
