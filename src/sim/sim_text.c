/* The simulator's "tokenizer" and "model": a token is a whitespace-separated word, and the
 * generated text cycles through a fixed word list. Both are deterministic, so tests (and the
 * gateway's metering) can predict usage exactly, and re-counting the generated text's words
 * gives back completion_tokens.
 *
 * A request can instead script its answer (x-sim-text), so a gateway test can make the "model"
 * say what it needs (a placeholder to restore, a word split across two chunks): the text is cut
 * into words (each with the whitespace before it, the last also with any after it, so the
 * pieces join back to the exact text) or into x-sim-chunk-bytes pieces that never split a UTF-8
 * character. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

/* Plain ASCII with nothing to escape in JSON, so texts are written out as they are. Each word
 * carries the space that precedes it in a text; the first token drops it. */
static const char *const vocabulary[] = {
    " The",  " quick", " brown", " fox",       " jumps",  " over",   " the",
    " lazy", " dog",   " while", " simulated", " tokens", " stream", " steadily",
};
enum { WORD_COUNT = sizeof(vocabulary) / sizeof(vocabulary[0]) };

struct sim_script {
    char *text; /* the decoded bytes, in the same allocation after ends */
    size_t len;
    int count;
    uint32_t ends[]; /* token k is text[k ? ends[k - 1] : 0, ends[k]) */
};

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

long sim_count_words(const char *s, size_t len) {
    long words = 0;
    bool in_word = false;
    for (size_t i = 0; i < len; i++) {
        bool space = is_space(s[i]);
        if (!space && !in_word) words++;
        in_word = !space;
    }
    return words;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes value into out (room for strlen(value) bytes): %XX escapes when percent, else the bytes
 * as they are. False on a broken escape. */
static bool decode(const char *value, bool percent, char *out, size_t *len) {
    size_t n = 0;
    for (const char *p = value; *p != '\0'; p++) {
        if (percent && *p == '%') {
            int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
            if (lo < 0) return false;
            out[n++] = (char)(hi << 4 | lo);
            p += 2;
        } else {
            out[n++] = *p;
        }
    }
    *len = n;
    return true;
}

/* Well-formed UTF-8 only (no overlong forms, surrogates or code points past U+10FFFF): the text
 * is written into JSON strings as it is. */
static bool valid_utf8(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return false;
        }
        if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        i += n + 1;
    }
    return true;
}

/* Cuts text into tokens; writes their ends when ends is not NULL, and returns their count, or -1
 * past SIM_MAX_OUTPUT_TOKENS. */
static long split(const char *text, size_t len, int chunk_bytes, uint32_t *ends) {
    long n = 0;
    if (chunk_bytes > 0) {
        for (size_t at = 0; at < len; n++) {
            size_t end = len - at <= (size_t)chunk_bytes ? len : at + (size_t)chunk_bytes;
            /* Never inside a character: on to its end (at most 3 continuation bytes). */
            while (end < len && ((unsigned char)text[end] & 0xc0) == 0x80)
                end++;
            if (n >= SIM_MAX_OUTPUT_TOKENS) return -1;
            if (ends != NULL) ends[n] = (uint32_t)end;
            at = end;
        }
        return n;
    }
    /* A token ends where the whitespace before the next word begins; the last one takes the
     * rest, so a text of blanks only is one token. */
    size_t word_end = 0;
    bool seen_word = false;
    for (size_t i = 0; i < len; i++) {
        if (is_space(text[i])) continue;
        if (seen_word && is_space(text[i - 1])) {
            if (n >= SIM_MAX_OUTPUT_TOKENS) return -1;
            if (ends != NULL) ends[n] = (uint32_t)word_end;
            n++;
        }
        seen_word = true;
        word_end = i + 1;
    }
    if (n >= SIM_MAX_OUTPUT_TOKENS) return -1;
    if (ends != NULL) ends[n] = (uint32_t)len;
    return n + 1;
}

bool sim_script_check(const char *header, const char *value, bool percent, int chunk_bytes,
                      int *tokens, sim_problem *problem) {
    size_t raw = strlen(value);
    if (raw > SIM_MAX_TEXT_BYTES) {
        sim_problem_set(problem, 400, NULL, "Invalid %s header: at most %d bytes.", header,
                        SIM_MAX_TEXT_BYTES);
        return false;
    }
    char text[SIM_MAX_TEXT_BYTES];
    size_t len;
    if (!decode(value, percent, text, &len)) {
        sim_problem_set(problem, 400, NULL,
                        "Invalid %s header: a %% must start a %%XX escape (two hex "
                        "digits) with x-sim-text-encoding: percent.",
                        header);
        return false;
    }
    if (len == 0) {
        sim_problem_set(problem, 400, NULL, "Invalid %s header: the text is empty.", header);
        return false;
    }
    if (!valid_utf8(text, len)) {
        sim_problem_set(problem, 400, NULL, "Invalid %s header: the text is not UTF-8.", header);
        return false;
    }
    long n = split(text, len, chunk_bytes, NULL);
    if (n < 0) {
        sim_problem_set(problem, 400, NULL, "Invalid %s header: more than %d tokens.", header,
                        SIM_MAX_OUTPUT_TOKENS);
        return false;
    }
    *tokens = (int)n;
    return true;
}

sim_script *sim_script_new(const char *value, bool percent, int chunk_bytes) {
    size_t raw = strlen(value);
    char *text = malloc(raw > 0 ? raw : 1);
    size_t len;
    if (text == NULL || !decode(value, percent, text, &len)) {
        free(text);
        return NULL;
    }
    long n = split(text, len, chunk_bytes, NULL);
    sim_script *script =
        n > 0 ? malloc(sizeof(*script) + (size_t)n * sizeof(uint32_t) + len) : NULL;
    if (script == NULL) {
        free(text);
        return NULL;
    }
    script->text = (char *)&script->ends[n];
    memcpy(script->text, text, len);
    free(text);
    script->len = len;
    script->count = (int)n;
    split(script->text, len, chunk_bytes, script->ends);
    return script;
}

void sim_script_free(sim_script *script) {
    free(script);
}

int sim_script_tokens(const sim_script *script) {
    return script->count;
}

const char *sim_script_text(const sim_script *script, size_t *len) {
    *len = script->len;
    return script->text;
}

const char *sim_token_text(const sim_script *script, int k, size_t *len) {
    if (script != NULL) {
        uint32_t start = k > 0 ? script->ends[k - 1] : 0;
        *len = script->ends[k] - start;
        return script->text + start;
    }
    const char *text = k == 0 ? vocabulary[0] + 1 : vocabulary[k % WORD_COUNT];
    *len = strlen(text);
    return text;
}

void sim_token_append(struct evbuffer *out, const sim_script *script, int k) {
    size_t len;
    const char *text = sim_token_text(script, k, &len);
    /* The vocabulary needs no escaping. */
    if (script != NULL)
        sim_json_add_escaped(out, text, len);
    else
        evbuffer_add(out, text, len);
}

void sim_text_append(struct evbuffer *out, const sim_script *script, int count) {
    if (script != NULL) {
        /* The tokens are consecutive bytes of the text. */
        if (count > 0) sim_json_add_escaped(out, script->text, script->ends[count - 1]);
        return;
    }
    /* Batched through a stack buffer: one evbuffer_add per few hundred tokens. */
    char buf[4096];
    size_t used = 0;
    for (int k = 0; k < count; k++) {
        size_t len;
        const char *text = sim_token_text(NULL, k, &len);
        if (used + len > sizeof(buf)) {
            evbuffer_add(out, buf, used);
            used = 0;
        }
        memcpy(buf + used, text, len);
        used += len;
    }
    if (used > 0) evbuffer_add(out, buf, used);
}

int sim_token_id(const sim_script *script, int k) {
    if (script == NULL) return 1000 + k % WORD_COUNT;
    /* A hash of the piece's bytes: the same piece, the same id. */
    size_t len;
    const char *text = sim_token_text(script, k, &len);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)text[i];
        h *= 16777619u;
    }
    return (int)(h % 32000);
}

double sim_token_logprob(int k) {
    /* Exact in binary, so every printer writes the same digits. */
    return -(double)(1 + k % 7) / 16.0;
}

/* True when `stop`, without surrounding blanks, is word k. */
static bool stop_equals(json_object *stop, const sim_script *script, int k) {
    if (!json_object_is_type(stop, json_type_string)) return false;
    const char *s = json_object_get_string(stop);
    size_t len = (size_t)json_object_get_string_len(stop);
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    size_t wlen;
    const char *word = sim_token_text(script, k, &wlen);
    if (script != NULL) {
        /* A scripted piece carries its blanks on either side. */
        while (wlen > 0 && is_space(*word)) {
            word++;
            wlen--;
        }
        while (wlen > 0 && is_space(word[wlen - 1]))
            wlen--;
    } else if (k > 0) {
        word++;
        wlen--;
    }
    return len == wlen && len > 0 && memcmp(s, word, len) == 0;
}

int sim_text_stop_index(json_object *stop, const sim_script *script, int count,
                        json_object **matched) {
    if (stop == NULL) return -1;
    bool many = json_object_is_type(stop, json_type_array);
    size_t n = many ? json_object_array_length(stop) : 1;
    /* The text repeats every WORD_COUNT words: no later word can match a first time. */
    int limit = script != NULL || count < WORD_COUNT ? count : WORD_COUNT;
    for (int k = 0; k < limit; k++) {
        for (size_t i = 0; i < n; i++) {
            json_object *candidate = many ? json_object_array_get_idx(stop, i) : stop;
            if (stop_equals(candidate, script, k)) {
                *matched = candidate;
                return k;
            }
        }
    }
    return -1;
}
