/* The redactor of captures (meter/redact.h) that masks personal data and secrets before a
 * capture is stored: every built-in PII detector (src/security/pii.h) in mask mode, plus the
 * custom patterns of guards.pii, also masked whatever their action there. Built once per config
 * snapshot by the config loader (metering.capture.redact_pii); runs on the store writer.
 *
 * Captures are JSON (a request body, a whole answer) or SSE events whose data lines are JSON, so
 * values are found and masked inside JSON string literals only, their escapes decoded first and
 * the masked text escaped again: a mask never breaks a document or an event's framing. Numbers
 * and other bytes outside strings are left as they are.
 *
 * A stream's text arrives in pieces, one per event, and a value may be split across them (a
 * phone number in tokens "138", "1234", "5678"): the strings that carry the pieces of one text
 * (content, reasoning_content, reasoning, text, thinking, arguments, partial_json, refusal) are
 * read as one text per key and "index" (an OpenAI choice or tool call, an Anthropic content
 * block) across the events, and a value found across pieces is masked in each: a mask as long
 * as the value keeps each piece's length, another one goes into the piece where the value
 * starts. Every other string is read alone. */
#ifndef AIGW_FILTERS_CAPTURE_PII_H
#define AIGW_FILTERS_CAPTURE_PII_H

#include <stddef.h>

#include "meter/redact.h"
#include "security/pii.h"

/* A redactor with one reference (the caller's); custom as guards.pii has them (their action is
 * ignored: every value is masked). NULL and err: a pattern that does not compile, or memory. */
gw_capture_redactor *gw_capture_pii_redactor_new(const gw_pii_custom_desc *custom,
                                                 size_t custom_count, char *err, size_t cap);

#endif
