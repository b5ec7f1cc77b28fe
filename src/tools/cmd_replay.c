/* cmd_replay.c — `sinkd replay FILE` (a capture through the sensor's modules and rules) and `sinkd rules test`. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/dlog.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sign.h"
#include "core/timeutil.h"
#include "net/replay.h"
#include "report/eve.h"
#include "tools/commands.h"

/* Without -c: one HTTP listener on port 80 and no families (every request is "unknown"). */
static const char default_config[] = "sensor: { id: replay }\n"
				     "log: { dir: /nonexistent }\n"
				     "listen:\n"
				     "  - { proto: http, addr: \"0.0.0.0:80\", name: http-80 }\n";

static void replay_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd replay [options] FILE\n\n"
		"Reads a packet capture (pcap or pcapng, as tcpdump, tshark or a sandbox\n"
		"writes it) and runs its TCP streams (and UDP datagrams) through exactly\n"
		"the sensor's protocol modules and rules: each flow goes to the config's\n"
		"listener for its server port, its client bytes are reassembled and parsed\n"
		"as the live sensor would parse them, and every event is written with the\n"
		"capture's timestamps. A summary of flows, events and what was skipped (and\n"
		"why) goes to stderr.\n"
		"FILE may be - to read the capture from stdin (tcpdump -w - | sinkd replay -).\n\n"
		"  -c FILE            config: listeners, limits, families (default: HTTP on\n"
		"                     port 80, no families)\n"
		"  --listener NAME    send every TCP flow to this listener, whatever its port\n"
		"  --eve FILE         write EVE JSON lines to FILE (default: stdout)\n"
		"  --log DIR          append the events to the event log in DIR instead\n"
		"                     (signed with the config's log.signing_key, if any)\n"
		"  --sensor ID        sensor id in the events (default: the config's)\n"
		"  --max-flows N      flows tracked at once (default 65536; the least recently\n"
		"                     active is ended when full)\n"
		"  --flow-buffer SIZE out-of-order bytes held per flow (default 1M)\n"
		"  --memory SIZE      out-of-order bytes held in all (default 256M)\n"
		"  --flow-timeout MS  idle flows (capture time) are ended (default 120000)\n"
		"  --gaps             print each gap (missing segments) on stderr\n"
		"  --summary text|json|none   (default text)\n"
		"  --progress / --no-progress (default: progress when stderr is a terminal)\n\n"
		"Reassembly: the first copy of a byte wins (retransmissions and overlaps are\n"
		"trimmed; copies that differ are counted as conflicts); a hole that is never\n"
		"filled is a gap and ends the stream for the protocol (counted, and listed\n"
		"with --gaps). IP fragments are not reassembled.\n\n"
		"Exit status: 0 done, 1 the capture could not be read or the output written,\n"
		"2 usage error.\n");
}

static void rules_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd rules test [--listener NAME] RULES FILE.pcap\n\n"
		"Replays FILE.pcap (as `sinkd replay`) through the listeners and families\n"
		"of the config RULES and prints, for each rule, how many events it matched\n"
		"with a few examples, then the events that stayed `unknown`. For writing\n"
		"and checking family rules before a takedown.\n\n"
		"Exit status: 0 done, 1 the capture or the rules could not be read, 2 usage.\n");
}

static bool parse_num(const char *s, uint64_t *out, bool size)
{
	uint64_t v = 0;
	const char *p = s;
	if (!*p)
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return false;
	unsigned shift = 0;
	if (size && *p) {
		shift = *p == 'K' ? 10 : *p == 'M' ? 20 : *p == 'G' ? 30 : 64;
		if (shift == 64 || (p[1] && strcmp(p + 1, "i") && strcmp(p + 1, "iB")))
			return false;
		p += strlen(p);
	}
	if (*p || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}

/* ---- outputs ----------------------------------------------------------------------- */

struct out {
	FILE *eve;
	struct log_writer *log;
	struct dynbuf line;
	const char *sensor;
	uint64_t pending; /* records appended to the log but not committed */
	int error;
};

static int out_sink(void *arg, const uint8_t *rec, size_t len)
{
	struct out *o = arg;
	if (o->log) {
		int rc = log_writer_append(o->log, rec, len);
		if (rc == ERR_FULL) {
			rc = log_writer_commit(o->log);
			rc = rc ? rc : log_writer_append(o->log, rec, len);
		}
		if (!rc && ++o->pending >= 4096) {
			rc = log_writer_commit(o->log);
			o->pending = 0;
		}
		if (rc && !o->error)
			o->error = rc;
		return rc;
	}
	dynbuf_reset(&o->line);
	int rc = eve_format(rec, len, o->sensor, &o->line);
	if (!rc && fwrite(o->line.data, 1, o->line.len, o->eve) != o->line.len)
		rc = ERR_SYS;
	if (rc && !o->error)
		o->error = rc;
	return rc;
}

/* ---- summary ------------------------------------------------------------------------- */

static void summary_text(const char *file, const struct replay_stats *st)
{
	char a[40], b[40];
	fprintf(stderr, "replay: %s: %" PRIu64 " packets (%" PRIu64 " bytes)", file, st->packets,
		st->capture_bytes);
	if (st->packets)
		fprintf(stderr, " from %s to %s", time_iso_us(st->first_us, a, sizeof a),
			time_iso_us(st->last_us, b, sizeof b));
	fprintf(stderr, "\n  events: %" PRIu64 "\n", st->events);
	fprintf(stderr,
		"  tcp flows: %" PRIu64 " replayed (%" PRIu64 " began mid-stream); %" PRIu64
		" skipped: no listener for their port; %" PRIu64
		" skipped: no module for the listener's protocol in this build\n",
		st->flows, st->flows_midstream, st->flows_unmatched, st->flows_no_module);
	fprintf(stderr,
		"  flows ended early: %" PRIu64 " idle past the flow timeout, %" PRIu64
		" because the flow table was full\n",
		st->evicted_idle, st->evicted_full);
	fprintf(stderr,
		"  tcp bytes: %" PRIu64 " client bytes replayed, %" PRIu64
		" server bytes (answers, not replayed), %" PRIu64
		" after the sensor closed or after a gap (skipped)\n",
		st->client_bytes, st->server_bytes, st->after_close_bytes);
	fprintf(stderr,
		"  reassembly: %" PRIu64 " segments held out of order, %" PRIu64
		" duplicate bytes dropped (%" PRIu64 " differed from the first copy), %" PRIu64
		" gaps (%" PRIu64 " bytes missing)\n",
		st->out_of_order, st->dup_bytes, st->conflict_bytes, st->gaps, st->gap_bytes);
	fprintf(stderr,
		"  udp: %" PRIu64 " datagrams, %" PRIu64 " replayed; %" PRIu64
		" skipped: no listener; %" PRIu64 " skipped: no datagram module in this build\n",
		st->udp_packets, st->udp_replayed, st->udp_unmatched, st->udp_no_module);
	fprintf(stderr, "  tcp packets of no known flow (no SYN, no data): %" PRIu64 "\n",
		st->stray_packets);
	for (int k = 1; k < PKT_SKIP_KINDS; k++)
		if (st->skipped[k])
			fprintf(stderr, "  packets skipped: %" PRIu64 " %s\n", st->skipped[k],
				pkt_skip_str((enum pkt_skip)k));
	fprintf(stderr, "  peak: %zu flows, %zu bytes held out of order\n", st->peak_flows,
		st->peak_held);
	if (st->truncated)
		fprintf(stderr, "  the capture ends in the middle of a packet: %s\n", st->error);
}

static void summary_json(const char *file, const struct replay_stats *st)
{
	struct dynbuf b;
	int rc;
	static const char *const skip_keys[PKT_SKIP_KINDS] = { "ok",	 "not_ip",   "short",
							       "bad_ip", "fragment", "not_tcp_udp",
							       "bad_l4" };
	dynbuf_init(&b, 1 << 16);
	rc = dynbuf_addc(&b, '{');
	rc = rc ? rc : json_key(&b, "file", 1);
	rc = rc ? rc : json_cstr(&b, file);
#define NUM(k, v)                                                                                  \
	do {                                                                                       \
		rc = rc ? rc : json_key(&b, k, 0);                                                 \
		rc = rc ? rc : json_u64(&b, (uint64_t)(v));                                        \
	} while (0)
	NUM("packets", st->packets);
	NUM("capture_bytes", st->capture_bytes);
	NUM("events", st->events);
	NUM("flows", st->flows);
	NUM("flows_midstream", st->flows_midstream);
	NUM("flows_unmatched", st->flows_unmatched);
	NUM("flows_no_module", st->flows_no_module);
	NUM("evicted_idle", st->evicted_idle);
	NUM("evicted_full", st->evicted_full);
	NUM("client_bytes", st->client_bytes);
	NUM("server_bytes", st->server_bytes);
	NUM("after_close_bytes", st->after_close_bytes);
	NUM("out_of_order", st->out_of_order);
	NUM("dup_bytes", st->dup_bytes);
	NUM("conflict_bytes", st->conflict_bytes);
	NUM("gaps", st->gaps);
	NUM("gap_bytes", st->gap_bytes);
	NUM("udp_packets", st->udp_packets);
	NUM("udp_replayed", st->udp_replayed);
	NUM("udp_unmatched", st->udp_unmatched);
	NUM("udp_no_module", st->udp_no_module);
	NUM("stray_packets", st->stray_packets);
	NUM("peak_flows", st->peak_flows);
	NUM("peak_held", st->peak_held);
	rc = rc ? rc : json_key(&b, "skipped", 0);
	rc = rc ? rc : dynbuf_addc(&b, '{');
	for (int k = 1; k < PKT_SKIP_KINDS; k++) {
		rc = rc ? rc : json_key(&b, skip_keys[k], k == 1);
		rc = rc ? rc : json_u64(&b, st->skipped[k]);
	}
	rc = rc ? rc : dynbuf_addc(&b, '}');
	rc = rc ? rc : json_key(&b, "truncated", 0);
	rc = rc ? rc : dynbuf_adds(&b, st->truncated ? "true" : "false");
#undef NUM
	rc = rc ? rc : dynbuf_addc(&b, '}');
	if (!rc)
		fprintf(stderr, "%s\n", b.data);
	dynbuf_free(&b);
}

/* ---- common option parsing ---------------------------------------------------------- */

struct replay_cli {
	const char *cfg_path, *file, *listener, *eve, *logdir, *sensor, *summary;
	int progress; /* -1 auto */
	bool gaps;
	struct replay_opts ro;
};

/* Parses one option at argv[*i]; returns 0, or 2 (usage) after printing why. */
static int replay_opt(struct replay_cli *cl, int argc, char **argv, int *i, const char *cmd)
{
	const char *a = argv[*i];
	const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	uint64_t n;
	bool has_value = true;
	if (!strcmp(a, "--progress")) {
		cl->progress = 1;
		has_value = false;
	} else if (!strcmp(a, "--no-progress")) {
		cl->progress = 0;
		has_value = false;
	} else if (!strcmp(a, "--gaps")) {
		cl->gaps = true;
		has_value = false;
	} else if (!v) {
		fprintf(stderr, "sinkd %s: unknown option or missing value '%s'\n", cmd, a);
		return 2;
	} else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
		cl->cfg_path = v;
	} else if (!strcmp(a, "--listener")) {
		cl->listener = v;
	} else if (!strcmp(a, "--eve")) {
		cl->eve = v;
	} else if (!strcmp(a, "--log")) {
		cl->logdir = v;
	} else if (!strcmp(a, "--sensor")) {
		cl->sensor = v;
	} else if (!strcmp(a, "--summary")) {
		cl->summary = v;
	} else if (!strcmp(a, "--max-flows") && parse_num(v, &n, false) && n > 0 &&
		   n <= (1u << 24)) {
		cl->ro.max_flows = (size_t)n;
	} else if (!strcmp(a, "--flow-buffer") && parse_num(v, &n, true) && n > 0 &&
		   n <= ((uint64_t)1 << 32)) {
		cl->ro.flow_buffer = (size_t)n;
	} else if (!strcmp(a, "--memory") && parse_num(v, &n, true) && n > 0 &&
		   n <= ((uint64_t)1 << 40)) {
		cl->ro.memory = (size_t)n;
	} else if (!strcmp(a, "--flow-timeout") && parse_num(v, &n, false) && n > 0 &&
		   n <= UINT64_MAX / 1000u) {
		cl->ro.flow_timeout_us = n * 1000u;
	} else {
		fprintf(stderr, "sinkd %s: bad option or value: %s %s\n", cmd, a, v);
		return 2;
	}
	if (has_value)
		(*i)++;
	return 0;
}

static int load_config(const char *path, struct config **cfg)
{
	char err[512];
	/* A tool, not the daemon: the rule set's start-up notes are not news here. */
	dlog_set_level(DLOG_WARN);
	int rc = path ? config_load(path, cfg, err, sizeof err) :
			config_load_string(default_config, sizeof default_config - 1,
					   "(built-in replay config)", cfg, err, sizeof err);
	if (rc)
		fprintf(stderr, "sinkd: %s\n", err);
	return rc;
}

static int run_replay(struct replay_cli *cl, struct replay_stats *st)
{
	int rc = replay_file(cl->file, &cl->ro, st);
	if (rc) {
		fprintf(stderr, "sinkd: %s: %s\n", cl->file,
			st->error[0] ? st->error : err_str(rc));
		return 1;
	}
	return 0;
}

int cmd_replay(int argc, char **argv)
{
	struct replay_cli cl = { .progress = -1, .summary = "text" };
	struct config *cfg = NULL;
	struct out o = { 0 };
	struct replay_stats st;
	struct sign_key *key = NULL;
	int status = 2;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			replay_usage(stdout);
			return 0;
		}
		if (argv[i][0] == '-' && argv[i][1]) {
			if (replay_opt(&cl, argc, argv, &i, "replay")) {
				replay_usage(stderr);
				return 2;
			}
		} else if (!cl.file) {
			cl.file = argv[i];
		} else {
			fprintf(stderr, "sinkd replay: more than one capture given\n");
			return 2;
		}
	}
	if (!cl.file || (cl.eve && cl.logdir) ||
	    (strcmp(cl.summary, "text") && strcmp(cl.summary, "json") &&
	     strcmp(cl.summary, "none"))) {
		replay_usage(stderr);
		return 2;
	}
	status = 1;
	if (load_config(cl.cfg_path, &cfg))
		goto out;
	dynbuf_init(&o.line, 2u * EVENT_MAX_LEN + 65536);
	o.sensor = cl.sensor ? cl.sensor : cfg->sensor_id;
	if (cl.logdir) {
		/* A backfilled log is signed like the sensor's own when the config has a key. */
		struct log_writer_opts lo = { .dir = cl.logdir, .sensor_id = o.sensor };
		if (cfg->signing_key) {
			int krc = sign_key_load(cfg->signing_key, &key);
			if (krc || !sign_key_has_private(key)) {
				fprintf(stderr, "sinkd replay: log.signing_key %s: %s\n",
					cfg->signing_key,
					krc == ERR_SYS ? strerror(errno) :
							 "not a PEM Ed25519 private key");
				goto out;
			}
			lo.sign_key = key;
		}
		int rc = log_writer_open(&o.log, &lo, NULL);
		if (rc) {
			fprintf(stderr, "sinkd replay: log %s: %s\n", cl.logdir,
				rc == ERR_SYS ? strerror(errno) : err_str(rc));
			goto out;
		}
	} else if (cl.eve && strcmp(cl.eve, "-")) {
		o.eve = fopen(cl.eve, "we");
		if (!o.eve) {
			fprintf(stderr, "sinkd replay: %s: %s\n", cl.eve, strerror(errno));
			goto out;
		}
	} else {
		o.eve = stdout;
	}
	if (o.eve)
		setvbuf(o.eve, NULL, _IOFBF, 1 << 20);
	cl.ro.cfg = cfg;
	cl.ro.listener = cl.listener;
	cl.ro.sink = out_sink;
	cl.ro.sink_arg = &o;
	cl.ro.gap_log = cl.gaps ? stderr : NULL;
	if (cl.progress == 1 || (cl.progress < 0 && isatty(STDERR_FILENO)))
		cl.ro.progress = stderr;
	if (run_replay(&cl, &st))
		goto out;
	if (!strcmp(cl.summary, "text"))
		summary_text(cl.file, &st);
	else if (!strcmp(cl.summary, "json"))
		summary_json(cl.file, &st);
	status = o.error ? 1 : 0;
	if (o.error)
		fprintf(stderr, "sinkd replay: writing events: %s\n",
			o.error == ERR_SYS ? strerror(errno) : err_str(o.error));
out:
	if (o.log && log_writer_close(o.log) != 0) {
		fprintf(stderr, "sinkd replay: closing the log: %s\n", strerror(errno));
		status = 1;
	}
	if (o.eve && fflush(o.eve) != 0) {
		fprintf(stderr, "sinkd replay: writing EVE: %s\n", strerror(errno));
		status = 1;
	}
	if (o.eve && o.eve != stdout)
		fclose(o.eve);
	sign_key_free(key);
	dynbuf_free(&o.line);
	config_free(cfg);
	return status;
}

/* ---- rules test ---------------------------------------------------------------------- */

#define RULES_SAMPLES	3
#define UNKNOWN_SAMPLES 10

struct rule_tally {
	uint64_t n;
	char samples[UNKNOWN_SAMPLES][256];
	unsigned n_samples;
};

struct rules_test {
	struct rule_tally *rules; /* one per family, then one for unknown */
	size_t n_rules;
};

static void field_text(const struct event_view *v, uint16_t tag, char *out, size_t cap)
{
	struct event_field f;
	out[0] = '\0';
	if (!event_find(v, tag, &f))
		return;
	size_t n = f.len < cap - 1 ? f.len : cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = f.val[i] >= 0x20 && f.val[i] < 0x7f ? (char)f.val[i] : '.';
	out[n] = '\0';
}

static int rules_sink(void *arg, const uint8_t *rec, size_t len)
{
	struct rules_test *t = arg;
	struct event_view v;
	struct event_field f;
	if (event_decode(rec, len, &v) != 0)
		return 0;
	size_t idx = t->n_rules; /* unknown */
	if (event_find(&v, EVENT_T_RULE, &f) && event_field_uint(&f) < t->n_rules)
		idx = (size_t)event_field_uint(&f);
	struct rule_tally *r = &t->rules[idx];
	r->n++;
	unsigned max = idx == t->n_rules ? UNKNOWN_SAMPLES : RULES_SAMPLES;
	if (r->n_samples < max) {
		char method[16], host[48], uri[64], reason[48], src[48];
		field_text(&v, EVENT_T_HTTP_METHOD, method, sizeof method);
		field_text(&v, EVENT_T_HTTP_HOST, host, sizeof host);
		field_text(&v, EVENT_T_HTTP_URI, uri, sizeof uri);
		field_text(&v, EVENT_T_REASON, reason, sizeof reason);
		event_addr_str(&v.h.src, src, sizeof src);
		if (method[0])
			snprintf(r->samples[r->n_samples], sizeof r->samples[0],
				 "%s %s %s  (from %s)", method, host[0] ? host : "-", uri, src);
		else
			snprintf(r->samples[r->n_samples], sizeof r->samples[0],
				 "type %u: %s  (from %s)", v.h.type, reason[0] ? reason : "-", src);
		r->n_samples++;
	}
	return 0;
}

int cmd_rules(int argc, char **argv)
{
	struct replay_cli cl = { .progress = -1, .summary = "text" };
	const char *rules = NULL;
	struct config *cfg = NULL;
	struct rules_test t = { 0 };
	struct replay_stats st;
	int status = 2;

	if (argc < 2 || strcmp(argv[1], "test") != 0) {
		bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
		rules_usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			rules_usage(stdout);
			return 0;
		}
		if (argv[i][0] == '-' && argv[i][1]) {
			if (replay_opt(&cl, argc, argv, &i, "rules test")) {
				rules_usage(stderr);
				return 2;
			}
		} else if (!rules) {
			rules = argv[i];
		} else if (!cl.file) {
			cl.file = argv[i];
		} else {
			rules_usage(stderr);
			return 2;
		}
	}
	if (!rules || !cl.file) {
		rules_usage(stderr);
		return 2;
	}
	status = 1;
	if (load_config(rules, &cfg))
		goto out;
	t.n_rules = cfg->n_families;
	t.rules = calloc(t.n_rules + 1, sizeof *t.rules);
	if (!t.rules)
		goto out;
	cl.ro.cfg = cfg;
	cl.ro.listener = cl.listener;
	cl.ro.sink = rules_sink;
	cl.ro.sink_arg = &t;
	if (cl.progress == 1 || (cl.progress < 0 && isatty(STDERR_FILENO)))
		cl.ro.progress = stderr;
	if (run_replay(&cl, &st))
		goto out;
	uint64_t matched = 0;
	printf("%s against %s: %" PRIu64 " events in %" PRIu64 " flows\n\n", rules, cl.file,
	       st.events, st.flows);
	for (size_t i = 0; i <= t.n_rules; i++) {
		struct rule_tally *r = &t.rules[i];
		if (i < t.n_rules) {
			const struct config_family *fam = &cfg->families[i];
			char name[160];
			snprintf(name, sizeof name, "%s%s%s", fam->name, fam->tag ? "/" : "",
				 fam->tag ? fam->tag : "");
			printf("rule %-3zu %-32s %8" PRIu64 " events%s\n", i, name, r->n,
			       r->n ? "" : "   (matched nothing)");
			matched += r->n;
		} else {
			printf("%-41s %8" PRIu64 " events\n", "unknown (no rule matched)", r->n);
		}
		for (unsigned k = 0; k < r->n_samples; k++)
			printf("           e.g. %s\n", r->samples[k]);
	}
	printf("\n%" PRIu64 " of %" PRIu64 " events matched a rule\n", matched, st.events);
	status = 0;
out:
	free(t.rules);
	config_free(cfg);
	return status;
}
