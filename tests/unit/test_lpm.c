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
	/* The grouped IPv6 lookup answers what the reference does, for every address of a batch. */
	static uint8_t batch[1000][16];
	uint32_t got[1000];
	for (size_t i = 0; i < 1000; i++) {
		const struct pfx *p = &ps[rnd() % n];
		if (i % 3 && p->ipver == 6)
			near_addr(p, batch[i]);
		else
			random_addr(6, batch[i]);
		if (!memcmp(batch[i], "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
			batch[i][0] = 0x20;
	}
	lpm_lookup6_batch(t, (const uint8_t(*)[16])batch, 1000, got);
	bad = 0;
	for (size_t i = 0; i < 1000; i++)
		bad += got[i] != brute(ps, n, 6, batch[i]);
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

/*
 * Tight clusters: allocations split into many long prefixes (a /29 into /48s,
 * a /48 into /64s), with other prefixes below and above them in the same
 * block, so a level skips the bits a cluster shares and answers for what lies
 * beside it. Single and grouped lookups against the reference.
 */
static void test_tight6(size_t n, unsigned hot_plen, unsigned outside_pct)
{
	struct pfx *ps = calloc(n, sizeof *ps);
	uint8_t hot[6][16];
	for (int h = 0; h < 6; h++) {
		random_addr(6, hot[h]);
		hot[h][0] = 0x2a;
		hot[h][1] &= 0x0f;
		mask(hot[h], 128, hot_plen);
	}
	struct lpm_builder *b;
	CHECK_INT(lpm_builder_new(&b), 0);
	for (size_t i = 0; i < n; i++) {
		struct pfx *p = &ps[i];
		p->ipver = 6;
		random_addr(6, p->addr);
		if (i < 6) { /* the hot block itself: a boundary right above the cluster */
			memcpy(p->addr, hot[i], 16);
			p->plen = hot_plen;
		} else if (rnd() % 100 >= outside_pct) { /* inside a hot block */
			const uint8_t *hb = hot[rnd() % 6];
			for (unsigned x = 0; x < hot_plen; x++) {
				uint8_t m = (uint8_t)(0x80u >> (x % 8));
				p->addr[x / 8] = (uint8_t)((p->addr[x / 8] & ~m) | (hb[x / 8] & m));
			}
			p->plen = hot_plen + (unsigned)(rnd() % (128 - hot_plen + 1));
		} else {
			p->addr[0] = 0x2a;
			p->addr[1] &= 0x0f;
			p->plen = 12 + (unsigned)(rnd() % 53);
		}
		mask(p->addr, 128, p->plen);
		p->val = (uint32_t)(i % 300) + 1;
		CHECK_INT(lpm_add_prefix(b, 6, p->addr, p->plen, p->val), 0);
	}
	/*
	 * Per hot block, a range from one block above it to the end of its
	 * aligned 2^(128 - hot_plen + 8) block: a single boundary above the
	 * cluster (range files have them; prefixes end inside their block). All
	 * such ranges end on the same alignment, so they nest, never cross.
	 */
	typedef unsigned __int128 u128;
	u128 rlo[6], rhi[6];
	unsigned sh = 128 - hot_plen;
	for (int h = 0; h < 6; h++) {
		u128 base = 0;
		for (int k = 0; k < 16; k++)
			base = base << 8 | hot[h][k];
		rlo[h] = base + ((u128)2 << sh);
		rhi[h] = (base | ((((u128)1 << (sh + 8)) - 1)));
		if (rlo[h] > rhi[h])
			rlo[h] = rhi[h];
		uint8_t l[16], u[16];
		for (int k = 15; k >= 0; k--) {
			l[k] = (uint8_t)(rlo[h] >> (8 * (15 - k)));
			u[k] = (uint8_t)(rhi[h] >> (8 * (15 - k)));
		}
		CHECK_INT(lpm_add_range(b, 6, l, u, 5000 + (uint32_t)h), 0);
	}
	struct lpm *t;
	CHECK_INT(lpm_build(b, &t), 0);
	static uint8_t a[5000][16];
	static uint32_t got[5000];
	for (size_t i = 0; i < 5000; i++) {
		if (i % 2) {
			near_addr(&ps[rnd() % n], a[i]);
		} else {
			random_addr(6, a[i]);
			const uint8_t *hb = hot[rnd() % 6];
			unsigned keep =
				hot_plen - (unsigned)(rnd() % 8); /* in or beside a hot block */
			for (unsigned x = 0; x < keep; x++) {
				uint8_t m = (uint8_t)(0x80u >> (x % 8));
				a[i][x / 8] = (uint8_t)((a[i][x / 8] & ~m) | (hb[x / 8] & m));
			}
		}
	}
	lpm_lookup6_batch(t, (const uint8_t(*)[16])a, 5000, got);
	int bad = 0, bad_batch = 0;
	for (size_t i = 0; i < 5000; i++) {
		uint32_t want = brute(ps, n, 6, a[i]);
		/* A range is more specific than the prefixes holding it, less than those inside it. */
		u128 x = 0, best = ~(u128)0;
		for (int k = 0; k < 16; k++)
			x = x << 8 | a[i][k];
		for (size_t j = 0; j < n; j++)
			if (ps[j].val == want && contains(&ps[j], 6, a[i]) &&
			    (ps[j].plen == 0 ? ~(u128)0 : ((u128)1 << (128 - ps[j].plen)) - 1) <
				    best)
				best = ps[j].plen == 0 ? ~(u128)0 :
							 ((u128)1 << (128 - ps[j].plen)) - 1;
		if (!want)
			best = ~(u128)0;
		for (int h = 0; h < 6; h++)
			if (x >= rlo[h] && x <= rhi[h] && rhi[h] - rlo[h] < best) {
				best = rhi[h] - rlo[h];
				want = 5000 + (uint32_t)h;
			}
		bad += lpm_lookup6(t, a[i]) != want;
		bad_batch += got[i] != want;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(bad_batch, 0);
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
	test_tight6(600, 29, 30);
	test_tight6(2000, 40, 30);
	test_tight6(2000, 48, 30);
	test_tight6(1500, 32, 0);
	test_tight6(1500, 44, 1);
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
