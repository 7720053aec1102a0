/* Journal files collected from another host, read through sd-journal: the
 * journal is written here by systemd-journal-remote from export format, so
 * the test needs no running journald. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "sensor/sensor.h"

#define JOURNAL_REMOTE "/lib/systemd/systemd-journal-remote"

static const char export_entries[] =
    "__REALTIME_TIMESTAMP=1745018400000000\n__MONOTONIC_TIMESTAMP=1000\n"
    "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=hss01\nSYSLOG_IDENTIFIER=sshd\n"
    "_PID=4242\n_COMM=sshd\nMESSAGE=Failed password for root from 203.0.113.9 port 22 ssh2\n\n"
    "__REALTIME_TIMESTAMP=1745018401500000\n__MONOTONIC_TIMESTAMP=2000\n"
    "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=hss01\nSYSLOG_IDENTIFIER=sudo\n"
    "_PID=4300\n_COMM=sudo\nMESSAGE=root : TTY=pts/0 ; COMMAND=/bin/bash\n\n";

static char *make_journal(void) {
    char *dir = fixture_tempdir("journal");
    char *cmd = NULL;
    assert_true(asprintf(&cmd, JOURNAL_REMOTE " --output=%s/remote.journal - 2>/dev/null", dir) > 0);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    assert_int_equal(fwrite(export_entries, 1, sizeof export_entries - 1, p),
                     sizeof export_entries - 1);
    assert_int_equal(pclose(p), 0);
    free(cmd);
    return dir;
}

static void test_collected_journal_reads_as_events(void **state) {
    (void)state;
    char *dir = make_journal();
    log_journal *j = NULL;
    hae_err err = {0};
    if (log_journal_open_directory(&j, dir, true, &err) != HAE_OK) fail_msg("%s", err.msg);
    collected_events got = {0};
    hae_sink sink = collector_sink(&got);
    assert_int_equal(log_journal_read(j, &sink, &err), HAE_OK);
    assert_int_equal(got.count, 2);
    const hae_event *ev = collector_find(&got, "Message",
                                         "Failed password for root from 203.0.113.9 port 22 ssh2");
    if (!ev) fail_msg("the sshd entry was not read");
    assert_int_equal(ev->time_ns, 1745018400000000000LL);
    assert_string_equal(ev->host, "hss01");
    assert_string_equal(hae_event_get_str(ev, "Pid"), "4242");
    assert_non_null(collector_find(&got, "Message", "root : TTY=pts/0 ; COMMAND=/bin/bash"));
    collector_free(&got);
    log_journal_close(j);
    fixture_rmtree(dir);
    free(dir);
}

static void test_from_tail_reads_nothing_old(void **state) {
    (void)state;
    char *dir = make_journal();
    log_journal *j = NULL;
    hae_err err = {0};
    if (log_journal_open_directory(&j, dir, false, &err) != HAE_OK) fail_msg("%s", err.msg);
    collected_events got = {0};
    hae_sink sink = collector_sink(&got);
    assert_int_equal(log_journal_read(j, &sink, &err), HAE_OK);
    assert_int_equal(got.count, 0);
    collector_free(&got);
    log_journal_close(j);
    fixture_rmtree(dir);
    free(dir);
}

static void test_missing_directory_is_an_error_naming_it(void **state) {
    (void)state;
    log_journal *j = NULL;
    hae_err err = {0};
    assert_true(log_journal_open_directory(&j, "/nonexistent-haetae-journal", true, &err) < 0);
    assert_non_null(strstr(err.msg, "/nonexistent-haetae-journal"));
    assert_null(j);
}

int main(void) {
    if (access(JOURNAL_REMOTE, X_OK) != 0) {
        fprintf(stderr, "skip: needs %s (Debian package systemd-journal-remote, installed by "
                        "scripts/install-deps)\n", JOURNAL_REMOTE);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collected_journal_reads_as_events),
        cmocka_unit_test(test_from_tail_reads_nothing_old),
        cmocka_unit_test(test_missing_directory_is_an_error_naming_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
