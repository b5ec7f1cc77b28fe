/* conn_driver.c — protocol modules without sockets: the worker's per-connection duties, done in memory. */
#include "net/conn_driver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/daemon.h"
#include "proto/tls/tls_server.h"

#define DRIVER_STAGE_BYTES (64u * 1024)

bool conn_driver_has_stream(const struct conn_driver *d, unsigned li)
{
	return li < d->n_listeners && d->listeners[li].ops && d->listeners[li].ops->on_input;
}

bool conn_driver_has_dgram(const struct conn_driver *d, unsigned li)
{
	return li < d->n_listeners && d->dlisteners[li].ops && d->dlisteners[li].ops->on_datagram;
}

static void sockaddr_to_event(const struct sockaddr_storage *ss, struct event_addr *a)
{
	memset(a, 0, sizeof *a);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		a->ipver = 4;
		memcpy(a->addr, &s4->sin_addr, 4);
		a->port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		a->ipver = 6;
		memcpy(a->addr, &s6->sin6_addr, 16);
		a->port = ntohs(s6->sin6_port);
	}
}

int conn_driver_init(struct conn_driver *d, struct config *cfg, conn_driver_sink sink, void *arg,
		     char *errbuf, size_t errlen)
{
	struct worker *w = &d->w;
	int rc;

	memset(d, 0, sizeof *d);
	d->cfg = cfg;
	if ((rc = ruleset_new(cfg, 1, &d->rs, errbuf, errlen)))
		return rc;
	d->n_listeners = (unsigned)cfg->n_listeners;
	d->listeners = calloc(d->n_listeners ? d->n_listeners : 1, sizeof *d->listeners);
	d->dlisteners = calloc(d->n_listeners ? d->n_listeners : 1, sizeof *d->dlisteners);
	d->reply = malloc(WORKER_DGRAM_REPLY);
	w->timers =
		calloc((d->n_listeners ? d->n_listeners : 1) * CONN_TIMER_KINDS, sizeof *w->timers);
	w->evbuf = malloc(EVENT_MAX_LEN);
	w->stage_cap = DRIVER_STAGE_BYTES;
	w->stage = malloc(w->stage_cap);
	if (!d->listeners || !d->dlisteners || !d->reply || !w->timers || !w->evbuf || !w->stage) {
		conn_driver_free(d);
		return ERR_NOMEM;
	}
	for (unsigned i = 0; i < d->n_listeners; i++) {
		struct listener *l = &d->listeners[i];
		l->cfg = &cfg->listeners[i];
		l->index = i;
		l->ops = daemon_listener_stream_ops(l->cfg);
		sockaddr_to_event(&cfg->listeners[i].addr, &l->local);
		d->dlisteners[i] = *l;
		d->dlisteners[i].ops = daemon_listener_dgram_ops(l->cfg);
		if (l->ops && daemon_listener_needs_tls(l->cfg) &&
		    (rc = tls_server_new(l->cfg, &l->tls, errbuf, errlen)) != 0) {
			conn_driver_free(d);
			return rc;
		}
		if (l->ops && daemon_listener_state_init(l) != 0) {
			conn_driver_free(d);
			return ERR_NOMEM;
		}
	}
	w->rules = d->rs;
	w->listeners = d->listeners;
	w->n_listeners = d->n_listeners;
	w->sink = sink;
	w->sink_arg = arg;
	return 0;
}

void conn_driver_free(struct conn_driver *d)
{
	for (unsigned i = 0; d->listeners && i < d->n_listeners; i++) {
		daemon_listener_state_free(&d->listeners[i]);
		tls_server_free(d->listeners[i].tls);
	}
	ruleset_release(d->rs);
	free(d->listeners);
	free(d->dlisteners);
	free(d->reply);
	free(d->w.timers);
	free(d->w.evbuf);
	free(d->w.stage);
	worker_free_protocol_state(&d->w);
	memset(d, 0, sizeof *d);
}

void conn_driver_set_time(struct conn_driver *d, uint64_t now_us)
{
	d->w.clock_us = now_us ? now_us : 1;
	d->w.now_ms = now_us / 1000u;
}

/* Answers are staged by the module; here they have nowhere to go. */
static void driver_discard_output(struct conn_driver *d, struct conn *c)
{
	if (d->on_output) {
		/* Answers that had to wait went to c->out before any staged after them. */
		if (c->out_len > c->out_off)
			d->on_output(d->output_arg, c->out + c->out_off, c->out_len - c->out_off);
		if (d->w.stage_len)
			d->on_output(d->output_arg, d->w.stage, d->w.stage_len);
	}
	d->w.stage_len = 0;
	d->w.stage_conn = NULL;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
}

void conn_driver_open(struct conn_driver *d, struct conn *c, unsigned li,
		      const struct event_addr *src, const struct event_addr *dst, uint64_t flow_id)
{
	c->w = &d->w;
	c->l = &d->listeners[li];
	c->ops = c->l->ops;
	c->fd = -1;
	c->peer = *src;
	c->src = *src;
	c->dst = *dst;
	c->flow_id = flow_id;
	if (c->ops->on_open)
		c->ops->on_open(c);
	conn_set_timer(c, CONN_TIMER_REQUEST);
	driver_discard_output(d, c);
}

bool conn_driver_done(const struct conn *c)
{
	return c->closed || c->close_after_flush;
}

/* Offers everything held to the module and keeps what it leaves. */
static void driver_feed(struct conn_driver *d, struct conn *c)
{
	size_t used = conn_offer(c, c->in, c->in_len);
	if (used > c->in_len || c->closed)
		used = c->in_len;
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= (uint32_t)used;
	driver_discard_output(d, c);
}

size_t conn_driver_input(struct conn_driver *d, struct conn *c, const uint8_t *data, size_t len)
{
	size_t taken = 0;
	if (!c->in) {
		c->in_cap = (uint32_t)conn_input_cap(c);
		c->in = malloc(c->in_cap);
		if (!c->in) {
			c->closed = true;
			return 0;
		}
	}
	while (taken < len && !conn_driver_done(c)) {
		size_t room = c->in_cap - c->in_len;
		if (room == 0) {
			/* As in the worker: a module that cannot progress with a full buffer. */
			c->closed = true;
			break;
		}
		size_t n = len - taken < room ? len - taken : room;
		memcpy(c->in + c->in_len, data + taken, n);
		c->in_len += (uint32_t)n;
		c->bytes_in += n;
		taken += n;
		driver_feed(d, c);
	}
	return taken;
}

void conn_driver_eof(struct conn_driver *d, struct conn *c)
{
	if (conn_driver_done(c) || c->eof)
		return;
	c->eof = true;
	if (!c->in) {
		static uint8_t none[1];
		size_t used = conn_offer(c, none, 0);
		(void)used;
		driver_discard_output(d, c);
		return;
	}
	driver_feed(d, c);
}

void conn_driver_timeout(struct conn_driver *d, struct conn *c)
{
	conn_timer_stop(c);
	if (conn_driver_done(c))
		return;
	conn_expire(c);
	driver_discard_output(d, c);
	c->closed = true;
}

void conn_driver_close(struct conn_driver *d, struct conn *c)
{
	conn_timer_stop(c);
	conn_release(c);
	driver_discard_output(d, c);
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
}

struct conn *conn_driver_expired(struct conn_driver *d, uint64_t now_ms)
{
	for (unsigned i = 0; i < d->n_listeners * CONN_TIMER_KINDS; i++) {
		struct conn *c = d->w.timers[i].head;
		if (c && c->deadline_ms <= now_ms)
			return c;
	}
	return NULL;
}

void conn_driver_datagram(struct conn_driver *d, unsigned li, const struct event_addr *src,
			  const struct event_addr *dst, const uint8_t *data, size_t len,
			  bool truncated, uint64_t flow_id)
{
	struct dgram dg = {
		.l = &d->dlisteners[li],
		.src = *src,
		.dst = *dst,
		.data = data,
		.len = len,
		.wire_len = len,
		.truncated = truncated,
		.flow_id = flow_id,
		.ts_us = d->w.clock_us,
		.reply = d->reply,
		.reply_cap = WORKER_DGRAM_REPLY,
	};
	/* The live worker's receive slot cuts larger datagrams: the module sees the same. */
	if (dg.len > WORKER_DGRAM_MAX) {
		dg.len = WORKER_DGRAM_MAX;
		dg.truncated = true;
	}
	size_t n = dg.l->ops->on_datagram(&d->w, &dg);
	(void)n;
}
