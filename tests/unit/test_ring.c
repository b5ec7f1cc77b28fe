/* test_ring.c — unit tests for the SPSC record ring: order, wrap-around, full, two threads. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "core/ring.h"

/* A record of `len` bytes whose content is derived from its sequence number. */
static void fill(uint8_t *p, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31u + i);
	if (len >= 4)
		memcpy(p, &seq, 4);
}

static int check_record(const uint8_t *p, size_t len, uint32_t seq)
{
	uint8_t want[4096];
	fill(want, len, seq);
	return memcmp(p, want, len) == 0;
}

static size_t len_for(uint32_t seq)
{
	return 4 + (seq * 2654435761u) % 1500;
}

static void test_basic(void)
{
	struct ring *r;
	CHECK_INT(ring_create(&r, 1), 0);
	const uint8_t *p;
	size_t len;
	CHECK(!ring_peek(r, &p, &len));
	CHECK(ring_empty(r));
	CHECK_INT(ring_push(r, "hello", 5), 0);
	CHECK_INT(ring_push(r, "", 0), 0);
	CHECK_INT(ring_push(r, "world!", 6), 0);
	CHECK(ring_peek(r, &p, &len));
	CHECK_SLICE(p, len, "hello");
	ring_pop(r);
	CHECK(ring_peek(r, &p, &len));
	CHECK_INT(len, 0);
	ring_pop(r);
	CHECK(ring_peek(r, &p, &len));
	CHECK_SLICE(p, len, "world!");
	ring_pop(r);
	CHECK(!ring_peek(r, &p, &len));
	CHECK(ring_empty(r));
	ring_free(r);
}

static void test_limits_and_full(void)
{
	struct ring *r;
	CHECK_INT(ring_create(&r, 64 * 1024), 0);
	static uint8_t big[32 * 1024];
	/* A record may take at most a quarter of the ring. */
	CHECK_INT(ring_push(r, big, sizeof big), ERR_LIMIT);
	uint8_t rec[1000];
	int pushed = 0;
	while (ring_push(r, rec, sizeof rec) == 0)
		pushed++;
	/* 1000 bytes + 4 header, padded to 1008: 65 fit in 64 KiB. */
	CHECK_INT(pushed, 65);
	CHECK_INT(ring_push(r, rec, sizeof rec), ERR_FULL);
	const uint8_t *p;
	size_t len;
	CHECK(ring_peek(r, &p, &len));
	ring_pop(r);
	CHECK_INT(ring_push(r, rec, sizeof rec), 0);
	ring_free(r);
}

/* Many rounds through a small ring: records of varied sizes must wrap without straddling. */
static void test_wrap_single_thread(void)
{
	struct ring *r;
	CHECK_INT(ring_create(&r, 64 * 1024), 0);
	uint8_t buf[4096];
	uint32_t next_push = 0, next_pop = 0;
	int bad = 0;
	for (int round = 0; round < 20000; round++) {
		for (int k = 0; k < 3; k++) {
			size_t len = len_for(next_push);
			fill(buf, len, next_push);
			if (ring_push(r, buf, len) == 0)
				next_push++;
		}
		for (int k = 0; k < 2; k++) {
			const uint8_t *p;
			size_t len;
			if (!ring_peek(r, &p, &len))
				break;
			if (len != len_for(next_pop) || !check_record(p, len, next_pop))
				bad++;
			ring_pop(r);
			next_pop++;
		}
	}
	CHECK_INT(bad, 0);
	CHECK(next_pop > 30000);
	ring_free(r);
}

struct stress {
	struct ring *r;
	uint32_t count;
	int bad;
	uint32_t got;
};

static void *producer(void *arg)
{
	struct stress *s = arg;
	uint8_t buf[4096];
	for (uint32_t seq = 0; seq < s->count;) {
		size_t len = len_for(seq);
		fill(buf, len, seq);
		if (ring_push(s->r, buf, len) == 0)
			seq++;
		else
			sched_yield(); /* full: let the consumer run on this small machine */
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct stress *s = arg;
	while (s->got < s->count) {
		const uint8_t *p;
		size_t len;
		if (!ring_peek(s->r, &p, &len)) {
			sched_yield();
			continue;
		}
		if (len != len_for(s->got) || !check_record(p, len, s->got))
			s->bad++;
		ring_pop(s->r);
		s->got++;
	}
	return NULL;
}

static void test_two_threads(void)
{
	struct stress s = { .count = 100000 };
	CHECK_INT(ring_create(&s.r, 64 * 1024), 0);
	pthread_t a, b;
	CHECK_INT(pthread_create(&b, NULL, consumer, &s), 0);
	CHECK_INT(pthread_create(&a, NULL, producer, &s), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK_INT(s.got, s.count);
	CHECK_INT(s.bad, 0);
	CHECK(ring_empty(s.r));
	ring_free(s.r);
}

int main(void)
{
	test_basic();
	test_limits_and_full();
	test_wrap_single_thread();
	test_two_threads();
	return check_done("test_ring");
}
