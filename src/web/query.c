/* query.c — URL query strings and form bodies into bounded, decoded parameters and typed values. */
#include "web/query.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/err.h"
#include "core/hex.h"

static int decode(struct query *q, const char *s, size_t len, size_t max, const char **out,
		  size_t *out_len)
{
	if (len > max * 3)
		return ERR_LIMIT;
	char *d = q->buf + q->used;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (len - i < 3)
				return ERR_MALFORMED;
			int hi = hex_value((unsigned char)s[i + 1]);
			int lo = hex_value((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return ERR_MALFORMED;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return ERR_MALFORMED;
		if (n >= max)
			return ERR_LIMIT;
		d[n++] = (char)c;
	}
	d[n] = '\0';
	q->used += n + 1;
	*out = d;
	*out_len = n;
	return 0;
}

int query_parse(struct query *q, const char *s, size_t len)
{
	q->n = 0;
	q->used = 0;
	if (len > QUERY_MAX_BYTES)
		return ERR_LIMIT;
	size_t i = 0;
	while (i < len) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - s) : len;
		if (end > i) {
			if (q->n >= QUERY_MAX_PARAMS)
				return ERR_LIMIT;
			const char *eq = memchr(s + i, '=', end - i);
			size_t kend = eq ? (size_t)(eq - s) : end;
			struct query_param *p = &q->p[q->n];
			/* Decoded text is never longer than its input: the buffer holds it all. */
			int rc = decode(q, s + i, kend - i, QUERY_MAX_VALUE, &p->key, &p->key_len);
			if (!rc)
				rc = decode(q, eq ? eq + 1 : s + end, eq ? end - kend - 1 : 0,
					    QUERY_MAX_VALUE, &p->val, &p->val_len);
			if (rc)
				return rc;
			q->n++;
		}
		i = end + 1;
	}
	return 0;
}

const char *query_get_nth(const struct query *q, const char *key, size_t nth)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->p[i].key, key) && nth-- == 0)
			return q->p[i].val;
	return NULL;
}

const char *query_get(const struct query *q, const char *key)
{
	return query_get_nth(q, key, 0);
}

size_t query_count(const struct query *q, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < q->n; i++)
		n += !strcmp(q->p[i].key, key);
	return n;
}

bool query_only(const struct query *q, const char *const *allowed, const char **bad)
{
	for (size_t i = 0; i < q->n; i++) {
		size_t j;
		for (j = 0; allowed[j]; j++)
			if (!strcmp(q->p[i].key, allowed[j]))
				break;
		if (!allowed[j]) {
			*bad = q->p[i].key;
			return false;
		}
	}
	return true;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm: proleptic Gregorian date to days since 1970-01-01. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int query_day(const char *s, int64_t *day)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
	    !digits(s + 8, 2))
		return ERR_MALFORMED;
	int64_t y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
	unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return ERR_INVAL;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m == 2 && d == 29 && !leap)
		return ERR_INVAL;
	*day = days_from_civil(y, m, d);
	return 0;
}

int query_u64(const char *s, uint64_t max, uint64_t *out)
{
	size_t n = strlen(s);
	if (!n || n > 20 || !digits(s, n))
		return ERR_MALFORMED;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return ERR_INVAL;
		v = v * 10 + d;
	}
	if (v > max)
		return ERR_INVAL;
	*out = v;
	return 0;
}

int query_asn(const char *s, uint32_t *out)
{
	if ((s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's'))
		s += 2;
	uint64_t v;
	int rc = query_u64(s, UINT32_MAX, &v);
	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

int query_cc(const char *s, char out[3])
{
	if (strlen(s) != 2)
		return ERR_MALFORMED;
	for (int i = 0; i < 2; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return ERR_MALFORMED;
		out[i] = c;
	}
	out[2] = '\0';
	return 0;
}

int query_addr(const char *s, uint8_t *ipver, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (strlen(s) > 45)
		return ERR_MALFORMED;
	if (inet_pton(AF_INET, s, addr) == 1) {
		*ipver = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*ipver = 6;
		return 0;
	}
	return ERR_MALFORMED;
}

int query_net(const char *s, struct store_net *out)
{
	const char *slash = strchr(s, '/');
	char a[64];
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof a)
		return ERR_MALFORMED;
	memcpy(a, s, alen);
	a[alen] = '\0';
	memset(out, 0, sizeof *out);
	if (query_addr(a, &out->ipver, out->addr))
		return ERR_MALFORMED;
	unsigned maxlen = out->ipver == 4 ? 32 : 128;
	uint64_t plen = maxlen;
	if (slash && query_u64(slash + 1, maxlen, &plen))
		return ERR_MALFORMED;
	out->plen = (uint8_t)plen;
	/* No bits set beyond the prefix: 10.1.2.3/8 is a mistake, not 10.0.0.0/8. */
	for (unsigned bit = out->plen; bit < maxlen; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return ERR_INVAL;
	return 0;
}

bool query_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 64 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}
