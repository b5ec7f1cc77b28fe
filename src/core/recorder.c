/* recorder.c — per-worker rings drained by one log writer thread, with group commit. */
#include "core/recorder.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/dlog.h"
#include "core/err.h"
#include "core/ring.h"
#include "core/sign.h"
#include "core/timeutil.h"

/* The writer drains at most this much per pass, so one busy lane cannot starve the others. */
#define RECORDER_PASS_RECORDS 8192
/*
 * Naps of the writer in interval / none modes (answered mode sleeps until a
 * worker wakes it). Under load the writer drains the rings dry, then naps
 * RECORDER_NAP_MAX_NS: big batches mean few wake-ups (each one a context
 * switch away from a worker, often on the same core), seals and writes. If a
 * ring was found more than a quarter full, it naps only RECORDER_NAP_MIN_NS
 * until the rings drain faster than they fill again. Idle, the nap doubles
 * from there up to the maximum, so an idle sensor's writer wakes 125 times a
 * second. At the most a ring then holds 8 ms of traffic (an 8 MiB ring covers
 * ~2 M events/s, far more than one worker produces).
 */
#define RECORDER_NAP_MIN_NS   1000000L
#define RECORDER_NAP_MAX_NS   8000000L
#define RECORDER_ERROR_LOG_MS 10000

struct recorder_lane {
	struct recorder *rec;
	struct ring *ring;
	/* Producer-owned counters (read by the stats thread with relaxed loads). */
	_Atomic uint64_t submitted;
	_Atomic uint64_t dropped;
	/* Consumer-owned. */
	uint64_t taken; /* records moved into the log writer */
	_Alignas(64) _Atomic uint64_t durable;
	int notify_fd;
};

struct recorder {
	struct log_writer *log;
	struct sign_key *sign_key; /* owned; the log writer borrows it */
	struct recorder_lane *lanes;
	unsigned n_lanes;
	enum config_fsync fsync;
	uint32_t fsync_interval_ms;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	/* Answered mode: a worker wakes a sleeping writer through wake_fd. */
	_Atomic int sleeping;
	int wake_fd;
	/* Write errors are logged at most every RECORDER_ERROR_LOG_MS, with a count. */
	uint64_t errors_unlogged;
	uint64_t last_error_log_ms;
	/* Written by the writer, read by stats. */
	_Atomic uint64_t written, dropped_disk, bytes, batches, syncs;
	_Atomic uint32_t segment;
	_Atomic uint64_t segment_len;
	void (*on_append)(void *arg, const uint8_t *rec, size_t len);
	void (*on_commit)(void *arg, bool written);
	void *hook_arg;
};

struct recorder_lane *recorder_lane(struct recorder *r, unsigned i)
{
	return i < r->n_lanes ? &r->lanes[i] : NULL;
}

void recorder_lane_set_notify_fd(struct recorder_lane *l, int fd)
{
	l->notify_fd = fd;
}

int recorder_submit(struct recorder_lane *l, const uint8_t *rec, size_t len, uint64_t *seq)
{
	int rc = ring_push(l->ring, rec, len);
	if (rc) {
		atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
		return rc;
	}
	uint64_t s = atomic_load_explicit(&l->submitted, memory_order_relaxed) + 1;
	atomic_store_explicit(&l->submitted, s, memory_order_relaxed);
	*seq = s;
	struct recorder *r = l->rec;
	/* Dekker-style handshake with the writer's sleep: see writer_idle(). */
	if (r->fsync == CONFIG_FSYNC_ANSWERED && atomic_load(&r->sleeping) &&
	    atomic_exchange(&r->sleeping, 0)) {
		uint64_t one = 1;
		ssize_t w = write(r->wake_fd, &one, sizeof one);
		(void)w; /* an eventfd write only fails on overflow, which still wakes */
	}
	return 0;
}

uint64_t recorder_durable(const struct recorder_lane *l)
{
	return atomic_load_explicit(&l->durable, memory_order_acquire);
}

/*
 * A failing disk fails every batch: say so at once, then at most every few
 * seconds with how many more failed, so the daemon's own log cannot fill
 * the disk further. The exact losses are in the stats (dropped_disk).
 */
static void recorder_note_error(struct recorder *r, int rc, const char *what)
{
	int saved = errno;
	uint64_t now = time_mono_ms();
	r->errors_unlogged++;
	if (r->last_error_log_ms && now - r->last_error_log_ms < RECORDER_ERROR_LOG_MS)
		return;
	dlog(DLOG_ERROR,
	     "event log %s failed: %s (%s); %" PRIu64
	     " failure(s) since the last report; events are dropped and counted",
	     what, err_str(rc), rc == ERR_SYS ? strerror(saved) : "-", r->errors_unlogged);
	r->errors_unlogged = 0;
	r->last_error_log_ms = now;
}

/* Commits the log's batch and tells the hook whether it reached the log. */
static int writer_commit(struct recorder *r)
{
	int rc = log_writer_commit(r->log);
	if (r->on_commit)
		r->on_commit(r->hook_arg, rc == 0);
	return rc;
}

/*
 * Moves what the lanes hold into the log's batch; returns how many records.
 * *crowded is set if a lane was more than a quarter full when its turn came.
 */
static uint64_t writer_drain(struct recorder *r, uint64_t *taken_now, bool *crowded)
{
	uint64_t n = 0;
	*crowded = false;
	for (unsigned i = 0; i < r->n_lanes; i++) {
		struct recorder_lane *l = &r->lanes[i];
		const uint8_t *p;
		size_t len;
		unsigned k = 0;
		if (ring_used(l->ring) > ring_capacity(l->ring) / 4)
			*crowded = true;
		while (k < RECORDER_PASS_RECORDS && ring_peek(l->ring, &p, &len)) {
			int rc = log_writer_append(r->log, p, len);
			if (rc == ERR_FULL) {
				/* The batch buffer is full: commit it and carry on. */
				int crc = writer_commit(r);
				if (crc)
					recorder_note_error(r, crc, "write");
				rc = log_writer_append(r->log, p, len);
			}
			if (rc && rc != ERR_FULL)
				recorder_note_error(r, rc, "append");
			else if (rc == 0 && r->on_append)
				r->on_append(r->hook_arg, p, len);
			ring_pop(l->ring);
			l->taken++;
			k++;
		}
		taken_now[i] = l->taken;
		n += k;
	}
	return n;
}

static void writer_publish(struct recorder *r, const uint64_t *taken)
{
	for (unsigned i = 0; i < r->n_lanes; i++) {
		struct recorder_lane *l = &r->lanes[i];
		if (atomic_load_explicit(&l->durable, memory_order_relaxed) == taken[i])
			continue;
		atomic_store_explicit(&l->durable, taken[i], memory_order_release);
		if (r->fsync == CONFIG_FSYNC_ANSWERED && l->notify_fd >= 0) {
			uint64_t one = 1;
			ssize_t w = write(l->notify_fd, &one, sizeof one);
			(void)w;
		}
	}
}

static void writer_update_stats(struct recorder *r)
{
	struct log_writer_stats st;
	log_writer_stats(r->log, &st);
	atomic_store_explicit(&r->written, st.records, memory_order_relaxed);
	atomic_store_explicit(&r->dropped_disk, st.dropped, memory_order_relaxed);
	atomic_store_explicit(&r->bytes, st.bytes, memory_order_relaxed);
	atomic_store_explicit(&r->batches, st.batches, memory_order_relaxed);
	atomic_store_explicit(&r->segment, st.segment, memory_order_relaxed);
	atomic_store_explicit(&r->segment_len, st.segment_len, memory_order_relaxed);
}

static bool lanes_empty(struct recorder *r)
{
	for (unsigned i = 0; i < r->n_lanes; i++)
		if (!ring_empty(r->lanes[i].ring))
			return false;
	return true;
}

/*
 * Answered mode sleeps on wake_fd: announce "sleeping", re-check the rings
 * (a producer that pushed before seeing the flag is caught here), then block.
 * Other modes just nap: latency does not matter there and producers then
 * never pay a syscall.
 */
static void writer_idle(struct recorder *r, uint64_t timeout_ms, long *nap_ns)
{
	if (r->fsync != CONFIG_FSYNC_ANSWERED) {
		struct timespec ts = { 0, *nap_ns };
		nanosleep(&ts, NULL);
		if (*nap_ns < RECORDER_NAP_MAX_NS)
			*nap_ns *= 2;
		return;
	}
	atomic_store(&r->sleeping, 1);
	if (!lanes_empty(r) || atomic_load(&r->stop)) {
		atomic_store(&r->sleeping, 0);
		return;
	}
	struct pollfd pfd = { .fd = r->wake_fd, .events = POLLIN };
	int n = poll(&pfd, 1, (int)timeout_ms);
	if (n > 0) {
		uint64_t v;
		ssize_t rd = read(r->wake_fd, &v, sizeof v);
		(void)rd;
	}
	atomic_store(&r->sleeping, 0);
}

static void *writer_main(void *arg)
{
	struct recorder *r = arg;
	uint64_t *taken = calloc(r->n_lanes, sizeof *taken);
	if (!taken) {
		dlog(DLOG_ERROR, "log writer: out of memory");
		return NULL;
	}
	uint64_t last_sync = time_mono_ms();
	bool unsynced = false;
	long nap_ns = RECORDER_NAP_MIN_NS;
	for (;;) {
		bool stopping = atomic_load(&r->stop);
		bool crowded = false;
		uint64_t n = writer_drain(r, taken, &crowded);
		if (n) {
			int rc = writer_commit(r);
			if (rc)
				recorder_note_error(r, rc, "write");
			unsynced = true;
		}
		uint64_t now = time_mono_ms();
		bool sync_due = r->fsync == CONFIG_FSYNC_ANSWERED ?
					n > 0 :
					r->fsync == CONFIG_FSYNC_INTERVAL && unsynced &&
						now - last_sync >= r->fsync_interval_ms;
		if (sync_due || (stopping && unsynced && r->fsync != CONFIG_FSYNC_NONE)) {
			int rc = log_writer_sync(r->log);
			if (rc)
				recorder_note_error(r, rc, "fdatasync");
			atomic_fetch_add_explicit(&r->syncs, 1, memory_order_relaxed);
			last_sync = now;
			unsynced = false;
		}
		if (n)
			writer_publish(r, taken);
		writer_update_stats(r);
		/* Signs the chain head at UTC midnight even when no event comes. */
		if (r->sign_key)
			log_writer_tick(r->log, time_now_us());
		if (n) {
			/*
			 * Go round again at once in answered mode (answers wait on
			 * every pass), when stopping, and when a ring is filling
			 * faster than the naps allow; otherwise let a batch build up.
			 */
			if (r->fsync == CONFIG_FSYNC_ANSWERED || stopping || crowded) {
				nap_ns = RECORDER_NAP_MIN_NS;
				continue;
			}
			nap_ns = RECORDER_NAP_MAX_NS;
		} else if (stopping && lanes_empty(r)) {
			break;
		}
		writer_idle(r, r->fsync_interval_ms ? r->fsync_interval_ms : 100, &nap_ns);
	}
	free(taken);
	return NULL;
}

int recorder_start(struct recorder **out, const struct recorder_opts *o, struct log_recovery *rec)
{
	int rc = ERR_NOMEM;
	struct recorder *r = calloc(1, sizeof *r);
	if (!r) {
		sign_key_free(o->sign_key);
		return ERR_NOMEM;
	}
	r->wake_fd = -1;
	r->sign_key = o->sign_key;
	r->n_lanes = o->lanes;
	r->fsync = o->fsync;
	r->fsync_interval_ms = o->fsync_interval_ms ? o->fsync_interval_ms : 100;
	r->on_append = o->on_append;
	r->on_commit = o->on_commit;
	r->hook_arg = o->hook_arg;
	r->lanes = aligned_alloc(64, ((sizeof *r->lanes * o->lanes + 63) / 64) * 64);
	if (!r->lanes)
		goto out_free;
	memset(r->lanes, 0, sizeof *r->lanes * o->lanes);
	for (unsigned i = 0; i < o->lanes; i++) {
		r->lanes[i].rec = r;
		r->lanes[i].notify_fd = -1;
		rc = ring_create(&r->lanes[i].ring, o->ring_bytes ? o->ring_bytes : 8u << 20);
		if (rc)
			goto out_free;
	}
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0) {
		rc = ERR_SYS;
		goto out_free;
	}
	struct log_writer_opts lo = {
		.dir = o->log_dir,
		.sensor_id = o->sensor_id,
		.segment_bytes = o->segment_bytes,
		.sign_key = o->sign_key,
	};
	rc = log_writer_open(&r->log, &lo, rec);
	if (rc)
		goto out_free;
	writer_update_stats(r);
	if (pthread_create(&r->thread, NULL, writer_main, r) != 0) {
		rc = ERR_SYS;
		log_writer_close(r->log);
		goto out_free;
	}
	r->started = true;
	*out = r;
	return 0;
out_free:
	if (r->lanes)
		for (unsigned i = 0; i < o->lanes; i++)
			ring_free(r->lanes[i].ring);
	free(r->lanes);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	sign_key_free(r->sign_key);
	free(r);
	return rc;
}

void recorder_stats(struct recorder *r, struct recorder_stats *st)
{
	memset(st, 0, sizeof *st);
	for (unsigned i = 0; i < r->n_lanes; i++) {
		st->submitted += atomic_load_explicit(&r->lanes[i].submitted, memory_order_relaxed);
		st->dropped_ring +=
			atomic_load_explicit(&r->lanes[i].dropped, memory_order_relaxed);
		st->ring_used += ring_used(r->lanes[i].ring);
	}
	st->written = atomic_load_explicit(&r->written, memory_order_relaxed);
	st->dropped_disk = atomic_load_explicit(&r->dropped_disk, memory_order_relaxed);
	st->bytes = atomic_load_explicit(&r->bytes, memory_order_relaxed);
	st->batches = atomic_load_explicit(&r->batches, memory_order_relaxed);
	st->syncs = atomic_load_explicit(&r->syncs, memory_order_relaxed);
	st->segment = atomic_load_explicit(&r->segment, memory_order_relaxed);
	st->segment_len = atomic_load_explicit(&r->segment_len, memory_order_relaxed);
}

int recorder_stop(struct recorder *r)
{
	if (!r)
		return 0;
	atomic_store(&r->stop, true);
	uint64_t one = 1;
	ssize_t w = write(r->wake_fd, &one, sizeof one);
	(void)w;
	if (r->started)
		pthread_join(r->thread, NULL);
	/* The exit status reflects the final flush; earlier failures are in the stats. */
	int rc = log_writer_close(r->log);
	for (unsigned i = 0; i < r->n_lanes; i++)
		ring_free(r->lanes[i].ring);
	free(r->lanes);
	close(r->wake_fd);
	sign_key_free(r->sign_key);
	free(r);
	return rc;
}
