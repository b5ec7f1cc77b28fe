/* dns_zone.c — seized-name hash table over right-to-left label hashes; zone list file loader. */
#include "proto/dns/dns_zone.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/event.h"

#define ZONE_FNV_OFFSET 1469598103934665603ull
#define ZONE_FNV_PRIME	1099511628211ull
#define ZONE_MIX_MUL	0x9e3779b97f4a7c15ull
#define ZONE_MAX_NAMES	(1u << 26) /* 67 M: far beyond any court order, bounds memory */

/*
 * Arena record of one name: be32 hash, be16 group, u8 length, the lower-case
 * wire name (no root byte). Records are contiguous, so the arena is also the
 * list of names in load order.
 */
#define ZONE_REC_HEAD 7

/* A slot: arena offset + 1 (0 = empty) and the name's hash, so a probe past
 * another name stays in the table and a hit costs the slot and one record. */
struct zone_slot {
	uint32_t ref;
	uint32_t hash;
};

struct dns_zones {
	const struct config_dns *cfg;
	struct dns_zone_group *groups;
	size_t n_groups;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	size_t n_ents;
	struct zone_slot *table;
	size_t table_cap;
	uint32_t serial;
	struct dns_zones_stats st;
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* ASCII lower case of 8 bytes at once: 0x20 added to each byte in 'A'..'Z', nothing else changed. */
static inline uint64_t lower8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t low7 = x & ~high;
	uint64_t ge_a = low7 + ones * (0x80 - 'A');	/* bit 7 set where the byte >= 'A' */
	uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1); /* bit 7 set where the byte > 'Z' */
	return x | ((ge_a & ~gt_z & ~x & high) >> 2);
}

/*
 * Up to 8 bytes as one word (missing bytes 0); the same bytes always give
 * the same word. Built from 4-, 2- and 1-byte loads rather than a copy of
 * variable length, which goes through memory and stalls the load after it.
 */
static inline uint64_t load_word(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	if (n >= 8) {
		memcpy(&v, p, 8);
		return v;
	}
	unsigned shift = 0;
	if (n & 4) {
		uint32_t x;
		memcpy(&x, p, 4);
		v = x;
		p += 4;
		shift = 32;
	}
	if (n & 2) {
		uint16_t x;
		memcpy(&x, p, 2);
		v |= (uint64_t)x << shift;
		p += 2;
		shift += 16;
	}
	if (n & 1)
		v |= (uint64_t)p[0] << shift;
	return v;
}

/* Hashes one label (length byte at lab[0]), lower-cased, into h: eight bytes a step. */
static inline uint64_t mix_label(uint64_t h, const uint8_t *lab)
{
	uint8_t n = lab[0];
	for (size_t i = 0; i < n; i += 8) {
		h = (h ^ lower8(load_word(lab + 1 + i, n - i))) * ZONE_MIX_MUL;
		h ^= h >> 29;
	}
	return (h ^ (uint64_t)(0x100u | n)) * ZONE_FNV_PRIME;
}

static uint32_t fold(uint64_t h)
{
	return (uint32_t)(h ^ (h >> 32));
}

/* Hash of a wire name (no root byte) from its rightmost label. */
static uint32_t hash_wire(const uint8_t *w, size_t len)
{
	uint16_t offs[DNS_LABELS_MAX + 1];
	unsigned n = 0;
	for (size_t o = 0; o < len && n <= DNS_LABELS_MAX; o += (size_t)w[o] + 1)
		offs[n++] = (uint16_t)o;
	uint64_t h = ZONE_FNV_OFFSET;
	while (n--)
		h = mix_label(h, w + offs[n]);
	return fold(h);
}

static uint32_t rec_hash(const uint8_t *r)
{
	return (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
}

static uint16_t rec_group(const uint8_t *r)
{
	return (uint16_t)(r[4] << 8 | r[5]);
}

static int table_grow(struct dns_zones *z)
{
	size_t cap = z->table_cap ? z->table_cap * 2 : 1024;
	struct zone_slot *t = calloc(cap, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	for (size_t off = 0; off < z->arena_len; off += ZONE_REC_HEAD + z->arena[off + 6]) {
		uint32_t h = rec_hash(z->arena + off);
		size_t k = h & (cap - 1);
		while (t[k].ref)
			k = (k + 1) & (cap - 1);
		t[k] = (struct zone_slot){ (uint32_t)off + 1, h };
	}
	free(z->table);
	z->table = t;
	z->table_cap = cap;
	return 0;
}

/* Inserts a lower-cased wire name; a duplicate keeps the first group. */
static int zone_insert(struct dns_zones *z, const uint8_t *w, size_t len, uint16_t group)
{
	if (z->n_ents >= ZONE_MAX_NAMES)
		return ERR_LIMIT;
	if ((z->n_ents + 1) * 2 > z->table_cap && table_grow(z))
		return ERR_NOMEM;
	uint32_t h = hash_wire(w, len);
	size_t k = h & (z->table_cap - 1);
	while (z->table[k].ref) {
		const uint8_t *r = z->arena + z->table[k].ref - 1;
		if (z->table[k].hash == h && r[6] == len && !memcmp(r + ZONE_REC_HEAD, w, len)) {
			z->st.duplicates++;
			return 0;
		}
		k = (k + 1) & (z->table_cap - 1);
	}
	size_t need = ZONE_REC_HEAD + len;
	if (need > z->arena_cap - z->arena_len) {
		size_t cap = z->arena_cap ? z->arena_cap * 2 : 65536;
		while (cap - z->arena_len < need)
			cap *= 2;
		if (cap > UINT32_MAX)
			return ERR_LIMIT;
		uint8_t *a = realloc(z->arena, cap);
		if (!a)
			return ERR_NOMEM;
		z->arena = a;
		z->arena_cap = cap;
	}
	uint8_t *r = z->arena + z->arena_len;
	r[0] = (uint8_t)(h >> 24);
	r[1] = (uint8_t)(h >> 16);
	r[2] = (uint8_t)(h >> 8);
	r[3] = (uint8_t)h;
	r[4] = (uint8_t)(group >> 8);
	r[5] = (uint8_t)group;
	r[6] = (uint8_t)len;
	memcpy(r + ZONE_REC_HEAD, w, len);
	z->table[k] = (struct zone_slot){ (uint32_t)z->arena_len + 1, h };
	z->arena_len += need;
	z->n_ents++;
	return 0;
}

static int zone_add_text(struct dns_zones *z, const char *s, size_t len, uint16_t group)
{
	uint8_t wire[256];
	size_t wl;
	if (!dns_config_name_to_wire(s, len, wire, &wl) || wire[0] + 1u == wl)
		return ERR_MALFORMED;
	return zone_insert(z, wire, wl, group);
}

/* Reads a list file: one name per line, '#' or ';' starts a comment, blanks ignored. */
static int zone_load_file(struct dns_zones *z, const char *path, uint16_t group, char *errbuf,
			  size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return ERR_CONFIG;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file", path);
		close(fd);
		return ERR_CONFIG;
	}
	size_t size = (size_t)sb.st_size;
	const char *data = "";
	void *map = NULL;
	if (size) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return ERR_CONFIG;
		}
		data = map;
	}
	close(fd);
	int rc = 0;
	size_t line = 0;
	for (size_t pos = 0; pos < size;) {
		const char *ls = data + pos;
		const char *nl = memchr(ls, '\n', size - pos);
		size_t ll = nl ? (size_t)(nl - ls) : size - pos;
		pos += ll + (nl ? 1 : 0);
		line++;
		size_t b = 0, e = ll;
		for (size_t i = 0; i < ll; i++)
			if (ls[i] == '#' || ls[i] == ';') {
				e = i;
				break;
			}
		while (b < e && (ls[b] == ' ' || ls[b] == '\t' || ls[b] == '\r'))
			b++;
		while (e > b && (ls[e - 1] == ' ' || ls[e - 1] == '\t' || ls[e - 1] == '\r'))
			e--;
		if (b == e)
			continue;
		rc = zone_add_text(z, ls + b, e - b, group);
		if (rc == ERR_MALFORMED) {
			snprintf(errbuf, errlen,
				 "%s:%zu: \"%.*s\" is not a valid seized domain name", path, line,
				 (int)(e - b > 80 ? 80 : e - b), ls + b);
			rc = ERR_CONFIG;
			break;
		}
		if (rc) {
			snprintf(errbuf, errlen, "%s:%zu: %s", path, line, err_str(rc));
			break;
		}
	}
	if (map)
		munmap(map, size);
	return rc;
}

void dns_zone_group_event_fields(struct event_builder *b, const struct dns_zone_group *g)
{
	if (g && g->ev_len) {
		event_put_encoded(b, g->ev, g->ev_len);
		return;
	}
	if (g) {
		event_put_str(b, EVENT_T_FAMILY, g->family);
		if (g->tag)
			event_put_str(b, EVENT_T_TAG, g->tag);
		event_put_u32(b, EVENT_T_RULE, g->index);
	} else {
		event_put_str(b, EVENT_T_FAMILY, "unknown");
	}
	event_put_str(b, EVENT_T_DNS_CLIENT_KIND, "resolver");
}

/* Encodes the group's leading event fields once (see struct dns_zone_group). */
static void group_encode_event_fields(struct dns_zone_group *g)
{
	uint8_t rec[EVENT_HEADER_LEN + DNS_GROUP_EV_MAX];
	struct event_header h = { .type = EVENT_DNS };
	struct event_builder b;
	size_t len;
	g->ev_len = 0;
	event_begin(&b, rec, sizeof rec, &h);
	dns_zone_group_event_fields(&b, g);
	if (event_finish(&b, &len) != 0)
		return; /* too long: put per query */
	memcpy(g->ev, rec + EVENT_HEADER_LEN, len - EVENT_HEADER_LEN);
	g->ev_len = (uint16_t)(len - EVENT_HEADER_LEN);
}

int dns_zones_build(const struct config_dns *cfg, struct dns_zones **out, char *errbuf,
		    size_t errlen)
{
	uint64_t t0 = mono_us();
	struct dns_zones *z = calloc(1, sizeof *z);
	if (!z)
		return ERR_NOMEM;
	z->cfg = cfg;
	z->serial = cfg->soa_serial_set ? cfg->soa_serial : (uint32_t)time(NULL);
	z->groups = calloc(cfg->n_zones, sizeof *z->groups);
	int rc = z->groups ? table_grow(z) : ERR_NOMEM;
	for (size_t i = 0; rc == 0 && i < cfg->n_zones; i++) {
		const struct config_dns_zone *zc = &cfg->zones[i];
		struct dns_zone_group *g = &z->groups[i];
		z->n_groups++;
		g->cfg = zc;
		g->family = zc->family;
		g->tag = zc->tag;
		g->index = (uint32_t)i;
		g->ttl = zc->ttl ? zc->ttl : cfg->ttl;
		if (zc->has_addrs) {
			g->a = zc->a;
			g->n_a = zc->n_a;
			g->aaaa = zc->aaaa;
			g->n_aaaa = zc->n_aaaa;
		} else {
			g->a = cfg->a;
			g->n_a = cfg->n_a;
			g->aaaa = cfg->aaaa;
			g->n_aaaa = cfg->n_aaaa;
		}
		group_encode_event_fields(g);
		for (size_t k = 0; rc == 0 && k < zc->n_names; k++) {
			rc = zone_add_text(z, zc->names[k], strlen(zc->names[k]), (uint16_t)i);
			if (rc)
				snprintf(errbuf, errlen, "dns.zones[%zu]: \"%s\": %s", i,
					 zc->names[k], err_str(rc));
		}
		for (size_t k = 0; rc == 0 && k < zc->n_files; k++)
			rc = zone_load_file(z, zc->files[k], (uint16_t)i, errbuf, errlen);
	}
	if (rc) {
		dns_zones_free(z);
		return rc == ERR_NOMEM ? ERR_NOMEM : ERR_CONFIG;
	}
	/* The arena grew by doubling: give back what the last doubling did not use. */
	if (z->arena_len && z->arena_len < z->arena_cap) {
		uint8_t *a = realloc(z->arena, z->arena_len);
		if (a) {
			z->arena = a;
			z->arena_cap = z->arena_len;
		}
	}
	z->st.names = z->n_ents;
	z->st.bytes =
		z->arena_cap + z->table_cap * sizeof *z->table + z->n_groups * sizeof *z->groups;
	z->st.load_us = mono_us() - t0;
	*out = z;
	return 0;
}

void dns_zones_free(struct dns_zones *z)
{
	if (!z)
		return;
	free(z->groups);
	free(z->arena);
	free(z->table);
	free(z);
}

/* Compares a stored lower-case name with a query suffix, ignoring ASCII case. */
static bool name_eq(const uint8_t *stored, const uint8_t *q, size_t len)
{
	size_t i = 0;
	for (; len - i >= 8; i += 8)
		if (load_word(stored + i, 8) != lower8(load_word(q + i, 8)))
			return false;
	for (; i < len; i++)
		if (stored[i] != lower(q[i]))
			return false;
	return true;
}

void dns_zones_key(const struct dns_name *qname, struct dns_zone_key *k)
{
	uint64_t h = ZONE_FNV_OFFSET;
	k->labels = qname->labels;
	for (unsigned i = qname->labels; i-- > 0;) {
		h = mix_label(h, qname->wire + qname->label_off[i]);
		k->hash[i] = fold(h);
	}
}

/* Suffixes the prefetch looks at, longest first: deeper ones are rare and still found, only slower. */
#define ZONE_PREFETCH_SUFFIXES 8
/* Probe steps stage 1 follows from a suffix's first slot. */
#define ZONE_PREFETCH_PROBES   4

void dns_zones_prefetch(const struct dns_zones *z, const struct dns_zone_key *k, int stage)
{
	if (!z->n_ents)
		return;
	size_t mask = z->table_cap - 1;
	unsigned n = k->labels < ZONE_PREFETCH_SUFFIXES ? k->labels : ZONE_PREFETCH_SUFFIXES;
	for (unsigned i = 0; i < n; i++) {
		size_t s = k->hash[i] & mask;
		if (stage == 0) {
			__builtin_prefetch(&z->table[s]);
			continue;
		}
		for (unsigned p = 0; p < ZONE_PREFETCH_PROBES && z->table[s].ref; p++) {
			if (z->table[s].hash == k->hash[i]) {
				/* A record is rarely aligned: it may reach into the next line. */
				const uint8_t *r = z->arena + z->table[s].ref - 1;
				__builtin_prefetch(r);
				__builtin_prefetch(r + 63);
				break;
			}
			s = (s + 1) & mask;
		}
	}
}

bool dns_zones_lookup_key(const struct dns_zones *z, const struct dns_name *qname,
			  const struct dns_zone_key *k, struct dns_match *m)
{
	unsigned n = qname->labels;
	if (n == 0 || !z->n_ents || k->labels != n)
		return false;
	size_t mask = z->table_cap - 1;
	/* The deepest seized name wins: try the longest suffix first. Root-label stores never exist. */
	size_t wire_no_root = (size_t)qname->len - 1;
	for (unsigned i = 0; i < n; i++) {
		size_t off = qname->label_off[i];
		size_t len = wire_no_root - off;
		uint32_t hv = k->hash[i];
		size_t s = hv & mask;
		while (z->table[s].ref) {
			if (z->table[s].hash != hv) {
				s = (s + 1) & mask;
				continue;
			}
			const uint8_t *r = z->arena + z->table[s].ref - 1;
			if (r[6] == len && name_eq(r + ZONE_REC_HEAD, qname->wire + off, len)) {
				m->group = &z->groups[rec_group(r)];
				m->apex_label = i;
				m->at_apex = i == 0;
				return true;
			}
			s = (s + 1) & mask;
		}
	}
	return false;
}

bool dns_zones_lookup(const struct dns_zones *z, const struct dns_name *qname, struct dns_match *m)
{
	if (qname->labels == 0 || !z->n_ents)
		return false;
	struct dns_zone_key k;
	dns_zones_key(qname, &k);
	/* Every suffix's first slot is fetched at once, not one miss after another. */
	dns_zones_prefetch(z, &k, 0);
	return dns_zones_lookup_key(z, qname, &k, m);
}

void dns_zones_get_stats(const struct dns_zones *z, struct dns_zones_stats *st)
{
	*st = z->st;
}

const struct config_dns *dns_zones_config(const struct dns_zones *z)
{
	return z->cfg;
}

uint32_t dns_zones_serial(const struct dns_zones *z)
{
	return z->serial;
}

const struct dns_zone_group *dns_zones_group(const struct dns_zones *z, size_t i)
{
	return i < z->n_groups ? &z->groups[i] : NULL;
}

size_t dns_zones_count(const struct dns_zones *z)
{
	return z->n_ents;
}

const uint8_t *dns_zones_next(const struct dns_zones *z, size_t *pos, size_t *wlen,
			      const struct dns_zone_group **group)
{
	if (*pos >= z->arena_len)
		return NULL;
	const uint8_t *r = z->arena + *pos;
	*wlen = r[6];
	*group = &z->groups[rec_group(r)];
	*pos += ZONE_REC_HEAD + r[6];
	return r + ZONE_REC_HEAD;
}
