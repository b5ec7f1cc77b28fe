/* bench_enrich.c — lookups per second: sinkd's prefix tables vs libmaxminddb on the same MMDB, one core. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrich/enrich.h"

/*
 * usage: bench_enrich COUNTRY.mmdb [ASN.csv...] [--n N] [--rounds R]
 * Builds the tables (country from the MMDB, ASN from the CSVs), draws N random
 * IPv4 and N random IPv6 addresses (IPv6 from 2000::/3, where the data is),
 * checks that sinkd and libmaxminddb give the same country for every one, then
 * times in alternation: sinkd country lookups, MMDB_lookup_sockaddr alone,
 * libmaxminddb lookup + country value, and sinkd's full lookup (ASN, org,
 * country), and the same in batches of 1024 with prefetching
 * (enrich_lookup_batch, what the indexer does). Rates are per CPU-second of the measuring thread (the machine is
 * shared). Prints the medians as JSON, one line per load: IPv4 random, IPv6
 * random, and IPv6 "announced": addresses drawn inside the IPv6 ranges of the
 * ASN CSVs (a range at random, an address at random in it), as real sources
 * are; uniformly random IPv6 addresses mostly fall in unallocated space, where
 * libmaxminddb's tree walk ends after a few nodes.
 */

/* CPU time of this thread: the box is shared, so wall time would count other people's work. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

typedef unsigned __int128 u128;

static u128 u128_of(const uint8_t *p)
{
	u128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | p[i];
	return v;
}

/* The IPv6 start,end ranges of the ASN CSVs (ip-location-db format). */
static size_t load_ranges6(const char *const *files, size_t n_files, u128 **lo, u128 **hi)
{
	size_t n = 0, cap = 0;
	*lo = *hi = NULL;
	for (size_t f = 0; f < n_files; f++) {
		FILE *fp = fopen(files[f], "r");
		if (!fp)
			continue;
		char line[1024];
		while (fgets(line, sizeof line, fp)) {
			char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
			if (!c2)
				continue;
			*c1 = *c2 = '\0';
			uint8_t a[16], b[16];
			if (inet_pton(AF_INET6, line, a) != 1 ||
			    inet_pton(AF_INET6, c1 + 1, b) != 1)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 4096;
				u128 *nl = realloc(*lo, cap * sizeof *nl), *nh;
				if (!nl)
					break;
				*lo = nl;
				if (!(nh = realloc(*hi, cap * sizeof *nh)))
					break;
				*hi = nh;
			}
			(*lo)[n] = u128_of(a);
			(*hi)[n] = u128_of(b);
			if ((*hi)[n] >= (*lo)[n])
				n++;
		}
		fclose(fp);
	}
	return n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum {
	M_SINKD_CC,
	M_MMDB_LOOKUP,
	M_MMDB_VALUE,
	M_SINKD_FULL,
	M_SINKD_BATCH,
	M_SINKD_BATCH_CC,
	M_N
};
static const char *const mname[M_N] = { "sinkd_country", "mmdb_lookup", "mmdb_lookup_value",
					"sinkd_full",	 "sinkd_batch", "sinkd_batch_country" };

int main(int argc, char **argv)
{
	size_t n = 1000000;
	int rounds = 5;
	const char *mmdb = NULL;
	const char *asn[16];
	size_t n_asn = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = (int)strtol(argv[++i], NULL, 10);
		else if (!mmdb)
			mmdb = argv[i];
		else if (n_asn < 16)
			asn[n_asn++] = argv[i];
	}
	if (!mmdb || n == 0 || rounds < 1 || rounds > 99) {
		fprintf(stderr,
			"usage: bench_enrich COUNTRY.mmdb [ASN.csv...] [--n N] [--rounds R]\n");
		return 2;
	}
	char err[512];
	struct enrich_builder *b;
	struct enrich_load_stats st;
	struct enrich *cc_only, *full;
	double t0 = now_s();
	if (enrich_builder_new(&b) || enrich_load_country(b, mmdb, &st, err, sizeof err) ||
	    enrich_build(b, &cc_only)) {
		fprintf(stderr, "bench_enrich: %s\n", err);
		return 1;
	}
	double t_cc = now_s() - t0;
	t0 = now_s();
	if (enrich_builder_new(&b))
		return 1;
	for (size_t i = 0; i < n_asn; i++)
		if (enrich_load_asn(b, asn[i], &st, err, sizeof err)) {
			fprintf(stderr, "bench_enrich: %s\n", err);
			return 1;
		}
	if (enrich_load_country(b, mmdb, &st, err, sizeof err) || enrich_build(b, &full))
		return 1;
	double t_full = now_s() - t0;
	MMDB_s db;
	if (MMDB_open(mmdb, MMDB_MODE_MMAP, &db) != MMDB_SUCCESS) {
		fprintf(stderr, "bench_enrich: cannot open %s\n", mmdb);
		return 1;
	}
	printf("# load: country table %.2f s, ASN+country tables %.2f s\n", t_cc, t_full);
	printf("# memory: country table IPv4 %.1f MiB, IPv6 %.1f MiB; ASN+country tables IPv4 %.1f "
	       "MiB, IPv6 %.1f MiB\n",
	       (double)enrich_table_bytes(cc_only, 4) / 1048576.0,
	       (double)enrich_table_bytes(cc_only, 6) / 1048576.0,
	       (double)enrich_table_bytes(full, 4) / 1048576.0,
	       (double)enrich_table_bytes(full, 6) / 1048576.0);

	u128 *r6lo, *r6hi;
	size_t n_r6 = load_ranges6(asn, n_asn, &r6lo, &r6hi);
	for (int pass = 0; pass < 3; pass++) {
		int fam = pass == 0 ? 4 : 6;
		bool announced = pass == 2;
		if (announced && !n_r6)
			break;
		uint8_t(*addr)[16] = calloc(n, 16);
		struct sockaddr_storage *sa = calloc(n, sizeof *sa);
		if (!addr || !sa)
			return 1;
		for (size_t i = 0; i < n; i++) {
			uint64_t x = rnd(), y = rnd();
			memcpy(addr[i], &x, 8);
			memcpy(addr[i] + 8, &y, 8);
			if (announced) {
				size_t k = rnd() % n_r6;
				u128 span = r6hi[k] - r6lo[k], off = (u128)x << 64 | y;
				u128 v = r6lo[k] + (span == ~(u128)0 ? off : off % (span + 1));
				for (int j = 15; j >= 0; j--, v >>= 8)
					addr[i][j] = (uint8_t)v;
			} else if (fam == 6) {
				addr[i][0] = (uint8_t)(0x20 | (addr[i][0] & 0x1f));
			}
			if (fam == 6) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa[i];
				s6->sin6_family = AF_INET6;
				memcpy(&s6->sin6_addr, addr[i], 16);
			} else {
				struct sockaddr_in *s4 = (struct sockaddr_in *)&sa[i];
				s4->sin_family = AF_INET;
				memcpy(&s4->sin_addr, addr[i], 4);
			}
		}
		/* Agreement first: the same country for every address. */
		size_t mismatch = 0, found = 0;
		for (size_t i = 0; i < n; i++) {
			int e;
			MMDB_lookup_result_s r =
				MMDB_lookup_sockaddr(&db, (struct sockaddr *)&sa[i], &e);
			char want[3] = "";
			MMDB_entry_data_s d;
			if (e == MMDB_SUCCESS && r.found_entry &&
			    MMDB_get_value(&r.entry, &d, "country_code", NULL) == MMDB_SUCCESS &&
			    d.has_data && d.data_size == 2) {
				memcpy(want, d.utf8_string, 2);
				want[2] = '\0';
				found++;
			}
			struct enrich_info in;
			enrich_lookup(cc_only, fam, addr[i], &in);
			if (strcmp(in.cc, want))
				mismatch++;
		}
		/* The batched lookup answers exactly what single lookups answer. */
		for (size_t i = 0; i < n; i += 1024) {
			struct enrich_info out[1024], one;
			size_t k = n - i < 1024 ? n - i : 1024;
			enrich_lookup_batch(full, fam, (const uint8_t(*)[16])addr[i], k, out);
			for (size_t j = 0; j < k; j++) {
				enrich_lookup(full, fam, addr[i + j], &one);
				if (one.asn != out[j].asn || strcmp(one.cc, out[j].cc) ||
				    one.as_org != out[j].as_org)
					mismatch++;
			}
		}
		printf("# IPv%d%s: %zu random addresses, %zu with a country, %zu disagreements with "
		       "libmaxminddb\n",
		       fam, announced ? " (inside announced ranges)" : "", n, found, mismatch);
		double rate[M_N][99];
		volatile uint64_t sink = 0;
		for (int r = 0; r < rounds; r++) {
			for (int m = 0; m < M_N; m++) {
				double s = now_s();
				uint64_t acc = 0;
				if (m == M_SINKD_BATCH || m == M_SINKD_BATCH_CC) {
					/* The indexer's way: ASN+org+country, batches of 1024, prefetching. */
					struct enrich_info out[1024];
					for (size_t i = 0; i < n; i += 1024) {
						size_t k = n - i < 1024 ? n - i : 1024;
						enrich_lookup_batch(
							m == M_SINKD_BATCH ? full : cc_only, fam,
							(const uint8_t(*)[16])addr[i], k, out);
						for (size_t j = 0; j < k; j++)
							acc += out[j].asn + (uint8_t)out[j].cc[0];
					}
				}
				for (size_t i = 0;
				     i < n && m != M_SINKD_BATCH && m != M_SINKD_BATCH_CC; i++) {
					struct enrich_info in;
					int e;
					MMDB_lookup_result_s res;
					MMDB_entry_data_s d;
					switch (m) {
					case M_SINKD_CC:
						enrich_lookup(cc_only, fam, addr[i], &in);
						acc += (uint8_t)in.cc[0];
						break;
					case M_SINKD_FULL:
						enrich_lookup(full, fam, addr[i], &in);
						acc += in.asn + (uint8_t)in.cc[0];
						break;
					case M_MMDB_LOOKUP:
						res = MMDB_lookup_sockaddr(
							&db, (struct sockaddr *)&sa[i], &e);
						acc += res.found_entry;
						break;
					default:
						res = MMDB_lookup_sockaddr(
							&db, (struct sockaddr *)&sa[i], &e);
						if (res.found_entry &&
						    MMDB_get_value(&res.entry, &d, "country_code",
								   NULL) == MMDB_SUCCESS)
							acc += (uint8_t)d.utf8_string[0];
						break;
					}
				}
				double el = now_s() - s;
				sink += acc;
				rate[m][r] = (double)n / el;
			}
		}
		printf("{\"family\":%d,\"space\":\"%s\",\"n\":%zu,\"rounds\":%d,"
		       "\"disagreements\":%zu",
		       fam, announced ? "announced" : "random", n, rounds, mismatch);
		for (int m = 0; m < M_N; m++) {
			qsort(rate[m], (size_t)rounds, sizeof rate[m][0], cmp_d);
			printf(",\"%s\":%.0f", mname[m], rate[m][rounds / 2]);
		}
		printf(",\"sink\":%" PRIu64 "}\n", (uint64_t)sink % 10);
		free(addr);
		free(sa);
	}
	free(r6lo);
	free(r6hi);
	MMDB_close(&db);
	enrich_free(cc_only);
	enrich_free(full);
	return 0;
}
