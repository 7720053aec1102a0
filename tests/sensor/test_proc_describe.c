/* proc_describe fills the Sigma process_creation fields from /proc for a
 * live child whose argv, working directory and parent we chose. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pwd.h>
#include <stdio.h>

#include "sensor/sensor.h"
#include "fixtures.h"
#include "proc_test_util.h"

static void expect_field(const hae_event *ev, const char *name, const char *value) {
    const char *got = hae_event_get_str(ev, name);
    if (!got) fail_msg("field %s missing", name);
    if (strcmp(got, value) != 0) fail_msg("%s is '%s', expected '%s'", name, got, value);
}

static void test_describe_fills_process_creation_fields(void **state) {
    (void)state;
    char *src = fixture_test_program("prog_proc_sleeper");
    assert_non_null(src);
    char *dir = fixture_tempdir("proc-cwd");
    assert_non_null(dir);
    char *argv[] = {src, "alpha", "two words", NULL};
    char *envp[] = {NULL};
    pid_t pid = proc_test_spawn(src, -1, argv, envp, dir);
    assert_true(pid > 0);

    hae_event ev;
    hae_event_init_empty(&ev);
    hae_err err = {0};
    int rc = proc_describe(pid, &ev, &err);
    if (rc != HAE_OK) fail_msg("proc_describe: %s", err.msg);

    assert_string_equal(ev.product, "linux");
    assert_string_equal(ev.category, "process_creation");
    char text[4096];
    snprintf(text, sizeof text, "%d", (int)pid);
    expect_field(&ev, "ProcessId", text);
    snprintf(text, sizeof text, "%d", (int)getpid());
    expect_field(&ev, "ParentProcessId", text);
    char *image = realpath(src, NULL);
    assert_non_null(image);
    expect_field(&ev, "Image", image);
    snprintf(text, sizeof text, "%s alpha two words", src);
    expect_field(&ev, "CommandLine", text);
    char *cwd = realpath(dir, NULL);
    assert_non_null(cwd);
    expect_field(&ev, "CurrentDirectory", cwd);
    struct passwd *pw = getpwuid(getuid());
    if (pw) {
        expect_field(&ev, "User", pw->pw_name);
    } else {
        snprintf(text, sizeof text, "%u", (unsigned)getuid());
        expect_field(&ev, "User", text);
    }
    char self_exe[4096];
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    assert_true(n > 0);
    self_exe[n] = '\0';
    expect_field(&ev, "ParentImage", self_exe);
    const char *parent_cmd = hae_event_get_str(&ev, "ParentCommandLine");
    assert_non_null(parent_cmd);
    assert_non_null(strstr(parent_cmd, "sensor_test_proc_describe"));

    hae_event_clear(&ev);
    proc_test_stop(pid);
    fixture_rmtree(dir);
    free(cwd);
    free(image);
    free(dir);
    free(src);
}

static void test_describe_keeps_the_callers_log_source(void **state) {
    (void)state;
    hae_event ev;
    assert_int_equal(hae_event_init(&ev, "haetae", "finding", "sock"), HAE_OK);
    hae_err err = {0};
    assert_int_equal(proc_describe(getpid(), &ev, &err), HAE_OK);
    assert_string_equal(ev.category, "finding");
    assert_non_null(hae_event_get_str(&ev, "Image"));
    hae_event_clear(&ev);
}

static void test_describe_of_an_exited_process_is_enoent(void **state) {
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    hae_event ev;
    hae_event_init_empty(&ev);
    hae_err err = {0};
    assert_int_equal(proc_describe(pid, &ev, &err), HAE_ENOENT);
    assert_non_null(strstr(err.msg, "/proc/"));
    assert_int_equal(ev.field_count, 0);
    hae_event_clear(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_fills_process_creation_fields),
        cmocka_unit_test(test_describe_keeps_the_callers_log_source),
        cmocka_unit_test(test_describe_of_an_exited_process_is_enoent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
