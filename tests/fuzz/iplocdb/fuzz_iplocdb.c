/* fuzz_iplocdb.c — libFuzzer harness: the ip-location-db CSV loader, then lookups on the table it built. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "enrich/enrich.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct enrich_builder *b;
	struct enrich *e;
	struct enrich_load_stats st = { 0 };
	if (enrich_builder_new(&b))
		return 0;
	if (enrich_parse_iplocdb(b, (const char *)data, size, &st)) {
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
