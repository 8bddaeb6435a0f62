#include "mcp/session.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/random.h"
#include "mcp/mcp-t.h"

enum { FREE, RESERVED, LIVE, CLOSED };

typedef struct slot {
    _Atomic uint64_t seq; /* odd while being written; its value when even is the generation */
    atomic_int state;
    _Atomic uint64_t secret[2];
    atomic_int kind, version, home;
    _Atomic uint32_t server_id;
    atomic_int stream_worker; /* -1: no stream */
    _Atomic int64_t last_ns;  /* wall time of the last request (gw_wall_ns: tests move it) */
} slot;

/* Zero pages until used: the table costs memory only for slots sessions have touched. */
static slot slots[GW_MCP_SESSIONS_MAX];
static atomic_uint cursor;
static atomic_int open_count;

static uint64_t hex64(const char *s) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
}

static int parse_hex(const char *s, size_t n, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int gw_mcp_session_create(int max, const gw_mcp_session_info *info, int64_t now,
                          gw_mcp_session_ref *ref, char *id) {
    if (max > GW_MCP_SESSIONS_MAX) max = GW_MCP_SESSIONS_MAX;
    if (max <= 0) return -1;
    /* a place in the count first, given back when over: workers creating at once never pass it */
    if (atomic_fetch_add(&open_count, 1) >= max) {
        atomic_fetch_sub(&open_count, 1);
        return -1;
    }
    unsigned start = atomic_fetch_add_explicit(&cursor, 1, memory_order_relaxed);
    for (int i = 0; i < max; i++) {
        uint32_t k = (uint32_t)((start + (unsigned)i) % (unsigned)max);
        slot *s = &slots[k];
        int expected = FREE;
        if (!atomic_compare_exchange_strong(&s->state, &expected, RESERVED)) continue;
        char secret[33];
        gw_random_hex(secret, 16);
        uint64_t seq = atomic_load(&s->seq);
        if (!(seq & 1)) atomic_store(&s->seq, ++seq); /* odd while it changes (a freed one is) */
        atomic_store_explicit(&s->secret[0], hex64(secret), memory_order_relaxed);
        atomic_store_explicit(&s->secret[1], hex64(secret + 16), memory_order_relaxed);
        atomic_store_explicit(&s->kind, (int)info->kind, memory_order_relaxed);
        atomic_store_explicit(&s->version, info->version, memory_order_relaxed);
        atomic_store_explicit(&s->home, info->home, memory_order_relaxed);
        atomic_store_explicit(&s->server_id, info->server_id, memory_order_relaxed);
        atomic_store(&s->stream_worker, -1);
        atomic_store(&s->last_ns, now);
        atomic_store(&s->seq, seq + 1);
        atomic_store(&s->state, LIVE);
        *ref = (gw_mcp_session_ref){k, (uint32_t)(seq + 1)};
        snprintf(id, GW_MCP_SESSION_ID_LEN + 1, "%08x%08x%s", k, (uint32_t)(seq + 1), secret);
        return 0;
    }
    atomic_fetch_sub(&open_count, 1);
    return -1;
}

static int live(const slot *s, uint32_t gen) {
    uint64_t seq = atomic_load((_Atomic uint64_t *)&s->seq);
    return !(seq & 1) && (uint32_t)seq == gen && atomic_load((atomic_int *)&s->state) == LIVE;
}

int gw_mcp_session_find(const char *id, size_t len, uint32_t server_id, int64_t now,
                        int64_t idle_ns, gw_mcp_session_ref *ref, gw_mcp_session_info *info) {
    uint64_t k, gen, a, b;
    if (len != GW_MCP_SESSION_ID_LEN || parse_hex(id, 8, &k) || parse_hex(id + 8, 8, &gen) ||
        parse_hex(id + 16, 16, &a) || parse_hex(id + 32, 16, &b) || k >= GW_MCP_SESSIONS_MAX)
        return -1;
    slot *s = &slots[k];
    uint64_t seq1 = atomic_load(&s->seq);
    if ((seq1 & 1) || (uint32_t)seq1 != (uint32_t)gen || atomic_load(&s->state) != LIVE) return -1;
    uint64_t s0 = atomic_load_explicit(&s->secret[0], memory_order_relaxed);
    uint64_t s1 = atomic_load_explicit(&s->secret[1], memory_order_relaxed);
    gw_mcp_session_info got = {
        .kind = (gw_mcp_session_kind)atomic_load_explicit(&s->kind, memory_order_relaxed),
        .version = atomic_load_explicit(&s->version, memory_order_relaxed),
        .server_id = atomic_load_explicit(&s->server_id, memory_order_relaxed),
        .home = atomic_load_explicit(&s->home, memory_order_relaxed)};
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load(&s->seq) != seq1) return -1; /* reused meanwhile */
    /* the secret compared without an early exit: its bits must not leak through timing */
    if (((s0 ^ a) | (s1 ^ b)) != 0 || got.server_id != server_id) return -1;
    if (atomic_load(&s->stream_worker) < 0 &&
        now - atomic_load_explicit(&s->last_ns, memory_order_relaxed) >= idle_ns) {
        /* idle past its time, not yet swept: ended now (the home worker frees the slot) */
        gw_mcp_session_close((gw_mcp_session_ref){(uint32_t)k, (uint32_t)gen});
        return -1;
    }
    atomic_store_explicit(&s->last_ns, now, memory_order_relaxed);
    *ref = (gw_mcp_session_ref){(uint32_t)k, (uint32_t)gen};
    if (info) *info = got;
    return 0;
}

void gw_mcp_session_set_version(gw_mcp_session_ref ref, int version) {
    if (gw_mcp_session_open(ref))
        atomic_store_explicit(&slots[ref.slot].version, version, memory_order_relaxed);
}

int gw_mcp_session_open(gw_mcp_session_ref ref) {
    return ref.slot < GW_MCP_SESSIONS_MAX && live(&slots[ref.slot], ref.gen);
}

int gw_mcp_session_close(gw_mcp_session_ref ref) {
    if (ref.slot >= GW_MCP_SESSIONS_MAX) return -1;
    slot *s = &slots[ref.slot];
    if ((uint32_t)atomic_load(&s->seq) != ref.gen) return -1;
    int expected = LIVE;
    if (!atomic_compare_exchange_strong(&s->state, &expected, CLOSED)) return -1;
    /* after the state changed: a stream attaching now sees it closed and leaves by itself */
    return atomic_load(&s->stream_worker);
}

int gw_mcp_session_attach_stream(gw_mcp_session_ref ref, int w) {
    if (!gw_mcp_session_open(ref)) return -1;
    slot *s = &slots[ref.slot];
    int none = -1;
    if (!atomic_compare_exchange_strong(&s->stream_worker, &none, w)) return -2;
    if (!live(s, ref.gen)) { /* closed between the check and the attach */
        atomic_store(&s->stream_worker, -1);
        return -1;
    }
    return 0;
}

void gw_mcp_session_detach_stream(gw_mcp_session_ref ref, int w) {
    if (ref.slot >= GW_MCP_SESSIONS_MAX) return;
    slot *s = &slots[ref.slot];
    if ((uint32_t)atomic_load(&s->seq) != ref.gen) return;
    int expected = w;
    atomic_compare_exchange_strong(&s->stream_worker, &expected, -1);
}

int gw_mcp_session_stream_worker(gw_mcp_session_ref ref) {
    if (!gw_mcp_session_open(ref)) return -1;
    return atomic_load(&slots[ref.slot].stream_worker);
}

int gw_mcp_session_sweep(uint32_t k, int64_t now, int64_t idle_ns, int *notify) {
    *notify = -1;
    slot *s = &slots[k];
    int state = atomic_load(&s->state);
    if (state == LIVE) {
        if (atomic_load(&s->stream_worker) >= 0) {
            atomic_store(&s->last_ns, now); /* an open stream is not idle */
            return 0;
        }
        if (now - atomic_load(&s->last_ns) < idle_ns) return 0;
        *notify = gw_mcp_session_close((gw_mcp_session_ref){k, (uint32_t)atomic_load(&s->seq)});
        state = atomic_load(&s->state);
    }
    if (state != CLOSED || atomic_load(&s->stream_worker) >= 0) return 0;
    uint64_t seq = atomic_load(&s->seq);
    atomic_store(&s->seq, seq + 1); /* odd until reused: no old id matches it again */
    atomic_store(&s->state, FREE);
    atomic_fetch_sub(&open_count, 1);
    return 1;
}

int gw_mcp_session_count(void) {
    return atomic_load(&open_count);
}
