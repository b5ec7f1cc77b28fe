/* mail.c — MIME message building (summary, X-ARF YAML, CSV attachments) and a minimal SMTP submitter. */
#include "report/mail.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

static void rfc2822_date(uint64_t us, char *buf, size_t cap)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
		 mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool is_ascii_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static int add_base64(struct dynbuf *b, const uint8_t *p, size_t n, size_t line)
{
	unsigned char out[80];
	size_t chunk = line / 4 * 3;
	int rc = 0;
	for (size_t off = 0; off < n && !rc; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		int w = EVP_EncodeBlock(out, p + off, (int)k);
		rc = dynbuf_add(b, out, (size_t)w);
		rc = rc ? rc : dynbuf_add(b, "\r\n", 2);
	}
	return rc;
}

/* Header value: as is when printable ASCII, else one RFC 2047 encoded word per chunk. */
static int add_header_text(struct dynbuf *b, const char *s)
{
	if (is_ascii_printable(s))
		return dynbuf_adds(b, s);
	size_t n = strlen(s), off = 0;
	int rc = 0;
	while (off < n && !rc) {
		size_t k = n - off < 45 ? n - off : 45;
		/* Do not split a UTF-8 sequence between encoded words. */
		while (k > 1 && off + k < n && ((unsigned char)s[off + k] & 0xc0) == 0x80)
			k--;
		unsigned char enc[80];
		int w = EVP_EncodeBlock(enc, (const unsigned char *)s + off, (int)k);
		rc = dynbuf_printf(b, "%s=?utf-8?B?%.*s?=", off ? "\r\n " : "", w, enc);
		off += k;
	}
	return rc;
}

/* Text body lines with CRLF. */
static int add_text_crlf(struct dynbuf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++)
		rc = *s == '\n' ? dynbuf_add(b, "\r\n", 2) : dynbuf_addc(b, *s);
	return rc;
}

/* A YAML scalar, double-quoted, printable ASCII only (others escaped). */
static int yaml_str(struct dynbuf *b, const char *s)
{
	int rc = dynbuf_addc(b, '"');
	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			rc = dynbuf_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			rc = dynbuf_printf(b, "\\x%02x", c);
		else
			rc = dynbuf_addc(b, (char)c);
	}
	return rc ? rc : dynbuf_addc(b, '"');
}

int mail_build(struct dynbuf *out, const struct mail_msg *m)
{
	uint8_t rnd[12];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return ERR_SYS;
	char boundary[64], date[64], id[32];
	int n = 0;
	for (size_t i = 0; i < sizeof rnd; i++)
		n += snprintf(id + n, sizeof id - (size_t)n, "%02x", rnd[i]);
	snprintf(boundary, sizeof boundary, "=_sinkd_%s", id);
	rfc2822_date(m->now_us, date, sizeof date);
	int rc = dynbuf_printf(out,
			       "From: %s\r\nTo: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"
			       "Subject: ",
			       m->from, m->to, date, id, m->message_id_host);
	rc = rc ? rc : add_header_text(out, m->subject);
	rc = rc ? rc :
		  dynbuf_printf(out,
				"\r\nMIME-Version: 1.0\r\nX-ARF: YES\r\n"
				"Auto-Submitted: auto-generated\r\n"
				"Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
				"This is a multi-part message in MIME format (X-ARF).\r\n",
				boundary);
	/* Part 1: the human-readable summary. */
	rc = rc ? rc :
		  dynbuf_printf(out,
				"\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
				"Content-Transfer-Encoding: 8bit\r\n\r\n",
				boundary);
	rc = rc ? rc : add_text_crlf(out, m->body);
	/* Part 2: the machine-readable X-ARF 0.2 YAML. */
	if (!rc && m->xarf) {
		const struct mail_xarf *x = m->xarf;
		char xdate[64];
		rfc2822_date(x->date_us, xdate, sizeof xdate);
		rc = dynbuf_printf(out,
				   "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8; "
				   "name=\"report.txt\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
				   "---\r\nReported-From: ",
				   boundary);
		rc = rc ? rc : yaml_str(out, x->reported_from);
		rc = rc ? rc :
			  dynbuf_printf(out,
					"\r\nCategory: abuse\r\nReport-Type: bot-infection\r\n"
					"Service: sinkhole\r\nVersion: 0.2\r\n"
					"User-Agent: \"sinkd %s\"\r\nDate: \"%s\"\r\n"
					"Source-Type: ip-address\r\nSource: ",
					SINKD_VERSION, xdate);
		rc = rc ? rc : yaml_str(out, x->source);
		rc = rc ? rc : dynbuf_printf(out, "\r\nSource-Port: %u\r\n", x->source_port);
		if (!rc && x->source_asn)
			rc = dynbuf_printf(out, "Source-Asn: %" PRIu32 "\r\n", x->source_asn);
		rc = rc ? rc : dynbuf_adds(out, "Destination-Type: ip-address\r\nDestination: ");
		rc = rc ? rc : yaml_str(out, x->destination);
		rc = rc ? rc :
			  dynbuf_printf(out, "\r\nDestination-Port: %u\r\nMalware-Name: ",
					x->destination_port);
		rc = rc ? rc : yaml_str(out, x->malware_name);
		rc = rc ? rc :
			  dynbuf_adds(out, "\r\nClassification-Taxonomy: malicious-code\r\n"
					   "Classification-Type: infected-system\r\nReport-ID: ");
		rc = rc ? rc : yaml_str(out, x->report_id);
		rc = rc ? rc :
			  dynbuf_printf(out,
					"\r\nOccurrences: %" PRIu64 "\r\nSources: %" PRIu64
					"\r\nAttachment: %s\r\nSchema-URL: "
					"\"http://www.x-arf.org/schema/"
					"abuse_bot-infection_0.2.0.json\"\r\n",
					x->occurrences, x->sources, m->n_att ? "text/csv" : "none");
	}
	/* Then the CSV files, base64 so no line is ever too long for SMTP. */
	for (size_t i = 0; i < m->n_att && !rc; i++) {
		const struct mail_attachment *a = &m->att[i];
		rc = dynbuf_printf(out,
				   "\r\n--%s\r\nContent-Type: %s; name=\"%s\"\r\n"
				   "Content-Disposition: attachment; filename=\"%s\"\r\n"
				   "Content-Transfer-Encoding: base64\r\n\r\n",
				   boundary, a->content_type, a->filename, a->filename);
		rc = rc ? rc : add_base64(out, a->data, a->len, 76);
	}
	rc = rc ? rc : dynbuf_printf(out, "\r\n--%s--\r\n", boundary);
	return rc;
}

/* --- SMTP -------------------------------------------------------------------------------- */

#define SMTP_TIMEOUT_MS 30000

struct smtp {
	int fd;
	char buf[4096];
	size_t len;
};

static int smtp_write(struct smtp *s, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_SYS;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one (possibly multi-line) reply; returns its code or a negative error. */
static int smtp_reply(struct smtp *s, char *last, size_t lastcap)
{
	for (;;) {
		char *nl;
		while (!(nl = memchr(s->buf, '\n', s->len))) {
			if (s->len == sizeof s->buf)
				return ERR_MALFORMED;
			struct pollfd p = { s->fd, POLLIN, 0 };
			if (poll(&p, 1, SMTP_TIMEOUT_MS) <= 0)
				return ERR_SYS;
			ssize_t r = recv(s->fd, s->buf + s->len, sizeof s->buf - s->len, 0);
			if (r <= 0)
				return ERR_SYS;
			s->len += (size_t)r;
		}
		size_t ll = (size_t)(nl - s->buf) + 1;
		int code = -1;
		bool more = false;
		if (ll >= 4 && s->buf[0] >= '2' && s->buf[0] <= '5') {
			code = (s->buf[0] - '0') * 100 + (s->buf[1] - '0') * 10 + (s->buf[2] - '0');
			more = s->buf[3] == '-';
		}
		snprintf(last, lastcap, "%.*s", (int)(ll > 200 ? 200 : ll - 1), s->buf);
		memmove(s->buf, s->buf + ll, s->len - ll);
		s->len -= ll;
		if (code < 0)
			return ERR_MALFORMED;
		if (!more)
			return code;
	}
}

static int smtp_cmd(struct smtp *s, const char *cmd, int want, char *err, size_t errlen)
{
	char last[256] = "";
	if (cmd && smtp_write(s, cmd, strlen(cmd))) {
		snprintf(err, errlen, "send failed: %s", strerror(errno));
		return ERR_SYS;
	}
	int code = smtp_reply(s, last, sizeof last);
	if (code / 100 != want) {
		snprintf(err, errlen, "%s%s",
			 code < 0 ? "no answer" : "server said: ", code < 0 ? "" : last);
		return ERR_SYS;
	}
	return 0;
}

int mail_smtp_send(const char *hostport, const char *from, const char *to, const char *msg,
		   size_t len, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || (size_t)(colon - hostport) >= sizeof host) {
		snprintf(err, errlen, "--smtp takes HOST:PORT");
		return ERR_INVAL;
	}
	size_t hl = (size_t)(colon - hostport);
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		snprintf(err, errlen, "cannot resolve %s", hostport);
		return ERR_SYS;
	}
	struct smtp s = { .fd = -1 };
	for (struct addrinfo *a = ai; a && s.fd < 0; a = a->ai_next) {
		s.fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (s.fd >= 0 && connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) {
			close(s.fd);
			s.fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (s.fd < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", hostport, strerror(errno));
		return ERR_SYS;
	}
	char cmd[600];
	int rc = smtp_cmd(&s, NULL, 2, err, errlen);
	rc = rc ? rc : smtp_cmd(&s, "EHLO sinkd\r\n", 2, err, errlen);
	snprintf(cmd, sizeof cmd, "MAIL FROM:<%s>\r\n", from);
	rc = rc ? rc : smtp_cmd(&s, cmd, 2, err, errlen);
	snprintf(cmd, sizeof cmd, "RCPT TO:<%s>\r\n", to);
	rc = rc ? rc : smtp_cmd(&s, cmd, 2, err, errlen);
	rc = rc ? rc : smtp_cmd(&s, "DATA\r\n", 3, err, errlen);
	if (!rc) {
		/* Dot-stuffing: a line that starts with '.' gets another. */
		struct dynbuf b;
		dynbuf_init(&b, len * 2 + 16);
		bool bol = true;
		for (size_t i = 0; i < len && !rc; i++) {
			if (bol && msg[i] == '.')
				rc = dynbuf_addc(&b, '.');
			rc = rc ? rc : dynbuf_addc(&b, msg[i]);
			bol = msg[i] == '\n';
		}
		rc = rc ? rc : dynbuf_adds(&b, bol ? ".\r\n" : "\r\n.\r\n");
		if (!rc && smtp_write(&s, b.data, b.len))
			rc = ERR_SYS;
		dynbuf_free(&b);
		rc = rc ? rc : smtp_cmd(&s, NULL, 2, err, errlen);
	}
	if (!rc)
		smtp_cmd(&s, "QUIT\r\n", 2, err, errlen);
	close(s.fd);
	return rc;
}
