/* eve_smtp.c — SMTP event fields as Suricata's EVE "smtp" and "email" objects, plus ours beside them. */
#include "report/eve_smtp.h"

#include <stdbool.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/json.h"

/*
 * Suricata's names first (smtp: helo, mail_from, rcpt_to; email: from, to,
 * subject, date, message_id, x_mailer, status); the fields Suricata has no
 * name for keep descriptive snake_case names in the same objects.
 */

struct eve_smtp_out {
	struct dynbuf *b;
	int rc;
	bool first;
};

static void es_raw(struct eve_smtp_out *o, const char *s)
{
	if (o->rc == 0)
		o->rc = dynbuf_add(o->b, s, strlen(s));
}

static void es_key(struct eve_smtp_out *o, const char *key)
{
	if (o->rc == 0)
		o->rc = json_key(o->b, key, o->first);
	o->first = false;
}

static void es_str(struct eve_smtp_out *o, const char *key, const struct event_field *f)
{
	es_key(o, key);
	if (o->rc == 0)
		o->rc = json_str(o->b, f->val, f->len);
}

static void es_uint(struct eve_smtp_out *o, const char *key, const struct event_field *f)
{
	es_key(o, key);
	if (o->rc == 0)
		o->rc = json_u64(o->b, event_field_uint(f));
}

/* A list field (be16 count, (be16 len, bytes)*) as a JSON array; a bad one as []. */
static void es_list(struct eve_smtp_out *o, const char *key, const struct event_field *f)
{
	struct cursor c;
	cursor_init(&c, f->val, f->len);
	uint16_t count = cursor_be16(&c);
	es_key(o, key);
	es_raw(o, "[");
	for (uint32_t i = 0; i < count && cursor_ok(&c); i++) {
		uint16_t n = cursor_be16(&c);
		const uint8_t *p = cursor_take(&c, n);
		if (!p)
			break;
		if (i)
			es_raw(o, ",");
		if (o->rc == 0)
			o->rc = json_str(o->b, p, n);
	}
	es_raw(o, "]");
}

static bool es_find(const struct event_view *v, uint16_t tag, struct event_field *f)
{
	return event_find(v, tag, f);
}

int eve_smtp_format(const struct event_view *v, struct dynbuf *out)
{
	struct eve_smtp_out o = { out, 0, true };
	struct event_field f;
	static const struct {
		uint16_t tag;
		const char *key;
		char kind; /* s string, u integer, l list, h hex */
	} smtp_keys[] = {
		{ EVENT_T_SMTP_HELO, "helo", 's' },
		{ EVENT_T_SMTP_MAIL_FROM, "mail_from", 's' },
		{ EVENT_T_SMTP_RCPT_TO, "rcpt_to", 'l' },
		{ EVENT_T_SMTP_HELO_VERB, "helo_verb", 's' },
		{ EVENT_T_SMTP_RCPT_COUNT, "rcpt_count", 'u' },
		{ EVENT_T_SMTP_RCPT_DOMAINS, "rcpt_domains", 'l' },
		{ EVENT_T_SMTP_BODY_TYPE, "body_type", 's' },
		{ EVENT_T_SMTP_DECLARED_SIZE, "declared_size", 'u' },
		{ EVENT_T_SMTP_STATUS, "status", 'u' },
		{ EVENT_T_SMTP_COMMANDS, "commands", 'u' },
		{ EVENT_T_SMTP_ANOMALIES, "anomalies", 's' },
		{ EVENT_T_SMTP_TLS, "starttls", 'u' },
	}, email_keys[] = {
		{ EVENT_T_SMTP_HDR_FROM, "from", 's' },
		{ EVENT_T_SMTP_HDR_TO, "to", 'a' },
		{ EVENT_T_SMTP_HDR_SUBJECT, "subject", 's' },
		{ EVENT_T_SMTP_SUBJECT_DECODED, "subject_decoded", 's' },
		{ EVENT_T_SMTP_HDR_DATE, "date", 's' },
		{ EVENT_T_SMTP_HDR_MESSAGE_ID, "message_id", 's' },
		{ EVENT_T_SMTP_HDR_X_MAILER, "x_mailer", 's' },
		{ EVENT_T_SMTP_HDR_CONTENT_TYPE, "content_type", 's' },
		{ EVENT_T_SMTP_HEADER_ORDER, "header_order", 's' },
		{ EVENT_T_SMTP_MSG_SIZE, "size", 'u' },
		{ EVENT_T_SMTP_MSG_SHA256, "sha256", 'h' },
		{ EVENT_T_SMTP_BODY_SHA256, "body_sha256", 'h' },
		{ EVENT_T_SMTP_SSDEEP, "ssdeep", 's' },
		{ EVENT_T_SMTP_CAMPAIGN, "campaign", 's' },
		{ EVENT_T_SMTP_CAMPAIGN_SCORE, "campaign_score", 'u' },
		{ EVENT_T_SMTP_SAMPLE, "sample", 's' },
	};
	es_raw(&o, ",\"smtp\":{");
	for (size_t i = 0; i < sizeof smtp_keys / sizeof smtp_keys[0]; i++) {
		if (!es_find(v, smtp_keys[i].tag, &f))
			continue;
		if (smtp_keys[i].kind == 's')
			es_str(&o, smtp_keys[i].key, &f);
		else if (smtp_keys[i].kind == 'l')
			es_list(&o, smtp_keys[i].key, &f);
		else if (f.len == 1 || f.len == 2 || f.len == 4 || f.len == 8)
			es_uint(&o, smtp_keys[i].key, &f);
	}
	es_raw(&o, "}");
	if (!event_find(v, EVENT_T_SMTP_MSG_SIZE, &f))
		return o.rc;

	o.first = true;
	es_raw(&o, ",\"email\":{");
	/* Suricata's parse status: the message was read to its end, or not. */
	es_key(&o, "status");
	es_raw(&o, (v->h.flags & (EVENT_F_TRUNCATED | EVENT_F_LIMIT | EVENT_F_TIMEOUT)) ?
			   "\"PARSE_ERROR\"" :
			   "\"PARSE_DONE\"");
	for (size_t i = 0; i < sizeof email_keys / sizeof email_keys[0]; i++) {
		if (!es_find(v, email_keys[i].tag, &f))
			continue;
		switch (email_keys[i].kind) {
		case 's':
			es_str(&o, email_keys[i].key, &f);
			break;
		case 'a': /* Suricata's "to" is an array */
			es_key(&o, email_keys[i].key);
			es_raw(&o, "[");
			if (o.rc == 0)
				o.rc = json_str(o.b, f.val, f.len);
			es_raw(&o, "]");
			break;
		case 'h':
			if (f.len != 32)
				break; /* a digest of the wrong size is not shown */
			es_key(&o, email_keys[i].key);
			if (o.rc == 0)
				o.rc = json_hex(o.b, f.val, f.len);
			break;
		default:
			if (f.len == 1 || f.len == 2 || f.len == 4 || f.len == 8)
				es_uint(&o, email_keys[i].key, &f);
		}
	}
	es_raw(&o, "}");
	return o.rc;
}
