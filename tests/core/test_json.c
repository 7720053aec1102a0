#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "fixtures.h"

static void assert_escapes_to(const char *bytes, size_t len, const char *expected) {
    hae_buf out = {0};
    assert_int_equal(hae_json_append_string(&out, bytes, len), HAE_OK);
    assert_string_equal(out.data, expected);
    hae_buf_free(&out);
}

static void test_escapes_quotes_backslash_and_controls(void **state) {
    (void)state;
    assert_escapes_to("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    assert_escapes_to("line\nnext\r\t\b\f", 13, "\"line\\nnext\\r\\t\\b\\f\"");
    assert_escapes_to("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    assert_escapes_to("nul\0byte", 8, "\"nul\\u0000byte\"");
}

static void test_valid_utf8_passes_through(void **state) {
    (void)state;
    assert_escapes_to("해태 🐉", strlen("해태 🐉"), "\"해태 🐉\"");
}

static void test_invalid_utf8_becomes_surrogate_escapes(void **state) {
    (void)state;
    assert_escapes_to("caf\xe9", 4, "\"caf\\udce9\"");           /* Latin-1 */
    assert_escapes_to("\xc0\xaf", 2, "\"\\udcc0\\udcaf\"");       /* overlong '/' */
    assert_escapes_to("\xed\xa0\x80", 3, "\"\\udced\\udca0\\udc80\""); /* UTF-8 surrogate */
    assert_escapes_to("\xe2\x82", 2, "\"\\udce2\\udc82\"");       /* truncated */
    assert_escapes_to("\xf4\x90\x80\x80", 4, "\"\\udcf4\\udc90\\udc80\\udc80\""); /* > U+10FFFF */
}

static void test_every_byte_string_round_trips(void **state) {
    (void)state;
    unsigned char bytes[512];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(i * 7 + (i >> 8));
    srand(7);
    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)(rand() % (int)sizeof bytes);
        for (size_t i = 0; i < len; i++) bytes[i] = (unsigned char)rand();
        hae_event ev;
        hae_event_init_empty(&ev);
        assert_int_equal(hae_event_add_strn(&ev, "TargetFilename", (char *)bytes, len), HAE_OK);
        hae_buf line = {0};
        assert_int_equal(hae_event_encode_json(&ev, &line), HAE_OK);
        assert_non_null(memchr(line.data, '\n', line.len));
        assert_ptr_equal(memchr(line.data, '\n', line.len), line.data + line.len - 1);
        hae_event back;
        hae_err err = {0};
        assert_int_equal(hae_event_decode_json(&back, line.data, line.len - 1, &err), HAE_OK);
        const hae_field *f = hae_event_get(&back, "TargetFilename");
        assert_non_null(f);
        assert_int_equal(f->value_len, len);
        assert_memory_equal(f->value, bytes, len);
        hae_event_clear(&back);
        hae_event_clear(&ev);
        hae_buf_free(&line);
    }
}

static void test_event_round_trips_with_metadata_and_types(void **state) {
    (void)state;
    hae_event ev;
    assert_int_equal(hae_event_init(&ev, "linux", "process_creation", "haetae"), HAE_OK);
    ev.time_ns = 1763837454123456789LL;
    assert_int_equal(hae_event_add_str(&ev, "Image", "/usr/bin/bash"), HAE_OK);
    assert_int_equal(hae_event_add_int(&ev, "ProcessId", -42), HAE_OK);
    assert_int_equal(hae_event_add_bool(&ev, "deleted", true), HAE_OK);
    assert_int_equal(hae_event_add_str(&ev, "Parent", NULL), HAE_OK);
    assert_int_equal(hae_event_add_str(&ev, "tag", "a"), HAE_OK);
    assert_int_equal(hae_event_add_str(&ev, "tag", "b"), HAE_OK);
    hae_buf line = {0};
    assert_int_equal(hae_event_encode_json(&ev, &line), HAE_OK);
    assert_non_null(strstr(line.data, "\"time\":\"2025-11-22T18:50:54.123456789Z\""));
    assert_non_null(strstr(line.data, "\"tag\":[\"a\",\"b\"]"));
    assert_non_null(strstr(line.data, "\"ProcessId\":-42"));
    assert_non_null(strstr(line.data, "\"Parent\":null"));

    hae_event back;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&back, line.data, line.len, &err), HAE_OK);
    assert_string_equal(back.id, ev.id);
    assert_int_equal(back.time_ns, ev.time_ns);
    assert_string_equal(back.host, ev.host);
    assert_string_equal(back.product, "linux");
    assert_string_equal(back.category, "process_creation");
    assert_string_equal(back.service, "haetae");
    assert_int_equal(back.field_count, ev.field_count);
    hae_buf again = {0};
    assert_int_equal(hae_event_encode_json(&back, &again), HAE_OK);
    assert_string_equal(again.data, line.data);
    assert_int_equal(hae_event_get(&back, "ProcessId")->type, HAE_VAL_NUMBER);
    assert_int_equal(hae_event_get(&back, "deleted")->type, HAE_VAL_BOOL);
    assert_int_equal(hae_event_get(&back, "Parent")->type, HAE_VAL_NULL);
    hae_buf_free(&again);
    hae_buf_free(&line);
    hae_event_clear(&back);
    hae_event_clear(&ev);
}

static void test_decode_flattens_nested_objects(void **state) {
    (void)state;
    const char *line = "{\"process\":{\"pid\":7,\"exe\":{\"path\":\"/x\"}},\"ips\":[\"1.1.1.1\",2]}";
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, line, strlen(line), &err), HAE_OK);
    assert_string_equal(hae_event_get_str(&ev, "process.pid"), "7");
    assert_string_equal(hae_event_get_str(&ev, "process.exe.path"), "/x");
    assert_int_equal(ev.field_count, 4);
    assert_string_equal(ev.fields[2].name, "ips");
    assert_string_equal(ev.fields[3].value, "2");
    assert_int_equal(ev.id[0], '\0');
    assert_int_equal(ev.time_ns, 0);
    hae_event_clear(&ev);
}

static void test_decode_keeps_unparseable_meta_as_fields(void **state) {
    (void)state;
    const char *line = "{\"time\":\"yesterday\",\"host\":5,\"logsource\":{\"product\":\"x\",\"n\":1}}";
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, line, strlen(line), &err), HAE_OK);
    assert_string_equal(hae_event_get_str(&ev, "time"), "yesterday");
    assert_string_equal(hae_event_get_str(&ev, "host"), "5");
    assert_string_equal(hae_event_get_str(&ev, "logsource.product"), "x");
    assert_null(ev.product);
    hae_event_clear(&ev);
}

static void test_fields_named_like_metadata_round_trip(void **state) {
    (void)state;
    /* host and id nested in an object flatten to fields named "host" and
     * "id"; written back they must not turn into the event's metadata. */
    const char *line = "{\"\":{\"host\":\"hss01\",\"id\":\"x\"},\"time\":\"yesterday\"}";
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, line, strlen(line), &err), HAE_OK);
    assert_null(ev.host);
    assert_int_equal(ev.field_count, 3);
    hae_buf out = {0};
    assert_int_equal(hae_event_encode_json(&ev, &out), HAE_OK);
    hae_event back;
    assert_int_equal(hae_event_decode_json(&back, out.data, out.len, &err), HAE_OK);
    assert_null(back.host);
    assert_int_equal(back.id[0], '\0');
    assert_int_equal(back.time_ns, 0);
    assert_int_equal(back.field_count, 3);
    assert_string_equal(hae_event_get_str(&back, "host"), "hss01");
    assert_string_equal(hae_event_get_str(&back, "id"), "x");
    assert_string_equal(hae_event_get_str(&back, "time"), "yesterday");
    hae_buf again = {0};
    assert_int_equal(hae_event_encode_json(&back, &again), HAE_OK);
    assert_string_equal(again.data, out.data);
    hae_buf_free(&again);
    hae_buf_free(&out);
    hae_event_clear(&back);
    hae_event_clear(&ev);
}

static void assert_rejects(const char *text, const char *message_part) {
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, text, strlen(text), &err), HAE_EINVAL);
    if (!strstr(err.msg, message_part)) {
        fail_msg("error for %s was '%s', expected '%s'", text, err.msg, message_part);
    }
    assert_int_equal(ev.field_count, 0);
}

static void test_decode_rejects_malformed_json_with_offsets(void **state) {
    (void)state;
    assert_rejects("", "unexpected end of input at byte 0");
    assert_rejects("[1]", "must be an object");
    assert_rejects("{\"a\":1,}", "expected member name at byte 7");
    assert_rejects("{\"a\" 1}", "expected ':'");
    assert_rejects("{\"a\":01}", "expected ',' or '}'");
    assert_rejects("{\"a\":\"x\ny\"}", "control character in string");
    assert_rejects("{\"a\":\"\\ud800\"}", "high surrogate without its low half");
    assert_rejects("{\"a\":\"\\udc00\"}", "lone low surrogate");
    assert_rejects("{\"a\":\"\\q\"}", "unknown escape");
    assert_rejects("{\"a\":1} x", "trailing characters");
    assert_rejects("{\"a\":tru}", "unexpected character");
    assert_rejects("{\"a\":-}", "bad number");
    assert_rejects("{\"a\":1.}", "bad fraction");
    assert_rejects("{\"a\":1e}", "bad exponent");
    assert_rejects("{\"a\\u0000b\":1}", "contains a NUL byte");
}

static void test_decode_limits_nesting(void **state) {
    (void)state;
    char deep[200];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 70; i++) deep[n++] = '[';
    deep[n] = '\0';
    assert_rejects(deep, "nesting deeper than 64 levels");
}

static void test_decode_combines_surrogate_pairs(void **state) {
    (void)state;
    const char *line = "{\"a\":\"\\ud83d\\udc09\\u00e9\"}";
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, line, strlen(line), &err), HAE_OK);
    assert_string_equal(hae_event_get_str(&ev, "a"), "🐉é");
    hae_event_clear(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_quotes_backslash_and_controls),
        cmocka_unit_test(test_valid_utf8_passes_through),
        cmocka_unit_test(test_invalid_utf8_becomes_surrogate_escapes),
        cmocka_unit_test(test_every_byte_string_round_trips),
        cmocka_unit_test(test_event_round_trips_with_metadata_and_types),
        cmocka_unit_test(test_decode_flattens_nested_objects),
        cmocka_unit_test(test_decode_keeps_unparseable_meta_as_fields),
        cmocka_unit_test(test_fields_named_like_metadata_round_trip),
        cmocka_unit_test(test_decode_rejects_malformed_json_with_offsets),
        cmocka_unit_test(test_decode_limits_nesting),
        cmocka_unit_test(test_decode_combines_surrogate_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
