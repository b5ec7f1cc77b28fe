/* smtp_parse.c — SMTP command lines, the DATA stream and message headers, bounds-checked and allocation-free. */
#include "proto/smtp/smtp_parse.h"

#include <string.h>

#include "core/err.h"
#include "core/hex.h"

static inline unsigned char smtp_lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool smtp_eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	if (n != m)
		return false;
	for (size_t i = 0; i < n; i++)
		if (smtp_lc((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

static bool smtp_prefix_nocase(const char *s, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	if (n < m)
		return false;
	for (size_t i = 0; i < m; i++)
		if (smtp_lc((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

int smtp_line_find(const uint8_t *buf, size_t len, size_t *line_len, size_t *term_len)
{
	const uint8_t *lf = memchr(buf, '\n', len);
	if (!lf)
		return ERR_NEED_MORE;
	size_t pos = (size_t)(lf - buf);
	if (pos > 0 && buf[pos - 1] == '\r') {
		*line_len = pos - 1;
		*term_len = 2;
	} else {
		*line_len = pos;
		*term_len = 1;
	}
	return 0;
}

static const struct {
	const char *name; /* lower case */
	enum smtp_verb verb;
} smtp_verbs[] = {
	{ "helo", SMTP_V_HELO }, { "ehlo", SMTP_V_EHLO }, { "mail", SMTP_V_MAIL },
	{ "rcpt", SMTP_V_RCPT }, { "data", SMTP_V_DATA }, { "rset", SMTP_V_RSET },
	{ "noop", SMTP_V_NOOP }, { "quit", SMTP_V_QUIT }, { "vrfy", SMTP_V_VRFY },
	{ "expn", SMTP_V_EXPN }, { "help", SMTP_V_HELP }, { "starttls", SMTP_V_STARTTLS },
	{ "auth", SMTP_V_AUTH }, { "bdat", SMTP_V_BDAT },
};

const char *smtp_verb_name(enum smtp_verb v)
{
	static const char *const names[] = {
		[SMTP_V_UNKNOWN] = "?",		[SMTP_V_HELO] = "HELO", [SMTP_V_EHLO] = "EHLO",
		[SMTP_V_MAIL] = "MAIL",		[SMTP_V_RCPT] = "RCPT", [SMTP_V_DATA] = "DATA",
		[SMTP_V_RSET] = "RSET",		[SMTP_V_NOOP] = "NOOP", [SMTP_V_QUIT] = "QUIT",
		[SMTP_V_VRFY] = "VRFY",		[SMTP_V_EXPN] = "EXPN", [SMTP_V_HELP] = "HELP",
		[SMTP_V_STARTTLS] = "STARTTLS", [SMTP_V_AUTH] = "AUTH", [SMTP_V_BDAT] = "BDAT",
	};
	if ((size_t)v < sizeof names / sizeof names[0] && names[v])
		return names[v];
	return "?";
}

static bool smtp_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The reverse- or forward-path of MAIL/RCPT and its parameters: s points just
 * after "FROM:" / "TO:". Strict RFC 5321 wants "<path>" right after the colon;
 * bots often send "FROM: <a@b>" or "FROM:a@b", which we take (as Postfix does
 * by default) and mark lenient.
 */
static int smtp_parse_path(const char *s, size_t n, struct smtp_cmd *out, const char **why)
{
	size_t i = 0;
	while (i < n && smtp_is_wsp(s[i])) {
		i++;
		out->lenient = true;
	}
	if (i == n) {
		*why = "missing address";
		return ERR_MALFORMED;
	}
	size_t a, z; /* the address between the brackets */
	if (s[i] == '<') {
		a = ++i;
		bool quoted = false;
		while (i < n && (quoted || s[i] != '>')) {
			if (s[i] == '"')
				quoted = !quoted;
			else if (s[i] == '\\' && quoted && i + 1 < n)
				i++;
			i++;
		}
		if (i == n) {
			*why = "unterminated <address>";
			return ERR_MALFORMED;
		}
		z = i++;
	} else {
		out->lenient = true;
		a = i;
		while (i < n && !smtp_is_wsp(s[i]))
			i++;
		z = i;
	}
	/* An obsolete source route "@a,@b:user@d" names relays, not the mailbox. */
	if (z > a && s[a] == '@') {
		const char *colon = memchr(s + a, ':', z - a);
		if (!colon) {
			*why = "bad source route";
			return ERR_MALFORMED;
		}
		a = (size_t)(colon - s) + 1;
	}
	out->path.ptr = s + a;
	out->path.len = z - a;
	for (size_t k = z; k > a; k--) {
		if (s[k - 1] == '@') {
			out->domain.ptr = s + k;
			out->domain.len = z - k;
			break;
		}
	}
	/* Parameters: keyword[=value] separated by spaces. */
	while (i < n) {
		while (i < n && smtp_is_wsp(s[i]))
			i++;
		size_t k0 = i;
		while (i < n && !smtp_is_wsp(s[i]))
			i++;
		const char *kw = s + k0;
		size_t kl = i - k0;
		if (!kl)
			break;
		if (smtp_prefix_nocase(kw, kl, "size=")) {
			uint64_t v = 0;
			if (kl == 5) {
				*why = "empty SIZE parameter";
				return ERR_MALFORMED;
			}
			for (size_t j = 5; j < kl; j++) {
				if (kw[j] < '0' || kw[j] > '9' || v > (UINT64_MAX - 9) / 10) {
					*why = "bad SIZE parameter";
					return ERR_MALFORMED;
				}
				v = v * 10 + (uint64_t)(kw[j] - '0');
			}
			out->has_size = true;
			out->size = v;
		} else if (smtp_eq_nocase(kw, kl, "body=7bit")) {
			out->body = SMTP_BODY_7BIT;
		} else if (smtp_eq_nocase(kw, kl, "body=8bitmime")) {
			out->body = SMTP_BODY_8BITMIME;
		} else if (smtp_prefix_nocase(kw, kl, "body=")) {
			*why = "unknown BODY type";
			return ERR_MALFORMED;
		}
		/* Other parameters (AUTH=, RET=, ENVID= ...) are ignored: nothing is delivered. */
	}
	return 0;
}

int smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *out, const char **why)
{
	memset(out, 0, sizeof *out);
	*why = NULL;
	if (memchr(line, '\0', len)) {
		*why = "NUL byte in command";
		return ERR_MALFORMED;
	}
	size_t v = 0;
	while (v < len && !smtp_is_wsp(line[v]))
		v++;
	out->verb_text.ptr = line;
	out->verb_text.len = v;
	for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++) {
		if (smtp_eq_nocase(line, v, smtp_verbs[i].name)) {
			out->verb = smtp_verbs[i].verb;
			break;
		}
	}
	size_t a = v, z = len;
	while (a < z && smtp_is_wsp(line[a]))
		a++;
	while (z > a && (smtp_is_wsp(line[z - 1]) || line[z - 1] == '\r'))
		z--;
	out->arg.ptr = line + a;
	out->arg.len = z - a;
	const char *arg = out->arg.ptr;
	size_t an = out->arg.len;

	switch (out->verb) {
	case SMTP_V_HELO:
	case SMTP_V_EHLO:
		if (!an) {
			*why = "HELO/EHLO requires a domain or address literal";
			return ERR_MALFORMED;
		}
		/* The name is the first word; some clients append junk after it. */
		for (size_t i = 0; i < an; i++) {
			if (smtp_is_wsp(arg[i])) {
				out->arg.len = i;
				break;
			}
		}
		return 0;
	case SMTP_V_MAIL:
		if (!smtp_prefix_nocase(arg, an, "from:")) {
			*why = "syntax: MAIL FROM:<address>";
			return ERR_MALFORMED;
		}
		return smtp_parse_path(arg + 5, an - 5, out, why);
	case SMTP_V_RCPT:
		if (!smtp_prefix_nocase(arg, an, "to:")) {
			*why = "syntax: RCPT TO:<address>";
			return ERR_MALFORMED;
		}
		if (smtp_parse_path(arg + 3, an - 3, out, why))
			return ERR_MALFORMED;
		if (!out->path.len) {
			*why = "empty recipient";
			return ERR_MALFORMED;
		}
		return 0;
	case SMTP_V_DATA:
	case SMTP_V_STARTTLS:
		if (an) {
			*why = "no parameters allowed";
			return ERR_MALFORMED;
		}
		return 0;
	case SMTP_V_VRFY:
	case SMTP_V_EXPN:
		if (!an) {
			*why = "argument required";
			return ERR_MALFORMED;
		}
		return 0;
	default:
		return 0;
	}
}

/* --- DATA --------------------------------------------------------------------- */

enum {
	DS_START = 0, /* at the start of a line */
	DS_DOT,	      /* the line began with '.' (not yet passed on) */
	DS_DOT_CR,    /* the line began with ".\r" */
	DS_MID,	      /* inside a line */
};

/* RFC 5321 §4.5.3.1.6: 1000 octets per text line, CRLF included. */
#define SMTP_TEXT_LINE_MAX 998

void smtp_data_init(struct smtp_data *d)
{
	memset(d, 0, sizeof *d);
	d->state = DS_START;
}

static void smtp_data_emit(struct smtp_data *d, const uint8_t *p, size_t n, smtp_data_cb cb,
			   void *ctx)
{
	if (!n)
		return;
	if (!d->nul && memchr(p, '\0', n))
		d->nul = true;
	cb(ctx, p, n);
}

size_t smtp_data_feed(struct smtp_data *d, const uint8_t *p, size_t n, bool *done, smtp_data_cb cb,
		      void *ctx)
{
	static const uint8_t cr = '\r';
	size_t i = 0;
	*done = false;
	while (i < n) {
		switch (d->state) {
		case DS_START:
			d->line_len = 0;
			d->last_cr = false;
			if (p[i] == '.') {
				d->state = DS_DOT;
				i++;
			} else {
				d->state = DS_MID;
			}
			break;
		case DS_DOT:
			if (p[i] == '\r') {
				d->state = DS_DOT_CR;
				i++;
			} else if (p[i] == '\n') {
				d->bare_lf = true;
				d->state = DS_START;
				*done = true;
				return i + 1;
			} else {
				/* A transparency dot: removed (§4.5.2); the line goes on. */
				d->line_len = 1;
				d->state = DS_MID;
			}
			break;
		case DS_DOT_CR:
			if (p[i] == '\n') {
				d->state = DS_START;
				*done = true;
				return i + 1;
			}
			/* ".\r" then something else: the dot goes, the CR is message text. */
			smtp_data_emit(d, &cr, 1, cb, ctx);
			d->last_cr = true;
			d->line_len = 2;
			d->state = DS_MID;
			break;
		case DS_MID: {
			const uint8_t *lf = memchr(p + i, '\n', n - i);
			size_t end = lf ? (size_t)(lf - p) + 1 : n;
			size_t take = end - i;
			d->line_len += take;
			if (lf) {
				/* The byte before the LF is in this piece, or ended an earlier one. */
				bool crlf = take >= 2 ? p[end - 2] == '\r' : d->last_cr;
				if (!crlf)
					d->bare_lf = true;
				if (d->line_len - (crlf ? 2 : 1) > SMTP_TEXT_LINE_MAX)
					d->long_line = true;
				d->state = DS_START;
			} else if (d->line_len > SMTP_TEXT_LINE_MAX + 2) {
				d->long_line = true;
			}
			d->last_cr = p[end - 1] == '\r';
			smtp_data_emit(d, p + i, take, cb, ctx);
			i = end;
			break;
		}
		}
	}
	return i;
}

/* --- headers ------------------------------------------------------------------ */

enum {
	HS_LINE_START = 0,
	HS_CR_START, /* a CR at the start of a line: a blank line if LF follows */
	HS_NAME,
	HS_NAME_WSP, /* obsolete "Name :" form */
	HS_VALUE_LEAD,
	HS_VALUE,
	HS_DONE,
};

static const char *const smtp_hdr_names[SMTP_H_COUNT] = {
	[SMTP_H_FROM] = "from",
	[SMTP_H_TO] = "to",
	[SMTP_H_SUBJECT] = "subject",
	[SMTP_H_DATE] = "date",
	[SMTP_H_MESSAGE_ID] = "message-id",
	[SMTP_H_X_MAILER] = "x-mailer",
	[SMTP_H_CONTENT_TYPE] = "content-type",
	[SMTP_H_CTE] = "content-transfer-encoding",
};

void smtp_hdrs_init(struct smtp_hdrs *h)
{
	h->state = HS_LINE_START;
	h->done = false;
	h->malformed = false;
	h->truncated = false;
	h->cur = -1;
	h->name_len = 0;
	h->name_over = false;
	h->pending_space = false;
	h->n_headers = 0;
	h->order_len = 0;
	for (int i = 0; i < SMTP_H_COUNT; i++) {
		h->val_len[i] = 0;
		h->seen[i] = false;
	}
}

struct smtp_slice smtp_hdrs_get(const struct smtp_hdrs *h, enum smtp_hdr_id id)
{
	struct smtp_slice s = { NULL, 0 };
	if ((unsigned)id < SMTP_H_COUNT && h->seen[id]) {
		s.ptr = h->val[id];
		s.len = h->val_len[id];
	}
	return s;
}

/* A field name is complete: note it in the order list and pick the value to keep. */
static void smtp_hdrs_name_done(struct smtp_hdrs *h)
{
	h->cur = -1;
	if (h->n_headers >= SMTP_HDR_COUNT_MAX) {
		h->truncated = true;
		return;
	}
	h->n_headers++;
	size_t need = (size_t)h->name_len + (h->order_len ? 1 : 0);
	if (h->name_over || need > (size_t)SMTP_HDR_ORDER_MAX - h->order_len) {
		h->truncated = true;
	} else {
		if (h->order_len)
			h->order[h->order_len++] = ',';
		memcpy(h->order + h->order_len, h->name, h->name_len);
		h->order_len = (uint16_t)(h->order_len + h->name_len);
	}
	if (h->name_over)
		return;
	for (int i = 0; i < SMTP_H_COUNT; i++) {
		if (!h->seen[i] && smtp_eq_nocase(h->name, h->name_len, smtp_hdr_names[i])) {
			h->seen[i] = true;
			h->cur = (int8_t)i;
			return;
		}
	}
}

static void smtp_hdrs_value_byte(struct smtp_hdrs *h, uint8_t c)
{
	if (h->cur < 0)
		return;
	uint16_t *len = &h->val_len[h->cur];
	char *v = h->val[h->cur];
	size_t need = h->pending_space && *len ? 2 : 1;
	if (need > (size_t)SMTP_HDR_VALUE_MAX - *len) {
		h->truncated = true;
		h->cur = -1;
		return;
	}
	if (h->pending_space && *len)
		v[(*len)++] = ' ';
	h->pending_space = false;
	v[(*len)++] = (char)c;
}

/* The header section ends before byte i (not a header line) or after it (blank line). */
static size_t smtp_hdrs_end(struct smtp_hdrs *h, size_t consumed, bool malformed)
{
	h->state = HS_DONE;
	h->done = true;
	h->cur = -1;
	if (malformed)
		h->malformed = true;
	return consumed;
}

size_t smtp_hdrs_feed(struct smtp_hdrs *h, const uint8_t *p, size_t n)
{
	if (h->state == HS_DONE)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		switch (h->state) {
		case HS_LINE_START:
			if (c == ' ' || c == '\t') {
				if (!h->n_headers)
					return smtp_hdrs_end(h, i, true);
				h->pending_space = true;
				h->state = HS_VALUE;
			} else if (c == '\r') {
				h->state = HS_CR_START;
			} else if (c == '\n') {
				return smtp_hdrs_end(h, i + 1, false);
			} else if (c > 32 && c < 127 && c != ':') {
				h->cur = -1;
				h->name_len = 0;
				h->name_over = false;
				h->name[h->name_len++] = (char)c;
				h->state = HS_NAME;
			} else {
				return smtp_hdrs_end(h, i, true);
			}
			break;
		case HS_CR_START:
			if (c == '\n')
				return smtp_hdrs_end(h, i + 1, false);
			return smtp_hdrs_end(h, i, true);
		case HS_NAME:
			if (c == ':') {
				smtp_hdrs_name_done(h);
				h->pending_space = false;
				h->state = HS_VALUE_LEAD;
			} else if (c == ' ' || c == '\t') {
				h->state = HS_NAME_WSP;
			} else if (c > 32 && c < 127) {
				if (h->name_len < SMTP_HDR_NAME_MAX)
					h->name[h->name_len++] = (char)c;
				else
					h->name_over = true;
			} else {
				/* A line with no colon where a header should be: the body starts. */
				return smtp_hdrs_end(h, i, true);
			}
			break;
		case HS_NAME_WSP:
			if (c == ':') {
				h->malformed = true; /* obs-optional: WSP before the colon */
				smtp_hdrs_name_done(h);
				h->pending_space = false;
				h->state = HS_VALUE_LEAD;
			} else if (c != ' ' && c != '\t') {
				return smtp_hdrs_end(h, i, true);
			}
			break;
		case HS_VALUE_LEAD:
			if (c == '\n')
				h->state = HS_LINE_START;
			else if (c != ' ' && c != '\t' && c != '\r') {
				smtp_hdrs_value_byte(h, c);
				h->state = HS_VALUE;
			}
			break;
		case HS_VALUE:
			if (c == '\n') {
				h->state = HS_LINE_START;
			} else if (c == ' ' || c == '\t') {
				h->pending_space = true;
			} else if (c != '\r') {
				smtp_hdrs_value_byte(h, c);
			}
			break;
		default:
			return i;
		}
	}
	return n;
}

/* --- RFC 2047 encoded words --------------------------------------------------------- */

static int smtp_b64_digit(uint8_t c);

/*
 * One encoded word at in[0..n): "=?charset?X?text?=". Returns its length and
 * appends the decoded text to out, or 0 if it is not a well-formed word.
 */
static size_t smtp_one_word(const char *in, size_t n, char *out, size_t cap, size_t *olen)
{
	if (n < 8 || in[0] != '=' || in[1] != '?')
		return 0;
	size_t i = 2;
	while (i < n && in[i] != '?' && in[i] > ' ' && in[i] < 127)
		i++;
	if (i == 2 || i + 3 >= n || in[i] != '?' || in[i + 2] != '?')
		return 0;
	char enc = (char)(in[i + 1] | 0x20);
	if (enc != 'b' && enc != 'q')
		return 0;
	size_t t0 = i + 3, t = t0;
	while (t + 1 < n && !(in[t] == '?' && in[t + 1] == '=')) {
		if (in[t] <= ' ' || in[t] >= 127)
			return 0; /* encoded text has no spaces or controls */
		t++;
	}
	if (t + 1 >= n)
		return 0;
	size_t start = *olen;
	if (enc == 'q') {
		for (size_t k = t0; k < t; k++) {
			char c = in[k];
			if (c == '_') {
				c = ' ';
			} else if (c == '=') {
				int hi = k + 2 < t ? hex_value((unsigned char)in[k + 1]) : -1;
				int lo = hi >= 0 ? hex_value((unsigned char)in[k + 2]) : -1;
				if (lo < 0) {
					*olen = start;
					return 0;
				}
				c = (char)(hi << 4 | lo);
				k += 2;
			}
			if (*olen < cap)
				out[(*olen)++] = c;
		}
	} else {
		uint32_t acc = 0;
		int bits = 0;
		for (size_t k = t0; k < t; k++) {
			if (in[k] == '=')
				break;
			int v = smtp_b64_digit((uint8_t)in[k]);
			if (v < 0) {
				*olen = start;
				return 0;
			}
			acc = (acc << 6 | (uint32_t)v) & 0xffffff;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				if (*olen < cap)
					out[(*olen)++] = (char)(acc >> bits & 0xff);
			}
		}
	}
	return t + 2;
}

size_t smtp_decode_words(const char *in, size_t n, char *out, size_t cap)
{
	size_t olen = 0, i = 0;
	bool any = false, last_word = false;
	size_t pending_ws = 0; /* white space after a word, kept unless another word follows */
	while (i < n) {
		size_t used = smtp_one_word(in + i, n - i, out, cap, &olen);
		if (used) {
			any = true;
			last_word = true;
			pending_ws = 0;
			i += used;
			continue;
		}
		if (last_word && (in[i] == ' ' || in[i] == '\t')) {
			/* Between two encoded words white space vanishes; elsewhere it stays. */
			size_t j = i;
			while (j < n && (in[j] == ' ' || in[j] == '\t'))
				j++;
			pending_ws = j - i;
			/* A probe: with cap == olen the next word is checked, not written. */
			size_t probe = olen;
			if (j < n && smtp_one_word(in + j, n - j, out, olen, &probe)) {
				i = j;
				continue;
			}
			for (size_t k = 0; k < pending_ws && olen < cap; k++)
				out[olen++] = in[i + k];
			i = j;
			last_word = false;
			continue;
		}
		last_word = false;
		if (olen < cap)
			out[olen++] = in[i];
		i++;
	}
	return any ? olen : 0;
}

/* --- Content-Transfer-Encoding ---------------------------------------------------------- */

/* The first token of a header value, compared without case (leading space skipped). */
static bool smtp_token_is(struct smtp_slice v, const char *tok)
{
	if (!v.ptr)
		return false;
	size_t i = 0;
	while (i < v.len && smtp_is_wsp(v.ptr[i]))
		i++;
	size_t j = i;
	while (j < v.len && !smtp_is_wsp(v.ptr[j]) && v.ptr[j] != ';' && v.ptr[j] != '(')
		j++;
	return smtp_eq_nocase(v.ptr + i, j - i, tok);
}

void smtp_body_dec_init(struct smtp_body_dec *d, struct smtp_slice cte, struct smtp_slice ctype)
{
	memset(d, 0, sizeof *d);
	/* A multipart body's parts carry their own encodings: hashed as sent. */
	if (ctype.ptr) {
		size_t i = 0;
		while (i < ctype.len && smtp_is_wsp(ctype.ptr[i]))
			i++;
		if (smtp_prefix_nocase(ctype.ptr + i, ctype.len - i, "multipart/"))
			return;
	}
	if (smtp_token_is(cte, "quoted-printable"))
		d->cte = SMTP_CTE_QP;
	else if (smtp_token_is(cte, "base64"))
		d->cte = SMTP_CTE_BASE64;
}

enum {
	QP_TEXT = 0,
	QP_EQ,
	QP_EQ_HEX,
	QP_EQ_CR
};

static void smtp_qp_feed(struct smtp_body_dec *d, const uint8_t *p, size_t n, smtp_data_cb cb,
			 void *ctx)
{
	uint8_t out[256];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (k + 3 > sizeof out) {
			cb(ctx, out, k);
			k = 0;
		}
		switch (d->state) {
		case QP_TEXT:
			if (c == '=')
				d->state = QP_EQ;
			else
				out[k++] = c;
			break;
		case QP_EQ:
			if (hex_value(c) >= 0) {
				d->hi = c;
				d->state = QP_EQ_HEX;
			} else if (c == '\r') {
				d->state = QP_EQ_CR; /* soft line break, CRLF */
			} else if (c == '\n') {
				d->state = QP_TEXT; /* soft line break, bare LF */
			} else if (c == ' ' || c == '\t') {
				/* "=" and trailing white space before the line end: still soft */
			} else {
				out[k++] = '=';
				out[k++] = c;
				d->state = QP_TEXT;
			}
			break;
		case QP_EQ_HEX:
			if (hex_value(c) >= 0) {
				out[k++] = (uint8_t)(hex_value(d->hi) << 4 | hex_value(c));
			} else {
				out[k++] = '=';
				out[k++] = d->hi;
				out[k++] = c;
			}
			d->state = QP_TEXT;
			break;
		case QP_EQ_CR:
			d->state = QP_TEXT;
			if (c != '\n')
				i--; /* a lone CR after '=': dropped, the byte is text */
			break;
		}
	}
	if (k)
		cb(ctx, out, k);
}

static int smtp_b64_digit(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void smtp_body_dec_feed(struct smtp_body_dec *d, const uint8_t *p, size_t n, smtp_data_cb cb,
			void *ctx)
{
	if (!n)
		return;
	if (d->cte == SMTP_CTE_QP) {
		smtp_qp_feed(d, p, n, cb, ctx);
		return;
	}
	if (d->cte != SMTP_CTE_BASE64) {
		cb(ctx, p, n);
		return;
	}
	uint8_t out[192];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int v = smtp_b64_digit(p[i]);
		if (v < 0)
			continue; /* line breaks, padding, junk */
		d->acc = (d->acc << 6 | (uint32_t)v) & 0xffffff;
		d->bits = (uint8_t)(d->bits + 6);
		if (d->bits >= 8) {
			d->bits = (uint8_t)(d->bits - 8);
			out[k++] = (uint8_t)(d->acc >> d->bits & 0xff);
			if (k == sizeof out) {
				cb(ctx, out, k);
				k = 0;
			}
		}
	}
	if (k)
		cb(ctx, out, k);
}
