/* The condition grammar of the Sigma rules specification v2: and, or, not,
 * parentheses, 1/any/all/N of a pattern or them, lists of conditions, and
 * errors that quote the condition and name the offending token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "detect_fixture.h"
#include "fixtures.h"

#define SELECTIONS \
    "  sel_a:\n    A: x\n  sel_b:\n    B: x\n  sel_c:\n    C: x\n  _hidden:\n    H: x\n"

static void test_and_binds_tighter_than_or(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition: sel_a or sel_b and sel_c\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 1);
    assert_int_equal(hits_of(r, "{\"B\":\"x\"}"), 0);
    assert_int_equal(hits_of(r, "{\"B\":\"x\",\"C\":\"x\"}"), 1);
}

static void test_parentheses_group(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition: (sel_a or sel_b) and sel_c\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"C\":\"x\"}"), 1);
}

static void test_not_binds_tighter_than_and(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition: sel_a and not sel_b\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 1);
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"B\":\"x\"}"), 0);
    const char *only_not = RULE(SELECTIONS "  condition: not sel_b\n");
    assert_int_equal(hits_of(only_not, "{\"Z\":\"x\"}"), 1);
}

static void test_one_of_pattern(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition: 1 of sel_*\n");
    assert_int_equal(hits_of(r, "{\"C\":\"x\"}"), 1);
    assert_int_equal(hits_of(r, "{\"H\":\"x\"}"), 0);
    const char *any = RULE(SELECTIONS "  condition: any of sel_*\n");
    assert_int_equal(hits_of(any, "{\"B\":\"x\"}"), 1);
}

static void test_all_of_pattern(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition: all of sel_*\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"B\":\"x\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"B\":\"x\",\"C\":\"x\"}"), 1);
}

static void test_them_leaves_out_underscore_identifiers(void **state) {
    (void)state;
    const char *all = RULE(SELECTIONS "  condition: all of them\n");
    assert_int_equal(hits_of(all, "{\"A\":\"x\",\"B\":\"x\",\"C\":\"x\"}"), 1);
    const char *one = RULE(SELECTIONS "  condition: 1 of them\n");
    assert_int_equal(hits_of(one, "{\"H\":\"x\"}"), 0);
}

static void test_n_of_needs_at_least_n(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition: 2 of sel_*\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"C\":\"x\"}"), 1);
}

static void test_x_of_combines_with_not(void **state) {
    (void)state;
    const char *r = RULE("  selection:\n    A: x\n  filter_1:\n    B: x\n  filter_2:\n    C: x\n"
                         "  condition: selection and not 1 of filter_*\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 1);
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"C\":\"x\"}"), 0);
}

static void test_list_of_maps_is_or(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    - A: x\n      B: y\n    - C: z\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"B\":\"y\"}"), 1);
    assert_int_equal(hits_of(r, "{\"C\":\"z\"}"), 1);
}

static void test_condition_list_is_or(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition:\n    - sel_a and sel_b\n    - sel_c\n");
    assert_int_equal(hits_of(r, "{\"C\":\"x\"}"), 1);
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 0);
}

static void test_keywords_are_case_insensitive_in_conditions(void **state) {
    (void)state;
    const char *r = RULE(SELECTIONS "  condition: sel_a AND NOT sel_b\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\"}"), 1);
}

static void expect_invalid(const char *rule, const char *needle) {
    char reason[1024];
    assert_int_equal(load_status(rule, reason, sizeof reason), DETECT_RULE_INVALID);
    if (!strstr(reason, needle)) fail_msg("reason '%s' lacks '%s'", reason, needle);
    assert_non_null(strstr(reason, "rule.yml:"));
}

static void test_syntax_errors_name_offset_and_token(void **state) {
    (void)state;
    expect_invalid(RULE(SELECTIONS "  condition: sel_a and (sel_b or\n"), "expected an identifier at end");
    expect_invalid(RULE(SELECTIONS "  condition: sel_a sel_b\n"), "at offset 6, found 'sel_b'");
    expect_invalid(RULE(SELECTIONS "  condition: sel_a and ) \n"), "found ')'");
    expect_invalid(RULE(SELECTIONS "  condition: (sel_a\n"), "expected ')'");
}

static void test_unknown_identifier_and_empty_pattern(void **state) {
    (void)state;
    expect_invalid(RULE(SELECTIONS "  condition: sel_a and selection\n"),
                   "unknown search identifier 'selection'");
    expect_invalid(RULE(SELECTIONS "  condition: 1 of filter_*\n"), "matches no search identifier");
    expect_invalid(RULE(SELECTIONS "  condition: 5 of sel_*\n"), "only 3 identifiers match");
}

static void test_aggregation_is_unsupported_with_reason(void **state) {
    (void)state;
    char reason[1024];
    assert_int_equal(load_status(RULE(SELECTIONS "  condition: sel_a | count() > 5\n"), reason,
                                 sizeof reason), DETECT_RULE_UNSUPPORTED);
    assert_non_null(strstr(reason, "correlation rule"));
}

static void test_deep_nesting_is_an_error_not_a_crash(void **state) {
    (void)state;
    char rule[4096];
    char cond[2048] = "";
    for (int i = 0; i < 200; i++) strcat(cond, "(");
    strcat(cond, "sel_a");
    for (int i = 0; i < 200; i++) strcat(cond, ")");
    snprintf(rule, sizeof rule, RULE(SELECTIONS "  condition: %s\n"), cond);
    expect_invalid(rule, "nesting too deep");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_and_binds_tighter_than_or),
        cmocka_unit_test(test_parentheses_group),
        cmocka_unit_test(test_not_binds_tighter_than_and),
        cmocka_unit_test(test_one_of_pattern),
        cmocka_unit_test(test_all_of_pattern),
        cmocka_unit_test(test_them_leaves_out_underscore_identifiers),
        cmocka_unit_test(test_n_of_needs_at_least_n),
        cmocka_unit_test(test_x_of_combines_with_not),
        cmocka_unit_test(test_list_of_maps_is_or),
        cmocka_unit_test(test_condition_list_is_or),
        cmocka_unit_test(test_keywords_are_case_insensitive_in_conditions),
        cmocka_unit_test(test_syntax_errors_name_offset_and_token),
        cmocka_unit_test(test_unknown_identifier_and_empty_pattern),
        cmocka_unit_test(test_aggregation_is_unsupported_with_reason),
        cmocka_unit_test(test_deep_nesting_is_an_error_not_a_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
