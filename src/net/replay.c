/* replay.c — capture → packets → flows → reassembled streams → the sensor's protocol modules and rules. */
#include "net/replay.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "net/tcp_reasm.h"

#define DEFAULT_MAX_FLOWS   65536u
#define DEFAULT_FLOW_BUFFER ((size_t)1 << 20)
#define DEFAULT_MEMORY	    ((size_t)256 << 20)
#define DEFAULT_TIMEOUT_US  (UINT64_C(120) * 1000000u)
#define PROGRESS_EVERY	    4096u /* packets between looks at the clock */

enum flow_state {
	FLOW_OPEN,    /* being replayed */
	FLOW_CLOSED,  /* finished; kept until idle so stray retransmissions are absorbed */
	FLOW_IGNORED, /* no listener or no module: only tracked to count it once */
};

struct replay;

struct flow {
	struct conn c; /* the protocol connection, once opened */
	struct flow *hnext;
	struct flow *lprev, *lnext; /* activity order, least recent first */
	struct replay *rp;
	struct event_addr cli, srv;
	uint32_t hash;
	uint64_t last_us;
	uint64_t flow_id;
	struct tcp_reasm rx; /* client to server */
	uint64_t fin_off;
	unsigned listener;
	enum flow_state state;
	bool fin;
	bool conn_open;	  /* conn_driver_open was called and conn_driver_close not yet */
	bool stream_done; /* no more bytes go to the module (sensor closed, gap, end) */
};

struct replay {
	const struct replay_opts *o;
	struct replay_stats *st;
	struct conn_driver drv;
	struct flow **buckets;
	size_t n_buckets;
	size_t n_flows;
	struct flow *lru_head, *lru_tail;
	struct reasm_budget budget;
	size_t max_flows, flow_buffer;
	uint64_t timeout_us;
	uint64_t now_us;
	int link;
	int forced_listener; /* -1: by port */
	uint64_t file_size;
	uint64_t last_progress_us;
};

/* ---- flow table ---------------------------------------------------------------- */

static uint32_t mix(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* The same for both directions: the endpoints are hashed in a fixed order. */
static uint32_t flow_hash(const struct event_addr *a, const struct event_addr *b)
{
	int cmp = memcmp(a->addr, b->addr, 16);
	if (cmp > 0 || (cmp == 0 && a->port > b->port)) {
		const struct event_addr *t = a;
		a = b;
		b = t;
	}
	uint8_t ports[4] = { (uint8_t)(a->port >> 8), (uint8_t)a->port, (uint8_t)(b->port >> 8),
			     (uint8_t)b->port };
	uint32_t h = mix(2166136261u, a->addr, 16);
	h = mix(h, b->addr, 16);
	h = mix(h, ports, 4);
	return mix(h, &a->ipver, 1);
}

static bool addr_eq(const struct event_addr *a, const struct event_addr *b)
{
	return a->ipver == b->ipver && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

/* The flow of this packet and whether the packet goes from its client. */
static struct flow *flow_find(struct replay *rp, const struct pkt *p, uint32_t h, bool *from_client)
{
	for (struct flow *f = rp->buckets[h & (rp->n_buckets - 1)]; f; f = f->hnext) {
		if (f->hash != h)
			continue;
		if (addr_eq(&f->cli, &p->src) && addr_eq(&f->srv, &p->dst)) {
			*from_client = true;
			return f;
		}
		if (addr_eq(&f->cli, &p->dst) && addr_eq(&f->srv, &p->src)) {
			*from_client = false;
			return f;
		}
	}
	return NULL;
}

static void lru_unlink(struct replay *rp, struct flow *f)
{
	if (f->lprev)
		f->lprev->lnext = f->lnext;
	else
		rp->lru_head = f->lnext;
	if (f->lnext)
		f->lnext->lprev = f->lprev;
	else
		rp->lru_tail = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void lru_touch(struct replay *rp, struct flow *f)
{
	f->last_us = rp->now_us;
	if (rp->lru_tail == f)
		return;
	if (f->lprev || f->lnext || rp->lru_head == f)
		lru_unlink(rp, f);
	f->lprev = rp->lru_tail;
	f->lnext = NULL;
	if (rp->lru_tail)
		rp->lru_tail->lnext = f;
	else
		rp->lru_head = f;
	rp->lru_tail = f;
}

/* ---- the stream into the module ---------------------------------------------------- */

static void flow_open_conn(struct flow *f)
{
	struct replay *rp = f->rp;
	if (f->conn_open || f->stream_done)
		return;
	memset(&f->c, 0, sizeof f->c);
	conn_driver_open(&rp->drv, &f->c, f->listener, &f->cli, &f->srv, f->flow_id);
	f->conn_open = true;
}

/* The module is finished with this connection: release it (the flow itself may live on). */
static void flow_close_conn(struct flow *f)
{
	if (!f->conn_open)
		return;
	conn_driver_close(&f->rp->drv, &f->c);
	f->conn_open = false;
	f->stream_done = true;
}

static void sink_deliver(void *arg, uint64_t off, const uint8_t *data, size_t len)
{
	struct flow *f = arg;
	struct replay *rp = f->rp;
	(void)off;
	if (f->stream_done) {
		rp->st->after_close_bytes += len;
		return;
	}
	flow_open_conn(f);
	rp->st->client_bytes += len;
	size_t taken = conn_driver_input(&rp->drv, &f->c, data, len);
	if (taken < len)
		rp->st->after_close_bytes += len - taken;
	if (conn_driver_done(&f->c))
		flow_close_conn(f);
}

static void sink_gap(void *arg, uint64_t off, uint64_t len)
{
	struct flow *f = arg;
	struct replay *rp = f->rp;
	char a[64], b[64];
	if (rp->o->gap_log)
		fprintf(rp->o->gap_log,
			"gap: flow %016" PRIx64 " %s:%u -> %s:%u: %" PRIu64
			" bytes missing at stream offset %" PRIu64 "\n",
			f->flow_id, event_addr_str(&f->cli, a, sizeof a), f->cli.port,
			event_addr_str(&f->srv, b, sizeof b), f->srv.port, len, off);
	/* What came before the hole is a stream the client then broke off. */
	if (f->conn_open && !conn_driver_done(&f->c))
		conn_driver_eof(&rp->drv, &f->c);
	flow_close_conn(f);
	f->stream_done = true;
}

static struct reasm_sink flow_sink(struct flow *f)
{
	return (struct reasm_sink){ .deliver = sink_deliver, .on_gap = sink_gap, .arg = f };
}

/* The client's side ends (FIN reached, reset, eviction, end of capture). */
static void flow_end(struct flow *f)
{
	struct replay *rp = f->rp;
	if (f->state != FLOW_OPEN)
		return;
	struct reasm_sink s = flow_sink(f);
	tcp_reasm_finish(&f->rx, &rp->budget, f->fin ? f->fin_off : 0, &s);
	if (f->conn_open && !conn_driver_done(&f->c))
		conn_driver_eof(&rp->drv, &f->c);
	flow_close_conn(f);
	rp->st->dup_bytes += f->rx.dup_bytes;
	rp->st->conflict_bytes += f->rx.conflict_bytes;
	rp->st->out_of_order += f->rx.out_of_order;
	rp->st->gaps += f->rx.gaps;
	rp->st->gap_bytes += f->rx.gap_bytes;
	tcp_reasm_free(&f->rx, &rp->budget);
	f->state = FLOW_CLOSED;
}

static void flow_free(struct replay *rp, struct flow *f)
{
	flow_end(f);
	struct flow **pp = &rp->buckets[f->hash & (rp->n_buckets - 1)];
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_unlink(rp, f);
	rp->n_flows--;
	free(f);
}

/* ---- listeners ------------------------------------------------------------------------ */

/* The listener serving this server endpoint: same port, and the same address unless it binds a wildcard. */
static int listener_for(struct replay *rp, const struct event_addr *srv)
{
	if (rp->forced_listener >= 0)
		return rp->forced_listener;
	int any = -1;
	for (unsigned i = 0; i < rp->drv.n_listeners; i++) {
		const struct listener *l = &rp->drv.listeners[i];
		if (l->local.port != srv->port)
			continue;
		if (l->local.ipver == srv->ipver && !memcmp(l->local.addr, srv->addr, 16))
			return (int)i;
		if (any < 0)
			any = (int)i;
	}
	return any;
}

static struct flow *flow_new(struct replay *rp, const struct event_addr *cli,
			     const struct event_addr *srv, uint32_t h, int li)
{
	if (rp->n_flows >= rp->max_flows && rp->lru_head) {
		if (rp->lru_head->state == FLOW_OPEN)
			rp->st->evicted_full++;
		flow_free(rp, rp->lru_head);
	}
	struct flow *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->rp = rp;
	f->cli = *cli;
	f->srv = *srv;
	f->hash = h;
	f->listener = li < 0 ? 0 : (unsigned)li;
	uint8_t ts[8];
	put_be64(ts, rp->now_us);
	f->flow_id = ((uint64_t)mix(h, ts, 8) << 32 | mix(~h, ts, 8)) & INT64_MAX;
	tcp_reasm_init(&f->rx, rp->flow_buffer);
	if (li < 0) {
		f->state = FLOW_IGNORED;
		rp->st->flows_unmatched++;
	} else if (!conn_driver_has_stream(&rp->drv, (unsigned)li)) {
		f->state = FLOW_IGNORED;
		rp->st->flows_no_module++;
	} else {
		rp->st->flows++;
	}
	size_t b = h & (rp->n_buckets - 1);
	f->hnext = rp->buckets[b];
	rp->buckets[b] = f;
	rp->n_flows++;
	if (rp->n_flows > rp->st->peak_flows)
		rp->st->peak_flows = rp->n_flows;
	lru_touch(rp, f);
	return f;
}

/* ---- time ---------------------------------------------------------------------------- */

/* Fires the modules' timers and ends idle flows, up to the capture's current time. */
static void replay_advance(struct replay *rp)
{
	struct conn *c;
	while ((c = conn_driver_expired(&rp->drv, rp->now_us / 1000u)) != NULL) {
		struct flow *f = (struct flow *)((char *)c - offsetof(struct flow, c));
		/* The event is stamped when the timer fired, as live. */
		conn_driver_set_time(&rp->drv, c->deadline_ms * 1000u);
		conn_driver_timeout(&rp->drv, c);
		flow_close_conn(f);
		conn_driver_set_time(&rp->drv, rp->now_us);
	}
	while (rp->lru_head && rp->lru_head->last_us + rp->timeout_us < rp->now_us) {
		if (rp->lru_head->state == FLOW_OPEN)
			rp->st->evicted_idle++;
		flow_free(rp, rp->lru_head);
	}
}

/* ---- packets ------------------------------------------------------------------------- */

static void replay_tcp(struct replay *rp, const struct pkt *p)
{
	bool from_client = true;
	uint32_t h = flow_hash(&p->src, &p->dst);
	struct flow *f = flow_find(rp, p, h, &from_client);
	bool syn = (p->tcp_flags & PKT_SYN) != 0, ack = (p->tcp_flags & PKT_ACK) != 0;

	/* A new SYN on a finished flow: the client reused its port for a new connection. */
	if (f && syn && !ack && from_client && f->state != FLOW_IGNORED &&
	    (f->state == FLOW_CLOSED || f->rx.delivered > 0 || f->fin)) {
		flow_free(rp, f);
		f = NULL;
	}
	if (!f) {
		if (!syn && p->len == 0) {
			rp->st->stray_packets++;
			return;
		}
		int li;
		if (syn && !ack) {
			li = listener_for(rp, &p->dst);
			f = flow_new(rp, &p->src, &p->dst, h, li);
		} else if (syn) {
			li = listener_for(rp, &p->src);
			f = flow_new(rp, &p->dst, &p->src, h, li);
			from_client = false;
		} else if ((li = listener_for(rp, &p->dst)) >= 0 || listener_for(rp, &p->src) < 0) {
			f = flow_new(rp, &p->src, &p->dst, h, li);
			if (f && f->state == FLOW_OPEN)
				rp->st->flows_midstream++;
		} else {
			li = listener_for(rp, &p->src);
			f = flow_new(rp, &p->dst, &p->src, h, li);
			from_client = false;
			if (f && f->state == FLOW_OPEN)
				rp->st->flows_midstream++;
		}
		if (!f)
			return;
	}
	lru_touch(rp, f);
	if (!from_client) {
		rp->st->server_bytes += p->len;
		return;
	}
	if (f->state != FLOW_OPEN) {
		if (f->state == FLOW_CLOSED)
			rp->st->after_close_bytes += p->len;
		return;
	}
	struct reasm_sink s = flow_sink(f);
	if (syn)
		tcp_reasm_syn(&f->rx, p->seq);
	if (p->len)
		tcp_reasm_add(&f->rx, &rp->budget, syn ? p->seq + 1 : p->seq, p->payload, p->len,
			      &s);
	if (p->tcp_flags & PKT_RST) {
		flow_end(f);
		return;
	}
	if (p->tcp_flags & PKT_FIN) {
		uint32_t fin_seq = (syn ? p->seq + 1 : p->seq) + (uint32_t)p->wire_len;
		if (!f->rx.started)
			tcp_reasm_syn(&f->rx, fin_seq - 1);
		f->fin_off = tcp_reasm_offset(&f->rx, fin_seq);
		f->fin = true;
	}
	if (f->fin && f->rx.next >= f->fin_off)
		flow_end(f);
}

static void replay_udp(struct replay *rp, const struct pkt *p)
{
	int li = listener_for(rp, &p->dst);
	if (li < 0) {
		rp->st->udp_unmatched++;
		return;
	}
	if (!conn_driver_has_dgram(&rp->drv, (unsigned)li)) {
		rp->st->udp_no_module++;
		return;
	}
	uint8_t ts[8];
	put_be64(ts, rp->now_us);
	uint32_t h = flow_hash(&p->src, &p->dst);
	uint64_t flow_id = ((uint64_t)mix(h, ts, 8) << 32 | mix(~h, ts, 8)) & INT64_MAX;
	rp->st->udp_replayed++;
	conn_driver_datagram(&rp->drv, (unsigned)li, &p->src, &p->dst, p->payload, p->len,
			     p->len < p->wire_len, flow_id);
}

static void replay_progress(struct replay *rp, FILE *f, bool final)
{
	struct replay_stats *st = rp->st;
	long pos = f ? ftell(f) : -1;
	double pct = rp->file_size && pos >= 0 ? 100.0 * (double)pos / (double)rp->file_size : 0;
	fprintf(rp->o->progress,
		"\rreplay: %5.1f%%  %" PRIu64 " packets  %" PRIu64 " MiB  %" PRIu64
		" flows  %" PRIu64 " events%s",
		final ? 100.0 : pct, st->packets, st->capture_bytes >> 20, st->flows, st->events,
		final ? "\n" : "");
	fflush(rp->o->progress);
}

static int replay_sink(void *arg, const uint8_t *rec, size_t len)
{
	struct replay *rp = arg;
	rp->st->events++;
	return rp->o->sink ? rp->o->sink(rp->o->sink_arg, rec, len) : 0;
}

static int replay_run(pcap_t *pc, const struct replay_opts *o, struct replay_stats *st)
{
	struct replay rp;
	char err[400];
	int rc;

	memset(&rp, 0, sizeof rp);
	rp.o = o;
	rp.st = st;
	rp.link = pcap_datalink(pc);
	rp.max_flows = o->max_flows ? o->max_flows : DEFAULT_MAX_FLOWS;
	rp.flow_buffer = o->flow_buffer ? o->flow_buffer : DEFAULT_FLOW_BUFFER;
	rp.budget.max = o->memory ? o->memory : DEFAULT_MEMORY;
	rp.timeout_us = o->flow_timeout_us ? o->flow_timeout_us : DEFAULT_TIMEOUT_US;
	rp.forced_listener = -1;
	rp.n_buckets = 1024;
	while (rp.n_buckets < rp.max_flows && rp.n_buckets < ((size_t)1 << 22))
		rp.n_buckets <<= 1;
	rp.buckets = calloc(rp.n_buckets, sizeof *rp.buckets);
	if (!rp.buckets)
		return ERR_NOMEM;
	if ((rc = conn_driver_init(&rp.drv, o->cfg, replay_sink, &rp, err, sizeof err))) {
		snprintf(st->error, sizeof st->error, "%s", err);
		free(rp.buckets);
		return rc;
	}
	if (o->listener) {
		for (unsigned i = 0; i < rp.drv.n_listeners; i++)
			if (!strcmp(rp.drv.listeners[i].cfg->name, o->listener))
				rp.forced_listener = (int)i;
		if (rp.forced_listener < 0) {
			snprintf(st->error, sizeof st->error, "no listener named \"%s\" in %s",
				 o->listener, o->cfg->path ? o->cfg->path : "the config");
			rc = ERR_CONFIG;
			goto out;
		}
	}
	FILE *pf = pcap_file(pc);
	struct stat sb;
	if (pf && fstat(fileno(pf), &sb) == 0 && S_ISREG(sb.st_mode))
		rp.file_size = (uint64_t)sb.st_size;

	for (;;) {
		struct pcap_pkthdr *hdr;
		const u_char *data;
		int r = pcap_next_ex(pc, &hdr, &data);
		if (r == PCAP_ERROR_BREAK)
			break;
		if (r == PCAP_ERROR) {
			/* A capture cut short (the sensor died, the disk filled): stop cleanly there. */
			st->truncated = true;
			snprintf(st->error, sizeof st->error, "%s", pcap_geterr(pc));
			break;
		}
		if (r != 1)
			continue;
		st->packets++;
		st->capture_bytes += hdr->caplen;
		uint64_t ts = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
		if (!st->first_us)
			st->first_us = ts;
		if (ts > st->last_us)
			st->last_us = ts;
		/* The clock never runs backwards, whatever the capture's order. */
		if (ts > rp.now_us)
			rp.now_us = ts;
		conn_driver_set_time(&rp.drv, ts ? ts : rp.now_us);
		replay_advance(&rp);
		conn_driver_set_time(&rp.drv, ts ? ts : rp.now_us);
		struct pkt p;
		enum pkt_skip sk = pkt_decode(rp.link, data, hdr->caplen, hdr->len, &p);
		if (sk != PKT_OK) {
			st->skipped[sk]++;
		} else if (p.proto == 6) {
			st->tcp_packets++;
			replay_tcp(&rp, &p);
		} else {
			st->udp_packets++;
			replay_udp(&rp, &p);
		}
		if (rp.budget.peak > st->peak_held)
			st->peak_held = rp.budget.peak;
		if (o->progress && st->packets % PROGRESS_EVERY == 0) {
			uint64_t now = time_now_us();
			if (now - rp.last_progress_us >= 250000u) {
				rp.last_progress_us = now;
				replay_progress(&rp, pf, false);
			}
		}
	}
	/* The end of the capture: every flow's client is done. */
	while (rp.lru_head)
		flow_free(&rp, rp.lru_head);
	if (o->progress)
		replay_progress(&rp, pf, true);
	rc = 0;
out:
	while (rp.lru_head)
		flow_free(&rp, rp.lru_head);
	conn_driver_free(&rp.drv);
	free(rp.buckets);
	return rc;
}

int replay_file(const char *path, const struct replay_opts *o, struct replay_stats *st)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	memset(st, 0, sizeof *st);
	pcap_t *pc =
		pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (!pc) {
		snprintf(st->error, sizeof st->error, "%s", errbuf);
		return access(path, R_OK) != 0 ? ERR_SYS : ERR_MALFORMED;
	}
	int rc = replay_run(pc, o, st);
	pcap_close(pc);
	return rc;
}

int replay_stream(FILE *f, const struct replay_opts *o, struct replay_stats *st)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	memset(st, 0, sizeof *st);
	pcap_t *pc =
		pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (!pc) {
		snprintf(st->error, sizeof st->error, "%s", errbuf);
		fclose(f);
		return ERR_MALFORMED;
	}
	int rc = replay_run(pc, o, st);
	pcap_close(pc);
	return rc;
}
