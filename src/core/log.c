/* log.c — the append-only event log: segment writer with crash recovery, following reader, verifier. */
#include "core/log.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/crc32c.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/event.h"
#include "core/sign.h"

/*
 * The format is described byte by byte in docs/event-format.md; keep the two
 * in step. In short:
 *
 *   segment header (SEG_HDR_LEN bytes)
 *     0   8  magic "SINKDLOG"
 *     8   2  format version (1)
 *     10  2  header length (136)
 *     12  4  segment number
 *     16  8  index of the segment's first record in the log
 *     24  8  creation time, µs since the Unix epoch
 *     32  64 sensor id, NUL-padded
 *     96  32 chain head this segment continues from
 *     128 4  reserved, 0
 *     132 4  CRC32C of bytes 0..131
 *   frames, back to back
 *     0   4  body length
 *     4   4  CRC32C of the type byte and the body
 *     8   1  type: 1 event, 2 seal
 *     9   …  body
 *   seal body (44 bytes): be32 record count, be64 index of the batch's first
 *   record, 32-byte chain head after the batch.
 */

#define SEG_MAGIC	"SINKDLOG"
#define SEG_VERSION	1
#define SEG_HDR_LEN	136
#define SEG_HDR_CRC_OFF 132
#define SEG_NAME_LEN	20 /* 16 digits + ".seg" */

#define FRAME_HDR_LEN  9
#define FRAME_EVENT    1
#define FRAME_SEAL     2
#define SEAL_BODY_LEN  (4 + 8 + LOG_HASH_LEN)
#define SEAL_FRAME_LEN (FRAME_HDR_LEN + SEAL_BODY_LEN)
#define FRAME_MAX      (FRAME_HDR_LEN + EVENT_MAX_LEN)

#define LOG_BATCH_MAX	    ((size_t)64 << 20) /* hard cap on one batch, seal included */
#define LOG_BATCH_INITIAL   ((size_t)1 << 20)
#define LOG_SEGMENT_DEFAULT ((uint64_t)64 << 20)
#define READ_BLOCK	    ((size_t)1 << 20)
#define READER_BUF_MAX	    (LOG_BATCH_MAX + READ_BLOCK + FRAME_MAX)
#define TAIL_SCAN_MAX	    ((uint64_t)256 << 20)

/* ------------------------------------------------------------------------ */
/* Small helpers shared by the writer, the reader and the verifier.          */

static void seg_name(char *buf, size_t cap, uint32_t seg)
{
	snprintf(buf, cap, "%016" PRIu32 ".seg", seg);
}

/* Parses "%016u.seg"; anything else in the directory is not ours. */
static bool seg_parse_name(const char *name, uint32_t *seg)
{
	if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (v == 0)
		return false;
	*seg = (uint32_t)v;
	return true;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists the segment numbers in the directory, sorted. Caller frees *out. */
static int seg_list(int dirfd, uint32_t **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	/* A fresh open file description: readdir must not share dirfd's offset. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ERR_SYS;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
		return ERR_SYS;
	}
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		uint32_t seg;
		if (!seg_parse_name(de->d_name, &seg))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			uint32_t *nv = realloc(v, ncap * sizeof *nv);
			if (!nv) {
				rc = ERR_NOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = seg;
		errno = 0;
	}
	if (errno) {
		rc = ERR_SYS;
		goto out;
	}
	if (n)
		qsort(v, n, sizeof *v, cmp_u32);
	*out = v;
	*n_out = n;
	v = NULL;
out:
	free(v);
	closedir(d);
	return rc;
}

static bool seg_exists(int dirfd, uint32_t seg)
{
	char name[32];
	struct stat st;
	seg_name(name, sizeof name, seg);
	return fstatat(dirfd, name, &st, 0) == 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ERR_SYS;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n =
			pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ERR_SYS;
		}
		if (n == 0) {
			errno = EIO;
			return ERR_SYS;
		}
		done += (size_t)n;
	}
	return 0;
}

static bool frame_plausible(uint8_t type, uint32_t len)
{
	if (type == FRAME_EVENT)
		return len >= 1 && len <= EVENT_MAX_LEN;
	return type == FRAME_SEAL && len == SEAL_BODY_LEN;
}

/* CRC of a whole frame at p (header included) is right. */
static bool frame_crc_ok(const uint8_t *p, uint32_t len)
{
	return crc32c(0, p + 8, (size_t)len + 1) == get_be32(p + 4);
}

struct seal {
	uint32_t count;
	uint64_t first;
	uint8_t head[LOG_HASH_LEN];
};

static void seal_parse(const uint8_t *body, struct seal *s)
{
	struct cursor c;
	cursor_init(&c, body, SEAL_BODY_LEN);
	s->count = cursor_be32(&c);
	s->first = cursor_be64(&c);
	cursor_copy(&c, s->head, LOG_HASH_LEN);
}

static void seal_build(uint8_t *p, const struct seal *s)
{
	uint8_t *body = p + FRAME_HDR_LEN;
	put_be32(body, s->count);
	put_be64(body + 4, s->first);
	memcpy(body + 12, s->head, LOG_HASH_LEN);
	put_be32(p, SEAL_BODY_LEN);
	p[8] = FRAME_SEAL;
	put_be32(p + 4, crc32c(0, p + 8, 1 + SEAL_BODY_LEN));
}

struct seg_header {
	uint16_t version;
	uint32_t segment;
	uint64_t first_index;
	uint64_t created_us;
	char sensor[LOG_SENSOR_MAX];
	uint8_t prev[LOG_HASH_LEN];
};

static void header_build(uint8_t *p, const struct seg_header *h)
{
	memset(p, 0, SEG_HDR_LEN);
	memcpy(p, SEG_MAGIC, 8);
	put_be16(p + 8, SEG_VERSION);
	put_be16(p + 10, SEG_HDR_LEN);
	put_be32(p + 12, h->segment);
	put_be64(p + 16, h->first_index);
	put_be64(p + 24, h->created_us);
	memcpy(p + 32, h->sensor, strnlen(h->sensor, LOG_SENSOR_MAX - 1));
	memcpy(p + 96, h->prev, LOG_HASH_LEN);
	put_be32(p + SEG_HDR_CRC_OFF, crc32c(0, p, SEG_HDR_CRC_OFF));
}

/* Returns 0, ERR_CORRUPT or ERR_UNSUPPORTED with *why set. */
static int header_parse(const uint8_t *p, struct seg_header *h, const char **why)
{
	struct cursor c;
	cursor_init(&c, p, SEG_HDR_LEN);
	if (memcmp(p, SEG_MAGIC, 8) != 0) {
		*why = "bad magic: not a sinkd log segment";
		return ERR_CORRUPT;
	}
	cursor_skip(&c, 8);
	h->version = cursor_be16(&c);
	uint16_t hlen = cursor_be16(&c);
	/* Version before CRC: a newer format may place its CRC elsewhere. */
	if (h->version != SEG_VERSION || hlen != SEG_HDR_LEN) {
		*why = "unsupported segment format version";
		return ERR_UNSUPPORTED;
	}
	if (crc32c(0, p, SEG_HDR_CRC_OFF) != get_be32(p + SEG_HDR_CRC_OFF)) {
		*why = "segment header CRC mismatch";
		return ERR_CORRUPT;
	}
	h->segment = cursor_be32(&c);
	h->first_index = cursor_be64(&c);
	h->created_us = cursor_be64(&c);
	cursor_copy(&c, h->sensor, LOG_SENSOR_MAX);
	h->sensor[LOG_SENSOR_MAX - 1] = '\0';
	cursor_copy(&c, h->prev, LOG_HASH_LEN);
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* head_out = SHA-256(prev || data). */
static int chain_hash(EVP_MD_CTX *md, const uint8_t *prev, const uint8_t *data, size_t len,
		      uint8_t *head_out)
{
	unsigned int hl = 0;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, prev, LOG_HASH_LEN) != 1 ||
	    (len && EVP_DigestUpdate(md, data, len) != 1) ||
	    EVP_DigestFinal_ex(md, head_out, &hl) != 1 || hl != LOG_HASH_LEN)
		return ERR_NOMEM;
	return 0;
}

/* Starts a running batch hash: SHA-256(prev || ...frames fed later...). */
static int chain_begin(EVP_MD_CTX *md, const uint8_t *prev)
{
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, prev, LOG_HASH_LEN) != 1)
		return ERR_NOMEM;
	return 0;
}

static int chain_end(EVP_MD_CTX *md, uint8_t *head_out)
{
	unsigned int hl = 0;
	if (EVP_DigestFinal_ex(md, head_out, &hl) != 1 || hl != LOG_HASH_LEN)
		return ERR_NOMEM;
	return 0;
}

/*
 * Sequential frame scanner over one segment file of known size, reading in
 * large blocks; each frame it returns is contiguous in its buffer. Used by
 * recovery and verify (the reader has its own, because it must keep whole
 * batches in memory and follow a growing file).
 */
struct scan {
	int fd;
	uint64_t size;
	uint64_t base; /* file offset of buf[0] */
	uint64_t off;  /* next frame */
	uint8_t *buf;
	size_t cap;
	size_t len;
	const char *why; /* after SCAN_TORN / SCAN_BAD */
	uint64_t resync; /* after SCAN_BAD: where a later whole frame could start */
};

enum {
	SCAN_FRAME,
	SCAN_END,
	SCAN_TORN,
	SCAN_BAD
};

struct frame {
	const uint8_t *p; /* the whole frame, header included */
	size_t size;	  /* FRAME_HDR_LEN + body length */
	uint64_t off;
	uint8_t type;
	const uint8_t *body;
	uint32_t len;
};

static int scan_init(struct scan *s, int fd, uint64_t size, uint64_t off)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->size = size;
	s->base = off;
	s->off = off;
	s->cap = READ_BLOCK + FRAME_MAX;
	s->buf = malloc(s->cap);
	return s->buf ? 0 : ERR_NOMEM;
}

static void scan_free(struct scan *s)
{
	free(s->buf);
	s->buf = NULL;
}

/* Makes [off, off + n) resident; the caller has checked that it lies within size. */
static int scan_ensure(struct scan *s, size_t n)
{
	if (s->off + n <= s->base + s->len)
		return 0;
	size_t skip = (size_t)(s->off - s->base);
	memmove(s->buf, s->buf + skip, s->len - skip);
	s->len -= skip;
	s->base = s->off;
	size_t want = s->cap - s->len;
	if (want > s->size - (s->base + s->len))
		want = (size_t)(s->size - (s->base + s->len));
	size_t got;
	if (pread_all(s->fd, s->buf + s->len, want, s->base + s->len, &got))
		return ERR_SYS;
	s->len += got;
	if (s->len < n)
		return ERR_END; /* the file shrank under us */
	return 0;
}

static int scan_next(struct scan *s, struct frame *f)
{
	if (s->off >= s->size)
		return SCAN_END;
	uint64_t left = s->size - s->off;
	if (left < FRAME_HDR_LEN) {
		s->why = "truncated frame header at the end of the segment";
		return SCAN_TORN;
	}
	int rc = scan_ensure(s, FRAME_HDR_LEN);
	if (rc == ERR_END)
		goto out_shrank;
	if (rc)
		return rc;
	const uint8_t *p = s->buf + (s->off - s->base);
	uint32_t len = get_be32(p);
	uint8_t type = p[8];
	if (!frame_plausible(type, len)) {
		s->why = type == FRAME_EVENT || type == FRAME_SEAL ? "frame length out of range" :
								     "unknown frame type";
		s->resync = s->off + 1;
		return SCAN_BAD;
	}
	if (FRAME_HDR_LEN + (uint64_t)len > left) {
		s->why = "truncated frame at the end of the segment";
		return SCAN_TORN;
	}
	rc = scan_ensure(s, FRAME_HDR_LEN + (size_t)len);
	if (rc == ERR_END)
		goto out_shrank;
	if (rc)
		return rc;
	p = s->buf + (s->off - s->base);
	if (!frame_crc_ok(p, len)) {
		s->why = type == FRAME_EVENT ? "record CRC mismatch" : "seal CRC mismatch";
		/* Its length looked sane: a later frame would start after it. */
		s->resync = s->off + FRAME_HDR_LEN + len;
		return SCAN_BAD;
	}
	f->p = p;
	f->size = FRAME_HDR_LEN + (size_t)len;
	f->off = s->off;
	f->type = type;
	f->body = p + FRAME_HDR_LEN;
	f->len = len;
	s->off += f->size;
	return SCAN_FRAME;
out_shrank:
	s->why = "segment shrank while it was being read";
	return SCAN_TORN;
}

/*
 * After a bad frame: is there any whole, CRC-valid frame in [from, size)? If
 * so the damage is in the middle of the data (corruption); if not, everything
 * from the bad frame on is a torn tail. Scans byte by byte, because a bad
 * length field means frame boundaries are lost; the cheap type and length
 * checks reject almost every offset before a CRC is computed.
 */
static int tail_has_frame(int fd, uint64_t from, uint64_t size, bool *found)
{
	*found = false;
	if (from >= size)
		return 0;
	if (size - from > TAIL_SCAN_MAX) {
		*found = true; /* far too much to be one torn write: refuse */
		return 0;
	}
	size_t n = (size_t)(size - from), got;
	uint8_t *buf = malloc(n);
	if (!buf)
		return ERR_NOMEM;
	int rc = pread_all(fd, buf, n, from, &got);
	if (rc)
		goto out;
	for (size_t y = 0; y + FRAME_HDR_LEN <= got; y++) {
		uint32_t len = get_be32(buf + y);
		if (!frame_plausible(buf[y + 8], len) || len > got - y - FRAME_HDR_LEN)
			continue;
		if (frame_crc_ok(buf + y, len)) {
			*found = true;
			break;
		}
	}
out:
	free(buf);
	return rc;
}

static int file_size(int fd, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return ERR_SYS;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Signed heads                                                              */

#define HEAD_MAGIC   "SINKDSIG"
#define HEAD_VERSION 1
#define HEAD_CRC_OFF (LOG_HEAD_ENTRY_LEN - 4)
#define US_PER_DAY   (UINT64_C(86400) * 1000000u)

const char *log_head_kind_name(uint8_t kind)
{
	switch (kind) {
	case LOG_HEAD_OPEN:
		return "open";
	case LOG_HEAD_SEGMENT:
		return "segment";
	case LOG_HEAD_MIDNIGHT:
		return "midnight";
	case LOG_HEAD_CLOSE:
		return "close";
	default:
		return "unknown";
	}
}

/* Lays out everything but the signature and the CRC. */
static void head_build_signed(uint8_t *p, const struct log_signed_head *h)
{
	memset(p, 0, LOG_HEAD_ENTRY_LEN);
	memcpy(p, HEAD_MAGIC, 8);
	put_be16(p + 8, HEAD_VERSION);
	p[10] = h->kind;
	put_be32(p + 12, h->segment);
	put_be64(p + 16, h->index);
	put_be64(p + 24, h->time_us);
	memcpy(p + 32, h->sensor, strnlen(h->sensor, LOG_SENSOR_MAX - 1));
	memcpy(p + 96, h->head, LOG_HASH_LEN);
	memcpy(p + 128, h->key_id, 32);
}

int log_head_parse(const uint8_t *p, struct log_signed_head *h)
{
	struct cursor c;
	if (memcmp(p, HEAD_MAGIC, 8) != 0)
		return ERR_CORRUPT;
	if (get_be16(p + 8) != HEAD_VERSION)
		return ERR_UNSUPPORTED;
	if (crc32c(0, p, HEAD_CRC_OFF) != get_be32(p + HEAD_CRC_OFF))
		return ERR_CORRUPT;
	cursor_init(&c, p + 10, LOG_HEAD_ENTRY_LEN - 10);
	h->kind = cursor_u8(&c);
	cursor_skip(&c, 1);
	h->segment = cursor_be32(&c);
	h->index = cursor_be64(&c);
	h->time_us = cursor_be64(&c);
	cursor_copy(&c, h->sensor, LOG_SENSOR_MAX);
	h->sensor[LOG_SENSOR_MAX - 1] = '\0';
	cursor_copy(&c, h->head, LOG_HASH_LEN);
	cursor_copy(&c, h->key_id, 32);
	cursor_copy(&c, h->sig, 64);
	return 0;
}

/* The first UTC midnight strictly after t. */
static uint64_t next_midnight(uint64_t t_us)
{
	return (t_us / US_PER_DAY + 1) * US_PER_DAY;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */

struct log_writer {
	int dirfd;  /* held for openat, the directory fsync and the writer lock */
	int fd;	    /* current segment */
	int old_fd; /* previous segment, until the next sync makes its tail durable */
	uint32_t seg;
	uint64_t seg_len; /* last good length of the current segment */
	uint64_t seg_limit;
	bool dir_dirty;	 /* a segment was created since the last directory fsync */
	bool tail_dirty; /* an ftruncate after a failed write did not succeed */
	char sensor[LOG_SENSOR_MAX];
	uint8_t head[LOG_HASH_LEN];
	uint64_t next_index; /* index the next committed record gets */
	uint32_t crc_event;  /* CRC32C state after the event type byte */
	uint8_t *buf;	     /* the batch: event frames, then room for the seal */
	size_t len;
	size_t cap;
	uint32_t batch_records;
	EVP_MD_CTX *md;
	struct log_writer_stats st;
	const struct sign_key *key; /* NULL: no signed heads */
	int heads_fd;
	uint64_t heads_len;
	bool heads_dirty;
	uint64_t midnight_us; /* the next UTC midnight to sign at */
};

static int mkdir_p(const char *dir)
{
	size_t n = strlen(dir);
	char *p = malloc(n + 1);
	if (!p)
		return ERR_NOMEM;
	memcpy(p, dir, n + 1);
	int rc = 0;
	for (size_t i = 1; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, 0750) != 0 && errno != EEXIST) {
			rc = ERR_SYS;
			break;
		}
		p[i] = c;
	}
	free(p);
	return rc;
}

/* Creates segment `seg` with its header; on failure nothing is left behind. */
static int seg_create(int dirfd, uint32_t seg, const char *sensor, const uint8_t *prev,
		      uint64_t first_index, int *fd_out)
{
	char name[32];
	uint8_t hdr[SEG_HDR_LEN];
	struct seg_header h;

	memset(&h, 0, sizeof h);
	h.segment = seg;
	h.first_index = first_index;
	h.created_us = now_us();
	memcpy(h.sensor, sensor, strnlen(sensor, LOG_SENSOR_MAX - 1));
	memcpy(h.prev, prev, LOG_HASH_LEN);
	header_build(hdr, &h);

	seg_name(name, sizeof name, seg);
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return ERR_SYS;
	if (pwrite_all(fd, hdr, SEG_HDR_LEN, 0) != 0) {
		int e = errno;
		unlinkat(dirfd, name, 0);
		close(fd);
		errno = e;
		return ERR_SYS;
	}
	*fd_out = fd;
	return 0;
}

/*
 * The chain state at the end of segment `seg`, from its closing seal (or its
 * header when it holds no frame). Only used to rebuild a torn header of the
 * segment after it, so the segment is trusted, as recovery trusts all but the
 * last.
 */
static int seg_tail_state(int dirfd, uint32_t seg, uint8_t *head, uint64_t *index)
{
	char name[32];
	uint8_t buf[SEG_HDR_LEN];
	uint64_t size;
	size_t got;
	int rc = ERR_CORRUPT;

	seg_name(name, sizeof name, seg);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ERR_CORRUPT : ERR_SYS;
	if (file_size(fd, &size)) {
		rc = ERR_SYS;
		goto out;
	}
	if (size == SEG_HDR_LEN) {
		struct seg_header h;
		const char *why;
		if (pread_all(fd, buf, SEG_HDR_LEN, 0, &got)) {
			rc = ERR_SYS;
			goto out;
		}
		if (got == SEG_HDR_LEN && header_parse(buf, &h, &why) == 0) {
			memcpy(head, h.prev, LOG_HASH_LEN);
			*index = h.first_index;
			rc = 0;
		}
	} else if (size >= SEG_HDR_LEN + SEAL_FRAME_LEN) {
		struct seal s;
		if (pread_all(fd, buf, SEAL_FRAME_LEN, size - SEAL_FRAME_LEN, &got)) {
			rc = ERR_SYS;
			goto out;
		}
		if (got == SEAL_FRAME_LEN && buf[8] == FRAME_SEAL &&
		    get_be32(buf) == SEAL_BODY_LEN && frame_crc_ok(buf, SEAL_BODY_LEN)) {
			seal_parse(buf + FRAME_HDR_LEN, &s);
			memcpy(head, s.head, LOG_HASH_LEN);
			*index = s.first + s.count;
			rc = 0;
		}
	}
out:
	close(fd);
	return rc;
}

static int file_all_zero(int fd, uint64_t size, bool *zero)
{
	uint8_t buf[4096];
	*zero = true;
	for (uint64_t off = 0; off < size;) {
		size_t got;
		size_t want = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
		if (pread_all(fd, buf, want, off, &got))
			return ERR_SYS;
		if (got == 0)
			break;
		for (size_t i = 0; i < got; i++) {
			if (buf[i]) {
				*zero = false;
				return 0;
			}
		}
		off += got;
	}
	return 0;
}

/*
 * The last segment's header never made it to disk whole (a crash right after
 * rotation): write it again from the previous segment's final state.
 */
static int writer_rebuild_header(struct log_writer *w, int fd, uint64_t size,
				 struct log_recovery *rec)
{
	uint8_t hdr[SEG_HDR_LEN];
	struct seg_header h;
	bool zero;
	int rc;

	if (size > SEG_HDR_LEN) {
		/* Frames behind a bad header are corruption, unless the whole file is
		 * a zero-filled tail that the filesystem allocated but never wrote. */
		if ((rc = file_all_zero(fd, size, &zero)))
			return rc;
		if (!zero)
			return ERR_CORRUPT;
	}
	memset(&h, 0, sizeof h);
	if (w->seg > 1) {
		if ((rc = seg_tail_state(w->dirfd, w->seg - 1, h.prev, &h.first_index)))
			return rc;
	}
	h.segment = w->seg;
	h.created_us = now_us();
	memcpy(h.sensor, w->sensor, sizeof h.sensor);
	header_build(hdr, &h);
	if (ftruncate(fd, 0) != 0 || pwrite_all(fd, hdr, SEG_HDR_LEN, 0) != 0 || fdatasync(fd) != 0)
		return ERR_SYS;
	memcpy(w->head, h.prev, LOG_HASH_LEN);
	w->next_index = h.first_index;
	w->seg_len = SEG_HDR_LEN;
	rec->cut_bytes = size;
	return 0;
}

/*
 * Recovery of the last segment: walk every frame, checking CRCs and each
 * seal against the recomputed chain; cut a torn tail back to the last whole
 * frame; seal whole records that a crash left unsealed.
 */
static int writer_recover(struct log_writer *w, struct log_recovery *rec)
{
	char name[32];
	uint8_t hdr[SEG_HDR_LEN];
	struct seg_header h;
	struct scan s = { .buf = NULL };
	struct frame f;
	const char *why;
	uint64_t size;
	size_t got;
	int rc;

	seg_name(name, sizeof name, w->seg);
	w->fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC);
	if (w->fd < 0)
		return ERR_SYS;
	if ((rc = file_size(w->fd, &size)))
		return rc;
	if (size < SEG_HDR_LEN)
		return writer_rebuild_header(w, w->fd, size, rec);
	if ((rc = pread_all(w->fd, hdr, SEG_HDR_LEN, 0, &got)))
		return rc;
	rc = header_parse(hdr, &h, &why);
	if (rc == ERR_CORRUPT)
		return writer_rebuild_header(w, w->fd, size, rec);
	if (rc)
		return rc;
	if (h.segment != w->seg)
		return ERR_CORRUPT;

	memcpy(w->head, h.prev, LOG_HASH_LEN);
	w->next_index = h.first_index;
	if ((rc = scan_init(&s, w->fd, size, SEG_HDR_LEN)) || (rc = chain_begin(w->md, w->head)))
		goto out;
	uint32_t pending = 0;
	uint64_t good_end = SEG_HDR_LEN;
	for (;;) {
		int r = scan_next(&s, &f);
		if (r < 0) {
			rc = r;
			goto out;
		}
		if (r == SCAN_END)
			break;
		if (r == SCAN_BAD || r == SCAN_TORN) {
			bool found = false;
			if (r == SCAN_BAD && (rc = tail_has_frame(w->fd, s.resync, size, &found)))
				goto out;
			if (found) {
				rc = ERR_CORRUPT;
				goto out;
			}
			break;
		}
		if (f.type == FRAME_EVENT) {
			if (EVP_DigestUpdate(w->md, f.p, f.size) != 1) {
				rc = ERR_NOMEM;
				goto out;
			}
			pending++;
		} else {
			struct seal sl;
			uint8_t head[LOG_HASH_LEN];
			seal_parse(f.body, &sl);
			if ((rc = chain_end(w->md, head)))
				goto out;
			if (sl.count == 0 || sl.count != pending || sl.first != w->next_index ||
			    memcmp(sl.head, head, LOG_HASH_LEN) != 0) {
				rc = ERR_CORRUPT;
				goto out;
			}
			memcpy(w->head, head, LOG_HASH_LEN);
			w->next_index += pending;
			pending = 0;
			if ((rc = chain_begin(w->md, w->head)))
				goto out;
		}
		good_end = s.off;
	}

	if (good_end < size) {
		if (ftruncate(w->fd, (off_t)good_end) != 0) {
			rc = ERR_SYS;
			goto out;
		}
		rec->cut_bytes = size - good_end;
	}
	if (pending) {
		uint8_t frame[SEAL_FRAME_LEN];
		struct seal sl = { .count = pending, .first = w->next_index };
		if ((rc = chain_end(w->md, sl.head)))
			goto out;
		seal_build(frame, &sl);
		if ((rc = pwrite_all(w->fd, frame, SEAL_FRAME_LEN, good_end)))
			goto out;
		good_end += SEAL_FRAME_LEN;
		memcpy(w->head, sl.head, LOG_HASH_LEN);
		w->next_index += pending;
		rec->sealed_records = pending;
	}
	if ((rec->cut_bytes || pending) && fdatasync(w->fd) != 0) {
		rc = ERR_SYS;
		goto out;
	}
	w->seg_len = good_end;
	rc = 0;
out:
	scan_free(&s);
	return rc;
}

static void writer_free(struct log_writer *w)
{
	if (w->heads_fd >= 0)
		close(w->heads_fd);
	if (w->fd >= 0)
		close(w->fd);
	if (w->old_fd >= 0)
		close(w->old_fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	EVP_MD_CTX_free(w->md);
	free(w->buf);
	free(w);
}

/*
 * Appends a signed head for the current chain state. A failure is counted,
 * never passed on: the events matter more than the signature over them, and
 * the next signed head covers them again.
 */
static void writer_sign(struct log_writer *w, uint8_t kind, uint64_t now)
{
	uint8_t e[LOG_HEAD_ENTRY_LEN];
	struct log_signed_head h = {
		.kind = kind, .segment = w->seg, .index = w->next_index, .time_us = now
	};

	if (!w->key)
		return;
	memcpy(h.sensor, w->sensor, LOG_SENSOR_MAX);
	memcpy(h.head, w->head, LOG_HASH_LEN);
	sign_key_id(w->key, h.key_id);
	head_build_signed(e, &h);
	if (sign_data(w->key, e, LOG_HEAD_SIGNED, e + LOG_HEAD_SIGNED) != 0)
		goto out_err;
	put_be32(e + HEAD_CRC_OFF, crc32c(0, e, HEAD_CRC_OFF));
	if (pwrite_all(w->heads_fd, e, sizeof e, w->heads_len) != 0) {
		/* Leave no partial entry behind; the next one goes where this began. */
		if (ftruncate(w->heads_fd, (off_t)w->heads_len) != 0)
			w->st.sign_errors++;
		goto out_err;
	}
	w->heads_len += sizeof e;
	w->heads_dirty = true;
	w->st.signed_heads++;
	return;
out_err:
	w->st.sign_errors++;
}

static void writer_midnight(struct log_writer *w, uint64_t now)
{
	if (!w->key || now < w->midnight_us)
		return;
	writer_sign(w, LOG_HEAD_MIDNIGHT, now);
	w->midnight_us = next_midnight(now);
}

void log_writer_tick(struct log_writer *w, uint64_t now)
{
	writer_midnight(w, now);
}

/*
 * Opens the signed-heads file, cutting a torn last entry (a crash in the
 * middle of its write), and stores the public key beside the log so that a
 * verifier finds it. Called after recovery, so the first head signed is the
 * recovered one.
 */
static int writer_open_heads(struct log_writer *w, const char *dir)
{
	char name[64];
	char fp[33];
	uint64_t size;

	w->heads_fd = openat(w->dirfd, LOG_HEADS_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (w->heads_fd < 0)
		return ERR_SYS;
	if (file_size(w->heads_fd, &size))
		return ERR_SYS;
	w->heads_len = size - size % LOG_HEAD_ENTRY_LEN;
	if (w->heads_len != size && ftruncate(w->heads_fd, (off_t)w->heads_len) != 0)
		return ERR_SYS;
	sign_key_fingerprint(w->key, fp);
	snprintf(name, sizeof name, "%s%s.pub", LOG_KEY_PREFIX, fp);
	if (fstatat(w->dirfd, name, &(struct stat){ 0 }, 0) != 0) {
		size_t n = strlen(dir) + 1 + strlen(name) + 1;
		char *path = malloc(n);
		if (!path)
			return ERR_NOMEM;
		snprintf(path, n, "%s/%s", dir, name);
		int rc = sign_key_save_public(w->key, path, false);
		int e = errno;
		free(path);
		if (rc && !(rc == ERR_SYS && e == EEXIST)) {
			errno = e;
			return rc;
		}
		w->dir_dirty = true;
	}
	w->midnight_us = next_midnight(now_us());
	return 0;
}

int log_writer_open(struct log_writer **out, const struct log_writer_opts *opts,
		    struct log_recovery *rec)
{
	struct log_recovery dummy;
	struct log_writer *w = NULL;
	uint32_t *segs = NULL;
	size_t nsegs = 0;
	int rc;

	if (!out || !opts || !opts->dir || !opts->dir[0])
		return ERR_INVAL;
	if (opts->sign_key && !sign_key_has_private(opts->sign_key))
		return ERR_INVAL;
	const char *sensor = opts->sensor_id ? opts->sensor_id : "";
	if (strlen(sensor) >= LOG_SENSOR_MAX)
		return ERR_INVAL;
	*out = NULL;
	if (!rec)
		rec = &dummy;
	memset(rec, 0, sizeof *rec);

	if ((rc = mkdir_p(opts->dir)))
		return rc;
	w = calloc(1, sizeof *w);
	if (!w)
		return ERR_NOMEM;
	w->fd = w->old_fd = w->heads_fd = -1;
	w->key = opts->sign_key;
	w->seg_limit = opts->segment_bytes ? opts->segment_bytes : LOG_SEGMENT_DEFAULT;
	memcpy(w->sensor, sensor, strlen(sensor));
	static const uint8_t event_type = FRAME_EVENT;
	w->crc_event = crc32c(0, &event_type, 1);
	w->dirfd = open(opts->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		rc = ERR_SYS;
		goto out_free;
	}
	/* One writer per log: a second daemon on the same directory fails here. */
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) != 0) {
		rc = ERR_SYS;
		goto out_free;
	}
	w->cap = LOG_BATCH_INITIAL;
	w->buf = malloc(w->cap);
	w->md = EVP_MD_CTX_new();
	if (!w->buf || !w->md) {
		rc = ERR_NOMEM;
		goto out_free;
	}
	if ((rc = seg_list(w->dirfd, &segs, &nsegs)))
		goto out_free;
	if (nsegs == 0) {
		w->seg = 1;
		if ((rc = seg_create(w->dirfd, 1, w->sensor, w->head, 0, &w->fd)))
			goto out_free;
		w->seg_len = SEG_HDR_LEN;
		w->dir_dirty = true;
		w->st.bytes = SEG_HDR_LEN;
	} else {
		w->seg = segs[nsegs - 1];
		if ((rc = writer_recover(w, rec)))
			goto out_free;
	}
	if (w->key) {
		if ((rc = writer_open_heads(w, opts->dir)))
			goto out_free;
		writer_sign(w, LOG_HEAD_OPEN, now_us());
	}
	rec->segment = w->seg;
	rec->records = w->next_index;
	w->st.segment = w->seg;
	free(segs);
	*out = w;
	return 0;

out_free:;
	int e = errno;
	free(segs);
	writer_free(w);
	errno = e;
	return rc;
}

/* Grows the batch so `need` more bytes fit while keeping room for the seal. */
static int writer_grow(struct log_writer *w, size_t need)
{
	size_t want = w->len + need + SEAL_FRAME_LEN;
	if (want > LOG_BATCH_MAX)
		return ERR_FULL;
	size_t cap = w->cap * 2;
	if (cap < want)
		cap = want;
	if (cap > LOG_BATCH_MAX)
		cap = LOG_BATCH_MAX;
	uint8_t *p = realloc(w->buf, cap);
	if (!p)
		return ERR_NOMEM;
	w->buf = p;
	w->cap = cap;
	return 0;
}

int log_writer_append(struct log_writer *w, const uint8_t *rec, size_t len)
{
	if (len == 0 || len > EVENT_MAX_LEN)
		return ERR_LIMIT;
	size_t need = FRAME_HDR_LEN + len;
	if (need > w->cap - w->len - SEAL_FRAME_LEN) {
		int rc = writer_grow(w, need);
		if (rc)
			return rc;
	}
	uint8_t *p = w->buf + w->len;
	put_be32(p, (uint32_t)len);
	put_be32(p + 4, crc32c(w->crc_event, rec, len));
	p[8] = FRAME_EVENT;
	memcpy(p + FRAME_HDR_LEN, rec, len);
	w->len += need;
	w->batch_records++;
	return 0;
}

/*
 * Moves to a new segment. The finished one is not synced here, to keep
 * fsync off the commit path; its descriptor is kept until the next
 * log_writer_sync() makes its tail durable.
 */
static int writer_rotate(struct log_writer *w)
{
	int fd;
	int rc;

	if (w->seg == UINT32_MAX) {
		errno = EOVERFLOW;
		return ERR_SYS;
	}
	if (w->old_fd >= 0) {
		/* Two rotations without a sync in between: settle the older one now. */
		if (fdatasync(w->old_fd) != 0)
			return ERR_SYS;
		close(w->old_fd);
		w->old_fd = -1;
	}
	if ((rc = seg_create(w->dirfd, w->seg + 1, w->sensor, w->head, w->next_index, &fd)))
		return rc;
	/* The closed segment's final head, signed once its successor exists. */
	writer_sign(w, LOG_HEAD_SEGMENT, now_us());
	w->old_fd = w->fd;
	w->fd = fd;
	w->seg++;
	w->seg_len = SEG_HDR_LEN;
	w->tail_dirty = false;
	w->dir_dirty = true;
	w->st.segment = w->seg;
	w->st.bytes += SEG_HDR_LEN;
	return 0;
}

int log_writer_commit(struct log_writer *w)
{
	uint32_t n = w->batch_records;
	struct seal sl = { .count = n, .first = w->next_index };
	int rc;

	if (n == 0)
		return 0;
	/* The day's last head is the one before this batch. */
	if (w->key)
		writer_midnight(w, now_us());
	if ((rc = chain_hash(w->md, w->head, w->buf, w->len, sl.head)))
		goto out_drop;
	seal_build(w->buf + w->len, &sl);
	size_t total = w->len + SEAL_FRAME_LEN;

	/* A batch never spans segments; one bigger than a segment gets its own. */
	if (w->seg_len > SEG_HDR_LEN && w->seg_len + total > w->seg_limit) {
		if ((rc = writer_rotate(w)))
			goto out_drop;
	}
	if (w->tail_dirty) {
		if (ftruncate(w->fd, (off_t)w->seg_len) != 0) {
			rc = ERR_SYS;
			goto out_drop;
		}
		w->tail_dirty = false;
	}
	if ((rc = pwrite_all(w->fd, w->buf, total, w->seg_len))) {
		/* Part of the batch may be on disk: cut it so the segment ends on its
		 * last seal again. If even that fails, retry before the next write. */
		int e = errno;
		if (ftruncate(w->fd, (off_t)w->seg_len) != 0)
			w->tail_dirty = true;
		errno = e;
		goto out_drop;
	}
	w->seg_len += total;
	memcpy(w->head, sl.head, LOG_HASH_LEN);
	w->next_index += n;
	w->st.records += n;
	w->st.bytes += total;
	w->st.batches++;
	w->len = 0;
	w->batch_records = 0;
	return 0;

out_drop:;
	int e = errno;
	w->st.dropped += n;
	w->len = 0;
	w->batch_records = 0;
	errno = e;
	return rc;
}

int log_writer_sync(struct log_writer *w)
{
	if (w->old_fd >= 0) {
		if (fdatasync(w->old_fd) != 0)
			return ERR_SYS;
		close(w->old_fd);
		w->old_fd = -1;
	}
	if (fdatasync(w->fd) != 0)
		return ERR_SYS;
	if (w->heads_dirty) {
		if (fdatasync(w->heads_fd) != 0)
			return ERR_SYS;
		w->heads_dirty = false;
	}
	if (w->dir_dirty) {
		if (fsync(w->dirfd) != 0)
			return ERR_SYS;
		w->dir_dirty = false;
	}
	return 0;
}

void log_writer_stats(const struct log_writer *w, struct log_writer_stats *st)
{
	*st = w->st;
	st->segment = w->seg;
	st->segment_len = w->seg_len;
}

void log_pos_publish(struct log_pos_shared *s, const struct log_pos *pos)
{
	uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&s->segment, pos->segment, memory_order_relaxed);
	atomic_store_explicit(&s->offset, pos->offset, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void log_pos_read(struct log_pos_shared *s, struct log_pos *pos)
{
	for (;;) {
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		pos->segment = atomic_load_explicit(&s->segment, memory_order_relaxed);
		pos->offset = atomic_load_explicit(&s->offset, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (!(seq & 1) && atomic_load_explicit(&s->seq, memory_order_relaxed) == seq)
			return;
	}
}

int log_distance(const char *dir, const struct log_pos *from, const struct log_pos *to,
		 uint64_t *bytes)
{
	uint32_t seg = from->segment ? from->segment : 1;
	uint64_t off = from->segment ? from->offset : 0;
	uint64_t sum = 0;
	*bytes = 0;
	if (to->segment < seg || (to->segment == seg && to->offset <= off))
		return 0;
	/* Whole segments between the two: their files are sealed and will not change. */
	for (; seg < to->segment; seg++) {
		char name[SEG_NAME_LEN + 1], path[4096];
		struct stat st;
		seg_name(name, sizeof name, seg);
		int n = snprintf(path, sizeof path, "%s/%s", dir, name);
		if (n < 0 || (size_t)n >= sizeof path) {
			errno = ENAMETOOLONG;
			return ERR_SYS;
		}
		if (stat(path, &st) != 0)
			return ERR_SYS;
		uint64_t size = (uint64_t)st.st_size;
		sum += size > off ? size - off : 0;
		off = 0;
	}
	*bytes = sum + (to->offset > off ? to->offset - off : 0);
	return 0;
}

int log_writer_close(struct log_writer *w)
{
	if (!w)
		return 0;
	int rc = log_writer_commit(w);
	int e = errno;
	writer_sign(w, LOG_HEAD_CLOSE, now_us());
	int rc2 = log_writer_sync(w);
	if (!rc) {
		rc = rc2;
		e = errno;
	}
	writer_free(w);
	errno = e;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */

/*
 * The buffer holds file bytes [base, base + len) of the current segment.
 * Offsets: cur (next record to hand out) <= sealed (end of the last seal
 * read) <= scan (next frame to check). Frames in [cur, sealed) are checked
 * and covered by a seal; [sealed, scan) are checked but not yet sealed, so
 * the reader reads ahead until it meets their seal.
 */
struct log_reader {
	int dirfd;
	int fd; /* current segment; -1 until it exists */
	uint32_t seg;
	uint64_t start_off; /* where to begin once seg is opened */
	char sensor[LOG_SENSOR_MAX];
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint64_t base;
	uint64_t cur;
	uint64_t sealed;
	uint64_t scan;
	uint32_t pending; /* event frames in [sealed, scan) */
	bool count_exact; /* the reader saw the current batch from its start */
	bool idx_known;
	uint64_t idx; /* log index of the first record after `sealed` */
	bool retried;
};

/* Opens segment r->seg at r->start_off. ERR_END when it is not there (whole) yet. */
static int reader_open_seg(struct log_reader *r)
{
	char name[32];
	uint8_t hdr[SEG_HDR_LEN];
	struct seg_header h;
	const char *why;
	size_t got;
	uint64_t size;

	seg_name(name, sizeof name, r->seg);
	int fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ERR_END : ERR_SYS;
	int rc = pread_all(fd, hdr, SEG_HDR_LEN, 0, &got);
	if (rc)
		goto out_close;
	if (got < SEG_HDR_LEN) {
		rc = ERR_END; /* being created */
		goto out_close;
	}
	rc = header_parse(hdr, &h, &why);
	if (rc == ERR_CORRUPT) {
		/* A header that is bad with nothing behind it is a creation in
		 * progress or a torn one that recovery will rewrite. */
		if (file_size(fd, &size) == 0 && size <= SEG_HDR_LEN)
			rc = ERR_END;
		goto out_close;
	}
	if (rc)
		goto out_close;
	if (h.segment != r->seg) {
		rc = ERR_CORRUPT;
		goto out_close;
	}
	uint64_t off = r->start_off < SEG_HDR_LEN ? SEG_HDR_LEN : r->start_off;
	r->fd = fd;
	memcpy(r->sensor, h.sensor, LOG_SENSOR_MAX);
	r->base = r->cur = r->sealed = r->scan = off;
	r->len = 0;
	r->pending = 0;
	r->retried = false;
	r->count_exact = off == SEG_HDR_LEN;
	r->idx_known = r->count_exact;
	r->idx = h.first_index;
	return 0;
out_close:
	close(fd);
	return rc;
}

int log_reader_open(struct log_reader **out, const char *dir, const struct log_pos *start)
{
	uint32_t *segs = NULL;
	size_t nsegs = 0;
	int rc;

	if (!out || !dir)
		return ERR_INVAL;
	*out = NULL;
	if (start && start->segment && start->offset && start->offset < SEG_HDR_LEN)
		return ERR_INVAL;
	struct log_reader *r = calloc(1, sizeof *r);
	if (!r)
		return ERR_NOMEM;
	r->fd = -1;
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		rc = errno == ENOENT ? ERR_NOT_FOUND : ERR_SYS;
		goto out_free;
	}
	r->cap = READ_BLOCK + FRAME_MAX;
	r->buf = malloc(r->cap);
	if (!r->buf) {
		rc = ERR_NOMEM;
		goto out_free;
	}
	if ((rc = seg_list(r->dirfd, &segs, &nsegs)))
		goto out_free;
	if (!start || !start->segment) {
		r->seg = nsegs ? segs[0] : 1;
		r->start_off = SEG_HDR_LEN;
	} else {
		r->seg = start->segment;
		r->start_off = start->offset;
	}
	rc = reader_open_seg(r);
	if (rc == ERR_END) {
		/* Not there yet is fine for a follower, but not when later ones
		 * exist: then the asked-for segment is gone. */
		rc = 0;
		if (nsegs && segs[nsegs - 1] > r->seg && !seg_exists(r->dirfd, r->seg))
			rc = ERR_NOT_FOUND;
	}
	if (rc)
		goto out_free;
	free(segs);
	*out = r;
	return 0;
out_free:;
	int e = errno;
	free(segs);
	log_reader_close(r);
	errno = e;
	return rc;
}

/* Reads more of the segment; returns bytes read (0 at EOF) or an error. */
static int64_t reader_fill(struct log_reader *r)
{
	size_t skip = (size_t)(r->cur - r->base);
	if (skip) {
		memmove(r->buf, r->buf + skip, r->len - skip);
		r->len -= skip;
		r->base = r->cur;
	}
	if (r->cap - r->len < READ_BLOCK) {
		/* A batch is only handed out once its seal is read, so the buffer
		 * holds the batch whole; the writer caps batches, so must we. */
		if (r->len + READ_BLOCK > READER_BUF_MAX)
			return ERR_CORRUPT;
		size_t cap = r->cap * 2;
		if (cap < r->len + READ_BLOCK)
			cap = r->len + READ_BLOCK;
		if (cap > READER_BUF_MAX)
			cap = READER_BUF_MAX;
		uint8_t *p = realloc(r->buf, cap);
		if (!p)
			return ERR_NOMEM;
		r->buf = p;
		r->cap = cap;
	}
	for (;;) {
		ssize_t n =
			pread(r->fd, r->buf + r->len, r->cap - r->len, (off_t)(r->base + r->len));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ERR_SYS;
		r->len += (size_t)n;
		return n;
	}
}

/* Forgets what was read past the last seal, so it is read again from disk. */
static void reader_drop_unsealed(struct log_reader *r)
{
	r->len = (size_t)(r->sealed - r->base);
	r->scan = r->sealed;
	r->pending = 0;
}

/*
 * A frame at r->scan failed a check. A concurrent writer whose write failed
 * truncates and rewrites its tail, so a first fault is retried from the
 * last seal. A fault that stays is corruption, unless it sits in the last
 * segment with no whole frame after it: a torn tail that the writer's
 * recovery will cut, so there is just nothing more to read yet.
 */
static int reader_fault(struct log_reader *r, uint64_t resync)
{
	uint64_t size;
	bool found = false;
	int rc;

	if (!r->retried) {
		r->retried = true;
		reader_drop_unsealed(r);
		return 0;
	}
	if (seg_exists(r->dirfd, r->seg + 1))
		return ERR_CORRUPT;
	if ((rc = file_size(r->fd, &size)) || (rc = tail_has_frame(r->fd, resync, size, &found)))
		return rc;
	if (found)
		return ERR_CORRUPT;
	reader_drop_unsealed(r);
	r->retried = false;
	return ERR_END;
}

/* Checks frames from r->scan until a seal closes the batch: 0, ERR_END at EOF, or an error. */
static int reader_scan_batch(struct log_reader *r)
{
	int rc;
	for (;;) {
		size_t have = (size_t)(r->base + r->len - r->scan);
		const uint8_t *p = r->buf + (r->scan - r->base);
		if (have < FRAME_HDR_LEN) {
			int64_t n = reader_fill(r);
			if (n < 0)
				return (int)n;
			if (n == 0)
				return ERR_END;
			continue;
		}
		uint32_t len = get_be32(p);
		uint8_t type = p[8];
		if (!frame_plausible(type, len)) {
			if ((rc = reader_fault(r, r->scan + 1)))
				return rc;
			continue;
		}
		if (have < FRAME_HDR_LEN + (size_t)len) {
			int64_t n = reader_fill(r);
			if (n < 0)
				return (int)n;
			if (n == 0)
				return ERR_END;
			continue;
		}
		uint64_t end = r->scan + FRAME_HDR_LEN + len;
		if (!frame_crc_ok(p, len)) {
			if ((rc = reader_fault(r, end)))
				return rc;
			continue;
		}
		if (type == FRAME_EVENT) {
			r->pending++;
			r->scan = end;
			continue;
		}
		struct seal sl;
		seal_parse(p + FRAME_HDR_LEN, &sl);
		bool ok = sl.count > 0 &&
			  (r->count_exact ? sl.count == r->pending : sl.count >= r->pending) &&
			  (!r->idx_known || sl.first == r->idx);
		if (!ok) {
			if ((rc = reader_fault(r, end)))
				return rc;
			continue;
		}
		r->scan = r->sealed = end;
		r->idx = sl.first + sl.count;
		r->idx_known = true;
		r->count_exact = true;
		r->pending = 0;
		r->retried = false;
		return 0;
	}
}

/* Nothing more in this segment right now: move to the next one if the writer has. */
static int reader_at_eof(struct log_reader *r)
{
	if (!seg_exists(r->dirfd, r->seg + 1)) {
		reader_drop_unsealed(r);
		return ERR_END;
	}
	/* The writer finished this segment before creating the next one; what
	 * it wrote between our last read and the rotation is there now. */
	int64_t n = reader_fill(r);
	if (n < 0)
		return (int)n;
	if (n > 0)
		return 0;
	if (r->base + r->len > r->sealed)
		return ERR_CORRUPT; /* unsealed or torn data at the end of a finished segment */
	close(r->fd);
	r->fd = -1;
	r->seg++;
	r->start_off = SEG_HDR_LEN;
	return 0;
}

int log_reader_next(struct log_reader *r, struct log_record *rec)
{
	int rc;
	for (;;) {
		if (r->fd < 0 && (rc = reader_open_seg(r)))
			return rc;
		if (r->cur < r->sealed) {
			const uint8_t *p = r->buf + (r->cur - r->base);
			uint32_t len = get_be32(p);
			uint64_t next = r->cur + FRAME_HDR_LEN + len;
			if (p[8] != FRAME_EVENT) {
				r->cur = next;
				continue;
			}
			/* Step over the seal that may follow, so `next` names a record or the
			 * end of the segment, never a seal. */
			while (next < r->sealed && r->buf[next - r->base + 8] == FRAME_SEAL)
				next += SEAL_FRAME_LEN;
			rec->data = p + FRAME_HDR_LEN;
			rec->len = len;
			rec->pos.segment = r->seg;
			rec->pos.offset = r->cur;
			rec->next.segment = r->seg;
			rec->next.offset = next;
			rec->sensor_id = r->sensor;
			r->cur = next;
			return 0;
		}
		rc = reader_scan_batch(r);
		if (rc == ERR_END)
			rc = reader_at_eof(r);
		if (rc)
			return rc;
	}
}

void log_reader_close(struct log_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->buf);
	free(r);
}

/* ------------------------------------------------------------------------ */
/* Verify                                                                    */

struct verify {
	struct log_verify_report *rep;
	const struct log_verify_opts *o;
	EVP_MD_CTX *md;
	uint64_t index; /* records in the log so far */
	int dirfd;
	bool first;		       /* the next segment is the first one checked */
	struct log_signed_head *heads; /* in file order, which is index order */
	size_t n_heads;
	size_t next_head;	    /* the first not yet met by the chain walk */
	struct sign_key **own_keys; /* loaded from the directory */
	size_t n_own_keys;
};

__attribute__((format(printf, 5, 6))) static void
verify_fault(struct verify *v, uint32_t seg, uint64_t off, uint64_t record, const char *fmt, ...)
{
	va_list ap;
	v->rep->ok = false;
	v->rep->bad_segment = seg;
	v->rep->bad_offset = off;
	v->rep->bad_record = record;
	va_start(ap, fmt);
	vsnprintf(v->rep->reason, sizeof v->rep->reason, fmt, ap);
	va_end(ap);
}

static void fmt_time(uint64_t us, char *buf, size_t cap)
{
	struct tm tm;
	time_t t = (time_t)(us / 1000000u);
	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "%" PRIu64 " us", us);
}

__attribute__((format(printf, 3, 4))) static void
verify_heads_fault(struct verify *v, uint64_t entry, const char *fmt, ...)
{
	va_list ap;
	v->rep->ok = false;
	v->rep->bad_in_heads = true;
	v->rep->bad_segment = 0;
	v->rep->bad_offset = entry * LOG_HEAD_ENTRY_LEN;
	v->rep->bad_record = entry;
	va_start(ap, fmt);
	vsnprintf(v->rep->reason, sizeof v->rep->reason, fmt, ap);
	va_end(ap);
}

static bool key_name_ok(const char *name)
{
	size_t n = strlen(name), pl = strlen(LOG_KEY_PREFIX);
	return n > pl + 4 && !memcmp(name, LOG_KEY_PREFIX, pl) && !strcmp(name + n - 4, ".pub");
}

/* Loads the public keys stored beside the log (used when the caller trusts none explicitly). */
static int verify_load_dir_keys(struct verify *v, const char *dir)
{
	int fd = openat(v->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ERR_SYS;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ERR_SYS;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && v->n_own_keys < 64) {
		if (!key_name_ok(de->d_name))
			continue;
		size_t n = strlen(dir) + 1 + strlen(de->d_name) + 1;
		char *path = malloc(n);
		if (!path) {
			rc = ERR_NOMEM;
			break;
		}
		snprintf(path, n, "%s/%s", dir, de->d_name);
		struct sign_key *k = NULL;
		int lrc = sign_key_load(path, &k);
		free(path);
		if (lrc) {
			verify_heads_fault(v, 0, "key file %s is not a readable Ed25519 public key",
					   de->d_name);
			break;
		}
		struct sign_key **nk = realloc(v->own_keys, (v->n_own_keys + 1) * sizeof *nk);
		if (!nk) {
			sign_key_free(k);
			rc = ERR_NOMEM;
			break;
		}
		v->own_keys = nk;
		v->own_keys[v->n_own_keys++] = k;
	}
	closedir(d);
	return rc;
}

static const struct sign_key *verify_find_key(struct verify *v, const uint8_t *id)
{
	struct sign_key *const *keys = v->o->n_keys ? v->o->keys : v->own_keys;
	size_t n = v->o->n_keys ? v->o->n_keys : v->n_own_keys;
	uint8_t kid[SIGN_ID_LEN];
	for (size_t i = 0; i < n; i++) {
		sign_key_id(keys[i], kid);
		if (!memcmp(kid, id, SIGN_ID_LEN))
			return keys[i];
	}
	return NULL;
}

/*
 * Reads the signed heads and checks each one on its own: framing, CRC,
 * order, and its signature by a trusted key. Whether each matches the
 * chain is checked during the walk over the segments.
 */
static int verify_load_heads(struct verify *v, const char *dir)
{
	uint8_t *buf = NULL;
	uint64_t size;
	size_t got;
	int rc = 0;

	int fd = openat(v->dirfd, LOG_HEADS_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : ERR_SYS;
	if ((rc = file_size(fd, &size)))
		goto out;
	if (size > ((uint64_t)1 << 30)) {
		verify_heads_fault(v, 0, "%s is implausibly large", LOG_HEADS_FILE);
		goto out;
	}
	size_t n = (size_t)(size / LOG_HEAD_ENTRY_LEN);
	buf = malloc(size ? (size_t)size : 1);
	v->heads = calloc(n ? n : 1, sizeof *v->heads);
	if (!buf || !v->heads) {
		rc = ERR_NOMEM;
		goto out;
	}
	if ((rc = pread_all(fd, buf, (size_t)size, 0, &got)))
		goto out;
	if (got != size) {
		verify_heads_fault(v, n, "%s shrank while it was being read", LOG_HEADS_FILE);
		goto out;
	}
	if (!v->o->n_keys && (rc = verify_load_dir_keys(v, dir)))
		goto out;
	if (!v->rep->ok)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct log_signed_head *h = &v->heads[i];
		const uint8_t *e = buf + i * LOG_HEAD_ENTRY_LEN;
		char fp[33];
		int prc = log_head_parse(e, h);
		if (prc) {
			verify_heads_fault(
				v, i, "signed head %zu: %s (the entry was altered or is not one)",
				i,
				prc == ERR_UNSUPPORTED ? "unsupported version" :
							 "bad magic or CRC mismatch");
			goto out;
		}
		if (i && h->index < v->heads[i - 1].index) {
			verify_heads_fault(
				v, i,
				"signed head %zu covers %" PRIu64
				" records, fewer than the one before it (entries reordered)",
				i, h->index);
			goto out;
		}
		const struct sign_key *k = verify_find_key(v, h->key_id);
		for (int j = 0; j < 16; j++)
			snprintf(fp + 2 * j, 3, "%02x", h->key_id[j]);
		if (!k) {
			verify_heads_fault(
				v, i,
				"signed head %zu is signed by key %s, which is not among "
				"the trusted keys",
				i, fp);
			goto out;
		}
		if (!sign_check(k, e, LOG_HEAD_SIGNED, h->sig)) {
			verify_heads_fault(
				v, i,
				"signed head %zu: the Ed25519 signature by key %s does not "
				"verify (the entry was altered)",
				i, fp);
			goto out;
		}
	}
	v->n_heads = n;
	if (size % LOG_HEAD_ENTRY_LEN) {
		verify_heads_fault(v, n, "%s ends in a partial entry (%" PRIu64 " stray bytes)",
				   LOG_HEADS_FILE, size % LOG_HEAD_ENTRY_LEN);
		goto out;
	}
	if (n && !v->o->n_keys && !v->n_own_keys)
		verify_heads_fault(v, 0,
				   "the log has signed heads but no public key to check "
				   "them (give one with --key)");
out:
	free(buf);
	close(fd);
	return rc;
}

/*
 * The chain walk has reached record v->index with head rep->head (at a seal,
 * or a segment's start): every signed head for this point must name this
 * head, and none may fall strictly between the previous point and this one.
 */
static bool verify_heads_at(struct verify *v, uint32_t seg, uint64_t off)
{
	struct log_verify_report *rep = v->rep;
	char when[40];
	while (v->next_head < v->n_heads && v->heads[v->next_head].index <= v->index) {
		const struct log_signed_head *h = &v->heads[v->next_head];
		fmt_time(h->time_us, when, sizeof when);
		if (h->index < v->index) {
			verify_fault(v, seg, off, h->index,
				     "the %s head signed at %s covers %" PRIu64
				     " records, which is not a batch boundary of this log "
				     "(records inserted or removed)",
				     log_head_kind_name(h->kind), when, h->index);
			return false;
		}
		if (memcmp(h->head, rep->head, LOG_HASH_LEN) != 0) {
			verify_fault(v, seg, off, h->index,
				     "the chain head after %" PRIu64
				     " records differs from the %s head signed at %s (records "
				     "before this point were altered and the chain rebuilt)",
				     h->index, log_head_kind_name(h->kind), when);
			return false;
		}
		rep->signed_heads++;
		rep->signed_any = true;
		rep->last_signed_index = h->index;
		rep->last_signed_time_us = h->time_us;
		memcpy(rep->key_id, h->key_id, sizeof rep->key_id);
		v->next_head++;
	}
	return true;
}

/* Checks one segment; returns 0 (look at rep->ok) or a system error. */
static int verify_segment(struct verify *v, uint32_t seg, bool last)
{
	struct log_verify_report *rep = v->rep;
	char name[32];
	uint8_t hdr[SEG_HDR_LEN];
	struct seg_header h;
	struct scan s = { .buf = NULL };
	struct frame f;
	const char *why;
	uint64_t size;
	size_t got;
	int rc;

	seg_name(name, sizeof name, seg);
	int fd = openat(v->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ERR_SYS;
	if ((rc = file_size(fd, &size)))
		goto out;
	if (size < SEG_HDR_LEN) {
		verify_fault(v, seg, 0, v->index, "segment header is truncated (%" PRIu64 " bytes)",
			     size);
		goto out;
	}
	if ((rc = pread_all(fd, hdr, SEG_HDR_LEN, 0, &got)))
		goto out;
	if (got < SEG_HDR_LEN || header_parse(hdr, &h, &why) != 0) {
		verify_fault(v, seg, 0, v->index, "%s", got < SEG_HDR_LEN ? "segment shrank" : why);
		goto out;
	}
	if (h.segment != seg) {
		verify_fault(v, seg, 0, v->index,
			     "file %s holds segment %" PRIu32 " (segments moved or swapped)", name,
			     h.segment);
		goto out;
	}
	if (v->first) {
		/* A partial log (a bundle) starts where its first segment says. */
		v->first = false;
		if (v->o->partial) {
			v->index = rep->first_record = h.first_index;
			memcpy(rep->head, h.prev, LOG_HASH_LEN);
			while (v->next_head < v->n_heads && v->heads[v->next_head].index < v->index)
				v->next_head++;
			uint64_t before = rep->signed_heads;
			if (!verify_heads_at(v, seg, 0))
				goto out;
			if (seg != 1 && rep->signed_heads == before) {
				verify_fault(
					v, seg, 0, v->index,
					"the first segment continues the chain from a head that "
					"no signed head vouches for");
				goto out;
			}
		}
	}
	if (h.first_index != v->index) {
		verify_fault(v, seg, 0, v->index,
			     "header says the segment starts at record %" PRIu64
			     ", the segments before it hold %" PRIu64 " records",
			     h.first_index, v->index);
		goto out;
	}
	if (memcmp(h.prev, rep->head, LOG_HASH_LEN) != 0) {
		verify_fault(v, seg, 0, v->index,
			     "chain broken: header's previous head differs from the end of the "
			     "segment before");
		goto out;
	}
	if (!verify_heads_at(v, seg, 0))
		goto out;

	if ((rc = scan_init(&s, fd, size, SEG_HDR_LEN)) || (rc = chain_begin(v->md, rep->head)))
		goto out;
	uint32_t pending = 0;
	uint64_t batch_off = SEG_HDR_LEN;
	for (;;) {
		int r = scan_next(&s, &f);
		if (r < 0) {
			rc = r;
			goto out;
		}
		if (r == SCAN_END)
			break;
		if (r != SCAN_FRAME) {
			verify_fault(v, seg, s.off, v->index + pending, "%s", s.why);
			goto out;
		}
		if (f.type == FRAME_EVENT) {
			if (pending == 0)
				batch_off = f.off;
			if (EVP_DigestUpdate(v->md, f.p, f.size) != 1) {
				rc = ERR_NOMEM;
				goto out;
			}
			pending++;
			continue;
		}
		struct seal sl;
		uint8_t head[LOG_HASH_LEN];
		seal_parse(f.body, &sl);
		if ((rc = chain_end(v->md, head)))
			goto out;
		if (sl.count == 0) {
			verify_fault(v, seg, f.off, v->index, "seal closes an empty batch");
			goto out;
		}
		if (sl.count != pending) {
			verify_fault(v, seg, batch_off, v->index,
				     "seal counts %" PRIu32 " records but the batch holds %" PRIu32
				     " (records removed or inserted)",
				     sl.count, pending);
			goto out;
		}
		if (sl.first != v->index) {
			verify_fault(v, seg, f.off, v->index,
				     "seal says the batch starts at record %" PRIu64
				     ", expected %" PRIu64,
				     sl.first, v->index);
			goto out;
		}
		if (memcmp(sl.head, head, LOG_HASH_LEN) != 0) {
			verify_fault(v, seg, batch_off, v->index,
				     "chain broken: the batch's records do not hash to its seal "
				     "(records altered, removed or inserted)");
			goto out;
		}
		memcpy(rep->head, head, LOG_HASH_LEN);
		v->index += pending;
		rep->records += pending;
		rep->batches++;
		pending = 0;
		if (!verify_heads_at(v, seg, f.off))
			goto out;
		if ((rc = chain_begin(v->md, rep->head)))
			goto out;
	}
	if (pending) {
		verify_fault(v, seg, batch_off, v->index,
			     "%" PRIu32 " records after the segment's last seal are not sealed%s",
			     pending, last ? " (torn or unrecovered tail)" : "");
		goto out;
	}
out:
	scan_free(&s);
	close(fd);
	return rc;
}

int log_verify_with(const char *dir, const struct log_verify_opts *opts,
		    struct log_verify_report *rep)
{
	static const struct log_verify_opts defaults;
	struct verify v = { .rep = rep, .dirfd = -1, .o = opts ? opts : &defaults, .first = true };
	uint32_t *segs = NULL;
	size_t nsegs = 0;
	uint32_t last = 0;
	int rc;

	if (!dir || !rep)
		return ERR_INVAL;
	memset(rep, 0, sizeof *rep);
	rep->ok = true;
	v.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v.dirfd < 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_SYS;
	if ((rc = seg_list(v.dirfd, &segs, &nsegs)))
		goto out;
	if (nsegs == 0) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	v.md = EVP_MD_CTX_new();
	if (!v.md) {
		rc = ERR_NOMEM;
		goto out;
	}
	if ((rc = verify_load_heads(&v, dir)) || !rep->ok)
		goto out;
	uint32_t base = v.o->partial ? segs[0] : 1;
	rep->first_segment = base;
	for (size_t i = 0; i < nsegs && rep->ok; i++) {
		uint32_t want = (uint32_t)(base + i);
		if (segs[i] != want) {
			verify_fault(&v, want, 0, v.index,
				     "segment %" PRIu32 " is missing (next present is %" PRIu32 ")",
				     want, segs[i]);
			break;
		}
		rep->segments++;
		last = segs[i];
		if ((rc = verify_segment(&v, segs[i], i + 1 == nsegs)))
			goto out;
	}
	if (!rep->ok)
		goto out;
	if (v.next_head < v.n_heads) {
		const struct log_signed_head *h = &v.heads[v.next_head];
		char when[40], name[32];
		uint64_t size = 0;
		struct stat st;
		fmt_time(h->time_us, when, sizeof when);
		seg_name(name, sizeof name, last);
		if (fstatat(v.dirfd, name, &st, 0) == 0)
			size = (uint64_t)st.st_size;
		verify_fault(&v, last, size, v.index,
			     "the %s head signed at %s covers %" PRIu64
			     " records but the log ends after %" PRIu64
			     " (records or segments removed from the end)",
			     log_head_kind_name(h->kind), when, h->index, v.index);
		goto out;
	}
	rep->unsigned_records =
		v.index - (rep->signed_any ? rep->last_signed_index : rep->first_record);
	if (v.o->require_signed && !rep->signed_any)
		verify_fault(&v, last, 0, v.index, "no signed head covers any part of the log");
out:;
	int e = errno;
	EVP_MD_CTX_free(v.md);
	free(segs);
	free(v.heads);
	for (size_t i = 0; i < v.n_own_keys; i++)
		sign_key_free(v.own_keys[i]);
	free(v.own_keys);
	close(v.dirfd);
	errno = e;
	return rc;
}

int log_verify(const char *dir, struct log_verify_report *rep)
{
	return log_verify_with(dir, NULL, rep);
}

/* ------------------------------------------------------------------------ */
/* Listing segments, for export                                              */

int log_segments(const char *dir, struct log_segment_info **out, size_t *n_out)
{
	uint32_t *segs = NULL;
	size_t nsegs = 0;
	struct log_segment_info *v = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_SYS;
	if ((rc = seg_list(dirfd, &segs, &nsegs)))
		goto out;
	v = calloc(nsegs ? nsegs : 1, sizeof *v);
	if (!v) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nsegs; i++) {
		char name[32];
		uint8_t hdr[SEG_HDR_LEN];
		struct seg_header h;
		const char *why;
		size_t got;
		uint64_t size;
		seg_name(name, sizeof name, segs[i]);
		int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		bool ok = pread_all(fd, hdr, SEG_HDR_LEN, 0, &got) == 0 && got == SEG_HDR_LEN &&
			  header_parse(hdr, &h, &why) == 0 && file_size(fd, &size) == 0;
		close(fd);
		if (!ok)
			continue;
		v[n].segment = segs[i];
		v[n].first_index = h.first_index;
		v[n].created_us = h.created_us;
		v[n].size = size;
		n++;
	}
	*out = v;
	*n_out = n;
	v = NULL;
out:
	free(v);
	free(segs);
	close(dirfd);
	return rc;
}

int log_segment_sealed_size(const char *dir, uint32_t seg, uint64_t *size_out, uint64_t *end_index)
{
	char name[32];
	uint8_t hdr[SEG_HDR_LEN];
	struct seg_header h;
	const char *why;
	struct scan s = { .buf = NULL };
	struct frame f;
	uint64_t size, end = SEG_HDR_LEN;
	size_t got;
	int rc;

	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_SYS;
	seg_name(name, sizeof name, seg);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	close(dirfd);
	if (fd < 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_SYS;
	if ((rc = file_size(fd, &size)))
		goto out;
	if (size < SEG_HDR_LEN) {
		rc = ERR_CORRUPT;
		goto out;
	}
	if ((rc = pread_all(fd, hdr, SEG_HDR_LEN, 0, &got)))
		goto out;
	if (got < SEG_HDR_LEN || header_parse(hdr, &h, &why) != 0 || h.segment != seg) {
		rc = ERR_CORRUPT;
		goto out;
	}
	*end_index = h.first_index;
	if ((rc = scan_init(&s, fd, size, SEG_HDR_LEN)))
		goto out;
	for (;;) {
		int r = scan_next(&s, &f);
		if (r < 0) {
			rc = r;
			goto out;
		}
		if (r == SCAN_END || r == SCAN_TORN)
			break;
		if (r == SCAN_BAD) {
			/* Bad bytes with whole frames after them are damage, not a tail being written. */
			bool found = false;
			if ((rc = tail_has_frame(fd, s.resync, size, &found)))
				goto out;
			if (found)
				rc = ERR_CORRUPT;
			break;
		}
		if (f.type == FRAME_SEAL) {
			struct seal sl;
			seal_parse(f.body, &sl);
			end = s.off;
			*end_index = sl.first + sl.count;
		}
	}
	*size_out = end;
out:
	scan_free(&s);
	close(fd);
	return rc;
}
