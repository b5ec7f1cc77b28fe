/* log.h — the append-only event log: numbered segment files, CRC32C-framed records, SHA-256 chain over batches. */
#ifndef SINKD_CORE_LOG_H
#define SINKD_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * On-disk format: see docs/event-format.md (the authoritative description).
 * A log is a directory of segment files named %016u.seg ("0000000000000001.seg",
 * numbered from 1, no gaps). Each segment starts with a fixed header naming
 * its number, the sensor id and the chain head it continues from, followed by
 * frames. A frame is an event record or a seal; a seal closes a batch and
 * carries the chain head after it:
 *     head_n = SHA-256(head_{n-1} || every byte of the batch's event frames)
 * The first segment continues from 32 zero bytes.
 *
 * The log is single-writer (one process, one thread). Readers may follow it
 * while it is being written: they only return records covered by a seal, so a
 * reader never sees a record that recovery might cut.
 */

#define LOG_SENSOR_MAX 64
#define LOG_HASH_LEN   32

struct log_writer;

struct log_writer_opts {
	const char *dir;	/* created if missing */
	const char *sensor_id;	/* stored in each segment header, at most LOG_SENSOR_MAX-1 bytes */
	uint64_t segment_bytes; /* rotate when a segment would grow past this; 0 = 64 MiB */
};

/* What recovery did when the writer opened an existing log. */
struct log_recovery {
	uint32_t segment;	 /* last segment number */
	uint64_t cut_bytes;	 /* torn bytes removed from the tail */
	uint64_t sealed_records; /* whole but unsealed records that recovery sealed */
	uint64_t records;	 /* records in the log after recovery */
};

/*
 * Opens (creating if needed) the log for appending. On an existing log, cuts a
 * torn tail back to the last whole record, seals whole records left unsealed
 * by a crash, and continues the chain. `rec` may be NULL.
 * Errors: ERR_SYS (errno), ERR_CORRUPT (a bad record before the tail:
 * refuses to append to a damaged log), ERR_INVAL.
 */
int log_writer_open(struct log_writer **out, const struct log_writer_opts *opts,
		    struct log_recovery *rec);

/*
 * Adds one encoded event to the current batch (in memory). Returns ERR_LIMIT
 * if len is 0 or over EVENT_MAX_LEN. Nothing reaches the file before
 * log_writer_commit().
 */
int log_writer_append(struct log_writer *w, const uint8_t *rec, size_t len);

/*
 * Writes the batch and its seal with one write(2) (rotating first if the
 * segment would pass its size), then clears the batch. An empty batch is a
 * no-op. On ERR_SYS (disk full, I/O error) the batch is discarded, its record
 * count is added to the dropped counter, and the file is truncated back to
 * its last good length so the log stays valid; the chain is not advanced.
 */
int log_writer_commit(struct log_writer *w);

/* fdatasync of the current segment (and the directory after a rotation). */
int log_writer_sync(struct log_writer *w);

struct log_writer_stats {
	uint64_t records; /* records committed since open */
	uint64_t bytes;	  /* bytes written since open */
	uint64_t batches;
	uint64_t dropped; /* records lost to write errors */
	uint32_t segment; /* current segment number */
};
void log_writer_stats(const struct log_writer *w, struct log_writer_stats *st);

/* Commits, syncs and closes; frees w. Returns the first error seen. */
int log_writer_close(struct log_writer *w);

/* Position of a record: consumers store it to resume. */
struct log_pos {
	uint32_t segment; /* 0 = start of the log */
	uint64_t offset;  /* byte offset of the next frame within the segment */
};

struct log_reader;

/*
 * Opens a reader at `start` (NULL or {0,0} = first record). The reader checks
 * every CRC as it goes and returns ERR_CORRUPT on a bad frame.
 */
int log_reader_open(struct log_reader **out, const char *dir, const struct log_pos *start);

struct log_record {
	const uint8_t *data; /* the encoded event; valid until the next call */
	size_t len;
	struct log_pos pos;    /* where this record starts */
	struct log_pos next;   /* where the next record starts: store this to resume after it */
	const char *sensor_id; /* from the segment header, valid until the next call */
};

/*
 * Next sealed record. Returns 0, ERR_END when there is nothing more right now
 * (a follower polls again later; new segments are picked up), ERR_CORRUPT,
 * or ERR_SYS.
 */
int log_reader_next(struct log_reader *r, struct log_record *rec);
void log_reader_close(struct log_reader *r);

/* Result of a full verification. */
struct log_verify_report {
	uint64_t segments;
	uint64_t records;
	uint64_t batches;
	bool ok;
	uint32_t bad_segment; /* where the first fault is, when !ok */
	uint64_t bad_offset;
	uint64_t bad_record;	    /* index (from 0) of the first bad record in the log */
	char reason[160];	    /* what is wrong, in English */
	uint8_t head[LOG_HASH_LEN]; /* chain head after the last good seal */
};

/*
 * Checks every frame's CRC, the chain over every batch, segment numbering and
 * continuity of the chain across segments, and that nothing follows the last
 * seal (an unsealed or torn tail is a fault). Returns 0 when the call ran
 * (look at rep->ok), ERR_SYS/ERR_NOT_FOUND if the log could not be read.
 */
int log_verify(const char *dir, struct log_verify_report *rep);

#endif
