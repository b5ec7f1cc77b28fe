/* dlog.h — the daemon's own diagnostics: leveled lines to stderr (journald-aware). */
#ifndef SINKD_CORE_DLOG_H
#define SINKD_CORE_DLOG_H

enum dlog_level {
	DLOG_ERROR = 3, /* syslog priorities, so journald can read the prefix */
	DLOG_WARN = 4,
	DLOG_INFO = 6,
	DLOG_DEBUG = 7,
};

/*
 * Lines look like "sinkd[PID]: warn: message". Under systemd (JOURNAL_STREAM
 * set) each line starts with "<N>" so the journal records the priority.
 * The level is write-once startup configuration (and SIGHUP), not per-thread.
 */
void dlog_set_level(enum dlog_level lvl);
/* Parses "error|warn|info|debug"; returns 0 or ERR_INVAL. */
int dlog_parse_level(const char *name, enum dlog_level *out);
void dlog(enum dlog_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
