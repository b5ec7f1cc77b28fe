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
	f->st = fuzzy_new();
	f->fed = 0;
	f->in_space = true; /* drops leading white space */
	f->in_digit = false;
	f->blen = 0;
	return f->st ? 0 : ERR_NOMEM;
}

static void smtp_fuzzy_flush(struct smtp_fuzzy *f)
{
	if (f->blen && f->st)
		fuzzy_update(f->st, f->buf, f->blen);
	f->blen = 0;
}

void smtp_fuzzy_update(struct smtp_fuzzy *f, const uint8_t *p, size_t n)
{
	if (!f->st)
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
	if (!f->st)
		return ERR_NOMEM;
	smtp_fuzzy_flush(f);
	if (fuzzy_digest(f->st, out, 0) != 0) {
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

struct smtp_campaigns {
	pthread_mutex_t mu;
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
	if (!t->reps || !t->order || pthread_mutex_init(&t->mu, NULL) != 0) {
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
