/* smtp_templates.h — synthetic spam: five campaign templates with per-recipient variation (loadgen, tests). */
#ifndef SINKD_PROTO_SMTP_TEMPLATES_H
#define SINKD_PROTO_SMTP_TEMPLATES_H

#include <stddef.h>
#include <stdint.h>

/*
 * Five made-up campaigns in the style the takedown reference describes for
 * Rustock (pharmacy offers, "Dear <user> -80% now", a fake lottery) plus two
 * others. Every rendering varies per recipient: the name, order and tracking
 * numbers, a URL token, the discount. Nothing here is real spam or links
 * anywhere real (all domains are under .example).
 */
#define SMTP_TEMPLATES 5

/* xorshift64*: deterministic for a given seed (state must not be 0). */
uint64_t smtp_template_rand(uint64_t *state);

/* The body of template `tpl` for one recipient, CRLF lines, NUL-terminated; returns its length. */
size_t smtp_template_render(unsigned tpl, uint64_t *rng, char *out, size_t cap);

/*
 * A whole message (headers, blank line, body) for recipient `rcpt_local`
 * (the local part, used as "Dear <user>"), CRLF lines, no line starting
 * with '.', NUL-terminated; returns its length (0 if cap is too small).
 */
size_t smtp_template_message(unsigned tpl, uint64_t *rng, const char *rcpt_local,
			     const char *rcpt_domain, char *out, size_t cap);

#endif
