/* fuzz_replay.c — libFuzzer harness: hostile capture files through the whole pcap-to-stream path (libpcap, frames, flows, reassembly, HTTP module, rules, events). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/dlog.h"
#include "core/event.h"
#include "../fuzz_events.h"
#include "net/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* Small limits, so that holding, eviction and gaps are reached by small inputs. */
static const char fuzz_config[] =
	"sensor: { id: fuzz }\n"
	"log: { dir: /tmp/unused, fsync: none }\n"
	"listen:\n"
	"  - { proto: http, addr: \"0.0.0.0:80\", name: web,\n"
	"      limits: { max_header_bytes: 512, max_headers: 8, max_body_bytes: 2048,\n"
	"                body_store_bytes: 32, header_timeout_ms: 1000, idle_timeout_ms: 2000 } }\n"
	"  - { proto: http, addr: \"[::]:8081\", name: proxied, proxy_protocol: true }\n"
	"  - { proto: dns, addr: \"0.0.0.0:53\", name: dns }\n"
	"dns:\n"
	"  a: [192.0.2.10]\n"
	"  rrl: { responses_per_second: 5, slip: 2 }\n"
	"  zones:\n"
	"    - { family: dnsfam, names: [seized.example.com] }\n"
	"families:\n"
	"  - name: alpha\n"
	"    match: { path: { prefix: /a } }\n"
	"  - name: beta\n"
	"    match: { method: POST, host: { suffix: example.com } }\n";

static struct config *fuzz_cfg;
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_cfg) {
		char err[256];
		dlog_set_level(
			DLOG_ERROR); /* the zones are loaded for every input: keep it quiet */
		FUZZ_CHECK(config_load_string(fuzz_config, sizeof fuzz_config - 1, "fuzz.yaml",
					      &fuzz_cfg, err, sizeof err) == 0);
	}
	FILE *f = fmemopen((void *)(uintptr_t)data, size ? size : 1, "rb");
	if (!f)
		return 0;
	if (size == 0) {
		fclose(f);
		return 0;
	}
	struct replay_opts o = {
		.cfg = fuzz_cfg,
		.max_flows = 8,
		.flow_buffer = 4096,
		.memory = 16384,
		.flow_timeout_us = 5000000,
		.sink = fuzz_events_check,
	};
	struct replay_stats st;
	int rc = replay_stream(f, &o, &st);
	FUZZ_CHECK(rc == 0 || st.error[0]);
	FUZZ_CHECK(st.peak_held <= o.memory);
	FUZZ_CHECK(st.peak_flows <= o.max_flows);
	return 0;
}
