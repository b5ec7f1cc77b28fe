/* store_opts.h — options shared by `sinkd lookup`, `index` and `report`: config file, store, log, data files. */
#ifndef SINKD_TOOLS_STORE_OPTS_H
#define SINKD_TOOLS_STORE_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "enrich/contacts.h"
#include "enrich/enrich.h"

#define STORE_OPTS_MAX_FILES 32

/*
 * -c FILE reads store.path, log.dir and enrich.* from a sinkd config; the
 * explicit options add to (files) or replace (paths) what it says.
 */
struct store_opts {
	const char *config;
	const char *store;
	const char *log_dir;
	const char *asn[STORE_OPTS_MAX_FILES];
	size_t n_asn;
	const char *country[STORE_OPTS_MAX_FILES];
	size_t n_country;
	const char *contacts[STORE_OPTS_MAX_FILES];
	size_t n_contacts;
	/* filled by store_opts_resolve (owned strings from the config) */
	struct config *cfg;
};

/* Long options: add these to a getopt table (codes 0x1000...). */
#define STORE_OPTS_LONG                                                                            \
	{ "config", required_argument, NULL, 'c' }, { "store", required_argument, NULL, 0x1001 },  \
		{ "log", required_argument, NULL, 0x1002 },                                        \
		{ "asn", required_argument, NULL, 0x1003 },                                        \
		{ "country", required_argument, NULL, 0x1004 },                                    \
	{                                                                                          \
		"contacts", required_argument, NULL, 0x1005                                        \
	}

#define STORE_OPTS_HELP                                                                            \
	"  -c, --config FILE    sinkd config: store.path, log.dir, enrich.* come from it\n"        \
	"      --store PATH     SQLite store (default: config store.path)\n"                       \
	"      --log DIR        event log (default: config log.dir)\n"                             \
	"      --asn FILE       ASN data: .mmdb, ip-location-db .csv, iptoasn .tsv, *pfx2as*\n"    \
	"                       (repeat; later files win where they overlap)\n"                    \
	"      --country FILE   country MaxMind DB (.mmdb), repeatable\n"                          \
	"      --contacts FILE  abuse contacts CSV (selector,email,org[,source]), repeatable\n"

/* Handles one getopt result; returns 1 if it was one of ours, 0 if not, -1 on error. */
int store_opts_handle(struct store_opts *o, int ch, const char *arg, const char *cmd);
/* Reads the config (if any) and fills the defaults. Returns 0 or prints why and returns -1. */
int store_opts_resolve(struct store_opts *o, const char *cmd);
/* Loads the enrichment tables and contacts (either out may be NULL to skip). */
int store_opts_load(struct store_opts *o, const char *cmd, bool verbose, struct enrich **e,
		    struct contacts **c);
void store_opts_free(struct store_opts *o);

#endif
