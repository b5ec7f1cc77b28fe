/* cmd_verify.c — `sinkd verify [--json] [--key PUB] DIR`: checks a log's CRCs, seals, hash chain and signed heads. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sign.h"
#include "core/timeutil.h"
#include "tools/commands.h"
#include "tools/verify_report.h"

static void verify_usage(FILE *to)
{
	fprintf(to, "usage: sinkd verify [--json] [--key PUB]... DIR\n\n"
		    "Checks the event log in DIR: every segment header, every record's CRC32C,\n"
		    "every seal's record count, first index and SHA-256 chain head, segment\n"
		    "numbering and the chain across segments, and that nothing follows the last\n"
		    "seal. When the log has signed heads (log.signing_key), each one's Ed25519\n"
		    "signature is checked and its head compared with the chain at that point, so\n"
		    "a log that was edited and re-chained, or cut short, is caught too. Prints\n"
		    "what was checked and the final chain head, or the first fault with its\n"
		    "position (segment, byte offset, record index).\n\n"
		    "  --key PUB  trust this public key (PEM; repeatable) instead of the\n"
		    "             signing-*.pub files in DIR, and require the log to be signed\n"
		    "  --json     one JSON object on stdout instead of text\n"
		    "  --help     this text\n\n"
		    "Exit status: 0 the log is intact, 1 a fault was found or the log could not\n"
		    "be read, 2 usage error.\n");
}

void verify_fault_where(const struct log_verify_report *rep, char *buf, size_t cap)
{
	if (rep->bad_in_heads)
		snprintf(buf, cap, "%s entry %" PRIu64 " (byte %" PRIu64 ")", LOG_HEADS_FILE,
			 rep->bad_record, rep->bad_offset);
	else
		snprintf(buf, cap, "segment %" PRIu32 " at offset %" PRIu64 " (record %" PRIu64 ")",
			 rep->bad_segment, rep->bad_offset, rep->bad_record);
}

static int print_json(const struct log_verify_report *rep)
{
	struct dynbuf b;
	char when[40];
	int rc;

	dynbuf_init(&b, 4096);
	rc = dynbuf_addc(&b, '{');
	rc = rc ? rc : json_key(&b, "ok", 1);
	rc = rc ? rc : dynbuf_adds(&b, rep->ok ? "true" : "false");
	rc = rc ? rc : json_key(&b, "segments", 0);
	rc = rc ? rc : json_u64(&b, rep->segments);
	rc = rc ? rc : json_key(&b, "first_segment", 0);
	rc = rc ? rc : json_u64(&b, rep->first_segment);
	rc = rc ? rc : json_key(&b, "first_record", 0);
	rc = rc ? rc : json_u64(&b, rep->first_record);
	rc = rc ? rc : json_key(&b, "records", 0);
	rc = rc ? rc : json_u64(&b, rep->records);
	rc = rc ? rc : json_key(&b, "batches", 0);
	rc = rc ? rc : json_u64(&b, rep->batches);
	rc = rc ? rc : json_key(&b, "head", 0);
	rc = rc ? rc : json_hex(&b, rep->head, LOG_HASH_LEN);
	rc = rc ? rc : json_key(&b, "signed_heads", 0);
	rc = rc ? rc : json_u64(&b, rep->signed_heads);
	if (rep->signed_any) {
		rc = rc ? rc : json_key(&b, "last_signed", 0);
		rc = rc ? rc : dynbuf_addc(&b, '{');
		rc = rc ? rc : json_key(&b, "records", 1);
		rc = rc ? rc : json_u64(&b, rep->last_signed_index);
		rc = rc ? rc : json_key(&b, "time", 0);
		rc = rc ? rc :
			  json_cstr(&b, time_iso_us(rep->last_signed_time_us, when, sizeof when));
		rc = rc ? rc : json_key(&b, "key", 0);
		rc = rc ? rc : json_hex(&b, rep->key_id, 16);
		rc = rc ? rc : dynbuf_addc(&b, '}');
		rc = rc ? rc : json_key(&b, "unsigned_records", 0);
		rc = rc ? rc : json_u64(&b, rep->unsigned_records);
	}
	if (!rep->ok) {
		rc = rc ? rc : json_key(&b, "fault", 0);
		rc = rc ? rc : dynbuf_addc(&b, '{');
		rc = rc ? rc : json_key(&b, "file", 1);
		rc = rc ? rc : json_cstr(&b, rep->bad_in_heads ? LOG_HEADS_FILE : "segment");
		rc = rc ? rc : json_key(&b, "segment", 0);
		rc = rc ? rc : json_u64(&b, rep->bad_segment);
		rc = rc ? rc : json_key(&b, "offset", 0);
		rc = rc ? rc : json_u64(&b, rep->bad_offset);
		rc = rc ? rc : json_key(&b, rep->bad_in_heads ? "entry" : "record", 0);
		rc = rc ? rc : json_u64(&b, rep->bad_record);
		rc = rc ? rc : json_key(&b, "reason", 0);
		rc = rc ? rc : json_cstr(&b, rep->reason);
		rc = rc ? rc : dynbuf_addc(&b, '}');
	}
	rc = rc ? rc : dynbuf_addc(&b, '}');
	if (rc == 0)
		printf("%s\n", b.data);
	dynbuf_free(&b);
	return rc;
}

int verify_report_print(const struct log_verify_report *rep, bool json)
{
	char head[2 * LOG_HASH_LEN + 1], key[33], when[40], where[96];

	if (json)
		return print_json(rep);
	hex_encode(rep->head, LOG_HASH_LEN, head);
	if (rep->ok) {
		printf("ok: %" PRIu64 " segments, %" PRIu64 " records, %" PRIu64
		       " batches checked\n",
		       rep->segments, rep->records, rep->batches);
		if (rep->first_record)
			printf("range: segments %" PRIu32 "-%" PRIu64 ", records %" PRIu64
			       "-%" PRIu64 "\n",
			       rep->first_segment, rep->first_segment + rep->segments - 1,
			       rep->first_record, rep->first_record + rep->records - 1);
		printf("chain head: %s\n", head);
		if (rep->signed_any) {
			hex_encode(rep->key_id, 16, key);
			printf("signed heads: %" PRIu64 " checked; the last covers %" PRIu64
			       " records, signed %s by key %s\n",
			       rep->signed_heads, rep->last_signed_index,
			       time_iso_us(rep->last_signed_time_us, when, sizeof when), key);
			if (rep->unsigned_records)
				printf("note: the last %" PRIu64 " records are chained but not yet "
				       "covered by a signed head\n",
				       rep->unsigned_records);
		} else {
			printf("signed heads: none (the log is not signed)\n");
		}
		return 0;
	}
	verify_fault_where(rep, where, sizeof where);
	printf("FAULT in %s: %s\n"
	       "checked before the fault: %" PRIu64 " segments, %" PRIu64 " records, %" PRIu64
	       " batches, %" PRIu64 " signed heads\n"
	       "chain head after the last good seal: %s\n",
	       where, rep->reason, rep->segments, rep->records, rep->batches, rep->signed_heads,
	       head);
	return 0;
}

int verify_keys_add(const char *cmd, const char *path, struct sign_key ***keys, size_t *n)
{
	struct sign_key *k = NULL;
	int rc = sign_key_load(path, &k);
	if (rc) {
		fprintf(stderr, "%s: --key %s: %s\n", cmd, path,
			rc == ERR_SYS ? strerror(errno) : "not a PEM Ed25519 key");
		return 1;
	}
	struct sign_key **nk = realloc(*keys, (*n + 1) * sizeof *nk);
	if (!nk) {
		sign_key_free(k);
		return 1;
	}
	nk[(*n)++] = k;
	*keys = nk;
	return 0;
}

void verify_keys_free(struct sign_key **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sign_key_free(keys[i]);
	free(keys);
}

static void print_error(const char *dir, int rc, bool json)
{
	const char *why = rc == ERR_NOT_FOUND ? "no log segments there" : err_str(rc);
	if (rc == ERR_SYS)
		why = strerror(errno);
	if (json) {
		struct dynbuf b;
		dynbuf_init(&b, 1024);
		if (!dynbuf_adds(&b, "{\"ok\":false,\"error\":") && !json_cstr(&b, why) &&
		    !dynbuf_addc(&b, '}'))
			printf("%s\n", b.data);
		dynbuf_free(&b);
	}
	fprintf(stderr, "sinkd verify: %s: %s\n", dir, why);
}

int cmd_verify(int argc, char **argv)
{
	const char *dir = NULL;
	bool json = false;
	struct log_verify_report rep;
	struct sign_key **keys = NULL;
	size_t n_keys = 0;
	int status = 2;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			verify_usage(stdout);
			status = 0;
			goto out;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
			if (verify_keys_add("sinkd verify", argv[++i], &keys, &n_keys)) {
				status = 1;
				goto out;
			}
		} else if (!strcmp(argv[i], "--") && i + 1 < argc && !dir) {
			dir = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "sinkd verify: unknown option '%s'\n", argv[i]);
			verify_usage(stderr);
			goto out;
		} else if (!dir) {
			dir = argv[i];
		} else {
			fprintf(stderr, "sinkd verify: more than one directory given\n");
			verify_usage(stderr);
			goto out;
		}
	}
	if (!dir) {
		verify_usage(stderr);
		goto out;
	}

	struct log_verify_opts o = { .keys = keys, .n_keys = n_keys, .require_signed = n_keys > 0 };
	int rc = log_verify_with(dir, &o, &rep);
	if (rc) {
		print_error(dir, rc, json);
		status = 1;
		goto out;
	}
	status = verify_report_print(&rep, json) == 0 && rep.ok ? 0 : 1;
out:
	verify_keys_free(keys, n_keys);
	return status;
}
