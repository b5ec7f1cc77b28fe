/* smtp_parse.h — SMTP wire parsers: command lines, the DATA stream (dot-unstuffing), message headers. */
#ifndef SINKD_PROTO_SMTP_PARSE_H
#define SINKD_PROTO_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Three small parsers, all over untrusted bytes, none allocating:
 *
 *  - smtp_line_find / smtp_parse_cmd: one command line (RFC 5321 §4.1) into a
 *    verb and slices of the caller's buffer (valid while that buffer is).
 *  - struct smtp_data: the DATA stream, fed in arbitrary pieces; removes the
 *    transparency dots (§4.5.2), finds the terminating "<CRLF>.<CRLF>" and
 *    hands the message bytes on without ever holding a whole line.
 *  - struct smtp_hdrs: the message's header section (RFC 5322 §2.2), fed the
 *    unstuffed bytes in pieces; keeps the first value of a few headers of
 *    interest and the names of all headers in order, each with a hard cap.
 */

struct smtp_slice {
	const char *ptr; /* NULL when absent */
	size_t len;
};

enum smtp_verb {
	SMTP_V_UNKNOWN = 0,
	SMTP_V_HELO,
	SMTP_V_EHLO,
	SMTP_V_MAIL,
	SMTP_V_RCPT,
	SMTP_V_DATA,
	SMTP_V_RSET,
	SMTP_V_NOOP,
	SMTP_V_QUIT,
	SMTP_V_VRFY,
	SMTP_V_EXPN,
	SMTP_V_HELP,
	SMTP_V_STARTTLS,
	SMTP_V_AUTH,
	SMTP_V_BDAT,
};

enum smtp_body_type {
	SMTP_BODY_UNSET = 0,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_cmd {
	enum smtp_verb verb;
	struct smtp_slice verb_text; /* the verb as sent */
	struct smtp_slice arg;	     /* everything after the verb, trimmed */
	/* MAIL / RCPT */
	struct smtp_slice path;	  /* the address without <> and source route; len 0: null path <> */
	struct smtp_slice domain; /* after the last '@' of path (absent without '@') */
	bool lenient; /* accepted although not strictly RFC 5321 (no <>, space after ':') */
	/* MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY) */
	bool has_size;
	uint64_t size;
	enum smtp_body_type body;
};

/*
 * Finds the end of the line at buf. Returns ERR_NEED_MORE when no LF is in
 * buf, else 0 with *line_len = bytes before the terminator and *term_len = 2
 * for CRLF or 1 for a bare LF (which RFC 5321 forbids; we accept it, as most
 * MTAs do, and the caller records it).
 */
int smtp_line_find(const uint8_t *buf, size_t len, size_t *line_len, size_t *term_len);

/*
 * Parses one command line (without its terminator). Returns 0 (unknown verbs
 * give SMTP_V_UNKNOWN and 0), or ERR_MALFORMED with *why set for a syntax
 * error in the arguments of a known verb (the caller answers 501) or a NUL
 * or other control byte in the line.
 */
int smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *out, const char **why);

/* Name of a verb in upper case ("MAIL"), "?" for unknown. */
const char *smtp_verb_name(enum smtp_verb v);

/* --- DATA --------------------------------------------------------------------- */

/* Called with message bytes after unstuffing, in order, in pieces of any size. */
typedef void (*smtp_data_cb)(void *ctx, const uint8_t *p, size_t n);

struct smtp_data {
	uint8_t state;	   /* internal */
	bool bare_lf;	   /* a line ended with LF alone */
	bool long_line;	   /* a line was longer than 1000 bytes with its CRLF (§4.5.3.1.6) */
	bool nul;	   /* a NUL byte was seen */
	bool last_cr;	   /* internal: the last byte passed on was CR */
	uint64_t line_len; /* bytes of the current line so far */
};

void smtp_data_init(struct smtp_data *d);
/*
 * Feeds bytes of the DATA phase. Returns how many were consumed; *done is set
 * once the terminating "." line has been consumed (bytes after it are not
 * consumed: they are the next command). Bytes that could start the terminator
 * (at most 2) may be left unconsumed until more arrive; nothing else is held.
 */
size_t smtp_data_feed(struct smtp_data *d, const uint8_t *p, size_t n, bool *done, smtp_data_cb cb,
		      void *ctx);

/* --- headers ------------------------------------------------------------------ */

enum smtp_hdr_id {
	SMTP_H_FROM = 0,
	SMTP_H_TO,
	SMTP_H_SUBJECT,
	SMTP_H_DATE,
	SMTP_H_MESSAGE_ID,
	SMTP_H_X_MAILER,
	SMTP_H_CONTENT_TYPE,
	SMTP_H_CTE, /* Content-Transfer-Encoding: how the body is encoded */
	SMTP_H_COUNT,
};

#define SMTP_HDR_NAME_MAX  76	/* RFC 5322 allows 997, but no header of interest is longer */
#define SMTP_HDR_VALUE_MAX 512	/* value kept per header of interest */
#define SMTP_HDR_ORDER_MAX 1024 /* header names joined by ',' */
#define SMTP_HDR_COUNT_MAX 500	/* headers counted; more is flagged */

struct smtp_hdrs {
	uint8_t state; /* internal */
	bool done;     /* the header section ended (blank line, or a line that is no header) */
	bool malformed;
	bool truncated; /* a value, the order list or the count hit its cap */
	int8_t cur;	/* header of interest being captured, -1 none */
	uint8_t name_len;
	bool name_over;
	bool pending_space; /* folded whitespace to write before the next value byte */
	uint16_t n_headers;
	char name[SMTP_HDR_NAME_MAX];
	uint16_t val_len[SMTP_H_COUNT];
	bool seen[SMTP_H_COUNT];
	char val[SMTP_H_COUNT][SMTP_HDR_VALUE_MAX];
	uint16_t order_len;
	char order[SMTP_HDR_ORDER_MAX];
};

void smtp_hdrs_init(struct smtp_hdrs *h);
/*
 * Feeds unstuffed message bytes. Returns how many belong to the header
 * section (including the blank line that ends it); when that is less than n,
 * the rest is the body and h->done is set. Never fails: what is not a header
 * is body, flagged malformed if it came where a header should be.
 */
size_t smtp_hdrs_feed(struct smtp_hdrs *h, const uint8_t *p, size_t n);
/* The kept value of a header of interest, or an absent slice. */
struct smtp_slice smtp_hdrs_get(const struct smtp_hdrs *h, enum smtp_hdr_id id);

/*
 * RFC 2047 encoded words ("=?utf-8?B?RGVhciBib2I=?=", "=?iso-8859-1?Q?a_b?=")
 * in a header value, decoded into out (at most cap bytes; the charset's bytes
 * are kept as they are, not converted). White space between two adjacent
 * encoded words is dropped, as the RFC says. Returns the decoded length, or
 * 0 when the value holds no well-formed encoded word (nothing to decode):
 * malformed words are copied literally.
 */
size_t smtp_decode_words(const char *in, size_t n, char *out, size_t cap);

/*
 * A streaming decoder for a single-part body's Content-Transfer-Encoding
 * (RFC 2045 §6.7, §6.8), so that a campaign sent once in quoted-printable
 * and once in base64 hashes the same. Bytes that do not decode are passed
 * through (QP) or skipped (base64), never an error: this feeds a similarity
 * hash, not a mail reader. Output goes to the callback in pieces.
 */
enum smtp_cte {
	SMTP_CTE_IDENTITY = 0, /* 7bit, 8bit, binary, absent, unknown, or a multipart body */
	SMTP_CTE_QP,
	SMTP_CTE_BASE64,
};

struct smtp_body_dec {
	uint8_t cte;   /* enum smtp_cte */
	uint8_t state; /* internal */
	uint8_t hi;    /* QP: first hex digit after '=' */
	uint8_t bits;  /* base64: bits held */
	uint32_t acc;  /* base64: the bits */
};

/* Picks the decoder from the Content-Transfer-Encoding and Content-Type values (either may be absent). */
void smtp_body_dec_init(struct smtp_body_dec *d, struct smtp_slice cte, struct smtp_slice ctype);
void smtp_body_dec_feed(struct smtp_body_dec *d, const uint8_t *p, size_t n, smtp_data_cb cb,
			void *ctx);

#endif
