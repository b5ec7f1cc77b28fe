/* cmd_firewall.c — `sinkd firewall print`: the nftables rules for any-port listeners. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "net/anyport.h"
#include "tools/commands.h"

static int firewall_usage(FILE *to, int status)
{
	fprintf(to, "usage: sinkd firewall print -c FILE\n"
		    "\n"
		    "Prints the nftables script that sends every configured port of the seized\n"
		    "addresses to the any-port listeners of FILE (listeners with `ports:`):\n"
		    "NAT REDIRECT (default) or TPROXY (`redirect: tproxy`). Ports other\n"
		    "listeners serve on the same address are left alone. Apply it with\n"
		    "  sinkd firewall print -c FILE | nft -f -\n"
		    "It replaces the table `inet sinkd` as a whole; `nft delete table inet sinkd`\n"
		    "removes it. Exit 0, 1 if FILE has no any-port listener or does not load.\n");
	return status;
}

int cmd_firewall(int argc, char **argv)
{
	const char *path = NULL;
	if (argc < 2)
		return firewall_usage(stderr, 2);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return firewall_usage(stdout, 0);
	if (strcmp(argv[1], "print") != 0)
		return firewall_usage(stderr, 2);
	for (int i = 2; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return firewall_usage(stdout, 0);
		else
			return firewall_usage(stderr, 2);
	}
	if (!path)
		return firewall_usage(stderr, 2);
	char err[512] = "";
	struct config *cfg = NULL;
	if (config_load(path, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "sinkd firewall: %s\n", err);
		return 1;
	}
	struct dynbuf b;
	dynbuf_init(&b, 16u << 20);
	int rc = anyport_nft_script(cfg, &b);
	if (rc == ERR_INVAL)
		fprintf(stderr, "sinkd firewall: %s has no listener with \"ports\"\n", path);
	else if (rc)
		fprintf(stderr, "sinkd firewall: %s\n", err_str(rc));
	else
		fwrite(b.data, 1, b.len, stdout);
	dynbuf_free(&b);
	config_free(cfg);
	return rc ? 1 : 0;
}
