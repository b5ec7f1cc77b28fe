/* fuzz_web_api.c — libFuzzer harness: hostile API paths and query strings through web_api_handle over a small store, for an owner and the operator. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "store/store.h"
#include "web/web_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define US_PER_DAY 86400000000ull

/* Network A: 192.0.2.0/24, AS 64501, DE. Network B: 198.51.100.0/24, AS 64502, US. */
static struct store *open_store(void)
{
	struct store *s;
	char err[256];
	if (store_open(&s, ":memory:", true, err, sizeof err))
		abort();
	struct store_event ev[40];
	memset(ev, 0, sizeof ev);
	uint64_t today = time_now_us() / US_PER_DAY * US_PER_DAY;
	for (int i = 0; i < 40; i++) {
		struct store_event *e = &ev[i];
		bool b = i & 1;
		e->ts_us = today - (uint64_t)(i % 3) * US_PER_DAY + 1000000u * (uint64_t)i;
		e->kind = STORE_KIND_HTTP;
		e->type = 1;
		e->transport = 6;
		e->ipver = 4;
		e->src[0] = b ? 198 : 192;
		e->src[1] = b ? 51 : 0;
		e->src[2] = b ? 100 : 2;
		e->src[3] = (uint8_t)(1 + i / 2);
		e->dst[0] = 127;
		e->dst[3] = 1;
		e->src_port = 40000;
		e->dst_port = 80;
		e->src_asn = b ? 64502 : 64501;
		memcpy(e->src_cc, b ? "US" : "DE", 3);
		e->col[STORE_C_FAMILY] = (struct store_str){ "rustock", 7 };
		e->col[STORE_C_HTTP_AGENT] =
			(struct store_str){ b ? "agent-of-b" : "agent-of-a", 10 };
	}
	/* Log order is time order for the store's day ranges. */
	for (int i = 0; i < 40; i++)
		for (int j = i + 1; j < 40; j++)
			if (ev[j].ts_us < ev[i].ts_us) {
				struct store_event t = ev[i];
				ev[i] = ev[j];
				ev[j] = t;
			}
	struct log_pos from = { 0, 0 }, next = { 1, 100 };
	if (store_ingest(s, ev, 40, &from, &next))
		abort();
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct store *s;
	if (!s)
		s = open_store();
	if (size > 8192)
		return 0;
	/* The input is "path?query" (the path is taken as sent). */
	const char *in = (const char *)data;
	const char *qm = memchr(in, '?', size);
	size_t plen = qm ? (size_t)(qm - in) : size;
	const char *query = qm ? qm + 1 : "";
	size_t qlen = qm ? size - plen - 1 : 0;
	static struct token owner, admin;
	owner.admin = false;
	owner.asns[0] = 64501;
	owner.n_asns = 1;
	memcpy(owner.name, "a", 2);
	admin.admin = true;
	memcpy(admin.name, "op", 3);
	struct web_api api = { .store = s };
	for (int who = 0; who < 2; who++) {
		struct web_reply r;
		web_reply_init(&r);
		web_api_handle(&api, who ? &admin : &owner, in, plen, query, qlen, &r);
		if (r.status < 200 || r.status > 599)
			abort();
		if (!r.body.data || r.body.len < 3 || r.body.data[0] != '{' ||
		    memcmp(r.body.data + r.body.len - 2, "}\n", 2))
			abort();
		if (r.status >= 400 && !strstr(r.body.data, "\"error\""))
			abort();
		/* The owner of A never reads anything of B. */
		if (!who && (strstr(r.body.data, "198.51.100.") || strstr(r.body.data, "64502") ||
			     strstr(r.body.data, "agent-of-b") || strstr(r.body.data, "\"US\"")))
			abort();
		if (r.status == 500)
			abort(); /* the store never fails on this data */
		web_reply_free(&r);
	}
	return 0;
}
