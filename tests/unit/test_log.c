/* test_log.c — the event log: round trips, rotation, resume, following, recovery, verify, disk full. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "testfs.h"
#include "core/crc32c.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/event.h"
#include "core/log.h"

/* Format constants the tests poke at (docs/event-format.md). */
#define HDR_LEN	   136
#define FRAME_HDR  9
#define SEAL_FRAME 53

/* ---- helpers ------------------------------------------------------------ */

static char *tmpdir_new(void)
{
	return tmpdir_new_named("log");
}

static uint64_t file_len(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint32_t count_segments(const char *dir)
{
	uint32_t n = 0;
	char p[512];
	for (;;) {
		seg_path(p, sizeof p, dir, n + 1);
		if (access(p, F_OK) != 0)
			return n;
		n++;
	}
}

/* Record i: deterministic bytes of varying length, its index first. */
static size_t make_rec(uint64_t i, uint8_t *buf)
{
	size_t len = 16 + (size_t)((i * 37) % 200);
	put_be64(buf, i);
	for (size_t j = 8; j < len; j++)
		buf[j] = (uint8_t)(i * 7 + j);
	return len;
}

static bool rec_ok(const struct log_record *r, uint64_t i)
{
	uint8_t want[256];
	size_t len = make_rec(i, want);
	return r->len == len && memcmp(r->data, want, len) == 0;
}

static struct log_writer *writer_open(const char *dir, uint64_t seg_bytes, struct log_recovery *rec,
				      int *rc_out)
{
	struct log_writer *w = NULL;
	struct log_writer_opts o = { .dir = dir,
				     .sensor_id = "sensor-test",
				     .segment_bytes = seg_bytes };
	int rc = log_writer_open(&w, &o, rec);
	if (rc_out)
		*rc_out = rc;
	return rc ? NULL : w;
}

/* Appends records [*next, *next + n) as one batch and commits it. */
static int put_batch(struct log_writer *w, uint64_t *next, uint32_t n)
{
	uint8_t buf[256];
	for (uint32_t k = 0; k < n; k++) {
		size_t len = make_rec(*next + k, buf);
		int rc = log_writer_append(w, buf, len);
		if (rc)
			return rc;
	}
	int rc = log_writer_commit(w);
	if (rc == 0)
		*next += n;
	return rc;
}

/* Writes a log of `batches` batches with 1..9 records each. Returns records written. */
static uint64_t make_log(const char *dir, uint64_t seg_bytes, int batches)
{
	struct log_writer *w = writer_open(dir, seg_bytes, NULL, NULL);
	uint64_t next = 0;
	CHECK(w != NULL);
	if (!w)
		return 0;
	for (int b = 0; b < batches; b++)
		CHECK_INT(put_batch(w, &next, (uint32_t)(1 + (b * 5) % 9)), 0);
	CHECK_INT(log_writer_close(w), 0);
	return next;
}

/* Reads everything from `start`, checking records from index `first` on; returns the count. */
static uint64_t read_check(const char *dir, const struct log_pos *start, uint64_t first,
			   int *end_rc)
{
	struct log_reader *r = NULL;
	struct log_record rec;
	uint64_t n = 0;
	int rc = log_reader_open(&r, dir, start);
	CHECK_INT(rc, 0);
	if (rc)
		return 0;
	while ((rc = log_reader_next(r, &rec)) == 0) {
		if (!rec_ok(&rec, first + n)) {
			CHECK(rec_ok(&rec, first + n));
			break;
		}
		n++;
	}
	*end_rc = rc;
	log_reader_close(r);
	return n;
}

static void verify_ok(const char *dir, uint64_t records)
{
	struct log_verify_report rep;
	CHECK_INT(log_verify(dir, &rep), 0);
	if (!rep.ok)
		fprintf(stderr, "verify: seg %u off %llu rec %llu: %s\n", rep.bad_segment,
			(unsigned long long)rep.bad_offset, (unsigned long long)rep.bad_record,
			rep.reason);
	CHECK(rep.ok);
	CHECK_INT(rep.records, records);
}

/* ---- round trip, rotation --------------------------------------------- */

static void test_roundtrip(void)
{
	char *dir = tmpdir_new();
	CHECK(dir != NULL);
	struct log_writer *w = writer_open(dir, 4096, NULL, NULL);
	CHECK(w != NULL);
	uint64_t next = 0;
	for (int b = 0; b < 300; b++)
		CHECK_INT(put_batch(w, &next, (uint32_t)(1 + (b * 5) % 9)), 0);
	/* An empty commit is a no-op. */
	CHECK_INT(log_writer_commit(w), 0);
	CHECK_INT(log_writer_sync(w), 0);
	struct log_writer_stats st;
	log_writer_stats(w, &st);
	CHECK_INT(st.records, next);
	CHECK_INT(st.batches, 300);
	CHECK_INT(st.dropped, 0);
	CHECK(st.segment > 5);
	CHECK_INT(log_writer_close(w), 0);
	CHECK_INT(count_segments(dir), st.segment);

	/* A file that is not a segment is ignored by everything. */
	char p[512];
	snprintf(p, sizeof p, "%s/stats.json", dir);
	CHECK(write_file(p, (const uint8_t *)"{}", 2));

	/* No segment may pass its limit unless it holds a single batch. */
	for (uint32_t s = 1; s < st.segment; s++) {
		seg_path(p, sizeof p, dir, s);
		CHECK(file_len(p) <= 4096);
	}

	int end;
	CHECK_INT(read_check(dir, NULL, 0, &end), next);
	CHECK_INT(end, ERR_END);
	verify_ok(dir, next);

	/* Positions chain: each record's `next` is where the following one starts,
	 * or the end of its segment. */
	struct log_reader *r = NULL;
	struct log_record rec;
	struct log_pos prev_next = { 0, 0 };
	uint64_t n = 0;
	CHECK_INT(log_reader_open(&r, dir, NULL), 0);
	while (r && log_reader_next(r, &rec) == 0) {
		CHECK_STR(rec.sensor_id, "sensor-test");
		if (n && prev_next.segment == rec.pos.segment)
			CHECK_INT(prev_next.offset, rec.pos.offset);
		if (n && prev_next.segment != rec.pos.segment) {
			seg_path(p, sizeof p, dir, prev_next.segment);
			CHECK_INT(prev_next.offset, file_len(p));
			CHECK_INT(rec.pos.segment, prev_next.segment + 1);
			CHECK_INT(rec.pos.offset, HDR_LEN);
		}
		prev_next = rec.next;
		n++;
	}
	log_reader_close(r);
	CHECK_INT(n, next);

	/* Reopening continues the chain and the numbering. */
	struct log_recovery rv;
	w = writer_open(dir, 4096, &rv, NULL);
	CHECK(w != NULL);
	CHECK_INT(rv.records, next);
	CHECK_INT(rv.cut_bytes, 0);
	CHECK_INT(rv.sealed_records, 0);
	CHECK_INT(rv.segment, st.segment);
	if (w) {
		CHECK_INT(put_batch(w, &next, 4), 0);
		CHECK_INT(log_writer_close(w), 0);
	}
	verify_ok(dir, next);
	CHECK_INT(read_check(dir, NULL, 0, &end), next);
	rm_rf(dir);
}

static void test_limits(void)
{
	char *dir = tmpdir_new();
	struct log_writer *w = writer_open(dir, 0, NULL, NULL);
	CHECK(w != NULL);
	if (!w) {
		rm_rf(dir);
		return;
	}
	uint8_t *big = calloc(1, EVENT_MAX_LEN + 1);
	CHECK(big != NULL);
	CHECK_INT(log_writer_append(w, big, 0), ERR_LIMIT);
	CHECK_INT(log_writer_append(w, big, EVENT_MAX_LEN + 1), ERR_LIMIT);
	CHECK_INT(log_writer_append(w, big, EVENT_MAX_LEN), 0);
	CHECK_INT(log_writer_commit(w), 0);

	/* A second writer on the same log is refused. */
	int rc;
	struct log_writer *w2 = writer_open(dir, 0, NULL, &rc);
	CHECK(w2 == NULL);
	CHECK_INT(rc, ERR_SYS);
	if (w2)
		log_writer_close(w2);

	/* The batch buffer has a hard cap: appends past it are refused, what fits is kept. */
	int ok = 0;
	for (int i = 0; i < 2000; i++) {
		rc = log_writer_append(w, big, EVENT_MAX_LEN);
		if (rc)
			break;
		ok++;
	}
	CHECK_INT(rc, ERR_FULL);
	/* The cap is 64 MiB of batch: about that many maximal records, never more. */
	CHECK(ok > (int)((60u << 20) / EVENT_MAX_LEN) && ok <= (int)((64u << 20) / EVENT_MAX_LEN));
	CHECK_INT(log_writer_commit(w), 0);
	CHECK_INT(log_writer_close(w), 0);
	verify_ok(dir, 1 + (uint64_t)ok);
	free(big);

	/* Bad arguments. */
	struct log_writer_opts o = { .dir = dir, .sensor_id = NULL };
	char longid[LOG_SENSOR_MAX + 1];
	memset(longid, 'x', sizeof longid - 1);
	longid[LOG_SENSOR_MAX] = '\0';
	o.sensor_id = longid;
	CHECK_INT(log_writer_open(&w2, &o, NULL), ERR_INVAL);
	struct log_reader *r = NULL;
	CHECK_INT(log_reader_open(&r, "/nonexistent/sinkd-log", NULL), ERR_NOT_FOUND);
	struct log_verify_report rep;
	CHECK_INT(log_verify("/nonexistent/sinkd-log", &rep), ERR_NOT_FOUND);
	rm_rf(dir);
}

/* A batch bigger than a segment gets a segment of its own. */
static void test_big_batch(void)
{
	char *dir = tmpdir_new();
	struct log_writer *w = writer_open(dir, 1024, NULL, NULL);
	uint64_t next = 0;
	CHECK(w != NULL);
	if (!w) {
		rm_rf(dir);
		return;
	}
	CHECK_INT(put_batch(w, &next, 2), 0);
	CHECK_INT(put_batch(w, &next, 40), 0); /* several KiB */
	CHECK_INT(put_batch(w, &next, 1), 0);
	CHECK_INT(log_writer_close(w), 0);
	CHECK_INT(count_segments(dir), 3);
	verify_ok(dir, next);
	int end;
	CHECK_INT(read_check(dir, NULL, 0, &end), next);
	rm_rf(dir);
}

/* ---- resume ------------------------------------------------------------- */

static void test_resume(void)
{
	char *dir = tmpdir_new();
	uint64_t total = make_log(dir, 2048, 120);
	struct log_reader *r = NULL;
	struct log_record rec;
	struct log_pos *next = calloc(total + 1, sizeof *next);
	uint64_t n = 0;
	CHECK_INT(log_reader_open(&r, dir, NULL), 0);
	while (r && n < total && log_reader_next(r, &rec) == 0)
		next[n++] = rec.next;
	log_reader_close(r);
	CHECK_INT(n, total);

	/* Resuming after record k yields exactly records k+1 .. end. */
	for (uint64_t k = 0; k < total; k += 1 + k % 11) {
		int end;
		uint64_t got = read_check(dir, &next[k], k + 1, &end);
		CHECK_INT(got, total - k - 1);
		CHECK_INT(end, ERR_END);
	}
	/* {segment, 0} means the start of that segment. */
	struct log_pos seg2 = { 2, 0 };
	CHECK_INT(log_reader_open(&r, dir, &seg2), 0);
	if (r) {
		CHECK_INT(log_reader_next(r, &rec), 0);
		CHECK_INT(rec.pos.segment, 2);
		CHECK_INT(rec.pos.offset, HDR_LEN);
		log_reader_close(r);
	}
	free(next);
	rm_rf(dir);
}

/* ---- following a live log --------------------------------------------- */

static void test_follow(void)
{
	char *dir = tmpdir_new();
	struct log_reader *r = NULL;
	struct log_record rec;
	uint8_t buf[256];

	/* A reader may start before the writer has created anything. */
	CHECK_INT(log_reader_open(&r, dir, NULL), 0);
	if (!r) {
		rm_rf(dir);
		return;
	}
	CHECK_INT(log_reader_next(r, &rec), ERR_END);

	struct log_writer *w = writer_open(dir, 3000, NULL, NULL);
	CHECK(w != NULL);
	if (!w) {
		log_reader_close(r);
		rm_rf(dir);
		return;
	}
	CHECK_INT(log_reader_next(r, &rec), ERR_END);

	uint64_t written = 0, read = 0;
	for (int round = 0; round < 200; round++) {
		CHECK_INT(put_batch(w, &written, (uint32_t)(1 + round % 7)), 0);
		/* Appended but not committed: invisible. Committed: visible without a sync. */
		size_t len = make_rec(written, buf);
		CHECK_INT(log_writer_append(w, buf, len), 0);
		int rc;
		while ((rc = log_reader_next(r, &rec)) == 0) {
			if (!rec_ok(&rec, read)) {
				CHECK(rec_ok(&rec, read));
				break;
			}
			read++;
		}
		CHECK_INT(rc, ERR_END);
		CHECK_INT(read, written);
		CHECK_INT(log_writer_commit(w), 0);
		written++;
	}
	struct log_writer_stats st;
	log_writer_stats(w, &st);
	CHECK(st.segment > 10);

	/* A failed write leaves whole frames on disk for a moment before the
	 * writer cuts them; a reader that saw them must not keep them. */
	{
		char p[512];
		uint8_t frame[300];
		seg_path(p, sizeof p, dir, st.segment);
		uint64_t good = file_len(p);
		int fd = open(p, O_WRONLY | O_APPEND);
		CHECK(fd >= 0);
		size_t rl = make_rec(777777, buf);
		put_be32(frame, (uint32_t)rl);
		frame[8] = 1;
		memcpy(frame + FRAME_HDR, buf, rl);
		put_be32(frame + 4, crc32c(0, frame + 8, rl + 1));
		for (int k = 0; k < 3; k++)
			CHECK(write(fd, frame, FRAME_HDR + rl) == (ssize_t)(FRAME_HDR + rl));
		while (log_reader_next(r, &rec) == 0)
			read++;
		CHECK_INT(read, written);
		CHECK_INT(ftruncate(fd, (off_t)good), 0);
		close(fd);
		CHECK_INT(put_batch(w, &written, 2), 0);
		int rc;
		while ((rc = log_reader_next(r, &rec)) == 0) {
			if (!rec_ok(&rec, read)) {
				CHECK(rec_ok(&rec, read));
				break;
			}
			read++;
		}
		CHECK_INT(rc, ERR_END);
		CHECK_INT(read, written);
	}
	CHECK_INT(log_writer_close(w), 0);
	while (log_reader_next(r, &rec) == 0)
		read++;
	CHECK_INT(read, written);
	CHECK_INT(log_reader_next(r, &rec), ERR_END);
	log_reader_close(r);
	rm_rf(dir);
}

/* ---- recovery ----------------------------------------------------------- */

/*
 * Writes a log, then one more batch; then for every length the last segment
 * could have been cut to inside that batch, reopens the writer and checks
 * that exactly the whole records survive, sealed, and the log verifies.
 */
static void test_torn_tail(void)
{
	char *dir = tmpdir_new();
	char p[512];
	uint64_t base_recs = make_log(dir, 1 << 20, 10);
	seg_path(p, sizeof p, dir, 1);
	uint64_t s0 = file_len(p);

	struct log_writer *w = writer_open(dir, 1 << 20, NULL, NULL);
	uint64_t next = base_recs;
	CHECK(w != NULL);
	if (!w) {
		rm_rf(dir);
		return;
	}
	CHECK_INT(put_batch(w, &next, 4), 0);
	CHECK_INT(log_writer_close(w), 0);
	size_t full_len;
	uint8_t *full = read_file(p, &full_len);
	CHECK(full != NULL);
	if (!full) {
		rm_rf(dir);
		return;
	}

	/* Ends of the batch's event frames. */
	uint64_t ends[4];
	uint64_t off = s0;
	for (int k = 0; k < 4; k++) {
		off += FRAME_HDR + get_be32(full + off);
		ends[k] = off;
	}
	CHECK_INT(off + SEAL_FRAME, full_len);

	int failures_before = check_failures;
	for (uint64_t cut = s0; cut < full_len && check_failures == failures_before; cut++) {
		CHECK(write_file(p, full, (size_t)cut));
		uint32_t whole = 0;
		uint64_t keep = s0;
		for (int k = 0; k < 4; k++) {
			if (ends[k] <= cut) {
				whole++;
				keep = ends[k];
			}
		}
		/* Before recovery a reader sees the sealed records and waits at the tail. */
		int end;
		CHECK_INT(read_check(dir, NULL, 0, &end), base_recs);
		CHECK_INT(end, ERR_END);
		struct log_recovery rv;
		int rc;
		w = writer_open(dir, 1 << 20, &rv, &rc);
		CHECK_INT(rc, 0);
		if (!w)
			break;
		CHECK_INT(rv.cut_bytes, cut - keep);
		CHECK_INT(rv.sealed_records, whole);
		CHECK_INT(rv.records, base_recs + whole);
		CHECK_INT(log_writer_close(w), 0);
		verify_ok(dir, base_recs + whole);
		CHECK_INT(read_check(dir, NULL, 0, &end), base_recs + whole);
		CHECK_INT(end, ERR_END);
	}
	if (check_failures != failures_before)
		fprintf(stderr, "test_torn_tail: stopped at the first failing cut\n");

	/* After recovery the log takes new batches and stays valid. */
	CHECK(write_file(p, full, (size_t)(ends[1] + 3)));
	w = writer_open(dir, 1 << 20, NULL, NULL);
	CHECK(w != NULL);
	next = base_recs + 2;
	if (w) {
		CHECK_INT(put_batch(w, &next, 3), 0);
		CHECK_INT(log_writer_close(w), 0);
	}
	verify_ok(dir, base_recs + 5);

	/* A zero-filled tail (power loss after the size was extended) is cut. */
	CHECK(write_file(p, full, full_len));
	{
		uint8_t *z = calloc(1, full_len + 4096);
		memcpy(z, full, full_len);
		CHECK(write_file(p, z, full_len + 4096));
		free(z);
	}
	struct log_recovery rv;
	w = writer_open(dir, 1 << 20, &rv, NULL);
	CHECK(w != NULL);
	CHECK_INT(rv.cut_bytes, 4096);
	CHECK_INT(rv.sealed_records, 0);
	log_writer_close(w);
	verify_ok(dir, base_recs + 4);

	/* A bad CRC in the last frame, with nothing after it, is a torn tail too. */
	{
		uint8_t *z = malloc(full_len);
		memcpy(z, full, full_len);
		z[ends[3] - 2] ^= 0x40; /* inside the 4th record; the seal is cut off below */
		CHECK(write_file(p, z, (size_t)ends[3]));
		free(z);
	}
	{
		int end;
		CHECK_INT(read_check(dir, NULL, 0, &end), base_recs);
		CHECK_INT(end, ERR_END);
	}
	w = writer_open(dir, 1 << 20, &rv, NULL);
	CHECK(w != NULL);
	CHECK_INT(rv.cut_bytes, ends[3] - ends[2]);
	CHECK_INT(rv.sealed_records, 3);
	log_writer_close(w);
	verify_ok(dir, base_recs + 3);

	/* A bad record followed by good ones is corruption: the writer refuses. */
	{
		uint8_t *z = malloc(full_len);
		memcpy(z, full, full_len);
		z[ends[0] + FRAME_HDR + 3] ^= 1; /* body of the 2nd record of the last batch */
		CHECK(write_file(p, z, full_len));
		free(z);
	}
	int rc;
	w = writer_open(dir, 1 << 20, NULL, &rc);
	CHECK(w == NULL);
	CHECK_INT(rc, ERR_CORRUPT);
	{
		int end;
		CHECK_INT(read_check(dir, NULL, 0, &end), base_recs);
		CHECK_INT(end, ERR_CORRUPT);
	}
	if (w)
		log_writer_close(w);
	/* Same with the seal altered. */
	{
		uint8_t *z = malloc(full_len);
		memcpy(z, full, full_len);
		z[full_len - 5] ^= 1;
		CHECK(write_file(p, z, full_len));
		free(z);
	}
	/* The seal is the last frame: a bad seal at the very end is a torn tail
	 * and its (whole) records are sealed again. */
	w = writer_open(dir, 1 << 20, &rv, &rc);
	CHECK_INT(rc, 0);
	if (w) {
		CHECK_INT(rv.sealed_records, 4);
		CHECK_INT(rv.cut_bytes, SEAL_FRAME);
		log_writer_close(w);
	}
	verify_ok(dir, base_recs + 4);
	free(full);
	rm_rf(dir);
}

/* An empty or torn-header last segment (crash right after rotation). */
static void test_empty_last_segment(void)
{
	char *dir = tmpdir_new();
	char p[512];
	uint64_t recs = make_log(dir, 1 << 20, 5);
	CHECK_INT(count_segments(dir), 1);
	size_t len;
	seg_path(p, sizeof p, dir, 1);
	uint8_t *seg1 = read_file(p, &len);

	/* Force a rotation, then cut the new segment to nothing, to half a header,
	 * and to a zero-filled header. */
	for (int variant = 0; variant < 4; variant++) {
		struct log_writer *w = writer_open(dir, 16, NULL, NULL);
		uint64_t next = recs;
		CHECK(w != NULL);
		if (!w)
			break;
		CHECK_INT(put_batch(w, &next, 2), 0);
		CHECK_INT(log_writer_close(w), 0);
		CHECK_INT(count_segments(dir), 2);
		seg_path(p, sizeof p, dir, 2);
		size_t l2;
		uint8_t *s2 = read_file(p, &l2);
		if (variant == 0)
			CHECK(write_file(p, s2, HDR_LEN)); /* header only */
		else if (variant == 1)
			CHECK(write_file(p, s2, 0));
		else if (variant == 2)
			CHECK(write_file(p, s2, HDR_LEN / 2));
		else {
			memset(s2, 0, l2);
			CHECK(write_file(p, s2, HDR_LEN + 100));
		}
		free(s2);
		struct log_recovery rv;
		w = writer_open(dir, 1 << 20, &rv, NULL);
		CHECK(w != NULL);
		if (!w)
			break;
		CHECK_INT(rv.segment, 2);
		CHECK_INT(rv.records, recs);
		next = recs;
		CHECK_INT(put_batch(w, &next, 3), 0);
		CHECK_INT(log_writer_close(w), 0);
		verify_ok(dir, recs + 3);
		int end;
		CHECK_INT(read_check(dir, NULL, 0, &end), recs + 3);
		/* Back to one segment for the next variant. */
		unlink(p);
		seg_path(p, sizeof p, dir, 1);
		CHECK(write_file(p, seg1, len));
	}
	free(seg1);
	rm_rf(dir);
}

/* ---- verify ------------------------------------------------------------- */

/* Frame offsets of segment `seg`: fills offs (frame starts) and types. */
static size_t frames_of(const uint8_t *s, size_t len, uint64_t *offs, uint8_t *types, size_t max)
{
	size_t n = 0;
	for (size_t off = HDR_LEN; off + FRAME_HDR <= len && n < max;) {
		offs[n] = off;
		types[n] = s[off + 8];
		n++;
		off += FRAME_HDR + get_be32(s + off);
	}
	return n;
}

enum mutation {
	MUT_FLIP_RECORD,
	MUT_FLIP_SEAL,
	MUT_FLIP_HEADER,
	MUT_TRUNCATE_MID,
	MUT_TRUNCATE_BATCH,
	MUT_REMOVE_SEGMENT,
	MUT_SWAP_SEGMENTS,
	MUT_REMOVE_RECORD,
	MUT_INSERT_RECORD,
	MUT_INSERT_RECORD_FIX_SEAL,
	MUT_REPLACE_RECORD,
	MUT_UNSEALED_TAIL,
	MUT_TRUNCATE_LAST,
	MUT_COUNT
};

static const char *const mut_names[MUT_COUNT] = {
	"flip record",		"flip seal",
	"flip header",		"truncate mid-frame",
	"truncate whole batch", "remove segment",
	"swap segments",	"remove record",
	"insert record",	"insert record, fix seal",
	"replace record",	"unsealed tail",
	"truncate last",
};

/* Builds a valid event frame with body `b`. */
static size_t build_frame(uint8_t *out, const uint8_t *b, size_t len)
{
	put_be32(out, (uint32_t)len);
	out[8] = 1;
	memcpy(out + FRAME_HDR, b, len);
	put_be32(out + 4, crc32c(0, out + 8, len + 1));
	return FRAME_HDR + len;
}

/* Applies mutation m to segment 2 (or the last one); returns the segment the fault should name. */
static uint32_t mutate(const char *dir, enum mutation m, uint32_t nsegs)
{
	char p[512], q[512];
	uint32_t seg = m == MUT_UNSEALED_TAIL || m == MUT_TRUNCATE_LAST ? nsegs : 2;
	seg_path(p, sizeof p, dir, seg);
	size_t len;
	uint8_t *s = read_file(p, &len);
	uint8_t *o = malloc(len + 1024);
	uint64_t offs[4096];
	uint8_t types[4096];
	size_t nf = frames_of(s, len, offs, types, 4096);
	/* The first batch with at least two records. */
	size_t b0 = 0;
	while (b0 + 1 < nf && !(types[b0] == 1 && types[b0 + 1] == 1))
		b0++;
	size_t seal = b0;
	while (seal < nf && types[seal] != 2)
		seal++;
	uint8_t rec[256];
	size_t rl = make_rec(999999, rec), fl;
	uint32_t want = seg;

	switch (m) {
	case MUT_FLIP_RECORD:
		s[offs[b0] + FRAME_HDR + 5] ^= 0x10;
		write_file(p, s, len);
		break;
	case MUT_FLIP_SEAL:
		s[offs[seal] + FRAME_HDR + 20] ^= 0x01;
		write_file(p, s, len);
		break;
	case MUT_FLIP_HEADER:
		s[40] ^= 0x01; /* sensor id */
		write_file(p, s, len);
		break;
	case MUT_TRUNCATE_MID:
		write_file(p, s, len - 10);
		break;
	case MUT_TRUNCATE_BATCH:
		/* Drop the last batch whole: the segment itself still parses, but the next
		 * segment's header no longer continues from it. */
		{
			size_t k = nf - 1; /* the final seal */
			while (k > 0 && types[k - 1] == 1)
				k--;
			write_file(p, s, (size_t)offs[k]);
			want = seg + 1;
		}
		break;
	case MUT_REMOVE_SEGMENT:
		unlink(p);
		break;
	case MUT_SWAP_SEGMENTS:
		seg_path(q, sizeof q, dir, 3);
		{
			char t[600];
			snprintf(t, sizeof t, "%s/swap.tmp", dir);
			CHECK_INT(rename(p, t), 0);
			CHECK_INT(rename(q, p), 0);
			CHECK_INT(rename(t, q), 0);
		}
		break;
	case MUT_REMOVE_RECORD:
		memcpy(o, s, (size_t)offs[b0]);
		memcpy(o + offs[b0], s + offs[b0 + 1], len - (size_t)offs[b0 + 1]);
		write_file(p, o, len - (size_t)(offs[b0 + 1] - offs[b0]));
		break;
	case MUT_INSERT_RECORD:
	case MUT_INSERT_RECORD_FIX_SEAL:
		memcpy(o, s, (size_t)offs[b0 + 1]);
		fl = build_frame(o + offs[b0 + 1], rec, rl);
		memcpy(o + offs[b0 + 1] + fl, s + offs[b0 + 1], len - (size_t)offs[b0 + 1]);
		if (m == MUT_INSERT_RECORD_FIX_SEAL) {
			/* A forger who also bumps the seal's count and fixes its CRC still
			 * cannot make the chain head match. */
			uint8_t *sp = o + offs[seal] + fl;
			put_be32(sp + FRAME_HDR, get_be32(sp + FRAME_HDR) + 1);
			put_be32(sp + 4, crc32c(0, sp + 8, 1 + 44));
		}
		write_file(p, o, len + fl);
		break;
	case MUT_REPLACE_RECORD: {
		/* Same length, valid CRC, different content. */
		size_t blen = get_be32(s + offs[b0]);
		memcpy(o, s + offs[b0] + FRAME_HDR, blen);
		o[blen - 1] ^= 0x55;
		build_frame(s + offs[b0], o, blen);
		write_file(p, s, len);
		break;
	}
	case MUT_UNSEALED_TAIL:
		memcpy(o, s, len);
		fl = build_frame(o + len, rec, rl);
		write_file(p, o, len + fl);
		break;
	case MUT_TRUNCATE_LAST:
		write_file(p, s, len - 1);
		break;
	case MUT_COUNT:
		break;
	}
	free(s);
	free(o);
	return want;
}

static void test_verify_faults(void)
{
	for (int m = 0; m < MUT_COUNT; m++) {
		char *dir = tmpdir_new();
		uint64_t recs = make_log(dir, 2048, 80);
		uint32_t nsegs = count_segments(dir);
		CHECK(nsegs >= 4);
		struct log_verify_report good;
		CHECK_INT(log_verify(dir, &good), 0);
		CHECK(good.ok);
		CHECK_INT(good.records, recs);

		uint32_t want = mutate(dir, (enum mutation)m, nsegs);
		struct log_verify_report rep;
		int rc = log_verify(dir, &rep);
		CHECK_INT(rc, 0);
		if (rep.ok)
			fprintf(stderr, "verify missed: %s\n", mut_names[m]);
		CHECK(!rep.ok);
		CHECK(rep.reason[0] != '\0');
		if (rep.bad_segment != want)
			fprintf(stderr, "%s: fault named segment %u, want %u (%s)\n", mut_names[m],
				rep.bad_segment, want, rep.reason);
		CHECK_INT(rep.bad_segment, want);
		CHECK(rep.records <= recs);
		CHECK(rep.bad_record <= recs);
		if (getenv("SINKD_TEST_VERBOSE"))
			fprintf(stderr, "%-24s -> seg %u off %llu rec %llu: %s\n", mut_names[m],
				rep.bad_segment, (unsigned long long)rep.bad_offset,
				(unsigned long long)rep.bad_record, rep.reason);

		/* A reader stops at the damage too (it does not hash, so it cannot see
		 * a replaced record or a wholly cut batch). */
		if (m == MUT_FLIP_RECORD || m == MUT_FLIP_SEAL || m == MUT_TRUNCATE_MID ||
		    m == MUT_REMOVE_RECORD || m == MUT_INSERT_RECORD) {
			int end;
			uint64_t got = read_check(dir, NULL, 0, &end);
			CHECK(got < recs);
			CHECK_INT(end, ERR_CORRUPT);
		}
		rm_rf(dir);
	}
}

/* ---- disk full ---------------------------------------------------------- */

static void test_disk_full(void)
{
	char *dir = tmpdir_new();
	char p[512];
	struct rlimit old, lim;
	struct log_writer *w = writer_open(dir, 1 << 20, NULL, NULL);
	uint64_t next = 0;
	CHECK(w != NULL);
	if (!w) {
		rm_rf(dir);
		return;
	}
	CHECK_INT(put_batch(w, &next, 5), 0);
	seg_path(p, sizeof p, dir, 1);
	uint64_t good = file_len(p);

	/* RLIMIT_FSIZE makes write(2) past the limit fail with EFBIG, part-way
	 * through the batch, like a disk filling up. */
	signal(SIGXFSZ, SIG_IGN);
	CHECK_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)(good + 1500);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);

	int rc = 0;
	uint64_t committed = next;
	for (int i = 0; i < 50 && rc == 0; i++) {
		committed = next;
		rc = put_batch(w, &next, 6);
	}
	int e = errno;
	CHECK_INT(rc, ERR_SYS);
	CHECK_INT(e, EFBIG);
	struct log_writer_stats st;
	log_writer_stats(w, &st);
	CHECK_INT(st.dropped, 6);
	CHECK_INT(st.records, committed);
	/* The file ends on its last seal: valid, nothing half-written left. */
	verify_ok(dir, committed);
	CHECK(file_len(p) <= good + 1500);
	/* Keeps failing while the disk is full, and keeps counting. */
	uint64_t n2 = next;
	CHECK_INT(put_batch(w, &n2, 50), ERR_SYS);
	log_writer_stats(w, &st);
	CHECK_INT(st.dropped, 56);
	verify_ok(dir, committed);

	/* The disk recovers: later commits work and the chain continues. */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	next = committed;
	CHECK_INT(put_batch(w, &next, 3), 0);
	CHECK_INT(log_writer_close(w), 0);
	verify_ok(dir, committed + 3);
	int end;
	CHECK_INT(read_check(dir, NULL, 0, &end), committed + 3);
	rm_rf(dir);
}

int main(void)
{
	test_roundtrip();
	test_limits();
	test_big_batch();
	test_resume();
	test_follow();
	test_torn_tail();
	test_empty_last_segment();
	test_verify_faults();
	test_disk_full();
	return check_done("test_log");
}
