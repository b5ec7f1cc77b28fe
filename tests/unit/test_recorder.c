/* test_recorder.c — unit tests for the recorder: lanes → writer thread → log, durability counts, group commit. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check.h"
#include "core/err.h"
#include "core/event.h"
#include "core/log.h"
#include "core/recorder.h"

#define LANES	 3
#define PER_LANE 20000

struct producer {
	struct recorder_lane *lane;
	unsigned id;
	uint64_t last_seq;
	int errors;
};

/* A minimal valid event whose flow id encodes (lane, n). */
static size_t make_event(uint8_t *buf, size_t cap, unsigned lane, uint32_t n)
{
	struct event_header h = {
		.type = EVENT_HTTP,
		.transport = 6,
		.ts_us = 1700000000000000ull + n,
		.flow_id = ((uint64_t)lane << 32) | n,
		.src = { .ipver = 4, .addr = { 192, 0, 2, (uint8_t)lane }, .port = 1024 },
		.dst = { .ipver = 4, .addr = { 198, 51, 100, 1 }, .port = 80 },
	};
	struct event_builder b;
	event_begin(&b, buf, cap, &h);
	event_put_str(&b, EVENT_T_FAMILY, "test");
	size_t len = 0;
	event_finish(&b, &len);
	return len;
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint8_t buf[256];
	for (uint32_t n = 0; n < PER_LANE;) {
		size_t len = make_event(buf, sizeof buf, p->id, n);
		uint64_t seq;
		int rc = recorder_submit(p->lane, buf, len, &seq);
		if (rc == ERR_FULL) {
			sched_yield();
			continue;
		}
		if (rc || seq != (uint64_t)n + 1)
			p->errors++;
		p->last_seq = seq;
		n++;
	}
	return NULL;
}

static void run_mode(enum config_fsync mode)
{
	char dir[] = "/tmp/sinkd-test-recorder-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	struct recorder_opts o = {
		.log_dir = dir,
		.sensor_id = "unit",
		.segment_bytes = 256 * 1024, /* several rotations */
		.ring_bytes = 64 * 1024,     /* small: producers hit ERR_FULL and must wait */
		.lanes = LANES,
		.fsync = mode,
		.fsync_interval_ms = 5,
	};
	struct recorder *r;
	CHECK_INT(recorder_start(&r, &o, NULL), 0);
	int efd[LANES];
	struct producer p[LANES];
	pthread_t t[LANES];
	for (unsigned i = 0; i < LANES; i++) {
		efd[i] = eventfd(0, EFD_NONBLOCK);
		p[i] = (struct producer){ .lane = recorder_lane(r, i), .id = i };
		recorder_lane_set_notify_fd(p[i].lane, efd[i]);
		CHECK_INT(pthread_create(&t[i], NULL, produce, &p[i]), 0);
	}
	for (unsigned i = 0; i < LANES; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(p[i].errors, 0);
		CHECK_INT(p[i].last_seq, PER_LANE);
	}
	/* Every submitted event becomes durable; in answered mode the worker is woken for it. */
	for (int spin = 0; spin < 5000; spin++) {
		unsigned done = 0;
		for (unsigned i = 0; i < LANES; i++)
			done += recorder_durable(p[i].lane) == PER_LANE;
		if (done == LANES)
			break;
		usleep(1000);
	}
	for (unsigned i = 0; i < LANES; i++) {
		CHECK_INT(recorder_durable(p[i].lane), PER_LANE);
		uint64_t v = 0;
		ssize_t n = read(efd[i], &v, sizeof v);
		if (mode == CONFIG_FSYNC_ANSWERED)
			CHECK(n == (ssize_t)sizeof v && v > 0);
	}
	struct recorder_stats st;
	recorder_stats(r, &st);
	CHECK_INT(st.submitted, LANES * PER_LANE);
	CHECK_INT(st.dropped_disk, 0);
	if (mode != CONFIG_FSYNC_NONE)
		CHECK(st.syncs > 0);
	CHECK_INT(recorder_stop(r), 0);

	/* The log holds every event exactly once, each lane in submission order. */
	struct log_reader *rd;
	CHECK_INT(log_reader_open(&rd, dir, NULL), 0);
	uint32_t next[LANES] = { 0 };
	uint64_t total = 0;
	int order_errors = 0;
	struct log_record rec;
	while (log_reader_next(rd, &rec) == 0) {
		struct event_view v;
		if (event_decode(rec.data, rec.len, &v) != 0) {
			order_errors++;
			continue;
		}
		unsigned lane = (unsigned)(v.h.flow_id >> 32);
		uint32_t n = (uint32_t)v.h.flow_id;
		if (lane >= LANES || n != next[lane])
			order_errors++;
		else
			next[lane]++;
		total++;
	}
	log_reader_close(rd);
	CHECK_INT(total, LANES * PER_LANE);
	CHECK_INT(order_errors, 0);
	struct log_verify_report rep;
	CHECK_INT(log_verify(dir, &rep), 0);
	CHECK(rep.ok);
	CHECK(rep.segments > 1);
	for (unsigned i = 0; i < LANES; i++)
		close(efd[i]);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
}

int main(void)
{
	run_mode(CONFIG_FSYNC_INTERVAL);
	run_mode(CONFIG_FSYNC_ANSWERED);
	run_mode(CONFIG_FSYNC_NONE);
	return check_done("test_recorder");
}
