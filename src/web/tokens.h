/* tokens.h — web API tokens: random secrets shown once, stored as SHA-256 hashes with a scope, checked in constant time. */
#ifndef SINKD_WEB_TOKENS_H
#define SINKD_WEB_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/*
 * A token is "sinkd_" followed by 64 hex digits: 256 bits from the OpenSSL
 * CSPRNG. Only its SHA-256 is stored. A slow password hash (bcrypt, argon2)
 * protects low-entropy secrets against guessing after a leak of the file; a
 * 256-bit random secret cannot be guessed whatever the hash's speed, and a
 * fast hash keeps each request's check cheap. Checking hashes the offered
 * token and compares it with every stored hash (CRYPTO_memcmp, no early
 * exit), so timing tells nothing about how much of a hash matched.
 *
 * The file (default: the store's path + ".tokens", mode 0600) holds one line
 * per token, tab-separated: id, name, admin (0/1), ASNs, prefixes, countries
 * (each comma-separated, "-" for none), the hash in hex, created and revoked
 * times (µs; revoked 0 = valid). Revoked tokens stay listed.
 */
#define TOKEN_SECRET_LEN 70 /* "sinkd_" + 64 hex */
#define TOKEN_SCOPE_MAX	 64 /* of each kind */
#define TOKENS_MAX	 4096

struct token {
	uint32_t id;
	char name[65];
	bool admin;
	uint64_t created_us, revoked_us;
	uint8_t hash[32];
	uint32_t asns[TOKEN_SCOPE_MAX];
	size_t n_asns;
	struct store_net nets[TOKEN_SCOPE_MAX];
	size_t n_nets;
	char ccs[TOKEN_SCOPE_MAX][3];
	size_t n_ccs;
};

struct token_db {
	struct token *t;
	size_t n;
};

/* Reads path (a missing file is an empty set). ERR_MALFORMED names the line in err. */
int token_db_load(struct token_db *db, const char *path, char *err, size_t errlen);
/* Writes the whole set atomically (temp file, fsync, rename), mode 0600. */
int token_db_save(const struct token_db *db, const char *path);
void token_db_free(struct token_db *db);

/*
 * Adds a token with tmpl's name, admin flag and scope; fills secret (the only
 * time it exists in clear, TOKEN_SECRET_LEN + 1 bytes). ERR_INVAL: name empty,
 * taken by a valid token, or neither admin nor any scope given.
 */
int token_db_add(struct token_db *db, const struct token *tmpl, char *secret);
/* Revokes by name or id (decimal). ERR_NOT_FOUND if no valid token matches. */
int token_db_revoke(struct token_db *db, const char *name_or_id);

/* The valid (not revoked) token whose secret this is, or NULL. */
const struct token *token_db_check(const struct token_db *db, const char *secret, size_t len);

/* What the token may see (pointers into the token). */
void token_scope(const struct token *t, struct store_scope *sc);

/* A token name: [A-Za-z0-9_.@-], 1..64 bytes. */
bool token_name_ok(const char *s);

#endif
