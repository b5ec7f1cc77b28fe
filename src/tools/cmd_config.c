/* cmd_config.c — `sinkd config check FILE`: parse, compile the rules, say what they mean. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/rules.h"
#include "proto/tls/tls_server.h"
#include "proto/dns/dns_config.h"
#include "tools/commands.h"

static void usage(FILE *to)
{
	fprintf(to, "usage: sinkd config check FILE\n\n"
		    "Parses FILE as a sinkd configuration and compiles its family rules, exactly\n"
		    "as `sinkd serve` would, then prints a short summary: sensor, log settings,\n"
		    "listeners and the rules in the order they are tried. TLS listeners'\n"
		    "certificates and keys are loaded and checked too.\n"
		    "Exits 0 if the configuration is valid, 1 with the error (file:line: key:\n"
		    "problem) if not, 2 on a usage error.\n");
}

/* "64 MiB" when exact, else bytes. */
static void fmt_size(char *buf, size_t len, uint64_t v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	int u = -1;
	while (u < 3 && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%" PRIu64 " %s", v, units[u]);
}

static const char *fsync_name(enum config_fsync f)
{
	switch (f) {
	case CONFIG_FSYNC_INTERVAL:
		return "interval";
	case CONFIG_FSYNC_ANSWERED:
		return "answered";
	case CONFIG_FSYNC_NONE:
		return "none";
	}
	return "?";
}

static const char *kind_name(enum config_strmatch_kind k)
{
	switch (k) {
	case CONFIG_MATCH_EXACT:
		return "=";
	case CONFIG_MATCH_SUFFIX:
		return "suffix";
	case CONFIG_MATCH_PREFIX:
		return "prefix";
	case CONFIG_MATCH_CONTAINS:
		return "contains";
	case CONFIG_MATCH_REGEX:
		return "regex";
	}
	return "?";
}

static void print_strmatch(const char *field, const struct config_strmatch *sm, bool host)
{
	if (!sm->n_alts)
		return;
	printf("      %-12s", field);
	for (size_t i = 0; i < sm->n_alts; i++)
		printf("%s%s \"%s\"", i ? " | " : "", kind_name(sm->alts[i].kind),
		       sm->alts[i].value);
	if (sm->nocase != host)
		printf("  (%s)", sm->nocase ? "ignoring case" : "case-sensitive");
	printf("\n");
}

static void print_answer(const char *indent, const struct config_answer *a)
{
	if (a->body_len)
		printf("%sanswer      %u, %zu-byte body", indent, (unsigned)a->status, a->body_len);
	else
		printf("%sanswer      %u, empty body", indent, (unsigned)a->status);
	for (size_t i = 0; i < a->n_headers; i++)
		printf(", %s: %s", a->headers[i].name, a->headers[i].value);
	printf("\n");
}

static void print_family(size_t i, const struct config_family *f)
{
	const struct config_match *m = &f->match;
	printf("  #%zu %s%s%s\n", i, f->name, f->tag ? "/" : "", f->tag ? f->tag : "");
	bool any = false;
	if (m->proto) {
		printf("      %-12s%s\n", "proto", config_proto_name((enum config_proto)m->proto));
		any = true;
	}
	if (m->n_listeners) {
		printf("      %-12s", "listener");
		for (size_t j = 0; j < m->n_listeners; j++)
			printf("%s%s", j ? " | " : "", m->listeners[j]);
		printf("\n");
		any = true;
	}
	if (m->n_dst_ports) {
		printf("      %-12s", "dst_port");
		for (size_t j = 0; j < m->n_dst_ports; j++) {
			printf("%s%u", j ? " | " : "", (unsigned)m->dst_ports[j].lo);
			if (m->dst_ports[j].hi != m->dst_ports[j].lo)
				printf("-%u", (unsigned)m->dst_ports[j].hi);
		}
		printf("\n");
		any = true;
	}
	if (m->payload.present) {
		const struct config_payload *pl = &m->payload;
		printf("      %-12s", "payload");
		if (pl->prefix_len)
			printf(" prefix %zu bytes", pl->prefix_len);
		for (size_t j = 0; j < pl->n_at; j++)
			printf(" at %u: %zu bytes", (unsigned)pl->at[j].offset, pl->at[j].len);
		if (pl->contains_len)
			printf(" contains %zu bytes", pl->contains_len);
		if (pl->has_len)
			printf(" len %llu-%llu", (unsigned long long)pl->len_min,
			       (unsigned long long)pl->len_max);
		if (pl->has_entropy)
			printf(" entropy %u.%03u-%u.%03u", pl->entropy_min / 1000u,
			       pl->entropy_min % 1000u, pl->entropy_max / 1000u,
			       pl->entropy_max % 1000u);
		printf("\n");
		any = true;
	}
	if (m->method) {
		printf("      %-12s%s\n", "method", m->method);
		any = true;
	}
	print_strmatch("host", &m->host, true);
	print_strmatch("path", &m->path, false);
	print_strmatch("uri", &m->uri, false);
	print_strmatch("user_agent", &m->user_agent, false);
	print_strmatch("sni", &m->sni, true);
	print_strmatch("ja3", &m->ja3, true);
	print_strmatch("ja4", &m->ja4, true);
	any = any || m->host.n_alts || m->path.n_alts || m->uri.n_alts || m->user_agent.n_alts ||
	      m->sni.n_alts || m->ja3.n_alts || m->ja4.n_alts;
	print_strmatch("helo", &m->helo, true);
	print_strmatch("mail_from", &m->mail_from, true);
	print_strmatch("subject", &m->subject, false);
	print_strmatch("x_mailer", &m->x_mailer, false);
	print_strmatch("header_order", &m->header_order, false);
	print_strmatch("campaign", &m->campaign, false);
	any = any || m->helo.n_alts || m->mail_from.n_alts || m->subject.n_alts ||
	      m->x_mailer.n_alts || m->header_order.n_alts || m->campaign.n_alts;
	if (m->has_body_len) {
		if (m->body_len_min == m->body_len_max)
			printf("      %-12s%" PRIu64 "\n", "body_len", m->body_len_min);
		else
			printf("      %-12s%" PRIu64 "..%" PRIu64 "\n", "body_len", m->body_len_min,
			       m->body_len_max);
		any = true;
	}
	if (m->body_prefix_len) {
		printf("      %-12shex:", "body_prefix");
		for (size_t j = 0; j < m->body_prefix_len; j++)
			printf("%02x", m->body_prefix[j]);
		printf("\n");
		any = true;
	}
	if (!any)
		printf("      (no conditions: matches everything)\n");
	if (f->has_answer)
		print_answer("      ", &f->answer);
	else
		printf("      answer      the default answer\n");
}

/* The dns section; zone files are only named here (`sinkd zones stats` loads them). */
static void print_dns(const struct config_dns *d)
{
	printf("dns: ttl %" PRIu32 ", %zu A, %zu AAAA, %zu NS, EDNS %u, TCP idle %" PRIu32
	       " ms / %" PRIu32 " queries\n",
	       d->ttl, d->n_a, d->n_aaaa, d->n_ns ? d->n_ns : 1, d->edns_udp_size,
	       d->tcp_idle_timeout_ms, d->tcp_max_queries);
	if (d->rrl_rate)
		printf("  rrl %" PRIu32 "/s per /%u and /%u, slip %" PRIu32
		       ", %zu exempt prefixes\n",
		       d->rrl_rate, d->rrl_v4_prefix, d->rrl_v6_prefix, d->rrl_slip,
		       d->n_rrl_exempt);
	else
		printf("  rrl off\n");
	for (size_t i = 0; i < d->n_zones; i++) {
		const struct config_dns_zone *z = &d->zones[i];
		printf("  zones[%zu] family \"%s\"%s%s%s: %zu names inline", i, z->family,
		       z->tag ? " tag \"" : "", z->tag ? z->tag : "", z->tag ? "\"" : "",
		       z->n_names);
		for (size_t k = 0; k < z->n_files; k++)
			printf(", file %s", z->files[k]);
		if (z->has_addrs)
			printf(" (own addresses: %zu A, %zu AAAA)", z->n_a, z->n_aaaa);
		printf("\n");
	}
}

static void print_summary(const struct config *c, const struct rules *r)
{
	char a[32], b[32];
	printf("%s: OK\n", c->path);
	printf("sensor      %s\n", c->sensor_id);
	fmt_size(a, sizeof a, c->segment_bytes);
	fmt_size(b, sizeof b, c->ring_bytes);
	printf("log         %s  fsync %s", c->log_dir, fsync_name(c->fsync));
	if (c->fsync == CONFIG_FSYNC_INTERVAL)
		printf(" every %" PRIu32 " ms", c->fsync_interval_ms);
	printf(", segments %s, ring %s per worker\n", a, b);
	printf("signing     %s\n", c->signing_key ? c->signing_key : "(off: heads are not signed)");
	printf("stats       %s\n", c->stats_file);
	printf("eve         %s\n", c->eve_file ? c->eve_file : "(off)");
	printf("metrics     %s\n", c->metrics.listen ? c->metrics.listen : "(off)");
	printf("pid file    %s\n", c->pid_file ? c->pid_file : "(none)");
	printf("run as      %s:%s\n", c->user ? c->user : "(unchanged)",
	       c->group ? c->group : "(unchanged)");
	if (c->workers)
		printf("workers     %" PRIu32 "\n", c->workers);
	else
		printf("workers     one per core\n");
	printf("log level   %s, drain %" PRIu32 " ms\n", c->log_level, c->drain_timeout_ms);

	printf("listeners (%zu):\n", c->n_listeners);
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct config_listener *l = &c->listeners[i];
		const struct config_http_limits *h = &l->http;
		fmt_size(a, sizeof a, h->max_body_bytes);
		printf("  %-14s %s %s%s, max %" PRIu32 " connections\n", l->name,
		       config_proto_name(l->proto), l->addr_text,
		       l->proxy_protocol ? ", PROXY protocol" : "", l->max_connections);
		printf("      headers %" PRIu32 " B / %" PRIu32 ", body %s (keep %" PRIu32
		       " B), timeouts %" PRIu32 "/%" PRIu32 " ms, %" PRIu32 " requests/conn\n",
		       h->max_header_bytes, h->max_headers, a, h->body_store_bytes,
		       h->header_timeout_ms, h->idle_timeout_ms, h->max_requests_per_conn);
		if (l->proto == CONFIG_PROTO_SMTP) {
			const struct config_smtp *sm = &l->smtp;
			fmt_size(a, sizeof a, sm->max_message_bytes);
			printf("      smtp %s: lines %" PRIu32 " B, message %s, %" PRIu32
			       " recipients, %" PRIu32 " commands, %" PRIu32
			       " messages/session, campaign score >= %" PRIu32 "%s\n",
			       sm->hostname, sm->max_line_bytes, a, sm->max_recipients,
			       sm->max_commands, sm->max_transactions, sm->campaign_threshold,
			       sm->starttls ? ", STARTTLS offered" : "");
			if (sm->sample_dir)
				printf("      samples in %s (at most %" PRIu64
				       " B each, kept %" PRIu32 " days)\n",
				       sm->sample_dir, sm->sample_max_bytes,
				       sm->sample_retention_days);
		}
		if (l->n_trusted_proxies)
			printf("      X-Forwarded-For trusted from %zu prefixes\n",
			       l->n_trusted_proxies);
		if (l->proto == CONFIG_PROTO_TLS) {
			const struct config_tls *t = &l->tls;
			printf("      TLS 1.%d-1.%d, %zu certificate(s)%s, tickets %s, session cache "
			       "%s, hello up to %" PRIu32 " B\n",
			       t->min_version - 0x0301, t->max_version - 0x0301, t->n_certs,
			       t->self_signed || !t->n_certs ? " + self-signed per name" : "",
			       t->session_tickets ? "on" : "off", t->session_cache ? "on" : "off",
			       t->max_hello_bytes);
		}
		if (l->proto == CONFIG_PROTO_RAW)
			printf("      raw: capture %" PRIu32 " B, timeout %" PRIu32
			       " ms, banner %zu B, HTTP hand-over %s\n",
			       l->raw.capture_bytes, l->raw.timeout_ms, l->raw.banner_len,
			       l->raw.handover ? "on" : "off");
		if (l->n_ports) {
			printf("      any-port (%s): ports",
			       l->redirect == CONFIG_REDIRECT_TPROXY ? "tproxy" : "nat redirect");
			for (size_t j = 0; j < l->n_ports; j++) {
				printf("%s%u", j ? ", " : " ", (unsigned)l->ports[j].lo);
				if (l->ports[j].hi != l->ports[j].lo)
					printf("-%u", (unsigned)l->ports[j].hi);
			}
			printf(" of");
			for (size_t j = 0; j < l->n_seized; j++) {
				char ip[64];
				printf(" %s", event_addr_str(&l->seized[j], ip, sizeof ip));
			}
			printf("\n");
		}
	}

	printf("families (%zu rules, first match wins):\n", rules_count(r));
	for (size_t i = 0; i < c->n_families; i++)
		print_family(i, &c->families[i]);
	printf("  otherwise: family \"unknown\"\n");
	print_answer("      ", &c->default_answer);
	if (c->dns)
		print_dns(c->dns);
}

int cmd_config(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "check") &&
	    (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "check")) {
		usage(stderr);
		return 2;
	}
	char err[512];
	struct config *c;
	int rc = config_load(argv[2], &c, err, sizeof err);
	if (rc) {
		fprintf(stderr, "sinkd: %s\n", err[0] ? err : err_str(rc));
		return 1;
	}
	struct rules *r;
	rc = rules_compile(c, &r, err, sizeof err);
	if (rc) {
		fprintf(stderr, "sinkd: %s: %s\n", argv[2], err[0] ? err : err_str(rc));
		config_free(c);
		return 1;
	}
	/* Certificates and keys are checked as `serve` loads them. */
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct tls_server *ts = NULL;
		if (c->listeners[i].proto != CONFIG_PROTO_TLS)
			continue;
		rc = tls_server_new(&c->listeners[i], &ts, err, sizeof err);
		tls_server_free(ts);
		if (rc) {
			fprintf(stderr, "sinkd: %s: listener %s: %s\n", argv[2],
				c->listeners[i].name, err[0] ? err : err_str(rc));
			rules_free(r);
			config_free(c);
			return 1;
		}
	}
	print_summary(c, r);
	rules_free(r);
	config_free(c);
	return 0;
}
