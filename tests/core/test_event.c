#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "fixtures.h"

static void test_finding_carries_rule_severity_message(void **state) {
    (void)state;
    hae_event ev;
    assert_int_equal(hae_finding_init(&ev, "sock", "sock.packet_filter", HAE_SEV_HIGH,
                                      "pid %d has a filter", 42), HAE_OK);
    assert_true(hae_event_is_finding(&ev));
    assert_string_equal(ev.product, "haetae");
    assert_string_equal(ev.category, "finding");
    assert_string_equal(ev.service, "sock");
    assert_string_equal(hae_event_get_str(&ev, "rule"), "sock.packet_filter");
    assert_string_equal(hae_event_get_str(&ev, "severity"), "high");
    assert_string_equal(hae_event_get_str(&ev, "message"), "pid 42 has a filter");
    assert_non_null(ev.host);
    assert_true(ev.time_ns > 0);
    hae_event_clear(&ev);
}

static void test_severity_names_round_trip(void **state) {
    (void)state;
    for (int s = HAE_SEV_INFO; s <= HAE_SEV_CRITICAL; s++) {
        hae_severity back;
        assert_int_equal(hae_severity_parse(hae_severity_name((hae_severity)s), &back), HAE_OK);
        assert_int_equal(back, s);
    }
    hae_severity out;
    assert_int_equal(hae_severity_parse("severe", &out), HAE_EINVAL);
}

static void test_many_fields_and_large_values(void **state) {
    (void)state;
    hae_event ev;
    hae_event_init_empty(&ev);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "f%d", i);
        assert_int_equal(hae_event_add_int(&ev, name, i), HAE_OK);
    }
    static char big[100000];
    memset(big, 'x', sizeof big);
    assert_int_equal(hae_event_add_strn(&ev, "big", big, sizeof big), HAE_OK);
    assert_string_equal(hae_event_get_str(&ev, "f999"), "999");
    assert_int_equal(hae_event_get(&ev, "big")->value_len, sizeof big);
    assert_null(hae_event_get(&ev, "absent"));
    hae_event_clear(&ev);
}

static void test_err_prefix_keeps_message(void **state) {
    (void)state;
    hae_err err = {0};
    hae_err_set(&err, HAE_EINVAL, "unknown modifier 'contians'");
    hae_err_prefix(&err, "%s:%d: ", "rules/bpfdoor.yml", 14);
    assert_string_equal(err.msg, "rules/bpfdoor.yml:14: unknown modifier 'contians'");
    assert_int_equal(err.code, HAE_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finding_carries_rule_severity_message),
        cmocka_unit_test(test_severity_names_round_trip),
        cmocka_unit_test(test_many_fields_and_large_values),
        cmocka_unit_test(test_err_prefix_keeps_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
