/* chttp.c — POST a query to ClickHouse's HTTP interface with libcurl; retries with backoff. */
#include "store/chttp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/dynbuf.h"
#include "core/err.h"

#define CHTTP_URL_MAX	  512
#define CHTTP_ERRBODY_MAX 1024
#define CHTTP_CONNECT_MS  3000L
#define CHTTP_BACKOFF_MS  100L
#define CHTTP_BACKOFF_MAX 5000L
#define CHTTP_GZIP_LEVEL  1
#define CHTTP_BODY_MAX	  (1u << 30)

struct chttp {
	CURL *curl;
	char base[CHTTP_URL_MAX]; /* http://host:port/ */
	char db[CHTTP_DB_MAX];
	char userpwd[256];
	unsigned attempts;
	long timeout_ms;
	bool gzip;
	uint64_t retries;
	struct dynbuf zbody;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : ERR_SYS;
}

bool chttp_ident_ok(const char *s, size_t n)
{
	if (!n || n >= CHTTP_DB_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

int chttp_new(struct chttp **out, const char *url, char *err, size_t errlen)
{
	static const char scheme[] = "clickhouse://";
	if (strncmp(url, scheme, sizeof scheme - 1)) {
		snprintf(err, errlen, "clickhouse: %s: not a clickhouse:// URL", url);
		return ERR_CONFIG;
	}
	const char *rest = url + sizeof scheme - 1;
	const char *slash = strchr(rest, '/');
	const char *qm = slash ? strchr(slash, '?') : NULL;
	size_t dbl = slash ? (qm ? (size_t)(qm - slash - 1) : strlen(slash + 1)) : 0;
	bool gzip = true;
	if (qm && !strcmp(qm, "?compress=0"))
		gzip = false;
	else if (qm && strcmp(qm, "?compress=1"))
		slash = NULL;
	if (!slash || !chttp_ident_ok(slash + 1, dbl)) {
		snprintf(err, errlen,
			 "clickhouse: %s: want clickhouse://[user[:password]@]host[:port]/database"
			 "[?compress=0] (database: letters, digits, _)",
			 url);
		return ERR_CONFIG;
	}
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc) {
		snprintf(err, errlen, "clickhouse: libcurl did not initialise");
		return ERR_SYS;
	}
	struct chttp *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	const char *at = memchr(rest, '@', (size_t)(slash - rest));
	const char *host = at ? at + 1 : rest;
	size_t hl = (size_t)(slash - host);
	if (at && (size_t)(at - rest) >= sizeof c->userpwd) {
		free(c);
		snprintf(err, errlen, "clickhouse: user:password too long");
		return ERR_CONFIG;
	}
	if (at)
		memcpy(c->userpwd, rest, (size_t)(at - rest));
	bool has_port = memchr(host, ':', hl) != NULL || (hl && host[0] == '[');
	if (!hl || hl > 300 || memchr(host, '?', hl) || memchr(host, '#', hl)) {
		free(c);
		snprintf(err, errlen, "clickhouse: %s: bad host", url);
		return ERR_CONFIG;
	}
	snprintf(c->base, sizeof c->base, "http://%.*s%s/", (int)hl, host, has_port ? "" : ":8123");
	snprintf(c->db, sizeof c->db, "%.*s", (int)dbl, slash + 1);
	c->attempts = 6;
	c->gzip = gzip;
	dynbuf_init(&c->zbody, CHTTP_BODY_MAX);
	c->curl = curl_easy_init();
	if (!c->curl) {
		chttp_free(c);
		return ERR_NOMEM;
	}
	*out = c;
	return 0;
}

void chttp_free(struct chttp *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	dynbuf_free(&c->zbody);
	free(c);
}

const char *chttp_db(const struct chttp *c)
{
	return c->db;
}

void chttp_set_attempts(struct chttp *c, unsigned attempts)
{
	c->attempts = attempts ? attempts : 1;
}

void chttp_set_gzip(struct chttp *c, bool on)
{
	c->gzip = on;
}

void chttp_set_timeout(struct chttp *c, long ms)
{
	c->timeout_ms = ms < 0 ? 0 : ms;
}

uint64_t chttp_retries(const struct chttp *c)
{
	return c->retries;
}

/* gzip of body into c->zbody. */
static int deflate_body(struct chttp *c, const void *body, size_t len)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, CHTTP_GZIP_LEVEL, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return ERR_NOMEM;
	size_t bound = deflateBound(&z, (uLong)len) + 64;
	dynbuf_reset(&c->zbody);
	int rc = dynbuf_reserve(&c->zbody, bound);
	if (!rc) {
		z.next_in = (Bytef *)(uintptr_t)body;
		z.avail_in = (uInt)len;
		z.next_out = (Bytef *)c->zbody.data;
		z.avail_out = (uInt)bound;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END)
			rc = ERR_NOMEM;
		else
			c->zbody.len = bound - z.avail_out;
	}
	deflateEnd(&z);
	return rc;
}

struct xfer {
	CURL *curl;
	chttp_data_fn fn;
	void *ctx;
	long status;
	bool delivered; /* bytes went to fn: no retry */
	bool stopped;
	struct dynbuf errbody;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	if (!x->status)
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status != 200) {
		size_t room = CHTTP_ERRBODY_MAX - x->errbody.len;
		dynbuf_add(&x->errbody, p, n < room ? n : room);
		return n;
	}
	if (!x->fn || x->stopped)
		return n;
	x->delivered = true;
	if (x->fn(x->ctx, (const uint8_t *)p, n)) {
		x->stopped = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR, taken as a stop */
	}
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The server's message: first line(s), control characters dropped. */
static void set_err(char *err, size_t errlen, const char *what, const struct dynbuf *b)
{
	char msg[512];
	size_t k = 0;
	for (size_t i = 0; i < b->len && k + 1 < sizeof msg; i++) {
		unsigned char ch = (unsigned char)b->data[i];
		msg[k++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	while (k && msg[k - 1] == ' ')
		k--;
	msg[k] = '\0';
	snprintf(err, errlen, "clickhouse: %s%s%s", what, k ? ": " : "", msg);
}

static int once(struct chttp *c, const char *url, const void *body, size_t len, bool gz,
		struct xfer *x, char *err, size_t errlen)
{
	CURL *h = c->curl;
	curl_easy_reset(h);
	struct curl_slist *hdr = NULL;
	hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
	hdr = curl_slist_append(hdr, "Expect:");
	if (gz)
		hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CHTTP_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	if (c->userpwd[0]) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd);
	}
	char cerr[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	x->curl = h;
	x->status = 0;
	dynbuf_reset(&x->errbody);
	CURLcode r = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	if (r == CURLE_WRITE_ERROR && x->stopped)
		return 0;
	if (r != CURLE_OK) {
		snprintf(err, errlen, "clickhouse: %s: %s", c->base,
			 cerr[0] ? cerr : curl_easy_strerror(r));
		return ERR_SYS;
	}
	if (!x->status)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status != 200) {
		char what[64];
		snprintf(what, sizeof what, "HTTP %ld", x->status);
		set_err(err, errlen, what, &x->errbody);
		return ERR_SYS;
	}
	return 0;
}

int chttp_query(struct chttp *c, const char *sql, const char *settings, const void *body,
		size_t len, chttp_data_fn fn, void *ctx, char *err, size_t errlen)
{
	char *q = curl_easy_escape(c->curl, sql, 0);
	if (!q)
		return ERR_NOMEM;
	struct dynbuf url;
	dynbuf_init(&url, 1u << 20);
	/* No database= parameter: statements name their tables (and may create the database). */
	int rc = dynbuf_printf(&url, "%s?%s%squery=%s", c->base, settings ? settings : "",
			       settings ? "&" : "", q);
	curl_free(q);
	bool gz = false;
	if (!rc && body && len && c->gzip) {
		rc = deflate_body(c, body, len);
		if (!rc) {
			body = c->zbody.data;
			len = c->zbody.len;
			gz = true;
		}
	}
	if (rc) {
		dynbuf_free(&url);
		snprintf(err, errlen, "clickhouse: out of memory");
		return rc;
	}
	struct xfer x = { .fn = fn, .ctx = ctx };
	dynbuf_init(&x.errbody, CHTTP_ERRBODY_MAX + 1);
	long delay = CHTTP_BACKOFF_MS;
	for (unsigned a = 0;; a++) {
		rc = once(c, url.data, body, len, gz, &x, err, errlen);
		if (!rc || x.delivered || a + 1 >= c->attempts)
			break;
		c->retries++;
		sleep_ms(delay);
		delay = delay * 2 > CHTTP_BACKOFF_MAX ? CHTTP_BACKOFF_MAX : delay * 2;
	}
	dynbuf_free(&x.errbody);
	dynbuf_free(&url);
	return rc;
}
