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
#define LPM_SPLIT6	       0x80000000u /* v6: the /64 holds longer prefixes */
#define LPM_NODE6	       0x80000000u /* node6 entry: a child level */
#define LPM_NODE6_OFF	       ((1u << 25) - 1)
#define LPM_LEAF6_LO	       ((1u << 27) - 1) /* a leaf entry: first segment, then the count */
#define LPM_LEAF6	       16 /* a slot with fewer segments is searched, not subdivided */
#define LPM_FILL6	       2  /* segments per slot a level aims at */
#define LPM_ROOT6_BITS_MAX     20 /* the top level */
#define LPM_NODE6_BITS_MAX     16 /* lower levels */

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

/* A /64 segment: its first /64 and its value side by side (one cache line holds four). */
struct seg6 {
	uint64_t key;
	uint32_t val, pad;
};

struct lpm {
	/* IPv4: segment i covers [start4[i], start4[i+1]) */
	uint32_t *start4;
	uint32_t *val4;
	size_t n4;
	uint32_t *idx4;	 /* (1 << bits4) + 1 entries: segment holding the block's first address */
	unsigned shift4; /* 32 - bits4 */
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
	size_t n6; /* segments over the whole 128 bits (statistics) */
	/*
	 * The IPv6 lookup runs on the top 64 bits (every boundary but a few lies on
	 * a /64): seg6[i].key starts segment i of the /64 space, .val is its value, or
	 * LPM_SPLIT6 | k where /64 k holds boundaries below the /64 (rare: long
	 * prefixes); those segments are searched in sp6_start/sp6_val between
	 * split6[2k] and split6[2k + 1]. Above seg6 sits a trie of direct-indexed
	 * levels (node6): an entry is a segment number (the search range starts
	 * there and ends at the next entry's) or LPM_NODE6 | bits << 26 | offset of
	 * a child level of 1 << bits slots, which subdivides a slot holding many
	 * segments. A child level is node6[off] = its first segment, then
	 * (1 << bits) + 1 entries. Levels go on until a slot holds fewer than
	 * LPM_LEAF6 segments: a lookup is a few loads in small hot levels, then a
	 * search over a cache line or two of 8-byte keys.
	 */
	struct seg6 *seg6;
	size_t n64;
	uint32_t *node6;
	size_t n_node6, cap_node6;
	uint32_t *root6; /* the top level: (1 << root_bits6) + 1 entries, no skip */
	unsigned root_bits6;
	u128 *sp6_start;
	uint32_t *sp6_val;
	uint32_t *split6;
	size_t n_sp6, n_split6;
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

/* A leaf entry: x lies in segments lo..hi (n = 15: as far as the next entry says). */
static uint32_t leaf6(uint32_t lo, uint32_t hi)
{
	return lo | (hi - lo < 15 ? hi - lo : 15) << 27;
}

/* The IPv6 /64 segments: boundaries below a /64 make it a split /64 (see struct lpm). */
struct seg64 {
	uint64_t *key;
	uint32_t *val;
	size_t n, cap;
};

/* Appends (k, v); an entry at the same key is replaced; an equal value after its like merges. */
static int seg64_emit(struct seg64 *g, uint64_t k, uint32_t v)
{
	if (g->n && g->key[g->n - 1] == k) {
		g->val[g->n - 1] = v;
		if (g->n > 1 && g->val[g->n - 2] == v)
			g->n--;
		return 0;
	}
	if (g->n && g->val[g->n - 1] == v)
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		uint64_t *nk = realloc(g->key, cap * sizeof *nk);
		if (!nk)
			return ERR_NOMEM;
		g->key = nk;
		uint32_t *nv = realloc(g->val, cap * sizeof *nv);
		if (!nv)
			return ERR_NOMEM;
		g->val = nv;
		g->cap = cap;
	}
	g->key[g->n] = k;
	g->val[g->n] = v;
	g->n++;
	return 0;
}

/* Appends a segment of a split /64 (the u128 search's arrays). */
static int sp6_push(struct lpm *t, size_t *cap, u128 start, uint32_t val)
{
	if (t->n_sp6 == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		u128 *ns = realloc(t->sp6_start, c * sizeof *ns);
		if (!ns)
			return ERR_NOMEM;
		t->sp6_start = ns;
		uint32_t *nv = realloc(t->sp6_val, c * sizeof *nv);
		if (!nv)
			return ERR_NOMEM;
		t->sp6_val = nv;
		*cap = c;
	}
	t->sp6_start[t->n_sp6] = start;
	t->sp6_val[t->n_sp6] = val;
	t->n_sp6++;
	return 0;
}

/* The /64 segments of the IPv6 segments (start, val, n). */
static int lpm_seg64(struct lpm *t, const u128 *start, const uint32_t *val, size_t n)
{
	struct seg64 g = { 0 };
	size_t sp_cap = 0, split_cap = 0;
	bool in_split = false; /* the last boundary opened or extended split /64 split_p */
	uint64_t split_p = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t p = (uint64_t)(start[i] >> 64);
		if (!(uint64_t)start[i]) {
			rc = seg64_emit(&g, p, val[i]);
			in_split = false;
			continue;
		}
		/* A boundary inside /64 p (i > 0: segment 0 starts at ::). */
		if (!in_split || split_p != p) {
			in_split = true;
			split_p = p;
			if (t->n_split6 + 2 > split_cap) {
				split_cap = split_cap ? split_cap * 2 : 256;
				if (split_cap / 2 > LPM_VALUE_MAX)
					return ERR_NOMEM;
				uint32_t *ns = realloc(t->split6, split_cap * sizeof *ns);
				if (!ns) {
					rc = ERR_NOMEM;
					break;
				}
				t->split6 = ns;
			}
			/* The split /64 starts with the value of the segment holding its first address. */
			t->split6[t->n_split6] = (uint32_t)t->n_sp6;
			if ((rc = sp6_push(t, &sp_cap, (u128)p << 64, val[i - 1])))
				break;
			rc = seg64_emit(&g, p, LPM_SPLIT6 | (uint32_t)(t->n_split6 / 2));
			t->n_split6 += 2;
		}
		if (!rc)
			rc = sp6_push(t, &sp_cap, start[i], val[i]);
		t->split6[t->n_split6 - 1] = (uint32_t)(t->n_sp6 - 1);
		/* After the /64: the value of its last segment, unless a segment starts there. */
		if (!rc && p != UINT64_MAX)
			rc = seg64_emit(&g, p + 1, val[i]);
	}
	if (!rc && (t->n_sp6 > UINT32_MAX || g.n > UINT32_MAX))
		rc = ERR_NOMEM;
	t->n64 = g.n;
	if (!rc && g.n > LPM_LEAF6_LO)
		rc = ERR_NOMEM;
	if (!rc && !(t->seg6 = malloc(g.n * sizeof *t->seg6)))
		rc = ERR_NOMEM;
	for (size_t i = 0; i < g.n && !rc; i++)
		t->seg6[i] = (struct seg6){ g.key[i], g.val[i], 0 };
	free(g.key);
	free(g.val);
	return rc;
}

/* The first segment whose range holds key k, searching from segment s on. */
static uint32_t seg64_at(const struct lpm *t, uint32_t s, uint64_t k)
{
	while (s + 1 < t->n64 && t->seg6[s + 1].key <= k)
		s++;
	return s;
}

/*
 * The entry for the slot of keys [base, base + 2^(64 - used)) whose segments
 * are lo (holding base) to hi (holding the next slot's first key): the
 * segment number, or a child level when the slot holds many segments.
 *
 * A level skips the bits its slot's inner boundaries all share (a /29 split
 * into /48s shares 13 bits below the /16): it indexes the 2^bits slots of
 * the small block P they lie in, plus one slot for what lies below P and one
 * for what lies above. Layout: [0] the first segment, [1] [2] the index of
 * P's first slot (low, high word), [3] 2^bits, then 2^bits + 3 entries
 * (below, the slots, above, and the segment where the level's range ends).
 */
static int node6_build(struct lpm *t, uint32_t lo, uint32_t hi, uint64_t base, unsigned used,
		       unsigned max_bits, uint32_t *entry)
{
	*entry = leaf6(lo, hi);
	if (hi - lo < LPM_LEAF6 || used >= 64)
		return 0;
	uint64_t x = t->seg6[lo + 1].key ^ t->seg6[hi - 1].key;
	unsigned shared = (x ? (unsigned)__builtin_clzll(x) : 64) - used;
	unsigned bits = 2;
	while (bits < max_bits && ((size_t)1 << bits) < (size_t)(hi - lo) / LPM_FILL6)
		bits++;
	if (shared + bits > 64 - used)
		bits = 64 - used - shared;
	if (!bits)
		return 0;
	unsigned w = shared + bits, shift = 64 - used - w;
	/* P's first slot, as a w-bit index (the inner boundaries' top w bits, low `bits` cleared). */
	uint64_t first_slot = (((t->seg6[lo + 1].key << used) >> (64 - w)) >> bits) << bits;
	size_t slots = (size_t)1 << bits, need = slots + 7;
	if (t->n_node6 + need > LPM_NODE6_OFF)
		return 0;
	if (t->n_node6 + need > t->cap_node6) {
		size_t cap = (t->n_node6 + need) * 2;
		uint32_t *nn = realloc(t->node6, cap * sizeof *nn);
		if (!nn)
			return ERR_NOMEM;
		t->node6 = nn;
		t->cap_node6 = cap;
	}
	size_t off = t->n_node6;
	t->n_node6 += need;
	t->node6[off] = lo;
	t->node6[off + 1] = (uint32_t)first_slot;
	t->node6[off + 2] = (uint32_t)(first_slot >> 32);
	t->node6[off + 3] = (uint32_t)slots;
	t->node6[off + 4] = leaf6(lo, lo); /* below P: no boundary before P */
	uint32_t s = lo;
	for (size_t j = 0; j < slots; j++) {
		/* Slot j's segments: from the one holding its first key to the one holding the next slot's. */
		uint64_t first = base + ((first_slot + j) << shift);
		s = seg64_at(t, s, first);
		uint64_t after = first + (((uint64_t)1 << shift) - 1);
		uint32_t next = after == UINT64_MAX ? hi : seg64_at(t, s, after + 1);
		if (next > hi)
			next = hi;
		uint32_t e;
		int rc = node6_build(t, s, next, first, used + w, LPM_NODE6_BITS_MAX, &e);
		if (rc)
			return rc;
		t->node6[off + 5 + j] = e;
		s = next;
	}
	/* Above P: the segment holding P's last key +1 (P ends inside the slot, else it is hi). */
	uint64_t p_end = base + ((first_slot + slots) << shift) - 1;
	uint32_t above = p_end == UINT64_MAX ? hi : seg64_at(t, s, p_end + 1);
	/* hi itself may start above P (inside the slot): the range goes up to it. */
	t->node6[off + 5 + slots] = leaf6(above < hi ? above : hi, hi);
	t->node6[off + 6 + slots] = leaf6(hi, hi);
	*entry = LPM_NODE6 | (uint32_t)(w - 1) << 25 | (uint32_t)off;
	return 0;
}

/* The top level: one slot per block of the top root_bits6 bits, each subdivided as it needs. */
static int root6_build(struct lpm *t)
{
	unsigned bits = index_bits(t->n64);
	if (bits > LPM_ROOT6_BITS_MAX)
		bits = LPM_ROOT6_BITS_MAX;
	size_t slots = (size_t)1 << bits;
	t->root_bits6 = bits;
	t->root6 = malloc((slots + 1) * sizeof *t->root6);
	if (!t->root6)
		return ERR_NOMEM;
	uint32_t s = 0, last = (uint32_t)(t->n64 - 1);
	for (size_t j = 0; j < slots; j++) {
		uint64_t first = (uint64_t)j << (64 - bits);
		s = seg64_at(t, s, first);
		uint32_t next =
			j + 1 < slots ? seg64_at(t, s, first + ((uint64_t)1 << (64 - bits))) : last;
		int rc = node6_build(t, s, next, first, bits, LPM_NODE6_BITS_MAX, &t->root6[j]);
		if (rc)
			return rc;
		s = next;
	}
	t->root6[slots] = leaf6(last, last);
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
	unsigned bits4 = index_bits(g4.n);
	t->shift4 = 32 - bits4;
	if ((rc = lpm_index(g4.start, g4.n, bits4, 32, &t->idx4)))
		goto out;
	if (t->n4 >= LPM_DIR24_MIN_SEGMENTS && (rc = lpm_dir24(t)))
		goto out;
	t->n6 = g6.n;
	if ((rc = lpm_seg64(t, g6.start, g6.val, g6.n)) || (rc = root6_build(t)))
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

static u128 addr6(const uint8_t *addr)
{
	uint64_t h64, lo64;
	memcpy(&h64, addr, 8);
	memcpy(&lo64, addr + 8, 8);
	return (u128)be64toh(h64) << 64 | be64toh(lo64);
}

/* Inside a split /64: a search over its few segments. */
static uint32_t split6_lookup(const struct lpm *t, uint32_t k, u128 a)
{
	uint32_t lo = t->split6[2 * k], hi = t->split6[2 * k + 1];
	const u128 *s = t->sp6_start;
	while (lo < hi) {
		uint32_t mid = (lo + hi + 1) >> 1;
		if (s[mid] <= a)
			lo = mid;
		else
			hi = mid - 1;
	}
	return t->sp6_val[lo];
}

/* The top level's entry for x. */
static const uint32_t *root6_entry(const struct lpm *t, uint64_t x)
{
	return t->root6 + (x >> (64 - t->root_bits6));
}

/* One step down the trie: the entry of x's slot in level *ep, *used bits consumed before it. */
static const uint32_t *node6_step(const struct lpm *t, const uint32_t *ep, uint64_t x,
				  unsigned *used)
{
	uint32_t e = *ep;
	unsigned w = ((e >> 25) & 63) + 1;
	const uint32_t *p = t->node6 + (e & LPM_NODE6_OFF);
	uint64_t first = (uint64_t)p[1] | (uint64_t)p[2] << 32, slots = p[3];
	uint64_t c = (x << *used) >> (64 - w); /* a node lies above bit 64: *used < 64 */
	/* below P: entry 0; inside: 1 + slot; above: slots + 1 */
	uint64_t j = c < first ? 0 : c - first >= slots ? slots + 1 : c - first + 1;
	*used += w;
	return p + 4 + j;
}

/* The value for address a (top bits x) in leaf *ep: a search over its few segments, no branches to mispredict. */
static uint32_t leaf6_value(const struct lpm *t, const uint32_t *ep, uint64_t x, u128 a)
{
	uint32_t e = *ep, lo = e & LPM_LEAF6_LO, len = (e >> 27) + 1;
	if (__builtin_expect(len == 16, 0)) {
		uint32_t next = ep[1];
		len = (next & LPM_NODE6 ? t->node6[next & LPM_NODE6_OFF] : next & LPM_LEAF6_LO) -
		      lo + 1;
	}
	const struct seg6 *k = t->seg6 + lo;
	while (len > 1) {
		uint32_t half = len >> 1;
		k = k[half].key <= x ? k + half : k;
		len -= half;
	}
	uint32_t v = k->val;
	return __builtin_expect(v & LPM_SPLIT6, 0) ? split6_lookup(t, v & ~LPM_SPLIT6, a) : v;
}

uint32_t lpm_lookup6(const struct lpm *t, const uint8_t *addr)
{
	if (!memcmp(addr, v4mapped, sizeof v4mapped))
		return lpm_lookup4(t, (uint32_t)u128_from_bytes(addr + 12, 4));
	u128 a = addr6(addr);
	uint64_t x = (uint64_t)(a >> 64);
	const uint32_t *ep = root6_entry(t, x);
	unsigned used = t->root_bits6;
	while (*ep & LPM_NODE6)
		ep = node6_step(t, ep, x, &used);
	return leaf6_value(t, ep, x, a);
}

#define LPM_GROUP6 16

/*
 * Lookups of a group advance level by level together, each prefetching the
 * line the next step reads, so the group's cache misses overlap instead of
 * following one another.
 */
void lpm_lookup6_batch(const struct lpm *t, const uint8_t (*addrs)[16], size_t n, uint32_t *out)
{
	for (size_t g = 0; g < n; g += LPM_GROUP6) {
		size_t m = n - g < LPM_GROUP6 ? n - g : LPM_GROUP6;
		uint64_t x[LPM_GROUP6];
		const uint32_t *ep[LPM_GROUP6];
		unsigned used[LPM_GROUP6];
		bool more = false;
		for (size_t i = 0; i < m; i++) {
			x[i] = (uint64_t)(addr6(addrs[g + i]) >> 64);
			ep[i] = root6_entry(t, x[i]);
			__builtin_prefetch(ep[i]);
		}
		for (size_t i = 0; i < m; i++) {
			used[i] = t->root_bits6;
			if (*ep[i] & LPM_NODE6) {
				__builtin_prefetch(t->node6 + (*ep[i] & LPM_NODE6_OFF));
				more = true;
			}
		}
		while (more) {
			more = false;
			for (size_t i = 0; i < m; i++)
				if (*ep[i] & LPM_NODE6) {
					ep[i] = node6_step(t, ep[i], x[i], &used[i]);
					__builtin_prefetch(ep[i]);
				}
			for (size_t i = 0; i < m; i++)
				if (*ep[i] & LPM_NODE6) {
					__builtin_prefetch(t->node6 + (*ep[i] & LPM_NODE6_OFF));
					more = true;
				}
		}
		for (size_t i = 0; i < m; i++) {
			uint32_t e = *ep[i];
			__builtin_prefetch(t->seg6 + (e & LPM_LEAF6_LO) + ((e >> 27) + 1) / 2);
		}
		for (size_t i = 0; i < m; i++) {
			const uint8_t *a = addrs[g + i];
			if (__builtin_expect(!memcmp(a, v4mapped, sizeof v4mapped), 0))
				out[g + i] = lpm_lookup6(t, a);
			else
				out[g + i] = leaf6_value(t, ep[i], x[i], addr6(a));
		}
	}
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

size_t lpm_bytes(const struct lpm *t, int ipver)
{
	if (ipver == 4)
		return t->n4 * 8 + (((size_t)1 << (32 - t->shift4)) + 1) * 4 + t->tbl24_bytes +
		       t->n_tbl8 * 256 * t->width + (t->dict ? t->n4 * 4 : 0) +
		       (t->split_blk ? t->n_tbl8 * 4 : 0) + (t->row16 ? ((size_t)2 << 16) : 0) +
		       t->n_rows * 256 * t->width;
	return t->n64 * sizeof *t->seg6 + t->n_node6 * 4 + (((size_t)1 << t->root_bits6) + 1) * 4 +
	       t->n_sp6 * 20 + t->n_split6 * 4;
}

void lpm_free(struct lpm *t)
{
	if (!t)
		return;
	free(t->start4);
	free(t->val4);
	free(t->idx4);
	free(t->seg6);
	free(t->node6);
	free(t->root6);
	free(t->sp6_start);
	free(t->sp6_val);
	free(t->split6);
	if (t->tbl24)
		munmap(t->tbl24, t->tbl24_bytes);
	free(t->tbl8);
	free(t->dict);
	free(t->split_blk);
	free(t->row16);
	free(t->rows);
	free(t);
}
