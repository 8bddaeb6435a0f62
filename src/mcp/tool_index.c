/* A server's tools by name: an open-addressing table built once when the config loads (in the
 * snapshot's arena), so a tools/call finds its tool in a probe or two however many the server
 * has (an OpenAPI document may give it a thousand). */
#include <string.h>

#include "core/config.h"
#include "mcp/mcp.h"

void gw_mcp_tools_index(gw_mcp_server *s, gw_arena *arena) {
    size_t cap = 8;
    while (cap < s->tool_count * 2)
        cap *= 2;
    s->tool_slots = gw_arena_alloc(arena, cap * sizeof *s->tool_slots);
    s->tool_slot_mask = (uint32_t)(cap - 1);
    for (size_t i = 0; i < s->tool_count; i++) {
        const gw_mcp_tool *t = &s->tools[i];
        uint32_t k = gw_config_name_hash(t->name, t->name_len) & s->tool_slot_mask;
        while (s->tool_slots[k])
            k = (k + 1) & s->tool_slot_mask;
        s->tool_slots[k] = (uint32_t)i + 1;
    }
}

const gw_mcp_tool *gw_mcp_tool_find(const gw_mcp_server *s, const char *name, size_t len) {
    if (!s->tool_slots) return NULL;
    uint32_t k = gw_config_name_hash(name, len) & s->tool_slot_mask;
    for (uint32_t idx; (idx = s->tool_slots[k]) != 0; k = (k + 1) & s->tool_slot_mask) {
        const gw_mcp_tool *t = &s->tools[idx - 1];
        if (t->name_len == len && !memcmp(t->name, name, len)) return t;
    }
    return NULL;
}
