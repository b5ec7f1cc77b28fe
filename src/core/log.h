/* log.h — the append-only event log: numbered segment files, CRC32C-framed records, SHA-256 chain over batches. */
#ifndef SINKD_CORE_LOG_H
#define SINKD_CORE_LOG_H

#include <stdatomic.h>
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
struct sign_key;

/*
 * Signed chain heads. When the writer has a signing key it appends an
 * Ed25519-signed statement "the log held `index` records and its chain head
 * was `head`" to the file LOG_HEADS_FILE in the log directory: when it opens
 * the log, when it closes a segment, at each UTC midnight and when it closes.
 * It also stores the public key there as LOG_KEY_PREFIX<fingerprint>.pub.
 * An entry is LOG_HEAD_ENTRY_LEN bytes (docs/event-format.md, section 3):
 *     0 8 magic "SINKDSIG", 8 2 version (1), 10 1 kind, 11 1 reserved,
 *     12 4 segment, 16 8 index, 24 8 time (µs UTC), 32 64 sensor id,
 *     96 32 chain head, 128 32 key id, 160 64 Ed25519 signature of bytes
 *     0..159, 224 4 CRC32C of bytes 0..223.
 * Because a head commits to every record before it, a signature over it
 * proves all of them; a log edited and re-chained, or cut short, no longer
 * matches what was signed.
 */
#define LOG_HEADS_FILE	   "signed-heads"
#define LOG_KEY_PREFIX	   "signing-"
#define LOG_HEAD_ENTRY_LEN 228
#define LOG_HEAD_SIGNED	   160 /* bytes covered by the signature */

enum log_head_kind {
	LOG_HEAD_OPEN = 1,     /* the writer opened the log (after any recovery) */
	LOG_HEAD_SEGMENT = 2,  /* a segment was closed; `segment` is the closed one */
	LOG_HEAD_MIDNIGHT = 3, /* a UTC day ended */
	LOG_HEAD_CLOSE = 4,    /* the writer closed the log */
};

struct log_signed_head {
	uint8_t kind;	  /* enum log_head_kind */
	uint32_t segment; /* the segment the head is at the end of */
	uint64_t index;	  /* records covered: the head is the chain after record index-1 */
	uint64_t time_us; /* when it was signed, µs since the epoch, UTC */
	char sensor[LOG_SENSOR_MAX];
	uint8_t head[LOG_HASH_LEN];
	uint8_t key_id[32];
	uint8_t sig[64];
};

/* Parses one entry. ERR_CORRUPT (magic or CRC), ERR_UNSUPPORTED (version). Does not check the signature. */
int log_head_parse(const uint8_t *raw, struct log_signed_head *out);
/* The kind as a word: "open", "segment", "midnight", "close". */
const char *log_head_kind_name(uint8_t kind);

struct log_writer_opts {
	const char *dir;	/* created if missing */
	const char *sensor_id;	/* stored in each segment header, at most LOG_SENSOR_MAX-1 bytes */
	uint64_t segment_bytes; /* rotate when a segment would grow past this; 0 = 64 MiB */
	/* Private key for signed heads; NULL = none. Borrowed: valid until close. */
	const struct sign_key *sign_key;
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

/* fdatasync of the current segment (and the directory after a rotation), and of the signed heads. */
int log_writer_sync(struct log_writer *w);

/*
 * Signs the chain head if a UTC midnight has passed since the last
 * midnight signature (the writer thread calls it while idle; commits check
 * it too, so the head signed is the one the day ended with). `now_us` is the
 * current time (a parameter so tests can move it). No-op without a key.
 */
void log_writer_tick(struct log_writer *w, uint64_t now_us);

struct log_writer_stats {
	uint64_t records; /* records committed since open */
	uint64_t bytes;	  /* bytes written since open */
	uint64_t batches;
	uint64_t dropped;      /* records lost to write errors */
	uint32_t segment;      /* current segment number */
	uint64_t segment_len;  /* bytes of the current segment (its end is the log's end) */
	uint64_t signed_heads; /* signed heads written since open */
	uint64_t sign_errors;  /* signed heads that could not be written */
};
void log_writer_stats(const struct log_writer *w, struct log_writer_stats *st);

/* Commits, syncs and closes; frees w. Returns the first error seen. */
int log_writer_close(struct log_writer *w);

/* Position of a record: consumers store it to resume. */
struct log_pos {
	uint32_t segment; /* 0 = start of the log */
	uint64_t offset;  /* byte offset of the next frame within the segment */
};

/*
 * A consumer's position as one thread publishes it and any other reads it
 * (for metrics: how far the consumer lags). The two halves are published
 * under a sequence count, so a reader never sees a segment with another
 * position's offset. Zeroed: the start of the log.
 */
struct log_pos_shared {
	_Atomic uint64_t seq; /* odd while a publish is in progress */
	_Atomic uint32_t segment;
	_Atomic uint64_t offset;
};
void log_pos_publish(struct log_pos_shared *s, const struct log_pos *pos); /* one writer */
void log_pos_read(struct log_pos_shared *s, struct log_pos *pos);

/*
 * Bytes of log from `from` up to `to` (positions as readers store them;
 * {0, 0} is the start of the log), counting the segments in between by
 * their size on disk: how far a consumer at `from` lags behind `to`. 0 when
 * `from` is at or past `to`. Errors: ERR_SYS (a segment in between could
 * not be stat'ed).
 */
int log_distance(const char *dir, const struct log_pos *from, const struct log_pos *to,
		 uint64_t *bytes);

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
	bool bad_in_heads;    /* the fault is in LOG_HEADS_FILE: offset is a byte offset there */
	uint32_t bad_segment; /* where the first fault is, when !ok */
	uint64_t bad_offset;
	uint64_t bad_record;	    /* index (from 0) of the first bad record in the log */
	char reason[256];	    /* what is wrong, in English */
	uint8_t head[LOG_HASH_LEN]; /* chain head after the last good seal */
	uint32_t first_segment;	    /* the first segment checked (1 unless a bundle) */
	uint64_t first_record;	    /* index of the first record checked (0 unless a bundle) */
	/* Signed heads: */
	uint64_t signed_heads;	      /* entries whose signature and chain head were checked */
	bool signed_any;	      /* at least one signed head matched the chain */
	uint64_t last_signed_index;   /* records covered by the last matching signed head */
	uint64_t last_signed_time_us; /* when it was signed */
	uint64_t unsigned_records;    /* records after it (not covered by any signature) */
	uint8_t key_id[32];	      /* key of the last matching signed head */
};

struct log_verify_opts {
	/* Trusted public keys. None: the LOG_KEY_PREFIX*.pub files in the directory. */
	struct sign_key *const *keys;
	size_t n_keys;
	/* Fault when no signed head covers the log (an evidence bundle, or a key given). */
	bool require_signed;
	/*
	 * The directory may hold a run of segments that starts after segment 1
	 * (an evidence bundle); the chain head its first segment continues
	 * from must then be one a signed head vouches for.
	 */
	bool partial;
};

/*
 * Checks every frame's CRC, the chain over every batch, segment numbering and
 * continuity of the chain across segments, and that nothing follows the last
 * seal (an unsealed or torn tail is a fault). Returns 0 when the call ran
 * (look at rep->ok), ERR_SYS/ERR_NOT_FOUND if the log could not be read.
 */
int log_verify(const char *dir, struct log_verify_report *rep);
/* The same with options (opts NULL: as log_verify). Errors also ERR_NOMEM. */
int log_verify_with(const char *dir, const struct log_verify_opts *opts,
		    struct log_verify_report *rep);

/* A segment as its header describes it (for choosing what to export). */
struct log_segment_info {
	uint32_t segment;
	uint64_t first_index;
	uint64_t created_us;
	uint64_t size; /* file size when listed */
};

/*
 * Lists the log's segments, in order, from their headers (a segment whose
 * header is unreadable is left out). Caller frees *out.
 */
int log_segments(const char *dir, struct log_segment_info **out, size_t *n);

/*
 * Length of segment `seg` up to the end of its last whole, CRC-valid seal
 * (what a copy taken while the writer runs should hold), and the log index
 * after that seal's batch. ERR_CORRUPT when the data before that is bad.
 */
int log_segment_sealed_size(const char *dir, uint32_t seg, uint64_t *size, uint64_t *end_index);

#endif
