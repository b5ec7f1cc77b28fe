/* test_store.c — the SQLite store (ingest with position, aggregates, filters) and the Shadowserver rows. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/config.h"
#include "core/event.h"
#include "report/shadowserver.h"
#include "store/indexer.h"
#include "store/store.h"
#include "store/store_internal.h"

#define DAY_US 86400000000ull
#define T0     (20785ull * DAY_US + 3723000000ull) /* 2026-11-28 01:02:03 UTC */

/* Bot IDs of "rustock" come from the X-Bot-Id header (store.bot_ids). */
static struct config_bot_id bot_rule[] = { { "rustock", NULL, "X-Bot-Id" },
					   { "rustock", "id", NULL } };
static const struct config_store bot_rules = { .bot_ids = bot_rule, .n_bot_ids = 2 };

/* One encoded HTTP event, converted as the indexer would (no enrichment). */
static void make_event(uint8_t *buf, size_t cap, struct store_event *out, const char *src,
		       uint64_t ts, const char *family, uint8_t type)
{
	struct event_header h = { .version = EVENT_FORMAT_VERSION,
				  .type = type,
				  .transport = type == EVENT_DNS ? 17 : 6,
				  .ts_us = ts,
				  .flow_id = 7 };
	event_addr_parse(src, &h.src);
	h.src.port = 40000;
	event_addr_parse(h.src.ipver == 4 ? "127.0.0.1" : "::1", &h.dst);
	h.dst.port = 80;
	struct event_builder b;
	event_begin(&b, buf, cap, &h);
	event_put_str(&b, EVENT_T_FAMILY, family);
	event_put_str(&b, EVENT_T_TAG, "login");
	event_put_str(&b, EVENT_T_HTTP_URI, "/login.php?a=\"1\"");
	event_put_str(&b, EVENT_T_HTTP_HOST, "cnc.example");
	event_put_str(&b, EVENT_T_HTTP_USER_AGENT, "Bot\x01\xff/1.0 \xc3\xa9");
	event_put_u16(&b, 0x0777, 5); /* a tag from the future: skipped */
	/* Headers as the HTTP module records them: be16 count, (be16 len, name, be16 len, value)*. */
	uint8_t hl[96];
	char bot[48];
	int bl = snprintf(bot, sizeof bot, "bot-%s", src);
	size_t o = 0;
	hl[o++] = 0;
	hl[o++] = 2;
	hl[o++] = 0;
	hl[o++] = 4;
	memcpy(hl + o, "Host", 4);
	o += 4;
	hl[o++] = 0;
	hl[o++] = 1;
	hl[o++] = 'x';
	hl[o++] = 0;
	hl[o++] = 8;
	memcpy(hl + o, "x-bot-id", 8);
	o += 8;
	hl[o++] = 0;
	hl[o++] = (uint8_t)bl;
	memcpy(hl + o, bot, (size_t)bl);
	o += (size_t)bl;
	event_put(&b, EVENT_T_HTTP_HEADERS, hl, o);
	if (type == EVENT_TLS) {
		event_put_str(&b, EVENT_T_TLS_SNI, "cnc.example");
		event_put_u16(&b, EVENT_T_TLS_CIPHER, 0x1301);
	}
	if (type == EVENT_DNS) {
		event_put_str(&b, EVENT_T_DNS_QNAME, "Cnc.Example");
		event_put_u16(&b, EVENT_T_DNS_QTYPE, 28);
		event_put_str(&b, EVENT_T_DNS_CLIENT_KIND, "resolver");
	}
	size_t len;
	CHECK_INT(event_finish(&b, &len), 0);
	CHECK_INT(indexer_convert(buf, len, "sensor-1", NULL, &bot_rules, out), 0);
	out->src_asn = h.src.ipver == 4 ? (uint32_t)(h.src.addr[0]) + 64000 : 64999;
	memcpy(out->src_cc, h.src.addr[0] == 10 ? "DE" : "US", 3);
}

struct collect {
	struct dynbuf csv;
	int n;
};

static int on_row(void *ctx, const struct store_event *e)
{
	struct collect *c = ctx;
	c->n++;
	return ss_csv_row(&c->csv, ss_type_of(e), e);
}

struct bsum {
	uint64_t unique, events;
	int rows;
};

static int on_bots(void *ctx, const struct store_bots *b)
{
	struct bsum *s = ctx;
	s->unique += b->unique_bots;
	s->events += b->events;
	s->rows++;
	return 0;
}

struct dsum {
	uint64_t unique, events;
	int rows;
};

static int on_daily(void *ctx, const struct store_daily *d)
{
	struct dsum *s = ctx;
	s->unique += d->unique_src;
	s->events += d->events;
	s->rows++;
	return 0;
}

/* The report's own dotted-quad formatting against inet_ntop, every octet value in every position. */
static void check_ipv4_column(void)
{
	struct dynbuf b;
	dynbuf_init(&b, 1u << 20);
	for (unsigned v = 0; v < 256; v++) {
		for (int pos = 0; pos < 4; pos++) {
			struct store_event e = { 0 };
			e.ts_us = T0;
			e.ipver = 4;
			e.transport = 6;
			e.kind = STORE_KIND_TCP;
			for (int i = 0; i < 4; i++)
				e.src[i] =
					(uint8_t)(i == pos ? v : (v * 7 + (unsigned)i * 91) % 256);
			memcpy(e.dst, e.src, 4);
			e.dst[3] ^= 0xff;
			char want[96], ws[INET_ADDRSTRLEN], wd[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, e.src, ws, sizeof ws);
			inet_ntop(AF_INET, e.dst, wd, sizeof wd);
			dynbuf_reset(&b);
			ss_csv_row(&b, SS_EVENT4_TCP, &e);
			snprintf(want, sizeof want, "\"2026-11-28 01:02:03\",\"tcp\",\"%s\",0,",
				 ws);
			CHECK(b.len > strlen(want) && !memcmp(b.data, want, strlen(want)));
			snprintf(want, sizeof want, ",\"critical\",\"%s\",0,", wd);
			CHECK(strstr(b.data, want) != NULL);
		}
	}
	dynbuf_free(&b);
}

/* What store_hosts gives whatever the backend: families in name order, bounded fingerprint sets. */
static void check_host_lists(void)
{
	char l[] = "rustock,gatebot,tlsbot,gatebot2", one[] = "x", none[] = "";
	CHECK_INT(store__sort_list(l), 0);
	CHECK_STR(l, "gatebot,gatebot2,rustock,tlsbot");
	CHECK_INT(store__sort_list(one), 0);
	CHECK_STR(one, "x");
	CHECK_INT(store__sort_list(none), 0);
	CHECK_STR(none, "");
	static struct store__host_detail det[2];
	det[0].ipver = 4;
	memcpy(det[0].addr, "\x0a\0\0\x01", 4);
	det[1].ipver = 6;
	memcpy(det[1].addr, "\x20\x01\x0d\xb8", 4);
	struct store_str t[3] = { { "Bot/1", 5 }, { "a,b", 3 }, { "\x01x", 2 } };
	store__host_note(det, 2, 4, det[0].addr, 80, t);
	store__host_note(det, 2, 4, det[0].addr, 443, t);
	store__host_note(det, 2, 4, det[0].addr, 80, t);
	store__host_note(det, 2, 4, det[1].addr, 8080, t); /* not on the page: ignored */
	CHECK_STR(det[0].set[0], "80,443");
	CHECK_STR(det[0].set[1], "Bot/1");
	CHECK_STR(det[0].set[2], ""); /* a comma: left out */
	CHECK_STR(det[0].set[3], ""); /* a control byte: left out */
	CHECK_STR(det[1].set[0], "");
	/* Bounded: distinct values stop before the set's size. */
	for (unsigned p = 1000; p < 1400; p++)
		store__host_note(det, 2, 6, det[1].addr, p, t);
	CHECK(strlen(det[1].set[0]) < STORE_HOST_SET_BYTES);
	CHECK(strlen(det[1].set[0]) > STORE_HOST_SET_BYTES - 8);
}

int main(void)
{
	check_ipv4_column();
	check_host_lists();
	char path[] = "/tmp/sinkd-test-store-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	unlink(path);
	struct store *s;
	char err[256];
	CHECK_INT(store_open(&s, "mysql://localhost:3306/sinkd", true, err, sizeof err),
		  ERR_UNSUPPORTED);
	CHECK(strstr(err, "no backend") != NULL);
	/* The ClickHouse backend checks its URL before any connection. */
	CHECK_INT(store_open(&s, "clickhouse://localhost:8123", false, err, sizeof err),
		  ERR_CONFIG);
	CHECK_INT(store_open(&s, "clickhouse://localhost:8123/a;b", false, err, sizeof err),
		  ERR_CONFIG);
	CHECK_INT(store_open(&s, "clickhouse://localhost:8123/db?x=1", false, err, sizeof err),
		  ERR_CONFIG);
	CHECK_INT(store_open(&s, path, true, err, sizeof err), 0);
	struct log_pos pos;
	CHECK_INT(store_get_pos(s, &pos), 0);
	CHECK_INT(pos.segment, 0);

	static uint8_t bufs[8][4096];
	struct store_event ev[8];
	make_event(bufs[0], 4096, &ev[0], "10.0.0.1", T0, "rustock", EVENT_HTTP);
	make_event(bufs[1], 4096, &ev[1], "10.0.0.1", T0 + 5000000, "rustock", EVENT_HTTP);
	make_event(bufs[2], 4096, &ev[2], "11.0.0.2", T0 + 6000000, "rustock", EVENT_HTTP);
	make_event(bufs[3], 4096, &ev[3], "11.0.0.3", T0 + 7000000, "unknown", EVENT_HTTP);
	make_event(bufs[4], 4096, &ev[4], "2001:db8::9", T0 + 8000000, "rustock", EVENT_HTTP);
	make_event(bufs[5], 4096, &ev[5], "11.0.0.4", T0 + 9000000, "resolver", EVENT_DNS);
	make_event(bufs[6], 4096, &ev[6], "10.0.0.1", T0 + DAY_US, "rustock", EVENT_TLS);
	make_event(bufs[7], 4096, &ev[7], "10.0.0.1", T0 - 1000000, "rustock", EVENT_HTTP);
	CHECK_INT(ev[5].kind, STORE_KIND_DNS);
	CHECK_INT(ev[6].kind, STORE_KIND_TCP);
	CHECK(!store_is_infection(&ev[3]));
	CHECK(!store_is_infection(&ev[5]));

	struct log_pos p1 = { 1, 1000 }, p2 = { 2, 136 };
	struct log_pos p0 = { 0, 0 };
	CHECK_INT(store_ingest(s, ev, 4, &p0, &p1), 0);
	/* A second indexer starting from the old position is refused, nothing written. */
	CHECK_INT(store_ingest(s, ev, 4, &p0, &p1), ERR_INVAL);
	/* Compaction merges the pending aggregates; later batches add to merged rows. */
	struct store_filter f0 = { .day_from = 20785, .day_to = 20785 };
	struct dsum before = { 0 }, after = { 0 };
	CHECK_INT(store_daily(s, &f0, on_daily, &before), 0);
	CHECK_INT(store_compact(s), 0);
	CHECK_INT(store_daily(s, &f0, on_daily, &after), 0);
	CHECK_INT(after.unique, before.unique);
	CHECK_INT(after.events, before.events);
	CHECK_INT(before.unique, 2);
	CHECK_INT(before.events, 3);
	CHECK_INT(store_ingest(s, ev + 4, 4, &p1, &p2), 0);
	CHECK_INT(store_get_pos(s, &pos), 0);
	CHECK_INT(pos.segment, 2);
	CHECK_INT(pos.offset, 136);
	store_close(s);

	CHECK_INT(store_open(&s, path, false, err, sizeof err), 0);
	/* Day 20785: 10.0.0.1 (3 events incl. the earlier one), 11.0.0.2, 2001:db8::9 */
	struct store_filter f = { .day_from = 20785, .day_to = 20785 };
	uint64_t u = 0;
	CHECK_INT(store_unique_sources(s, &f, &u), 0);
	CHECK_INT(u, 3);
	/* Bot IDs: 10.0.0.1 (three check-ins), 11.0.0.2, 2001:db8::9; not unknown, not DNS. */
	struct bsum bs = { 0 };
	CHECK_INT(store_bots(s, &f, on_bots, &bs), 0);
	CHECK_INT(bs.rows, 1);
	CHECK_INT(bs.unique, 3);
	CHECK_INT(bs.events, 5);
	struct dsum ds = { 0 };
	CHECK_INT(store_daily(s, &f, on_daily, &ds), 0);
	CHECK_INT(ds.unique, 3);
	CHECK_INT(ds.events, 5);
	f.day_to = 20786;
	CHECK_INT(store_unique_sources(s, &f, &u), 0);
	CHECK_INT(u, 3);
	uint32_t asn = 64010;
	f.asns = &asn;
	f.n_asns = 1;
	CHECK_INT(store_unique_sources(s, &f, &u), 0);
	CHECK_INT(u, 1);
	f.asns = NULL;
	f.n_asns = 0;
	const char cc[1][3] = { "US" };
	f.ccs = cc;
	f.n_ccs = 1;
	CHECK_INT(store_unique_sources(s, &f, &u), 0);
	CHECK_INT(u, 2);
	f.ccs = NULL;
	f.n_ccs = 0;
	struct store_net net = { .ipver = 6, .plen = 32 };
	inet_pton(AF_INET6, "2001:db8::", net.addr);
	f.nets = &net;
	f.n_nets = 1;
	CHECK_INT(store_unique_sources(s, &f, &u), 0);
	CHECK_INT(u, 1);
	f.nets = NULL;
	f.n_nets = 0;

	/* Rows in (day, ASN, log order); everything, then infections only. */
	struct collect c = { .n = 0 };
	dynbuf_init(&c.csv, 1u << 20);
	f.day_to = 20785;
	CHECK_INT(store_scan(s, &f, on_row, &c), 0);
	CHECK_INT(c.n, 7);
	dynbuf_reset(&c.csv);
	c.n = 0;
	f.infections_only = true;
	CHECK_INT(store_scan(s, &f, on_row, &c), 0);
	CHECK_INT(c.n, 5);
	const char *first = c.csv.data;
	CHECK_SLICE(first, strcspn(first, "\n"),
		    "\"2026-11-28 01:02:03\",\"tcp\",\"10.0.0.1\",40000,64010,\"DE\",,,,,,,,,"
		    "\"critical\",\"127.0.0.1\",80,,,,,,,,,\"rustock\",\"rustock\",\"login\","
		    "\"http\",,,\"/login.php?a=\"\"1\"\"\",\"cnc.example\",\"Bot?\?/1.0 \xc3\xa9\","
		    ",,,,");
	store_close(s);

	/* The timestamp formatter against gmtime over a wide range of instants. */
	uint64_t x = 12345;
	for (int i = 0; i < 200000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t us = (x >> 11) % (253402300799ull * 1000000u); /* up to 9999-12-31 */
		if (i < 4)
			us = (uint64_t[]){
				0, 951782400000000ull, 4107542399000000ull, 4107542400000000ull
			}[i]; /* 1970, 2000-02-29, 2100-02-28/03-01 */
		char got[32], want[32];
		ss_timestamp(us, got, sizeof got);
		time_t t = (time_t)(us / 1000000u);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(want, sizeof want, "%Y-%m-%d %H:%M:%S", &tm);
		if (strcmp(got, want)) {
			CHECK_STR(got, want);
			break;
		}
	}

	/* Headers and the DNS report's columns. */
	struct dynbuf h;
	dynbuf_init(&h, 1u << 16);
	ss_csv_header(&h, SS_EVENT4_TCP);
	CHECK_STR(h.data,
		  "\"timestamp\",\"protocol\",\"src_ip\",\"src_port\",\"src_asn\",\"src_geo\","
		  "\"src_region\",\"src_city\",\"src_hostname\",\"src_naics\",\"src_sector\","
		  "\"device_vendor\",\"device_type\",\"device_model\",\"severity\",\"dst_ip\","
		  "\"dst_port\",\"dst_asn\",\"dst_geo\",\"dst_region\",\"dst_city\","
		  "\"dst_hostname\",\"dst_naics\",\"dst_sector\",\"public_source\",\"infection\","
		  "\"family\",\"tag\",\"application\",\"version\",\"event_id\",\"ssl_cipher\","
		  "\"ssl_servername\"\n");
	dynbuf_reset(&h);
	ss_csv_row(&h, SS_EVENT4_DNS, &ev[5]);
	CHECK_STR(h.data,
		  "\"2026-11-28 01:02:12\",\"udp\",\"11.0.0.4\",40000,64011,\"US\",,,,,,,,,"
		  "\"info\",\"resolver\",\"resolver\",\"login\",\"AAAA\",\"Cnc.Example\",1\n");
	CHECK_STR(ss_type_name(ss_type_of(&ev[4])), "event6_sinkhole_http");
	/* TLS: SNI and cipher suite in the sinkhole report's last two columns. */
	dynbuf_reset(&h);
	CHECK_STR(ss_type_name(ss_type_of(&ev[6])), "event4_sinkhole");
	ss_csv_row(&h, SS_EVENT4_TCP, &ev[6]);
	CHECK(h.len > 40 &&
	      !strcmp(h.data + h.len - 40, ",\"TLS_AES_128_GCM_SHA256\",\"cnc.example\"\n"));
	dynbuf_reset(&h);
	ss_json_row(&h, SS_EVENT4_HTTP, &ev[0]);
	CHECK(strstr(h.data, "\"src_port\":40000,\"src_asn\":64010,\"src_geo\":\"DE\","
			     "\"src_region\":null") != NULL);
	dynbuf_free(&h);
	dynbuf_free(&c.csv);
	unlink(path);
	char side[64];
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
	return check_done("store");
}
