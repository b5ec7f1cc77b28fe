/* fuzz_query.c — libFuzzer harness: hostile query strings through the web's query parser and its typed value readers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "web/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct query q;
	int rc = query_parse(&q, (const char *)data, size);
	if (rc != 0 && rc != ERR_LIMIT && rc != ERR_MALFORMED)
		abort();
	if (rc) {
		/* Only over-long input may be ERR_LIMIT by length alone. */
		if (rc == ERR_LIMIT && size <= QUERY_MAX_BYTES && q.n < QUERY_MAX_PARAMS &&
		    size < QUERY_MAX_VALUE)
			abort();
		return 0;
	}
	if (q.n > QUERY_MAX_PARAMS || q.used > sizeof q.buf)
		abort();
	for (size_t i = 0; i < q.n; i++) {
		const struct query_param *p = &q.p[i];
		/* Decoded text: NUL-terminated at its length, no control bytes, inside the buffer. */
		if (strlen(p->key) != p->key_len || strlen(p->val) != p->val_len ||
		    p->val_len > QUERY_MAX_VALUE || p->key < q.buf ||
		    p->val >= q.buf + sizeof q.buf)
			abort();
		for (size_t j = 0; j < p->val_len; j++)
			if ((unsigned char)p->val[j] < 0x20 || p->val[j] == 0x7f)
				abort();
		int64_t day;
		uint64_t u;
		uint32_t asn;
		char cc[3];
		struct store_net net;
		uint8_t v, addr[16];
		if (!query_day(p->val, &day) && (day < 0 || day > 3000000))
			abort();
		if (!query_u64(p->val, 1000, &u) && u > 1000)
			abort();
		query_asn(p->val, &asn);
		if (!query_cc(p->val, cc) && (cc[0] < 'A' || cc[0] > 'Z' || cc[2]))
			abort();
		if (!query_net(p->val, &net)) {
			if ((net.ipver != 4 && net.ipver != 6) ||
			    net.plen > (net.ipver == 4 ? 32 : 128))
				abort();
			if (!store_net_contains(&net, net.ipver, net.addr))
				abort();
		}
		if (!query_addr(p->val, &v, addr) && v != 4 && v != 6)
			abort();
		if (query_name_ok(p->val) && (strchr(p->val, '/') || !strcmp(p->val, "..")))
			abort();
		if (query_get(&q, p->key) == NULL || query_count(&q, p->key) == 0)
			abort();
	}
	return 0;
}
