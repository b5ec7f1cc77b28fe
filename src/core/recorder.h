/* recorder.h — the path from workers to disk: one SPSC ring per worker, one log writer thread. */
#ifndef SINKD_CORE_RECORDER_H
#define SINKD_CORE_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/log.h"

/*
 * Workers never block on the disk: they submit encoded events into their own
 * lane (a ring) and go on. The writer thread drains every lane into the log
 * in batches. In CONFIG_FSYNC_ANSWERED mode it fdatasyncs after each batch and
 * then publishes, per lane, how many submitted events are durable, waking
 * the lane's worker through its notify fd; the worker answers requests whose
 * events are covered (group commit). If the disk fails, the batch is counted
 * as dropped and still published, so listeners keep answering.
 */

struct recorder;
struct recorder_lane;

struct recorder_opts {
	const char *log_dir;
	const char *sensor_id;
	uint64_t segment_bytes;
	size_t ring_bytes;
	unsigned lanes; /* one per worker */
	enum config_fsync fsync;
	uint32_t fsync_interval_ms;
	/* Private key for signed chain heads, or NULL. The recorder takes it
	 * over (frees it in recorder_stop, or when recorder_start fails). */
	struct sign_key *sign_key;
	/*
	 * Optional, on the writer thread: each record appended to a batch, then
	 * once per batch whether it reached the log (`written`) or was lost to a
	 * write error (metrics/tally counts events by listener and family so).
	 */
	void (*on_append)(void *arg, const uint8_t *rec, size_t len);
	void (*on_commit)(void *arg, bool written);
	void *hook_arg;
};

/* Opens the log (recovering a torn tail, reported in *rec if not NULL) and starts the writer. */
int recorder_start(struct recorder **out, const struct recorder_opts *o, struct log_recovery *rec);

struct recorder_lane *recorder_lane(struct recorder *r, unsigned i);

/* An eventfd the writer writes to when this lane's durable count advances (answered mode). */
void recorder_lane_set_notify_fd(struct recorder_lane *l, int fd);

/*
 * Producer side (the lane's worker only). Copies the record in and returns
 * its sequence number in the lane (1, 2, ...) via *seq. ERR_FULL when the
 * ring has no room: the event is not recorded and counted as dropped.
 */
int recorder_submit(struct recorder_lane *l, const uint8_t *rec, size_t len, uint64_t *seq);

/* How many of this lane's events are on disk (answered mode) or written (other modes). */
uint64_t recorder_durable(const struct recorder_lane *l);

struct recorder_stats {
	uint64_t submitted;    /* accepted into rings */
	uint64_t dropped_ring; /* refused: ring full */
	uint64_t written;      /* committed to the log */
	uint64_t dropped_disk; /* lost to write errors */
	uint64_t bytes;
	uint64_t batches;
	uint64_t syncs;
	uint32_t segment;
	uint64_t segment_len; /* bytes of the current segment: the log's end is (segment, segment_len) */
	size_t ring_used; /* bytes waiting in all rings */
};
void recorder_stats(struct recorder *r, struct recorder_stats *st);

/*
 * Stops the writer after it has drained every lane (producers must have
 * stopped submitting), commits, syncs and closes the log. Returns the error
 * of that final flush, if any (earlier failures are counted in the stats).
 */
int recorder_stop(struct recorder *r);

#endif
