/* payload_match.c — prefix, bytes at an offset, substring, length and entropy tests on raw payloads. */
#include "core/payload_match.h"

#include <string.h>

bool payload_match(const struct config_payload *m, const struct payload_input *in)
{
	if (!m->present)
		return true;
	if (!in->data)
		return false;
	if (m->has_len && (in->total < m->len_min || in->total > m->len_max))
		return false;
	if (m->has_entropy && (in->entropy < m->entropy_min || in->entropy > m->entropy_max))
		return false;
	if (m->prefix_len &&
	    (in->len < m->prefix_len || memcmp(in->data, m->prefix, m->prefix_len)))
		return false;
	for (size_t i = 0; i < m->n_at; i++) {
		const struct config_payload_at *at = &m->at[i];
		if (at->offset > in->len || at->len > in->len - at->offset ||
		    memcmp(in->data + at->offset, at->bytes, at->len))
			return false;
	}
	if (m->contains_len &&
	    (in->len < m->contains_len || !memmem(in->data, in->len, m->contains, m->contains_len)))
		return false;
	return true;
}
