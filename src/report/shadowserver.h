/* shadowserver.h — Shadowserver-compatible sinkhole report rows (CSV and JSON lines) from store events. */
#ifndef SINKD_REPORT_SHADOWSERVER_H
#define SINKD_REPORT_SHADOWSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/dynbuf.h"
#include "store/store.h"

/*
 * Report types and their exact current column orders (report_schema
 * reports.json; ../shared/reference/formats.md §1):
 *   event4_sinkhole_http / event6_sinkhole_http   39 columns (HTTP)
 *   event4_sinkhole / event6_sinkhole             33 columns (other TCP/UDP)
 *   event4_sinkhole_dns                           21 columns (resolver queries;
 *                                                 both families, the schema has no event6 variant)
 * Value conventions: timestamp "YYYY-MM-DD HH:MM:SS" UTC; integers unquoted;
 * strings double-quoted with "" for a quote; a missing value is empty (",,"),
 * never ""; header names double-quoted; LF line ends. Text from the wire is
 * made safe for CSV consumers: invalid UTF-8 and control characters become '?'.
 */
enum ss_type {
	SS_EVENT4_HTTP,
	SS_EVENT6_HTTP,
	SS_EVENT4_TCP,
	SS_EVENT6_TCP,
	SS_EVENT4_DNS,
	SS_TYPE_N
};

/* Report type for an event (by kind and IP version). */
enum ss_type ss_type_of(const struct store_event *e);
/* "event4_sinkhole_http", ... */
const char *ss_type_name(enum ss_type t);
/* "Sinkhole-Events-HTTP IPv4", ... (Shadowserver's feed name) */
const char *ss_feed_name(enum ss_type t);

int ss_csv_header(struct dynbuf *b, enum ss_type t);
int ss_csv_row(struct dynbuf *b, enum ss_type t, const struct store_event *e);
/* One JSON object per line, the same columns as keys (missing values are null). */
int ss_json_row(struct dynbuf *b, enum ss_type t, const struct store_event *e);

/* "2026-11-28 22:55:40" (UTC) into buf (>= 20 bytes). */
void ss_timestamp(uint64_t ts_us, char *buf, size_t cap);

#endif
