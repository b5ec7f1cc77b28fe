/* sign.h — Ed25519 keys and signatures (OpenSSL 3 EVP) for signed chain heads and evidence bundles. */
#ifndef SINKD_CORE_SIGN_H
#define SINKD_CORE_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGN_LEN    64 /* an Ed25519 signature */
#define SIGN_ID_LEN 32 /* key id: SHA-256 of the raw 32-byte public key */

/*
 * A key is either a private key (which also has its public half) or a
 * public key alone. Keys live in PEM files: PKCS#8 for the private key,
 * SubjectPublicKeyInfo for the public one, the formats `openssl pkey`
 * reads and writes, so an operator can inspect them with standard tools.
 */
struct sign_key;

/* A fresh Ed25519 key pair. Errors: ERR_NOMEM (OpenSSL failure). */
int sign_key_generate(struct sign_key **out);

/*
 * Loads a PEM file holding a private key or a public key; anything other
 * than Ed25519 is refused. Errors: ERR_SYS (errno: cannot open), ERR_INVAL
 * (not a PEM Ed25519 key).
 */
int sign_key_load(const char *path, struct sign_key **out);

/*
 * Writes the private key (mode 0600) or the public key (mode 0644) to a new
 * file; an existing file is never overwritten (ERR_SYS with EEXIST) unless
 * `replace`. ERR_INVAL when a private key is asked of a public-only key.
 */
int sign_key_save_private(const struct sign_key *k, const char *path, bool replace);
int sign_key_save_public(const struct sign_key *k, const char *path, bool replace);

bool sign_key_has_private(const struct sign_key *k);

/* The key id (SHA-256 of the raw public key) and the raw public key. */
void sign_key_id(const struct sign_key *k, uint8_t id[SIGN_ID_LEN]);
void sign_key_public_raw(const struct sign_key *k, uint8_t pub[32]);

/* Hex fingerprint: the first 16 bytes of the key id, as 32 hex digits and a NUL. */
void sign_key_fingerprint(const struct sign_key *k, char out[33]);

/* Signs msg. Errors: ERR_INVAL (public key only), ERR_NOMEM (OpenSSL failure). */
int sign_data(const struct sign_key *k, const uint8_t *msg, size_t len, uint8_t sig[SIGN_LEN]);

/* True when sig is k's valid signature of msg. */
bool sign_check(const struct sign_key *k, const uint8_t *msg, size_t len,
		const uint8_t sig[SIGN_LEN]);

void sign_key_free(struct sign_key *k);

#endif
