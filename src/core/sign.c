/* sign.c — Ed25519 keys and signatures through OpenSSL 3's EVP interface. */
#include "core/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/err.h"

struct sign_key {
	EVP_PKEY *pkey;
	bool priv;
	uint8_t pub[32];
	uint8_t id[SIGN_ID_LEN];
};

/* Fills in the raw public key and the key id; refuses anything but Ed25519. */
static int key_wrap(EVP_PKEY *pkey, bool priv, struct sign_key **out)
{
	size_t publen = sizeof((struct sign_key *)0)->pub;
	unsigned int idlen = 0;

	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
		return ERR_INVAL;
	struct sign_key *k = calloc(1, sizeof *k);
	if (!k)
		return ERR_NOMEM;
	if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 || publen != sizeof k->pub ||
	    EVP_Digest(k->pub, sizeof k->pub, k->id, &idlen, EVP_sha256(), NULL) != 1 ||
	    idlen != SIGN_ID_LEN) {
		free(k);
		return ERR_NOMEM;
	}
	k->pkey = pkey;
	k->priv = priv;
	*out = k;
	return 0;
}

int sign_key_generate(struct sign_key **out)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pkey)
		return ERR_NOMEM;
	int rc = key_wrap(pkey, true, out);
	if (rc)
		EVP_PKEY_free(pkey);
	return rc;
}

int sign_key_load(const char *path, struct sign_key **out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return ERR_SYS;
	/* Try the private form first, then the public one, from the same bytes. */
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	bool priv = pkey != NULL;
	if (!pkey) {
		rewind(f);
		pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (!pkey)
		return ERR_INVAL;
	int rc = key_wrap(pkey, priv, out);
	if (rc)
		EVP_PKEY_free(pkey);
	return rc;
}

static int key_save(const struct sign_key *k, const char *path, bool priv, bool replace)
{
	if (priv && !k->priv)
		return ERR_INVAL;
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (replace ? O_TRUNC : O_EXCL);
	int fd = open(path, flags, priv ? 0600 : 0644);
	if (fd < 0)
		return ERR_SYS;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
		return ERR_SYS;
	}
	int ok = priv ? PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL) :
			PEM_write_PUBKEY(f, k->pkey);
	int rc = ok == 1 ? 0 : ERR_NOMEM;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = rc ? rc : ERR_SYS;
	int e = errno;
	if (fclose(f) != 0 && !rc) {
		e = errno;
		rc = ERR_SYS;
	}
	if (rc)
		unlink(path);
	errno = e;
	return rc;
}

int sign_key_save_private(const struct sign_key *k, const char *path, bool replace)
{
	return key_save(k, path, true, replace);
}

int sign_key_save_public(const struct sign_key *k, const char *path, bool replace)
{
	return key_save(k, path, false, replace);
}

bool sign_key_has_private(const struct sign_key *k)
{
	return k->priv;
}

void sign_key_id(const struct sign_key *k, uint8_t id[SIGN_ID_LEN])
{
	memcpy(id, k->id, SIGN_ID_LEN);
}

void sign_key_public_raw(const struct sign_key *k, uint8_t pub[32])
{
	memcpy(pub, k->pub, 32);
}

void sign_key_fingerprint(const struct sign_key *k, char out[33])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[k->id[i] >> 4];
		out[2 * i + 1] = digits[k->id[i] & 15];
	}
	out[32] = '\0';
}

int sign_data(const struct sign_key *k, const uint8_t *msg, size_t len, uint8_t sig[SIGN_LEN])
{
	size_t siglen = SIGN_LEN;
	if (!k->priv)
		return ERR_INVAL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return ERR_NOMEM;
	/* Ed25519 is "pure": no separate digest, the message goes in whole. */
	int ok = EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
		 EVP_DigestSign(md, sig, &siglen, msg, len) == 1 && siglen == SIGN_LEN;
	EVP_MD_CTX_free(md);
	return ok ? 0 : ERR_NOMEM;
}

bool sign_check(const struct sign_key *k, const uint8_t *msg, size_t len,
		const uint8_t sig[SIGN_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return false;
	bool ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
		  EVP_DigestVerify(md, sig, SIGN_LEN, msg, len) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

void sign_key_free(struct sign_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}
