/* aggmirror.c — pending per-address aggregates merged in a hash table, sorted on demand. */
#include "store/aggmirror.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mix64.h"

struct aggmirror {
	struct aggm_row *rows; /* dense, n in use */
	size_t n, cap;
	uint32_t *slot; /* open addressing: row index + 1, 0 = empty; slot_cap a power of two */
	size_t slot_cap;
	const struct aggm_row **sorted;
	char **fams; /* the families seen: few, kept for the mirror's life */
	size_t n_fams;
};

int aggm_new(struct aggmirror **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : ERR_NOMEM;
}

void aggm_free(struct aggmirror *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_fams; i++)
		free(m->fams[i]);
	free(m->fams);
	free(m->rows);
	free(m->slot);
	free(m->sorted);
	free(m);
}

size_t aggm_count(const struct aggmirror *m)
{
	return m->n;
}

void aggm_clear(struct aggmirror *m)
{
	if (m->slot)
		memset(m->slot, 0, m->slot_cap * sizeof *m->slot);
	m->n = 0;
}

/* Families are interned: equal families share one pointer. */
static uint64_t row_hash(const struct aggm_row *r)
{
	uint64_t lo, hi;
	memcpy(&lo, r->src, 8);
	memcpy(&hi, r->src + 8, 8);
	return mix64(lo ^ mix64(hi ^ mix64((uint64_t)r->day ^ (uintptr_t)r->family ^
					   ((uint64_t)r->ipver << 56))));
}

static const char *intern(struct aggmirror *m, const char *f, size_t len)
{
	for (size_t i = 0; i < m->n_fams; i++)
		if (strlen(m->fams[i]) == len && !memcmp(m->fams[i], f, len))
			return m->fams[i];
	char **nf = realloc(m->fams, (m->n_fams + 1) * sizeof *nf);
	if (!nf)
		return NULL;
	m->fams = nf;
	char *c = malloc(len + 1);
	if (!c)
		return NULL;
	memcpy(c, f, len);
	c[len] = '\0';
	m->fams[m->n_fams++] = c;
	return c;
}

static int grow(struct aggmirror *m)
{
	size_t cap = m->cap ? m->cap * 2 : 4096;
	struct aggm_row *nr = realloc(m->rows, cap * sizeof *nr);
	if (!nr)
		return ERR_NOMEM;
	m->rows = nr;
	m->cap = cap;
	uint32_t *ns = calloc(cap * 2, sizeof *ns);
	if (!ns)
		return ERR_NOMEM;
	free(m->slot);
	m->slot = ns;
	m->slot_cap = cap * 2;
	for (size_t i = 0; i < m->n; i++) {
		size_t k = row_hash(&m->rows[i]) & (m->slot_cap - 1);
		while (m->slot[k])
			k = (k + 1) & (m->slot_cap - 1);
		m->slot[k] = (uint32_t)i + 1;
	}
	return 0;
}

int aggm_add(struct aggmirror *m, const struct aggm_row *in)
{
	struct aggm_row r = *in;
	r.family = intern(m, in->family, in->family_len);
	if (!r.family || (m->n == m->cap && grow(m)) || m->n >= UINT32_MAX - 1) {
		aggm_clear(m);
		return ERR_NOMEM;
	}
	size_t alen = r.ipver == 4 ? 4 : 16;
	size_t k = row_hash(&r) & (m->slot_cap - 1);
	for (uint32_t v; (v = m->slot[k]); k = (k + 1) & (m->slot_cap - 1)) {
		struct aggm_row *a = &m->rows[v - 1];
		if (a->day != r.day || a->family != r.family || a->ipver != r.ipver ||
		    memcmp(a->src, r.src, alen))
			continue;
		/* As the compaction's min(asn), min(cc), min(first), max(last), sum(events). */
		a->asn = r.asn < a->asn ? r.asn : a->asn;
		if (strcmp(r.cc, a->cc) < 0)
			memcpy(a->cc, r.cc, 3);
		a->first = r.first < a->first ? r.first : a->first;
		a->last = r.last > a->last ? r.last : a->last;
		a->events += r.events;
		return 0;
	}
	r.family_len = strlen(r.family);
	r.key = 0;
	for (size_t i = 0; i < 8 && i < alen; i++)
		r.key |= (uint64_t)r.src[i] << (56 - 8 * i);
	m->rows[m->n] = r;
	m->slot[k] = (uint32_t)++m->n;
	return 0;
}

#define AGGM_AHEAD 16

int aggm_add_many(struct aggmirror *m, const struct aggm_row *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i + AGGM_AHEAD < n && m->slot) {
			struct aggm_row a = r[i + AGGM_AHEAD];
			a.family = intern(m, a.family, a.family_len);
			if (a.family)
				__builtin_prefetch(&m->slot[row_hash(&a) & (m->slot_cap - 1)]);
		}
		int rc = aggm_add(m, &r[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* SQLite's BINARY collation: memcmp over the shorter length, then the shorter first. */
static int bin_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int row_cmp(const void *pa, const void *pb)
{
	const struct aggm_row *a = *(const struct aggm_row *const *)pa,
			      *b = *(const struct aggm_row *const *)pb;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	int c = a->family == b->family ?
			0 :
			bin_cmp(a->family, a->family_len, b->family, b->family_len);
	if (c)
		return c;
	/* The first 8 bytes decide unless equal (then the rest and the length, as BINARY does). */
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return bin_cmp(a->src, a->ipver == 4 ? 4 : 16, b->src, b->ipver == 4 ? 4 : 16);
}

const struct aggm_row *const *aggm_sorted(struct aggmirror *m, int *rc)
{
	const struct aggm_row **s = realloc(m->sorted, (m->n ? m->n : 1) * sizeof *s);
	if (!s) {
		*rc = ERR_NOMEM;
		return NULL;
	}
	m->sorted = s;
	for (size_t i = 0; i < m->n; i++)
		s[i] = &m->rows[i];
	qsort(s, m->n, sizeof *s, row_cmp);
	*rc = 0;
	return s;
}
