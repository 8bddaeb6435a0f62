#include "core/drain_watch.h"

#include <stddef.h>

void gw_drain_watch_add(gw_drain_watch **list, gw_drain_watch *watch) {
    if (watch->listed) return;
    watch->prev = NULL;
    watch->next = *list;
    if (*list) (*list)->prev = watch;
    *list = watch;
    watch->listed = 1;
}

void gw_drain_watch_remove(gw_drain_watch **list, gw_drain_watch *watch) {
    if (!watch->listed) return;
    if (watch->prev)
        watch->prev->next = watch->next;
    else
        *list = watch->next;
    if (watch->next) watch->next->prev = watch->prev;
    watch->prev = watch->next = NULL;
    watch->listed = 0;
}

void gw_drain_watch_notify(gw_drain_watch **list) {
    /* each is taken off the list before it is told: its callback may free it, or end other
     * streams whose watches leave the list too */
    while (*list) {
        gw_drain_watch *watch = *list;
        gw_drain_watch_remove(list, watch);
        watch->on_drain(watch);
    }
}
