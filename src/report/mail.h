/* mail.h — notification mails: an RFC 5322 / MIME message with X-ARF 0.2 parts, and plain SMTP submission. */
#ifndef SINKD_REPORT_MAIL_H
#define SINKD_REPORT_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"

struct mail_attachment {
	const char *filename; /* [A-Za-z0-9_.-] only */
	const char *content_type;
	const uint8_t *data;
	size_t len;
};

/* X-ARF 0.2 bot-infection report fields (YAML part, ../shared/reference/formats.md §6). */
struct mail_xarf {
	const char *reported_from;
	const char *source; /* an address from the report (the most active) */
	uint16_t source_port;
	uint32_t source_asn;
	const char *destination; /* the sinkhole address it contacted */
	uint16_t destination_port;
	const char *malware_name;
	const char *report_id;
	uint64_t occurrences; /* events in the report */
	uint64_t sources;     /* unique addresses in the report */
	uint64_t date_us;     /* time of the first event */
};

struct mail_msg {
	const char *from; /* plain addresses */
	const char *to;
	const char *subject; /* UTF-8; encoded (RFC 2047) when not ASCII */
	const char *body;    /* the human-readable summary, UTF-8, LF line ends */
	const struct mail_xarf *xarf;
	const struct mail_attachment *att;
	size_t n_att;
	uint64_t now_us; /* Date: header */
	const char *message_id_host;
};

/* Builds the whole message with CRLF line ends. */
int mail_build(struct dynbuf *out, const struct mail_msg *m);

/*
 * Submits a built message over plain SMTP to host:port (a local relay):
 * EHLO, MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT. err gets the
 * server's answer on failure. Timeouts: 30 s per step.
 */
int mail_smtp_send(const char *hostport, const char *from, const char *to, const char *msg,
		   size_t len, char *err, size_t errlen);

#endif
