/* smtp_campaign.h — campaign keys: an ssdeep digest of the normalised body, clustered by similarity score. */
#ifndef SINKD_PROTO_SMTP_CAMPAIGN_H
#define SINKD_PROTO_SMTP_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Why clustering and not the digest itself: ssdeep digests of two copies of
 * one spam template that differ per recipient ("Dear alice" / "Dear bob", a
 * tracking number, a URL token) are similar, not equal; libfuzzy scores them
 * 0..100 with fuzzy_compare. So the campaign key is the identity of a
 * *representative*: a message's digest is compared with the representatives
 * of recently active campaigns, most recently matched first; the first one
 * scoring at least the threshold gives its key, and a message that matches
 * none founds a new campaign whose key is the first 8 bytes (hex) of the
 * SHA-256 of its own digest. Identical digests match without scoring.
 *
 * The table is bounded (campaign_slots, least recently matched evicted), so a
 * message is compared with at most that many representatives, and only with
 * those whose ssdeep block size is comparable (equal or double, the only
 * pairs fuzzy_compare can score): a flood of unrelated messages costs a
 * bounded number of comparisons each, and a real campaign, being recently
 * matched, sits near the front.
 * Keys are stable for as long as a campaign stays in the table; the event
 * also carries the message's own digest, so a campaign can always be
 * re-clustered offline.
 */

#define SMTP_CAMPAIGN_DIGEST_MAX 148 /* FUZZY_MAX_RESULT */
#define SMTP_CAMPAIGN_KEY_LEN	 16
/*
 * Bodies are hashed by ssdeep over a normalised prefix of at most this many
 * bytes: a campaign shows in its first part, and ssdeep's cost (a rolling
 * hash for every live block size per byte) must not grow with a hostile
 * multi-megabyte body. SHA-256 still covers the whole message.
 */
#define SMTP_FUZZY_PREFIX_MAX	 (256u * 1024)

struct fuzzy_state;

/*
 * The normaliser in front of ssdeep: ASCII letters lower-cased, every run of
 * digits one '0', every run of white space (CR and LF included) one space,
 * leading space dropped. Per-recipient numbers and re-wrapped lines then stop
 * mattering.
 */
struct smtp_fuzzy {
	struct fuzzy_state *st; /* created when the body outgrows buf (NULL until then) */
	bool failed;		/* allocation failed: no digest */
	uint64_t fed;		/* normalised bytes given to ssdeep */
	bool in_space, in_digit;
	size_t blen;
	uint8_t buf[2048];
};

int smtp_fuzzy_init(struct smtp_fuzzy *f);
void smtp_fuzzy_update(struct smtp_fuzzy *f, const uint8_t *p, size_t n);
/* Writes the NUL-terminated digest ("96:abc...:xy..."); ERR_NOMEM if ssdeep failed. */
int smtp_fuzzy_digest(struct smtp_fuzzy *f, char out[SMTP_CAMPAIGN_DIGEST_MAX]);
void smtp_fuzzy_free(struct smtp_fuzzy *f);

/* One table per SMTP listener, shared by its workers (a mutex around lookups). */
struct smtp_campaigns;

int smtp_campaigns_new(unsigned slots, unsigned threshold, struct smtp_campaigns **out);
void smtp_campaigns_free(struct smtp_campaigns *t);
/*
 * Finds or founds the campaign of a digest: writes its key (16 hex digits and
 * a NUL) and the score against the representative (100 for the founder).
 * Returns true if a new campaign was founded.
 */
bool smtp_campaign_assign(struct smtp_campaigns *t, const char *digest,
			  char key[SMTP_CAMPAIGN_KEY_LEN + 1], int *score);
/*
 * The same digest as smtp_fuzzy_digest, served from the table's cache of
 * recent short bodies when this normalised body was seen before.
 */
int smtp_campaign_digest(struct smtp_campaigns *t, struct smtp_fuzzy *f,
			 char out[SMTP_CAMPAIGN_DIGEST_MAX]);
/* Campaigns currently held (tests, stats). */
unsigned smtp_campaigns_count(struct smtp_campaigns *t);

#endif
