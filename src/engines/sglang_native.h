/* SGLang's native protocol: POST /generate {text, sampling_params, stream} with the prompt from
 * a chat template, answers {text, meta_info{finish_reason{type}, prompt_tokens, ...}} and
 * streams of CUMULATIVE text ended by [DONE]. sglang.c chooses it with `api: native`. */
#ifndef AIGW_ENGINES_SGLANG_NATIVE_H
#define AIGW_ENGINES_SGLANG_NATIVE_H

#include "engines/chat_template.h"
#include "engines/engine.h"

/* tmpl NULL: chatml. The stream state is a gw_textgen_stream (textgen.h). */
int gw_sglang_native_prepare(const gw_chat_template *tmpl, gw_req *r, gw_engine_call *call,
                             int *status, const char **err);
int gw_sglang_native_response(const gw_chat_template *tmpl, gw_engine_io *io, const char *body,
                              size_t len);
int gw_sglang_native_stream_event(const gw_chat_template *tmpl, gw_engine_io *io, const char *data,
                                  size_t len);
int gw_sglang_native_stream_end(gw_engine_io *io);

#endif
