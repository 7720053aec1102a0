/* The proc sensor's pure parts: /proc/PID/stat, environ blocks, the
 * masquerade and exe rules, and proc connector datagrams built by hand in
 * the kernel's layout (include/uapi/linux/cn_proc.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/proc_private.h"
#include "fixtures.h"

static void test_stat_comm_may_hold_spaces_and_parens(void **state) {
    (void)state;
    const char *text = "4242 (evil) (x y) S 17 4242 4242 0 -1 4194560 120 0 0 0\n";
    proc_stat_info info;
    hae_err err = {0};
    assert_int_equal(proc_stat_parse(text, strlen(text), &info, &err), HAE_OK);
    assert_int_equal(info.pid, 4242);
    assert_string_equal(info.comm, "evil) (x y");
    assert_int_equal(info.state, 'S');
    assert_int_equal(info.ppid, 17);
    assert_int_equal(info.flags, 4194560);
    assert_false(info.flags & PROC_PF_KTHREAD);
}

static void test_stat_kernel_thread_flag(void **state) {
    (void)state;
    const char *text = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0";
    proc_stat_info info;
    assert_int_equal(proc_stat_parse(text, strlen(text), &info, NULL), HAE_OK);
    assert_int_equal(info.ppid, 0);
    assert_true(info.flags & PROC_PF_KTHREAD);
}

static void test_stat_rejects_truncated_text_naming_the_field(void **state) {
    (void)state;
    proc_stat_info info;
    hae_err err = {0};
    const char *cut = "77 (sh) S 1 77";
    assert_int_equal(proc_stat_parse(cut, strlen(cut), &info, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "field 6"));
    assert_int_equal(proc_stat_parse("(sh) S", 6, &info, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "pid"));
    assert_int_equal(proc_stat_parse("12 sh S 1", 9, &info, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "comm"));
    assert_int_equal(proc_stat_parse("", 0, &info, &err), HAE_EINVAL);
}

static void test_environ_find_exact_names_and_unterminated_last_entry(void **state) {
    (void)state;
    static const char env[] = "XHOME=/x\0HOME=/tmp\0HISTFILE=/dev/null\0EMPTY=\0LAST=end";
    size_t len = sizeof env - 1; /* the last entry has no NUL of its own */
    const char *v;
    size_t n;
    assert_true(proc_environ_find(env, len, "HOME", &v, &n));
    assert_int_equal(n, 4);
    assert_memory_equal(v, "/tmp", 4);
    assert_true(proc_environ_find(env, len, "LAST", &v, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(v, "end", 3);
    assert_true(proc_environ_find(env, len, "EMPTY", &v, &n));
    assert_int_equal(n, 0);
    assert_false(proc_environ_find(env, len, "HIST", &v, &n));
    assert_false(proc_environ_find(env, len, "MISSING", &v, &n));
    assert_false(proc_environ_find("", 0, "HOME", &v, &n));
}

static void test_exe_classification(void **state) {
    (void)state;
    assert_int_equal(proc_exe_classify("/dev/shm/kdmtmpflush"), PROC_EXE_TMP);
    assert_int_equal(proc_exe_classify("/tmp/x"), PROC_EXE_TMP);
    assert_int_equal(proc_exe_classify("/var/tmp/.x/y"), PROC_EXE_TMP);
    assert_int_equal(proc_exe_classify("/memfd:a (deleted)"), PROC_EXE_MEMFD);
    assert_int_equal(proc_exe_classify("/tmpfoo/bin"), PROC_EXE_NORMAL);
    assert_int_equal(proc_exe_classify("/usr/bin/sleep"), PROC_EXE_NORMAL);
    assert_int_equal(proc_exe_classify(NULL), PROC_EXE_NORMAL);
}

static void test_masquerade_claims_and_real_daemons(void **state) {
    (void)state;
    const char *by = NULL;
    const proc_daemon *d =
        proc_masquerade_check("dbus-daemon", "dbus-daemon --system", "/dev/shm/kdmtmpflush", &by);
    assert_non_null(d);
    assert_string_equal(d->name, "dbus-daemon");
    assert_string_equal(by, "comm");
    /* the genuine bus */
    assert_null(proc_masquerade_check("dbus-daemon", "/usr/bin/dbus-daemon", "/usr/bin/dbus-daemon",
                                      &by));
    /* comm truncated to 15 bytes by the kernel */
    d = proc_masquerade_check("console-kit-dae", "x", "/usr/bin/python3", &by);
    assert_non_null(d);
    assert_string_equal(d->name, "console-kit-daemon");
    d = proc_masquerade_check("systemd-journal", NULL, "/tmp/a.out", &by);
    assert_non_null(d);
    assert_null(proc_masquerade_check("systemd-journal", "/lib/systemd/systemd-journald",
                                      "/usr/lib/systemd/systemd-journald", &by));
    /* argv[0] with a colon-suffixed title, as avahi and hald set it */
    d = proc_masquerade_check("bash", "avahi-daemon: chroot helper", "/usr/bin/bash", &by);
    assert_non_null(d);
    assert_string_equal(by, "argv0");
    assert_null(proc_masquerade_check("avahi-daemon", "avahi-daemon: running [h.local]",
                                      "/usr/sbin/avahi-daemon", &by));
    d = proc_masquerade_check("bash", "/sbin/udevd -d", "/usr/bin/bash", &by);
    assert_non_null(d);
    assert_string_equal(d->name, "udevd");
    assert_null(proc_masquerade_check("udevd", "/sbin/udevd", "/usr/bin/udevadm", &by));
    /* an unknown exe (kernel thread, unreadable) never matches */
    assert_null(proc_masquerade_check("dbus-daemon", "dbus-daemon", NULL, &by));
    assert_null(proc_masquerade_check("sleep", "sleep 10", "/usr/bin/sleep", &by));
    assert_null(proc_masquerade_check("mastermind", "mastermind", "/usr/bin/x", &by));
}

static void test_kernel_thread_claims(void **state) {
    (void)state;
    assert_true(proc_claims_kernel_thread("[kworker/0:1]"));
    assert_false(proc_claims_kernel_thread("[]"));
    assert_false(proc_claims_kernel_thread("kworker"));
    assert_false(proc_claims_kernel_thread(NULL));
}

/* ---- proc connector datagrams ------------------------------------------ */

typedef struct captured {
    proc_cn_event events[8];
    size_t count;
} captured;

static int capture(void *ctx, const proc_cn_event *ev) {
    captured *c = ctx;
    if (c->count < 8) c->events[c->count++] = *ev;
    return HAE_OK;
}

/* Appends one kernel-shaped message: nlmsghdr, cn_msg, proc_event. */
static size_t put_event(unsigned char *buf, size_t off, uint32_t what, uint32_t seq,
                        uint32_t cpu, const uint32_t *data, size_t words) {
    struct nlmsghdr nh = {0};
    struct cn_msg cn = {0};
    size_t ev_len = 16 + words * 4;
    nh.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + sizeof cn + ev_len);
    nh.nlmsg_type = NLMSG_DONE;
    cn.id.idx = CN_IDX_PROC;
    cn.id.val = CN_VAL_PROC;
    cn.seq = seq;
    cn.len = (uint16_t)ev_len;
    memcpy(buf + off, &nh, sizeof nh);
    memcpy(buf + off + NLMSG_HDRLEN, &cn, sizeof cn);
    unsigned char *ev = buf + off + NLMSG_HDRLEN + sizeof cn;
    uint64_t ts = 123456789;
    memcpy(ev, &what, 4);
    memcpy(ev + 4, &cpu, 4);
    memcpy(ev + 8, &ts, 8);
    memcpy(ev + 16, data, words * 4);
    return off + NLMSG_ALIGN(nh.nlmsg_len);
}

static void test_cn_parse_fork_exec_exit(void **state) {
    (void)state;
    unsigned char buf[512] = {0};
    uint32_t fork_data[] = {100, 100, 200, 200};
    uint32_t exec_data[] = {200, 200};
    uint32_t exit_data[] = {200, 200, 0, 17, 100, 100};
    size_t len = put_event(buf, 0, PROC_EVENT_FORK, 7, 1, fork_data, 4);
    len = put_event(buf, len, PROC_EVENT_EXEC, 8, 1, exec_data, 2);
    len = put_event(buf, len, PROC_EVENT_EXIT, 9, 1, exit_data, 6);
    captured c = {0};
    hae_err err = {0};
    assert_int_equal(proc_cn_parse(buf, len, capture, &c, &err), HAE_OK);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.events[0].kind, PROC_CN_FORK);
    assert_int_equal(c.events[0].pid, 200);
    assert_int_equal(c.events[0].ppid, 100);
    assert_int_equal(c.events[1].kind, PROC_CN_EXEC);
    assert_int_equal(c.events[1].pid, 200);
    assert_int_equal(c.events[1].seq, 8);
    assert_int_equal(c.events[1].cpu, 1);
    assert_int_equal(c.events[1].timestamp_ns, 123456789);
    assert_int_equal(c.events[2].kind, PROC_CN_EXIT);
    assert_int_equal(c.events[2].ppid, 100);
}

static void test_cn_parse_rejects_lengths_beyond_the_datagram(void **state) {
    (void)state;
    unsigned char buf[256] = {0};
    uint32_t exec_data[] = {5, 5};
    size_t len = put_event(buf, 0, PROC_EVENT_EXEC, 1, 0, exec_data, 2);
    captured c = {0};
    hae_err err = {0};
    /* cut inside the message: the netlink length no longer fits */
    assert_int_equal(proc_cn_parse(buf, len - 8, capture, &c, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "byte 0"));
    /* an exec event too short for its pids */
    len = put_event(buf, 0, PROC_EVENT_EXEC, 1, 0, exec_data, 1);
    assert_int_equal(proc_cn_parse(buf, len, capture, &c, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(c.count, 0);
}

static void test_cn_parse_skips_other_connector_users(void **state) {
    (void)state;
    unsigned char buf[256] = {0};
    uint32_t exec_data[] = {5, 5};
    size_t len = put_event(buf, 0, PROC_EVENT_EXEC, 1, 0, exec_data, 2);
    struct cn_msg cn;
    memcpy(&cn, buf + NLMSG_HDRLEN, sizeof cn);
    cn.id.idx = CN_W1_IDX;
    memcpy(buf + NLMSG_HDRLEN, &cn, sizeof cn);
    captured c = {0};
    assert_int_equal(proc_cn_parse(buf, len, capture, &c, NULL), HAE_OK);
    assert_int_equal(c.count, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_comm_may_hold_spaces_and_parens),
        cmocka_unit_test(test_stat_kernel_thread_flag),
        cmocka_unit_test(test_stat_rejects_truncated_text_naming_the_field),
        cmocka_unit_test(test_environ_find_exact_names_and_unterminated_last_entry),
        cmocka_unit_test(test_exe_classification),
        cmocka_unit_test(test_masquerade_claims_and_real_daemons),
        cmocka_unit_test(test_kernel_thread_claims),
        cmocka_unit_test(test_cn_parse_fork_exec_exit),
        cmocka_unit_test(test_cn_parse_rejects_lengths_beyond_the_datagram),
        cmocka_unit_test(test_cn_parse_skips_other_connector_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
