/* Deterministic tool calls, the same rule for the OpenAI-style modes and Anthropic: a request
 * that offers tools (and does not forbid them with tool_choice "none") gets a call to the first
 * tool, or to the one tool_choice names, unless the conversation is coming back from a tool (its
 * last message is OpenAI's role "tool", or Anthropic's user turn carrying a tool_result); then
 * it gets text. The arguments fill every required property of the tool's JSON schema with a
 * placeholder of its type, so an adapter's translation can be checked to the byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

enum {
    SIM_TOOL_FRAGMENT_BYTES = 8, /* arguments stream in pieces of about this size */
    SIM_MAX_TOOL_FRAGMENTS = 1024,
};

static bool is_string(json_object *v, const char *value) {
    return v != NULL && json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), value) == 0;
}

/* string -> "sim", number/integer -> 1, boolean -> true, anything else -> null; a list of
 * types counts by its first one that is not "null". */
static json_object *placeholder(json_object *schema) {
    json_object *type = sim_json_member(schema, "type");
    const char *name = NULL;
    if (type != NULL && json_object_is_type(type, json_type_string)) {
        name = json_object_get_string(type);
    } else if (type != NULL && json_object_is_type(type, json_type_array)) {
        size_t n = json_object_array_length(type);
        for (size_t i = 0; i < n && name == NULL; i++) {
            json_object *t = json_object_array_get_idx(type, i);
            if (t != NULL && json_object_is_type(t, json_type_string) && !is_string(t, "null"))
                name = json_object_get_string(t);
        }
    }
    if (name == NULL) return NULL;
    if (strcmp(name, "string") == 0) return json_object_new_string("sim");
    if (strcmp(name, "number") == 0 || strcmp(name, "integer") == 0) return json_object_new_int(1);
    if (strcmp(name, "boolean") == 0) return json_object_new_boolean(1);
    return NULL;
}

/* The arguments object for `schema` (NULL or not an object: no required properties). */
static char *arguments_for(json_object *schema, size_t *len) {
    json_object *input = json_object_new_object();
    if (input == NULL) return NULL;
    json_object *required = sim_json_member(schema, "required");
    json_object *properties = sim_json_member(schema, "properties");
    size_t n = required != NULL && json_object_is_type(required, json_type_array)
                   ? json_object_array_length(required)
                   : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *key = json_object_array_get_idx(required, i);
        if (key == NULL || !json_object_is_type(key, json_type_string)) continue;
        const char *name = json_object_get_string(key);
        json_object_object_add(input, name, placeholder(sim_json_member(properties, name)));
    }
    const char *text = json_object_to_json_string_length(
        input, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
    char *copy = text ? malloc(*len + 1) : NULL;
    if (copy != NULL) memcpy(copy, text, *len + 1);
    json_object_put(input);
    return copy;
}

static void cut_in_pieces(sim_tool_call *tool, size_t bytes) {
    size_t pieces = (tool->arguments_len + bytes - 1) / bytes;
    if (pieces < 2) pieces = 2; /* "2+ argument chunks", even for "{}" */
    if (pieces > SIM_MAX_TOOL_FRAGMENTS) pieces = SIM_MAX_TOOL_FRAGMENTS;
    tool->fragments = (int)pieces;
}

static sim_tool_call *tool_call_new(const char *prefix, long n, json_object *name,
                                    json_object *schema, sim_problem *problem) {
    sim_tool_call *tool = calloc(1, sizeof(*tool));
    size_t name_len = (size_t)json_object_get_string_len(name);
    if (tool != NULL) tool->name = malloc(name_len + 1);
    if (tool != NULL && tool->name != NULL)
        tool->arguments = arguments_for(schema, &tool->arguments_len);
    if (tool == NULL || tool->name == NULL || tool->arguments == NULL) {
        sim_tool_call_free(tool);
        sim_problem_set(problem, 500, NULL, "out of memory");
        return NULL;
    }
    memcpy(tool->name, json_object_get_string(name), name_len + 1);
    tool->name_len = name_len;
    snprintf(tool->id, sizeof(tool->id), "%s%ld", prefix, n);
    cut_in_pieces(tool, SIM_TOOL_FRAGMENT_BYTES);
    return tool;
}

void sim_tool_call_arguments(sim_tool_call *tool, char *arguments, size_t len, int piece_bytes) {
    free(tool->arguments);
    tool->arguments = arguments;
    tool->arguments_len = len;
    cut_in_pieces(tool, piece_bytes > 0 ? (size_t)piece_bytes : SIM_TOOL_FRAGMENT_BYTES);
}

void sim_tool_call_free(sim_tool_call *tool) {
    if (tool == NULL) return;
    free(tool->name);
    free(tool->arguments);
    free(tool);
}

/* Where piece i starts: never inside a UTF-8 sequence, so each piece is valid text alone. */
static size_t boundary(const sim_tool_call *tool, int i) {
    if (i >= tool->fragments) return tool->arguments_len;
    size_t at = tool->arguments_len * (size_t)i / (size_t)tool->fragments;
    while (at < tool->arguments_len && ((unsigned char)tool->arguments[at] & 0xC0) == 0x80)
        at++;
    return at;
}

void sim_tool_fragment(const sim_tool_call *tool, int i, size_t *start, size_t *len) {
    size_t from = boundary(tool, i), to = boundary(tool, i + 1);
    *start = from;
    *len = to > from ? to - from : 0;
}

bool sim_tools_openai(json_object *body, long message_count, sim_tool_call **tool,
                      sim_problem *problem) {
    *tool = NULL;
    json_object *tools = sim_json_member(body, "tools");
    if (sim_json_is_null(tools)) return true;
    if (!json_object_is_type(tools, json_type_array)) {
        sim_problem_set(problem, 400, "tools", "`tools` must be an array of function tools.");
        return false;
    }
    size_t count = json_object_array_length(tools);
    for (size_t i = 0; i < count; i++) {
        json_object *t = json_object_array_get_idx(tools, i);
        json_object *function = sim_json_member(t, "function");
        json_object *name = sim_json_member(function, "name");
        json_object *parameters = sim_json_member(function, "parameters");
        if (!is_string(sim_json_member(t, "type"), "function") || name == NULL ||
            !json_object_is_type(name, json_type_string) || json_object_get_string_len(name) == 0 ||
            (!sim_json_is_null(parameters) && !json_object_is_type(parameters, json_type_object))) {
            sim_problem_set(problem, 400, "tools",
                            "tools[%zu] must be {\"type\":\"function\",\"function\":{\"name\":...,"
                            "\"parameters\":{...}}}.",
                            i);
            return false;
        }
    }
    json_object *chosen = count > 0 ? json_object_array_get_idx(tools, 0) : NULL;
    json_object *choice = sim_json_member(body, "tool_choice");
    if (is_string(choice, "none")) return true;
    if (!sim_json_is_null(choice) && !is_string(choice, "auto") && !is_string(choice, "required")) {
        json_object *wanted = sim_json_member(sim_json_member(choice, "function"), "name");
        if (!is_string(sim_json_member(choice, "type"), "function") || wanted == NULL ||
            !json_object_is_type(wanted, json_type_string)) {
            sim_problem_set(problem, 400, "tool_choice",
                            "`tool_choice` must be \"none\", \"auto\", \"required\" or "
                            "{\"type\":\"function\",\"function\":{\"name\":...}}.");
            return false;
        }
        chosen = NULL;
        for (size_t i = 0; i < count && chosen == NULL; i++) {
            json_object *t = json_object_array_get_idx(tools, i);
            json_object *name = sim_json_member(sim_json_member(t, "function"), "name");
            if (strcmp(json_object_get_string(name), json_object_get_string(wanted)) == 0)
                chosen = t;
        }
        if (chosen == NULL) {
            sim_problem_set(problem, 400, "tool_choice",
                            "`tool_choice` names a function that is not in `tools`.");
            return false;
        }
    }
    if (chosen == NULL) return true;
    json_object *messages = sim_json_member(body, "messages");
    size_t n = json_object_array_length(messages);
    json_object *last = n > 0 ? json_object_array_get_idx(messages, n - 1) : NULL;
    if (is_string(sim_json_member(last, "role"), "tool")) return true;
    json_object *function = sim_json_member(chosen, "function");
    *tool = tool_call_new("call_sim_", message_count, sim_json_member(function, "name"),
                          sim_json_member(function, "parameters"), problem);
    return *tool != NULL;
}

bool sim_tools_anthropic(json_object *body, long message_count, bool due, sim_tool_call **tool,
                         sim_problem *problem) {
    *tool = NULL;
    json_object *tools = sim_json_member(body, "tools");
    size_t count = tools != NULL && json_object_is_type(tools, json_type_array)
                       ? json_object_array_length(tools)
                       : 0;
    json_object *chosen = count > 0 ? json_object_array_get_idx(tools, 0) : NULL;
    json_object *choice = sim_json_member(body, "tool_choice");
    if (!sim_json_is_null(choice)) {
        json_object *type = sim_json_member(choice, "type");
        if (is_string(type, "none")) return true;
        if (is_string(type, "tool")) {
            json_object *wanted = sim_json_member(choice, "name");
            if (wanted == NULL || !json_object_is_type(wanted, json_type_string)) {
                sim_problem_set(problem, 400, NULL, "tool_choice.name: Field required");
                return false;
            }
            chosen = NULL;
            for (size_t i = 0; i < count && chosen == NULL; i++) {
                json_object *t = json_object_array_get_idx(tools, i);
                if (strcmp(json_object_get_string(sim_json_member(t, "name")),
                           json_object_get_string(wanted)) == 0)
                    chosen = t;
            }
            if (chosen == NULL) {
                sim_problem_set(problem, 400, NULL,
                                "tool_choice: Tool '%.128s' not found in provided tools",
                                json_object_get_string(wanted));
                return false;
            }
        } else if (!is_string(type, "auto") && !is_string(type, "any")) {
            sim_problem_set(problem, 400, NULL,
                            "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
            return false;
        }
    }
    if (chosen == NULL || !due) return true;
    *tool = tool_call_new("toolu_sim_", message_count, sim_json_member(chosen, "name"),
                          sim_json_member(chosen, "input_schema"), problem);
    return *tool != NULL;
}
