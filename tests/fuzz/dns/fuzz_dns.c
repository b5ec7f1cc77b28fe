/* fuzz_dns.c — libFuzzer harness: DNS query parser and answer builder against a small seized-zone table. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "proto/dns/dns_answer.h"
#include "proto/dns/dns_config.h"
#include "proto/dns/dns_msg.h"
#include "proto/dns/dns_zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static const char fuzz_cfg[] =
	"log: { dir: /nonexistent }\n"
	"listen: [ { proto: dns, addr: \"127.0.0.1:53\" } ]\n"
	"dns:\n"
	"  a: [192.0.2.1, 192.0.2.2]\n"
	"  aaaa: [\"2001:db8::1\"]\n"
	"  ns: [ns1, ns2.example.net]\n"
	"  zones:\n"
	"    - { family: f1, names: [example.com, a.b.example.org, x.test] }\n"
	"    - { family: f2, names: [sub.example.com, xn--bcher-kva.test], a: [10.0.0.1] }\n";

static struct dns_zones *zones;

static void setup(void)
{
	static struct config *cfg;
	if (zones)
		return;
	char err[256];
	FUZZ_CHECK(config_load_string(fuzz_cfg, sizeof fuzz_cfg - 1, "fuzz", &cfg, err,
				      sizeof err) == 0);
	FUZZ_CHECK(dns_zones_build(cfg->dns, &zones, err, sizeof err) == 0);
}

/* An answer we built must parse cleanly and echo the question it answers. */
static void check_answer(const struct dns_query *q, const uint8_t *ans, size_t n, bool tcp)
{
	struct dns_query back;
	FUZZ_CHECK(n >= DNS_HEADER_LEN);
	FUZZ_CHECK(tcp || n <= 4096);
	FUZZ_CHECK(dns_msg_parse(ans, n, &back) == 0 || !q->has_question);
	FUZZ_CHECK(back.id == q->id && (back.flags & DNS_F_QR));
	if (q->has_question && back.has_question) {
		FUZZ_CHECK(back.qname.len == q->qname.len);
		FUZZ_CHECK(!memcmp(back.qname.wire, q->qname.wire, q->qname.len));
		FUZZ_CHECK(back.qtype == q->qtype && back.qclass == q->qclass);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	struct dns_query q;
	struct dns_answer_info ai;
	static uint8_t out[65536];
	int rc = dns_msg_parse(data, size, &q);
	FUZZ_CHECK(rc == 0 || rc == ERR_NEED_MORE || rc == ERR_MALFORMED);
	FUZZ_CHECK(rc == 0 || q.error != NULL);
	if (q.has_question) {
		char text[DNS_TEXT_NAME_MAX];
		size_t tl = dns_name_text(&q.qname, text, sizeof text);
		FUZZ_CHECK(tl < sizeof text && strlen(text) == tl);
		FUZZ_CHECK(q.qname.len <= DNS_NAME_MAX && q.qname.labels <= DNS_LABELS_MAX);
	}
	for (int tcp = 0; tcp < 2; tcp++) {
		size_t cap = tcp ? sizeof out : 4096;
		size_t n = dns_answer_build(zones, rc, &q, tcp != 0, out, cap, &ai);
		FUZZ_CHECK(n <= cap);
		if (n)
			check_answer(&q, out, n, tcp != 0);
		else
			FUZZ_CHECK(rc == ERR_NEED_MORE || (q.flags & DNS_F_QR));
		if (!tcp && n && q.has_edns && !ai.truncated)
			FUZZ_CHECK(n <= (q.edns_size > 1232 ? 1232 :
					 q.edns_size < 512  ? 512 :
							      q.edns_size));
		if (!tcp && n && !q.has_edns)
			FUZZ_CHECK(n <= 512);
	}
	if (rc == 0) {
		/* The batch path (suffix hashes made ahead, loads started) answers the same bytes. */
		static uint8_t out2[4096];
		struct dns_zone_key key;
		struct dns_answer_info ai2;
		dns_zones_key(&q.qname, &key);
		dns_zones_prefetch(zones, &key, 0);
		dns_zones_prefetch(zones, &key, 1);
		size_t n1 = dns_answer_build(zones, rc, &q, false, out, 4096, &ai);
		size_t n2 =
			dns_answer_build_key(zones, rc, &q, &key, false, out2, sizeof out2, &ai2);
		FUZZ_CHECK(n1 == n2 && !memcmp(out, out2, n1) && ai.matched == ai2.matched);
	}
	if (rc != ERR_NEED_MORE) {
		size_t n = dns_answer_slip(zones, &q, out, 4096);
		FUZZ_CHECK(n >= DNS_HEADER_LEN);
	}
	return 0;
}
