/* eve_writer.h — a thread that follows the event log and appends EVE JSON lines to a file (SIEM ingest). */
#ifndef SINKD_REPORT_EVE_WRITER_H
#define SINKD_REPORT_EVE_WRITER_H

#include <stdint.h>

/*
 * A consumer of the log like any other: it keeps its own position in
 * "<file>.pos", so after a restart it goes on where it stopped and a SIEM sees
 * every event once (at most one flush interval is repeated after a crash).
 * Nothing it does can slow the listeners: when it lags, the log absorbs it.
 */
struct eve_writer;

int eve_writer_start(struct eve_writer **out, const char *log_dir, const char *path);
/* Reopen the file (after logrotate moved it): called on SIGHUP. */
void eve_writer_reopen(struct eve_writer *e);
/* Records behind the log, roughly (for stats). */
uint64_t eve_writer_written(struct eve_writer *e);
/* The log position after the last record written to the file (any thread; for metrics). */
struct log_pos;
void eve_writer_position(struct eve_writer *e, struct log_pos *pos);
/* Catches up with what the log holds, flushes, saves the position, stops. */
void eve_writer_stop(struct eve_writer *e);

#endif
