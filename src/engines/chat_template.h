/* Chat templates: a canonical chat request's `messages` rendered as the one prompt string a
 * native text-generation protocol takes (TGI's and MindIE's "inputs", SGLang's "text"), since
 * those routes know nothing of roles. A channel picks its template with `chat_template`:
 *
 *   chatml    <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
 *             stop "<|im_end|>"; tool results as the "tool" role
 *   qwen      ChatML, with Qwen's default system message "You are a helpful assistant." when the
 *             conversation does not begin with one
 *   llama-3   <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
 *             ... <|start_header_id|>assistant<|end_header_id|>\n\n; content trimmed as Meta's
 *             template does; stop "<|eot_id|>"; tool results as the "ipython" role
 *   any other value: the path of a template file (relative paths from the working directory).
 *
 * Template file: UTF-8 text, one `key: value` per line; blank lines and lines whose first
 * non-blank character is '#' are ignored. A value runs to the end of the line with surrounding
 * blanks removed; put it in double quotes to keep leading or trailing blanks (or to write an
 * empty value: ""). Both forms understand the escapes \n \t \r \" and \\. Keys:
 *
 *   user_prefix, assistant_prefix        required: the text before a user / assistant turn
 *   user_suffix, assistant_suffix        the text after it (default empty)
 *   system_prefix, system_suffix         a system turn (default empty: the bare text)
 *   tool_prefix, tool_suffix             a tool result (default: as a user turn)
 *   generation_prompt                    after the last turn (default: assistant_prefix)
 *   bos                                  the text the prompt starts with (default empty)
 *   default_system                       a system message for conversations without one
 *   stop                                 a stop string; repeat the key for up to 4
 *   trim                                 true: strip blanks around each message's content
 *
 * Each key at most once (but stop). Example (Mistral-like):
 *
 *   bos: <s>
 *   user_prefix: "[INST] "
 *   user_suffix: " [/INST]"
 *   assistant_prefix: ""
 *   assistant_suffix: </s>
 *   stop: </s>
 *
 * The file is read once, when the configuration loads; an error names the file and the line. */
#ifndef AIGW_ENGINES_CHAT_TEMPLATE_H
#define AIGW_ENGINES_CHAT_TEMPLATE_H

#include <stddef.h>

#include "core/arena.h"
#include "core/strbuf.h"

struct json_object;

enum { GW_ROLE_SYSTEM, GW_ROLE_USER, GW_ROLE_ASSISTANT, GW_ROLE_TOOL, GW_ROLE_COUNT };
enum { GW_CHAT_TEMPLATE_MAX_STOPS = 4 };

typedef struct gw_chat_template {
    const char *name; /* the built-in's name, or the file's path */
    const char *bos;
    const char *prefix[GW_ROLE_COUNT];
    const char *suffix[GW_ROLE_COUNT];
    const char *generation_prompt;
    const char *default_system; /* NULL: none */
    const char *stops[GW_CHAT_TEMPLATE_MAX_STOPS];
    size_t stop_count;
    int trim;
} gw_chat_template;

/* "chatml, llama-3, qwen", for messages. */
const char *gw_chat_template_builtin_names(void);
/* The built-in template of that name, or NULL. */
const gw_chat_template *gw_chat_template_builtin(const char *name);
/* A channel's `chat_template` value: a built-in name, else a template file read now into the
 * arena. NULL with err (naming the file and line, or the errno text) on failure. */
const gw_chat_template *gw_chat_template_load(const char *value, gw_arena *arena, char *err,
                                              size_t err_cap);

/* Renders the messages (the canonical request's array) and the generation prompt into out, JSON
 * escaped when json_escape (the prompt goes straight into a request body). with_bos writes the
 * template's bos first: off for engines whose tokenizer adds it to the text it is given.
 * image_error is the message for an image part (it names the channel type). 0, or -1 with
 * *err (a static string: the request cannot be rendered, a 400); out->failed: out of room. */
int gw_chat_template_render(const gw_chat_template *t, struct json_object *messages, int with_bos,
                            int json_escape, const char *image_error, gw_strbuf *out,
                            const char **err);

#endif
