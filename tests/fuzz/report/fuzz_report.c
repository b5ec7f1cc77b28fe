/* fuzz_report.c — libFuzzer harness: a hostile log record through the indexer's decoding (bot-ID rules) into Shadowserver CSV and JSON rows. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/dynbuf.h"
#include "report/shadowserver.h"
#include "store/indexer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A CSV row must be one line of UTF-8 without control characters, quotes balanced. */
static void check_csv_line(const struct dynbuf *b)
{
	if (!b->len || b->data[b->len - 1] != '\n')
		abort();
	bool quoted = false;
	for (size_t i = 0; i + 1 < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if (c == '\n' || c == '\r' || (c < 0x20 && c != '\t') || c == 0x7f)
			abort();
		if (c == '"')
			quoted = !quoted;
	}
	if (quoted)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config_bot_id rules[] = { { "unknown", "id", NULL },
						{ "unknown", NULL, "X-Bot" } };
	static const struct config_store bots = { .bot_ids = rules, .n_bot_ids = 2 };
	struct store_event ev;
	if (indexer_convert(data, size, "fuzz", NULL, &bots, &ev) != 0)
		return 0;
	struct dynbuf b;
	dynbuf_init(&b, 16u << 20);
	for (int t = 0; t < SS_TYPE_N; t++) {
		dynbuf_reset(&b);
		if (ss_csv_row(&b, (enum ss_type)t, &ev) == 0)
			check_csv_line(&b);
		dynbuf_reset(&b);
		if (ss_json_row(&b, (enum ss_type)t, &ev) == 0 &&
		    (!b.len || b.data[0] != '{' || b.data[b.len - 1] != '\n'))
			abort();
	}
	if (ev.col[STORE_C_BOT_ID].len > 128)
		abort();
	dynbuf_free(&b);
	return 0;
}
