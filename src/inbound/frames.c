#include "inbound/frames.h"

#include <event2/buffer.h>
#include <stdlib.h>

void gw_frames_take(gw_strbuf *b, struct evbuffer *from) {
    size_t len = evbuffer_get_length(from);
    char *p = len ? gw_frames_room(b, len) : NULL;
    if (p && evbuffer_remove(from, p, len) == (int)len) gw_frames_commit(b, len);
    evbuffer_drain(from, evbuffer_get_length(from));
}
