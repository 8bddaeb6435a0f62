/* The Anthropic Messages protocol on recorded payloads: requests as Claude clients send them,
 * converted to the canonical OpenAI form field by field; whole answers and streams as vLLM,
 * MindIE and SGLang send them, converted back; errors; and bad requests with their messages.
 * No network: a gw_req is built by hand around a fake model.
 *
 * Payloads are written with single quotes for readability and turned into JSON by sq(); none
 * of them needs an apostrophe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request-t.h"
#include "inbound/anthropic.h"
#include "core/strbuf.h"
#include "inbound/protocol.h"

static const gw_model test_model = {
    .name = "claude-sonnet-4-5",
    .name_len = 17,
    .name_json = "\"claude-sonnet-4-5\"",
    .name_json_len = 19,
};

static char *sq(const char *s) {
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'') *p = '"';
    return out;
}

static json_object *parse_strict(const char *text, size_t len) {
    json_tokener *tok = json_tokener_new();
    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *v = json_tokener_parse_ex(tok, text, (int)len);
    assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
    assert_int_equal(json_tokener_get_parse_end(tok), len);
    json_tokener_free(tok);
    return v;
}

/* The request and the body text it was parsed from (r.body moves to the canonical body). */
typedef struct test_req {
    gw_req r;
    char *original;
} test_req;

static gw_req *new_req(const char *single_quoted) {
    test_req *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->original = sq(single_quoted);
    t->r.body = t->original;
    t->r.body_len = strlen(t->original);
    t->r.json = parse_strict(t->r.body, t->r.body_len);
    snprintf(t->r.id, sizeof t->r.id, "req_01HZX3");
    t->r.id_len = strlen(t->r.id);
    t->r.model = &test_model;
    t->r.protocol = &gw_protocol_anthropic;
    return &t->r;
}

static void free_req(gw_req *r) {
    test_req *t = (test_req *)r;
    r->protocol->free_state(r);
    assert_null(r->protocol_state);
    json_object_put(r->json);
    free(r->canonical_body);
    free(t->original);
    free(t);
}

/* A member by path: "messages.2.tool_calls.0.function.name"; numbers index arrays. */
static json_object *at(json_object *root, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_object *v = root;
    for (char *save = NULL, *seg = strtok_r(buf, ".", &save); seg && v;
         seg = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(v, json_type_array)) {
            size_t i = strtoul(seg, NULL, 10);
            v = i < json_object_array_length(v) ? json_object_array_get_idx(v, i) : NULL;
        } else if (!json_object_object_get_ex(v, seg, &v)) {
            return NULL;
        }
    }
    return v;
}

static int has(json_object *root, const char *path) {
    char buf[256], *dot;
    snprintf(buf, sizeof buf, "%s", path);
    dot = strrchr(buf, '.');
    json_object *parent = root;
    const char *key = buf;
    if (dot) {
        *dot = '\0';
        parent = at(root, buf);
        key = dot + 1;
    }
    return parent && json_object_is_type(parent, json_type_object) &&
           json_object_object_get_ex(parent, key, NULL);
}

static const char *S(json_object *root, const char *path) {
    json_object *v = at(root, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                         : "<not a string>";
}

static int64_t I(json_object *root, const char *path) {
    json_object *v = at(root, path);
    assert_true(v && json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}

static size_t LEN(json_object *root, const char *path) {
    json_object *v = at(root, path);
    assert_true(v && json_object_is_type(v, json_type_array));
    return json_object_array_length(v);
}

static int is_null(json_object *root, const char *path) {
    return has(root, path) && at(root, path) == NULL;
}

static char *take(struct evbuffer *out) {
    size_t len = evbuffer_get_length(out);
    char *s = malloc(len + 1);
    assert_non_null(s);
    evbuffer_remove(out, s, len);
    s[len] = '\0';
    return s;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* A Claude Code-like turn: system blocks, an image, a tool round trip, sampling and tools. */
static const char conversation[] =
    "{'model':'claude-sonnet-4-5','max_tokens':4096,"
    "'system':[{'type':'text','text':'You are a careful assistant.',"
    "'cache_control':{'type':'ephemeral'}},{'type':'text','text':'Answer briefly.'}],"
    "'messages':["
    "{'role':'user','content':[{'type':'image','source':{'type':'base64',"
    "'media_type':'image/png','data':'iVBORw0KGgo='}},{'type':'text','text':'What is this?'}]},"
    "{'role':'assistant','content':[{'type':'thinking','thinking':'hmm','signature':'EqQB'},"
    "{'type':'text','text':'Let me check the weather.'},"
    "{'type':'tool_use','id':'toolu_01A','name':'get_weather',"
    "'input':{'city':'Paris','units':'c','url':'http://x/y'}}]},"
    "{'role':'user','content':[{'type':'text','text':'Here you go.'},"
    "{'type':'tool_result','tool_use_id':'toolu_01A','content':'18 C, sunny'}]},"
    "{'role':'assistant','content':'Paris is sunny.'},"
    "{'role':'user','content':[{'type':'image','source':{'type':'url',"
    "'url':'https://example.com/cat.jpg'}}]}],"
    "'stop_sequences':['</answer>','STOP'],'temperature':0.7,'top_p':0.9,'top_k':40,"
    "'stream':true,'metadata':{'user_id':'user-42'},"
    "'tools':[{'name':'get_weather','description':'Current weather',"
    "'input_schema':{'type':'object','properties':{'city':{'type':'string'}},"
    "'required':['city']},'cache_control':{'type':'ephemeral'}}],"
    "'tool_choice':{'type':'any','disable_parallel_tool_use':true},"
    "'thinking':{'type':'enabled','budget_tokens':2048},'service_tier':'auto'}";

static void converts_conversation(void **state) {
    (void)state;
    gw_req *r = new_req(conversation);
    gw_error_info err;
    char msg[256];
    assert_int_equal(gw_protocol_anthropic.to_canonical(r, &err, msg, sizeof msg), 0);
    assert_non_null(r->canonical_body);
    assert_ptr_equal(r->body, r->canonical_body);
    assert_int_equal(r->body_len, strlen(r->canonical_body));
    assert_int_equal(r->api, GW_API_CHAT);
    assert_int_equal(r->stream, 1);
    assert_int_equal(r->include_usage, 1);
    assert_int_equal(r->model_name_len, 17);
    assert_memory_equal(r->model_name, "claude-sonnet-4-5", 17);
    assert_string_equal(S(r->json, "model"), "claude-sonnet-4-5");

    /* checked on the text, parsed independently, not on the object that produced it */
    json_object *c = parse_strict(r->body, r->body_len);
    assert_string_equal(S(c, "model"), "claude-sonnet-4-5");
    assert_int_equal(I(c, "max_tokens"), 4096);
    assert_int_equal(LEN(c, "messages"), 7);

    assert_string_equal(S(c, "messages.0.role"), "system");
    assert_string_equal(S(c, "messages.0.content"),
                        "You are a careful assistant.\nAnswer briefly.");

    assert_string_equal(S(c, "messages.1.role"), "user");
    assert_int_equal(LEN(c, "messages.1.content"), 2);
    assert_string_equal(S(c, "messages.1.content.0.type"), "image_url");
    assert_string_equal(S(c, "messages.1.content.0.image_url.url"),
                        "data:image/png;base64,iVBORw0KGgo=");
    assert_string_equal(S(c, "messages.1.content.1.type"), "text");
    assert_string_equal(S(c, "messages.1.content.1.text"), "What is this?");

    assert_string_equal(S(c, "messages.2.role"), "assistant");
    assert_string_equal(S(c, "messages.2.content"), "Let me check the weather.");
    assert_int_equal(LEN(c, "messages.2.tool_calls"), 1);
    assert_string_equal(S(c, "messages.2.tool_calls.0.id"), "toolu_01A");
    assert_string_equal(S(c, "messages.2.tool_calls.0.type"), "function");
    assert_string_equal(S(c, "messages.2.tool_calls.0.function.name"), "get_weather");
    assert_string_equal(S(c, "messages.2.tool_calls.0.function.arguments"),
                        "{\"city\":\"Paris\",\"units\":\"c\",\"url\":\"http://x/y\"}");

    /* the tool result before the user text that came with it */
    assert_string_equal(S(c, "messages.3.role"), "tool");
    assert_string_equal(S(c, "messages.3.tool_call_id"), "toolu_01A");
    assert_string_equal(S(c, "messages.3.content"), "18 C, sunny");
    assert_string_equal(S(c, "messages.4.role"), "user");
    assert_string_equal(S(c, "messages.4.content"), "Here you go.");

    assert_string_equal(S(c, "messages.5.role"), "assistant");
    assert_string_equal(S(c, "messages.5.content"), "Paris is sunny.");
    assert_false(has(c, "messages.5.tool_calls"));

    assert_string_equal(S(c, "messages.6.role"), "user");
    assert_string_equal(S(c, "messages.6.content.0.image_url.url"), "https://example.com/cat.jpg");

    assert_int_equal(LEN(c, "stop"), 2);
    assert_string_equal(S(c, "stop.0"), "</answer>");
    assert_string_equal(S(c, "stop.1"), "STOP");
    assert_int_equal(I(c, "top_k"), 40);
    assert_true(json_object_get_boolean(at(c, "stream")));
    assert_true(json_object_get_boolean(at(c, "stream_options.include_usage")));
    assert_string_equal(S(c, "user"), "user-42");
    assert_int_equal(LEN(c, "tools"), 1);
    assert_string_equal(S(c, "tools.0.type"), "function");
    assert_string_equal(S(c, "tools.0.function.name"), "get_weather");
    assert_string_equal(S(c, "tools.0.function.description"), "Current weather");
    assert_string_equal(S(c, "tools.0.function.parameters.type"), "object");
    assert_string_equal(S(c, "tools.0.function.parameters.required.0"), "city");
    assert_false(has(c, "tools.0.cache_control"));
    assert_string_equal(S(c, "tool_choice"), "required");
    assert_false(json_object_get_boolean(at(c, "parallel_tool_calls")));
    assert_true(has(c, "parallel_tool_calls"));
    /* Anthropic-only members do not reach the engine */
    assert_false(has(c, "system"));
    assert_false(has(c, "thinking"));
    assert_false(has(c, "service_tier"));
    assert_false(has(c, "metadata"));
    assert_false(has(c, "stop_sequences"));
    /* numbers keep the caller's text; slashes are not escaped */
    assert_non_null(strstr(r->body, "\"temperature\":0.7,\"top_p\":0.9,"));
    assert_non_null(strstr(r->body, "http://x/y"));
    json_object_put(c);
    free_req(r);
}

static json_object *convert_ok(gw_req *r) {
    gw_error_info err;
    char msg[256];
    int rc = gw_protocol_anthropic.to_canonical(r, &err, msg, sizeof msg);
    if (rc) fail_msg("unexpected error: %.*s", (int)err.message_len, err.message);
    return parse_strict(r->body, r->body_len);
}

static void converts_minimal_request(void **state) {
    (void)state;
    gw_req *r = new_req("{'model':'m','max_tokens':16,'system':'Be terse.',"
                        "'messages':[{'role':'user','content':'Hi'}],'stream':false}");
    json_object *c = convert_ok(r);
    assert_int_equal(r->stream, 0);
    assert_string_equal(S(c, "messages.0.role"), "system");
    assert_string_equal(S(c, "messages.0.content"), "Be terse.");
    assert_string_equal(S(c, "messages.1.content"), "Hi");
    assert_false(has(c, "stream"));
    assert_false(has(c, "stream_options"));
    assert_false(has(c, "tools"));
    assert_false(has(c, "stop"));
    assert_false(has(c, "user"));
    assert_string_equal(r->body, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
                                 "\"Be terse.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
                                 "\"max_tokens\":16}");
    json_object_put(c);
    free_req(r);
}

static void maps_tool_choice(void **state) {
    (void)state;
    static const char tools[] = "'tools':[{'name':'f','input_schema':{'type':'object'}}],";
    const struct {
        const char *choice;
        const char *expect_string; /* NULL: an object naming f */
    } cases[] = {
        {"{'type':'auto'}", "auto"},
        {"{'type':'none'}", "none"},
        {"{'type':'any'}", "required"},
        {"{'type':'tool','name':'f'}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{'model':'m','max_tokens':8,%s'tool_choice':%s,"
                 "'messages':[{'role':'user','content':'x'}]}",
                 tools, cases[i].choice);
        gw_req *r = new_req(body);
        json_object *c = convert_ok(r);
        if (cases[i].expect_string) {
            assert_string_equal(S(c, "tool_choice"), cases[i].expect_string);
        } else {
            assert_string_equal(S(c, "tool_choice.type"), "function");
            assert_string_equal(S(c, "tool_choice.function.name"), "f");
        }
        assert_false(has(c, "parallel_tool_calls"));
        assert_false(has(c, "tools.0.function.description"));
        json_object_put(c);
        free_req(r);
    }
    /* no tools: OpenAI would refuse a tool_choice alone */
    gw_req *r = new_req("{'model':'m','max_tokens':8,'tool_choice':{'type':'auto'},"
                        "'tools':[],'messages':[{'role':'user','content':'x'}]}");
    json_object *c = convert_ok(r);
    assert_false(has(c, "tool_choice"));
    assert_false(has(c, "tools"));
    json_object_put(c);
    free_req(r);
}

static void converts_tool_results_with_blocks(void **state) {
    (void)state;
    gw_req *r = new_req(
        "{'model':'m','max_tokens':64,'messages':["
        "{'role':'user','content':'Look at both files.'},"
        "{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'read','input':{}},"
        "{'type':'tool_use','id':'t2','name':'read','input':{'path':'b.png'}}]},"
        "{'role':'user','content':["
        "{'type':'tool_result','tool_use_id':'t1','content':[{'type':'text','text':'line 1'},"
        "{'type':'text','text':'line 2'}]},"
        "{'type':'tool_result','tool_use_id':'t2','is_error':false,'content':["
        "{'type':'image','source':{'type':'base64','media_type':'image/jpeg','data':'/9j/4A=='}}]},"
        "{'type':'tool_result','tool_use_id':'t3','is_error':true},"
        "{'type':'text','text':'What do you see?'}]}]}");
    json_object *c = convert_ok(r);
    assert_int_equal(LEN(c, "messages"), 6);
    assert_string_equal(S(c, "messages.1.role"), "assistant");
    assert_string_equal(S(c, "messages.1.content"), ""); /* a string beside tool_calls */
    assert_int_equal(LEN(c, "messages.1.tool_calls"), 2);
    assert_string_equal(S(c, "messages.1.tool_calls.0.function.arguments"), "{}");
    assert_string_equal(S(c, "messages.1.tool_calls.1.function.arguments"), "{\"path\":\"b.png\"}");
    assert_string_equal(S(c, "messages.2.role"), "tool");
    assert_string_equal(S(c, "messages.2.tool_call_id"), "t1");
    assert_string_equal(S(c, "messages.2.content"), "line 1\nline 2");
    assert_string_equal(S(c, "messages.3.tool_call_id"), "t2");
    assert_string_equal(S(c, "messages.3.content"), "");
    assert_string_equal(S(c, "messages.4.tool_call_id"), "t3");
    assert_string_equal(S(c, "messages.4.content"), "");
    /* the image a tool returned rides in the user message after the tool messages */
    assert_string_equal(S(c, "messages.5.role"), "user");
    assert_int_equal(LEN(c, "messages.5.content"), 2);
    assert_string_equal(S(c, "messages.5.content.0.image_url.url"),
                        "data:image/jpeg;base64,/9j/4A==");
    assert_string_equal(S(c, "messages.5.content.1.text"), "What do you see?");
    json_object_put(c);
    free_req(r);
}

static void drops_thinking_and_empty_prefill(void **state) {
    (void)state;
    gw_req *r =
        new_req("{'model':'m','max_tokens':64,'messages':["
                "{'role':'user','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]},"
                "{'role':'assistant','content':[{'type':'redacted_thinking','data':'xyz'}]},"
                "{'role':'user','content':'c'},"
                "{'role':'assistant','content':''}]}");
    json_object *c = convert_ok(r);
    assert_int_equal(LEN(c, "messages"), 2);
    assert_string_equal(S(c, "messages.0.content"), "a\nb");
    assert_string_equal(S(c, "messages.1.content"), "c");
    json_object_put(c);
    free_req(r);

    r = new_req("{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'Say hi'},"
                "{'role':'assistant','content':'Hi, I am'}]}");
    c = convert_ok(r);
    assert_int_equal(LEN(c, "messages"), 2); /* a prefill with text passes as it is */
    assert_string_equal(S(c, "messages.1.role"), "assistant");
    assert_string_equal(S(c, "messages.1.content"), "Hi, I am");
    json_object_put(c);
    free_req(r);
}

static void rejects_bad_requests(void **state) {
    (void)state;
    static const char ok_msgs[] = "'messages':[{'role':'user','content':'hi'}]";
    const struct {
        const char *body;
        const char *message;
        const char *param; /* NULL: none */
    } cases[] = {
        {"{'model':'m',%s}", "max_tokens: Field required", "max_tokens"},
        {"{'max_tokens':5,%s}", "model: Field required", "model"},
        {"{'model':'','max_tokens':5,%s}", "model: String should have at least 1 character",
         "model"},
        {"{'model':7,'max_tokens':5,%s}", "model: Input should be a valid string", "model"},
        {"{'model':'m','max_tokens':0,%s}",
         "max_tokens: Input should be greater than or equal to 1", "max_tokens"},
        {"{'model':'m','max_tokens':'100',%s}", "max_tokens: Input should be a valid integer",
         "max_tokens"},
        {"{'model':'m','max_tokens':1.5,%s}", "max_tokens: Input should be a valid integer",
         "max_tokens"},
        {"{'model':'m','max_tokens':5%.0s}", "messages: Field required", "messages"},
        {"{'model':'m','max_tokens':5,'messages':[]%.0s}",
         "messages: at least one message is "
         "required",
         "messages"},
        {"{'model':'m','max_tokens':5,'messages':{}%.0s}", "messages: Input should be a valid list",
         "messages"},
        {"{'model':'m','max_tokens':5,'messages':['hi']%.0s}",
         "messages.0: Input should be a valid dictionary", "messages.0"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'system','content':'x'}]%.0s}",
         "messages.0.role: Input should be 'user' or 'assistant'", "messages.0.role"},
        {"{'model':'m','max_tokens':5,'messages':[{'content':'x'}]%.0s}",
         "messages.0.role: Field required", "messages.0.role"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user'}]%.0s}",
         "messages.0.content: Field required", "messages.0.content"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':5}]%.0s}",
         "messages.0.content: Input should be a valid string or list", "messages.0.content"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':''},"
         "{'role':'assistant','content':'x'}]%.0s}",
         "messages.0: all messages must have non-empty content except for the optional final "
         "assistant message",
         "messages.0"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'a'},"
         "{'role':'assistant','content':[{'text':'x'}]}]%.0s}",
         "messages.1.content.0.type: Field required", "messages.1.content.0.type"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'text'}]}]%."
         "0s}",
         "messages.0.content.0.text: Field required", "messages.0.content.0.text"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'video'}]}]%."
         "0s}",
         "messages.0.content.0.type: content block type 'video' is not supported in user messages",
         "messages.0.content.0.type"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'document',"
         "'source':{'type':'text','media_type':'text/plain','data':'x'}}]}]%.0s}",
         "messages.0.content.0.type: document blocks are not supported by this gateway",
         "messages.0.content.0.type"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_use',"
         "'id':'a','name':'b','input':{}}]}]%.0s}",
         "messages.0.content.0.type: tool_use blocks are only allowed in assistant messages",
         "messages.0.content.0.type"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'a'},"
         "{'role':'assistant','content':[{'type':'tool_result','tool_use_id':'x'}]}]%.0s}",
         "messages.1.content.0.type: tool_result blocks are only allowed in user messages",
         "messages.1.content.0.type"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'image',"
         "'source':{'type':'file','file_id':'f'}}]}]%.0s}",
         "messages.0.content.0.source.type: image source type 'file' is not supported (expected "
         "'base64' or 'url')",
         "messages.0.content.0.source.type"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'image',"
         "'source':{'type':'base64','media_type':'image/png'}}]}]%.0s}",
         "messages.0.content.0.source.data: Field required", "messages.0.content.0.source.data"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'image'}]}]%."
         "0s}",
         "messages.0.content.0.source: Field required", "messages.0.content.0.source"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_result',"
         "'content':'x'}]}]%.0s}",
         "messages.0.content.0.tool_use_id: Field required", "messages.0.content.0.tool_use_id"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_result',"
         "'tool_use_id':'t','content':[{'type':'text','text':'a'},{'type':'search_result'}]}]}]"
         "%.0s}",
         "messages.0.content.0.content.1.type: content block type 'search_result' is not "
         "supported inside tool_result (expected 'text' or 'image')",
         "messages.0.content.0.content.1.type"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_result',"
         "'tool_use_id':'t','is_error':'yes'}]}]%.0s}",
         "messages.0.content.0.is_error: Input should be a valid boolean",
         "messages.0.content.0.is_error"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'a'},"
         "{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'f','input':'{}'}]}]"
         "%.0s}",
         "messages.1.content.0.input: Input should be a valid dictionary",
         "messages.1.content.0.input"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'a'},"
         "{'role':'assistant','content':[{'type':'tool_use','name':'f','input':{}}]}]%.0s}",
         "messages.1.content.0.id: Field required", "messages.1.content.0.id"},
        {"{'model':'m','max_tokens':5,'system':[{'type':'image'}],%s}",
         "system.0.type: Input should be 'text'", "system.0.type"},
        {"{'model':'m','max_tokens':5,'system':[{'type':'text','text':3}],%s}",
         "system.0.text: Input should be a valid string", "system.0.text"},
        {"{'model':'m','max_tokens':5,'system':{},%s}",
         "system: Input should be a valid string or list", "system"},
        {"{'model':'m','max_tokens':5,'stop_sequences':['a',1],%s}",
         "stop_sequences.1: Input should be a valid string", "stop_sequences.1"},
        {"{'model':'m','max_tokens':5,'stop_sequences':'a',%s}",
         "stop_sequences: Input should be a valid list", "stop_sequences"},
        {"{'model':'m','max_tokens':5,'temperature':'hot',%s}",
         "temperature: Input should be a valid number", "temperature"},
        {"{'model':'m','max_tokens':5,'top_k':0.5,%s}", "top_k: Input should be a valid integer",
         "top_k"},
        {"{'model':'m','max_tokens':5,'stream':'yes',%s}",
         "stream: Input should be a valid boolean", "stream"},
        {"{'model':'m','max_tokens':5,'tools':{},%s}", "tools: Input should be a valid list",
         "tools"},
        {"{'model':'m','max_tokens':5,'tools':[{'type':'web_search_20250305','name':'web_search'}],"
         "%s}",
         "tools.0.type: tool type 'web_search_20250305' is not supported by this gateway (only "
         "client tools with an input_schema)",
         "tools.0.type"},
        {"{'model':'m','max_tokens':5,'tools':[{'name':'f'}],%s}",
         "tools.0.input_schema: Field required", "tools.0.input_schema"},
        {"{'model':'m','max_tokens':5,'tools':[{'input_schema':{}}],%s}",
         "tools.0.name: Field required", "tools.0.name"},
        {"{'model':'m','max_tokens':5,'tool_choice':{'type':'some'},%s}",
         "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'", "tool_choice.type"},
        {"{'model':'m','max_tokens':5,'tool_choice':{'type':'tool'},%s}",
         "tool_choice.name: Field required", "tool_choice.name"},
        {"{'model':'m','max_tokens':5,'tool_choice':'auto',%s}",
         "tool_choice: Input should be a valid dictionary", "tool_choice"},
        {"{'model':'m','max_tokens':5,'metadata':{'user_id':5},%s}",
         "metadata.user_id: Input should be a valid string", "metadata.user_id"},
        {"{'model':'m','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':"
         "'thinking','thinking':'x','signature':'y'}]}]%.0s}",
         "messages: no message has content an engine can read", "messages"},
        {"[%.0s]", "the request body must be a JSON object", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, cases[i].body, ok_msgs);
        gw_req *r = new_req(body);
        json_object *before = r->json;
        gw_error_info err;
        char msg[300];
        memset(msg, 'x', sizeof msg);
        int rc = gw_protocol_anthropic.to_canonical(r, &err, msg, sizeof msg);
        if (rc != -1) fail_msg("case %zu accepted: %s", i, body);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.type, "invalid_request_error");
        assert_ptr_equal(err.message, msg);
        assert_int_equal(err.message_len, strlen(err.message));
        if (strcmp(err.message, cases[i].message))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.message, cases[i].message);
        if (cases[i].param)
            assert_string_equal(err.param, cases[i].param);
        else
            assert_null(err.param);
        assert_non_null(err.code);
        /* nothing changed on failure */
        assert_ptr_equal(r->json, before);
        assert_null(r->canonical_body);
        free_req(r);
    }
}

static void bounds_error_message_to_buffer(void **state) {
    (void)state;
    gw_req *r = new_req("{'model':'m','messages':[{'role':'user','content':'hi'}]}");
    gw_error_info err;
    char msg[12];
    assert_int_equal(gw_protocol_anthropic.to_canonical(r, &err, msg, sizeof msg), -1);
    assert_string_equal(err.message, "max_tokens:");
    assert_int_equal(err.message_len, 11);
    assert_null(err.param); /* no room left for it */
    free_req(r);

    char fits[64];
    r = new_req("{'model':'m','messages':[{'role':'user','content':'hi'}]}");
    assert_int_equal(gw_protocol_anthropic.to_canonical(r, &err, fits, sizeof fits), -1);
    assert_string_equal(err.param, "max_tokens");
    assert_true(err.param > fits && err.param < fits + sizeof fits);
    free_req(r);
}

/* ---- whole responses --------------------------------------------------------------------- */

static char *respond(gw_req *r, const char *single_quoted, int expect_rc, const char **err) {
    char *json = sq(single_quoted);
    gw_chunk c = {.json = json, .len = strlen(json)};
    struct evbuffer *out = evbuffer_new();
    *err = NULL;
    assert_int_equal(gw_protocol_anthropic.response(r, &c, out, err), expect_rc);
    char *text = take(out);
    evbuffer_free(out);
    free(json);
    return text;
}

static void converts_response_with_tool_calls_and_cache(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    const char *err;
    char *text = respond(
        r,
        "{'id':'chatcmpl-9f2c1e','object':'chat.completion','created':1733000000,"
        "'model':'Qwen/Qwen3-32B','choices':[{'index':0,'message':{'role':'assistant',"
        "'content':'I will look both up.','reasoning_content':'The user wants two cities.',"
        "'tool_calls':[{'id':'chatcmpl-tool-a1','type':'function','function':{'name':'get_weather',"
        "'arguments':'{\\'city\\': \\'Paris\\'}'}},{'id':'chatcmpl-tool-b2','type':'function',"
        "'function':{'name':'get_weather','arguments':'{\\'city\\':\\'Tokyo\\',\\'days\\':3}'}}]},"
        "'logprobs':null,'finish_reason':'tool_calls','stop_reason':null}],"
        "'usage':{'prompt_tokens':2048,'total_tokens':2100,'completion_tokens':52,"
        "'prompt_tokens_details':{'cached_tokens':1536}},'prompt_logprobs':null}",
        0, &err);
    json_object *m = parse_strict(text, strlen(text));
    assert_string_equal(S(m, "id"), "msg_chatcmpl-9f2c1e");
    assert_string_equal(S(m, "type"), "message");
    assert_string_equal(S(m, "role"), "assistant");
    assert_string_equal(S(m, "model"), "claude-sonnet-4-5"); /* the caller's, not the engine's */
    assert_int_equal(LEN(m, "content"), 4);
    assert_string_equal(S(m, "content.0.type"), "thinking");
    assert_string_equal(S(m, "content.0.thinking"), "The user wants two cities.");
    assert_string_equal(S(m, "content.0.signature"), "");
    assert_string_equal(S(m, "content.1.type"), "text");
    assert_string_equal(S(m, "content.1.text"), "I will look both up.");
    assert_string_equal(S(m, "content.2.type"), "tool_use");
    assert_string_equal(S(m, "content.2.id"), "chatcmpl-tool-a1");
    assert_string_equal(S(m, "content.2.name"), "get_weather");
    assert_string_equal(S(m, "content.2.input.city"), "Paris");
    assert_string_equal(S(m, "content.3.id"), "chatcmpl-tool-b2");
    assert_string_equal(S(m, "content.3.input.city"), "Tokyo");
    assert_int_equal(I(m, "content.3.input.days"), 3);
    assert_string_equal(S(m, "stop_reason"), "tool_use");
    assert_true(is_null(m, "stop_sequence"));
    assert_int_equal(I(m, "usage.input_tokens"), 512); /* 2048 - 1536 read from the cache */
    assert_int_equal(I(m, "usage.output_tokens"), 52);
    assert_int_equal(I(m, "usage.cache_read_input_tokens"), 1536);
    assert_int_equal(I(m, "usage.cache_creation_input_tokens"), 0);
    json_object_put(m);
    free(text);
    free_req(r);
}

static void maps_finish_reasons(void **state) {
    (void)state;
    const struct {
        const char *choice;
        const char *stop_reason;
        const char *stop_sequence; /* NULL: null */
        size_t blocks;
    } cases[] = {
        {"'message':{'role':'assistant','content':'Hi'},'finish_reason':'stop'", "end_turn", NULL,
         1},
        {"'message':{'role':'assistant','content':'Hi'},'finish_reason':'length'", "max_tokens",
         NULL, 1},
        {"'message':{'role':'assistant','content':null},'finish_reason':'content_filter'",
         "refusal", NULL, 0},
        {"'message':{'role':'assistant','content':null,'refusal':'I cannot help.'},"
         "'finish_reason':'stop'",
         "end_turn", NULL, 1},
        {"'message':{'role':'assistant','content':'1, 2, 3'},'finish_reason':'stop',"
         "'stop_reason':'</answer>'",
         "stop_sequence", "</answer>", 1},
        {"'message':{'role':'assistant','content':'x'},'finish_reason':'stop','stop_reason':"
         "151645",
         "end_turn", NULL, 1},
        /* an engine that says stop beside tool calls: the client must still run them */
        {"'message':{'role':'assistant','content':'','tool_calls':[{'id':'c1','type':'function',"
         "'function':{'name':'now','arguments':''}}]},'finish_reason':'stop'",
         "tool_use", NULL, 1},
        {"'message':{'role':'assistant','content':''},'finish_reason':'abort'", "end_turn", NULL,
         0},
        {"'message':{'role':'assistant','content':'x'},'finish_reason':null", "end_turn", NULL, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_req *r = new_req("{}");
        char body[1024];
        snprintf(body, sizeof body,
                 "{'id':'cmpl-1','object':'chat.completion','model':'x','choices':[{'index':0,%s}],"
                 "'usage':{'prompt_tokens':10,'completion_tokens':3,'total_tokens':13}}",
                 cases[i].choice);
        const char *err;
        char *text = respond(r, body, 0, &err);
        json_object *m = parse_strict(text, strlen(text));
        assert_string_equal(S(m, "stop_reason"), cases[i].stop_reason);
        if (cases[i].stop_sequence)
            assert_string_equal(S(m, "stop_sequence"), cases[i].stop_sequence);
        else
            assert_true(is_null(m, "stop_sequence"));
        assert_int_equal(LEN(m, "content"), cases[i].blocks);
        assert_int_equal(I(m, "usage.input_tokens"), 10);
        json_object_put(m);
        free(text);
        free_req(r);
    }
}

static void response_edge_cases(void **state) {
    (void)state;
    const char *err;
    /* no usage in the answer: the adapter's (with cache writes, from an Anthropic engine) */
    gw_req *r = new_req("{}");
    r->usage = (gw_usage){.prompt_tokens = 300,
                          .completion_tokens = 20,
                          .cached_tokens = 100,
                          .cache_creation_tokens = 50,
                          .known = 1};
    char *text = respond(r,
                         "{'object':'chat.completion','choices':[{'index':0,'message':{'role':"
                         "'assistant','content':'ok','tool_calls':[{'type':'function','function':"
                         "{'name':'noop','arguments':'  '}}]},'finish_reason':'tool_calls'}]}",
                         0, &err);
    json_object *m = parse_strict(text, strlen(text));
    assert_string_equal(S(m, "id"), "msg_req_01HZX3"); /* no engine id: the request's */
    assert_string_equal(S(m, "content.1.id"), "toolu_req_01HZX3_0");
    assert_true(json_object_is_type(at(m, "content.1.input"), json_type_object));
    assert_int_equal(json_object_object_length(at(m, "content.1.input")), 0);
    assert_int_equal(I(m, "usage.input_tokens"), 150);
    assert_int_equal(I(m, "usage.output_tokens"), 20);
    assert_int_equal(I(m, "usage.cache_read_input_tokens"), 100);
    assert_int_equal(I(m, "usage.cache_creation_input_tokens"), 50);
    json_object_put(m);
    free(text);
    free_req(r);

    /* an engine id that is already Anthropic's stays as it is */
    r = new_req("{}");
    text = respond(r,
                   "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','choices':[{'message':{'content':'x'},"
                   "'finish_reason':'stop'}]}",
                   0, &err);
    m = parse_strict(text, strlen(text));
    assert_string_equal(S(m, "id"), "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_int_equal(I(m, "usage.input_tokens"), 0);
    json_object_put(m);
    free(text);
    free_req(r);

    const char *malformed[] = {
        "{'choices':[{'message':{'tool_calls':[{'id':'a','function':{'name':'f','arguments':"
        "'{\\'city\\': '}}]},'finish_reason':'tool_calls'}]}",
        "{'choices':[{'message':{'tool_calls':[{'id':'a','function':{'name':'f','arguments':"
        "'[1,2]'}}]}}]}",
        "{'choices':[{'message':{'tool_calls':[{'id':'a','function':{'arguments':'{}'}}]}}]}",
        "{'choices':[]}",
        "{'choices':[{'index':0,'text':'legacy'}]}",
        "[1]",
        "{'choices':[{'message':{'content':'x'}}]} trailing",
        "{'choices':[{'message':{'content':'x'},}]}", /* a trailing comma: strict parsing */
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        r = new_req("{}");
        text = respond(r, malformed[i], -1, &err);
        assert_non_null(err);
        assert_string_equal(text, ""); /* nothing half-written */
        free(text);
        free_req(r);
    }
}

/* ---- streams ----------------------------------------------------------------------------- */

typedef struct events {
    size_t n;
    char name[64][32];
    json_object *data[64];
} events;

/* A stream's frames go into a flat buffer (core/strbuf.h), as the attempt keeps them. */
static gw_strbuf *frames_new(void) {
    gw_strbuf *b = calloc(1, sizeof *b);
    assert_non_null(b);
    return b;
}

static void frames_free(gw_strbuf *b) {
    gw_strbuf_free(b);
    free(b);
}

/* What the frames hold, as a string, and the buffer emptied. */
static char *take_frames(gw_strbuf *b) {
    assert_false(b->failed);
    char *s = malloc(b->len + 1);
    assert_non_null(s);
    if (b->len) memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    gw_strbuf_reset(b);
    return s;
}

static void feed(gw_req *r, gw_strbuf *out, const char *single_quoted) {
    char *json = sq(single_quoted);
    gw_chunk c = {.json = json, .len = strlen(json)};
    const char *err = NULL;
    if (gw_protocol_anthropic.stream_chunk(r, &c, out, &err))
        fail_msg("chunk refused (%s): %s", err, json);
    free(json);
}

/* Splits the stream into its frames; each must be exactly "event: X\ndata: {json}\n\n" with
 * data.type == X, as the SDK's parser expects. */
static void split(const char *text, events *ev) {
    memset(ev, 0, sizeof *ev);
    const char *p = text;
    while (*p) {
        assert_true(ev->n < 64);
        assert_int_equal(strncmp(p, "event: ", 7), 0);
        p += 7;
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true((size_t)(nl - p) < sizeof ev->name[0]);
        memcpy(ev->name[ev->n], p, (size_t)(nl - p));
        p = nl + 1;
        assert_int_equal(strncmp(p, "data: ", 6), 0);
        p += 6;
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        assert_null(memchr(p, '\n', (size_t)(end - p)));
        ev->data[ev->n] = parse_strict(p, (size_t)(end - p));
        assert_string_equal(S(ev->data[ev->n], "type"), ev->name[ev->n]);
        ev->n++;
        p = end + 2;
    }
}

static void free_events(events *ev) {
    for (size_t i = 0; i < ev->n; i++)
        json_object_put(ev->data[i]);
}

/* The names in order, joined by spaces, for a compact check of the sequence. */
static void names(const events *ev, char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ev->n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? " " : "", ev->name[i]);
}

#define VLLM_CHUNK(delta, finish)                                                                  \
    "{'id':'chatcmpl-b2f3','object':'chat.completion.chunk','created':1733000000,"                 \
    "'model':'Qwen/Qwen2.5-7B-Instruct','choices':[{'index':0,'delta':" delta                      \
    ",'logprobs':null,'finish_reason':" finish "}],'usage':null}"

static void streams_vllm_text_exactly(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
    feed(r, out, VLLM_CHUNK("{'role':'assistant','content':''}", "null"));
    feed(r, out, VLLM_CHUNK("{'content':'Hello'}", "null"));
    feed(r, out, VLLM_CHUNK("{'content':' \\'world\\'!\\n'}", "null"));
    feed(r, out,
         "{'id':'chatcmpl-b2f3','object':'chat.completion.chunk','created':1733000000,"
         "'model':'Qwen/Qwen2.5-7B-Instruct','choices':[{'index':0,'delta':{'content':''},"
         "'logprobs':null,'finish_reason':'stop','stop_reason':null}],'usage':null}");
    feed(r, out,
         "{'id':'chatcmpl-b2f3','object':'chat.completion.chunk','created':1733000000,"
         "'model':'Qwen/Qwen2.5-7B-Instruct','choices':[],'usage':{'prompt_tokens':25,"
         "'total_tokens':32,'completion_tokens':7,'prompt_tokens_details':{'cached_tokens':16}}}");
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    assert_string_equal(
        text,
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_chatcmpl-b2f3\",\"type\":"
        "\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
        "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}}"
        "\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
        "\"text\":\"\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Hello\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\" \\\"world\\\"!\\n\"}}\n\n"
        "event: content_block_stop\n"
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null},\"usage\":{\"output_tokens\":7,\"input_tokens\":9,"
        "\"cache_read_input_tokens\":16,\"cache_creation_input_tokens\":0}}\n\n"
        "event: message_stop\n"
        "data: {\"type\":\"message_stop\"}\n\n");
    events ev;
    split(text, &ev); /* and every frame is valid JSON */
    assert_int_equal(ev.n, 7);
    free_events(&ev);
    /* nothing after the end */
    feed(r, out, VLLM_CHUNK("{'content':'late'}", "null"));
    gw_protocol_anthropic.stream_end(r, out);
    assert_int_equal(out->len, 0);
    free(text);
    frames_free(out);
    free_req(r);
}

/* MindIE: role in every chunk, reasoning_content, usage inside the finish chunk, no usage chunk,
 * an empty first content. */
static void streams_mindie_reasoning(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
#define MINDIE(delta, finish)                                                                      \
    "{'id':'endpoint_common_8','object':'chat.completion.chunk','created':1733000001,"             \
    "'model':'deepseek-r1','choices':[{'index':0,'delta':{'role':'assistant'," delta "},"          \
    "'finish_reason':" finish "}]}"
    feed(r, out, MINDIE("'content':'','reasoning_content':'Two plus'", "null"));
    feed(r, out, MINDIE("'content':null,'reasoning_content':' two.'", "null"));
    feed(r, out, MINDIE("'content':'4','reasoning_content':null", "null"));
    feed(r, out,
         "{'id':'endpoint_common_8','object':'chat.completion.chunk','created':1733000001,"
         "'model':'deepseek-r1','choices':[{'index':0,'delta':{'role':'assistant','content':''},"
         "'finish_reason':'length'}],'usage':{'prompt_tokens':12,'completion_tokens':9,"
         "'total_tokens':21}}");
#undef MINDIE
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    char seq[512];
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start content_block_start content_block_delta "
                             "content_block_delta content_block_stop content_block_start "
                             "content_block_delta content_block_stop message_delta message_stop");
    assert_string_equal(S(ev.data[0], "message.id"), "msg_endpoint_common_8");
    assert_int_equal(I(ev.data[1], "index"), 0);
    assert_string_equal(S(ev.data[1], "content_block.type"), "thinking");
    assert_string_equal(S(ev.data[1], "content_block.thinking"), "");
    assert_string_equal(S(ev.data[2], "delta.type"), "thinking_delta");
    assert_string_equal(S(ev.data[2], "delta.thinking"), "Two plus");
    assert_string_equal(S(ev.data[3], "delta.thinking"), " two.");
    assert_int_equal(I(ev.data[4], "index"), 0);
    assert_int_equal(I(ev.data[5], "index"), 1);
    assert_string_equal(S(ev.data[5], "content_block.type"), "text");
    assert_string_equal(S(ev.data[6], "delta.text"), "4");
    assert_int_equal(I(ev.data[7], "index"), 1);
    assert_string_equal(S(ev.data[8], "delta.stop_reason"), "max_tokens");
    assert_int_equal(I(ev.data[8], "usage.input_tokens"), 12);
    assert_int_equal(I(ev.data[8], "usage.output_tokens"), 9);
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

/* vLLM with a tool parser: text, then two calls with argument fragments. */
static void streams_tool_calls(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
    feed(r, out, VLLM_CHUNK("{'role':'assistant','content':''}", "null"));
    feed(r, out, VLLM_CHUNK("{'content':'Checking.'}", "null"));
    feed(r, out,
         VLLM_CHUNK("{'tool_calls':[{'id':'chatcmpl-tool-1','type':'function','index':0,"
                    "'function':{'name':'get_weather','arguments':''}}]}",
                    "null"));
    feed(r, out,
         VLLM_CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\': '}}]}",
                    "null"));
    feed(
        r, out,
        VLLM_CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'\\'Paris\\'}'}}]}", "null"));
    feed(r, out,
         VLLM_CHUNK("{'tool_calls':[{'id':'chatcmpl-tool-2','type':'function','index':1,"
                    "'function':{'name':'get_time','arguments':'{\\'tz\\': \\'CET\\'}'}}]}",
                    "null"));
    feed(r, out, VLLM_CHUNK("{}", "'tool_calls'"));
    feed(r, out,
         "{'id':'chatcmpl-b2f3','object':'chat.completion.chunk','choices':[],"
         "'usage':{'prompt_tokens':300,'completion_tokens':41,'total_tokens':341}}");
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    char seq[1024];
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start content_block_start content_block_delta "
                             "content_block_stop content_block_start content_block_delta "
                             "content_block_delta content_block_stop content_block_start "
                             "content_block_delta content_block_stop message_delta message_stop");
    assert_string_equal(S(ev.data[1], "content_block.type"), "text");
    assert_string_equal(S(ev.data[2], "delta.text"), "Checking.");
    assert_int_equal(I(ev.data[3], "index"), 0);
    assert_int_equal(I(ev.data[4], "index"), 1);
    assert_string_equal(S(ev.data[4], "content_block.type"), "tool_use");
    assert_string_equal(S(ev.data[4], "content_block.id"), "chatcmpl-tool-1");
    assert_string_equal(S(ev.data[4], "content_block.name"), "get_weather");
    assert_int_equal(json_object_object_length(at(ev.data[4], "content_block.input")), 0);
    assert_int_equal(I(ev.data[5], "index"), 1);
    assert_string_equal(S(ev.data[5], "delta.type"), "input_json_delta");
    assert_string_equal(S(ev.data[5], "delta.partial_json"), "{\"city\": ");
    assert_string_equal(S(ev.data[6], "delta.partial_json"), "\"Paris\"}");
    assert_int_equal(I(ev.data[7], "index"), 1);
    assert_int_equal(I(ev.data[8], "index"), 2);
    assert_string_equal(S(ev.data[8], "content_block.id"), "chatcmpl-tool-2");
    assert_string_equal(S(ev.data[8], "content_block.name"), "get_time");
    assert_string_equal(S(ev.data[9], "delta.partial_json"), "{\"tz\": \"CET\"}");
    assert_int_equal(I(ev.data[10], "index"), 2);
    assert_string_equal(S(ev.data[11], "delta.stop_reason"), "tool_use");
    assert_int_equal(I(ev.data[11], "usage.input_tokens"), 300);
    assert_int_equal(I(ev.data[11], "usage.output_tokens"), 41);
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

/* SGLang-like: delta.reasoning (vLLM >= 0.10 too), tool calls without ids nor indices, usage
 * on the finish chunk and a stop string reported by vLLM's stop_reason. */
static void streams_reasoning_and_idless_tools(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
    feed(r, out, VLLM_CHUNK("{'role':'assistant','reasoning':'Need a tool.'}", "null"));
    feed(
        r, out,
        VLLM_CHUNK("{'tool_calls':[{'function':{'name':'ls','arguments':'{\\'dir\\''}}]}", "null"));
    feed(r, out, VLLM_CHUNK("{'tool_calls':[{'function':{'arguments':': \\'/\\'}'}}]}", "null"));
    feed(r, out,
         VLLM_CHUNK("{'tool_calls':[{'function':{'name':'pwd','arguments':'{}'}}]}", "null"));
    feed(r, out, VLLM_CHUNK("{}", "'tool_calls'"));
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    char seq[1024];
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start content_block_start content_block_delta "
                             "content_block_stop content_block_start content_block_delta "
                             "content_block_delta content_block_stop content_block_start "
                             "content_block_delta content_block_stop message_delta message_stop");
    assert_string_equal(S(ev.data[2], "delta.thinking"), "Need a tool.");
    assert_string_equal(S(ev.data[4], "content_block.id"), "toolu_req_01HZX3_0");
    assert_string_equal(S(ev.data[4], "content_block.name"), "ls");
    assert_string_equal(S(ev.data[6], "delta.partial_json"), ": \"/\"}");
    assert_string_equal(S(ev.data[8], "content_block.id"), "toolu_req_01HZX3_1");
    assert_string_equal(S(ev.data[8], "content_block.name"), "pwd");
    assert_string_equal(S(ev.data[11], "delta.stop_reason"), "tool_use");
    /* no usage anywhere: zeros, still present */
    assert_int_equal(I(ev.data[11], "usage.output_tokens"), 0);
    assert_int_equal(I(ev.data[11], "usage.input_tokens"), 0);
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);

    r = new_req("{}");
    out = frames_new();
    feed(r, out, VLLM_CHUNK("{'role':'assistant','content':'1, 2, 3'}", "null"));
    feed(r, out,
         "{'id':'c','choices':[{'index':0,'delta':{},'finish_reason':'stop','stop_reason':"
         "'</list>'}],'usage':{'prompt_tokens':5,'completion_tokens':4,'total_tokens':9}}");
    gw_protocol_anthropic.stream_end(r, out);
    text = take_frames(out);
    split(text, &ev);
    assert_string_equal(ev.name[ev.n - 2], "message_delta");
    assert_string_equal(S(ev.data[ev.n - 2], "delta.stop_reason"), "stop_sequence");
    assert_string_equal(S(ev.data[ev.n - 2], "delta.stop_sequence"), "</list>");
    assert_int_equal(I(ev.data[ev.n - 2], "usage.input_tokens"), 5);
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

static void streams_only_choice_zero_and_skips_empty(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
    feed(r, out,
         "{'id':'x','choices':[{'index':1,'delta':{'content':'other'},'finish_reason':null},"
         "{'index':0,'delta':{'content':''},'finish_reason':null}],'usage':null}");
    feed(r, out, "{'id':'x','choices':[{'index':0,'delta':{'content':null,'tool_calls':[]}}]}");
    feed(r, out, "{'id':'x','choices':[{'index':0,'delta':{'content':'A'}}]}");
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    char seq[512];
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start content_block_start content_block_delta "
                             "content_block_stop message_delta message_stop");
    assert_string_equal(S(ev.data[2], "delta.text"), "A");
    assert_string_equal(S(ev.data[4], "delta.stop_reason"), "end_turn");
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

/* Once a text block is open, a chunk of one piece of text is relayed without a parse; a chunk
 * that holds anything more (another choice's text, a finish, usage, a tool call) is read whole,
 * and patterns inside the text itself (escaped quotes) change nothing. */
static void streams_text_chunks_read_only_when_plain(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
    feed(r, out, "{'id':'x','choices':[{'index':0,'delta':{'role':'assistant','content':''}}]}");
    feed(r, out, "{'id':'x','choices':[{'index':0,'delta':{'content':'A'}}]}");
    /* two texts: only choice 0's */
    feed(r, out,
         "{'id':'x','choices':[{'index':2,'delta':{'content':'other'}},"
         "{'index':0,'delta':{'content':'B'}}]}");
    feed(r, out,
         "{'id':'x','choices':[{'index':0,'delta':{'content':'say \\'usage\\':{ "
         "\\'content\\':\\'x \\'index\\':1'}}]}");
    feed(r, out,
         "{'id':'x','choices':[{'index':0,'delta':{'content':'C'}}],"
         "'usage':{'prompt_tokens':3,'completion_tokens':4}}");
    feed(r, out,
         "{'id':'x','choices':[{'index':0,'delta':{'content':''},'finish_reason':'stop'}]}");
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    char seq[512];
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start content_block_start content_block_delta "
                             "content_block_delta content_block_delta content_block_delta "
                             "content_block_stop message_delta message_stop");
    assert_string_equal(S(ev.data[2], "delta.text"), "A");
    assert_string_equal(S(ev.data[3], "delta.text"), "B");
    assert_string_equal(S(ev.data[4], "delta.text"), "say \"usage\":{ \"content\":\"x \"index\":1");
    assert_string_equal(S(ev.data[5], "delta.text"), "C");
    assert_string_equal(S(ev.data[7], "delta.stop_reason"), "end_turn");
    assert_int_equal(I(ev.data[7], "usage.output_tokens"), 4);
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

/* vLLM's continuous_usage_stats: usage on every chunk, so message_start knows the input. */
static void stream_start_uses_early_usage(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
    feed(r, out,
         "{'id':'c7','choices':[{'index':0,'delta':{'role':'assistant','content':'Hi'}}],"
         "'usage':{'prompt_tokens':40,'completion_tokens':1,'total_tokens':41}}");
    feed(r, out,
         "{'id':'c7','choices':[{'index':0,'delta':{'content':'!'},'finish_reason':'stop'}],"
         "'usage':{'prompt_tokens':40,'completion_tokens':2,'total_tokens':42}}");
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    assert_int_equal(I(ev.data[0], "message.usage.input_tokens"), 40);
    assert_int_equal(I(ev.data[0], "message.usage.output_tokens"), 1);
    assert_string_equal(ev.name[ev.n - 2], "message_delta");
    assert_int_equal(I(ev.data[ev.n - 2], "usage.output_tokens"), 2); /* the last total */
    assert_int_equal(I(ev.data[ev.n - 2], "usage.input_tokens"), 40);
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

static void streams_empty(void **state) {
    (void)state;
    gw_req *r = new_req("{}");
    r->usage = (gw_usage){.prompt_tokens = 7, .completion_tokens = 0, .known = 1};
    gw_strbuf *out = frames_new();
    gw_protocol_anthropic.stream_end(r, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    char seq[256];
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start message_delta message_stop");
    assert_string_equal(S(ev.data[0], "message.id"), "msg_req_01HZX3");
    assert_string_equal(S(ev.data[1], "delta.stop_reason"), "end_turn");
    assert_int_equal(I(ev.data[1], "usage.input_tokens"), 7); /* the adapter's usage */
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

static void stream_errors(void **state) {
    (void)state;
    /* mid-stream: the error event alone, and nothing after it */
    gw_req *r = new_req("{}");
    gw_strbuf *out = frames_new();
    feed(r, out, VLLM_CHUNK("{'role':'assistant','content':'Par'}", "null"));
    gw_error_info e = {.status = 502,
                       .type = "server_error",
                       .code = "upstream_error",
                       .message = "the engine closed the stream\n(mid-answer)"};
    e.message_len = strlen(e.message);
    gw_protocol_anthropic.stream_error(r, &e, out);
    feed(r, out, VLLM_CHUNK("{'content':'is'}", "null"));
    gw_protocol_anthropic.stream_end(r, out);
    gw_protocol_anthropic.stream_error(r, &e, out);
    char *text = take_frames(out);
    events ev;
    split(text, &ev);
    char seq[256];
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start content_block_start content_block_delta error");
    assert_string_equal(S(ev.data[3], "error.type"), "api_error");
    assert_string_equal(S(ev.data[3], "error.message"),
                        "the engine closed the stream\n(mid-answer)");
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);

    /* before anything: a message to fail, then the error */
    r = new_req("{}");
    out = frames_new();
    gw_error_info t = {
        .status = 0, .type = "rate_limit_exceeded", .message = "slow down", .message_len = 9};
    gw_protocol_anthropic.stream_error(r, &t, out);
    text = take_frames(out);
    split(text, &ev);
    names(&ev, seq, sizeof seq);
    assert_string_equal(seq, "message_start error");
    assert_string_equal(S(ev.data[1], "error.type"), "rate_limit_error");
    free_events(&ev);
    free(text);
    frames_free(out);
    free_req(r);
}

static void stream_rejects_malformed_chunks(void **state) {
    (void)state;
    const char *bad[] = {
        "not json",
        "{'choices':[{'index':0,'delta':{'content':'x'}}]}{}",
        ("{'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':"
         "{'arguments':'{'}}]}}]}"),
        "{'choices':[{'index':0,'delta':{'tool_calls':['x']}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_req *r = new_req("{}");
        gw_strbuf *out = frames_new();
        char *json = sq(bad[i]);
        gw_chunk c = {.json = json, .len = strlen(json)};
        const char *err = NULL;
        assert_int_equal(gw_protocol_anthropic.stream_chunk(r, &c, out, &err), -1);
        assert_non_null(err);
        free(json);
        frames_free(out);
        free_req(r);
    }
}

/* ---- errors ------------------------------------------------------------------------------ */

static void writes_error_bodies(void **state) {
    (void)state;
    const struct {
        int status;
        const char *openai_type;
        const char *type;
    } cases[] = {
        {400, "invalid_request_error", "invalid_request_error"},
        {422, "Input Validation Error", "invalid_request_error"},
        {401, "authentication_error", "authentication_error"},
        {402, NULL, "billing_error"},
        {403, "permission_error", "permission_error"},
        {404, "invalid_request_error", "not_found_error"},
        {405, "invalid_request_error", "invalid_request_error"},
        {408, "invalid_request_error", "invalid_request_error"},
        {413, "invalid_request_error", "request_too_large"},
        {429, "rate_limit_exceeded", "rate_limit_error"},
        {500, "server_error", "api_error"},
        {500, "timeout_error", "timeout_error"},
        {502, "server_error", "api_error"},
        {503, "overloaded_error", "overloaded_error"},
        {504, "timeout_error", "timeout_error"},
        {529, NULL, "overloaded_error"},
        {0, "overloaded_error", "overloaded_error"},
        {200, "server_error", "api_error"},
        {0, NULL, "api_error"},
    };
    gw_req *r = new_req("{}");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_error_info e = {.status = cases[i].status,
                           .type = cases[i].openai_type,
                           .code = "some_code",
                           .param = "model",
                           .message = "model \"x\" is not served here"};
        e.message_len = strlen(e.message);
        struct evbuffer *out = evbuffer_new();
        gw_protocol_anthropic.error_body(r, &e, out);
        char *text = take(out);
        json_object *b = parse_strict(text, strlen(text));
        assert_int_equal(json_object_object_length(b), 2);
        assert_string_equal(S(b, "type"), "error");
        assert_int_equal(json_object_object_length(at(b, "error")), 2);
        if (strcmp(S(b, "error.type"), cases[i].type))
            fail_msg("status %d: %s, want %s", cases[i].status, S(b, "error.type"), cases[i].type);
        assert_string_equal(S(b, "error.message"), "model \"x\" is not served here");
        json_object_put(b);
        free(text);
        evbuffer_free(out);
    }
    /* a message that is not NUL-terminated, and one that is missing */
    gw_error_info e = {
        .status = 429, .type = "rate_limit_exceeded", .message = "too manyXXX", .message_len = 8};
    struct evbuffer *out = evbuffer_new();
    gw_protocol_anthropic.error_body(r, &e, out);
    char *text = take(out);
    assert_string_equal(
        text,
        "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"too many\"}}");
    free(text);
    e = (gw_error_info){.status = 529};
    gw_protocol_anthropic.error_body(r, &e, out);
    text = take(out);
    assert_string_equal(text, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                              "\"message\":\"Overloaded\"}}");
    free(text);
    evbuffer_free(out);
    free_req(r);
}

static void table_is_complete(void **state) {
    (void)state;
    assert_string_equal(gw_protocol_anthropic.name, "anthropic");
    assert_non_null(gw_protocol_anthropic.to_canonical);
    assert_non_null(gw_protocol_anthropic.response);
    assert_non_null(gw_protocol_anthropic.stream_chunk);
    assert_non_null(gw_protocol_anthropic.stream_end);
    assert_non_null(gw_protocol_anthropic.error_body);
    assert_non_null(gw_protocol_anthropic.stream_error);
    assert_non_null(gw_protocol_anthropic.free_state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_complete),
        cmocka_unit_test(converts_conversation),
        cmocka_unit_test(converts_minimal_request),
        cmocka_unit_test(maps_tool_choice),
        cmocka_unit_test(converts_tool_results_with_blocks),
        cmocka_unit_test(drops_thinking_and_empty_prefill),
        cmocka_unit_test(rejects_bad_requests),
        cmocka_unit_test(bounds_error_message_to_buffer),
        cmocka_unit_test(converts_response_with_tool_calls_and_cache),
        cmocka_unit_test(maps_finish_reasons),
        cmocka_unit_test(response_edge_cases),
        cmocka_unit_test(streams_vllm_text_exactly),
        cmocka_unit_test(streams_mindie_reasoning),
        cmocka_unit_test(streams_tool_calls),
        cmocka_unit_test(streams_reasoning_and_idless_tools),
        cmocka_unit_test(streams_only_choice_zero_and_skips_empty),
        cmocka_unit_test(streams_text_chunks_read_only_when_plain),
        cmocka_unit_test(stream_start_uses_early_usage),
        cmocka_unit_test(streams_empty),
        cmocka_unit_test(stream_errors),
        cmocka_unit_test(stream_rejects_malformed_chunks),
        cmocka_unit_test(writes_error_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
