/* yaml: keys and values decode the same way (single-quoted '' escapes
 * included), lines are 1-based and kept per key, and what the parser
 * refuses names the file and the line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "yaml/yaml.h"

static const ynode *parse_one(hae_arena *arena, const char *text) {
    ydoc *docs = NULL;
    size_t count = 0;
    hae_err err = {0};
    if (yaml_parse_documents(arena, "t.yml", text, strlen(text), &docs, &count, &err) != HAE_OK) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(count, 1);
    return docs[0].root;
}

static void assert_refused(const char *text, const char *needle) {
    hae_arena arena = {0};
    ydoc *docs = NULL;
    size_t count = 0;
    hae_err err = {0};
    assert_int_equal(yaml_parse_documents(&arena, "bad.yml", text, strlen(text), &docs, &count, &err),
                     HAE_EINVAL);
    if (!strstr(err.msg, needle)) fail_msg("'%s' does not say '%s'", err.msg, needle);
    hae_arena_free(&arena);
}

static void test_single_quoted_keys_decode_like_values(void **state) {
    (void)state;
    hae_arena arena = {0};
    const ynode *root = parse_one(&arena, "'it''s': 'it''s'\n'''''''''''': five\n");
    assert_int_equal(root->type, Y_MAP);
    assert_int_equal(root->count, 2);
    assert_string_equal(root->pairs[0].key, "it's");
    assert_string_equal(yaml_scalar(root->pairs[0].value), "it's");
    assert_string_equal(root->pairs[1].key, "'''''");
    assert_int_equal(root->pairs[1].line, 2);
    hae_arena_free(&arena);
}

static void test_consecutive_escapes_in_values_are_kept(void **state) {
    (void)state;
    hae_arena arena = {0};
    const ynode *root = parse_one(&arena, "a: '-Join'''''\n");
    assert_string_equal(yaml_scalar(yaml_get(root, "a")), "-Join''");
    hae_arena_free(&arena);
}

static void test_null_and_empty_string_differ(void **state) {
    (void)state;
    hae_arena arena = {0};
    const ynode *root = parse_one(&arena, "a: ~\nb: ''\nc:\n");
    assert_null(yaml_scalar(yaml_get(root, "a")));
    assert_string_equal(yaml_scalar(yaml_get(root, "b")), "");
    assert_null(yaml_scalar(yaml_get(root, "c")));
    hae_arena_free(&arena);
}

static void test_refusals_name_file_and_line(void **state) {
    (void)state;
    assert_refused("a: 1\nb: \x01\n", "bad.yml:2: invalid YAML: control character 0x01");
    assert_refused("a: 1\n%YAML 1.2\n", "bad.yml:2: invalid YAML: '%' directive inside a document");
    assert_refused("a: [1, 2\n", "bad.yml:");
    assert_refused("? [a, b]\n: c\n", "complex key");
    /* a lone CR breaks a line, so a directive after one is seen */
    assert_refused("a: 1\r%YAML 1.2\r", "bad.yml:2: invalid YAML: '%' directive inside a document");
    assert_refused("\r%FOO 1", "bad.yml:2: unsupported YAML directive");
    assert_refused("\r%\xac" "AML ", "bad.yml:2: invalid YAML: not UTF-8");
    assert_refused("a: b\nc: [d\xdb]\n", "bad.yml:2: invalid YAML: not UTF-8");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_quoted_keys_decode_like_values),
        cmocka_unit_test(test_consecutive_escapes_in_values_are_kept),
        cmocka_unit_test(test_null_and_empty_string_differ),
        cmocka_unit_test(test_refusals_name_file_and_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
