/* The simulator's "tokenizer" and "model": a token is a whitespace-separated word, and the
 * generated text cycles through a fixed word list. Both are deterministic, so tests (and the
 * gateway's metering) can predict usage exactly, and re-counting the generated text's words
 * gives back completion_tokens. */
#include <string.h>

#include "sim/sim_internal.h"

/* Plain ASCII with nothing to escape in JSON, so texts are written out as they are. Each word
 * carries the space that precedes it in a text; the first token drops it. */
static const char *const vocabulary[] = {
    " The",  " quick", " brown", " fox",       " jumps",  " over",   " the",
    " lazy", " dog",   " while", " simulated", " tokens", " stream", " steadily",
};
enum { WORD_COUNT = sizeof(vocabulary) / sizeof(vocabulary[0]) };

long sim_count_words(const char *s, size_t len) {
    long words = 0;
    bool in_word = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        if (!space && !in_word) words++;
        in_word = !space;
    }
    return words;
}

const char *sim_token_text(int k, size_t *len) {
    const char *text = k == 0 ? vocabulary[0] + 1 : vocabulary[k % WORD_COUNT];
    *len = strlen(text);
    return text;
}

void sim_text_append(struct evbuffer *out, int count) {
    /* Batched through a stack buffer: one evbuffer_add per few hundred tokens. */
    char buf[4096];
    size_t used = 0;
    for (int k = 0; k < count; k++) {
        size_t len;
        const char *text = sim_token_text(k, &len);
        if (used + len > sizeof(buf)) {
            evbuffer_add(out, buf, used);
            used = 0;
        }
        memcpy(buf + used, text, len);
        used += len;
    }
    if (used > 0) evbuffer_add(out, buf, used);
}

int sim_token_id(int k) {
    return 1000 + k % WORD_COUNT;
}

double sim_token_logprob(int k) {
    /* Exact in binary, so every printer writes the same digits. */
    return -(double)(1 + k % 7) / 16.0;
}

/* True when `stop`, without surrounding blanks, is word k. */
static bool stop_equals(json_object *stop, int k) {
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
    const char *word = sim_token_text(k, &wlen);
    if (k > 0) {
        word++;
        wlen--;
    }
    return len == wlen && len > 0 && memcmp(s, word, len) == 0;
}

int sim_text_stop_index(json_object *stop, int count, json_object **matched) {
    if (stop == NULL) return -1;
    bool many = json_object_is_type(stop, json_type_array);
    size_t n = many ? json_object_array_length(stop) : 1;
    /* The text repeats every WORD_COUNT words: no later word can match a first time. */
    int limit = count < WORD_COUNT ? count : WORD_COUNT;
    for (int k = 0; k < limit; k++) {
        for (size_t i = 0; i < n; i++) {
            json_object *candidate = many ? json_object_array_get_idx(stop, i) : stop;
            if (stop_equals(candidate, k)) {
                *matched = candidate;
                return k;
            }
        }
    }
    return -1;
}
