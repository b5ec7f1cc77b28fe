/* lpm.c — prefix/range tables flattened into disjoint sorted segments with a direct-indexed first level. */
#include "enrich/lpm.h"

#include <endian.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/err.h"

/* The first level has about two blocks per segment, between 2^4 and 2^20 of them. */
#define LPM_TBL8	       0x80000000u
#define LPM_DIR24_MIN_SEGMENTS 4096 /* smaller tables search: 64 MiB would be wasted on them */
#define LPM_BITS_MIN	       4
#define LPM_BITS_MAX	       20
#define LPM_SUB		       0x80000000u /* idx6: the block has a second-level index */
#define LPM_SUB_MIN	       16	   /* segments in a block that earn it one */
#define LPM_SUB_BITS_MAX       16

typedef unsigned __int128 u128;

struct lpm_item {
	u128 lo, hi;
	uint32_t val;
	uint32_t seq; /* insertion order: of two identical entries the later wins */
};

struct lpm_vec {
	struct lpm_item *v;
	size_t n, cap;
};

struct lpm_builder {
	struct lpm_vec fam[2]; /* [0] IPv4, [1] IPv6 */
	uint32_t seq;
};

struct lpm {
	/* IPv4: segment i covers [start4[i], start4[i+1]) */
	uint32_t *start4;
	uint32_t *val4;
	size_t n4;
	uint32_t *idx4; /* (1 << bits4) + 1 entries: segment holding the block's first address */
	unsigned shift4, shift6; /* 32 - bits4, 128 - bits6 */
	/*
	 * Large IPv4 tables also get a DIR-24-8 view (Gupta, Lin, McKeown): one
	 * entry per /24 holding the value, or, where several segments share the
	 * /24, LPM_TBL8 | group, and the group has one entry per address. A
	 * lookup is one load (rarely two) instead of a search.
	 */
	void *tbl24; /* 1 << 24 entries of `width` bytes, or NULL */
	size_t tbl24_bytes;
	unsigned width; /* 1 or 2: entries index dict[]; 4: values (LPM_TBL8 | group) */
	void *tbl8;	/* groups of 256 entries of `width` bytes */
	size_t n_tbl8;
	uint32_t *dict;	     /* width 1/2: entry -> value; the last index means "split" */
	uint32_t *split_blk; /* width 1/2: sorted /24 numbers of the groups, group = position */
	/*
	 * Width 1/2: the /24 entries are then stored as a two-level table instead
	 * of tbl24 (freed): row16[ip >> 16] names a row of 256 /24 entries, and
	 * identical rows are stored once. Most /16s hold one country or a few
	 * repeating patterns, so the rows take a few MiB rather than 16 or 32,
	 * and the 128 KiB first level stays in cache: single random lookups miss
	 * the cache far less often.
	 */
	uint16_t *row16; /* 1 << 16 row numbers */
	void *rows;	 /* n_rows * 256 entries of `width` bytes */
	size_t n_rows;
	/* IPv6 */
	u128 *start6;
	uint32_t *val6;
	size_t n6;
	uint32_t *idx6; /* as idx4; LPM_SUB | offset in sub6 for a dense block */
	/*
	 * A dense IPv6 block (announced space clusters in a few top-level blocks,
	 * so one block can hold tens of thousands of segments) gets its own
	 * direct index on the next bits: sub6[o] = bits, then (1 << bits) + 1
	 * segment numbers as idx6 has for blocks. A lookup then searches a few
	 * segments instead of thousands.
	 */
	uint32_t *sub6;
	size_t n_sub6;
};

static u128 u128_from_bytes(const uint8_t *p, size_t n)
{
	u128 v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

int lpm_builder_new(struct lpm_builder **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : ERR_NOMEM;
}

size_t lpm_builder_count(const struct lpm_builder *b)
{
	return b->fam[0].n + b->fam[1].n;
}

void lpm_builder_free(struct lpm_builder *b)
{
	if (!b)
		return;
	free(b->fam[0].v);
	free(b->fam[1].v);
	free(b);
}

static int lpm_push(struct lpm_builder *b, int fam, u128 lo, u128 hi, uint32_t val)
{
	if (val & LPM_TBL8)
		return ERR_INVAL; /* the top bit marks a DIR-24-8 group */
	struct lpm_vec *v = &b->fam[fam];
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		struct lpm_item *nv = realloc(v->v, cap * sizeof *nv);
		if (!nv)
			return ERR_NOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = (struct lpm_item){ lo, hi, val, b->seq++ };
	return 0;
}

int lpm_add_range(struct lpm_builder *b, int ipver, const uint8_t *lo, const uint8_t *hi,
		  uint32_t val)
{
	if (ipver != 4 && ipver != 6)
		return ERR_INVAL;
	size_t n = ipver == 4 ? 4 : 16;
	u128 l = u128_from_bytes(lo, n), h = u128_from_bytes(hi, n);
	if (l > h)
		return ERR_INVAL;
	return lpm_push(b, ipver == 4 ? 0 : 1, l, h, val);
}

int lpm_add_prefix(struct lpm_builder *b, int ipver, const uint8_t *addr, unsigned plen,
		   uint32_t val)
{
	if (ipver != 4 && ipver != 6)
		return ERR_INVAL;
	unsigned bits = ipver == 4 ? 32 : 128;
	if (plen > bits)
		return ERR_INVAL;
	u128 a = u128_from_bytes(addr, bits / 8);
	u128 host = plen == bits ? 0 : (((u128)1 << (bits - plen - 1)) << 1) - 1;
	if (plen == 0)
		host = bits == 128 ? ~(u128)0 : (((u128)1 << 32) - 1);
	u128 lo = a & ~host;
	if (bits == 32)
		lo &= ((u128)1 << 32) - 1;
	return lpm_push(b, ipver == 4 ? 0 : 1, lo, lo | host, val);
}

static int lpm_item_cmp(const void *pa, const void *pb)
{
	const struct lpm_item *a = pa, *b = pb;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1; /* the wider first: it is the outer one */
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct lpm_segs {
	u128 *start;
	uint32_t *val;
	size_t n, cap;
	bool nomem;
};

/* Appends a segment starting at s; one at the same start is replaced; equal neighbours merge. */
static void seg_emit(struct lpm_segs *g, u128 s, uint32_t v)
{
	if (g->n && g->start[g->n - 1] == s) {
		g->val[g->n - 1] = v;
		if (g->n > 1 && g->val[g->n - 2] == v)
			g->n--;
		return;
	}
	if (g->n && g->val[g->n - 1] == v)
		return;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		u128 *ns = realloc(g->start, cap * sizeof *ns);
		if (ns)
			g->start = ns;
		uint32_t *nv = ns ? realloc(g->val, cap * sizeof *nv) : NULL;
		if (!ns || !nv) {
			g->nomem = true;
			return;
		}
		g->val = nv;
		g->cap = cap;
	}
	g->start[g->n] = s;
	g->val[g->n] = v;
	g->n++;
}

/*
 * Sweeps the entries sorted by start (outer before inner) with a stack of the
 * entries that contain the current position; the top of the stack is the most
 * specific one and owns the segment.
 */
static int lpm_flatten(struct lpm_vec *v, u128 max, struct lpm_segs *g)
{
	memset(g, 0, sizeof *g);
	if (v->n)
		qsort(v->v, v->n, sizeof *v->v, lpm_item_cmp);
	struct lpm_item **stack = malloc((v->n + 1) * sizeof *stack);
	if (!stack)
		return ERR_NOMEM;
	size_t sp = 0;
	seg_emit(g, 0, LPM_NONE);
	for (size_t i = 0; i < v->n; i++) {
		struct lpm_item *it = &v->v[i];
		while (sp && stack[sp - 1]->hi < it->lo) {
			u128 end = stack[--sp]->hi;
			seg_emit(g, end + 1, sp ? stack[sp - 1]->val : LPM_NONE);
		}
		/* Crossing entries end inside this one: from here on it overrides them. */
		while (sp && stack[sp - 1]->hi < it->hi)
			sp--;
		seg_emit(g, it->lo, it->val);
		stack[sp++] = it;
	}
	while (sp) {
		u128 end = stack[--sp]->hi;
		if (end == max)
			break;
		seg_emit(g, end + 1, sp ? stack[sp - 1]->val : LPM_NONE);
	}
	free(stack);
	if (g->nomem) {
		free(g->start);
		free(g->val);
		return ERR_NOMEM;
	}
	return 0;
}

/* idx[b] = the segment that holds the first address of block b (the last start <= it). */
static int lpm_index(const u128 *start, size_t n, unsigned bits, unsigned width, uint32_t **out)
{
	size_t blocks = (size_t)1 << bits;
	uint32_t *idx = malloc((blocks + 1) * sizeof *idx);
	if (!idx)
		return ERR_NOMEM;
	size_t s = 0;
	for (size_t b = 0; b < blocks; b++) {
		u128 first = (u128)b << (width - bits);
		while (s + 1 < n && start[s + 1] <= first)
			s++;
		idx[b] = (uint32_t)s;
	}
	idx[blocks] = (uint32_t)(n - 1);
	*out = idx;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void put_entry(void *tbl, unsigned width, size_t i, uint32_t v)
{
	if (width == 1)
		((uint8_t *)tbl)[i] = (uint8_t)v;
	else if (width == 2)
		((uint16_t *)tbl)[i] = (uint16_t)v;
	else
		((uint32_t *)tbl)[i] = v;
}

/* Position of v in the sorted dictionary. */
static uint32_t dict_index(const uint32_t *dict, size_t n, uint32_t v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (dict[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)lo;
}

/* Width 1/2: folds tbl24 into row16 + distinct rows (see struct lpm) and frees it. */
static int lpm_rows16(struct lpm *t)
{
	size_t rb = (size_t)256 * t->width, hcap = (size_t)1 << 17;
	uint32_t *h = calloc(hcap, sizeof *h); /* row number + 1 */
	t->row16 = malloc(((size_t)1 << 16) * sizeof *t->row16);
	t->rows = malloc(((size_t)1 << 16) * rb);
	if (!h || !t->row16 || !t->rows) {
		free(h);
		return ERR_NOMEM;
	}
	const uint8_t *src = t->tbl24;
	for (size_t r = 0; r < ((size_t)1 << 16); r++) {
		const uint8_t *row = src + r * rb;
		uint64_t x = 1469598103934665603ull;
		for (size_t i = 0; i < rb; i += 8) {
			uint64_t w;
			memcpy(&w, row + i, 8);
			x = (x ^ w) * 1099511628211ull;
			x ^= x >> 29;
		}
		size_t i = x & (hcap - 1);
		while (h[i] && memcmp((uint8_t *)t->rows + (size_t)(h[i] - 1) * rb, row, rb))
			i = (i + 1) & (hcap - 1);
		if (!h[i]) {
			memcpy((uint8_t *)t->rows + t->n_rows * rb, row, rb);
			h[i] = (uint32_t)++t->n_rows;
		}
		t->row16[r] = (uint16_t)(h[i] - 1);
	}
	free(h);
	void *shrunk = realloc(t->rows, t->n_rows * rb);
	if (shrunk)
		t->rows = shrunk;
	munmap(t->tbl24, t->tbl24_bytes);
	t->tbl24 = NULL;
	t->tbl24_bytes = 0;
	return 0;
}

/*
 * Builds the DIR-24-8 view of the IPv4 segments. Tables with few distinct
 * values (countries) store a one- or two-byte index into a dictionary, so
 * the table is 16 or 32 MiB instead of 64 and more of it stays in cache.
 */
static int lpm_dir24(struct lpm *t)
{
	/* The distinct values, sorted: the dictionary. */
	uint32_t *d = malloc(t->n4 * sizeof *d);
	if (!d)
		return ERR_NOMEM;
	memcpy(d, t->val4, t->n4 * sizeof *d);
	qsort(d, t->n4, sizeof *d, u32_cmp);
	size_t nd = 0;
	for (size_t i = 0; i < t->n4; i++)
		if (!nd || d[nd - 1] != d[i])
			d[nd++] = d[i];
	t->width = nd < 0xff ? 1 : nd < 0xffff ? 2 : 4;
	if (t->width == 4) {
		free(d);
	} else {
		t->dict = d;
		/* Translate segment values to dictionary indexes once. */
		for (size_t i = 0; i < t->n4; i++)
			t->val4[i] = dict_index(d, nd, t->val4[i]);
	}
	uint32_t split = t->width == 1 ? 0xff : t->width == 2 ? 0xffff : 0;
	/* Huge pages where the kernel offers them: many MiB of random reads. */
	size_t bytes = ((size_t)1 << 24) * t->width;
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return ERR_NOMEM;
	madvise(m, bytes, MADV_HUGEPAGE);
	t->tbl24 = m;
	t->tbl24_bytes = bytes;
	size_t cap8 = 0, seg = 0;
	for (uint32_t blk = 0; blk < (1u << 24); blk++) {
		uint32_t first = blk << 8, last = first | 0xff;
		while (seg + 1 < t->n4 && t->start4[seg + 1] <= first)
			seg++;
		if (seg + 1 >= t->n4 || t->start4[seg + 1] > last) {
			put_entry(t->tbl24, t->width, blk, t->val4[seg]); /* one segment: the /24 */
			continue;
		}
		if (t->n_tbl8 == cap8) {
			cap8 = cap8 ? cap8 * 2 : 1024;
			if (cap8 > LPM_TBL8 / 256)
				return ERR_NOMEM;
			void *n8 = realloc(t->tbl8, cap8 * 256 * t->width);
			if (!n8)
				return ERR_NOMEM;
			t->tbl8 = n8;
			if (t->width != 4) {
				uint32_t *ns = realloc(t->split_blk, cap8 * sizeof *ns);
				if (!ns)
					return ERR_NOMEM;
				t->split_blk = ns;
			}
		}
		size_t k = seg;
		for (uint32_t a = 0; a < 256; a++) {
			while (k + 1 < t->n4 && t->start4[k + 1] <= (first | a))
				k++;
			put_entry(t->tbl8, t->width, t->n_tbl8 * 256 + a, t->val4[k]);
		}
		if (t->width == 4) {
			put_entry(t->tbl24, 4, blk, LPM_TBL8 | (uint32_t)t->n_tbl8);
		} else {
			t->split_blk[t->n_tbl8] = blk;
			put_entry(t->tbl24, t->width, blk, split);
		}
		t->n_tbl8++;
	}
	if (t->width != 4) /* the search path needs real values again */
		for (size_t i = 0; i < t->n4; i++)
			t->val4[i] = t->dict[t->val4[i]];
	return t->width == 4 ? 0 : lpm_rows16(t);
}

/* Width 1/2: the group of a split /24 (binary search over the few split blocks). */
static uint32_t split_lookup(const struct lpm *t, uint32_t ip)
{
	uint32_t blk = ip >> 8;
	size_t lo = 0, hi = t->n_tbl8;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->split_blk[mid] < blk)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t i = lo * 256 + (ip & 0xff);
	return t->width == 1 ? ((const uint8_t *)t->tbl8)[i] : ((const uint16_t *)t->tbl8)[i];
}

static unsigned index_bits(size_t n)
{
	unsigned bits = LPM_BITS_MIN;
	while (bits < LPM_BITS_MAX && ((size_t)1 << bits) < 2 * n)
		bits++;
	return bits;
}

/* The segment number idx6[b] stands for, through a block's second level. */
static uint32_t idx6_seg(const struct lpm *t, size_t b)
{
	uint32_t v = t->idx6[b];
	return v & LPM_SUB ? t->sub6[(v & ~LPM_SUB) + 1] : v;
}

/* Gives every block of idx6 with at least LPM_SUB_MIN segments a second-level index. */
static int lpm_sub6(struct lpm *t, unsigned bits6)
{
	size_t blocks = (size_t)1 << bits6, cap = 0;
	if (t->n6 >= LPM_SUB)
		return 0; /* segment numbers must leave the flag bit free */
	for (size_t b = 0; b < blocks; b++) {
		uint32_t lo = t->idx6[b], hi = idx6_seg(t, b + 1);
		if (hi - lo < LPM_SUB_MIN)
			continue;
		unsigned sb = LPM_BITS_MIN;
		while (sb < LPM_SUB_BITS_MAX && ((size_t)1 << sb) < 2 * (size_t)(hi - lo))
			sb++;
		size_t need = ((size_t)1 << sb) + 2;
		if (t->n_sub6 + need > LPM_SUB - 1)
			return 0;
		if (t->n_sub6 + need > cap) {
			cap = (t->n_sub6 + need) * 2;
			uint32_t *ns = realloc(t->sub6, cap * sizeof *ns);
			if (!ns)
				return ERR_NOMEM;
			t->sub6 = ns;
		}
		uint32_t *p = t->sub6 + t->n_sub6;
		p[0] = sb;
		u128 base = (u128)b << t->shift6;
		unsigned sub_shift = t->shift6 - sb;
		uint32_t s = lo;
		for (size_t j = 0; j < ((size_t)1 << sb); j++) {
			u128 first = base + ((u128)j << sub_shift);
			while (s + 1 < t->n6 && t->start6[s + 1] <= first)
				s++;
			p[1 + j] = s;
		}
		p[1 + ((size_t)1 << sb)] = hi;
		t->idx6[b] = LPM_SUB | (uint32_t)t->n_sub6;
		t->n_sub6 += need;
	}
	return 0;
}

int lpm_build(struct lpm_builder *b, struct lpm **out)
{
	int rc = ERR_NOMEM;
	struct lpm *t = calloc(1, sizeof *t);
	struct lpm_segs g4 = { 0 }, g6 = { 0 };
	if (!t)
		goto out;
	if ((rc = lpm_flatten(&b->fam[0], ((u128)1 << 32) - 1, &g4)) ||
	    (rc = lpm_flatten(&b->fam[1], ~(u128)0, &g6)))
		goto out;
	rc = ERR_NOMEM;
	if (g4.n > UINT32_MAX || g6.n > UINT32_MAX)
		goto out;
	t->n4 = g4.n;
	t->start4 = malloc(g4.n * sizeof *t->start4);
	if (!t->start4)
		goto out;
	for (size_t i = 0; i < g4.n; i++)
		t->start4[i] = (uint32_t)g4.start[i];
	t->val4 = g4.val;
	g4.val = NULL;
	unsigned bits4 = index_bits(g4.n), bits6 = index_bits(g6.n);
	t->shift4 = 32 - bits4;
	t->shift6 = 128 - bits6;
	if ((rc = lpm_index(g4.start, g4.n, bits4, 32, &t->idx4)))
		goto out;
	if (t->n4 >= LPM_DIR24_MIN_SEGMENTS && (rc = lpm_dir24(t)))
		goto out;
	t->n6 = g6.n;
	t->start6 = g6.start;
	t->val6 = g6.val;
	g6.start = NULL;
	g6.val = NULL;
	if ((rc = lpm_index(t->start6, t->n6, bits6, 128, &t->idx6)) || (rc = lpm_sub6(t, bits6)))
		goto out;
	rc = 0;
	*out = t;
	t = NULL;
out:
	free(g4.start);
	free(g4.val);
	free(g6.start);
	free(g6.val);
	lpm_free(t);
	lpm_builder_free(b);
	return rc;
}

uint32_t lpm_lookup4(const struct lpm *t, uint32_t ip)
{
	if (t->width == 1) {
		uint32_t i =
			((const uint8_t *)
				 t->rows)[(size_t)t->row16[ip >> 16] << 8 | ((ip >> 8) & 0xff)];
		if (__builtin_expect(i == 0xff, 0))
			i = split_lookup(t, ip);
		return t->dict[i];
	}
	if (t->width == 2) {
		uint32_t i =
			((const uint16_t *)
				 t->rows)[(size_t)t->row16[ip >> 16] << 8 | ((ip >> 8) & 0xff)];
		if (__builtin_expect(i == 0xffff, 0))
			i = split_lookup(t, ip);
		return t->dict[i];
	}
	if (t->width == 4) {
		uint32_t v = ((const uint32_t *)t->tbl24)[ip >> 8];
		if (__builtin_expect(v & LPM_TBL8, 0))
			v = ((const uint32_t *)
				     t->tbl8)[((size_t)(v & ~LPM_TBL8) << 8) | (ip & 0xff)];
		return v;
	}
	uint32_t blk = ip >> t->shift4;
	uint32_t lo = t->idx4[blk], hi = t->idx4[blk + 1];
	const uint32_t *s = t->start4;
	while (lo < hi) {
		uint32_t mid = (lo + hi + 1) >> 1;
		if (s[mid] <= ip)
			lo = mid;
		else
			hi = mid - 1;
	}
	return t->val4[lo];
}

void lpm_prefetch4(const struct lpm *t, uint32_t ip)
{
	if (t->row16)
		__builtin_prefetch((const char *)t->rows +
				   ((size_t)t->row16[ip >> 16] << 8 | ((ip >> 8) & 0xff)) *
					   t->width);
	else if (t->tbl24)
		__builtin_prefetch((const char *)t->tbl24 + (size_t)(ip >> 8) * t->width);
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

uint32_t lpm_lookup6(const struct lpm *t, const uint8_t *addr)
{
	if (!memcmp(addr, v4mapped, sizeof v4mapped))
		return lpm_lookup4(t, (uint32_t)u128_from_bytes(addr + 12, 4));
	uint64_t h64, lo64;
	memcpy(&h64, addr, 8);
	memcpy(&lo64, addr + 8, 8);
	u128 a = (u128)be64toh(h64) << 64 | be64toh(lo64);
	uint32_t blk = (uint32_t)(a >> t->shift6);
	uint32_t lo = t->idx6[blk], hi;
	if (lo & LPM_SUB) {
		const uint32_t *p = t->sub6 + (lo & ~LPM_SUB);
		size_t j = (size_t)((a >> (t->shift6 - p[0])) & (((u128)1 << p[0]) - 1));
		lo = p[1 + j];
		hi = p[2 + j];
	} else {
		hi = idx6_seg(t, blk + 1);
	}
	const u128 *s = t->start6;
	while (lo < hi) {
		uint32_t mid = (lo + hi + 1) >> 1;
		if (s[mid] <= a)
			lo = mid;
		else
			hi = mid - 1;
	}
	return t->val6[lo];
}

uint32_t lpm_lookup(const struct lpm *t, int ipver, const uint8_t *addr)
{
	if (ipver == 4)
		return lpm_lookup4(t, (uint32_t)u128_from_bytes(addr, 4));
	return lpm_lookup6(t, addr);
}

size_t lpm_segments(const struct lpm *t, int ipver)
{
	return ipver == 4 ? t->n4 : t->n6;
}

void lpm_free(struct lpm *t)
{
	if (!t)
		return;
	free(t->start4);
	free(t->val4);
	free(t->idx4);
	free(t->start6);
	free(t->val6);
	free(t->idx6);
	free(t->sub6);
	if (t->tbl24)
		munmap(t->tbl24, t->tbl24_bytes);
	free(t->tbl8);
	free(t->dict);
	free(t->split_blk);
	free(t->row16);
	free(t->rows);
	free(t);
}
