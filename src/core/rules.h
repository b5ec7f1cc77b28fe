/* rules.h — family classification: compiled, immutable rule sets; first match wins. */
#ifndef SINKD_CORE_RULES_H
#define SINKD_CORE_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/payload_match.h"

/*
 * A rule set is compiled from the config's families and never changes after;
 * a reload compiles a new one and swaps the pointer (see net/). Classifying is
 * read-only and thread-safe. The returned family pointer is valid while the
 * rule set lives.
 */

struct rules;

/* What a protocol module knows about one request; absent strings have ptr NULL. */
struct rules_slice {
	const char *ptr;
	size_t len;
};

struct rules_input {
	enum config_proto proto;
	const char *listener; /* NUL-terminated listener name */
	uint16_t dst_port;
	struct rules_slice method;
	struct rules_slice host; /* Host header, port stripped by the caller */
	struct rules_slice uri;	 /* request target as sent */
	struct rules_slice path; /* target up to '?' */
	struct rules_slice user_agent;
	struct rules_slice sni; /* TLS: server name of the ClientHello */
	struct rules_slice ja3; /* TLS: JA3 MD5, lowercase hex */
	struct rules_slice ja4; /* TLS: JA4 */
	uint64_t body_len;
	const uint8_t *body_prefix; /* first bytes of the body */
	size_t body_prefix_len;
	/* SMTP transactions (absent for other protocols, so SMTP conditions never match them). */
	struct rules_slice helo;
	struct rules_slice mail_from; /* the envelope sender's domain */
	struct rules_slice subject;
	struct rules_slice x_mailer;
	struct rules_slice header_order; /* header names as sent, joined by ',' */
	struct rules_slice campaign;
	struct payload_input payload; /* raw captures; data NULL for other protocols */
	unsigned slot; /* which compiled copy of the regexes to use: the worker's id */
};

struct rules_family {
	const char *name;		    /* "unknown" for the fallback */
	const char *tag;		    /* NULL if none */
	const struct config_answer *answer; /* the family's answer or the default answer */
	uint32_t index;			    /* rule index; UINT32_MAX for the fallback */
};

/*
 * Compiles the families of `cfg` (regexes, lower-cased hosts ...). The rule
 * set keeps pointers into cfg's answers: cfg must outlive it.
 * ERR_CONFIG with a message naming the family on a bad regex.
 */
int rules_compile(const struct config *cfg, struct rules **out, char *errbuf, size_t errlen);
/*
 * The same with every regex compiled `slots` times, so that callers passing
 * different rules_input.slot values (one per worker thread) never share a
 * pattern: glibc's regexec locks each one.
 */
int rules_compile_slots(const struct config *cfg, unsigned slots, struct rules **out, char *errbuf,
			size_t errlen);
void rules_free(struct rules *r);

/* Never NULL: unmatched input gets the "unknown" family and the default answer. */
const struct rules_family *rules_classify(const struct rules *r, const struct rules_input *in);

size_t rules_count(const struct rules *r);

#endif
