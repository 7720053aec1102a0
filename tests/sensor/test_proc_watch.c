/* proc_watch on the real kernel's proc connector: an exec becomes a
 * process_creation event with the right pid, image and parent; a process
 * gone before enrichment still yields an event saying so; an overflowing
 * socket raises proc.watch_overrun. Needs root (CAP_NET_ADMIN). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "sensor/sensor.h"
#include "fixtures.h"
#include "proc_test_util.h"

static int setup(void **state) {
    proc_watch *w = NULL;
    hae_err err = {0};
    int rc = proc_watch_open(&w, &err);
    if (rc != HAE_OK) {
        print_error("proc_watch_open: %s\n", err.msg);
        return -1;
    }
    *state = w;
    return 0;
}

static int teardown(void **state) {
    proc_watch_close(*state);
    return 0;
}

/* Reads events until one with ProcessId == pid arrives or 10 s pass. */
static const hae_event *wait_for_pid(proc_watch *w, collected_events *c, pid_t pid) {
    hae_sink sink = collector_sink(c);
    int64_t deadline = hae_time_monotonic_ns() + 10 * 1000000000LL;
    while (hae_time_monotonic_ns() < deadline) {
        const hae_event *ev = proc_test_find(c, NULL, pid);
        if (ev) return ev;
        struct pollfd pfd = {.fd = proc_watch_fd(w), .events = POLLIN};
        if (poll(&pfd, 1, 200) > 0) {
            hae_err err = {0};
            int rc = proc_watch_read(w, &sink, &err);
            if (rc != HAE_OK) fail_msg("proc_watch_read: %s", err.msg);
        }
    }
    return proc_test_find(c, NULL, pid);
}

static void test_exec_becomes_a_process_creation_event(void **state) {
    proc_watch *w = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sleep", "/bin/sleep", "1", (char *)NULL);
        _exit(127);
    }
    collected_events c = {0};
    const hae_event *ev = wait_for_pid(w, &c, pid);
    assert_non_null(ev);
    assert_string_equal(ev->product, "linux");
    assert_string_equal(ev->category, "process_creation");
    /* /bin is a symlink to /usr/bin on merged-/usr systems: the image is
     * where the kernel found the file, with the links resolved. */
    char *image = realpath("/bin/sleep", NULL);
    assert_non_null(image);
    assert_string_equal(hae_event_get_str(ev, "Image"), image);
    assert_string_equal(hae_event_get_str(ev, "CommandLine"), "/bin/sleep 1");
    char text[32];
    snprintf(text, sizeof text, "%d", (int)getpid());
    assert_string_equal(hae_event_get_str(ev, "ParentProcessId"), text);
    assert_null(hae_event_get_str(ev, "EnrichmentFailed"));
    /* a 4 MB buffer read promptly loses nothing: no false overrun */
    assert_null(collector_find(&c, "rule", "proc.watch_overrun"));
    /* the event's time is the exec's, within the last minute */
    assert_true(ev->time_ns <= hae_time_now_ns());
    assert_true(ev->time_ns > hae_time_now_ns() - 60 * 1000000000LL);
    free(image);
    collector_free(&c);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_process_gone_before_enrichment_still_yields_an_event(void **state) {
    proc_watch *w = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/true", "/bin/true", (char *)NULL);
        _exit(127);
    }
    /* Reap it before reading: /proc/PID no longer exists. */
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    collected_events c = {0};
    const hae_event *ev = wait_for_pid(w, &c, pid);
    assert_non_null(ev);
    assert_string_equal(ev->category, "process_creation");
    assert_non_null(hae_event_get_str(ev, "EnrichmentFailed"));
    /* the parent comes from the fork event the watch remembered */
    char text[32];
    snprintf(text, sizeof text, "%d", (int)getpid());
    assert_string_equal(hae_event_get_str(ev, "ParentProcessId"), text);
    collector_free(&c);
}

static void spawn_and_reap(int count) {
    for (int i = 0; i < count; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            execl("/bin/true", "/bin/true", (char *)NULL);
            _exit(127);
        }
        waitpid(pid, NULL, 0);
    }
}

static void test_overflow_is_reported_not_silent(void **state) {
    proc_watch *w = *state;
    /* Shrink the buffer to the kernel's minimum so a burst must overflow. */
    int tiny = 1;
    assert_int_equal(setsockopt(proc_watch_fd(w), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny), 0);
    spawn_and_reap(300);
    collected_events c = {0};
    hae_sink sink = collector_sink(&c);
    hae_err err = {0};
    assert_int_equal(proc_watch_read(w, &sink, &err), HAE_OK);
    const hae_event *f = collector_find(&c, "rule", "proc.watch_overrun");
    assert_non_null(f);
    assert_string_equal(f->service, "proc");
    assert_true(strtoull(hae_event_get_str(f, "Overruns"), NULL, 10) >= 1);
    /* Events after the overflow reveal the gap in the kernel's sequence. */
    uint64_t lost = strtoull(hae_event_get_str(f, "LostEvents"), NULL, 10);
    for (int round = 0; round < 20 && lost == 0; round++) {
        collected_events more = {0};
        hae_sink more_sink = collector_sink(&more);
        spawn_and_reap(5);
        usleep(20000);
        assert_int_equal(proc_watch_read(w, &more_sink, &err), HAE_OK);
        for (size_t i = 0; i < more.count; i++) {
            const char *rule = hae_event_get_str(&more.events[i], "rule");
            if (rule && strcmp(rule, "proc.watch_overrun") == 0) {
                lost += strtoull(hae_event_get_str(&more.events[i], "LostEvents"), NULL, 10);
            }
        }
        collector_free(&more);
    }
    assert_true(lost > 0);
    collector_free(&c);
}

int main(void) {
    if (!fixture_is_root()) {
        fprintf(stderr, "test_proc_watch: needs root (CAP_NET_ADMIN for the proc connector)\n");
        return 77;
    }
    proc_watch *probe = NULL;
    hae_err err = {0};
    int rc = proc_watch_open(&probe, &err);
    if (rc == HAE_ENOTSUP || rc == HAE_EPERM) {
        fprintf(stderr, "test_proc_watch: proc connector unavailable: %s\n", err.msg);
        return 77;
    }
    proc_watch_close(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_becomes_a_process_creation_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_process_gone_before_enrichment_still_yields_an_event,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_is_reported_not_silent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
