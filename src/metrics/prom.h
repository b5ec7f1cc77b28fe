/* prom.h — Prometheus text exposition (format 0.0.4) written into a dynbuf: names checked, values escaped. */
#ifndef SINKD_METRICS_PROM_H
#define SINKD_METRICS_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"

/*
 * One writer per scrape. A metric family is opened with prom_family (its
 * `# HELP` and `# TYPE` lines), then its samples follow with prom_sample;
 * every sample of a family must come before the next family, as the format
 * requires. Errors are sticky, as with the wire cursor: after the first
 * failure every call does nothing and prom_finish returns that error, so a
 * renderer checks once at the end. Nothing is written for a call that
 * fails, and the dynbuf's hard maximum bounds the whole exposition.
 *
 * Errors: ERR_INVAL for an invalid metric or label name (metric names
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting
 * with "__"), a counter whose name does not end in "_total", a sample before
 * any family, or a label name repeated in one sample; ERR_NOMEM when the
 * dynbuf's maximum is reached.
 */

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_NAME_MAX	  128 /* longest metric name accepted */
#define PROM_LABELS_MAX	  8   /* labels per sample */

enum prom_type {
	PROM_COUNTER,
	PROM_GAUGE,
};

/* A label: name (NUL-terminated, from code) and value (any bytes, escaped and made valid UTF-8). */
struct prom_label {
	const char *name;
	const char *value;
	size_t value_len;
};

struct prom {
	struct dynbuf *out; /* borrowed */
	int err;
	char family[PROM_NAME_MAX + 1];
	size_t family_len; /* 0: no family open yet */
};

void prom_init(struct prom *p, struct dynbuf *out);
/* Opens a family: `# HELP name help` (help escaped) and `# TYPE name type`. */
int prom_family(struct prom *p, const char *name, enum prom_type type, const char *help);
/* One sample of the open family: `name{l1="v1",...} value`. */
int prom_sample(struct prom *p, const struct prom_label *labels, size_t n_labels, uint64_t value);
/* A family with a single unlabelled sample. */
int prom_single(struct prom *p, const char *name, enum prom_type type, const char *help,
		uint64_t value);
/* 0, or the first error of any call since prom_init. */
int prom_finish(const struct prom *p);

/* The name rules of the format, for callers that build names. */
bool prom_metric_name_ok(const char *s, size_t len);
bool prom_label_name_ok(const char *s, size_t len);

#endif
