/* test_tcp_reasm.c — TCP reassembly: every order of a segmented stream, overlaps, wrap-around, budgets and gaps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net/tcp_reasm.h"

struct out {
	uint8_t buf[4096];
	size_t len;
	uint64_t gaps, gap_bytes;
	uint64_t last_gap_off;
	bool order_ok;
};

static void deliver(void *arg, uint64_t off, const uint8_t *data, size_t len)
{
	struct out *o = arg;
	if (off != o->len + o->gap_bytes)
		o->order_ok = false;
	if (o->len + len <= sizeof o->buf) {
		memcpy(o->buf + o->len, data, len);
		o->len += len;
	}
}

static void gap(void *arg, uint64_t off, uint64_t len)
{
	struct out *o = arg;
	o->gaps++;
	o->gap_bytes += len;
	o->last_gap_off = off;
}

static const char text[] = "GET /some/long/path?with=query HTTP/1.1\r\nHost: x\r\n\r\n";

/* Every permutation of 4 segments (with overlaps) yields the stream exactly. */
static void test_all_orders(void)
{
	size_t n = sizeof text - 1;
	size_t cut[5] = { 0, 9, 20, 33, n };
	int perm[4] = { 0, 1, 2, 3 };
	int count = 0;
	/* Heap's algorithm over the 24 orders. */
	int c[4] = { 0 };
	for (int i = 0;;) {
		struct out o = { .order_ok = true };
		struct reasm_sink s = { deliver, gap, &o };
		struct reasm_budget b = { .max = 1 << 20 };
		struct tcp_reasm r;
		tcp_reasm_init(&r, 1 << 16);
		tcp_reasm_syn(&r, 0xfffffff0u); /* the stream wraps the sequence space */
		for (int k = 0; k < 4; k++) {
			int s0 = perm[k];
			/* Each segment starts 3 bytes early: overlaps on every boundary. */
			size_t from = cut[s0] >= 3 ? cut[s0] - 3 : 0;
			tcp_reasm_add(&r, &b, 0xfffffff1u + (uint32_t)from,
				      (const uint8_t *)text + from, cut[s0 + 1] - from, &s);
		}
		tcp_reasm_finish(&r, &b, 0, &s);
		CHECK_INT(o.len, n);
		CHECK(!memcmp(o.buf, text, n));
		CHECK(o.order_ok);
		CHECK_INT(o.gaps, 0);
		CHECK_INT(b.used, 0);
		count++;
		while (i < 4 && c[i] >= i) {
			c[i] = 0;
			i++;
		}
		if (i >= 4)
			break;
		int j = i % 2 ? c[i] : 0;
		int t = perm[j];
		perm[j] = perm[i];
		perm[i] = t;
		c[i]++;
		i = 0;
	}
	CHECK_INT(count, 24);
}

static void test_first_copy_wins(void)
{
	struct out o = { .order_ok = true };
	struct reasm_sink s = { deliver, gap, &o };
	struct reasm_budget b = { .max = 1 << 20 };
	struct tcp_reasm r;
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_syn(&r, 100);
	tcp_reasm_add(&r, &b, 105, (const uint8_t *)"AAAA", 4, &s);   /* held: offsets 4..7 */
	tcp_reasm_add(&r, &b, 103, (const uint8_t *)"BBBBBB", 6, &s); /* 2..7: only 2,3 are new */
	tcp_reasm_add(&r, &b, 101, (const uint8_t *)"xy", 2, &s);
	CHECK_SLICE(o.buf, o.len, "xyBBAAAA");
	CHECK_INT(r.conflict_bytes, 4);
	CHECK_INT(r.dup_bytes, 4);
	/* A retransmission of delivered bytes changes nothing. */
	tcp_reasm_add(&r, &b, 101, (const uint8_t *)"zzzzzzzzz", 9, &s);
	CHECK_SLICE(o.buf, o.len, "xyBBAAAAz");
	tcp_reasm_free(&r, &b);
}

static void test_budgets_make_gaps(void)
{
	struct out o = { .order_ok = true };
	struct reasm_sink s = { deliver, gap, &o };
	struct reasm_budget b = { .max = 10 };
	struct tcp_reasm r;
	tcp_reasm_init(&r, 1 << 16);
	tcp_reasm_syn(&r, 0);
	tcp_reasm_add(&r, &b, 1, (const uint8_t *)"ab", 2, &s);
	/* 8 bytes held after a 2-byte hole; the next 8 do not fit: the hole becomes a gap. */
	tcp_reasm_add(&r, &b, 5, (const uint8_t *)"efghijkl", 8, &s);
	CHECK_INT(b.used, 8);
	tcp_reasm_add(&r, &b, 15, (const uint8_t *)"opqrstuv", 8, &s);
	CHECK_INT(o.gaps, 1);
	CHECK_INT(o.last_gap_off, 2);
	CHECK_SLICE(o.buf, o.len, "abefghijkl");
	CHECK(b.used <= b.max);
	/* The end of the stream: the remaining hole is a gap too, then the held bytes. */
	tcp_reasm_finish(&r, &b, 30, &s);
	CHECK_SLICE(o.buf, o.len, "abefghijklopqrstuv");
	CHECK_INT(o.gaps, 3); /* 12..13, then 22..29 missing before the FIN */
	CHECK_INT(b.used, 0);
	CHECK(o.order_ok);

	/* The per-flow cap works the same way. */
	struct out o2 = { .order_ok = true };
	struct reasm_sink s2 = { deliver, gap, &o2 };
	struct reasm_budget b2 = { .max = 1 << 20 };
	tcp_reasm_init(&r, 4);
	tcp_reasm_syn(&r, 0);
	tcp_reasm_add(&r, &b2, 3, (const uint8_t *)"cdef", 4, &s2);
	tcp_reasm_add(&r, &b2, 9, (const uint8_t *)"ij", 2, &s2);
	CHECK_INT(o2.gaps, 1);
	CHECK_INT(r.held_bytes, 2);
	tcp_reasm_free(&r, &b2);
	CHECK_INT(b2.used, 0);
}

static void test_offsets(void)
{
	struct tcp_reasm r;
	tcp_reasm_init(&r, 1024);
	tcp_reasm_syn(&r, UINT32_MAX);
	CHECK_INT(tcp_reasm_offset(&r, 0), 0);
	CHECK_INT(tcp_reasm_offset(&r, 10), 10);
	/* Far behind the stream start clamps to 0 rather than wrapping to a huge offset. */
	CHECK_INT(tcp_reasm_offset(&r, 0x80000000u), 0);
}

int main(void)
{
	test_all_orders();
	test_first_copy_wins();
	test_budgets_make_gaps();
	test_offsets();
	return check_done("tcp_reasm");
}
