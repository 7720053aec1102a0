/* proc_scan on the real kernel: children that look like BPFDoor (deleted
 * binary in /dev/shm, memfd, a daemon's name on another binary, history
 * disabled) are reported with their exact pid; a plain child is not. Our
 * own children are readable without root, so these run unprivileged too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "sensor/proc_private.h"
#include "sensor/sensor.h"
#include "fixtures.h"
#include "proc_test_util.h"

static char *sleeper_path(void) {
    char *path = fixture_test_program("prog_proc_sleeper");
    assert_non_null(path);
    assert_int_equal(access(path, X_OK), 0);
    return path;
}

static void scan(collected_events *c) {
    hae_sink sink = collector_sink(c);
    hae_err err = {0};
    int rc = proc_scan(&sink, &err);
    if (rc != HAE_OK) fail_msg("proc_scan: %s", err.msg);
}

static int copy_file(const char *from, int to_fd) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(to_fd, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    close(in);
    return n < 0 ? -1 : rc;
}

static void test_deleted_binary_in_dev_shm_is_reported_with_its_pid(void **state) {
    (void)state;
    struct statvfs vfs;
    if (statvfs("/dev/shm", &vfs) != 0 || (vfs.f_flag & ST_NOEXEC)) {
        skip(); /* needs an executable /dev/shm, as BPFDoor does */
    }
    char *src = sleeper_path();
    char copy[64];
    snprintf(copy, sizeof copy, "/dev/shm/haetae-proc-test-%d", (int)getpid());
    int fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    assert_true(fd >= 0);
    assert_int_equal(copy_file(src, fd), 0);
    assert_int_equal(close(fd), 0);
    char *argv[] = {copy, NULL};
    char *envp[] = {NULL};
    pid_t pid = proc_test_spawn(copy, -1, argv, envp, NULL);
    assert_int_equal(unlink(copy), 0);
    assert_true(pid > 0);

    collected_events c = {0};
    scan(&c);
    const hae_event *deleted = proc_test_find(&c, "proc.deleted_exe", pid);
    const hae_event *tmp = proc_test_find(&c, "proc.tmp_exe", pid);
    assert_non_null(deleted);
    assert_non_null(tmp);
    assert_string_equal(hae_event_get_str(deleted, "severity"), "high");
    assert_string_equal(hae_event_get_str(deleted, "Image"), copy);
    assert_string_equal(hae_event_get_str(deleted, "ImageDeleted"), "true");
    assert_string_equal(hae_event_get_str(deleted, "ImageReplaced"), "false");
    assert_string_equal(hae_event_get_str(deleted, "CommandLine"), copy);
    char ppid[16];
    snprintf(ppid, sizeof ppid, "%d", (int)getpid());
    assert_string_equal(hae_event_get_str(deleted, "ParentProcessId"), ppid);
    assert_non_null(hae_event_get_str(deleted, "User"));
    assert_string_equal(deleted->service, "proc");
    assert_string_equal(hae_event_get_str(tmp, "Image"), copy);
    assert_string_equal(hae_event_get_str(tmp, "severity"), "high");
    collector_free(&c);
    proc_test_stop(pid);
    free(src);
}

static void test_memfd_binary_is_reported_as_memfd_exe(void **state) {
    (void)state;
    char *src = sleeper_path();
    int fd = memfd_create("haetae-test", 0);
    assert_true(fd >= 0);
    assert_int_equal(copy_file(src, fd), 0);
    char *argv[] = {"haetae-memfd", NULL};
    char *envp[] = {NULL};
    pid_t pid = proc_test_spawn(NULL, fd, argv, envp, NULL);
    close(fd);
    assert_true(pid > 0);

    collected_events c = {0};
    scan(&c);
    const hae_event *f = proc_test_find(&c, "proc.memfd_exe", pid);
    assert_non_null(f);
    assert_string_equal(hae_event_get_str(f, "severity"), "critical");
    assert_string_equal(hae_event_get_str(f, "Image"), "/memfd:haetae-test");
    /* its content is the evidence, and what an allowlist recognises */
    char want[65];
    assert_int_equal(sensor_sha256_file(src, UINT64_MAX, want), HAE_OK);
    assert_string_equal(hae_event_get_str(f, "ImageSha256"), want);
    /* the memfd finding stands alone: no second "deleted" finding */
    assert_null(proc_test_find(&c, "proc.deleted_exe", pid));
    collector_free(&c);
    proc_test_stop(pid);
    free(src);
}

static void test_dbus_daemon_name_on_another_binary_is_masquerade(void **state) {
    (void)state;
    char *src = sleeper_path();
    char *argv[] = {"dbus-daemon --system", NULL};
    char *envp[] = {"HAETAE_PROG_COMM=dbus-daemon", NULL};
    pid_t pid = proc_test_spawn(src, -1, argv, envp, NULL);
    assert_true(pid > 0);

    collected_events c = {0};
    scan(&c);
    const hae_event *f = proc_test_find(&c, "proc.masquerade", pid);
    assert_non_null(f);
    assert_string_equal(hae_event_get_str(f, "severity"), "critical");
    assert_string_equal(hae_event_get_str(f, "ClaimedName"), "dbus-daemon");
    assert_string_equal(hae_event_get_str(f, "ClaimedBy"), "comm");
    assert_string_equal(hae_event_get_str(f, "Comm"), "dbus-daemon");
    assert_string_equal(hae_event_get_str(f, "Argv0"), "dbus-daemon --system");
    assert_string_equal(hae_event_get_str(f, "CommandLine"), "dbus-daemon --system");
    char *real = realpath(src, NULL);
    assert_non_null(real);
    assert_string_equal(hae_event_get_str(f, "Image"), real);
    free(real);
    collector_free(&c);
    proc_test_stop(pid);
    free(src);
}

static void test_argv0_alone_claiming_a_daemon_is_masquerade(void **state) {
    (void)state;
    char *src = sleeper_path();
    /* BPFDoor's shell children: argv[0] "qmgr -l -t fifo -u", comm untouched */
    char *argv[] = {"qmgr -l -t fifo -u", NULL};
    char *envp[] = {NULL};
    pid_t pid = proc_test_spawn(src, -1, argv, envp, NULL);
    assert_true(pid > 0);
    collected_events c = {0};
    scan(&c);
    const hae_event *f = proc_test_find(&c, "proc.masquerade", pid);
    assert_non_null(f);
    assert_string_equal(hae_event_get_str(f, "ClaimedName"), "qmgr");
    assert_string_equal(hae_event_get_str(f, "ClaimedBy"), "argv0");
    collector_free(&c);
    proc_test_stop(pid);
    free(src);
}

static void test_history_disabled_and_home_in_tmp_are_reported(void **state) {
    (void)state;
    char *src = sleeper_path();
    char *argv[] = {src, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", "HISTFILE=/dev/null",
                    "MYSQL_HISTFILE=/dev/null", NULL};
    pid_t pid = proc_test_spawn(src, -1, argv, envp, NULL);
    assert_true(pid > 0);

    collected_events c = {0};
    scan(&c);
    const hae_event *home = proc_test_find(&c, "proc.home_tmp", pid);
    assert_non_null(home);
    assert_string_equal(hae_event_get_str(home, "HOME"), "/tmp");
    assert_string_equal(hae_event_get_str(home, "severity"), "medium");
    size_t histfile = 0, mysql = 0;
    char pid_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
    for (size_t i = 0; i < c.count; i++) {
        const hae_event *ev = &c.events[i];
        const char *rule = hae_event_get_str(ev, "rule");
        const char *p = hae_event_get_str(ev, "ProcessId");
        if (!rule || !p || strcmp(rule, "proc.histfile_null") || strcmp(p, pid_text)) continue;
        assert_string_equal(hae_event_get_str(ev, "severity"), "high");
        const char *v = hae_event_get_str(ev, "HISTFILE");
        if (v) histfile++, assert_string_equal(v, "/dev/null");
        v = hae_event_get_str(ev, "MYSQL_HISTFILE");
        if (v) mysql++, assert_string_equal(v, "/dev/null");
    }
    assert_int_equal(histfile, 1);
    assert_int_equal(mysql, 1);
    collector_free(&c);
    proc_test_stop(pid);
    free(src);
}

static void test_plain_child_gets_no_finding(void **state) {
    (void)state;
    char *src = sleeper_path();
    char *real = realpath(src, NULL);
    assert_non_null(real);
    bool is_built_in_tmp = proc_exe_classify(real) != PROC_EXE_NORMAL;
    free(real);
    if (is_built_in_tmp) {
        free(src);
        skip(); /* a build tree under /tmp makes every helper a tmp_exe */
    }
    char *argv[] = {src, "--plain", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "HOME=/root", "HISTFILE=/root/.bash_history", NULL};
    pid_t pid = proc_test_spawn(src, -1, argv, envp, NULL);
    assert_true(pid > 0);
    collected_events c = {0};
    scan(&c);
    const hae_event *any = proc_test_find(&c, NULL, pid);
    if (any) fail_msg("unexpected finding %s for a plain child", hae_event_get_str(any, "rule"));
    /* and haetae never reports itself */
    assert_null(proc_test_find(&c, NULL, getpid()));
    collector_free(&c);
    proc_test_stop(pid);
    free(src);
}

static void test_exited_child_is_skipped_quietly(void **state) {
    (void)state;
    /* A zombie has no exe and no environ: the scan goes on without it. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(0);
    usleep(100000);
    collected_events c = {0};
    scan(&c);
    assert_null(proc_test_find(&c, NULL, pid));
    collector_free(&c);
    waitpid(pid, NULL, 0);
}

/* ---- mutex files, on a directory standing in for /var/run ------------- */

static void write_file(const char *dir, const char *name, const char *content) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(fixture_write_file(path, content, strlen(content)), 0);
    assert_int_equal(chmod(path, 0644), 0);
}

static const hae_event *find_mutex(const collected_events *c, const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return collector_find(c, "TargetFilename", path);
}

static void test_bpfdoor_mutex_files_are_reported(void **state) {
    (void)state;
    char *dir = fixture_tempdir("proc-run");
    assert_non_null(dir);
    write_file(dir, "haldrund.pid", "");      /* BPFDoor's own: empty, 0644 */
    write_file(dir, "kdevrund.pid", "1234\n"); /* unique name, even with content */
    write_file(dir, "xinetd.lock", "");        /* shared name, empty */
    write_file(dir, "mcelog.pid", "812\n");    /* the real mcelog's pid file */
    write_file(dir, "sshd.pid", "");           /* not a BPFDoor name */
    collected_events c = {0};
    hae_sink sink = collector_sink(&c);
    hae_err err = {0};
    assert_int_equal(proc_mutex_scan(dir, &sink, &err), HAE_OK);
    assert_int_equal(collector_count(&c, "rule", "proc.bpfdoor_mutex"), 3);
    const hae_event *f = find_mutex(&c, dir, "haldrund.pid");
    assert_non_null(f);
    assert_string_equal(hae_event_get_str(f, "severity"), "critical");
    assert_string_equal(hae_event_get_str(f, "FileSize"), "0");
    assert_string_equal(hae_event_get_str(f, "FileMode"), "0644");
    f = find_mutex(&c, dir, "kdevrund.pid");
    assert_non_null(f);
    assert_string_equal(hae_event_get_str(f, "severity"), "high");
    f = find_mutex(&c, dir, "xinetd.lock");
    assert_non_null(f);
    assert_string_equal(hae_event_get_str(f, "severity"), "critical");
    assert_null(find_mutex(&c, dir, "mcelog.pid"));
    assert_null(find_mutex(&c, dir, "sshd.pid"));
    collector_free(&c);
    fixture_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deleted_binary_in_dev_shm_is_reported_with_its_pid),
        cmocka_unit_test(test_memfd_binary_is_reported_as_memfd_exe),
        cmocka_unit_test(test_dbus_daemon_name_on_another_binary_is_masquerade),
        cmocka_unit_test(test_argv0_alone_claiming_a_daemon_is_masquerade),
        cmocka_unit_test(test_history_disabled_and_home_in_tmp_are_reported),
        cmocka_unit_test(test_plain_child_gets_no_finding),
        cmocka_unit_test(test_exited_child_is_skipped_quietly),
        cmocka_unit_test(test_bpfdoor_mutex_files_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
