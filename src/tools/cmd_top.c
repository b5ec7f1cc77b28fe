/* cmd_top.c — `sinkd top`: ports, families and protocol guesses ranked by events and sources, live. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/event.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "tools/commands.h"

/*
 * Memory is bounded whatever the log holds: each table keeps at most
 * TOP_KEYS_MAX distinct keys (the rest are counted under "(other)"), and
 * unique sources are counted through one set of 64-bit fingerprints of
 * (table, key, source) with at most TOP_SEEN_MAX entries; once it is full,
 * source counts stop growing and are shown with a "+".
 */
#define TOP_KEYS_MAX  4096
#define TOP_KEY_LEN   48
#define TOP_SEEN_BITS 21
#define TOP_SEEN_MAX  ((1u << TOP_SEEN_BITS) / 4 * 3)

enum top_table {
	TOP_PORT = 0,
	TOP_FAMILY,
	TOP_GUESS,
	TOP_TABLES
};

static const char *const top_titles[TOP_TABLES] = { "destination port", "family",
						    "protocol (guess)" };

struct top_entry {
	char key[TOP_KEY_LEN];
	uint64_t events;
	uint64_t sources;
	uint64_t last_us;
};

#define TOP_INDEX_SIZE (TOP_KEYS_MAX * 2) /* open addressing over entry numbers + 1 */

struct top_table_s {
	struct top_entry *e;
	size_t n;
	struct top_entry other;
	uint16_t index[TOP_INDEX_SIZE]; /* 0 = empty, else entry number + 1 */
};

struct top {
	struct top_table_s t[TOP_TABLES];
	uint64_t *seen; /* fingerprints, 0 = empty */
	size_t n_seen;
	bool seen_full;
	uint64_t records;
};

static volatile sig_atomic_t top_stop, top_resized;

static void top_on_signal(int sig)
{
	if (sig == SIGWINCH)
		top_resized = 1;
	else
		top_stop = 1;
}

/*
 * Rows per table that fit the terminal: a title line, then per table a blank
 * line, a header, the rows, "(other)" and "... (N more)"; at least one row.
 */
static unsigned top_fit_rows(unsigned rows)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0)
		return rows;
	unsigned fixed = 1 + 4 * TOP_TABLES;
	unsigned fit = ws.ws_row > fixed + TOP_TABLES ? (ws.ws_row - fixed) / TOP_TABLES : 1;
	return fit < rows ? fit : rows;
}

static int top_usage(FILE *to, int status)
{
	fprintf(to, "usage: sinkd top [--once] [--interval MS] [--rows N] DIR\n"
		    "\n"
		    "Ranks the destination ports, families and protocol guesses of the event\n"
		    "log in DIR by events and unique sources, and keeps following the log so\n"
		    "new traffic shows up as it arrives. A raw capture counts under its guess\n"
		    "(raw:tls, raw:unknown ...), other events under their protocol.\n"
		    "\n"
		    "  --once          print one snapshot and exit (the default when stdout is\n"
		    "                  not a terminal)\n"
		    "  --interval MS   refresh period, default 1000\n"
		    "  --rows N        rows per table, default 10 (fewer when the terminal is\n"
		    "                  too short)\n"
		    "\n"
		    "Live, q quits (so does Ctrl-C); the screen follows the terminal's size.\n");
	return status;
}

static uint64_t top_hash(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Adds a fingerprint; true if it was new. */
static bool top_seen_add(struct top *t, uint64_t fp)
{
	if (!fp)
		fp = 1;
	size_t mask = ((size_t)1 << TOP_SEEN_BITS) - 1;
	for (size_t i = (size_t)(fp ^ (fp >> 29)) & mask;; i = (i + 1) & mask) {
		if (t->seen[i] == fp)
			return false;
		if (!t->seen[i]) {
			if (t->n_seen >= TOP_SEEN_MAX) {
				t->seen_full = true;
				return false;
			}
			t->seen[i] = fp;
			t->n_seen++;
			return true;
		}
	}
}

static size_t top_slot(const char *key)
{
	return (size_t)top_hash(key, strlen(key), 0xcbf29ce484222325ull) & (TOP_INDEX_SIZE - 1);
}

static void top_reindex(struct top_table_s *tb)
{
	memset(tb->index, 0, sizeof tb->index);
	for (size_t i = 0; i < tb->n; i++) {
		size_t s = top_slot(tb->e[i].key);
		while (tb->index[s])
			s = (s + 1) & (TOP_INDEX_SIZE - 1);
		tb->index[s] = (uint16_t)(i + 1);
	}
}

static struct top_entry *top_entry(struct top_table_s *tb, const char *key, size_t len)
{
	char clean[TOP_KEY_LEN];
	if (len >= TOP_KEY_LEN)
		len = TOP_KEY_LEN - 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		clean[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	clean[len] = '\0';
	size_t s = top_slot(clean);
	for (; tb->index[s]; s = (s + 1) & (TOP_INDEX_SIZE - 1))
		if (!strcmp(tb->e[tb->index[s] - 1].key, clean))
			return &tb->e[tb->index[s] - 1];
	if (tb->n >= TOP_KEYS_MAX)
		return &tb->other;
	struct top_entry *e = &tb->e[tb->n];
	memset(e, 0, sizeof *e);
	memcpy(e->key, clean, len + 1);
	tb->index[s] = (uint16_t)(++tb->n);
	return e;
}

static void top_count(struct top *t, enum top_table which, const char *key, size_t len,
		      const struct event_header *h)
{
	struct top_entry *e = top_entry(&t->t[which], key, len);
	e->events++;
	if (h->ts_us > e->last_us)
		e->last_us = h->ts_us;
	uint64_t fp = top_hash(e->key, strlen(e->key), 0xcbf29ce484222325ull ^ (uint64_t)which);
	fp = top_hash(&h->src.ipver, 1, fp);
	fp = top_hash(h->src.addr, 16, fp);
	if (top_seen_add(t, fp))
		e->sources++;
}

static void top_add(struct top *t, const uint8_t *rec, size_t len)
{
	static const char *const types[] = { "?", "http", "tls", "dns", "smtp", "raw" };
	struct event_view v;
	if (event_decode(rec, len, &v) != 0)
		return;
	t->records++;
	char key[TOP_KEY_LEN];
	int n = snprintf(key, sizeof key, "%s/%u", v.h.transport == 17 ? "udp" : "tcp",
			 (unsigned)v.h.dst.port);
	top_count(t, TOP_PORT, key, n > 0 ? (size_t)n : 0, &v.h);
	struct event_field f;
	if (event_find(&v, EVENT_T_FAMILY, &f))
		top_count(t, TOP_FAMILY, (const char *)f.val, f.len, &v.h);
	else
		top_count(t, TOP_FAMILY, "unknown", 7, &v.h);
	const char *type = v.h.type < sizeof types / sizeof types[0] ? types[v.h.type] : "?";
	if (v.h.type == EVENT_RAW && event_find(&v, EVENT_T_RAW_GUESS, &f)) {
		int k = snprintf(key, sizeof key, "raw:%.*s", f.len < 32 ? (int)f.len : 32,
				 (const char *)f.val);
		top_count(t, TOP_GUESS, key, k > 0 ? (size_t)k : 0, &v.h);
	} else {
		top_count(t, TOP_GUESS, type, strlen(type), &v.h);
	}
}

static int top_cmp(const void *a, const void *b)
{
	const struct top_entry *x = a, *y = b;
	if (x->events != y->events)
		return x->events < y->events ? 1 : -1;
	if (x->sources != y->sources)
		return x->sources < y->sources ? 1 : -1;
	return strcmp(x->key, y->key);
}

static void top_render(struct top *t, const char *dir, unsigned rows, bool tty)
{
	uint64_t now = time_now_us();
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("sinkd top — %s — %" PRIu64 " events%s\n", dir, t->records,
	       t->seen_full ? " (source counts capped: shown with +)" : "");
	for (int k = 0; k < TOP_TABLES; k++) {
		struct top_table_s *tb = &t->t[k];
		qsort(tb->e, tb->n, sizeof *tb->e, top_cmp);
		top_reindex(tb);
		printf("\n%-24s %12s %10s %10s\n", top_titles[k], "events", "sources", "last");
		size_t shown = tb->n < rows ? tb->n : rows;
		for (size_t i = 0; i < shown + (tb->other.events ? 1 : 0); i++) {
			const struct top_entry *e = i < shown ? &tb->e[i] : &tb->other;
			const char *name = i < shown ? e->key : "(other)";
			uint64_t age = now > e->last_us ? (now - e->last_us) / 1000000u : 0;
			printf("%-24s %12" PRIu64 " %9" PRIu64 "%s %9" PRIu64 "s\n", name,
			       e->events, e->sources, t->seen_full ? "+" : " ", age);
		}
		if (tb->n > shown)
			printf("%-24s (%zu more)\n", "...", tb->n - shown);
	}
	fflush(stdout);
}

static bool parse_uint_arg(const char *s, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v == 0 || v > max)
		return false;
	*out = v;
	return true;
}

int cmd_top(int argc, char **argv)
{
	bool once = false;
	unsigned long interval = 1000, rows = 10;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return top_usage(stdout, 0);
		if (!strcmp(a, "--once")) {
			once = true;
		} else if (!strcmp(a, "--interval") && i + 1 < argc) {
			if (!parse_uint_arg(argv[++i], 3600000, &interval))
				return top_usage(stderr, 2);
		} else if (!strcmp(a, "--rows") && i + 1 < argc) {
			if (!parse_uint_arg(argv[++i], 1000, &rows))
				return top_usage(stderr, 2);
		} else if (a[0] != '-' && !dir) {
			dir = a;
		} else {
			return top_usage(stderr, 2);
		}
	}
	if (!dir)
		return top_usage(stderr, 2);
	bool tty = isatty(STDOUT_FILENO) == 1;
	if (!tty)
		once = true;

	int status = 1;
	struct termios saved;
	bool restore = false;
	struct top *t = calloc(1, sizeof *t); /* large (the key indexes): not on the stack */
	struct log_reader *r = NULL;
	if (!t) {
		fprintf(stderr, "sinkd top: out of memory\n");
		return 1;
	}
	t->seen = calloc((size_t)1 << TOP_SEEN_BITS, sizeof *t->seen);
	for (int k = 0; k < TOP_TABLES; k++)
		t->t[k].e = calloc(TOP_KEYS_MAX, sizeof *t->t[k].e);
	if (!t->seen || !t->t[0].e || !t->t[1].e || !t->t[2].e) {
		fprintf(stderr, "sinkd top: out of memory\n");
		goto out;
	}
	int rc = log_reader_open(&r, dir, NULL);
	if (rc) {
		fprintf(stderr, "sinkd top: %s: %s\n", dir,
			rc == ERR_SYS ? strerror(errno) : err_str(rc));
		goto out;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = top_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	/* Live on a terminal: keys without Enter or echo, so q quits; restored at the end. */
	bool keys = !once && isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (keys) {
		struct termios raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		restore = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	uint64_t next_draw = 0;
	unsigned batch = 0;
	while (!top_stop) {
		struct log_record rec;
		rc = log_reader_next(r, &rec);
		if (rc == 0) {
			top_add(t, rec.data, rec.len);
			/* Live, a log that never runs dry must not freeze the screen:
			 * look at the clock every few thousand records too. */
			if (once || ++batch < 4096)
				continue;
			batch = 0;
			if (time_mono_ms() < next_draw)
				continue;
		} else if (rc != ERR_END) {
			fprintf(stderr, "sinkd top: %s: %s\n", dir, err_str(rc));
			goto out;
		}
		uint64_t now = time_mono_ms();
		if (top_resized) {
			top_resized = 0;
			next_draw = 0;
		}
		if (once || now >= next_draw) {
			top_render(t, dir, once ? (unsigned)rows : top_fit_rows((unsigned)rows),
				   tty && !once);
			next_draw = now + interval;
		}
		if (once)
			break;
		if (rc == 0)
			continue;
		/* Wait for more of the log, a key, or a signal (poll returns EINTR). */
		struct pollfd pfd = { .fd = keys ? STDIN_FILENO : -1, .events = POLLIN };
		if (poll(&pfd, 1, 100) > 0 && pfd.revents) {
			char c[64];
			ssize_t n = read(STDIN_FILENO, c, sizeof c);
			if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
				keys = false; /* end of input or an error: stop looking at it */
			for (ssize_t i = 0; i < n; i++)
				if (c[i] == 'q' || c[i] == 'Q')
					top_stop = 1;
		}
	}
	status = 0;
out:
	if (restore)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (r)
		log_reader_close(r);
	for (int k = 0; k < TOP_TABLES; k++)
		free(t->t[k].e);
	free(t->seen);
	free(t);
	return status;
}
