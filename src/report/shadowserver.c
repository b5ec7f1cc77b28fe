/* shadowserver.c — column lists and value conventions of the Shadowserver sinkhole reports. */
#include "report/shadowserver.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/event.h"
#include "core/json.h"

enum ss_col {
	C_TIMESTAMP,
	C_PROTOCOL,
	C_SRC_IP,
	C_SRC_PORT,
	C_SRC_ASN,
	C_SRC_GEO,
	C_SRC_REGION,
	C_SRC_CITY,
	C_SRC_HOSTNAME,
	C_SRC_NAICS,
	C_SRC_SECTOR,
	C_DEVICE_VENDOR,
	C_DEVICE_TYPE,
	C_DEVICE_MODEL,
	C_SEVERITY,
	C_DST_IP,
	C_DST_PORT,
	C_DST_ASN,
	C_DST_GEO,
	C_DST_REGION,
	C_DST_CITY,
	C_DST_HOSTNAME,
	C_DST_NAICS,
	C_DST_SECTOR,
	C_PUBLIC_SOURCE,
	C_INFECTION,
	C_FAMILY,
	C_TAG,
	C_APPLICATION,
	C_VERSION,
	C_EVENT_ID,
	C_HTTP_URL,
	C_HTTP_HOST,
	C_HTTP_AGENT,
	C_FORWARDED_BY,
	C_SSL_CIPHER,
	C_HTTP_REFERER,
	C_SSL_SERVERNAME,
	C_MACHINE_NAME,
	C_QUERY_TYPE,
	C_QUERY,
	C_COUNT,
	C_END = -1
};

static const char *const col_name[] = {
	[C_TIMESTAMP] = "timestamp",
	[C_PROTOCOL] = "protocol",
	[C_SRC_IP] = "src_ip",
	[C_SRC_PORT] = "src_port",
	[C_SRC_ASN] = "src_asn",
	[C_SRC_GEO] = "src_geo",
	[C_SRC_REGION] = "src_region",
	[C_SRC_CITY] = "src_city",
	[C_SRC_HOSTNAME] = "src_hostname",
	[C_SRC_NAICS] = "src_naics",
	[C_SRC_SECTOR] = "src_sector",
	[C_DEVICE_VENDOR] = "device_vendor",
	[C_DEVICE_TYPE] = "device_type",
	[C_DEVICE_MODEL] = "device_model",
	[C_SEVERITY] = "severity",
	[C_DST_IP] = "dst_ip",
	[C_DST_PORT] = "dst_port",
	[C_DST_ASN] = "dst_asn",
	[C_DST_GEO] = "dst_geo",
	[C_DST_REGION] = "dst_region",
	[C_DST_CITY] = "dst_city",
	[C_DST_HOSTNAME] = "dst_hostname",
	[C_DST_NAICS] = "dst_naics",
	[C_DST_SECTOR] = "dst_sector",
	[C_PUBLIC_SOURCE] = "public_source",
	[C_INFECTION] = "infection",
	[C_FAMILY] = "family",
	[C_TAG] = "tag",
	[C_APPLICATION] = "application",
	[C_VERSION] = "version",
	[C_EVENT_ID] = "event_id",
	[C_HTTP_URL] = "http_url",
	[C_HTTP_HOST] = "http_host",
	[C_HTTP_AGENT] = "http_agent",
	[C_FORWARDED_BY] = "forwarded_by",
	[C_SSL_CIPHER] = "ssl_cipher",
	[C_HTTP_REFERER] = "http_referer",
	[C_SSL_SERVERNAME] = "ssl_servername",
	[C_MACHINE_NAME] = "machine_name",
	[C_QUERY_TYPE] = "query_type",
	[C_QUERY] = "query",
	[C_COUNT] = "count",
};

/* The first 31 columns, shared by the sinkhole and sinkhole-HTTP reports. */
#define SS_COMMON                                                                                  \
	C_TIMESTAMP, C_PROTOCOL, C_SRC_IP, C_SRC_PORT, C_SRC_ASN, C_SRC_GEO, C_SRC_REGION,         \
		C_SRC_CITY, C_SRC_HOSTNAME, C_SRC_NAICS, C_SRC_SECTOR, C_DEVICE_VENDOR,            \
		C_DEVICE_TYPE, C_DEVICE_MODEL, C_SEVERITY, C_DST_IP, C_DST_PORT, C_DST_ASN,        \
		C_DST_GEO, C_DST_REGION, C_DST_CITY, C_DST_HOSTNAME, C_DST_NAICS, C_DST_SECTOR,    \
		C_PUBLIC_SOURCE, C_INFECTION, C_FAMILY, C_TAG, C_APPLICATION, C_VERSION,           \
		C_EVENT_ID

static const int cols_http[] = { SS_COMMON,	 C_HTTP_URL,   C_HTTP_HOST,    C_HTTP_AGENT,
				 C_FORWARDED_BY, C_SSL_CIPHER, C_HTTP_REFERER, C_SSL_SERVERNAME,
				 C_MACHINE_NAME, C_END };
static const int cols_tcp[] = { SS_COMMON, C_SSL_CIPHER, C_SSL_SERVERNAME, C_END };
static const int cols_dns[] = {
	C_TIMESTAMP,   C_PROTOCOL,     C_SRC_IP,       C_SRC_PORT,  C_SRC_ASN,	  C_SRC_GEO,
	C_SRC_REGION,  C_SRC_CITY,     C_SRC_HOSTNAME, C_SRC_NAICS, C_SRC_SECTOR, C_DEVICE_VENDOR,
	C_DEVICE_TYPE, C_DEVICE_MODEL, C_SEVERITY,     C_INFECTION, C_FAMILY,	  C_TAG,
	C_QUERY_TYPE,  C_QUERY,	       C_COUNT,	       C_END,
};

static const struct {
	const char *name, *feed;
	const int *cols;
} types[SS_TYPE_N] = {
	[SS_EVENT4_HTTP] = { "event4_sinkhole_http", "Sinkhole-Events-HTTP IPv4", cols_http },
	[SS_EVENT6_HTTP] = { "event6_sinkhole_http", "Sinkhole-Events-HTTP IPv6", cols_http },
	[SS_EVENT4_TCP] = { "event4_sinkhole", "Sinkhole-Events IPv4", cols_tcp },
	[SS_EVENT6_TCP] = { "event6_sinkhole", "Sinkhole-Events IPv6", cols_tcp },
	[SS_EVENT4_DNS] = { "event4_sinkhole_dns", "Sinkhole-DNS", cols_dns },
};

enum ss_type ss_type_of(const struct store_event *e)
{
	bool v6 = e->ipver == 6;
	switch (e->kind) {
	case STORE_KIND_HTTP:
		return v6 ? SS_EVENT6_HTTP : SS_EVENT4_HTTP;
	case STORE_KIND_DNS:
		return SS_EVENT4_DNS;
	default:
		return v6 ? SS_EVENT6_TCP : SS_EVENT4_TCP;
	}
}

const char *ss_type_name(enum ss_type t)
{
	return types[t].name;
}

const char *ss_feed_name(enum ss_type t)
{
	return types[t].feed;
}

/* Two decimal digits. */
static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/*
 * Civil date from days since the epoch (H. Hinnant's algorithm): a report
 * formats millions of timestamps, and gmtime_r + strftime cost a microsecond
 * each.
 */
void ss_timestamp(uint64_t ts_us, char *buf, size_t cap)
{
	if (cap < 20) {
		if (cap)
			buf[0] = '\0';
		return;
	}
	uint64_t secs = ts_us / 1000000u;
	int64_t z = (int64_t)(secs / 86400) + 719468;
	unsigned sod = (unsigned)(secs % 86400);
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 0 || y > 9999) {
		buf[0] = '\0';
		return;
	}
	put2(buf, (unsigned)(y / 100));
	put2(buf + 2, (unsigned)(y % 100));
	buf[4] = '-';
	put2(buf + 5, m);
	buf[7] = '-';
	put2(buf + 8, d);
	buf[10] = ' ';
	put2(buf + 11, sod / 3600);
	buf[13] = ':';
	put2(buf + 14, sod / 60 % 60);
	buf[16] = ':';
	put2(buf + 17, sod % 60);
	buf[19] = '\0';
}

/* Decimal digits of v; returns the length. */
static size_t u64_dec(uint64_t v, char *out)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t len;
	uint32_t min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	uint32_t cp = c & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Wire text made safe, into out: valid UTF-8 kept, control bytes and invalid
 * sequences as '?'. Consumes s[*at..] while *at < stop (a sequence begun
 * before stop may end past it, up to n) and writes at most 2 * (stop - *at) + 3
 * bytes; returns how many.
 */
static size_t safe_copy(char *out, const uint8_t *s, size_t n, size_t *at, size_t stop,
			bool csv_quote)
{
	size_t i = *at, o = 0;
	while (i < stop) {
		/* A run of plain printable ASCII goes in at once. */
		size_t j = i;
		while (j < stop && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"')
			j++;
		if (j > i) {
			memcpy(out + o, s + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		size_t l = utf8_seq(s + i, n - i);
		if (l == 0 || (l == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			out[o++] = '?';
			i += l ? l : 1;
			continue;
		}
		if (csv_quote && s[i] == '"') {
			out[o++] = '"';
			out[o++] = '"';
		} else {
			memcpy(out + o, s + i, l);
			o += l;
		}
		i += l;
	}
	*at = i;
	return o;
}

/* safe_copy onto a dynbuf, in chunks. */
static int add_safe(struct dynbuf *b, const char *p, size_t n, bool csv_quote)
{
	char tmp[2 * 256 + 8];
	size_t i = 0;
	int rc = 0;
	while (i < n && !rc) {
		size_t w = safe_copy(tmp, (const uint8_t *)p, n, &i, n - i > 256 ? i + 256 : n,
				     csv_quote);
		rc = dynbuf_add(b, tmp, w);
	}
	return rc;
}

/* A column's value: an integer, a string, or missing. */
struct ss_val {
	enum {
		V_NONE,
		V_INT,
		V_STR
	} kind;
	uint64_t i;
	const char *s;
	size_t len;
	char tmp[64];
};

static void v_str(struct ss_val *v, const char *s, size_t len)
{
	if (s && len) {
		v->kind = V_STR;
		v->s = s;
		v->len = len;
	}
}

static void v_col(struct ss_val *v, const struct store_event *e, enum store_col c)
{
	v_str(v, e->col[c].p, e->col[c].len);
}

/* Dotted quad without inet_ntop's printf: two addresses per row, millions of rows. */
static size_t ipv4_str(const uint8_t *a, char *out)
{
	char *p = out;
	for (int i = 0; i < 4; i++) {
		unsigned o = a[i];
		if (o >= 100) {
			*p++ = (char)('0' + o / 100);
			*p++ = (char)('0' + o / 10 % 10);
		} else if (o >= 10) {
			*p++ = (char)('0' + o / 10);
		}
		*p++ = (char)('0' + o % 10);
		*p++ = '.';
	}
	p[-1] = '\0';
	return (size_t)(p - 1 - out);
}

static void v_addr(struct ss_val *v, uint8_t ipver, const uint8_t *a)
{
	if (ipver == 4) {
		v_str(v, v->tmp, ipv4_str(a, v->tmp));
		return;
	}
	if (inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a, v->tmp, sizeof v->tmp))
		v_str(v, v->tmp, strlen(v->tmp));
}

static void ss_value(int col, const struct store_event *e, struct ss_val *v)
{
	v->kind = V_NONE;
	switch (col) {
	case C_TIMESTAMP:
		ss_timestamp(e->ts_us, v->tmp, sizeof v->tmp);
		v_str(v, v->tmp, strlen(v->tmp));
		break;
	case C_PROTOCOL:
		if (e->transport == 6)
			v_str(v, "tcp", 3);
		else if (e->transport == 17)
			v_str(v, "udp", 3);
		break;
	case C_SRC_IP:
		v_addr(v, e->ipver, e->src);
		break;
	case C_SRC_PORT:
		v->kind = V_INT;
		v->i = e->src_port;
		break;
	case C_SRC_ASN:
		if (e->src_asn) {
			v->kind = V_INT;
			v->i = e->src_asn;
		}
		break;
	case C_SRC_GEO:
		v_str(v, e->src_cc, strlen(e->src_cc));
		break;
	case C_SEVERITY:
		if (e->kind == STORE_KIND_DNS)
			v_str(v, "info", 4);
		else
			v_str(v, "critical", 8);
		break;
	case C_DST_IP:
		v_addr(v, e->ipver, e->dst);
		break;
	case C_DST_PORT:
		v->kind = V_INT;
		v->i = e->dst_port;
		break;
	case C_DST_ASN:
		if (e->dst_asn) {
			v->kind = V_INT;
			v->i = e->dst_asn;
		}
		break;
	case C_DST_GEO:
		v_str(v, e->dst_cc, strlen(e->dst_cc));
		break;
	case C_INFECTION: /* IntelMQ takes malware.name and the identifier from here */
	case C_FAMILY:
		if (!(e->col[STORE_C_FAMILY].len == 7 &&
		      !memcmp(e->col[STORE_C_FAMILY].p, "unknown", 7)))
			v_col(v, e, STORE_C_FAMILY);
		break;
	case C_TAG:
		v_col(v, e, STORE_C_TAG);
		break;
	case C_APPLICATION: {
		static const char *const app[] = {
			[EVENT_HTTP] = "http", [EVENT_TLS] = "tls", [EVENT_DNS] = "dns", [EVENT_SMTP] = "smtp"
		};
		if (e->type < sizeof app / sizeof app[0] && app[e->type])
			v_str(v, app[e->type], strlen(app[e->type]));
		break;
	}
	case C_HTTP_URL:
		v_col(v, e, STORE_C_HTTP_URL);
		break;
	case C_HTTP_HOST:
		v_col(v, e, STORE_C_HTTP_HOST);
		break;
	case C_HTTP_AGENT:
		v_col(v, e, STORE_C_HTTP_AGENT);
		break;
	case C_FORWARDED_BY:
		v_col(v, e, STORE_C_FORWARDED_BY);
		break;
	case C_HTTP_REFERER:
		v_col(v, e, STORE_C_HTTP_REFERER);
		break;
	case C_SSL_SERVERNAME:
		v_col(v, e, STORE_C_SSL_SERVERNAME);
		break;
	case C_SSL_CIPHER:
		v_col(v, e, STORE_C_SSL_CIPHER);
		break;
	case C_MACHINE_NAME:
		v_col(v, e, STORE_C_MACHINE_NAME);
		break;
	case C_QUERY_TYPE:
		v_col(v, e, STORE_C_QUERY_TYPE);
		break;
	case C_QUERY:
		v_col(v, e, STORE_C_QUERY);
		break;
	case C_COUNT:
		v->kind = V_INT;
		v->i = 1;
		break;
	default:
		break; /* region, city, hostname, NAICS, sector, device, ...: not known to sinkd */
	}
}

int ss_csv_header(struct dynbuf *b, enum ss_type t)
{
	int rc = 0;
	for (const int *c = types[t].cols; *c != C_END && !rc; c++)
		rc = dynbuf_printf(b, "%s\"%s\"", c == types[t].cols ? "" : ",", col_name[*c]);
	return rc ? rc : dynbuf_addc(b, '\n');
}

/*
 * The row's values first, then, when the buffer can take the longest row they
 * could make, written straight into it (one reservation instead of an append
 * per field and separator); otherwise appended piece by piece as before.
 */
int ss_csv_row(struct dynbuf *b, enum ss_type t, const struct store_event *e)
{
	struct ss_val vals[C_COUNT + 1];
	size_t n = 0, bound = 1;
	for (const int *c = types[t].cols; *c != C_END; c++, n++) {
		ss_value(*c, e, &vals[n]);
		bound += 1 + (vals[n].kind == V_INT ? 20 :
			      vals[n].kind == V_STR ? 2 * vals[n].len + 5 :
						      0);
	}
	if (dynbuf_reserve(b, bound) == 0) {
		char *o = b->data + b->len;
		for (size_t k = 0; k < n; k++) {
			if (k)
				*o++ = ',';
			if (vals[k].kind == V_INT) {
				o += u64_dec(vals[k].i, o);
			} else if (vals[k].kind == V_STR) {
				size_t at = 0;
				*o++ = '"';
				o += safe_copy(o, (const uint8_t *)vals[k].s, vals[k].len, &at,
					       vals[k].len, true);
				*o++ = '"';
			}
		}
		*o++ = '\n';
		b->len = (size_t)(o - b->data);
		b->data[b->len] = '\0';
		return 0;
	}
	int rc = 0;
	struct ss_val v;
	for (const int *c = types[t].cols; *c != C_END && !rc; c++) {
		if (c != types[t].cols)
			rc = dynbuf_addc(b, ',');
		ss_value(*c, e, &v);
		if (v.kind == V_INT) {
			char d[24];
			rc = rc ? rc : dynbuf_add(b, d, u64_dec(v.i, d));
		} else if (v.kind == V_STR) {
			rc = rc ? rc : dynbuf_addc(b, '"');
			rc = rc ? rc : add_safe(b, v.s, v.len, true);
			rc = rc ? rc : dynbuf_addc(b, '"');
		}
	}
	return rc ? rc : dynbuf_addc(b, '\n');
}

int ss_json_row(struct dynbuf *b, enum ss_type t, const struct store_event *e)
{
	int rc = dynbuf_printf(b, "{\"report_type\":\"%s\"", types[t].name);
	struct ss_val v;
	struct dynbuf tmp;
	dynbuf_init(&tmp, 1u << 20);
	for (const int *c = types[t].cols; *c != C_END && !rc; c++) {
		rc = dynbuf_printf(b, ",\"%s\":", col_name[*c]);
		ss_value(*c, e, &v);
		if (rc)
			break;
		if (v.kind == V_INT) {
			rc = json_u64(b, v.i);
		} else if (v.kind == V_STR) {
			dynbuf_reset(&tmp);
			rc = add_safe(&tmp, v.s, v.len, false);
			rc = rc ? rc : json_str(b, tmp.data, tmp.len);
		} else {
			rc = dynbuf_adds(b, "null");
		}
	}
	dynbuf_free(&tmp);
	return rc ? rc : dynbuf_adds(b, "}\n");
}
