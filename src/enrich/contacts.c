/* contacts.c — the abuse-contact table: CSV parsing, manual-over-imported precedence, most-specific lookup. */
#include "enrich/contacts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "enrich/csvline.h"
#include "enrich/lpm.h"

#define CONTACTS_FILE_MAX (256u << 20)
#define CONTACTS_MAX	  (1u << 22)

enum contact_kind {
	CK_NET,
	CK_ASN,
	CK_CC
};

struct centry {
	struct contact pub;
	enum contact_kind kind;
	uint8_t ipver, plen;
	uint8_t addr[16];
	uint32_t asn;
	char cc[3];
	uint32_t order;
};

struct contacts {
	struct centry *v;
	size_t n, cap;
	struct lpm *nets;
	uint32_t *asn_sorted; /* entry indexes sorted by ASN, one per ASN (the winner) */
	size_t n_asn;
	uint32_t cc_idx[26 * 26]; /* entry index + 1 */
	bool finished;
};

int contacts_new(struct contacts **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : ERR_NOMEM;
}

static bool valid_email(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	if (!at || at == s || at == s + len - 1 || memchr(at + 1, '@', (size_t)(s + len - at - 1)))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>' || ch == ',' || ch == '"' ||
		    ch == '(' || ch == ')' || ch == ';' || ch == '\\')
			return false;
	}
	return true;
}

static bool valid_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int parse_selector(const char *s, size_t len, struct centry *e)
{
	if (len >= 3 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's')) {
		uint64_t v = 0;
		if (len > 12)
			return ERR_MALFORMED;
		for (size_t i = 2; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return ERR_MALFORMED;
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		if (v == 0 || v > UINT32_MAX)
			return ERR_MALFORMED;
		e->kind = CK_ASN;
		e->asn = (uint32_t)v;
		return 0;
	}
	if (len == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z') {
		e->kind = CK_CC;
		e->cc[0] = s[0];
		e->cc[1] = s[1];
		e->cc[2] = '\0';
		return 0;
	}
	char tmp[64];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	if (alen == 0 || alen >= sizeof tmp)
		return ERR_MALFORMED;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (inet_pton(AF_INET, tmp, e->addr) == 1)
		e->ipver = 4;
	else if (inet_pton(AF_INET6, tmp, e->addr) == 1)
		e->ipver = 6;
	else
		return ERR_MALFORMED;
	unsigned bits = e->ipver == 4 ? 32 : 128, plen = bits;
	if (slash) {
		size_t dl = len - alen - 1;
		if (dl == 0 || dl > 3)
			return ERR_MALFORMED;
		plen = 0;
		for (size_t i = 0; i < dl; i++) {
			if (slash[1 + i] < '0' || slash[1 + i] > '9')
				return ERR_MALFORMED;
			plen = plen * 10 + (unsigned)(slash[1 + i] - '0');
		}
		if (plen > bits)
			return ERR_MALFORMED;
	}
	/* Bits beyond the length: an error, never a silent widening. */
	for (unsigned b = plen; b < bits; b++)
		if (e->addr[b / 8] & (0x80u >> (b % 8)))
			return ERR_MALFORMED;
	e->kind = CK_NET;
	e->plen = (uint8_t)plen;
	return 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int contacts_parse(struct contacts *c, const char *buf, size_t len, const char *name, char *err,
		   size_t errlen)
{
	enum {
		COL_SEL,
		COL_EMAIL,
		COL_ORG,
		COL_SOURCE,
		COL_N
	};
	static const char *const colnames[COL_N] = { "selector", "email", "org", "source" };
	int col[COL_N] = { -1, -1, -1, -1 };
	struct csvline *cl = malloc(sizeof *cl);
	if (!cl)
		return ERR_NOMEM;
	size_t pos = 0, ll, lineno = 0;
	const char *line;
	bool have_header = false;
	int rc = 0;
	while (csvline_next(buf, len, &pos, &line, &ll)) {
		lineno++;
		if (ll == 0 || line[0] == '#')
			continue;
		if ((rc = csvline_split(line, ll, ',', true, cl))) {
			snprintf(err, errlen, "%s:%zu: %s", name, lineno,
				 rc == ERR_LIMIT ? "line too long" :
						   "bad CSV quoting or too many fields");
			rc = ERR_MALFORMED;
			goto out;
		}
		if (!have_header) {
			for (size_t i = 0; i < cl->n; i++) {
				size_t k = 0;
				while (k < COL_N && strcmp(cl->f[i], colnames[k]))
					k++;
				if (k == COL_N || col[k] >= 0) {
					snprintf(err, errlen,
						 "%s:%zu: header: %s column \"%.40s\" (expected "
						 "selector,email,org[,source])",
						 name, lineno, k == COL_N ? "unknown" : "repeated",
						 cl->f[i]);
					rc = ERR_MALFORMED;
					goto out;
				}
				col[k] = (int)i;
			}
			if (col[COL_SEL] < 0 || col[COL_EMAIL] < 0 || col[COL_ORG] < 0) {
				snprintf(err, errlen,
					 "%s:%zu: header must name selector, email and org", name,
					 lineno);
				rc = ERR_MALFORMED;
				goto out;
			}
			have_header = true;
			continue;
		}
		size_t want = 3 + (col[COL_SOURCE] >= 0);
		if (cl->n != want) {
			snprintf(err, errlen, "%s:%zu: %zu fields, the header has %zu", name,
				 lineno, cl->n, want);
			rc = ERR_MALFORMED;
			goto out;
		}
		struct centry e = { 0 };
		int si = col[COL_SEL], ei = col[COL_EMAIL], oi = col[COL_ORG];
		if (parse_selector(cl->f[si], cl->len[si], &e)) {
			snprintf(err, errlen,
				 "%s:%zu: selector \"%.60s\" is not ASnnn, a network prefix (no "
				 "bits set beyond its length) or a country code",
				 name, lineno, cl->f[si]);
			rc = ERR_MALFORMED;
			goto out;
		}
		if (!valid_email(cl->f[ei], cl->len[ei])) {
			snprintf(err, errlen, "%s:%zu: \"%.60s\" is not a plain email address",
				 name, lineno, cl->f[ei]);
			rc = ERR_MALFORMED;
			goto out;
		}
		if (cl->len[oi] == 0 || cl->len[oi] > 255 || !valid_text(cl->f[oi], cl->len[oi])) {
			snprintf(err, errlen, "%s:%zu: org must be 1-255 printable bytes", name,
				 lineno);
			rc = ERR_MALFORMED;
			goto out;
		}
		if (col[COL_SOURCE] >= 0) {
			const char *s = cl->f[col[COL_SOURCE]];
			if (!strcmp(s, "manual"))
				e.pub.manual = true;
			else if (strcmp(s, "imported") && s[0]) {
				snprintf(err, errlen,
					 "%s:%zu: source \"%.40s\" (expected manual or imported)",
					 name, lineno, s);
				rc = ERR_MALFORMED;
				goto out;
			}
		}
		if (c->n >= CONTACTS_MAX) {
			snprintf(err, errlen, "%s:%zu: more than %u contacts", name, lineno,
				 CONTACTS_MAX);
			rc = ERR_LIMIT;
			goto out;
		}
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			struct centry *nv = realloc(c->v, cap * sizeof *nv);
			if (!nv) {
				rc = ERR_NOMEM;
				goto out;
			}
			c->v = nv;
			c->cap = cap;
		}
		e.pub.selector = dup_n(cl->f[si], cl->len[si]);
		e.pub.email = dup_n(cl->f[ei], cl->len[ei]);
		e.pub.org = dup_n(cl->f[oi], cl->len[oi]);
		if (!e.pub.selector || !e.pub.email || !e.pub.org) {
			free((char *)e.pub.selector);
			free((char *)e.pub.email);
			free((char *)e.pub.org);
			rc = ERR_NOMEM;
			goto out;
		}
		e.order = (uint32_t)c->n;
		c->v[c->n++] = e;
	}
	if (!have_header && len) {
		snprintf(err, errlen, "%s: no header line (selector,email,org[,source])", name);
		rc = ERR_MALFORMED;
	}
out:
	free(cl);
	return rc;
}

int contacts_load(struct contacts *c, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc = csvline_read_file(path, CONTACTS_FILE_MAX, &buf, &len);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path,
			 rc == ERR_SYS ? strerror(errno) : err_str(rc));
		return rc;
	}
	rc = contacts_parse(c, buf, len, path, err, errlen);
	free(buf);
	return rc;
}

/* Imported entries first, manual ones after, each in file order: later wins on equal selectors. */
static int centry_precedence_cmp(const void *pa, const void *pb)
{
	const struct centry *a = pa, *b = pb;
	if (a->pub.manual != b->pub.manual)
		return a->pub.manual ? 1 : -1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static int asn_idx_cmp(const void *pa, const void *pb, void *arg)
{
	const struct contacts *c = arg;
	const struct centry *a = &c->v[*(const uint32_t *)pa];
	const struct centry *b = &c->v[*(const uint32_t *)pb];
	if (a->asn != b->asn)
		return a->asn < b->asn ? -1 : 1;
	/* Equal ASN: precedence order (index order after the sort), later first. */
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	return ia > ib ? -1 : ia < ib;
}

int contacts_finish(struct contacts *c)
{
	if (c->n)
		qsort(c->v, c->n, sizeof *c->v, centry_precedence_cmp);
	struct lpm_builder *b;
	if (lpm_builder_new(&b))
		return ERR_NOMEM;
	memset(c->cc_idx, 0, sizeof c->cc_idx);
	free(c->asn_sorted);
	c->asn_sorted = malloc((c->n + 1) * sizeof *c->asn_sorted);
	if (!c->asn_sorted) {
		lpm_builder_free(b);
		return ERR_NOMEM;
	}
	size_t na = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct centry *e = &c->v[i];
		if (e->kind == CK_NET) {
			if (lpm_add_prefix(b, e->ipver, e->addr, e->plen, (uint32_t)i + 1)) {
				lpm_builder_free(b);
				return ERR_NOMEM;
			}
		} else if (e->kind == CK_ASN) {
			c->asn_sorted[na++] = (uint32_t)i;
		} else {
			c->cc_idx[(e->cc[0] - 'A') * 26 + (e->cc[1] - 'A')] = (uint32_t)i + 1;
		}
	}
	/* Sort by ASN, the winner of each ASN first, then keep one per ASN. */
	qsort_r(c->asn_sorted, na, sizeof *c->asn_sorted, asn_idx_cmp, c);
	size_t k = 0;
	for (size_t i = 0; i < na; i++)
		if (!k || c->v[c->asn_sorted[k - 1]].asn != c->v[c->asn_sorted[i]].asn)
			c->asn_sorted[k++] = c->asn_sorted[i];
	c->n_asn = k;
	lpm_free(c->nets);
	c->nets = NULL;
	int rc = lpm_build(b, &c->nets);
	if (rc)
		return rc;
	c->finished = true;
	return 0;
}

const struct contact *contacts_find(const struct contacts *c, int ipver, const uint8_t *addr,
				    uint32_t asn, const char *cc)
{
	if (!c || !c->finished)
		return NULL;
	uint32_t v = lpm_lookup(c->nets, ipver, addr);
	if (v)
		return &c->v[v - 1].pub;
	size_t lo = 0, hi = c->n_asn;
	while (asn && lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t m = c->v[c->asn_sorted[mid]].asn;
		if (m == asn)
			return &c->v[c->asn_sorted[mid]].pub;
		if (m < asn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (cc && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z') {
		uint32_t i = c->cc_idx[(cc[0] - 'A') * 26 + (cc[1] - 'A')];
		if (i)
			return &c->v[i - 1].pub;
	}
	return NULL;
}

void contacts_free(struct contacts *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free((char *)c->v[i].pub.selector);
		free((char *)c->v[i].pub.email);
		free((char *)c->v[i].pub.org);
	}
	free(c->v);
	free(c->asn_sorted);
	lpm_free(c->nets);
	free(c);
}
