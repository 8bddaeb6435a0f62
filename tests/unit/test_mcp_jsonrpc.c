/* JSON-RPC as the MCP bridge reads it: one message sorted into request, notification or
 * response; an array kept whole as a batch whose elements are then checked one by one; the
 * errors each bad message gets. And a tool server's name index and the metrics names it admits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/config-t.h"
#include "core/json_parse.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp.h"
#include "mcp/schema.h"

static int parse(const char *text, gw_jsonrpc_msg *m) {
    char err[200];
    return gw_jsonrpc_parse(text, strlen(text), m, err, sizeof err);
}

static void single_messages(void **state) {
    (void)state;
    gw_jsonrpc_msg m;
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}", &m), 0);
    assert_int_equal(m.kind, GW_JSONRPC_REQUEST);
    assert_string_equal(m.method, "tools/list");
    gw_jsonrpc_msg_free(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m),
                     0);
    assert_int_equal(m.kind, GW_JSONRPC_NOTIFICATION);
    gw_jsonrpc_msg_free(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}", &m), 0);
    assert_int_equal(m.kind, GW_JSONRPC_RESPONSE);
    gw_jsonrpc_msg_free(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,", &m), GW_JSONRPC_PARSE_ERROR);
    gw_jsonrpc_msg_free(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}", &m),
                     GW_JSONRPC_INVALID_REQUEST);
    gw_jsonrpc_msg_free(&m);
    /* the id is kept for the error's answer */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"params\":[1]}", &m),
                     GW_JSONRPC_INVALID_REQUEST);
    assert_non_null(m.id);
    assert_int_equal(json_object_get_int(m.id), 3);
    gw_jsonrpc_msg_free(&m);
}

static void batches(void **state) {
    (void)state;
    gw_jsonrpc_msg m;
    const char *text = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},42,"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}]";
    struct json_tokener *tok = gw_json_tokener_new(64, JSON_TOKENER_STRICT);
    char err[200];
    assert_int_equal(gw_jsonrpc_parse_with(tok, text, strlen(text), &m, err, sizeof err), 0);
    assert_int_equal(m.kind, GW_JSONRPC_BATCH);
    assert_int_equal(json_object_array_length(m.root), 3);
    static const int codes[] = {0, GW_JSONRPC_INVALID_REQUEST, 0};
    static const gw_jsonrpc_kind kinds[] = {GW_JSONRPC_REQUEST, 0, GW_JSONRPC_NOTIFICATION};
    for (size_t i = 0; i < 3; i++) {
        gw_jsonrpc_msg e;
        int code = gw_jsonrpc_from_object(json_object_get(json_object_array_get_idx(m.root, i)), &e,
                                          err, sizeof err);
        assert_int_equal(code, codes[i]);
        if (!code) assert_int_equal(e.kind, kinds[i]);
        gw_jsonrpc_msg_free(&e);
    }
    gw_jsonrpc_msg_free(&m);
    /* the reused tokener parses the next body from a clean state */
    text = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}";
    assert_int_equal(gw_jsonrpc_parse_with(tok, text, strlen(text), &m, err, sizeof err), 0);
    assert_int_equal(m.kind, GW_JSONRPC_REQUEST);
    gw_jsonrpc_msg_free(&m);
    json_tokener_free(tok);
}

static void answers_keep_the_id(void **state) {
    (void)state;
    gw_jsonrpc_msg m;
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"method\":\"ping\"}", &m), 0);
    gw_strbuf out = {0};
    gw_jsonrpc_write_error(&out, m.id, -32600, "a \"quoted\" word", NULL);
    gw_strbuf_add(&out, "", 1);
    assert_string_equal(out.data, "{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"error\":{\"code\":-32600,"
                                  "\"message\":\"a \\\"quoted\\\" word\"}}");
    gw_strbuf_free(&out);
    gw_jsonrpc_msg_free(&m);
}

/* A server with tools t0..t199 and a proxied upstream "docs" allowing search and get_*. */
static void tool_index_and_names(void **state) {
    (void)state;
    enum { N = 200 };
    static gw_mcp_tool tools[N];
    static char names[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        tools[i] = (gw_mcp_tool){.name = names[i], .name_len = strlen(names[i])};
    }
    static const char *allow[] = {"search", "get_*"};
    static gw_mcp_upstream up = {.name = "docs", .name_len = 4, .allow = allow, .allow_count = 2};
    gw_mcp_server srv = {
        .name = "crm", .tools = tools, .tool_count = N, .upstreams = &up, .upstream_count = 1};
    gw_arena arena = {0};
    gw_mcp_tools_index(&srv, &arena);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(gw_mcp_tool_find(&srv, names[i], strlen(names[i])), &tools[i]);
    assert_null(gw_mcp_tool_find(&srv, "t200", 4));
    assert_null(gw_mcp_tool_find(&srv, "t1x", 3));

    gw_mcp_conf mc = {.servers = &srv, .server_count = 1};
    gw_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mcp = &mc;
    const char *yes[] = {"mcp:crm/t0", "mcp:crm/t199", "mcp:crm/docs_search",
                         "mcp:crm/docs_get_a_b"};
    const char *no[] = {
        "mcp:crm/t200", "mcp:crm/docs_delete", "mcp:crm/docs_", "mcp:other/t0", "mcp:crm", "chat",
        "mcp:crm/"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        assert_true(gw_mcp_knows_name(&cfg, yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        assert_false(gw_mcp_knows_name(&cfg, no[i], strlen(no[i])));
    gw_arena_free(&arena);
}

/* One match data serves every pattern of every validation (a worker's). */
static void schema_with_shared_match_data(void **state) {
    (void)state;
    json_object *j = json_tokener_parse(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^x+$\"},"
        "\"b\":{\"type\":\"string\",\"pattern\":\"[0-9]\"}}}");
    char err[200];
    gw_schema *s = gw_schema_compile(j, err, sizeof err);
    json_object_put(j);
    assert_non_null(s);
    void *md = gw_schema_match_data_new();
    for (int i = 0; i < 3; i++) {
        json_object *ok = json_tokener_parse("{\"a\":\"xxx\",\"b\":\"a1\"}");
        json_object *bad = json_tokener_parse("{\"a\":\"xxx\",\"b\":\"ab\"}");
        assert_int_equal(gw_schema_validate_with(s, md, ok, err, sizeof err), 0);
        assert_int_equal(gw_schema_validate_with(s, md, bad, err, sizeof err), -1);
        assert_non_null(strstr(err, "/b: must match the pattern [0-9]"));
        json_object_put(ok);
        json_object_put(bad);
    }
    gw_schema_match_data_free(md);
    gw_schema_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_messages),
        cmocka_unit_test(batches),
        cmocka_unit_test(answers_keep_the_id),
        cmocka_unit_test(tool_index_and_names),
        cmocka_unit_test(schema_with_shared_match_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
