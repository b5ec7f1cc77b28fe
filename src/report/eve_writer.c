/* eve_writer.c — follow the log, write EVE JSON lines, keep the position. */
#include "report/eve_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/dlog.h"
#include "core/dynbuf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "report/eve.h"

#define EVE_FLUSH_BYTES	 (256u * 1024)
#define EVE_POLL_NS	 50000000L
#define EVE_POS_EVERY_MS 1000

struct eve_writer {
	char *log_dir;
	char *path;
	char *pos_path;
	int fd;
	pthread_t thread;
	_Atomic bool stop;
	_Atomic bool reopen;
	_Atomic uint64_t written;
	struct log_pos pos;
	struct log_pos_shared shared; /* pos, for metrics (eve_writer_position) */
};

static int eve_open_file(struct eve_writer *e)
{
	int fd = open(e->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		dlog(DLOG_ERROR, "eve: cannot open %s: %s", e->path, strerror(errno));
		return ERR_SYS;
	}
	if (e->fd >= 0)
		close(e->fd);
	e->fd = fd;
	return 0;
}

static void eve_load_pos(struct eve_writer *e)
{
	FILE *f = fopen(e->pos_path, "r");
	if (!f)
		return;
	char line[128];
	if (fgets(line, sizeof line, f)) {
		char *end;
		errno = 0;
		unsigned long seg = strtoul(line, &end, 10);
		if (!errno && *end == ':') {
			unsigned long long off = strtoull(end + 1, &end, 10);
			if (!errno && seg <= UINT32_MAX) {
				e->pos.segment = (uint32_t)seg;
				e->pos.offset = off;
			}
		}
	}
	fclose(f);
}

static void eve_save_pos(struct eve_writer *e)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", e->pos_path);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%" PRIu32 ":%" PRIu64 "\n", e->pos.segment, e->pos.offset);
	if (fclose(f) == 0)
		rename(tmp, e->pos_path);
}

static bool eve_flush(struct eve_writer *e, struct dynbuf *b)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(e->fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dlog(DLOG_ERROR, "eve: write to %s failed: %s; will retry", e->path,
			     strerror(errno));
			return false;
		}
		off += (size_t)n;
	}
	dynbuf_reset(b);
	return true;
}

static void *eve_main(void *arg)
{
	struct eve_writer *e = arg;
	struct log_reader *r = NULL;
	struct dynbuf b;
	dynbuf_init(&b, 64u << 20);
	uint64_t last_pos_save = time_mono_ms();
	struct log_pos pending_pos = e->pos;
	for (;;) {
		bool stopping = atomic_load(&e->stop);
		if (atomic_exchange(&e->reopen, false))
			eve_open_file(e);
		if (!r && log_reader_open(&r, e->log_dir, &e->pos) != 0) {
			r = NULL;
			if (stopping)
				break;
			struct timespec ts = { 0, EVE_POLL_NS };
			nanosleep(&ts, NULL);
			continue;
		}
		struct log_record rec;
		int rc = ERR_END;
		unsigned batch = 0;
		while (b.len < EVE_FLUSH_BYTES && (rc = log_reader_next(r, &rec)) == 0) {
			if (eve_format(rec.data, rec.len, rec.sensor_id, &b) == 0)
				batch++;
			pending_pos = rec.next;
		}
		if (b.len && eve_flush(e, &b)) {
			e->pos = pending_pos;
			atomic_fetch_add(&e->written, batch);
		} else if (!b.len) {
			e->pos = pending_pos;
		}
		log_pos_publish(&e->shared, &e->pos);
		uint64_t now = time_mono_ms();
		if (now - last_pos_save >= EVE_POS_EVERY_MS) {
			eve_save_pos(e);
			last_pos_save = now;
		}
		if (b.len >= EVE_FLUSH_BYTES)
			continue;
		if (rc == ERR_CORRUPT) {
			dlog(DLOG_ERROR,
			     "eve: corrupt log at segment %" PRIu32 " offset %" PRIu64
			     "; EVE output stopped",
			     e->pos.segment, e->pos.offset);
			break;
		}
		if (stopping)
			break;
		struct timespec ts = { 0, EVE_POLL_NS };
		nanosleep(&ts, NULL);
	}
	if (b.len && eve_flush(e, &b))
		e->pos = pending_pos;
	eve_save_pos(e);
	dynbuf_free(&b);
	if (r)
		log_reader_close(r);
	return NULL;
}

int eve_writer_start(struct eve_writer **out, const char *log_dir, const char *path)
{
	struct eve_writer *e = calloc(1, sizeof *e);
	if (!e)
		return ERR_NOMEM;
	e->fd = -1;
	e->log_dir = strdup(log_dir);
	e->path = strdup(path);
	size_t plen = strlen(path) + 5;
	e->pos_path = malloc(plen);
	if (!e->log_dir || !e->path || !e->pos_path)
		goto fail;
	snprintf(e->pos_path, plen, "%s.pos", path);
	if (eve_open_file(e) != 0)
		goto fail;
	eve_load_pos(e);
	log_pos_publish(&e->shared, &e->pos);
	if (pthread_create(&e->thread, NULL, eve_main, e) != 0)
		goto fail;
	*out = e;
	return 0;
fail:
	if (e->fd >= 0)
		close(e->fd);
	free(e->log_dir);
	free(e->path);
	free(e->pos_path);
	free(e);
	return ERR_SYS;
}

void eve_writer_reopen(struct eve_writer *e)
{
	atomic_store(&e->reopen, true);
}

void eve_writer_position(struct eve_writer *e, struct log_pos *pos)
{
	log_pos_read(&e->shared, pos);
}

uint64_t eve_writer_written(struct eve_writer *e)
{
	return atomic_load(&e->written);
}

void eve_writer_stop(struct eve_writer *e)
{
	if (!e)
		return;
	atomic_store(&e->stop, true);
	pthread_join(e->thread, NULL);
	close(e->fd);
	free(e->log_dir);
	free(e->path);
	free(e->pos_path);
	free(e);
}
