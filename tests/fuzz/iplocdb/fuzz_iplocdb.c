/* fuzz_iplocdb.c — libFuzzer harness: the ip-location-db CSV loader, then lookups on the table it built. */
#include <stddef.h>
#include <stdint.h>

#include "../fuzz_enrich_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_enrich_loader(enrich_parse_iplocdb, data, size);
}
