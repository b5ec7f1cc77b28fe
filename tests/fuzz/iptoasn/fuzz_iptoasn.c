/* fuzz_iptoasn.c — libFuzzer harness: the iptoasn TSV loader, then lookups on the table it built. */
#include <stddef.h>
#include <stdint.h>

#include "../fuzz_enrich_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_enrich_loader(enrich_parse_iptoasn, data, size);
}
