/* test_lpm.c — the prefix tables against a brute-force longest-prefix match on random addresses, both families. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "enrich/lpm.h"

struct pfx {
	int ipver;
	uint8_t addr[16];
	unsigned plen;
	uint32_t val;
};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void mask(uint8_t *a, unsigned bits, unsigned plen)
{
	for (unsigned b = plen; b < bits; b++)
		a[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
}

static bool contains(const struct pfx *p, int ipver, const uint8_t *a)
{
	if (p->ipver != ipver)
		return false;
	for (unsigned b = 0; b < p->plen; b++) {
		unsigned m = 0x80u >> (b % 8);
		if ((p->addr[b / 8] & m) != (a[b / 8] & m))
			return false;
	}
	return true;
}

/* The reference: scan everything, keep the longest; of equal ones the last added. */
static uint32_t brute(const struct pfx *ps, size_t n, int ipver, const uint8_t *a)
{
	int best = -1;
	uint32_t v = LPM_NONE;
	for (size_t i = 0; i < n; i++)
		if (contains(&ps[i], ipver, a) && (int)ps[i].plen >= best) {
			best = (int)ps[i].plen;
			v = ps[i].val;
		}
	return v;
}

static void random_addr(int ipver, uint8_t *a)
{
	memset(a, 0, 16);
	for (int i = 0; i < (ipver == 4 ? 4 : 16); i++)
		a[i] = (uint8_t)rnd();
}

/* An address near a prefix: inside, at its edges, or just outside. */
static void near_addr(const struct pfx *p, uint8_t *a)
{
	unsigned bits = p->ipver == 4 ? 32 : 128;
	memcpy(a, p->addr, 16);
	int how = (int)(rnd() % 4);
	for (unsigned b = p->plen; b < bits; b++) {
		unsigned m = 0x80u >> (b % 8);
		bool set = how == 0 ? false : how == 1 ? true : (rnd() & 1);
		if (set)
			a[b / 8] |= (uint8_t)m;
	}
	if (how == 3 && p->plen > 0) { /* flip the last prefix bit: just outside */
		unsigned b = p->plen - 1;
		a[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
	}
}

static void run_case(size_t n_pfx, bool defaults, bool clustered, int probes, uint32_t nvals)
{
	struct pfx *ps = calloc(n_pfx + 4, sizeof *ps);
	size_t n = 0;
	struct lpm_builder *b;
	CHECK_INT(lpm_builder_new(&b), 0);
	if (defaults) {
		ps[n++] = (struct pfx){ 4, { 0 }, 0, 1000001 };
		ps[n++] = (struct pfx){ 6, { 0 }, 0, 1000002 };
	}
	for (size_t i = 0; i < n_pfx; i++) {
		struct pfx *p = &ps[n++];
		p->ipver = rnd() % 3 ? 4 : 6;
		unsigned bits = p->ipver == 4 ? 32 : 128;
		p->plen = (unsigned)(rnd() % (bits + 1));
		if (clustered && i > 0 && rnd() % 2) {
			/* inside (or equal to) an earlier prefix of the same family: overlaps */
			const struct pfx *q = &ps[rnd() % (n - 1)];
			if (q->ipver == p->ipver) {
				memcpy(p->addr, q->addr, 16);
				p->plen = q->plen + (unsigned)(rnd() % (bits - q->plen + 1));
				for (unsigned x = q->plen; x < bits; x++)
					if (rnd() & 1)
						p->addr[x / 8] |= (uint8_t)(0x80u >> (x % 8));
			} else {
				random_addr(p->ipver, p->addr);
			}
		} else {
			random_addr(p->ipver, p->addr);
		}
		mask(p->addr, bits, p->plen);
		p->val = (uint32_t)(i % nvals) + 1; /* repeated values: neighbours may merge */
	}
	for (size_t i = 0; i < n; i++)
		CHECK_INT(lpm_add_prefix(b, ps[i].ipver, ps[i].addr, ps[i].plen, ps[i].val), 0);
	struct lpm *t;
	CHECK_INT(lpm_build(b, &t), 0);
	int bad = 0;
	for (int i = 0; i < probes && bad < 5; i++) {
		uint8_t a[16];
		int ipver;
		if (i % 2) {
			const struct pfx *p = &ps[rnd() % n];
			ipver = p->ipver;
			near_addr(p, a);
		} else {
			ipver = rnd() % 2 ? 4 : 6;
			random_addr(ipver, a);
		}
		/* The table reads an IPv4-mapped IPv6 address as IPv4; keep the reference plain. */
		if (ipver == 6 && !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
			a[0] = 0x20;
		uint32_t want = brute(ps, n, ipver, a), got = lpm_lookup(t, ipver, a);
		if (want != got) {
			bad++;
			CHECK_INT(got, want);
		}
	}
	CHECK_INT(bad, 0);
	lpm_free(t);
	free(ps);
}

/*
 * Announced IPv6 space is clustered: thousands of prefixes inside one /12, so
 * one first-level block holds most segments and gets a second-level index.
 */
static void test_dense6(void)
{
	size_t n = 4000;
	struct pfx *ps = calloc(n, sizeof *ps);
	struct lpm_builder *b;
	CHECK_INT(lpm_builder_new(&b), 0);
	for (size_t i = 0; i < n; i++) {
		struct pfx *p = &ps[i];
		p->ipver = 6;
		random_addr(6, p->addr);
		p->addr[0] = 0x2a;
		p->addr[1] &= 0x0f; /* inside 2a00::/12 */
		p->plen = 12 + (unsigned)(rnd() % 53);
		if (i > 0 && rnd() % 3 == 0) { /* nested in an earlier one */
			const struct pfx *q = &ps[rnd() % i];
			memcpy(p->addr, q->addr, 16);
			p->plen = q->plen + (unsigned)(rnd() % (128 - q->plen + 1));
			for (unsigned x = q->plen; x < 128; x++)
				if (rnd() & 1)
					p->addr[x / 8] |= (uint8_t)(0x80u >> (x % 8));
		}
		mask(p->addr, 128, p->plen);
		p->val = (uint32_t)(i % 700) + 1;
		CHECK_INT(lpm_add_prefix(b, 6, p->addr, p->plen, p->val), 0);
	}
	struct lpm *t;
	CHECK_INT(lpm_build(b, &t), 0);
	int bad = 0;
	for (int i = 0; i < 40000 && bad < 5; i++) {
		uint8_t a[16];
		if (i % 2) {
			near_addr(&ps[rnd() % n], a);
		} else {
			random_addr(6, a);
			a[0] = 0x2a;
			a[1] &= (uint8_t)(i % 4 ? 0x0f : 0xff); /* mostly inside the cluster */
		}
		uint32_t want = brute(ps, n, 6, a), got = lpm_lookup6(t, a);
		if (want != got) {
			bad++;
			CHECK_INT(got, want);
		}
	}
	CHECK_INT(bad, 0);
	lpm_free(t);
	free(ps);
}

static void test_edges(void)
{
	struct lpm_builder *b;
	CHECK_INT(lpm_builder_new(&b), 0);
	const uint8_t z[16] = { 0 }, ten[4] = { 10, 0, 0, 0 }, ten1[4] = { 10, 1, 0, 0 };
	const uint8_t lo[4] = { 192, 0, 2, 10 }, hi[4] = { 192, 0, 2, 20 };
	const uint8_t all1[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	CHECK_INT(lpm_add_prefix(b, 4, ten, 8, 1), 0);
	CHECK_INT(lpm_add_prefix(b, 4, ten1, 16, 2), 0);
	CHECK_INT(lpm_add_prefix(b, 4, ten1, 16, 3), 0); /* same prefix again: the later wins */
	CHECK_INT(lpm_add_range(b, 4, lo, hi, 4), 0);
	CHECK_INT(lpm_add_prefix(b, 4, all1, 32, 5), 0);  /* 255.255.255.255/32 */
	CHECK_INT(lpm_add_prefix(b, 6, all1, 128, 6), 0); /* the last IPv6 address */
	CHECK_INT(lpm_add_prefix(b, 6, z, 0, 7), 0);	  /* ::/0 */
	CHECK_INT(lpm_add_range(b, 4, hi, lo, 9), ERR_INVAL);
	CHECK_INT(lpm_add_prefix(b, 4, ten, 33, 9), ERR_INVAL);
	CHECK_INT(lpm_add_prefix(b, 4, ten, 8, LPM_VALUE_MAX + 1u), ERR_INVAL);
	struct lpm *t;
	CHECK_INT(lpm_build(b, &t), 0);
	CHECK_INT(lpm_lookup4(t, 0x0a000001), 1);
	CHECK_INT(lpm_lookup4(t, 0x0a010001), 3);
	CHECK_INT(lpm_lookup4(t, 0x0a01ffff), 3);
	CHECK_INT(lpm_lookup4(t, 0x0a020000), 1);
	CHECK_INT(lpm_lookup4(t, 0x0affffff), 1);
	CHECK_INT(lpm_lookup4(t, 0x0b000000), LPM_NONE);
	CHECK_INT(lpm_lookup4(t, 0x09ffffff), LPM_NONE);
	CHECK_INT(lpm_lookup4(t, 0xc000020a), 4);
	CHECK_INT(lpm_lookup4(t, 0xc0000214), 4);
	CHECK_INT(lpm_lookup4(t, 0xc0000209), LPM_NONE);
	CHECK_INT(lpm_lookup4(t, 0xc0000215), LPM_NONE);
	CHECK_INT(lpm_lookup4(t, 0xffffffff), 5);
	CHECK_INT(lpm_lookup4(t, 0), LPM_NONE);
	CHECK_INT(lpm_lookup6(t, all1), 6);
	CHECK_INT(lpm_lookup6(t, z), 7);
	uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3 };
	CHECK_INT(lpm_lookup6(t, mapped), 3);
	lpm_free(t);

	/* An empty table answers nothing anywhere. */
	CHECK_INT(lpm_builder_new(&b), 0);
	CHECK_INT(lpm_build(b, &t), 0);
	CHECK_INT(lpm_lookup4(t, 0x01020304), LPM_NONE);
	CHECK_INT(lpm_lookup6(t, all1), LPM_NONE);
	lpm_free(t);
}

int main(void)
{
	test_edges();
	test_dense6();
	run_case(50, true, false, 40000, 5000);
	run_case(400, true, true, 40000, 5000);
	run_case(3000, false, true, 40000, 5000);
	run_case(3000, true, true, 40000, 5000);
	/*
	 * Enough IPv4 segments for the DIR-24-8 view (and /25../32 splitting /24s),
	 * with one-byte (few values), two-byte and four-byte entries.
	 */
	run_case(30000, true, true, 6000, 200);
	run_case(30000, true, true, 6000, 5000);
	run_case(30000, false, false, 6000, 1000000);
	return check_done("lpm");
}
