/* cmd_web.c — `sinkd web` (dashboard, owner portal, JSON API) and `sinkd token` (add, list, revoke). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "tools/commands.h"
#include "tools/store_opts.h"
#include "web/query.h"
#include "web/tokens.h"
#include "web/web_server.h"

extern char **environ;

/* Set by SIGINT/SIGTERM; the only mutable global. */
static volatile sig_atomic_t web_stop;

static void web_on_signal(int sig)
{
	(void)sig;
	web_stop = 1;
}

/* The token file: --tokens, else the store's path + ".tokens". */
static int tokens_path(const char *opt, const char *store, char *out, size_t cap)
{
	if (opt) {
		snprintf(out, cap, "%s", opt);
		return 0;
	}
	if (!store)
		return -1;
	if (!strncmp(store, "sqlite:", 7))
		store += 7;
	int n = snprintf(out, cap, "%s.tokens", store);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* --- sinkd web ------------------------------------------------------------------------------ */

#define WEB_MAX_ASN_FILES 8

struct report_ctx {
	const char *config;
	const char *store;
	const char *asn_files[WEB_MAX_ASN_FILES]; /* --asn FILE: organisation names in file names */
	size_t n_asn_files;
};

/*
 * The report files of a day for a scope: `sinkd report` itself (this very
 * binary, spawned), so the bytes are exactly what the command writes. The
 * selection is the scope's ASNs, else its prefixes, else its countries
 * (`sinkd report` combines different kinds with AND, a scope with OR: a mixed
 * scope's reports cover its ASNs).
 */
static int make_reports(void *vctx, int64_t day, const struct store_scope *sc, const char *dir)
{
	struct report_ctx *c = vctx;
	char *argv[16 + 2 * WEB_MAX_ASN_FILES + 2 * TOKEN_SCOPE_MAX];
	char vals[TOKEN_SCOPE_MAX][64];
	char dbuf[16], iso[40];
	size_t n = 0;
	time_iso_us((uint64_t)day * 86400000000ull, iso, sizeof iso);
	snprintf(dbuf, sizeof dbuf, "%.10s", iso);
	argv[n++] = "sinkd";
	argv[n++] = "report";
	if (c->config) {
		argv[n++] = "-c";
		argv[n++] = (char *)c->config;
	}
	argv[n++] = "--store";
	argv[n++] = (char *)c->store;
	argv[n++] = "--day";
	argv[n++] = dbuf;
	argv[n++] = "--per";
	argv[n++] = "asn";
	argv[n++] = "--format";
	argv[n++] = "csv,jsonl";
	argv[n++] = "-o";
	argv[n++] = (char *)dir;
	for (size_t i = 0; i < c->n_asn_files; i++) {
		argv[n++] = "--asn";
		argv[n++] = (char *)c->asn_files[i];
	}
	if (!sc->all) {
		const char *opt = sc->n_asns ? "--asn" : sc->n_nets ? "--cidr" : "--country";
		size_t k = sc->n_asns ? sc->n_asns : sc->n_nets ? sc->n_nets : sc->n_ccs;
		if (!k)
			return 0; /* nothing in scope: no files */
		for (size_t i = 0; i < k && i < TOKEN_SCOPE_MAX; i++) {
			if (sc->n_asns) {
				snprintf(vals[i], sizeof vals[i], "%" PRIu32, sc->asns[i]);
			} else if (sc->n_nets) {
				char a[INET6_ADDRSTRLEN];
				inet_ntop(sc->nets[i].ipver == 4 ? AF_INET : AF_INET6,
					  sc->nets[i].addr, a, sizeof a);
				snprintf(vals[i], sizeof vals[i], "%s/%u", a, sc->nets[i].plen);
			} else {
				snprintf(vals[i], sizeof vals[i], "%s", sc->ccs[i]);
			}
			argv[n++] = (char *)opt;
			argv[n++] = vals[i];
		}
	}
	argv[n] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return ERR_SYS;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : ERR_SYS;
}

/* The built UI: --static, else web-ui beside the binary (the build directory), else the installed copy. */
static const char *default_static(char *buf, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	struct stat st;
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, cap, "%s/web-ui", exe);
			if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
				return buf;
			snprintf(buf, cap, "%s/../share/sinkd/web-ui", exe);
			if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
				return buf;
		}
	}
	return NULL;
}

static void web_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd web -c FILE [--listen ADDR:PORT] [--tokens FILE] [--static DIR]\n"
		"\n"
		"Serves the dashboard, the network-owner portal and the JSON API\n"
		"(/api/v1/, docs/api.md) from the store. Every request needs a token\n"
		"(`sinkd token add`): Authorization: Bearer TOKEN, or the session cookie\n"
		"the login form sets.\n"
		"\n"
		"  -c, --config FILE    sinkd config: store.path, log.dir, stats_file\n"
		"      --store PATH     the store (default: config store.path)\n"
		"      --log DIR        event log, for the consumer lag (default: config log.dir)\n"
		"  -l, --listen A:P     address to listen on (default 127.0.0.1:8088)\n"
		"      --tokens FILE    token file (default: the store's path + .tokens)\n"
		"      --static DIR     the built UI (default: web-ui beside the binary)\n"
		"      --asn FILE       ASN data for the report files' organisation names, as for\n"
		"                       `sinkd report --asn FILE` (repeatable; the config's enrich.asn too)\n"
		"      --threads N      request threads (default 4)\n"
		"  -h, --help           this text\n");
}

int cmd_web(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "store", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'L' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tokens", required_argument, NULL, 't' },
		{ "static", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 'n' },
		{ "asn", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_opts so = { 0 };
	struct report_ctx rc = { 0 };
	const char *listen = "127.0.0.1:8088", *tok = NULL, *stat_dir = NULL;
	uint64_t threads = 4;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			so.config = optarg;
			break;
		case 's':
			so.store = optarg;
			break;
		case 'L':
			so.log_dir = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 't':
			tok = optarg;
			break;
		case 'S':
			stat_dir = optarg;
			break;
		case 'a':
			if (rc.n_asn_files == WEB_MAX_ASN_FILES) {
				fprintf(stderr, "sinkd web: at most %d --asn files\n",
					WEB_MAX_ASN_FILES);
				return 2;
			}
			rc.asn_files[rc.n_asn_files++] = optarg;
			break;
		case 'n':
			if (query_u64(optarg, 64, &threads) || !threads) {
				fprintf(stderr, "sinkd web: --threads takes 1..64\n");
				return 2;
			}
			break;
		case 'h':
			web_usage(stdout);
			return 0;
		default:
			web_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		web_usage(stderr);
		return 2;
	}
	if (store_opts_resolve(&so, "web"))
		return 1;
	int status = 1;
	char tpath[4096], sbuf[PATH_MAX + 32], err[512];
	if (!so.store) {
		fprintf(stderr, "sinkd web: no store (-c FILE with store.path, or --store PATH)\n");
		status = 2;
		goto out;
	}
	if (tokens_path(tok, so.store, tpath, sizeof tpath)) {
		fprintf(stderr, "sinkd web: token file path too long\n");
		goto out;
	}
	rc.config = so.config;
	rc.store = so.store;
	struct web_server_opts o = {
		.listen = listen,
		.store_path = so.store,
		.tokens_path = tpath,
		.static_dir = stat_dir ? stat_dir : default_static(sbuf, sizeof sbuf),
		.log_dir = so.log_dir,
		.stats_path = so.cfg ? so.cfg->stats_file : NULL,
		.tmp_dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		.threads = (unsigned)threads,
		.make_reports = make_reports,
		.reports_ctx = &rc,
	};
	if (!o.static_dir)
		fprintf(stderr,
			"sinkd web: no built UI found (--static DIR); serving the API only\n");
	struct sigaction sa = { 0 };
	sa.sa_handler = web_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (web_server_run(&o, &web_stop, err, sizeof err)) {
		fprintf(stderr, "sinkd web: %s\n", err);
		goto out;
	}
	status = 0;
out:
	store_opts_free(&so);
	return status;
}

/* --- sinkd token ---------------------------------------------------------------------------- */

static void token_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd token add -c FILE --name NAME [--asn N]... [--cidr P]... [--country CC]... [--admin]\n"
		"       sinkd token list -c FILE\n"
		"       sinkd token revoke -c FILE NAME|ID\n"
		"\n"
		"Tokens for `sinkd web`. A token sees the infected addresses of its ASNs,\n"
		"prefixes or countries (any of them); --admin sees everything. The secret\n"
		"is printed once by `add` and stored only as its SHA-256.\n"
		"\n"
		"  -c, --config FILE    sinkd config (the token file sits beside store.path)\n"
		"      --store PATH     the store (instead of the config's)\n"
		"      --tokens FILE    token file (default: the store's path + .tokens)\n");
}

static void print_token(const struct token *t)
{
	char ts[40];
	printf("%" PRIu32 "\t%s\t%s\t", t->id, t->name, t->admin ? "admin" : "owner");
	for (size_t i = 0; i < t->n_asns; i++)
		printf("%sAS%" PRIu32, i ? "," : "", t->asns[i]);
	for (size_t i = 0; i < t->n_nets; i++) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(t->nets[i].ipver == 4 ? AF_INET : AF_INET6, t->nets[i].addr, a, sizeof a);
		printf("%s%s/%u", i || t->n_asns ? "," : "", a, t->nets[i].plen);
	}
	for (size_t i = 0; i < t->n_ccs; i++)
		printf("%s%s", i || t->n_asns || t->n_nets ? "," : "", t->ccs[i]);
	if (!t->n_asns && !t->n_nets && !t->n_ccs)
		printf("-");
	printf("\t%s", time_iso_us(t->created_us, ts, sizeof ts));
	printf("\t%s\n", t->revoked_us ? time_iso_us(t->revoked_us, ts, sizeof ts) : "valid");
}

int cmd_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "store", required_argument, NULL, 's' },
		{ "tokens", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'N' },
		{ "asn", required_argument, NULL, 'a' },
		{ "cidr", required_argument, NULL, 'C' },
		{ "country", required_argument, NULL, 'y' },
		{ "admin", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		token_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "revoke")) {
		token_usage(stderr);
		return 2;
	}
	struct store_opts so = { 0 };
	const char *tok = NULL;
	struct token *t = calloc(1, sizeof *t);
	struct token_db db = { 0 };
	int status = 2, ch;
	if (!t)
		return 1;
	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			so.config = optarg;
			break;
		case 's':
			so.store = optarg;
			break;
		case 't':
			tok = optarg;
			break;
		case 'N':
			if (!token_name_ok(optarg)) {
				fprintf(stderr, "sinkd token: --name: 1..64 of [A-Za-z0-9_.@-]\n");
				goto out;
			}
			snprintf(t->name, sizeof t->name, "%s", optarg);
			break;
		case 'a':
			if (t->n_asns == TOKEN_SCOPE_MAX ||
			    query_asn(optarg, &t->asns[t->n_asns])) {
				fprintf(stderr, "sinkd token: --asn %s: expected a number\n",
					optarg);
				goto out;
			}
			t->n_asns++;
			break;
		case 'C':
			if (t->n_nets == TOKEN_SCOPE_MAX ||
			    query_net(optarg, &t->nets[t->n_nets])) {
				fprintf(stderr,
					"sinkd token: --cidr %s: expected a prefix (no host bits)\n",
					optarg);
				goto out;
			}
			t->n_nets++;
			break;
		case 'y':
			if (t->n_ccs == TOKEN_SCOPE_MAX || query_cc(optarg, t->ccs[t->n_ccs])) {
				fprintf(stderr,
					"sinkd token: --country %s: expected a country code\n",
					optarg);
				goto out;
			}
			t->n_ccs++;
			break;
		case 'A':
			t->admin = true;
			break;
		case 'h':
			token_usage(stdout);
			status = 0;
			goto out;
		default:
			token_usage(stderr);
			goto out;
		}
	}
	const char *target = NULL;
	if (!strcmp(verb, "revoke")) {
		if (optind + 1 != argc - 1) {
			token_usage(stderr);
			goto out;
		}
		target = argv[optind + 1];
	} else if (optind != argc - 1) {
		token_usage(stderr);
		goto out;
	}
	status = 1;
	if (store_opts_resolve(&so, "token"))
		goto out;
	char path[4096], err[512];
	if (tokens_path(tok, so.store, path, sizeof path)) {
		fprintf(stderr,
			"sinkd token: no token file (-c FILE with store.path, or --tokens)\n");
		status = 2;
		goto out;
	}
	if (token_db_load(&db, path, err, sizeof err)) {
		fprintf(stderr, "sinkd token: %s\n", err);
		goto out;
	}
	if (!strcmp(verb, "list")) {
		printf("id\tname\trole\tscope\tcreated\trevoked\n");
		for (size_t i = 0; i < db.n; i++)
			print_token(&db.t[i]);
		status = 0;
	} else if (!strcmp(verb, "revoke")) {
		if (token_db_revoke(&db, target)) {
			fprintf(stderr, "sinkd token: no valid token named %s\n", target);
		} else if (token_db_save(&db, path)) {
			fprintf(stderr, "sinkd token: cannot write %s\n", path);
		} else {
			printf("revoked %s\n", target);
			status = 0;
		}
	} else {
		char secret[TOKEN_SECRET_LEN + 1];
		if (!t->name[0] || (!t->admin && !t->n_asns && !t->n_nets && !t->n_ccs)) {
			fprintf(stderr,
				"sinkd token add: --name and a scope (--asn, --cidr, --country"
				" or --admin) are required\n");
			status = 2;
		} else if (token_db_add(&db, t, secret)) {
			fprintf(stderr, "sinkd token add: a valid token named %s exists\n",
				t->name);
		} else if (token_db_save(&db, path)) {
			fprintf(stderr, "sinkd token: cannot write %s\n", path);
		} else {
			/* The only time the secret is shown: stdout holds nothing else. */
			printf("%s\n", secret);
			fprintf(stderr,
				"sinkd token: added %s (id %" PRIu32 ") to %s; the token above"
				" is not stored and is shown only now\n",
				t->name, db.t[db.n - 1].id, path);
			status = 0;
		}
	}
out:
	token_db_free(&db);
	free(t);
	store_opts_free(&so);
	return status;
}
