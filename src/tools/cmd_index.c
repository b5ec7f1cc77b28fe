/* cmd_index.c — `sinkd index` (log → embedded store) and `sinkd ship` (log → ClickHouse): once, or following the log. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "store/indexer.h"
#include "tools/commands.h"
#include "tools/store_opts.h"

/* Set by SIGINT/SIGTERM; the only mutable global. */
static volatile int index_stop;

static void index_on_signal(int sig)
{
	(void)sig;
	index_stop = 1;
}

static void index_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd index [options] [--follow]\n"
		"\n"
		"Indexes the event log into the store (SQLite, WAL): every event with its\n"
		"ASN and country, plus daily aggregates of unique infected addresses. Each\n"
		"batch is committed together with the log position it reaches, so an\n"
		"interrupted run (even kill -9) resumes exactly where it stopped.\n"
		"\n" STORE_OPTS_HELP
		"  -f, --follow         keep following the log until SIGINT/SIGTERM\n"
		"  -q, --quiet          no summary line\n"
		"      --batch N        events per transaction (default and maximum %u)\n"
		"  -h, --help           this text\n"
		"\n"
		"Progress is shown on stderr when it is a terminal.\n",
		INDEXER_BATCH);
}

static void ship_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd ship [options] [--once]\n"
		"\n"
		"Follows the event log into a ClickHouse store (store.path or --store\n"
		"clickhouse://host:port/db): every event enriched here, once, with the same\n"
		"code as sinkd index, sent in RowBinary batches (gzip unless ?compress=0).\n"
		"Delivery is idempotent: rows are keyed by sensor, segment and offset, so a\n"
		"batch sent twice counts once. The position is LOG/clickhouse.pos, written\n"
		"after each acknowledged batch; a restart (even after kill -9) resumes there.\n"
		"When ClickHouse does not answer, each batch is retried with backoff and the\n"
		"shipper keeps trying (SIGINT/SIGTERM stop it).\n"
		"\n" STORE_OPTS_HELP
		"      --once           ship what the log holds now, then exit (1 on failure)\n"
		"  -q, --quiet          no summary line\n"
		"      --batch N        events per INSERT (default %u, at most %u)\n"
		"  -h, --help           this text\n",
		INDEXER_BATCH_REMOTE, INDEXER_BATCH_MAX);
}

struct index_progress {
	uint64_t start_ms, last_ms;
};

static void index_show(void *ctx, const struct indexer_stats *st, const struct log_pos *pos)
{
	struct index_progress *p = ctx;
	uint64_t now = time_mono_ms();
	if (now - p->last_ms < 250)
		return;
	p->last_ms = now;
	double secs = (double)(now - p->start_ms) / 1000.0;
	fprintf(stderr, "\rindexed %" PRIu64 " events (segment %" PRIu32 "), %.0f events/s   ",
		st->events, pos->segment, secs > 0 ? (double)st->events / secs : 0.0);
}

static int index_or_ship(int argc, char **argv, bool ship)
{
	static const struct option opts[] = {
		STORE_OPTS_LONG,
		{ "follow", no_argument, NULL, 'f' },
		{ "once", no_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = ship ? "ship" : "index";
	void (*usage)(FILE *) = ship ? ship_usage : index_usage;
	unsigned max_batch = ship ? INDEXER_BATCH_MAX : INDEXER_BATCH;
	struct store_opts so = { 0 };
	bool follow = ship, quiet = false;
	size_t batch = ship ? INDEXER_BATCH_REMOTE : 0;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:fqh", opts, NULL)) != -1) {
		int r = store_opts_handle(&so, ch, optarg, cmd);
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (ch == 'b') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > max_batch) {
				fprintf(stderr, "sinkd %s: --batch takes 1..%u\n", cmd, max_batch);
				return 2;
			}
			batch = v;
		} else if (ch == 'f' && !ship) {
			follow = true;
		} else if (ch == 'o' && ship) {
			follow = false;
		} else if (ch == 'q') {
			quiet = true;
		} else if (ch == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	int status = 1;
	struct enrich *e = NULL;
	struct store *s = NULL;
	if (store_opts_resolve(&so, cmd))
		goto out;
	if (!so.store || !so.log_dir) {
		fprintf(stderr, "sinkd %s: need --store and --log (or -c with store.path)\n", cmd);
		status = 2;
		goto out;
	}
	if (ship && !store_path_is_remote(so.store)) {
		fprintf(stderr,
			"sinkd ship: %s is not a clickhouse:// store (sinkd index fills the"
			" embedded one)\n",
			so.store);
		status = 2;
		goto out;
	}
	if (store_opts_load(&so, cmd, false, &e, NULL))
		goto out;
	char err[512];
	if (store_open_ingest(&s, so.store, so.log_dir, err, sizeof err)) {
		fprintf(stderr, "sinkd %s: %s\n", cmd, err);
		goto out;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = index_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	bool tty = isatty(STDERR_FILENO);
	struct index_progress prog = { time_mono_ms(), 0 };
	struct indexer_stats st = { 0 };
	int rc;
	long backoff_ms = 0;
	for (;;) {
		rc = indexer_catch_up(s, so.log_dir, e, so.cfg ? &so.cfg->store : NULL, batch, &st,
				      tty ? index_show : NULL, &prog, &index_stop);
		if (rc && ship && follow && rc != ERR_INVAL && rc != ERR_CORRUPT && !index_stop) {
			/* ClickHouse away: the batch's own retries are spent; wait longer, go on. */
			backoff_ms = backoff_ms ? backoff_ms * 2 : 1000;
			if (backoff_ms > 30000)
				backoff_ms = 30000;
			fprintf(stderr, "sinkd ship: %s; trying again in %ld ms\n", err_str(rc),
				backoff_ms);
			for (long w = 0; w < backoff_ms && !index_stop; w += 100) {
				struct timespec ts = { 0, 100000000L };
				nanosleep(&ts, NULL);
			}
			continue;
		}
		if (!rc)
			backoff_ms = 0;
		if (rc || !follow || index_stop)
			break;
		/* The embedded store polls every 100 ms; a remote one takes a second's worth. */
		for (int w = 0; w < (ship ? 10 : 1) && !index_stop; w++) {
			struct timespec ts = { 0, 100000000L };
			nanosleep(&ts, NULL);
		}
	}
	/* ClickHouse: the last INSERT is answered and its position written before we say so. */
	if (!rc && store_path_is_remote(so.store))
		rc = store_compact(s);
	if (tty)
		fputc('\n', stderr);
	if (rc) {
		if (rc == ERR_INVAL)
			fprintf(stderr,
				"sinkd %s: another indexer is writing this store (sinkd "
				"serve with store.path?); nothing was stored twice\n",
				cmd);
		else
			fprintf(stderr, "sinkd %s: %s (the store holds everything before it)\n",
				cmd, err_str(rc));
		goto out;
	}
	if (!quiet) {
		double secs = (double)(time_mono_ms() - prog.start_ms) / 1000.0;
		printf("%s %" PRIu64 " events in %" PRIu64 " batches (%" PRIu64
		       " undecodable records skipped) in %.2f s\n",
		       ship ? "shipped" : "indexed", st.events, st.batches, st.skipped, secs);
	}
	status = 0;
out:
	store_close(s);
	enrich_free(e);
	store_opts_free(&so);
	return status;
}

int cmd_index(int argc, char **argv)
{
	return index_or_ship(argc, argv, false);
}

int cmd_ship(int argc, char **argv)
{
	return index_or_ship(argc, argv, true);
}
