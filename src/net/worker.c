/* worker.c — one worker thread: epoll loop, accept, buffered I/O, timers, durability waits. */
#include "net/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/dlog.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "net/anyport.h"
#include "net/daemon.h"
#include "net/proxy.h"
#include "proto/tls/tls_conn.h"
#include "proto/raw/raw_conn.h"

#define WORKER_SCRATCH	    (64u * 1024)
#define WORKER_STAGE	    (64u * 1024)
#define WORKER_MAX_EVENTS   128
#define WORKER_ACCEPT_BURST 64
#define WORKER_READ_BURST   4
#define WORKER_FREE_MAX	    1024
/* Stop reading from a peer that does not read our answers once this much is queued. */
#define CONN_OUT_HIGH	    (64u * 1024)
#define CONN_OUT_MAX	    (1u << 20)
/* Room kept for one PROXY v2 header ahead of the request head. */
#define CONN_PROXY_ROOM	    (16u + 2048u)

/* Datagram batches per readiness report, so one busy UDP socket cannot starve the rest. */
#define WORKER_DGRAM_ROUNDS	 8
#define WORKER_UNWATCHED_POLL_MS 10 /* a datagram socket out of epoll is polled this often */
/* Answered mode: replies held for durability, per worker; beyond this they are not sent. */
#define WORKER_DGRAM_HELD	 4096u
/* Room for an IP_PKTINFO / IPV6_PKTINFO and an IP(V6)_ORIGDSTADDR control message. */
#define WORKER_DGRAM_CTL	 128

/* epoll data: 0 is the wake fd, values with the top bit set are listeners, the rest connections. */
#define EPOLL_TAG_LISTENER (1ull << 63)

static void conn_close(struct conn *c);
static void conn_service(struct conn *c);

/* --- timers: one FIFO per (listener, kind); every entry has the same timeout, so FIFO order is deadline order. */

static struct conn_list *timer_list(struct worker *w, const struct conn *c, unsigned kind)
{
	return &w->timers[c->l->index * CONN_TIMER_KINDS + kind];
}

static void list_unlink_timer(struct worker *w, struct conn *c)
{
	if (!c->timer_on)
		return;
	struct conn_list *lst = timer_list(w, c, c->timer_kind);
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		lst->head = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	else
		lst->tail = c->tprev;
	c->tprev = c->tnext = NULL;
	c->timer_on = false;
}

void conn_set_timer(struct conn *c, enum conn_timer kind)
{
	struct worker *w = c->w;
	list_unlink_timer(w, c);
	const struct config_http_limits *lim = &c->l->cfg->http;
	uint32_t ms = kind == CONN_TIMER_REQUEST ? lim->header_timeout_ms : lim->idle_timeout_ms;
	c->deadline_ms = w->now_ms + ms;
	c->timer_kind = (uint8_t)kind;
	c->timer_on = true;
	struct conn_list *lst = timer_list(w, c, kind);
	c->tprev = lst->tail;
	c->tnext = NULL;
	if (lst->tail)
		lst->tail->tnext = c;
	else
		lst->head = c;
	lst->tail = c;
}

static void wait_list_add(struct worker *w, struct conn *c)
{
	if (c->in_wait_list)
		return;
	c->wprev = w->waiting.tail;
	c->wnext = NULL;
	if (w->waiting.tail)
		w->waiting.tail->wnext = c;
	else
		w->waiting.head = c;
	w->waiting.tail = c;
	c->in_wait_list = true;
}

static void wait_list_remove(struct worker *w, struct conn *c)
{
	if (!c->in_wait_list)
		return;
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		w->waiting.head = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	else
		w->waiting.tail = c->wprev;
	c->wprev = c->wnext = NULL;
	c->in_wait_list = false;
}

/* --- events ----------------------------------------------------------------- */

void conn_event_begin_buf(struct conn *c, struct event_builder *b, uint8_t *buf, size_t cap,
			  uint8_t type, const struct event_addr *src, uint16_t flags)
{
	struct event_header h = {
		.type = type,
		.flags = (uint16_t)(c->flags | flags),
		.transport = IPPROTO_TCP,
		.ts_us = c->w->clock_us ? c->w->clock_us : time_now_us(),
		.flow_id = c->flow_id,
		.src = src ? *src : c->src,
		.dst = c->dst,
	};
	/* The header carries one IP version: a v4 client proxied to a v6 sinkhole keeps its own. */
	h.dst.ipver = h.src.ipver;
	event_begin(b, buf, cap, &h);
	event_put_str(b, EVENT_T_LISTENER, c->l->cfg->name);
	event_put_u32(b, EVENT_T_TX_ID, c->tx_count);
	if (c->flags & EVENT_F_VIA_PROXY)
		event_put_addr(b, EVENT_T_PEER, &c->peer);
	if (c->tls)
		tls_conn_put_fields(c, b);
}

#define WT_SUM(f) (t->f += atomic_load_explicit(&s->f, memory_order_relaxed))

void worker_stats_total(const struct worker *ws, unsigned n, struct worker_totals *t)
{
	memset(t, 0, sizeof *t);
	for (unsigned i = 0; i < n; i++) {
		const struct worker_stats *s = &ws[i].st;
		WT_SUM(accepted);
		WT_SUM(refused_limit);
		WT_SUM(open);
		WT_SUM(events);
		WT_SUM(events_dropped);
		WT_SUM(requests);
		WT_SUM(malformed);
		WT_SUM(timeouts);
		WT_SUM(refused_unrecorded);
		WT_SUM(bytes_in);
		WT_SUM(bytes_out);
		WT_SUM(dgram_in);
		WT_SUM(dgram_out);
		WT_SUM(dgram_send_errors);
		WT_SUM(dgram_held_dropped);
		WT_SUM(dns_rrl_dropped);
		WT_SUM(dns_rrl_slipped);
	}
}

#undef WT_SUM

void conn_event_begin(struct conn *c, struct event_builder *b, uint8_t type,
		      const struct event_addr *src, uint16_t flags)
{
	conn_event_begin_buf(c, b, c->w->evbuf, EVENT_MAX_LEN, type, src, flags);
}

/* Finishes an event and hands it to the worker's lane; returns its sequence, 0 if not recorded. */
static uint64_t worker_event_submit(struct worker *w, struct event_builder *b)
{
	size_t len;
	if (event_finish(b, &len) != 0) {
		/* Cannot happen with the limits in force; count it rather than lose it silently. */
		STAT_INC(w->st.events_dropped);
		return 0;
	}
	uint64_t seq = 0;
	if (w->sink) {
		/* Socketless drivers (replay, fuzzing): no lane, the record goes to the sink. */
		if (w->sink(w->sink_arg, b->buf, len) != 0) {
			STAT_INC(w->st.events_dropped);
			return 0;
		}
		seq = ++w->sink_seq;
	} else if (recorder_submit(w->lane, b->buf, len, &seq) != 0) {
		STAT_INC(w->st.events_dropped);
		return 0;
	}
	STAT_INC(w->st.events);
	return seq;
}

uint64_t conn_event_submit(struct conn *c, struct event_builder *b)
{
	c->tx_count++;
	uint64_t seq = worker_event_submit(c->w, b);
	if (seq)
		c->last_seq = seq;
	return seq;
}

/* --- datagrams ----------------------------------------------------------------- */

/* A reply waiting for its event to be durable (answered mode). */
struct dgram_held {
	uint64_t seq;
	unsigned listener;
	struct sockaddr_storage to;
	socklen_t to_len;
	uint8_t ctl[WORKER_DGRAM_CTL];
	size_t ctl_len;
	size_t len;
	uint8_t data[];
};

/* Per-worker batch buffers, allocated once if the worker has a datagram listener. */
struct worker_dgram {
	struct mmsghdr rx[WORKER_DGRAM_BATCH];
	struct iovec rx_iov[WORKER_DGRAM_BATCH];
	struct sockaddr_storage rx_addr[WORKER_DGRAM_BATCH];
	uint8_t rx_ctl[WORKER_DGRAM_BATCH][WORKER_DGRAM_CTL];
	uint8_t rx_buf[WORKER_DGRAM_BATCH][WORKER_DGRAM_MAX];
	struct mmsghdr tx[WORKER_DGRAM_BATCH];
	struct iovec tx_iov[WORKER_DGRAM_BATCH];
	uint8_t tx_ctl[WORKER_DGRAM_BATCH][WORKER_DGRAM_CTL];
	uint8_t tx_buf[WORKER_DGRAM_BATCH][WORKER_DGRAM_REPLY];
	struct dgram dgs[WORKER_DGRAM_BATCH];
	/* FIFO of held replies: sequences only grow, so the head is always the oldest. */
	struct dgram_held *held[WORKER_DGRAM_HELD];
	unsigned held_head, held_count;
	/* Listeners whose socket a failed EPOLL_CTL_ADD left out of epoll: polled each turn. */
	unsigned n_unwatched;
	uint8_t unwatched[]; /* [n_listeners] */
};

void dgram_event_begin(struct worker *w, struct dgram *dg, struct event_builder *b, uint8_t type,
		       uint16_t flags)
{
	struct event_header h = {
		.type = type,
		.flags = flags,
		.transport = IPPROTO_UDP,
		.ts_us = dg->ts_us ? dg->ts_us : time_now_us(),
		.flow_id = dg->flow_id,
		.src = dg->src,
		.dst = dg->dst,
	};
	h.dst.ipver = h.src.ipver;
	event_begin(b, w->evbuf, EVENT_MAX_LEN, &h);
	event_put_str(b, EVENT_T_LISTENER, dg->l->cfg->name);
}

uint64_t dgram_event_submit(struct worker *w, struct dgram *dg, struct event_builder *b)
{
	dg->event_seq = worker_event_submit(w, b);
	return dg->event_seq;
}

/* Reads the destination address from IP_PKTINFO / IPV6_PKTINFO; false if absent. */
static bool dgram_pktinfo(struct msghdr *mh, struct event_addr *dst)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof pi);
			dst->ipver = 4;
			memset(dst->addr, 0, sizeof dst->addr);
			memcpy(dst->addr, &pi.ipi_addr, 4);
			return true;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof pi);
			dst->ipver = 6;
			memcpy(dst->addr, &pi.ipi6_addr, 16);
			return true;
		}
	}
	return false;
}

/* TPROXY: the address and port a datagram was sent to before the kernel diverted it. */
static bool dgram_origdst(struct msghdr *mh, struct event_addr *dst)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_ORIGDSTADDR) {
			struct sockaddr_in sin;
			memcpy(&sin, CMSG_DATA(cm), sizeof sin);
			dst->ipver = 4;
			memset(dst->addr, 0, sizeof dst->addr);
			memcpy(dst->addr, &sin.sin_addr, 4);
			dst->port = ntohs(sin.sin_port);
			return true;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_ORIGDSTADDR) {
			struct sockaddr_in6 sin6;
			memcpy(&sin6, CMSG_DATA(cm), sizeof sin6);
			dst->ipver = 6;
			memcpy(dst->addr, &sin6.sin6_addr, 16);
			dst->port = ntohs(sin6.sin6_port);
			return true;
		}
	}
	return false;
}

/* Builds the control message that makes a reply leave from `from`; returns its length. */
static size_t dgram_reply_ctl(uint8_t *buf, const struct event_addr *from)
{
	struct msghdr mh = { .msg_control = buf, .msg_controllen = WORKER_DGRAM_CTL };
	memset(buf, 0, WORKER_DGRAM_CTL);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (from->ipver == 4) {
		struct in_pktinfo pi;
		memset(&pi, 0, sizeof pi);
		memcpy(&pi.ipi_spec_dst, from->addr, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof pi);
		memcpy(CMSG_DATA(cm), &pi, sizeof pi);
		return CMSG_SPACE(sizeof pi);
	}
	struct in6_pktinfo pi6;
	memset(&pi6, 0, sizeof pi6);
	memcpy(&pi6.ipi6_addr, from->addr, 16);
	cm->cmsg_level = IPPROTO_IPV6;
	cm->cmsg_type = IPV6_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof pi6);
	memcpy(CMSG_DATA(cm), &pi6, sizeof pi6);
	return CMSG_SPACE(sizeof pi6);
}

/* Sends n prepared replies with as few sendmmsg calls as the kernel allows. */
static void dgram_send(struct worker *w, int fd, struct mmsghdr *msgs, unsigned n)
{
	unsigned done = 0;
	while (done < n) {
		int k = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			/* Full socket buffer or an unreachable client: the rest of the batch is lost. */
			STAT_ADD(w->st.dgram_send_errors, n - done);
			return;
		}
		for (int i = 0; i < k; i++)
			STAT_ADD(w->st.bytes_out, msgs[done + (unsigned)i].msg_len);
		STAT_ADD(w->st.dgram_out, (uint64_t)k);
		done += (unsigned)k;
	}
}

static void dgram_hold(struct worker *w, struct listener *l, const struct mmsghdr *m, uint64_t seq)
{
	struct worker_dgram *d = w->dg;
	size_t len = m->msg_hdr.msg_iov[0].iov_len;
	struct dgram_held *h = NULL;
	if (d->held_count < WORKER_DGRAM_HELD)
		h = malloc(sizeof *h + len);
	if (!h) {
		STAT_INC(w->st.dgram_held_dropped);
		return;
	}
	h->listener = l->index;
	memcpy(&h->to, m->msg_hdr.msg_name, m->msg_hdr.msg_namelen);
	h->to_len = m->msg_hdr.msg_namelen;
	h->ctl_len = m->msg_hdr.msg_controllen;
	if (h->ctl_len)
		memcpy(h->ctl, m->msg_hdr.msg_control, h->ctl_len);
	h->len = len;
	memcpy(h->data, m->msg_hdr.msg_iov[0].iov_base, len);
	h->seq = seq;
	d->held[(d->held_head + d->held_count) % WORKER_DGRAM_HELD] = h;
	d->held_count++;
}

/* Answered mode: sends held replies whose events are durable (or all, when `all`). */
static void dgram_release(struct worker *w, bool all)
{
	struct worker_dgram *d = w->dg;
	if (!d)
		return;
	/* At teardown the recorder is already gone: nothing is read from it. */
	uint64_t durable = all ? 0 : recorder_durable(w->lane);
	while (d->held_count) {
		struct dgram_held *h = d->held[d->held_head];
		if (!all && h->seq > durable)
			break;
		d->held_head = (d->held_head + 1) % WORKER_DGRAM_HELD;
		d->held_count--;
		int fd = w->listeners[h->listener].fds[w->id];
		if (!all && fd >= 0) {
			struct iovec iov = { h->data, h->len };
			struct mmsghdr m = { .msg_hdr = {
						     .msg_name = &h->to,
						     .msg_namelen = h->to_len,
						     .msg_iov = &iov,
						     .msg_iovlen = 1,
						     .msg_control = h->ctl_len ? h->ctl : NULL,
						     .msg_controllen = h->ctl_len,
					     } };
			dgram_send(w, fd, &m, 1);
		} else {
			STAT_INC(w->st.dgram_held_dropped);
		}
		free(h);
	}
}

static void conn_fill_addr(struct event_addr *a, const struct sockaddr_storage *ss);

/*
 * While a busy datagram socket is drained it is taken out of epoll. On
 * loopback (and wherever a send completes at once) the kernel frees each
 * reply's buffer inside sendmmsg and then walks the socket's wait queue to
 * offer it EPOLLOUT; with the socket in an epoll set that queue is never
 * empty, so every reply paid for a callback that only finds nobody wants
 * EPOLLOUT (~4% of a query's CPU). Two epoll_ctl calls per batch of at least
 * WORKER_DGRAM_PARK_MIN datagrams cost less; smaller batches leave it alone.
 */
#define WORKER_DGRAM_PARK_MIN 8

static void dgram_unwatch(struct worker *w, int fd, bool *parked)
{
	if (*parked || w->epfd < 0)
		return;
	*parked = epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL) == 0;
}

/* Puts the socket back into epoll (level-triggered: what arrived meanwhile is reported). */
static void dgram_watch(struct worker *w, struct listener *l, int fd)
{
	struct epoll_event lev = { .events = EPOLLIN, .data.u64 = EPOLL_TAG_LISTENER | l->index };
	bool ok = epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &lev) == 0 || errno == EEXIST;
	struct worker_dgram *d = w->dg;
	if (ok && d->unwatched[l->index]) {
		d->unwatched[l->index] = 0;
		d->n_unwatched--;
	} else if (!ok && !d->unwatched[l->index]) {
		dlog(DLOG_WARN, "listener %s: epoll_ctl: %s; polling the socket until it succeeds",
		     l->cfg->name, strerror(errno));
		d->unwatched[l->index] = 1;
		d->n_unwatched++;
	}
}

static void worker_dgram_drain(struct worker *w, struct listener *l, int fd, bool *parked);

/* Receives and answers datagrams in batches until the socket is empty or the round budget is spent. */
static void worker_dgram_read(struct worker *w, struct listener *l)
{
	int fd = l->fds[w->id];
	if (!w->dg || fd < 0 || !l->ops->on_datagram)
		return;
	bool parked = false;
	worker_dgram_drain(w, l, fd, &parked);
	if (parked || w->dg->unwatched[l->index])
		dgram_watch(w, l, fd);
}

static void worker_dgram_drain(struct worker *w, struct listener *l, int fd, bool *parked)
{
	struct worker_dgram *d = w->dg;
	bool tproxy = l->cfg->redirect == CONFIG_REDIRECT_TPROXY;
	for (int round = 0; round < WORKER_DGRAM_ROUNDS; round++) {
		for (unsigned i = 0; i < WORKER_DGRAM_BATCH; i++) {
			d->rx_iov[i] = (struct iovec){ d->rx_buf[i], WORKER_DGRAM_MAX };
			d->rx[i].msg_hdr = (struct msghdr){
				.msg_name = &d->rx_addr[i],
				.msg_namelen = sizeof d->rx_addr[i],
				.msg_iov = &d->rx_iov[i],
				.msg_iovlen = 1,
				.msg_control = l->wildcard || tproxy ? d->rx_ctl[i] : NULL,
				.msg_controllen = l->wildcard || tproxy ? WORKER_DGRAM_CTL : 0,
			};
			d->rx[i].msg_len = 0;
		}
		/* MSG_TRUNC: msg_len is the datagram's real size even when the slot cut it. */
		int n = recvmmsg(fd, d->rx, WORKER_DGRAM_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (n >= WORKER_DGRAM_PARK_MIN)
			dgram_unwatch(w, fd, parked);
		/* One clock read per batch: its datagrams were received together. */
		uint64_t ts_us = time_now_us();
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &d->rx[i].msg_hdr;
			struct dgram *dg = &d->dgs[i];
			*dg = (struct dgram){
				.l = l,
				.data = d->rx_buf[i],
				.len = d->rx[i].msg_len,
				.wire_len = d->rx[i].msg_len,
				.truncated = (mh->msg_flags & MSG_TRUNC) != 0,
				.flow_id = w->flow_base | (w->flow_next++ & 0x0fffffffu),
				/* Slot i: a batch never has more replies before i than datagrams. */
				.reply = d->tx_buf[i],
				.reply_cap = WORKER_DGRAM_REPLY,
				.ts_us = ts_us,
			};
			if (dg->len > WORKER_DGRAM_MAX)
				dg->len = WORKER_DGRAM_MAX;
			conn_fill_addr(&dg->src, &d->rx_addr[i]);
			dg->dst = l->local;
			if (l->wildcard && !dgram_pktinfo(mh, &dg->dst))
				dg->dst = l->local;
			dg->dst.port = l->local.port;
			if (tproxy)
				dgram_origdst(mh, &dg->dst);
			STAT_INC(w->st.dgram_in);
			STAT_ADD(w->st.bytes_in, dg->wire_len);
		}
		if (l->ops->on_datagram_batch)
			l->ops->on_datagram_batch(w, d->dgs, (unsigned)n);
		unsigned out = 0;
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &d->rx[i].msg_hdr;
			struct dgram *dg = &d->dgs[i];
			size_t rlen = l->ops->on_datagram(w, dg);
			if (rlen == 0 || rlen > dg->reply_cap)
				continue;
			struct mmsghdr *m = &d->tx[out];
			d->tx_iov[out] = (struct iovec){ dg->reply, rlen };
			m->msg_hdr = (struct msghdr){
				.msg_name = &d->rx_addr[i],
				.msg_namelen = mh->msg_namelen,
				.msg_iov = &d->tx_iov[out],
				.msg_iovlen = 1,
			};
			m->msg_len = 0;
			if (l->wildcard) {
				m->msg_hdr.msg_control = d->tx_ctl[out];
				m->msg_hdr.msg_controllen =
					dgram_reply_ctl(d->tx_ctl[out], &dg->dst);
			}
			if (w->answered && dg->event_seq == 0) {
				/* Never answer what is not recorded (the lane was full): the client retries. */
				STAT_INC(w->st.refused_unrecorded);
				continue;
			}
			if (w->answered && dg->event_seq > recorder_durable(w->lane)) {
				dgram_hold(w, l, m, dg->event_seq);
				continue;
			}
			out++;
		}
		if (out)
			dgram_send(w, fd, d->tx, out);
		if ((unsigned)n < WORKER_DGRAM_BATCH)
			return;
	}
}

/* --- output ------------------------------------------------------------------ */

/* Appends to the connection's own output buffer (answers that must wait). */
static int conn_out_append(struct conn *c, const void *data, size_t len)
{
	size_t used = c->out_len;
	if (len > CONN_OUT_MAX - used) {
		/* A peer that pipelines without reading: stop serving it. */
		c->closed = true;
		return ERR_NOMEM;
	}
	if (used + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 256;
		while (cap < used + len)
			cap *= 2;
		uint8_t *p = realloc(c->out, cap);
		if (!p) {
			c->closed = true;
			return ERR_NOMEM;
		}
		c->out = p;
		c->out_cap = (uint32_t)cap;
	}
	memcpy(c->out + used, data, len);
	c->out_len = (uint32_t)(used + len);
	return 0;
}

/* Moves the answers staged in the worker into their connection's own buffer. */
static int stage_spill(struct worker *w)
{
	struct conn *c = w->stage_conn;
	size_t n = w->stage_len;
	w->stage_conn = NULL;
	w->stage_len = 0;
	return c && n ? conn_out_append(c, w->stage, n) : 0;
}

/*
 * Answers are staged in the worker's buffer while the connection's input is
 * processed and sent from there by conn_flush: the common case (one answer,
 * sent whole) never allocates. Only what has to wait moves to c->out.
 */
int conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->tls)
		return tls_conn_write(c, data, len);
	return conn_write_raw(c, data, len);
}

int conn_write_raw(struct conn *c, const void *data, size_t len)
{
	struct worker *w = c->w;
	if (c->closed)
		return 0;
	/* In answered mode this output waits for every event recorded so far on the connection. */
	if (w->answered)
		c->wait_seq = c->last_seq;
	if (w->stage_conn && w->stage_conn != c)
		stage_spill(w);
	if (c->out_off == c->out_len && len <= w->stage_cap - w->stage_len) {
		memcpy(w->stage + w->stage_len, data, len);
		w->stage_len += len;
		w->stage_conn = c;
		return 0;
	}
	if (w->stage_conn == c)
		stage_spill(w); /* keep the order of answers */
	return conn_out_append(c, data, len);
}

const struct rules_family *conn_event_classify(struct conn *c, struct event_builder *b,
					       struct rules_input *in)
{
	in->slot = c->w->id;
	tls_conn_fill_rules(c, in);
	const struct rules_family *fam = rules_classify(c->w->rules->rules, in);
	event_put_str(b, EVENT_T_FAMILY, fam->name);
	if (fam->tag)
		event_put_str(b, EVENT_T_TAG, fam->tag);
	if (fam->index != UINT32_MAX)
		event_put_u32(b, EVENT_T_RULE, fam->index);
	return fam;
}

void conn_apply_proxy(struct conn *c, const struct proxy_result *pr)
{
	if (pr->kind == PROXY_KIND_PROXY && (pr->src.ipver == 4 || pr->src.ipver == 6)) {
		c->peer = c->src;
		c->src = pr->src;
		c->dst = pr->dst;
		c->flags |= EVENT_F_VIA_PROXY;
	}
}

void conn_close_after_flush(struct conn *c)
{
	c->close_after_flush = true;
}

int conn_read_proxy(struct conn *c, const uint8_t *buf, size_t len, bool eof, size_t *used,
		    const char **why)
{
	struct proxy_result pr;
	*why = NULL;
	int rc = proxy_parse(buf, len, &pr, why);
	if (rc == ERR_NEED_MORE && !eof && len < 16u + PROXY_V2_MAX_LEN)
		return ERR_NEED_MORE;
	if (rc != 0) {
		if (rc == ERR_NEED_MORE || !*why)
			*why = rc == ERR_NEED_MORE ? "PROXY header incomplete" : "bad PROXY header";
		return ERR_MALFORMED;
	}
	conn_apply_proxy(c, &pr);
	*used = pr.header_len;
	return 0;
}

/* Sends what may be sent now. Returns false if the connection was closed. */
static bool conn_flush(struct conn *c)
{
	struct worker *w = c->w;
	if (w->stage_conn == c) {
		bool must_wait = w->answered && c->wait_seq > recorder_durable(w->lane);
		if (c->out_off != c->out_len || must_wait) {
			stage_spill(w);
		} else {
			/*
			 * The fast path: send the staged answers straight away. The
			 * last answer before a close is held back (MSG_MORE) and
			 * shutdown() sends it with the FIN in one segment: one
			 * packet less to send and for the peer to take in, per
			 * connection. shutdown, not close alone: close() with unread
			 * input resets the connection and would drop the answer.
			 */
			size_t n = w->stage_len;
			int more = c->close_after_flush ? MSG_MORE : 0;
			ssize_t sent;
			do
				sent = send(c->fd, w->stage, n, MSG_NOSIGNAL | MSG_DONTWAIT | more);
			while (sent < 0 && errno == EINTR);
			w->stage_conn = NULL;
			w->stage_len = 0;
			if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_close(c);
				return false;
			}
			size_t done = sent > 0 ? (size_t)sent : 0;
			STAT_ADD(w->st.bytes_out, done);
			if (done == n) {
				if (more)
					shutdown(c->fd, SHUT_WR);
				return true;
			}
			if (conn_out_append(c, w->stage + done, n - done) != 0) {
				conn_close(c);
				return false;
			}
			conn_set_timer(c, CONN_TIMER_IDLE);
			return true;
		}
	}
	if (c->out_off == c->out_len)
		return true;
	if (w->answered && c->wait_seq > recorder_durable(w->lane)) {
		wait_list_add(w, c);
		return true;
	}
	wait_list_remove(w, c);
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (uint32_t)n;
			STAT_ADD(w->st.bytes_out, (uint64_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_set_timer(c, CONN_TIMER_IDLE);
			return true;
		}
		/* Peer reset or gone: nothing more to say to it. */
		conn_close(c);
		return false;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	return true;
}

/* --- connection lifecycle ----------------------------------------------------- */

static struct conn *conn_alloc(struct worker *w)
{
	struct conn *c = w->free_conns;
	if (c) {
		w->free_conns = c->tnext;
		w->n_free--;
	} else {
		c = malloc(sizeof *c);
		if (!c)
			return NULL;
	}
	memset(c, 0, sizeof *c);
	c->w = w;
	c->fd = -1;
	return c;
}

static void conn_recycle(struct worker *w, struct conn *c)
{
	if (w->n_free >= WORKER_FREE_MAX) {
		free(c);
		return;
	}
	c->tnext = w->free_conns;
	w->free_conns = c;
	w->n_free++;
}

static void conn_close(struct conn *c)
{
	struct worker *w = c->w;
	if (w->stage_conn == c) {
		w->stage_conn = NULL;
		w->stage_len = 0;
	}
	conn_release(c);
	list_unlink_timer(w, c);
	wait_list_remove(w, c);
	/* close() also drops the fd from epoll: it is never duplicated. */
	close(c->fd);
	free(c->in);
	free(c->out);
	atomic_fetch_sub_explicit(&c->l->open, 1, memory_order_relaxed);
	STAT_ADD(w->st.open, (uint64_t)-1);
	w->n_conns--;
	conn_recycle(w, c);
}

/*
 * A new connection is only added to epoll when it has to wait: one that is
 * answered and closed on its first read never costs an epoll_ctl.
 */
static void conn_set_epoll(struct conn *c, uint32_t mask)
{
	if (mask == c->epoll_mask && c->registered)
		return;
	struct epoll_event ev = { .events = mask, .data.ptr = c };
	if (!c->registered) {
		if (mask == 0)
			return;
		if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
			c->closed = true;
			return;
		}
		c->registered = true;
	} else if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
		return;
	}
	c->epoll_mask = mask;
}

/* Input capacity of a connection: one request head or raw capture (and a PROXY header) at most. */
static size_t conn_in_limit(const struct conn *c)
{
	const struct config_listener *lc = c->l->cfg;
	size_t head = lc->http.max_header_bytes;
	if (lc->proto == CONFIG_PROTO_RAW && lc->raw.capture_bytes > head)
		head = lc->raw.capture_bytes;
	return head + CONN_PROXY_ROOM;
}

size_t conn_input_cap(const struct conn *c)
{
	return conn_in_limit(c);
}

void conn_timer_stop(struct conn *c)
{
	list_unlink_timer(c->w, c);
}

/* Keeps the unconsumed tail of data in c->in (data may be the scratch buffer or c->in itself). */
static bool conn_keep_input(struct conn *c, const uint8_t *data, size_t len, size_t consumed)
{
	size_t left = len - consumed;
	if (data == c->in) {
		if (left && consumed)
			memmove(c->in, c->in + consumed, left);
		c->in_len = (uint32_t)left;
	} else if (left) {
		size_t cap = conn_in_limit(c);
		if (cap < left)
			cap = left;
		uint8_t *p = malloc(cap);
		if (!p)
			return false;
		memcpy(p, data + consumed, left);
		c->in = p;
		c->in_cap = (uint32_t)cap;
		c->in_len = (uint32_t)left;
	}
	if (c->in_len == 0 && c->in) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	return true;
}

static bool conn_output_blocked(const struct conn *c)
{
	return c->out_len - c->out_off >= CONN_OUT_HIGH;
}

void conn_handover(struct conn *c, const struct proto_ops *ops)
{
	c->ops = ops;
	memset(&c->p, 0, sizeof c->p);
	if (ops->on_open)
		ops->on_open(c);
}

size_t conn_offer(struct conn *c, const uint8_t *data, size_t len)
{
	size_t used;
	if (c->tls)
		return tls_conn_input(c, data, len, c->eof);
	const struct proto_ops *ops = c->ops;
	used = ops->on_input(c, data, len, c->eof);
	/* Handed over: the new module reads the same bytes from the start (at most once). */
	if (c->ops != ops && !c->closed)
		used = c->tls ? tls_conn_input(c, data, len, c->eof) :
				c->ops->on_input(c, data, len, c->eof);
	/* The protocol started TLS (STARTTLS, a PROXY header, a hand-over): the rest is TLS. */
	if (c->tls && used < len && !c->closed)
		used += tls_conn_input(c, data + used, len - used, c->eof);
	return used;
}

void conn_expire(struct conn *c)
{
	if (!(c->tls && tls_conn_timeout(c)) && c->ops->on_timeout)
		c->ops->on_timeout(c);
}

void conn_release(struct conn *c)
{
	if (c->ops->on_close)
		c->ops->on_close(c);
	if (c->tls)
		tls_conn_free(c);
}

/* Hands buffered input to the protocol when it can take it. */
static void conn_feed(struct conn *c, const uint8_t *data, size_t len)
{
	size_t used = conn_offer(c, data, len);
	if (used > len)
		used = len;
	if (c->closed)
		used = len; /* nothing more will be read from it */
	if (!conn_keep_input(c, data, len, used))
		c->closed = true;
}

static void conn_read(struct conn *c)
{
	struct worker *w = c->w;
	bool looked_again = false;
	for (int burst = 0; burst < WORKER_READ_BURST && !c->closed && !c->eof; burst++) {
		if (conn_output_blocked(c))
			break;
		uint8_t *dst;
		size_t room;
		if (c->in) {
			dst = c->in + c->in_len;
			room = c->in_cap - c->in_len;
			if (room == 0) {
				/* The protocol could not make progress with a full buffer: a bug guard. */
				c->closed = true;
				break;
			}
		} else {
			dst = w->scratch;
			room = w->scratch_cap;
		}
		ssize_t n = recv(c->fd, dst, room, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* Reset by peer: treat as end of input so a partial request is still recorded. */
			c->eof = true;
			n = 0;
		}
		if (n == 0)
			c->eof = true;
		c->bytes_in += (uint64_t)n;
		STAT_ADD(w->st.bytes_in, (uint64_t)n);
		if (c->in) {
			c->in_len += (uint32_t)n;
			conn_feed(c, c->in, c->in_len);
		} else {
			conn_feed(c, w->scratch, (size_t)n);
		}
		if ((size_t)n < room) {
			/*
			 * A short read the protocol could not finish with: the rest
			 * (often just the peer's FIN) may be here already. Look once
			 * more before paying for an epoll registration and wake-up.
			 */
			if (c->in && !looked_again && !c->eof) {
				looked_again = true;
				continue;
			}
			break;
		}
	}
}

/*
 * After any activity: send, pick the epoll interest, or close. Input held in
 * c->in is always an incomplete request (the protocol consumes everything it
 * can), so nothing here needs re-parsing: more bytes are what it waits for.
 * A peer whose answers pile up is not read from (conn_read stops at
 * CONN_OUT_HIGH) until they drain, and then EPOLLIN is asked for again.
 */
static void conn_service(struct conn *c)
{
	if (!conn_flush(c))
		return;
	bool pending_out = c->out_off < c->out_len;
	if ((c->closed || c->close_after_flush || c->eof) && !pending_out) {
		conn_close(c);
		return;
	}
	if (c->closed && pending_out && !c->close_after_flush) {
		/* Output could not be queued: drop the connection. */
		conn_close(c);
		return;
	}
	uint32_t mask = 0;
	if (!c->closed && !c->eof && !c->close_after_flush && !conn_output_blocked(c))
		mask |= EPOLLIN | EPOLLRDHUP;
	if (pending_out && !c->in_wait_list)
		mask |= EPOLLOUT;
	conn_set_epoll(c, mask);
	if (c->closed && !c->registered && mask)
		conn_close(c); /* epoll refused it: nothing would ever wake it */
}

static void conn_fill_addr(struct event_addr *a, const struct sockaddr_storage *ss)
{
	memset(a, 0, sizeof *a);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		a->ipver = 4;
		memcpy(a->addr, &sin->sin_addr, 4);
		a->port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		/* A v4-mapped peer on a v6 socket is recorded as the IPv4 address it is. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			a->ipver = 4;
			memcpy(a->addr, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			a->ipver = 6;
			memcpy(a->addr, &sin6->sin6_addr, 16);
		}
		a->port = ntohs(sin6->sin6_port);
	}
}

static void worker_accept(struct worker *w, struct listener *l)
{
	int lfd = l->fds[w->id];
	for (int k = 0; k < WORKER_ACCEPT_BURST && lfd >= 0; k++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof ss;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				dlog(DLOG_WARN, "listener %s: out of file descriptors",
				     l->cfg->name);
			return;
		}
		uint32_t open = atomic_fetch_add_explicit(&l->open, 1, memory_order_relaxed);
		struct conn *c = open < l->cfg->max_connections ? conn_alloc(w) : NULL;
		if (!c) {
			atomic_fetch_sub_explicit(&l->open, 1, memory_order_relaxed);
			STAT_INC(w->st.refused_limit);
			close(fd);
			continue;
		}
		STAT_INC(w->st.accepted);
		STAT_INC(w->st.open);
		w->n_conns++;
		c->fd = fd;
		c->l = l;
		c->ops = l->ops;
		conn_fill_addr(&c->peer, &ss);
		c->src = c->peer;
		c->dst = l->local;
		if (l->wildcard || l->cfg->redirect) {
			/* TPROXY: the local address is the one the client called. */
			struct sockaddr_storage ls;
			socklen_t llen = sizeof ls;
			if (getsockname(fd, (struct sockaddr *)&ls, &llen) == 0) {
				conn_fill_addr(&c->dst, &ls);
				/* REDIRECT: conntrack remembers where the client was going. */
				if (l->cfg->redirect == CONFIG_REDIRECT_NAT &&
				    anyport_original_dst(fd, ls.ss_family, &ls) == 0)
					conn_fill_addr(&c->dst, &ls);
			}
		}
		c->flow_id = w->flow_base | (w->flow_next++ & 0x0fffffffu);
		if (l->ops->on_open)
			l->ops->on_open(c);
		conn_set_timer(c, CONN_TIMER_REQUEST);
		/*
		 * Bots send their request right after connecting, so it is usually
		 * here already: read it now and skip a trip through epoll. A
		 * protocol that speaks first (the SMTP greeting is staged by
		 * on_open) has a client that waits for it: that read would only
		 * say EAGAIN. An early talker's bytes stay queued and epoll
		 * reports them on the next turn.
		 */
		if (w->stage_conn != c)
			conn_read(c);
		conn_service(c);
	}
}

static void worker_expire(struct worker *w)
{
	for (unsigned i = 0; i < w->n_listeners * CONN_TIMER_KINDS; i++) {
		struct conn_list *lst = &w->timers[i];
		while (lst->head && lst->head->deadline_ms <= w->now_ms) {
			struct conn *c = lst->head;
			list_unlink_timer(w, c);
			STAT_INC(w->st.timeouts);
			conn_expire(c);
			conn_close(c);
		}
	}
}

static int worker_next_timeout(struct worker *w)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < w->n_listeners * CONN_TIMER_KINDS; i++)
		if (w->timers[i].head && w->timers[i].head->deadline_ms < next)
			next = w->timers[i].head->deadline_ms;
	if (w->draining && w->drain_deadline_ms < next)
		next = w->drain_deadline_ms;
	if (next == UINT64_MAX)
		return 1000;
	if (next <= w->now_ms)
		return 0;
	uint64_t ms = next - w->now_ms;
	return ms > 1000 ? 1000 : (int)ms;
}

/* Durability advanced: answer every connection whose events are now on disk. */
static void worker_durable(struct worker *w)
{
	dgram_release(w, false);
	uint64_t durable = recorder_durable(w->lane);
	struct conn *c = w->waiting.head;
	while (c) {
		struct conn *next = c->wnext;
		if (c->wait_seq <= durable) {
			wait_list_remove(w, c);
			conn_service(c);
		}
		c = next;
	}
}

/* Whether a shutdown may close the connection now: nothing buffered, queued or in flight. */
static bool conn_is_idle(const struct conn *c)
{
	if (c->closed || c->out_off != c->out_len || c->in_len != 0 || c->in_wait_list ||
	    c->w->stage_conn == c)
		return false;
	if (c->tls && !tls_conn_is_idle(c))
		return false;
	return !c->ops->is_idle || c->ops->is_idle(c);
}

static void worker_begin_drain(struct worker *w)
{
	w->draining = true;
	w->drain_deadline_ms = w->now_ms + daemon_drain_timeout_ms(w->d);
	for (unsigned i = 0; i < w->n_listeners; i++)
		listener_close_fd(&w->listeners[i], w->id);
	/* Connections with nothing in flight are closed now; the rest get the drain time. */
	for (unsigned i = 0; i < w->n_listeners * CONN_TIMER_KINDS; i++) {
		struct conn *c = w->timers[i].head;
		while (c) {
			struct conn *next = c->tnext;
			if (conn_is_idle(c))
				conn_close(c);
			c = next;
		}
	}
}

static void worker_force_close_all(struct worker *w)
{
	for (unsigned i = 0; i < w->n_listeners * CONN_TIMER_KINDS; i++) {
		while (w->timers[i].head) {
			struct conn *c = w->timers[i].head;
			list_unlink_timer(w, c);
			conn_expire(c);
			conn_close(c);
		}
	}
}

static void worker_handle(struct worker *w, struct epoll_event *ev)
{
	uint64_t tag = ev->data.u64;
	if (tag == 0) {
		uint64_t v;
		ssize_t rd = read(w->wake_fd, &v, sizeof v);
		(void)rd;
		if (w->answered)
			worker_durable(w);
		return;
	}
	if (tag & EPOLL_TAG_LISTENER) {
		unsigned idx = (unsigned)(tag & ~EPOLL_TAG_LISTENER);
		if (idx >= w->n_listeners || w->draining)
			return;
		if (w->listeners[idx].dgram)
			worker_dgram_read(w, &w->listeners[idx]);
		else
			worker_accept(w, &w->listeners[idx]);
		return;
	}
	struct conn *c = ev->data.ptr;
	if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_read(c);
	/*
	 * Hang-up or error: the peer is gone in both directions. What it sent is
	 * read and recorded above; nothing can be delivered any more, and epoll
	 * would report the condition again on every turn, so close now.
	 */
	if (ev->events & (EPOLLHUP | EPOLLERR)) {
		conn_close(c);
		return;
	}
	conn_service(c);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[WORKER_MAX_EVENTS];
	for (;;) {
		w->now_ms = time_mono_ms();
		if (atomic_load_explicit(&w->stop, memory_order_relaxed) && !w->draining)
			worker_begin_drain(w);
		bool held = w->dg && w->dg->held_count;
		if (w->draining &&
		    ((w->n_conns == 0 && !held) || w->now_ms >= w->drain_deadline_ms)) {
			worker_force_close_all(w);
			break;
		}
		/* Between turns this worker holds no rule set: say so, then block. */
		atomic_store_explicit(&w->seen_gen, daemon_rules_gen(w->d), memory_order_release);
		int timeout = worker_next_timeout(w);
		if (w->dg && w->dg->n_unwatched && timeout > WORKER_UNWATCHED_POLL_MS)
			timeout = WORKER_UNWATCHED_POLL_MS;
		int n = epoll_wait(w->epfd, events, WORKER_MAX_EVENTS, timeout);
		w->now_ms = time_mono_ms();
		w->rules = daemon_rules(w->d);
		for (int i = 0; i < n; i++)
			worker_handle(w, &events[i]);
		for (unsigned i = 0; w->dg && w->dg->n_unwatched && i < w->n_listeners; i++)
			if (w->dg->unwatched[i] && !w->draining)
				worker_dgram_read(w, &w->listeners[i]);
		worker_expire(w);
		if (w->answered && (w->waiting.head || (w->dg && w->dg->held_count)))
			worker_durable(w);
	}
	return NULL;
}

int worker_init(struct worker *w, unsigned id, struct daemon *d, struct listener *listeners,
		unsigned n_listeners, struct recorder_lane *lane, bool answered)
{
	memset(w, 0, sizeof *w);
	w->id = id;
	w->d = d;
	w->listeners = listeners;
	w->n_listeners = n_listeners;
	w->lane = lane;
	w->answered = answered;
	w->epfd = -1;
	w->wake_fd = -1;
	w->scratch_cap = WORKER_SCRATCH;
	w->scratch = malloc(w->scratch_cap);
	w->evbuf = malloc(EVENT_MAX_LEN);
	w->stage_cap = WORKER_STAGE;
	w->stage = malloc(w->stage_cap);
	w->timers = calloc((size_t)n_listeners * CONN_TIMER_KINDS, sizeof *w->timers);
	if (!w->scratch || !w->evbuf || !w->stage || !w->timers)
		return ERR_NOMEM;
	for (unsigned i = 0; i < n_listeners; i++) {
		if (listeners[i].dgram && !w->dg) {
			w->dg = calloc(1, sizeof *w->dg + n_listeners);
			if (!w->dg)
				return ERR_NOMEM;
		}
	}
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
		rnd = (uint32_t)time_now_us();
	/* Flow ids stay below 2^53 so JSON readers keep them exact. */
	w->flow_base = ((uint64_t)(rnd & 0x1fffff) << 32) | ((uint64_t)(id & 15) << 28);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->wake_fd < 0)
		return ERR_SYS;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0)
		return ERR_SYS;
	for (unsigned i = 0; i < n_listeners; i++) {
		struct epoll_event lev = { .events = EPOLLIN, .data.u64 = EPOLL_TAG_LISTENER | i };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, listeners[i].fds[id], &lev) != 0)
			return ERR_SYS;
	}
	recorder_lane_set_notify_fd(lane, w->wake_fd);
	w->rules = daemon_rules(d);
	return 0;
}

int worker_start(struct worker *w)
{
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return ERR_SYS;
	return 0;
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;
	ssize_t wr = write(w->wake_fd, &one, sizeof one);
	(void)wr;
}

void worker_request_stop(struct worker *w)
{
	atomic_store(&w->stop, true);
	worker_wake(w);
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void worker_free_protocol_state(struct worker *w)
{
	raw_udp_limiter_free(w->raw_udp);
	w->raw_udp = NULL;
	free(w->dns_rrl);
	w->dns_rrl = NULL;
	free(w->dns_batch);
	w->dns_batch = NULL;
}

void worker_destroy(struct worker *w)
{
	while (w->free_conns) {
		struct conn *c = w->free_conns;
		w->free_conns = c->tnext;
		free(c);
	}
	if (w->dg) {
		dgram_release(w, true);
		free(w->dg);
	}
	worker_free_protocol_state(w);
	free(w->scratch);
	free(w->evbuf);
	free(w->stage);
	free(w->timers);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
}
