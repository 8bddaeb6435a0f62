/* POST /v1/embeddings: one unit vector per input, derived from a hash of the input, so the same
 * text always gets the same vector and tests can compare the float and base64 encodings (the
 * openai SDK asks for base64 by default: little-endian float32, as OpenAI and vLLM send it). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim/sim_internal.h"

/* Bounds the answer's size: inputs x dimensions values at most. */
enum { SIM_MAX_EMBEDDING_VALUES = 1 << 20 };

static json_object *member(json_object *obj, const char *key) {
    json_object *v = NULL;
    return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

static bool is_token_array(json_object *v) {
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) return false;
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++)
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_int)) return false;
    return true;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The hash of one input and the tokens it counts for. */
static uint64_t input_hash(json_object *item, long *tokens) {
    uint64_t h = 0xcbf29ce484222325ULL;
    if (json_object_is_type(item, json_type_string)) {
        const char *s = json_object_get_string(item);
        size_t len = (size_t)json_object_get_string_len(item);
        *tokens += sim_count_words(s, len);
        return fnv1a(h, s, len);
    }
    size_t n = json_object_array_length(item);
    for (size_t i = 0; i < n; i++) {
        int64_t token = json_object_get_int64(json_object_array_get_idx(item, i));
        h = fnv1a(h, &token, sizeof(token));
    }
    *tokens += (long)n;
    return h;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static void make_vector(uint64_t seed, float *vec, int dims) {
    double norm = 0;
    for (int i = 0; i < dims; i++) {
        uint64_t r = splitmix64(seed + (uint64_t)i * 0x9E3779B97F4A7C15ULL);
        double v = (double)(r >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
        vec[i] = (float)v;
        norm += v * v;
    }
    norm = sqrt(norm);
    if (norm > 0)
        for (int i = 0; i < dims; i++)
            vec[i] = (float)(vec[i] / norm);
}

static void add_floats(struct evbuffer *out, const float *vec, int dims) {
    char buf[4096];
    size_t used = 0;
    buf[used++] = '[';
    for (int i = 0; i < dims; i++) {
        if (used > sizeof(buf) - 32) {
            evbuffer_add(out, buf, used);
            used = 0;
        }
        /* %.9g round-trips a float32, so both encodings carry the same values. */
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%.9g", i ? "," : "",
                                 (double)vec[i]);
    }
    buf[used++] = ']';
    evbuffer_add(out, buf, used);
}

static void add_base64(struct evbuffer *out, const float *vec, int dims) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char bytes[4 * SIM_MAX_DIMENSIONS];
    size_t len = (size_t)dims * 4;
    for (int i = 0; i < dims; i++) {
        uint32_t bits;
        memcpy(&bits, &vec[i], sizeof(bits));
        for (int b = 0; b < 4; b++)
            bytes[i * 4 + b] = (unsigned char)(bits >> (8 * b));
    }
    char buf[4096];
    size_t used = 0;
    buf[used++] = '"';
    for (size_t i = 0; i < len; i += 3) {
        if (used > sizeof(buf) - 8) {
            evbuffer_add(out, buf, used);
            used = 0;
        }
        uint32_t group = (uint32_t)bytes[i] << 16;
        if (i + 1 < len) group |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < len) group |= bytes[i + 2];
        buf[used++] = alphabet[(group >> 18) & 63];
        buf[used++] = alphabet[(group >> 12) & 63];
        buf[used++] = i + 1 < len ? alphabet[(group >> 6) & 63] : '=';
        buf[used++] = i + 2 < len ? alphabet[group & 63] : '=';
    }
    buf[used++] = '"';
    evbuffer_add(out, buf, used);
}

bool sim_embeddings_body(sim_worker *w, json_object *body, const char *model_json,
                         struct evbuffer *out, long *prompt_tokens, sim_problem *problem) {
    json_object *input = member(body, "input");
    size_t count = 0;
    bool single =
        input != NULL && (json_object_is_type(input, json_type_string) || is_token_array(input));
    if (single) {
        count = 1;
    } else if (input != NULL && json_object_is_type(input, json_type_array)) {
        count = json_object_array_length(input);
        for (size_t i = 0; i < count; i++) {
            json_object *item = json_object_array_get_idx(input, i);
            if (!json_object_is_type(item, json_type_string) && !is_token_array(item)) {
                count = 0;
                break;
            }
        }
    }
    if (count == 0 || count > SIM_MAX_EMBEDDING_INPUTS) {
        sim_problem_set(problem, 400, "input",
                        "`input` must be a string, an array of strings, a token array or an array "
                        "of token arrays (1 to %d inputs).",
                        SIM_MAX_EMBEDDING_INPUTS);
        return false;
    }

    int dims = SIM_DEFAULT_DIMENSIONS;
    json_object *dimensions = member(body, "dimensions");
    if (dimensions != NULL && !json_object_is_type(dimensions, json_type_null)) {
        int64_t d = json_object_get_int64(dimensions);
        if (!json_object_is_type(dimensions, json_type_int) || d < 1 || d > SIM_MAX_DIMENSIONS) {
            sim_problem_set(problem, 400, "dimensions",
                            "`dimensions` must be an integer in [1, %d].", SIM_MAX_DIMENSIONS);
            return false;
        }
        dims = (int)d;
    }
    if ((long)dims * (long)count > SIM_MAX_EMBEDDING_VALUES) {
        sim_problem_set(problem, 400, "input",
                        "At most %d values per answer (inputs x dimensions).",
                        SIM_MAX_EMBEDDING_VALUES);
        return false;
    }
    bool base64 = false;
    json_object *format = member(body, "encoding_format");
    if (format != NULL && !json_object_is_type(format, json_type_null)) {
        const char *f =
            json_object_is_type(format, json_type_string) ? json_object_get_string(format) : "";
        if (strcmp(f, "base64") == 0) {
            base64 = true;
        } else if (strcmp(f, "float") != 0) {
            sim_problem_set(problem, 400, "encoding_format",
                            "`encoding_format` must be \"float\" or \"base64\".");
            return false;
        }
    }

    char id[64];
    sim_make_id(w, "embd-", id, sizeof(id));
    evbuffer_add_printf(out,
                        "{\"id\":\"%s\",\"object\":\"list\",\"created\":%ld,\"model\":\"%s\","
                        "\"data\":[",
                        id, (long)time(NULL), model_json);
    long words = 0;
    float vec[SIM_MAX_DIMENSIONS];
    for (size_t i = 0; i < count; i++) {
        json_object *item = single ? input : json_object_array_get_idx(input, i);
        make_vector(input_hash(item, &words), vec, dims);
        evbuffer_add_printf(
            out, "%s{\"index\":%zu,\"object\":\"embedding\",\"embedding\":", i ? "," : "", i);
        if (base64)
            add_base64(out, vec, dims);
        else
            add_floats(out, vec, dims);
        evbuffer_add(out, "}", 1);
    }
    *prompt_tokens = words > 0 ? words : 1;
    evbuffer_add_printf(out,
                        "],\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld,"
                        "\"completion_tokens\":0,\"prompt_tokens_details\":null}}",
                        *prompt_tokens, *prompt_tokens);
    return true;
}
