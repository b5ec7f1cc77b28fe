/* cmd_verify.c — `sinkd verify [--json] DIR`: checks a log's CRCs, seals and hash chain. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "tools/commands.h"

static void verify_usage(FILE *to)
{
	fprintf(to, "usage: sinkd verify [--json] DIR\n\n"
		    "Checks the event log in DIR: every segment header, every record's CRC32C,\n"
		    "every seal's record count, first index and SHA-256 chain head, segment\n"
		    "numbering and the chain across segments, and that nothing follows the last\n"
		    "seal. Prints what was checked and the final chain head, or the first fault\n"
		    "with its position (segment, byte offset, record index).\n\n"
		    "  --json   one JSON object on stdout instead of text\n"
		    "  --help   this text\n\n"
		    "Exit status: 0 the log is intact, 1 a fault was found or the log could not\n"
		    "be read, 2 usage error.\n");
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int print_json(const struct log_verify_report *rep)
{
	struct dynbuf b;
	int rc;

	dynbuf_init(&b, 4096);
	rc = dynbuf_addc(&b, '{');
	rc = rc ? rc : json_key(&b, "ok", 1);
	rc = rc ? rc : dynbuf_adds(&b, rep->ok ? "true" : "false");
	rc = rc ? rc : json_key(&b, "segments", 0);
	rc = rc ? rc : json_u64(&b, rep->segments);
	rc = rc ? rc : json_key(&b, "records", 0);
	rc = rc ? rc : json_u64(&b, rep->records);
	rc = rc ? rc : json_key(&b, "batches", 0);
	rc = rc ? rc : json_u64(&b, rep->batches);
	rc = rc ? rc : json_key(&b, "head", 0);
	rc = rc ? rc : json_hex(&b, rep->head, LOG_HASH_LEN);
	if (!rep->ok) {
		rc = rc ? rc : json_key(&b, "fault", 0);
		rc = rc ? rc : dynbuf_addc(&b, '{');
		rc = rc ? rc : json_key(&b, "segment", 1);
		rc = rc ? rc : json_u64(&b, rep->bad_segment);
		rc = rc ? rc : json_key(&b, "offset", 0);
		rc = rc ? rc : json_u64(&b, rep->bad_offset);
		rc = rc ? rc : json_key(&b, "record", 0);
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

int cmd_verify(int argc, char **argv)
{
	const char *dir = NULL;
	bool json = false;
	struct log_verify_report rep;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			verify_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--") && i + 1 < argc && !dir) {
			dir = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "sinkd verify: unknown option '%s'\n", argv[i]);
			verify_usage(stderr);
			return 2;
		} else if (!dir) {
			dir = argv[i];
		} else {
			fprintf(stderr, "sinkd verify: more than one directory given\n");
			verify_usage(stderr);
			return 2;
		}
	}
	if (!dir) {
		verify_usage(stderr);
		return 2;
	}

	int rc = log_verify(dir, &rep);
	if (rc) {
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
		return 1;
	}

	if (json) {
		if (print_json(&rep))
			return 1;
		return rep.ok ? 0 : 1;
	}
	char head[2 * LOG_HASH_LEN + 1];
	hex(rep.head, LOG_HASH_LEN, head);
	if (rep.ok) {
		printf("ok: %llu segments, %llu records, %llu batches checked\n"
		       "chain head: %s\n",
		       (unsigned long long)rep.segments, (unsigned long long)rep.records,
		       (unsigned long long)rep.batches, head);
		return 0;
	}
	printf("FAULT in segment %lu at offset %llu (record %llu): %s\n"
	       "checked before the fault: %llu segments, %llu records, %llu batches\n"
	       "chain head after the last good seal: %s\n",
	       (unsigned long)rep.bad_segment, (unsigned long long)rep.bad_offset,
	       (unsigned long long)rep.bad_record, rep.reason, (unsigned long long)rep.segments,
	       (unsigned long long)rep.records, (unsigned long long)rep.batches, head);
	return 1;
}
