/* test_rules.c — unit tests for family classification: conditions, AND/OR, order, fallback. */
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "core/err.h"
#include "core/rules.h"

static char errbuf[512];

/*
 * Inputs are copied into exact-size heap buffers with no NUL after them, so
 * ASan reports any read past a slice (the matcher must not rely on a NUL).
 */
#define MAX_COPIES 16
static char *copies[MAX_COPIES];
static size_t n_copies;

static struct rules_slice sl(const char *s)
{
	struct rules_slice r = { NULL, 0 };
	if (!s || n_copies == MAX_COPIES)
		return r;
	size_t len = strlen(s);
	char *c = malloc(len ? len : 1);
	if (!c)
		return r;
	memcpy(c, s, len);
	copies[n_copies++] = c;
	r.ptr = c;
	r.len = len;
	return r;
}

static void free_copies(void)
{
	for (size_t i = 0; i < n_copies; i++)
		free(copies[i]);
	n_copies = 0;
}

struct req {
	const char *listener;
	uint16_t port;
	const char *method, *host, *uri, *path, *ua;
	const char *sni, *ja3, *ja4;
	uint64_t body_len;
	const char *body; /* prefix bytes available */
};

/* Classifies and returns "name/tag" (or "name") in a static buffer. */
static const char *classify(const struct rules *r, const struct req *q)
{
	static char out[128];
	struct rules_input in;
	memset(&in, 0, sizeof in);
	in.proto = CONFIG_PROTO_HTTP;
	in.listener = q->listener ? q->listener : "l1";
	in.dst_port = q->port ? q->port : 80;
	in.method = sl(q->method ? q->method : "GET");
	in.host = sl(q->host);
	in.uri = sl(q->uri);
	in.path = sl(q->path);
	in.user_agent = sl(q->ua);
	in.sni = sl(q->sni);
	in.ja3 = sl(q->ja3);
	in.ja4 = sl(q->ja4);
	in.body_len = q->body_len;
	struct rules_slice b = sl(q->body);
	in.body_prefix = (const uint8_t *)b.ptr;
	in.body_prefix_len = b.len;
	const struct rules_family *f = rules_classify(r, &in);
	snprintf(out, sizeof out, "%s%s%s", f->name, f->tag ? "/" : "", f->tag ? f->tag : "");
	free_copies();
	return out;
}

struct ruleset {
	struct config *cfg;
	struct rules *rules;
};

#define LISTEN                                                                                     \
	"listen:\n  - { proto: http, addr: \"127.0.0.1:8080\", name: l1 }\n"                       \
	"  - { proto: http, addr: \"127.0.0.1:8081\", name: l2 }\n"

static bool build(struct ruleset *rs, const char *families, int line)
{
	char yaml[8192];
	snprintf(yaml, sizeof yaml, LISTEN "families:\n%s", families);
	rs->cfg = NULL;
	rs->rules = NULL;
	int rc = config_load_string(yaml, strlen(yaml), "r.yaml", &rs->cfg, errbuf, sizeof errbuf);
	if (!rc)
		rc = rules_compile(rs->cfg, &rs->rules, errbuf, sizeof errbuf);
	if (rc) {
		fprintf(stderr, "%s:%d: setup failed: %s\n", __FILE__, line, errbuf);
		CHECK_INT(rc, 0);
		rules_free(rs->rules);
		config_free(rs->cfg);
		return false;
	}
	return true;
}

static void drop(struct ruleset *rs)
{
	rules_free(rs->rules);
	config_free(rs->cfg);
}

#define BUILD(rs, fam) build(rs, fam, __LINE__)
#define HIT(rs, ...)   classify((rs)->rules, &(struct req){ __VA_ARGS__ })

static void test_fallback(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: a, match: { method: POST } }\n"))
		return;
	struct rules_input in;
	memset(&in, 0, sizeof in);
	in.proto = CONFIG_PROTO_HTTP;
	in.listener = "l1";
	const struct rules_family *f = rules_classify(rs.rules, &in);
	CHECK_STR(f->name, "unknown");
	CHECK(f->tag == NULL);
	CHECK_INT(f->index, UINT32_MAX);
	CHECK(f->answer == &rs.cfg->default_answer);
	CHECK_INT(f->answer->status, 404);
	CHECK_INT(rules_count(rs.rules), 1);
	drop(&rs);

	/* No families at all: everything is unknown. */
	if (!BUILD(&rs, "  []\n"))
		return;
	CHECK_INT(rules_count(rs.rules), 0);
	CHECK_STR(HIT(&rs, .host = "x"), "unknown");
	drop(&rs);
}

static void test_answers_and_order(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: a, tag: one, match: { path: /x }, answer: { status: 200 } }\n"
			"  - { name: b, match: { path: { prefix: / } } }\n"
			"  - { name: c, match: { path: /x } }\n"
			"  - { name: all }\n"))
		return;
	struct rules_input in;
	memset(&in, 0, sizeof in);
	in.path = sl("/x");
	const struct rules_family *f = rules_classify(rs.rules, &in);
	CHECK_STR(f->name, "a");
	CHECK_STR(f->tag, "one");
	CHECK_INT(f->index, 0);
	CHECK(f->answer == &rs.cfg->families[0].answer);
	CHECK_INT(f->answer->status, 200);
	free_copies();
	in.path = sl("/y");
	f = rules_classify(rs.rules, &in);
	CHECK_STR(f->name, "b"); /* first match wins, "c" never gets /x */
	CHECK_INT(f->index, 1);
	CHECK(f->answer == &rs.cfg->default_answer);
	free_copies();
	in.path = sl("nope");
	f = rules_classify(rs.rules, &in);
	CHECK_STR(f->name, "all"); /* a family without conditions matches everything */
	CHECK_INT(f->index, 3);
	free_copies();
	drop(&rs);
}

static void test_scalar_conditions(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: proto, tag: tls, match: { proto: tls } }\n"
			"  - { name: port, match: { dst_port: [ 81, 8081 ] } }\n"
			"  - { name: listener, match: { listener: l2 } }\n"
			"  - { name: method, match: { method: PUT } }\n"
			"  - { name: len, tag: exact, match: { body_len: 96 } }\n"
			"  - { name: len, tag: range, match: { body_len: [ 200, 300 ] } }\n"
			"  - { name: prefix, tag: text, match: { body_prefix: \"GIF8\" } }\n"
			"  - { name: prefix, tag: hex, match: { body_prefix: \"hex:00ff10\" } }\n"))
		return;
	CHECK_STR(HIT(&rs, .port = 81), "port");
	CHECK_STR(HIT(&rs, .port = 8081), "port");
	CHECK_STR(HIT(&rs, .port = 82), "unknown");
	CHECK_STR(HIT(&rs, .listener = "l2"), "listener");
	CHECK_STR(HIT(&rs, .listener = "l22"), "unknown");
	CHECK_STR(HIT(&rs, .method = "PUT"), "method");
	CHECK_STR(HIT(&rs, .method = "put"), "unknown"); /* methods are case-sensitive */
	CHECK_STR(HIT(&rs, .method = "PUTS"), "unknown");
	CHECK_STR(HIT(&rs, .body_len = 96), "len/exact");
	CHECK_STR(HIT(&rs, .body_len = 95), "unknown");
	CHECK_STR(HIT(&rs, .body_len = 97), "unknown");
	CHECK_STR(HIT(&rs, .body_len = 200), "len/range");
	CHECK_STR(HIT(&rs, .body_len = 250), "len/range");
	CHECK_STR(HIT(&rs, .body_len = 300), "len/range");
	CHECK_STR(HIT(&rs, .body_len = 301), "unknown");
	CHECK_STR(HIT(&rs, .body_len = 6, .body = "GIF89a"), "prefix/text");
	CHECK_STR(HIT(&rs, .body_len = 4, .body = "GIF8"), "prefix/text");
	CHECK_STR(HIT(&rs, .body_len = 6, .body = "GIF"),
		  "unknown"); /* fewer bytes than the prefix */
	CHECK_STR(HIT(&rs, .body_len = 6, .body = "gif89a"), "unknown");
	CHECK_STR(HIT(&rs, .body_len = 5, .body = "\x00\xff\x10zz"),
		  "unknown"); /* sl() stops at NUL */

	/* Binary prefix, built by hand: the first byte is NUL. */
	struct rules_input in;
	memset(&in, 0, sizeof in);
	in.proto = CONFIG_PROTO_HTTP;
	uint8_t *body = malloc(4);
	if (body) {
		memcpy(body, "\x00\xff\x10\x01", 4);
		in.body_prefix = body;
		in.body_prefix_len = 4;
		in.body_len = 1000;
		CHECK_STR(rules_classify(rs.rules, &in)->tag, "hex");
		in.body_prefix_len = 2;
		CHECK_STR(rules_classify(rs.rules, &in)->name, "unknown");
		free(body);
	}
	in.body_prefix = NULL;
	in.body_prefix_len = 0;
	in.proto = CONFIG_PROTO_TLS;
	CHECK_STR(rules_classify(rs.rules, &in)->name, "proto");
	drop(&rs);
}

static void test_host(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: exact, match: { host: Cnc.Example } }\n"
			"  - { name: suffix, match: { host: { suffix: example.com } } }\n"
			"  - { name: dotted, match: { host: { suffix: .sub.test } } }\n"
			"  - { name: cs, match: { host: { exact: CaSe.test, nocase: false } } }\n"
			"  - { name: list, match: { host: [ a.test, b.test ] } }\n"))
		return;
	CHECK_STR(HIT(&rs, .host = "cnc.example"), "exact");
	CHECK_STR(HIT(&rs, .host = "CNC.EXAMPLE"), "exact");
	CHECK_STR(HIT(&rs, .host = "cnc.example."), "exact"); /* trailing root dot */
	CHECK_STR(HIT(&rs, .host = "x.cnc.example"), "unknown");
	CHECK_STR(HIT(&rs, .host = "cnc.exampl"), "unknown");

	CHECK_STR(HIT(&rs, .host = "example.com"), "suffix");
	CHECK_STR(HIT(&rs, .host = "x.example.com"), "suffix");
	CHECK_STR(HIT(&rs, .host = "a.b.EXAMPLE.com"), "suffix");
	CHECK_STR(HIT(&rs, .host = "Example.Com."), "suffix");
	CHECK_STR(HIT(&rs, .host = "badexample.com"), "unknown");
	CHECK_STR(HIT(&rs, .host = "example.com.evil"), "unknown");
	CHECK_STR(HIT(&rs, .host = "xample.com"), "unknown");
	CHECK_STR(HIT(&rs, .host = ""), "unknown");

	CHECK_STR(HIT(&rs, .host = "sub.test"), "unknown"); /* leading dot: sub-domains only */
	CHECK_STR(HIT(&rs, .host = "a.sub.test"), "dotted");
	CHECK_STR(HIT(&rs, .host = "A.SUB.TEST"), "dotted");
	CHECK_STR(HIT(&rs, .host = "asub.test"), "unknown");

	CHECK_STR(HIT(&rs, .host = "CaSe.test"), "cs");
	CHECK_STR(HIT(&rs, .host = "case.test"), "unknown");

	CHECK_STR(HIT(&rs, .host = "b.test"), "list");
	CHECK_STR(HIT(&rs, .host = "c.test"), "unknown");
	CHECK_STR(HIT(&rs), "unknown"); /* no Host header at all */
	drop(&rs);
}

static void test_strings(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: p, tag: exact, match: { path: /login.php } }\n"
			"  - { name: p, tag: prefix, match: { path: { prefix: /api/ } } }\n"
			"  - { name: p, tag: suffix, match: { path: { suffix: .cgi } } }\n"
			"  - { name: p, tag: contains,\n"
			"      match: { path: { contains: [ /etc/, passwd ] } } }\n"
			"  - { name: u, tag: regex,\n"
			"      match: { uri: { regex: \"^/f[0-9]+\\\\.php\\\\?\" } } }\n"
			"  - { name: ua, tag: msie,\n"
			"      match: { user_agent: { contains: \"MSIE 6.0\", nocase: true } } }\n"
			"  - { name: ua, tag: cs,\n"
			"      match: { user_agent: { prefix: Bot/, regex: \"^[a-z]+$\" } } }\n"))
		return;
	CHECK_STR(HIT(&rs, .path = "/login.php"), "p/exact");
	CHECK_STR(HIT(&rs, .path = "/LOGIN.PHP"), "unknown"); /* paths are case-sensitive */
	CHECK_STR(HIT(&rs, .path = "/login.php5"), "unknown");
	CHECK_STR(HIT(&rs, .path = "/api/v1"), "p/prefix");
	CHECK_STR(HIT(&rs, .path = "/api"), "unknown");
	CHECK_STR(HIT(&rs, .path = "/x/run.cgi"), "p/suffix");
	CHECK_STR(HIT(&rs, .path = ".cgi"), "p/suffix"); /* plain suffix outside host */
	CHECK_STR(HIT(&rs, .path = "/../etc/x"), "p/contains");
	CHECK_STR(HIT(&rs, .path = "/passwd"), "p/contains");
	CHECK_STR(HIT(&rs, .path = "/pass"), "unknown");
	/* Without a path slice, the part of the target before '?' is used. */
	CHECK_STR(HIT(&rs, .uri = "/login.php?x=1"), "p/exact");
	CHECK_STR(HIT(&rs, .uri = "/login.php"), "p/exact");

	CHECK_STR(HIT(&rs, .uri = "/f12.php?id=1", .path = "/f12.php"), "u/regex");
	CHECK_STR(HIT(&rs, .uri = "/f.php?id=1", .path = "/f.php"), "unknown");
	CHECK_STR(HIT(&rs, .uri = "/f12.php", .path = "/f12.php"), "unknown");

	CHECK_STR(HIT(&rs, .ua = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"), "ua/msie");
	CHECK_STR(HIT(&rs, .ua = "mozilla/4.0 (compatible; msie 6.0)"), "ua/msie");
	CHECK_STR(HIT(&rs, .ua = "MSIE 6."), "unknown");
	CHECK_STR(HIT(&rs, .ua = "MSIE 6.0"), "ua/msie");
	CHECK_STR(HIT(&rs, .ua = "Bot/1.0"), "ua/cs");
	CHECK_STR(HIT(&rs, .ua = "bot/1.0"), "unknown");
	CHECK_STR(HIT(&rs, .ua = "lowercase"), "ua/cs");
	CHECK_STR(HIT(&rs, .ua = "lowerCase"), "unknown");
	CHECK_STR(HIT(&rs, .ua = ""), "unknown");
	drop(&rs);

	/* A regex that ignores case, and a regex that could match the empty string. */
	if (!BUILD(&rs,
		   "  - { name: r, match: { user_agent: { regex: \"^zgrab\", nocase: true } } }\n"
		   "  - { name: e, match: { path: { regex: \"^$\" } } }\n"))
		return;
	CHECK_STR(HIT(&rs, .ua = "ZGrab/0.x"), "r");
	CHECK_STR(HIT(&rs, .ua = "x zgrab"), "unknown");
	CHECK_STR(HIT(&rs, .path = ""), "e");
	CHECK_STR(HIT(&rs, .path = "/"), "unknown");
	drop(&rs);
}

/* REG_STARTEND: the regex must see exactly the slice, never the bytes after it. */
static void test_regex_slices(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: end, match: { path: { regex: \"ab$\" } } }\n"
			"  - { name: abc, match: { uri: { regex: \"abc\" } } }\n"))
		return;
	const char *buf = "abc";
	struct rules_input in;
	memset(&in, 0, sizeof in);
	in.path.ptr = buf;
	in.path.len = 2; /* "ab", followed by 'c' in memory */
	CHECK_STR(rules_classify(rs.rules, &in)->name, "end");
	in.path.len = 3;
	CHECK_STR(rules_classify(rs.rules, &in)->name, "unknown");
	in.path.ptr = "zz"; /* else the path would be taken from the target */
	in.path.len = 2;
	in.uri.ptr = buf;
	in.uri.len = 2; /* "ab" of "abc": no match */
	CHECK_STR(rules_classify(rs.rules, &in)->name, "unknown");
	in.uri.len = 3;
	CHECK_STR(rules_classify(rs.rules, &in)->name, "abc");
	drop(&rs);

	/* Straight to libc, to prove the platform honours REG_STARTEND with REG_NOSUB. */
	regex_t re;
	CHECK_INT(regcomp(&re, "^ab$", REG_EXTENDED | REG_NOSUB), 0);
	regmatch_t pm[1] = { { 0, 2 } };
	CHECK_INT(regexec(&re, "abc", 1, pm, REG_STARTEND), 0);
	pm[0].rm_so = 0;
	pm[0].rm_eo = 3;
	CHECK(regexec(&re, "abc", 1, pm, REG_STARTEND) != 0);
	regfree(&re);
	/* The slice, not a NUL, ends the subject: "a\0b" is three bytes ending in b. */
	CHECK_INT(regcomp(&re, "b$", REG_EXTENDED | REG_NOSUB), 0);
	pm[0].rm_so = 0;
	pm[0].rm_eo = 3;
	CHECK_INT(regexec(&re, "a\0b", 1, pm, REG_STARTEND), 0);
	regfree(&re);
}

static void test_and_or(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - name: both\n"
			"    match:\n"
			"      method: POST\n"
			"      host: { suffix: [ a.test, b.test ] }\n"
			"      path: { exact: /x, prefix: /y/ }\n"
			"      listener: [ l1, l2 ]\n"
			"      body_len: [ 1, 10 ]\n"))
		return;
	CHECK_STR(HIT(&rs, .method = "POST", .host = "a.test", .path = "/x", .body_len = 5),
		  "both");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "w.b.test", .path = "/y/z", .body_len = 1,
		      .listener = "l2"),
		  "both");
	/* Each condition failing alone breaks the AND. */
	CHECK_STR(HIT(&rs, .method = "GET", .host = "a.test", .path = "/x", .body_len = 5),
		  "unknown");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "c.test", .path = "/x", .body_len = 5),
		  "unknown");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "a.test", .path = "/z", .body_len = 5),
		  "unknown");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "a.test", .path = "/x", .body_len = 0),
		  "unknown");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "a.test", .path = "/x", .body_len = 5,
		      .listener = "l3"),
		  "unknown");
	CHECK_STR(HIT(&rs, .method = "POST", .path = "/x", .body_len = 5), "unknown"); /* no Host */
	drop(&rs);
}

/* The bundled example classifies what the demo sends the way the comments say. */
static void test_rustock_example(void)
{
	struct config *cfg = NULL;
	struct rules *r = NULL;
	int rc = config_load("../examples/rustock.yaml", &cfg, errbuf, sizeof errbuf);
	if (!rc)
		rc = rules_compile(cfg, &r, errbuf, sizeof errbuf);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "rustock.yaml: %s\n", errbuf);
		config_free(cfg);
		return;
	}
	struct ruleset rs = { cfg, r };
	CHECK_INT(rules_count(r), 8);
	static const char *const seized[] = {
		"onlinescannow.com",   "protectionforless.com", "guardandprotector.com",
		"piecefordesktop.com", "lekatariba.info",	"ekbad.me",
		"mordva2009aa.info",   "belarus2014in.com",	"moscow1766bc.me",
	};
	for (size_t i = 0; i < sizeof seized / sizeof seized[0]; i++) {
		CHECK_STR(HIT(&rs, .listener = "http-seized", .method = "POST", .host = seized[i],
			      .path = "/login.php", .uri = "/login.php", .body_len = 96),
			  "rustock/login");
	}
	struct rules_input in;
	memset(&in, 0, sizeof in);
	in.proto = CONFIG_PROTO_HTTP;
	in.listener = "http-seized";
	in.method = sl("POST");
	in.host = sl("onlinescannow.com");
	in.path = sl("/login.php");
	in.body_len = 96;
	const struct rules_family *f = rules_classify(r, &in);
	free_copies();
	CHECK_INT(f->answer->status, 404);
	CHECK_INT(f->answer->body_len, 0);

	CHECK_STR(HIT(&rs, .method = "POST", .host = "WWW.Ekbad.Me", .path = "/login.php",
		      .body_len = 96),
		  "rustock/login");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "ekbad.me", .path = "/login.php",
		      .body_len = 95),
		  "rustock/post");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "ekbad.me", .path = "/forum/post.php",
		      .body_len = 2048),
		  "rustock/post");
	CHECK_STR(HIT(&rs, .method = "GET", .host = "belarus2014in.com", .path = "/"),
		  "rustock/seized-host");
	CHECK_STR(HIT(&rs, .method = "POST", .host = "notekbad.me", .path = "/login.php",
		      .body_len = 96),
		  "unknown");
	CHECK_STR(HIT(&rs, .method = "GET", .host = "example.org", .path = "/"), "unknown");
	CHECK_STR(HIT(&rs, .host = "example.org", .path = "/", .ua = "Mozilla/5.0 zgrab/0.x"),
		  "scanner/ua");
	CHECK_STR(HIT(&rs, .host = "example.org", .path = "/", .ua = "masscan/1.3"), "scanner/ua");
	CHECK_STR(HIT(&rs, .host = "x",
		      .ua = "Mozilla/5.0 (compatible; Nmap Scripting Engine; "
			    "https://nmap.org/book/nse.html)"),
		  "scanner/ua");
	CHECK_STR(HIT(&rs, .host = "example.org", .path = "/", .ua = "curl/7.88.1"), "unknown");
	CHECK_STR(HIT(&rs, .host = "example.org", .path = "/.env"), "scanner/probe-path");
	CHECK_STR(HIT(&rs, .host = "example.org", .uri = "/wp-login.php?redirect=1"),
		  "scanner/probe-path");
	CHECK_STR(HIT(&rs, .host = "example.org", .path = "/phpMyAdmin/"), "scanner/probe-path");
	CHECK_STR(HIT(&rs, .host = "example.org", .path = "/index.php"), "unknown");
	CHECK_STR(HIT(&rs, .host = "example.org", .path = "/phpmyadmin/index.php"),
		  "scanner/probe-path");
	/* A scanner touching a seized name is not counted as an infection. */
	CHECK_STR(HIT(&rs, .method = "POST", .host = "onlinescannow.com", .path = "/login.php",
		      .body_len = 96, .ua = "zgrab/0.x"),
		  "scanner/ua");
	CHECK_STR(HIT(&rs, .host = "ekbad.me", .path = "/.env"), "scanner/probe-path");
	rules_free(r);
	config_free(cfg);
}

static void test_compile_errors(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: fam, match: { uri: { prefix: /a, regex: \"^/b\" } } }\n"))
		return;
	rules_free(rs.rules);
	/* Corrupt the config behind the loader's back: rules_compile must still refuse it. */
	struct config_strmatch *sm = &rs.cfg->families[0].match.uri;
	for (size_t i = 0; i < sm->n_alts; i++) {
		if (sm->alts[i].kind == CONFIG_MATCH_REGEX) {
			free(sm->alts[i].value);
			sm->alts[i].value = strdup("([");
		}
	}
	struct rules *r = (struct rules *)1;
	CHECK_INT(rules_compile(rs.cfg, &r, errbuf, sizeof errbuf), ERR_CONFIG);
	CHECK(r == NULL);
	CHECK(strstr(errbuf, "family fam: uri: bad regex \"([\"") != NULL);
	config_free(rs.cfg);
}

struct thread_arg {
	const struct rules *r;
	unsigned slot;
	int bad;
};

static void *worker(void *p)
{
	struct thread_arg *a = p;
	static const char hit[] = "/f12.php?q", miss[] = "/g12.php?q";
	for (int i = 0; i < 20000; i++) {
		struct rules_input in;
		memset(&in, 0, sizeof in);
		in.proto = CONFIG_PROTO_HTTP;
		in.uri.ptr = i % 2 ? hit : miss;
		in.uri.len = sizeof hit - 1;
		in.host.ptr = "X.Example.COM";
		in.host.len = 13;
		in.slot = a->slot;
		const struct rules_family *f = rules_classify(a->r, &in);
		bool want = i % 2;
		if (want != (strcmp(f->name, "r") == 0))
			a->bad++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct ruleset rs;
	if (!BUILD(&rs, "  - { name: r, match: { host: { suffix: example.com }, "
			"uri: { regex: \"^/f[0-9]+\\\\.php\" } } }\n"))
		return;
	pthread_t t[4];
	struct thread_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i].r = rs.rules;
		args[i].slot = 0; /* all share one compiled copy: correct, only slower */
		args[i].bad = 0;
		CHECK_INT(pthread_create(&t[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(args[i].bad, 0);
	}
	drop(&rs);

	/* One regex copy per slot (per worker): same answers from every slot, any slot number. */
	char yaml[1024];
	snprintf(yaml, sizeof yaml,
		 LISTEN "families:\n  - { name: r, match: { host: { suffix: example.com }, "
			"uri: { regex: \"^/f[0-9]+\\\\.php\" } } }\n");
	struct config *cfg = NULL;
	struct rules *r = NULL;
	CHECK_INT(config_load_string(yaml, strlen(yaml), "r.yaml", &cfg, errbuf, sizeof errbuf), 0);
	if (!cfg)
		return;
	CHECK_INT(rules_compile_slots(cfg, 3, &r, errbuf, sizeof errbuf), 0);
	if (r) {
		for (int i = 0; i < 4; i++) {
			args[i].r = r;
			args[i].slot = (unsigned)i * 2; /* 0, 2, 4, 6: wraps past the 3 slots */
			args[i].bad = 0;
			CHECK_INT(pthread_create(&t[i], NULL, worker, &args[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			CHECK_INT(args[i].bad, 0);
		}
	}
	rules_free(r);
	config_free(cfg);
}

/* TLS matchers: sni is host-like (label-aware suffix, no case), ja3/ja4 compare without case. */
static void test_tls_fingerprints(void)
{
	struct ruleset rs;
	if (!BUILD(&rs,
		   "  - { name: sni, match: { sni: { suffix: seized.test } } }\n"
		   "  - { name: ja3, match: { ja3: 0149F47EABF9A20D0893E2A44E5A6323 } }\n"
		   "  - { name: ja4, match: { ja4: { prefix: t12d } } }\n"
		   "  - { name: both, match: { sni: x.test, ja4: { regex: \"_e5627efa2ab1$\" } } }\n"))
		return;
	CHECK_STR(HIT(&rs, .sni = "a.SEIZED.test"), "sni");
	CHECK_STR(HIT(&rs, .sni = "seized.test."), "sni");
	CHECK_STR(HIT(&rs, .sni = "notseized.test"), "unknown");
	CHECK_STR(HIT(&rs, .ja3 = "0149f47eabf9a20d0893e2a44e5a6323"), "ja3");
	CHECK_STR(HIT(&rs, .ja3 = "0149f47eabf9a20d0893e2a44e5a6324"), "unknown");
	CHECK_STR(HIT(&rs, .ja4 = "t12d1516h2_8daaf6152771_e5627efa2ab1"), "ja4");
	CHECK_STR(HIT(&rs, .sni = "x.test", .ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"), "both");
	/* A condition on a field the request does not have does not match (plain HTTP). */
	CHECK_STR(HIT(&rs, .host = "a.seized.test"), "unknown");
	CHECK_STR(HIT(&rs, .ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"), "unknown");
	drop(&rs);
}

int main(void)
{
	test_tls_fingerprints();
	test_fallback();
	test_answers_and_order();
	test_scalar_conditions();
	test_host();
	test_strings();
	test_regex_slices();
	test_and_or();
	test_rustock_example();
	test_compile_errors();
	test_threads();
	return check_done("test_rules");
}
