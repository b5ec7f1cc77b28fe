/* cmd_report.c — `sinkd report`: per-network Shadowserver CSV, JSON lines, X-ARF mails and summaries for UTC days. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "enrich/csvline.h"
#include "report/mail.h"
#include "report/shadowserver.h"
#include "tools/commands.h"
#include "tools/store_opts.h"

#define REPORT_FLUSH_BYTES  (1u << 20)	 /* one network's pending rows */
#define REPORT_BUFFER_BYTES (256u << 20) /* all networks' pending rows together */
#define REPORT_MAX_SEL	    256
#define REPORT_MAX_DAYS	    366
#define REPORT_TOP	    10
#define US_PER_DAY	    86400000000ull

static const char caveat[] =
	"Counts are of unique IP addresses, not of machines. Several infected machines\n"
	"behind one NAT gateway appear as one address, and one machine whose address\n"
	"changes (dynamic assignment, DHCP leases, mobile networks) appears as several,\n"
	"so the number of infected machines can be lower or higher than these counts.\n";

static void report_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd report [options] --day YYYY-MM-DD | --from YYYY-MM-DD --to YYYY-MM-DD\n"
		"\n"
		"Writes per-network remediation reports from the store for UTC days:\n"
		"Shadowserver-compatible CSV (YYYY-MM-DD-<report_type>-<org>[-asN].csv, which\n"
		"IntelMQ's Shadowserver parser detects by name), JSON lines, one notification\n"
		"mail (.eml, X-ARF 0.2) per contact, and a summary with trends.\n"
		"\n" STORE_OPTS_HELP "      --day DATE       one UTC day\n"
		"      --from DATE, --to DATE   a range of UTC days (inclusive)\n"
		"      --asn N          only these source ASNs (repeatable)\n"
		"      --cidr PREFIX    only sources in these networks (repeatable)\n"
		"      --country CC     only sources in these countries (repeatable; ISO 3166 alpha-2)\n"
		"      --contact EMAIL  only the networks this contact receives (repeatable)\n"
		"      --per asn|contact|all   one report per ASN (default without contacts), per\n"
		"                       contact (default with contacts) or one for everything\n"
		"      --format LIST    csv,jsonl,eml,summary (default csv,summary)\n"
		"  -o, --out DIR        where files go (default .)\n"
		"      --from-addr ADDR sender and X-ARF Reported-From (default sinkhole@<host>)\n"
		"      --smtp HOST:PORT submit the mails to this relay instead of writing .eml files\n"
		"  -h, --help           this text\n"
		"\n");
	fputs(caveat, to);
}

/* --- small sets ------------------------------------------------------------------------ */

struct addrset {
	uint8_t (*k)[17]; /* ipver, 16 bytes; ipver 0 = empty slot */
	size_t n, cap;
};

static bool addrset_add(struct addrset *s, uint8_t ipver, const uint8_t *a)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint8_t(*nk)[17] = calloc(cap, sizeof *nk);
		if (!nk)
			return false;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->k[i][0])
				continue;
			uint64_t h = 1469598103934665603ull;
			for (int j = 0; j < 17; j++)
				h = (h ^ s->k[i][j]) * 1099511628211ull;
			size_t p = h & (cap - 1);
			while (nk[p][0])
				p = (p + 1) & (cap - 1);
			memcpy(nk[p], s->k[i], 17);
		}
		free(s->k);
		s->k = nk;
		s->cap = cap;
	}
	uint8_t key[17];
	key[0] = ipver;
	memcpy(key + 1, a, 16);
	uint64_t h = 1469598103934665603ull;
	for (int j = 0; j < 17; j++)
		h = (h ^ key[j]) * 1099511628211ull;
	size_t p = h & (s->cap - 1);
	while (s->k[p][0]) {
		if (!memcmp(s->k[p], key, 17))
			return false;
		p = (p + 1) & (s->cap - 1);
	}
	memcpy(s->k[p], key, 17);
	s->n++;
	return true;
}

/* --- groups: one recipient network (ASN, contact or everything) ------------------------ */

struct rgroup {
	char *key;
	char *slug; /* file-name part: [A-Za-z0-9_-] */
	char *org;
	char *email; /* NULL: nobody to mail */
	struct dynbuf csv[SS_TYPE_N];
	struct dynbuf jsonl;
	uint64_t rows[SS_TYPE_N];
	bool created[SS_TYPE_N], jcreated;
	uint64_t infections, dns;
	size_t pending; /* bytes in csv[] and jsonl not yet written */
	struct addrset uniq;
	/* for the X-ARF part: the first infection */
	bool have_first;
	struct store_event first;
	char first_family[65];
};

struct report {
	struct store_opts so;
	struct store *store;
	struct enrich *enrich;
	struct contacts *contacts;
	const char *out_dir;
	const char *from_addr;
	const char *smtp;
	enum {
		PER_ASN,
		PER_CONTACT,
		PER_ALL
	} per;
	bool fmt_csv, fmt_jsonl, fmt_eml, fmt_summary;
	const char *contact_sel[REPORT_MAX_SEL];
	size_t n_contact_sel;
	struct rgroup **groups;
	size_t n_groups, cap_groups;
	uint32_t *ghash; /* group index + 1 by key hash, open addressing */
	size_t ghash_cap;
	int64_t day;
	int error;
	uint64_t rows_seen, files_written, mails;
	size_t buffered; /* bytes pending in all groups */
	uint64_t last_progress_ms;
	bool tty;
	struct dynbuf files; /* names written, for the summary */
};

static void slugify(struct dynbuf *b, const char *s)
{
	bool sep = false;
	size_t start = b->len;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9');
		if (ok) {
			if (sep && b->len > start)
				dynbuf_addc(b, '_');
			dynbuf_addc(b, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
			sep = false;
		} else {
			sep = true;
		}
		if (b->len - start >= 48)
			break;
	}
	if (b->len == start)
		dynbuf_adds(b, "unnamed");
}

static struct rgroup *group_get(struct report *r, const struct store_event *e,
				const struct contact *ct)
{
	char key[320];
	if (r->per == PER_ASN)
		snprintf(key, sizeof key, "as%" PRIu32, e->src_asn);
	else if (r->per == PER_CONTACT)
		snprintf(key, sizeof key, "%s", ct ? ct->email : "");
	else
		snprintf(key, sizeof key, "all");
	uint64_t h = 1469598103934665603ull;
	for (const char *k = key; *k; k++)
		h = (h ^ (uint8_t)*k) * 1099511628211ull;
	if (r->ghash_cap) {
		for (size_t i = h & (r->ghash_cap - 1); r->ghash[i];
		     i = (i + 1) & (r->ghash_cap - 1))
			if (!strcmp(r->groups[r->ghash[i] - 1]->key, key))
				return r->groups[r->ghash[i] - 1];
	}
	if ((r->n_groups + 1) * 2 > r->ghash_cap) {
		size_t cap = r->ghash_cap ? r->ghash_cap * 2 : 1024;
		uint32_t *nh = calloc(cap, sizeof *nh);
		if (!nh)
			return NULL;
		for (size_t gi = 0; gi < r->n_groups; gi++) {
			uint64_t gh = 1469598103934665603ull;
			for (const char *k = r->groups[gi]->key; *k; k++)
				gh = (gh ^ (uint8_t)*k) * 1099511628211ull;
			size_t i = gh & (cap - 1);
			while (nh[i])
				i = (i + 1) & (cap - 1);
			nh[i] = (uint32_t)gi + 1;
		}
		free(r->ghash);
		r->ghash = nh;
		r->ghash_cap = cap;
	}
	if (r->n_groups == r->cap_groups) {
		size_t cap = r->cap_groups ? r->cap_groups * 2 : 64;
		struct rgroup **ng = realloc(r->groups, cap * sizeof *ng);
		if (!ng)
			return NULL;
		r->groups = ng;
		r->cap_groups = cap;
	}
	struct rgroup *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	struct dynbuf slug;
	dynbuf_init(&slug, 256);
	const char *org = "";
	if (r->per == PER_ASN) {
		org = r->enrich ? enrich_as_org(r->enrich, e->src_asn) : "";
		if (org[0]) {
			slugify(&slug, org);
			dynbuf_addc(&slug, '-');
		}
		dynbuf_printf(&slug, "as%" PRIu32, e->src_asn);
		const struct contact *c =
			contacts_find(r->contacts, e->ipver, e->src, e->src_asn, e->src_cc);
		g->email = c ? strdup(c->email) : NULL;
	} else if (r->per == PER_CONTACT) {
		org = ct ? ct->org : "";
		slugify(&slug, ct ? ct->org : "unassigned");
		g->email = ct ? strdup(ct->email) : NULL;
	} else {
		dynbuf_adds(&slug, "all");
	}
	/* Two contacts of one organisation name: the address tells their files apart. */
	for (size_t i = 0; r->per == PER_CONTACT && ct && i < r->n_groups; i++)
		if (!strcmp(r->groups[i]->slug, slug.data)) {
			dynbuf_addc(&slug, '-');
			slugify(&slug, ct->email);
			break;
		}
	g->key = strdup(key);
	g->slug = strdup(slug.data ? slug.data : "all");
	g->org = strdup(org);
	dynbuf_free(&slug);
	for (int t = 0; t < SS_TYPE_N; t++)
		dynbuf_init(&g->csv[t], 64u << 20);
	dynbuf_init(&g->jsonl, 64u << 20);
	size_t hi = h & (r->ghash_cap - 1);
	while (r->ghash[hi])
		hi = (hi + 1) & (r->ghash_cap - 1);
	r->groups[r->n_groups++] = g;
	r->ghash[hi] = (uint32_t)r->n_groups;
	return g;
}

static void group_free(struct rgroup *g)
{
	for (int t = 0; t < SS_TYPE_N; t++)
		dynbuf_free(&g->csv[t]);
	dynbuf_free(&g->jsonl);
	free(g->uniq.k);
	free(g->key);
	free(g->slug);
	free(g->org);
	free(g->email);
	free(g);
}

static void day_str(int64_t day, char *buf, size_t cap)
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%d", &tm);
}

static int file_path(struct report *r, char *buf, size_t cap, const char *type,
		     const struct rgroup *g, const char *ext)
{
	char d[16];
	day_str(r->day, d, sizeof d);
	int n = type ? snprintf(buf, cap, "%s/%s-%s-%s.%s", r->out_dir, d, type, g->slug, ext) :
		       snprintf(buf, cap, "%s/%s-%s.%s", r->out_dir, d, g->slug, ext);
	return n < 0 || (size_t)n >= cap ? ERR_LIMIT : 0;
}

/* Appends the buffer to its file; the first write of a run truncates and writes the header. */
static int flush_to(struct report *r, const char *path, bool *created, struct dynbuf *b,
		    const char *header, size_t hlen)
{
	if (!b->len && *created)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (*created ? O_APPEND : O_TRUNC), 0640);
	if (fd < 0) {
		fprintf(stderr, "sinkd report: %s: %s\n", path, strerror(errno));
		return ERR_SYS;
	}
	int rc = 0;
	if (!*created && hlen && write(fd, header, hlen) != (ssize_t)hlen)
		rc = ERR_SYS;
	if (!rc && b->len && write(fd, b->data, b->len) != (ssize_t)b->len)
		rc = ERR_SYS;
	if (close(fd) != 0)
		rc = ERR_SYS;
	if (rc) {
		fprintf(stderr, "sinkd report: writing %s: %s\n", path, strerror(errno));
		return rc;
	}
	if (!*created) {
		*created = true;
		r->files_written++;
		dynbuf_printf(&r->files, "  %s\n", path);
	}
	dynbuf_reset(b);
	return 0;
}

static int group_flush(struct report *r, struct rgroup *g)
{
	char path[4096];
	for (int t = 0; t < SS_TYPE_N; t++) {
		if (!g->rows[t] || !r->fmt_csv)
			continue;
		struct dynbuf h;
		dynbuf_init(&h, 4096);
		ss_csv_header(&h, (enum ss_type)t);
		int rc = file_path(r, path, sizeof path, ss_type_name((enum ss_type)t), g, "csv");
		rc = rc ? rc : flush_to(r, path, &g->created[t], &g->csv[t], h.data, h.len);
		dynbuf_free(&h);
		if (rc)
			return rc;
	}
	if (r->fmt_jsonl && (g->infections || g->dns)) {
		int rc = file_path(r, path, sizeof path, NULL, g, "jsonl");
		rc = rc ? rc : flush_to(r, path, &g->jcreated, &g->jsonl, NULL, 0);
		if (rc)
			return rc;
	}
	return 0;
}

static bool contact_selected(struct report *r, const struct contact *ct)
{
	if (!r->n_contact_sel)
		return true;
	for (size_t i = 0; ct && i < r->n_contact_sel; i++)
		if (!strcasecmp(ct->email, r->contact_sel[i]))
			return true;
	return false;
}

static int on_event(void *ctx, const struct store_event *e)
{
	struct report *r = ctx;
	bool infection = store_is_infection(e);
	if (!infection && e->kind != STORE_KIND_DNS)
		return 0; /* unclassified traffic (scanners, noise) is not reported */
	const struct contact *ct =
		contacts_find(r->contacts, e->ipver, e->src, e->src_asn, e->src_cc);
	if (!contact_selected(r, ct))
		return 0;
	struct rgroup *g = group_get(r, e, ct);
	if (!g) {
		r->error = ERR_NOMEM;
		return 1;
	}
	enum ss_type t = ss_type_of(e);
	int rc = 0;
	if (r->fmt_csv)
		rc = ss_csv_row(&g->csv[t], t, e);
	if (!rc && r->fmt_jsonl)
		rc = ss_json_row(&g->jsonl, t, e);
	if (rc) {
		r->error = rc;
		return 1;
	}
	size_t added = g->csv[t].len + g->jsonl.len;
	g->rows[t]++;
	if (infection) {
		g->infections++;
		addrset_add(&g->uniq, e->ipver, e->src);
		if (!g->have_first) {
			g->have_first = true;
			g->first = *e;
			memset(g->first.col, 0, sizeof g->first.col);
			snprintf(g->first_family, sizeof g->first_family, "%.*s",
				 (int)e->col[STORE_C_FAMILY].len, e->col[STORE_C_FAMILY].p);
		}
	} else {
		g->dns++;
	}
	r->rows_seen++;
	/* Rows come in log order, every network mixed: buffer per network, write out in chunks. */
	r->buffered += added - g->pending;
	g->pending = added;
	if (g->csv[t].len > REPORT_FLUSH_BYTES || g->jsonl.len > REPORT_FLUSH_BYTES) {
		r->buffered -= g->pending;
		g->pending = 0;
		if ((r->error = group_flush(r, g)))
			return 1;
	}
	if (r->buffered > REPORT_BUFFER_BYTES) {
		/*
		 * Write out the big buffers first (each open costs the same whatever
		 * it writes: tens of thousands of networks each holding a few rows
		 * are left for later), everything only if that was not enough.
		 */
		for (int pass = 0; pass < 2 && r->buffered > REPORT_BUFFER_BYTES / 2; pass++) {
			for (size_t i = 0; i < r->n_groups; i++) {
				struct rgroup *x = r->groups[i];
				if (!x->pending || (pass == 0 && x->pending < (64u << 10)))
					continue;
				r->buffered -= x->pending;
				x->pending = 0;
				if ((r->error = group_flush(r, x)))
					return 1;
			}
		}
	}
	if (r->tty && (r->rows_seen & 0xfff) == 0) {
		uint64_t now = time_mono_ms();
		if (now - r->last_progress_ms >= 250) {
			r->last_progress_ms = now;
			fprintf(stderr, "\rreport: %" PRIu64 " rows, %zu networks   ", r->rows_seen,
				r->n_groups);
		}
	}
	return 0;
}

static int group_mail(struct report *r, struct rgroup *g, const char *hostname)
{
	if (!g->email || !g->infections)
		return 0;
	char d[16], path[4096];
	day_str(r->day, d, sizeof d);
	struct mail_attachment att[SS_TYPE_N];
	char names[SS_TYPE_N][256];
	struct dynbuf files[SS_TYPE_N];
	size_t n_att = 0;
	int rc = 0;
	for (int t = 0; t < SS_TYPE_N && !rc; t++) {
		if (!g->rows[t])
			continue;
		/* The CSV file written for this network is the attachment, byte for byte. */
		char *data;
		size_t len;
		rc = file_path(r, path, sizeof path, ss_type_name((enum ss_type)t), g, "csv");
		if (!rc && (rc = csvline_read_file(path, 1u << 30, &data, &len)) != 0)
			fprintf(stderr, "sinkd report: reading %s back: %s\n", path, err_str(rc));
		if (rc)
			break;
		dynbuf_init(&files[n_att], len + 1);
		dynbuf_add(&files[n_att], data, len);
		free(data);
		snprintf(names[n_att], sizeof names[n_att], "%s-%s-%s.csv", d,
			 ss_type_name((enum ss_type)t), g->slug);
		att[n_att] = (struct mail_attachment){ names[n_att], "text/csv; charset=utf-8",
						       (const uint8_t *)files[n_att].data,
						       files[n_att].len };
		n_att++;
	}
	if (rc) {
		for (size_t i = 0; i < n_att; i++)
			dynbuf_free(&files[i]);
		return rc;
	}
	char src[64], dst[64], rid[400];
	inet_ntop(g->first.ipver == 4 ? AF_INET : AF_INET6, g->first.src, src, sizeof src);
	inet_ntop(g->first.ipver == 4 ? AF_INET : AF_INET6, g->first.dst, dst, sizeof dst);
	snprintf(rid, sizeof rid, "%s-%s@%s", d, g->slug, hostname);
	struct mail_xarf x = { r->from_addr,	 src,		g->first.src_port,
			       g->first.src_asn, dst,		g->first.dst_port,
			       g->first_family,	 rid,		g->infections,
			       g->uniq.n,	 g->first.ts_us };
	struct dynbuf body, subj, msg;
	dynbuf_init(&body, 1u << 20);
	dynbuf_init(&subj, 4096);
	dynbuf_init(&msg, 512u << 20);
	dynbuf_printf(&subj, "abuse report about %s - %s", g->org[0] ? g->org : g->key, d);
	dynbuf_printf(
		&body,
		"Dear %s abuse team,\n\n"
		"our botnet sinkhole recorded connections from infected machines in your\n"
		"network on %s (UTC): %" PRIu64 " unique IP addresses, %" PRIu64 " check-ins.\n"
		"They are listed in the attached CSV file(s), in the Shadowserver sinkhole\n"
		"report format (IntelMQ reads them as they are). Please have the machines\n"
		"cleaned: they are infected with the malware named in the \"infection\"\n"
		"column. The sinkhole answers them harmlessly and never sends them commands.\n\n",
		g->org[0] ? g->org : g->key, d, (uint64_t)g->uniq.n, g->infections);
	dynbuf_adds(&body, caveat);
	dynbuf_adds(&body, "\n-- \nsinkd " SINKD_VERSION " botnet sinkhole\n");
	struct mail_msg m = { r->from_addr, g->email, subj.data,     body.data, &x,
			      att,	    n_att,    time_now_us(), hostname };
	rc = mail_build(&msg, &m);
	if (!rc && r->smtp) {
		char err[512];
		rc = mail_smtp_send(r->smtp, r->from_addr, g->email, msg.data, msg.len, err,
				    sizeof err);
		if (rc)
			fprintf(stderr, "sinkd report: mail to %s via %s: %s\n", g->email, r->smtp,
				err);
		else
			r->mails++;
	} else if (!rc) {
		bool created = false;
		rc = file_path(r, path, sizeof path, NULL, g, "eml");
		rc = rc ? rc : flush_to(r, path, &created, &msg, NULL, 0);
		if (!rc)
			r->mails++;
	}
	for (size_t i = 0; i < n_att; i++)
		dynbuf_free(&files[i]);
	dynbuf_free(&body);
	dynbuf_free(&subj);
	dynbuf_free(&msg);
	return rc;
}

/* --- summary ---------------------------------------------------------------------------- */

struct tally {
	char name[72];
	uint64_t addrs, events;
};

struct summary {
	struct tally fam[64], asn[4096], cc[256];
	size_t n_fam, n_asn, n_cc;
	uint64_t per_day_events[REPORT_MAX_DAYS];
};

static void tally_add(struct tally *t, size_t *n, size_t max, const char *name, uint64_t addrs,
		      uint64_t events)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(t[i].name, name)) {
			t[i].addrs += addrs;
			t[i].events += events;
			return;
		}
	if (*n == max)
		return;
	snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
	t[*n].addrs = addrs;
	t[*n].events = events;
	(*n)++;
}

static int tally_cmp(const void *a, const void *b)
{
	const struct tally *x = a, *y = b;
	return x->addrs < y->addrs ? 1 : x->addrs > y->addrs ? -1 : strcmp(x->name, y->name);
}

struct sum_ctx {
	struct summary *s;
	int64_t from;
};

static int on_daily(void *ctx, const struct store_daily *d)
{
	struct sum_ctx *c = ctx;
	char asn[32];
	snprintf(asn, sizeof asn, "AS%" PRIu32, d->asn);
	/* Address counts add up per (day, family, ASN, country): a sum over days is
	 * address-days, so the family/ASN/country tables state "address-days". */
	tally_add(c->s->fam, &c->s->n_fam, 64, d->family, d->unique_src, d->events);
	tally_add(c->s->asn, &c->s->n_asn, 4096, asn, d->unique_src, d->events);
	tally_add(c->s->cc, &c->s->n_cc, 256, d->cc[0] ? d->cc : "??", d->unique_src, d->events);
	int64_t i = d->day - c->from;
	if (i >= 0 && i < REPORT_MAX_DAYS)
		c->s->per_day_events[i] += d->events;
	return 0;
}

static int on_bots(void *ctx, const struct store_bots *b)
{
	struct dynbuf *o = ctx;
	char ds[16];
	day_str(b->day, ds, sizeof ds);
	dynbuf_printf(o, "  %s %-20s %10" PRIu64 " %12" PRIu64 "\n", ds, b->family, b->unique_bots,
		      b->events);
	return 0;
}

static void print_tally(struct dynbuf *o, const char *title, struct tally *t, size_t n,
			struct enrich *e, bool asn)
{
	qsort(t, n, sizeof *t, tally_cmp);
	dynbuf_printf(o, "%s (address-days, events):\n", title);
	for (size_t i = 0; i < n && i < REPORT_TOP; i++) {
		const char *org = "";
		if (asn && e)
			org = enrich_as_org(e, (uint32_t)strtoul(t[i].name + 2, NULL, 10));
		dynbuf_printf(o, "  %-24s %10" PRIu64 " %12" PRIu64 "%s%s\n", t[i].name, t[i].addrs,
			      t[i].events, org[0] ? "  " : "", org);
	}
	if (n > REPORT_TOP)
		dynbuf_printf(o, "  ... and %zu more\n", n - REPORT_TOP);
}

static int summarise(struct report *r, const struct store_filter *f, struct dynbuf *o)
{
	struct summary *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	struct sum_ctx c = { s, f->day_from };
	int rc = store_daily(r->store, f, on_daily, &c);
	char d1[16], d2[16];
	day_str(f->day_from, d1, sizeof d1);
	day_str(f->day_to, d2, sizeof d2);
	dynbuf_printf(o, "sinkd report summary, %s to %s (UTC)\n\n", d1, d2);
	dynbuf_adds(o, "Infected addresses per day (unique IPs, events):\n");
	uint64_t first = 0, last = 0;
	for (int64_t day = f->day_from; !rc && day <= f->day_to; day++) {
		struct store_filter df = *f;
		df.day_from = df.day_to = day;
		uint64_t u = 0;
		rc = store_unique_sources(r->store, &df, &u);
		char ds[16];
		day_str(day, ds, sizeof ds);
		int64_t i = day - f->day_from;
		dynbuf_printf(o, "  %s %10" PRIu64 " %12" PRIu64 "\n", ds, u,
			      i < REPORT_MAX_DAYS ? s->per_day_events[i] : 0);
		if (day == f->day_from)
			first = u;
		last = u;
	}
	if (!rc && f->day_to - f->day_from >= 6) {
		dynbuf_adds(o, "Per week (unique IPs over 7 days, from the first day):\n");
		for (int64_t w = f->day_from; !rc && w + 6 <= f->day_to; w += 7) {
			struct store_filter wf = *f;
			wf.day_from = w;
			wf.day_to = w + 6;
			uint64_t u = 0;
			rc = store_unique_sources(r->store, &wf, &u);
			char ds[16];
			day_str(w, ds, sizeof ds);
			dynbuf_printf(o, "  week of %s %10" PRIu64 "\n", ds, u);
		}
	}
	if (!rc && f->day_to > f->day_from) {
		uint64_t total = 0;
		rc = store_unique_sources(r->store, f, &total);
		dynbuf_printf(o,
			      "Over the range: %" PRIu64 " unique IPs. Trend: %" PRIu64
			      " on the first day, %" PRIu64 " on the last",
			      total, first, last);
		if (first)
			dynbuf_printf(o, " (%+.1f %%)",
				      100.0 * ((double)last - (double)first) / (double)first);
		dynbuf_adds(o, ".\n");
	}
	dynbuf_addc(o, '\n');
	/* Bot IDs (store.bot_ids) count machines where a family names them; all networks. */
	struct dynbuf bots;
	dynbuf_init(&bots, 4u << 20);
	if (!rc && store_bots(r->store, f, on_bots, &bots) == 0 && bots.len) {
		dynbuf_adds(
			o,
			"Unique bot IDs per day and family (all networks; unique IDs, events):\n");
		dynbuf_add(o, bots.data, bots.len);
		dynbuf_addc(o, '\n');
	}
	dynbuf_free(&bots);
	print_tally(o, "By family", s->fam, s->n_fam, NULL, false);
	print_tally(o, "By ASN", s->asn, s->n_asn, r->enrich, true);
	print_tally(o, "By country", s->cc, s->n_cc, NULL, false);
	dynbuf_addc(o, '\n');
	dynbuf_adds(o, caveat);
	free(s);
	return rc;
}

/* --- options -------------------------------------------------------------------------- */

static int parse_day(const char *s, int64_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end || strlen(s) != 10)
		return -1;
	time_t t = timegm(&tm);
	if (t < 0)
		return -1;
	*out = (int64_t)(t / 86400);
	return 0;
}

static bool parse_formats(struct report *r, const char *s)
{
	r->fmt_csv = r->fmt_jsonl = r->fmt_eml = r->fmt_summary = false;
	while (*s) {
		size_t n = strcspn(s, ",");
		if (n == 3 && !strncmp(s, "csv", 3))
			r->fmt_csv = true;
		else if (n == 5 && !strncmp(s, "jsonl", 5))
			r->fmt_jsonl = true;
		else if (n == 3 && !strncmp(s, "eml", 3))
			r->fmt_eml = true;
		else if (n == 7 && !strncmp(s, "summary", 7))
			r->fmt_summary = true;
		else
			return false;
		s += n;
		if (*s == ',')
			s++;
	}
	return true;
}

static bool plain_address(const char *s)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == '<' || *s == '>' || *s == 0x7f)
			return false;
	return true;
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		STORE_OPTS_LONG,
		{ "day", required_argument, NULL, 'd' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "cidr", required_argument, NULL, 'C' },
		{ "contact", required_argument, NULL, 'm' },
		{ "per", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'x' },
		{ "out", required_argument, NULL, 'o' },
		{ "from-addr", required_argument, NULL, 'A' },
		{ "smtp", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* --asn and --country mean data files elsewhere; here they select. */
	struct report *r = calloc(1, sizeof *r);
	if (!r)
		return 1;
	r->out_dir = ".";
	r->fmt_csv = r->fmt_summary = true;
	int per = -1;
	int64_t from = -1, to = -1;
	uint32_t asns[REPORT_MAX_SEL];
	struct store_net nets[REPORT_MAX_SEL];
	char ccs[REPORT_MAX_SEL][3];
	size_t n_asns = 0, n_nets = 0, n_ccs = 0;
	const char *asn_files[STORE_OPTS_MAX_FILES];
	size_t n_asn_files = 0;
	int status = 2, ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
		if (ch == 0x1003) { /* --asn: a number selects, anything else is a data file */
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (!errno && !*end && *optarg >= '0' && *optarg <= '9' &&
			    v <= UINT32_MAX) {
				if (n_asns == REPORT_MAX_SEL)
					goto usage;
				asns[n_asns++] = (uint32_t)v;
			} else if (n_asn_files < STORE_OPTS_MAX_FILES) {
				asn_files[n_asn_files++] = optarg;
			}
			continue;
		}
		if (ch == 0x1004 && strlen(optarg) == 2) { /* --country CC selects */
			if (n_ccs == REPORT_MAX_SEL || optarg[0] < 'A' || optarg[0] > 'Z' ||
			    optarg[1] < 'A' || optarg[1] > 'Z') {
				fprintf(stderr, "sinkd report: --country takes an upper-case ISO "
						"3166 code (DE) or an .mmdb file\n");
				goto usage;
			}
			memcpy(ccs[n_ccs++], optarg, 3);
			continue;
		}
		int h = store_opts_handle(&r->so, ch, optarg, "report");
		if (h < 0)
			goto usage;
		if (h)
			continue;
		switch (ch) {
		case 'd':
			if (parse_day(optarg, &from))
				goto bad_day;
			to = from;
			break;
		case 'F':
			if (parse_day(optarg, &from))
				goto bad_day;
			break;
		case 'T':
			if (parse_day(optarg, &to))
				goto bad_day;
			break;
		case 'C': {
			struct config_cidr c;
			if (n_nets == REPORT_MAX_SEL || config_parse_cidr(optarg, &c)) {
				fprintf(stderr, "sinkd report: bad --cidr %s\n", optarg);
				goto usage;
			}
			nets[n_nets].ipver = c.ipver;
			nets[n_nets].plen = c.prefix_len;
			memcpy(nets[n_nets].addr, c.addr, 16);
			n_nets++;
			break;
		}
		case 'm':
			if (r->n_contact_sel == REPORT_MAX_SEL)
				goto usage;
			r->contact_sel[r->n_contact_sel++] = optarg;
			break;
		case 'p':
			per = !strcmp(optarg, "asn")	 ? PER_ASN :
			      !strcmp(optarg, "contact") ? PER_CONTACT :
			      !strcmp(optarg, "all")	 ? PER_ALL :
							   -2;
			if (per == -2)
				goto usage;
			break;
		case 'x':
			if (!parse_formats(r, optarg)) {
				fprintf(stderr,
					"sinkd report: --format takes csv,jsonl,eml,summary\n");
				goto usage;
			}
			break;
		case 'o':
			r->out_dir = optarg;
			break;
		case 'A':
			r->from_addr = optarg;
			break;
		case 'S':
			r->smtp = optarg;
			break;
		case 'h':
			report_usage(stdout);
			status = 0;
			goto out;
		default:
			goto usage;
		}
	}
	for (size_t i = 0; i < n_asn_files; i++)
		store_opts_handle(&r->so, 0x1003, asn_files[i], "report");
	if (optind != argc || from < 0 || to < from || to - from >= REPORT_MAX_DAYS) {
		fprintf(stderr, "sinkd report: give --day, or --from and --to (at most %d days)\n",
			REPORT_MAX_DAYS);
		goto usage;
	}
	char hostname[256];
	if (gethostname(hostname, sizeof hostname))
		snprintf(hostname, sizeof hostname, "localhost");
	hostname[sizeof hostname - 1] = '\0';
	char from_buf[300];
	if (!r->from_addr) {
		snprintf(from_buf, sizeof from_buf, "sinkhole@%s", hostname);
		r->from_addr = from_buf;
	}
	if (!plain_address(r->from_addr)) {
		fprintf(stderr, "sinkd report: --from-addr must be a plain address\n");
		goto usage;
	}
	status = 1;
	if (store_opts_resolve(&r->so, "report"))
		goto out;
	if (!r->so.store) {
		fprintf(stderr, "sinkd report: need --store (or -c with store.path)\n");
		status = 2;
		goto out;
	}
	if (store_opts_load(&r->so, "report", false, r->so.n_asn ? &r->enrich : NULL, &r->contacts))
		goto out;
	if ((r->fmt_eml || r->n_contact_sel || per == PER_CONTACT) && !r->so.n_contacts) {
		fprintf(stderr,
			"sinkd report: mails, --contact and --per contact need --contacts\n");
		status = 2;
		goto out;
	}
	r->per = per >= 0 ? per : r->so.n_contacts ? PER_CONTACT : PER_ASN;
	if (r->fmt_eml)
		r->fmt_csv = true; /* the mails attach the CSV files */
	char err[512];
	if (store_open(&r->store, r->so.store, false, err, sizeof err)) {
		fprintf(stderr, "sinkd report: %s\n", err);
		goto out;
	}
	if ((r->fmt_csv || r->fmt_jsonl) && mkdir(r->out_dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "sinkd report: %s: %s\n", r->out_dir, strerror(errno));
		goto out;
	}
	r->tty = isatty(STDERR_FILENO);
	dynbuf_init(&r->files, 64u << 20);
	struct store_filter f = { .day_from = from,
				  .day_to = to,
				  .asns = asns,
				  .n_asns = n_asns,
				  .nets = nets,
				  .n_nets = n_nets,
				  .ccs = (const char(*)[3])ccs,
				  .n_ccs = n_ccs };
	int rc = 0;
	if (r->fmt_csv || r->fmt_jsonl || r->fmt_eml) {
		for (int64_t day = from; day <= to && !rc; day++) {
			struct store_filter df = f;
			df.day_from = df.day_to = r->day = day;
			rc = store_scan(r->store, &df, on_event, r);
			if (!rc)
				rc = r->error;
			for (size_t i = 0; i < r->n_groups; i++) {
				/* The files first: the mail attaches them as written. */
				if (!rc)
					rc = group_flush(r, r->groups[i]);
				if (!rc && r->fmt_eml)
					rc = group_mail(r, r->groups[i], hostname);
				group_free(r->groups[i]);
			}
			r->n_groups = 0;
			r->buffered = 0;
			if (r->ghash)
				memset(r->ghash, 0, r->ghash_cap * sizeof *r->ghash);
		}
		if (r->tty)
			fputc('\n', stderr);
	}
	if (rc) {
		fprintf(stderr, "sinkd report: %s\n", err_str(rc));
		goto out;
	}
	if (r->fmt_summary) {
		struct dynbuf o;
		dynbuf_init(&o, 16u << 20);
		struct store_filter sf = f;
		rc = summarise(r, &sf, &o);
		if (!rc && r->files_written)
			dynbuf_printf(&o, "\nFiles (%" PRIu64 "):\n%s", r->files_written,
				      r->files.data);
		if (!rc && r->mails)
			dynbuf_printf(&o, "Mails %s: %" PRIu64 "\n", r->smtp ? "sent" : "written",
				      r->mails);
		fwrite(o.data, 1, o.len, stdout);
		dynbuf_free(&o);
		if (rc) {
			fprintf(stderr, "sinkd report: summary: %s\n", err_str(rc));
			goto out;
		}
	}
	status = 0;
	goto out;
bad_day:
	fprintf(stderr, "sinkd report: dates are YYYY-MM-DD (UTC)\n");
usage:
	report_usage(stderr);
	status = 2;
out:
	for (size_t i = 0; i < r->n_groups; i++)
		group_free(r->groups[i]);
	free(r->groups);
	free(r->ghash);
	dynbuf_free(&r->files);
	store_close(r->store);
	enrich_free(r->enrich);
	contacts_free(r->contacts);
	store_opts_free(&r->so);
	free(r);
	return status;
}
