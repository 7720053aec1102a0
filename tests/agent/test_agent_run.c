#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/agent_internal.h"
#include "fixtures.h"

static void make_finding(hae_event *ev, const char *rule, int pid) {
    assert_int_equal(hae_finding_init(ev, "sock", rule, HAE_SEV_INFO, "pid %d", pid), HAE_OK);
    assert_int_equal(hae_event_add_int(ev, "ProcessId", pid), HAE_OK);
}

static void test_periodic_findings_are_reported_once_while_they_stand(void **state) {
    (void)state;
    finding_memory memory = {0};
    collected_events got = {0};
    hae_sink collector = collector_sink(&got);
    finding_filter filter = {.memory = &memory, .next = &collector};
    hae_sink only_new = finding_filter_sink(&filter);
    hae_err err = {0};
    hae_event a, b;
    make_finding(&a, "sock.listen", 1);
    make_finding(&b, "sock.listen", 2);

    assert_int_equal(hae_emit(&only_new, &a, &err), HAE_OK); /* scan 1: a */
    finding_memory_end_scan(&memory);
    assert_int_equal(hae_emit(&only_new, &a, &err), HAE_OK); /* scan 2: a, b */
    assert_int_equal(hae_emit(&only_new, &b, &err), HAE_OK);
    finding_memory_end_scan(&memory);
    assert_int_equal(hae_emit(&only_new, &b, &err), HAE_OK); /* scan 3: b */
    finding_memory_end_scan(&memory);
    assert_int_equal(hae_emit(&only_new, &a, &err), HAE_OK); /* scan 4: a is back */
    finding_memory_end_scan(&memory);

    assert_int_equal(got.count, 3);
    assert_string_equal(hae_event_get_str(&got.events[0], "ProcessId"), "1");
    assert_string_equal(hae_event_get_str(&got.events[1], "ProcessId"), "2");
    assert_string_equal(hae_event_get_str(&got.events[2], "ProcessId"), "1");
    hae_event_clear(&a);
    hae_event_clear(&b);
    collector_free(&got);
    finding_memory_free(&memory);
}

typedef struct run_args {
    agent_config cfg;
    volatile sig_atomic_t stop;
    int rc;
    hae_err err;
} run_args;

static void *run_agent(void *p) {
    run_args *r = p;
    r->rc = agent_run(&r->cfg, &r->stop, &r->err);
    return NULL;
}

static int count_matching(void *ctx, uint64_t seq, const char *line, size_t len, hae_err *err) {
    (void)seq;
    (void)err;
    char **needles = ctx;
    for (size_t i = 0; needles[i]; i += 2) {
        if (memmem(line, len, needles[i], strlen(needles[i]))) needles[i + 1] = (char *)1;
    }
    return HAE_OK;
}

static void test_continuous_agent_spools_log_lines_and_lifecycle(void **state) {
    (void)state;
    char *dir = fixture_tempdir("agent");
    char *log = NULL, *state_dir = NULL, *spool_dir = NULL;
    assert_true(asprintf(&log, "%s/app.log", dir) > 0);
    assert_true(asprintf(&state_dir, "%s/state", dir) > 0);
    assert_true(asprintf(&spool_dir, "%s/state/spool", dir) > 0);
    assert_int_equal(fixture_write_file(log, "", 0), 0);
    const char *logs[] = {log};
    run_args r = {.cfg = {.state_dir = state_dir, .log_files = logs, .log_file_count = 1,
                          .scan_interval_s = 3600, .flush_interval_ms = 100}};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_agent, &r), 0);
    sleep(2); /* let it open the file and settle */
    FILE *f = fopen(log, "a");
    assert_non_null(f);
    fputs("Nov 22 18:40:54 hss01 sshd[4242]: Failed password for root from 203.0.113.9\n", f);
    fclose(f);
    sleep(3);
    r.stop = 1;
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (r.rc != HAE_OK) fail_msg("agent_run: %s", r.err.msg);

    spool *s;
    hae_err err = {0};
    assert_int_equal(spool_open(&s, spool_dir, NULL, &err), HAE_OK);
    char *needles[] = {"\"rule\":\"agent.started\"", NULL, "Failed password for root", NULL,
                       "\"rule\":\"agent.stopped\"", NULL, NULL};
    uint64_t next = 0;
    assert_int_equal(spool_read(s, 0, 100000, count_matching, needles, &next, &err), HAE_OK);
    assert_non_null(needles[1]);
    assert_non_null(needles[3]);
    assert_non_null(needles[5]);
    spool_close(s, NULL);
    fixture_rmtree(dir);
    free(log);
    free(state_dir);
    free(spool_dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_periodic_findings_are_reported_once_while_they_stand),
        cmocka_unit_test(test_continuous_agent_spools_log_lines_and_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
