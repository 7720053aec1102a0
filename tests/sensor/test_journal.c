/* journald through sd-journal: a message written with sd_journal_send is
 * read back as an event. Needs a running systemd-journald; without one (CI
 * containers rarely run it) the program says so and exits 77. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "fixtures.h"
#include "sensor/sensor.h"

#if __has_include(<systemd/sd-journal.h>)
#include <systemd/sd-journal.h>
#define HAVE_SD_JOURNAL 1
#endif

#define JOURNALD_SOCKET "/run/systemd/journal/socket"

#ifdef HAVE_SD_JOURNAL
/* Reads until an event with Message equal to marker arrives (10 s at most). */
static const hae_event *read_until(log_journal *j, collected_events *got, const char *marker) {
    hae_sink sink = collector_sink(got);
    int64_t deadline = hae_time_monotonic_ns() + 10 * 1000000000LL;
    while (hae_time_monotonic_ns() < deadline) {
        hae_err err = {0};
        if (log_journal_read(j, &sink, &err) != HAE_OK) fail_msg("%s", err.msg);
        const hae_event *ev = collector_find(got, "Message", marker);
        if (ev) return ev;
        struct pollfd p = {.fd = log_journal_fd(j), .events = POLLIN};
        poll(&p, 1, 250);
    }
    return NULL;
}

static void send_marker(char marker[96]) {
    char id[HAE_ID_LEN];
    assert_int_equal(hae_id_new(id), HAE_OK);
    snprintf(marker, 96, "haetae journal test %s", id);
    assert_int_equal(sd_journal_send("MESSAGE=%s", marker, "SYSLOG_IDENTIFIER=haetae-test",
                                     "PRIORITY=6", NULL),
                     0);
}

static void test_sent_message_is_read_back_with_its_process(void **state) {
    (void)state;
    log_journal *j = NULL;
    hae_err err = {0};
    if (log_journal_open(&j, false, &err) != HAE_OK) fail_msg("%s", err.msg);
    assert_true(log_journal_fd(j) >= 0);
    char marker[96];
    send_marker(marker);
    collected_events got = {0};
    const hae_event *ev = read_until(j, &got, marker);
    if (!ev) fail_msg("'%s' not read back within 10 s", marker);
    assert_string_equal(hae_event_get_str(ev, "Program"), "haetae-test");
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    assert_string_equal(hae_event_get_str(ev, "Pid"), pid);
    assert_int_equal(hae_event_get(ev, "Pid")->type, HAE_VAL_NUMBER);
    assert_string_equal(hae_event_get_str(ev, "Priority"), "6");
    assert_non_null(hae_event_get(ev, "Image"));
    assert_string_equal(ev->product, "linux");
    assert_string_equal(ev->service, "syslog");
    int64_t skew = hae_time_now_ns() - ev->time_ns;
    assert_true(skew >= 0 && skew < 60 * 1000000000LL);
    collector_free(&got);
    log_journal_close(j);
}

static void test_from_start_reads_entries_written_before_opening(void **state) {
    (void)state;
    char marker[96];
    send_marker(marker);
    log_journal *j = NULL;
    hae_err err = {0};
    if (log_journal_open(&j, true, &err) != HAE_OK) fail_msg("%s", err.msg);
    collected_events got = {0};
    if (!read_until(j, &got, marker)) fail_msg("'%s' not read from the head", marker);
    collector_free(&got);
    log_journal_close(j);
}
static void test_cursor_resumes_after_a_restart_with_stable_ids(void **state) {
    (void)state;
    log_journal *j = NULL;
    hae_err err = {0};
    if (log_journal_open(&j, false, &err) != HAE_OK) fail_msg("%s", err.msg);
    char seen[96], missed[96];
    send_marker(seen);
    collected_events got = {0};
    const hae_event *ev = read_until(j, &got, seen);
    if (!ev) fail_msg("'%s' not read back", seen);
    char seen_id[HAE_ID_LEN];
    memcpy(seen_id, ev->id, sizeof seen_id);
    assert_non_null(log_journal_cursor(j));
    char *cursor = strdup(log_journal_cursor(j));
    assert_non_null(cursor);
    log_journal_close(j);

    send_marker(missed); /* while the agent is down */
    collector_free(&got);
    if (log_journal_open(&j, false, &err) != HAE_OK) fail_msg("%s", err.msg);
    hae_sink sink = collector_sink(&got);
    assert_int_equal(log_journal_resume(j, cursor, &sink, &err), HAE_OK);
    if (!read_until(j, &got, missed)) fail_msg("'%s', written while down, not read", missed);
    assert_null(collector_find(&got, "Message", seen)); /* not read twice */
    assert_null(collector_find(&got, "rule", "log.gap"));
    log_journal_close(j);

    /* read again from the head, the entry has the same id */
    collector_free(&got);
    if (log_journal_open(&j, true, &err) != HAE_OK) fail_msg("%s", err.msg);
    ev = read_until(j, &got, seen);
    assert_non_null(ev);
    assert_string_equal(ev->id, seen_id);
    log_journal_close(j);
    collector_free(&got);

    /* a cursor the journal does not hold any more is a gap, not a failure */
    if (log_journal_open(&j, false, &err) != HAE_OK) fail_msg("%s", err.msg);
    assert_int_equal(log_journal_resume(j, "s=00000000000000000000000000000000;i=1;b=00000000000000000000000000000000;m=1;t=1;x=1", &sink, &err), HAE_OK);
    assert_non_null(collector_find(&got, "rule", "log.gap"));
    log_journal_close(j);
    collector_free(&got);
    free(cursor);
}

static void test_auth_messages_get_named_fields(void **state) {
    (void)state;
    log_journal *j = NULL;
    hae_err err = {0};
    if (log_journal_open(&j, false, &err) != HAE_OK) fail_msg("%s", err.msg);
    char id[HAE_ID_LEN], marker[160];
    assert_int_equal(hae_id_new(id), HAE_OK);
    snprintf(marker, sizeof marker, "Failed password for u%.8s from 203.0.113.9 port 22 ssh2", id);
    assert_int_equal(sd_journal_send("MESSAGE=%s", marker, "SYSLOG_IDENTIFIER=sshd", "PRIORITY=6",
                                     NULL), 0);
    collected_events got = {0};
    const hae_event *ev = read_until(j, &got, marker);
    if (!ev) fail_msg("'%s' not read back", marker);
    assert_string_equal(ev->service, "auth");
    assert_string_equal(hae_event_get_str(ev, "SourceIp"), "203.0.113.9");
    assert_string_equal(hae_event_get_str(ev, "AuthResult"), "failure");
    collector_free(&got);
    log_journal_close(j);
}
#endif

int main(void) {
#ifndef HAVE_SD_JOURNAL
    fprintf(stderr, "skip: built without libsystemd (no <systemd/sd-journal.h>)\n");
    return 77;
#else
    log_journal *probe = NULL;
    hae_err err = {0};
    int rc = log_journal_open(&probe, false, &err);
    log_journal_close(probe);
    if (rc == HAE_ENOTSUP) {
        fprintf(stderr, "skip: %s\n", err.msg);
        return 77;
    }
    if (access(JOURNALD_SOCKET, W_OK) != 0) {
        fprintf(stderr, "skip: systemd-journald is not running (no %s), so no message can be "
                        "written to read back\n", JOURNALD_SOCKET);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sent_message_is_read_back_with_its_process),
        cmocka_unit_test(test_from_start_reads_entries_written_before_opening),
        cmocka_unit_test(test_cursor_resumes_after_a_restart_with_stable_ids),
        cmocka_unit_test(test_auth_messages_get_named_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
