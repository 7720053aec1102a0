/* Real-time fim cases shared by the inotify and fanotify test programs:
 * each includes this after setting which mechanism it exercises. Every
 * case measures and prints the latency from the change to its event and
 * asserts it arrived within WAIT_MS (generous: the machine may be busy;
 * bench/fim-vs-aide measures the real latency). */
#ifndef HAETAE_TEST_FIM_WATCH_CASES_H
#define HAETAE_TEST_FIM_WATCH_CASES_H

#include <poll.h>
#include <sys/random.h>

#include "fim_test_util.h"

#define WAIT_MS 5000

static bool use_fanotify;

static fim_watch *open_watch(fim_tree *t) {
    t->opt.force_inotify = !use_fanotify;
    fim_watch *w = NULL;
    hae_err err = {0};
    if (fim_watch_open(&w, &t->opt, &t->sink, &err) != HAE_OK) fail_msg("watch: %s", err.msg);
    const hae_event *watcher = fim_find(t, "fim.watcher", NULL);
    assert_non_null(watcher);
    assert_string_equal(hae_event_get_str(watcher, "Mechanism"),
                        use_fanotify ? "fanotify" : "inotify");
    collector_free(&t->events);
    return w;
}

/* The first collected event with field == value (and TargetFilename ==
 * target when given). */
static const hae_event *find_event(const fim_tree *t, const char *field, const char *value,
                                   const char *target) {
    for (size_t i = 0; i < t->events.count; i++) {
        const hae_event *ev = &t->events.events[i];
        const char *v = hae_event_get_str(ev, field);
        const char *path = hae_event_get_str(ev, "TargetFilename");
        if (v && strcmp(v, value) == 0 && (!target || (path && strcmp(path, target) == 0))) {
            return ev;
        }
    }
    return NULL;
}

/* Reads the watch until the event shows up; returns it and prints the
 * latency since started_ns, or fails after WAIT_MS. */
static const hae_event *wait_for(fim_tree *t, fim_watch *w, const char *field, const char *value,
                                 const char *target, int64_t started_ns) {
    int64_t deadline = started_ns + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        const hae_event *ev = find_event(t, field, value, target);
        if (ev) {
            printf("  %s %s=%s seen after %.2f ms\n", use_fanotify ? "fanotify" : "inotify",
                   field, value, (double)(hae_time_monotonic_ns() - started_ns) / 1e6);
            return ev;
        }
        int64_t left = deadline - hae_time_monotonic_ns();
        if (left <= 0) break;
        struct pollfd p = {.fd = fim_watch_fd(w), .events = POLLIN};
        if (poll(&p, 1, (int)(left / 1000000) + 1) > 0) {
            hae_err err = {0};
            if (fim_watch_read(w, &t->sink, &err) != HAE_OK) fail_msg("read: %s", err.msg);
        }
    }
    fim_print_events(t);
    fail_msg("no event %s=%s for %s within %d ms", field, value, target ? target : "(any)",
             WAIT_MS);
    return NULL;
}

/* Reads whatever arrives within ms. */
static void drain(fim_tree *t, fim_watch *w, int ms) {
    int64_t deadline = hae_time_monotonic_ns() + (int64_t)ms * 1000000;
    for (int64_t left; (left = deadline - hae_time_monotonic_ns()) > 0;) {
        struct pollfd p = {.fd = fim_watch_fd(w), .events = POLLIN};
        if (poll(&p, 1, (int)(left / 1000000) + 1) > 0) {
            hae_err err = {0};
            if (fim_watch_read(w, &t->sink, &err) != HAE_OK) fail_msg("read: %s", err.msg);
        }
    }
}

static void test_create_modify_rename_delete_are_file_events(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fimw-basic");
    fim_watch *w = open_watch(t);
    char *p = fim_tree_path(t, "report.txt");
    char *q = fim_tree_path(t, "report.old");
    int64_t start = hae_time_monotonic_ns();
    fim_tree_write(t, "report.txt", "draft\n");
    const hae_event *ev = wait_for(t, w, "Action", "created", p, start);
    assert_string_equal(ev->category, "file_event");
    assert_string_equal(ev->product, "linux");
    wait_for(t, w, "Action", "modified", p, start);
    start = hae_time_monotonic_ns();
    assert_int_equal(rename(p, q), 0);
    ev = wait_for(t, w, "Action", "renamed", q, start);
    assert_string_equal(hae_event_get_str(ev, "SourceFilename"), p);
    start = hae_time_monotonic_ns();
    assert_int_equal(chmod(q, 0600), 0);
    wait_for(t, w, "Action", "attrib", q, start);
    start = hae_time_monotonic_ns();
    assert_int_equal(unlink(q), 0);
    wait_for(t, w, "Action", "deleted", q, start);
    fim_watch_close(w);
    free(p);
    free(q);
    fim_tree_free(t);
}

static void test_file_in_new_subdirectory_is_seen(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fimw-subdir");
    fim_watch *w = open_watch(t);
    char *dir = fim_tree_path(t, "www/uploads");
    char *p = fim_tree_path(t, "www/uploads/x.php");
    int64_t start = hae_time_monotonic_ns();
    assert_int_equal(mkdir(dir, 0755), 0);
    fim_tree_write(t, "www/uploads/x.php", "<?php eval($_POST[1]); ?>\n");
    const hae_event *ev = wait_for(t, w, "rule", "fim.webshell", p, start);
    assert_string_equal(hae_event_get_str(ev, "severity"), "critical");
    drain(t, w, 200);
    assert_int_equal(fim_count(t, "fim.webshell", p), 1); /* create+write: one finding */
    fim_watch_close(w);
    free(dir);
    free(p);
    fim_tree_free(t);
}

static void test_setuid_chmod_is_fim_suid(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fimw-suid");
    fim_tree_write(t, "helper", "\x7f" "ELF");
    fim_watch *w = open_watch(t);
    char *p = fim_tree_path(t, "helper");
    int64_t start = hae_time_monotonic_ns();
    assert_int_equal(chmod(p, 04755), 0);
    const hae_event *ev = wait_for(t, w, "rule", "fim.suid", p, start);
    assert_string_equal(hae_event_get_str(ev, "NewMode"), "4755");
    fim_watch_close(w);
    free(p);
    fim_tree_free(t);
}

static void test_etc_change_is_fim_etc_changed(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fimw-etc");
    fim_watch *w = open_watch(t);
    char *p = fim_tree_path(t, "etc/passwd");
    int64_t start = hae_time_monotonic_ns();
    fim_tree_write(t, "etc/passwd", "toor:x:0:0::/:/bin/sh\n");
    wait_for(t, w, "rule", "fim.etc_changed", p, start);
    fim_watch_close(w);
    free(p);
    fim_tree_free(t);
}

static void fill_random(unsigned char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
}

/* Rewrites count existing files with high- or low-entropy content. */
static void rewrite_files(fim_tree *t, size_t count, bool random_content) {
    static unsigned char buf[16384];
    for (size_t i = 0; i < count; i++) {
        if (random_content) {
            fill_random(buf, sizeof buf);
        } else {
            for (size_t k = 0; k < sizeof buf; k++) buf[k] = "quarterly report text "[k % 22];
        }
        char name[64];
        snprintf(name, sizeof name, "docs/file%02zu.docx", i);
        char *p = fim_tree_path(t, name);
        assert_int_equal(fixture_write_file(p, buf, sizeof buf), 0);
        free(p);
    }
}

static fim_tree *documents_tree(const char *label) {
    fim_tree *t = fim_tree_new(label);
    char *docs = fim_tree_path(t, "docs");
    assert_int_equal(mkdir(docs, 0755), 0);
    free(docs);
    rewrite_files(t, 12, false);
    t->opt.burst_threshold = 10;
    t->opt.burst_window_ms = 10000;
    return t;
}

static void test_burst_of_high_entropy_rewrites_is_ransomware(void **state) {
    (void)state;
    fim_tree *t = documents_tree("fimw-ransom");
    fim_watch *w = open_watch(t);
    int64_t start = hae_time_monotonic_ns();
    rewrite_files(t, 12, true);
    const hae_event *ev = wait_for(t, w, "rule", "fim.ransomware_burst", NULL, start);
    assert_string_equal(hae_event_get_str(ev, "severity"), "critical");
    assert_string_equal(hae_event_get_str(ev, "Count"), "10");
    assert_non_null(hae_event_get_str(ev, "SampleFile"));
    drain(t, w, 300);
    assert_int_equal(fim_count(t, "fim.ransomware_burst", NULL), 1);
    fim_watch_close(w);
    fim_tree_free(t);
}

static void test_low_entropy_rewrites_are_not_ransomware(void **state) {
    (void)state;
    fim_tree *t = documents_tree("fimw-calm");
    fim_watch *w = open_watch(t);
    int64_t start = hae_time_monotonic_ns();
    rewrite_files(t, 12, false);
    char *last = fim_tree_path(t, "docs/file11.docx");
    wait_for(t, w, "Action", "modified", last, start);
    drain(t, w, 300);
    assert_int_equal(find_event(t, "Action", "modified", NULL) != NULL, 1);
    assert_int_equal(fim_count(t, "fim.ransomware_burst", NULL), 0);
    fim_watch_close(w);
    free(last);
    fim_tree_free(t);
}

static void test_canary_touch_is_fim_canary(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fimw-canary");
    t->opt.canary_list = t->canaries;
    hae_err err = {0};
    assert_int_equal(fim_canary_plant(&t->opt, &t->sink, &err), HAE_OK);
    char *canary = strdup(hae_event_get_str(fim_find(t, "fim.canary_planted", NULL),
                                            "TargetFilename"));
    collector_free(&t->events);
    fim_watch *w = open_watch(t);
    int64_t start = hae_time_monotonic_ns();
    int fd = open(canary, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    const hae_event *ev = wait_for(t, w, "rule", "fim.canary", canary, start);
    assert_string_equal(hae_event_get_str(ev, "severity"), "critical");
    fim_watch_close(w);
    free(canary);
    fim_tree_free(t);
}

static void test_canary_rename_is_fim_canary(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fimw-canary-mv");
    t->opt.canary_list = t->canaries;
    hae_err err = {0};
    assert_int_equal(fim_canary_plant(&t->opt, &t->sink, &err), HAE_OK);
    char *canary = strdup(hae_event_get_str(fim_find(t, "fim.canary_planted", NULL),
                                            "TargetFilename"));
    char *locked = NULL;
    assert_true(asprintf(&locked, "%s.locked", canary) > 0);
    collector_free(&t->events);
    fim_watch *w = open_watch(t);
    int64_t start = hae_time_monotonic_ns();
    assert_int_equal(rename(canary, locked), 0);
    wait_for(t, w, "rule", "fim.canary", canary, start);
    fim_watch_close(w);
    free(canary);
    free(locked);
    fim_tree_free(t);
}

#define FIM_WATCH_TESTS                                                  \
    cmocka_unit_test(test_create_modify_rename_delete_are_file_events), \
    cmocka_unit_test(test_file_in_new_subdirectory_is_seen),            \
    cmocka_unit_test(test_setuid_chmod_is_fim_suid),                    \
    cmocka_unit_test(test_etc_change_is_fim_etc_changed),               \
    cmocka_unit_test(test_burst_of_high_entropy_rewrites_is_ransomware), \
    cmocka_unit_test(test_low_entropy_rewrites_are_not_ransomware),     \
    cmocka_unit_test(test_canary_touch_is_fim_canary),                  \
    cmocka_unit_test(test_canary_rename_is_fim_canary)

#endif
