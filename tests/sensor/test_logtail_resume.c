/* Log positions across an agent restart: a file appended while the agent
 * was down is read from where it stopped, a file rotated while it was down
 * is finished from its rotated name before the new one is read, and what
 * cannot be read back (the old file deleted, the file truncated, a damaged
 * saved line) is a log.gap finding. A line read twice has one id. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "fixtures.h"
#include "sensor/sensor.h"

typedef struct ctx {
    char *dir;
    char *path;
    hae_buf saved;
    collected_events events;
} ctx;

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->dir = fixture_tempdir("logresume");
    if (!c->dir || asprintf(&c->path, "%s/auth.log", c->dir) < 0) return -1;
    *state = c;
    return 0;
}

static int teardown(void **state) {
    ctx *c = *state;
    collector_free(&c->events);
    hae_buf_free(&c->saved);
    fixture_rmtree(c->dir);
    free(c->path);
    free(c->dir);
    free(c);
    return 0;
}

static void append(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* One agent run: open (at the end, as the agent does), resume from the
 * saved positions if any, read, save the positions. */
static void run_agent(ctx *c, const char *saved_override) {
    hae_err err = {0};
    const char *paths[] = {c->path};
    log_tail *t = NULL;
    if (log_tail_open(&t, paths, 1, false, &err) != HAE_OK) fail_msg("%s", err.msg);
    hae_sink sink = collector_sink(&c->events);
    const char *saved = saved_override ? saved_override : c->saved.data;
    size_t len = saved_override ? strlen(saved_override) : c->saved.len;
    if (saved && log_tail_resume(t, saved, len, &sink, &err) != HAE_OK) fail_msg("%s", err.msg);
    if (log_tail_read(t, &sink, &err) != HAE_OK) fail_msg("%s", err.msg);
    assert_int_equal(log_tail_positions(t, &c->saved), HAE_OK);
    log_tail_close(t);
}

static size_t count_messages(const ctx *c, const char *message) {
    return collector_count(&c->events, "Message", message);
}

static const hae_event *gap(const ctx *c) {
    for (size_t i = 0; i < c->events.count; i++) {
        const char *rule = hae_event_get_str(&c->events.events[i], "rule");
        if (rule && strcmp(rule, "log.gap") == 0) return &c->events.events[i];
    }
    return NULL;
}

static void test_lines_written_while_down_are_read_on_restart(void **state) {
    ctx *c = *state;
    append(c->path, "old line\n");
    run_agent(c, NULL); /* first run: from the end */
    assert_int_equal(c->events.count, 0);
    append(c->path, "seen line\n");
    run_agent(c, NULL);
    append(c->path, "written while down 1\nwritten while down 2\n");
    run_agent(c, NULL);
    assert_int_equal(count_messages(c, "old line"), 0);
    assert_int_equal(count_messages(c, "written while down 1"), 1);
    assert_int_equal(count_messages(c, "written while down 2"), 1);
    assert_null(gap(c));
}

static void test_rotation_while_down_finishes_the_rotated_file_first(void **state) {
    ctx *c = *state;
    append(c->path, "before\n");
    run_agent(c, NULL);
    run_agent(c, NULL);
    append(c->path, "last words of the old file\n");
    char *rotated;
    assert_true(asprintf(&rotated, "%s.1", c->path) > 0);
    assert_int_equal(rename(c->path, rotated), 0);
    append(c->path, "first line of the new file\n");
    run_agent(c, NULL);
    assert_int_equal(c->events.count, 2);
    assert_string_equal(hae_event_get_str(&c->events.events[0], "Message"),
                        "last words of the old file");
    assert_string_equal(hae_event_get_str(&c->events.events[0], "LogFile"), rotated);
    assert_string_equal(hae_event_get_str(&c->events.events[1], "Message"),
                        "first line of the new file");
    free(rotated);
}

static void test_rotated_and_deleted_while_down_is_a_gap(void **state) {
    ctx *c = *state;
    append(c->path, "before\n");
    run_agent(c, NULL);
    append(c->path, "lost\n");
    assert_int_equal(unlink(c->path), 0);
    append(c->path, "new file\n");
    run_agent(c, NULL);
    const hae_event *g = gap(c);
    assert_non_null(g);
    assert_string_equal(hae_event_get_str(g, "LogFile"), c->path);
    assert_string_equal(hae_event_get_str(g, "GapOffset"), "7");
    assert_int_equal(count_messages(c, "new file"), 1);
}

static void test_truncated_while_down_is_a_gap_and_reads_from_zero(void **state) {
    ctx *c = *state;
    append(c->path, "a long line before the truncation\n");
    run_agent(c, NULL);
    assert_int_equal(truncate(c->path, 0), 0);
    append(c->path, "short\n");
    run_agent(c, NULL);
    assert_non_null(gap(c));
    assert_int_equal(count_messages(c, "short"), 1);
}

static void test_damaged_saved_line_is_a_gap_not_a_failure(void **state) {
    ctx *c = *state;
    append(c->path, "x\n");
    run_agent(c, "12 not-a-number 5 /nowhere\n\n");
    const hae_event *g = gap(c);
    assert_non_null(g);
    assert_non_null(strstr(hae_event_get_str(g, "message"), "line 1"));
}

static void test_a_line_read_twice_keeps_its_id(void **state) {
    ctx *c = *state;
    append(c->path, "start\n");
    run_agent(c, NULL);
    hae_buf before = {0};
    assert_int_equal(hae_buf_append(&before, c->saved.data, c->saved.len + 1), HAE_OK);
    append(c->path, "read twice\n");
    run_agent(c, NULL);
    run_agent(c, before.data); /* a crash before the positions were saved */
    assert_int_equal(c->events.count, 2);
    assert_string_equal(c->events.events[0].id, c->events.events[1].id);
    assert_int_equal(c->events.events[0].id[14], '8'); /* RFC 9562 version 8 */
    hae_buf_free(&before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_written_while_down_are_read_on_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotation_while_down_finishes_the_rotated_file_first,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotated_and_deleted_while_down_is_a_gap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_while_down_is_a_gap_and_reads_from_zero,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_saved_line_is_a_gap_not_a_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_line_read_twice_keeps_its_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
