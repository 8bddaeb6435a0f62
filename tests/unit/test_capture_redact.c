/* Captures masked before they are stored (metering.capture.redact_pii): the PII redactor on
 * request bodies, whole answers and stream events (every document stays valid JSON, every
 * event keeps its SSE framing, escapes inside strings are read as the text they stand for),
 * values split across stream events masked in each piece, guards.pii's custom patterns masked
 * whatever their action there; the config building it (on by default when captures are, off
 * with redact_pii: false); and the store writer applying it: the original values never reach
 * the database file, and the redactor's references all come back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/load.h"
#include "core/clock.h"
#include "filters/capture_pii.h"
#include "meter/meter.h"
#include "meter/metering-t.h"
#include "meter/record.h"
#include "meter/redact.h"

/* --- helpers --- */

static gw_capture_redactor *redactor(const gw_pii_custom_desc *custom, size_t n) {
    char err[300];
    gw_capture_redactor *rd = gw_capture_pii_redactor_new(custom, n, err, sizeof err);
    assert_non_null(rd);
    return rd;
}

static void set_body(gw_capture *c, const char *body) {
    c->request_body = strdup(body);
    c->request_body_len = strlen(body);
}

/* c->response as events (each a NUL-terminated string) at 10 us steps. */
static void set_events(gw_capture *c, const char *const *events, size_t n) {
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += gw_capture_chunk_size(strlen(events[i]));
    c->response = calloc(1, size);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        gw_capture_chunk *ch = (gw_capture_chunk *)(c->response + at);
        ch->t_us = (int64_t)(i + 1) * 10;
        ch->len = (uint32_t)strlen(events[i]);
        memcpy(ch->data, events[i], ch->len);
        at += gw_capture_chunk_size(ch->len);
    }
    c->response_len = c->response_cap = size;
    c->response_chunks = n;
}

/* The body is exactly want. */
static void body_is(const gw_capture *c, const char *want) {
    assert_int_equal(c->request_body_len, strlen(want));
    assert_memory_equal(c->request_body, want, c->request_body_len);
}

static int run(gw_capture_redactor *rd, gw_capture *c) {
    void *scratch = rd->ops->scratch_new();
    assert_non_null(scratch);
    int rc = rd->ops->redact(rd, scratch, c);
    rd->ops->scratch_free(scratch);
    return rc;
}

/* Event i of c's answer as a string (static buffer) and its time. */
static const char *event(const gw_capture *c, size_t i, int64_t *t_us) {
    static char buf[4096];
    size_t off = 0;
    const gw_capture_chunk *ch = NULL;
    for (size_t k = 0; k <= i; k++)
        ch = gw_capture_next(c->response, c->response_len, &off);
    assert_non_null(ch);
    assert_true(ch->len < sizeof buf);
    memcpy(buf, ch->data, ch->len);
    buf[ch->len] = 0;
    if (t_us) *t_us = ch->t_us;
    return buf;
}

static json_object *parse(const char *s) {
    json_object *o = json_tokener_parse(s);
    assert_non_null(o);
    return o;
}

/* The JSON of an event "data: {...}\n\n" (with an optional event: line). */
static json_object *event_json(const char *ev) {
    const char *data = strstr(ev, "data: ");
    assert_non_null(data);
    size_t len = strlen(ev);
    assert_true(len >= 2 && ev[len - 1] == '\n' && ev[len - 2] == '\n');
    char copy[4096];
    snprintf(copy, sizeof copy, "%.*s", (int)(ev + len - 2 - (data + 6)), data + 6);
    return parse(copy);
}

static const char *at_path(json_object *o, const char *const *path) {
    for (; *path; path++) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(*path));
        else if (!json_object_object_get_ex(o, *path, &o))
            return NULL;
    }
    return json_object_get_string(o);
}

/* --- the redactor --- */

static void a_body_is_masked_inside_its_strings(void **state) {
    (void)state;
    gw_capture_redactor *rd = redactor(NULL, 0);
    gw_capture c = {0};
    /* an escaped line break before the phone: read as the text it stands for, so the phone is
     * not glued to an "n"; a quote inside the string stays escaped; numbers stay */
    set_body(&c, "{\"model\":\"chat\",\"max_tokens\":13812345678,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"call\\n13812345678 or \\\"mail\\\" bob.smith@example.org \\u4f60"
                 "\"}]}");
    assert_int_equal(run(rd, &c), 0);
    char body[512];
    snprintf(body, sizeof body, "%.*s", (int)c.request_body_len, c.request_body);
    assert_null(strstr(body, "bob.smith"));
    assert_null(strstr(body, "12345678 or"));
    json_object *o = parse(body);
    const char *const content[] = {"messages", "0", "content", NULL};
    assert_string_equal(at_path(o, content), "call\n138****5678 or \"mail\" [EMAIL] 你");
    /* outside strings nothing moves: the number is as it was */
    assert_non_null(strstr(body, "\"max_tokens\":13812345678,"));
    const char *const model[] = {"model", NULL};
    assert_string_equal(at_path(o, model), "chat");
    json_object_put(o);
    gw_record_free_capture(&c);
    gw_capture_redactor_unref(rd);
}

static void repeated_and_empty_strings(void **state) {
    (void)state;
    gw_capture_redactor *rd = redactor(NULL, 0);
    gw_capture c = {0};
    /* the same value twice is masked twice (a string seen before is masked as it was) */
    set_body(&c, "{\"a\":\"\",\"b\":\"x@example.org\",\"c\":[\"x@example.org\",\"\"]}");
    assert_int_equal(run(rd, &c), 0);
    body_is(&c, "{\"a\":\"\",\"b\":\"[EMAIL]\",\"c\":[\"[EMAIL]\",\"\"]}");
    gw_record_free_capture(&c);
    set_body(&c, "\"\"");
    assert_int_equal(run(rd, &c), 0);
    body_is(&c, "\"\"");
    gw_record_free_capture(&c);
    gw_capture_redactor_unref(rd);
}

static void nothing_to_mask_leaves_the_buffers(void **state) {
    (void)state;
    gw_capture_redactor *rd = redactor(NULL, 0);
    gw_capture c = {0};
    set_body(&c, "{\"messages\":[{\"role\":\"user\",\"content\":\"hello there, 42\"}]}");
    const char *const events[] = {
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
        "data: [DONE]\n\n"};
    set_events(&c, events, 2);
    char *body = c.request_body, *response = c.response;
    assert_int_equal(run(rd, &c), 0);
    assert_ptr_equal(c.request_body, body);
    assert_ptr_equal(c.response, response);
    gw_record_free_capture(&c);
    gw_capture_redactor_unref(rd);
}

#define CHUNK(i, text)                                                                             \
    "data: "                                                                                       \
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":" #i      \
    ",\"delta\":{\"content\":\"" text "\"},\"finish_reason\":null}]}\n\n"

static void a_value_split_across_events_is_masked_in_each(void **state) {
    (void)state;
    gw_capture_redactor *rd = redactor(NULL, 0);
    gw_capture c = {0};
    /* a phone in three events (the mask is as long as the value: each keeps its share), an
     * email in two (a shorter mask: all of it where the value starts), and choice 1's text in
     * between, which is not part of choice 0's */
    const char *const events[] = {
        CHUNK(0, "call 138"),  CHUNK(1, "99"),        CHUNK(0, "1234"),  CHUNK(0, "5678 or bob."),
        CHUNK(0, "smith@exa"), CHUNK(0, "mple.org!"), "data: [DONE]\n\n"};
    set_events(&c, events, 7);
    assert_int_equal(run(rd, &c), 0);
    assert_int_equal(c.response_chunks, 7);
    char text0[256] = "", text1[64] = "";
    for (size_t i = 0; i < 6; i++) {
        int64_t t;
        const char *ev = event(&c, i, &t);
        assert_int_equal(t, (int64_t)(i + 1) * 10); /* times kept */
        assert_null(strstr(ev, "1234"));
        assert_null(strstr(ev, "smith"));
        json_object *o = event_json(ev);
        const char *const index[] = {"choices", "0", "index", NULL};
        const char *const content[] = {"choices", "0", "delta", "content", NULL};
        strcat(atoi(at_path(o, index)) ? text1 : text0, at_path(o, content));
        json_object_put(o);
    }
    assert_string_equal(text0, "call 138****5678 or [EMAIL]!");
    assert_string_equal(text1, "99");
    assert_string_equal(event(&c, 1, NULL), CHUNK(1, "99"));
    assert_string_equal(event(&c, 2, NULL), CHUNK(0, "****"));
    assert_string_equal(event(&c, 4, NULL), CHUNK(0, ""));
    assert_string_equal(event(&c, 6, NULL), "data: [DONE]\n\n");
    gw_record_free_capture(&c);
    gw_capture_redactor_unref(rd);
}

static void several_events_in_one_chunk(void **state) {
    (void)state;
    gw_capture_redactor *rd = redactor(NULL, 0);
    gw_capture c = {0};
    /* what the caller got in one write: the events of a phone two bytes at a time */
    const char *const events[] = {CHUNK(0, "13") CHUNK(0, "70") CHUNK(0, "00") CHUNK(0, "01"),
                                  CHUNK(0, "11") CHUNK(0, "1 ok") "data: [DONE]\n\n"};
    set_events(&c, events, 2);
    assert_int_equal(run(rd, &c), 0);
    char all[2 * 4096]; /* two events, each as long as event()'s buffer at most */
    strcpy(all, event(&c, 0, NULL));
    strcat(all, event(&c, 1, NULL));
    assert_string_equal(all, CHUNK(0, "13") CHUNK(0, "7*") CHUNK(0, "**") CHUNK(0, "*1")
                                 CHUNK(0, "11") CHUNK(0, "1 ok") "data: [DONE]\n\n");
    gw_record_free_capture(&c);
    gw_capture_redactor_unref(rd);
}

static void anthropic_blocks_and_custom_patterns(void **state) {
    (void)state;
    /* a custom pattern that guards.pii restores: masked here all the same */
    const gw_pii_custom_desc nick = {
        .name = "nick", .pattern = "NICK<[^>]*>", .action = GW_PII_RESTORE};
    gw_capture_redactor *rd = redactor(&nick, 1);
    gw_capture c = {0};
    const char *const events[] = {
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"I am NICK<b\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"ob> at 10.1.2.3\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"key\\\":\\\"sk-Ab12Cd\"}}"
        "\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"34Ef56Gh78Ij90Kl\\\"}\"}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"};
    set_events(&c, events, 6);
    assert_int_equal(run(rd, &c), 0);
    char text[256] = "", args[256] = "";
    for (size_t i = 0; i < 6; i++) {
        const char *ev = event(&c, i, NULL);
        assert_int_equal(strncmp(ev, "event: ", 7), 0);
        assert_null(strstr(ev, "NICK<"));
        assert_null(strstr(ev, "10.1.2.3"));
        json_object *o = event_json(ev);
        const char *const t[] = {"delta", "text", NULL}, *const pj[] = {"delta", "partial_json",
                                                                        NULL};
        if (at_path(o, t)) strcat(text, at_path(o, t));
        if (at_path(o, pj)) strcat(args, at_path(o, pj));
        json_object_put(o);
    }
    assert_string_equal(text, "I am [NICK] at [IP]");
    assert_string_equal(args, "{\"key\":\"[SECRET]\"}");
    gw_record_free_capture(&c);
    gw_capture_redactor_unref(rd);
}

static void a_cut_body_stays_a_prefix(void **state) {
    (void)state;
    gw_capture_redactor *rd = redactor(NULL, 0);
    gw_capture c = {0};
    set_body(&c, "{\"messages\":[{\"content\":\"mail bob.smith@example.org and 1381234");
    c.truncated = 1;
    assert_int_equal(run(rd, &c), 0);
    body_is(&c, "{\"messages\":[{\"content\":\"mail [EMAIL] and 1381234");
    gw_record_free_capture(&c);
    gw_capture_redactor_unref(rd);
}

/* --- the config --- */

static gw_config *load(const char *extra) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "channels:\n  - {name: sim, type: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"
             "models:\n  - {name: chat, channel: sim}\n%s",
             extra);
    gw_config_errors errs;
    gw_config *cfg = gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.messages[i]);
    assert_non_null(cfg);
    return cfg;
}

static void the_config_builds_it_when_captures_are_on(void **state) {
    (void)state;
    gw_config *cfg = load("metering:\n  capture: { bodies: true }\n");
    assert_true(cfg->metering->capture.redact_pii);
    assert_non_null(cfg->metering->capture.redactor);
    gw_config_unref(cfg);
    cfg = load("metering:\n  capture: { streams: true, redact_pii: false }\n");
    assert_null(cfg->metering->capture.redactor);
    gw_config_unref(cfg);
    cfg = load("metering:\n  store: x.db\n"); /* nothing captured: nothing to mask */
    assert_null(cfg->metering->capture.redactor);
    gw_config_unref(cfg);
    /* guards.pii's custom patterns come along */
    cfg = load("guards:\n  pii:\n    phone: restore\n    custom:\n"
               "      - { name: emp, pattern: \"EMP-[0-9]{4}\", action: block }\n"
               "metering:\n  capture: { bodies: true }\n");
    gw_capture_redactor *rd = cfg->metering->capture.redactor;
    assert_non_null(rd);
    gw_capture c = {0};
    set_body(&c, "{\"content\":\"EMP-1234 here\"}");
    assert_int_equal(run(rd, &c), 0);
    body_is(&c, "{\"content\":\"[EMP] here\"}");
    gw_record_free_capture(&c);
    gw_config_unref(cfg);
}

/* --- the store writer applies it --- */

static int file_has(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char buf[8 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(buf + i, needle, k)) return 1;
    return 0;
}

static void write_one(const char *dir, int redact, int *found_phone, int *found_mail) {
    char path[256], wal[280];
    snprintf(path, sizeof path, "%s/m%d.db", dir, redact);
    snprintf(wal, sizeof wal, "%s-wal", path);
    gw_metering_conf conf = {.store = path, .queue_size = 16, .batch = 8};
    char err[300];
    gw_meter *m = gw_meter_start(&conf, err, sizeof err);
    assert_non_null(m);
    gw_capture_redactor *rd = redactor(NULL, 0);
    gw_request_record rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.id, sizeof rec.id, "req_1");
    rec.time_ms = gw_wall_ns() / 1000000;
    set_body(&rec.capture, "{\"messages\":[{\"content\":\"call 13912345678\"}]}");
    const char *const events[] = {CHUNK(0, "bob.smith@"), CHUNK(0, "example.org")};
    set_events(&rec.capture, events, 2);
    if (redact) rec.capture.redactor = gw_capture_redactor_ref(rd);
    assert_int_equal(gw_meter_submit(m, &rec), 0);
    gw_meter_stop(m, 5000);
    /* every reference the records took came back: only ours is left */
    assert_int_equal(atomic_load(&rd->refs), 1);
    gw_capture_redactor_unref(rd);
    *found_phone = file_has(path, "13912345678") || file_has(wal, "13912345678");
    *found_mail = file_has(path, "example.org") || file_has(wal, "example.org");
    unlink(path);
    unlink(wal);
}

static void the_writer_stores_the_masked_capture(void **state) {
    (void)state;
    char dir[] = "/tmp/aigw-redact-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int phone, mail;
    write_one(dir, 1, &phone, &mail);
    assert_false(phone);
    assert_false(mail);
    write_one(dir, 0, &phone, &mail); /* the same without the redactor: there they are */
    assert_true(phone);
    assert_true(mail);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_body_is_masked_inside_its_strings),
        cmocka_unit_test(repeated_and_empty_strings),
        cmocka_unit_test(nothing_to_mask_leaves_the_buffers),
        cmocka_unit_test(a_value_split_across_events_is_masked_in_each),
        cmocka_unit_test(several_events_in_one_chunk),
        cmocka_unit_test(anthropic_blocks_and_custom_patterns),
        cmocka_unit_test(a_cut_body_stays_a_prefix),
        cmocka_unit_test(the_config_builds_it_when_captures_are_on),
        cmocka_unit_test(the_writer_stores_the_masked_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
