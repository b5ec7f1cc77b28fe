/* fuzz_enrich_loader.h — the one body of the enrichment-loader harnesses: load hostile bytes, build, look up anywhere. */
#ifndef SINKD_TESTS_FUZZ_ENRICH_LOADER_H
#define SINKD_TESTS_FUZZ_ENRICH_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "enrich/enrich.h"

typedef int (*fuzz_enrich_parse_fn)(struct enrich_builder *b, const char *buf, size_t len,
				    struct enrich_load_stats *st);

/* Feeds `data` to one loader, then checks the table it built answers every lookup. */
static inline int fuzz_enrich_loader(fuzz_enrich_parse_fn parse, const uint8_t *data, size_t size)
{
	struct enrich_builder *b;
	struct enrich *e;
	struct enrich_load_stats st = { 0 };
	if (enrich_builder_new(&b))
		return 0;
	if (parse(b, (const char *)data, size, &st)) {
		enrich_builder_free(b);
		return 0;
	}
	if (st.entries + st.skipped > st.lines)
		abort();
	if (enrich_build(b, &e))
		return 0;
	/* Lookups anywhere must answer, inside the table or not. */
	static const uint8_t probes[][16] = {
		{ 0 },
		{ 1, 0, 0, 1 },
		{ 10, 1, 2, 3 },
		{ 255, 255, 255, 255 },
		{ 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff, 0xff },
	};
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		struct enrich_info in;
		enrich_lookup(e, 4, probes[i], &in);
		if (!in.as_org || (in.asn == 0 && in.as_org[0]))
			abort();
		enrich_lookup(e, 6, probes[i], &in);
		if (!in.as_org)
			abort();
	}
	enrich_free(e);
	return 0;
}

#endif
