/* Web server access logs into the webserver taxonomy SigmaHQ uses: Apache
 * and nginx common, combined and vhost_combined lines, and JSON access logs
 * with the usual key names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "fixtures.h"

static void parse(hae_event *ev, const char *line) {
    hae_err err = {0};
    if (hae_log_parse_line(ev, HAE_LOGFMT_AUTO, line, strlen(line), &err) != HAE_OK) {
        fail_msg("%s: %s", line, err.msg);
    }
}

static void assert_field(const hae_event *ev, const char *name, const char *want) {
    const char *got = hae_event_get_str(ev, name);
    if (!want) {
        if (got) fail_msg("%s is '%s', wanted absent", name, got);
        return;
    }
    if (!got) fail_msg("no field %s (wanted '%s')", name, want);
    if (strcmp(got, want) != 0) fail_msg("%s is '%s', wanted '%s'", name, got, want);
}

static void assert_number(const hae_event *ev, const char *name, const char *want) {
    const hae_field *f = hae_event_get(ev, name);
    assert_non_null(f);
    assert_int_equal(f->type, HAE_VAL_NUMBER);
    assert_string_equal(f->value, want);
}

static void test_combined_line_names_every_part(void **state) {
    (void)state;
    hae_event ev;
    parse(&ev, "203.0.113.9 - alice [01/Mar/2026:11:00:00 +0900] "
               "\"GET /uploads/c99.php?cmd=whoami HTTP/1.1\" 200 512 "
               "\"https://shop.example/\" \"Mozilla/5.0 (X11; Linux x86_64)\"");
    assert_string_equal(ev.category, "webserver");
    assert_null(ev.product);
    assert_field(&ev, "c-ip", "203.0.113.9");
    assert_field(&ev, "cs-username", "alice");
    assert_field(&ev, "cs-method", "GET");
    assert_field(&ev, "cs-uri", "/uploads/c99.php?cmd=whoami");
    assert_field(&ev, "cs-uri-stem", "/uploads/c99.php");
    assert_field(&ev, "cs-uri-query", "cmd=whoami");
    assert_field(&ev, "cs-version", "HTTP/1.1");
    assert_number(&ev, "sc-status", "200");
    assert_number(&ev, "sc-bytes", "512");
    assert_field(&ev, "cs-referer", "https://shop.example/");
    assert_field(&ev, "cs-user-agent", "Mozilla/5.0 (X11; Linux x86_64)");
    /* 11:00 in +09:00 is 02:00 UTC */
    assert_int_equal(ev.time_ns, 1772330400LL * 1000000000LL);
    hae_event_clear(&ev);
}

static void test_common_and_vhost_lines(void **state) {
    (void)state;
    hae_event ev;
    parse(&ev, "198.51.100.4 - - [10/Oct/2026:13:55:36 -0700] \"POST /login HTTP/1.0\" 302 -");
    assert_field(&ev, "c-ip", "198.51.100.4");
    assert_field(&ev, "cs-username", NULL);
    assert_field(&ev, "cs-uri-query", NULL);
    assert_field(&ev, "sc-bytes", NULL);
    assert_number(&ev, "sc-status", "302");
    assert_field(&ev, "cs-user-agent", NULL);
    hae_event_clear(&ev);
    parse(&ev, "shop.example:443 2001:db8::5 - - [10/Oct/2026:13:55:36 +0000] "
               "\"GET /a?b=1&c=%2e%2e%2f HTTP/2.0\" 404 10 \"-\" \"sqlmap/1.7\"");
    assert_field(&ev, "cs-host", "shop.example"); /* the port is the listener, not the name */
    assert_field(&ev, "c-ip", "2001:db8::5");
    assert_field(&ev, "cs-uri-query", "b=1&c=%2e%2e%2f");
    assert_field(&ev, "cs-referer", NULL);
    assert_field(&ev, "cs-user-agent", "sqlmap/1.7");
    hae_event_clear(&ev);
}

static void test_escaped_quotes_and_odd_requests(void **state) {
    (void)state;
    hae_event ev;
    parse(&ev, "192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /\\\"x HTTP/1.1\" 400 0 \"-\" "
               "\"a \\\"quoted\\\" agent\"");
    assert_field(&ev, "cs-user-agent", "a \"quoted\" agent");
    hae_event_clear(&ev);
    /* a request line that is not METHOD URI VERSION (a TLS hello on port 80) stays whole */
    parse(&ev, "192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] \"\\x16\\x03\\x01\" 400 166 \"-\" \"-\"");
    assert_field(&ev, "cs-method", NULL);
    assert_non_null(hae_event_get_str(&ev, "cs-request"));
    hae_event_clear(&ev);
}

static void test_json_access_log_keys_are_mapped(void **state) {
    (void)state;
    hae_event ev;
    parse(&ev, "{\"time_iso8601\":\"2026-03-01T11:00:00+09:00\",\"remote_addr\":\"203.0.113.9\","
               "\"request\":\"GET /shell.jsp?exec=id HTTP/1.1\",\"status\":200,"
               "\"body_bytes_sent\":42,\"http_user_agent\":\"curl/8\",\"http_referer\":\"\"}");
    assert_string_equal(ev.category, "webserver");
    assert_field(&ev, "c-ip", "203.0.113.9");
    assert_field(&ev, "cs-method", "GET");
    assert_field(&ev, "cs-uri-stem", "/shell.jsp");
    assert_field(&ev, "cs-uri-query", "exec=id");
    assert_field(&ev, "cs-user-agent", "curl/8");
    assert_int_equal(ev.time_ns, 1772330400LL * 1000000000LL);
    hae_event_clear(&ev);
}

static void test_lines_that_only_look_alike_are_not_access_logs(void **state) {
    (void)state;
    hae_event ev;
    parse(&ev, "a b c [01/Foo/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1");
    assert_null(ev.category);
    assert_field(&ev, "c-ip", NULL);
    hae_event_clear(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combined_line_names_every_part),
        cmocka_unit_test(test_common_and_vhost_lines),
        cmocka_unit_test(test_escaped_quotes_and_odd_requests),
        cmocka_unit_test(test_json_access_log_keys_are_mapped),
        cmocka_unit_test(test_lines_that_only_look_alike_are_not_access_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
