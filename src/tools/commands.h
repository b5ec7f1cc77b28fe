/* commands.h — the entry point of each `sinkd` subcommand, for the dispatcher in sinkd.c. */
#ifndef SINKD_TOOLS_COMMANDS_H
#define SINKD_TOOLS_COMMANDS_H

/*
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand itself), prints its own --help, and returns the process exit
 * status: 0 success, 1 failure or a check that found a fault, 2 usage error.
 */
int cmd_serve(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_log(int argc, char **argv); /* log cat | log stats */
int cmd_loadgen(int argc, char **argv);
int cmd_loadgen_smtp(int argc, char **argv); /* loadgen --proto smtp */
int cmd_config(int argc, char **argv);	     /* config check */
int cmd_firewall(int argc, char **argv);     /* firewall print */
int cmd_top(int argc, char **argv);
int cmd_lookup(int argc, char **argv);	 /* enrichment of addresses */
int cmd_index(int argc, char **argv);	 /* log -> store */
int cmd_report(int argc, char **argv);	 /* per-network reports from the store */
int cmd_zones(int argc, char **argv);	 /* zones export | zones stats (DNS) */
int cmd_key(int argc, char **argv);	 /* key generate | show */
int cmd_evidence(int argc, char **argv); /* evidence export | verify */
int cmd_replay(int argc, char **argv);	 /* replay FILE.pcap */
int cmd_rules(int argc, char **argv);	 /* rules test RULES FILE.pcap */
int cmd_web(int argc, char **argv);	 /* dashboard, owner portal, JSON API */
int cmd_token(int argc, char **argv);	 /* web tokens: add | list | revoke */

/* The ClickHouse store (docs/clickhouse.md). */
int cmd_ship(int argc, char **argv);	   /* log -> ClickHouse */
int cmd_clickhouse(int argc, char **argv); /* clickhouse schema */

#endif
