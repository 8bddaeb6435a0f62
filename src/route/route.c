#include "route/route.h"

const gw_channel *gw_route_pick(gw_req *r) {
    return r->model ? r->model->channel : NULL;
}
