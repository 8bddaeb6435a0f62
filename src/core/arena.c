#include "core/arena.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw_arena_block {
    gw_arena_block *next;
    size_t used, size;
    alignas(max_align_t) unsigned char data[];
};

enum { ARENA_BLOCK_SIZE = 16 * 1024 };

void *gw_arena_alloc(gw_arena *a, size_t size) {
    size = (size + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    gw_arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
        b = calloc(1, sizeof(*b) + cap);
        if (!b) {
            fputs("aigw: out of memory\n", stderr);
            abort();
        }
        b->size = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

char *gw_arena_strndup(gw_arena *a, const char *s, size_t len) {
    char *p = gw_arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *gw_arena_strdup(gw_arena *a, const char *s) {
    return s ? gw_arena_strndup(a, s, strlen(s)) : NULL;
}

void gw_arena_free(gw_arena *a) {
    for (gw_arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}
