/* enrich.c — loaders (MMDB, ip-location-db CSV, iptoasn TSV, pfx2as) feeding the ASN and country prefix tables. */
#include "enrich/enrich.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "enrich/csvline.h"
#include "enrich/lpm.h"

#define ENRICH_FILE_MAX	  (1ull << 31) /* text data files are read whole; 2 GiB is plenty */
#define ENRICH_ORG_MAX	  255	       /* AS organisation names are cut here */
#define ENRICH_ASINFO_MAX (1u << 24)

typedef unsigned __int128 u128;

struct asinfo {
	uint32_t asn;
	uint32_t org; /* offset into the string arena */
};

struct asinfo_set {
	struct asinfo *v;
	uint32_t n, cap;
	uint32_t *hash; /* index + 1, open addressing */
	uint32_t hcap;
	char *str;
	size_t slen, scap;
};

struct enrich_builder {
	struct lpm_builder *asn;
	struct lpm_builder *cc;
	struct asinfo_set as;
};

struct enrich {
	struct lpm *asn;
	struct lpm *cc;
	struct asinfo_set as;
};

/* --- AS organisations --------------------------------------------------------- */

static uint32_t asn_hash(uint32_t asn)
{
	return asn * 2654435761u;
}

static int asinfo_rehash(struct asinfo_set *s, uint32_t hcap)
{
	uint32_t *h = calloc(hcap, sizeof *h);
	if (!h)
		return ERR_NOMEM;
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t j = asn_hash(s->v[i].asn) & (hcap - 1);
		while (h[j])
			j = (j + 1) & (hcap - 1);
		h[j] = i + 1;
	}
	free(s->hash);
	s->hash = h;
	s->hcap = hcap;
	return 0;
}

static int64_t asinfo_find(const struct asinfo_set *s, uint32_t asn)
{
	if (!s->hcap)
		return -1;
	uint32_t j = asn_hash(asn) & (s->hcap - 1);
	while (s->hash[j]) {
		if (s->v[s->hash[j] - 1].asn == asn)
			return s->hash[j] - 1;
		j = (j + 1) & (s->hcap - 1);
	}
	return -1;
}

/* Returns index + 1 of the ASN's record (the first organisation seen for it is kept), or 0. */
static uint32_t asinfo_intern(struct asinfo_set *s, uint32_t asn, const char *org, size_t olen)
{
	int64_t f = asinfo_find(s, asn);
	if (f >= 0)
		return (uint32_t)f + 1;
	if (s->n >= ENRICH_ASINFO_MAX)
		return 0;
	if ((s->n + 1) * 2 > s->hcap && asinfo_rehash(s, s->hcap ? s->hcap * 2 : 4096))
		return 0;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 1024;
		struct asinfo *nv = realloc(s->v, cap * sizeof *nv);
		if (!nv)
			return 0;
		s->v = nv;
		s->cap = cap;
	}
	if (olen > ENRICH_ORG_MAX)
		olen = ENRICH_ORG_MAX;
	if (s->slen + olen + 1 > s->scap) {
		size_t cap = s->scap ? s->scap * 2 : 65536;
		while (cap < s->slen + olen + 1)
			cap *= 2;
		char *ns = realloc(s->str, cap);
		if (!ns)
			return 0;
		s->str = ns;
		s->scap = cap;
	}
	memcpy(s->str + s->slen, org, olen);
	s->str[s->slen + olen] = '\0';
	s->v[s->n] = (struct asinfo){ asn, (uint32_t)s->slen };
	s->slen += olen + 1;
	uint32_t j = asn_hash(asn) & (s->hcap - 1);
	while (s->hash[j])
		j = (j + 1) & (s->hcap - 1);
	s->hash[j] = ++s->n;
	return s->n;
}

static void asinfo_free(struct asinfo_set *s)
{
	free(s->v);
	free(s->hash);
	free(s->str);
}

/* --- builder ------------------------------------------------------------------ */

int enrich_builder_new(struct enrich_builder **out)
{
	struct enrich_builder *b = calloc(1, sizeof *b);
	if (!b || lpm_builder_new(&b->asn) || lpm_builder_new(&b->cc)) {
		enrich_builder_free(b);
		return ERR_NOMEM;
	}
	*out = b;
	return 0;
}

void enrich_builder_free(struct enrich_builder *b)
{
	if (!b)
		return;
	lpm_builder_free(b->asn);
	lpm_builder_free(b->cc);
	asinfo_free(&b->as);
	free(b);
}

static int add_asn_range(struct enrich_builder *b, int ipver, const uint8_t *lo, const uint8_t *hi,
			 uint32_t asn, const char *org, size_t olen)
{
	if (asn == 0)
		return 0; /* "not routed": nothing to record, a lookup says unknown */
	if (memcmp(lo, hi, ipver == 4 ? 4 : 16) > 0)
		return ERR_MALFORMED;
	uint32_t v = asinfo_intern(&b->as, asn, org, olen);
	if (!v)
		return ERR_NOMEM;
	int rc = lpm_add_range(b->asn, ipver, lo, hi, v);
	return rc == ERR_INVAL ? ERR_MALFORMED : rc;
}

/* A text address field: "192.0.2.1" or "2001:db8::1". */
static int parse_ip(const char *s, size_t len, uint8_t out[16])
{
	char tmp[64];
	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, tmp, out) == 1)
		return 6;
	return -1;
}

/* A decimal ASN: 1..4294967295, digits only. */
static bool parse_asn(const char *s, size_t len, uint32_t *out)
{
	if (len == 0 || len > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static void count_bad(struct enrich_load_stats *st)
{
	st->skipped++;
	if (!st->first_bad_line)
		st->first_bad_line = st->lines;
}

/* One row of a range file: start, end (same family), ASN, organisation. */
static int range_row(struct enrich_builder *b, const struct csvline *c, size_t org_field,
		     struct enrich_load_stats *st)
{
	uint8_t lo[16] = { 0 }, hi[16] = { 0 };
	uint32_t asn;
	int v1 = parse_ip(c->f[0], c->len[0], lo), v2 = parse_ip(c->f[1], c->len[1], hi);
	if (v1 < 0 || v1 != v2 || !parse_asn(c->f[2], c->len[2], &asn)) {
		count_bad(st);
		return 0;
	}
	int rc = add_asn_range(b, v1, lo, hi, asn, c->f[org_field], c->len[org_field]);
	if (rc == ERR_MALFORMED) {
		count_bad(st);
		return 0;
	}
	if (rc)
		return rc;
	st->entries++;
	return 0;
}

/*
 * Range files: one start,end,asn,... row per line. `sep` and `quoted` give the
 * dialect, `n_cols` the exact column count, `org_col` where the AS name is.
 */
static int parse_range_file(struct enrich_builder *b, const char *buf, size_t len, char sep,
			    bool quoted, size_t n_cols, size_t org_col,
			    struct enrich_load_stats *st)
{
	struct csvline *c = malloc(sizeof *c);
	if (!c)
		return ERR_NOMEM;
	size_t pos = 0, ll;
	const char *line;
	int rc = 0;
	while (!rc && csvline_next(buf, len, &pos, &line, &ll)) {
		st->lines++;
		if (ll == 0)
			continue;
		if (csvline_split(line, ll, sep, quoted, c) || c->n != n_cols) {
			count_bad(st);
			continue;
		}
		rc = range_row(b, c, org_col, st);
	}
	free(c);
	return rc;
}

int enrich_parse_iplocdb(struct enrich_builder *b, const char *buf, size_t len,
			 struct enrich_load_stats *st)
{
	return parse_range_file(b, buf, len, ',', true, 4, 3, st);
}

int enrich_parse_iptoasn(struct enrich_builder *b, const char *buf, size_t len,
			 struct enrich_load_stats *st)
{
	return parse_range_file(b, buf, len, '\t', false, 5, 4, st);
}

int enrich_parse_pfx2as(struct enrich_builder *b, const char *buf, size_t len,
			struct enrich_load_stats *st)
{
	struct csvline *c = malloc(sizeof *c);
	if (!c)
		return ERR_NOMEM;
	size_t pos = 0, ll;
	const char *line;
	int rc = 0;
	while (!rc && csvline_next(buf, len, &pos, &line, &ll)) {
		st->lines++;
		if (ll == 0)
			continue;
		uint8_t a[16] = { 0 };
		uint32_t plen, asn;
		int v;
		if (csvline_split(line, ll, '\t', false, c) || c->n != 3 ||
		    (v = parse_ip(c->f[0], c->len[0], a)) < 0 ||
		    !parse_asn(c->f[1], c->len[1], &plen) || plen > (v == 4 ? 32u : 128u)) {
			count_bad(st);
			continue;
		}
		/* Multi-origin "a_b" and AS sets "a,b": the first is the most common origin. */
		size_t alen = strcspn(c->f[2], "_,");
		if (!parse_asn(c->f[2], alen, &asn)) {
			count_bad(st);
			continue;
		}
		if (asn == 0)
			continue;
		uint32_t val = asinfo_intern(&b->as, asn, "", 0);
		if (!val) {
			rc = ERR_NOMEM;
			break;
		}
		rc = lpm_add_prefix(b->asn, v, a, plen, val);
		if (!rc)
			st->entries++;
	}
	free(c);
	return rc;
}

/* --- MaxMind DB ----------------------------------------------------------------- */

enum mmdb_want {
	MMDB_WANT_ASN,
	MMDB_WANT_CC
};

struct mmdb_walk {
	MMDB_s *db;
	struct enrich_builder *b;
	enum mmdb_want want;
	uint32_t v4_node; /* the node of ::/96 in an IPv6 tree; other paths to it are aliases */
	bool v6tree;
	struct enrich_load_stats *st;
	int rc;
};

/* The value for one data record: an asinfo index + 1, or a packed country code; 0 = none. */
static uint32_t mmdb_value(struct mmdb_walk *w, MMDB_entry_s *entry)
{
	MMDB_entry_data_s d;
	if (w->want == MMDB_WANT_ASN) {
		if (MMDB_get_value(entry, &d, "autonomous_system_number", NULL) != MMDB_SUCCESS ||
		    !d.has_data || d.type != MMDB_DATA_TYPE_UINT32 || d.uint32 == 0)
			return 0;
		uint32_t asn = d.uint32;
		const char *org = "";
		size_t olen = 0;
		if (MMDB_get_value(entry, &d, "autonomous_system_organization", NULL) ==
			    MMDB_SUCCESS &&
		    d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING) {
			org = d.utf8_string;
			olen = d.data_size;
		}
		return asinfo_intern(&w->b->as, asn, org, olen);
	}
	int r = MMDB_get_value(entry, &d, "country", "iso_code", NULL);
	if (r != MMDB_SUCCESS || !d.has_data)
		r = MMDB_get_value(entry, &d, "country_code", NULL);
	if (r != MMDB_SUCCESS || !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING ||
	    d.data_size != 2)
		return 0;
	uint8_t c0 = (uint8_t)d.utf8_string[0], c1 = (uint8_t)d.utf8_string[1];
	if (c0 < 'A' || c0 > 'Z' || c1 < 'A' || c1 > 'Z')
		return 0;
	return (uint32_t)c0 << 8 | c1;
}

static void mmdb_leaf(struct mmdb_walk *w, u128 path, unsigned depth, MMDB_entry_s *entry)
{
	uint32_t v = mmdb_value(w, entry);
	if (!v) {
		w->st->skipped++;
		return;
	}
	uint8_t a[16];
	int ipver = 6;
	unsigned plen = depth;
	u128 p = w->v6tree ? path << (128 - depth) : path << (32 - depth);
	/* A record covering ::/n with n < 96 covers the IPv4 space as well. */
	bool covers_v4 = w->v6tree && depth < 96 && p == 0;
	if (!w->v6tree) {
		ipver = 4;
	} else if (depth >= 96 && (p >> 32) == 0) {
		ipver = 4; /* ::a.b.c.d/96+: the IPv4 space of an IPv6 tree */
		plen = depth - 96;
	}
	if (ipver == 4) {
		uint32_t x = (uint32_t)p;
		a[0] = (uint8_t)(x >> 24);
		a[1] = (uint8_t)(x >> 16);
		a[2] = (uint8_t)(x >> 8);
		a[3] = (uint8_t)x;
	} else {
		for (int i = 15; i >= 0; i--) {
			a[i] = (uint8_t)p;
			p >>= 8;
		}
	}
	struct lpm_builder *lb = w->want == MMDB_WANT_ASN ? w->b->asn : w->b->cc;
	static const uint8_t any4[4];
	if (covers_v4 && lpm_add_prefix(lb, 4, any4, 0, v))
		w->rc = ERR_NOMEM;
	if (lpm_add_prefix(lb, ipver, a, plen, v))
		w->rc = ERR_NOMEM;
	else
		w->st->entries++;
}

static void mmdb_walk_node(struct mmdb_walk *w, uint32_t node, u128 path, unsigned depth)
{
	MMDB_search_node_s n;
	if (w->rc || MMDB_read_node(w->db, node, &n) != MMDB_SUCCESS) {
		w->rc = w->rc ? w->rc : ERR_CORRUPT;
		return;
	}
	unsigned max = w->v6tree ? 128 : 32;
	for (int side = 0; side < 2 && !w->rc; side++) {
		uint8_t type = side ? n.right_record_type : n.left_record_type;
		uint64_t rec = side ? n.right_record : n.left_record;
		u128 p = (path << 1) | (u128)side;
		if (type == MMDB_RECORD_TYPE_SEARCH_NODE) {
			if (depth + 1 >= max) {
				w->rc = ERR_CORRUPT;
				return;
			}
			/* Aliases (::ffff:0:0/96, 2002::/16) lead back into the IPv4 subtree. */
			if (w->v6tree && rec == w->v4_node && !(depth + 1 == 96 && p == 0))
				continue;
			mmdb_walk_node(w, (uint32_t)rec, p, depth + 1);
		} else if (type == MMDB_RECORD_TYPE_DATA) {
			MMDB_entry_s e = side ? n.right_record_entry : n.left_record_entry;
			mmdb_leaf(w, p, depth + 1, &e);
		} else if (type == MMDB_RECORD_TYPE_INVALID) {
			w->rc = ERR_CORRUPT;
		}
	}
}

static int load_mmdb(struct enrich_builder *b, const char *path, enum mmdb_want want,
		     struct enrich_load_stats *st, char *err, size_t errlen)
{
	MMDB_s db;
	int r = MMDB_open(path, MMDB_MODE_MMAP, &db);
	if (r != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s: %s", path, MMDB_strerror(r));
		return ERR_CORRUPT;
	}
	struct mmdb_walk w = { .db = &db, .b = b, .want = want, .st = st, .v4_node = UINT32_MAX };
	w.v6tree = db.metadata.ip_version == 6;
	if (w.v6tree) {
		/* Follow 96 left branches to the node where IPv4 lives. */
		uint32_t node = 0;
		MMDB_search_node_s n;
		for (int i = 0; i < 96; i++) {
			if (MMDB_read_node(&db, node, &n) != MMDB_SUCCESS ||
			    n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE)
				break;
			node = (uint32_t)n.left_record;
			if (i == 95)
				w.v4_node = node;
		}
	}
	if (db.metadata.node_count)
		mmdb_walk_node(&w, 0, 0, 0);
	MMDB_close(&db);
	if (w.rc)
		snprintf(err, errlen, "%s: %s", path,
			 w.rc == ERR_NOMEM ? "out of memory" : "damaged search tree");
	return w.rc;
}

/* --- files ----------------------------------------------------------------------- */

enum enrich_fmt {
	FMT_MMDB,
	FMT_IPLOCDB,
	FMT_IPTOASN,
	FMT_PFX2AS
};

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static int pick_format(const char *spec, const char **path, enum enrich_fmt *f)
{
	static const struct {
		const char *prefix;
		enum enrich_fmt f;
	} forced[] = {
		{ "mmdb:", FMT_MMDB },
		{ "iplocdb:", FMT_IPLOCDB },
		{ "iptoasn:", FMT_IPTOASN },
		{ "pfx2as:", FMT_PFX2AS },
	};
	for (size_t i = 0; i < sizeof forced / sizeof forced[0]; i++) {
		size_t n = strlen(forced[i].prefix);
		if (!strncmp(spec, forced[i].prefix, n)) {
			*path = spec + n;
			*f = forced[i].f;
			return 0;
		}
	}
	*path = spec;
	if (ends_with(spec, ".mmdb"))
		*f = FMT_MMDB;
	else if (strstr(spec, "pfx2as"))
		*f = FMT_PFX2AS;
	else if (ends_with(spec, ".tsv"))
		*f = FMT_IPTOASN;
	else if (ends_with(spec, ".csv"))
		*f = FMT_IPLOCDB;
	else
		return ERR_INVAL;
	return 0;
}

static int load_text(struct enrich_builder *b, const char *path, enum enrich_fmt f,
		     struct enrich_load_stats *st, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc = csvline_read_file(path, ENRICH_FILE_MAX, &buf, &len);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path,
			 rc == ERR_SYS ? strerror(errno) : err_str(rc));
		return rc;
	}
	if (len >= 2 && (uint8_t)buf[0] == 0x1f && (uint8_t)buf[1] == 0x8b) {
		snprintf(err, errlen, "%s: gzip-compressed; decompress it first", path);
		free(buf);
		return ERR_UNSUPPORTED;
	}
	if (f == FMT_IPLOCDB)
		rc = enrich_parse_iplocdb(b, buf, len, st);
	else if (f == FMT_IPTOASN)
		rc = enrich_parse_iptoasn(b, buf, len, st);
	else
		rc = enrich_parse_pfx2as(b, buf, len, st);
	free(buf);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, err_str(rc));
	else if (st->lines && st->skipped == st->lines) {
		snprintf(err, errlen, "%s: no line could be read in this format", path);
		rc = ERR_MALFORMED;
	}
	return rc;
}

int enrich_load_asn(struct enrich_builder *b, const char *spec, struct enrich_load_stats *st,
		    char *err, size_t errlen)
{
	const char *path;
	enum enrich_fmt f;
	memset(st, 0, sizeof *st);
	if (pick_format(spec, &path, &f)) {
		snprintf(err, errlen,
			 "%s: unknown format (name it .mmdb, .csv, .tsv or *pfx2as*, or prefix "
			 "mmdb:, iplocdb:, iptoasn:, pfx2as:)",
			 spec);
		return ERR_INVAL;
	}
	if (f == FMT_MMDB)
		return load_mmdb(b, path, MMDB_WANT_ASN, st, err, errlen);
	return load_text(b, path, f, st, err, errlen);
}

int enrich_load_country(struct enrich_builder *b, const char *spec, struct enrich_load_stats *st,
			char *err, size_t errlen)
{
	const char *path;
	enum enrich_fmt f;
	memset(st, 0, sizeof *st);
	if (pick_format(spec, &path, &f) || f != FMT_MMDB) {
		snprintf(err, errlen, "%s: country data must be a MaxMind DB (.mmdb)", spec);
		return ERR_INVAL;
	}
	return load_mmdb(b, path, MMDB_WANT_CC, st, err, errlen);
}

int enrich_build(struct enrich_builder *b, struct enrich **out)
{
	struct enrich *e = calloc(1, sizeof *e);
	int rc = ERR_NOMEM;
	if (!e)
		goto fail;
	rc = lpm_build(b->asn, &e->asn);
	b->asn = NULL;
	if (rc)
		goto fail;
	rc = lpm_build(b->cc, &e->cc);
	b->cc = NULL;
	if (rc)
		goto fail;
	e->as = b->as;
	memset(&b->as, 0, sizeof b->as);
	enrich_builder_free(b);
	*out = e;
	return 0;
fail:
	enrich_builder_free(b);
	enrich_free(e);
	return rc;
}

static void enrich_compose(const struct enrich *e, uint32_t a, uint32_t c, struct enrich_info *out);

void enrich_lookup(const struct enrich *e, int ipver, const uint8_t *addr, struct enrich_info *out)
{
	uint32_t a, c;
	if (ipver == 4) {
		uint32_t ip = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 |
			      (uint32_t)addr[2] << 8 | addr[3];
		a = lpm_lookup4(e->asn, ip);
		c = lpm_lookup4(e->cc, ip);
	} else {
		a = lpm_lookup6(e->asn, addr);
		c = lpm_lookup6(e->cc, addr);
	}
	enrich_compose(e, a, c, out);
}

/* The answer for table values a (ASN table) and c (country table). */
static void enrich_compose(const struct enrich *e, uint32_t a, uint32_t c, struct enrich_info *out)
{
	if (a) {
		out->asn = e->as.v[a - 1].asn;
		out->as_org = e->as.str + e->as.v[a - 1].org;
	} else {
		out->asn = 0;
		out->as_org = "";
	}
	/*
	 * No branch on the looked-up value: 0 (unknown) gives "" by itself, and a
	 * mispredicted branch after each table load would serialise the cache
	 * misses of consecutive lookups.
	 */
	out->cc[0] = (char)(c >> 8);
	out->cc[1] = (char)c;
	out->cc[2] = '\0';
}

#define ENRICH_PREFETCH_AHEAD 32

static uint32_t ip4_of(const uint8_t *a)
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

void enrich_lookup_batch(const struct enrich *e, int ipver, const uint8_t (*addrs)[16], size_t n,
			 struct enrich_info *out)
{
	if (ipver != 4) {
		/* The two tables' tries walked in groups, then the answers composed. */
		uint32_t a[256], c[256];
		for (size_t i = 0; i < n; i += 256) {
			size_t k = n - i < 256 ? n - i : 256;
			lpm_lookup6_batch(e->asn, addrs + i, k, a);
			lpm_lookup6_batch(e->cc, addrs + i, k, c);
			for (size_t j = 0; j < k; j++)
				enrich_compose(e, a[j], c[j], &out[i + j]);
		}
		return;
	}
	for (size_t i = 0; i < n && i < ENRICH_PREFETCH_AHEAD; i++) {
		lpm_prefetch4(e->asn, ip4_of(addrs[i]));
		lpm_prefetch4(e->cc, ip4_of(addrs[i]));
	}
	for (size_t i = 0; i < n; i++) {
		if (i + ENRICH_PREFETCH_AHEAD < n) {
			uint32_t ahead = ip4_of(addrs[i + ENRICH_PREFETCH_AHEAD]);
			lpm_prefetch4(e->asn, ahead);
			lpm_prefetch4(e->cc, ahead);
		}
		enrich_lookup(e, 4, addrs[i], &out[i]);
	}
}

const char *enrich_as_org(const struct enrich *e, uint32_t asn)
{
	int64_t i = asinfo_find(&e->as, asn);
	return i < 0 ? "" : e->as.str + e->as.v[i].org;
}

size_t enrich_table_bytes(const struct enrich *e, int ipver)
{
	return lpm_bytes(e->asn, ipver) + lpm_bytes(e->cc, ipver);
}

void enrich_free(struct enrich *e)
{
	if (!e)
		return;
	lpm_free(e->asn);
	lpm_free(e->cc);
	asinfo_free(&e->as);
	free(e);
}
