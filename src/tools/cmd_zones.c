/* cmd_zones.c — `sinkd zones export`: the seized zones as NSD / BIND configuration and zone files, or an RPZ zone. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/err.h"
#include "proto/dns/dns_config.h"
#include "proto/dns/dns_zone.h"
#include "tools/commands.h"

static void usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd zones export -c CONFIG --format nsd|bind|rpz [-o OUT] [--origin NAME]\n"
		"       sinkd zones stats -c CONFIG\n\n"
		"export writes the seized zones of CONFIG's dns section so an existing DNS server\n"
		"can serve the same answers:\n"
		"  nsd   OUT is a directory: OUT/nsd.conf (one `zone:` per seized name) and\n"
		"        OUT/sinkd-group-N.zone (one zone file per dns.zones entry, relative names)\n"
		"  bind  the same with OUT/named.conf (`zone \"...\" { type primary; ... }`)\n"
		"  rpz   one response-policy zone (origin --origin, default rpz.sinkd) on stdout or\n"
		"        in file OUT: every seized name and *.name rewritten to the sinkhole\n"
		"stats loads the zone table as `serve` does and prints names, load time and memory.\n"
		"Exits 0 on success, 1 on an error, 2 on a usage error.\n");
}

/* Writes the lower-case wire name (no root) in text form, without the final dot. */
static void put_name(FILE *f, const uint8_t *w, size_t len)
{
	for (size_t o = 0; o < len; o += (size_t)w[o] + 1) {
		if (o)
			fputc('.', f);
		fwrite(w + o + 1, 1, w[o], f);
	}
}

static void put_addrs(FILE *f, const char *owner, const struct dns_zone_group *g, uint32_t ttl)
{
	char t[64];
	for (size_t i = 0; i < g->n_a; i++)
		fprintf(f, "%s %" PRIu32 " IN A %s\n", owner, ttl,
			inet_ntop(AF_INET, g->a[i], t, sizeof t));
	for (size_t i = 0; i < g->n_aaaa; i++)
		fprintf(f, "%s %" PRIu32 " IN AAAA %s\n", owner, ttl,
			inet_ntop(AF_INET6, g->aaaa[i], t, sizeof t));
}

/* A configured name in zone-file form: relative names stay relative, absolute ones get a dot. */
static void put_cfg_name(FILE *f, const char *s)
{
	size_t n = strlen(s);
	fprintf(f, "%s%s", s, strchr(s, '.') && s[n - 1] != '.' ? "." : "");
}

/* One zone file per group, written with relative names so every apex of the group can use it. */
static int write_group_zone(const char *path, const struct config_dns *cfg,
			    const struct dns_zone_group *g, uint32_t serial)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return ERR_SYS;
	fprintf(f, "; sinkd seized-zone template for dns.zones[%" PRIu32 "] (family %s)\n",
		g->index, g->family);
	fprintf(f, "$TTL %" PRIu32 "\n@ %" PRIu32 " IN SOA ", g->ttl, g->ttl);
	put_cfg_name(f, cfg->n_ns ? cfg->ns[0] : "ns1");
	fputc(' ', f);
	put_cfg_name(f, cfg->soa_rname ? cfg->soa_rname : "hostmaster");
	fprintf(f, " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", serial,
		cfg->soa_refresh, cfg->soa_retry, cfg->soa_expire, cfg->soa_minimum);
	size_t n_ns = cfg->n_ns ? cfg->n_ns : 1;
	for (size_t i = 0; i < n_ns; i++) {
		const char *ns = cfg->n_ns ? cfg->ns[i] : "ns1";
		fprintf(f, "@ %" PRIu32 " IN NS ", g->ttl);
		put_cfg_name(f, ns);
		fputc('\n', f);
	}
	put_addrs(f, "@", g, g->ttl);
	put_addrs(f, "*", g, g->ttl);
	/* In-zone name servers: glue, and a wildcard below them so deeper names answer as sinkd does. */
	for (size_t i = 0; i < n_ns; i++) {
		const char *ns = cfg->n_ns ? cfg->ns[i] : "ns1";
		if (strchr(ns, '.'))
			continue;
		char wild[80];
		put_addrs(f, ns, g, g->ttl);
		snprintf(wild, sizeof wild, "*.%s", ns);
		put_addrs(f, wild, g, g->ttl);
	}
	return fclose(f) == 0 ? 0 : ERR_SYS;
}

static int export_server(const struct dns_zones *z, const struct config_dns *cfg, const char *dir,
			 bool bind)
{
	char path[4096];
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "sinkd zones export: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	uint32_t serial = dns_zones_serial(z);
	for (size_t i = 0; i < cfg->n_zones; i++) {
		const struct dns_zone_group *g = dns_zones_group(z, i);
		snprintf(path, sizeof path, "%s/sinkd-group-%zu.zone", dir, i);
		if (write_group_zone(path, cfg, g, serial) != 0) {
			fprintf(stderr, "sinkd zones export: %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	snprintf(path, sizeof path, "%s/%s", dir, bind ? "named.conf" : "nsd.conf");
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "sinkd zones export: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f, "# sinkd seized zones: %zu names; include this from your %s configuration\n",
		dns_zones_count(z), bind ? "named" : "nsd");
	size_t pos = 0, wl;
	const struct dns_zone_group *g;
	for (const uint8_t *w; (w = dns_zones_next(z, &pos, &wl, &g)) != NULL;) {
		if (bind) {
			fputs("zone \"", f);
			put_name(f, w, wl);
			fprintf(f,
				"\" { type primary; file \"%s/sinkd-group-%" PRIu32 ".zone\"; };\n",
				dir, g->index);
		} else {
			fputs("zone:\n\tname: \"", f);
			put_name(f, w, wl);
			fprintf(f, "\"\n\tzonefile: \"%s/sinkd-group-%" PRIu32 ".zone\"\n", dir,
				g->index);
		}
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "sinkd zones export: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static int export_rpz(const struct dns_zones *z, const struct config_dns *cfg, const char *out,
		      const char *origin)
{
	FILE *f = out ? fopen(out, "w") : stdout;
	if (!f) {
		fprintf(stderr, "sinkd zones export: %s: %s\n", out, strerror(errno));
		return 1;
	}
	fprintf(f, "; sinkd seized zones as a response-policy zone (RPZ), %zu names\n",
		dns_zones_count(z));
	fprintf(f, "$ORIGIN %s.\n$TTL %" PRIu32 "\n", origin, cfg->ttl);
	fprintf(f,
		"@ IN SOA localhost. hostmaster.localhost. %" PRIu32 " %" PRIu32 " %" PRIu32
		" %" PRIu32 " %" PRIu32 "\n@ IN NS localhost.\n",
		dns_zones_serial(z), cfg->soa_refresh, cfg->soa_retry, cfg->soa_expire,
		cfg->soa_minimum);
	size_t pos = 0, wl;
	const struct dns_zone_group *g;
	for (const uint8_t *w; (w = dns_zones_next(z, &pos, &wl, &g)) != NULL;) {
		char owner[600];
		int n = 0;
		for (size_t o = 0; o < wl && n >= 0 && (size_t)n < sizeof owner;
		     o += (size_t)w[o] + 1)
			n += snprintf(owner + n, sizeof owner - (size_t)n, "%s%.*s", o ? "." : "",
				      (int)w[o], (const char *)w + o + 1);
		if (n < 0 || (size_t)n >= sizeof owner - 3)
			continue;
		put_addrs(f, owner, g, g->ttl);
		char wild[608];
		snprintf(wild, sizeof wild, "*.%s", owner);
		put_addrs(f, wild, g, g->ttl);
	}
	if (out && fclose(f) != 0) {
		fprintf(stderr, "sinkd zones export: %s: %s\n", out, strerror(errno));
		return 1;
	}
	return 0;
}

int cmd_zones(int argc, char **argv)
{
	const char *cfg_path = NULL, *format = NULL, *out = NULL, *origin = "rpz.sinkd";
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1];
	bool export = !strcmp(sub, "export");
	if (!export && strcmp(sub, "stats") != 0) {
		usage(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && v)
			cfg_path = argv[++i];
		else if (!strcmp(a, "--format") && v)
			format = argv[++i];
		else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && v)
			out = argv[++i];
		else if (!strcmp(a, "--origin") && v)
			origin = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!cfg_path || (export && !format)) {
		usage(stderr);
		return 2;
	}
	bool nsd = format && !strcmp(format, "nsd"), bind = format && !strcmp(format, "bind");
	bool rpz = format && !strcmp(format, "rpz");
	if (export && (!(nsd || bind || rpz) || ((nsd || bind) && !out))) {
		usage(stderr);
		return 2;
	}
	char err[1024] = "";
	struct config *cfg = NULL;
	if (config_load(cfg_path, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "sinkd zones: %s\n", err);
		return 1;
	}
	int status = 1;
	struct dns_zones *z = NULL;
	if (!cfg->dns) {
		fprintf(stderr, "sinkd zones: %s has no dns section\n", cfg_path);
		goto out;
	}
	if (dns_zones_build(cfg->dns, &z, err, sizeof err) != 0) {
		fprintf(stderr, "sinkd zones: %s\n", err);
		goto out;
	}
	if (!export) {
		struct dns_zones_stats st;
		dns_zones_get_stats(z, &st);
		printf("names       %" PRIu64 "\nduplicates  %" PRIu64 "\nload_ms     %.1f\n"
		       "memory      %.1f MiB\n",
		       st.names, st.duplicates, (double)st.load_us / 1000.0,
		       (double)st.bytes / (1024.0 * 1024.0));
		status = 0;
	} else if (rpz) {
		status = export_rpz(z, cfg->dns, out, origin);
	} else {
		status = export_server(z, cfg->dns, out, bind);
	}
out:
	dns_zones_free(z);
	config_free(cfg);
	return status;
}
