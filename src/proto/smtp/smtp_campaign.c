/* smtp_campaign.c — body normalisation into libfuzzy (ssdeep) and the campaign table. */

/* One-context SHA-256, as in http_conn.c: no per-call allocation on OpenSSL 3.0. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "proto/smtp/smtp_campaign.h"

#include <fuzzy.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

_Static_assert(SMTP_CAMPAIGN_DIGEST_MAX >= FUZZY_MAX_RESULT, "digest buffer too small");

int smtp_fuzzy_init(struct smtp_fuzzy *f)
{
	/* The ssdeep state is created only once the body outgrows the staging buffer. */
	f->st = NULL;
	f->failed = false;
	f->fed = 0;
	f->in_space = true; /* drops leading white space */
	f->in_digit = false;
	f->blen = 0;
	return 0;
}

static void smtp_fuzzy_flush(struct smtp_fuzzy *f)
{
	if (!f->blen || f->failed)
		return;
	if (!f->st) {
		f->st = fuzzy_new();
		if (!f->st) {
			f->failed = true;
			return;
		}
	}
	fuzzy_update(f->st, f->buf, f->blen);
	f->blen = 0;
}

void smtp_fuzzy_update(struct smtp_fuzzy *f, const uint8_t *p, size_t n)
{
	if (f->failed)
		return;
	for (size_t i = 0; i < n; i++) {
		if (f->fed >= SMTP_FUZZY_PREFIX_MAX)
			break;
		uint8_t c = p[i];
		uint8_t out;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
			f->in_digit = false;
			if (f->in_space)
				continue;
			f->in_space = true;
			out = ' ';
		} else if (c >= '0' && c <= '9') {
			f->in_space = false;
			if (f->in_digit)
				continue;
			f->in_digit = true;
			out = '0';
		} else {
			f->in_space = f->in_digit = false;
			out = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
		}
		f->buf[f->blen++] = out;
		f->fed++;
		if (f->blen == sizeof f->buf)
			smtp_fuzzy_flush(f);
	}
}

int smtp_fuzzy_digest(struct smtp_fuzzy *f, char out[SMTP_CAMPAIGN_DIGEST_MAX])
{
	out[0] = '\0';
	int rc;
	if (!f->st && !f->failed) {
		/* A body that fits the staging buffer: one call, no state. */
		rc = fuzzy_hash_buf(f->buf, (uint32_t)f->blen, out);
	} else {
		smtp_fuzzy_flush(f);
		if (f->failed)
			return ERR_NOMEM;
		rc = fuzzy_digest(f->st, out, 0);
	}
	if (rc != 0) {
		out[0] = '\0';
		return ERR_NOMEM;
	}
	return 0;
}

void smtp_fuzzy_free(struct smtp_fuzzy *f)
{
	if (f->st)
		fuzzy_free(f->st);
	f->st = NULL;
}

/* --- the campaign table ----------------------------------------------------------- */

struct smtp_campaign_rep {
	unsigned long bs; /* ssdeep block size, parsed once */
	char key[SMTP_CAMPAIGN_KEY_LEN + 1];
	char digest[SMTP_CAMPAIGN_DIGEST_MAX];
};

/*
 * Identical normalised bodies have identical digests: a small direct-mapped
 * cache of recent short bodies (those that fit the staging buffer, compared
 * byte for byte, so a hash collision can never give a wrong digest) saves
 * ssdeep's work for the bulk runs where a bot sends one body again and again.
 */
#define SMTP_DIGEST_CACHE 64

struct smtp_digest_entry {
	uint64_t h;
	uint16_t len; /* 0: empty */
	char digest[SMTP_CAMPAIGN_DIGEST_MAX];
	uint8_t body[sizeof(((struct smtp_fuzzy *)0)->buf)];
};

struct smtp_campaigns {
	pthread_mutex_t mu;
	struct smtp_digest_entry *cache; /* [SMTP_DIGEST_CACHE] */
	unsigned threshold;
	unsigned cap, n;
	struct smtp_campaign_rep *reps;
	unsigned *order; /* indices into reps, most recently matched first */
};

int smtp_campaigns_new(unsigned slots, unsigned threshold, struct smtp_campaigns **out)
{
	struct smtp_campaigns *t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	t->cap = slots ? slots : 1;
	t->threshold = threshold;
	t->reps = calloc(t->cap, sizeof *t->reps);
	t->order = calloc(t->cap, sizeof *t->order);
	t->cache = calloc(SMTP_DIGEST_CACHE, sizeof *t->cache);
	if (!t->reps || !t->order || !t->cache || pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t->cache);
		free(t->reps);
		free(t->order);
		free(t);
		return ERR_NOMEM;
	}
	*out = t;
	return 0;
}

void smtp_campaigns_free(struct smtp_campaigns *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->cache);
	free(t->reps);
	free(t->order);
	free(t);
}

static unsigned long smtp_digest_bs(const char *d)
{
	unsigned long v = 0;
	for (; *d >= '0' && *d <= '9'; d++) {
		if (v > 1ul << 40)
			return 0;
		v = v * 10 + (unsigned long)(*d - '0');
	}
	return *d == ':' ? v : 0;
}

static void smtp_campaign_key(const char *digest, char key[SMTP_CAMPAIGN_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)digest, strlen(digest), md);
	for (int i = 0; i < SMTP_CAMPAIGN_KEY_LEN / 2; i++) {
		key[2 * i] = hex[md[i] >> 4];
		key[2 * i + 1] = hex[md[i] & 15];
	}
	key[SMTP_CAMPAIGN_KEY_LEN] = '\0';
}

/* Moves order[pos] to the front. */
static void smtp_campaign_touch(struct smtp_campaigns *t, unsigned pos)
{
	unsigned idx = t->order[pos];
	memmove(t->order + 1, t->order, pos * sizeof *t->order);
	t->order[0] = idx;
}

bool smtp_campaign_assign(struct smtp_campaigns *t, const char *digest,
			  char key[SMTP_CAMPAIGN_KEY_LEN + 1], int *score)
{
	unsigned long bs = smtp_digest_bs(digest);
	pthread_mutex_lock(&t->mu);
	for (unsigned pos = 0; pos < t->n; pos++) {
		struct smtp_campaign_rep *r = &t->reps[t->order[pos]];
		int sc;
		if (!strcmp(r->digest, digest))
			sc = 100;
		else if (bs && r->bs && (r->bs == bs || r->bs == 2 * bs || bs == 2 * r->bs))
			sc = fuzzy_compare(r->digest, digest);
		else
			continue;
		if (sc >= (int)t->threshold) {
			memcpy(key, r->key, SMTP_CAMPAIGN_KEY_LEN + 1);
			*score = sc;
			smtp_campaign_touch(t, pos);
			pthread_mutex_unlock(&t->mu);
			return false;
		}
	}
	/* A new campaign: a free slot, or the least recently matched one. */
	unsigned pos;
	if (t->n < t->cap) {
		t->order[t->n] = t->n;
		pos = t->n++;
	} else {
		pos = t->n - 1;
	}
	struct smtp_campaign_rep *r = &t->reps[t->order[pos]];
	size_t dl = strlen(digest);
	if (dl >= sizeof r->digest)
		dl = sizeof r->digest - 1;
	memcpy(r->digest, digest, dl);
	r->digest[dl] = '\0';
	r->bs = bs;
	smtp_campaign_key(r->digest, r->key);
	memcpy(key, r->key, SMTP_CAMPAIGN_KEY_LEN + 1);
	*score = 100;
	smtp_campaign_touch(t, pos);
	pthread_mutex_unlock(&t->mu);
	return true;
}

unsigned smtp_campaigns_count(struct smtp_campaigns *t)
{
	pthread_mutex_lock(&t->mu);
	unsigned n = t->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}

static uint64_t smtp_body_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x243f6a8885a308d3ull ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 32);
}

int smtp_campaign_digest(struct smtp_campaigns *t, struct smtp_fuzzy *f,
			 char out[SMTP_CAMPAIGN_DIGEST_MAX])
{
	if (f->st || f->failed || !f->blen)
		return smtp_fuzzy_digest(f, out);
	uint64_t h = smtp_body_hash(f->buf, f->blen);
	struct smtp_digest_entry *e = &t->cache[h % SMTP_DIGEST_CACHE];
	pthread_mutex_lock(&t->mu);
	bool hit = e->len == f->blen && e->h == h && !memcmp(e->body, f->buf, f->blen);
	if (hit)
		memcpy(out, e->digest, SMTP_CAMPAIGN_DIGEST_MAX);
	pthread_mutex_unlock(&t->mu);
	if (hit)
		return 0;
	int rc = smtp_fuzzy_digest(f, out);
	if (rc == 0) {
		pthread_mutex_lock(&t->mu);
		e->h = h;
		e->len = (uint16_t)f->blen;
		memcpy(e->body, f->buf, f->blen);
		memcpy(e->digest, out, SMTP_CAMPAIGN_DIGEST_MAX);
		pthread_mutex_unlock(&t->mu);
	}
	return rc;
}
