/* Drain notice for long-lived responses. A worker that begins to drain waits for its open
 * connections to end; an idle event stream (an MCP session's GET stream) would never end by
 * itself and hold shutdown until its deadline. A handler holding such a stream adds a watch to
 * its worker's list; when the drain begins each watch is told once and ends its stream cleanly. */
#ifndef AIGW_CORE_DRAIN_WATCH_H
#define AIGW_CORE_DRAIN_WATCH_H

typedef struct gw_drain_watch gw_drain_watch;
struct gw_drain_watch {
    void (*on_drain)(gw_drain_watch *watch); /* may remove the watch (and free its owner) */
    gw_drain_watch *prev, *next;
    int listed;
};

/* Both on the worker's own thread. */
void gw_drain_watch_add(gw_drain_watch **list, gw_drain_watch *watch);
void gw_drain_watch_remove(gw_drain_watch **list, gw_drain_watch *watch);
/* Tells every watch, each once; a watch may remove itself (or others) meanwhile. */
void gw_drain_watch_notify(gw_drain_watch **list);

#endif
