/* store_internal.h — what a store backend implements: the operations behind store.h. */
#ifndef SINKD_STORE_STORE_INTERNAL_H
#define SINKD_STORE_STORE_INTERNAL_H

#include "store/store.h"

/*
 * A backend embeds `struct store` as the first member of its own handle and
 * fills in every operation; store.c dispatches by the path's scheme: SQLite
 * (a file), ClickHouse ("clickhouse://", issue 9).
 */
struct store_ops {
	const char *name;
	int (*open)(struct store **out, const char *path, bool rw, char *err, size_t errlen);
	void (*close)(struct store *s);
	int (*get_pos)(struct store *s, struct log_pos *pos);
	int (*ingest)(struct store *s, const struct store_event *ev, size_t n,
		      const struct log_pos *from, const struct log_pos *next);
	int (*compact)(struct store *s);
	int (*scan)(struct store *s, const struct store_filter *f, store_event_fn fn, void *ctx);
	int (*daily)(struct store *s, const struct store_filter *f, store_daily_fn fn, void *ctx);
	int (*unique_sources)(struct store *s, const struct store_filter *f, uint64_t *out);
	int (*bots)(struct store *s, const struct store_filter *f, store_bots_fn fn, void *ctx);
	/* The web API's reads (store.h); the scope is checked non-NULL by store.c. */
	int (*series)(struct store *s, const struct store_query *q, unsigned bucket_days,
		      bool per_family, store_series_fn fn, void *ctx);
	int (*top)(struct store *s, const struct store_query *q, enum store_top_by by, size_t limit,
		   store_top_fn fn, void *ctx);
	int (*hosts)(struct store *s, const struct store_query *q, const struct store_host *after,
		     size_t limit, store_host_fn fn, void *ctx);
	int (*events_page)(struct store *s, const struct store_query *q, uint64_t after_id,
			   size_t limit, store_event_id_fn fn, void *ctx);
	int (*count_events)(struct store *s, uint64_t *n);
};

struct store {
	const struct store_ops *ops;
};

extern const struct store_ops store__sqlite_ops;
extern const struct store_ops store__clickhouse_ops;

/* The ClickHouse backend; pos_path NULL: read-only (reports), else the shipper of one log. */
int store__clickhouse_open(struct store **out, const char *url, const char *pos_path, char *err,
			   size_t errlen);

/* The filter's address and country conditions (nets, ccs) for one source address. */
bool store__filter_addr(const struct store_filter *f, uint8_t ipver, const uint8_t *addr,
			const char *cc);

/*
 * store_hosts' ports and fingerprints, the same in every backend: per page
 * address (det sorted by ipver, address), a few distinct short values
 * comma-separated, bounded, in the order the events are noted (log order).
 */
#define STORE_HOST_SET_BYTES 512
struct store__host_detail {
	uint8_t ipver;
	uint8_t addr[16];
	char set[4][STORE_HOST_SET_BYTES]; /* ports, agents, server names, bot IDs */
};
/* Notes one event of a page address: its destination port, user agent, server name, bot ID. */
void store__host_note(struct store__host_detail *det, size_t n, uint8_t ipver, const uint8_t *addr,
		      unsigned port, const struct store_str txt[3]);
/* The Monday of a day's calendar week (days since the epoch, UTC; day 0 was a Thursday). */
int64_t store__week_of(int64_t day);

/* Sorts a comma-separated list in place by name (bytes): hosts' families, whatever the backend. */
int store__sort_list(char *csv);

#endif
