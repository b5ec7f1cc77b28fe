/* test_conn_driver.c — the socketless driver: bytes in any chunking, events stamped with its clock, timers, answers, datagrams. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/config.h"
#include "core/event.h"
#include "net/conn_driver.h"

static const char config_text[] =
	"sensor: { id: t }\n"
	"log: { dir: /nonexistent }\n"
	"listen:\n"
	"  - { proto: http, addr: \"127.0.0.1:8080\", name: web,\n"
	"      limits: { header_timeout_ms: 1000, idle_timeout_ms: 5000 } }\n"
	"families:\n"
	"  - { name: fam, match: { path: /a } }\n";

#define MAX_EVENTS 8

struct seen {
	struct event_view v[MAX_EVENTS];
	uint8_t rec[MAX_EVENTS][4096];
	size_t n;
	char answers[4096];
	size_t answers_len;
};

static int sink(void *arg, const uint8_t *rec, size_t len)
{
	struct seen *s = arg;
	if (s->n < MAX_EVENTS && len <= sizeof s->rec[0]) {
		memcpy(s->rec[s->n], rec, len);
		CHECK_INT(event_decode(s->rec[s->n], len, &s->v[s->n]), 0);
		s->n++;
	}
	return 0;
}

static void output(void *arg, const uint8_t *data, size_t len)
{
	struct seen *s = arg;
	if (s->answers_len + len < sizeof s->answers) {
		memcpy(s->answers + s->answers_len, data, len);
		s->answers_len += len;
	}
}

static bool field_is(const struct event_view *v, uint16_t tag, const char *want)
{
	struct event_field f;
	return event_find(v, tag, &f) && f.len == strlen(want) && !memcmp(f.val, want, f.len);
}

static void setup(struct conn_driver *d, struct config **cfg, struct seen *s)
{
	char err[256];
	memset(s, 0, sizeof *s);
	CHECK_INT(config_load_string(config_text, sizeof config_text - 1, "t.yaml", cfg, err,
				     sizeof err),
		  0);
	CHECK_INT(conn_driver_init(d, *cfg, sink, s, err, sizeof err), 0);
	d->on_output = output;
	d->output_arg = s;
}

static const char request[] =
	"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\n";

/* The same two events whatever the chunking, stamped with the driver's clock. */
static void test_chunkings(void)
{
	for (size_t chunk = 1; chunk <= sizeof request; chunk += 7) {
		struct conn_driver d;
		struct config *cfg;
		struct seen s;
		setup(&d, &cfg, &s);
		struct event_addr src = { .ipver = 4, .addr = { 10, 0, 0, 1 }, .port = 5555 };
		struct conn *c = calloc(1, sizeof *c);
		conn_driver_set_time(&d, 1700000000000000u);
		conn_driver_open(&d, c, 0, &src, &d.listeners[0].local, 42);
		for (size_t off = 0; off < sizeof request - 1; off += chunk) {
			size_t n = sizeof request - 1 - off < chunk ? sizeof request - 1 - off :
								      chunk;
			CHECK_INT(conn_driver_input(&d, c, (const uint8_t *)request + off, n), n);
		}
		conn_driver_eof(&d, c);
		conn_driver_close(&d, c);
		free(c);
		CHECK_INT(s.n, 2);
		if (s.n == 2) {
			CHECK(field_is(&s.v[0], EVENT_T_HTTP_URI, "/a"));
			CHECK(field_is(&s.v[0], EVENT_T_FAMILY, "fam"));
			CHECK(field_is(&s.v[1], EVENT_T_HTTP_URI, "/b"));
			CHECK(s.v[0].h.ts_us == 1700000000000000u);
			CHECK(s.v[0].h.flow_id == 42 && s.v[0].h.src.port == 5555);
			CHECK_INT(s.v[0].h.dst.port, 8080);
		}
		/* Both answers went out (and were only observed). */
		CHECK(s.answers_len > 24 && !memcmp(s.answers, "HTTP/1.1 ", 9));
		CHECK(strstr(s.answers + 9, "HTTP/1.1 ") != NULL);
		conn_driver_free(&d);
		config_free(cfg);
	}
}

/* The module's own header timer, on the driver's clock. */
static void test_timer(void)
{
	struct conn_driver d;
	struct config *cfg;
	struct seen s;
	setup(&d, &cfg, &s);
	struct event_addr src = { .ipver = 4, .addr = { 10, 0, 0, 2 }, .port = 6666 };
	struct conn *c = calloc(1, sizeof *c);
	uint64_t t0 = 1700000000000000u;
	conn_driver_set_time(&d, t0);
	conn_driver_open(&d, c, 0, &src, &d.listeners[0].local, 7);
	CHECK_INT(conn_driver_input(&d, c, (const uint8_t *)"GET /a HT", 9), 9);
	CHECK(conn_driver_expired(&d, t0 / 1000 + 999) == NULL);
	CHECK(conn_driver_expired(&d, t0 / 1000 + 1000) == c);
	conn_driver_set_time(&d, t0 + 1000000);
	conn_driver_timeout(&d, c);
	CHECK(conn_driver_done(c));
	CHECK(conn_driver_expired(&d, UINT64_MAX) == NULL);
	conn_driver_close(&d, c);
	free(c);
	CHECK_INT(s.n, 1);
	if (s.n == 1) {
		CHECK(s.v[0].h.flags & EVENT_F_TIMEOUT);
		CHECK(s.v[0].h.ts_us == t0 + 1000000);
	}
	conn_driver_free(&d);
	config_free(cfg);
}

/* A datagram module sees the datagram and records through the sink, with the driver's clock. */
static size_t test_on_datagram(struct worker *w, struct dgram *dg)
{
	struct event_builder b;
	dgram_event_begin(w, dg, &b, EVENT_DNS, dg->truncated ? EVENT_F_TRUNCATED : 0);
	event_put_u64(&b, EVENT_T_HTTP_BODY_LEN, dg->len);
	dgram_event_submit(w, dg, &b);
	return 0;
}

static const struct proto_ops test_dgram_ops = { .name = "test", .on_datagram = test_on_datagram };

static void test_datagrams(void)
{
	struct conn_driver d;
	struct config *cfg;
	struct seen s;
	static uint8_t big[WORKER_DGRAM_MAX + 100];
	setup(&d, &cfg, &s);
	CHECK(!conn_driver_has_dgram(&d, 0)); /* HTTP has no datagram module */
	CHECK(conn_driver_has_stream(&d, 0));
	d.dlisteners[0].ops = &test_dgram_ops;
	CHECK(conn_driver_has_dgram(&d, 0));
	struct event_addr src = { .ipver = 6, .addr = { 0x20, 1, 0xd, 0xb8 }, .port = 53000 };
	conn_driver_set_time(&d, 1700000000123456u);
	conn_driver_datagram(&d, 0, &src, &d.listeners[0].local, big, 12, false, 9);
	conn_driver_datagram(&d, 0, &src, &d.listeners[0].local, big, sizeof big, false, 10);
	CHECK_INT(s.n, 2);
	if (s.n == 2) {
		struct event_field f;
		CHECK_INT(s.v[0].h.transport, 17);
		CHECK(s.v[0].h.ts_us == 1700000000123456u);
		CHECK(!(s.v[0].h.flags & EVENT_F_TRUNCATED));
		/* Cut at the live receive slot, and flagged, as live. */
		CHECK(s.v[1].h.flags & EVENT_F_TRUNCATED);
		CHECK(event_find(&s.v[1], EVENT_T_HTTP_BODY_LEN, &f) &&
		      event_field_uint(&f) == WORKER_DGRAM_MAX);
	}
	conn_driver_free(&d);
	config_free(cfg);
}

int main(void)
{
	test_chunkings();
	test_timer();
	test_datagrams();
	return check_done("conn_driver");
}
