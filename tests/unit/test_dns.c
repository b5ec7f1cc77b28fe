/* test_dns.c — unit tests: DNS name decompression limits, query parsing, zone lookup, answers, config errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "proto/dns/dns_answer.h"
#include "proto/dns/dns_config.h"
#include "proto/dns/dns_msg.h"
#include "proto/dns/dns_zone.h"

#define HDR(qd, an, ns, ar) 0x12, 0x34, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar

/* One parse case: bytes, expected result, expected reason fragment. */
struct parse_case {
	const char *name;
	uint8_t msg[300];
	size_t len;
	int rc;
	const char *why;
};

static void test_parse_table(void)
{
	static const struct parse_case cases[] = {
		{ "plain",
		  { HDR(1, 0, 0, 0), 3, 'w', 'w', 'w', 1, 'x', 0, 0, 1, 0, 1 },
		  23,
		  0,
		  NULL },
		{ "short", { 1, 2, 3 }, 3, ERR_NEED_MORE, "shorter" },
		{ "no question", { HDR(0, 0, 0, 0) }, 12, ERR_MALFORMED, "no question" },
		{ "two questions",
		  { HDR(2, 0, 0, 0), 0, 0, 1, 0, 1 },
		  17,
		  ERR_MALFORMED,
		  "more than one" },
		{ "self pointer",
		  { HDR(1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1 },
		  18,
		  ERR_MALFORMED,
		  "loop" },
		{ "forward pointer",
		  { HDR(1, 0, 0, 0), 0xc0, 16, 0, 1, 0, 1, 0 },
		  19,
		  ERR_MALFORMED,
		  "loop" },
		{ "pointer cut", { HDR(1, 0, 0, 0), 0xc0 }, 13, ERR_MALFORMED, "cut short" },
		{ "label 64", { HDR(1, 0, 0, 0), 64 }, 13, ERR_MALFORMED, "longer than 63" },
		{ "reserved label type",
		  { HDR(1, 0, 0, 0), 0x80, 0 },
		  14,
		  ERR_MALFORMED,
		  "reserved" },
		{ "label past end",
		  { HDR(1, 0, 0, 0), 5, 'a', 'b' },
		  15,
		  ERR_MALFORMED,
		  "past the end" },
		{ "question cut", { HDR(1, 0, 0, 0), 0, 0, 1 }, 15, ERR_MALFORMED, "question cut" },
		{ "bogus counts",
		  { HDR(1, 255, 255, 255), 0, 0, 1, 0, 1 },
		  17,
		  ERR_MALFORMED,
		  "count" },
		{ "rr cut",
		  { HDR(1, 0, 0, 1), 0, 0, 1, 0, 1, 0, 0, 41, 16 },
		  21,
		  ERR_MALFORMED,
		  "cut" },
		{ "trailing",
		  { HDR(1, 0, 0, 0), 0, 0, 1, 0, 1, 0xff },
		  18,
		  ERR_MALFORMED,
		  "trailing" },
		{ "opt in answer",
		  { HDR(1, 1, 0, 0), 0, 0, 1, 0, 1, 0, 0, 41, 16, 0, 0, 0, 0, 0, 0 },
		  28,
		  ERR_MALFORMED,
		  "OPT" },
		{ "edns",
		  { HDR(1, 0, 0, 1), 0, 0, 1, 0, 1, 0, 0, 41, 4, 0xd0, 0, 1, 0x80, 0, 0, 0 },
		  28,
		  0,
		  NULL },
		{ "ecs bits beyond prefix",
		  { HDR(1, 0, 0, 1),
		    0,
		    0,
		    1,
		    0,
		    1,
		    0,
		    0,
		    41,
		    4,
		    0xd0,
		    0,
		    0,
		    0,
		    0,
		    0,
		    11,
		    0,
		    8,
		    0,
		    7,
		    0,
		    1,
		    20,
		    0,
		    203,
		    0,
		    0x7f },
		  39,
		  ERR_MALFORMED,
		  "client subnet" },
		{ "ecs address too long",
		  { HDR(1, 0, 0, 1),
		    0,
		    0,
		    1,
		    0,
		    1,
		    0,
		    0,
		    41,
		    4,
		    0xd0,
		    0,
		    0,
		    0,
		    0,
		    0,
		    12,
		    0,
		    8,
		    0,
		    8,
		    0,
		    1,
		    16,
		    0,
		    203,
		    0,
		    1,
		    0 },
		  40,
		  ERR_MALFORMED,
		  "client subnet" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct parse_case *c = &cases[i];
		struct dns_query q;
		int rc = dns_msg_parse(c->msg, c->len, &q);
		if (rc != c->rc || (c->why && (!q.error || !strstr(q.error, c->why))))
			fprintf(stderr, "case %s: rc %d (%s)\n", c->name, rc,
				q.error ? q.error : "");
		CHECK_INT(rc, c->rc);
		if (c->why)
			CHECK(q.error && strstr(q.error, c->why));
		/* Every prefix of a valid message is refused cleanly, never read past. */
		for (size_t n = 0; n < c->len; n++) {
			uint8_t *cut = malloc(n ? n : 1);
			memcpy(cut, c->msg, n);
			int prc = dns_msg_parse(cut, n, &q);
			CHECK(prc == ERR_NEED_MORE || prc == ERR_MALFORMED || prc == 0);
			free(cut);
		}
	}
}

static void test_names(void)
{
	/* A pointer chain that goes backwards is fine; its text keeps the case. */
	static const uint8_t msg[] = { HDR(1, 1, 0, 0),
				       3,
				       'W',
				       'w',
				       'W',
				       2,
				       'E',
				       'x',
				       0,
				       0,
				       1,
				       0,
				       1,
				       1,
				       'a',
				       0xc0,
				       12,
				       0,
				       1,
				       0,
				       1,
				       0,
				       0,
				       0,
				       5,
				       0,
				       4,
				       1,
				       2,
				       3,
				       4 };
	struct dns_name n;
	size_t next;
	const char *why = NULL;
	CHECK_INT(dns_name_read(msg, sizeof msg, 24, &n, &next, &why), 0);
	CHECK_INT(next, 28);
	CHECK_INT(n.labels, 3);
	char text[DNS_TEXT_NAME_MAX];
	dns_name_text(&n, text, sizeof text);
	CHECK_STR(text, "a.WwW.Ex");
	struct dns_query q;
	CHECK_INT(dns_msg_parse(msg, sizeof msg, &q), 0);
	CHECK(q.qname_plain);
	CHECK_INT(q.qtype, 1);
	/* Odd bytes are escaped in the text form. */
	static const uint8_t odd[] = { HDR(1, 0, 0, 0), 3, 'a', '.', 0x07, 0, 0, 1, 0, 1 };
	CHECK_INT(dns_msg_parse(odd, sizeof odd, &q), 0);
	dns_name_text(&q.qname, text, sizeof text);
	CHECK_STR(text, "a\\.\\007");
	/* 127 labels of one byte is the limit; a chain of 33 pointers is refused. */
	uint8_t big[12 + 2 * 128 + 5];
	memcpy(big, (uint8_t[]){ HDR(1, 0, 0, 0) }, 12);
	for (int i = 0; i < 128; i++) {
		big[12 + 2 * i] = 1;
		big[13 + 2 * i] = 'a';
	}
	big[12 + 256] = 0;
	CHECK_INT(dns_msg_parse(big, 12 + 257, &q), ERR_MALFORMED);
	CHECK(q.error && (strstr(q.error, "labels") || strstr(q.error, "255")));
	uint8_t chain[12 + 2 + 34 * 2 + 4];
	memcpy(chain, (uint8_t[]){ HDR(1, 0, 0, 0) }, 12);
	chain[12] = 0; /* offset 12: the root, the target of the first pointer */
	chain[13] = 0;
	for (int i = 0; i < 34; i++) {
		size_t at = 14 + 2 * (size_t)i;
		size_t target = i == 0 ? 12 : at - 2;
		chain[at] = (uint8_t)(0xc0 | (target >> 8));
		chain[at + 1] = (uint8_t)target;
	}
	CHECK_INT(dns_name_read(chain, sizeof chain, 14 + 2 * 33, &n, &next, &why), ERR_MALFORMED);
	CHECK(why && strstr(why, "too many"));
	CHECK_INT(dns_name_read(chain, sizeof chain, 14 + 2 * 20, &n, &next, &why), 0);
}

static const char cfg_text[] =
	"log: { dir: /nonexistent }\n"
	"listen: [ { proto: dns, addr: \"127.0.0.1:53\" } ]\n"
	"dns:\n"
	"  a: [192.0.2.1]\n"
	"  soa: { serial: 7 }\n"
	"  zones:\n"
	"    - { family: outer, names: [example.com, x.test] }\n"
	"    - { family: inner, tag: t, names: [Sub.Example.COM.], a: [10.0.0.1] }\n";

static struct dns_name wire_name(const char *s)
{
	struct dns_name n;
	memset(&n, 0, sizeof n);
	while (*s) {
		const char *d = strchr(s, '.');
		size_t l = d ? (size_t)(d - s) : strlen(s);
		n.label_off[n.labels++] = (uint8_t)n.len;
		n.wire[n.len++] = (uint8_t)l;
		memcpy(n.wire + n.len, s, l);
		n.len = (uint16_t)(n.len + l);
		s += l + (d ? 1 : 0);
	}
	n.label_off[n.labels] = (uint8_t)n.len;
	n.wire[n.len++] = 0;
	return n;
}

static void test_zones(void)
{
	struct config *cfg = NULL;
	char err[256] = "";
	CHECK_INT(config_load_string(cfg_text, sizeof cfg_text - 1, "t", &cfg, err, sizeof err), 0);
	struct dns_zones *z = NULL;
	CHECK_INT(dns_zones_build(cfg->dns, &z, err, sizeof err), 0);
	if (!z)
		return;
	struct {
		const char *q;
		const char *family; /* NULL: no match */
		unsigned apex_label;
	} cases[] = {
		{ "example.com", "outer", 0 },
		{ "WWW.EXAMPLE.com", "outer", 1 },
		{ "sub.example.com", "inner", 0 },
		{ "a.b.SUB.example.com", "inner", 2 },
		{ "xsub.example.com", "outer", 1 },
		{ "example.org", NULL, 0 },
		{ "com", NULL, 0 },
		{ "example.com.evil", NULL, 0 },
		{ "badexample.com", NULL, 0 },
		{ "x.test", "outer", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dns_name n = wire_name(cases[i].q);
		struct dns_match m;
		bool hit = dns_zones_lookup(z, &n, &m);
		CHECK_INT(hit, cases[i].family != NULL);
		if (hit && cases[i].family) {
			CHECK_STR(m.group->family, cases[i].family);
			CHECK_INT(m.apex_label, cases[i].apex_label);
		}
	}
	struct dns_zones_stats st;
	dns_zones_get_stats(z, &st);
	CHECK_INT(st.names, 3);
	CHECK_INT(dns_zones_serial(z), 7);

	/* Answers: an A query below the inner zone gets its own address, AA, question echoed. */
	static const uint8_t q1[] = { HDR(1, 0, 0, 0),
				      1,
				      'A',
				      3,
				      's',
				      'U',
				      'b',
				      7,
				      'e',
				      'x',
				      'a',
				      'm',
				      'p',
				      'l',
				      'e',
				      3,
				      'c',
				      'o',
				      'm',
				      0,
				      0,
				      1,
				      0,
				      1 };
	struct dns_query q;
	struct dns_answer_info ai;
	uint8_t out[4096];
	CHECK_INT(dns_msg_parse(q1, sizeof q1, &q), 0);
	size_t n = dns_answer_build(z, 0, &q, false, out, sizeof out, &ai);
	CHECK_INT(n, sizeof q1 + 16);
	CHECK_INT(ai.rcode, DNS_R_NOERROR);
	CHECK_INT(ai.flags, DNS_F_QR | DNS_F_AA | DNS_F_RD);
	CHECK(!memcmp(out + 12, q1 + 12, sizeof q1 - 12));
	CHECK_INT(out[sizeof q1], 0xc0); /* owner: pointer to the question */
	CHECK_INT(out[sizeof q1 + 1], 12);
	CHECK(!memcmp(out + n - 4, (uint8_t[]){ 10, 0, 0, 1 }, 4));
	/* Outside: REFUSED, no AA, no records. */
	static const uint8_t q2[] = { HDR(1, 0, 0, 0), 1, 'x', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1 };
	CHECK_INT(dns_msg_parse(q2, sizeof q2, &q), 0);
	n = dns_answer_build(z, 0, &q, false, out, sizeof out, &ai);
	CHECK_INT(n, sizeof q2);
	CHECK_INT(ai.rcode, DNS_R_REFUSED);
	CHECK_INT(out[3] & 0xf, DNS_R_REFUSED);
	CHECK(!(out[2] & 0x04));
	/* A response is never answered; a message shorter than a header neither. */
	static const uint8_t q3[] = {
		0x12, 0x34, 0x81, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1
	};
	CHECK_INT(dns_msg_parse(q3, sizeof q3, &q), 0);
	CHECK_INT(dns_answer_build(z, 0, &q, false, out, sizeof out, &ai), 0);
	CHECK_INT(dns_msg_parse(q3, 5, &q), ERR_NEED_MORE);
	CHECK_INT(dns_answer_build(z, ERR_NEED_MORE, &q, false, out, sizeof out, &ai), 0);
	dns_zones_free(z);
	config_free(cfg);
}

/* Looks qn up both ways (in one go, and keyed after both prefetch stages): they must agree. */
static bool lookup_both(const struct dns_zones *z, const char *qn, struct dns_match *m)
{
	struct dns_name n = wire_name(qn);
	struct dns_zone_key k;
	struct dns_match m2;
	dns_zones_key(&n, &k);
	dns_zones_prefetch(z, &k, 0);
	dns_zones_prefetch(z, &k, 1);
	bool hit = dns_zones_lookup(z, &n, m);
	CHECK_INT(dns_zones_lookup_key(z, &n, &k, &m2), hit);
	if (hit)
		CHECK(m2.group == m->group && m2.apex_label == m->apex_label);
	return hit;
}

/* Labels longer than a machine word: hashing and comparing go eight bytes at a time. */
static void test_zones_long_labels(void)
{
	static const char text[] =
		"log: { dir: /nonexistent }\n"
		"listen: [ { proto: dns, addr: \"127.0.0.1:53\" } ]\n"
		"dns:\n"
		"  a: [192.0.2.1]\n"
		"  zones:\n"
		"    - { family: long, names: [a-very-long-label-of-32-bytes-xy.example, "
		"exactly8.test, seven-7.test, sixteen-bytes-16.test] }\n"
		"    - { family: deep, names: [b.a-very-long-label-of-32-bytes-xy.example] }\n";
	struct config *cfg = NULL;
	char err[256] = "";
	CHECK_INT(config_load_string(text, sizeof text - 1, "t", &cfg, err, sizeof err), 0);
	struct dns_zones *z = NULL;
	CHECK_INT(dns_zones_build(cfg->dns, &z, err, sizeof err), 0);
	if (!z) {
		config_free(cfg);
		return;
	}
	static const struct {
		const char *q;
		const char *family; /* NULL: no match */
		unsigned apex_label;
	} cases[] = {
		{ "a-very-long-label-of-32-bytes-xy.example", "long", 0 },
		{ "WWW.A-Very-Long-Label-Of-32-Bytes-XY.EXAMPLE", "long", 1 },
		{ "B.a-very-long-label-of-32-bytes-XY.example", "deep", 0 },
		{ "x.b.a-very-long-label-of-32-bytes-xy.example", "deep", 1 },
		/* One byte off at the end of a word, in the middle, past the last word. */
		{ "a-very-long-label-of-32-bytes-xz.example", NULL, 0 },
		{ "a-very-long-label-Of-31-bytes-xy.example", NULL, 0 },
		{ "a-very-long-label-of-32-bytes-xy.examplf", NULL, 0 },
		/* '@' and '[' sit just outside 'A'..'Z': never lower-cased into '`' or '{'. */
		{ "exactly8.test", "long", 0 },
		{ "EXACTLY8.TEST", "long", 0 },
		{ "exactl@8.test", NULL, 0 },
		{ "exactl[8.test", NULL, 0 },
		{ "Seven-7.Test", "long", 0 },
		{ "seven-7.test.x", NULL, 0 },
		{ "q.Sixteen-Bytes-16.test", "long", 1 },
		{ "sixteen-bytes-15.test", NULL, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dns_match m;
		bool hit = lookup_both(z, cases[i].q, &m);
		CHECK_INT(hit, cases[i].family != NULL);
		if (hit && cases[i].family) {
			CHECK_STR(m.group->family, cases[i].family);
			CHECK_INT(m.apex_label, cases[i].apex_label);
		}
	}
	/* Bytes with the high bit set are not letters: 0xC1 is not 0xE1. */
	struct dns_name hi = wire_name("seven-7.test");
	hi.wire[1] = 0xC1;
	struct dns_match m;
	CHECK(!dns_zones_lookup(z, &hi, &m));
	dns_zones_free(z);
	config_free(cfg);
}

static void test_config_errors(void)
{
	static const struct {
		const char *dns;
		const char *err;
	} cases[] = {
		{ "  a: [192.0.2.1]\n", "missing key \"zones\"" },
		{ "  zones: [ { family: f, names: [a.test] } ]\n", "sinkhole addresses" },
		{ "  a: [1.2.3]\n  zones: [ { family: f, names: [a.test] } ]\n", "not an IPv4" },
		{ "  a: [192.0.2.1]\n  zones: [ { family: f, names: [single] } ]\n", "two labels" },
		{ "  a: [192.0.2.1]\n  zones: [ { family: f, names: [\"a b.test\"] } ]\n",
		  "not a valid domain name" },
		{ "  a: [192.0.2.1]\n  zones: [ { names: [a.test] } ]\n",
		  "missing key \"family\"" },
		{ "  a: [192.0.2.1]\n  bogus: 1\n  zones: [ { family: f, names: [a.test] } ]\n",
		  "unknown key \"bogus\"" },
		{ "  a: [192.0.2.1]\n  rrl: { slip: 11 }\n  zones: [ { family: f, names: [a.test] } ]\n",
		  "rrl.slip" },
		{ "  a: [192.0.2.1]\n  edns_udp_size: 100\n  zones: [ { family: f, names: [a.test] } ]\n",
		  "edns_udp_size" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text,
			 "log: { dir: /x }\nlisten: [ { proto: dns, addr: \"127.0.0.1:53\" } ]\n"
			 "dns:\n%s",
			 cases[i].dns);
		struct config *cfg = NULL;
		char err[512] = "";
		int rc = config_load_string(text, strlen(text), "c.yaml", &cfg, err, sizeof err);
		CHECK_INT(rc, ERR_CONFIG);
		if (!strstr(err, cases[i].err))
			fprintf(stderr, "case %zu: error \"%s\", want \"%s\"\n", i, err,
				cases[i].err);
		CHECK(strstr(err, cases[i].err) != NULL);
		config_free(cfg);
	}
	/*
	 * PROXY on a dns listener is refused (it would be read as a length
	 * prefix), and so is any-port capture (a TPROXY reply would leave from
	 * the listener's port, not the one asked).
	 */
	static const struct {
		const char *keys, *err;
	} listener_cases[] = {
		{ "proxy_protocol: true", "proxy_protocol is not supported for proto dns" },
		{ "ports: 53, redirect: tproxy",
		  "\"ports\" (any-port capture) is not supported for proto dns" },
	};
	for (size_t i = 0; i < sizeof listener_cases / sizeof listener_cases[0]; i++) {
		char px[512];
		int n = snprintf(
			px, sizeof px,
			"log: { dir: /x }\nlisten: [ { proto: dns, addr: \"127.0.0.1:5353\", "
			"%s } ]\ndns:\n  a: [192.0.2.1]\n  zones: [ { "
			"family: f, names: [a.test] } ]\n",
			listener_cases[i].keys);
		CHECK(n > 0 && (size_t)n < sizeof px);
		struct config *pc = NULL;
		char perr[512] = "";
		CHECK_INT(config_load_string(px, (size_t)n, "c.yaml", &pc, perr, sizeof perr),
			  ERR_CONFIG);
		if (!strstr(perr, listener_cases[i].err))
			fprintf(stderr, "listener case %zu: error \"%s\"\n", i, perr);
		CHECK(strstr(perr, listener_cases[i].err) != NULL);
		config_free(pc);
	}
	/* A dns listener without a dns section. */
	static const char nodns[] =
		"log: { dir: /x }\nlisten: [ { proto: dns, addr: \"127.0.0.1:53\" } ]\n";
	struct config *cfg = NULL;
	char err[512] = "";
	CHECK_INT(config_load_string(nodns, sizeof nodns - 1, "c.yaml", &cfg, err, sizeof err),
		  ERR_CONFIG);
	CHECK(strstr(err, "no \"dns\" section") != NULL);
	config_free(cfg);
}

/* The fields a group's events start with, encoded field by field. */
static size_t expected_group_fields(const char *family, const char *tag, int rule, uint8_t *out,
				    size_t cap)
{
	struct event_header h = { .type = EVENT_DNS };
	struct event_builder b;
	size_t len = 0;
	event_begin(&b, out, cap, &h);
	event_put_str(&b, EVENT_T_FAMILY, family);
	if (tag)
		event_put_str(&b, EVENT_T_TAG, tag);
	if (rule >= 0)
		event_put_u32(&b, EVENT_T_RULE, (uint32_t)rule);
	event_put_str(&b, EVENT_T_DNS_CLIENT_KIND, "resolver");
	CHECK_INT(event_finish(&b, &len), 0);
	return len;
}

/* The leading event fields: encoded once per group (or per query when too long), same bytes. */
static void test_group_event_fields(void)
{
	char family[220];
	memset(family, 'f', sizeof family - 1);
	family[sizeof family - 1] = '\0';
	char text[1024];
	snprintf(text, sizeof text,
		 "log: { dir: /nonexistent }\n"
		 "listen: [ { proto: dns, addr: \"127.0.0.1:53\" } ]\n"
		 "dns:\n  a: [192.0.2.1]\n  zones:\n"
		 "    - { family: outer, names: [example.com] }\n"
		 "    - { family: inner, tag: t, names: [sub.example.com] }\n"
		 "    - { family: %s, tag: long, names: [long.test] }\n",
		 family);
	struct config *cfg = NULL;
	char err[256] = "";
	CHECK_INT(config_load_string(text, strlen(text), "t", &cfg, err, sizeof err), 0);
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	struct dns_zones *z = NULL;
	CHECK_INT(dns_zones_build(cfg->dns, &z, err, sizeof err), 0);
	if (!z)
		return;
	const struct {
		const char *family, *tag;
		int rule; /* -1: no group */
		bool encoded_once;
	} cases[] = {
		{ "outer", NULL, 0, true },
		{ "inner", "t", 1, true },
		{ family, "long", 2, false },
		{ "unknown", NULL, -1, false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct dns_zone_group *g = cases[i].rule >= 0 ? dns_zones_group(z, i) : NULL;
		if (g)
			CHECK_INT(g->ev_len != 0, cases[i].encoded_once);
		uint8_t want[512], got[512];
		size_t wlen = expected_group_fields(cases[i].family, cases[i].tag, cases[i].rule,
						    want, sizeof want);
		struct event_header h = { .type = EVENT_DNS };
		struct event_builder b;
		size_t glen = 0;
		event_begin(&b, got, sizeof got, &h);
		dns_zone_group_event_fields(&b, g);
		CHECK_INT(event_finish(&b, &glen), 0);
		CHECK_INT(glen, wlen);
		CHECK(glen == wlen && memcmp(got, want, wlen) == 0);
		/* A buffer too small for the copied fields overflows instead of writing past it. */
		event_begin(&b, got, EVENT_HEADER_LEN + 8, &h);
		dns_zone_group_event_fields(&b, g);
		CHECK_INT(event_finish(&b, &glen), ERR_NOMEM);
	}
	dns_zones_free(z);
	config_free(cfg);
}

int main(void)
{
	test_parse_table();
	test_names();
	test_zones();
	test_zones_long_labels();
	test_group_event_fields();
	test_config_errors();
	return check_done("test_dns");
}
