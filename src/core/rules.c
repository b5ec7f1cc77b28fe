/* rules.c — compiles the config's families into an immutable rule set and classifies requests. */
#include "core/rules.h"

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/*
 * Everything that can be prepared is prepared at compile time: literals are
 * lower-cased once when the condition ignores case, regexes are compiled
 * once, and literals are tried before regexes inside a condition. Classifying
 * then only compares bytes; it allocates nothing itself and writes nothing
 * shared, so any number of workers may call it at once. glibc's regexec
 * takes a per-pattern lock and allocates internally, so each regex is
 * compiled once per slot (one slot per worker): workers never contend.
 *
 * Input slices are not NUL-terminated. Regexes see exactly the slice through
 * REG_STARTEND (pmatch[0] = {0, len}), which glibc and the BSDs honour.
 */

#ifndef REG_STARTEND
#error "rules.c needs regexec's REG_STARTEND (glibc, musl lacks it)"
#endif

/*
 * The ASan/MSan regexec interceptors check strlen(string) + 1 bytes whatever
 * the flags (REG_STARTEND is ignored), so in sanitizer builds a slice that is
 * not followed by a NUL looks like an overflow. Those builds, and only those,
 * match a NUL-terminated copy; release builds never copy.
 */
#if defined(__SANITIZE_ADDRESS__)
#define RULES_REGEX_COPY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define RULES_REGEX_COPY 1
#endif
#endif

struct rule_alt {
	enum config_strmatch_kind kind;
	bool dotted;	 /* host suffix written ".example.com": sub-domains only */
	const char *lit; /* owned copy (lower-cased when nocase) */
	size_t len;
	regex_t *re; /* one compiled copy per slot: regexec locks each pattern */
	unsigned n_re;
};

struct rule_str {
	struct rule_alt *alts; /* literals first, regexes last */
	size_t n;
	bool nocase;
	bool is_host;
};

struct rule {
	struct rules_family out;
	int proto;
	const char *const *listeners;
	size_t n_listeners;
	const struct config_port_range *ports;
	size_t n_ports;
	const struct config_payload *payload;
	const char *method;
	size_t method_len;
	struct rule_str host, path, uri, ua;
	struct rule_str helo, mail_from, subject, x_mailer, header_order, campaign;
	struct rule_str sni, ja3, ja4;
	bool has_body_len;
	uint64_t body_min, body_max;
	const uint8_t *body_prefix;
	size_t body_prefix_len;
};

struct rules {
	struct rule *rules;
	size_t n;
	struct rules_family unknown;
};

static inline unsigned char lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* `lit` is already lower-cased when nocase. */
static bool eq(const char *s, const char *lit, size_t n, bool nocase)
{
	if (!nocase)
		return memcmp(s, lit, n) == 0;
	for (size_t i = 0; i < n; i++)
		if (lc((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

static bool contains(const char *s, size_t n, const char *lit, size_t m, bool nocase)
{
	if (m > n)
		return false;
	if (!nocase)
		return memmem(s, n, lit, m) != NULL;
	unsigned char first = (unsigned char)lit[0];
	for (size_t i = 0; i + m <= n; i++)
		if (lc((unsigned char)s[i]) == first && eq(s + i + 1, lit + 1, m - 1, true))
			return true;
	return false;
}

static bool regex_match(const regex_t *re, const char *s, size_t n)
{
	regmatch_t pm[1];
	pm[0].rm_so = 0;
	pm[0].rm_eo = (regoff_t)n;
	if (!n)
		s = ""; /* a zero-length slice may come with any pointer */
#ifdef RULES_REGEX_COPY
	char stack[2048];
	char *copy = n < sizeof stack ? stack : malloc(n + 1);
	if (!copy)
		return false;
	memcpy(copy, s, n);
	copy[n] = '\0';
	bool hit = regexec(re, copy, 1, pm, REG_STARTEND) == 0;
	if (copy != stack)
		free(copy);
	return hit;
#else
	return regexec(re, s, 1, pm, REG_STARTEND) == 0;
#endif
}

static bool alt_match(const struct rule_alt *a, const struct rule_str *rs, const char *s, size_t n,
		      unsigned slot)
{
	switch (a->kind) {
	case CONFIG_MATCH_EXACT:
		return n == a->len && eq(s, a->lit, n, rs->nocase);
	case CONFIG_MATCH_PREFIX:
		return n >= a->len && eq(s, a->lit, a->len, rs->nocase);
	case CONFIG_MATCH_SUFFIX:
		if (n < a->len || !eq(s + n - a->len, a->lit, a->len, rs->nocase))
			return false;
		if (!rs->is_host)
			return true;
		/* "example.com": itself or after a dot; ".example.com": strictly below it. */
		if (a->dotted)
			return n > a->len;
		return n == a->len || s[n - a->len - 1] == '.';
	case CONFIG_MATCH_CONTAINS:
		return contains(s, n, a->lit, a->len, rs->nocase);
	case CONFIG_MATCH_REGEX:
		return regex_match(&a->re[slot % a->n_re], s, n);
	}
	return false;
}

static bool str_match(const struct rule_str *rs, struct rules_slice in, unsigned slot)
{
	if (!rs->n)
		return true;
	if (!in.ptr)
		return false;
	const char *s = in.ptr;
	size_t n = in.len;
	/* "example.com." is the same name as "example.com". */
	if (rs->is_host && n > 1 && s[n - 1] == '.')
		n--;
	for (size_t i = 0; i < rs->n; i++)
		if (alt_match(&rs->alts[i], rs, s, n, slot))
			return true;
	return false;
}

static bool rule_match(const struct rule *r, const struct rules_input *in)
{
	if (r->proto && (int)in->proto != r->proto)
		return false;
	if (r->n_ports) {
		size_t i;
		for (i = 0; i < r->n_ports &&
			    (in->dst_port < r->ports[i].lo || in->dst_port > r->ports[i].hi);
		     i++)
			;
		if (i == r->n_ports)
			return false;
	}
	if (r->n_listeners) {
		if (!in->listener)
			return false;
		size_t i;
		for (i = 0; i < r->n_listeners && strcmp(r->listeners[i], in->listener); i++)
			;
		if (i == r->n_listeners)
			return false;
	}
	if (r->method && (!in->method.ptr || in->method.len != r->method_len ||
			  memcmp(in->method.ptr, r->method, r->method_len)))
		return false;
	if (r->has_body_len && (in->body_len < r->body_min || in->body_len > r->body_max))
		return false;
	if (r->body_prefix && (!in->body_prefix || in->body_prefix_len < r->body_prefix_len ||
			       memcmp(in->body_prefix, r->body_prefix, r->body_prefix_len)))
		return false;
	if (r->payload->present && !payload_match(r->payload, &in->payload))
		return false;
	if (!str_match(&r->host, in->host, in->slot))
		return false;
	if (r->path.n) {
		struct rules_slice path = in->path;
		/* Callers that only know the target get the part before '?'. */
		if (!path.ptr && in->uri.ptr) {
			const char *q = memchr(in->uri.ptr, '?', in->uri.len);
			path.ptr = in->uri.ptr;
			path.len = q ? (size_t)(q - in->uri.ptr) : in->uri.len;
		}
		if (!str_match(&r->path, path, in->slot))
			return false;
	}
	return str_match(&r->uri, in->uri, in->slot) &&
	       str_match(&r->ua, in->user_agent, in->slot) &&
	       str_match(&r->helo, in->helo, in->slot) &&
	       str_match(&r->mail_from, in->mail_from, in->slot) &&
	       str_match(&r->subject, in->subject, in->slot) &&
	       str_match(&r->x_mailer, in->x_mailer, in->slot) &&
	       str_match(&r->header_order, in->header_order, in->slot) &&
	       str_match(&r->campaign, in->campaign, in->slot) &&
	       str_match(&r->sni, in->sni, in->slot) && str_match(&r->ja3, in->ja3, in->slot) &&
	       str_match(&r->ja4, in->ja4, in->slot);
}

const struct rules_family *rules_classify(const struct rules *r, const struct rules_input *in)
{
	for (size_t i = 0; i < r->n; i++)
		if (rule_match(&r->rules[i], in))
			return &r->rules[i].out;
	return &r->unknown;
}

size_t rules_count(const struct rules *r)
{
	return r ? r->n : 0;
}

static void rule_str_free(struct rule_str *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		for (unsigned k = 0; k < rs->alts[i].n_re; k++)
			regfree(&rs->alts[i].re[k]);
		free(rs->alts[i].re);
		free((char *)rs->alts[i].lit);
	}
	free(rs->alts);
	rs->alts = NULL;
	rs->n = 0;
}

void rules_free(struct rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		rule_str_free(&r->rules[i].host);
		rule_str_free(&r->rules[i].path);
		rule_str_free(&r->rules[i].uri);
		rule_str_free(&r->rules[i].ua);
		rule_str_free(&r->rules[i].helo);
		rule_str_free(&r->rules[i].mail_from);
		rule_str_free(&r->rules[i].subject);
		rule_str_free(&r->rules[i].x_mailer);
		rule_str_free(&r->rules[i].header_order);
		rule_str_free(&r->rules[i].campaign);
		rule_str_free(&r->rules[i].sni);
		rule_str_free(&r->rules[i].ja3);
		rule_str_free(&r->rules[i].ja4);
	}
	free(r->rules);
	free(r);
}

static int compile_alt(struct rule_alt *dst, const struct config_strmatch_alt *src, bool nocase,
		       bool is_host, unsigned slots, const char *family, const char *field,
		       char *errbuf, size_t errlen)
{
	size_t len = strlen(src->value);
	char *lit = malloc(len + 1);
	if (!lit)
		return ERR_NOMEM;
	for (size_t i = 0; i <= len; i++)
		lit[i] = nocase && src->kind != CONFIG_MATCH_REGEX ?
				 (char)lc((unsigned char)src->value[i]) :
				 src->value[i];
	dst->kind = src->kind;
	dst->lit = lit;
	dst->len = len;
	dst->dotted = is_host && src->kind == CONFIG_MATCH_SUFFIX && len && lit[0] == '.';
	if (src->kind == CONFIG_MATCH_CONTAINS && !len) {
		/* An empty needle would break contains(); it matches everything anyway. */
		dst->kind = CONFIG_MATCH_PREFIX;
	}
	if (src->kind != CONFIG_MATCH_REGEX)
		return 0;
	int flags = REG_EXTENDED | REG_NOSUB | (nocase ? REG_ICASE : 0);
	dst->re = calloc(slots, sizeof *dst->re);
	if (!dst->re)
		return ERR_NOMEM;
	for (unsigned k = 0; k < slots; k++) {
		int rc = regcomp(&dst->re[k], src->value, flags);
		if (rc) {
			char msg[128];
			regerror(rc, &dst->re[k], msg, sizeof msg);
			if (errbuf && errlen)
				snprintf(errbuf, errlen, "family %s: %s: bad regex \"%s\": %s",
					 family, field, src->value, msg);
			return ERR_CONFIG;
		}
		dst->n_re = k + 1;
	}
	return 0;
}

static int compile_str(struct rule_str *dst, const struct config_strmatch *src, bool is_host,
		       unsigned slots, const char *family, const char *field, char *errbuf,
		       size_t errlen)
{
	dst->nocase = src->nocase;
	dst->is_host = is_host;
	if (!src->n_alts)
		return 0;
	dst->alts = calloc(src->n_alts, sizeof *dst->alts);
	if (!dst->alts)
		return ERR_NOMEM;
	/* Two passes keep the cheap literal comparisons ahead of the regexes. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < src->n_alts; i++) {
			bool is_re = src->alts[i].kind == CONFIG_MATCH_REGEX;
			if (is_re != (pass == 1))
				continue;
			int rc = compile_alt(&dst->alts[dst->n], &src->alts[i], src->nocase,
					     is_host, slots, family, field, errbuf, errlen);
			if (rc) {
				/* The failed slot may hold a literal: count it to free it. */
				if (dst->alts[dst->n].lit || dst->alts[dst->n].re)
					dst->n++;
				return rc;
			}
			dst->n++;
		}
	}
	return 0;
}

int rules_compile(const struct config *cfg, struct rules **out, char *errbuf, size_t errlen)
{
	return rules_compile_slots(cfg, 1, out, errbuf, errlen);
}

int rules_compile_slots(const struct config *cfg, unsigned slots, struct rules **out, char *errbuf,
			size_t errlen)
{
	*out = NULL;
	if (slots == 0)
		slots = 1;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	struct rules *r = calloc(1, sizeof *r);
	if (!r)
		return ERR_NOMEM;
	r->unknown.name = "unknown";
	r->unknown.tag = NULL;
	r->unknown.answer = &cfg->default_answer;
	r->unknown.index = UINT32_MAX;
	if (cfg->n_families >= UINT32_MAX) {
		free(r);
		return ERR_INVAL;
	}
	if (cfg->n_families) {
		r->rules = calloc(cfg->n_families, sizeof *r->rules);
		if (!r->rules) {
			free(r);
			return ERR_NOMEM;
		}
	}
	int rc = 0;
	for (size_t i = 0; i < cfg->n_families; i++) {
		const struct config_family *f = &cfg->families[i];
		const struct config_match *m = &f->match;
		struct rule *ru = &r->rules[i];
		r->n = i + 1; /* so rules_free sees partially built rules */
		ru->out.name = f->name;
		ru->out.tag = f->tag;
		ru->out.answer = f->has_answer ? &f->answer : &cfg->default_answer;
		ru->out.index = (uint32_t)i;
		ru->proto = m->proto;
		ru->listeners = (const char *const *)m->listeners;
		ru->n_listeners = m->n_listeners;
		ru->ports = m->dst_ports;
		ru->n_ports = m->n_dst_ports;
		ru->payload = &m->payload;
		ru->method = m->method;
		ru->method_len = m->method ? strlen(m->method) : 0;
		ru->has_body_len = m->has_body_len;
		ru->body_min = m->body_len_min;
		ru->body_max = m->body_len_max;
		ru->body_prefix = m->body_prefix_len ? m->body_prefix : NULL;
		ru->body_prefix_len = m->body_prefix_len;
		rc = compile_str(&ru->host, &m->host, true, slots, f->name, "host", errbuf, errlen);
		if (!rc)
			rc = compile_str(&ru->path, &m->path, false, slots, f->name, "path", errbuf,
					 errlen);
		if (!rc)
			rc = compile_str(&ru->uri, &m->uri, false, slots, f->name, "uri", errbuf,
					 errlen);
		if (!rc)
			rc = compile_str(&ru->ua, &m->user_agent, false, slots, f->name,
					 "user_agent", errbuf, errlen);
		const struct {
			struct rule_str *dst;
			const struct config_strmatch *src;
			bool is_host;
			const char *field;
		} smtp[] = {
			{ &ru->helo, &m->helo, true, "helo" },
			{ &ru->mail_from, &m->mail_from, true, "mail_from" },
			{ &ru->subject, &m->subject, false, "subject" },
			{ &ru->x_mailer, &m->x_mailer, false, "x_mailer" },
			{ &ru->header_order, &m->header_order, false, "header_order" },
			{ &ru->campaign, &m->campaign, false, "campaign" },
		};
		for (size_t k = 0; !rc && k < sizeof smtp / sizeof smtp[0]; k++)
			rc = compile_str(smtp[k].dst, smtp[k].src, smtp[k].is_host, slots, f->name,
					 smtp[k].field, errbuf, errlen);
		if (!rc)
			rc = compile_str(&ru->sni, &m->sni, true, slots, f->name, "sni", errbuf,
					 errlen);
		if (!rc)
			rc = compile_str(&ru->ja3, &m->ja3, false, slots, f->name, "ja3", errbuf,
					 errlen);
		if (!rc)
			rc = compile_str(&ru->ja4, &m->ja4, false, slots, f->name, "ja4", errbuf,
					 errlen);
		if (rc)
			goto out_free;
	}
	*out = r;
	return 0;

out_free:
	if (rc == ERR_NOMEM && errbuf && errlen && !errbuf[0])
		snprintf(errbuf, errlen, "out of memory compiling rules");
	rules_free(r);
	return rc;
}
