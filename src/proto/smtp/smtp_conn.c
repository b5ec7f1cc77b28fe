/* smtp_conn.c — the SMTP spamtrap: ESMTP dialogue, DATA streaming, one event per transaction, samples. */

/* Message digests use OpenSSL's one-context SHA-256 (see http_conn.c for why). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "proto/smtp/smtp_conn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/event.h"
#include "core/rules.h"
#include "core/timeutil.h"
#include "net/daemon.h"
#include "net/worker.h"
#include "proto/smtp/smtp_campaign.h"
#include "proto/smtp/smtp_parse.h"
#include "proto/tls/tls_conn.h"

/*
 * The dialogue is a small state machine over complete lines: every command
 * line in the input is answered in order (so PIPELINING needs nothing
 * special: replies to a pipelined group leave together in one send), and
 * DATA switches the same loop to the streaming decoder until the final dot.
 * A message is never held: its bytes pass once through SHA-256, the header
 * parser (bounded), the ssdeep normaliser (a capped prefix) and, if samples
 * are configured, a size-capped file. Nothing is ever relayed: the accepted
 * message is recorded and dropped.
 *
 * STARTTLS (RFC 3207) is offered when the listener has a TLS context
 * (smtp.starttls): the "220 Ready" leaves in clear, the TLS module takes
 * the rest of the stream (tls_start), records the handshake with the
 * client's JA3/JA4, and every later event of the session carries them; the
 * session forgets what it learned before TLS, as the RFC says. Without a
 * context STARTTLS is answered 454 and recorded as an anomaly.
 */

#define SMTP_RAW_PREFIX_MAX  512
#define SMTP_HELO_MAX	     255
#define SMTP_ADDR_MAX	     320 /* RFC 5321: 64 local + @ + 255 domain */
#define SMTP_RCPT_KEEP	     16	 /* recipient addresses kept in the event */
#define SMTP_DOMAINS_KEEP    32	 /* distinct recipient domains kept */
#define SMTP_LIST_BYTES	     2048
#define SMTP_SAMPLE_SWEEP_MS (3600u * 1000u)

enum smtp_phase {
	SMTP_PHASE_PROXY = 0,
	SMTP_PHASE_CMD,
	SMTP_PHASE_SKIP, /* discarding the rest of an over-long command line */
	SMTP_PHASE_DATA,
	SMTP_PHASE_DONE, /* QUIT answered or refused: nothing more is read */
};

enum smtp_anomaly {
	SMTP_A_BARE_LF = 1u << 0,
	SMTP_A_LONG_LINE = 1u << 1,
	SMTP_A_NUL = 1u << 2,
	SMTP_A_LENIENT_PATH = 1u << 3,
	SMTP_A_NO_HELO = 1u << 4,
	SMTP_A_BAD_HEADER = 1u << 5,
	SMTP_A_UNKNOWN_CMD = 1u << 6,
	SMTP_A_BAD_SEQUENCE = 1u << 7,
	SMTP_A_SYNTAX = 1u << 8,
	SMTP_A_PIPELINED_NO_EHLO = 1u << 9, /* several commands in one burst without EHLO */
	SMTP_A_TOO_MANY_RCPT = 1u << 10,
	SMTP_A_OVERSIZE = 1u << 11,
	SMTP_A_AUTH = 1u << 12,
	SMTP_A_STARTTLS = 1u << 13,
	SMTP_A_HEADER_CAP = 1u << 14,
};

static const char *const smtp_anomaly_names[] = {
	"bare_lf",
	"long_line",
	"nul",
	"lenient_path",
	"no_helo",
	"bad_header",
	"unknown_command",
	"bad_sequence",
	"syntax_error",
	"pipelining_without_ehlo",
	"too_many_recipients",
	"oversize",
	"auth_attempt",
	"starttls_refused",
	"header_cap",
};

/* What the message in DATA has produced so far (heap: only while a message is arriving). */
struct smtp_msg {
	struct smtp_data data;
	struct smtp_hdrs hdrs;
	struct smtp_fuzzy fuzzy;
	SHA256_CTX sha;		  /* the whole message */
	SHA256_CTX body_sha;	  /* the body: what follows the header section */
	struct smtp_body_dec dec; /* transfer decoding in front of ssdeep */
	bool dec_ready;		  /* dec set up from the headers (once they ended) */
	uint64_t size;
	bool over;	    /* exceeded max_message_bytes */
	uint64_t discarded; /* bytes beyond max_message_bytes, read and dropped */
	int sample_fd;	    /* -1: none */
	uint64_t sample_len;
	char sample_tmp[64];
};

struct smtp_session {
	uint32_t anomalies; /* of the current transaction (or session, if none) */
	uint32_t commands;
	uint32_t errors;
	uint32_t transactions;
	bool esmtp;
	bool tls;     /* upgraded with STARTTLS */
	bool upgrade; /* STARTTLS answered: the rest of this read belongs to TLS */
	bool has_helo;
	bool has_mail;
	uint8_t body_type; /* enum smtp_body_type of MAIL */
	bool has_size;
	uint64_t declared_size;
	uint16_t helo_len, mail_len;
	uint32_t rcpt_count;
	uint16_t rcpt_n, rcpt_bytes;	   /* kept addresses: count, bytes in rcpt */
	uint16_t domains_n, domains_bytes; /* kept domains */
	const char *helo_verb;
	char helo[SMTP_HELO_MAX];
	char mail[SMTP_ADDR_MAX];
	uint8_t rcpt[SMTP_LIST_BYTES];	  /* (be16 len, bytes)* */
	uint8_t domains[SMTP_LIST_BYTES]; /* (be16 len, bytes)* */
	struct smtp_msg *msg;
};

/* Per-listener state (listener->proto_state). */
struct smtp_listener {
	struct smtp_campaigns *campaigns;
	_Atomic uint64_t next_sweep_ms; /* sample retention: next directory sweep */
};

int smtp_listener_init(struct listener *l)
{
	struct smtp_listener *sl = calloc(1, sizeof *sl);
	if (!sl)
		return ERR_NOMEM;
	const struct config_smtp *sc = &l->cfg->smtp;
	if (smtp_campaigns_new(sc->campaign_slots, sc->campaign_threshold, &sl->campaigns) != 0) {
		free(sl);
		return ERR_NOMEM;
	}
	l->proto_state = sl;
	return 0;
}

void smtp_listener_free(struct listener *l)
{
	struct smtp_listener *sl = l->proto_state;
	if (!sl)
		return;
	smtp_campaigns_free(sl->campaigns);
	free(sl);
	l->proto_state = NULL;
}

static void smtp_tx_reset(struct conn *c);

/* STARTTLS is offered when the listener has a TLS context and the session is not TLS yet. */
static bool smtp_tls_available(const struct conn *c)
{
	return c->l->tls != NULL && c->tls == NULL;
}

/* The handshake completed (its event is recorded): RFC 3207 §4.2, start afresh. */
static void smtp_tls_ready(struct conn *c)
{
	struct smtp_session *s = c->p.smtp.s;
	if (!s)
		return;
	smtp_tx_reset(c);
	s->has_helo = false;
	s->helo_len = 0;
	s->esmtp = false;
	s->tls = true;
}

/* --- replies ------------------------------------------------------------------- */

static void smtp_reply(struct conn *c, const char *text)
{
	conn_write(c, text, strlen(text));
}

__attribute__((format(printf, 2, 3))) static void smtp_replyf(struct conn *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	conn_write(c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* --- events ---------------------------------------------------------------------- */

static void smtp_put_list(struct event_builder *b, uint16_t tag, const uint8_t *items, size_t bytes,
			  uint16_t count)
{
	uint8_t tmp[2 + SMTP_LIST_BYTES];
	put_be16(tmp, count);
	memcpy(tmp + 2, items, bytes);
	event_put(b, tag, tmp, 2 + bytes);
}

/* Appends a (be16 len, bytes) item to a kept list; false when it does not fit. */
static bool smtp_list_add(uint8_t *list, uint16_t *bytes, uint16_t *count, const char *s, size_t n)
{
	if (n > 255 || 2 + n > (size_t)(SMTP_LIST_BYTES - *bytes))
		return false;
	put_be16(list + *bytes, (uint16_t)n);
	memcpy(list + *bytes + 2, s, n);
	*bytes = (uint16_t)(*bytes + 2 + n);
	(*count)++;
	return true;
}

static bool smtp_list_has_nocase(const uint8_t *list, uint16_t bytes, const char *s, size_t n)
{
	for (size_t off = 0; off + 2 <= bytes;) {
		size_t len = (size_t)list[off] << 8 | list[off + 1];
		if (len == n && !strncasecmp((const char *)list + off + 2, s, n))
			return true;
		off += 2 + len;
	}
	return false;
}

static void smtp_put_anomalies(struct event_builder *b, uint32_t a)
{
	char buf[512];
	size_t n = 0;
	for (size_t i = 0; i < sizeof smtp_anomaly_names / sizeof smtp_anomaly_names[0]; i++) {
		if (!(a & (1u << i)))
			continue;
		size_t l = strlen(smtp_anomaly_names[i]);
		if (n + l + 1 >= sizeof buf)
			break;
		if (n)
			buf[n++] = ',';
		memcpy(buf + n, smtp_anomaly_names[i], l);
		n += l;
	}
	if (n)
		event_put(b, EVENT_T_SMTP_ANOMALIES, buf, n);
}

static struct rules_slice smtp_rs(const char *p, size_t n, bool present)
{
	struct rules_slice s = { present ? p : NULL, present ? n : 0 };
	return s;
}

static struct rules_slice smtp_rs_hdr(const struct smtp_msg *m, enum smtp_hdr_id id)
{
	struct rules_slice r = { NULL, 0 };
	if (m) {
		struct smtp_slice s = smtp_hdrs_get(&m->hdrs, id);
		r.ptr = s.ptr;
		r.len = s.len;
	}
	return r;
}

static void smtp_put_hdr(struct event_builder *b, const struct smtp_msg *m, enum smtp_hdr_id id,
			 uint16_t tag)
{
	struct smtp_slice s = smtp_hdrs_get(&m->hdrs, id);
	if (s.ptr)
		event_put(b, tag, s.ptr, s.len);
}

/* The domain of the stored reverse-path, for rules. */
static struct rules_slice smtp_mail_domain(const struct smtp_session *s)
{
	struct rules_slice r = { NULL, 0 };
	if (!s->has_mail)
		return r;
	for (size_t k = s->mail_len; k > 0; k--) {
		if (s->mail[k - 1] == '@') {
			r.ptr = s->mail + k;
			r.len = s->mail_len - k;
			break;
		}
	}
	return r;
}

/* Removes samples older than the retention, at most once an hour per listener. */
static void smtp_sample_sweep(struct conn *c)
{
	const struct config_smtp *sc = &c->l->cfg->smtp;
	struct smtp_listener *sl = c->l->proto_state;
	uint64_t now = c->w->now_ms;
	uint64_t next = atomic_load_explicit(&sl->next_sweep_ms, memory_order_relaxed);
	if (now < next ||
	    !atomic_compare_exchange_strong(&sl->next_sweep_ms, &next, now + SMTP_SAMPLE_SWEEP_MS))
		return;
	DIR *d = opendir(sc->sample_dir);
	if (!d)
		return;
	time_t cutoff =
		(time_t)(time_now_us() / 1000000) - (time_t)sc->sample_retention_days * 86400;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".eml"))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_mtime < cutoff)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Gives the sample its final name (the message's SHA-256); returns the name or NULL. */
static const char *smtp_sample_finish(struct conn *c, struct smtp_msg *m, const uint8_t *digest,
				      char *name, size_t cap)
{
	if (m->sample_fd < 0)
		return NULL;
	int dfd = open(c->l->cfg->smtp.sample_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(m->sample_fd);
	m->sample_fd = -1;
	if (dfd < 0)
		return NULL;
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (int i = 0; i < SHA256_DIGEST_LENGTH && n + 2 < cap; i++) {
		name[n++] = hex[digest[i] >> 4];
		name[n++] = hex[digest[i] & 15];
	}
	if (n + 5 > cap) {
		close(dfd);
		return NULL;
	}
	memcpy(name + n, ".eml", 5);
	/* Identical messages share one sample: link() never replaces an existing file. */
	const char *res = name;
	if (linkat(dfd, m->sample_tmp, dfd, name, 0) != 0 && errno != EEXIST)
		res = NULL;
	unlinkat(dfd, m->sample_tmp, 0);
	close(dfd);
	smtp_sample_sweep(c);
	return res;
}

static void smtp_sample_start(struct conn *c, struct smtp_msg *m)
{
	const char *dir = c->l->cfg->smtp.sample_dir;
	m->sample_fd = -1;
	if (!dir)
		return;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	snprintf(m->sample_tmp, sizeof m->sample_tmp, ".tmp-%016llx-%u",
		 (unsigned long long)c->flow_id, c->tx_count);
	m->sample_fd = openat(dfd, m->sample_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	close(dfd);
}

static void smtp_msg_free(struct smtp_msg *m, const char *dir)
{
	if (!m)
		return;
	smtp_fuzzy_free(&m->fuzzy);
	if (m->sample_fd >= 0) {
		close(m->sample_fd);
		int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (dfd >= 0) {
			unlinkat(dfd, m->sample_tmp, 0);
			close(dfd);
		}
	}
	free(m);
}

/* Forgets the transaction (MAIL, RCPT, message); the HELO stays. */
static void smtp_tx_reset(struct conn *c)
{
	struct smtp_session *s = c->p.smtp.s;
	smtp_msg_free(s->msg, c->l->cfg->smtp.sample_dir);
	s->msg = NULL;
	s->has_mail = false;
	s->mail_len = 0;
	s->rcpt_count = 0;
	s->rcpt_n = s->rcpt_bytes = 0;
	s->domains_n = s->domains_bytes = 0;
	s->body_type = SMTP_BODY_UNSET;
	s->has_size = false;
	s->declared_size = 0;
	s->anomalies = 0;
}

/*
 * Records the transaction (or, with no MAIL, the session) as one event.
 * `status` is the reply that ends it (0: none was sent), `reason` why it
 * ended otherwise than by a completed DATA. Returns the lane sequence (0 if
 * the event could not be recorded).
 */
static uint64_t smtp_record(struct conn *c, uint16_t flags, const char *reason, uint16_t status)
{
	struct worker *w = c->w;
	struct smtp_session *s = c->p.smtp.s;
	struct smtp_msg *m = s->msg;
	struct event_builder b;
	uint8_t digest[SHA256_DIGEST_LENGTH], body_digest[SHA256_DIGEST_LENGTH];
	char fuzzy[SMTP_CAMPAIGN_DIGEST_MAX] = "";
	char key[SMTP_CAMPAIGN_KEY_LEN + 1] = "";
	int score = 0;
	bool have_key = false;

	if (m) {
		SHA256_Final(digest, &m->sha);
		SHA256_Final(body_digest, &m->body_sha);
		if (m->hdrs.done || m->size) {
			struct smtp_listener *sl = c->l->proto_state;
			if (smtp_campaign_digest(sl->campaigns, &m->fuzzy, fuzzy) == 0 &&
			    fuzzy[0]) {
				smtp_campaign_assign(sl->campaigns, fuzzy, key, &score);
				have_key = true;
			}
		}
		if (m->data.bare_lf)
			s->anomalies |= SMTP_A_BARE_LF;
		if (m->data.long_line)
			s->anomalies |= SMTP_A_LONG_LINE;
		if (m->data.nul)
			s->anomalies |= SMTP_A_NUL;
		if (m->hdrs.malformed)
			s->anomalies |= SMTP_A_BAD_HEADER;
		if (m->hdrs.truncated)
			s->anomalies |= SMTP_A_HEADER_CAP;
		if (m->over)
			flags |= EVENT_F_LIMIT | EVENT_F_TRUNCATED;
	}
	struct rules_input in = {
		.proto = CONFIG_PROTO_SMTP,
		.listener = c->l->cfg->name,
		.dst_port = c->dst.port,
		.helo = smtp_rs(s->helo, s->helo_len, s->has_helo),
		.mail_from = smtp_mail_domain(s),
		.subject = smtp_rs_hdr(m, SMTP_H_SUBJECT),
		.x_mailer = smtp_rs_hdr(m, SMTP_H_X_MAILER),
		.header_order = smtp_rs(m ? m->hdrs.order : NULL, m ? m->hdrs.order_len : 0,
					m && m->hdrs.n_headers),
		.campaign = smtp_rs(key, SMTP_CAMPAIGN_KEY_LEN, have_key),
		.body_len = m ? m->size : 0,
		.slot = w->id,
	};
	tls_conn_fill_rules(c, &in);
	/* Spam hides its subjects in encoded words: rules see the decoded text. */
	char subject[SMTP_HDR_VALUE_MAX];
	size_t subject_len = 0;
	if (in.subject.ptr) {
		subject_len =
			smtp_decode_words(in.subject.ptr, in.subject.len, subject, sizeof subject);
		if (subject_len) {
			in.subject.ptr = subject;
			in.subject.len = subject_len;
		}
	}
	const struct rules_family *fam = rules_classify(w->rules->rules, &in);

	conn_event_begin(c, &b, EVENT_SMTP, NULL, flags);
	event_put_str(&b, EVENT_T_FAMILY, fam->name);
	if (fam->tag)
		event_put_str(&b, EVENT_T_TAG, fam->tag);
	if (fam->index != UINT32_MAX)
		event_put_u32(&b, EVENT_T_RULE, fam->index);
	if (reason)
		event_put_str(&b, EVENT_T_REASON, reason);
	if (s->has_helo) {
		event_put(&b, EVENT_T_SMTP_HELO, s->helo, s->helo_len);
		event_put_str(&b, EVENT_T_SMTP_HELO_VERB, s->helo_verb);
	}
	if (s->has_mail) {
		event_put(&b, EVENT_T_SMTP_MAIL_FROM, s->mail, s->mail_len);
		event_put_u32(&b, EVENT_T_SMTP_RCPT_COUNT, s->rcpt_count);
		if (s->rcpt_n)
			smtp_put_list(&b, EVENT_T_SMTP_RCPT_TO, s->rcpt, s->rcpt_bytes, s->rcpt_n);
		if (s->domains_n)
			smtp_put_list(&b, EVENT_T_SMTP_RCPT_DOMAINS, s->domains, s->domains_bytes,
				      s->domains_n);
		if (s->body_type)
			event_put_str(&b, EVENT_T_SMTP_BODY_TYPE,
				      s->body_type == SMTP_BODY_8BITMIME ? "8BITMIME" : "7BIT");
		if (s->has_size)
			event_put_u64(&b, EVENT_T_SMTP_DECLARED_SIZE, s->declared_size);
	}
	if (m) {
		event_put_u64(&b, EVENT_T_SMTP_MSG_SIZE, m->size);
		event_put(&b, EVENT_T_SMTP_MSG_SHA256, digest, sizeof digest);
		event_put(&b, EVENT_T_SMTP_BODY_SHA256, body_digest, sizeof body_digest);
		smtp_put_hdr(&b, m, SMTP_H_FROM, EVENT_T_SMTP_HDR_FROM);
		smtp_put_hdr(&b, m, SMTP_H_TO, EVENT_T_SMTP_HDR_TO);
		smtp_put_hdr(&b, m, SMTP_H_SUBJECT, EVENT_T_SMTP_HDR_SUBJECT);
		if (subject_len)
			event_put(&b, EVENT_T_SMTP_SUBJECT_DECODED, subject, subject_len);
		smtp_put_hdr(&b, m, SMTP_H_DATE, EVENT_T_SMTP_HDR_DATE);
		smtp_put_hdr(&b, m, SMTP_H_MESSAGE_ID, EVENT_T_SMTP_HDR_MESSAGE_ID);
		smtp_put_hdr(&b, m, SMTP_H_X_MAILER, EVENT_T_SMTP_HDR_X_MAILER);
		smtp_put_hdr(&b, m, SMTP_H_CONTENT_TYPE, EVENT_T_SMTP_HDR_CONTENT_TYPE);
		if (m->hdrs.order_len)
			event_put(&b, EVENT_T_SMTP_HEADER_ORDER, m->hdrs.order, m->hdrs.order_len);
		if (fuzzy[0])
			event_put_str(&b, EVENT_T_SMTP_SSDEEP, fuzzy);
		if (have_key) {
			event_put_str(&b, EVENT_T_SMTP_CAMPAIGN, key);
			event_put_u16(&b, EVENT_T_SMTP_CAMPAIGN_SCORE, (uint16_t)score);
		}
		char name[80];
		const char *sample =
			status == 250 ? smtp_sample_finish(c, m, digest, name, sizeof name) : NULL;
		if (sample)
			event_put_str(&b, EVENT_T_SMTP_SAMPLE, sample);
	}
	if (s->tls) {
		uint8_t one = 1;
		event_put(&b, EVENT_T_SMTP_TLS, &one, 1);
	}
	smtp_put_anomalies(&b, s->anomalies);
	event_put_u32(&b, EVENT_T_SMTP_COMMANDS, s->commands);
	if (status)
		event_put_u16(&b, EVENT_T_SMTP_STATUS, status);
	uint64_t seq = conn_event_submit(c, &b);
	STAT_INC(w->st.requests);
	if (flags & (EVENT_F_MALFORMED | EVENT_F_LIMIT))
		STAT_INC(w->st.malformed);
	return seq;
}

/*
 * The connection ends (peer gone, timeout, refusal): an open transaction is
 * recorded as aborted, and a session that recorded nothing at all is still
 * recorded once, so a bot that only connects or only says EHLO is seen.
 */
static void smtp_end_session(struct conn *c, uint16_t flags, const char *reason)
{
	struct smtp_session *s = c->p.smtp.s;
	if (!s)
		return;
	if (s->has_mail || s->msg || c->tx_count == 0)
		smtp_record(c, flags, reason, 0);
	smtp_tx_reset(c);
	c->p.smtp.phase = SMTP_PHASE_DONE;
}

/* A final reply (421, 552) and close: the session is over on our side. */
static void smtp_shutdown(struct conn *c, const char *reply, uint16_t flags, const char *reason)
{
	struct smtp_session *s = c->p.smtp.s;
	uint16_t code =
		(uint16_t)((reply[0] - '0') * 100 + (reply[1] - '0') * 10 + (reply[2] - '0'));
	if (s->has_mail || s->msg || c->tx_count == 0)
		smtp_record(c, flags, reason, code);
	smtp_tx_reset(c);
	smtp_reply(c, reply);
	conn_close_after_flush(c);
	c->p.smtp.phase = SMTP_PHASE_DONE;
}

/* --- DATA ------------------------------------------------------------------------ */

/* Decoded body bytes into the campaign hash. */
static void smtp_msg_fuzzy(void *ctx, const uint8_t *p, size_t n)
{
	smtp_fuzzy_update(ctx, p, n);
}

static void smtp_msg_bytes(void *ctx, const uint8_t *p, size_t n)
{
	struct conn *c = ctx;
	struct smtp_msg *m = c->p.smtp.s->msg;
	const struct config_smtp *sc = &c->l->cfg->smtp;
	uint64_t room = sc->max_message_bytes > m->size ? sc->max_message_bytes - m->size : 0;
	if (n > room) {
		m->over = true;
		m->discarded += n - room;
		n = (size_t)room;
	}
	if (!n)
		return;
	m->size += n;
	SHA256_Update(&m->sha, p, n);
	size_t hdr = m->hdrs.done ? 0 : smtp_hdrs_feed(&m->hdrs, p, n);
	if (hdr < n) {
		if (!m->dec_ready) {
			smtp_body_dec_init(&m->dec, smtp_hdrs_get(&m->hdrs, SMTP_H_CTE),
					   smtp_hdrs_get(&m->hdrs, SMTP_H_CONTENT_TYPE));
			m->dec_ready = true;
		}
		SHA256_Update(&m->body_sha, p + hdr, n - hdr);
		smtp_body_dec_feed(&m->dec, p + hdr, n - hdr, smtp_msg_fuzzy, &m->fuzzy);
	}
	if (m->sample_fd >= 0 && m->sample_len < sc->sample_max_bytes) {
		uint64_t left = sc->sample_max_bytes - m->sample_len;
		size_t k = n < left ? n : (size_t)left;
		ssize_t wr = write(m->sample_fd, p, k);
		if (wr > 0)
			m->sample_len += (uint64_t)wr;
		if (wr != (ssize_t)k) {
			/* A full disk must not fail the session: the sample is abandoned. */
			close(m->sample_fd);
			m->sample_fd = -1;
		}
	}
}

static size_t smtp_on_data(struct conn *c, const uint8_t *buf, size_t len)
{
	struct smtp_session *s = c->p.smtp.s;
	struct smtp_msg *m = s->msg;
	bool done = false;
	size_t used = smtp_data_feed(&m->data, buf, len, &done, smtp_msg_bytes, c);
	if (used)
		conn_set_timer(c, CONN_TIMER_REQUEST);
	if (m->over) {
		s->anomalies |= SMTP_A_OVERSIZE;
		/*
		 * Too big: read on to the final dot and refuse it with 552, as
		 * RFC 5321 §4.5.3.1.10 expects, so the client hears the reply; but
		 * a message that goes on past twice the limit is never-ending: refuse
		 * it at once and close.
		 */
		if (!done && m->discarded > c->l->cfg->smtp.max_message_bytes) {
			smtp_shutdown(c, "552 5.3.4 Message size exceeds fixed limit\r\n",
				      EVENT_F_LIMIT | EVENT_F_TRUNCATED,
				      "message larger than max_message_bytes");
			return len;
		}
		if (!done)
			return used;
		s->transactions++;
		smtp_record(c, EVENT_F_LIMIT | EVENT_F_TRUNCATED,
			    "message larger than max_message_bytes", 552);
		smtp_reply(c, "552 5.3.4 Message size exceeds fixed limit\r\n");
		smtp_tx_reset(c);
		c->p.smtp.phase = SMTP_PHASE_CMD;
		return used;
	}
	if (!done)
		return used;
	s->transactions++;
	uint64_t seq = smtp_record(c, 0, NULL, 250);
	if (c->w->answered && seq == 0) {
		/* Never accept what is not recorded: a temporary failure makes the sender retry. */
		STAT_INC(c->w->st.refused_unrecorded);
		smtp_reply(c, "451 4.3.0 Temporary failure, try again later\r\n");
	} else {
		smtp_replyf(c, "250 2.0.0 Ok: queued as %llX%04X\r\n",
			    (unsigned long long)(c->flow_id & 0xffffffffffull),
			    c->tx_count & 0xffff);
	}
	smtp_tx_reset(c);
	c->p.smtp.phase = SMTP_PHASE_CMD;
	return used;
}

static void smtp_begin_data(struct conn *c)
{
	struct smtp_session *s = c->p.smtp.s;
	struct smtp_msg *m = malloc(sizeof *m);
	if (!m || smtp_fuzzy_init(&m->fuzzy) != 0) {
		if (m)
			smtp_fuzzy_free(&m->fuzzy);
		free(m);
		smtp_shutdown(c, "421 4.3.0 Out of resources, closing connection\r\n",
			      EVENT_F_LIMIT, "out of memory starting DATA");
		return;
	}
	smtp_data_init(&m->data);
	smtp_hdrs_init(&m->hdrs);
	SHA256_Init(&m->sha);
	SHA256_Init(&m->body_sha);
	m->size = 0;
	m->over = false;
	m->dec_ready = false;
	m->discarded = 0;
	m->sample_len = 0;
	smtp_sample_start(c, m);
	s->msg = m;
	smtp_reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
	c->p.smtp.phase = SMTP_PHASE_DATA;
}

/* --- commands -------------------------------------------------------------------- */

static void smtp_ehlo(struct conn *c)
{
	const struct config_smtp *sc = &c->l->cfg->smtp;
	char buf[512];
	int n = snprintf(buf, sizeof buf,
			 "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n250-8BITMIME\r\n%s"
			 "250 ENHANCEDSTATUSCODES\r\n",
			 sc->hostname, (unsigned long long)sc->max_message_bytes,
			 smtp_tls_available(c) ? "250-STARTTLS\r\n" : "");
	if (n > 0)
		conn_write(c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A bad command: answered, counted, and the session ends after too many. */
static void smtp_error(struct conn *c, const char *reply, uint32_t anomaly)
{
	struct smtp_session *s = c->p.smtp.s;
	s->anomalies |= anomaly;
	if (++s->errors >= c->l->cfg->smtp.max_errors) {
		smtp_shutdown(c, "421 4.7.0 Too many errors, closing connection\r\n",
			      EVENT_F_MALFORMED | EVENT_F_LIMIT, "too many bad commands");
		return;
	}
	smtp_reply(c, reply);
}

static void smtp_command(struct conn *c, const char *line, size_t len)
{
	struct smtp_session *s = c->p.smtp.s;
	const struct config_smtp *sc = &c->l->cfg->smtp;
	struct smtp_cmd cmd;
	const char *why = NULL;

	if (++s->commands > sc->max_commands) {
		smtp_shutdown(c, "421 4.7.0 Too many commands, closing connection\r\n",
			      EVENT_F_LIMIT, "too many commands");
		return;
	}
	int rc = smtp_parse_cmd(line, len, &cmd, &why);
	if (rc) {
		if (memchr(line, '\0', len))
			s->anomalies |= SMTP_A_NUL;
		if (cmd.verb == SMTP_V_UNKNOWN)
			smtp_error(c, "500 5.5.2 Error: bad syntax\r\n", SMTP_A_SYNTAX);
		else
			smtp_error(c, "501 5.5.4 Syntax error in parameters or arguments\r\n",
				   SMTP_A_SYNTAX);
		return;
	}
	if (cmd.lenient)
		s->anomalies |= SMTP_A_LENIENT_PATH;

	switch (cmd.verb) {
	case SMTP_V_HELO:
	case SMTP_V_EHLO: {
		/* A new greeting resets any transaction (RFC 5321 §4.1.4); an open one is recorded. */
		if (s->has_mail)
			smtp_record(c, 0, "transaction aborted by HELO/EHLO", 0);
		smtp_tx_reset(c);
		size_t n = cmd.arg.len < SMTP_HELO_MAX ? cmd.arg.len : SMTP_HELO_MAX;
		memcpy(s->helo, cmd.arg.ptr, n);
		s->helo_len = (uint16_t)n;
		s->has_helo = true;
		s->esmtp = cmd.verb == SMTP_V_EHLO;
		s->helo_verb = s->esmtp ? "EHLO" : "HELO";
		if (s->esmtp)
			smtp_ehlo(c);
		else
			smtp_replyf(c, "250 %s\r\n", sc->hostname);
		return;
	}
	case SMTP_V_MAIL: {
		if (s->has_mail) {
			smtp_error(c, "503 5.5.1 Error: nested MAIL command\r\n",
				   SMTP_A_BAD_SEQUENCE);
			return;
		}
		if (s->transactions >= sc->max_transactions) {
			smtp_shutdown(c, "421 4.7.0 Too many messages, closing connection\r\n",
				      EVENT_F_LIMIT, "too many messages in one session");
			return;
		}
		if (cmd.has_size && cmd.size > sc->max_message_bytes) {
			s->anomalies |= SMTP_A_OVERSIZE;
			smtp_reply(c, "552 5.3.4 Message size exceeds fixed limit\r\n");
			return;
		}
		uint32_t keep = s->anomalies;
		smtp_tx_reset(c);
		s->anomalies = keep;
		if (!s->has_helo)
			s->anomalies |= SMTP_A_NO_HELO;
		size_t n = cmd.path.len < SMTP_ADDR_MAX ? cmd.path.len : SMTP_ADDR_MAX;
		memcpy(s->mail, cmd.path.ptr, n);
		s->mail_len = (uint16_t)n;
		s->has_mail = true;
		s->body_type = (uint8_t)cmd.body;
		s->has_size = cmd.has_size;
		s->declared_size = cmd.size;
		smtp_reply(c, "250 2.1.0 Ok\r\n");
		return;
	}
	case SMTP_V_RCPT:
		if (!s->has_mail) {
			smtp_error(c, "503 5.5.1 Error: need MAIL command\r\n",
				   SMTP_A_BAD_SEQUENCE);
			return;
		}
		if (s->rcpt_count >= sc->max_recipients) {
			s->anomalies |= SMTP_A_TOO_MANY_RCPT;
			smtp_reply(c, "452 4.5.3 Error: too many recipients\r\n");
			return;
		}
		s->rcpt_count++;
		if (s->rcpt_n < SMTP_RCPT_KEEP)
			smtp_list_add(s->rcpt, &s->rcpt_bytes, &s->rcpt_n, cmd.path.ptr,
				      cmd.path.len);
		if (cmd.domain.ptr && s->domains_n < SMTP_DOMAINS_KEEP &&
		    !smtp_list_has_nocase(s->domains, s->domains_bytes, cmd.domain.ptr,
					  cmd.domain.len))
			smtp_list_add(s->domains, &s->domains_bytes, &s->domains_n, cmd.domain.ptr,
				      cmd.domain.len);
		smtp_reply(c, "250 2.1.5 Ok\r\n");
		return;
	case SMTP_V_DATA:
		if (!s->has_mail) {
			smtp_error(c, "503 5.5.1 Error: need MAIL command\r\n",
				   SMTP_A_BAD_SEQUENCE);
			return;
		}
		if (!s->rcpt_count) {
			smtp_error(c, "503 5.5.1 Error: need RCPT command\r\n",
				   SMTP_A_BAD_SEQUENCE);
			return;
		}
		smtp_begin_data(c);
		return;
	case SMTP_V_RSET:
		if (s->has_mail)
			smtp_record(c, 0, "transaction aborted by RSET", 0);
		smtp_tx_reset(c);
		smtp_reply(c, "250 2.0.0 Ok\r\n");
		return;
	case SMTP_V_NOOP:
		smtp_reply(c, "250 2.0.0 Ok\r\n");
		return;
	case SMTP_V_QUIT:
		smtp_replyf(c, "221 2.0.0 %s closing connection\r\n", sc->hostname);
		if (s->has_mail || c->tx_count == 0)
			smtp_record(c, 0, s->has_mail ? "transaction aborted by QUIT" : NULL, 221);
		smtp_tx_reset(c);
		conn_close_after_flush(c);
		c->p.smtp.phase = SMTP_PHASE_DONE;
		return;
	case SMTP_V_VRFY:
		smtp_reply(c, "252 2.0.0 Cannot VRFY user, but will accept message\r\n");
		return;
	case SMTP_V_EXPN:
		smtp_reply(c, "502 5.5.1 Error: command not implemented\r\n");
		return;
	case SMTP_V_HELP:
		smtp_reply(c, "214 2.0.0 See RFC 5321\r\n");
		return;
	case SMTP_V_STARTTLS:
		if (c->tls) {
			smtp_error(c, "503 5.5.1 Error: TLS already active\r\n",
				   SMTP_A_BAD_SEQUENCE);
			return;
		}
		if (!smtp_tls_available(c)) {
			s->anomalies |= SMTP_A_STARTTLS;
			smtp_reply(c, "454 4.7.0 TLS not available due to local problem\r\n");
			return;
		}
		/* An open transaction ends here: what follows is a new session. */
		if (s->has_mail)
			smtp_record(c, 0, "transaction aborted by STARTTLS", 0);
		smtp_tx_reset(c);
		smtp_reply(c, "220 2.0.0 Ready to start TLS\r\n");
		if (tls_start(c, c->l->tls, smtp_tls_ready) != 0) {
			smtp_end_session(c, EVENT_F_LIMIT, "out of memory starting TLS");
			c->closed = true;
			return;
		}
		s->upgrade = true;
		return;
	case SMTP_V_AUTH:
		s->anomalies |= SMTP_A_AUTH;
		smtp_reply(c, "502 5.5.1 Error: authentication not enabled\r\n");
		return;
	case SMTP_V_BDAT:
		smtp_error(c, "502 5.5.1 Error: command not implemented\r\n", SMTP_A_UNKNOWN_CMD);
		return;
	case SMTP_V_UNKNOWN:
		smtp_error(c, "500 5.5.2 Error: command not recognized\r\n", SMTP_A_UNKNOWN_CMD);
		return;
	}
}

static size_t smtp_on_cmd(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	struct smtp_session *s = c->p.smtp.s;
	const struct config_smtp *sc = &c->l->cfg->smtp;
	size_t line_len, term_len;
	if (smtp_line_find(buf, len, &line_len, &term_len) != 0) {
		if (len >= sc->max_line_bytes) {
			s->anomalies |= SMTP_A_LONG_LINE;
			smtp_error(c, "500 5.5.2 Error: line too long\r\n", SMTP_A_SYNTAX);
			if (c->p.smtp.phase == SMTP_PHASE_CMD)
				c->p.smtp.phase = SMTP_PHASE_SKIP;
			return len;
		}
		if (eof) {
			/* A last command without its line end: answered as if it had one. */
			smtp_command(c, (const char *)buf, len);
			return len;
		}
		return 0;
	}
	if (term_len == 1)
		s->anomalies |= SMTP_A_BARE_LF;
	if (line_len + term_len > sc->max_line_bytes) {
		s->anomalies |= SMTP_A_LONG_LINE;
		smtp_error(c, "500 5.5.2 Error: line too long\r\n", SMTP_A_SYNTAX);
		return line_len + term_len;
	}
	smtp_command(c, (const char *)buf, line_len);
	return line_len + term_len;
}

static size_t smtp_on_skip(struct conn *c, const uint8_t *buf, size_t len)
{
	const uint8_t *lf = memchr(buf, '\n', len);
	if (!lf)
		return len;
	c->p.smtp.phase = SMTP_PHASE_CMD;
	return (size_t)(lf - buf) + 1;
}

static size_t smtp_on_proxy(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	const char *why;
	size_t used = 0;
	int rc = conn_read_proxy(c, buf, len, eof, &used, &why);
	if (rc == ERR_NEED_MORE)
		return 0;
	if (rc != 0) {
		struct event_builder b;
		conn_event_begin(c, &b, EVENT_SMTP, NULL, EVENT_F_MALFORMED | EVENT_F_NO_ANSWER);
		event_put_str(&b, EVENT_T_FAMILY, "unknown");
		event_put_str(&b, EVENT_T_REASON, why);
		event_put(&b, EVENT_T_RAW_PREFIX, buf,
			  len > SMTP_RAW_PREFIX_MAX ? SMTP_RAW_PREFIX_MAX : len);
		conn_event_submit(c, &b);
		STAT_INC(c->w->st.malformed);
		c->closed = true;
		c->p.smtp.phase = SMTP_PHASE_DONE;
		return len;
	}
	c->p.smtp.phase = SMTP_PHASE_CMD;
	return used;
}

static size_t smtp_on_input(struct conn *c, const uint8_t *buf, size_t len, bool eof)
{
	size_t done = 0;
	if (!c->p.smtp.s)
		return len;
	while (!c->closed && !c->close_after_flush && c->p.smtp.phase != SMTP_PHASE_DONE) {
		const uint8_t *p = buf + done;
		size_t n = len - done;
		if (n == 0)
			break;
		size_t used = 0;
		switch (c->p.smtp.phase) {
		case SMTP_PHASE_PROXY:
			used = smtp_on_proxy(c, p, n, eof);
			break;
		case SMTP_PHASE_CMD:
			used = smtp_on_cmd(c, p, n, eof);
			break;
		case SMTP_PHASE_SKIP:
			used = smtp_on_skip(c, p, n);
			break;
		case SMTP_PHASE_DATA:
			used = smtp_on_data(c, p, n);
			break;
		default:
			return len;
		}
		if (used == 0)
			break;
		done += used;
		if (c->p.smtp.s->upgrade) {
			/* Whatever followed STARTTLS in this read is the ClientHello: TLS's. */
			c->p.smtp.s->upgrade = false;
			return done;
		}
		/* PIPELINING was not offered: a client that still sends commands in bursts. */
		if (c->p.smtp.phase == SMTP_PHASE_CMD && done < len && !c->p.smtp.s->esmtp)
			c->p.smtp.s->anomalies |= SMTP_A_PIPELINED_NO_EHLO;
		if (c->p.smtp.phase == SMTP_PHASE_CMD && !c->closed)
			conn_set_timer(c, CONN_TIMER_REQUEST);
	}
	if (eof && c->p.smtp.phase != SMTP_PHASE_DONE && !c->closed) {
		bool in_data = c->p.smtp.phase == SMTP_PHASE_DATA;
		smtp_end_session(c, EVENT_F_NO_ANSWER | (in_data ? EVENT_F_TRUNCATED : 0),
				 in_data ? "connection closed during DATA" :
					   "connection closed without QUIT");
		c->closed = true;
		return len;
	}
	if (c->closed || c->close_after_flush || c->p.smtp.phase == SMTP_PHASE_DONE)
		return len;
	return done;
}

static void smtp_on_open(struct conn *c)
{
	c->p.smtp.phase = c->l->cfg->proxy_protocol ? SMTP_PHASE_PROXY : SMTP_PHASE_CMD;
	struct smtp_session *s = calloc(1, sizeof *s);
	c->p.smtp.s = s;
	if (!s) {
		c->closed = true;
		return;
	}
	s->helo_verb = "HELO";
	smtp_replyf(c, "220 %s ESMTP\r\n", c->l->cfg->smtp.hostname);
}

/*
 * RFC 5321 §4.5.3.2: a server that gives up says 421 first. The worker closes
 * right after this, so the line goes out directly, best effort, and only on a
 * plaintext session whose earlier replies have all gone out.
 */
static void smtp_say_421(struct conn *c, bool shutdown)
{
	static const char bye[] = "421 4.4.2 Timeout, closing connection\r\n";
	static const char down[] = "421 4.3.2 Service shutting down\r\n";
	const char *msg = shutdown ? down : bye;
	if (c->fd >= 0 && !c->tls && c->out_off == c->out_len && c->w->stage_conn != c)
		(void)!send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void smtp_on_timeout(struct conn *c)
{
	if (!c->p.smtp.s || c->p.smtp.phase == SMTP_PHASE_DONE)
		return;
	bool in_data = c->p.smtp.phase == SMTP_PHASE_DATA;
	/* The worker also ends sessions this way when a shutdown's drain time is over. */
	bool shutdown = c->w->draining;
	uint16_t flags = (uint16_t)(EVENT_F_NO_ANSWER | (shutdown ? 0 : EVENT_F_TIMEOUT) |
				    (in_data ? EVENT_F_TRUNCATED : 0));
	smtp_end_session(c, flags,
			 shutdown ? "sensor shutting down" :
			 in_data  ? "DATA timed out" :
				    "session timed out");
	smtp_say_421(c, shutdown);
}

static void smtp_on_close(struct conn *c)
{
	struct smtp_session *s = c->p.smtp.s;
	if (!s)
		return;
	/*
	 * Every other way out records the session first and ends in PHASE_DONE.
	 * What is left: the worker closing a session on its own (a peer that
	 * stopped reading our replies, an idle session at shutdown, a socket
	 * error): an open transaction is still evidence.
	 */
	if (c->p.smtp.phase != SMTP_PHASE_DONE) {
		smtp_end_session(c, EVENT_F_NO_ANSWER,
				 c->w->draining ? "sensor shutting down" : "connection closed");
		if (c->w->draining)
			smtp_say_421(c, true);
	}
	smtp_msg_free(s->msg, c->l->cfg->smtp.sample_dir);
	free(s);
	c->p.smtp.s = NULL;
}

/*
 * Between transactions, waiting for the client's next command: a shutdown may
 * end the session now (on_close records it and says 421). A PROXY header or
 * an open transaction (MAIL given, or DATA under way) is evidence in flight.
 */
static bool smtp_is_idle(const struct conn *c)
{
	const struct smtp_session *s = c->p.smtp.s;
	if (!s || c->p.smtp.phase == SMTP_PHASE_DONE)
		return true;
	return c->p.smtp.phase == SMTP_PHASE_CMD && !s->has_mail && !s->upgrade;
}

const struct proto_ops smtp_proto_ops = {
	.name = "smtp",
	.on_open = smtp_on_open,
	.on_input = smtp_on_input,
	.on_timeout = smtp_on_timeout,
	.on_close = smtp_on_close,
	.is_idle = smtp_is_idle,
};
