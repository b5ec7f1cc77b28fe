/* contacts.h — abuse contacts: which address receives the report for a network (CIDR, ASN or country). */
#ifndef SINKD_ENRICH_CONTACTS_H
#define SINKD_ENRICH_CONTACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CSV, UTF-8, with a header line naming the columns (any order; unknown
 * columns are errors): selector,email,org[,source]
 *   selector  "AS64496" (an ASN), "192.0.2.0/24" / "2001:db8::/32" (a network,
 *             bits beyond the length must be zero) or "DE" (a country: the
 *             national CERT)
 *   email     the abuse address (one address, no display name)
 *   org       the organisation, used in file names and greetings
 *   source    "imported" (default: bulk data, e.g. from RIR abuse-c) or
 *             "manual": an operator's entry, which overrides an imported one
 *             with the same selector whatever the file order
 * Lines starting with '#' and empty lines are skipped. An operator writes this
 * file, so any bad line is an error naming the file and line.
 *
 * For an address, the most specific selector wins: the longest matching
 * network, then the ASN, then the country.
 */

struct contacts;

struct contact {
	const char *selector; /* as written */
	const char *email;
	const char *org;
	bool manual;
};

/* Parses one file's text (name used in messages) and adds its entries. */
int contacts_parse(struct contacts *c, const char *buf, size_t len, const char *name, char *err,
		   size_t errlen);
int contacts_new(struct contacts **out);
int contacts_load(struct contacts *c, const char *path, char *err, size_t errlen);
/* Builds the lookup structures after the last parse; required before contacts_find. */
int contacts_finish(struct contacts *c);

const struct contact *contacts_find(const struct contacts *c, int ipver, const uint8_t *addr,
				    uint32_t asn, const char *cc);
void contacts_free(struct contacts *c);

#endif
