/* daemon.c — the sensor process: start-up order, signals, reload, stats file, orderly shutdown. */
#include "net/daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/dlog.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/recorder.h"
#include "core/timeutil.h"
#include "metrics/metrics.h"
#include "metrics/metrics_http.h"
#include "metrics/tally.h"
#include "net/listener.h"
#include "net/privdrop.h"
#include "core/sign.h"
#include "net/worker.h"
#include "proto/dns/dns_conn.h"
#include "proto/dns/dns_zone.h"
#include "proto/http/http_conn.h"
#include "proto/tls/tls_conn.h"
#include "proto/tls/tls_server.h"
#include "proto/raw/raw_conn.h"
#include "proto/smtp/smtp_conn.h"
#include "report/eve_writer.h"
#include "store/indexer.h"

struct daemon {
	struct config *boot_cfg; /* listeners, log and limits come from here; lives to exit */
	_Atomic(struct ruleset *) active;
	_Atomic uint64_t gen;
	struct ruleset *retired; /* waiting until no worker can still hold them */
	struct listener *listeners;
	unsigned n_listeners;
	struct worker *workers;
	unsigned n_workers;
	struct recorder *rec;
	struct eve_writer *eve;
	struct indexer *indexer; /* store thread, when store.path is set */
	char *stats_path;
	uint64_t started_us;
	uint64_t reloads;
	struct metrics_tally *tally;  /* events by listener and family, fed by the log writer */
	struct metrics_http *metrics; /* the admin listener (metrics.listen), or NULL */
};

const struct ruleset *daemon_rules(struct daemon *d)
{
	return atomic_load_explicit(&d->active, memory_order_acquire);
}

uint64_t daemon_rules_gen(struct daemon *d)
{
	return atomic_load_explicit(&d->gen, memory_order_acquire);
}

uint32_t daemon_drain_timeout_ms(struct daemon *d)
{
	return d->boot_cfg->drain_timeout_ms;
}

/*
 * What serves each listener proto: a stream module (TCP), a datagram module
 * (UDP), or both on the same address (one listener entry each).
 */
struct proto_entry {
	enum config_proto proto;
	const struct proto_ops *stream;
	const struct proto_ops *dgram;
};

static const struct proto_entry proto_table[] = {
	{ CONFIG_PROTO_HTTP, &http_proto_ops, NULL },
	{ CONFIG_PROTO_TLS, &tls_http_proto_ops, NULL },
	{ CONFIG_PROTO_RAW, &raw_proto_ops, &raw_dgram_ops },
	{ CONFIG_PROTO_DNS, &dns_tcp_proto_ops, &dns_udp_proto_ops },
	{ CONFIG_PROTO_SMTP, &smtp_proto_ops, NULL },
};

static const struct proto_entry *proto_lookup(enum config_proto p)
{
	for (size_t i = 0; i < sizeof proto_table / sizeof proto_table[0]; i++)
		if (proto_table[i].proto == p)
			return &proto_table[i];
	return NULL;
}

/* A raw listener serves TCP, UDP or both (raw.transport). */
const struct proto_ops *daemon_listener_stream_ops(const struct config_listener *lc)
{
	const struct proto_entry *e = proto_lookup(lc->proto);
	if (!e || (lc->proto == CONFIG_PROTO_RAW && !lc->raw.tcp))
		return NULL;
	return e->stream;
}

const struct proto_ops *daemon_listener_dgram_ops(const struct config_listener *lc)
{
	const struct proto_entry *e = proto_lookup(lc->proto);
	if (!e || (lc->proto == CONFIG_PROTO_RAW && !lc->raw.udp))
		return NULL;
	return e->dgram;
}

/*
 * TLS listeners, raw TCP listeners that hand guessed TLS streams over, and
 * SMTP listeners offering STARTTLS need a TLS context.
 */
bool daemon_listener_needs_tls(const struct config_listener *lc)
{
	return lc->proto == CONFIG_PROTO_TLS ||
	       (lc->proto == CONFIG_PROTO_RAW && lc->raw.handover) ||
	       (lc->proto == CONFIG_PROTO_SMTP && lc->smtp.starttls);
}

/* The SMTP listener's workers share its campaign table. */
int daemon_listener_state_init(struct listener *l)
{
	return l->ops == &smtp_proto_ops ? smtp_listener_init(l) : 0;
}

void daemon_listener_state_free(struct listener *l)
{
	if (l->ops == &smtp_proto_ops)
		smtp_listener_free(l);
}

/* Opens one listener entry (stream or datagram) for a configured endpoint and logs it. */
static int daemon_open_listener(struct daemon *d, const struct config_listener *lc,
				const struct proto_ops *ops, bool dgram)
{
	struct listener *l = &d->listeners[d->n_listeners];
	unsigned idx = d->n_listeners;
	int rc = dgram ? listener_open_dgram(l, lc, idx, d->n_workers) :
			 listener_open(l, lc, idx, d->n_workers);
	if (rc) {
		dlog(DLOG_ERROR, "listener %s on %s (%s): %s", lc->name, lc->addr_text,
		     dgram ? "udp" : "tcp", rc == ERR_SYS ? strerror(errno) : err_str(rc));
		return rc;
	}
	l->ops = ops;
	d->n_listeners++;
	char addr[64];
	dlog(DLOG_INFO, "listening on %s:%u/%s as %s (%s%s)",
	     event_addr_str(&l->local, addr, sizeof addr), l->local.port, dgram ? "udp" : "tcp",
	     lc->name, config_proto_name(lc->proto),
	     lc->proxy_protocol && !dgram ? ", PROXY protocol" : "");
	return 0;
}

static void ruleset_free(struct ruleset *rs, const struct config *boot)
{
	if (!rs)
		return;
	rules_free(rs->rules);
	http_answers_free(rs->http);
	dns_zones_free(rs->dns);
	if (rs->cfg != boot)
		config_free(rs->cfg);
	free(rs);
}

/* Compiles what a rule set needs from cfg; takes ownership of cfg only on success. */
static int ruleset_build(struct config *cfg, unsigned workers, struct ruleset **out, char *errbuf,
			 size_t errlen)
{
	struct ruleset *rs = calloc(1, sizeof *rs);
	if (!rs)
		return ERR_NOMEM;
	rs->cfg = cfg;
	int rc = rules_compile_slots(cfg, workers, &rs->rules, errbuf, errlen);
	if (rc == 0)
		rc = http_answers_build(cfg, &rs->http, errbuf, errlen);
	if (rc == 0 && cfg->dns) {
		rc = dns_zones_build(cfg->dns, &rs->dns, errbuf, errlen);
		if (rc == 0) {
			struct dns_zones_stats zs;
			dns_zones_get_stats(rs->dns, &zs);
			dlog(DLOG_INFO,
			     "dns: %" PRIu64 " seized names (%" PRIu64
			     " duplicates) loaded in %" PRIu64 " ms, %" PRIu64 " KiB",
			     zs.names, zs.duplicates, zs.load_us / 1000, zs.bytes / 1024);
		}
	}
	if (rc) {
		rules_free(rs->rules);
		http_answers_free(rs->http);
		dns_zones_free(rs->dns);
		free(rs);
		return rc;
	}
	*out = rs;
	return 0;
}

int ruleset_new(struct config *cfg, unsigned slots, struct ruleset **out, char *errbuf,
		size_t errlen)
{
	return ruleset_build(cfg, slots, out, errbuf, errlen);
}

void ruleset_release(struct ruleset *rs)
{
	if (rs)
		ruleset_free(rs, rs->cfg);
}

/* Frees retired rule sets that every worker has moved past. */
static void daemon_reap_rules(struct daemon *d)
{
	uint64_t min_seen = UINT64_MAX;
	for (unsigned i = 0; i < d->n_workers; i++) {
		uint64_t s = atomic_load_explicit(&d->workers[i].seen_gen, memory_order_acquire);
		if (s < min_seen)
			min_seen = s;
	}
	struct ruleset **pp = &d->retired;
	while (*pp) {
		struct ruleset *rs = *pp;
		/* rs was replaced by generation rs->gen + 1: safe once everyone saw that. */
		if (min_seen > rs->gen) {
			*pp = rs->retired_next;
			ruleset_free(rs, d->boot_cfg);
		} else {
			pp = &rs->retired_next;
		}
	}
}

static bool listeners_same(const struct config *a, const struct config *b)
{
	if (a->n_listeners != b->n_listeners)
		return false;
	for (size_t i = 0; i < a->n_listeners; i++) {
		const struct config_listener *x = &a->listeners[i], *y = &b->listeners[i];
		if (x->proto != y->proto || strcmp(x->addr_text, y->addr_text) != 0 ||
		    strcmp(x->name, y->name) != 0 || x->proxy_protocol != y->proxy_protocol)
			return false;
	}
	return true;
}

static void daemon_reload(struct daemon *d)
{
	char err[512] = "";
	struct config *cfg = NULL;
	int rc = config_load(d->boot_cfg->path, &cfg, err, sizeof err);
	if (rc) {
		dlog(DLOG_ERROR, "reload: %s; keeping the running rules", err);
		return;
	}
	struct ruleset *rs;
	rc = ruleset_build(cfg, d->n_workers, &rs, err, sizeof err);
	if (rc) {
		dlog(DLOG_ERROR, "reload: %s; keeping the running rules", err);
		config_free(cfg);
		return;
	}
	if (!listeners_same(d->boot_cfg, cfg))
		dlog(DLOG_WARN, "reload: listener changes take effect only after a restart");
	enum dlog_level lvl;
	if (cfg->log_level && dlog_parse_level(cfg->log_level, &lvl) == 0)
		dlog_set_level(lvl);
	struct ruleset *old = atomic_load(&d->active);
	rs->gen = old->gen + 1;
	/* Pointer first, then the generation: a worker that saw the new gen holds the new set. */
	atomic_store_explicit(&d->active, rs, memory_order_release);
	atomic_store_explicit(&d->gen, rs->gen, memory_order_release);
	old->retired_next = d->retired;
	d->retired = old;
	d->reloads++;
	for (unsigned i = 0; i < d->n_workers; i++)
		worker_wake(&d->workers[i]);
	if (d->eve)
		eve_writer_reopen(d->eve);
	dlog(DLOG_INFO, "reload: %zu families active (generation %" PRIu64 ")", cfg->n_families,
	     rs->gen);
}

static void stats_u64(struct dynbuf *b, const char *key, uint64_t v, int first)
{
	json_key(b, key, first);
	json_u64(b, v);
}

static void daemon_write_stats(struct daemon *d)
{
	if (!d->stats_path)
		return;
	struct worker_totals t;
	worker_stats_total(d->workers, d->n_workers, &t);
	struct recorder_stats rs;
	recorder_stats(d->rec, &rs);
	char ts[40];
	struct dynbuf b;
	dynbuf_init(&b, 1u << 20);
	dynbuf_adds(&b, "{");
	json_key(&b, "time", 1);
	json_cstr(&b, time_iso_us(time_now_us(), ts, sizeof ts));
	json_key(&b, "sensor", 0);
	json_cstr(&b, d->boot_cfg->sensor_id);
	stats_u64(&b, "pid", (uint64_t)getpid(), 0);
	stats_u64(&b, "uptime_s", (time_now_us() - d->started_us) / 1000000u, 0);
	stats_u64(&b, "workers", d->n_workers, 0);
	json_key(&b, "connections", 0);
	dynbuf_adds(&b, "{");
	stats_u64(&b, "open", t.open, 1);
	stats_u64(&b, "accepted", t.accepted, 0);
	stats_u64(&b, "refused_limit", t.refused_limit, 0);
	stats_u64(&b, "timeouts", t.timeouts, 0);
	stats_u64(&b, "bytes_in", t.bytes_in, 0);
	stats_u64(&b, "bytes_out", t.bytes_out, 0);
	dynbuf_adds(&b, "}");
	json_key(&b, "datagrams", 0);
	dynbuf_adds(&b, "{");
	stats_u64(&b, "received", t.dgram_in, 1);
	stats_u64(&b, "sent", t.dgram_out, 0);
	stats_u64(&b, "send_errors", t.dgram_send_errors, 0);
	stats_u64(&b, "held_dropped", t.dgram_held_dropped, 0);
	dynbuf_adds(&b, "}");
	const struct ruleset *cur = daemon_rules(d);
	if (cur->dns) {
		struct dns_zones_stats zs;
		dns_zones_get_stats(cur->dns, &zs);
		json_key(&b, "dns", 0);
		dynbuf_adds(&b, "{");
		stats_u64(&b, "seized_names", zs.names, 1);
		stats_u64(&b, "zone_bytes", zs.bytes, 0);
		stats_u64(&b, "zone_load_ms", zs.load_us / 1000, 0);
		stats_u64(&b, "rrl_dropped", t.dns_rrl_dropped, 0);
		stats_u64(&b, "rrl_slipped", t.dns_rrl_slipped, 0);
		dynbuf_adds(&b, "}");
	}
	stats_u64(&b, "requests", t.requests, 0);
	stats_u64(&b, "malformed", t.malformed, 0);
	json_key(&b, "events", 0);
	dynbuf_adds(&b, "{");
	stats_u64(&b, "recorded", t.events, 1);
	stats_u64(&b, "written", rs.written, 0);
	stats_u64(&b, "dropped_ring", rs.dropped_ring, 0);
	stats_u64(&b, "dropped_disk", rs.dropped_disk, 0);
	stats_u64(&b, "refused_unrecorded", t.refused_unrecorded, 0);
	stats_u64(&b, "waiting_bytes", rs.ring_used, 0);
	dynbuf_adds(&b, "}");
	json_key(&b, "log", 0);
	dynbuf_adds(&b, "{");
	stats_u64(&b, "segment", rs.segment, 1);
	stats_u64(&b, "bytes", rs.bytes, 0);
	stats_u64(&b, "batches", rs.batches, 0);
	stats_u64(&b, "syncs", rs.syncs, 0);
	dynbuf_adds(&b, "}");
	if (d->eve)
		stats_u64(&b, "eve_written", eve_writer_written(d->eve), 0);
	if (d->indexer)
		stats_u64(&b, "store_indexed", indexer_indexed(d->indexer), 0);
	json_key(&b, "rules", 0);
	dynbuf_adds(&b, "{");
	stats_u64(&b, "generation", daemon_rules_gen(d), 1);
	stats_u64(&b, "families", daemon_rules(d)->cfg->n_families, 0);
	stats_u64(&b, "reloads", d->reloads, 0);
	dynbuf_adds(&b, "}");
	json_key(&b, "listeners", 0);
	dynbuf_adds(&b, "[");
	for (unsigned i = 0; i < d->n_listeners; i++) {
		if (i)
			dynbuf_adds(&b, ",");
		dynbuf_adds(&b, "{");
		json_key(&b, "name", 1);
		json_cstr(&b, d->listeners[i].cfg->name);
		json_key(&b, "transport", 0);
		json_cstr(&b, d->listeners[i].dgram ? "udp" : "tcp");
		stats_u64(&b, "open", atomic_load(&d->listeners[i].open), 0);
		dynbuf_adds(&b, "}");
	}
	dynbuf_adds(&b, "]}\n");

	char tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", d->stats_path);
	if (n > 0 && (size_t)n < sizeof tmp && b.data) {
		FILE *f = fopen(tmp, "w");
		if (f) {
			fwrite(b.data, 1, b.len, f);
			if (fclose(f) == 0)
				rename(tmp, d->stats_path);
		}
	}
	dynbuf_free(&b);
}

/*
 * The admin listener's render function, on its own thread: everything read
 * here is an atomic counter or immutable after start-up (never the rule set,
 * which the main thread may free after a reload).
 */
static int daemon_render_metrics(void *arg, struct dynbuf *out)
{
	struct daemon *d = arg;
	struct worker_totals wt;
	struct recorder_stats rs;
	worker_stats_total(d->workers, d->n_workers, &wt);
	recorder_stats(d->rec, &rs);
	struct metrics_listener *ml = calloc(d->n_listeners ? d->n_listeners : 1, sizeof *ml);
	if (!ml)
		return ERR_NOMEM;
	for (unsigned i = 0; i < d->n_listeners; i++) {
		const struct listener *l = &d->listeners[i];
		ml[i] = (struct metrics_listener){ l->cfg->name, config_proto_name(l->cfg->proto),
						   l->dgram, atomic_load(&l->open) };
	}
	struct metrics_sensor s = {
		.sensor_id = d->boot_cfg->sensor_id,
		.version = SINKD_VERSION,
		.start_us = d->started_us,
		.now_us = time_now_us(),
		.workers = d->n_workers,
		.wt = &wt,
		.rs = &rs,
		.listeners = ml,
		.n_listeners = d->n_listeners,
		.tally = d->tally,
		.rules_generation = daemon_rules_gen(d),
		.eve = d->eve != NULL,
		.eve_written = d->eve ? eve_writer_written(d->eve) : 0,
	};
	struct log_pos at, end = { rs.segment, rs.segment_len };
	if (d->indexer) {
		s.store = true;
		s.store_indexed = indexer_indexed(d->indexer);
		indexer_position(d->indexer, &at);
		s.store_lag_known =
			log_distance(d->boot_cfg->log_dir, &at, &end, &s.store_lag_bytes) == 0;
	}
	if (d->eve) {
		eve_writer_position(d->eve, &at);
		s.eve_lag_known = log_distance(d->boot_cfg->log_dir, &at, &end, &s.eve_lag_bytes) ==
				  0;
	}
	int rc = metrics_sensor_render(out, &s);
	free(ml);
	return rc;
}

static void tally_append(void *arg, const uint8_t *rec, size_t len)
{
	metrics_tally_append(arg, rec, len);
}

static void tally_commit(void *arg, bool written)
{
	metrics_tally_commit(arg, written);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return ERR_SYS;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : ERR_SYS;
}

/* Waits for signals and ticks once a second until asked to stop. */
static void daemon_main_loop(struct daemon *d, int sfd)
{
	uint64_t next_tick = time_mono_ms();
	for (;;) {
		uint64_t now = time_mono_ms();
		if (now >= next_tick) {
			daemon_write_stats(d);
			daemon_reap_rules(d);
			next_tick = now + 1000;
		}
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		int n = poll(&pfd, 1, (int)(next_tick - now));
		if (n <= 0)
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
			continue;
		if (si.ssi_signo == SIGHUP) {
			dlog(DLOG_INFO, "SIGHUP: reloading %s", d->boot_cfg->path);
			daemon_reload(d);
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			dlog(DLOG_INFO, "%s: draining connections and flushing the log",
			     si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		} else if (si.ssi_signo == SIGUSR1) {
			daemon_write_stats(d);
		}
	}
}

static const char *fsync_name(enum config_fsync f)
{
	return f == CONFIG_FSYNC_ANSWERED ? "answered" :
	       f == CONFIG_FSYNC_NONE	  ? "none" :
					    "interval";
}

int daemon_run(const struct daemon_opts *o)
{
	struct daemon dd;
	struct daemon *d = &dd;
	memset(d, 0, sizeof *d);
	char err[512] = "";
	int status = 1;
	struct sign_key *skey = NULL;
	int sfd = -1;
	unsigned started_workers = 0, inited_workers = 0;
	d->started_us = time_now_us();

	int rc = config_load(o->config_path, &d->boot_cfg, err, sizeof err);
	if (rc) {
		dlog(DLOG_ERROR, "%s", err);
		return 1;
	}
	struct config *cfg = d->boot_cfg;
	if (o->log_dir) {
		char *dir = strdup(o->log_dir);
		if (!dir)
			goto out;
		free(cfg->log_dir);
		cfg->log_dir = dir;
	}
	enum dlog_level lvl;
	if (cfg->log_level && dlog_parse_level(cfg->log_level, &lvl) == 0)
		dlog_set_level(lvl);
	d->n_workers = o->workers > 0 ? (unsigned)o->workers : cfg->workers;
	if (d->n_workers == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		d->n_workers = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	if (d->n_workers > 1024)
		d->n_workers = 1024;

	struct ruleset *rs;
	rc = ruleset_build(cfg, d->n_workers, &rs, err, sizeof err);
	if (rc) {
		dlog(DLOG_ERROR, "%s: %s", cfg->path, err);
		goto out;
	}
	atomic_store(&d->active, rs);
	atomic_store(&d->gen, 0);

	/* Signals go to the main thread's signalfd; every thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit must fail the write (counted as dropped), not kill the sensor. */
	signal(SIGXFSZ, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		dlog(DLOG_ERROR, "signalfd: %s", strerror(errno));
		goto out;
	}
	raise_nofile();

	/* Bind while still root (ports below 1024), then give root up. */
	d->listeners = calloc(cfg->n_listeners * 2, sizeof *d->listeners);
	if (!d->listeners)
		goto out;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct config_listener *lc = &cfg->listeners[i];
		const struct proto_entry *pe = proto_lookup(lc->proto);
		if (!pe) {
			dlog(DLOG_ERROR, "listener %s: proto %s is not served by this build",
			     lc->name, config_proto_name(lc->proto));
			goto out;
		}
		unsigned stream = d->n_listeners;
		const struct proto_ops *sops = daemon_listener_stream_ops(lc);
		const struct proto_ops *dops = daemon_listener_dgram_ops(lc);
		if (sops && daemon_open_listener(d, lc, sops, false) != 0)
			goto out;
		if (dops && daemon_open_listener(d, lc, dops, true) != 0)
			goto out;
		/* TLS contexts are made now, while key files may still be root-only. */
		if (sops && daemon_listener_needs_tls(lc) &&
		    tls_server_new(lc, &d->listeners[stream].tls, err, sizeof err) != 0) {
			dlog(DLOG_ERROR, "listener %s: %s", lc->name, err);
			goto out;
		}
		if (sops && daemon_listener_state_init(&d->listeners[stream]) != 0) {
			dlog(DLOG_ERROR, "listener %s: out of memory", lc->name);
			goto out;
		}
	}
	if (cfg->metrics.listen) {
		if (metrics_http_open(&d->metrics, (const struct sockaddr *)&cfg->metrics.addr,
				      cfg->metrics.addr_len, daemon_render_metrics, d) != 0) {
			dlog(DLOG_ERROR, "metrics.listen %s: %s", cfg->metrics.listen,
			     strerror(errno));
			goto out;
		}
		dlog(DLOG_INFO, "metrics: serving /metrics on %s", cfg->metrics.listen);
	}
	/* The signing key is read before privileges are dropped: it may be root's alone. */
	if (cfg->signing_key) {
		rc = sign_key_load(cfg->signing_key, &skey);
		if (rc || !sign_key_has_private(skey)) {
			dlog(DLOG_ERROR, "log.signing_key %s: %s", cfg->signing_key,
			     rc == ERR_SYS ? strerror(errno) : "not a PEM Ed25519 private key");
			goto out;
		}
	}
	struct privdrop pd;
	rc = privdrop_prepare(&pd, cfg->user, cfg->group, err, sizeof err);
	if (rc) {
		dlog(DLOG_ERROR, "%s", err);
		goto out;
	}
	if (privdrop_own_dir(&pd, cfg->log_dir) != 0) {
		dlog(DLOG_ERROR, "log dir %s: %s", cfg->log_dir, strerror(errno));
		goto out;
	}
	if (privdrop_apply(&pd) != 0) {
		dlog(DLOG_ERROR, "dropping privileges to %s: %s", cfg->user, strerror(errno));
		goto out;
	}
	if (pd.active)
		dlog(DLOG_INFO, "running as user %s (uid %u, gid %u)", pd.name, (unsigned)pd.uid,
		     (unsigned)pd.gid);

	/* The tally costs the log writer ~600 instructions a record: only when someone scrapes it. */
	if (cfg->metrics.listen && metrics_tally_new(&d->tally) != 0)
		goto out;
	struct recorder_opts ro = {
		.log_dir = cfg->log_dir,
		.sensor_id = cfg->sensor_id,
		.segment_bytes = cfg->segment_bytes,
		.ring_bytes = cfg->ring_bytes,
		.lanes = d->n_workers,
		.fsync = cfg->fsync,
		.fsync_interval_ms = cfg->fsync_interval_ms,
		.sign_key = skey,
		.on_append = d->tally ? tally_append : NULL,
		.on_commit = d->tally ? tally_commit : NULL,
		.hook_arg = d->tally,
	};
	skey = NULL; /* the recorder owns it now */
	struct log_recovery recov;
	memset(&recov, 0, sizeof recov);
	rc = recorder_start(&d->rec, &ro, &recov);
	if (rc) {
		dlog(DLOG_ERROR, "event log %s: %s%s%s", cfg->log_dir, err_str(rc),
		     rc == ERR_SYS ? ": " : "", rc == ERR_SYS ? strerror(errno) : "");
		goto out;
	}
	if (recov.cut_bytes || recov.sealed_records)
		dlog(DLOG_WARN,
		     "event log recovered after a crash: cut %" PRIu64
		     " torn bytes, sealed %" PRIu64 " records",
		     recov.cut_bytes, recov.sealed_records);
	dlog(DLOG_INFO, "event log %s: %" PRIu64 " records in %" PRIu32 " segment(s), fsync %s",
	     cfg->log_dir, recov.records, recov.segment, fsync_name(cfg->fsync));

	if (cfg->eve_file) {
		rc = eve_writer_start(&d->eve, cfg->log_dir, cfg->eve_file);
		if (rc) {
			dlog(DLOG_ERROR, "eve file %s: cannot start", cfg->eve_file);
			goto out;
		}
	}
	if (cfg->store.path) {
		rc = indexer_start_config(&d->indexer, cfg);
		if (rc) {
			dlog(DLOG_ERROR, "store %s: cannot start", cfg->store.path);
			goto out;
		}
	}
	d->stats_path = cfg->stats_file;
	if (cfg->pid_file && write_pid_file(cfg->pid_file) != 0)
		dlog(DLOG_WARN, "pid file %s: %s", cfg->pid_file, strerror(errno));

	d->workers = calloc(d->n_workers, sizeof *d->workers);
	if (!d->workers)
		goto out;
	for (unsigned i = 0; i < d->n_workers; i++) {
		rc = worker_init(&d->workers[i], i, d, d->listeners, d->n_listeners,
				 recorder_lane(d->rec, i), cfg->fsync == CONFIG_FSYNC_ANSWERED);
		inited_workers++;
		if (rc == 0)
			rc = worker_start(&d->workers[i]);
		if (rc) {
			dlog(DLOG_ERROR, "worker %u: %s", i, err_str(rc));
			goto out;
		}
		started_workers++;
	}
	if (d->metrics && metrics_http_start(d->metrics) != 0) {
		dlog(DLOG_ERROR, "metrics: cannot start its thread");
		goto out;
	}
	dlog(DLOG_INFO, "sinkd %s ready: sensor %s, %u workers, %zu families", SINKD_VERSION,
	     cfg->sensor_id, d->n_workers, cfg->n_families);

	daemon_main_loop(d, sfd);
	status = 0;
out:
	/* The admin thread reads the workers and the recorder: it goes first. */
	metrics_http_stop(d->metrics);
	for (unsigned i = 0; i < started_workers; i++)
		worker_request_stop(&d->workers[i]);
	for (unsigned i = 0; i < started_workers; i++)
		worker_join(&d->workers[i]);
	if (d->rec) {
		rc = recorder_stop(d->rec);
		if (rc) {
			dlog(DLOG_ERROR, "event log closed with an error: %s", err_str(rc));
			status = 1;
		}
		d->rec = NULL;
	}
	if (d->eve)
		eve_writer_stop(d->eve);
	if (d->indexer)
		indexer_stop(d->indexer);
	if (d->workers) {
		for (unsigned i = 0; i < inited_workers; i++)
			worker_destroy(&d->workers[i]);
		free(d->workers);
	}
	for (unsigned i = 0; i < d->n_listeners; i++) {
		daemon_listener_state_free(&d->listeners[i]);
		tls_server_free(d->listeners[i].tls);
		listener_free(&d->listeners[i]);
	}
	free(d->listeners);
	if (cfg->pid_file && status == 0)
		unlink(cfg->pid_file);
	struct ruleset *act = atomic_load(&d->active);
	while (d->retired) {
		struct ruleset *r = d->retired;
		d->retired = r->retired_next;
		ruleset_free(r, d->boot_cfg);
	}
	ruleset_free(act, d->boot_cfg);
	config_free(d->boot_cfg);
	metrics_tally_free(d->tally);
	sign_key_free(skey);
	if (sfd >= 0)
		close(sfd);
	if (status == 0)
		dlog(DLOG_INFO, "stopped");
	return status;
}
