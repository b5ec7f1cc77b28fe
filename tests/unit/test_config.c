/* test_config.c — unit tests for the YAML configuration loader and the address helpers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/config.h"
#include "core/err.h"

static char errbuf[512];

static struct config *load_ok(const char *yaml, int line)
{
	struct config *c = NULL;
	int rc = config_load_string(yaml, strlen(yaml), "t.yaml", &c, errbuf, sizeof errbuf);
	if (rc) {
		fprintf(stderr, "line %d: unexpected error %d: %s\n", line, rc, errbuf);
		CHECK_INT(rc, 0);
	}
	return c;
}

/* Expects an error whose message starts with "t.yaml:<line>:" and contains `want`. */
static void expect_err(const char *yaml, int line, const char *want, int src_line)
{
	struct config *c = (struct config *)1;
	int rc = config_load_string(yaml, strlen(yaml), "t.yaml", &c, errbuf, sizeof errbuf);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "t.yaml:%d: ", line);
	check_count++;
	if (rc != ERR_CONFIG || c != NULL || strncmp(errbuf, prefix, strlen(prefix)) ||
	    !strstr(errbuf, want)) {
		check_failures++;
		fprintf(stderr, "%s:%d: expected \"%s...%s\" (rc %d), got rc %d: \"%s\"\n",
			__FILE__, src_line, prefix, want, ERR_CONFIG, rc, errbuf);
	}
	config_free(rc ? NULL : c);
}

#define EXPECT_ERR(yaml, line, want) expect_err(yaml, line, want, __LINE__)

#define L1 "listen: [ { proto: http, addr: \"127.0.0.1:8080\" } ]\n"

static void test_defaults(void)
{
	struct config *c = load_ok(L1, __LINE__);
	if (!c)
		return;
	char host[256];
	CHECK(gethostname(host, sizeof host) == 0);
	host[sizeof host - 1] = '\0';
	CHECK_STR(c->path, "t.yaml");
	CHECK_STR(c->sensor_id, host);
	CHECK_STR(c->log_dir, "/var/lib/sinkd/log");
	CHECK_INT(c->fsync, CONFIG_FSYNC_INTERVAL);
	CHECK_INT(c->fsync_interval_ms, 100);
	CHECK_INT(c->segment_bytes, 64 << 20);
	CHECK_INT(c->ring_bytes, 8 << 20);
	CHECK(c->user == NULL);
	CHECK(c->group == NULL);
	CHECK_INT(c->workers, 0);
	CHECK_STR(c->log_level, "info");
	CHECK(c->eve_file == NULL);
	CHECK_STR(c->stats_file, "/var/lib/sinkd/log/stats.json");
	CHECK(c->pid_file == NULL);
	CHECK_INT(c->drain_timeout_ms, 5000);
	CHECK_INT(c->n_listeners, 1);
	const struct config_listener *l = &c->listeners[0];
	CHECK_STR(l->name, "http-127.0.0.1:8080");
	CHECK_STR(l->addr_text, "127.0.0.1:8080");
	CHECK_INT(l->proto, CONFIG_PROTO_HTTP);
	CHECK_INT(l->addr.ss_family, AF_INET);
	CHECK_INT(l->addr_len, sizeof(struct sockaddr_in));
	CHECK(!l->proxy_protocol);
	CHECK_INT(l->n_trusted_proxies, 0);
	CHECK_INT(l->max_connections, 100000);
	CHECK_INT(l->http.max_header_bytes, 8192);
	CHECK_INT(l->http.max_headers, 64);
	CHECK_INT(l->http.max_body_bytes, 16 << 20);
	CHECK_INT(l->http.body_store_bytes, 256);
	CHECK_INT(l->http.header_timeout_ms, 10000);
	CHECK_INT(l->http.idle_timeout_ms, 30000);
	CHECK_INT(l->http.max_requests_per_conn, 1000);
	CHECK_INT(c->n_families, 0);
	CHECK_INT(c->default_answer.status, 404);
	CHECK_INT(c->default_answer.body_len, 0);
	CHECK_INT(c->default_answer.n_headers, 0);
	config_free(c);

	struct config_http_limits lim;
	config_http_limits_default(&lim);
	CHECK_INT(lim.max_header_bytes, 8192);
	CHECK_INT(lim.max_requests_per_conn, 1000);

	/* The minimal vector file, through config_load. */
	CHECK_INT(config_load("vectors/config/minimal.yaml", &c, errbuf, sizeof errbuf), 0);
	if (c) {
		CHECK_STR(c->path, "vectors/config/minimal.yaml");
		CHECK_INT(c->n_listeners, 1);
		config_free(c);
	}

	/* stats_file follows log.dir; null-able strings accept ~. */
	c = load_ok("log: { dir: /tmp/x }\nuser: ~\neve: { file: null }\n" L1, __LINE__);
	if (c) {
		CHECK_STR(c->stats_file, "/tmp/x/stats.json");
		CHECK(c->user == NULL);
		CHECK(c->eve_file == NULL);
		config_free(c);
	}
}

static void test_full(void)
{
	struct config *c = NULL;
	int rc = config_load("vectors/config/full.yaml", &c, errbuf, sizeof errbuf);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "full.yaml: %s\n", errbuf);
		return;
	}
	CHECK_STR(c->sensor_id, "sensor-1");
	CHECK_STR(c->log_dir, "/var/lib/sinkd/log");
	CHECK_INT(c->fsync, CONFIG_FSYNC_ANSWERED);
	CHECK_INT(c->fsync_interval_ms, 250);
	CHECK_INT(c->segment_bytes, 32 << 20);
	CHECK_INT(c->ring_bytes, 16 << 20);
	CHECK_STR(c->user, "sinkd");
	CHECK_STR(c->group, "nogroup");
	CHECK_INT(c->workers, 4);
	CHECK_STR(c->log_level, "debug");
	CHECK_STR(c->pid_file, "/run/sinkd.pid");
	CHECK_STR(c->stats_file, "/run/sinkd/stats.json");
	CHECK_INT(c->drain_timeout_ms, 7000);
	CHECK_STR(c->eve_file, "/var/log/sinkd/eve.json");

	CHECK_INT(c->n_listeners, 2);
	const struct config_listener *l = &c->listeners[0];
	CHECK_STR(l->name, "http-80");
	CHECK_INT(l->addr.ss_family, AF_INET);
	CHECK_INT(ntohs(((const struct sockaddr_in *)&l->addr)->sin_port), 80);
	CHECK(!l->proxy_protocol);
	CHECK_INT(l->n_trusted_proxies, 2);
	if (l->n_trusted_proxies == 2) {
		CHECK_INT(l->trusted_proxies[0].ipver, 4);
		CHECK_INT(l->trusted_proxies[0].prefix_len, 8);
		CHECK_INT(l->trusted_proxies[1].ipver, 6);
		CHECK_INT(l->trusted_proxies[1].prefix_len, 32);
	}
	CHECK_INT(l->max_connections, 50000);
	CHECK_INT(l->http.max_header_bytes, 16384);
	CHECK_INT(l->http.max_headers, 32);
	CHECK_INT(l->http.max_body_bytes, 4 << 20);
	CHECK_INT(l->http.body_store_bytes, 512);
	CHECK_INT(l->http.header_timeout_ms, 5000);
	CHECK_INT(l->http.idle_timeout_ms, 15000);
	CHECK_INT(l->http.max_requests_per_conn, 100);
	l = &c->listeners[1];
	CHECK_STR(l->name, "http-[::1]:8080");
	CHECK_INT(l->addr.ss_family, AF_INET6);
	CHECK_INT(l->addr_len, sizeof(struct sockaddr_in6));
	CHECK(l->proxy_protocol);

	CHECK_INT(c->n_families, 3);
	const struct config_family *f = &c->families[0];
	CHECK_STR(f->name, "rustock");
	CHECK_STR(f->tag, "checkin");
	CHECK_INT(f->match.proto, CONFIG_PROTO_HTTP);
	CHECK_INT(f->match.n_listeners, 1);
	CHECK_STR(f->match.listeners[0], "http-80");
	CHECK_INT(f->match.n_dst_ports, 2);
	CHECK_INT(f->match.dst_ports[1].lo, 8080);
	CHECK_INT(f->match.dst_ports[1].hi, 8080);
	CHECK_STR(f->match.method, "POST");
	CHECK_INT(f->match.host.n_alts, 2);
	CHECK_INT(f->match.host.alts[0].kind, CONFIG_MATCH_SUFFIX);
	CHECK_STR(f->match.host.alts[1].value, "protectionforless.com");
	CHECK(f->match.host.nocase);
	CHECK_INT(f->match.path.n_alts, 1);
	CHECK_INT(f->match.path.alts[0].kind, CONFIG_MATCH_EXACT);
	CHECK(!f->match.path.nocase);
	CHECK_INT(f->match.uri.alts[0].kind, CONFIG_MATCH_REGEX);
	CHECK_STR(f->match.uri.alts[0].value, "^/f[0-9]+\\.php\\?");
	CHECK_INT(f->match.user_agent.alts[0].kind, CONFIG_MATCH_CONTAINS);
	CHECK(f->match.user_agent.nocase);
	CHECK(f->match.has_body_len);
	CHECK_INT(f->match.body_len_min, 90);
	CHECK_INT(f->match.body_len_max, 100);
	CHECK_INT(f->match.body_prefix_len, 2);
	CHECK(f->match.body_prefix && f->match.body_prefix[0] == 0x00 &&
	      f->match.body_prefix[1] == 0xff);
	CHECK(f->has_answer);
	CHECK_INT(f->answer.status, 404);
	CHECK_INT(f->answer.n_headers, 2);
	CHECK_STR(f->answer.headers[0].name, "Server");
	CHECK_STR(f->answer.headers[0].value, "nginx");
	CHECK_STR(f->answer.headers[1].value, "yes");
	CHECK_INT(f->answer.body_len, 0);

	f = &c->families[1];
	CHECK(f->tag == NULL);
	CHECK_INT(f->match.path.n_alts, 4);
	CHECK_INT(f->match.body_prefix_len, 4);
	CHECK_INT(f->answer.status, 200);
	CHECK_INT(f->answer.body_len, 3);
	CHECK(f->answer.body && !memcmp(f->answer.body, "OK\n", 3));

	f = &c->families[2];
	CHECK_STR(f->name, "catchall");
	CHECK(!f->has_answer);

	CHECK_INT(c->default_answer.status, 410);
	CHECK_INT(c->default_answer.body_len, 5);
	config_free(c);
}

static void test_example(void)
{
	struct config *c = NULL;
	int rc = config_load("../examples/rustock.yaml", &c, errbuf, sizeof errbuf);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "rustock.yaml: %s\n", errbuf);
		return;
	}
	CHECK_STR(c->sensor_id, "rustock-demo");
	CHECK_STR(c->log_dir, "./var/rustock/log");
	CHECK_INT(c->fsync, CONFIG_FSYNC_INTERVAL);
	CHECK_INT(c->n_listeners, 4);
	CHECK_STR(c->listeners[2].name, "smtp-trap");
	CHECK_INT(c->listeners[2].proto, CONFIG_PROTO_SMTP);
	CHECK(c->listeners[2].proxy_protocol); /* the demo's spam arrives with its bots' sources */
	CHECK_STR(c->listeners[3].name, "smtp-direct");
	CHECK_INT(c->listeners[3].proto, CONFIG_PROTO_SMTP);
	CHECK(!c->listeners[3].proxy_protocol);
	CHECK_STR(c->listeners[0].name, "http-seized");
	CHECK_STR(c->listeners[0].addr_text, "127.0.0.1:8080");
	CHECK(c->listeners[0].proxy_protocol);
	CHECK_STR(c->listeners[1].name, "http-direct");
	CHECK_STR(c->listeners[1].addr_text, "127.0.0.1:8081");
	CHECK(!c->listeners[1].proxy_protocol);
	size_t rustock = 0, spam = 0;
	for (size_t i = 0; i < c->n_families; i++) {
		const struct config_family *f = &c->families[i];
		if (strcmp(f->name, "rustock"))
			continue;
		if (f->match.proto == CONFIG_PROTO_SMTP) {
			/* The spam side: conditions on the message, never on a Host. */
			spam++;
			CHECK_INT(f->match.subject.n_alts > 0, 1);
			CHECK_INT(f->match.host.n_alts, 0);
			continue;
		}
		rustock++;
		/* The anchored domain list reaches every rustock rule. */
		CHECK_INT(f->match.host.n_alts, 9);
		CHECK(f->has_answer);
		if (f->tag && !strcmp(f->tag, "login")) {
			CHECK_INT(f->answer.status, 404);
			CHECK_INT(f->answer.body_len, 0);
			CHECK_INT(f->match.body_len_min, 96);
		}
	}
	CHECK_INT(rustock, 3);
	CHECK_INT(spam, 3);
	config_free(c);
}

struct err_case {
	const char *yaml;
	int line;
	const char *want;
};

static void test_errors(void)
{
	static const struct err_case cases[] = {
		/* syntax */
		{ "listen: [\n  { proto: http,\n", 3, "YAML syntax error" },
		{ "a: b\n c: d\n", 2, "YAML syntax error" },
		{ "---\n" L1 "--- {}\n", 3, "only one YAML document" },
		/* unknown and duplicate keys */
		{ L1 "lgo: { dir: x }\n", 2, "unknown key \"lgo\"" },
		{ L1 "log:\n  dir: x\n  fsnyc: none\n", 4, "log: unknown key \"fsnyc\"" },
		{ "listen:\n  - proto: http\n    addr: \"127.0.0.1:80\"\n    limits:\n"
		  "      max_hedaer_bytes: 10\n",
		  5, "listen[0].limits: unknown key \"max_hedaer_bytes\"" },
		{ L1 "workers: 1\nworkers: 2\n", 3, "duplicate key \"workers\"" },
		{ L1 "store: { sqlite: x.db }\n", 2, "store: unknown key \"sqlite\"" },
		{ L1 "enrich: { asn: [] }\n", 2, "enrich.asn: empty list" },
		{ L1 "store: { bot_ids: [ { family: x } ] }\n", 2,
		  "store.bot_ids[0]: give exactly one of uri_param and header" },
		{ L1 "store: { bot_ids: [ { uri_param: id } ] }\n", 2,
		  "store.bot_ids[0]: family is required" },
		{ L1 "store: { bot_ids: [ { family: x, uri_param: id, colour: red } ] }\n", 2,
		  "unknown key \"colour\"" },
		/* metrics: the admin listener never shares a sinkhole listener's address */
		{ L1 "metrics: { listen: nowhere }\n", 2,
		  "metrics.listen: invalid address \"nowhere\"" },
		{ L1 "metrics: { port: 9 }\n", 2, "metrics: unknown key \"port\"" },
		{ L1 "metrics: { listen: \"127.0.0.1:8080\" }\n", 1,
		  "metrics.listen 127.0.0.1:8080 overlaps listener" },
		{ L1 "metrics: { listen: \"0.0.0.0:8080\" }\n", 1, "overlaps listener" },
		{ L1 "metrics: { listen: \"[::]:8080\" }\n", 1, "overlaps listener" },
		/* types and ranges */
		{ L1 "workers: -1\n", 2, "workers: expected a non-negative integer" },
		{ L1 "workers: many\n", 2, "workers: expected a non-negative integer" },
		{ L1 "workers: 99999999999999999999999\n", 2, "expected a non-negative integer" },
		{ L1 "workers: [1]\n", 2, "expected a scalar value, got a list" },
		{ L1 "log: [ x ]\n", 2, "log: expected a mapping, got a list" },
		{ L1 "log: { segment_bytes: 64MB }\n", 2,
		  "log.segment_bytes: invalid size \"64MB\"" },
		{ L1 "log: { segment_bytes: 1.5M }\n", 2, "invalid size" },
		{ L1 "log: { segment_bytes: 100 }\n", 2, "must be between 4096" },
		{ L1 "log: { fsync: always }\n", 2, "log.fsync: unknown fsync \"always\"" },
		{ L1 "log: { fsync_interval_ms: 0 }\n", 2, "log.fsync_interval_ms: must be > 0" },
		{ L1 "log: { dir: \"\" }\n", 2, "log.dir: must not be empty" },
		{ L1 "log_level: verbose\n", 2, "unknown log_level \"verbose\"" },
		{ L1 "sensor: { id: \"a b\" }\n", 2, "sensor.id: must not contain spaces" },
		{ L1 "sensor: { id: \"a\\0b\" }\n", 2, "contains a NUL byte" },
		/* listeners */
		{ "workers: 2\n", 1, "no listeners" },
		{ "", 1, "no listeners" },
		{ "listen: []\n", 1, "listen: at least one listener is required" },
		{ "listen:\n  - addr: \"127.0.0.1:80\"\n", 2, "listen[0]: missing key \"proto\"" },
		{ "listen:\n  - proto: http\n", 2, "listen[0]: missing key \"addr\"" },
		{ "listen:\n  - { proto: gopher, addr: \"127.0.0.1:70\" }\n", 2,
		  "unknown proto \"gopher\"" },
		{ "listen:\n  - { proto: tls, addr: \"127.0.0.1:443\", tls: { min_version: \"1.4\" } }\n",
		  2, "listen[0].tls.min_version: unknown TLS version \"1.4\"" },
		{ "listen:\n  - { proto: tls, addr: \"127.0.0.1:443\", tls: { max_hello_bytes: 1K } }\n",
		  2, "listen[0].tls.max_hello_bytes: must be between" },
		{ "listen:\n  - { proto: tls, addr: \"127.0.0.1:443\", tls: { certs: [ { key: k.pem } ] } }\n",
		  2, "listen[0].tls.certs[0]: missing key \"cert\"" },
		{ "listen:\n  - { proto: tls, addr: \"127.0.0.1:443\",\n      tls: { min_version: \"1.3\", max_version: \"1.2\" } }\n",
		  2, "tls.min_version is above tls.max_version" },
		{ "listen:\n  - { proto: dns, addr: \"127.0.0.1:53\" }\n", 1,
		  "has proto dns but there is no \"dns\" section" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1:25\", smtp: { max_errors: 2 } }\n",
		  2, "key \"smtp\" is for proto smtp listeners" },
		{ "listen:\n  - { proto: smtp, addr: \"127.0.0.1:25\", defer_accept: true }\n", 2,
		  "defer_accept cannot be on for smtp" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1:1\", raw: { timeout_ms: 5 } }\n",
		  2, "listen[0]: key \"raw\" is only for proto raw listeners" },
		{ "listen:\n  - { proto: raw, addr: \"0.0.0.0:1\", ports: all }\n", 2,
		  "\"ports\" on a wildcard address needs \"seized\"" },
		{ "listen:\n  - { proto: raw, addr: \"127.0.0.1:1\", ports: \"9-3\" }\n", 2,
		  "listen[0].ports: port range \"9-3\" is not within 1-65535 in order" },
		{ "listen:\n  - { proto: raw, addr: \"127.0.0.1:1\", redirect: nat }\n", 2,
		  "\"redirect\" and \"seized\" need \"ports\"" },
		{ "listen:\n  - { proto: raw, addr: \"127.0.0.1:1\", raw: { capture_bytes: 65537 } }\n",
		  2, "listen[0].raw.capture_bytes" },
		{ L1 "families:\n  - name: a\n    match: { payload: { entropy: [ 7, 9 ] } }\n", 4,
		  "invalid entropy \"9\"" },
		{ L1 "families:\n  - name: a\n    match: { payload: { at: { offset: 2 } } }\n", 4,
		  "missing key \"bytes\"" },
		{ L1 "families:\n  - name: a\n    match: { payload: { len: [ 9, 3 ] } }\n", 4,
		  "min is greater than max" },
		{ "listen:\n  - { proto: raw, addr: \"127.0.0.1:1\", raw: { transport: sctp } }\n",
		  2, "listen[0].raw.transport: unknown transport \"sctp\"" },
		{ "listen:\n  - { proto: raw, addr: \"127.0.0.1:1\", proxy_protocol: true }\n", 2,
		  "proxy_protocol is not supported on raw listeners" },
		{ "listen:\n  - { proto: raw, addr: \"127.0.0.1:1\", raw: { capture_bytes: 8 } }\n"
		  "families:\n  - name: a\n    match: { payload: { at: { offset: 6, bytes: abc } } }\n",
		  5, "payload conditions reach byte 9 but raw listeners capture at most 8 bytes" },
		{ "listen:\n  - { proto: http, addr: \"localhost:80\" }\n", 2,
		  "listen[0].addr: invalid address \"localhost:80\"" },
		{ "listen:\n  - { proto: http, addr: \"::1:80\" }\n", 2, "invalid address" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1:65536\" }\n", 2,
		  "invalid address" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1\" }\n", 2, "invalid address" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1:80\", name: a }\n"
		  "  - { proto: http, addr: \"127.0.0.1:81\", name: a }\n",
		  3, "listen[1]: duplicate listener name \"a\"" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1:80\" }\n"
		  "  - { proto: http, addr: \"127.0.0.1:80\", name: b }\n",
		  3, "address 127.0.0.1:80 is already used" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1:80\", proxy_protocol: maybe }\n",
		  2, "listen[0].proxy_protocol: expected true or false" },
		{ "listen:\n  - { proto: http, addr: \"127.0.0.1:80\", max_connections: 0 }\n", 2,
		  "listen[0].max_connections: must be > 0" },
		{ "listen:\n  - proto: http\n    addr: \"127.0.0.1:80\"\n"
		  "    limits: { max_headers: 0 }\n",
		  4, "listen[0].limits.max_headers: must be between 1" },
		{ "listen:\n  - proto: http\n    addr: \"127.0.0.1:80\"\n"
		  "    limits: { header_timeout_ms: 0 }\n",
		  4, "listen[0].limits.header_timeout_ms: must be > 0" },
		{ "listen:\n  - proto: http\n    addr: \"127.0.0.1:80\"\n"
		  "    limits: { max_body_bytes: 10, body_store_bytes: 20 }\n",
		  2, "body_store_bytes exceeds" },
		{ "listen:\n  - proto: http\n    addr: \"127.0.0.1:80\"\n"
		  "    trusted_proxies: [ 10.0.0.0/8, 10.1.2.3/8 ]\n",
		  4, "trusted_proxies[1]: \"10.1.2.3/8\" has bits set beyond the /8 prefix" },
		{ "listen:\n  - proto: http\n    addr: \"127.0.0.1:80\"\n"
		  "    trusted_proxies: nonsense\n",
		  4, "invalid address prefix \"nonsense\"" },
		/* families */
		{ L1 "families:\n  - tag: x\n", 3, "families[0]: missing key \"name\"" },
		{ L1 "families:\n  - name: unknown\n", 3, "reserved" },
		{ L1 "families:\n  - name: a\n    matc: {}\n", 4,
		  "families[0]: unknown key \"matc\"" },
		{ L1 "families:\n  - name: a\n    match: { methd: GET }\n", 4,
		  "families[0].match: unknown key \"methd\"" },
		{ L1 "families:\n  - name: a\n    match: { listener: nope }\n", 4,
		  "families[0].match.listener: no listener is named \"nope\"" },
		{ L1 "families:\n  - name: a\n"
		     "    match: { listener: [ \"http-127.0.0.1:8080\", nope ] }\n",
		  4, "families[0].match.listener[1]: no listener is named \"nope\"" },
		{ L1 "families:\n  - name: a\n    match: { dst_port: [ 80, 0 ] }\n", 4,
		  "match.dst_port[1]: port range \"0\" is not within 1-65535 in order" },
		{ L1 "families:\n  - name: a\n    match: { proto: ftp }\n", 4,
		  "unknown proto \"ftp\"" },
		{ L1 "families:\n  - name: a\n    match: { method: \"GE T\" }\n", 4,
		  "invalid method" },
		{ L1 "families:\n  - name: a\n    match:\n      path: { regex: \"(\" }\n", 5,
		  "families[0].match.path: bad regex \"(\"" },
		{ L1 "families:\n  - name: a\n    match:\n      host: { sufix: a.com }\n", 5,
		  "match.host: unknown key \"sufix\"" },
		{ L1 "families:\n  - name: a\n    match:\n      host: { suffix: [] }\n", 5,
		  "empty list" },
		{ L1 "families:\n  - name: a\n    match:\n      host: { nocase: true }\n", 5,
		  "no pattern given" },
		{ L1 "families:\n  - name: a\n    match:\n      host: { prefix: \"\" }\n", 5,
		  "empty pattern" },
		{ L1 "families:\n  - name: a\n    match:\n      body_len: [ 5, 3 ]\n", 5,
		  "match.body_len: min 5 is greater than max 3" },
		{ L1 "families:\n  - name: a\n    match:\n      body_len: [ 5 ]\n", 5,
		  "expected a length or a [min, max] pair" },
		{ L1 "families:\n  - name: a\n    match:\n      body_prefix: \"hex:0g\"\n", 5,
		  "invalid hex digit" },
		{ L1 "families:\n  - name: a\n    match:\n      body_prefix: \"hex:abc\"\n", 5,
		  "odd number of digits" },
		{ L1 "families:\n  - name: a\n    match:\n      body_prefix: \"hex:\"\n", 5,
		  "empty body_prefix" },
		{ "listen:\n  - proto: http\n    addr: \"127.0.0.1:80\"\n"
		  "    limits: { body_store_bytes: 2 }\n"
		  "families:\n  - name: a\n    match: { body_prefix: abc }\n",
		  7, "could never match" },
		{ L1 "families:\n  - name: a\n    answer: { status: 99 }\n", 4,
		  "families[0].answer.status: must be between 100 and 599" },
		{ L1 "families:\n  - name: a\n    answer: { status: 600 }\n", 4,
		  "between 100 and 599" },
		{ L1 "families:\n  - name: a\n    answer: { status: 204, body: x }\n", 4,
		  "status 204 must not carry a body" },
		{ L1 "families:\n  - name: a\n    answer: { body: x, body_hex: \"00\" }\n", 4,
		  "mutually exclusive" },
		{ L1 "families:\n  - name: a\n    answer: { body_hex: \"0\" }\n", 4, "odd number" },
		{ L1 "families:\n  - name: a\n    answer: { headers: { Content-Length: 5 } }\n", 4,
		  "header \"Content-Length\" is set by sinkd itself" },
		{ L1
		  "families:\n  - name: a\n    answer: { headers: { X-A: \"a\\r\\nX-B: b\" } }\n",
		  4, "control character" },
		{ L1 "families:\n  - name: a\n    answer: { headers: { \"X A\": b } }\n", 4,
		  "invalid header name" },
		{ L1 "families:\n  - name: a\n    answer: { headers: { X-A: b, x-a: c } }\n", 4,
		  "duplicate header" },
		{ L1 "families: { name: a }\n", 2, "families: expected a list of families" },
		{ L1 "default_answer: { status: 1000 }\n", 2, "default_answer.status" },
		{ L1 "default_answer: { stauts: 200 }\n", 2,
		  "default_answer: unknown key \"stauts\"" },
		/* an alias bomb stops at the expansion budget instead of running for ages */
		{ L1 "families:\n  - name: a\n    match:\n      host:\n        exact:\n"
		     "          - &a [x,x,x,x,x,x,x,x,x,x]\n"
		     "          - &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		     "          - &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		     "          - &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		     "          - &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
		  7, "expected a scalar value, got a list" },
		{ L1 "x1: &a { a: 1, b: 2 }\n", 2, "unknown key \"x1\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_err(cases[i].yaml, cases[i].line, cases[i].want, (int)(1000 + i));

	/* The budget itself: many aliases of a big mapping. */
	static char big[1 << 16];
	size_t off = (size_t)snprintf(big, sizeof big,
				      L1 "families:\n  - &f { name: a, match: "
					 "{ host: { exact: [");
	for (int i = 0; i < 200; i++)
		off += (size_t)snprintf(big + off, sizeof big - off, "%sh%d", i ? "," : "", i);
	off += (size_t)snprintf(big + off, sizeof big - off, "] } } }\n");
	for (int i = 0; i < 200; i++)
		off += (size_t)snprintf(big + off, sizeof big - off, "  - *f\n");
	CHECK(off < sizeof big - 1);
	EXPECT_ERR(big, 3, "too many alias expansions");

	/* A missing file is a system error that names the file. */
	struct config *c = NULL;
	CHECK_INT(config_load("vectors/config/does-not-exist.yaml", &c, errbuf, sizeof errbuf),
		  ERR_SYS);
	CHECK(strstr(errbuf, "does-not-exist.yaml: ") != NULL);
	CHECK(c == NULL);
	CHECK_INT(config_load("vectors/config", &c, errbuf, sizeof errbuf), ERR_CONFIG);

	/* A tiny error buffer is never overrun, and NULL is fine too. */
	char tiny[8];
	CHECK_INT(config_load_string("x: 1", 4, "t.yaml", &c, tiny, sizeof tiny), ERR_CONFIG);
	CHECK_INT(strlen(tiny), 7);
	CHECK_INT(config_load_string("x: 1", 4, "t.yaml", &c, NULL, 0), ERR_CONFIG);
}

/* metrics.listen parsed; off by default; another port or address is fine. */
static void test_metrics(void)
{
	struct config *c = NULL;
	const char *y = L1;
	CHECK_INT(config_load_string(y, strlen(y), "m.yaml", &c, errbuf, sizeof errbuf), 0);
	CHECK(c && c->metrics.listen == NULL);
	config_free(c);
	y = L1 "metrics: { listen: \"127.0.0.1:9108\" }\n";
	CHECK_INT(config_load_string(y, strlen(y), "m.yaml", &c, errbuf, sizeof errbuf), 0);
	CHECK_STR(c ? c->metrics.listen : NULL, "127.0.0.1:9108");
	CHECK_INT(c ? c->metrics.addr.ss_family : 0, AF_INET);
	config_free(c);
	y = L1 "metrics: { listen: \"127.0.0.2:8080\" }\n";
	CHECK_INT(config_load_string(y, strlen(y), "m.yaml", &c, errbuf, sizeof errbuf), 0);
	config_free(c);
}

static void test_aliases_ok(void)
{
	struct config *c =
		load_ok(L1 "families:\n"
			   "  - { name: a, match: { host: &h { suffix: [ a.com, b.com ] } } }\n"
			   "  - { name: b, match: { host: *h, method: GET } }\n",
			__LINE__);
	if (!c)
		return;
	CHECK_INT(c->n_families, 2);
	CHECK_INT(c->families[1].match.host.n_alts, 2);
	CHECK_STR(c->families[1].match.host.alts[1].value, "b.com");
	config_free(c);
}

static void test_sizes(void)
{
	static const struct {
		const char *text;
		uint64_t want; /* 0: must fail */
	} cases[] = {
		{ "4096", 4096 },
		{ "8KiB", 8192 },
		{ "8K", 8192 },
		{ "8Ki", 8192 },
		{ "8k", 8192 },
		{ "64MiB", 64ull << 20 },
		{ "16M", 16ull << 20 },
		{ "1GiB", 1ull << 30 },
		{ "1G", 1ull << 30 },
		{ "\"2 MiB\"", 2ull << 20 },
		{ "1TiB", 1ull << 40 },
		{ "5000B", 5000 },
		{ "2TiB", 0 }, /* above the segment maximum */
		{ "8KB", 0 },
		{ "64MB", 0 },
		{ "1.5M", 0 },
		{ "-1", 0 },
		{ "M", 0 },
		{ "8MiBs", 0 },
		{ "99999999999999999999T", 0 },
		{ "17179869184T", 0 }, /* overflows 64 bits when shifted */
		{ "0x1000", 0 },
		{ "+4096", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char yaml[256];
		snprintf(yaml, sizeof yaml, "log: { segment_bytes: %s }\n" L1, cases[i].text);
		struct config *c = NULL;
		int rc =
			config_load_string(yaml, strlen(yaml), "t.yaml", &c, errbuf, sizeof errbuf);
		if (cases[i].want) {
			CHECK_INT(rc, 0);
			if (!rc)
				CHECK_INT(c->segment_bytes, cases[i].want);
			else
				fprintf(stderr, "  size case %s: %s\n", cases[i].text, errbuf);
		} else {
			CHECK_INT(rc, ERR_CONFIG);
			CHECK(strstr(errbuf, "t.yaml:1: log.segment_bytes: ") == errbuf);
		}
		config_free(c);
	}
	/* A 32-bit field refuses what does not fit. */
	struct config *c = NULL;
	const char *y = "log: { ring_bytes: 4GiB }\n" L1;
	CHECK_INT(config_load_string(y, strlen(y), "t.yaml", &c, errbuf, sizeof errbuf),
		  ERR_CONFIG);
	y = "log: { ring_bytes: 64KiB }\n" L1;
	CHECK_INT(config_load_string(y, strlen(y), "t.yaml", &c, errbuf, sizeof errbuf),
		  ERR_CONFIG);
	y = "log: { ring_bytes: 1GiB }\n" L1;
	CHECK_INT(config_load_string(y, strlen(y), "t.yaml", &c, errbuf, sizeof errbuf), 0);
	config_free(c);
}

static void test_sockaddr(void)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	CHECK_INT(config_parse_sockaddr("127.0.0.1:8080", &ss, &len), 0);
	CHECK_INT(ss.ss_family, AF_INET);
	CHECK_INT(len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	CHECK_INT(ntohs(s4->sin_port), 8080);
	CHECK_INT(ntohl(s4->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(config_parse_sockaddr("0.0.0.0:80", &ss, &len), 0);
	CHECK_INT(config_parse_sockaddr("[::1]:8080", &ss, &len), 0);
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_INT(len, sizeof(struct sockaddr_in6));
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	CHECK_INT(ntohs(s6->sin6_port), 8080);
	CHECK(s6->sin6_addr.s6_addr[15] == 1);
	CHECK_INT(config_parse_sockaddr("[::]:0", &ss, &len), 0);
	CHECK_INT(config_parse_sockaddr("[2001:db8::1]:65535", &ss, &len), 0);

	static const char *const bad[] = {
		"",
		":80",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"127.0.0.1:8o",
		"127.0.0.1: 80",
		"localhost:80",
		"::1:80",
		"[::1]",
		"[::1]:",
		"[::1]80",
		"[]:80",
		"[127.0.0.1]:80",
		"256.0.0.1:80",
		"[::1:80",
		"1.2.3:80",
		"127.0.0.1:000080",
		"[fe80::1%eth0]:80",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = config_parse_sockaddr(bad[i], &ss, &len);
		check_count++;
		if (rc == 0) {
			check_failures++;
			fprintf(stderr, "sockaddr \"%s\" accepted\n", bad[i]);
		}
	}
}

static struct event_addr addr_of(const char *text)
{
	struct event_addr a;
	memset(&a, 0, sizeof a);
	if (strchr(text, ':')) {
		a.ipver = 6;
		CHECK(inet_pton(AF_INET6, text, a.addr) == 1);
	} else {
		a.ipver = 4;
		CHECK(inet_pton(AF_INET, text, a.addr) == 1);
	}
	return a;
}

static bool in_cidr(const char *cidr, const char *addr)
{
	struct config_cidr c;
	int rc = config_parse_cidr(cidr, &c);
	CHECK_INT(rc, 0);
	struct event_addr a = addr_of(addr);
	return !rc && config_cidr_contains(&c, &a);
}

static void test_cidr(void)
{
	struct config_cidr c;
	CHECK_INT(config_parse_cidr("192.0.2.0/24", &c), 0);
	CHECK_INT(c.ipver, 4);
	CHECK_INT(c.prefix_len, 24);
	CHECK_INT(config_parse_cidr("192.0.2.7", &c), 0);
	CHECK_INT(c.prefix_len, 32);
	CHECK_INT(config_parse_cidr("2001:db8::1", &c), 0);
	CHECK_INT(c.ipver, 6);
	CHECK_INT(c.prefix_len, 128);
	CHECK_INT(config_parse_cidr("::/0", &c), 0);
	CHECK_INT(c.prefix_len, 0);

	CHECK(in_cidr("192.0.2.0/24", "192.0.2.1"));
	CHECK(in_cidr("192.0.2.0/24", "192.0.2.255"));
	CHECK(!in_cidr("192.0.2.0/24", "192.0.3.0"));
	CHECK(in_cidr("10.0.0.0/8", "10.255.1.2"));
	CHECK(!in_cidr("10.0.0.0/8", "11.0.0.0"));
	CHECK(in_cidr("0.0.0.0/0", "203.0.113.9"));
	CHECK(!in_cidr("0.0.0.0/0", "2001:db8::1")); /* other family */
	CHECK(in_cidr("::/0", "2001:db8::1"));
	CHECK(!in_cidr("::/0", "10.0.0.1"));
	CHECK(in_cidr("192.0.2.7/32", "192.0.2.7"));
	CHECK(!in_cidr("192.0.2.7/32", "192.0.2.6"));
	CHECK(in_cidr("192.0.2.7", "192.0.2.7"));
	CHECK(in_cidr("172.16.0.0/12", "172.31.255.255"));
	CHECK(!in_cidr("172.16.0.0/12", "172.32.0.0"));
	CHECK(in_cidr("2001:db8::/32", "2001:db8:ffff::1"));
	CHECK(!in_cidr("2001:db8::/32", "2001:db9::1"));
	CHECK(in_cidr("2001:db8::/33", "2001:db8:7fff::"));
	CHECK(!in_cidr("2001:db8::/33", "2001:db8:8000::"));
	CHECK(in_cidr("2001:db8::1/128", "2001:db8::1"));
	CHECK(!in_cidr("2001:db8::1/128", "2001:db8::2"));
	/* An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d. */
	CHECK(in_cidr("10.0.0.0/8", "::ffff:10.1.2.3"));
	CHECK(!in_cidr("10.0.0.0/8", "::ffff:11.1.2.3"));

	static const char *const bad[] = {
		"",
		"/8",
		"10.0.0.0/",
		"10.0.0.0/33",
		"10.0.0.0/-1",
		"10.0.0.0/8/8",
		"10.0.0/8",
		"2001:db8::/129",
		"2001:db8::/1000",
		"10.0.0.0/ 8",
		"10.0.0.0/8 ",
		"x",
		"::1/+8",
		"2001:db8:::/32",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = config_parse_cidr(bad[i], &c);
		check_count++;
		if (rc != ERR_MALFORMED) {
			check_failures++;
			fprintf(stderr, "cidr \"%s\": rc %d, want ERR_MALFORMED\n", bad[i], rc);
		}
	}
	/* Host bits beyond the prefix are refused, not masked. */
	CHECK_INT(config_parse_cidr("10.1.2.3/8", &c), ERR_INVAL);
	CHECK_INT(config_parse_cidr("192.0.2.1/31", &c), ERR_INVAL);
	CHECK_INT(config_parse_cidr("2001:db8::1/64", &c), ERR_INVAL);
	CHECK_INT(config_parse_cidr("::1/0", &c), ERR_INVAL);
}

static void test_proto_name(void)
{
	CHECK_STR(config_proto_name(CONFIG_PROTO_HTTP), "http");
	CHECK_STR(config_proto_name(CONFIG_PROTO_TLS), "tls");
	CHECK_STR(config_proto_name(CONFIG_PROTO_DNS), "dns");
	CHECK_STR(config_proto_name(CONFIG_PROTO_SMTP), "smtp");
	CHECK_STR(config_proto_name(CONFIG_PROTO_RAW), "raw");
	CHECK_STR(config_proto_name((enum config_proto)0), "?");
	CHECK_STR(config_proto_name((enum config_proto)99), "?");
}

/* Every prefix of real files must load or fail cleanly (ASan checks for leaks and overreads). */
static void test_truncations(const char *path)
{
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	static char buf[16384];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	CHECK(n > 0 && n < sizeof buf);
	for (size_t len = 0; len <= n; len++) {
		char *copy = malloc(len ? len : 1); /* exact size: no NUL after the input */
		if (!copy)
			return;
		memcpy(copy, buf, len);
		struct config *c = NULL;
		int rc = config_load_string(copy, len, "trunc.yaml", &c, errbuf, sizeof errbuf);
		CHECK(rc == 0 || rc == ERR_CONFIG);
		CHECK(rc == 0 ? c != NULL : (c == NULL && strncmp(errbuf, "trunc.yaml:", 11) == 0));
		config_free(c);
		free(copy);
	}
}

/* The tls: block, its defaults, and the TLS matchers. */
static void test_tls(void)
{
	struct config *c = load_ok(
		"listen:\n"
		"  - { proto: tls, addr: \"127.0.0.1:8443\" }\n"
		"  - proto: tls\n"
		"    addr: \"127.0.0.1:8444\"\n"
		"    tls:\n"
		"      certs: [ { cert: a.pem }, { cert: b.pem, key: b.key, names: [ b.test, \"*.b.test\" ] } ]\n"
		"      self_signed: false\n"
		"      min_version: \"1.2\"\n"
		"      max_version: \"1.3\"\n"
		"      session_tickets: off\n"
		"      session_cache: no\n"
		"      ciphers: \"ECDHE+AESGCM\"\n"
		"      ciphersuites: TLS_AES_128_GCM_SHA256\n"
		"      max_hello_bytes: 128K\n"
		"families:\n"
		"  - { name: f, match: { sni: { suffix: x.test }, ja3: abc, ja4: { prefix: t13 } } }\n",
		__LINE__);
	if (!c)
		return;
	const struct config_tls *d = &c->listeners[0].tls, *t = &c->listeners[1].tls;
	CHECK_INT(c->listeners[0].proto, CONFIG_PROTO_TLS);
	CHECK_STR(c->listeners[0].name, "tls-127.0.0.1:8443");
	CHECK(d->self_signed && d->session_tickets && d->session_cache && d->n_certs == 0);
	CHECK_INT(d->min_version, 0x0301);
	CHECK_INT(d->max_version, 0x0304);
	CHECK_INT(d->max_hello_bytes, 64 << 10);
	CHECK(d->ciphers == NULL && d->ciphersuites == NULL);
	CHECK_INT(t->n_certs, 2);
	CHECK_STR(t->certs[0].cert_file, "a.pem");
	CHECK(t->certs[0].key_file == NULL && t->certs[0].n_names == 0);
	CHECK_STR(t->certs[1].key_file, "b.key");
	CHECK_INT(t->certs[1].n_names, 2);
	CHECK_STR(t->certs[1].names[1], "*.b.test");
	CHECK(!t->self_signed && !t->session_tickets && !t->session_cache);
	CHECK_INT(t->min_version, 0x0303);
	CHECK_STR(t->ciphers, "ECDHE+AESGCM");
	CHECK_STR(t->ciphersuites, "TLS_AES_128_GCM_SHA256");
	CHECK_INT(t->max_hello_bytes, 128 << 10);
	const struct config_match *m = &c->families[0].match;
	CHECK(m->sni.n_alts == 1 && m->sni.alts[0].kind == CONFIG_MATCH_SUFFIX && m->sni.nocase);
	CHECK(m->ja3.n_alts == 1 && m->ja3.nocase && m->ja4.alts[0].kind == CONFIG_MATCH_PREFIX);
	config_free(c);
}

int main(void)
{
	test_tls();
	test_defaults();
	test_full();
	test_example();
	test_errors();
	test_aliases_ok();
	test_metrics();
	test_sizes();
	test_sockaddr();
	test_cidr();
	test_proto_name();
	test_truncations("vectors/config/full.yaml");
	test_truncations("../examples/rustock.yaml");
	return check_done("test_config");
}
