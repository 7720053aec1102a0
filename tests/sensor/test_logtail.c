/* The log sensor follows files like `tail -F`: appends, logrotate's create
 * and copytruncate modes, files that appear late, partial and overlong
 * lines, each line an event with LogFile and FileOffset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "fixtures.h"
#include "sensor/sensor.h"

typedef struct ctx {
    char *dir;
    char *path;
    log_tail *tail;
    collected_events events;
} ctx;

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->dir = fixture_tempdir("logtail");
    if (!c->dir || asprintf(&c->path, "%s/syslog", c->dir) < 0) return -1;
    *state = c;
    return 0;
}

static int teardown(void **state) {
    ctx *c = *state;
    log_tail_close(c->tail);
    collector_free(&c->events);
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

static void open_tail(ctx *c, bool from_start) {
    hae_err err = {0};
    const char *paths[] = {c->path};
    if (log_tail_open(&c->tail, paths, 1, from_start, &err) != HAE_OK) fail_msg("%s", err.msg);
}

/* Reads what is there; returns how many events arrived. */
static size_t read_tail(ctx *c) {
    size_t before = c->events.count;
    hae_sink sink = collector_sink(&c->events);
    hae_err err = {0};
    if (log_tail_read(c->tail, &sink, &err) != HAE_OK) fail_msg("%s", err.msg);
    return c->events.count - before;
}

static const hae_event *nth(const ctx *c, size_t i) {
    assert_true(i < c->events.count);
    return &c->events.events[i];
}

static void assert_line(const ctx *c, size_t i, const char *message, const char *offset) {
    const hae_event *ev = nth(c, i);
    assert_string_equal(hae_event_get_str(ev, "Message"), message);
    assert_string_equal(hae_event_get_str(ev, "LogFile"), c->path);
    assert_string_equal(hae_event_get_str(ev, "FileOffset"), offset);
    assert_true(strlen(ev->id) == HAE_ID_LEN - 1);
    assert_non_null(ev->host);
    assert_true(ev->time_ns > 0);
}

static void test_appended_lines_become_events_from_the_end(void **state) {
    ctx *c = *state;
    append(c->path, "old line before we started\n");
    open_tail(c, false);
    assert_int_equal(read_tail(c), 0);
    append(c->path, "Nov 22 18:40:54 web01 sshd[1234]: Failed password for root from "
                    "203.0.113.7 port 52113 ssh2\nplain second line\r\n");
    assert_int_equal(read_tail(c), 2);
    assert_line(c, 0, "Nov 22 18:40:54 web01 sshd[1234]: Failed password for root from "
                      "203.0.113.7 port 52113 ssh2", "27");
    assert_string_equal(hae_event_get_str(nth(c, 0), "Program"), "sshd");
    assert_string_equal(nth(c, 0)->service, "auth");
    assert_string_equal(nth(c, 0)->host, "web01");
    assert_line(c, 1, "plain second line", "119"); /* CR of CRLF dropped */
    assert_string_equal(nth(c, 1)->service, "syslog"); /* plain lines: the file's name */
    assert_int_equal(read_tail(c), 0);
}

static void test_from_start_reads_existing_lines_and_skips_blank_ones(void **state) {
    ctx *c = *state;
    append(c->path, "one\n\ntwo\n");
    open_tail(c, true);
    assert_int_equal(read_tail(c), 2);
    assert_line(c, 0, "one", "0");
    assert_line(c, 1, "two", "5");
}

static void test_inotify_wakes_the_caller_on_append(void **state) {
    ctx *c = *state;
    append(c->path, "");
    open_tail(c, false);
    int fd = log_tail_fd(c->tail);
    assert_true(fd >= 0);
    assert_int_equal(read_tail(c), 0);
    append(c->path, "wake up\n");
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(read_tail(c), 1);
    assert_line(c, 0, "wake up", "0");
}

static void test_rename_rotation_finishes_old_file_then_reads_new(void **state) {
    ctx *c = *state;
    append(c->path, "");
    open_tail(c, false);
    int writer = open(c->path, O_WRONLY | O_APPEND);
    assert_true(writer >= 0);
    assert_int_equal(write(writer, "before rotation\n", 16), 16);
    char *rotated = NULL;
    assert_true(asprintf(&rotated, "%s.1", c->path) > 0);
    assert_int_equal(rename(c->path, rotated), 0); /* logrotate "create" mode */
    assert_int_equal(write(writer, "late write to old\nno newline", 28), 28);
    close(writer);
    append(c->path, "first in new file\n");
    assert_int_equal(read_tail(c), 4);
    assert_line(c, 0, "before rotation", "0");
    assert_line(c, 1, "late write to old", "16");
    assert_line(c, 2, "no newline", "34"); /* the old file's last line, flushed */
    assert_line(c, 3, "first in new file", "0");
    append(c->path, "second in new file\n");
    assert_int_equal(read_tail(c), 1);
    assert_line(c, 4, "second in new file", "18");
    free(rotated);
}

static void test_deleted_file_is_followed_until_recreated(void **state) {
    ctx *c = *state;
    append(c->path, "a\n");
    open_tail(c, true);
    assert_int_equal(read_tail(c), 1);
    assert_int_equal(unlink(c->path), 0);
    assert_int_equal(read_tail(c), 0);
    assert_int_equal(collector_count(&c->events, "rule", "log.error"), 0); /* absence is normal */
    append(c->path, "b\n");
    assert_int_equal(read_tail(c), 1);
    assert_line(c, 1, "b", "0");
}

static void test_copytruncate_reads_again_from_zero(void **state) {
    ctx *c = *state;
    append(c->path, "a long first line written before the copy\npartial");
    open_tail(c, true);
    assert_int_equal(read_tail(c), 1);
    assert_int_equal(truncate(c->path, 0), 0); /* logrotate "copytruncate" */
    append(c->path, "after\n");
    assert_int_equal(read_tail(c), 2);
    assert_line(c, 1, "partial", "42"); /* never completed: emitted as it was */
    assert_line(c, 2, "after", "0");
}

static void test_file_appearing_late_is_read_from_its_start(void **state) {
    ctx *c = *state;
    open_tail(c, false);
    int fd = log_tail_fd(c->tail);
    assert_true(fd >= 0); /* the directory exists, so inotify sees the file arrive */
    assert_int_equal(read_tail(c), 0);
    append(c->path, "hello from a new file\n");
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(read_tail(c), 1);
    assert_line(c, 0, "hello from a new file", "0");
}

static void test_missing_directory_falls_back_to_polling(void **state) {
    ctx *c = *state;
    char *sub = NULL;
    assert_true(asprintf(&sub, "%s/later", c->dir) > 0);
    free(c->path);
    assert_true(asprintf(&c->path, "%s/app.log", sub) > 0);
    open_tail(c, false);
    assert_int_equal(log_tail_fd(c->tail), -1);
    assert_int_equal(read_tail(c), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    append(c->path, "{\"Image\":\"/usr/bin/curl\"}\n");
    assert_int_equal(read_tail(c), 1);
    assert_string_equal(hae_event_get_str(nth(c, 0), "Image"), "/usr/bin/curl");
    assert_string_equal(nth(c, 0)->service, "app.log");
    assert_true(log_tail_fd(c->tail) >= 0); /* watched now */
    free(sub);
}

static void test_partial_line_is_held_until_completed(void **state) {
    ctx *c = *state;
    append(c->path, "");
    open_tail(c, false);
    append(c->path, "done\nhalf of a li");
    assert_int_equal(read_tail(c), 1);
    assert_int_equal(read_tail(c), 0);
    append(c->path, "ne\n");
    assert_int_equal(read_tail(c), 1);
    assert_line(c, 1, "half of a line", "5");
}

static void test_overlong_line_is_split_and_marked(void **state) {
    ctx *c = *state;
    enum { LEN = 150000 };
    char *line = malloc(LEN + 2);
    assert_non_null(line);
    memset(line, 'A', LEN);
    memcpy(line + LEN, "\n", 2);
    append(c->path, "");
    open_tail(c, false);
    append(c->path, line);
    append(c->path, "next\n");
    assert_int_equal(read_tail(c), 4);
    const char *offsets[] = {"0", "65536", "131072"};
    for (size_t i = 0; i < 3; i++) {
        const hae_event *ev = nth(c, i);
        const hae_field *msg = hae_event_get(ev, "Message");
        assert_int_equal(msg->value_len, i < 2 ? 65536 : LEN - 131072);
        assert_string_equal(hae_event_get_str(ev, "FileOffset"), offsets[i]);
        char part[2] = {(char)('1' + i), '\0'};
        assert_string_equal(hae_event_get_str(ev, "LinePart"), part);
        if (i < 2) {
            assert_string_equal(hae_event_get_str(ev, "Truncated"), "true");
        } else {
            assert_null(hae_event_get(ev, "Truncated"));
        }
    }
    assert_line(c, 3, "next", "150001");
    assert_null(hae_event_get(nth(c, 3), "LinePart"));
    free(line);
}

static void test_malformed_line_stays_plain_with_parse_error(void **state) {
    ctx *c = *state;
    append(c->path, "");
    open_tail(c, false);
    append(c->path, "type=SYSCALL msg=audit(1700000000.123:1): exe=\"/tmp/x\n");
    assert_int_equal(read_tail(c), 1);
    assert_line(c, 0, "type=SYSCALL msg=audit(1700000000.123:1): exe=\"/tmp/x", "0");
    assert_non_null(strstr(hae_event_get_str(nth(c, 0), "ParseError"), "unterminated"));
}

static void test_unreadable_path_is_reported_once(void **state) {
    ctx *c = *state;
    assert_int_equal(mkdir(c->path, 0755), 0); /* a directory where a log should be */
    open_tail(c, true);
    assert_int_equal(read_tail(c), 1);
    assert_int_equal(read_tail(c), 0);
    const hae_event *ev = collector_find(&c->events, "rule", "log.error");
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "LogFile"), c->path);
    assert_non_null(strstr(hae_event_get_str(ev, "message"), "Is a directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appended_lines_become_events_from_the_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_from_start_reads_existing_lines_and_skips_blank_ones,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_inotify_wakes_the_caller_on_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_rotation_finishes_old_file_then_reads_new,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_file_is_followed_until_recreated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate_reads_again_from_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_appearing_late_is_read_from_its_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory_falls_back_to_polling, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_is_held_until_completed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_overlong_line_is_split_and_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_line_stays_plain_with_parse_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_path_is_reported_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
