/* Maps the virtual model name the caller asked for to its configured model and channel. */
#include "core/config.h"
#include "filters/request.h"
#include "filters/filter.h"

static gw_filter_rc resolve_model(gw_req *r) {
    r->model = gw_config_find_model(r->cfg, r->model_name, r->model_name_len);
    if (!r->model) {
        gw_req_fail(r, 404, "invalid_request_error", "model_not_found", "model",
                    "The model `%.*s` does not exist or you do not have access to it.",
                    (int)(r->model_name_len > 200 ? 200 : r->model_name_len), r->model_name);
        return GW_FILTER_RESPOND;
    }
    return GW_FILTER_CONTINUE;
}

const gw_filter_ops gw_filter_resolve_model = {
    .name = "resolve_model",
    .on_request = resolve_model,
};
