/* The protocols a caller may speak, each a gw_protocol_ops table (core/protocol-t.h). The HTTP
 * layer picks one per route (/v1/chat/completions and friends: OpenAI's; /v1/messages:
 * Anthropic's) and everything below talks to it only through the table. */
#ifndef AIGW_INBOUND_PROTOCOL_H
#define AIGW_INBOUND_PROTOCOL_H

#include "core/protocol-t.h"

/* The canonical dialect: requests pass as they are, answers are framed, not converted. */
extern const gw_protocol_ops gw_protocol_openai;
/* Anthropic's Messages API (POST /v1/messages), converted to and from the canonical form. */
extern const gw_protocol_ops gw_protocol_anthropic;

#endif
