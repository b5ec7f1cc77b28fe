/* test_raw.c — unit tests for the raw module's protocol guesser, entropy, payload matchers and port ranges. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "core/err.h"
#include "core/payload_match.h"
#include "core/rules.h"
#include "net/anyport.h"
#include "proto/raw/raw_guess.h"

static char errbuf[512];

/* Exact-size heap copy: ASan catches any read past the bytes given. */
static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (c && n)
		memcpy(c, p, n);
	return c;
}

static enum raw_guess guess_of(const void *p, size_t n, bool datagram)
{
	uint8_t *c = dup_bytes(p, n);
	enum raw_guess g = raw_guess(c, n, datagram);
	free(c);
	return g;
}

#define GUESS(lit, dgram) guess_of(lit, sizeof lit - 1, dgram)

static const uint8_t dns_query[] = {
	0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	   /* header, RD */
	3,    'c',  'n',  'c',	7,    'e',  'x',  'a',	'm',  'p',  'l',  'e',	0, /* name */
	0x00, 0x01, 0x00, 0x01,							   /* A IN */
};

static void test_guess(void)
{
	CHECK_INT(GUESS("GET / HTTP/1.1\r\n", false), RAW_GUESS_HTTP);
	CHECK_INT(GUESS("POST /gate.php HTTP/1.0\r\n", false), RAW_GUESS_HTTP);
	CHECK_INT(GUESS("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false), RAW_GUESS_HTTP);
	CHECK_INT(GUESS("GET", false), RAW_GUESS_UNKNOWN); /* too short to tell */
	CHECK_INT(GUESS("get / HTTP/1.1\r\n", false),
		  RAW_GUESS_UNKNOWN); /* methods are case-sensitive */
	CHECK_INT(GUESS("GETX / HTTP/1.1", false), RAW_GUESS_UNKNOWN);

	CHECK_INT(GUESS("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false), RAW_GUESS_TLS);
	CHECK_INT(GUESS("\x16\x03\x03\x00\x30\x02", false), RAW_GUESS_UNKNOWN); /* ServerHello */
	CHECK_INT(GUESS("\x16\x03\x01\x00", false), RAW_GUESS_UNKNOWN);		/* cut */
	CHECK_INT(GUESS("\x16\x03\x09\x00\x30\x01", false), RAW_GUESS_UNKNOWN); /* version 3.9 */
	CHECK_INT(GUESS("\x80\x2e\x01\x03\x01\x00\x15", false), RAW_GUESS_TLS); /* SSLv2 hello */
	CHECK_INT(GUESS("\x80\x02\x01\x03\x01", false), RAW_GUESS_UNKNOWN);	/* too short */

	CHECK_INT(GUESS("SSH-2.0-OpenSSH_9.2\r\n", false), RAW_GUESS_SSH);
	CHECK_INT(GUESS("SSH", false), RAW_GUESS_UNKNOWN);

	CHECK_INT(GUESS("EHLO bot.example\r\n", false), RAW_GUESS_SMTP);
	CHECK_INT(GUESS("helo x\r\n", false), RAW_GUESS_SMTP);
	CHECK_INT(GUESS("MAIL FROM:<a@b>\r\n", false), RAW_GUESS_SMTP);
	CHECK_INT(GUESS("EHLO", false), RAW_GUESS_UNKNOWN);

	/* DNS: a datagram is the message; over TCP it has a 2-byte length first. */
	CHECK_INT(guess_of(dns_query, sizeof dns_query, true), RAW_GUESS_DNS);
	CHECK_INT(guess_of(dns_query, sizeof dns_query, false), RAW_GUESS_UNKNOWN);
	uint8_t tcp[2 + sizeof dns_query];
	tcp[0] = 0;
	tcp[1] = sizeof dns_query;
	memcpy(tcp + 2, dns_query, sizeof dns_query);
	CHECK_INT(guess_of(tcp, sizeof tcp, false), RAW_GUESS_DNS);
	CHECK_INT(guess_of(tcp, sizeof tcp - 3, false), RAW_GUESS_UNKNOWN); /* question cut */
	uint8_t resp[sizeof dns_query];
	memcpy(resp, dns_query, sizeof resp);
	resp[2] |= 0x80; /* a response is not a client's query */
	CHECK_INT(guess_of(resp, sizeof resp, true), RAW_GUESS_UNKNOWN);
	memcpy(resp, dns_query, sizeof resp);
	resp[5] = 2; /* two questions */
	CHECK_INT(guess_of(resp, sizeof resp, true), RAW_GUESS_UNKNOWN);
	memcpy(resp, dns_query, sizeof resp);
	resp[12] = 64; /* label longer than 63 */
	CHECK_INT(guess_of(resp, sizeof resp, true), RAW_GUESS_UNKNOWN);

	CHECK_INT(guess_of(NULL, 0, false), RAW_GUESS_UNKNOWN);
	CHECK_INT(GUESS("\x00\x00\x00\x00", false), RAW_GUESS_UNKNOWN);
	CHECK_STR(raw_guess_name(RAW_GUESS_TLS), "tls");
	CHECK_STR(raw_guess_name(RAW_GUESS_UNKNOWN), "unknown");
	CHECK_STR(raw_guess_name((enum raw_guess)99), "unknown");
}

static void test_entropy(void)
{
	uint8_t buf[512];
	CHECK_INT(raw_entropy_milli(NULL, 0), 0);
	CHECK_INT(raw_entropy_milli((const uint8_t *)"a", 1), 0);
	memset(buf, 'A', sizeof buf);
	CHECK_INT(raw_entropy_milli(buf, sizeof buf), 0);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i & 1);
	CHECK_INT(raw_entropy_milli(buf, sizeof buf), 1000); /* two symbols, equal: 1 bit */
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)i;
	CHECK_INT(raw_entropy_milli(buf, sizeof buf), 8000); /* every byte value twice: 8 bits */
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i & 3);
	CHECK_INT(raw_entropy_milli(buf, sizeof buf), 2000);
}

static struct config *load(const char *yaml)
{
	struct config *c = NULL;
	int rc = config_load_string(yaml, strlen(yaml), "t.yaml", &c, errbuf, sizeof errbuf);
	if (rc) {
		fprintf(stderr, "config: %s\n", errbuf);
		return NULL;
	}
	return c;
}

static bool pm(const struct config_payload *m, const void *p, size_t n, uint64_t total)
{
	uint8_t *c = dup_bytes(p, n);
	struct payload_input in = { c, n, total, raw_entropy_milli(c, n) };
	bool r = payload_match(m, &in);
	free(c);
	return r;
}

static void test_payload_match(void)
{
	struct config *c =
		load("listen: [ { proto: raw, addr: \"127.0.0.1:1\" } ]\n"
		     "families:\n"
		     "  - name: a\n"
		     "    match: { payload: { prefix: \"hex:dead\", at: [ { offset: 4, bytes: "
		     "\"hex:0102\" }, { offset: 7, bytes: X } ] } }\n"
		     "  - name: b\n"
		     "    match: { payload: { contains: \"cmd=\", len: [ 8, 16 ] } }\n"
		     "  - name: c\n"
		     "    match: { payload: { entropy: [ 7.5, 8 ] } }\n"
		     "  - name: d\n"
		     "    match: { payload: { len: 0 } }\n");
	CHECK(c != NULL);
	if (!c)
		return;
	const struct config_payload *a = &c->families[0].match.payload;
	const struct config_payload *b = &c->families[1].match.payload;
	const struct config_payload *e = &c->families[2].match.payload;
	const struct config_payload *z = &c->families[3].match.payload;
	CHECK(pm(a, "\xde\xad\x00\x00\x01\x02\x00X", 8, 8));
	CHECK(pm(a, "\xde\xad\x00\x00\x01\x02\x00XYZ", 11, 99));
	CHECK(!pm(a, "\xde\xad\x00\x00\x01\x02\x00", 7, 7)); /* X at 7 is past the end */
	CHECK(!pm(a, "\xde\xad\x00\x00\x01\x03\x00X", 8, 8));
	CHECK(!pm(a, "\xde", 1, 1));
	CHECK(!pm(a, "\xdf\xad\x00\x00\x01\x02\x00X", 8, 8));
	CHECK(pm(b, "id=1&cmd=x", 10, 10));
	CHECK(!pm(b, "id=1&cmd=x", 10, 17)); /* total beyond the range */
	CHECK(!pm(b, "cmd", 3, 8));
	CHECK(!pm(b, "id=1&cmdx", 9, 9));
	uint8_t hi[256];
	for (size_t i = 0; i < sizeof hi; i++)
		hi[i] = (uint8_t)i;
	CHECK(pm(e, hi, sizeof hi, sizeof hi));
	CHECK(!pm(e, "aaaaaaaaaaaaaaaa", 16, 16));
	CHECK(pm(z, "", 0, 0));
	CHECK(!pm(z, "x", 1, 1));
	/* Input without a payload (an HTTP request) never matches a payload rule. */
	struct payload_input none = { NULL, 0, 0, 0 };
	CHECK(!payload_match(a, &none));
	CHECK(!payload_match(z, &none));

	/* Through the rule set: proto raw input is classified by its payload. */
	struct rules *r = NULL;
	CHECK_INT(rules_compile(c, &r, errbuf, sizeof errbuf), 0);
	if (r) {
		uint8_t *p = dup_bytes("xx cmd=run", 10);
		struct rules_input in = { .proto = CONFIG_PROTO_RAW,
					  .listener = "raw-127.0.0.1:1",
					  .dst_port = 4455,
					  .payload = { p, 10, 10, raw_entropy_milli(p, 10) } };
		CHECK_STR(rules_classify(r, &in)->name, "b");
		in.payload.data = NULL;
		CHECK_STR(rules_classify(r, &in)->name, "unknown");
		free(p);
		rules_free(r);
	}
	config_free(c);
}

static void test_port_ranges(void)
{
	struct config *c = load("listen: [ { proto: raw, addr: \"127.0.0.1:1\" } ]\n"
				"families:\n"
				"  - name: low\n"
				"    match: { dst_port: [ 25, \"4455-4460\" ] }\n"
				"  - name: all\n"
				"    match: { dst_port: all }\n");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_INT(c->families[0].match.n_dst_ports, 2);
	CHECK_INT(c->families[0].match.dst_ports[1].lo, 4455);
	CHECK_INT(c->families[0].match.dst_ports[1].hi, 4460);
	struct rules *r = NULL;
	CHECK_INT(rules_compile(c, &r, errbuf, sizeof errbuf), 0);
	if (r) {
		static const struct {
			uint16_t port;
			const char *fam;
		} cases[] = { { 25, "low" },   { 24, "all" },	{ 4454, "all" }, { 4455, "low" },
			      { 4460, "low" }, { 4461, "all" }, { 65535, "all" } };
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			struct rules_input in = { .proto = CONFIG_PROTO_RAW,
						  .dst_port = cases[i].port };
			CHECK_STR(rules_classify(r, &in)->name, cases[i].fam);
		}
		rules_free(r);
	}
	config_free(c);
}

static void test_listener_config(void)
{
	struct config *c =
		load("listen:\n"
		     "  - { proto: raw, addr: \"0.0.0.0:9000\", ports: [ \"1-1023\", 4455 ],\n"
		     "      seized: [ 192.0.2.10, \"2001:db8::10\" ],\n"
		     "      raw: { capture_bytes: 1KiB, timeout_ms: 700, banner: \"hex:0d0a\" } }\n"
		     "  - { proto: http, addr: \"192.0.2.10:80\" }\n");
	CHECK(c != NULL);
	if (!c)
		return;
	const struct config_listener *l = &c->listeners[0];
	CHECK_INT(l->raw.capture_bytes, 1024);
	CHECK_INT(l->raw.timeout_ms, 700);
	CHECK_INT(l->http.header_timeout_ms, 700); /* a handed-over stream keeps the same timer */
	CHECK_INT(l->raw.banner_len, 2);
	CHECK(l->raw.handover);
	CHECK(!l->defer_accept); /* raw: silent peers are seen at once */
	CHECK(c->listeners[1].defer_accept);
	CHECK_INT(l->n_ports, 2);
	CHECK_INT(l->ports[0].hi, 1023);
	CHECK_INT(l->redirect, CONFIG_REDIRECT_NAT);
	CHECK_INT(l->n_seized, 2);
	CHECK_INT(l->seized[1].ipver, 6);
	config_free(c);

	c = load("listen: [ { proto: raw, addr: \"192.0.2.7:9000\", ports: all, redirect: tproxy,"
		 " defer_accept: true } ]\n");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_INT(c->listeners[0].n_seized, 1); /* its own address */
	CHECK_INT(c->listeners[0].seized[0].addr[3], 7);
	CHECK_INT(c->listeners[0].redirect, CONFIG_REDIRECT_TPROXY);
	CHECK(c->listeners[0].defer_accept);
	CHECK(c->listeners[0].raw.tcp && c->listeners[0].raw.udp); /* default: both */
	CHECK_INT(c->listeners[0].raw.udp_rate, 20);
	config_free(c);

	c = load("listen: [ { proto: raw, addr: \"192.0.2.7:9000\", raw: { transport: udp, "
		 "udp_rate: 3 } } ]\n");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK(!c->listeners[0].raw.tcp && c->listeners[0].raw.udp);
	CHECK_INT(c->listeners[0].raw.udp_rate, 3);
	config_free(c);
}

static void test_nft_script(void)
{
	struct config *c = load(
		"listen:\n"
		"  - { proto: raw, addr: \"0.0.0.0:9000\", ports: [ \"1-1023\", 4455 ],\n"
		"      seized: [ 192.0.2.10, \"2001:db8::10\" ] }\n"
		"  - { proto: http, addr: \"192.0.2.10:80\" }\n"
		"  - { proto: http, addr: \"0.0.0.0:8080\" }\n"
		"  - { proto: raw, addr: \"198.51.100.1:9001\", ports: all, redirect: tproxy }\n");
	CHECK(c != NULL);
	if (!c)
		return;
	struct dynbuf b;
	dynbuf_init(&b, 1u << 20);
	CHECK_INT(anyport_nft_script(c, &b), 0);
	const char *s = b.data ? b.data : "";
	CHECK(strstr(s, "table inet sinkd\ndelete table inet sinkd\n") != NULL);
	CHECK(strstr(s, "type nat hook prerouting priority dstnat;") != NULL);
	CHECK(strstr(s, "ip daddr 192.0.2.10 tcp dport { 1-1023, 4455 } tcp dport != { 80, 8080 } "
			"redirect to :9000\n") != NULL);
	/* The v4 listeners are not exclusions for the v6 address. */
	CHECK(strstr(s, "ip6 daddr 2001:db8::10 tcp dport { 1-1023, 4455 } redirect to :9000\n") !=
	      NULL);
	CHECK(strstr(s,
		     "ip daddr 198.51.100.1 tcp dport { 1-65535 } tcp dport != { 8080 } tproxy ip to 198.51.100.1:9001 "
		     "meta mark set 0x5d accept\n") != NULL);
	CHECK(strstr(s, "ip daddr 198.51.100.1 udp dport { 1-65535 } tproxy ip to "
			"198.51.100.1:9001 meta mark set 0x5d accept\n") != NULL);
	CHECK(strstr(s, "# udp: not redirected (needs redirect: tproxy)") != NULL);
	CHECK(strstr(s, "ip rule add fwmark 0x5d lookup 100") != NULL);
	dynbuf_free(&b);
	config_free(c);

	c = load("listen: [ { proto: raw, addr: \"127.0.0.1:1\" } ]\n");
	CHECK(c != NULL);
	if (!c)
		return;
	dynbuf_init(&b, 1u << 20);
	CHECK_INT(anyport_nft_script(c, &b), ERR_INVAL);
	dynbuf_free(&b);
	config_free(c);
}

int main(void)
{
	test_nft_script();
	test_guess();
	test_entropy();
	test_payload_match();
	test_port_ranges();
	test_listener_config();
	return check_done("test_raw");
}
