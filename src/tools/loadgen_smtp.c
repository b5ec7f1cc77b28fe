/* loadgen_smtp.c — `sinkd loadgen --proto smtp`: bounded, loopback-only spam sessions from synthetic templates. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/event.h"
#include "proto/smtp/smtp_templates.h"
#include "tools/commands.h"
#include "tools/lg_sources.h"
#include "tools/loopback.h"

/*
 * One blocking client per thread (--concurrency threads): connect, read the
 * greeting, EHLO, then per message MAIL, RCPT x R and DATA sent as one
 * pipelined burst when the server offers PIPELINING (one command at a time
 * otherwise), the message from one of the synthetic campaign templates for
 * the first recipient, then QUIT after --messages-per-conn messages. Every
 * reply code is checked; a transaction counts as sent only on "250" after
 * the final dot. Bounded like the HTTP generator: --count and --duration
 * always apply and the target must be a loopback address. It exists to
 * exercise our own sinkhole, never anyone else's host.
 */

#define LGS_MAX_COUNT	   10000000ULL
#define LGS_MAX_DURATION   3600
#define LGS_MAX_THREADS	   256
#define LGS_MAX_RCPT	   100
#define LGS_MAX_PER_CONN   1000
#define LGS_MSG_MAX	   (16u << 10)
#define LGS_BURST_MAX	   (LGS_MSG_MAX + 16384)
#define LGS_REPLY_MAX	   4096
#define LGS_IO_TIMEOUT_SEC 10

struct lgs_opts {
	struct event_addr target;
	struct sockaddr_storage sa;
	socklen_t salen;
	char target_str[64];
	uint64_t count;
	unsigned duration;
	unsigned concurrency;
	unsigned templates;
	unsigned rcpts;
	unsigned per_conn;
	uint64_t seed;
	struct lg_sources_opts src; /* --proxy-v2, --sources, --asn-file, --sources-unique */
	bool json;
};

struct lgs_shared {
	const struct lgs_opts *o;
	struct lg_sources src;
	_Atomic uint64_t issued; /* messages claimed by a thread */
	_Atomic uint64_t sent;	 /* "250" after the final dot */
	_Atomic uint64_t refused;
	_Atomic uint64_t errors; /* connect, I/O or unexpected reply */
	_Atomic uint64_t sessions;
	_Atomic uint64_t per_template[SMTP_TEMPLATES];
	uint64_t deadline_ns;
};

struct lgs_thread {
	struct lgs_shared *sh;
	pthread_t tid;
	uint64_t rng;
	struct lg_rng src_rng; /* draws the simulated sources, as the HTTP generator does */
	unsigned idx;
	char reply[LGS_REPLY_MAX];
	size_t rlen;
	char burst[LGS_BURST_MAX];
};

static uint64_t lgs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads one complete (possibly multi-line) reply; returns its code, or -1. */
static int lgs_reply(struct lgs_thread *t, int fd, bool *pipelining)
{
	for (;;) {
		/* A complete reply: lines "ddd-..." then one "ddd ...". */
		size_t off = 0;
		while (off < t->rlen) {
			char *lf = memchr(t->reply + off, '\n', t->rlen - off);
			if (!lf)
				break;
			size_t ll = (size_t)(lf - (t->reply + off)) + 1;
			if (ll < 4)
				return -1;
			const char *line = t->reply + off;
			if (pipelining && ll >= 14 && !strncasecmp(line + 4, "PIPELINING", 10))
				*pipelining = true;
			off += ll;
			if (line[3] == ' ' || line[3] == '\r' || line[3] == '\n') {
				int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
					   (line[2] - '0');
				memmove(t->reply, t->reply + off, t->rlen - off);
				t->rlen -= off;
				return code;
			}
		}
		if (t->rlen == sizeof t->reply)
			return -1;
		ssize_t n = recv(fd, t->reply + t->rlen, sizeof t->reply - t->rlen, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		t->rlen += (size_t)n;
	}
}

static bool lgs_send(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static bool lgs_expect(struct lgs_thread *t, int fd, int want)
{
	return lgs_reply(t, fd, NULL) == want;
}

/* Claims one message from the budget; false when --count is spent or time is up. */
static bool lgs_claim(struct lgs_shared *sh)
{
	if (lgs_now_ns() >= sh->deadline_ns)
		return false;
	uint64_t n = atomic_fetch_add(&sh->issued, 1);
	return n < sh->o->count;
}

/* One message on an open session; returns false when the session cannot go on. */
static bool lgs_message(struct lgs_thread *t, int fd, bool pipelining)
{
	struct lgs_shared *sh = t->sh;
	const struct lgs_opts *o = sh->o;
	static const char *const domains[] = { "victim.example", "mail.example.org",
					       "inbox.example.net", "corp.example" };
	unsigned tpl = (unsigned)(smtp_template_rand(&t->rng) % o->templates);
	char first_local[32];
	size_t n = 0;
	int w = snprintf(t->burst, sizeof t->burst, "MAIL FROM:<offers%u@sender%u.example>\r\n",
			 (unsigned)(smtp_template_rand(&t->rng) % 1000), tpl);
	n += (size_t)w;
	for (unsigned r = 0; r < o->rcpts; r++) {
		char local[32];
		snprintf(local, sizeof local, "user%u",
			 (unsigned)(smtp_template_rand(&t->rng) % 100000));
		if (r == 0)
			memcpy(first_local, local, sizeof local);
		w = snprintf(t->burst + n, sizeof t->burst - n, "RCPT TO:<%s@%s>\r\n", local,
			     domains[smtp_template_rand(&t->rng) % 4]);
		n += (size_t)w;
	}
	memcpy(t->burst + n, "DATA\r\n", 6);
	n += 6;
	if (pipelining) {
		if (!lgs_send(fd, t->burst, n))
			return false;
		if (!lgs_expect(t, fd, 250))
			return false;
		for (unsigned r = 0; r < o->rcpts; r++)
			if (!lgs_expect(t, fd, 250))
				return false;
	} else {
		/* One command at a time: the burst is a list of lines. */
		size_t off = 0;
		for (unsigned k = 0; k < o->rcpts + 1; k++) {
			char *lf = memchr(t->burst + off, '\n', n - off);
			size_t ll = (size_t)(lf - (t->burst + off)) + 1;
			if (!lgs_send(fd, t->burst + off, ll) || !lgs_expect(t, fd, 250))
				return false;
			off += ll;
		}
		if (!lgs_send(fd, "DATA\r\n", 6))
			return false;
	}
	if (!lgs_expect(t, fd, 354))
		return false;
	size_t len = smtp_template_message(tpl, &t->rng, first_local, "victim.example", t->burst,
					   sizeof t->burst - 8);
	if (!len)
		return false;
	memcpy(t->burst + len, ".\r\n", 3);
	if (!lgs_send(fd, t->burst, len + 3))
		return false;
	int code = lgs_reply(t, fd, NULL);
	if (code == 250) {
		atomic_fetch_add(&sh->sent, 1);
		atomic_fetch_add(&sh->per_template[tpl], 1);
		return true;
	}
	atomic_fetch_add(&sh->refused, 1);
	return code > 0 && code < 500;
}

static int lgs_connect(const struct lgs_opts *o)
{
	int fd = socket(o->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { LGS_IO_TIMEOUT_SEC, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (const struct sockaddr *)&o->sa, o->salen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *lgs_thread_main(void *arg)
{
	struct lgs_thread *t = arg;
	struct lgs_shared *sh = t->sh;
	const struct lgs_opts *o = sh->o;
	while (lgs_claim(sh)) {
		int fd = lgs_connect(o);
		if (fd < 0) {
			atomic_fetch_add(&sh->errors, 1);
			usleep(20000);
			continue;
		}
		t->rlen = 0;
		bool ok = true;
		if (o->src.proxy_v2) {
			/* A simulated bot behind the "load balancer". */
			struct event_addr bot;
			uint8_t hdr[64];
			int hl = lg_sources_proxy_header(&sh->src, &t->src_rng, &o->target, &bot,
							 hdr, sizeof hdr);
			ok = hl > 0 && lgs_send(fd, (const char *)hdr, (size_t)hl);
		}
		bool pipelining = false;
		char ehlo[64];
		int el = snprintf(ehlo, sizeof ehlo, "EHLO bot-%u.dsl.example\r\n",
				  (unsigned)(smtp_template_rand(&t->rng) % 100000));
		ok = ok && lgs_expect(t, fd, 220) && lgs_send(fd, ehlo, (size_t)el) &&
		     lgs_reply(t, fd, &pipelining) == 250;
		atomic_fetch_add(&sh->sessions, 1);
		/* The first message was claimed above. */
		for (unsigned m = 0; ok && m < o->per_conn; m++) {
			if (m > 0 && !lgs_claim(sh))
				break;
			ok = lgs_message(t, fd, pipelining);
		}
		if (ok)
			ok = lgs_send(fd, "QUIT\r\n", 6) && lgs_expect(t, fd, 221);
		if (!ok)
			atomic_fetch_add(&sh->errors, 1);
		close(fd);
	}
	return NULL;
}

static int lgs_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || v < min || v > max)
		return ERR_INVAL;
	*out = v;
	return 0;
}

static void lgs_usage(FILE *to)
{
	fprintf(to,
		"usage: sinkd loadgen --proto smtp --target 127.0.0.1:PORT [options]\n\n"
		"Simulated spam bots: SMTP sessions carrying messages from %d synthetic campaign\n"
		"templates with per-recipient variation. Loopback targets only; stops after\n"
		"--count messages or --duration seconds, whichever comes first.\n\n"
		"  --target ADDR:PORT      127.0.0.1:PORT or [::1]:PORT (required)\n"
		"  --count N               messages (default 1000, max %llu)\n"
		"  --duration SECONDS      time bound (default 20, max %d)\n"
		"  --concurrency C         parallel sessions, one thread each (default 8, max %d)\n"
		"  --templates K           campaigns to draw from, 1..%d (default %d)\n"
		"  --recipients R          RCPT per message (default 1, max %d)\n"
		"  --messages-per-conn M   messages per session (default 1, max %d)\n" LG_SOURCES_USAGE
		"  --seed N                reproducible run (default: random)\n"
		"  --json                  print the summary as JSON\n",
		SMTP_TEMPLATES, LGS_MAX_COUNT, LGS_MAX_DURATION, LGS_MAX_THREADS, SMTP_TEMPLATES,
		SMTP_TEMPLATES, LGS_MAX_RCPT, LGS_MAX_PER_CONN, LG_MAX_UNIQUE);
}

int cmd_loadgen_smtp(int argc, char **argv)
{
	struct lgs_opts o = { .count = 1000,
			      .duration = 20,
			      .concurrency = 8,
			      .templates = SMTP_TEMPLATES,
			      .rcpts = 1,
			      .per_conn = 1 };
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'P' },
		{ "target", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "templates", required_argument, NULL, 'k' },
		{ "recipients", required_argument, NULL, 'r' },
		{ "messages-per-conn", required_argument, NULL, 'm' },
		{ "proxy-v2", no_argument, NULL, 'x' },
		{ "sources", required_argument, NULL, 'S' },
		{ "asn-file", required_argument, NULL, 'A' },
		{ "sources-unique", required_argument, NULL, 'U' },
		{ "seed", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *target = NULL;
	bool have_seed = false;
	uint64_t v = 0;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int rc = 0;
		switch (ch) {
		case 'P':
			rc = strcmp(optarg, "smtp") ? ERR_INVAL : 0;
			break;
		case 't':
			target = optarg;
			break;
		case 'n':
			rc = lgs_num(optarg, 1, LGS_MAX_COUNT, &o.count);
			break;
		case 'd':
			rc = lgs_num(optarg, 1, LGS_MAX_DURATION, &v);
			o.duration = (unsigned)v;
			break;
		case 'c':
			rc = lgs_num(optarg, 1, LGS_MAX_THREADS, &v);
			o.concurrency = (unsigned)v;
			break;
		case 'k':
			rc = lgs_num(optarg, 1, SMTP_TEMPLATES, &v);
			o.templates = (unsigned)v;
			break;
		case 'r':
			rc = lgs_num(optarg, 1, LGS_MAX_RCPT, &v);
			o.rcpts = (unsigned)v;
			break;
		case 'm':
			rc = lgs_num(optarg, 1, LGS_MAX_PER_CONN, &v);
			o.per_conn = (unsigned)v;
			break;
		case 'x':
			o.src.proxy_v2 = true;
			break;
		case 'S':
			o.src.sources = optarg;
			break;
		case 'A':
			o.src.asn_file = optarg;
			break;
		case 'U':
			rc = lg_parse_u64(optarg, 1, LG_MAX_UNIQUE, &o.src.sources_unique);
			break;
		case 's':
			rc = lgs_num(optarg, 0, UINT64_MAX, &o.seed);
			have_seed = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			lgs_usage(stdout);
			return 0;
		default:
			lgs_usage(stderr);
			return 2;
		}
		if (rc) {
			fprintf(stderr, "sinkd loadgen: bad option value \"%s\"\n", optarg);
			return 2;
		}
	}
	if (optind != argc || !target) {
		lgs_usage(stderr);
		return 2;
	}
	if (lg_sources_check(&o.src))
		return 2;
	int rc = loopback_target_parse(target, &o.target, &o.sa, &o.salen);
	if (!rc)
		snprintf(o.target_str, sizeof o.target_str, "%s", target);
	if (rc == ERR_LIMIT) {
		fprintf(stderr, "sinkd loadgen: %s is not a loopback address; refusing\n", target);
		return 2;
	}
	if (rc) {
		fprintf(stderr, "sinkd loadgen: bad --target %s\n", target);
		return 2;
	}
	if (!have_seed && getrandom(&o.seed, sizeof o.seed, 0) != sizeof o.seed)
		o.seed = lgs_now_ns();

	struct lgs_shared sh = { .o = &o };
	if (o.src.proxy_v2 && lg_sources_setup(&sh.src, &o.src, o.seed)) {
		lg_sources_free(&sh.src);
		return 2;
	}
	uint64_t start = lgs_now_ns();
	sh.deadline_ns = start + (uint64_t)o.duration * 1000000000ull;
	struct lgs_thread *th = calloc(o.concurrency, sizeof *th);
	if (!th) {
		lg_sources_free(&sh.src);
		return 1;
	}
	unsigned started = 0;
	for (unsigned i = 0; i < o.concurrency; i++) {
		th[i].sh = &sh;
		th[i].idx = i;
		th[i].rng = o.seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
		lg_rng_seed(&th[i].src_rng, o.seed + 0x1000193ULL * (i + 1));
		if (pthread_create(&th[i].tid, NULL, lgs_thread_main, &th[i]) != 0)
			break;
		started++;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i].tid, NULL);
	free(th);
	lg_sources_free(&sh.src);
	double elapsed = (double)(lgs_now_ns() - start) / 1e9;
	uint64_t sent = atomic_load(&sh.sent);
	if (o.json) {
		printf("{\"proto\":\"smtp\",\"target\":\"%s\",\"seed\":%" PRIu64
		       ",\"elapsed_s\":%.3f,\"messages\":%" PRIu64 ",\"refused\":%" PRIu64
		       ",\"errors\":%" PRIu64 ",\"sessions\":%" PRIu64
		       ",\"rate\":%.1f,\"templates\":[",
		       o.target_str, o.seed, elapsed, sent, atomic_load(&sh.refused),
		       atomic_load(&sh.errors), atomic_load(&sh.sessions),
		       elapsed > 0 ? (double)sent / elapsed : 0.0);
		for (unsigned i = 0; i < o.templates; i++)
			printf("%s%" PRIu64, i ? "," : "", atomic_load(&sh.per_template[i]));
		printf("]}\n");
	} else {
		printf("smtp %s: %" PRIu64 " messages accepted in %.2f s (%.0f/s), %" PRIu64
		       " refused, %" PRIu64 " errors, %" PRIu64 " sessions, seed %" PRIu64 "\n",
		       o.target_str, sent, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0,
		       atomic_load(&sh.refused), atomic_load(&sh.errors), atomic_load(&sh.sessions),
		       o.seed);
	}
	return sent > 0 && atomic_load(&sh.errors) == 0 ? 0 : 1;
}
