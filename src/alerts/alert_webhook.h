/* Delivery of alerts to the webhooks, on a thread of its own: a bounded queue of alerts, each
 * POSTed as JSON to every webhook with libcurl (easy interface, one transfer at a time), each
 * failed attempt retried after an exponential back-off (per webhook: max_retries, backoff_ms,
 * max_backoff_ms). Nothing here ever blocks the thread that hands an alert over. */
#ifndef AIGW_ALERTS_ALERT_WEBHOOK_H
#define AIGW_ALERTS_ALERT_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alerts-t.h"
#include "core/config-t.h"

typedef struct gw_webhook_sender gw_webhook_sender;

/* How an alert's delivery ended, told on the sender's thread: delivered to every webhook, or
 * not (last_error names the webhook's failure), after `attempts` tries in all. */
typedef void (*gw_webhook_done_fn)(void *ud, const char *alert_id, int delivered, int attempts,
                                   const char *last_error);

gw_webhook_sender *gw_webhook_sender_start(gw_webhook_done_fn done, void *ud, char *err,
                                           size_t errlen);
/* Hands an alert over for every webhook of conf (which lives in cfg: a reference is taken until
 * its delivery ends). The body is copied. -1 when max_pending alerts wait already (the caller
 * counts it dropped) or out of memory. */
int gw_webhook_send(gw_webhook_sender *s, gw_config *cfg, const gw_alerts_conf *conf,
                    const char *alert_id, const char *body);
/* Alerts waiting or being delivered now. */
size_t gw_webhook_pending(gw_webhook_sender *s);
/* Stops at once: a transfer in flight is cut, what waits is dropped (still pending in the
 * history, so the next start resumes it). */
void gw_webhook_sender_stop(gw_webhook_sender *s);

#endif
