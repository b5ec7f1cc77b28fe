/* dns_msg.h — bounds-checked DNS query parser (RFC 1035 header, question, EDNS0 OPT, client subnet). */
#ifndef SINKD_PROTO_DNS_MSG_H
#define SINKD_PROTO_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The parser reads a query (or anything claiming to be one) into a typed
 * struct, once: nothing downstream touches the raw bytes except to copy the
 * question verbatim. Every name is decompressed with a cap on pointer hops
 * (a pointer must also point strictly backwards, so loops end), on label
 * length (63), on name length (255 wire bytes) and on labels (127). Counts are
 * trusted only as far as the bytes go: a count that runs past the end is
 * malformed, never a long loop (each record consumes at least 11 bytes).
 */

#define DNS_HEADER_LEN	  12
#define DNS_NAME_MAX	  255 /* wire length, including the root label */
#define DNS_LABELS_MAX	  127
#define DNS_LABEL_MAX	  63
#define DNS_PTR_HOPS_MAX  32
#define DNS_TEXT_NAME_MAX 1024 /* presentation form with \DDD escapes: 4 * 254 + 1 fits */

enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_HINFO = 13,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_OPT = 41,
	DNS_T_IXFR = 251,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
};

enum dns_class {
	DNS_C_IN = 1,
	DNS_C_CH = 3,
	DNS_C_ANY = 255,
};

enum dns_rcode {
	DNS_R_NOERROR = 0,
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
	DNS_R_BADVERS = 16, /* extended: needs OPT */
};

/* Header flag bits (the 16-bit word after the id). */
#define DNS_F_QR	  0x8000u
#define DNS_F_AA	  0x0400u
#define DNS_F_TC	  0x0200u
#define DNS_F_RD	  0x0100u
#define DNS_F_RA	  0x0080u
#define DNS_F_Z		  0x0040u
#define DNS_F_AD	  0x0020u
#define DNS_F_CD	  0x0010u
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xfu)
#define DNS_EDNS_DO	  0x8000u
#define DNS_OPT_ECS	  8
#define DNS_OPT_COOKIE	  10

/* A name in uncompressed wire form, case as sent; label_off[i] = offset of label i's length byte. */
struct dns_name {
	uint8_t wire[DNS_NAME_MAX];
	uint16_t len; /* wire bytes including the final 0 */
	uint8_t labels;
	uint8_t label_off[DNS_LABELS_MAX + 1];
};

struct dns_query {
	uint16_t id;
	uint16_t flags;
	uint16_t qdcount, ancount, nscount, arcount;

	bool has_question;
	struct dns_name qname;
	uint16_t qtype, qclass;
	size_t question_end; /* message offset just past the question */
	bool qname_plain;    /* the question's name had no compression pointer (copy verbatim) */

	bool has_edns;
	uint16_t edns_size;
	uint8_t edns_ext_rcode;
	uint8_t edns_version;
	uint16_t edns_flags;

	bool has_ecs;
	uint16_t ecs_family; /* 1 = IPv4, 2 = IPv6 */
	uint8_t ecs_source;  /* SOURCE PREFIX-LENGTH */
	uint8_t ecs_scope;   /* SCOPE PREFIX-LENGTH as sent (0 in a well-formed query) */
	uint8_t ecs_addr[16];

	const char *error; /* static text: why the message is malformed (NULL if it is not) */
};

/*
 * Parses a DNS message. Returns 0 if it is a well-formed query message,
 * ERR_NEED_MORE if it is shorter than a header (nothing can be answered:
 * not even the id is known), ERR_MALFORMED if the header was read but the
 * rest is bad (q->error says why; the answer is FORMERR). Whatever parsed
 * before the fault (header, question) stays filled in for the record.
 */
int dns_msg_parse(const uint8_t *msg, size_t len, struct dns_query *q);

/*
 * Reads the name at `off` in msg (following compression pointers) into out.
 * *next is set to the offset just past the name where it started. Returns 0
 * or ERR_MALFORMED with *why set.
 */
int dns_name_read(const uint8_t *msg, size_t len, size_t off, struct dns_name *out, size_t *next,
		  const char **why);

/* Presentation form ("www.Example.com", "." for the root, \DDD for odd bytes) into buf. */
size_t dns_name_text(const struct dns_name *n, char *buf, size_t cap);

/* Mnemonic of a type ("A", "AAAA", "TYPE65280") into buf; returns buf. */
const char *dns_type_str(uint16_t type, char *buf, size_t cap);
/* Mnemonic of an rcode ("NOERROR", "BADVERS", "RCODE23") into buf; returns buf. */
const char *dns_rcode_str(uint16_t rcode, char *buf, size_t cap);

#endif
