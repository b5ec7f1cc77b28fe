/* fuzz_contacts.c — libFuzzer harness: the abuse-contacts CSV parser and lookups on what it accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "enrich/contacts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct contacts *c;
	char err[256];
	if (contacts_new(&c))
		return 0;
	err[0] = '\0';
	int rc = contacts_parse(c, (const char *)data, size, "fuzz.csv", err, sizeof err);
	if (rc && !err[0] && rc != ERR_NOMEM)
		abort(); /* every refusal explains itself */
	if (!contacts_finish(c)) {
		static const uint8_t a4[16] = { 192, 0, 2, 1 };
		static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
						0,    0,    0,	  0,	0, 0, 0, 1 };
		for (uint32_t asn = 0; asn < 4; asn++) {
			const struct contact *k = contacts_find(c, 4, a4, 64496 + asn, "DE");
			if (k && (!k->email || !strchr(k->email, '@')))
				abort();
			k = contacts_find(c, 6, a6, asn, "");
			if (k && (!k->email || !k->org))
				abort();
		}
	}
	contacts_free(c);
	return 0;
}
