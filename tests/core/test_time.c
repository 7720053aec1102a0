#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"
#include "fixtures.h"

static void test_formats_utc_with_nanoseconds(void **state) {
    (void)state;
    char text[HAE_TIME_LEN];
    assert_int_equal(hae_time_format(0, text), HAE_OK);
    assert_string_equal(text, "1970-01-01T00:00:00.000000000Z");
    assert_int_equal(hae_time_format(1745018400000000001LL, text), HAE_OK);
    assert_string_equal(text, "2025-04-18T23:20:00.000000001Z");
    assert_int_equal(hae_time_format(-1, text), HAE_OK);
    assert_string_equal(text, "1969-12-31T23:59:59.999999999Z");
}

static void assert_parses(const char *text, int64_t expected) {
    int64_t ns = 0;
    hae_err err = {0};
    assert_int_equal(hae_time_parse(text, strlen(text), &ns, &err), HAE_OK);
    assert_int_equal(ns, expected);
}

static void test_parses_offsets_and_fractions(void **state) {
    (void)state;
    assert_parses("2025-04-18T23:20:00Z", 1745018400000000000LL);
    assert_parses("2025-04-19T08:20:00+09:00", 1745018400000000000LL); /* KST */
    assert_parses("2025-04-18T23:20:00.5Z", 1745018400500000000LL);
    assert_parses("2025-04-18t23:20:00.123456789123z", 1745018400123456789LL);
    assert_parses("2025-04-18 18:20:00-05:00", 1745018400000000000LL);
}

static void assert_time_rejected(const char *text) {
    int64_t ns = 0;
    hae_err err = {0};
    assert_int_equal(hae_time_parse(text, strlen(text), &ns, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "time '"));
}

static void test_rejects_malformed_times(void **state) {
    (void)state;
    assert_time_rejected("2025-04-18T23:20:00");      /* no zone */
    assert_time_rejected("2025-02-30T00:00:00Z");     /* no such day */
    assert_time_rejected("2025-13-01T00:00:00Z");
    assert_time_rejected("2025-04-18T24:00:00Z");
    assert_time_rejected("2025-04-18T23:20:00.Z");
    assert_time_rejected("2025-04-18T23:20:00Zjunk");
    assert_time_rejected("2025-04-18T23:20:00+0900");
}

static void test_round_trip_is_exact(void **state) {
    (void)state;
    int64_t now = hae_time_now_ns();
    char text[HAE_TIME_LEN];
    assert_int_equal(hae_time_format(now, text), HAE_OK);
    assert_parses(text, now);
}

static void test_ids_are_uuidv7_and_unique(void **state) {
    (void)state;
    char a[HAE_ID_LEN], b[HAE_ID_LEN];
    assert_int_equal(hae_id_new(a), HAE_OK);
    assert_int_equal(hae_id_new(b), HAE_OK);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '7');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_utc_with_nanoseconds),
        cmocka_unit_test(test_parses_offsets_and_fractions),
        cmocka_unit_test(test_rejects_malformed_times),
        cmocka_unit_test(test_round_trip_is_exact),
        cmocka_unit_test(test_ids_are_uuidv7_and_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
