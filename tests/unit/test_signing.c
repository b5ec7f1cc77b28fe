/* test_signing.c — signed chain heads and tamper detection: every kind of tampering is produced and caught, at its position. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "testfs.h"
#include "core/crc32c.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sign.h"

/* Format constants the tests poke at (docs/event-format.md). */
#define HDR_LEN	   136
#define FRAME_HDR  9
#define SEAL_FRAME 53
#define SEG_BYTES  4096

static struct sign_key *key, *other_key;

/* ---- files ------------------------------------------------------------------- */

static char *tmpdir_new(void)
{
	return tmpdir_new_named("sign");
}

static void path_of(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

/* Copies every file of src into a fresh directory. */
static char *copy_dir(const char *src)
{
	char *dst = tmpdir_new();
	DIR *d = opendir(src);
	struct dirent *de;
	if (!dst || !d) {
		if (d)
			closedir(d);
		return dst;
	}
	while ((de = readdir(d)) != NULL) {
		char a[512], b[512];
		size_t n;
		if (de->d_name[0] == '.')
			continue;
		path_of(a, sizeof a, src, de->d_name);
		path_of(b, sizeof b, dst, de->d_name);
		uint8_t *p = read_file(a, &n);
		CHECK(p && write_file(b, p, n));
		free(p);
	}
	closedir(d);
	return dst;
}

/* ---- a signed log -------------------------------------------------------------- */

static size_t make_rec(uint64_t i, uint8_t *buf)
{
	size_t len = 40; /* equal lengths, so records can be swapped in place */
	put_be64(buf, i);
	for (size_t j = 8; j < len; j++)
		buf[j] = (uint8_t)(i * 7 + j);
	return len;
}

static struct log_writer *open_writer(const char *dir, const struct sign_key *k)
{
	struct log_writer *w = NULL;
	struct log_writer_opts o = {
		.dir = dir, .sensor_id = "sensor-sign", .segment_bytes = SEG_BYTES, .sign_key = k
	};
	CHECK_INT(log_writer_open(&w, &o, NULL), 0);
	return w;
}

static void put_batch(struct log_writer *w, uint64_t *next, uint32_t n)
{
	uint8_t buf[64];
	for (uint32_t k = 0; k < n; k++) {
		size_t len = make_rec(*next + k, buf);
		CHECK_INT(log_writer_append(w, buf, len), 0);
	}
	CHECK_INT(log_writer_commit(w), 0);
	*next += n;
}

/* 80 batches of 3 records: several segments of 4 KiB, a signed head at each close. */
static char *make_signed_log(uint64_t *records)
{
	char *dir = tmpdir_new();
	struct log_writer *w = open_writer(dir, key);
	uint64_t next = 0;
	for (int b = 0; b < 80; b++)
		put_batch(w, &next, 3);
	struct log_writer_stats st;
	log_writer_stats(w, &st);
	CHECK(st.segment >= 4);
	CHECK_INT(st.sign_errors, 0);
	CHECK_INT(log_writer_close(w), 0);
	*records = next;
	return dir;
}

/* A frame in a segment file. */
struct fr {
	size_t off;
	uint32_t len;
	uint8_t type;
};

static size_t frames(const uint8_t *p, size_t n, struct fr *out, size_t max)
{
	size_t k = 0;
	for (size_t off = HDR_LEN; off + FRAME_HDR <= n && k < max;) {
		out[k].off = off;
		out[k].len = get_be32(p + off);
		out[k].type = p[off + 8];
		off += FRAME_HDR + out[k].len;
		k++;
	}
	return k;
}

static void fix_crc(uint8_t *frame)
{
	uint32_t len = get_be32(frame);
	put_be32(frame + 4, crc32c(0, frame + 8, (size_t)len + 1));
}

/* Runs verify (optionally with a trusted key) and expects a fault whose reason contains `want`. */
static void expect_fault(const char *dir, const struct sign_key *trust, const char *want,
			 long long seg, long long off, long long rec, const char *what)
{
	struct log_verify_report rep;
	struct sign_key *keys[1] = { (struct sign_key *)trust };
	struct log_verify_opts o = { .keys = keys,
				     .n_keys = trust ? 1 : 0,
				     .require_signed = trust != NULL };
	CHECK_INT(log_verify_with(dir, &o, &rep), 0);
	CHECK(!rep.ok);
	if (rep.ok || !strstr(rep.reason, want)) {
		fprintf(stderr, "%s: got %s \"%s\", want a fault containing \"%s\"\n", what,
			rep.ok ? "ok" : "fault", rep.reason, want);
		CHECK(false && "fault reason");
	}
	if (seg >= 0)
		CHECK_INT(rep.bad_segment, seg);
	if (off >= 0)
		CHECK_INT(rep.bad_offset, off);
	if (rec >= 0)
		CHECK_INT(rep.bad_record, rec);
}

static void expect_ok(const char *dir, uint64_t records)
{
	struct log_verify_report rep;
	CHECK_INT(log_verify(dir, &rep), 0);
	if (!rep.ok)
		fprintf(stderr, "verify: %s\n", rep.reason);
	CHECK(rep.ok);
	CHECK_INT(rep.records, records);
	CHECK(rep.signed_any);
	CHECK_INT(rep.last_signed_index, records);
	CHECK_INT(rep.unsigned_records, 0);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_keys(void)
{
	char *dir = tmpdir_new();
	char priv[512], pub[512];
	struct sign_key *k = NULL, *p = NULL;
	uint8_t sig[SIGN_LEN], a[SIGN_ID_LEN], b[SIGN_ID_LEN];
	static const uint8_t msg[] = "chain head";

	path_of(priv, sizeof priv, dir, "k.pem");
	path_of(pub, sizeof pub, dir, "k.pub");
	CHECK_INT(sign_key_save_private(key, priv, false), 0);
	CHECK_INT(sign_key_save_public(key, pub, false), 0);
	/* Never overwritten unless asked. */
	CHECK_INT(sign_key_save_private(key, priv, false), ERR_SYS);
	struct stat st;
	CHECK(stat(priv, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(sign_key_load(priv, &k), 0);
	CHECK_INT(sign_key_load(pub, &p), 0);
	CHECK(k && sign_key_has_private(k));
	CHECK(p && !sign_key_has_private(p));
	if (k && p) {
		sign_key_id(k, a);
		sign_key_id(p, b);
		CHECK(!memcmp(a, b, SIGN_ID_LEN));
		CHECK_INT(sign_data(k, msg, sizeof msg, sig), 0);
		CHECK(sign_check(p, msg, sizeof msg, sig));
		CHECK(!sign_check(other_key, msg, sizeof msg, sig));
		sig[5] ^= 1;
		CHECK(!sign_check(p, msg, sizeof msg, sig));
		CHECK_INT(sign_data(p, msg, sizeof msg, sig), ERR_INVAL);
	}
	/* Not a key. */
	CHECK(write_file(priv, (const uint8_t *)"hello\n", 6));
	struct sign_key *bad = NULL;
	CHECK_INT(sign_key_load(priv, &bad), ERR_INVAL);
	sign_key_free(k);
	sign_key_free(p);
	rm_rf(dir);
}

static void test_signed_log_verifies(void)
{
	uint64_t n;
	char *dir = make_signed_log(&n);
	expect_ok(dir, n);

	/* Heads: open, one per segment close, close; each covers what it should. */
	char p[512];
	size_t len;
	path_of(p, sizeof p, dir, LOG_HEADS_FILE);
	uint8_t *h = read_file(p, &len);
	CHECK(h && len % LOG_HEAD_ENTRY_LEN == 0 && len >= 5 * LOG_HEAD_ENTRY_LEN);
	struct log_signed_head first, last;
	CHECK_INT(log_head_parse(h, &first), 0);
	CHECK_INT(log_head_parse(h + len - LOG_HEAD_ENTRY_LEN, &last), 0);
	CHECK_INT(first.kind, LOG_HEAD_OPEN);
	CHECK_INT(first.index, 0);
	CHECK_INT(last.kind, LOG_HEAD_CLOSE);
	CHECK_INT(last.index, n);
	CHECK_STR(last.sensor, "sensor-sign");
	size_t segs = 0;
	for (size_t off = 0; off < len; off += LOG_HEAD_ENTRY_LEN) {
		struct log_signed_head e;
		CHECK_INT(log_head_parse(h + off, &e), 0);
		segs += e.kind == LOG_HEAD_SEGMENT;
	}
	CHECK(segs >= 3);
	free(h);

	/* Trusting the right key explicitly works; another key does not. */
	struct log_verify_report rep;
	struct sign_key *keys[1] = { key };
	struct log_verify_opts o = { .keys = keys, .n_keys = 1, .require_signed = true };
	CHECK_INT(log_verify_with(dir, &o, &rep), 0);
	CHECK(rep.ok);
	expect_fault(dir, other_key, "not among the trusted keys", -1, 0, 0, "other key");

	/* Reopening appends an open head, and the log still verifies. */
	struct log_writer *w = open_writer(dir, key);
	uint64_t next = n;
	put_batch(w, &next, 2);
	CHECK_INT(log_writer_close(w), 0);
	expect_ok(dir, n + 2);
	rm_rf(dir);
}

static void test_midnight(void)
{
	char *dir = tmpdir_new();
	struct log_writer *w = open_writer(dir, key);
	uint64_t next = 0;
	struct log_writer_stats st;
	put_batch(w, &next, 2);
	log_writer_stats(w, &st);
	uint64_t before = st.signed_heads;
	/* Nothing happens before midnight; a day later, one signature, once. */
	log_writer_tick(w, 1000000);
	log_writer_stats(w, &st);
	CHECK_INT(st.signed_heads, before);
	uint64_t later = (uint64_t)4102444800 * 1000000u; /* 2100-01-01 */
	log_writer_tick(w, later);
	log_writer_tick(w, later + 1000);
	log_writer_stats(w, &st);
	CHECK_INT(st.signed_heads, before + 1);
	put_batch(w, &next, 2);
	CHECK_INT(log_writer_close(w), 0);
	expect_ok(dir, 4);

	char p[512];
	size_t len;
	path_of(p, sizeof p, dir, LOG_HEADS_FILE);
	uint8_t *h = read_file(p, &len);
	bool found = false;
	for (size_t off = 0; h && off + LOG_HEAD_ENTRY_LEN <= len; off += LOG_HEAD_ENTRY_LEN) {
		struct log_signed_head e;
		CHECK_INT(log_head_parse(h + off, &e), 0);
		if (e.kind == LOG_HEAD_MIDNIGHT) {
			found = true;
			CHECK_INT(e.index, 2); /* the head the day ended with */
			CHECK(e.time_us == later);
		}
	}
	CHECK(found);
	free(h);
	rm_rf(dir);
}

/* A copy of a log with one segment loaded for editing (room for one more frame). */
struct tamper {
	char *dir;
	char path[512];
	uint8_t *s;
	size_t len;
	struct fr f[256];
	size_t nf;
};

static void tamper_begin(struct tamper *t, const char *orig, uint32_t seg)
{
	t->dir = copy_dir(orig);
	seg_path(t->path, sizeof t->path, t->dir, seg);
	uint8_t *s = read_file(t->path, &t->len);
	t->s = s ? realloc(s, t->len + 1024) : NULL;
	CHECK(t->s != NULL);
	if (!t->s)
		abort();
	t->nf = frames(t->s, t->len, t->f, 256);
}

/* Writes the edited segment back and expects verify to find `want` there. */
static void tamper_check(struct tamper *t, const char *want, long long seg, long long off,
			 long long rec, const char *what)
{
	CHECK(write_file(t->path, t->s, t->len));
	expect_fault(t->dir, NULL, want, seg, off, rec, what);
	free(t->s);
	rm_rf(t->dir);
}

/* Each kind of tampering on a copy of one signed log. */
static void test_tampering(void)
{
	uint64_t n;
	char *orig = make_signed_log(&n);
	struct tamper t;
	char p[512], q[512];

	/* 1. An edited byte inside record 4 (segment 1): its CRC fails, at its offset. */
	tamper_begin(&t, orig, 1);
	/* Records 0..2 then a seal, then 3..5: record 4 is frame 5. */
	CHECK(t.nf > 8 && t.f[5].type == 1);
	t.s[t.f[5].off + FRAME_HDR + 3] ^= 0x40;
	CHECK(write_file(t.path, t.s, t.len));
	expect_fault(t.dir, NULL, "record CRC mismatch", 1, (long long)t.f[5].off, -1,
		     "edited byte");
	/* 2. The same edit with its CRC recomputed: the batch no longer hashes to its seal. */
	fix_crc(t.s + t.f[5].off);
	tamper_check(&t, "chain broken", 1, (long long)t.f[4].off, 3, "edited, CRC fixed");

	/* 3. Two records of one batch swapped (reordered). */
	tamper_begin(&t, orig, 2);
	CHECK(t.f[0].type == 1 && t.f[1].type == 1 && t.f[0].len == t.f[1].len);
	uint8_t tmp[64];
	size_t rlen = FRAME_HDR + t.f[0].len;
	memcpy(tmp, t.s + t.f[0].off, rlen);
	memcpy(t.s + t.f[0].off, t.s + t.f[1].off, rlen);
	memcpy(t.s + t.f[1].off, tmp, rlen);
	tamper_check(&t, "chain broken", 2, HDR_LEN, -1, "reordered records");

	/* 4. Two whole batches swapped (reordered batches). */
	tamper_begin(&t, orig, 2);
	size_t blen = t.f[4].off - t.f[0].off; /* 3 records + seal */
	CHECK_INT(t.f[3].type, 2);
	uint8_t *b = malloc(blen);
	memcpy(b, t.s + t.f[0].off, blen);
	memmove(t.s + t.f[0].off, t.s + t.f[4].off, blen);
	memcpy(t.s + t.f[4].off, b, blen);
	free(b);
	tamper_check(&t, "", 2, -1, -1, "reordered batches");

	/* 5. A record removed (the seal then counts one too many). */
	tamper_begin(&t, orig, 2);
	rlen = FRAME_HDR + t.f[1].len;
	memmove(t.s + t.f[1].off, t.s + t.f[1].off + rlen, t.len - t.f[1].off - rlen);
	t.len -= rlen;
	tamper_check(&t, "records removed or inserted", 2, HDR_LEN, -1, "removed record");

	/* 6. A record inserted (a valid frame, duplicated). */
	tamper_begin(&t, orig, 2);
	rlen = FRAME_HDR + t.f[1].len;
	memmove(t.s + t.f[2].off + rlen, t.s + t.f[2].off, t.len - t.f[2].off);
	memcpy(t.s + t.f[2].off, t.s + t.f[1].off, rlen);
	t.len += rlen;
	tamper_check(&t, "records removed or inserted", 2, HDR_LEN, -1, "inserted record");

	/* 7. A whole batch removed at a seal boundary mid-log: the next seal's index is wrong. */
	tamper_begin(&t, orig, 2);
	blen = t.f[4].off - t.f[0].off;
	memmove(t.s + t.f[0].off, t.s + t.f[4].off, t.len - t.f[4].off);
	t.len -= blen;
	tamper_check(&t, "", 2, -1, -1, "removed batch");

	uint32_t last = 1;
	for (;; last++) {
		seg_path(p, sizeof p, orig, last + 1);
		if (access(p, F_OK) != 0)
			break;
	}
	/* 8. Truncation inside a frame: a torn tail. */
	tamper_begin(&t, orig, last);
	t.len -= 7;
	tamper_check(&t, "truncated", last, -1, -1, "torn tail");
	/* 9. Truncation at a seal boundary: only the signed heads can tell. */
	tamper_begin(&t, orig, last);
	CHECK(t.nf >= 8 && t.f[t.nf - 1].type == 2);
	t.len = t.f[t.nf - 4].off;
	tamper_check(&t, "removed from the end", last, (long long)t.len, (long long)n - 3,
		     "truncated at a seal");

	/* 10. The last segment removed. */
	char *d = copy_dir(orig);
	seg_path(p, sizeof p, d, last);
	CHECK(unlink(p) == 0);
	expect_fault(d, NULL, "removed from the end", last - 1, -1, -1, "last segment removed");
	rm_rf(d);

	/* 11. A middle segment removed. */
	d = copy_dir(orig);
	seg_path(p, sizeof p, d, 2);
	CHECK(unlink(p) == 0);
	expect_fault(d, NULL, "segment 2 is missing", 2, 0, -1, "segment removed");
	rm_rf(d);

	/* 12. Two segments swapped (files renamed). */
	d = copy_dir(orig);
	seg_path(p, sizeof p, d, 2);
	seg_path(q, sizeof q, d, 3);
	char sw[512];
	path_of(sw, sizeof sw, d, "swap");
	CHECK(rename(p, sw) == 0 && rename(q, p) == 0 && rename(sw, q) == 0);
	expect_fault(d, NULL, "segments moved or swapped", 2, 0, -1, "segments swapped");
	rm_rf(d);

	/* 13. A segment inserted: a copy of segment 2 placed as the next after the last. */
	tamper_begin(&t, orig, 2);
	seg_path(t.path, sizeof t.path, t.dir, last + 1);
	tamper_check(&t, "segments moved or swapped", last + 1, 0, -1, "segment inserted");

	rm_rf(orig);
}

/*
 * The strongest forgery without the key: edit a record, then rebuild every
 * CRC, seal and header so the chain is whole again. Only the signed heads
 * catch it, at the first signed point after the edit.
 */
static void test_rechained_forgery(void)
{
	uint64_t n;
	char *orig = make_signed_log(&n);
	char *forged = tmpdir_new();
	struct log_reader *r = NULL;
	struct log_record rec;
	struct log_writer *w = open_writer(forged, NULL);
	uint64_t i = 0;

	CHECK_INT(log_reader_open(&r, orig, NULL), 0);
	/* Same batches (3 records), so seals fall at the same indexes. */
	while (log_reader_next(r, &rec) == 0) {
		uint8_t buf[64];
		memcpy(buf, rec.data, rec.len);
		if (i == 50)
			buf[20] ^= 1;
		CHECK_INT(log_writer_append(w, buf, rec.len), 0);
		if (++i % 3 == 0)
			CHECK_INT(log_writer_commit(w), 0);
	}
	log_reader_close(r);
	CHECK_INT(log_writer_close(w), 0);
	CHECK_INT(i, n);
	/* Unsigned, the forgery is a perfectly valid log... */
	struct log_verify_report rep;
	CHECK_INT(log_verify(forged, &rep), 0);
	CHECK(rep.ok && !rep.signed_any);
	/* ...until the original's signed heads and key are put beside it. */
	char p[512], q[512];
	size_t len;
	DIR *dd = opendir(orig);
	struct dirent *de;
	while (dd && (de = readdir(dd)) != NULL) {
		if (strcmp(de->d_name, LOG_HEADS_FILE) && strncmp(de->d_name, LOG_KEY_PREFIX, 8))
			continue;
		path_of(p, sizeof p, orig, de->d_name);
		path_of(q, sizeof q, forged, de->d_name);
		uint8_t *c = read_file(p, &len);
		CHECK(c && write_file(q, c, len));
		free(c);
	}
	if (dd)
		closedir(dd);
	expect_fault(forged, NULL, "altered and the chain rebuilt", -1, -1, -1, "re-chained");
	/* And with the segment sizes equal, the fault is at the first signed point after record 50. */
	CHECK_INT(log_verify(forged, &rep), 0);
	CHECK(!rep.ok && rep.bad_record > 50);
	rm_rf(forged);
	rm_rf(orig);
}

static void test_heads_tampering(void)
{
	uint64_t n;
	char *orig = make_signed_log(&n);
	char p[512];
	size_t len;

	/* An edited byte in an entry: CRC. */
	char *d = copy_dir(orig);
	path_of(p, sizeof p, d, LOG_HEADS_FILE);
	uint8_t *h = read_file(p, &len);
	h[LOG_HEAD_ENTRY_LEN + 100] ^= 1;
	CHECK(write_file(p, h, len));
	expect_fault(d, NULL, "CRC", 0, LOG_HEAD_ENTRY_LEN, 1, "heads byte");
	/* The edit with the CRC recomputed: the signature fails. */
	put_be32(h + LOG_HEAD_ENTRY_LEN + LOG_HEAD_ENTRY_LEN - 4,
		 crc32c(0, h + LOG_HEAD_ENTRY_LEN, LOG_HEAD_ENTRY_LEN - 4));
	CHECK(write_file(p, h, len));
	expect_fault(d, NULL, "does not verify", 0, LOG_HEAD_ENTRY_LEN, 1, "heads re-CRC");
	free(h);
	rm_rf(d);

	/* Entries reordered. */
	d = copy_dir(orig);
	path_of(p, sizeof p, d, LOG_HEADS_FILE);
	h = read_file(p, &len);
	uint8_t tmp[LOG_HEAD_ENTRY_LEN];
	memcpy(tmp, h + LOG_HEAD_ENTRY_LEN, LOG_HEAD_ENTRY_LEN);
	memcpy(h + LOG_HEAD_ENTRY_LEN, h + 2 * LOG_HEAD_ENTRY_LEN, LOG_HEAD_ENTRY_LEN);
	memcpy(h + 2 * LOG_HEAD_ENTRY_LEN, tmp, LOG_HEAD_ENTRY_LEN);
	CHECK(write_file(p, h, len));
	expect_fault(d, NULL, "reordered", 0, 2 * LOG_HEAD_ENTRY_LEN, 2, "heads reordered");
	/* A partial entry at the end. */
	memcpy(h + 2 * LOG_HEAD_ENTRY_LEN, h + LOG_HEAD_ENTRY_LEN, LOG_HEAD_ENTRY_LEN);
	memcpy(h + LOG_HEAD_ENTRY_LEN, tmp, LOG_HEAD_ENTRY_LEN);
	CHECK(write_file(p, h, len - 10));
	expect_fault(d, NULL, "partial entry", -1, -1, -1, "heads torn");
	/* All entries removed: fine for an unsigned log, a fault when a key is trusted. */
	CHECK(write_file(p, h, 0));
	expect_fault(d, key, "no signed head", -1, -1, -1, "heads removed");
	free(h);
	rm_rf(d);

	/* The public key replaced by another one: no entry verifies. */
	d = copy_dir(orig);
	DIR *dd = opendir(d);
	struct dirent *de;
	while (dd && (de = readdir(dd)) != NULL)
		if (!strncmp(de->d_name, LOG_KEY_PREFIX, 8)) {
			path_of(p, sizeof p, d, de->d_name);
			CHECK_INT(sign_key_save_public(other_key, p, true), 0);
		}
	if (dd)
		closedir(dd);
	expect_fault(d, NULL, "not among the trusted keys", -1, -1, -1, "key replaced");
	rm_rf(d);
	rm_rf(orig);
}

/* A run of segments that starts after segment 1, as in an evidence bundle. */
static void test_partial(void)
{
	uint64_t n;
	char *orig = make_signed_log(&n);
	char *d = copy_dir(orig);
	char p[512];
	size_t len;
	struct log_verify_report rep;
	struct log_verify_opts o = { .partial = true, .require_signed = true };

	/* Drop segment 1, and the signed heads before segment 2's start. */
	seg_path(p, sizeof p, d, 1);
	uint8_t *s1 = read_file(p, &len);
	CHECK(unlink(p) == 0);
	free(s1);
	struct log_segment_info *segs = NULL;
	size_t nsegs = 0;
	CHECK_INT(log_segments(orig, &segs, &nsegs), 0);
	CHECK(nsegs >= 4);
	uint64_t start = nsegs > 1 ? segs[1].first_index : 0;
	uint64_t sealed, end;
	CHECK_INT(log_segment_sealed_size(orig, 1, &sealed, &end), 0);
	CHECK_INT(end, start);
	CHECK_INT(sealed, segs[0].size);
	free(segs);

	/* Without partial mode, a log missing segment 1 is faulty. */
	expect_fault(d, NULL, "segment 1 is missing", 1, 0, 0, "partial, plain verify");
	CHECK_INT(log_verify_with(d, &o, &rep), 0);
	if (!rep.ok)
		fprintf(stderr, "partial: %s\n", rep.reason);
	CHECK(rep.ok);
	CHECK_INT(rep.first_segment, 2);
	CHECK_INT(rep.first_record, start);
	CHECK_INT(rep.records, n - start);

	/* Without the signed head that anchors segment 2's start, it is refused. */
	path_of(p, sizeof p, d, LOG_HEADS_FILE);
	uint8_t *h = read_file(p, &len);
	uint8_t *kept = malloc(len);
	size_t k = 0;
	for (size_t off = 0; off < len; off += LOG_HEAD_ENTRY_LEN) {
		struct log_signed_head e;
		CHECK_INT(log_head_parse(h + off, &e), 0);
		if (e.index != start) {
			memcpy(kept + k, h + off, LOG_HEAD_ENTRY_LEN);
			k += LOG_HEAD_ENTRY_LEN;
		}
	}
	CHECK(write_file(p, kept, k));
	CHECK_INT(log_verify_with(d, &o, &rep), 0);
	CHECK(!rep.ok && strstr(rep.reason, "no signed head vouches"));
	free(kept);
	free(h);
	rm_rf(d);
	rm_rf(orig);
}

int main(void)
{
	CHECK_INT(sign_key_generate(&key), 0);
	CHECK_INT(sign_key_generate(&other_key), 0);
	if (!key || !other_key)
		return 1;
	test_keys();
	test_signed_log_verifies();
	test_midnight();
	test_tampering();
	test_rechained_forgery();
	test_heads_tampering();
	test_partial();
	sign_key_free(key);
	sign_key_free(other_key);
	return check_done("signing");
}
