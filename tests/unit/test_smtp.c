/* test_smtp.c — unit tests for the SMTP parsers (commands, DATA, headers), campaign clustering and SMTP rules. */
#include <fuzzy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "core/err.h"
#include "core/rules.h"
#include "proto/smtp/smtp_campaign.h"
#include "proto/smtp/smtp_parse.h"
#include "proto/smtp/smtp_templates.h"

/* --- commands ----------------------------------------------------------------- */

struct cmd_vec {
	const char *line;
	int rc;
	enum smtp_verb verb;
	const char *path;   /* NULL: not checked */
	const char *domain; /* NULL: absent */
	bool lenient;
	long long size; /* -1: none */
	enum smtp_body_type body;
};

static void test_commands(void)
{
	static const struct cmd_vec v[] = {
		{ "EHLO bot.example", 0, SMTP_V_EHLO, NULL, NULL, false, -1, 0 },
		{ "helo [192.0.2.1] extra words", 0, SMTP_V_HELO, NULL, NULL, false, -1, 0 },
		{ "HELO", ERR_MALFORMED, SMTP_V_HELO, NULL, NULL, false, -1, 0 },
		{ "MAIL FROM:<a@b.example>", 0, SMTP_V_MAIL, "a@b.example", "b.example", false, -1,
		  0 },
		{ "mail from:<>", 0, SMTP_V_MAIL, "", NULL, false, -1, 0 },
		{ "MAIL FROM: <x@y.example>", 0, SMTP_V_MAIL, "x@y.example", "y.example", true, -1,
		  0 },
		{ "MAIL FROM:x@y.example SIZE=100", 0, SMTP_V_MAIL, "x@y.example", "y.example",
		  true, 100, 0 },
		{ "MAIL FROM:<a@b> SIZE=12345 BODY=8BITMIME", 0, SMTP_V_MAIL, "a@b", "b", false,
		  12345, SMTP_BODY_8BITMIME },
		{ "MAIL FROM:<a@b> body=7bit", 0, SMTP_V_MAIL, "a@b", "b", false, -1,
		  SMTP_BODY_7BIT },
		{ "MAIL FROM:<a@b> BODY=BINARYMIME", ERR_MALFORMED, SMTP_V_MAIL, NULL, NULL, false,
		  -1, 0 },
		{ "MAIL FROM:<a@b> SIZE=99999999999999999999999", ERR_MALFORMED, SMTP_V_MAIL, NULL,
		  NULL, false, -1, 0 },
		{ "MAIL FROM:<a@b> SIZE=", ERR_MALFORMED, SMTP_V_MAIL, NULL, NULL, false, -1, 0 },
		{ "MAIL FROM:<@relay.example:u@d.example>", 0, SMTP_V_MAIL, "u@d.example",
		  "d.example", false, -1, 0 },
		{ "MAIL FROM:<\"a>b\"@q.example>", 0, SMTP_V_MAIL, "\"a>b\"@q.example", "q.example",
		  false, -1, 0 },
		{ "MAIL FROM:<unterminated", ERR_MALFORMED, SMTP_V_MAIL, NULL, NULL, false, -1, 0 },
		{ "MAIL TO:<a@b>", ERR_MALFORMED, SMTP_V_MAIL, NULL, NULL, false, -1, 0 },
		{ "MAIL FROM:", ERR_MALFORMED, SMTP_V_MAIL, NULL, NULL, false, -1, 0 },
		{ "RCPT TO:<victim@mx.example>", 0, SMTP_V_RCPT, "victim@mx.example", "mx.example",
		  false, -1, 0 },
		{ "RCPT TO:<>", ERR_MALFORMED, SMTP_V_RCPT, NULL, NULL, false, -1, 0 },
		{ "RCPT TO:<postmaster>", 0, SMTP_V_RCPT, "postmaster", NULL, false, -1, 0 },
		{ "DATA", 0, SMTP_V_DATA, NULL, NULL, false, -1, 0 },
		{ "DATA now", ERR_MALFORMED, SMTP_V_DATA, NULL, NULL, false, -1, 0 },
		{ "data   ", 0, SMTP_V_DATA, NULL, NULL, false, -1, 0 },
		{ "RSET", 0, SMTP_V_RSET, NULL, NULL, false, -1, 0 },
		{ "NOOP anything", 0, SMTP_V_NOOP, NULL, NULL, false, -1, 0 },
		{ "QUIT", 0, SMTP_V_QUIT, NULL, NULL, false, -1, 0 },
		{ "VRFY root", 0, SMTP_V_VRFY, NULL, NULL, false, -1, 0 },
		{ "VRFY", ERR_MALFORMED, SMTP_V_VRFY, NULL, NULL, false, -1, 0 },
		{ "STARTTLS", 0, SMTP_V_STARTTLS, NULL, NULL, false, -1, 0 },
		{ "XYZZY", 0, SMTP_V_UNKNOWN, NULL, NULL, false, -1, 0 },
		{ "", 0, SMTP_V_UNKNOWN, NULL, NULL, false, -1, 0 },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct smtp_cmd c;
		const char *why = NULL;
		size_t n = strlen(v[i].line);
		/* An exact-size copy: the parser must not read past the slice. */
		char *line = malloc(n ? n : 1);
		memcpy(line, v[i].line, n);
		int rc = smtp_parse_cmd(line, n, &c, &why);
		if (rc != v[i].rc || c.verb != v[i].verb)
			fprintf(stderr, "vector %zu: \"%s\"\n", i, v[i].line);
		CHECK_INT(rc, v[i].rc);
		CHECK_INT(c.verb, v[i].verb);
		CHECK(rc == 0 || why != NULL);
		if (rc == 0 && v[i].path)
			CHECK_SLICE(c.path.ptr, c.path.len, v[i].path);
		if (rc == 0 && (v[i].verb == SMTP_V_MAIL || v[i].verb == SMTP_V_RCPT)) {
			if (v[i].domain)
				CHECK_SLICE(c.domain.ptr, c.domain.len, v[i].domain);
			else
				CHECK(c.domain.ptr == NULL);
			CHECK_INT(c.lenient, v[i].lenient);
			CHECK_INT(c.has_size ? (long long)c.size : -1, v[i].size);
			CHECK_INT(c.body, v[i].body);
		}
		free(line);
	}
	/* A NUL anywhere in the line is refused. */
	struct smtp_cmd c;
	const char *why = NULL;
	CHECK_INT(smtp_parse_cmd("HELO a\0b", 8, &c, &why), ERR_MALFORMED);
	CHECK(why != NULL);
	CHECK_STR(smtp_verb_name(SMTP_V_STARTTLS), "STARTTLS");
}

static void test_line_find(void)
{
	size_t ll, tl;
	CHECK_INT(smtp_line_find((const uint8_t *)"QUIT\r\nX", 7, &ll, &tl), 0);
	CHECK_INT(ll, 4);
	CHECK_INT(tl, 2);
	CHECK_INT(smtp_line_find((const uint8_t *)"QUIT\nX", 6, &ll, &tl), 0);
	CHECK_INT(ll, 4);
	CHECK_INT(tl, 1);
	CHECK_INT(smtp_line_find((const uint8_t *)"\n", 1, &ll, &tl), 0);
	CHECK_INT(ll, 0);
	CHECK_INT(smtp_line_find((const uint8_t *)"QUIT\r", 5, &ll, &tl), ERR_NEED_MORE);
}

/* --- DATA --------------------------------------------------------------------- */

struct sink {
	char buf[4096];
	size_t len;
};

static void sink_cb(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;
	if (n > sizeof s->buf - s->len)
		n = sizeof s->buf - s->len;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* Feeds `in` in pieces of `step` bytes (0: all at once); returns bytes consumed in all. */
static size_t data_run(const char *in, size_t n, size_t step, struct sink *out, struct smtp_data *d,
		       bool *done)
{
	smtp_data_init(d);
	out->len = 0;
	size_t off = 0;
	*done = false;
	while (off < n && !*done) {
		size_t k = step && step < n - off ? step : n - off;
		size_t used = smtp_data_feed(d, (const uint8_t *)in + off, k, done, sink_cb, out);
		CHECK(used <= k);
		off += used;
		if (used < k && !*done) {
			/* Only a possible terminator start may be held back: never with step 1. */
			CHECK(step != 1);
			break;
		}
	}
	return off;
}

static void test_data(void)
{
	static const struct {
		const char *in, *out;
		size_t consumed; /* where the terminator ends */
		bool bare_lf, long_line, nul;
	} v[] = {
		{ "Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n", "Subject: x\r\n\r\nhello\r\n", 24,
		  false, false, false },
		{ "..leading dot\r\n.\r\n", ".leading dot\r\n", 18, false, false, false },
		{ "a\r\n..\r\n...\r\n.\r\n", "a\r\n.\r\n..\r\n", 15, false, false, false },
		{ "bare\nlf\n.\n", "bare\nlf\n", 10, true, false, false },
		{ ".\r\n", "", 3, false, false, false },
		{ ".x\r\n.\r\n", "x\r\n", 7, false, false, false },
		{ ".\rx\r\n.\r\n", "\rx\r\n", 8, false, false, false },
		{ "nul\0byte\r\n.\r\n", "nul\0byte\r\n", 13, false, false, true },
		{ "x.\r\n.\r\n", "x.\r\n", 7, false, false, false },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		size_t n = v[i].consumed;
		/* Include what follows the terminator, which must not be consumed. */
		size_t total = n;
		while (v[i].in[total] || total < n)
			total++;
		size_t out_len = 0;
		while (v[i].out[out_len] || (i == 7 && out_len < 10))
			out_len++;
		for (size_t step = 0; step <= 3; step++) {
			struct sink s;
			struct smtp_data d;
			bool done;
			size_t used = data_run(v[i].in, total, step, &s, &d, &done);
			if (!done || used != n)
				fprintf(stderr, "data vector %zu step %zu\n", i, step);
			CHECK(done);
			CHECK_INT(used, n);
			CHECK_INT(s.len, out_len);
			CHECK(s.len == out_len && !memcmp(s.buf, v[i].out, out_len));
			CHECK_INT(d.bare_lf, v[i].bare_lf);
			CHECK_INT(d.nul, v[i].nul);
			CHECK_INT(d.long_line, v[i].long_line);
		}
	}
	/* A line of 2000 bytes is flagged long and passed through whole, byte by byte too. */
	char big[2100];
	memset(big, 'a', 2000);
	memcpy(big + 2000, "\r\n.\r\n", 5);
	for (size_t step = 0; step <= 7; step += 7) {
		struct sink s;
		struct smtp_data d;
		bool done;
		size_t used = data_run(big, 2005, step, &s, &d, &done);
		CHECK(done);
		CHECK_INT(used, 2005);
		CHECK_INT(s.len, 2002);
		CHECK(d.long_line);
		CHECK(!d.bare_lf);
	}
	/* Without the terminator everything is consumed and nothing is held. */
	struct sink s;
	struct smtp_data d;
	bool done;
	CHECK_INT(data_run("no end\r\nstill none\r\n", 20, 0, &s, &d, &done), 20);
	CHECK(!done);
	CHECK_INT(s.len, 20);
}

/* --- headers ------------------------------------------------------------------- */

static void hdrs_run(struct smtp_hdrs *h, const char *msg, size_t n, size_t step, size_t *hdr_len)
{
	smtp_hdrs_init(h);
	size_t off = 0;
	*hdr_len = 0;
	while (off < n) {
		size_t k = step && step < n - off ? step : n - off;
		size_t used = smtp_hdrs_feed(h, (const uint8_t *)msg + off, k);
		*hdr_len += used;
		if (used < k) {
			CHECK(h->done);
			break;
		}
		off += k;
	}
}

static void test_headers(void)
{
	const char *msg = "Received: from x\r\n\tby y\r\n"
			  "From: \"Pharmacy\" <sales@pharma.example>\r\n"
			  "To: bob@victim.example\r\n"
			  "Subject: Dear bob\r\n  -80% now\r\n"
			  "Date: Mon, 14 Mar 2011 10:00:00 +0000\r\n"
			  "Message-ID: <123@x>\r\n"
			  "X-Mailer: Microsoft Outlook Express 6.00.2900.2180\r\n"
			  "Content-Type: text/html;\r\n charset=\"us-ascii\"\r\n"
			  "Subject: second subject ignored\r\n"
			  "\r\n"
			  "Body: is not a header\r\n";
	size_t n = strlen(msg);
	size_t body = strlen("Body: is not a header\r\n");
	for (size_t step = 0; step <= 5; step++) {
		struct smtp_hdrs *h = malloc(sizeof *h);
		size_t hl;
		hdrs_run(h, msg, n, step, &hl);
		CHECK(h->done);
		CHECK_INT(hl, n - body);
		CHECK(!h->malformed);
		struct smtp_slice s = smtp_hdrs_get(h, SMTP_H_FROM);
		CHECK_SLICE(s.ptr, s.len, "\"Pharmacy\" <sales@pharma.example>");
		s = smtp_hdrs_get(h, SMTP_H_SUBJECT);
		CHECK_SLICE(s.ptr, s.len, "Dear bob -80% now");
		s = smtp_hdrs_get(h, SMTP_H_X_MAILER);
		CHECK_SLICE(s.ptr, s.len, "Microsoft Outlook Express 6.00.2900.2180");
		s = smtp_hdrs_get(h, SMTP_H_CONTENT_TYPE);
		CHECK_SLICE(s.ptr, s.len, "text/html; charset=\"us-ascii\"");
		s = smtp_hdrs_get(h, SMTP_H_MESSAGE_ID);
		CHECK_SLICE(s.ptr, s.len, "<123@x>");
		CHECK_SLICE(h->order, h->order_len,
			    "Received,From,To,Subject,Date,Message-ID,X-Mailer,Content-Type,"
			    "Subject");
		CHECK_INT(h->n_headers, 9);
		free(h);
	}
	/* Bare LF headers; a line without a colon starts the body and is flagged. */
	struct smtp_hdrs *h = malloc(sizeof *h);
	size_t hl;
	hdrs_run(h, "Subject: a\nX-Mailer: b\nno colon here\nmore\n", 42, 0, &hl);
	CHECK(h->done);
	CHECK(h->malformed);
	struct smtp_slice s = smtp_hdrs_get(h, SMTP_H_X_MAILER);
	CHECK_SLICE(s.ptr, s.len, "b");
	CHECK(smtp_hdrs_get(h, SMTP_H_DATE).ptr == NULL);
	/* A message with no headers at all: the body begins at once. */
	hdrs_run(h, "\r\nbody\r\n", 8, 0, &hl);
	CHECK(h->done);
	CHECK_INT(hl, 2);
	CHECK_INT(h->n_headers, 0);
	/* Values and the order list are capped, and the cap is reported. */
	char *big = malloc(20000);
	size_t k = 0;
	k += (size_t)snprintf(big, 100, "Subject: ");
	memset(big + k, 's', 1000);
	k += 1000;
	for (int i = 0; i < 600; i++)
		k += (size_t)snprintf(big + k, 20000 - k, "\r\nX-H%d: v", i);
	memcpy(big + k, "\r\n\r\n", 4);
	k += 4;
	hdrs_run(h, big, k, 0, &hl);
	CHECK(h->done);
	CHECK(h->truncated);
	CHECK_INT(hl, k);
	s = smtp_hdrs_get(h, SMTP_H_SUBJECT);
	CHECK_INT(s.len, SMTP_HDR_VALUE_MAX);
	CHECK(h->order_len <= SMTP_HDR_ORDER_MAX);
	CHECK_INT(h->n_headers, SMTP_HDR_COUNT_MAX);
	free(big);
	free(h);
}

static void test_encoded_words(void)
{
	static const struct {
		const char *in, *out; /* out NULL: nothing to decode */
	} v[] = {
		{ "=?utf-8?B?RGVhciBib2IgLTgwJSBub3c=?=", "Dear bob -80% now" },
		{ "=?iso-8859-1?Q?Dear_bob_-80=25_now?=", "Dear bob -80% now" },
		{ "Hello =?utf-8?Q?w=C3=B6rld?= !", "Hello w\xc3\xb6rld !" },
		{ "=?utf-8?B?YQ==?= =?utf-8?B?Yg==?=", "ab" },
		{ "=?utf-8?B?YQ==?=\t \t=?UTF-8?q?b?= c", "ab c" },
		{ "=?utf-8?Q?a?= plain", "a plain" },
		{ "plain text", NULL },
		{ "=?bad", NULL },
		{ "=?utf-8?X?abc?=", NULL },
		{ "=?utf-8?Q?a=ZZ?=", NULL },
		{ "=?utf-8?B?YW!i?=", NULL },
		{ "=??B?YQ==?=", NULL },
		{ "x =?utf-8?B?YQ==?= =?bad?= y", "x a =?bad?= y" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[64];
		size_t n = strlen(v[i].in);
		char *in = malloc(n); /* exact size: no NUL to lean on */
		memcpy(in, v[i].in, n);
		size_t got = smtp_decode_words(in, n, out, sizeof out);
		if (v[i].out)
			CHECK_SLICE(out, got, v[i].out);
		else
			CHECK_INT(got, 0);
		free(in);
	}
	/* The output is capped. */
	char small[4];
	CHECK_INT(smtp_decode_words("=?utf-8?Q?abcdefgh?=", 20, small, sizeof small), 4);
	CHECK(!memcmp(small, "abcd", 4));
}

/* --- campaigns ----------------------------------------------------------------- */

static char *digest_of(const char *body, char *out)
{
	struct smtp_fuzzy f;
	CHECK_INT(smtp_fuzzy_init(&f), 0);
	/* Fed in uneven pieces: the digest must not depend on how the body arrived. */
	size_t n = strlen(body);
	for (size_t off = 0; off < n;) {
		size_t k = 1 + off % 97;
		if (k > n - off)
			k = n - off;
		smtp_fuzzy_update(&f, (const uint8_t *)body + off, k);
		off += k;
	}
	CHECK_INT(smtp_fuzzy_digest(&f, out), 0);
	smtp_fuzzy_free(&f);
	return out;
}

/*
 * The proof: messages from 5 templates with random per-recipient
 * variation fall into exactly 5 campaign clusters, each template into one.
 */
static void test_campaigns(void)
{
	for (unsigned seed = 1; seed <= 3; seed++) {
		struct smtp_campaigns *t;
		CHECK_INT(smtp_campaigns_new(1024, 60, &t), 0);
		char keys[SMTP_TEMPLATES][SMTP_CAMPAIGN_KEY_LEN + 1];
		memset(keys, 0, sizeof keys);
		uint64_t rng = seed * 0x9e3779b97f4a7c15ull;
		int low = 100;
		for (int i = 0; i < 400; i++) {
			char body[8192], digest[SMTP_CAMPAIGN_DIGEST_MAX];
			char key[SMTP_CAMPAIGN_KEY_LEN + 1];
			int score;
			unsigned tpl = (unsigned)(smtp_template_rand(&rng) % SMTP_TEMPLATES);
			smtp_template_render(tpl, &rng, body, sizeof body);
			smtp_campaign_assign(t, digest_of(body, digest), key, &score);
			if (score < low)
				low = score;
			if (!keys[tpl][0])
				memcpy(keys[tpl], key, sizeof key);
			if (strcmp(keys[tpl], key))
				fprintf(stderr, "seed %u template %u: %s vs %s (%s)\n", seed, tpl,
					keys[tpl], key, digest);
			CHECK_STR(keys[tpl], key);
		}
		CHECK_INT(smtp_campaigns_count(t), SMTP_TEMPLATES);
		for (int a = 0; a < SMTP_TEMPLATES; a++)
			for (int b = a + 1; b < SMTP_TEMPLATES; b++)
				CHECK(strcmp(keys[a], keys[b]) != 0);
		fprintf(stderr, "seed %u: lowest joining score %d\n", seed, low);
		smtp_campaigns_free(t);
	}
	/* The table is bounded: the least recently matched campaign makes room. */
	struct smtp_campaigns *t;
	CHECK_INT(smtp_campaigns_new(2, 60, &t), 0);
	char k1[17], k2[17], k3[17], k4[17];
	int sc;
	CHECK(smtp_campaign_assign(t, "3:abcdefghijkl:abc", k1, &sc));
	CHECK(smtp_campaign_assign(t, "3:zyxwvutsrqpo:zyx", k2, &sc));
	CHECK(!smtp_campaign_assign(t, "3:abcdefghijkl:abc", k3, &sc));
	CHECK_STR(k1, k3);
	CHECK(smtp_campaign_assign(t, "3:mnopqrstuvwx:mno", k4, &sc));
	CHECK_INT(smtp_campaigns_count(t), 2);
	CHECK(!smtp_campaign_assign(t, "3:abcdefghijkl:abc", k3, &sc));
	CHECK(smtp_campaign_assign(t, "3:zyxwvutsrqpo:zyx", k3, &sc)); /* evicted: founded again */
	smtp_campaigns_free(t);
}

struct dec_sink {
	char buf[8192];
	size_t len;
};

static void dec_cb(void *ctx, const uint8_t *p, size_t n)
{
	struct dec_sink *s = ctx;
	CHECK(n <= sizeof s->buf - s->len);
	if (n > sizeof s->buf - s->len)
		n = sizeof s->buf - s->len;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void dec_run(const char *cte, const char *ctype, const char *in, size_t step,
		    struct dec_sink *out)
{
	struct smtp_body_dec d;
	struct smtp_slice c1 = { cte, cte ? strlen(cte) : 0 };
	struct smtp_slice c2 = { ctype, ctype ? strlen(ctype) : 0 };
	smtp_body_dec_init(&d, c1, c2);
	out->len = 0;
	size_t n = strlen(in);
	for (size_t off = 0; off < n;) {
		size_t k = step && step < n - off ? step : n - off;
		smtp_body_dec_feed(&d, (const uint8_t *)in + off, k, dec_cb, out);
		off += k;
	}
}

/* Transfer encodings are undone before ssdeep, whichever way the bytes arrive. */
static void test_body_decoding(void)
{
	static const struct {
		const char *cte, *ctype, *in, *out;
	} v[] = {
		{ "quoted-printable", NULL, "Dear bob =E2=80=94 -80% now=\r\nand more =3D x\r\n",
		  "Dear bob \xe2\x80\x94 -80% nowand more = x\r\n" },
		{ " Quoted-Printable (comment)", "text/plain",
		  "soft=\nbreak =zz end=", "softbreak =zz end" },
		{ "base64", NULL, "RGVhciBib2Ig\r\nLTgwJSBub3c=\r\n", "Dear bob -80% now" },
		{ "BASE64", "text/html; charset=utf-8", "RGVh!!ciBi\nb2I=", "Dear bob" },
		{ "base64", "multipart/alternative; boundary=x", "RGVh", "RGVh" },
		{ "7bit", NULL, "plain =41 text", "plain =41 text" },
		{ NULL, NULL, "plain", "plain" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		for (size_t step = 0; step <= 3; step++) {
			struct dec_sink out;
			dec_run(v[i].cte, v[i].ctype, v[i].in, step, &out);
			if (out.len != strlen(v[i].out) || memcmp(out.buf, v[i].out, out.len))
				fprintf(stderr, "decoding vector %zu step %zu\n", i, step);
			CHECK_SLICE(out.buf, out.len, v[i].out);
		}
	}
	/* One template, three encodings: one campaign digest. */
	uint64_t rng = 42;
	char body[4096];
	size_t n = smtp_template_render(0, &rng, body, sizeof body);
	static char b64[8192], qp[12288];
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t bl = 0, ql = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)(uint8_t)body[i] << 16;
		if (i + 1 < n)
			w |= (uint32_t)(uint8_t)body[i + 1] << 8;
		if (i + 2 < n)
			w |= (uint8_t)body[i + 2];
		b64[bl++] = tab[w >> 18];
		b64[bl++] = tab[w >> 12 & 63];
		b64[bl++] = i + 1 < n ? tab[w >> 6 & 63] : '=';
		b64[bl++] = i + 2 < n ? tab[w & 63] : '=';
		if (i % 57 == 54) {
			b64[bl++] = '\r';
			b64[bl++] = '\n';
		}
	}
	b64[bl] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)body[i];
		if (c == '=' || c == '%' || (i % 60 == 59 && c != '\r' && c != '\n'))
			ql += (size_t)snprintf(qp + ql, sizeof qp - ql, "=%02X", c);
		else
			qp[ql++] = (char)c;
		if (i % 70 == 69 && c != '\r' && c != '\n') {
			memcpy(qp + ql, "=\r\n", 3); /* a soft line break */
			ql += 3;
		}
	}
	qp[ql] = '\0';
	char want[SMTP_CAMPAIGN_DIGEST_MAX], got[SMTP_CAMPAIGN_DIGEST_MAX];
	CHECK_STR(digest_of(body, want), digest_of(body, got));
	const char *enc[][2] = { { "base64", b64 }, { "quoted-printable", qp } };
	for (int e = 0; e < 2; e++) {
		struct dec_sink out;
		dec_run(enc[e][0], "text/plain", enc[e][1], 61, &out);
		out.buf[out.len < sizeof out.buf ? out.len : sizeof out.buf - 1] = '\0';
		CHECK_INT(out.len, n);
		CHECK_STR(digest_of(out.buf, got), want);
	}
}

/* The digest does not depend on the path: staging buffer, incremental state or the cache. */
static void test_digest_paths(void)
{
	static char body[20000];
	for (size_t i = 0; i < sizeof body - 1; i++)
		body[i] = (char)('a' + (i * 7 + i / 13) % 26); /* already normalised text */
	for (size_t n = 100; n < sizeof body; n = n * 3 + 7) {
		char want[SMTP_CAMPAIGN_DIGEST_MAX], got[SMTP_CAMPAIGN_DIGEST_MAX];
		CHECK_INT(fuzzy_hash_buf((const unsigned char *)body, (uint32_t)n, want), 0);
		struct smtp_fuzzy f;
		smtp_fuzzy_init(&f);
		for (size_t off = 0; off < n; off += 333)
			smtp_fuzzy_update(&f, (const uint8_t *)body + off,
					  n - off < 333 ? n - off : 333);
		CHECK_INT(smtp_fuzzy_digest(&f, got), 0);
		CHECK_STR(got, want);
		smtp_fuzzy_free(&f);
	}
	struct smtp_campaigns *t;
	CHECK_INT(smtp_campaigns_new(4, 60, &t), 0);
	for (int round = 0; round < 3; round++) {
		for (int v = 0; v < 3; v++) {
			char text[600], a[SMTP_CAMPAIGN_DIGEST_MAX], b[SMTP_CAMPAIGN_DIGEST_MAX];
			snprintf(text, sizeof text, "%.*s variant %c", 400 + v * 50, body, 'x' + v);
			struct smtp_fuzzy f1, f2;
			smtp_fuzzy_init(&f1);
			smtp_fuzzy_init(&f2);
			smtp_fuzzy_update(&f1, (const uint8_t *)text, strlen(text));
			smtp_fuzzy_update(&f2, (const uint8_t *)text, strlen(text));
			CHECK_INT(smtp_fuzzy_digest(&f1, a), 0);
			CHECK_INT(smtp_campaign_digest(t, &f2, b),
				  0); /* rounds 1, 2: from the cache */
			CHECK_STR(b, a);
			smtp_fuzzy_free(&f1);
			smtp_fuzzy_free(&f2);
		}
	}
	smtp_campaigns_free(t);
}

/* Workers share one table per listener: concurrent assignment stays consistent (TSan runs this). */
struct assign_arg {
	struct smtp_campaigns *t;
	unsigned seed;
	int failures; /* CHECK's counters are not for threads: counted here, checked after */
	char keys[SMTP_TEMPLATES][SMTP_CAMPAIGN_KEY_LEN + 1];
};

static void *assign_thread(void *p)
{
	struct assign_arg *a = p;
	uint64_t rng = a->seed * 0x2545f4914f6cdd1dull + 1;
	for (int i = 0; i < 100; i++) {
		char body[8192], digest[SMTP_CAMPAIGN_DIGEST_MAX];
		int score;
		unsigned tpl = (unsigned)(smtp_template_rand(&rng) % SMTP_TEMPLATES);
		size_t n = smtp_template_render(tpl, &rng, body, sizeof body);
		struct smtp_fuzzy f;
		smtp_fuzzy_init(&f);
		smtp_fuzzy_update(&f, (const uint8_t *)body, n);
		/* Through the shared digest cache too, as the workers do. */
		if (smtp_campaign_digest(a->t, &f, digest) != 0)
			a->failures++;
		smtp_fuzzy_free(&f);
		char key[SMTP_CAMPAIGN_KEY_LEN + 1];
		smtp_campaign_assign(a->t, digest, key, &score);
		if (a->keys[tpl][0] && strcmp(a->keys[tpl], key))
			a->failures++;
		memcpy(a->keys[tpl], key, sizeof key);
	}
	return NULL;
}

static void test_campaign_threads(void)
{
	struct smtp_campaigns *t;
	CHECK_INT(smtp_campaigns_new(64, 60, &t), 0);
	struct assign_arg args[4];
	pthread_t th[4];
	for (unsigned i = 0; i < 4; i++) {
		memset(&args[i], 0, sizeof args[i]);
		args[i].t = t;
		args[i].seed = i + 1;
		CHECK_INT(pthread_create(&th[i], NULL, assign_thread, &args[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < 4; i++)
		CHECK_INT(args[i].failures, 0);
	CHECK_INT(smtp_campaigns_count(t), SMTP_TEMPLATES);
	/* Every thread saw the same key for each template. */
	for (unsigned i = 1; i < 4; i++)
		for (int k = 0; k < SMTP_TEMPLATES; k++)
			if (args[i].keys[k][0] && args[0].keys[k][0])
				CHECK_STR(args[i].keys[k], args[0].keys[k]);
	smtp_campaigns_free(t);
}

/* --- rules ----------------------------------------------------------------------- */

static void test_rules(void)
{
	const char *yaml =
		"listen: [ { proto: smtp, addr: \"127.0.0.1:2525\" } ]\n"
		"families:\n"
		"  - name: rustock\n    tag: subject\n"
		"    match: { proto: smtp, subject: { regex: \"^Dear [^ ]+ -[0-9]+% now$\" } }\n"
		"  - name: spammer\n    tag: helo\n"
		"    match: { helo: { suffix: bots.example } }\n"
		"  - name: spammer\n    tag: from\n"
		"    match: { mail_from: { suffix: pharma.example } }\n"
		"  - name: spammer\n    tag: mailer\n"
		"    match: { x_mailer: { contains: \"the bat\", nocase: true } }\n"
		"  - name: spammer\n    tag: order\n"
		"    match: { header_order: { prefix: \"Received,Message-Id,From\" } }\n"
		"  - name: spammer\n    tag: campaign\n"
		"    match: { campaign: [ 0123456789abcdef ] }\n";
	struct config *cfg = NULL;
	char err[512];
	CHECK_INT(config_load_string(yaml, strlen(yaml), "s.yaml", &cfg, err, sizeof err), 0);
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_INT(cfg->listeners[0].proto, CONFIG_PROTO_SMTP);
	CHECK(!cfg->listeners[0].defer_accept);
	CHECK_STR(cfg->listeners[0].smtp.hostname, "mx.sinkhole.invalid");
	struct rules *r = NULL;
	CHECK_INT(rules_compile(cfg, &r, err, sizeof err), 0);
	struct {
		const char *helo, *from_domain, *subject, *mailer, *order, *campaign;
		const char *tag; /* NULL: unknown */
	} v[] = {
		{ NULL, NULL, "Dear bob -80% now", NULL, NULL, NULL, "subject" },
		{ NULL, NULL, "Dear bob -80% later", NULL, NULL, NULL, NULL },
		{ "host1.BOTS.example", NULL, NULL, NULL, NULL, NULL, "helo" },
		{ "notbots.example", NULL, NULL, NULL, NULL, NULL, NULL },
		{ NULL, "mail.pharma.example", NULL, NULL, NULL, NULL, "from" },
		{ NULL, NULL, NULL, "The Bat! (v3.0)", NULL, NULL, "mailer" },
		{ NULL, NULL, NULL, NULL, "Received,Message-Id,From,To", NULL, "order" },
		{ NULL, NULL, NULL, NULL, "Received,From", NULL, NULL },
		{ NULL, NULL, NULL, NULL, NULL, "0123456789abcdef", "campaign" },
		{ NULL, NULL, NULL, NULL, NULL, "0123456789abcdee", NULL },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct rules_input in = { .proto = CONFIG_PROTO_SMTP, .listener = "x" };
#define SL(f)                                                                                      \
	in.f.ptr = v[i].f;                                                                         \
	in.f.len = v[i].f ? strlen(v[i].f) : 0
		SL(helo);
		SL(subject);
		SL(campaign);
		in.mail_from.ptr = v[i].from_domain;
		in.mail_from.len = v[i].from_domain ? strlen(v[i].from_domain) : 0;
		in.x_mailer.ptr = v[i].mailer;
		in.x_mailer.len = v[i].mailer ? strlen(v[i].mailer) : 0;
		in.header_order.ptr = v[i].order;
		in.header_order.len = v[i].order ? strlen(v[i].order) : 0;
#undef SL
		const struct rules_family *f = rules_classify(r, &in);
		if (v[i].tag)
			CHECK_STR(f->tag, v[i].tag);
		else
			CHECK_STR(f->name, "unknown");
	}
	/* An HTTP request never meets an SMTP condition. */
	struct rules_input http = { .proto = CONFIG_PROTO_HTTP, .listener = "x" };
	CHECK_STR(rules_classify(r, &http)->name, "unknown");
	rules_free(r);
	config_free(cfg);

	/* smtp: belongs to smtp listeners. */
	const char *bad =
		"listen: [ { proto: http, addr: \"127.0.0.1:1\", smtp: { max_recipients: 5 } } ]\n";
	CHECK_INT(config_load_string(bad, strlen(bad), "b.yaml", &cfg, err, sizeof err),
		  ERR_CONFIG);
	CHECK(strstr(err, "smtp") != NULL);
}

/* The bundled takedown's spam-side rules (examples/rustock.yaml). */
static void test_rustock_example(void)
{
	struct config *cfg = NULL;
	struct rules *r = NULL;
	char err[512];
	int rc = config_load("../examples/rustock.yaml", &cfg, err, sizeof err);
	if (!rc)
		rc = rules_compile(cfg, &r, err, sizeof err);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "rustock.yaml: %s\n", err);
		config_free(cfg);
		return;
	}
	static const struct {
		const char *subject, *want;
	} v[] = {
		{ "Dear bob -80% now", "rustock/spam-subject" },
		{ "Dear alice.smith -5% now", "rustock/spam-subject" },
		{ "Dear bob -80% later", "unknown" },
		{ "dear bob -80% now", "unknown" },
		{ "Your Canadian Pharmacy order", "rustock/pharma-campaign" },
		{ "PHARMACY EXPRESS: -70% on everything", "rustock/pharma-campaign" },
		{ "Microsoft International Lottery: winning notice", "rustock/lottery-campaign" },
		{ "Meeting notes", "unknown" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct rules_input in = { .proto = CONFIG_PROTO_SMTP, .listener = "smtp-trap" };
		in.subject.ptr = v[i].subject;
		in.subject.len = strlen(v[i].subject);
		const struct rules_family *f = rules_classify(r, &in);
		char got[96];
		snprintf(got, sizeof got, "%s%s%s", f->name, f->tag ? "/" : "",
			 f->tag ? f->tag : "");
		CHECK_STR(got, v[i].want);
	}
	/* A seized C&C host name in an SMTP event means nothing: no HTTP rule fires. */
	struct rules_input in = { .proto = CONFIG_PROTO_SMTP, .listener = "smtp-trap" };
	in.helo.ptr = "onlinescannow.com";
	in.helo.len = strlen(in.helo.ptr);
	CHECK_STR(rules_classify(r, &in)->name, "unknown");
	rules_free(r);
	config_free(cfg);
}

int main(void)
{
	test_commands();
	test_line_find();
	test_data();
	test_headers();
	test_encoded_words();
	test_campaigns();
	test_digest_paths();
	test_body_decoding();
	test_campaign_threads();
	test_rules();
	test_rustock_example();
	return check_done("test_smtp");
}
