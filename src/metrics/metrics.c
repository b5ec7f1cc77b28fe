/* metrics.c — the sensor's and the web server's metric families, from counters they already keep. */
#include "metrics/metrics.h"

#include <string.h>

#include "core/err.h"
#include "metrics/prom.h"

static struct prom_label lbl(const char *name, const char *value)
{
	return (struct prom_label){ name, value, strlen(value) };
}

/* What both processes say about themselves. */
static void render_process(struct prom *p, const char *component, const char *version,
			   const char *sensor, uint64_t start_us, uint64_t now_us)
{
	struct prom_label l[3] = { lbl("component", component), lbl("version", version) };
	size_t n = 2;
	if (sensor)
		l[n++] = lbl("sensor", sensor);
	prom_family(p, "sinkd_build_info", PROM_GAUGE,
		    "Always 1; the labels name the program, its version and the sensor.");
	prom_sample(p, l, n, 1);
	prom_single(p, "sinkd_start_time_seconds", PROM_GAUGE,
		    "When the process started, seconds since the Unix epoch.", start_us / 1000000u);
	prom_single(p, "sinkd_uptime_seconds", PROM_GAUGE, "Seconds since the process started.",
		    now_us > start_us ? (now_us - start_us) / 1000000u : 0);
}

/* A counter family with one label taking a few fixed values. */
static void render_by(struct prom *p, const char *name, const char *help, const char *label,
		      const char *const *values, const uint64_t *counts, size_t n)
{
	prom_family(p, name, PROM_COUNTER, help);
	for (size_t i = 0; i < n; i++) {
		struct prom_label l = lbl(label, values[i]);
		prom_sample(p, &l, 1, counts[i]);
	}
}

int metrics_sensor_render(struct dynbuf *out, const struct metrics_sensor *s)
{
	struct prom p;
	prom_init(&p, out);
	const struct worker_totals *wt = s->wt;
	const struct recorder_stats *rs = s->rs;
	render_process(&p, "sensor", s->version, s->sensor_id, s->start_us, s->now_us);
	prom_single(&p, "sinkd_workers", PROM_GAUGE, "Worker threads.", s->workers);

	/* Events: what the log holds, by listener and family; what did not get there. */
	prom_family(&p, "sinkd_events_total", PROM_COUNTER,
		    "Events written to the log since the start, by listener and family.");
	size_t n = s->tally ? metrics_tally_count(s->tally) : 0;
	for (size_t i = 0; i < n; i++) {
		struct metrics_tally_entry_view v;
		metrics_tally_get(s->tally, i, &v);
		struct prom_label l[2] = { { "listener", v.listener, v.listener_len },
					   { "family", v.family, v.family_len } };
		prom_sample(&p, l, 2, v.events);
	}
	prom_single(&p, "sinkd_events_submitted_total", PROM_COUNTER,
		    "Events the workers handed to their rings.", wt->events);
	static const char *const drop_reasons[] = { "ring_full", "disk" };
	const uint64_t drops[] = { rs->dropped_ring, rs->dropped_disk };
	render_by(&p, "sinkd_events_dropped_total",
		  "Events lost: a worker's ring was full, or the log write failed (disk).",
		  "reason", drop_reasons, drops, 2);
	static const char *const refuse_reasons[] = { "limit", "unrecorded" };
	const uint64_t refused[] = { wt->refused_limit, wt->refused_unrecorded };
	render_by(&p, "sinkd_connections_refused_total",
		  "Connections closed unanswered: max_connections reached (limit), or their event "
		  "could not be recorded in fsync answered mode (unrecorded).",
		  "reason", refuse_reasons, refused, 2);
	prom_single(&p, "sinkd_malformed_total", PROM_COUNTER,
		    "Requests, queries, sessions and handshakes that violated their protocol.",
		    wt->malformed);
	prom_single(&p, "sinkd_requests_total", PROM_COUNTER,
		    "Requests, queries, transactions and captures handled.", wt->requests);

	/* Connections. */
	prom_family(&p, "sinkd_connections_open", PROM_GAUGE,
		    "Connections open now, by listener (TCP sides only).");
	for (size_t i = 0; i < s->n_listeners; i++) {
		const struct metrics_listener *ml = &s->listeners[i];
		if (ml->udp)
			continue;
		struct prom_label l[2] = { lbl("listener", ml->name), lbl("proto", ml->proto) };
		prom_sample(&p, l, 2, ml->open);
	}
	prom_single(&p, "sinkd_connections_accepted_total", PROM_COUNTER, "Connections accepted.",
		    wt->accepted);
	prom_single(&p, "sinkd_connections_timed_out_total", PROM_COUNTER,
		    "Connections closed by a header or idle timeout.", wt->timeouts);
	prom_single(&p, "sinkd_received_bytes_total", PROM_COUNTER,
		    "Bytes received on connections and in datagrams.", wt->bytes_in);
	prom_single(&p, "sinkd_sent_bytes_total", PROM_COUNTER,
		    "Bytes sent on connections and in datagrams.", wt->bytes_out);
	prom_single(&p, "sinkd_datagrams_received_total", PROM_COUNTER,
		    "Datagrams received on UDP listeners.", wt->dgram_in);
	prom_single(&p, "sinkd_datagrams_sent_total", PROM_COUNTER, "Datagram replies sent.",
		    wt->dgram_out);
	static const char *const dg_reasons[] = { "send_error", "held_queue_full" };
	const uint64_t dg_drops[] = { wt->dgram_send_errors, wt->dgram_held_dropped };
	render_by(&p, "sinkd_datagram_replies_dropped_total",
		  "Datagram replies not sent: refused by the kernel, or the queue of replies held "
		  "for durability (fsync answered) was full.",
		  "reason", dg_reasons, dg_drops, 2);

	/* DNS response rate limiting. */
	static const char *const rrl_actions[] = { "drop", "slip" };
	const uint64_t rrl[] = { wt->dns_rrl_dropped, wt->dns_rrl_slipped };
	render_by(&p, "sinkd_dns_rrl_actions_total",
		  "DNS answers withheld by response rate limiting (drop) or sent as empty TC=1 "
		  "answers instead (slip).",
		  "action", rrl_actions, rrl, 2);

	/* The log. */
	prom_single(&p, "sinkd_log_records_total", PROM_COUNTER,
		    "Records written to the log since the start.", rs->written);
	prom_single(&p, "sinkd_log_bytes_total", PROM_COUNTER,
		    "Bytes written to the log since the start (frames, seals, segment headers).",
		    rs->bytes);
	prom_single(&p, "sinkd_log_batches_total", PROM_COUNTER, "Batches committed to the log.",
		    rs->batches);
	prom_single(&p, "sinkd_log_syncs_total", PROM_COUNTER, "fdatasync calls on the log.",
		    rs->syncs);
	prom_single(&p, "sinkd_log_segment", PROM_GAUGE, "Number of the segment being written.",
		    rs->segment);
	prom_single(&p, "sinkd_log_segment_bytes", PROM_GAUGE,
		    "Bytes of the segment being written.", rs->segment_len);
	prom_single(&p, "sinkd_ring_waiting_bytes", PROM_GAUGE,
		    "Bytes of events waiting in the workers' rings for the log writer.",
		    rs->ring_used);

	/* Consumers of the log. */
	if (s->store || s->eve) {
		prom_family(&p, "sinkd_consumer_records_total", PROM_COUNTER,
			    "Log records a consumer processed since the start.");
		struct prom_label l = lbl("consumer", "store");
		if (s->store)
			prom_sample(&p, &l, 1, s->store_indexed);
		l = lbl("consumer", "eve");
		if (s->eve)
			prom_sample(&p, &l, 1, s->eve_written);
	}
	bool store_lag = s->store && s->store_lag_known, eve_lag = s->eve && s->eve_lag_known;
	if (store_lag || eve_lag) {
		prom_family(&p, "sinkd_consumer_lag_bytes", PROM_GAUGE,
			    "Log bytes between a consumer's position and the log's end.");
		struct prom_label l = lbl("consumer", "store");
		if (store_lag)
			prom_sample(&p, &l, 1, s->store_lag_bytes);
		l = lbl("consumer", "eve");
		if (eve_lag)
			prom_sample(&p, &l, 1, s->eve_lag_bytes);
	}
	prom_single(&p, "sinkd_rules_generation", PROM_GAUGE,
		    "Rule-set generation: 0 at start, one more per successful reload.",
		    s->rules_generation);
	return prom_finish(&p);
}

int metrics_web_init(struct metrics_web *m, const char *const *routes, size_t n, uint64_t now_us)
{
	memset(m, 0, sizeof *m);
	if (n == 0 || n > METRICS_WEB_ROUTES_MAX)
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++)
		if (!routes[i] || !routes[i][0])
			return ERR_INVAL;
	m->routes = routes;
	m->n_routes = n;
	m->start_us = now_us;
	return 0;
}

void metrics_web_request(struct metrics_web *m, size_t route, unsigned status, uint64_t bytes)
{
	if (route >= m->n_routes || status < 100 || status > 599)
		return;
	atomic_fetch_add_explicit(&m->requests[route][status / 100 - 1], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->bytes_sent, bytes, memory_order_relaxed);
}

void metrics_web_auth_failure(struct metrics_web *m)
{
	atomic_fetch_add_explicit(&m->auth_failures, 1, memory_order_relaxed);
}

void metrics_web_conn_open(struct metrics_web *m)
{
	atomic_fetch_add_explicit(&m->connections_open, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->connections_accepted, 1, memory_order_relaxed);
}

void metrics_web_conn_close(struct metrics_web *m)
{
	atomic_fetch_sub_explicit(&m->connections_open, 1, memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

int metrics_web_render(struct dynbuf *out, const struct metrics_web *m, const char *version,
		       uint64_t now_us, const struct metrics_web_store *store)
{
	static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct prom p;
	prom_init(&p, out);
	render_process(&p, "web", version, NULL, m->start_us, now_us);
	prom_family(&p, "sinkd_web_requests_total", PROM_COUNTER,
		    "HTTP requests answered, by route and status class.");
	for (size_t r = 0; r < m->n_routes; r++)
		for (size_t c = 0; c < 5; c++) {
			uint64_t v = load(&m->requests[r][c]);
			if (!v && c != 1)
				continue; /* classes never seen stay out, 2xx is always there */
			struct prom_label l[2] = { lbl("route", m->routes[r]),
						   lbl("code", classes[c]) };
			prom_sample(&p, l, 2, v);
		}
	prom_single(&p, "sinkd_web_sent_bytes_total", PROM_COUNTER, "Bytes of answers sent.",
		    load(&m->bytes_sent));
	prom_single(&p, "sinkd_web_auth_failures_total", PROM_COUNTER,
		    "Requests refused for a missing, unknown, revoked or out-of-scope token.",
		    load(&m->auth_failures));
	prom_single(&p, "sinkd_web_connections_open", PROM_GAUGE, "Connections open now.",
		    load(&m->connections_open));
	prom_single(&p, "sinkd_web_connections_accepted_total", PROM_COUNTER,
		    "Connections accepted.", load(&m->connections_accepted));
	if (store) {
		prom_single(&p, "sinkd_store_events", PROM_GAUGE, "Events the store holds.",
			    store->events);
		if (store->lag_known) {
			prom_family(&p, "sinkd_consumer_lag_bytes", PROM_GAUGE,
				    "Log bytes between a consumer's position and the log's end.");
			struct prom_label l = lbl("consumer", "store");
			prom_sample(&p, &l, 1, store->lag_bytes);
		}
	}
	return prom_finish(&p);
}
