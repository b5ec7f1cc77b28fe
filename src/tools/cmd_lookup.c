/* cmd_lookup.c — `sinkd lookup IP...`: what the enrichment data and contacts say about addresses. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/dynbuf.h"
#include "core/event.h"
#include "core/json.h"
#include "tools/commands.h"
#include "tools/store_opts.h"

static void lookup_usage(FILE *to)
{
	fprintf(to, "usage: sinkd lookup [options] IP...\n"
		    "\n"
		    "Prints the ASN, AS organisation, country and abuse contact of each address,\n"
		    "from the same tables the indexer uses (longest-prefix match).\n"
		    "\n" STORE_OPTS_HELP "      --json           one JSON object per address\n"
		    "  -h, --help           this text\n");
}

int cmd_lookup(int argc, char **argv)
{
	static const struct option opts[] = {
		STORE_OPTS_LONG,
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_opts so = { 0 };
	bool json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		int r = store_opts_handle(&so, ch, optarg, "lookup");
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (ch == 'j') {
			json = true;
		} else if (ch == 'h') {
			lookup_usage(stdout);
			return 0;
		} else {
			lookup_usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		lookup_usage(stderr);
		return 2;
	}
	int status = 1;
	struct enrich *e = NULL;
	struct contacts *c = NULL;
	if (store_opts_resolve(&so, "lookup") || store_opts_load(&so, "lookup", false, &e, &c))
		goto out;
	if (!so.n_asn && !so.n_country)
		fprintf(stderr,
			"sinkd lookup: no data files (--asn, --country or -c): nothing known\n");
	status = 0;
	struct dynbuf b;
	dynbuf_init(&b, 1u << 20);
	for (int i = optind; i < argc; i++) {
		struct event_addr a;
		if (event_addr_parse(argv[i], &a)) {
			fprintf(stderr, "sinkd lookup: \"%s\" is not an IP address\n", argv[i]);
			status = 1;
			continue;
		}
		struct enrich_info in;
		enrich_lookup(e, a.ipver, a.addr, &in);
		const struct contact *ct = contacts_find(c, a.ipver, a.addr, in.asn, in.cc);
		dynbuf_reset(&b);
		if (json) {
			dynbuf_adds(&b, "{\"ip\":");
			json_str(&b, argv[i], strlen(argv[i]));
			dynbuf_printf(&b, ",\"asn\":%u,\"as_org\":", in.asn);
			json_str(&b, in.as_org, strlen(in.as_org));
			dynbuf_adds(&b, ",\"country\":");
			json_str(&b, in.cc, strlen(in.cc));
			if (ct) {
				dynbuf_adds(&b, ",\"contact\":{\"email\":");
				json_str(&b, ct->email, strlen(ct->email));
				dynbuf_adds(&b, ",\"org\":");
				json_str(&b, ct->org, strlen(ct->org));
				dynbuf_adds(&b, ",\"selector\":");
				json_str(&b, ct->selector, strlen(ct->selector));
				dynbuf_printf(&b, ",\"manual\":%s}", ct->manual ? "true" : "false");
			}
			dynbuf_adds(&b, "}\n");
		} else {
			dynbuf_printf(&b, "%s\tasn=%u\tas_org=%s\tcountry=%s", argv[i], in.asn,
				      in.as_org[0] ? in.as_org : "-", in.cc[0] ? in.cc : "-");
			if (ct)
				dynbuf_printf(&b, "\tcontact=%s (%s; by %s%s)", ct->email, ct->org,
					      ct->selector, ct->manual ? ", manual" : "");
			else
				dynbuf_adds(&b, "\tcontact=-");
			dynbuf_addc(&b, '\n');
		}
		fwrite(b.data, 1, b.len, stdout);
	}
	dynbuf_free(&b);
out:
	enrich_free(e);
	contacts_free(c);
	store_opts_free(&so);
	return status;
}
