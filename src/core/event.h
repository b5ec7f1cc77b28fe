/* event.h — the binary event record: one per observed interaction, versioned, documented in docs/event-format.md. */
#ifndef SINKD_CORE_EVENT_H
#define SINKD_CORE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Layout (format version 1, all integers big-endian):
 *
 *   off size field
 *   0   1    version (EVENT_FORMAT_VERSION)
 *   1   1    type (enum event_type)
 *   2   2    flags (enum event_flag)
 *   4   1    transport (6 = TCP, 17 = UDP)
 *   5   1    ip version (4 or 6)
 *   6   2    src port
 *   8   2    dst port
 *   10  2    reserved, 0
 *   12  8    time, microseconds since the Unix epoch, UTC
 *   20  8    flow id (same for every event of one connection)
 *   28  16   src address (IPv4: first 4 bytes, rest 0)
 *   44  16   dst address
 *   60  ...  fields: u16 tag, u16 length, value; any order, tags may repeat
 *
 * Readers skip tags they do not know, so new fields never break old readers;
 * a change to the fixed header bumps the version.
 */

#define EVENT_FORMAT_VERSION 1
#define EVENT_HEADER_LEN     60
/*
 * Hard cap on one encoded record. A request head is at most 64 KiB
 * (limits.max_header_bytes) and a stored body prefix at most 64 KiB, so every
 * event the HTTP module builds fits with room to spare.
 */
#define EVENT_MAX_LEN	     (256u * 1024)

enum event_type {
	EVENT_HTTP = 1,
	EVENT_TLS = 2,
	EVENT_DNS = 3,
	EVENT_SMTP = 4,
	EVENT_RAW = 5,
};

enum event_flag {
	EVENT_F_MALFORMED = 1u << 0, /* the input violated the protocol */
	EVENT_F_TRUNCATED = 1u << 1, /* a field or body was cut at a limit */
	EVENT_F_VIA_PROXY = 1u << 2, /* source came from a PROXY protocol header */
	EVENT_F_FORWARDED = 1u << 3, /* source came from X-Forwarded-For of a trusted proxy */
	EVENT_F_TIMEOUT = 1u << 4,   /* the connection timed out before a complete request */
	EVENT_F_LIMIT = 1u << 5,     /* a configured limit refused the input */
	EVENT_F_NO_ANSWER = 1u << 6, /* the connection closed before an answer was sent */
};

/* Field tags. 0x00xx common, 0x01xx HTTP, 0x02xx TLS, 0x03xx DNS, 0x04xx SMTP, 0x05xx raw. */
enum event_tag {
	EVENT_T_FAMILY = 0x0001,     /* string: family from classification ("unknown" if none) */
	EVENT_T_TAG = 0x0002,	     /* string: tag of the matching rule */
	EVENT_T_LISTENER = 0x0003,   /* string: listener name */
	EVENT_T_REASON = 0x0004,     /* string: why malformed / limited / timed out */
	EVENT_T_RAW_PREFIX = 0x0005, /* bytes: first bytes received, for malformed input */
	EVENT_T_PEER =
		0x0006, /* addr (19 bytes: ipver, 16 addr, be16 port): real TCP peer when the source was proxied */
	EVENT_T_FORWARDED_BY =
		0x0007,		/* addr: the trusted proxy whose X-Forwarded-For gave the source */
	EVENT_T_TX_ID = 0x0008, /* u32: index of this request within its connection */
	EVENT_T_RULE = 0x0009,	/* u32: index of the matching rule (absent if none) */

	EVENT_T_HTTP_METHOD = 0x0100,	    /* string */
	EVENT_T_HTTP_URI = 0x0101,	    /* string: request target as sent */
	EVENT_T_HTTP_HOST = 0x0102,	    /* string: Host header */
	EVENT_T_HTTP_USER_AGENT = 0x0103,   /* string */
	EVENT_T_HTTP_REFERER = 0x0104,	    /* string */
	EVENT_T_HTTP_PROTOCOL = 0x0105,	    /* string: "HTTP/1.1" */
	EVENT_T_HTTP_STATUS = 0x0106,	    /* u16: status answered */
	EVENT_T_HTTP_CONTENT_TYPE = 0x0107, /* string: request Content-Type */
	EVENT_T_HTTP_BODY_LEN = 0x0108,	    /* u64: request body bytes received (all of them) */
	EVENT_T_HTTP_BODY_SHA256 = 0x0109,  /* 32 bytes: digest of the whole request body */
	EVENT_T_HTTP_BODY_PREFIX = 0x010a,  /* bytes: first body bytes, up to the stored limit */
	EVENT_T_HTTP_XFF = 0x010b,	    /* string: X-Forwarded-For header as sent */
	EVENT_T_HTTP_HEADERS =
		0x010c, /* list: be16 count, then (be16 nlen, name, be16 vlen, value)* in order */
	EVENT_T_HTTP_RESPONSE_LEN = 0x010d, /* u64: bytes of the answer */

	/* TLS: every event of a TLS connection has SNI, VERSION (once negotiated), JA3 and JA4; */
	/* the handshake event (type EVENT_TLS) has the rest. */
	EVENT_T_TLS_SNI = 0x0200,	      /* string: server name from the ClientHello */
	EVENT_T_TLS_ALPN_OFFERED = 0x0201,    /* string, repeated in the client's order */
	EVENT_T_TLS_VERSION_OFFERED = 0x0202, /* u16: highest version the client offered */
	EVENT_T_TLS_VERSION = 0x0203,	      /* u16: negotiated version (0x0304 = TLS 1.3) */
	EVENT_T_TLS_CIPHER = 0x0204,	      /* u16: negotiated cipher suite */
	EVENT_T_TLS_JA3 = 0x0205,	      /* string: JA3 MD5, 32 lowercase hex digits */
	EVENT_T_TLS_JA3_STRING = 0x0206,      /* string: the JA3 string hashed */
	EVENT_T_TLS_JA4 = 0x0207,	      /* string: JA4 */
	EVENT_T_TLS_JA4_R = 0x0208,	      /* string: JA4_r (sorted lists in clear) */
	EVENT_T_TLS_OUTCOME =
		0x0209, /* string: completed, alert:<code>, timeout, not-tls, malformed, closed */
	EVENT_T_TLS_ALPN = 0x020a,	    /* string: negotiated ALPN */
	EVENT_T_TLS_RESUMED = 0x020b,	    /* u16: 1 when the session was resumed */
	EVENT_T_TLS_HELLO_VERSION = 0x020c, /* u16: ClientHello.legacy_version */
	/* DNS (type EVENT_DNS): one event per query; see docs/event-format.md. */
	EVENT_T_DNS_QNAME = 0x0300,	 /* string: query name, presentation form, case as sent */
	EVENT_T_DNS_QTYPE = 0x0301,	 /* u16 */
	EVENT_T_DNS_QCLASS = 0x0302,	 /* u16 */
	EVENT_T_DNS_RCODE = 0x0303,	 /* u16: rcode answered (extended: BADVERS = 16) */
	EVENT_T_DNS_ID = 0x0304,	 /* u16: message id */
	EVENT_T_DNS_QFLAGS = 0x0305,	 /* u16: header flags of the query */
	EVENT_T_DNS_RFLAGS = 0x0306,	 /* u16: header flags of the answer (absent: none sent) */
	EVENT_T_DNS_EDNS_SIZE = 0x0307,	 /* u16: EDNS UDP payload size (absent: no EDNS) */
	EVENT_T_DNS_EDNS_FLAGS = 0x0308, /* u32: EDNS version << 16 | EDNS flags (DO = 0x8000) */
	EVENT_T_DNS_ECS = 0x0309,	 /* 20 bytes: be16 family, source len, scope len, 16 addr */
	EVENT_T_DNS_ZONE = 0x030a,	 /* string: the seized name matched (lower case) */
	EVENT_T_DNS_ANSWERS = 0x030b, /* be32 ttl, then (u8 ipver, 4 or 16 bytes)*: A/AAAA sent */
	EVENT_T_DNS_ACTION = 0x030c,  /* string: answered|truncated|rrl-drop|rrl-slip|dropped */
	EVENT_T_DNS_CLIENT_KIND = 0x030d, /* string: "resolver": the source is a DNS resolver */

	/* Raw captures keep their first bytes in EVENT_T_RAW_PREFIX (EVE payload). */
	EVENT_T_RAW_LEN = 0x0500, /* u64: bytes received (connection) or datagram size */
	EVENT_T_RAW_ENTROPY =
		0x0501,		    /* u16: Shannon entropy of the captured bytes, millibits/byte */
	EVENT_T_RAW_GUESS = 0x0502, /* string: protocol guess: http tls smtp ssh dns unknown */
	EVENT_T_RAW_BANNER_LEN = 0x0503, /* u32: banner bytes sent before reading */
	EVENT_T_RAW_SUPPRESSED =
		0x0504, /* u64: datagrams from this source not recorded (rate cap) */

	/* SMTP: one event per transaction (MAIL ... end of DATA, or its abort), or per session without one. */
	EVENT_T_SMTP_HELO = 0x0400,	    /* string: HELO/EHLO argument */
	EVENT_T_SMTP_HELO_VERB = 0x0401,    /* string: "HELO" or "EHLO" */
	EVENT_T_SMTP_MAIL_FROM = 0x0402,    /* string: reverse-path without <> (may be empty) */
	EVENT_T_SMTP_RCPT_COUNT = 0x0403,   /* u32: recipients accepted */
	EVENT_T_SMTP_RCPT_TO = 0x0404,	    /* list (as HTTP headers' strings): first recipients */
	EVENT_T_SMTP_RCPT_DOMAINS = 0x0405, /* list: distinct recipient domains, in order seen */
	EVENT_T_SMTP_MSG_SIZE = 0x0406,	    /* u64: message bytes after dot-unstuffing */
	EVENT_T_SMTP_MSG_SHA256 = 0x0407,   /* 32 bytes: digest of the whole unstuffed message */
	EVENT_T_SMTP_HDR_FROM = 0x0408,	    /* string: first From header value (unfolded) */
	EVENT_T_SMTP_HDR_TO = 0x0409,	    /* string */
	EVENT_T_SMTP_HDR_SUBJECT = 0x040a,  /* string */
	EVENT_T_SMTP_HDR_DATE = 0x040b,	    /* string */
	EVENT_T_SMTP_HDR_MESSAGE_ID = 0x040c,	/* string */
	EVENT_T_SMTP_HDR_X_MAILER = 0x040d,	/* string */
	EVENT_T_SMTP_HDR_CONTENT_TYPE = 0x040e, /* string */
	EVENT_T_SMTP_HEADER_ORDER = 0x040f,	/* string: header names as sent, joined by ',' */
	EVENT_T_SMTP_SSDEEP = 0x0410,		/* string: ssdeep digest of the normalised body */
	EVENT_T_SMTP_CAMPAIGN = 0x0411,		/* string: campaign key, 16 hex digits */
	EVENT_T_SMTP_CAMPAIGN_SCORE = 0x0412, /* u16: score against the campaign's representative */
	EVENT_T_SMTP_STATUS = 0x0413,	      /* u16: reply code that ended the transaction */
	EVENT_T_SMTP_ANOMALIES = 0x0414,      /* string: protocol deviations, joined by ',' */
	EVENT_T_SMTP_COMMANDS = 0x0415,	      /* u32: commands received so far in the session */
	EVENT_T_SMTP_SAMPLE = 0x0416,	      /* string: file name of the kept sample */
	EVENT_T_SMTP_BODY_TYPE = 0x0417,      /* string: MAIL BODY= parameter ("8BITMIME") */
	EVENT_T_SMTP_DECLARED_SIZE = 0x0418,  /* u64: MAIL SIZE= parameter */
	EVENT_T_SMTP_TLS = 0x0419,	      /* u8: 1 if the session was upgraded with STARTTLS */
	EVENT_T_SMTP_BODY_SHA256 = 0x041a,    /* 32 bytes: digest of the body (after the headers) */
	EVENT_T_SMTP_SUBJECT_DECODED =
		0x041b, /* string: Subject with RFC 2047 encoded words decoded */
};

#define EVENT_ADDR_LEN 19

struct event_addr {
	uint8_t ipver;	  /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;
};

/* The fixed header, decoded. */
struct event_header {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint8_t transport;
	uint64_t ts_us;
	uint64_t flow_id;
	struct event_addr src;
	struct event_addr dst; /* ipver of dst equals that of src */
};

/*
 * Builder: encodes into a caller-owned buffer. Writing past the buffer sets
 * `overflow` instead of failing each call; event_finish() reports it once.
 * Strings are written without a NUL. A value longer than 65535 bytes is cut
 * and the record gets EVENT_F_TRUNCATED.
 */
struct event_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

void event_begin(struct event_builder *b, uint8_t *buf, size_t cap, const struct event_header *h);
void event_put(struct event_builder *b, uint16_t tag, const void *val, size_t len);
void event_put_str(struct event_builder *b, uint16_t tag, const char *s); /* NUL-terminated */
void event_put_u16(struct event_builder *b, uint16_t tag, uint16_t v);
void event_put_u32(struct event_builder *b, uint16_t tag, uint32_t v);
void event_put_u64(struct event_builder *b, uint16_t tag, uint64_t v);
void event_put_addr(struct event_builder *b, uint16_t tag, const struct event_addr *a);
/*
 * Appends fields another builder already encoded ((tag, length, value)*, as
 * found after the header of a record it finished): fields that are the same
 * for many events are encoded once and copied.
 */
void event_put_encoded(struct event_builder *b, const uint8_t *fields, size_t len);
void event_add_flags(struct event_builder *b, uint16_t flags);
/* Returns the record length, or ERR_NOMEM if it did not fit. */
int event_finish(struct event_builder *b, size_t *len_out);

/*
 * Reader: event_decode() checks the header and that the fields exactly tile
 * the record (ERR_CORRUPT otherwise); then event_field_next() walks them.
 * Slices point into the record, valid while the record is.
 */
struct event_field {
	uint16_t tag;
	uint16_t len;
	const uint8_t *val;
};

struct event_view {
	struct event_header h;
	const uint8_t *fields;
	size_t fields_len;
};

int event_decode(const uint8_t *rec, size_t len, struct event_view *v);
/* Iterates from *pos (start at 0); returns false at the end. */
bool event_field_next(const struct event_view *v, size_t *pos, struct event_field *f);
/* First field with this tag, or false. */
bool event_find(const struct event_view *v, uint16_t tag, struct event_field *f);
uint64_t event_field_uint(const struct event_field *f); /* u16/u32/u64 by length, else 0 */
bool event_field_addr(const struct event_field *f, struct event_addr *a);

/* Text form of an address ("192.0.2.1", "2001:db8::1") into buf; returns buf. */
const char *event_addr_str(const struct event_addr *a, char *buf, size_t cap);
/* Parses an IPv4 or IPv6 text address (no port). */
int event_addr_parse(const char *s, struct event_addr *a);

#endif
