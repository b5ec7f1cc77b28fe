/* vec.c — loader for the parser tests' vector files. */
#include "vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hex.h"

long vec_unescape(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		char c = *s++;

		if (c == '\\') {
			char e = *s ? *s++ : '\0';
			switch (e) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '0':
				c = '\0';
				break;
			case 's':
				c = ' ';
				break;
			case '\\':
				c = '\\';
				break;
			case 'x': {
				int hi = hex_value((unsigned char)s[0]),
				    lo = hi < 0 ? -1 : hex_value((unsigned char)s[1]);
				if (lo < 0)
					return -1;
				c = (char)(hi << 4 | lo);
				s += 2;
				break;
			}
			default:
				return -1;
			}
		}
		if (n >= cap)
			return -1;
		out[n++] = c;
	}
	return (long)n;
}

bool vec_parse_u64(const char *s, uint64_t *out)
{
	char *e;

	if (*s < '0' || *s > '9')
		return false;
	*out = strtoull(s, &e, 10);
	return *e == '\0';
}

const struct vec_kv *vec_get(const struct vec_case *vc, const char *key)
{
	for (size_t i = 0; i < vc->n_kv; i++) {
		if (strcmp(vc->kv[i].key, key) == 0)
			return &vc->kv[i];
	}
	return NULL;
}

bool vec_u64(const struct vec_case *vc, const char *key, uint64_t *out)
{
	const struct vec_kv *kv = vec_get(vc, key);

	return kv && vec_parse_u64(kv->val, out);
}

int vec_load(const char *path, void (*run)(const struct vec_case *vc))
{
	static struct vec_case vc;
	char line[4096];
	int lineno = 0, cases = 0;
	bool open = false;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "%s: cannot open (run from tests/)\n", path);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		size_t l = strlen(line);

		lineno++;
		if (l > 0 && line[l - 1] == '\n')
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;

		char *val = strchr(line, ' ');
		if (val)
			*val++ = '\0';
		else
			val = line + l;

		if (strcmp(line, "name") == 0) {
			memset(&vc, 0, sizeof vc);
			snprintf(vc.name, sizeof vc.name, "%.80s", val);
			vc.file = path;
			vc.line = lineno;
			open = true;
			continue;
		}
		if (!open)
			goto bad;
		if (strcmp(line, "end") == 0) {
			run(&vc);
			cases++;
			open = false;
			continue;
		}
		if (strcmp(line, "in") == 0 || strcmp(line, "rep") == 0) {
			uint64_t times = 1;
			if (line[0] == 'r') {
				char *sp = strchr(val, ' ');
				if (!sp)
					goto bad;
				*sp = '\0';
				if (!vec_parse_u64(val, &times))
					goto bad;
				val = sp + 1;
			}
			char tmp[VEC_MAX_VAL];
			long n = vec_unescape(val, tmp, sizeof tmp);
			if (n < 0)
				goto bad;
			for (uint64_t t = 0; t < times; t++) {
				if ((size_t)n > sizeof vc.in - vc.in_len)
					goto bad;
				memcpy(vc.in + vc.in_len, tmp, (size_t)n);
				vc.in_len += (size_t)n;
			}
			continue;
		}
		if (vc.n_kv == VEC_MAX_KV || strlen(line) >= sizeof vc.kv[0].key)
			goto bad;
		struct vec_kv *kv = &vc.kv[vc.n_kv++];
		memcpy(kv->key, line, strlen(line) + 1); /* length checked above */
		long n = vec_unescape(val, kv->val, sizeof kv->val - 1);
		if (n < 0)
			goto bad;
		kv->val_len = (size_t)n;
		kv->val[n] = '\0';
	}
	fclose(f);
	if (open) {
		fprintf(stderr, "%s: case without end\n", path);
		return -1;
	}
	return cases;
bad:
	fprintf(stderr, "%s:%d: bad vector line\n", path, lineno);
	fclose(f);
	return -1;
}

int vec_want_code(const struct vec_case *vc)
{
	const struct vec_kv *kv = vec_get(vc, "want");

	if (!kv)
		return 1;
	if (strcmp(kv->val, "ok") == 0)
		return 0;
	if (strcmp(kv->val, "need_more") == 0)
		return ERR_NEED_MORE;
	if (strcmp(kv->val, "malformed") == 0)
		return ERR_MALFORMED;
	if (strcmp(kv->val, "limit") == 0)
		return ERR_LIMIT;
	return 1;
}
