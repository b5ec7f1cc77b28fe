/* cmd_key.c — `sinkd key generate|show`: Ed25519 keys for signed chain heads and evidence bundles. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/sign.h"
#include "tools/commands.h"

static void key_usage(FILE *to)
{
	fprintf(to, "usage: sinkd key generate [--force] FILE\n"
		    "       sinkd key show FILE\n\n"
		    "generate  writes a new Ed25519 private key to FILE (PEM, mode 0600) and its\n"
		    "          public key to FILE.pub (PEM), and prints the key's fingerprint.\n"
		    "          Point log.signing_key at FILE: the log writer then signs its chain\n"
		    "          head when it opens the log, at each segment close, at each UTC\n"
		    "          midnight and when it stops. Publish FILE.pub (or its fingerprint)\n"
		    "          so that anyone can check an evidence bundle against it.\n"
		    "          --force replaces existing files.\n"
		    "show      prints the fingerprint of a private or public key file.\n\n"
		    "The fingerprint is the first 16 bytes of SHA-256 over the raw 32-byte public\n"
		    "key, in hex; `sinkd verify` and `sinkd evidence verify` print the same.\n\n"
		    "Exit status: 0 done, 1 failure, 2 usage error.\n");
}

static const char *why(int rc)
{
	return rc == ERR_SYS   ? strerror(errno) :
	       rc == ERR_INVAL ? "not a PEM Ed25519 key" :
				 err_str(rc);
}

static int key_generate(const char *path, bool force)
{
	struct sign_key *k = NULL;
	char fp[33];
	size_t n = strlen(path) + 5;
	char *pub = malloc(n);
	int status = 1;
	int rc;

	if (!pub)
		return 1;
	snprintf(pub, n, "%s.pub", path);
	if ((rc = sign_key_generate(&k))) {
		fprintf(stderr, "sinkd key generate: %s\n", err_str(rc));
		goto out;
	}
	if ((rc = sign_key_save_private(k, path, force))) {
		fprintf(stderr, "sinkd key generate: %s: %s\n", path, why(rc));
		goto out;
	}
	if ((rc = sign_key_save_public(k, pub, force))) {
		fprintf(stderr, "sinkd key generate: %s: %s\n", pub, why(rc));
		goto out;
	}
	sign_key_fingerprint(k, fp);
	printf("private key  %s (keep it secret: mode 0600)\n"
	       "public key   %s\n"
	       "fingerprint  %s\n",
	       path, pub, fp);
	status = 0;
out:
	sign_key_free(k);
	free(pub);
	return status;
}

static int key_show(const char *path)
{
	struct sign_key *k = NULL;
	char fp[33];
	int rc = sign_key_load(path, &k);
	if (rc) {
		fprintf(stderr, "sinkd key show: %s: %s\n", path, why(rc));
		return 1;
	}
	sign_key_fingerprint(k, fp);
	printf("%s  ed25519 %s key  fingerprint %s\n", path,
	       sign_key_has_private(k) ? "private" : "public", fp);
	sign_key_free(k);
	return 0;
}

int cmd_key(int argc, char **argv)
{
	bool force = false;
	const char *file = NULL;

	if (argc < 2) {
		key_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		key_usage(stdout);
		return 0;
	}
	bool gen = !strcmp(argv[1], "generate");
	if (!gen && strcmp(argv[1], "show") != 0) {
		fprintf(stderr, "sinkd key: unknown subcommand '%s'\n", argv[1]);
		key_usage(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			key_usage(stdout);
			return 0;
		} else if (gen && !strcmp(argv[i], "--force")) {
			force = true;
		} else if (argv[i][0] == '-' || file) {
			fprintf(stderr, "sinkd key: unexpected argument '%s'\n", argv[i]);
			key_usage(stderr);
			return 2;
		} else {
			file = argv[i];
		}
	}
	if (!file) {
		key_usage(stderr);
		return 2;
	}
	return gen ? key_generate(file, force) : key_show(file);
}
