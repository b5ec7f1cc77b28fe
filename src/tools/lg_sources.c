/* lg_sources.c — the load generators' simulated bot sources: ranges, ASN files, pools, PROXY v2 headers. */
#include "tools/lg_sources.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "net/proxy.h"

#define LG_ASN_MAX_BYTES (256u << 20)
#define LG_ASN_MAX_LINES 4000000u
#define LG_ASN_LINE_MAX	 512

/* Unsigned 128-bit value, enough for an IPv6 address as a number. */
struct lg_u128 {
	uint64_t hi;
	uint64_t lo;
};

/* An inclusive address range of one IP version. */
struct lg_range {
	uint8_t ipver;
	struct lg_u128 lo;
	struct lg_u128 hi;
};

/* ---- random numbers and 128-bit arithmetic ------------------------------------------------ */

static uint64_t lg_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void lg_rng_seed(struct lg_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = lg_splitmix(&seed);
}

static uint64_t lg_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t lg_rng_next(struct lg_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = lg_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = lg_rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t lg_rng_below(struct lg_rng *r, uint64_t n)
{
	uint64_t min = (0 - n) % n;
	uint64_t x;

	do
		x = lg_rng_next(r);
	while (x < min);
	return x % n;
}

/* Uniform in [0, span]: draw under the smallest all-ones mask covering span, reject above. */
static struct lg_u128 lg_rng_upto(struct lg_rng *r, struct lg_u128 span)
{
	struct lg_u128 m, x;

	if (span.hi) {
		m.hi = ~0ULL >> __builtin_clzll(span.hi);
		m.lo = ~0ULL;
	} else {
		m.hi = 0;
		m.lo = span.lo ? ~0ULL >> __builtin_clzll(span.lo) : 0;
	}
	for (;;) {
		x.hi = lg_rng_next(r) & m.hi;
		x.lo = lg_rng_next(r) & m.lo;
		if (x.hi < span.hi || (x.hi == span.hi && x.lo <= span.lo))
			return x;
	}
}

static struct lg_u128 lg_u128_from_addr(const struct event_addr *a)
{
	struct lg_u128 v = { 0, 0 };

	if (a->ipver == 4) {
		for (int i = 0; i < 4; i++)
			v.lo = v.lo << 8 | a->addr[i];
		return v;
	}
	for (int i = 0; i < 8; i++)
		v.hi = v.hi << 8 | a->addr[i];
	for (int i = 8; i < 16; i++)
		v.lo = v.lo << 8 | a->addr[i];
	return v;
}

static void lg_u128_to_addr(struct lg_u128 v, uint8_t ipver, struct event_addr *a)
{
	memset(a, 0, sizeof *a);
	a->ipver = ipver;
	if (ipver == 4) {
		for (int i = 3; i >= 0; i--, v.lo >>= 8)
			a->addr[i] = (uint8_t)v.lo;
		return;
	}
	for (int i = 7; i >= 0; i--, v.hi >>= 8)
		a->addr[i] = (uint8_t)v.hi;
	for (int i = 15; i >= 8; i--, v.lo >>= 8)
		a->addr[i] = (uint8_t)v.lo;
}

static bool lg_u128_le(struct lg_u128 a, struct lg_u128 b)
{
	return a.hi < b.hi || (a.hi == b.hi && a.lo <= b.lo);
}

static struct lg_u128 lg_u128_sub(struct lg_u128 a, struct lg_u128 b)
{
	struct lg_u128 r = { a.hi - b.hi - (a.lo < b.lo), a.lo - b.lo };

	return r;
}

static struct lg_u128 lg_u128_add(struct lg_u128 a, struct lg_u128 b)
{
	struct lg_u128 r = { a.hi + b.hi, a.lo + b.lo };

	r.hi += r.lo < a.lo;
	return r;
}

static void lg_draw_addr(struct lg_rng *r, const struct lg_range *ranges, size_t n,
			 struct event_addr *out)
{
	const struct lg_range *g = &ranges[n > 1 ? lg_rng_below(r, n) : 0];
	struct lg_u128 off = lg_rng_upto(r, lg_u128_sub(g->hi, g->lo));

	lg_u128_to_addr(lg_u128_add(g->lo, off), g->ipver, out);
}

/* Full-check unsigned parse: digits only, in [min, max]. */
int lg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return ERR_INVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max)
		return ERR_INVAL;
	*out = v;
	return 0;
}

/* ---- address set ------------------------------------------------------------------------ */

int lg_aset_init(struct lg_aset *s, size_t want)
{
	size_t cap = 16;

	while (cap < 2 * want)
		cap *= 2;
	s->keys = calloc(cap, sizeof *s->keys);
	s->cap = cap;
	s->n = 0;
	s->full = false;
	return s->keys ? 0 : ERR_NOMEM;
}

void lg_aset_free(struct lg_aset *s)
{
	free(s->keys);
	s->keys = NULL;
}

/* Returns 1 if added, 0 if already there or refused (the set then marks itself full). */
int lg_aset_add_key(struct lg_aset *s, const struct lg_akey *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (size_t j = 0; j < sizeof key->k; j++)
		h = (h ^ key->k[j]) * 0x100000001b3ULL;
	for (i = (size_t)h & (s->cap - 1); s->keys[i].k[0]; i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->keys[i].k, key->k, sizeof key->k))
			return 0;
	if (s->n + 1 > s->cap / 4 * 3) {
		s->full = true;
		return 0;
	}
	s->keys[i] = *key;
	s->n++;
	return 1;
}

int lg_aset_add(struct lg_aset *s, const struct event_addr *a)
{
	struct lg_akey key;

	key.k[0] = a->ipver;
	memcpy(key.k + 1, a->addr, 16);
	return lg_aset_add_key(s, &key);
}

/* ---- source ranges ---------------------------------------------------------------------- */

/* All-ones in the low `bits` bits (0..128). */
static struct lg_u128 lg_low_mask(unsigned bits)
{
	struct lg_u128 m = { 0, 0 };

	if (bits >= 128) {
		m.hi = m.lo = ~0ULL;
	} else if (bits >= 64) {
		m.lo = ~0ULL;
		m.hi = bits == 64 ? 0 : (1ULL << (bits - 64)) - 1;
	} else {
		m.lo = bits == 0 ? 0 : (1ULL << bits) - 1;
	}
	return m;
}

/* One "addr[/len]" into an inclusive range. */
static int lg_parse_cidr(const char *s, size_t len, struct lg_range *r)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct event_addr a;
	const char *slash;
	uint64_t plen;
	unsigned width;
	struct lg_u128 host, v;

	if (len == 0 || len >= sizeof buf)
		return ERR_INVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash)
		buf[slash - buf] = '\0';
	if (event_addr_parse(buf, &a))
		return ERR_INVAL;
	width = a.ipver == 4 ? 32 : 128;
	plen = width;
	if (slash && lg_parse_u64(slash + 1, 0, width, &plen))
		return ERR_INVAL;
	host = lg_low_mask(width - (unsigned)plen);
	v = lg_u128_from_addr(&a);
	r->ipver = a.ipver;
	r->lo.hi = v.hi & ~host.hi;
	r->lo.lo = v.lo & ~host.lo;
	r->hi.hi = r->lo.hi | host.hi;
	r->hi.lo = r->lo.lo | host.lo;
	return 0;
}

static int lg_parse_sources(const char *list, struct lg_range **out, size_t *n)
{
	struct lg_range *r = calloc(LG_MAX_CIDRS, sizeof *r);
	const char *p = list;
	size_t k = 0;

	if (!r)
		return ERR_NOMEM;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (k == LG_MAX_CIDRS || lg_parse_cidr(p, len, &r[k])) {
			free(r);
			return ERR_INVAL;
		}
		k++;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = r;
	*n = k;
	return 0;
}

/* One CSV field, trimmed of blanks and surrounding quotes, into buf. */
static int lg_csv_field(const char *s, size_t len, char *buf, size_t cap)
{
	while (len && (*s == ' ' || *s == '\t' || *s == '"')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '"' ||
		       s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if (len == 0 || len >= cap)
		return ERR_INVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

/*
 * Loads "start_ip,end_ip,asn,org" lines (the @ip-location-db/asn CSV layout;
 * only the first two fields are used). Blank lines and lines starting with
 * '#' are skipped. On error, *line_no says where.
 */
static int lg_load_asn(const char *path, struct lg_range **out, size_t *n, size_t *line_no)
{
	char line[LG_ASN_LINE_MAX];
	struct lg_range *r = NULL;
	size_t cap = 0, k = 0;
	struct stat stbuf;
	int rc = ERR_SYS;
	FILE *f;

	*line_no = 0;
	f = fopen(path, "re");
	if (!f)
		return ERR_SYS;
	if (fstat(fileno(f), &stbuf) || !S_ISREG(stbuf.st_mode))
		goto out_close;
	rc = ERR_LIMIT;
	if ((uint64_t)stbuf.st_size > LG_ASN_MAX_BYTES)
		goto out_close;
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		const char *c1, *c2;
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		struct event_addr lo, hi;

		if (++*line_no > LG_ASN_MAX_LINES) {
			rc = ERR_LIMIT;
			goto out_free;
		}
		if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
			rc = ERR_LIMIT;
			goto out_free;
		}
		while (len &&
		       (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		rc = ERR_MALFORMED;
		c1 = memchr(line, ',', len);
		if (!c1)
			goto out_free;
		c2 = memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - line));
		if (!c2)
			c2 = line + len;
		if (lg_csv_field(line, (size_t)(c1 - line), a, sizeof a) ||
		    lg_csv_field(c1 + 1, (size_t)(c2 - c1 - 1), b, sizeof b) ||
		    event_addr_parse(a, &lo) || event_addr_parse(b, &hi) || lo.ipver != hi.ipver)
			goto out_free;
		if (k == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct lg_range *nr = realloc(r, ncap * sizeof *r);

			rc = ERR_NOMEM;
			if (!nr)
				goto out_free;
			r = nr;
			cap = ncap;
		}
		r[k].ipver = lo.ipver;
		r[k].lo = lg_u128_from_addr(&lo);
		r[k].hi = lg_u128_from_addr(&hi);
		if (!lg_u128_le(r[k].lo, r[k].hi)) {
			rc = ERR_MALFORMED;
			goto out_free;
		}
		k++;
	}
	rc = ERR_SYS;
	if (ferror(f))
		goto out_free;
	rc = ERR_NOT_FOUND;
	if (k == 0)
		goto out_free;
	*out = r;
	*n = k;
	fclose(f);
	return 0;
out_free:
	free(r);
out_close:
	fclose(f);
	return rc;
}

/* Draws n distinct addresses; fails if the ranges cannot supply that many. */
static int lg_make_pool(const struct lg_range *ranges, size_t nranges, uint64_t seed, size_t n,
			struct event_addr **out)
{
	struct event_addr *pool;
	struct lg_aset set;
	struct lg_rng rng;
	uint64_t room = 0, tries;
	size_t k = 0;

	/* Count what the ranges hold (saturating; overlaps are caught by the try limit). */
	for (size_t i = 0; i < nranges && room < n; i++) {
		struct lg_u128 span = lg_u128_sub(ranges[i].hi, ranges[i].lo);

		room += span.hi || span.lo >= LG_MAX_UNIQUE ? LG_MAX_UNIQUE : span.lo + 1;
	}
	if (room < n)
		return ERR_LIMIT;
	pool = calloc(n, sizeof *pool);
	if (!pool)
		return ERR_NOMEM;
	if (lg_aset_init(&set, n)) {
		free(pool);
		return ERR_NOMEM;
	}
	lg_rng_seed(&rng, seed ^ 0x706f6f6cULL);
	for (tries = 0; k < n && tries < 50ULL * n + 1000; tries++) {
		lg_draw_addr(&rng, ranges, nranges, &pool[k]);
		if (lg_aset_add(&set, &pool[k]))
			k++;
	}
	lg_aset_free(&set);
	if (k < n) {
		free(pool);
		return ERR_LIMIT;
	}
	*out = pool;
	return 0;
}

int lg_sources_setup(struct lg_sources *src, const struct lg_sources_opts *o, uint64_t seed)
{
	struct lg_range **ranges = &src->ranges;
	size_t *nranges = &src->nranges;
	struct event_addr **pool = &src->pool;
	int rc;

	memset(src, 0, sizeof *src);
	atomic_init(&src->next, 0);

	if (o->asn_file) {
		size_t line_no;

		rc = lg_load_asn(o->asn_file, ranges, nranges, &line_no);
		if (rc == ERR_SYS) {
			fprintf(stderr, "sinkd loadgen: %s: %s\n", o->asn_file, strerror(errno));
			return rc;
		}
		if (rc) {
			fprintf(stderr, "sinkd loadgen: %s: line %zu: %s\n", o->asn_file, line_no,
				rc == ERR_NOT_FOUND ? "no ranges" :
				rc == ERR_LIMIT	    ? "file, line or line count over the limit" :
				rc == ERR_NOMEM	    ? err_str(rc) :
						      "want start_ip,end_ip,asn,org");
			return rc;
		}
	} else {
		rc = lg_parse_sources(o->sources ? o->sources : LG_DEFAULT_SOURCES, ranges,
				      nranges);
		if (rc) {
			fprintf(stderr,
				"sinkd loadgen: bad --sources '%s' (want CIDR[,CIDR...], at "
				"most %d)\n",
				o->sources ? o->sources : "", LG_MAX_CIDRS);
			return rc;
		}
	}
	if (o->sources_unique) {
		rc = lg_make_pool(*ranges, *nranges, seed, (size_t)o->sources_unique, pool);
		if (rc) {
			fprintf(stderr,
				"sinkd loadgen: cannot draw %" PRIu64 " distinct sources: %s\n",
				o->sources_unique,
				rc == ERR_LIMIT ? "the ranges are too small" : err_str(rc));
			return rc;
		}
		src->npool = (size_t)o->sources_unique;
	}
	return 0;
}

void lg_sources_free(struct lg_sources *src)
{
	free(src->ranges);
	free(src->pool);
	src->ranges = NULL;
	src->pool = NULL;
	src->nranges = src->npool = 0;
}

int lg_sources_check(const struct lg_sources_opts *o)
{
	if ((o->sources || o->asn_file || o->sources_unique) && !o->proxy_v2) {
		fprintf(stderr, "sinkd loadgen: --sources, --asn-file and --sources-unique need "
				"--proxy-v2\n");
		return ERR_INVAL;
	}
	if (o->sources && o->asn_file) {
		fprintf(stderr, "sinkd loadgen: use either --sources or --asn-file\n");
		return ERR_INVAL;
	}
	return 0;
}

/*
 * The PROXY header's destination is the target. A source of the other IP
 * version gets the target written in that version (::ffff:a.b.c.d for an
 * IPv4 target, 127.0.0.1 for ::1), since v2 needs both in one family.
 */
int lg_sources_proxy_header(struct lg_sources *src, struct lg_rng *rng,
			    const struct event_addr *target, struct event_addr *out, uint8_t *hdr,
			    size_t cap)
{
	struct event_addr dst = *target;
	int n;

	if (src->npool)
		*out = src->pool[atomic_fetch_add_explicit(&src->next, 1, memory_order_relaxed) %
				 src->npool];
	else
		lg_draw_addr(rng, src->ranges, src->nranges, out);
	out->port = (uint16_t)(1024 + lg_rng_below(rng, 65536 - 1024));
	if (out->ipver != dst.ipver) {
		memset(dst.addr, 0, sizeof dst.addr);
		if (out->ipver == 6) {
			dst.addr[10] = dst.addr[11] = 0xff;
			memcpy(dst.addr + 12, target->addr, 4);
		} else {
			dst.addr[0] = 127;
			dst.addr[3] = 1;
		}
		dst.ipver = out->ipver;
	}
	n = proxy_v2_encode(out, &dst, hdr, cap);
	return n > 0 ? n : 0;
}
