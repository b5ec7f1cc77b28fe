/* cmd_log.c — `sinkd log cat` (EVE JSON lines) and `sinkd log stats` (summary) of a log. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/event.h"
#include "core/json.h"
#include "core/log.h"
#include "report/eve.h"
#include "tools/commands.h"

#define CAT_FLUSH_BYTES (256u << 10) /* write stdout in chunks of at least this */
#define CAT_OUT_MAX	(8u << 20)   /* one EVE line is < 1 MiB even for a 64 KiB record */
#define CAT_POLL_NS	100000000L   /* --follow: 100 ms between polls at the end of the log */

#define STATS_NAME_MAX	255  /* family / listener names are compared on their first 255 bytes */
#define STATS_NAMES_MAX 1024 /* distinct names kept; the rest are counted under "(other)" */
#define STATS_WINDOW	256  /* seconds of disorder the peak-per-second count tolerates */
#define ADDR_KEY_LEN	17   /* ip version, then 16 address bytes */

/* Set by SIGINT/SIGTERM while following; the only mutable global. */
static volatile sig_atomic_t log_stop;

static void log_on_signal(int sig)
{
	(void)sig;
	log_stop = 1;
}

static void log_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = log_on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the poll sleep returns at once on Ctrl-C. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static const char *log_errstr(int rc)
{
	return rc == ERR_SYS ? strerror(errno) : err_str(rc);
}

static int log_usage(FILE *to, int status)
{
	fprintf(to,
		"usage: sinkd log cat [--follow] [--from SEG:OFF] [--family NAME] DIR\n"
		"       sinkd log stats [--json] DIR\n"
		"\n"
		"Look inside an event log directory.\n"
		"  cat     print every record as one Suricata-style EVE JSON line\n"
		"  stats   summary: events, time span, rate, families, sources, flags, listeners\n"
		"\n"
		"`sinkd log cat --help` and `sinkd log stats --help` for the options.\n");
	return status;
}

static int cat_usage(FILE *to, int status)
{
	if (status) {
		fprintf(to, "usage: sinkd log cat [--follow] [--from SEG:OFF] [--family NAME] DIR"
			    "   (--help for more)\n");
		return status;
	}
	fprintf(to,
		"usage: sinkd log cat [--follow] [--from SEG:OFF] [--family NAME] DIR\n"
		"\n"
		"Prints every record of the log in DIR as an EVE JSON line on stdout (keys in\n"
		"docs/eve.md). Only sealed records are shown, so a log being written can be read.\n"
		"\n"
		"  --follow        at the end of the log, wait for new records (poll every\n"
		"                  100 ms) until SIGINT or SIGTERM\n"
		"  --from SEG:OFF  start at this position (segment number, byte offset of a\n"
		"                  record)\n"
		"  --family NAME   only records of this family (no family counts as \"unknown\")\n"
		"  --help          this text\n"
		"\n"
		"Exit status: 0 done, 1 the log is damaged or unreadable (the position is named),\n"
		"2 usage error.\n");
	return status;
}

static int stats_usage(FILE *to, int status)
{
	if (status) {
		fprintf(to, "usage: sinkd log stats [--json] DIR   (--help for more)\n");
		return status;
	}
	fprintf(to,
		"usage: sinkd log stats [--json] DIR\n"
		"\n"
		"Summarises the log in DIR: number of events, first and last timestamp, average\n"
		"and peak events per second, unique source addresses overall and per family,\n"
		"events per family (most first), flag counts and events per listener.\n"
		"\n"
		"  --json   one JSON object instead of the table (stable keys, for scripts)\n"
		"  --help   this text\n"
		"\n"
		"Exit status: 0 done, 1 the log is damaged or unreadable, 2 usage error.\n");
	return status;
}

/* Parses an unsigned decimal that must fill the whole of [s, end). */
static bool parse_u64(const char *s, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (s == end)
		return false;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_pos(const char *s, struct log_pos *pos)
{
	const char *colon = strchr(s, ':');
	uint64_t seg, off;
	if (!colon || !parse_u64(s, colon, UINT32_MAX, &seg) ||
	    !parse_u64(colon + 1, colon + strlen(colon), UINT64_MAX, &off))
		return false;
	pos->segment = (uint32_t)seg;
	pos->offset = off;
	return true;
}

/*
 * Option parsing shared by both subcommands: long options with a separate or
 * "=" value, one positional DIR, "--" ends options.
 */
struct log_opts {
	bool help;
	bool follow;
	bool json;
	bool from_set;
	struct log_pos from;
	const char *family;
	const char *dir;
};

static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return "";
	return argv[++*i];
}

static int parse_opts(int argc, char **argv, bool is_cat, struct log_opts *o, const char *cmd)
{
	bool only_args = false;
	const char *v;
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_args || a[0] != '-' || a[1] == '\0') {
			if (o->dir) {
				fprintf(stderr, "sinkd log %s: one log directory only ('%s')\n",
					cmd, a);
				return 2;
			}
			o->dir = a;
		} else if (!strcmp(a, "--")) {
			only_args = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			o->help = true;
		} else if (is_cat && !strcmp(a, "--follow")) {
			o->follow = true;
		} else if (is_cat && (v = opt_value(argc, argv, &i, "--from")) != NULL) {
			if (!parse_pos(v, &o->from)) {
				fprintf(stderr, "sinkd log cat: --from wants SEG:OFF, got '%s'\n",
					v);
				return 2;
			}
			o->from_set = true;
		} else if (is_cat && (v = opt_value(argc, argv, &i, "--family")) != NULL) {
			if (!*v) {
				fprintf(stderr, "sinkd log cat: --family wants a name\n");
				return 2;
			}
			o->family = v;
		} else if (!is_cat && !strcmp(a, "--json")) {
			o->json = true;
		} else {
			fprintf(stderr, "sinkd log %s: unknown option '%s'\n", cmd, a);
			return 2;
		}
	}
	if (!o->help && !o->dir) {
		fprintf(stderr, "sinkd log %s: which log directory?\n", cmd);
		return 2;
	}
	return 0;
}

/* Names the place a read failed: the position right after the last good record. */
static void report_read_error(const char *cmd, const char *dir, int rc, const struct log_pos *at,
			      uint64_t records)
{
	if (rc == ERR_CORRUPT && at->segment == 0)
		fprintf(stderr,
			"sinkd log %s: %s: corrupt record at the start of the log; "
			"run `sinkd verify %s` for details\n",
			cmd, dir, dir);
	else if (rc == ERR_CORRUPT)
		fprintf(stderr,
			"sinkd log %s: %s: corrupt record after segment %" PRIu32 " offset %" PRIu64
			" (the end of good record %" PRIu64
			"); run `sinkd verify %s` for details\n",
			cmd, dir, at->segment, at->offset, records, dir);
	else
		fprintf(stderr,
			"sinkd log %s: %s: read failed at segment %" PRIu32 " offset %" PRIu64
			": %s\n",
			cmd, dir, at->segment, at->offset, log_errstr(rc));
}

/* ---- log cat ------------------------------------------------------------------ */

static int cat_flush(struct dynbuf *out)
{
	if (out->len && fwrite(out->data, 1, out->len, stdout) != out->len)
		return ERR_SYS;
	dynbuf_reset(out);
	return fflush(stdout) == 0 ? 0 : ERR_SYS;
}

static bool family_matches(const struct log_record *rec, const char *family)
{
	struct event_view v;
	struct event_field f;
	if (event_decode(rec->data, rec->len, &v) != 0)
		return false;
	if (!event_find(&v, EVENT_T_FAMILY, &f))
		return !strcmp(family, "unknown");
	return strlen(family) == f.len && memcmp(family, f.val, f.len) == 0;
}

static int log_cat(int argc, char **argv)
{
	struct log_opts o;
	struct log_reader *r = NULL;
	struct log_record rec;
	struct log_pos at = { 0, 0 };
	struct dynbuf out;
	uint64_t records = 0, undecodable = 0;
	int status = 0;

	int rc = parse_opts(argc, argv, true, &o, "cat");
	if (rc)
		return cat_usage(stderr, rc);
	if (o.help)
		return cat_usage(stdout, 0);
	if (o.from_set)
		at = o.from;
	rc = log_reader_open(&r, o.dir, o.from_set ? &o.from : NULL);
	if (rc) {
		fprintf(stderr, "sinkd log cat: %s: %s\n", o.dir, log_errstr(rc));
		return 1;
	}
	if (o.follow)
		log_catch_signals();
	dynbuf_init(&out, CAT_OUT_MAX);

	while (!log_stop) {
		rc = log_reader_next(r, &rec);
		if (rc == ERR_END) {
			/* Caught up: show what we have, then stop or wait for more. */
			if (cat_flush(&out) != 0)
				goto out_write;
			if (!o.follow)
				break;
			struct timespec ts = { 0, CAT_POLL_NS };
			nanosleep(&ts, NULL);
			continue;
		}
		if (rc) {
			cat_flush(&out);
			report_read_error("cat", o.dir, rc, &at, records);
			status = 1;
			goto out_close;
		}
		at = rec.next;
		records++;
		if (o.family && !family_matches(&rec, o.family))
			continue;
		rc = eve_format(rec.data, rec.len, rec.sensor_id, &out);
		if (rc == ERR_NOMEM && cat_flush(&out) == 0)
			rc = eve_format(rec.data, rec.len, rec.sensor_id, &out);
		if (rc) {
			/* CRC-valid but not a record this build can read: say where, keep going. */
			fprintf(stderr,
				"sinkd log cat: %s: record at segment %" PRIu32 " offset %" PRIu64
				" not shown: %s\n",
				o.dir, rec.pos.segment, rec.pos.offset, err_str(rc));
			undecodable++;
			status = 1;
			continue;
		}
		if (out.len >= CAT_FLUSH_BYTES && cat_flush(&out) != 0)
			goto out_write;
	}
	if (cat_flush(&out) != 0)
		goto out_write;
	if (undecodable)
		fprintf(stderr, "sinkd log cat: %" PRIu64 " of %" PRIu64 " records not shown\n",
			undecodable, records);
	goto out_close;

out_write:
	fprintf(stderr, "sinkd log cat: writing to stdout: %s\n", strerror(errno));
	status = 1;
out_close:
	dynbuf_free(&out);
	log_reader_close(r);
	return status;
}

/* ---- log stats ------------------------------------------------------------------ */

/*
 * A set of addresses: open addressing with linear probing over one array of
 * 17-byte keys (a key whose first byte, the ip version, is 0 is an empty
 * slot). Grows by doubling at 70% load; no allocation per entry.
 */
struct addr_set {
	uint8_t *slots;
	size_t cap; /* slots; a power of two, or 0 */
	size_t count;
};

static uint64_t addr_hash(const uint8_t *k)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a final mix for the low bits */
	for (size_t i = 0; i < ADDR_KEY_LEN; i++)
		h = (h ^ k[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint8_t *addr_set_slot(const struct addr_set *s, const uint8_t *key, bool *found)
{
	size_t mask = s->cap - 1;
	size_t i = (size_t)addr_hash(key) & mask;
	for (;;) {
		uint8_t *slot = s->slots + i * ADDR_KEY_LEN;
		if (slot[0] == 0) {
			*found = false;
			return slot;
		}
		if (memcmp(slot, key, ADDR_KEY_LEN) == 0) {
			*found = true;
			return slot;
		}
		i = (i + 1) & mask;
	}
}

static int addr_set_grow(struct addr_set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	if (cap > SIZE_MAX / ADDR_KEY_LEN)
		return ERR_NOMEM;
	struct addr_set n = { calloc(cap, ADDR_KEY_LEN), cap, 0 };
	if (!n.slots)
		return ERR_NOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		const uint8_t *old = s->slots + i * ADDR_KEY_LEN;
		bool found;
		if (old[0] == 0)
			continue;
		memcpy(addr_set_slot(&n, old, &found), old, ADDR_KEY_LEN);
		n.count++;
	}
	free(s->slots);
	*s = n;
	return 0;
}

/* Adds key; returns 0 (present or added) or ERR_NOMEM. */
static int addr_set_add(struct addr_set *s, const uint8_t *key)
{
	bool found;
	if ((s->count + 1) * 10 > s->cap * 7) {
		int rc = addr_set_grow(s);
		if (rc)
			return rc;
	}
	uint8_t *slot = addr_set_slot(s, key, &found);
	if (!found) {
		memcpy(slot, key, ADDR_KEY_LEN);
		s->count++;
	}
	return 0;
}

static void addr_set_free(struct addr_set *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->count = 0;
}

/* Counts per name (family or listener). Few distinct names are expected: a linear table. */
struct name_stat {
	size_t off; /* into name_table.names */
	size_t len;
	uint64_t events;
	struct addr_set sources; /* families only */
};

struct name_table {
	struct name_stat *v;
	size_t n;
	size_t last; /* index of the last hit: consecutive events often share a name */
	struct dynbuf names;
};

static void name_table_init(struct name_table *t)
{
	t->v = NULL;
	t->n = 0;
	t->last = 0;
	dynbuf_init(&t->names, (STATS_NAMES_MAX + 1) * (STATS_NAME_MAX + 1));
}

static void name_table_free(struct name_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		addr_set_free(&t->v[i].sources);
	free(t->v);
	dynbuf_free(&t->names);
}

static bool name_eq(const struct name_table *t, size_t i, const void *name, size_t len)
{
	return t->v[i].len == len && memcmp(t->names.data + t->v[i].off, name, len) == 0;
}

/* The entry for name, created if new; past STATS_NAMES_MAX names, the "(other)" entry. */
static struct name_stat *name_table_get(struct name_table *t, const void *name, size_t len)
{
	if (len > STATS_NAME_MAX)
		len = STATS_NAME_MAX;
	if (t->n && name_eq(t, t->last, name, len))
		return &t->v[t->last];
	for (size_t i = 0; i < t->n; i++) {
		if (name_eq(t, i, name, len)) {
			t->last = i;
			return &t->v[i];
		}
	}
	if (!t->v) {
		t->v = calloc(STATS_NAMES_MAX + 1, sizeof *t->v);
		if (!t->v)
			return NULL;
	}
	if (t->n == STATS_NAMES_MAX) {
		name = "(other)";
		len = 7;
		for (size_t i = 0; i < t->n; i++)
			if (name_eq(t, i, name, len))
				return &t->v[i];
	}
	struct name_stat *e = &t->v[t->n];
	e->off = t->names.len;
	e->len = len;
	if (dynbuf_add(&t->names, name, len) != 0)
		return NULL;
	t->last = t->n++;
	return e;
}

static int name_cmp(const void *a, const void *b)
{
	const struct name_stat *x = a, *y = b;
	if (x->events != y->events)
		return x->events < y->events ? 1 : -1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Peak events in one second, over a window of recent seconds (the log is nearly in time order). */
struct sec_window {
	uint64_t sec[STATS_WINDOW];
	uint64_t cnt[STATS_WINDOW];
	uint64_t newest;
	uint64_t peak;
	uint64_t peak_sec;
	uint64_t late; /* events older than the window: not in the peak */
	bool any;
};

static void sec_window_add(struct sec_window *w, uint64_t s)
{
	size_t i = (size_t)(s % STATS_WINDOW);
	if (!w->any) {
		w->any = true;
		w->newest = s;
	}
	if (s < w->newest && w->newest - s >= STATS_WINDOW) {
		w->late++;
		return;
	}
	if (s > w->newest)
		w->newest = s;
	/* A slot holding another second holds an older one, already out of the window. */
	if (w->sec[i] != s) {
		w->sec[i] = s;
		w->cnt[i] = 0;
	}
	if (++w->cnt[i] > w->peak) {
		w->peak = w->cnt[i];
		w->peak_sec = s;
	}
}

struct log_stats {
	uint64_t events;
	uint64_t undecodable;
	uint64_t first_us, last_us;
	uint64_t flags[7];
	struct addr_set sources;
	struct name_table families;
	struct name_table listeners;
	struct sec_window secs;
};

static const char *const stats_flag_names[7] = {
	"malformed", "truncated", "via_proxy", "forwarded", "timeout", "limit", "no_answer",
};

static void addr_key(const struct event_addr *a, uint8_t *key)
{
	key[0] = a->ipver;
	memcpy(key + 1, a->addr, 16);
	/* Only the first 4 bytes of an IPv4 address count, whatever a writer left after them. */
	if (a->ipver == 4)
		memset(key + 5, 0, 12);
}

static int stats_add(struct log_stats *st, const struct log_record *rec)
{
	struct event_view v;
	struct event_field f;
	uint8_t key[ADDR_KEY_LEN];
	if (event_decode(rec->data, rec->len, &v) != 0) {
		st->undecodable++;
		return 0;
	}
	if (st->events == 0 || v.h.ts_us < st->first_us)
		st->first_us = v.h.ts_us;
	if (st->events == 0 || v.h.ts_us > st->last_us)
		st->last_us = v.h.ts_us;
	st->events++;
	for (size_t i = 0; i < 7; i++)
		if (v.h.flags & (1u << i))
			st->flags[i]++;
	sec_window_add(&st->secs, v.h.ts_us / 1000000);

	addr_key(&v.h.src, key);
	if (addr_set_add(&st->sources, key) != 0)
		return ERR_NOMEM;

	struct name_stat *fam = event_find(&v, EVENT_T_FAMILY, &f) ?
					name_table_get(&st->families, f.val, f.len) :
					name_table_get(&st->families, "unknown", 7);
	if (!fam)
		return ERR_NOMEM;
	fam->events++;
	if (addr_set_add(&fam->sources, key) != 0)
		return ERR_NOMEM;

	struct name_stat *lis = event_find(&v, EVENT_T_LISTENER, &f) ?
					name_table_get(&st->listeners, f.val, f.len) :
					name_table_get(&st->listeners, "(none)", 6);
	if (!lis)
		return ERR_NOMEM;
	lis->events++;
	return 0;
}

/* "2023-09-18T06:13:33.903924+0000", the EVE form; "?" past what gmtime can show. */
static void fmt_time(uint64_t ts_us, char *buf, size_t cap)
{
	struct tm tm;
	time_t t = (time_t)(ts_us / 1000000);
	char day[32];
	if (!gmtime_r(&t, &tm) || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, cap, "?");
		return;
	}
	snprintf(buf, cap, "%s.%06u+0000", day, (unsigned)(ts_us % 1000000));
}

static double stats_span(const struct log_stats *st)
{
	return st->events ? (double)(st->last_us - st->first_us) / 1e6 : 0.0;
}

/* Average over the span, counting a span under one second as one second. */
static double stats_rate(const struct log_stats *st)
{
	double span = stats_span(st);
	return (double)st->events / (span < 1.0 ? 1.0 : span);
}

/* Prints a name from a record for a terminal: non-printable bytes become '?'. */
static void print_name(const char *p, size_t len, int width)
{
	char tmp[STATS_NAME_MAX + 1];
	size_t n = len < STATS_NAME_MAX ? len : STATS_NAME_MAX;
	for (size_t i = 0; i < n; i++)
		tmp[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	printf("%-*.*s", width, (int)n, tmp);
}

static void stats_print_table(const struct log_stats *st, const char *dir)
{
	char a[48], b[48];
	printf("log              %s\n", dir);
	printf("events           %" PRIu64 "\n", st->events);
	if (st->events) {
		fmt_time(st->first_us, a, sizeof a);
		fmt_time(st->last_us, b, sizeof b);
		printf("first            %s\n", a);
		printf("last             %s\n", b);
		printf("span             %.3f s\n", stats_span(st));
		fmt_time(st->secs.peak_sec * 1000000, a, sizeof a);
		printf("rate             %.2f events/s average, peak %" PRIu64 " in one second "
		       "(%.19s)\n",
		       stats_rate(st), st->secs.peak, a);
	}
	printf("unique sources   %zu\n", st->sources.count);
	printf("flags           ");
	for (size_t i = 0; i < 7; i++)
		printf(" %s %" PRIu64 "%s", stats_flag_names[i], st->flags[i], i < 6 ? "," : "\n");
	if (st->undecodable)
		printf("undecodable      %" PRIu64 " records (not counted above)\n",
		       st->undecodable);

	if (st->families.n) {
		printf("\n%-32s %12s %12s\n", "FAMILY", "EVENTS", "SOURCES");
		for (size_t i = 0; i < st->families.n; i++) {
			const struct name_stat *e = &st->families.v[i];
			print_name(st->families.names.data + e->off, e->len, 32);
			printf(" %12" PRIu64 " %12zu\n", e->events, e->sources.count);
		}
	}
	if (st->listeners.n) {
		printf("\n%-32s %12s\n", "LISTENER", "EVENTS");
		for (size_t i = 0; i < st->listeners.n; i++) {
			const struct name_stat *e = &st->listeners.v[i];
			print_name(st->listeners.names.data + e->off, e->len, 32);
			printf(" %12" PRIu64 "\n", e->events);
		}
	}
}

static int stats_json(const struct log_stats *st, struct dynbuf *o)
{
	char t[48];
	int rc = 0;
#define J(call)                                                                                    \
	do {                                                                                       \
		if (rc == 0)                                                                       \
			rc = (call);                                                               \
	} while (0)
	J(dynbuf_printf(o, "{\"events\":%" PRIu64, st->events));
	if (st->events) {
		fmt_time(st->first_us, t, sizeof t);
		J(json_key(o, "first", 0));
		J(json_cstr(o, t));
		fmt_time(st->last_us, t, sizeof t);
		J(json_key(o, "last", 0));
		J(json_cstr(o, t));
		fmt_time(st->secs.peak_sec * 1000000, t, sizeof t);
		J(dynbuf_printf(o, ",\"span_seconds\":%.6f,\"events_per_second\":%.3f",
				stats_span(st), stats_rate(st)));
		J(dynbuf_printf(o, ",\"peak_per_second\":%" PRIu64, st->secs.peak));
		J(json_key(o, "peak_second", 0));
		J(json_cstr(o, t));
	} else {
		J(dynbuf_adds(
			o, ",\"first\":null,\"last\":null,\"span_seconds\":0,"
			   "\"events_per_second\":0,\"peak_per_second\":0,\"peak_second\":null"));
	}
	J(dynbuf_printf(o,
			",\"out_of_order\":%" PRIu64 ",\"undecodable\":%" PRIu64
			",\"unique_sources\":%zu,\"flags\":{",
			st->secs.late, st->undecodable, st->sources.count));
	for (size_t i = 0; i < 7; i++)
		J(dynbuf_printf(o, "%s\"%s\":%" PRIu64, i ? "," : "", stats_flag_names[i],
				st->flags[i]));
	J(dynbuf_adds(o, "},\"families\":["));
	for (size_t i = 0; i < st->families.n; i++) {
		const struct name_stat *e = &st->families.v[i];
		J(dynbuf_adds(o, i ? ",{\"name\":" : "{\"name\":"));
		J(json_str(o, st->families.names.data + e->off, e->len));
		J(dynbuf_printf(o, ",\"events\":%" PRIu64 ",\"unique_sources\":%zu}", e->events,
				e->sources.count));
	}
	J(dynbuf_adds(o, "],\"listeners\":["));
	for (size_t i = 0; i < st->listeners.n; i++) {
		const struct name_stat *e = &st->listeners.v[i];
		J(dynbuf_adds(o, i ? ",{\"name\":" : "{\"name\":"));
		J(json_str(o, st->listeners.names.data + e->off, e->len));
		J(dynbuf_printf(o, ",\"events\":%" PRIu64 "}", e->events));
	}
	J(dynbuf_adds(o, "]}\n"));
#undef J
	return rc;
}

static int log_stats(int argc, char **argv)
{
	struct log_opts o;
	struct log_reader *r = NULL;
	struct log_record rec;
	struct log_pos at = { 0, 0 };
	struct log_stats *st;
	int status = 0;

	int rc = parse_opts(argc, argv, false, &o, "stats");
	if (rc)
		return stats_usage(stderr, rc);
	if (o.help)
		return stats_usage(stdout, 0);
	st = calloc(1, sizeof *st);
	if (!st) {
		fprintf(stderr, "sinkd log stats: out of memory\n");
		return 1;
	}
	name_table_init(&st->families);
	name_table_init(&st->listeners);
	rc = log_reader_open(&r, o.dir, NULL);
	if (rc) {
		fprintf(stderr, "sinkd log stats: %s: %s\n", o.dir, log_errstr(rc));
		status = 1;
		goto out_free;
	}
	while ((rc = log_reader_next(r, &rec)) == 0) {
		at = rec.next;
		if (stats_add(st, &rec) != 0) {
			fprintf(stderr, "sinkd log stats: out of memory\n");
			status = 1;
			goto out_close;
		}
	}
	if (rc != ERR_END) {
		report_read_error("stats", o.dir, rc, &at, st->events + st->undecodable);
		status = 1;
		goto out_close;
	}

	/* qsort(NULL, 0, ...) is undefined behaviour: an empty log has no tables. */
	if (st->families.n)
		qsort(st->families.v, st->families.n, sizeof *st->families.v, name_cmp);
	if (st->listeners.n)
		qsort(st->listeners.v, st->listeners.n, sizeof *st->listeners.v, name_cmp);
	if (o.json) {
		struct dynbuf out;
		dynbuf_init(&out, 64u << 20);
		if (stats_json(st, &out) != 0 || fwrite(out.data, 1, out.len, stdout) != out.len) {
			fprintf(stderr, "sinkd log stats: cannot write the summary\n");
			status = 1;
		}
		dynbuf_free(&out);
	} else {
		stats_print_table(st, o.dir);
	}
	if (fflush(stdout) != 0)
		status = 1;

out_close:
	log_reader_close(r);
out_free:
	addr_set_free(&st->sources);
	name_table_free(&st->families);
	name_table_free(&st->listeners);
	free(st);
	return status;
}

int cmd_log(int argc, char **argv)
{
	if (argc < 2)
		return log_usage(stderr, 2);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return log_usage(stdout, 0);
	if (!strcmp(argv[1], "cat"))
		return log_cat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stats"))
		return log_stats(argc - 1, argv + 1);
	fprintf(stderr, "sinkd log: unknown subcommand '%s'\n", argv[1]);
	return log_usage(stderr, 2);
}
