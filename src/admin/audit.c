#include "admin/audit.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/audit_rows.h"

static struct gw_key_store *audit_store;

void gw_admin_audit_use_store(struct gw_key_store *st) {
    audit_store = st;
}

struct gw_key_store *gw_admin_audit_store(void) {
    return audit_store;
}

void gw_admin_audit_redact(const char *target, char *out, size_t cap) {
    snprintf(out, cap, "%s", target);
    char *scheme = strstr(out, "://");
    if (!scheme) return;
    char *host = scheme + 3;
    size_t authority = strcspn(host, "/?#");
    char *at = memchr(host, '@', authority);
    if (!at) return;
    /* the last '@' of the authority ends the userinfo (a password may hold one) */
    for (char *p = at; p < host + authority; p++)
        if (*p == '@') at = p;
    memmove(host, at + 1, strlen(at + 1) + 1);
}

void gw_admin_audit(const gw_http_req *req, const char *action, const char *target, int status) {
    char clean[GW_AUDIT_TEXT_MAX + 1], esc[GW_AUDIT_TEXT_MAX * 6 + 1];
    gw_admin_audit_redact(target ? target : "", clean, sizeof clean);
    gw_json_escape(esc, sizeof esc, clean, strlen(clean));
    const char *client = req->peer ? req->peer : "";
    /* at warn: an operator who keeps only warnings still keeps what admins did */
    gw_log_warn("audit", "\"client\":\"%s\",\"action\":\"%s\",\"target\":\"%s\",\"status\":%d",
                client, action, esc, status);
    if (!audit_store) return;
    gw_store_audit_entry e = {.time = gw_wall_ns() / 1000000000,
                              .client = client,
                              .action = action,
                              .target = clean,
                              .status = status};
    char err[300];
    if (gw_store_audit_add(audit_store, &e, GW_AUDIT_KEEP_DEFAULT, err, sizeof err) < 0) {
        gw_json_escape(esc, sizeof esc, err, strlen(err));
        gw_log_error("audit_not_stored", "\"action\":\"%s\",\"reason\":\"%s\"", action, esc);
    }
}
