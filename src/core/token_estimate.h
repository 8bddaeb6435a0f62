/* A fast estimate of how many tokens a prompt holds, for routing by context length and for
 * metering an answer whose engine reported no usage. It allocates nothing and reads the bytes
 * at most twice: the gateway cannot afford the engine's own tokenizer on the request path, and a
 * threshold rule only needs to be right within a margin. A text of one word (most stream
 * events) is counted on a short path; another is read again by the full scan. */
#ifndef AIGW_CORE_TOKEN_ESTIMATE_H
#define AIGW_CORE_TOKEN_ESTIMATE_H

#include <stddef.h>

struct json_object;

/* Estimated tokens of `len` bytes of UTF-8 text (invalid bytes count one token each). */
size_t gw_estimate_prompt_tokens(const char *text, size_t len);
/* The same count without its shortcuts (the one-word path, prose sixteen bytes a step): the
 * reference its tests hold them to. */
size_t gw_estimate_prompt_tokens_bytewise(const char *text, size_t len);

/* Estimated prompt tokens of a parsed request body. Chat (`api_is_chat`): every message costs
 * GW_ESTIMATE_MESSAGE_OVERHEAD plus its `content`, a string or an array of parts of which the
 * {"type":"text","text":...} ones count. Completions: `prompt`, a string or an array whose
 * strings are estimated and whose token ids (integers, or arrays of them) count one each.
 * Anything else (tools, images, a NULL body) adds nothing. */
size_t gw_estimate_request_tokens(struct json_object *body, int api_is_chat);

/* The same from the text of a body the request scan accepted (filters/request_fields.h), where
 * [start, end) is the value of its "messages" (chat) or "prompt" member (start == end: none):
 * the same count, or SIZE_MAX when memory ran out to decode a long escaped string. */
size_t gw_estimate_request_tokens_text(const char *body, size_t len, size_t start, size_t end,
                                       int api_is_chat);

enum { GW_ESTIMATE_MESSAGE_OVERHEAD = 4 }; /* role and separators of the chat template */

#endif
