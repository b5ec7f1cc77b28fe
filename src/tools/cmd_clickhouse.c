/* cmd_clickhouse.c — `sinkd clickhouse schema`: print the ClickHouse schema, or apply it to servers. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "store/ch_schema.h"
#include "store/chttp.h"
#include "tools/commands.h"

#define CH_MAX_APPLY 64

static void ch_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd clickhouse schema [--db NAME] [--cluster NAME] [--apply URL]...\n"
		"\n"
		"Prints the store's ClickHouse schema (events: ReplacingMergeTree partitioned\n"
		"by UTC day, ordered by day, sensor, segment, offset), or applies it.\n"
		"\n"
		"  --db NAME         database when printing (default sinkd; --apply takes it\n"
		"                    from each URL)\n"
		"  --cluster NAME    a cluster of shards (the servers' remote_servers name):\n"
		"                    each shard holds events_local, `events` is Distributed\n"
		"  --apply URL       clickhouse://[user[:password]@]host[:port]/database; repeat\n"
		"                    for every server of the cluster (no ON CLUSTER: that needs\n"
		"                    ZooKeeper). Every statement is IF NOT EXISTS.\n"
		"  -h, --help        this text\n"
		"\n"
		"A store URL (store.path, --store) names the same database: sinkd report and\n"
		"sinkd ship read and write its `events` table.\n");
}

static int apply_one(const char *url, const char *cluster)
{
	char err[1024];
	struct chttp *h;
	if (chttp_new(&h, url, err, sizeof err)) {
		fprintf(stderr, "sinkd clickhouse: %s\n", err);
		return 1;
	}
	chttp_set_attempts(h, 1);
	struct dynbuf b;
	dynbuf_init(&b, 1u << 16);
	int status = 0;
	for (size_t i = 0;; i++) {
		dynbuf_reset(&b);
		int rc = ch_schema_stmt(&b, i, chttp_db(h), cluster);
		if (rc == ERR_END)
			break;
		if (rc || chttp_query(h, b.data, NULL, NULL, 0, NULL, NULL, err, sizeof err)) {
			fprintf(stderr, "sinkd clickhouse: %s: %s\n", url,
				rc ? "out of memory" : err);
			status = 1;
			break;
		}
	}
	if (!status)
		printf("%s: schema applied\n", url);
	dynbuf_free(&b);
	chttp_free(h);
	return status;
}

int cmd_clickhouse(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "cluster", required_argument, NULL, 'C' },
		{ "apply", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	if (argc < 2 || strcmp(argv[1], "schema")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			ch_usage(stdout);
			return 0;
		}
		ch_usage(stderr);
		return 2;
	}
	const char *db = "sinkd", *cluster = NULL;
	const char *apply[CH_MAX_APPLY];
	size_t n_apply = 0;
	int ch;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'd') {
			db = optarg;
		} else if (ch == 'C') {
			cluster = optarg;
		} else if (ch == 'a') {
			if (n_apply == CH_MAX_APPLY) {
				fprintf(stderr, "sinkd clickhouse: at most %d --apply\n",
					CH_MAX_APPLY);
				return 2;
			}
			apply[n_apply++] = optarg;
		} else if (ch == 'h') {
			ch_usage(stdout);
			return 0;
		} else {
			ch_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !chttp_ident_ok(db, strlen(db)) ||
	    (cluster && !chttp_ident_ok(cluster, strlen(cluster)))) {
		fprintf(stderr, "sinkd clickhouse: database and cluster names are letters, digits"
				" and _\n");
		return 2;
	}
	if (n_apply) {
		int status = 0;
		for (size_t i = 0; i < n_apply; i++)
			status |= apply_one(apply[i], cluster);
		return status;
	}
	struct dynbuf b;
	dynbuf_init(&b, 1u << 16);
	for (size_t i = 0;; i++) {
		dynbuf_reset(&b);
		int rc = ch_schema_stmt(&b, i, db, cluster);
		if (rc == ERR_END)
			break;
		if (rc) {
			dynbuf_free(&b);
			return 1;
		}
		printf("%s;\n\n", b.data);
	}
	dynbuf_free(&b);
	return 0;
}
