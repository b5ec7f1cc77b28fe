/* cmd_evidence.c — `sinkd evidence export|verify`: a self-contained, signed evidence bundle for a date range. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/config.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sign.h"
#include "core/timeutil.h"
#include "tools/commands.h"
#include "tools/verify_report.h"

/*
 * A bundle is a directory:
 *   manifest.txt         what the bundle holds, with the SHA-256 and size of every file
 *   log/NNN….seg         the segments covering the range, copied up to their last seal
 *   log/signed-heads     the signed heads from the first segment's start to the last's end
 *   log/signing-FP.pub   the public key(s) that signed them
 * `evidence verify` needs nothing but the directory: it checks the manifest,
 * then the segments, chain and signatures as `sinkd verify` does, with the
 * first segment's starting head vouched for by a signed head.
 */

#define MANIFEST	 "manifest.txt"
#define MANIFEST_MAGIC	 "sinkd-evidence 1"
#define MANIFEST_MAX	 ((size_t)4 << 20)
#define MANIFEST_LINE	 1024
#define COPY_BLOCK	 ((size_t)1 << 20)
#define US_PER_DAY	 (UINT64_C(86400) * 1000000u)
#define BUNDLE_FILES_MAX 100000

static void evidence_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd evidence export --from DATE --to DATE --out DIR (-c CONFIG | --log LOGDIR)\n"
		"       sinkd evidence verify [--json] [--key PUB]... DIR\n\n"
		"export  copies into DIR (which must not exist, or be empty) the log segments\n"
		"        covering the UTC days DATE..DATE (YYYY-MM-DD, inclusive), each up to its\n"
		"        last seal, the signed heads from the first segment's start to the last's\n"
		"        end, the public key(s) that signed them, and manifest.txt with the\n"
		"        SHA-256 and size of every file; then verifies the bundle. The log must\n"
		"        be signed (log.signing_key), and the first segment's starting head must\n"
		"        be covered by a signed head (the previous segment's close).\n"
		"verify  checks a bundle with nothing else: every file against the manifest, no\n"
		"        file added, then CRCs, seals, the chain, every signature, and that each\n"
		"        signed head matches the chain. Prints the signing key's fingerprint;\n"
		"        --key PUB (repeatable) trusts only that key, e.g. the one the operator\n"
		"        published, instead of the key shipped in the bundle.\n\n"
		"Exit status: 0 intact, 1 a fault or a failure, 2 usage error.\n");
}

/* "YYYY-MM-DD" → µs at 00:00 UTC of that day. */
static int parse_date(const char *s, uint64_t *us)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return ERR_INVAL;
	int v[3] = { 0, 0, 0 };
	const int at[3] = { 0, 5, 8 }, len[3] = { 4, 2, 2 };
	for (int f = 0; f < 3; f++)
		for (int i = 0; i < len[f]; i++) {
			char c = s[at[f] + i];
			if (c < '0' || c > '9')
				return ERR_INVAL;
			v[f] = v[f] * 10 + (c - '0');
		}
	if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31)
		return ERR_INVAL;
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	time_t t = timegm(&tm);
	if (t < 0 || tm.tm_mday != v[2]) /* 2026-02-30 normalises to March */
		return ERR_INVAL;
	*us = (uint64_t)t * 1000000u;
	return 0;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + 1 + strlen(b) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

/*
 * Copies the first `len` bytes of src to a new file dst (or all of it when
 * len is UINT64_MAX), hashing what it copies.
 */
static int copy_hash(const char *src, const char *dst, uint64_t len, uint8_t sha[32],
		     uint64_t *copied)
{
	int in = -1, out = -1, rc = ERR_SYS;
	uint8_t *buf = malloc(COPY_BLOCK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t done = 0;

	if (!buf || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = ERR_NOMEM;
		goto out;
	}
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		goto out;
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		goto out;
	while (done < len) {
		size_t want = len - done < COPY_BLOCK ? (size_t)(len - done) : COPY_BLOCK;
		ssize_t n = read(in, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0) {
			if (len == UINT64_MAX)
				break;
			errno = EIO; /* the file shrank under us */
			goto out;
		}
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				goto out;
			w += k;
		}
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			rc = ERR_NOMEM;
			goto out;
		}
		done += (uint64_t)n;
	}
	unsigned int hl = 0;
	if (EVP_DigestFinal_ex(md, sha, &hl) != 1) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (fsync(out) != 0)
		goto out;
	*copied = done;
	rc = 0;
out:;
	int e = errno;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0 && !rc) {
		e = errno;
		rc = ERR_SYS;
	}
	EVP_MD_CTX_free(md);
	free(buf);
	errno = e;
	return rc;
}

/* SHA-256 and size of a whole file. */
static int hash_file(const char *path, uint8_t sha[32], uint64_t *size)
{
	int rc = ERR_SYS;
	uint8_t *buf = malloc(COPY_BLOCK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned int hl = 0;

	*size = 0;
	if (!buf || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (fd < 0)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, COPY_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			rc = ERR_NOMEM;
			goto out;
		}
		*size += (uint64_t)n;
	}
	rc = EVP_DigestFinal_ex(md, sha, &hl) == 1 ? 0 : ERR_NOMEM;
out:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	free(buf);
	errno = e;
	return rc;
}

static int manifest_file(struct dynbuf *m, const char *rel, const uint8_t sha[32], uint64_t size)
{
	char hex[65], line[MANIFEST_LINE];
	hex_encode(sha, 32, hex);
	snprintf(line, sizeof line, "file %s %" PRIu64 " %s\n", hex, size, rel);
	return dynbuf_adds(m, line);
}

/*
 * Copies log file `name` (its first `len` bytes, or all of it when
 * UINT64_MAX) into the bundle's log/ and lists it in the manifest. Prints
 * why on failure.
 */
static int bundle_add(const char *logdir, const char *blog, const char *name, uint64_t len,
		      struct dynbuf *m)
{
	char rel[128];
	uint8_t sha[32];
	uint64_t copied = 0;
	char *src = path_join(logdir, name), *dst = path_join(blog, name);
	int rc = src && dst ? copy_hash(src, dst, len, sha, &copied) : ERR_NOMEM;
	free(src);
	free(dst);
	if (rc) {
		fprintf(stderr, "sinkd evidence export: copying %s: %s\n", name,
			rc == ERR_SYS ? strerror(errno) : err_str(rc));
		return rc;
	}
	snprintf(rel, sizeof rel, "log/%s", name);
	rc = manifest_file(m, rel, sha, copied);
	if (rc)
		fprintf(stderr, "sinkd evidence export: the manifest is too large\n");
	return rc;
}

/* Writes the signed heads in [first, end] to the bundle; collects their key ids. */
static int export_heads(const char *logdir, const char *bundle_log, uint64_t first, uint64_t end,
			uint8_t (*keys)[32], size_t *n_keys, size_t max_keys, size_t *n_heads)
{
	uint8_t e[LOG_HEAD_ENTRY_LEN];
	struct log_signed_head h;
	int rc = ERR_SYS;
	char *src = path_join(logdir, LOG_HEADS_FILE);
	char *dst = path_join(bundle_log, LOG_HEADS_FILE);
	FILE *in = NULL, *out = NULL;

	*n_heads = 0;
	if (!src || !dst) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (!(in = fopen(src, "re")))
		goto out;
	if (!(out = fopen(dst, "wxe")))
		goto out;
	while (fread(e, 1, sizeof e, in) == sizeof e) {
		if (log_head_parse(e, &h) != 0) {
			rc = ERR_CORRUPT;
			goto out;
		}
		if (h.index < first || h.index > end)
			continue;
		if (fwrite(e, 1, sizeof e, out) != sizeof e)
			goto out;
		(*n_heads)++;
		size_t k = 0;
		while (k < *n_keys && memcmp(keys[k], h.key_id, 32) != 0)
			k++;
		if (k == *n_keys && k < max_keys)
			memcpy(keys[(*n_keys)++], h.key_id, 32);
	}
	if (ferror(in) || fflush(out) != 0 || fsync(fileno(out)) != 0)
		goto out;
	rc = 0;
out:;
	int err = errno;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0 && !rc) {
		err = errno;
		rc = ERR_SYS;
	}
	free(src);
	free(dst);
	errno = err;
	return rc;
}

static bool dir_empty_or_absent(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT;
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

static int evidence_verify_dir(const char *dir, struct sign_key **keys, size_t n_keys, bool json);

static int evidence_export(const char *logdir, const char *from, const char *to, const char *out)
{
	uint64_t from_us, to_us;
	struct log_segment_info *segs = NULL;
	size_t nsegs = 0;
	struct dynbuf m;
	char *blog = NULL;
	uint8_t key_ids[16][32];
	size_t n_key_ids = 0, n_heads = 0;
	int status = 1;
	int rc;

	dynbuf_init(&m, 64u << 20);
	if (parse_date(from, &from_us) || parse_date(to, &to_us) || to_us < from_us) {
		fprintf(stderr, "sinkd evidence export: --from/--to must be dates YYYY-MM-DD, "
				"from <= to\n");
		status = 2;
		goto out;
	}
	to_us += US_PER_DAY;
	if ((rc = log_segments(logdir, &segs, &nsegs))) {
		fprintf(stderr, "sinkd evidence export: %s: %s\n", logdir,
			rc == ERR_SYS ? strerror(errno) : err_str(rc));
		goto out;
	}
	/* A segment holds what was committed from its creation to its successor's. */
	size_t lo = nsegs, hi = 0;
	for (size_t i = 0; i < nsegs; i++) {
		uint64_t start = segs[i].created_us;
		uint64_t end = i + 1 < nsegs ? segs[i + 1].created_us : UINT64_MAX;
		if (start < to_us && end > from_us) {
			if (lo == nsegs)
				lo = i;
			hi = i;
		}
	}
	if (lo == nsegs) {
		fprintf(stderr, "sinkd evidence export: no segment of %s covers %s..%s\n", logdir,
			from, to);
		goto out;
	}
	if (!dir_empty_or_absent(out)) {
		fprintf(stderr, "sinkd evidence export: %s exists and is not empty\n", out);
		goto out;
	}
	blog = path_join(out, "log");
	if (!blog || (mkdir(out, 0755) != 0 && errno != EEXIST) || mkdir(blog, 0755) != 0) {
		fprintf(stderr, "sinkd evidence export: %s: %s\n", out, strerror(errno));
		goto out;
	}

	char line[MANIFEST_LINE], when[40];
	uint64_t first_index = segs[lo].first_index, end_index = first_index;
	rc = dynbuf_adds(&m, MANIFEST_MAGIC
			 "\n"
			 "# A sinkd evidence bundle. Check it with: sinkd evidence verify DIR\n"
			 "# (add --key FILE.pub to trust only the operator's published key).\n");
	snprintf(line, sizeof line, "range %s %s\nexported %s\nsegments %" PRIu32 " %" PRIu32 "\n",
		 from, to, time_iso_us(time_now_us(), when, sizeof when), segs[lo].segment,
		 segs[hi].segment);
	rc = rc ? rc : dynbuf_adds(&m, line);
	for (size_t i = lo; i <= hi && !rc; i++) {
		char name[32];
		uint64_t len, seg_end;
		snprintf(name, sizeof name, "%016" PRIu32 ".seg", segs[i].segment);
		rc = log_segment_sealed_size(logdir, segs[i].segment, &len, &seg_end);
		if (rc) {
			fprintf(stderr, "sinkd evidence export: segment %s: %s\n", name,
				rc == ERR_SYS ? strerror(errno) : err_str(rc));
			goto out;
		}
		if ((rc = bundle_add(logdir, blog, name, len, &m)))
			goto out;
		end_index = seg_end;
	}
	rc = rc ? rc :
		  export_heads(logdir, blog, first_index, end_index, key_ids, &n_key_ids,
			       sizeof key_ids / sizeof key_ids[0], &n_heads);
	if (rc) {
		fprintf(stderr, "sinkd evidence export: signed heads of %s: %s\n", logdir,
			rc == ERR_SYS && errno == ENOENT ?
				"none (the log is not signed: set log.signing_key)" :
			rc == ERR_SYS ? strerror(errno) :
					err_str(rc));
		goto out;
	}
	if (n_heads == 0) {
		fprintf(stderr,
			"sinkd evidence export: no signed head covers records %" PRIu64 "..%" PRIu64
			"\n",
			first_index, end_index);
		goto out;
	}
	for (size_t k = 0; k < n_key_ids && !rc; k++) {
		char fp[33], name[64];
		hex_encode(key_ids[k], 16, fp);
		snprintf(name, sizeof name, "%s%s.pub", LOG_KEY_PREFIX, fp);
		snprintf(line, sizeof line, "key %s\n", fp);
		if ((rc = dynbuf_adds(&m, line)) ||
		    (rc = bundle_add(logdir, blog, name, UINT64_MAX, &m)))
			goto out;
	}
	{
		uint8_t sha[32];
		uint64_t size;
		char *p = path_join(blog, LOG_HEADS_FILE);
		rc = rc ? rc : p ? hash_file(p, sha, &size) : ERR_NOMEM;
		free(p);
		rc = rc ? rc : manifest_file(&m, "log/" LOG_HEADS_FILE, sha, size);
	}
	snprintf(line, sizeof line, "records %" PRIu64 " %" PRIu64 "\n", first_index, end_index);
	rc = rc ? rc : dynbuf_adds(&m, line);
	if (rc) {
		fprintf(stderr, "sinkd evidence export: %s\n",
			rc == ERR_SYS ? strerror(errno) : err_str(rc));
		goto out;
	}
	char *mp = path_join(out, MANIFEST);
	FILE *f = mp ? fopen(mp, "wxe") : NULL;
	bool ok = f && fwrite(m.data, 1, m.len, f) == m.len && fflush(f) == 0 &&
		  fsync(fileno(f)) == 0;
	if (f && fclose(f) != 0)
		ok = false;
	free(mp);
	if (!ok) {
		fprintf(stderr, "sinkd evidence export: %s/%s: %s\n", out, MANIFEST,
			strerror(errno));
		goto out;
	}
	printf("exported segments %" PRIu32 "-%" PRIu32 " (records %" PRIu64 "-%" PRIu64
	       "), %zu signed heads, %zu key(s) to %s\n",
	       segs[lo].segment, segs[hi].segment, first_index, end_index ? end_index - 1 : 0,
	       n_heads, n_key_ids, out);
	status = evidence_verify_dir(out, NULL, 0, false);
out:
	dynbuf_free(&m);
	free(segs);
	free(blog);
	return status;
}

/* ---- verify ------------------------------------------------------------------ */

struct listed {
	char **names; /* file names under log/ the manifest lists */
	size_t n;
};

static bool listed_has(const struct listed *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->names[i], name))
			return true;
	return false;
}

/* A bundle file name: "log/" and a plain name of [A-Za-z0-9._-], not starting with a dot. */
static const char *bundle_name(const char *rel)
{
	if (strncmp(rel, "log/", 4) != 0 || !rel[4] || rel[4] == '.' || strlen(rel) > 200)
		return NULL;
	for (const char *p = rel + 4; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return NULL;
	return rel + 4;
}

/* Splits a line into at most `max` space-separated words in place. */
static size_t split_words(char *line, char **w, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (*p && n < max) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		w[n++] = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
	}
	return *p ? max + 1 : n;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	if (!*s || strlen(s) > 19)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

struct declared {
	uint64_t seg_first, seg_last, rec_first, rec_end;
	bool has_segs, has_recs;
};

/*
 * Checks the manifest and every file it lists. Returns 0 with *fault empty
 * when all is well, 0 with *fault set when the bundle is damaged, or an
 * error when the check could not run.
 */
static int check_manifest(const char *dir, struct listed *l, struct declared *d, char *fault,
			  size_t cap)
{
	char *mp = path_join(dir, MANIFEST);
	char *text = NULL;
	int rc = 0;
	FILE *f = mp ? fopen(mp, "re") : NULL;

	fault[0] = '\0';
	if (!f) {
		snprintf(fault, cap, "%s is missing: %s", MANIFEST, strerror(errno));
		goto out;
	}
	text = malloc(MANIFEST_MAX + 1);
	if (!text) {
		rc = ERR_NOMEM;
		goto out;
	}
	size_t len = fread(text, 1, MANIFEST_MAX + 1, f);
	if (len > MANIFEST_MAX) {
		snprintf(fault, cap, "%s is larger than %zu bytes", MANIFEST, MANIFEST_MAX);
		goto out;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		snprintf(fault, cap, "%s holds a NUL byte", MANIFEST);
		goto out;
	}
	size_t lineno = 0;
	bool magic = false;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (strlen(line) >= MANIFEST_LINE) {
			snprintf(fault, cap, "%s:%zu: line too long", MANIFEST, lineno);
			goto out;
		}
		if (!*line || line[0] == '#')
			continue;
		if (!magic) {
			if (strcmp(line, MANIFEST_MAGIC) != 0) {
				snprintf(fault, cap,
					 "%s: not a sinkd evidence manifest (version 1)", MANIFEST);
				goto out;
			}
			magic = true;
			continue;
		}
		char *w[5];
		size_t n = split_words(line, w, 4);
		if (n == 0 || n > 4) {
			snprintf(fault, cap, "%s:%zu: malformed line", MANIFEST, lineno);
			goto out;
		}
		if (!strcmp(w[0], "file")) {
			uint8_t want[32], got[32];
			uint64_t size, got_size;
			const char *name = n == 4 ? bundle_name(w[3]) : NULL;
			bool hex_ok = n == 4 && strlen(w[1]) == 64;
			for (int i = 0; hex_ok && i < 32; i++) {
				int a = hex_value((unsigned char)w[1][2 * i]);
				int b = hex_value((unsigned char)w[1][2 * i + 1]);
				hex_ok = a >= 0 && b >= 0;
				want[i] = (uint8_t)(a << 4 | (b & 15));
			}
			if (!name || !hex_ok || !parse_u64(w[2], &size)) {
				snprintf(fault, cap, "%s:%zu: malformed file line", MANIFEST,
					 lineno);
				goto out;
			}
			if (listed_has(l, name)) {
				snprintf(fault, cap, "%s:%zu: %s listed twice", MANIFEST, lineno,
					 w[3]);
				goto out;
			}
			if (l->n >= BUNDLE_FILES_MAX) {
				snprintf(fault, cap, "%s lists too many files", MANIFEST);
				goto out;
			}
			char **nn = realloc(l->names, (l->n + 1) * sizeof *nn);
			char *copy = strdup(name);
			if (!nn || !copy) {
				free(copy);
				if (nn)
					l->names = nn;
				rc = ERR_NOMEM;
				goto out;
			}
			l->names = nn;
			l->names[l->n++] = copy;
			char *fp = path_join(dir, w[3]);
			if (!fp) {
				rc = ERR_NOMEM;
				goto out;
			}
			int hrc = hash_file(fp, got, &got_size);
			free(fp);
			if (hrc) {
				snprintf(fault, cap,
					 "%s: listed in the manifest but unreadable: %s", w[3],
					 hrc == ERR_SYS ? strerror(errno) : err_str(hrc));
				goto out;
			}
			if (got_size != size) {
				snprintf(fault, cap,
					 "%s: %" PRIu64 " bytes, the manifest says %" PRIu64
					 " (truncated or extended)",
					 w[3], got_size, size);
				goto out;
			}
			if (memcmp(got, want, 32) != 0) {
				snprintf(
					fault, cap,
					"%s: SHA-256 differs from the manifest (the file was altered)",
					w[3]);
				goto out;
			}
		} else if (!strcmp(w[0], "segments") && n == 3) {
			d->has_segs = parse_u64(w[1], &d->seg_first) &&
				      parse_u64(w[2], &d->seg_last);
		} else if (!strcmp(w[0], "records") && n == 3) {
			d->has_recs = parse_u64(w[1], &d->rec_first) &&
				      parse_u64(w[2], &d->rec_end);
		}
		/* range, exported, key: informative. */
	}
	if (!magic) {
		snprintf(fault, cap, "%s is empty", MANIFEST);
		goto out;
	}
	if (!d->has_segs || !d->has_recs) {
		snprintf(fault, cap, "%s lacks its segments or records line", MANIFEST);
		goto out;
	}
	/* Nothing may sit in log/ that the manifest does not list (an inserted segment). */
	char *lp = path_join(dir, "log");
	DIR *dd = lp ? opendir(lp) : NULL;
	free(lp);
	if (!dd) {
		snprintf(fault, cap, "log/ is missing");
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(dd)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!listed_has(l, de->d_name)) {
			snprintf(fault, cap,
				 "log/%s is not listed in the manifest (a file was added)",
				 de->d_name);
			break;
		}
	}
	closedir(dd);
out:
	if (f)
		fclose(f);
	free(text);
	free(mp);
	return rc;
}

static void print_manifest_fault(const char *fault, bool json)
{
	if (json) {
		struct dynbuf b;
		dynbuf_init(&b, 1024);
		if (!dynbuf_adds(&b, "{\"ok\":false,\"fault\":{\"file\":\"" MANIFEST
				     "\",\"reason\":") &&
		    !json_cstr(&b, fault) && !dynbuf_adds(&b, "}}"))
			printf("%s\n", b.data);
		dynbuf_free(&b);
	} else {
		printf("FAULT in the bundle: %s\n", fault);
	}
}

static int evidence_verify_dir(const char *dir, struct sign_key **keys, size_t n_keys, bool json)
{
	struct listed l = { 0 };
	struct declared d = { 0 };
	struct log_verify_report rep;
	char fault[512];
	char *lp = NULL;
	int status = 1;

	int rc = check_manifest(dir, &l, &d, fault, sizeof fault);
	if (rc) {
		fprintf(stderr, "sinkd evidence verify: %s: %s\n", dir, err_str(rc));
		goto out;
	}
	if (fault[0]) {
		print_manifest_fault(fault, json);
		goto out;
	}
	lp = path_join(dir, "log");
	struct log_verify_opts o = {
		.keys = keys, .n_keys = n_keys, .require_signed = true, .partial = true
	};
	rc = lp ? log_verify_with(lp, &o, &rep) : ERR_NOMEM;
	if (rc) {
		fprintf(stderr, "sinkd evidence verify: %s: %s\n", dir,
			rc == ERR_SYS	    ? strerror(errno) :
			rc == ERR_NOT_FOUND ? "no segments in log/" :
					      err_str(rc));
		goto out;
	}
	if (rep.ok) {
		uint64_t last_seg = rep.first_segment + rep.segments - 1;
		if (d.seg_first != rep.first_segment || d.seg_last != last_seg) {
			snprintf(fault, sizeof fault,
				 "the manifest lists segments %" PRIu64 "-%" PRIu64
				 ", the bundle holds %" PRIu32 "-%" PRIu64,
				 d.seg_first, d.seg_last, rep.first_segment, last_seg);
		} else if (d.rec_first != rep.first_record ||
			   d.rec_end != rep.first_record + rep.records) {
			snprintf(fault, sizeof fault,
				 "the manifest declares records %" PRIu64 "..%" PRIu64
				 ", the segments hold %" PRIu64 "..%" PRIu64,
				 d.rec_first, d.rec_end, rep.first_record,
				 rep.first_record + rep.records);
		}
		if (fault[0]) {
			print_manifest_fault(fault, json);
			goto out;
		}
	}
	if (verify_report_print(&rep, json) == 0 && rep.ok) {
		if (!json)
			printf("bundle: every file matches %s; %zu files\n", MANIFEST, l.n);
		status = 0;
	}
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	free(lp);
	return status;
}

static int evidence_verify(int argc, char **argv)
{
	const char *dir = NULL;
	bool json = false;
	struct sign_key **keys = NULL;
	size_t n_keys = 0;
	int status = 2;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
			if (verify_keys_add("sinkd evidence verify", argv[++i], &keys, &n_keys)) {
				status = 1;
				goto out;
			}
		} else if (argv[i][0] == '-' || dir) {
			fprintf(stderr, "sinkd evidence verify: unexpected argument '%s'\n",
				argv[i]);
			evidence_usage(stderr);
			goto out;
		} else {
			dir = argv[i];
		}
	}
	if (!dir) {
		evidence_usage(stderr);
		goto out;
	}
	status = evidence_verify_dir(dir, keys, n_keys, json);
out:
	verify_keys_free(keys, n_keys);
	return status;
}

static int evidence_export_cmd(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *out = NULL, *logdir = NULL, *cfgpath = NULL;
	struct config *cfg = NULL;
	char err[512];
	int status = 2;

	/* Every option takes a value: the loop steps over both. */
	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "sinkd evidence export: '%s' needs a value\n", a);
			evidence_usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--from"))
			from = v;
		else if (!strcmp(a, "--to"))
			to = v;
		else if (!strcmp(a, "--out"))
			out = v;
		else if (!strcmp(a, "--log"))
			logdir = v;
		else if (!strcmp(a, "-c") || !strcmp(a, "--config"))
			cfgpath = v;
		else {
			fprintf(stderr, "sinkd evidence export: unknown option '%s'\n", a);
			evidence_usage(stderr);
			return 2;
		}
	}
	if (!from || !to || !out || (!logdir == !cfgpath)) {
		fprintf(stderr, "sinkd evidence export: --from, --to, --out and one of -c/--log "
				"are required\n");
		evidence_usage(stderr);
		return 2;
	}
	if (cfgpath) {
		if (config_load(cfgpath, &cfg, err, sizeof err) != 0) {
			fprintf(stderr, "sinkd evidence export: %s\n", err);
			return 1;
		}
		logdir = cfg->log_dir;
	}
	status = evidence_export(logdir, from, to, out);
	config_free(cfg);
	return status;
}

int cmd_evidence(int argc, char **argv)
{
	if (argc < 2) {
		evidence_usage(stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			evidence_usage(stdout);
			return 0;
		}
	if (!strcmp(argv[1], "export"))
		return evidence_export_cmd(argc, argv);
	if (!strcmp(argv[1], "verify"))
		return evidence_verify(argc, argv);
	fprintf(stderr, "sinkd evidence: unknown subcommand '%s'\n", argv[1]);
	evidence_usage(stderr);
	return 2;
}
