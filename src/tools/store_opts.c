/* store_opts.c — resolve the store, log and data files from the command line and the config. */
#include "tools/store_opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"

static int add_file(const char **arr, size_t *n, const char *arg, const char *cmd, const char *opt)
{
	if (*n == STORE_OPTS_MAX_FILES) {
		fprintf(stderr, "sinkd %s: at most %d %s files\n", cmd, STORE_OPTS_MAX_FILES, opt);
		return -1;
	}
	arr[(*n)++] = arg;
	return 1;
}

int store_opts_handle(struct store_opts *o, int ch, const char *arg, const char *cmd)
{
	switch (ch) {
	case 'c':
		o->config = arg;
		return 1;
	case 0x1001:
		o->store = arg;
		return 1;
	case 0x1002:
		o->log_dir = arg;
		return 1;
	case 0x1003:
		return add_file(o->asn, &o->n_asn, arg, cmd, "--asn");
	case 0x1004:
		return add_file(o->country, &o->n_country, arg, cmd, "--country");
	case 0x1005:
		return add_file(o->contacts, &o->n_contacts, arg, cmd, "--contacts");
	default:
		return 0;
	}
}

int store_opts_resolve(struct store_opts *o, const char *cmd)
{
	if (!o->config)
		return 0;
	char err[512];
	if (config_load(o->config, &o->cfg, err, sizeof err)) {
		fprintf(stderr, "sinkd %s: %s\n", cmd, err);
		return -1;
	}
	const struct config_store *s = &o->cfg->store;
	if (!o->store)
		o->store = s->path;
	if (!o->log_dir)
		o->log_dir = o->cfg->log_dir;
	/* Config files first, so files on the command line win where they overlap. */
	const char *tmp[STORE_OPTS_MAX_FILES];
	struct {
		const char **arr;
		size_t *n;
		char **cfg;
		size_t ncfg;
	} lists[] = {
		{ o->asn, &o->n_asn, s->asn, s->n_asn },
		{ o->country, &o->n_country, s->country, s->n_country },
		{ o->contacts, &o->n_contacts, s->contacts, s->n_contacts },
	};
	for (size_t l = 0; l < 3; l++) {
		if (lists[l].ncfg + *lists[l].n > STORE_OPTS_MAX_FILES) {
			fprintf(stderr, "sinkd %s: too many data files\n", cmd);
			return -1;
		}
		memcpy(tmp, lists[l].arr, *lists[l].n * sizeof *tmp);
		for (size_t i = 0; i < lists[l].ncfg; i++)
			lists[l].arr[i] = lists[l].cfg[i];
		memcpy(lists[l].arr + lists[l].ncfg, tmp, *lists[l].n * sizeof *tmp);
		*lists[l].n += lists[l].ncfg;
	}
	return 0;
}

int store_opts_load(struct store_opts *o, const char *cmd, bool verbose, struct enrich **e,
		    struct contacts **c)
{
	char err[512];
	if (e) {
		struct enrich_builder *b;
		if (enrich_builder_new(&b))
			return -1;
		for (size_t i = 0; i < o->n_asn + o->n_country; i++) {
			bool asn = i < o->n_asn;
			const char *f = asn ? o->asn[i] : o->country[i - o->n_asn];
			struct enrich_load_stats st;
			int rc = asn ? enrich_load_asn(b, f, &st, err, sizeof err) :
				       enrich_load_country(b, f, &st, err, sizeof err);
			if (rc) {
				fprintf(stderr, "sinkd %s: %s\n", cmd, err);
				enrich_builder_free(b);
				return -1;
			}
			if (verbose || st.skipped)
				fprintf(stderr, "sinkd %s: %s: %llu entries%s", cmd, f,
					(unsigned long long)st.entries, st.skipped ? "" : "\n");
			if (st.skipped)
				fprintf(stderr, ", %llu lines skipped (first: line %llu)\n",
					(unsigned long long)st.skipped,
					(unsigned long long)st.first_bad_line);
		}
		if (enrich_build(b, e)) {
			fprintf(stderr, "sinkd %s: out of memory building the tables\n", cmd);
			return -1;
		}
	}
	if (c) {
		if (contacts_new(c))
			return -1;
		for (size_t i = 0; i < o->n_contacts; i++) {
			if (contacts_load(*c, o->contacts[i], err, sizeof err)) {
				fprintf(stderr, "sinkd %s: %s\n", cmd, err);
				return -1;
			}
		}
		if (contacts_finish(*c)) {
			fprintf(stderr, "sinkd %s: out of memory\n", cmd);
			return -1;
		}
	}
	return 0;
}

void store_opts_free(struct store_opts *o)
{
	config_free(o->cfg);
	o->cfg = NULL;
}
