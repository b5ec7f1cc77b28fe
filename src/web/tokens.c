/* tokens.c — the token file: load, save atomically, add with a fresh secret, revoke, constant-time check. */
#include "web/tokens.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dynbuf.h"
#include "core/err.h"
#include "core/hex.h"
#include "core/timeutil.h"
#include "web/query.h"

bool token_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-' || c == '@'))
			return false;
	}
	return true;
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 32;
	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* Splits field f of a tab-separated line in place; returns the next or NULL. */
static char *field(char **s)
{
	char *start = *s;
	if (!start)
		return NULL;
	char *tab = strchr(start, '\t');
	if (tab) {
		*tab = '\0';
		*s = tab + 1;
	} else {
		*s = NULL;
	}
	return start;
}

static int parse_list(char *s, struct token *t, int kind)
{
	if (!strcmp(s, "-"))
		return 0;
	char *save = NULL;
	for (char *p = strtok_r(s, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (kind == 0) {
			if (t->n_asns >= TOKEN_SCOPE_MAX || query_asn(p, &t->asns[t->n_asns]))
				return ERR_MALFORMED;
			t->n_asns++;
		} else if (kind == 1) {
			if (t->n_nets >= TOKEN_SCOPE_MAX || query_net(p, &t->nets[t->n_nets]))
				return ERR_MALFORMED;
			t->n_nets++;
		} else {
			if (t->n_ccs >= TOKEN_SCOPE_MAX || query_cc(p, t->ccs[t->n_ccs]))
				return ERR_MALFORMED;
			t->n_ccs++;
		}
	}
	return 0;
}

static int parse_line(char *line, struct token *t)
{
	memset(t, 0, sizeof *t);
	char *s = line;
	char *f[10];
	for (int i = 0; i < 10; i++)
		if (!(f[i] = field(&s)))
			return ERR_MALFORMED;
	uint64_t v;
	if (s || query_u64(f[0], UINT32_MAX, &v) || !token_name_ok(f[1]))
		return ERR_MALFORMED;
	t->id = (uint32_t)v;
	memcpy(t->name, f[1], strlen(f[1]) + 1);
	if (strcmp(f[2], "0") && strcmp(f[2], "1"))
		return ERR_MALFORMED;
	t->admin = f[2][0] == '1';
	if (parse_list(f[3], t, 0) || parse_list(f[4], t, 1) || parse_list(f[5], t, 2))
		return ERR_MALFORMED;
	if (strlen(f[6]) != 64)
		return ERR_MALFORMED;
	for (int i = 0; i < 32; i++) {
		int hi = hex_value((unsigned char)f[6][2 * i]),
		    lo = hex_value((unsigned char)f[6][2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ERR_MALFORMED;
		t->hash[i] = (uint8_t)(hi << 4 | lo);
	}
	if (query_u64(f[7], UINT64_MAX, &t->created_us) ||
	    query_u64(f[8], UINT64_MAX, &t->revoked_us) || strcmp(f[9], "v1"))
		return ERR_MALFORMED;
	return 0;
}

int token_db_load(struct token_db *db, const char *path, char *err, size_t errlen)
{
	db->t = NULL;
	db->n = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ERR_SYS;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (db->n >= TOKENS_MAX) {
			rc = ERR_LIMIT;
			snprintf(err, errlen, "%s: more than %d tokens", path, TOKENS_MAX);
			break;
		}
		struct token *nt = realloc(db->t, (db->n + 1) * sizeof *nt);
		if (!nt) {
			rc = ERR_NOMEM;
			break;
		}
		db->t = nt;
		if (parse_line(line, &db->t[db->n])) {
			rc = ERR_MALFORMED;
			snprintf(err, errlen, "%s: line %u is not a token entry", path, lineno);
			break;
		}
		db->n++;
	}
	free(line);
	fclose(f);
	if (rc)
		token_db_free(db);
	return rc;
}

static void put_net(struct dynbuf *b, const struct store_net *n)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(n->ipver == 4 ? AF_INET : AF_INET6, n->addr, a, sizeof a);
	dynbuf_printf(b, "%s/%u", a, n->plen);
}

int token_db_save(const struct token_db *db, const char *path)
{
	struct dynbuf b;
	dynbuf_init(&b, 64u << 20);
	dynbuf_adds(&b, "# sinkd web tokens: id name admin asns prefixes countries sha256 created "
			"revoked v1 (sinkd token)\n");
	for (size_t i = 0; i < db->n; i++) {
		const struct token *t = &db->t[i];
		dynbuf_printf(&b, "%" PRIu32 "\t%s\t%d\t", t->id, t->name, t->admin ? 1 : 0);
		for (size_t j = 0; j < t->n_asns; j++)
			dynbuf_printf(&b, "%s%" PRIu32, j ? "," : "", t->asns[j]);
		dynbuf_adds(&b, t->n_asns ? "\t" : "-\t");
		for (size_t j = 0; j < t->n_nets; j++) {
			if (j)
				dynbuf_addc(&b, ',');
			put_net(&b, &t->nets[j]);
		}
		dynbuf_adds(&b, t->n_nets ? "\t" : "-\t");
		for (size_t j = 0; j < t->n_ccs; j++)
			dynbuf_printf(&b, "%s%s", j ? "," : "", t->ccs[j]);
		char hx[65];
		hex_encode(t->hash, 32, hx);
		dynbuf_printf(&b, "%s\t%s\t%" PRIu64 "\t%" PRIu64 "\tv1\n", t->n_ccs ? "" : "-", hx,
			      t->created_us, t->revoked_us);
	}
	if (!b.data) {
		dynbuf_free(&b);
		return ERR_NOMEM;
	}
	char tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int rc = ERR_SYS;
	if (n > 0 && (size_t)n < sizeof tmp) {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			size_t off = 0;
			while (off < b.len) {
				ssize_t w = write(fd, b.data + off, b.len - off);
				if (w <= 0)
					break;
				off += (size_t)w;
			}
			bool ok = off == b.len && fsync(fd) == 0;
			if (close(fd) == 0 && ok && rename(tmp, path) == 0)
				rc = 0;
			else
				unlink(tmp);
		}
	}
	dynbuf_free(&b);
	return rc;
}

void token_db_free(struct token_db *db)
{
	free(db->t);
	db->t = NULL;
	db->n = 0;
}

int token_db_add(struct token_db *db, const struct token *tmpl, char *secret)
{
	if (!token_name_ok(tmpl->name) ||
	    (!tmpl->admin && !tmpl->n_asns && !tmpl->n_nets && !tmpl->n_ccs))
		return ERR_INVAL;
	uint32_t next = 1;
	for (size_t i = 0; i < db->n; i++) {
		if (!db->t[i].revoked_us && !strcmp(db->t[i].name, tmpl->name))
			return ERR_INVAL;
		if (db->t[i].id >= next)
			next = db->t[i].id + 1;
	}
	if (db->n >= TOKENS_MAX)
		return ERR_LIMIT;
	uint8_t raw[32];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return ERR_SYS;
	struct token *nt = realloc(db->t, (db->n + 1) * sizeof *nt);
	if (!nt)
		return ERR_NOMEM;
	db->t = nt;
	struct token *t = &db->t[db->n++];
	*t = *tmpl;
	t->id = next;
	t->created_us = time_now_us();
	t->revoked_us = 0;
	memcpy(secret, "sinkd_", 6);
	hex_encode(raw, sizeof raw, secret + 6);
	sha256(secret, TOKEN_SECRET_LEN, t->hash);
	OPENSSL_cleanse(raw, sizeof raw);
	return 0;
}

int token_db_revoke(struct token_db *db, const char *name_or_id)
{
	uint64_t id = 0;
	bool by_id = !query_u64(name_or_id, UINT32_MAX, &id);
	for (size_t i = 0; i < db->n; i++) {
		struct token *t = &db->t[i];
		if (t->revoked_us)
			continue;
		if ((by_id && t->id == id) || !strcmp(t->name, name_or_id)) {
			t->revoked_us = time_now_us();
			return 0;
		}
	}
	return ERR_NOT_FOUND;
}

const struct token *token_db_check(const struct token_db *db, const char *secret, size_t len)
{
	if (len != TOKEN_SECRET_LEN)
		return NULL;
	uint8_t h[32];
	sha256(secret, len, h);
	const struct token *found = NULL;
	/* Every entry is compared, to the end: the time taken does not depend on where a match is. */
	for (size_t i = 0; i < db->n; i++) {
		bool eq = CRYPTO_memcmp(h, db->t[i].hash, 32) == 0;
		if (eq && !db->t[i].revoked_us)
			found = &db->t[i];
	}
	return found;
}

void token_scope(const struct token *t, struct store_scope *sc)
{
	memset(sc, 0, sizeof *sc);
	sc->all = t->admin;
	sc->asns = t->asns;
	sc->n_asns = t->n_asns;
	sc->nets = t->nets;
	sc->n_nets = t->n_nets;
	sc->ccs = (const char(*)[3])t->ccs;
	sc->n_ccs = t->n_ccs;
}
