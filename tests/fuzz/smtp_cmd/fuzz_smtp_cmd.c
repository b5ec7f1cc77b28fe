/* fuzz_smtp_cmd.c — libFuzzer harness: SMTP line framing and the command parser over every line of the input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static bool inside(struct smtp_slice s, const char *line, size_t len)
{
	if (!s.ptr)
		return true;
	return s.ptr >= line && s.len <= len && (size_t)(s.ptr - line) <= len - s.len;
}

static void one_line(const char *line, size_t len)
{
	/* An exact-size copy, so ASan sees any read past the line. */
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, line, len);
	struct smtp_cmd c;
	const char *why = NULL;
	int rc = smtp_parse_cmd(copy, len, &c, &why);
	FUZZ_CHECK(rc == 0 || rc == ERR_MALFORMED);
	FUZZ_CHECK(rc == 0 || why != NULL);
	FUZZ_CHECK(inside(c.verb_text, copy, len) && inside(c.arg, copy, len));
	FUZZ_CHECK(inside(c.path, copy, len) && inside(c.domain, copy, len));
	if (rc == 0) {
		FUZZ_CHECK(!memchr(copy, '\0', len));
		if (c.verb == SMTP_V_RCPT)
			FUZZ_CHECK(c.path.ptr && c.path.len > 0);
		if (c.verb == SMTP_V_HELO || c.verb == SMTP_V_EHLO)
			FUZZ_CHECK(c.arg.len > 0);
		if (c.domain.ptr)
			FUZZ_CHECK(c.domain.ptr > c.path.ptr && c.domain.ptr[-1] == '@');
	}
	FUZZ_CHECK(smtp_verb_name(c.verb) != NULL);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		size_t ll, tl;
		int rc = smtp_line_find(data + off, size - off, &ll, &tl);
		if (rc == ERR_NEED_MORE) {
			FUZZ_CHECK(!memchr(data + off, '\n', size - off));
			one_line((const char *)data + off, size - off);
			break;
		}
		FUZZ_CHECK(rc == 0 && (tl == 1 || tl == 2) && ll + tl <= size - off);
		FUZZ_CHECK(data[off + ll + tl - 1] == '\n');
		one_line((const char *)data + off, ll);
		off += ll + tl;
	}
	return 0;
}
