/* test_enrich.c — loaders against libmaxminddb on the same MMDB, the text formats, and abuse contacts. */
#include <arpa/inet.h>
#include <maxminddb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/err.h"
#include "enrich/contacts.h"
#include "enrich/enrich.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* What libmaxminddb says for one address: ASN, organisation, country. */
static void mmdb_ref(MMDB_s *db, int ipver, const uint8_t *a, uint32_t *asn, char *org, char *cc)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (ipver == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
	}
	int err;
	MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, (struct sockaddr *)&ss, &err);
	*asn = 0;
	org[0] = cc[0] = '\0';
	if (err != MMDB_SUCCESS || !r.found_entry)
		return;
	MMDB_entry_data_s d;
	if (MMDB_get_value(&r.entry, &d, "autonomous_system_number", NULL) == MMDB_SUCCESS &&
	    d.has_data)
		*asn = d.uint32;
	if (MMDB_get_value(&r.entry, &d, "autonomous_system_organization", NULL) == MMDB_SUCCESS &&
	    d.has_data) {
		memcpy(org, d.utf8_string, d.data_size);
		org[d.data_size] = '\0';
	}
	if (MMDB_get_value(&r.entry, &d, "country", "iso_code", NULL) == MMDB_SUCCESS &&
	    d.has_data && d.data_size == 2) {
		memcpy(cc, d.utf8_string, 2);
		cc[2] = '\0';
	}
}

static void test_mmdb(const char *path, bool v6tree)
{
	struct enrich_builder *b;
	struct enrich *e;
	struct enrich_load_stats st;
	char err[256];
	CHECK_INT(enrich_builder_new(&b), 0);
	CHECK_INT(enrich_load_asn(b, path, &st, err, sizeof err), 0);
	CHECK(st.entries > 100);
	CHECK_INT(enrich_load_country(b, path, &st, err, sizeof err), 0);
	CHECK_INT(enrich_build(b, &e), 0);
	MMDB_s db;
	CHECK_INT(MMDB_open(path, MMDB_MODE_MMAP, &db), MMDB_SUCCESS);
	int bad = 0, found = 0;
	for (int i = 0; i < 200000 && bad < 5; i++) {
		uint8_t a[16] = { 0 };
		int ipver = v6tree && (i % 2) ? 6 : 4;
		for (int k = 0; k < (ipver == 4 ? 4 : 16); k++)
			a[k] = (uint8_t)rnd();
		if (ipver == 6 && i % 4 == 1)
			a[0] = (uint8_t)(0x20 | (a[0] & 0x1f)); /* where the fixture's v6 data is */
		if (ipver == 6 && i % 16 == 3)			/* IPv4-mapped: the alias path */
			memcpy(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
		uint32_t rasn;
		char rorg[300], rcc[3];
		mmdb_ref(&db, ipver, a, &rasn, rorg, rcc);
		struct enrich_info in;
		enrich_lookup(e, ipver, a, &in);
		found += rasn != 0;
		if (in.asn != rasn || strcmp(in.as_org, rorg) || strcmp(in.cc, rcc)) {
			bad++;
			char t[64];
			inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a, t, sizeof t);
			fprintf(stderr, "%s: %s: got AS%u \"%s\" %s, libmaxminddb AS%u \"%s\" %s\n",
				path, t, in.asn, in.as_org, in.cc, rasn, rorg, rcc);
		}
	}
	CHECK_INT(bad, 0);
	CHECK(found > 1000);
	/* The batched lookup answers what single lookups answer. */
	static uint8_t batch[3000][16];
	struct enrich_info outs[3000], one;
	for (int fam = 4; fam <= 6; fam += 2) {
		for (int i = 0; i < 3000; i++)
			for (int k = 0; k < 16; k++)
				batch[i][k] = (uint8_t)rnd();
		enrich_lookup_batch(e, fam, (const uint8_t(*)[16])batch, 3000, outs);
		int diff = 0;
		for (int i = 0; i < 3000; i++) {
			enrich_lookup(e, fam, batch[i], &one);
			diff += one.asn != outs[i].asn || strcmp(one.cc, outs[i].cc) ||
				one.as_org != outs[i].as_org;
		}
		CHECK_INT(diff, 0);
	}
	MMDB_close(&db);
	enrich_free(e);
}

static void test_text_formats(void)
{
	struct enrich_builder *b;
	struct enrich *e;
	struct enrich_load_stats st = { 0 };
	CHECK_INT(enrich_builder_new(&b), 0);
	static const char csv[] = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"
				  "10.0.0.0,10.255.255.255,64500,Ten\r\n"
				  "10.1.0.0,10.1.255.255,64501,\"Ten \"\"One\"\"\"\n"
				  "bad line\n"
				  "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64502,Doc6\n"
				  "1.2.3.4,2001:db8::1,1,mixed families\n"
				  "5.0.0.0,4.0.0.0,1,reversed\n"
				  "6.0.0.0,6.0.0.255,99999999999,too big\n"
				  "\n"
				  "7.0.0.0,7.0.0.255,0,Not routed";
	CHECK_INT(enrich_parse_iplocdb(b, csv, strlen(csv), &st), 0);
	CHECK_INT(st.lines, 10);
	CHECK_INT(st.entries, 5);
	CHECK_INT(st.skipped, 4);
	CHECK_INT(st.first_bad_line, 4);
	memset(&st, 0, sizeof st);
	static const char tsv[] = "20.0.0.0\t20.0.0.255\t64510\tUS\tTab Org with spaces\n"
				  "20.0.1.0\t20.0.3.255\t0\tNone\tNot routed\n"
				  "20.0.4.0\t20.0.4.255\t64511\tDE\n";
	CHECK_INT(enrich_parse_iptoasn(b, tsv, strlen(tsv), &st), 0);
	CHECK_INT(st.entries, 2);
	CHECK_INT(st.skipped, 1);
	memset(&st, 0, sizeof st);
	static const char p2a[] = "30.0.0.0\t8\t64520\n"
				  "30.1.0.0\t16\t64521_64522\n"
				  "30.2.0.0\t16\t64523,64524\n"
				  "2001:db8:1::\t48\t64525\n"
				  "30.3.0.0\t33\t1\n"
				  "30.4.0.0\tx\t1\n";
	CHECK_INT(enrich_parse_pfx2as(b, p2a, strlen(p2a), &st), 0);
	CHECK_INT(st.entries, 4);
	CHECK_INT(st.skipped, 2);
	CHECK_INT(enrich_build(b, &e), 0);
	struct {
		const char *ip;
		uint32_t asn;
		const char *org;
	} want[] = {
		{ "1.0.0.1", 13335, "Cloudflare, Inc." },
		{ "10.0.0.1", 64500, "Ten" },
		{ "10.1.2.3", 64501, "Ten \"One\"" },
		{ "10.2.0.0", 64500, "Ten" },
		{ "2001:db8::5", 64502, "Doc6" },
		{ "2001:db8:1::5", 64525, "" },
		{ "7.0.0.1", 0, "" },
		{ "20.0.0.9", 64510, "Tab Org with spaces" },
		{ "20.0.2.0", 0, "" },
		{ "30.9.9.9", 64520, "" },
		{ "30.1.9.9", 64521, "" },
		{ "30.2.9.9", 64523, "" },
		{ "6.0.0.1", 0, "" },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		uint8_t a[16];
		int v = strchr(want[i].ip, ':') ? 6 : 4;
		inet_pton(v == 4 ? AF_INET : AF_INET6, want[i].ip, a);
		struct enrich_info in;
		enrich_lookup(e, v, a, &in);
		CHECK_INT(in.asn, want[i].asn);
		CHECK_STR(in.as_org, want[i].org);
		CHECK_STR(in.cc, "");
	}
	CHECK_STR(enrich_as_org(e, 13335), "Cloudflare, Inc.");
	CHECK_STR(enrich_as_org(e, 1), "");
	enrich_free(e);

	/* Format by name, and refusals. */
	char err[256];
	CHECK_INT(enrich_builder_new(&b), 0);
	CHECK_INT(enrich_load_asn(b, "/nonexistent.csv", &st, err, sizeof err), ERR_SYS);
	CHECK_INT(enrich_load_asn(b, "/etc/hostname", &st, err, sizeof err), ERR_INVAL);
	CHECK_INT(enrich_load_country(b, "x.csv", &st, err, sizeof err), ERR_INVAL);
	CHECK_INT(enrich_load_asn(b, "mmdb:/etc/hostname", &st, err, sizeof err), ERR_CORRUPT);
	enrich_builder_free(b);
}

static const struct contact *find(struct contacts *c, const char *ip, uint32_t asn, const char *cc)
{
	uint8_t a[16] = { 0 };
	int v = strchr(ip, ':') ? 6 : 4;
	inet_pton(v == 4 ? AF_INET : AF_INET6, ip, a);
	return contacts_find(c, v, a, asn, cc);
}

static void test_contacts(void)
{
	struct contacts *c;
	char err[256];
	CHECK_INT(contacts_new(&c), 0);
	static const char imported[] = "# RIR abuse-c import\n"
				       "selector,email,org,source\n"
				       "AS64496,abuse@isp.example,Example ISP,imported\n"
				       "192.0.2.0/24,noc@net.example,\"Net, Inc.\",imported\n"
				       "DE,cert@cert.example,National CERT,\n"
				       "AS64497,old@other.example,Other,imported\n"
				       "2001:db8::/32,v6@isp.example,Example ISP v6,imported\n";
	static const char manual[] = "email,selector,org,source\n"
				     "new@other.example,AS64497,Other (manual),manual\n"
				     "desk@isp.example,192.0.2.128/25,ISP desk,manual\n";
	CHECK_INT(contacts_parse(c, manual, strlen(manual), "manual.csv", err, sizeof err), 0);
	CHECK_INT(contacts_parse(c, imported, strlen(imported), "imp.csv", err, sizeof err), 0);
	CHECK_INT(contacts_finish(c), 0);
	const struct contact *k;
	k = find(c, "192.0.2.5", 64496, "DE");
	CHECK(k && !strcmp(k->email, "noc@net.example") && !strcmp(k->org, "Net, Inc."));
	k = find(c, "192.0.2.200", 64496, "DE");
	CHECK(k && !strcmp(k->email, "desk@isp.example") && k->manual);
	k = find(c, "198.51.100.1", 64496, "DE");
	CHECK(k && !strcmp(k->email, "abuse@isp.example"));
	/* manual wins over imported for the same selector, whatever the file order */
	k = find(c, "198.51.100.1", 64497, "DE");
	CHECK(k && !strcmp(k->email, "new@other.example"));
	k = find(c, "198.51.100.1", 1, "DE");
	CHECK(k && !strcmp(k->email, "cert@cert.example"));
	CHECK(find(c, "198.51.100.1", 1, "FR") == NULL);
	k = find(c, "2001:db8::1", 0, "");
	CHECK(k && !strcmp(k->email, "v6@isp.example"));
	contacts_free(c);

	/* An operator's file: every bad line is an error with its line number. */
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "selector,email\nAS1,a@b\n", "header must name" },
		{ "selector,email,org,colour\n", "unknown column" },
		{ "selector,email,org\nAS1,a@b,Org\nAS0,a@b,Org\n", ":3: selector" },
		{ "selector,email,org\n10.1.2.3/8,a@b,Org\n", ":2: selector" },
		{ "selector,email,org\nde,a@b,Org\n", ":2: selector" },
		{ "selector,email,org\nAS1,not-an-address,Org\n", "plain email" },
		{ "selector,email,org\nAS1,a@b,\n", "org must be" },
		{ "selector,email,org\nAS1,a@b,Org,extra\n", "fields" },
		{ "selector,email,org,source\nAS1,a@b,Org,maybe\n", "source" },
		{ "selector,email,org\nAS1,\"a@b,Org\n", "quoting" },
		{ "AS1,a@b,Org\n", "unknown column" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_INT(contacts_new(&c), 0);
		err[0] = '\0';
		int rc = contacts_parse(c, bad[i].text, strlen(bad[i].text), "t.csv", err,
					sizeof err);
		CHECK(rc != 0);
		if (!strstr(err, bad[i].msg))
			fprintf(stderr, "case %zu: message \"%s\" lacks \"%s\"\n", i, err,
				bad[i].msg);
		CHECK(strstr(err, bad[i].msg) != NULL);
		contacts_free(c);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_enrich FIXTURE6.mmdb FIXTURE4.mmdb\n");
		return 2;
	}
	test_mmdb(argv[1], true);
	test_mmdb(argv[2], false);
	test_text_formats();
	test_contacts();
	return check_done("enrich");
}
