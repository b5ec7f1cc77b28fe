/* test_eve.c — unit tests for the EVE JSON renderer: exact lines for constructed events. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/event.h"
#include "report/eve.h"

#define TS_2023 1695017613903924ULL /* 2023-09-18T06:13:33.903924Z */

struct rec {
	uint8_t buf[EVENT_MAX_LEN];
	struct event_builder b;
	size_t len;
};

static void rec_begin(struct rec *r, uint8_t type, uint16_t flags, uint8_t transport,
		      const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct event_header h;
	memset(&h, 0, sizeof h);
	h.type = type;
	h.flags = flags;
	h.transport = transport;
	h.ts_us = TS_2023;
	h.flow_id = 0xdeadbeefcafebabeULL; /* 51 bits of it: 1617311995706046 */
	CHECK_INT(event_addr_parse(src, &h.src), 0);
	CHECK_INT(event_addr_parse(dst, &h.dst), 0);
	h.src.port = sport;
	h.dst.port = dport;
	event_begin(&r->b, r->buf, sizeof r->buf, &h);
}

static void rec_finish(struct rec *r)
{
	CHECK_INT(event_finish(&r->b, &r->len), 0);
}

/* Renders r and compares the whole line. */
#define CHECK_EVE(r, sensor, want)                                                                 \
	do {                                                                                       \
		struct dynbuf out_;                                                                \
		dynbuf_init(&out_, 1 << 20);                                                       \
		CHECK_INT(eve_format((r)->buf, (r)->len, (sensor), &out_), 0);                     \
		CHECK_SLICE(out_.data, out_.len, want);                                            \
		dynbuf_free(&out_);                                                                \
	} while (0)

static void put_headers(struct event_builder *b, const char *const *kv, size_t pairs)
{
	uint8_t tmp[1024];
	size_t n = 2;
	tmp[0] = (uint8_t)(pairs >> 8);
	tmp[1] = (uint8_t)pairs;
	for (size_t i = 0; i < pairs * 2; i++) {
		size_t l = strlen(kv[i]);
		tmp[n++] = (uint8_t)(l >> 8);
		tmp[n++] = (uint8_t)l;
		memcpy(tmp + n, kv[i], l);
		n += l;
	}
	event_put(b, EVENT_T_HTTP_HEADERS, tmp, n);
}

static void test_http_full(void)
{
	static struct rec r;
	static const char *const hdrs[] = { "Host", "Example.COM:8080", "User-Agent",
					    "Mozilla/4.0" };
	uint8_t sha[32];
	for (int i = 0; i < 32; i++)
		sha[i] = (uint8_t)(i * 8);
	rec_begin(&r, EVENT_HTTP, 0, 6, "192.0.2.10", 49152, "198.51.100.1", 80);
	event_put_str(&r.b, EVENT_T_FAMILY, "rustock");
	event_put_str(&r.b, EVENT_T_TAG, "login");
	event_put_str(&r.b, EVENT_T_LISTENER, "http-80");
	event_put_u32(&r.b, EVENT_T_TX_ID, 3);
	event_put_u32(&r.b, EVENT_T_RULE, 2);
	event_put_str(&r.b, EVENT_T_HTTP_METHOD, "POST");
	event_put_str(&r.b, EVENT_T_HTTP_URI, "/login.php?id=1&x=\"y\"");
	event_put_str(&r.b, EVENT_T_HTTP_HOST, "Example.COM:8080");
	event_put_str(&r.b, EVENT_T_HTTP_USER_AGENT, "Mozilla/4.0");
	event_put_str(&r.b, EVENT_T_HTTP_REFERER, "http://a.example/");
	event_put_str(&r.b, EVENT_T_HTTP_PROTOCOL, "HTTP/1.1");
	event_put_u16(&r.b, EVENT_T_HTTP_STATUS, 404);
	event_put_str(&r.b, EVENT_T_HTTP_CONTENT_TYPE, "application/octet-stream");
	event_put_u64(&r.b, EVENT_T_HTTP_BODY_LEN, 5);
	event_put(&r.b, EVENT_T_HTTP_BODY_SHA256, sha, sizeof sha);
	event_put_str(&r.b, EVENT_T_HTTP_BODY_PREFIX, "hello");
	event_put_str(&r.b, EVENT_T_HTTP_XFF, "203.0.113.5");
	put_headers(&r.b, hdrs, 2);
	event_put_u64(&r.b, EVENT_T_HTTP_RESPONSE_LEN, 0);
	rec_finish(&r);
	CHECK_EVE(&r, "sensor-1",
		  "{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		  "\"event_type\":\"http\",\"src_ip\":\"192.0.2.10\",\"src_port\":49152,"
		  "\"dest_ip\":\"198.51.100.1\",\"dest_port\":80,\"proto\":\"TCP\","
		  "\"app_proto\":\"http\",\"host\":\"sensor-1\",\"tx_id\":3,"
		  "\"http\":{\"hostname\":\"example.com\",\"http_port\":8080,"
		  "\"url\":\"/login.php?id=1&x=\\\"y\\\"\",\"http_user_agent\":\"Mozilla/4.0\","
		  "\"http_content_type\":\"application/octet-stream\","
		  "\"http_refer\":\"http://a.example/\",\"xff\":\"203.0.113.5\","
		  "\"http_method\":\"POST\",\"protocol\":\"HTTP/1.1\",\"status\":404,\"length\":0,"
		  "\"request_headers\":[{\"name\":\"Host\",\"value\":\"Example.COM:8080\"},"
		  "{\"name\":\"User-Agent\",\"value\":\"Mozilla/4.0\"}],"
		  "\"http_request_body\":\"aGVsbG8=\"},"
		  "\"sinkhole\":{\"family\":\"rustock\",\"tag\":\"login\",\"sensor\":\"sensor-1\","
		  "\"listener\":\"http-80\",\"flags\":[],\"body_length\":5,"
		  "\"body_sha256\":\"0008101820283038404850586068707880889098"
		  "a0a8b0b8c0c8d0d8e0e8f0f8\","
		  "\"tx_id\":3,\"rule\":2}}\n");
}

static void test_malformed_raw_prefix(void)
{
	static struct rec r;
	static const uint8_t raw[] = "\x16\x03\x01\x00\xa5GET \"x\"\r\n\\\x7f";
	rec_begin(&r, EVENT_HTTP, EVENT_F_MALFORMED | EVENT_F_TRUNCATED, 6, "203.0.113.77", 1025,
		  "198.51.100.1", 80);
	event_put_str(&r.b, EVENT_T_FAMILY, "unknown");
	event_put_str(&r.b, EVENT_T_LISTENER, "http-80");
	event_put_str(&r.b, EVENT_T_REASON, "bad request line");
	event_put(&r.b, EVENT_T_RAW_PREFIX, raw, sizeof raw - 1);
	rec_finish(&r);
	CHECK_EVE(&r, "s1",
		  "{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		  "\"event_type\":\"http\",\"src_ip\":\"203.0.113.77\",\"src_port\":1025,"
		  "\"dest_ip\":\"198.51.100.1\",\"dest_port\":80,\"proto\":\"TCP\","
		  "\"app_proto\":\"failed\",\"host\":\"s1\","
		  "\"payload\":\"FgMBAKVHRVQgIngiDQpcfw==\","
		  "\"payload_printable\":\".....GET \\\"x\\\"\\r\\n\\\\.\","
		  "\"sinkhole\":{\"family\":\"unknown\",\"sensor\":\"s1\",\"listener\":\"http-80\","
		  "\"flags\":[\"malformed\",\"truncated\"],\"reason\":\"bad request line\","
		  "\"raw_prefix\":\"FgMBAKVHRVQgIngiDQpcfw==\"}}\n");

	/* Malformed, but the method was recognised: still HTTP. */
	rec_begin(&r, EVENT_HTTP, EVENT_F_MALFORMED, 6, "203.0.113.77", 1025, "198.51.100.1", 80);
	event_put_str(&r.b, EVENT_T_HTTP_METHOD, "GET");
	rec_finish(&r);
	CHECK_EVE(&r, NULL,
		  "{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		  "\"event_type\":\"http\",\"src_ip\":\"203.0.113.77\",\"src_port\":1025,"
		  "\"dest_ip\":\"198.51.100.1\",\"dest_port\":80,\"proto\":\"TCP\","
		  "\"app_proto\":\"http\",\"http\":{\"http_method\":\"GET\"},"
		  "\"sinkhole\":{\"flags\":[\"malformed\"]}}\n");
}

static void test_tls(void)
{
	static struct rec r;
	rec_begin(&r, EVENT_TLS, 0, 6, "203.0.113.77", 1025, "198.51.100.1", 443);
	event_put_str(&r.b, EVENT_T_LISTENER, "tls-443");
	event_put_str(&r.b, EVENT_T_TLS_SNI, "cnc.example");
	event_put_u16(&r.b, EVENT_T_TLS_VERSION, 0x0304);
	event_put_str(&r.b, EVENT_T_TLS_JA3, "0149f47eabf9a20d0893e2a44e5a6323");
	event_put_str(&r.b, EVENT_T_TLS_JA4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	event_put_str(&r.b, EVENT_T_TLS_OUTCOME, "completed");
	event_put_u16(&r.b, EVENT_T_TLS_HELLO_VERSION, 0x0303);
	event_put_u16(&r.b, EVENT_T_TLS_VERSION_OFFERED, 0x0304);
	event_put_str(&r.b, EVENT_T_TLS_JA3_STRING, "771,4865,0-16,29,0");
	event_put_str(&r.b, EVENT_T_TLS_JA4_R, "t13d0102h2_1301_000a");
	event_put_str(&r.b, EVENT_T_TLS_ALPN_OFFERED, "h2");
	event_put_str(&r.b, EVENT_T_TLS_ALPN_OFFERED, "http/1.1");
	event_put_u16(&r.b, EVENT_T_TLS_CIPHER, 4865);
	event_put_str(&r.b, EVENT_T_TLS_ALPN, "http/1.1");
	event_put_u16(&r.b, EVENT_T_TLS_RESUMED, 1);
	rec_finish(&r);
	CHECK_EVE(
		&r, NULL,
		"{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		"\"event_type\":\"tls\",\"src_ip\":\"203.0.113.77\",\"src_port\":1025,"
		"\"dest_ip\":\"198.51.100.1\",\"dest_port\":443,\"proto\":\"TCP\","
		"\"app_proto\":\"tls\",\"tls\":{\"sni\":\"cnc.example\",\"version\":\"TLS 1.3\","
		"\"ja3\":{\"hash\":\"0149f47eabf9a20d0893e2a44e5a6323\",\"string\":\"771,4865,0-16,29,"
		"0\"},\"ja4\":\"t13d1516h2_8daaf6152771_e5627efa2ab1\",\"client_alpns\":[\"h2\","
		"\"http/1.1\"],\"ja4_r\":\"t13d0102h2_1301_000a\",\"handshake\":\"completed\","
		"\"version_offered\":\"TLS 1.3\",\"hello_version\":\"TLS 1.2\",\"cipher_suite\":4865,"
		"\"alpn\":\"http/1.1\",\"resumed\":true},"
		"\"sinkhole\":{\"listener\":\"tls-443\",\"flags\":[]}}\n");

	/* Not TLS at all: the outcome alone does not make it TLS; odd versions in hex. */
	rec_begin(&r, EVENT_TLS, EVENT_F_MALFORMED, 6, "203.0.113.77", 1025, "198.51.100.1", 443);
	event_put_str(&r.b, EVENT_T_TLS_OUTCOME, "not-tls");
	event_put(&r.b, EVENT_T_RAW_PREFIX, "GET /", 5);
	rec_finish(&r);
	CHECK_EVE(
		&r, NULL,
		"{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		"\"event_type\":\"tls\",\"src_ip\":\"203.0.113.77\",\"src_port\":1025,"
		"\"dest_ip\":\"198.51.100.1\",\"dest_port\":443,\"proto\":\"TCP\","
		"\"app_proto\":\"failed\",\"payload\":\"R0VUIC8=\",\"payload_printable\":\"GET /\","
		"\"tls\":{\"handshake\":\"not-tls\"},\"sinkhole\":{\"flags\":[\"malformed\"],"
		"\"raw_prefix\":\"R0VUIC8=\"}}\n");
	rec_begin(&r, EVENT_HTTP, 0, 6, "203.0.113.77", 1025, "198.51.100.1", 443);
	event_put_u16(&r.b, EVENT_T_TLS_VERSION, 0x7f1c);
	rec_finish(&r);
	CHECK_EVE(&r, NULL,
		  "{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		  "\"event_type\":\"http\",\"src_ip\":\"203.0.113.77\",\"src_port\":1025,"
		  "\"dest_ip\":\"198.51.100.1\",\"dest_port\":443,\"proto\":\"TCP\","
		  "\"app_proto\":\"http\",\"tls\":{\"version\":\"0x7f1c\"},"
		  "\"sinkhole\":{\"flags\":[]}}\n");
}

static void test_ipv6_udp(void)
{
	static struct rec r;
	rec_begin(&r, EVENT_DNS, EVENT_F_NO_ANSWER | EVENT_F_LIMIT | EVENT_F_TIMEOUT, 17,
		  "2001:db8::1", 5353, "2001:db8:ffff::a:b0c", 53);
	event_put_str(&r.b, EVENT_T_FAMILY, "conficker");
	rec_finish(&r);
	CHECK_EVE(&r, NULL,
		  "{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		  "\"event_type\":\"dns\",\"src_ip\":\"2001:0db8:0000:0000:0000:0000:0000:0001\","
		  "\"src_port\":5353,\"dest_ip\":\"2001:0db8:ffff:0000:0000:0000:000a:0b0c\","
		  "\"dest_port\":53,\"proto\":\"UDP\",\"app_proto\":\"dns\","
		  "\"sinkhole\":{\"family\":\"conficker\","
		  "\"flags\":[\"timeout\",\"limit\",\"no_answer\"]}}\n");
}

static void test_proxied(void)
{
	static struct rec r;
	struct event_addr peer, fwd;
	CHECK_INT(event_addr_parse("10.0.0.1", &peer), 0);
	peer.port = 34567;
	CHECK_INT(event_addr_parse("2001:db8::5", &fwd), 0);
	fwd.port = 443;
	rec_begin(&r, EVENT_HTTP, EVENT_F_VIA_PROXY | EVENT_F_FORWARDED, 6, "198.18.0.7", 40000,
		  "198.51.100.1", 80);
	event_put_addr(&r.b, EVENT_T_PEER, &peer);
	event_put_addr(&r.b, EVENT_T_FORWARDED_BY, &fwd);
	event_put_str(&r.b, EVENT_T_HTTP_HOST, "[2001:DB8::1]:81");
	rec_finish(&r);
	CHECK_EVE(&r, "edge",
		  "{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		  "\"event_type\":\"http\",\"src_ip\":\"198.18.0.7\",\"src_port\":40000,"
		  "\"dest_ip\":\"198.51.100.1\",\"dest_port\":80,\"proto\":\"TCP\","
		  "\"app_proto\":\"http\",\"host\":\"edge\","
		  "\"http\":{\"hostname\":\"[2001:db8::1]\",\"http_port\":81},"
		  "\"sinkhole\":{\"sensor\":\"edge\",\"flags\":[\"via_proxy\",\"forwarded\"],"
		  "\"peer_ip\":\"10.0.0.1\",\"peer_port\":34567,"
		  "\"forwarded_by\":\"2001:0db8:0000:0000:0000:0000:0000:0005\"}}\n");
}

#define PREFIX_RAW                                                                                 \
	"{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"         \
	"\"event_type\":\"sinkhole_raw\",\"src_ip\":\"192.0.2.1\",\"src_port\":1,"                 \
	"\"dest_ip\":\"192.0.2.2\",\"dest_port\":2,\"proto\":\"TCP\",\"app_proto\":\"failed\""

/* Unknown tags are skipped, repeated tags render once (the first), malformed values are dropped. */
static void test_skips(void)
{
	static struct rec r;
	static const uint8_t bad_headers[] = { 0, 2, 0, 1, 'a', 0, 1, 'b' }; /* says 2, holds 1 */
	rec_begin(&r, EVENT_RAW, 0, 6, "192.0.2.1", 1, "192.0.2.2", 2);
	event_put_str(&r.b, 0x7777, "unknown tag");
	event_put_str(&r.b, EVENT_T_FAMILY, "first");
	event_put_str(&r.b, EVENT_T_FAMILY, "second");
	event_put(&r.b, EVENT_T_TX_ID, "abc", 3);	   /* not an integer size */
	event_put(&r.b, EVENT_T_HTTP_BODY_SHA256, "x", 1); /* not 32 bytes */
	event_put(&r.b, EVENT_T_PEER, "short", 5);	   /* not an address */
	event_put(&r.b, EVENT_T_HTTP_HEADERS, bad_headers, sizeof bad_headers);
	event_put_str(&r.b, 0x05ff, "future raw field");
	rec_finish(&r);
	CHECK_EVE(&r, NULL, PREFIX_RAW ",\"sinkhole\":{\"family\":\"first\",\"flags\":[]}}\n");
}

static void test_host_split(void)
{
	static const struct {
		const char *host;
		const char *want;
	} cases[] = {
		{ "a.example", "{\"hostname\":\"a.example\"}" },
		{ "A.Example:80", "{\"hostname\":\"a.example\",\"http_port\":80}" },
		{ "a:65535", "{\"hostname\":\"a\",\"http_port\":65535}" },
		{ "a:65536", "{\"hostname\":\"a:65536\"}" },
		{ "a:", "{\"hostname\":\"a:\"}" },
		{ ":80", "{\"hostname\":\":80\"}" },
		{ "::1", "{\"hostname\":\"::1\"}" },
		{ "[::1]:8080", "{\"hostname\":\"[::1]\",\"http_port\":8080}" },
		{ "\xc3\x89T\xc3\xa9:1", "{\"hostname\":\"\xc3\x89t\xc3\xa9\",\"http_port\":1}" },
		{ "X\"\\\n", "{\"hostname\":\"x\\\"\\\\\\n\"}" },
	};
	static struct rec r;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rec_begin(&r, EVENT_RAW, 0, 6, "192.0.2.1", 1, "192.0.2.2", 2);
		event_put_str(&r.b, EVENT_T_HTTP_HOST, cases[i].host);
		rec_finish(&r);
		struct dynbuf out;
		dynbuf_init(&out, 4096);
		CHECK_INT(eve_format(r.buf, r.len, NULL, &out), 0);
		const char *http = strstr(out.data, "\"http\":");
		CHECK(http != NULL);
		if (http) {
			http += 7;
			const char *end = strstr(http, "},\"sinkhole\"");
			CHECK(end != NULL);
			if (end)
				CHECK_SLICE(http, (size_t)(end - http + 1), cases[i].want);
		}
		dynbuf_free(&out);
	}
}

static void test_timestamps(void)
{
	static const struct {
		uint64_t ts;
		const char *want;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00.000000+0000" },
		{ 1709251199999999ULL, "2024-02-29T23:59:59.999999+0000" },
		{ 4107542400000001ULL, "2100-03-01T00:00:00.000001+0000" },
		{ 2932897ULL * 86400 * 1000000, "10000-01-01T00:00:00.000000+0000" },
	};
	static struct rec r;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rec_begin(&r, EVENT_RAW, 0, 6, "192.0.2.1", 1, "192.0.2.2", 2);
		/* Rewrite the header's time field directly (offset 12). */
		for (int k = 0; k < 8; k++)
			r.buf[12 + k] = (uint8_t)(cases[i].ts >> (56 - 8 * k));
		rec_finish(&r);
		struct dynbuf out;
		dynbuf_init(&out, 4096);
		CHECK_INT(eve_format(r.buf, r.len, NULL, &out), 0);
		CHECK(out.len > 14 + strlen(cases[i].want));
		if (out.len > 14 + strlen(cases[i].want))
			CHECK_SLICE(out.data + 14, strlen(cases[i].want), cases[i].want);
		dynbuf_free(&out);
	}
	/* The largest timestamp still renders (year 586524). */
	rec_begin(&r, EVENT_RAW, 0, 6, "192.0.2.1", 1, "192.0.2.2", 2);
	memset(r.buf + 12, 0xff, 8);
	rec_finish(&r);
	struct dynbuf out;
	dynbuf_init(&out, 4096);
	CHECK_INT(eve_format(r.buf, r.len, NULL, &out), 0);
	CHECK(strncmp(out.data, "{\"timestamp\":\"586524-01-19T08:01:49.551615+0000\"", 48) == 0);
	dynbuf_free(&out);
}

/* Reference base64, one bit at a time, to check the chunked encoder across its boundaries. */
static void base64_ref(const uint8_t *p, size_t n, struct dynbuf *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t bits = n * 8;
	for (size_t i = 0; i < bits; i += 6) {
		unsigned v = 0;
		for (size_t k = i; k < i + 6; k++) {
			unsigned bit = k < bits ? (p[k / 8] >> (7 - k % 8)) & 1 : 0;
			v = v << 1 | bit;
		}
		dynbuf_addc(out, tab[v]);
	}
	while (out->len % 4)
		dynbuf_addc(out, '=');
}

static void test_base64(void)
{
	static struct rec r;
	static uint8_t data[2000];
	static const size_t lens[] = { 0, 1, 2, 3, 4, 767, 768, 769, 770, 1536, 2000 };
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		rec_begin(&r, EVENT_RAW, 0, 6, "192.0.2.1", 1, "192.0.2.2", 2);
		event_put(&r.b, EVENT_T_HTTP_BODY_PREFIX, data, lens[i]);
		rec_finish(&r);
		struct dynbuf out, want;
		dynbuf_init(&out, 1 << 16);
		dynbuf_init(&want, 1 << 16);
		dynbuf_adds(&want, PREFIX_RAW ",\"http\":{\"http_request_body\":\"");
		base64_ref(data, lens[i], &want);
		dynbuf_adds(&want, "\"},\"sinkhole\":{\"flags\":[]}}\n");
		CHECK_INT(eve_format(r.buf, r.len, NULL, &out), 0);
		CHECK_SLICE(out.data, out.len, want.data);
		dynbuf_free(&out);
		dynbuf_free(&want);
	}
}

static void test_errors(void)
{
	static struct rec r;
	struct dynbuf out;
	rec_begin(&r, 99, 0, 132, "192.0.2.1", 1, "192.0.2.2", 2);
	event_put_str(&r.b, EVENT_T_HTTP_URI, "");
	rec_finish(&r);
	CHECK_EVE(&r, NULL,
		  "{\"timestamp\":\"2023-09-18T06:13:33.903924+0000\",\"flow_id\":1617311995706046,"
		  "\"event_type\":\"sinkhole_unknown\",\"src_ip\":\"192.0.2.1\",\"src_port\":1,"
		  "\"dest_ip\":\"192.0.2.2\",\"dest_port\":2,\"proto\":\"132\","
		  "\"app_proto\":\"failed\",\"http\":{\"url\":\"\"},"
		  "\"sinkhole\":{\"flags\":[],\"record_type\":99}}\n");

	/* Not a record: ERR_CORRUPT / ERR_UNSUPPORTED, and nothing written. */
	dynbuf_init(&out, 1 << 16);
	dynbuf_adds(&out, "keep");
	CHECK_INT(eve_format(r.buf, EVENT_HEADER_LEN - 1, NULL, &out), ERR_CORRUPT);
	CHECK_INT(eve_format(r.buf, r.len - 1, NULL, &out), ERR_CORRUPT);
	r.buf[0] = 2;
	CHECK_INT(eve_format(r.buf, r.len, NULL, &out), ERR_UNSUPPORTED);
	r.buf[0] = EVENT_FORMAT_VERSION;
	r.buf[5] = 5; /* ip version */
	CHECK_INT(eve_format(r.buf, r.len, NULL, &out), ERR_CORRUPT);
	CHECK_SLICE(out.data, out.len, "keep");
	dynbuf_free(&out);

	/* The maximum reached at any point leaves the buffer exactly as it was. */
	static const char *const hdrs[] = { "A", "B" };
	rec_begin(&r, EVENT_HTTP, EVENT_F_MALFORMED, 6, "192.0.2.1", 1, "192.0.2.2", 2);
	event_put_str(&r.b, EVENT_T_FAMILY, "f");
	event_put_str(&r.b, EVENT_T_HTTP_URI, "/x");
	event_put_str(&r.b, EVENT_T_RAW_PREFIX, "raw");
	put_headers(&r.b, hdrs, 1);
	rec_finish(&r);
	dynbuf_init(&out, 1 << 16);
	CHECK_INT(eve_format(r.buf, r.len, "s", &out), 0);
	size_t full = out.len;
	dynbuf_free(&out);
	for (size_t max = 4; max < full + 4; max++) {
		dynbuf_init(&out, max);
		dynbuf_adds(&out, "pre");
		int rc = eve_format(r.buf, r.len, "s", &out);
		if (max - 3 >= full) {
			CHECK_INT(rc, 0);
			CHECK_INT(out.len, full + 3);
		} else {
			CHECK_INT(rc, ERR_NOMEM);
			CHECK_SLICE(out.data, out.len, "pre");
		}
		dynbuf_free(&out);
	}
}

int main(void)
{
	test_http_full();
	test_malformed_raw_prefix();
	test_ipv6_udp();
	test_proxied();
	test_skips();
	test_host_split();
	test_timestamps();
	test_base64();
	test_errors();
	test_tls();
	return check_done("test_eve");
}
