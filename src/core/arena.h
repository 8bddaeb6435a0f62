/* A bump allocator for data that lives and dies together (a config snapshot): one free for all. */
#ifndef AIGW_CORE_ARENA_H
#define AIGW_CORE_ARENA_H

#include <stddef.h>

typedef struct gw_arena_block gw_arena_block;
typedef struct gw_arena {
    gw_arena_block *head;
} gw_arena;

void *gw_arena_alloc(gw_arena *a, size_t size);    /* zeroed, aligned for any type; aborts on OOM */
char *gw_arena_strdup(gw_arena *a, const char *s); /* NULL stays NULL */
char *gw_arena_strndup(gw_arena *a, const char *s, size_t len);
void gw_arena_free(gw_arena *a);

#endif
