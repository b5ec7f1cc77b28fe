/* prom.c — Prometheus text exposition writer (format 0.0.4). */
#include "metrics/prom.h"

#include <inttypes.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool prom_metric_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > PROM_NAME_MAX || !(is_alpha_(s[0]) || s[0] == ':'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alpha_(s[i]) && !is_digit(s[i]) && s[i] != ':')
			return false;
	return true;
}

bool prom_label_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > PROM_NAME_MAX || !is_alpha_(s[0]))
		return false;
	/* Names starting with "__" are reserved for Prometheus itself. */
	if (len >= 2 && s[0] == '_' && s[1] == '_')
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alpha_(s[i]) && !is_digit(s[i]))
			return false;
	return true;
}

void prom_init(struct prom *p, struct dynbuf *out)
{
	memset(p, 0, sizeof *p);
	p->out = out;
}

/* Records the first error and takes back whatever the failed call wrote. */
static int prom_fail(struct prom *p, size_t start, int rc)
{
	if (!p->err)
		p->err = rc;
	p->out->len = start;
	if (p->out->data)
		p->out->data[start] = '\0';
	return rc;
}

/*
 * HELP text escapes backslash and line feed; label values escape those and
 * the double quote. Bytes that are not valid UTF-8 become U+FFFD, so the
 * exposition is always valid UTF-8 whatever a name holds.
 */
static int put_escaped(struct dynbuf *b, const char *s, size_t len, bool quote)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t i = 0;
	while (i < len) {
		size_t run = 0;
		/* Copy the longest run that needs no escaping in one append. */
		while (i + run < len) {
			uint8_t c = u[i + run];
			if (c == '\\' || c == '\n' || (quote && c == '"'))
				break;
			size_t n = c < 0x80 ? 1 : json_utf8_seq_len(u + i + run, len - i - run);
			if (n == 0)
				break;
			run += n;
		}
		if (run && dynbuf_add(b, s + i, run))
			return ERR_NOMEM;
		i += run;
		if (i == len)
			break;
		uint8_t c = u[i];
		const char *esc = c == '\\' ? "\\\\" :
				  c == '\n' ? "\\n" :
				  c == '"'  ? "\\\"" :
					      "\xef\xbf\xbd";
		if (dynbuf_adds(b, esc))
			return ERR_NOMEM;
		i++;
	}
	return 0;
}

int prom_family(struct prom *p, const char *name, enum prom_type type, const char *help)
{
	if (p->err)
		return p->err;
	size_t start = p->out->len;
	size_t nl = strlen(name);
	if (!prom_metric_name_ok(name, nl))
		return prom_fail(p, start, ERR_INVAL);
	/* Counters carry the _total suffix (the convention OpenMetrics makes a rule). */
	if (type == PROM_COUNTER && (nl < 6 || memcmp(name + nl - 6, "_total", 6) != 0))
		return prom_fail(p, start, ERR_INVAL);
	if (dynbuf_adds(p->out, "# HELP ") || dynbuf_add(p->out, name, nl) ||
	    dynbuf_addc(p->out, ' ') || put_escaped(p->out, help, strlen(help), false) ||
	    dynbuf_adds(p->out, "\n# TYPE ") || dynbuf_add(p->out, name, nl) ||
	    dynbuf_adds(p->out, type == PROM_COUNTER ? " counter\n" : " gauge\n"))
		return prom_fail(p, start, ERR_NOMEM);
	memcpy(p->family, name, nl + 1);
	p->family_len = nl;
	return 0;
}

int prom_sample(struct prom *p, const struct prom_label *labels, size_t n_labels, uint64_t value)
{
	if (p->err)
		return p->err;
	size_t start = p->out->len;
	if (!p->family_len || n_labels > PROM_LABELS_MAX)
		return prom_fail(p, start, ERR_INVAL);
	for (size_t i = 0; i < n_labels; i++) {
		if (!prom_label_name_ok(labels[i].name, strlen(labels[i].name)))
			return prom_fail(p, start, ERR_INVAL);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(labels[i].name, labels[j].name))
				return prom_fail(p, start, ERR_INVAL);
	}
	int rc = dynbuf_add(p->out, p->family, p->family_len);
	for (size_t i = 0; !rc && i < n_labels; i++) {
		rc = dynbuf_addc(p->out, i ? ',' : '{');
		if (!rc)
			rc = dynbuf_adds(p->out, labels[i].name);
		if (!rc)
			rc = dynbuf_adds(p->out, "=\"");
		if (!rc)
			rc = put_escaped(p->out, labels[i].value, labels[i].value_len, true);
		if (!rc)
			rc = dynbuf_addc(p->out, '"');
	}
	if (!rc && n_labels)
		rc = dynbuf_addc(p->out, '}');
	if (!rc)
		rc = dynbuf_printf(p->out, " %" PRIu64 "\n", value);
	return rc ? prom_fail(p, start, ERR_NOMEM) : 0;
}

int prom_single(struct prom *p, const char *name, enum prom_type type, const char *help,
		uint64_t value)
{
	int rc = prom_family(p, name, type, help);
	return rc ? rc : prom_sample(p, NULL, 0, value);
}

int prom_finish(const struct prom *p)
{
	return p->err;
}
