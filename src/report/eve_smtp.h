/* eve_smtp.h — the "smtp" and "email" objects of an SMTP event's EVE line (Suricata's names). */
#ifndef SINKD_REPORT_EVE_SMTP_H
#define SINKD_REPORT_EVE_SMTP_H

#include "core/dynbuf.h"
#include "core/event.h"

/*
 * Appends `,"smtp":{...}` and, when the event carries a message,
 * `,"email":{...}` for an SMTP record. Returns 0 or ERR_NOMEM (out's
 * maximum reached). Malformed list fields are skipped, never trusted.
 */
int eve_smtp_format(const struct event_view *v, struct dynbuf *out);

#endif
