/* store.h — the event store: enriched events and daily aggregates, queried by reports and the web UI. */
#ifndef SINKD_STORE_STORE_H
#define SINKD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

/*
 * One interface, several backends (store_internal.h): the embedded SQLite
 * store (store_sqlite.c, WAL mode) and ClickHouse (store_clickhouse.c: a
 * cluster many sensors ship to, docs/clickhouse.md). A store holds, per event, what a report needs (the Shadowserver
 * columns) plus daily aggregates:
 *   - unique source addresses per family, ASN, country and UTC day, with
 *     each address's first/last time seen that day and its event count;
 *   - first/last seen per address over all time.
 * Aggregates count infections only: classified events (a family other than
 * "unknown") that are not DNS resolver queries (STORE_KIND_DNS).
 *
 * The indexer writes rows and the log position they end at in one
 * transaction (store_ingest), so after a crash it resumes exactly after the
 * last committed record: nothing lost, nothing counted twice.
 *
 * A store handle is used by one thread at a time; open one per thread.
 */

struct store;

/* Which Shadowserver report an event belongs to. */
enum store_kind {
	STORE_KIND_HTTP = 1, /* event4_sinkhole_http / event6_sinkhole_http */
	STORE_KIND_TCP = 2,  /* event4_sinkhole / event6_sinkhole (TLS, SMTP, raw, other) */
	STORE_KIND_DNS = 3,  /* event4_sinkhole_dns: resolver queries, never infections */
};

struct store_str {
	const char *p; /* not NUL-terminated; NULL or len 0 = absent */
	size_t len;
};

/* Text columns, in one array so backends can loop over them. */
enum store_col {
	STORE_C_FAMILY,
	STORE_C_TAG,
	STORE_C_SENSOR,
	STORE_C_HTTP_URL,
	STORE_C_HTTP_HOST,
	STORE_C_HTTP_AGENT,
	STORE_C_FORWARDED_BY,
	STORE_C_HTTP_REFERER,
	STORE_C_SSL_SERVERNAME,
	STORE_C_MACHINE_NAME,
	STORE_C_QUERY_TYPE,
	STORE_C_QUERY,
	STORE_C_BOT_ID,	    /* from the rules in store.bot_ids */
	STORE_C_SSL_CIPHER, /* negotiated TLS cipher suite (IANA name, or 0xHHHH) */
	STORE_C_N
};

struct store_event {
	uint64_t ts_us; /* µs since the epoch, UTC */
	uint8_t kind;	/* enum store_kind */
	uint8_t type;	/* enum event_type */
	uint8_t transport;
	uint8_t ipver;
	uint16_t flags;
	uint16_t src_port, dst_port;
	uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes */
	uint32_t src_asn, dst_asn;
	char src_cc[3], dst_cc[3];
	struct store_str col[STORE_C_N];
	char qtype_buf[12]; /* backs col[STORE_C_QUERY_TYPE] for types without a mnemonic ("TYPE999") */
	char cipher_buf[8]; /* backs col[STORE_C_SSL_CIPHER] for suites without a name here ("0xC02F") */
	struct log_pos pos; /* where the record starts in its sensor's log (ClickHouse's row key) */
};

/* Counted as an infection: classified (family not "unknown") and not a DNS resolver query. */
bool store_is_infection(const struct store_event *e);

/*
 * Opens (creating if rw) the store at path: a file path or "sqlite:PATH"
 * (other schemes name backends not in this build: ERR_UNSUPPORTED). err gets
 * a message.
 */
int store_open(struct store **out, const char *path, bool rw, char *err, size_t errlen);
/*
 * Opens the store to ingest the log in log_dir (read-write). The embedded
 * store keeps the log position inside; "clickhouse://..." (a cluster many
 * sensors share) keeps each log's shipping position beside the log, in
 * log_dir/clickhouse.pos (docs/clickhouse.md).
 */
int store_open_ingest(struct store **out, const char *path, const char *log_dir, char *err,
		      size_t errlen);
/* True for a store on another machine (ClickHouse): ingest in bigger, rarer batches. */
bool store_path_is_remote(const char *path);
void store_close(struct store *s);

/* Log position the store has indexed up to ({0,0} for a new store). */
int store_get_pos(struct store *s, struct log_pos *pos);
/*
 * Records n events and the position after them, atomically, provided the
 * store is still at `from` (where the events start): a second indexer on the
 * same store gets ERR_INVAL (nothing written) instead of storing the events
 * twice.
 */
int store_ingest(struct store *s, const struct store_event *ev, size_t n,
		 const struct log_pos *from, const struct log_pos *next);

/* Merges the pending aggregate rows now (normally done every few million rows). */
int store_compact(struct store *s);

/* Selection for reads. Days are days since the epoch (UTC), inclusive. */
struct store_net {
	uint8_t ipver, plen;
	uint8_t addr[16];
};

struct store_filter {
	int64_t day_from, day_to;
	const uint32_t *asns; /* any of these; n_asns == 0: any ASN */
	size_t n_asns;
	const struct store_net *nets; /* any of these; 0: any address */
	size_t n_nets;
	const char (*ccs)[3]; /* any of these countries; 0: any */
	size_t n_ccs;
	bool infections_only; /* classified, not DNS */
};

/* Rows in log order. The callback's event is valid during the call; return non-0 to stop. */
typedef int (*store_event_fn)(void *ctx, const struct store_event *ev);
int store_scan(struct store *s, const struct store_filter *f, store_event_fn fn, void *ctx);

/* Daily aggregate rows: unique addresses and events per (day, family, ASN, country). */
struct store_daily {
	int64_t day;
	const char *family;
	uint32_t asn;
	const char *cc;
	uint64_t unique_src;
	uint64_t events;
};
typedef int (*store_daily_fn)(void *ctx, const struct store_daily *d);
int store_daily(struct store *s, const struct store_filter *f, store_daily_fn fn, void *ctx);

/* Unique bot identifiers per (day, family) (store.bot_ids), over the filter's days only. */
struct store_bots {
	int64_t day;
	const char *family;
	uint64_t unique_bots;
	uint64_t events;
};
typedef int (*store_bots_fn)(void *ctx, const struct store_bots *b);
int store_bots(struct store *s, const struct store_filter *f, store_bots_fn fn, void *ctx);

/* Unique infected source addresses over the filter's whole day range. */
int store_unique_sources(struct store *s, const struct store_filter *f, uint64_t *out);

/* True if the address lies in the net (same family). */
bool store_net_contains(const struct store_net *n, uint8_t ipver, const uint8_t *addr);

/*
 * Reads for the web API (docs/api.md). Each takes a mandatory scope: what the
 * caller may see, enforced in the backend's query itself, so no caller (the
 * web server, a future one) can forget it. A scope is a union: an address is
 * in scope when its ASN is one of `asns`, OR it lies in one of `nets`, OR its
 * country is one of `ccs`; `all` (admin) lets everything through. An empty
 * scope that is not `all` sees nothing. The query's own filter (struct
 * store_filter: days, asns AND nets AND ccs, infections_only) narrows it
 * further. ASN and country are the source's, as enriched at indexing time.
 * A NULL scope is ERR_INVAL.
 */
struct store_scope {
	bool all;
	const uint32_t *asns;
	size_t n_asns;
	const struct store_net *nets;
	size_t n_nets;
	const char (*ccs)[3];
	size_t n_ccs;
};

struct store_query {
	const struct store_scope *scope; /* mandatory */
	struct store_filter f;		 /* days inclusive; lists AND-combined */
	const char *family;		 /* NUL-terminated; NULL = any family */
};

/*
 * Infected population over time: unique source addresses and events per
 * (bucket, family). bucket_days 1: per day; 0: per calendar week (Monday to
 * Sunday, `day` its Monday; the weeks that overlap the filter's days, each
 * counted whole); N: N consecutive days from q->f.day_from. Rows ordered by
 * bucket, family; a bucket without infections has no row. Without
 * per_family, one row per bucket over all families (family ""; an address
 * seen under two families counts once).
 * Days and weeks are meant to be cheap whatever the store's size (the SQLite
 * backend keeps a rollup for scopes and filters by ASN and country); other
 * buckets and prefix scopes count the aggregate rows.
 */
struct store_series_row {
	int64_t day;	    /* first day of the bucket */
	const char *family; /* "" without per_family */
	uint64_t unique_src;
	uint64_t events;
};
typedef int (*store_series_fn)(void *ctx, const struct store_series_row *r);
int store_series(struct store *s, const struct store_query *q, unsigned bucket_days,
		 bool per_family, store_series_fn fn, void *ctx);

/* Top networks: unique infected addresses and events by source ASN or by country, most first. */
enum store_top_by {
	STORE_TOP_ASN = 1,
	STORE_TOP_CC = 2
};
struct store_top_row {
	uint32_t asn; /* STORE_TOP_ASN */
	char cc[3];   /* STORE_TOP_CC; with STORE_TOP_ASN the ASN's (first) country */
	uint64_t unique_src;
	uint64_t events;
};
typedef int (*store_top_fn)(void *ctx, const struct store_top_row *r);
int store_top(struct store *s, const struct store_query *q, enum store_top_by by, size_t limit,
	      store_top_fn fn, void *ctx);

/*
 * Infected hosts (one row per source address) over the days, ordered by
 * (ipver, address), starting after `after` (keyset paging; after->ipver 0 =
 * from the start), at most `limit`. Ports and fingerprints are the distinct
 * destination ports, user agents, TLS server names and bot IDs of its events
 * (comma-separated, a few each; valid during the call).
 */
struct store_host {
	uint8_t ipver;
	uint8_t addr[16];
	uint32_t asn;
	char cc[3];
	uint64_t first_us, last_us, events;
	const char *families; /* comma-separated, in name order */
	const char *ports;
	const char *agents;
	const char *servernames;
	const char *bot_ids;
};
typedef int (*store_host_fn)(void *ctx, const struct store_host *h);
int store_hosts(struct store *s, const struct store_query *q, const struct store_host *after,
		size_t limit, store_host_fn fn, void *ctx);

/*
 * Events in log order with a stable id (increasing in log order), ids
 * greater than after_id only, at most `limit` (keyset paging: pass the last
 * id seen). Scope and filter apply to the source address.
 */
typedef int (*store_event_id_fn)(void *ctx, uint64_t id, const struct store_event *ev);
int store_events_page(struct store *s, const struct store_query *q, uint64_t after_id, size_t limit,
		      store_event_id_fn fn, void *ctx);

/* Events the store holds (every kind; for the web server's /metrics). */
int store_count_events(struct store *s, uint64_t *n);

/* True if the scope lets through a source with this address, ASN and country (same rule). */
bool store_scope_contains(const struct store_scope *sc, uint8_t ipver, const uint8_t *addr,
			  uint32_t asn, const char *cc);

#endif
