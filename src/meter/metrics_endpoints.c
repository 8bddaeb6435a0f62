/* The health of the running config's endpoints, read from their atomics at scrape time. The
 * endpoint label is an internal address: /metrics is served on the admin listener only. */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "meter/metrics_internal.h"
#include "meter/metrics_text.h"

/* The base URL without the credentials a URL may carry (user:password@). */
static void endpoint_label(const char *url, char *out, size_t cap) {
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(end - host));
    size_t scheme = (size_t)(host - url);
    if (!at) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s%s", (int)scheme, url, at + 1);
}

/* The same endpoint listed twice in a channel is one series. */
static int seen_before(gw_endpoint *const *eps, size_t k) {
    for (size_t j = 0; j < k; j++)
        if (eps[j] == eps[k]) return 1;
    return 0;
}

typedef enum { EP_UP, EP_IN_FLIGHT, EP_REQUESTS, EP_FAILURES, EP_FAMILIES } ep_family;

void gw_metrics_write_endpoints(const gw_config *cfg, struct evbuffer *out) {
    static const struct {
        const char *name, *type, *help;
    } families[EP_FAMILIES] = {
        [EP_UP] = {"aigw_endpoint_up", "gauge",
                   "1 when the endpoint is healthy, 0 while it is ejected or being probed."},
        [EP_IN_FLIGHT] = {"aigw_endpoint_in_flight", "gauge",
                          "Attempts running on the endpoint now, over every worker."},
        [EP_REQUESTS] = {"aigw_endpoint_requests_total", "counter",
                         "Results recorded for the endpoint: attempts and active checks."},
        [EP_FAILURES] = {"aigw_endpoint_failures_total", "counter",
                         "Failed results recorded for the endpoint."},
    };
    for (int f = 0; f < EP_FAMILIES; f++) {
        gw_prom_family(out, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < cfg->channel_count; i++) {
            const gw_channel *ch = &cfg->channels[i];
            size_t n;
            gw_endpoint *const *eps = gw_channel_endpoints(ch, &n);
            for (size_t k = 0; k < n; k++) {
                if (seen_before(eps, k)) continue;
                gw_endpoint *ep = eps[k];
                char url[512];
                endpoint_label(ep->base_url, url, sizeof url);
                gw_prom_label l[2] = {{"channel", ch->name}, {"endpoint", url}};
                uint64_t v = 0;
                switch ((ep_family)f) {
                case EP_UP:
                    v = atomic_load(&ep->state) == GW_ENDPOINT_HEALTHY;
                    break;
                case EP_IN_FLIGHT: {
                    int in_flight = atomic_load(&ep->in_flight);
                    v = in_flight > 0 ? (uint64_t)in_flight : 0;
                    break;
                }
                case EP_REQUESTS:
                    v = atomic_load(&ep->requests);
                    break;
                case EP_FAILURES:
                    v = atomic_load(&ep->failures);
                    break;
                case EP_FAMILIES:
                    break;
                }
                gw_prom_sample_u64(out, families[f].name, l, 2, v);
            }
        }
    }
}
