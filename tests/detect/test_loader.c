/* Loading Sigma documents: errors that name file, line and the offending
 * part while other rules still load; collections (action: global, reset,
 * repeat); field mapping; logsource filtering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_fixture.h"
#include "fixtures.h"

static void expect(const char *yaml, detect_status status, const char *needle) {
    char reason[1024];
    assert_int_equal(load_status(yaml, reason, sizeof reason), status);
    if (!strstr(reason, needle)) fail_msg("reason '%s' lacks '%s'", reason, needle);
}

static void test_malformed_yaml_names_line(void **state) {
    (void)state;
    expect("title: x\ndetection:\n  sel: [a, b\n  condition: sel\n", DETECT_RULE_INVALID,
           "invalid YAML");
    expect("title: x\ndetection:\n  sel: {a: b\n", DETECT_RULE_INVALID, "rule.yml:");
}

/* What libfyaml 0.7 mishandles is refused before it, naming the line. */
static void test_directive_inside_a_document_is_refused(void **state) {
    (void)state;
    expect("title: x\ndetection:\n  sel:\n%   A: b\n  condition: sel\n", DETECT_RULE_INVALID,
           "rule.yml:4: invalid YAML: '%' directive inside a document");
    expect("title: x\nlogsource: {product: linux}\ndetection:\n  sel: {A: b\x01}\n  condition: sel\n",
           DETECT_RULE_INVALID, "rule.yml:4: invalid YAML: control character 0x01");
}

/* libfyaml 0.7 misreads runs of '' escapes in single-quoted scalars (as in
 * SigmaHQ's crackmapexec rule, -Join''''); the loader decodes them. */
static void test_single_quoted_escapes_decode_exactly(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    CommandLine|contains: '-Join'''')'\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"x -Join'')\"}"), 1);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"x -Join''')\"}"), 0);
    const char *folded = RULE("  sel:\n    A: 'a''''\n\n      b  \n      c'\n  condition: sel\n");
    assert_int_equal(hits_of(folded, "{\"A\":\"a''\\nb c\"}"), 1);
}

static void test_unknown_modifier_suggests_the_right_one(void **state) {
    (void)state;
    expect(RULE("  sel:\n    Image|contians: x\n  condition: sel\n"), DETECT_RULE_INVALID,
           "rule.yml:7: unknown modifier 'contians' (did you mean 'contains'?)");
}

static void test_bad_regex_names_pattern_and_offset(void **state) {
    (void)state;
    expect(RULE("  sel:\n    Image|re: 'a(b'\n  condition: sel\n"), DETECT_RULE_INVALID,
           "bad regular expression 'a(b' at offset 3");
}

static void test_value_errors_name_the_value(void **state) {
    (void)state;
    expect(RULE("  sel:\n    Ip|cidr: 10.0.0.0/33\n  condition: sel\n"), DETECT_RULE_INVALID,
           "bad CIDR '10.0.0.0/33'");
    expect(RULE("  sel:\n    Size|gt: big\n  condition: sel\n"), DETECT_RULE_INVALID,
           "'big' is not a number");
    expect(RULE("  sel:\n    Pid|exists: maybe\n  condition: sel\n"), DETECT_RULE_INVALID,
           "exists takes true or false");
}

static void test_missing_parts_are_invalid(void **state) {
    (void)state;
    expect("id: x\ndetection:\n  sel:\n    A: b\n  condition: sel\n", DETECT_RULE_INVALID, "no title");
    expect("title: x\ndetection:\n  sel:\n    A: b\n", DETECT_RULE_INVALID, "no condition");
    expect("title: x\nlogsource: {product: linux}\n", DETECT_RULE_INVALID, "neither detection");
}

static void test_expand_is_unsupported_with_reason(void **state) {
    (void)state;
    expect(RULE("  sel:\n    User|expand: '%Admins%'\n  condition: sel\n"), DETECT_RULE_UNSUPPORTED,
           "placeholders");
}

static void test_bad_rule_does_not_stop_the_others(void **state) {
    (void)state;
    const char *yaml = RULE("  sel:\n    A: x\n  condition: sel\n")
        "---\n" RULE("  sel:\n    A|bogus: x\n  condition: sel\n")
        "---\n" RULE("  sel:\n    B: x\n  condition: sel\n");
    detect_engine *e = NULL;
    hae_err err = {0};
    assert_int_equal(detect_engine_new(&e, NULL, &err), HAE_OK);
    detect_load_counts counts = {0};
    load_log log = {0};
    assert_int_equal(detect_engine_load_string(e, "many.yml", yaml, strlen(yaml), load_log_report,
                                               &log, &counts, &err), HAE_OK);
    assert_int_equal(counts.compiled, 2);
    assert_int_equal(counts.invalid, 1);
    assert_non_null(strstr(log.reason, "many.yml:16: unknown modifier 'bogus'"));
    assert_int_equal(detect_engine_compile(e, NULL, NULL, &err), HAE_OK);
    hit_log hits = {0};
    assert_int_equal(engine_feed(e, "{\"B\":\"x\"}", &hits), 1);
    detect_engine_free(e);
}

static int count_matches(const char *yaml, const char *json) {
    detect_engine *e = NULL;
    hae_err err = {0};
    assert_int_equal(detect_engine_new(&e, NULL, &err), HAE_OK);
    assert_int_equal(detect_engine_load_string(e, "c.yml", yaml, strlen(yaml), NULL, NULL, NULL, &err), HAE_OK);
    assert_int_equal(detect_engine_compile(e, NULL, NULL, &err), HAE_OK);
    hit_log hits = {0};
    int n = engine_feed(e, json, &hits);
    detect_engine_free(e);
    return n;
}

static void test_action_global_merges_into_each_document(void **state) {
    (void)state;
    const char *yaml =
        "action: global\ntitle: shared\nlogsource: {product: linux}\n"
        "detection:\n  base:\n    User: root\n  condition: base and extra\n"
        "---\ndetection:\n  extra:\n    Image: /bin/sh\n"
        "---\ndetection:\n  extra:\n    Image: /bin/bash\n";
    assert_int_equal(count_matches(yaml, "{\"User\":\"root\",\"Image\":\"/bin/sh\"}"), 1);
    assert_int_equal(count_matches(yaml, "{\"User\":\"root\",\"Image\":\"/bin/bash\"}"), 1);
    assert_int_equal(count_matches(yaml, "{\"User\":\"alice\",\"Image\":\"/bin/sh\"}"), 0);
}

static void test_action_repeat_and_reset(void **state) {
    (void)state;
    const char *yaml =
        "title: first\ndetection:\n  sel:\n    Image: /bin/sh\n  condition: sel\n"
        "---\naction: repeat\ntitle: second\nlogsource: {product: windows}\n"
        "---\naction: global\ndetection:\n  g:\n    X: y\n"
        "---\naction: reset\n"
        "---\ntitle: third\ndetection:\n  sel:\n    Image: /bin/sh\n  condition: sel\n";
    /* first, third, and second (repeat of first, but windows: filtered on a linux event) */
    assert_int_equal(count_matches(yaml, "{\"logsource\":{\"product\":\"linux\"},\"Image\":\"/bin/sh\"}"), 2);
    assert_int_equal(count_matches(yaml, "{\"Image\":\"/bin/sh\"}"), 3);
}

static void test_logsource_filters_only_declared_attributes(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    Image: /bin/sh\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"logsource\":{\"product\":\"LINUX\",\"category\":\"process_creation\"},"
                                "\"Image\":\"/bin/sh\"}"), 1);
    assert_int_equal(hits_of(r, "{\"logsource\":{\"product\":\"windows\"},\"Image\":\"/bin/sh\"}"), 0);
    assert_int_equal(hits_of(r, "{\"logsource\":{\"category\":\"file_event\"},\"Image\":\"/bin/sh\"}"), 0);
    assert_int_equal(hits_of(r, "{\"Image\":\"/bin/sh\"}"), 1);
}

static void test_field_mapping_file(void **state) {
    (void)state;
    char *dir = fixture_tempdir("detect-map");
    char path[512];
    snprintf(path, sizeof path, "%s/ecs.yml", dir);
    const char *map = "name: ecs\nfieldmappings:\n  Image: process.executable\n  User: [user.name, User]\n";
    assert_int_equal(fixture_write_file(path, map, strlen(map)), 0);
    detect_engine *e = NULL;
    hae_err err = {0};
    assert_int_equal(detect_engine_new(&e, NULL, &err), HAE_OK);
    assert_int_equal(detect_engine_load_mapping(e, path, &err), HAE_OK);
    const char *r = RULE("  sel:\n    Image|endswith: /nc\n    User: root\n  condition: sel\n");
    assert_int_equal(detect_engine_load_string(e, "m.yml", r, strlen(r), NULL, NULL, NULL, &err), HAE_OK);
    assert_int_equal(detect_engine_compile(e, NULL, NULL, &err), HAE_OK);
    hit_log hits = {0};
    assert_int_equal(engine_feed(e, "{\"process\":{\"executable\":\"/bin/nc\"},\"user\":{\"name\":\"root\"}}", &hits), 1);
    assert_int_equal(engine_feed(e, "{\"process\":{\"executable\":\"/bin/nc\"},\"User\":\"root\"}", &hits), 1);
    assert_int_equal(engine_feed(e, "{\"Image\":\"/bin/nc\",\"User\":\"root\"}", &hits), 0);
    detect_engine_free(e);
    const char *bad = "fieldmappings: [a, b]\n";
    assert_int_equal(fixture_write_file(path, bad, strlen(bad)), 0);
    assert_int_equal(detect_engine_new(&e, NULL, &err), HAE_OK);
    assert_int_equal(detect_engine_load_mapping(e, path, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "fieldmappings"));
    detect_engine_free(e);
    fixture_rmtree(dir);
    free(dir);
}

static void test_windows_export_flattening(void **state) {
    (void)state;
    const char *json = "{\"Event\":{\"System\":{\"Provider\":{\"#attributes\":{\"Name\":\"Microsoft-Windows-Sysmon\"}},"
                       "\"EventID\":1,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\"},"
                       "\"EventData\":{\"Image\":\"C:\\\\x\\\\evil.exe\",\"Source Name\":\"RTP\"}}}";
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, json, strlen(json), &err), HAE_OK);
    assert_int_equal(detect_event_flatten_windows(&ev, &err), HAE_OK);
    assert_string_equal(hae_event_get_str(&ev, "Provider_Name"), "Microsoft-Windows-Sysmon");
    assert_string_equal(hae_event_get_str(&ev, "EventID"), "1");
    assert_string_equal(hae_event_get_str(&ev, "Image"), "C:\\x\\evil.exe");
    assert_string_equal(hae_event_get_str(&ev, "SourceName"), "RTP");
    assert_string_equal(ev.product, "windows");
    hae_event_clear(&ev);
}

static void test_json_object_stream(void **state) {
    (void)state;
    const char *buf = "{\n \"a\": \"}\"\n}\n{\"b\":[1,{\"c\":2}]} {\"d\":\"\\\"\"}\n{\"open\":";
    size_t offset = 0, start, len;
    hae_err err = {0};
    assert_int_equal(detect_json_next_object(buf, strlen(buf), &offset, &start, &len, &err), 1);
    assert_int_equal(start, 0);
    assert_int_equal(detect_json_next_object(buf, strlen(buf), &offset, &start, &len, &err), 1);
    assert_memory_equal(buf + start, "{\"b\":[1,{\"c\":2}]}", len);
    assert_int_equal(detect_json_next_object(buf, strlen(buf), &offset, &start, &len, &err), 1);
    assert_int_equal(detect_json_next_object(buf, strlen(buf), &offset, &start, &len, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "not closed"));
    assert_int_equal(detect_json_next_object(buf, strlen(buf), &offset, &start, &len, &err), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_yaml_names_line),
        cmocka_unit_test(test_directive_inside_a_document_is_refused),
        cmocka_unit_test(test_single_quoted_escapes_decode_exactly),
        cmocka_unit_test(test_unknown_modifier_suggests_the_right_one),
        cmocka_unit_test(test_bad_regex_names_pattern_and_offset),
        cmocka_unit_test(test_value_errors_name_the_value),
        cmocka_unit_test(test_missing_parts_are_invalid),
        cmocka_unit_test(test_expand_is_unsupported_with_reason),
        cmocka_unit_test(test_bad_rule_does_not_stop_the_others),
        cmocka_unit_test(test_action_global_merges_into_each_document),
        cmocka_unit_test(test_action_repeat_and_reset),
        cmocka_unit_test(test_logsource_filters_only_declared_attributes),
        cmocka_unit_test(test_field_mapping_file),
        cmocka_unit_test(test_windows_export_flattening),
        cmocka_unit_test(test_json_object_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
