/* gen_log.c — writes a synthetic day of HTTP check-in events straight into an event log (indexing bench). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/event.h"
#include "core/log.h"

/*
 * usage: gen_log LOG_DIR EVENTS UNIQUE_SOURCES YYYY-MM-DD [SEED]
 * Events are spread evenly over the UTC day, in time order; each comes from
 * one of UNIQUE_SOURCES addresses (95 % IPv4 drawn from public space, 5 %
 * IPv6 from 2000::/3), like the records the HTTP module writes for a Rustock
 * check-in (family, tag, listener, method, URI, Host, User-Agent, body length).
 */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: gen_log LOG_DIR EVENTS UNIQUE_SOURCES YYYY-MM-DD [SEED]\n");
		return 2;
	}
	uint64_t n = strtoull(argv[2], NULL, 10), u = strtoull(argv[3], NULL, 10);
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!n || !u || u > n || !strptime(argv[4], "%Y-%m-%d", &tm)) {
		fprintf(stderr, "gen_log: bad arguments\n");
		return 2;
	}
	rng = argc > 5 ? strtoull(argv[5], NULL, 10) | 1 : 0x9e3779b97f4a7c15ull;
	uint64_t day0 = (uint64_t)timegm(&tm) * 1000000u;
	struct event_addr *src = malloc(u * sizeof *src);
	if (!src)
		return 1;
	for (uint64_t i = 0; i < u; i++) {
		memset(&src[i], 0, sizeof src[i]);
		if (rnd() % 100 < 95) {
			src[i].ipver = 4;
			uint32_t a;
			do {
				a = (uint32_t)rnd();
			} while ((a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
				 (a >> 24) >= 224);
			src[i].addr[0] = (uint8_t)(a >> 24);
			src[i].addr[1] = (uint8_t)(a >> 16);
			src[i].addr[2] = (uint8_t)(a >> 8);
			src[i].addr[3] = (uint8_t)a;
		} else {
			src[i].ipver = 6;
			uint64_t x = rnd(), y = rnd();
			memcpy(src[i].addr, &x, 8);
			memcpy(src[i].addr + 8, &y, 8);
			src[i].addr[0] = (uint8_t)(0x20 | (src[i].addr[0] & 0x0f));
		}
	}
	struct log_writer *w;
	struct log_writer_opts o = { .dir = argv[1], .sensor_id = "bench", .segment_bytes = 0 };
	if (log_writer_open(&w, &o, NULL)) {
		fprintf(stderr, "gen_log: cannot open %s\n", argv[1]);
		return 1;
	}
	static const char *const hosts[] = { "onlinescannow.com", "protectionforless.com",
					     "guardandprotector.com", "piecefordesktop.com" };
	uint8_t buf[2048];
	for (uint64_t i = 0; i < n; i++) {
		/* Each source appears at least once, then at random. */
		const struct event_addr *s = &src[i < u ? i : rnd() % u];
		struct event_header h = { .version = EVENT_FORMAT_VERSION,
					  .type = EVENT_HTTP,
					  .transport = 6,
					  .ts_us = day0 + i * (86400000000ull / n),
					  .flow_id = i,
					  .src = *s };
		h.src.port = (uint16_t)(1024 + rnd() % 60000);
		h.dst.ipver = s->ipver;
		h.dst.addr[0] = s->ipver == 4 ? 192 : 0x20;
		h.dst.addr[1] = s->ipver == 4 ? 0 : 0x01;
		h.dst.addr[2] = s->ipver == 4 ? 2 : 0x0d;
		h.dst.addr[3] = s->ipver == 4 ? 1 : 0xb8;
		h.dst.port = 80;
		struct event_builder b;
		event_begin(&b, buf, sizeof buf, &h);
		event_put_str(&b, EVENT_T_FAMILY, "rustock");
		event_put_str(&b, EVENT_T_TAG, "login");
		event_put_str(&b, EVENT_T_LISTENER, "http-seized");
		event_put_str(&b, EVENT_T_HTTP_METHOD, "POST");
		event_put_str(&b, EVENT_T_HTTP_URI, "/login.php");
		event_put_str(&b, EVENT_T_HTTP_HOST, hosts[i % 4]);
		event_put_str(&b, EVENT_T_HTTP_USER_AGENT,
			      "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)");
		event_put_str(&b, EVENT_T_HTTP_PROTOCOL, "HTTP/1.1");
		event_put_u16(&b, EVENT_T_HTTP_STATUS, 404);
		event_put_u64(&b, EVENT_T_HTTP_BODY_LEN, 96);
		size_t len;
		if (event_finish(&b, &len) || log_writer_append(w, buf, len))
			return 1;
		if (i % 4096 == 4095 && log_writer_commit(w))
			return 1;
	}
	if (log_writer_close(w))
		return 1;
	free(src);
	printf("gen_log: %" PRIu64 " events from %" PRIu64 " sources on %s\n", n, u, argv[4]);
	return 0;
}
