/* verify_report.h — printing a log verification report, shared by `verify` and `evidence verify`. */
#ifndef SINKD_TOOLS_VERIFY_REPORT_H
#define SINKD_TOOLS_VERIFY_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/log.h"

struct sign_key;

/* The report as text (stdout) or as one JSON object. Returns 0, or an error building the JSON. */
int verify_report_print(const struct log_verify_report *rep, bool json);

/*
 * Loads public keys given with --key, appending to *keys; on failure prints
 * why (prefixed by `cmd`) and returns nonzero. Caller frees with verify_keys_free.
 */
int verify_keys_add(const char *cmd, const char *path, struct sign_key ***keys, size_t *n);
void verify_keys_free(struct sign_key **keys, size_t n);

/* "segment 3 at offset 1234 (record 17)" or "signed-heads entry 2 (byte 456)". */
void verify_fault_where(const struct log_verify_report *rep, char *buf, size_t cap);

#endif
