#include "admin/audit.h"

#include <string.h>

#include "core/log.h"

void gw_admin_audit(const gw_http_req *req, const char *action, const char *target, int status) {
    char esc[400];
    gw_json_escape(esc, sizeof esc, target ? target : "", target ? strlen(target) : 0);
    /* at warn: an operator who keeps only warnings still keeps what admins did */
    gw_log_warn("audit", "\"client\":\"%s\",\"action\":\"%s\",\"target\":\"%s\",\"status\":%d",
                req->peer ? req->peer : "", action, esc, status);
}
