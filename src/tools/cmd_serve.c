/* cmd_serve.c — `sinkd serve`: parse the command line and run the sensor. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/daemon.h"
#include "tools/commands.h"

static void serve_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd serve -c FILE [-w N] [--log-dir DIR]\n"
		"\n"
		"Runs the sinkhole sensor in the foreground: binds the configured listeners,\n"
		"drops privileges (config `user:`), answers every check-in harmlessly and\n"
		"records one event per interaction in the append-only log.\n"
		"\n"
		"  -c, --config FILE   YAML configuration (see the README's config reference)\n"
		"  -w, --workers N     worker threads (default: config `workers`, 0 = one per core)\n"
		"      --log-dir DIR   event log directory (overrides config `log.dir`)\n"
		"  -h, --help          this text\n"
		"\n"
		"Signals: SIGTERM/SIGINT drain connections, flush the log and exit 0;\n"
		"SIGHUP reloads the families and answers (listeners need a restart) and\n"
		"reopens the EVE file; SIGUSR1 rewrites the stats file now.\n");
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "workers", required_argument, NULL, 'w' },
		{ "log-dir", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o = { 0 };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:w:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config_path = optarg;
			break;
		case 'w': {
			char *end;
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 1024) {
				fprintf(stderr, "sinkd serve: --workers takes 1..1024\n");
				return 2;
			}
			o.workers = (int)n;
			break;
		}
		case 'L':
			o.log_dir = optarg;
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			serve_usage(stderr);
			return 2;
		}
	}
	if (!o.config_path || optind != argc) {
		serve_usage(stderr);
		return 2;
	}
	return daemon_run(&o);
}
