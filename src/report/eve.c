/* eve.c — render one binary event record as a Suricata-style EVE JSON line (docs/eve.md). */
#include "report/eve.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "report/eve_dns.h"
#include "report/eve_smtp.h"

/*
 * Suricata masks its flow ids to 51 bits ("JavaScript and even JSON often
 * seem to max out there", flow.h FlowGetId), so every reader that holds
 * numbers as doubles sees the exact value. We do the same: the id stays an
 * integer and compares equal across tools.
 */
#define EVE_FLOW_ID_MASK 0x7ffffffffffffULL

/*
 * The fields eve_format knows, by slot. One pass over the record fills the
 * slots (first occurrence wins, as with event_find) and the JSON is then
 * written in a fixed key order, so a record with repeated tags never yields
 * duplicate keys.
 */
enum eve_slot {
	S_FAMILY,
	S_TAG,
	S_LISTENER,
	S_REASON,
	S_RAW_PREFIX,
	S_PEER,
	S_FORWARDED_BY,
	S_TX_ID,
	S_RULE,
	S_METHOD,
	S_URI,
	S_HOST,
	S_USER_AGENT,
	S_REFERER,
	S_PROTOCOL,
	S_STATUS,
	S_CONTENT_TYPE,
	S_BODY_LEN,
	S_BODY_SHA256,
	S_BODY_PREFIX,
	S_XFF,
	S_HEADERS,
	S_RESPONSE_LEN,
	S_TLS_SNI,
	S_TLS_VERSION,
	S_TLS_VERSION_OFFERED,
	S_TLS_HELLO_VERSION,
	S_TLS_CIPHER,
	S_TLS_JA3,
	S_TLS_JA3_STRING,
	S_TLS_JA4,
	S_TLS_JA4_R,
	S_TLS_OUTCOME,
	S_TLS_ALPN,
	S_TLS_RESUMED,
	S_TLS_ALPN_OFFERED, /* repeated: out_tls walks the record for all of them */
	S_RAW_LEN,
	S_RAW_ENTROPY,
	S_RAW_GUESS,
	S_RAW_BANNER_LEN,
	S_RAW_SUPPRESSED,
	S_COUNT
};

/* One bit per slot: 64 leave room for the TLS and SMTP fields to come. */
#define SLOT(s) (UINT64_C(1) << (s))
_Static_assert(S_COUNT <= 64, "eve_fields.present has one bit per slot");
/* Slots rendered inside the "http" object. */
#define EVE_HTTP_SLOTS                                                                             \
	(SLOT(S_METHOD) | SLOT(S_URI) | SLOT(S_HOST) | SLOT(S_USER_AGENT) | SLOT(S_REFERER) |      \
	 SLOT(S_PROTOCOL) | SLOT(S_STATUS) | SLOT(S_CONTENT_TYPE) | SLOT(S_XFF) |                  \
	 SLOT(S_HEADERS) | SLOT(S_RESPONSE_LEN) | SLOT(S_BODY_PREFIX))
/* Slots rendered inside the "tls" object. */
#define EVE_TLS_SLOTS                                                                              \
	(SLOT(S_TLS_SNI) | SLOT(S_TLS_VERSION) | SLOT(S_TLS_VERSION_OFFERED) |                     \
	 SLOT(S_TLS_HELLO_VERSION) | SLOT(S_TLS_CIPHER) | SLOT(S_TLS_JA3) |                        \
	 SLOT(S_TLS_JA3_STRING) | SLOT(S_TLS_JA4) | SLOT(S_TLS_JA4_R) | SLOT(S_TLS_OUTCOME) |      \
	 SLOT(S_TLS_ALPN) | SLOT(S_TLS_RESUMED) | SLOT(S_TLS_ALPN_OFFERED))

struct eve_fields {
	uint64_t present; /* SLOT() bits */
	bool app_seen;	  /* a field of the record's own protocol range is present */
	struct event_field f[S_COUNT];
};

/* Output with a sticky error: after the first failed append every call is a no-op. */
struct eve_out {
	struct dynbuf *b;
	int rc;
};

static const char *const eve_flag_names[] = {
	"malformed", "truncated", "via_proxy", "forwarded", "timeout", "limit", "no_answer",
};

static int eve_slot_of(uint16_t tag)
{
	switch (tag) {
	case EVENT_T_FAMILY:
		return S_FAMILY;
	case EVENT_T_TAG:
		return S_TAG;
	case EVENT_T_LISTENER:
		return S_LISTENER;
	case EVENT_T_REASON:
		return S_REASON;
	case EVENT_T_RAW_PREFIX:
		return S_RAW_PREFIX;
	case EVENT_T_PEER:
		return S_PEER;
	case EVENT_T_FORWARDED_BY:
		return S_FORWARDED_BY;
	case EVENT_T_TX_ID:
		return S_TX_ID;
	case EVENT_T_RULE:
		return S_RULE;
	case EVENT_T_HTTP_METHOD:
		return S_METHOD;
	case EVENT_T_HTTP_URI:
		return S_URI;
	case EVENT_T_HTTP_HOST:
		return S_HOST;
	case EVENT_T_HTTP_USER_AGENT:
		return S_USER_AGENT;
	case EVENT_T_HTTP_REFERER:
		return S_REFERER;
	case EVENT_T_HTTP_PROTOCOL:
		return S_PROTOCOL;
	case EVENT_T_HTTP_STATUS:
		return S_STATUS;
	case EVENT_T_HTTP_CONTENT_TYPE:
		return S_CONTENT_TYPE;
	case EVENT_T_HTTP_BODY_LEN:
		return S_BODY_LEN;
	case EVENT_T_HTTP_BODY_SHA256:
		return S_BODY_SHA256;
	case EVENT_T_HTTP_BODY_PREFIX:
		return S_BODY_PREFIX;
	case EVENT_T_HTTP_XFF:
		return S_XFF;
	case EVENT_T_HTTP_HEADERS:
		return S_HEADERS;
	case EVENT_T_TLS_SNI:
		return S_TLS_SNI;
	case EVENT_T_TLS_VERSION:
		return S_TLS_VERSION;
	case EVENT_T_TLS_VERSION_OFFERED:
		return S_TLS_VERSION_OFFERED;
	case EVENT_T_TLS_HELLO_VERSION:
		return S_TLS_HELLO_VERSION;
	case EVENT_T_TLS_CIPHER:
		return S_TLS_CIPHER;
	case EVENT_T_TLS_JA3:
		return S_TLS_JA3;
	case EVENT_T_TLS_JA3_STRING:
		return S_TLS_JA3_STRING;
	case EVENT_T_TLS_JA4:
		return S_TLS_JA4;
	case EVENT_T_TLS_JA4_R:
		return S_TLS_JA4_R;
	case EVENT_T_TLS_OUTCOME:
		return S_TLS_OUTCOME;
	case EVENT_T_TLS_ALPN:
		return S_TLS_ALPN;
	case EVENT_T_TLS_RESUMED:
		return S_TLS_RESUMED;
	case EVENT_T_TLS_ALPN_OFFERED:
		return S_TLS_ALPN_OFFERED;
	case EVENT_T_HTTP_RESPONSE_LEN:
		return S_RESPONSE_LEN;
	case EVENT_T_RAW_LEN:
		return S_RAW_LEN;
	case EVENT_T_RAW_ENTROPY:
		return S_RAW_ENTROPY;
	case EVENT_T_RAW_GUESS:
		return S_RAW_GUESS;
	case EVENT_T_RAW_BANNER_LEN:
		return S_RAW_BANNER_LEN;
	case EVENT_T_RAW_SUPPRESSED:
		return S_RAW_SUPPRESSED;
	}
	return -1;
}

/* Integers are stored as u16/u32/u64; any other length is not a number and is skipped. */
static bool eve_uint_len(uint16_t len)
{
	return len == 1 || len == 2 || len == 4 || len == 8;
}

/* EVENT_T_HTTP_HEADERS: be16 count, then count × (be16 nlen, name, be16 vlen, value), exactly. */
static bool eve_headers_valid(const struct event_field *f)
{
	struct cursor c;
	cursor_init(&c, f->val, f->len);
	uint16_t count = cursor_be16(&c);
	for (uint32_t i = 0; i < count && cursor_ok(&c); i++) {
		cursor_skip(&c, cursor_be16(&c));
		cursor_skip(&c, cursor_be16(&c));
	}
	return cursor_ok(&c) && cursor_left(&c) == 0;
}

static void eve_collect(const struct event_view *v, struct eve_fields *fs)
{
	struct event_field f;
	size_t pos = 0;
	fs->present = 0;
	fs->app_seen = false;
	while (event_field_next(v, &pos, &f)) {
		/*
		 * Tags 0x01xx..0x04xx belong to the protocol whose event type is xx.
		 * What we answered (status, answer length) says nothing about what
		 * the client spoke, so it does not count as the protocol recognised.
		 */
		if (v->h.type >= EVENT_HTTP && v->h.type <= EVENT_SMTP && f.tag >> 8 == v->h.type &&
		    f.tag != EVENT_T_HTTP_STATUS && f.tag != EVENT_T_HTTP_RESPONSE_LEN &&
		    f.tag != EVENT_T_TLS_OUTCOME && f.tag != EVENT_T_DNS_ACTION &&
		    f.tag != EVENT_T_DNS_CLIENT_KIND)
			fs->app_seen = true;
		int s = eve_slot_of(f.tag);
		if (s < 0 || (fs->present & SLOT(s)))
			continue;
		fs->f[s] = f;
		fs->present |= SLOT(s);
	}
	/* Drop fields whose size cannot be what their tag says; they are not rendered. */
	static const uint8_t numeric[] = {
		S_TX_ID,
		S_RULE,
		S_STATUS,
		S_BODY_LEN,
		S_RESPONSE_LEN,
		S_TLS_VERSION,
		S_TLS_CIPHER,
		S_TLS_VERSION_OFFERED,
		S_TLS_HELLO_VERSION,
		S_TLS_RESUMED,
		S_RAW_LEN,
		S_RAW_ENTROPY,
		S_RAW_BANNER_LEN,
		S_RAW_SUPPRESSED,
	};
	for (size_t i = 0; i < sizeof numeric; i++)
		if ((fs->present & SLOT(numeric[i])) && !eve_uint_len(fs->f[numeric[i]].len))
			fs->present &= ~SLOT(numeric[i]);
	if ((fs->present & SLOT(S_BODY_SHA256)) && fs->f[S_BODY_SHA256].len != 32)
		fs->present &= ~SLOT(S_BODY_SHA256);
	if ((fs->present & SLOT(S_HEADERS)) && !eve_headers_valid(&fs->f[S_HEADERS]))
		fs->present &= ~SLOT(S_HEADERS);
}

static bool eve_has(const struct eve_fields *fs, enum eve_slot s)
{
	return (fs->present & SLOT(s)) != 0;
}

static void out_add(struct eve_out *o, const void *p, size_t n)
{
	if (o->rc == 0)
		o->rc = dynbuf_add(o->b, p, n);
}

#define OUT_LIT(o, s) out_add((o), (s), sizeof(s) - 1)

/* Writes ,"name": (no comma before the first key of an object). */
static void out_key(struct eve_out *o, bool *first, const char *quoted, size_t n)
{
	if (!*first)
		out_add(o, ",", 1);
	*first = false;
	out_add(o, quoted, n);
}

#define OUT_KEY(o, first, name) out_key((o), (first), "\"" name "\":", sizeof("\"" name "\":") - 1)

static void out_str(struct eve_out *o, const void *p, size_t n)
{
	if (o->rc == 0)
		o->rc = json_str(o->b, p, n);
}

static void out_field_str(struct eve_out *o, const struct event_field *f)
{
	out_str(o, f->val, f->len);
}

static void out_u64(struct eve_out *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out_add(o, tmp + i, sizeof tmp - i);
}

static char *put_dec(char *p, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/*
 * "2023-09-18T06:13:33.903924+0000": Suricata's layout, always in UTC. The
 * date comes from Howard Hinnant's days-to-civil arithmetic: no libc time
 * functions, no locale, no cache, valid for every 64-bit timestamp (years
 * past 9999 simply get more digits).
 */
static void out_timestamp(struct eve_out *o, uint64_t ts_us)
{
	uint64_t secs = ts_us / 1000000, usec = ts_us % 1000000;
	uint64_t sod = secs % 86400;
	uint64_t z = secs / 86400 + 719468;
	uint64_t era = z / 146097;
	uint64_t doe = z - era * 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;
	uint64_t day = doy - (153 * mp + 2) / 5 + 1;
	uint64_t month = mp < 10 ? mp + 3 : mp - 9;
	uint64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);

	char t[64];
	char *p = t;
	*p++ = '"';
	int yw = 4;
	for (uint64_t y = year; y >= 10000; y /= 10)
		yw++;
	p = put_dec(p, year, yw);
	*p++ = '-';
	p = put_dec(p, month, 2);
	*p++ = '-';
	p = put_dec(p, day, 2);
	*p++ = 'T';
	p = put_dec(p, sod / 3600, 2);
	*p++ = ':';
	p = put_dec(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_dec(p, sod % 60, 2);
	*p++ = '.';
	p = put_dec(p, usec, 6);
	memcpy(p, "+0000\"", 6);
	p += 6;
	out_add(o, t, (size_t)(p - t));
}

/*
 * Quoted address. IPv6 is written the way Suricata's PrintInet does it: eight
 * zero-padded lower-case groups, never "::"-compressed, so addresses join
 * with Suricata's own events in the same SIEM index.
 */
static void out_ip(struct eve_out *o, const struct event_addr *a)
{
	static const char hex[] = "0123456789abcdef";
	char t[48];
	size_t n = 0;
	t[n++] = '"';
	if (a->ipver == 4) {
		for (int i = 0; i < 4; i++) {
			uint8_t c = a->addr[i];
			if (i)
				t[n++] = '.';
			if (c >= 100)
				t[n++] = (char)('0' + c / 100);
			if (c >= 10)
				t[n++] = (char)('0' + c / 10 % 10);
			t[n++] = (char)('0' + c % 10);
		}
	} else {
		for (int i = 0; i < 16; i += 2) {
			if (i)
				t[n++] = ':';
			t[n++] = hex[a->addr[i] >> 4];
			t[n++] = hex[a->addr[i] & 15];
			t[n++] = hex[a->addr[i + 1] >> 4];
			t[n++] = hex[a->addr[i + 1] & 15];
		}
	}
	t[n++] = '"';
	out_add(o, t, n);
}

/* Quoted standard base64 with padding, encoded through a stack chunk (no allocation). */
static void out_base64(struct eve_out *o, const uint8_t *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char chunk[1024];
	out_add(o, "\"", 1);
	while (n > 0) {
		/* 768 is a multiple of 3, so padding can only occur in the last chunk. */
		size_t take = n < 768 ? n : 768;
		size_t i = 0, k = 0;
		for (; take - i >= 3; i += 3) {
			uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
			chunk[k++] = tab[v >> 18];
			chunk[k++] = tab[v >> 12 & 63];
			chunk[k++] = tab[v >> 6 & 63];
			chunk[k++] = tab[v & 63];
		}
		if (i < take) {
			bool two = take - i == 2;
			uint32_t v = (uint32_t)p[i] << 16 | (two ? (uint32_t)p[i + 1] << 8 : 0);
			chunk[k++] = tab[v >> 18];
			chunk[k++] = tab[v >> 12 & 63];
			chunk[k++] = two ? tab[v >> 6 & 63] : '=';
			chunk[k++] = '=';
		}
		out_add(o, chunk, k);
		p += take;
		n -= take;
	}
	out_add(o, "\"", 1);
}

/*
 * Suricata's payload_printable: printable ASCII and CR/LF are kept, every
 * other byte becomes '.'; the result is then JSON-escaped.
 */
static void out_printable(struct eve_out *o, const uint8_t *p, size_t n)
{
	char chunk[512];
	size_t k = 0;
	out_add(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		if (k > sizeof chunk - 2) {
			out_add(o, chunk, k);
			k = 0;
		}
		uint8_t c = p[i];
		if (c == '"' || c == '\\') {
			chunk[k++] = '\\';
			chunk[k++] = (char)c;
		} else if (c == '\n') {
			chunk[k++] = '\\';
			chunk[k++] = 'n';
		} else if (c == '\r') {
			chunk[k++] = '\\';
			chunk[k++] = 'r';
		} else {
			chunk[k++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
		}
	}
	out_add(o, chunk, k);
	out_add(o, "\"", 1);
}

/*
 * Suricata's `hostname` is the Host without its port, lower-cased (libhtp
 * normalises it), and the port goes to `http_port`. Splits "name:port" and
 * "[v6]:port"; anything else (no port, a bad port, a bare IPv6 address) is
 * kept whole. Returns the length of the host part.
 */
static size_t eve_host_split(const uint8_t *p, size_t n, uint32_t *port, bool *has_port)
{
	size_t i = n;
	while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9')
		i--;
	size_t digits = n - i;
	if (digits == 0 || digits > 5 || i < 2 || p[i - 1] != ':')
		return n;
	size_t colon = i - 1;
	if (memchr(p, ':', colon) && !(p[0] == '[' && p[colon - 1] == ']'))
		return n;
	uint32_t v = 0;
	for (size_t k = i; k < n; k++)
		v = v * 10 + (uint32_t)(p[k] - '0');
	if (v > 65535)
		return n;
	*port = v;
	*has_port = true;
	return colon;
}

static void out_hostname(struct eve_out *o, const uint8_t *p, size_t n)
{
	size_t start = o->b->len;
	out_str(o, p, n);
	if (o->rc)
		return;
	/*
	 * Lower-case in the output: every escape json_str writes is already lower
	 * case and bytes of multi-byte UTF-8 are >= 0x80, so any 'A'..'Z' here
	 * came from an ASCII letter of the input.
	 */
	for (size_t i = start; i < o->b->len; i++)
		if (o->b->data[i] >= 'A' && o->b->data[i] <= 'Z')
			o->b->data[i] = (char)(o->b->data[i] + 'a' - 'A');
}

static void out_headers(struct eve_out *o, const struct event_field *f)
{
	struct cursor c;
	cursor_init(&c, f->val, f->len);
	uint16_t count = cursor_be16(&c);
	out_add(o, "[", 1);
	for (uint32_t i = 0; i < count; i++) {
		uint16_t nlen = cursor_be16(&c);
		const uint8_t *name = cursor_take(&c, nlen);
		uint16_t vlen = cursor_be16(&c);
		const uint8_t *value = cursor_take(&c, vlen);
		if (i)
			out_add(o, ",", 1);
		OUT_LIT(o, "{\"name\":");
		out_str(o, name, name ? nlen : 0);
		OUT_LIT(o, ",\"value\":");
		out_str(o, value, value ? vlen : 0);
		out_add(o, "}", 1);
	}
	out_add(o, "]", 1);
}

static void out_http(struct eve_out *o, const struct eve_fields *fs)
{
	const struct event_field *f = fs->f;
	bool first = true;
	if (!(fs->present & EVE_HTTP_SLOTS))
		return;
	OUT_LIT(o, ",\"http\":{");
	if (eve_has(fs, S_HOST)) {
		uint32_t port = 0;
		bool has_port = false;
		size_t n = eve_host_split(f[S_HOST].val, f[S_HOST].len, &port, &has_port);
		OUT_KEY(o, &first, "hostname");
		out_hostname(o, f[S_HOST].val, n);
		if (has_port) {
			OUT_KEY(o, &first, "http_port");
			out_u64(o, port);
		}
	}
	if (eve_has(fs, S_URI)) {
		OUT_KEY(o, &first, "url");
		out_field_str(o, &f[S_URI]);
	}
	if (eve_has(fs, S_USER_AGENT)) {
		OUT_KEY(o, &first, "http_user_agent");
		out_field_str(o, &f[S_USER_AGENT]);
	}
	if (eve_has(fs, S_CONTENT_TYPE)) {
		OUT_KEY(o, &first, "http_content_type");
		out_field_str(o, &f[S_CONTENT_TYPE]);
	}
	if (eve_has(fs, S_REFERER)) {
		OUT_KEY(o, &first, "http_refer");
		out_field_str(o, &f[S_REFERER]);
	}
	if (eve_has(fs, S_XFF)) {
		OUT_KEY(o, &first, "xff");
		out_field_str(o, &f[S_XFF]);
	}
	if (eve_has(fs, S_METHOD)) {
		OUT_KEY(o, &first, "http_method");
		out_field_str(o, &f[S_METHOD]);
	}
	if (eve_has(fs, S_PROTOCOL)) {
		OUT_KEY(o, &first, "protocol");
		out_field_str(o, &f[S_PROTOCOL]);
	}
	if (eve_has(fs, S_STATUS)) {
		OUT_KEY(o, &first, "status");
		out_u64(o, event_field_uint(&f[S_STATUS]));
	}
	if (eve_has(fs, S_RESPONSE_LEN)) {
		OUT_KEY(o, &first, "length");
		out_u64(o, event_field_uint(&f[S_RESPONSE_LEN]));
	}
	if (eve_has(fs, S_HEADERS)) {
		OUT_KEY(o, &first, "request_headers");
		out_headers(o, &f[S_HEADERS]);
	}
	if (eve_has(fs, S_BODY_PREFIX)) {
		OUT_KEY(o, &first, "http_request_body");
		out_base64(o, f[S_BODY_PREFIX].val, f[S_BODY_PREFIX].len);
	}
	out_add(o, "}", 1);
}

/* Suricata's names for TLS versions ("TLSv1" for 1.0 is theirs, not a typo). */
static void out_tls_version(struct eve_out *o, uint64_t v)
{
	switch (v) {
	case 0x0002:
		OUT_LIT(o, "\"SSLv2\"");
		return;
	case 0x0300:
		OUT_LIT(o, "\"SSLv3\"");
		return;
	case 0x0301:
		OUT_LIT(o, "\"TLSv1\"");
		return;
	case 0x0302:
		OUT_LIT(o, "\"TLS 1.1\"");
		return;
	case 0x0303:
		OUT_LIT(o, "\"TLS 1.2\"");
		return;
	case 0x0304:
		OUT_LIT(o, "\"TLS 1.3\"");
		return;
	}
	char hex[9] = "\"0x0000\"";
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 4; i++)
		hex[6 - i] = digits[(v >> (4 * i)) & 15];
	out_add(o, hex, 8);
}

/*
 * The "tls" object: Suricata's names (sni, version, ja3 {hash, string}, ja4,
 * client_alpns) first, then sinkd's own (ja4_r, handshake, ...).
 */
static void out_tls(struct eve_out *o, const struct event_view *v, const struct eve_fields *fs)
{
	const struct event_field *f = fs->f;
	bool first = true;
	if (!(fs->present & EVE_TLS_SLOTS))
		return;
	OUT_LIT(o, ",\"tls\":{");
	if (eve_has(fs, S_TLS_SNI)) {
		OUT_KEY(o, &first, "sni");
		out_field_str(o, &f[S_TLS_SNI]);
	}
	if (eve_has(fs, S_TLS_VERSION)) {
		OUT_KEY(o, &first, "version");
		out_tls_version(o, event_field_uint(&f[S_TLS_VERSION]));
	}
	if (eve_has(fs, S_TLS_JA3)) {
		OUT_KEY(o, &first, "ja3");
		OUT_LIT(o, "{\"hash\":");
		out_field_str(o, &f[S_TLS_JA3]);
		if (eve_has(fs, S_TLS_JA3_STRING)) {
			OUT_LIT(o, ",\"string\":");
			out_field_str(o, &f[S_TLS_JA3_STRING]);
		}
		out_add(o, "}", 1);
	}
	if (eve_has(fs, S_TLS_JA4)) {
		OUT_KEY(o, &first, "ja4");
		out_field_str(o, &f[S_TLS_JA4]);
	}
	if (eve_has(fs, S_TLS_ALPN_OFFERED)) {
		OUT_KEY(o, &first, "client_alpns");
		out_add(o, "[", 1);
		struct event_field a;
		size_t pos = 0;
		bool first_alpn = true;
		while (event_field_next(v, &pos, &a)) {
			if (a.tag != EVENT_T_TLS_ALPN_OFFERED)
				continue;
			if (!first_alpn)
				out_add(o, ",", 1);
			first_alpn = false;
			out_field_str(o, &a);
		}
		out_add(o, "]", 1);
	}
	if (eve_has(fs, S_TLS_JA4_R)) {
		OUT_KEY(o, &first, "ja4_r");
		out_field_str(o, &f[S_TLS_JA4_R]);
	}
	if (eve_has(fs, S_TLS_OUTCOME)) {
		OUT_KEY(o, &first, "handshake");
		out_field_str(o, &f[S_TLS_OUTCOME]);
	}
	if (eve_has(fs, S_TLS_VERSION_OFFERED)) {
		OUT_KEY(o, &first, "version_offered");
		out_tls_version(o, event_field_uint(&f[S_TLS_VERSION_OFFERED]));
	}
	if (eve_has(fs, S_TLS_HELLO_VERSION)) {
		OUT_KEY(o, &first, "hello_version");
		out_tls_version(o, event_field_uint(&f[S_TLS_HELLO_VERSION]));
	}
	if (eve_has(fs, S_TLS_CIPHER)) {
		OUT_KEY(o, &first, "cipher_suite");
		out_u64(o, event_field_uint(&f[S_TLS_CIPHER]));
	}
	if (eve_has(fs, S_TLS_ALPN)) {
		OUT_KEY(o, &first, "alpn");
		out_field_str(o, &f[S_TLS_ALPN]);
	}
	if (eve_has(fs, S_TLS_RESUMED)) {
		OUT_KEY(o, &first, "resumed");
		if (event_field_uint(&f[S_TLS_RESUMED]))
			OUT_LIT(o, "true");
		else
			OUT_LIT(o, "false");
	}
	out_add(o, "}", 1);
}

/* Raw captures: "raw": {length, entropy (bits per byte), guess, banner_length, suppressed}. */
static void out_raw(struct eve_out *o, const struct eve_fields *fs)
{
	const struct event_field *f = fs->f;
	uint64_t mask = SLOT(S_RAW_LEN) | SLOT(S_RAW_ENTROPY) | SLOT(S_RAW_GUESS) |
			SLOT(S_RAW_BANNER_LEN) | SLOT(S_RAW_SUPPRESSED);
	if (!(fs->present & mask))
		return;
	bool first = true;
	OUT_LIT(o, ",\"raw\":{");
	if (eve_has(fs, S_RAW_LEN)) {
		OUT_KEY(o, &first, "length");
		out_u64(o, event_field_uint(&f[S_RAW_LEN]));
	}
	if (eve_has(fs, S_RAW_ENTROPY)) {
		uint64_t milli = event_field_uint(&f[S_RAW_ENTROPY]);
		char num[32];
		int n = snprintf(num, sizeof num, "%llu.%03llu", (unsigned long long)(milli / 1000),
				 (unsigned long long)(milli % 1000));
		OUT_KEY(o, &first, "entropy");
		if (n > 0 && (size_t)n < sizeof num)
			out_add(o, num, (size_t)n);
	}
	if (eve_has(fs, S_RAW_GUESS)) {
		OUT_KEY(o, &first, "guess");
		out_field_str(o, &f[S_RAW_GUESS]);
	}
	if (eve_has(fs, S_RAW_BANNER_LEN)) {
		OUT_KEY(o, &first, "banner_length");
		out_u64(o, event_field_uint(&f[S_RAW_BANNER_LEN]));
	}
	if (eve_has(fs, S_RAW_SUPPRESSED)) {
		OUT_KEY(o, &first, "suppressed");
		out_u64(o, event_field_uint(&f[S_RAW_SUPPRESSED]));
	}
	out_add(o, "}", 1);
}

static void out_sinkhole(struct eve_out *o, const struct event_view *v, const struct eve_fields *fs,
			 const char *sensor_id, bool known_type)
{
	const struct event_field *f = fs->f;
	struct event_addr a;
	bool first = true;

	OUT_LIT(o, ",\"sinkhole\":{");
	if (eve_has(fs, S_FAMILY)) {
		OUT_KEY(o, &first, "family");
		out_field_str(o, &f[S_FAMILY]);
	}
	if (eve_has(fs, S_TAG)) {
		OUT_KEY(o, &first, "tag");
		out_field_str(o, &f[S_TAG]);
	}
	if (sensor_id) {
		OUT_KEY(o, &first, "sensor");
		out_str(o, sensor_id, strlen(sensor_id));
	}
	if (eve_has(fs, S_LISTENER)) {
		OUT_KEY(o, &first, "listener");
		out_field_str(o, &f[S_LISTENER]);
	}
	OUT_KEY(o, &first, "flags");
	out_add(o, "[", 1);
	bool first_flag = true;
	for (size_t i = 0; i < sizeof eve_flag_names / sizeof eve_flag_names[0]; i++) {
		if (!(v->h.flags & (1u << i)))
			continue;
		if (!first_flag)
			out_add(o, ",", 1);
		first_flag = false;
		out_add(o, "\"", 1);
		out_add(o, eve_flag_names[i], strlen(eve_flag_names[i]));
		out_add(o, "\"", 1);
	}
	out_add(o, "]", 1);
	if (eve_has(fs, S_REASON)) {
		OUT_KEY(o, &first, "reason");
		out_field_str(o, &f[S_REASON]);
	}
	if (eve_has(fs, S_BODY_LEN)) {
		OUT_KEY(o, &first, "body_length");
		out_u64(o, event_field_uint(&f[S_BODY_LEN]));
	}
	if (eve_has(fs, S_BODY_SHA256)) {
		OUT_KEY(o, &first, "body_sha256");
		if (o->rc == 0)
			o->rc = json_hex(o->b, f[S_BODY_SHA256].val, f[S_BODY_SHA256].len);
	}
	if (eve_has(fs, S_RAW_PREFIX)) {
		OUT_KEY(o, &first, "raw_prefix");
		out_base64(o, f[S_RAW_PREFIX].val, f[S_RAW_PREFIX].len);
	}
	if (eve_has(fs, S_PEER) && event_field_addr(&f[S_PEER], &a)) {
		OUT_KEY(o, &first, "peer_ip");
		out_ip(o, &a);
		OUT_KEY(o, &first, "peer_port");
		out_u64(o, a.port);
	}
	if (eve_has(fs, S_FORWARDED_BY) && event_field_addr(&f[S_FORWARDED_BY], &a)) {
		OUT_KEY(o, &first, "forwarded_by");
		out_ip(o, &a);
	}
	if (eve_has(fs, S_TX_ID)) {
		OUT_KEY(o, &first, "tx_id");
		out_u64(o, event_field_uint(&f[S_TX_ID]));
	}
	if (eve_has(fs, S_RULE)) {
		OUT_KEY(o, &first, "rule");
		out_u64(o, event_field_uint(&f[S_RULE]));
	}
	if (v->h.type == EVENT_DNS && o->rc == 0)
		o->rc = eve_dns_sinkhole(o->b, v);
	if (!known_type) {
		/* A record from a newer writer: keep its type visible. */
		OUT_KEY(o, &first, "record_type");
		out_u64(o, v->h.type);
	}
	out_add(o, "}", 1);
}

int eve_format(const uint8_t *rec, size_t len, const char *sensor_id, struct dynbuf *out)
{
	static const char *const type_names[] = {
		[EVENT_HTTP] = "http", [EVENT_TLS] = "tls",	     [EVENT_DNS] = "dns",
		[EVENT_SMTP] = "smtp", [EVENT_RAW] = "sinkhole_raw",
	};
	struct event_view v;
	struct eve_fields fs;
	int rc = event_decode(rec, len, &v);
	if (rc)
		return rc;
	eve_collect(&v, &fs);

	struct eve_out o = { out, 0 };
	size_t start = out->len;
	uint8_t type = v.h.type;
	bool known = type >= EVENT_HTTP && type <= EVENT_RAW;
	const char *type_name = known ? type_names[type] : "sinkhole_unknown";
	/*
	 * Like Suricata, app_proto "failed" means no application protocol was
	 * recognised: always so for raw captures, and for a malformed record
	 * that carries none of its protocol's fields.
	 */
	const char *app_proto = "failed";
	if (type >= EVENT_HTTP && type <= EVENT_SMTP &&
	    (!(v.h.flags & EVENT_F_MALFORMED) || fs.app_seen))
		app_proto = type_names[type];

	OUT_LIT(&o, "{\"timestamp\":");
	out_timestamp(&o, v.h.ts_us);
	OUT_LIT(&o, ",\"flow_id\":");
	out_u64(&o, v.h.flow_id & EVE_FLOW_ID_MASK);
	OUT_LIT(&o, ",\"event_type\":\"");
	out_add(&o, type_name, strlen(type_name));
	OUT_LIT(&o, "\",\"src_ip\":");
	out_ip(&o, &v.h.src);
	OUT_LIT(&o, ",\"src_port\":");
	out_u64(&o, v.h.src.port);
	OUT_LIT(&o, ",\"dest_ip\":");
	out_ip(&o, &v.h.dst);
	OUT_LIT(&o, ",\"dest_port\":");
	out_u64(&o, v.h.dst.port);
	if (v.h.transport == 6) {
		OUT_LIT(&o, ",\"proto\":\"TCP\"");
	} else if (v.h.transport == 17) {
		OUT_LIT(&o, ",\"proto\":\"UDP\"");
	} else {
		/* Suricata writes protocols it has no name for as their number, in a string. */
		OUT_LIT(&o, ",\"proto\":\"");
		out_u64(&o, v.h.transport);
		out_add(&o, "\"", 1);
	}
	OUT_LIT(&o, ",\"app_proto\":\"");
	out_add(&o, app_proto, strlen(app_proto));
	out_add(&o, "\"", 1);
	if (sensor_id) {
		OUT_LIT(&o, ",\"host\":");
		out_str(&o, sensor_id, strlen(sensor_id));
	}
	if (eve_has(&fs, S_TX_ID)) {
		OUT_LIT(&o, ",\"tx_id\":");
		out_u64(&o, event_field_uint(&fs.f[S_TX_ID]));
	}
	if (eve_has(&fs, S_RAW_PREFIX)) {
		OUT_LIT(&o, ",\"payload\":");
		out_base64(&o, fs.f[S_RAW_PREFIX].val, fs.f[S_RAW_PREFIX].len);
		OUT_LIT(&o, ",\"payload_printable\":");
		out_printable(&o, fs.f[S_RAW_PREFIX].val, fs.f[S_RAW_PREFIX].len);
	}
	out_http(&o, &fs);
	out_tls(&o, &v, &fs);
	out_raw(&o, &fs);
	if (type == EVENT_DNS && o.rc == 0)
		o.rc = eve_dns_object(out, &v);
	if (type == EVENT_SMTP && o.rc == 0)
		o.rc = eve_smtp_format(&v, out);
	out_sinkhole(&o, &v, &fs, sensor_id, known);
	OUT_LIT(&o, "}\n");

	if (o.rc) {
		/* All or nothing: a line cut at the maximum would be invalid JSON. */
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return o.rc;
}
