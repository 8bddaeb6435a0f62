/* JSON-RPC 2.0 as MCP uses it: one message per POST (or per SSE event; a batch, an array of
 * them, where the revision allows one), parsed strictly and
 * bounded (depth 64, the HTTP layer bounds the size), sorted into request, notification or
 * response, and answers written with the id the caller sent, byte for byte. */
#ifndef AIGW_MCP_JSONRPC_H
#define AIGW_MCP_JSONRPC_H

#include <stddef.h>

#include "core/strbuf.h"

struct json_object;
struct json_tokener;

enum {
    GW_JSONRPC_PARSE_ERROR = -32700,
    GW_JSONRPC_INVALID_REQUEST = -32600,
    GW_JSONRPC_METHOD_NOT_FOUND = -32601,
    GW_JSONRPC_INVALID_PARAMS = -32602,
    GW_JSONRPC_INTERNAL_ERROR = -32603,
    /* MCP's own (2026-07-28 numbering) */
    GW_MCP_HEADER_MISMATCH = -32020,
    GW_MCP_UNSUPPORTED_VERSION = -32022,
    /* the gateway's, from the implementation-defined range */
    GW_MCP_REFUSED = -32001, /* a key, a permission or a limit said no */
    GW_MCP_BUSY = -32002,    /* sessions or queues full */
};

typedef enum {
    GW_JSONRPC_REQUEST,
    GW_JSONRPC_NOTIFICATION,
    GW_JSONRPC_RESPONSE, /* a client's answer to a server request: MCP servers here send none */
    GW_JSONRPC_BATCH,    /* an array (root): its messages taken one by one (from_object) */
} gw_jsonrpc_kind;

typedef struct gw_jsonrpc_msg {
    struct json_object *root; /* owned: json_object_put when done */
    gw_jsonrpc_kind kind;
    const char *method;         /* inside root; NULL for a response */
    struct json_object *id;     /* inside root; NULL for a notification */
    struct json_object *params; /* an object, or NULL */
} gw_jsonrpc_msg;

/* Parses one message, or a batch (kind GW_JSONRPC_BATCH, root the array, unchecked). 0, or the
 * JSON-RPC error code (-32700 malformed JSON, -32600 not a valid message) with why in err;
 * msg->id is set when the message had a usable one, so the error can carry it. msg->root is set
 * whenever parsing got that far (free it either way). */
int gw_jsonrpc_parse(const char *text, size_t len, gw_jsonrpc_msg *msg, char *err, size_t errlen);
/* The same with a tokener of gw_json_tokener_new's kind (reused: no allocation of its own). */
int gw_jsonrpc_parse_with(struct json_tokener *tok, const char *text, size_t len,
                          gw_jsonrpc_msg *msg, char *err, size_t errlen);
/* One message of a batch: root (a reference, taken over) checked as a message, as above. */
int gw_jsonrpc_from_object(struct json_object *root, gw_jsonrpc_msg *msg, char *err, size_t errlen);
void gw_jsonrpc_msg_free(gw_jsonrpc_msg *msg);

/* {"jsonrpc":"2.0","id":<id>,"result":<result_json>} */
void gw_jsonrpc_write_result(gw_strbuf *out, struct json_object *id, const char *result_json,
                             size_t len);
/* {"jsonrpc":"2.0","id":<id or null>,"error":{"code":..,"message":..[,"data":<data_json>]}} */
void gw_jsonrpc_write_error(gw_strbuf *out, struct json_object *id, int code, const char *message,
                            const char *data_json);

#endif
