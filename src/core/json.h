/* json.h — JSON text output helpers: escaped strings and numbers appended to a dynbuf. */
#ifndef SINKD_CORE_JSON_H
#define SINKD_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"

/*
 * json_str writes a quoted JSON string from arbitrary bytes: valid UTF-8 is
 * kept, control characters are escaped (\n, \u0001 ...) and every byte that
 * is not valid UTF-8 becomes \u00XX of its value (Latin-1 reading), so
 * hostile bytes always yield valid JSON and nothing is silently lost.
 * All functions return 0 or ERR_NOMEM (the dynbuf's maximum was reached).
 */
int json_str(struct dynbuf *b, const void *s, size_t len);
int json_cstr(struct dynbuf *b, const char *s);
/* "key": (with the comma before it when `first` is false) */
int json_key(struct dynbuf *b, const char *key, int first);
int json_u64(struct dynbuf *b, uint64_t v);
int json_hex(struct dynbuf *b, const uint8_t *p, size_t len); /* quoted lowercase hex */
/*
 * Length of the valid UTF-8 sequence starting at p (1..4; left > 0 bytes
 * remain), or 0 if it is not one (overlong, surrogate, past U+10FFFF, cut).
 */
size_t json_utf8_seq_len(const uint8_t *p, size_t left);

#endif
