/* ch_schema.c — CREATE statements of the ClickHouse store (18.16 syntax: no newer types or clauses). */
#include "store/ch_schema.h"

#include "core/err.h"

/*
 * Columns: what store_event holds, plus the row's identity (sensor, seg,
 * off: the record's position in its sensor's log) and its UTC day.
 * ReplacingMergeTree over ORDER BY (day, sensor, seg, off): the report
 * queries select a day range and read it in log order per sensor, and the
 * same key makes a row shipped twice collapse into one (FINAL at read time,
 * background merges on disk). Partitions are UTC days: old days are dropped
 * whole (ALTER TABLE ... DROP PARTITION).
 */
static const char columns[] = "(\n"
			      "  day Date,\n"
			      "  sensor String,\n"
			      "  seg UInt32,\n"
			      "  off UInt64,\n"
			      "  ts_us UInt64,\n"
			      "  kind UInt8,\n"
			      "  type UInt8,\n"
			      "  transport UInt8,\n"
			      "  ipver UInt8,\n"
			      "  flags UInt16,\n"
			      "  src FixedString(16),\n"
			      "  src_port UInt16,\n"
			      "  src_asn UInt32,\n"
			      "  src_cc FixedString(2),\n"
			      "  dst FixedString(16),\n"
			      "  dst_port UInt16,\n"
			      "  dst_asn UInt32,\n"
			      "  dst_cc FixedString(2),\n"
			      "  family String,\n"
			      "  tag String,\n"
			      "  http_url String,\n"
			      "  http_host String,\n"
			      "  http_agent String,\n"
			      "  forwarded_by String,\n"
			      "  http_referer String,\n"
			      "  ssl_servername String,\n"
			      "  machine_name String,\n"
			      "  query_type String,\n"
			      "  query String,\n"
			      "  bot_id String,\n"
			      "  ssl_cipher String\n"
			      ")";

static const char engine[] = "ENGINE = ReplacingMergeTree()\n"
			     "PARTITION BY day\n"
			     "ORDER BY (day, sensor, seg, off)\n"
			     "SETTINGS index_granularity = 8192";

int ch_schema_stmt(struct dynbuf *b, size_t i, const char *db, const char *cluster)
{
	switch (i) {
	case 0:
		return dynbuf_printf(b, "CREATE DATABASE IF NOT EXISTS %s", db);
	case 1:
		return dynbuf_printf(b, "CREATE TABLE IF NOT EXISTS %s.%s\n%s\n%s", db,
				     cluster ? "events_local" : "events", columns, engine);
	case 2:
		if (!cluster)
			return ERR_END;
		/*
		 * Rows go to a shard by (sensor, segment): a record's copies always meet on
		 * one shard, where FINAL collapses them; a sensor's segments spread out.
		 */
		return dynbuf_printf(
			b,
			"CREATE TABLE IF NOT EXISTS %s.events AS %s.events_local\n"
			"ENGINE = Distributed(%s, %s, events_local, cityHash64(sensor, seg))",
			db, db, cluster, db);
	default:
		return ERR_END;
	}
}
