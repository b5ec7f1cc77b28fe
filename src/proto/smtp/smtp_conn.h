/* smtp_conn.h — the SMTP spamtrap: an ESMTP server that records every transaction and never relays. */
#ifndef SINKD_PROTO_SMTP_CONN_H
#define SINKD_PROTO_SMTP_CONN_H

struct listener;

/* The worker's interface (net/worker.h) for `proto: smtp` listeners. */
extern const struct proto_ops smtp_proto_ops;

/*
 * Per-listener state shared by the listener's workers: the campaign table
 * and the sample-retention clock. Called by the daemon after listener_open
 * (ERR_NOMEM) and before listener_free.
 */
int smtp_listener_init(struct listener *l);
void smtp_listener_free(struct listener *l);

#endif
