/* GET /admin/usage, /admin/usage/top and /admin/usage/timeline: usage over a time range from the
 * metering store's rollups, grouped, ranked or bucketed; JSON, or CSV with format=csv. Read on
 * the metering reader's thread (meter/reader.h). */
#ifndef AIGW_ADMIN_USAGE_API_H
#define AIGW_ADMIN_USAGE_API_H

#include <stddef.h>

#include "core/config-t.h"
#include "core/http_server.h"

struct gw_meter_reader;

/* rest: what follows /admin/usage in the path ("", "/top", "/timeline"). */
void gw_admin_usage(gw_http_req *req, struct gw_meter_reader *reader, const gw_config *cfg,
                    const char *rest, size_t rest_len);

#endif
