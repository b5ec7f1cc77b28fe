/* sinkd.c — the sinkd binary: dispatches git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "core/cmem.h"
#include "tools/commands.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "serve", cmd_serve, "run the sinkhole sensor (listeners, event log, EVE output)" },
	{ "verify", cmd_verify, "check a log's CRCs and hash chain; report the first bad record" },
	{ "log", cmd_log, "look inside a log: `log cat` (EVE JSON lines), `log stats` (summary)" },
	{ "loadgen", cmd_loadgen, "send simulated check-ins to a loopback sinkhole (bounded)" },
	{ "config", cmd_config, "`config check FILE`: parse a config and print what it means" },
	{ "lookup", cmd_lookup, "ASN, country and abuse contact of addresses (enrichment data)" },
	{ "index", cmd_index,
	  "index the event log into the store (SQLite): events and aggregates" },
	{ "report", cmd_report, "per-network reports for a day: Shadowserver CSV, JSON, mail" },
	{ "firewall", cmd_firewall,
	  "`firewall print -c FILE`: nftables rules for any-port capture" },
	{ "top", cmd_top, "live ranking of ports, families and protocol guesses in a log" },
	{ "zones", cmd_zones,
	  "`zones export --format nsd|bind|rpz`: seized DNS zones, for other servers" },
	{ "key", cmd_key, "`key generate FILE`: an Ed25519 key for signed chain heads" },
	{ "evidence", cmd_evidence,
	  "`evidence export` a signed bundle for a date range; `evidence verify DIR`" },
	{ "replay", cmd_replay,
	  "run a pcap/pcapng capture through the sensor's parsers and rules" },
	{ "rules", cmd_rules, "`rules test RULES FILE.pcap`: what each rule matches in a capture" },
	{ "web", cmd_web, "dashboard, network-owner portal and JSON API over the store" },
	{ "token", cmd_token, "`token add|list|revoke`: tokens for `sinkd web`" },
	{ "ship", cmd_ship, "follow the event log into a ClickHouse cluster (idempotent)" },
	{ "clickhouse", cmd_clickhouse, "`clickhouse schema [--apply URL]`: the ClickHouse store" },
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd <command> [options]   (sinkd <command> --help for each)\n\n"
		"sinkd is a botnet sinkhole: it answers infected machines' check-ins harmlessly\n"
		"and records each one in an append-only, hash-chained event log.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		fprintf(to, "  %-9s %s\n", subcommands[i].name, subcommands[i].summary);
}

int main(int argc, char **argv)
{
	/* Before anything touches OpenSSL: its allocations go through per-thread free lists. */
	(void)cmem_install(); /* only refused after OpenSSL has allocated: then libc serves */
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("sinkd %s\n", SINKD_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "sinkd: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
