/* daemon.h — the sensor process: config, listeners, workers, recorder, EVE writer, signals, stats. */
#ifndef SINKD_NET_DAEMON_H
#define SINKD_NET_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/rules.h"

struct http_answers;
struct dns_zones;

/*
 * What a reload may change: the families, the default answer and the log
 * level. Immutable once published; workers pick up the newest at each turn of
 * their loop and the daemon frees an old one once every worker has moved on.
 */
struct ruleset {
	struct config *cfg; /* owned: the config this rule set was compiled from */
	struct rules *rules;
	struct http_answers *http; /* prebuilt HTTP answers, by rule index */
	struct dns_zones *dns;	   /* seized-zone table (NULL without a dns section) */
	uint64_t gen;
	struct ruleset *retired_next;
};

struct daemon;

struct daemon_opts {
	const char *config_path;
	int workers;	     /* > 0 overrides the config */
	const char *log_dir; /* overrides the config */
};

/* Runs the sensor until SIGTERM/SIGINT. Returns the process exit status. */
int daemon_run(const struct daemon_opts *o);

/*
 * A rule set compiled from cfg exactly as the daemon compiles its own, with
 * `slots` copies of the regular expressions (one per thread that classifies).
 * cfg stays the caller's. For socketless drivers (replay, fuzzing).
 */
int ruleset_new(struct config *cfg, unsigned slots, struct ruleset **out, char *errbuf,
		size_t errlen);
void ruleset_release(struct ruleset *rs);

/*
 * The modules that serve a configured listener over TCP and over UDP (the
 * daemon's own table and the listener's transports), or NULL when it has
 * none; and whether its TCP side needs a TLS context (tls_server_new).
 */
struct proto_ops;
const struct proto_ops *daemon_listener_stream_ops(const struct config_listener *lc);
const struct proto_ops *daemon_listener_dgram_ops(const struct config_listener *lc);
bool daemon_listener_needs_tls(const struct config_listener *lc);
/* A stream listener's per-listener module state (listener.proto_state: SMTP campaigns). */
struct listener;
int daemon_listener_state_init(struct listener *l);
void daemon_listener_state_free(struct listener *l);

/* For workers. */
const struct ruleset *daemon_rules(struct daemon *d);
uint64_t daemon_rules_gen(struct daemon *d);
uint32_t daemon_drain_timeout_ms(struct daemon *d);

#endif
