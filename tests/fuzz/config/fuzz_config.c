/* fuzz_config.c — libFuzzer harness: YAML config loader and rule compiler, then one classification. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The config is operator input, not network input, but a loader that crashes
 * or leaks on a typo is a daemon that does not start: it gets the same
 * treatment as the wire parsers. Every error path must free what it built.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char err[512] = "";
	if (config_load_string((const char *)data, size, "fuzz.yaml", &cfg, err, sizeof err) != 0) {
		if (!err[0] || memchr(err, '\0', sizeof err) == NULL)
			abort(); /* an error must come with a message */
		return 0;
	}
	struct rules *r = NULL;
	if (rules_compile_slots(cfg, 2, &r, err, sizeof err) == 0) {
		static const char host[] = "x.Example.com", uri[] = "/f1.php?id=1";
		struct rules_input in = {
			.proto = CONFIG_PROTO_HTTP,
			.listener = cfg->n_listeners ? cfg->listeners[0].name : "l",
			.dst_port = 80,
			.method = { "POST", 4 },
			.host = { host, sizeof host - 1 },
			.uri = { uri, sizeof uri - 1 },
			.user_agent = { "Mozilla/4.0", 11 },
			.body_len = 96,
			.body_prefix = (const uint8_t *)"\x00\xff",
			.body_prefix_len = 2,
			.slot = 1,
		};
		const struct rules_family *f = rules_classify(r, &in);
		if (!f || !f->name || !f->answer)
			abort();
		rules_free(r);
	}
	config_free(cfg);
	return 0;
}
