/* cmd_index.c — `sinkd index`: bring the store up to date with the event log (once, or following it). */
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

int cmd_index(int argc, char **argv)
{
	static const struct option opts[] = {
		STORE_OPTS_LONG,
		{ "follow", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_opts so = { 0 };
	bool follow = false, quiet = false;
	size_t batch = 0;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:fqh", opts, NULL)) != -1) {
		int r = store_opts_handle(&so, ch, optarg, "index");
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (ch == 'b') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > INDEXER_BATCH) {
				fprintf(stderr, "sinkd index: --batch takes 1..%u\n",
					INDEXER_BATCH);
				return 2;
			}
			batch = v;
		} else if (ch == 'f') {
			follow = true;
		} else if (ch == 'q') {
			quiet = true;
		} else if (ch == 'h') {
			index_usage(stdout);
			return 0;
		} else {
			index_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		index_usage(stderr);
		return 2;
	}
	int status = 1;
	struct enrich *e = NULL;
	struct store *s = NULL;
	if (store_opts_resolve(&so, "index"))
		goto out;
	if (!so.store || !so.log_dir) {
		fprintf(stderr, "sinkd index: need --store and --log (or -c with store.path)\n");
		status = 2;
		goto out;
	}
	if (store_opts_load(&so, "index", false, &e, NULL))
		goto out;
	char err[512];
	if (store_open(&s, so.store, true, err, sizeof err)) {
		fprintf(stderr, "sinkd index: %s\n", err);
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
	for (;;) {
		rc = indexer_catch_up(s, so.log_dir, e, so.cfg ? &so.cfg->store : NULL, batch, &st,
				      tty ? index_show : NULL, &prog, &index_stop);
		if (rc || !follow || index_stop)
			break;
		struct timespec ts = { 0, 100000000L };
		nanosleep(&ts, NULL);
	}
	if (tty)
		fputc('\n', stderr);
	if (rc) {
		if (rc == ERR_INVAL)
			fprintf(stderr, "sinkd index: another indexer is writing this store (sinkd "
					"serve with store.path?); nothing was stored twice\n");
		else
			fprintf(stderr, "sinkd index: %s (the store holds everything before it)\n",
				err_str(rc));
		goto out;
	}
	if (!quiet) {
		double secs = (double)(time_mono_ms() - prog.start_ms) / 1000.0;
		printf("indexed %" PRIu64 " events in %" PRIu64 " batches (%" PRIu64
		       " undecodable records skipped) in %.2f s\n",
		       st.events, st.batches, st.skipped, secs);
	}
	status = 0;
out:
	store_close(s);
	enrich_free(e);
	store_opts_free(&so);
	return status;
}
