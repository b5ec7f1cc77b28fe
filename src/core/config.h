/* config.h — the daemon's YAML configuration, parsed once into plain structs (libyaml). */
#ifndef SINKD_CORE_CONFIG_H
#define SINKD_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/event.h"

/*
 * Every key has a default (config_defaults), so the smallest useful file is a
 * log directory and one listener. Unknown keys are errors (a typo must not
 * silently disable a limit). All strings are owned by the config and freed by
 * config_free(). The README's "Config reference" documents every key.
 */

enum config_proto {
	CONFIG_PROTO_HTTP = 1,
	CONFIG_PROTO_TLS,
	CONFIG_PROTO_DNS,
	CONFIG_PROTO_SMTP,
	CONFIG_PROTO_RAW,
};

enum config_fsync {
	CONFIG_FSYNC_INTERVAL = 0, /* fdatasync every fsync_interval_ms */
	CONFIG_FSYNC_ANSWERED,	   /* answer only after the event is on disk (group commit) */
	CONFIG_FSYNC_NONE,	   /* leave it to the kernel (benchmarks, tests) */
};

/* An address prefix: 192.0.2.0/24, 2001:db8::/32, or a bare address (/32 or /128). */
struct config_cidr {
	uint8_t ipver;
	uint8_t addr[16];
	uint8_t prefix_len;
};

struct config_http_limits {
	uint32_t max_header_bytes; /* request line + headers; default 8192 */
	uint32_t max_headers;	   /* header count; default 64 */
	uint64_t max_body_bytes; /* bytes read and digested per body; beyond: close, flag; default 16 MiB */
	uint32_t body_store_bytes; /* body prefix kept in the event; default 256 */
	uint32_t header_timeout_ms; /* from first byte (or accept) to complete headers; default 10000 */
	uint32_t idle_timeout_ms;	/* keep-alive idle; default 30000 */
	uint32_t max_requests_per_conn; /* default 1000 */
};

/*
 * SMTP listeners (proto: smtp). Their `limits` keep the HTTP names with SMTP
 * meanings: header_timeout_ms is the time allowed for each command line and
 * for progress inside DATA, idle_timeout_ms for the client to read a reply.
 */
struct config_smtp {
	char *hostname;		     /* banner and EHLO name; default "mx.sinkhole.invalid" */
	uint32_t max_line_bytes;     /* command line incl. CRLF; default 2048 (RFC 5321: 512) */
	uint32_t max_recipients;     /* RCPT per transaction; default 100 (RFC 5321 minimum) */
	uint64_t max_message_bytes;  /* advertised in SIZE; beyond: 552; default 10 MiB */
	uint32_t max_commands;	     /* commands per session; default 1000 */
	uint32_t max_transactions;   /* messages per session; default 1000 */
	uint32_t max_errors;	     /* bad commands before 421; default 20 */
	uint32_t campaign_threshold; /* ssdeep score 1..100 joining a campaign; default 60 */
	uint32_t campaign_slots;   /* campaign representatives kept (LRU), 1..16384; default 1024 */
	char *sample_dir;	   /* keep messages here (NULL = off) */
	uint64_t sample_max_bytes; /* per sample file; default 1 MiB */
	uint32_t sample_retention_days; /* delete older samples; default 30 */
	bool starttls; /* offer STARTTLS with the listener's `tls:` block (self-signed by default) */
};

/* An inclusive port range; one port is lo == hi. */
struct config_port_range {
	uint16_t lo, hi;
};

/* Raw capture on `proto: raw` listeners (see proto/raw). */
struct config_raw {
	uint32_t capture_bytes; /* first bytes recorded per connection; default 4096, 1 … 64 KiB */
	uint32_t timeout_ms;	/* record what arrived by then and close; default 5000 */
	uint8_t *banner;	/* sent right after accepting; NULL = none (default) */
	size_t banner_len;
	bool handover;	   /* hand guessed HTTP (and TLS) streams to their module; default true */
	bool tcp, udp;	   /* transport: tcp | udp | both (default both) */
	uint32_t udp_rate; /* datagrams recorded per second per source address; default 20 */
};

/*
 * How the kernel delivers connections for other ports to an any-port
 * listener (`ports:`): nftables REDIRECT (the original destination comes
 * from SO_ORIGINAL_DST) or TPROXY (IP_TRANSPARENT; the socket's local
 * address is the original destination).
 */
enum config_redirect {
	CONFIG_REDIRECT_NONE = 0,
	CONFIG_REDIRECT_NAT,
	CONFIG_REDIRECT_TPROXY,
};

/* A certificate for `proto: tls` (and STARTTLS): PEM files, and the names it serves. */
struct config_tls_cert {
	char *cert_file; /* PEM: the certificate, then its chain */
	char *key_file;	 /* PEM private key; default: cert_file */
	char **names;	 /* SNI names ("a.example", "*.a.example"); default: the cert's own names */
	size_t n_names;
};

/* The `tls:` block of a listener. */
struct config_tls {
	struct config_tls_cert
		*certs; /* first = for hellos whose name no cert has (self_signed off) */
	size_t n_certs;
	bool self_signed; /* generate a cert per requested name when none is configured; default true */
	uint16_t min_version;	  /* 0x0301 (TLS 1.0) .. 0x0304; default 0x0301 */
	uint16_t max_version;	  /* default 0x0304 */
	bool session_tickets;	  /* default true */
	bool session_cache;	  /* server-side session cache; default true */
	char *ciphers;		  /* TLS <= 1.2 OpenSSL cipher list; default "ALL:@SECLEVEL=0" */
	char *ciphersuites;	  /* TLS 1.3 suites; NULL = OpenSSL's default */
	uint32_t max_hello_bytes; /* raw bytes held while a ClientHello arrives; default 64 KiB */
};

struct config_listener {
	char *name; /* default "<proto>-<addr>" */
	enum config_proto proto;
	char *addr_text; /* as written: "127.0.0.1:8080", "[::1]:8080" */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool proxy_protocol; /* expect a PROXY v1/v2 header first; default false */
	/*
	 * TCP_DEFER_ACCEPT: the kernel hands over a connection once its first
	 * bytes are there, so accept, read, answer and close need no wait in
	 * between. A connection that sends nothing still arrives, after about
	 * header_timeout_ms, and is recorded as such. Default true.
	 */
	bool defer_accept;
	struct config_cidr *trusted_proxies; /* X-Forwarded-For honoured only from these */
	size_t n_trusted_proxies;
	uint32_t max_connections; /* per listener, all workers together; default 100000 */
	struct config_http_limits http;
	struct config_smtp smtp; /* proto smtp only */
	struct config_tls tls;	 /* proto tls (and smtp STARTTLS) */
	struct config_raw raw;
	/* Any-port capture: the ports of `seized` addresses the firewall sends here (NULL = none). */
	struct config_port_range *ports;
	size_t n_ports;
	enum config_redirect redirect;
	struct event_addr *seized; /* default: the listener's own address (refused if wildcard) */
	size_t n_seized;
	bool defer_accept_set, raw_set; /* given in the file (defaults depend on proto) */
};

/*
 * A condition on a string: a list of alternatives, any of which may match;
 * an empty list matches everything. YAML forms:
 *   host: "cnc.example"                       (one exact value)
 *   host: { suffix: [a.example, b.example] }  (any of these suffixes)
 *   path: { prefix: "/login.php", regex: "^/f[0-9]+\\.php$" }  (either)
 *   user_agent: { contains: "MSIE 6.0", nocase: true }
 */
enum config_strmatch_kind {
	CONFIG_MATCH_EXACT = 1,
	CONFIG_MATCH_SUFFIX, /* for hosts "example.com" matches itself and "*.example.com", not "badexample.com" */
	CONFIG_MATCH_PREFIX,
	CONFIG_MATCH_CONTAINS,
	CONFIG_MATCH_REGEX, /* POSIX extended, unanchored unless the pattern anchors itself */
};

struct config_strmatch_alt {
	enum config_strmatch_kind kind;
	char *value;
};

struct config_strmatch {
	struct config_strmatch_alt *alts;
	size_t n_alts;
	bool nocase; /* default true for host, false otherwise */
};

/* Bytes that must appear at an exact offset of a raw payload. */
struct config_payload_at {
	uint32_t offset;
	uint8_t *bytes;
	size_t len;
};

/*
 * Conditions on the first bytes of a raw capture (`match.payload`); every
 * condition given must hold. Input without a payload (HTTP requests) never
 * matches a rule that has one.
 */
struct config_payload {
	bool present;
	uint8_t *prefix; /* the payload starts with these */
	size_t prefix_len;
	uint8_t *contains; /* anywhere in the captured bytes */
	size_t contains_len;
	struct config_payload_at *at; /* bytes at an offset, all of them */
	size_t n_at;
	bool has_len;
	uint64_t len_min, len_max; /* bytes received, inclusive */
	bool has_entropy;
	uint16_t entropy_min, entropy_max; /* Shannon entropy, millibits per byte (0 … 8000) */
};

struct config_match {
	int proto;	  /* 0 = any, else enum config_proto */
	char **listeners; /* listener names; NULL = any */
	size_t n_listeners;
	struct config_port_range *dst_ports; /* "80", "1024-65535" or a list; NULL = any */
	size_t n_dst_ports;
	char *method; /* exact, case-sensitive; NULL = any */
	struct config_strmatch host;
	struct config_strmatch path; /* path = request target up to '?' */
	struct config_strmatch uri;  /* whole request target including the query */
	struct config_strmatch user_agent;
	struct config_strmatch sni; /* TLS server name, host-like (suffix is label-aware, no case) */
	struct config_strmatch ja3; /* JA3 MD5 (hex, no case) */
	struct config_strmatch ja4; /* JA4 ("t13d1516h2_8daaf6152771_e5627efa2ab1") */
	bool has_body_len;
	uint64_t body_len_min, body_len_max; /* "body_len: 96" or "body_len: [90, 100]" */
	uint8_t *body_prefix; /* bytes the body must start with ("hex:0a0b" or text) */
	size_t body_prefix_len;
	/* SMTP: a condition on one of these never matches other protocols' events. */
	struct config_strmatch helo;	     /* HELO/EHLO name; host-like, nocase */
	struct config_strmatch mail_from;    /* envelope sender domain; host-like, nocase */
	struct config_strmatch subject;	     /* Subject header */
	struct config_strmatch x_mailer;     /* X-Mailer header */
	struct config_strmatch header_order; /* header names as sent, joined by ',' */
	struct config_strmatch campaign;     /* campaign key (16 lower-case hex digits) */
	struct config_payload payload;	     /* first bytes of a raw capture */
};

struct config_header {
	char *name;
	char *value;
};

struct config_answer {
	uint16_t status; /* default 200 */
	struct config_header *headers;
	size_t n_headers;
	uint8_t *body; /* fixed body, may be empty */
	size_t body_len;
};

struct config_family {
	char *name; /* family reported ("rustock") */
	char *tag;  /* optional tag ("checkin") */
	struct config_match match;
	struct config_answer answer;
	bool has_answer; /* false: use the default answer */
};

/* Where a family's events carry a bot identifier (store.bot_ids). */
struct config_bot_id {
	char *family;	 /* events of this family */
	char *uri_param; /* the value of this query parameter of the request URI, or */
	char *header;	 /* the value of this request header (name compared without case) */
};

/* Enrichment data files and the embedded store (docs/store.md). */
struct config_store {
	char *path; /* store.path: SQLite database the indexer thread writes; NULL = none */
	char **asn; /* enrich.asn: ASN sources, in load order */
	size_t n_asn;
	char **country; /* enrich.country: country MMDBs */
	size_t n_country;
	char **contacts; /* enrich.contacts: abuse-contact CSVs */
	size_t n_contacts;
	struct config_bot_id *bot_ids; /* store.bot_ids: unique bot IDs counted per family */
	size_t n_bot_ids;
};
struct config_dns; /* proto/dns/dns_config.h */

/* The admin listener serving /metrics (docs/metrics.md); off unless metrics.listen is set. */
struct config_metrics {
	char *listen; /* "127.0.0.1:9108"; NULL = no admin listener */
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

struct config {
	char *path;	 /* the file it came from */
	char *sensor_id; /* default: host name */
	char *log_dir;	 /* default "/var/lib/sinkd/log" */
	enum config_fsync fsync;
	uint32_t fsync_interval_ms; /* default 100 */
	uint64_t segment_bytes;	    /* default 64 MiB */
	uint32_t ring_bytes;	    /* per-worker ring; default 8 MiB */
	char *signing_key; /* log.signing_key: Ed25519 private key (PEM) for signed heads; NULL = off */
	char *user;	   /* privilege drop after binding; NULL = stay */
	char *group;
	uint32_t workers; /* default 0 = one per core */
	char *log_level;  /* daemon's own log: error|warn|info|debug; default info */
	char *eve_file;	  /* continuous EVE JSON output; NULL = off */
	char *stats_file; /* counters as JSON, rewritten every second; default <log_dir>/stats.json */
	char *pid_file;	  /* NULL = none */
	uint32_t drain_timeout_ms; /* SIGTERM: time given to open connections; default 5000 */
	struct config_listener *listeners;
	size_t n_listeners;
	struct config_family *families; /* in order: first match wins */
	size_t n_families;
	struct config_answer default_answer; /* for unmatched traffic; default 404 empty */
	struct config_dns *dns;		     /* the `dns:` section; NULL if absent */
	struct config_store store;	     /* store: and enrich: (docs/store.md) */
	struct config_metrics metrics;	     /* metrics: the admin listener */
};

/*
 * Parses a file. On error returns ERR_CONFIG (or ERR_SYS) and writes a
 * message naming the file, line and key into errbuf.
 */
int config_load(const char *path, struct config **out, char *errbuf, size_t errlen);
/* Same from a string in memory (tests, fuzzing); `name` is used in messages. */
int config_load_string(const char *yaml, size_t len, const char *name, struct config **out,
		       char *errbuf, size_t errlen);
void config_free(struct config *c);

/* Parses "ip:port" / "[ipv6]:port" into a sockaddr. */
int config_parse_sockaddr(const char *text, struct sockaddr_storage *ss, socklen_t *len);
/* Parses "192.0.2.0/24", "2001:db8::/32" or a bare address. */
int config_parse_cidr(const char *text, struct config_cidr *out);
/* True if the address lies inside the prefix (same IP version only). */
bool config_cidr_contains(const struct config_cidr *c, const struct event_addr *a);

const char *config_proto_name(enum config_proto p); /* "http", "tls", ... */

/* Fills in the documented SMTP defaults (what an smtp listener gets without `smtp:`). */
void config_smtp_default(struct config_smtp *s);

/* Fills in the documented HTTP limit defaults (what a listener gets without `limits:`). */
void config_http_limits_default(struct config_http_limits *l);
/* Fills in the documented `tls:` defaults. */
void config_tls_default(struct config_tls *t);

#endif
