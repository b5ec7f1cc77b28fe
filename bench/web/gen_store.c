/* gen_store.c — writes a synthetic store for bench/web: DAYS days of U unique infected addresses per day, through store_ingest. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store.h"

/*
 * usage: gen_store STORE DAYS UNIQUE_PER_DAY LAST_DAY
 * Day d's population is addresses k .. k+U-1 with k = d * U / 5: consecutive
 * days share 80 % of their addresses (an infected population churns slowly),
 * so a week holds about 2.2 U distinct addresses. Each address checks in once
 * a day; 5000 ASNs over 40 countries, three families. One event per address
 * and day is the least a day of U unique addresses takes.
 */
#define BATCH	   20000
#define US_PER_DAY 86400000000ull

static const char *const families[] = { "rustock", "gatebot", "necurs" };

static uint32_t mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr,
			"usage: gen_store STORE DAYS UNIQUE_PER_DAY LAST_DAY(days since epoch)\n");
		return 2;
	}
	long days = strtol(argv[2], NULL, 10), uniq = strtol(argv[3], NULL, 10);
	long last = strtol(argv[4], NULL, 10);
	if (days < 1 || days > 400 || uniq < 1 || uniq > 10000000 || last < days) {
		fprintf(stderr, "gen_store: bad arguments\n");
		return 2;
	}
	struct store *s;
	char err[256];
	if (store_open(&s, argv[1], true, err, sizeof err)) {
		fprintf(stderr, "gen_store: %s\n", err);
		return 1;
	}
	struct store_event *ev = calloc(BATCH, sizeof *ev);
	if (!ev)
		return 1;
	struct log_pos pos = { 0, 0 };
	uint64_t total = 0;
	for (long d = 0; d < days; d++) {
		uint64_t day = (uint64_t)(last - days + 1 + d);
		uint64_t k0 = (uint64_t)d * (uint64_t)uniq / 5;
		for (long i = 0; i < uniq;) {
			size_t n = 0;
			for (; n < BATCH && i < uniq; n++, i++) {
				uint64_t k = k0 + (uint64_t)i;
				struct store_event *e = &ev[n];
				memset(e, 0, sizeof *e);
				/* In time order within the day: the i-th address at i/U of it. */
				e->ts_us = day * US_PER_DAY +
					   (uint64_t)i * (US_PER_DAY / (uint64_t)uniq);
				e->kind = STORE_KIND_HTTP;
				e->type = 1;
				e->transport = 6;
				e->ipver = 4;
				/* A bijection of k into 11.0.0.0 - 126.255.255.255 (public-looking space). */
				uint32_t a = (uint32_t)(k * 2654435761u % 1946157056u) + 184549376u;
				e->src[0] = (uint8_t)(a >> 24);
				e->src[1] = (uint8_t)(a >> 16);
				e->src[2] = (uint8_t)(a >> 8);
				e->src[3] = (uint8_t)a;
				e->dst[0] = 192;
				e->dst[1] = 0;
				e->dst[2] = 2;
				e->dst[3] = 1;
				e->src_port = (uint16_t)(1024 + mix32(k) % 60000);
				e->dst_port = 80;
				uint32_t asn = 1000 + (a >> 12) % 5000;
				e->src_asn = asn;
				e->src_cc[0] = (char)('A' + asn % 20);
				e->src_cc[1] = (char)('A' + asn / 20 % 2);
				const char *f = families[k % 3];
				e->col[STORE_C_FAMILY] = (struct store_str){ f, strlen(f) };
				e->col[STORE_C_HTTP_URL] = (struct store_str){ "/login.php", 10 };
			}
			struct log_pos next = { 1, pos.offset + n };
			int rc = store_ingest(s, ev, n, &pos, &next);
			if (rc) {
				fprintf(stderr, "gen_store: ingest: %d\n", rc);
				return 1;
			}
			pos = next;
			total += n;
		}
		fprintf(stderr, "\rgen_store: day %ld/%ld, %" PRIu64 " events", d + 1, days, total);
	}
	fprintf(stderr, "\ngen_store: merging aggregates\n");
	if (store_compact(s)) {
		fprintf(stderr, "gen_store: compact failed\n");
		return 1;
	}
	store_close(s);
	free(ev);
	printf("%" PRIu64 "\n", total);
	return 0;
}
