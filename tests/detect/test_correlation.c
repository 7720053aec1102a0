/* Correlation rules (Sigma correlation specification): event_count,
 * value_count, temporal, temporal_ordered; group-by, timespan, and the
 * bound on live groups with evictions counted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "detect_fixture.h"
#include "fixtures.h"

#define FAILED_LOGIN \
    "title: failed login\nname: failed_login\nlogsource: {product: linux, service: auth}\n" \
    "detection:\n  sel:\n    Message|contains: 'Failed password'\n  condition: sel\n---\n"
#define GOOD_LOGIN \
    "title: good login\nname: good_login\nlogsource: {product: linux, service: auth}\n" \
    "detection:\n  sel:\n    Message|contains: 'Accepted password'\n  condition: sel\n---\n"

static char *event(char *buf, size_t len, int second, const char *ip, const char *user,
                   const char *what) {
    snprintf(buf, len, "{\"time\":\"2026-01-01T00:%02d:%02dZ\",\"SourceIp\":\"%s\",\"User\":\"%s\","
             "\"Message\":\"%s password for %s from %s\"}", second / 60, second % 60, ip, user, what,
             user, ip);
    return buf;
}

static void test_event_count_fires_at_threshold_per_group(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN
        "title: brute force\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n"
        "  group-by: [SourceIp]\n  timespan: 1m\n  condition: {gte: 3}\n";
    for (int prefilter = 0; prefilter < 2; prefilter++) {
        detect_engine *e = engine_with(yaml, prefilter);
        hit_log log = {0};
        char buf[256];
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 0, "10.0.0.1", "root", "Failed"), &log), 0);
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 1, "10.0.0.2", "root", "Failed"), &log), 0);
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 2, "10.0.0.1", "root", "Failed"), &log), 0);
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 3, "10.0.0.1", "root", "Failed"), &log), 1);
        assert_string_equal(log.last_rule, "brute force");
        assert_string_equal(log.last_group, "10.0.0.1");
        assert_int_equal(log.last_count, 3);
        /* base rule matches are not reported on their own (generate: false) */
        assert_int_equal(log.count, 1);
        detect_engine_free(e);
    }
}

static void test_event_count_window_slides(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN
        "title: brute force\ncorrelation:\n  type: event_count\n  rules: failed_login\n"
        "  group-by: [SourceIp]\n  timespan: 10s\n  condition: {gte: 3}\n";
    detect_engine *e = engine_with(yaml, true);
    hit_log log = {0};
    char buf[256];
    engine_feed(e, event(buf, sizeof buf, 0, "10.0.0.1", "root", "Failed"), &log);
    engine_feed(e, event(buf, sizeof buf, 8, "10.0.0.1", "root", "Failed"), &log);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 20, "10.0.0.1", "root", "Failed"), &log), 0);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 25, "10.0.0.1", "root", "Failed"), &log), 0);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 29, "10.0.0.1", "root", "Failed"), &log), 1);
    detect_engine_free(e);
}

static void test_value_count_counts_distinct_values(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN
        "title: spraying\ncorrelation:\n  type: value_count\n  rules: [failed_login]\n"
        "  group-by: [SourceIp]\n  timespan: 5m\n  condition: {field: User, gte: 3}\n";
    detect_engine *e = engine_with(yaml, true);
    hit_log log = {0};
    char buf[256];
    engine_feed(e, event(buf, sizeof buf, 0, "10.0.0.9", "alice", "Failed"), &log);
    engine_feed(e, event(buf, sizeof buf, 1, "10.0.0.9", "alice", "Failed"), &log);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 2, "10.0.0.9", "bob", "Failed"), &log), 0);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 3, "10.0.0.9", "carol", "Failed"), &log), 1);
    assert_int_equal(log.last_count, 3);
    detect_engine_free(e);
}

static void test_temporal_needs_every_rule_in_window(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN GOOD_LOGIN
        "title: success after failure\ncorrelation:\n  type: temporal\n"
        "  rules: [failed_login, good_login]\n  group-by: [SourceIp]\n  timespan: 1m\n";
    detect_engine *e = engine_with(yaml, true);
    hit_log log = {0};
    char buf[256];
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 0, "10.0.0.1", "root", "Accepted"), &log), 0);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 5, "10.0.0.2", "root", "Failed"), &log), 0);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 10, "10.0.0.1", "root", "Failed"), &log), 1);
    assert_string_equal(log.last_group, "10.0.0.1");
    /* outside the window the first rule no longer counts */
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 119, "10.0.0.2", "root", "Accepted"), &log), 0);
    detect_engine_free(e);
}

static void test_temporal_ordered_needs_the_order(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN GOOD_LOGIN
        "title: success after failure\ncorrelation:\n  type: temporal_ordered\n"
        "  rules: [failed_login, good_login]\n  group-by: [SourceIp]\n  timespan: 1m\n";
    detect_engine *e = engine_with(yaml, true);
    hit_log log = {0};
    char buf[256];
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 0, "10.0.0.1", "root", "Accepted"), &log), 0);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 1, "10.0.0.1", "root", "Failed"), &log), 0);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 2, "10.0.0.1", "root", "Accepted"), &log), 1);
    detect_engine_free(e);
}

static void test_generate_true_keeps_base_matches(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN
        "title: brute force\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n"
        "  timespan: 1m\n  condition: {gte: 2}\n  generate: true\n";
    detect_engine *e = engine_with(yaml, true);
    hit_log log = {0};
    char buf[256];
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 0, "1.1.1.1", "a", "Failed"), &log), 1);
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 1, "1.1.1.1", "a", "Failed"), &log), 2);
    detect_engine_free(e);
}

static void test_bound_evicts_oldest_group_and_counts_it(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN
        "title: brute force\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n"
        "  group-by: [SourceIp]\n  timespan: 1h\n  condition: {gte: 2}\n";
    detect_engine *e = engine_with(yaml, true); /* bound: 64 groups */
    hit_log log = {0};
    char buf[256], ip[32];
    for (int i = 0; i < 100; i++) {
        snprintf(ip, sizeof ip, "10.0.1.%d", i);
        engine_feed(e, event(buf, sizeof buf, i, ip, "root", "Failed"), &log);
    }
    detect_stats st;
    detect_engine_stats(e, &st);
    assert_int_equal(st.correlation_groups, 64);
    assert_int_equal(st.correlation_evicted, 36);
    assert_int_equal(st.correlation_max_groups, 64);
    /* the newest groups survive */
    assert_int_equal(engine_feed(e, event(buf, sizeof buf, 101, "10.0.1.99", "root", "Failed"), &log), 1);
    detect_engine_free(e);
}

static void test_unknown_rule_reference_is_reported(void **state) {
    (void)state;
    const char *yaml = "title: orphan\ncorrelation:\n  type: event_count\n  rules: [nothing]\n"
                       "  timespan: 1m\n  condition: {gte: 2}\n";
    char reason[1024];
    assert_int_equal(load_status(yaml, reason, sizeof reason), DETECT_RULE_INVALID);
    assert_non_null(strstr(reason, "refers to 'nothing'"));
    const char *bad = FAILED_LOGIN "title: x\ncorrelation:\n  type: event_sum\n  rules: [failed_login]\n"
                      "  timespan: 1m\n";
    assert_int_equal(load_status(bad, reason, sizeof reason), DETECT_RULE_INVALID);
    assert_non_null(strstr(reason, "event_sum"));
    const char *span = FAILED_LOGIN "title: x\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n"
                       "  timespan: soon\n  condition: {gte: 2}\n";
    assert_int_equal(load_status(span, reason, sizeof reason), DETECT_RULE_INVALID);
    assert_non_null(strstr(reason, "bad timespan 'soon'"));
}

static void test_correlation_of_correlations_needs_the_burst_then_the_success(void **state) {
    (void)state;
    const char *yaml = FAILED_LOGIN GOOD_LOGIN
        "title: brute force\nname: brute_force\ncorrelation:\n  type: event_count\n"
        "  rules: [failed_login]\n  group-by: [SourceIp]\n  timespan: 5m\n  condition: {gte: 3}\n---\n"
        "title: success after brute force\ncorrelation:\n  type: temporal_ordered\n"
        "  rules: [brute_force, good_login]\n  group-by: [SourceIp]\n  timespan: 10m\n";
    for (int prefilter = 0; prefilter < 2; prefilter++) {
        detect_engine *e = engine_with(yaml, prefilter);
        hit_log log = {0};
        char buf[256];
        /* two failures then a success: a typo, not a burst */
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 0, "10.0.0.1", "root", "Failed"), &log), 0);
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 1, "10.0.0.1", "root", "Failed"), &log), 0);
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 2, "10.0.0.1", "root", "Accepted"), &log), 0);
        /* a burst from one address, a success from another: quiet */
        for (int i = 0; i < 3; i++) {
            /* brute force is an input here (generate: false): it fires unreported */
            assert_int_equal(engine_feed(e, event(buf, sizeof buf, 10 + i, "10.0.0.2", "root", "Failed"), &log), 0);
        }
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 20, "10.0.0.3", "alice", "Accepted"), &log), 0);
        /* the burst's own address succeeding: fires */
        assert_int_equal(engine_feed(e, event(buf, sizeof buf, 30, "10.0.0.2", "root", "Accepted"), &log), 1);
        assert_string_equal(log.last_rule, "success after brute force");
        assert_string_equal(log.last_group, "10.0.0.2");
        detect_engine_free(e);
    }
}

static void test_correlation_cycle_is_reported(void **state) {
    (void)state;
    const char *yaml = "title: a\nname: a\ncorrelation:\n  type: event_count\n  rules: [b]\n"
                       "  timespan: 1m\n  condition: {gte: 2}\n---\n"
                       "title: b\nname: b\ncorrelation:\n  type: event_count\n  rules: [a]\n"
                       "  timespan: 1m\n  condition: {gte: 2}\n";
    char reason[1024];
    assert_int_equal(load_status(yaml, reason, sizeof reason), DETECT_RULE_INVALID);
    assert_non_null(strstr(reason, "cycle"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_count_fires_at_threshold_per_group),
        cmocka_unit_test(test_event_count_window_slides),
        cmocka_unit_test(test_value_count_counts_distinct_values),
        cmocka_unit_test(test_temporal_needs_every_rule_in_window),
        cmocka_unit_test(test_temporal_ordered_needs_the_order),
        cmocka_unit_test(test_generate_true_keeps_base_matches),
        cmocka_unit_test(test_bound_evicts_oldest_group_and_counts_it),
        cmocka_unit_test(test_unknown_rule_reference_is_reported),
        cmocka_unit_test(test_correlation_of_correlations_needs_the_burst_then_the_success),
        cmocka_unit_test(test_correlation_cycle_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
