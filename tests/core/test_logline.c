/* Log lines into events: Debian auth.log/syslog (RFC 3164 and rsyslog's
 * RFC 3339 file format), RFC 5424, auditd's audit.log, JSON and plain text.
 * The whole program runs in Asia/Seoul (UTC+9, no DST) so local-time
 * syslog stamps have a known offset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "fixtures.h"

static void parse_ok(hae_event *ev, hae_log_format fmt, const char *line) {
    hae_err err = {0};
    int rc = hae_log_parse_line(ev, fmt, line, strlen(line), &err);
    if (rc != HAE_OK) fail_msg("%s: %s", line, err.msg);
}

static void assert_rejected(hae_log_format fmt, const char *line, size_t len, const char *part) {
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_log_parse_line(&ev, fmt, line, len, &err), HAE_EINVAL);
    if (!strstr(err.msg, part)) fail_msg("'%s' lacks '%s'", err.msg, part);
    assert_int_equal(ev.field_count, 0); /* cleared: safe to clear again */
    hae_event_clear(&ev);
}

static void assert_field(const hae_event *ev, const char *name, const char *value) {
    const char *got = hae_event_get_str(ev, name);
    if (!got) fail_msg("no field %s (wanted '%s')", name, value);
    assert_string_equal(got, value);
}

static void assert_number(const hae_event *ev, const char *name, const char *value) {
    const hae_field *f = hae_event_get(ev, name);
    if (!f) fail_msg("no field %s", name);
    assert_int_equal(f->type, HAE_VAL_NUMBER);
    assert_string_equal(f->value, value);
}

static void assert_time(const hae_event *ev, const char *rfc3339) {
    char got[HAE_TIME_LEN];
    hae_time_format(ev->time_ns, got);
    assert_string_equal(got, rfc3339);
}

static void test_detects_each_format(void **state) {
    (void)state;
    static const struct { const char *line; hae_log_format fmt; } cases[] = {
        {"Nov 22 18:40:54 web01 sshd[1234]: Accepted password for alice", HAE_LOGFMT_SYSLOG},
        {"Nov  2 08:04:05 web01 CRON[881]: (root) CMD (true)", HAE_LOGFMT_SYSLOG},
        {"<38>Nov 22 18:40:54 web01 sudo: alice : COMMAND=/usr/bin/id", HAE_LOGFMT_SYSLOG},
        {"2026-11-22T18:40:54.003417+09:00 web01 systemd[1]: Started x.", HAE_LOGFMT_SYSLOG},
        {"<165>1 2026-11-22T18:40:54.003Z host app - - - msg", HAE_LOGFMT_SYSLOG},
        {"type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e", HAE_LOGFMT_AUDITD},
        {"node=web01 type=EXECVE msg=audit(1700000000.123:456): argc=1", HAE_LOGFMT_AUDITD},
        {"  {\"Image\":\"/bin/sh\"}", HAE_LOGFMT_JSON},
        {"Starting backup at 02:00", HAE_LOGFMT_PLAIN},
        {"Nov 22 backup", HAE_LOGFMT_PLAIN},
        {"<999>Nov 22 18:40:54 host x: y", HAE_LOGFMT_PLAIN},
        {"2026-11-22 18:40:54 not quite RFC 3339", HAE_LOGFMT_PLAIN},
        {"type=SYSCALL without a stamp", HAE_LOGFMT_PLAIN},
        {"", HAE_LOGFMT_PLAIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hae_log_format got = hae_log_format_detect(cases[i].line, strlen(cases[i].line));
        if (got != cases[i].fmt) {
            fail_msg("'%s': %s, wanted %s", cases[i].line, hae_log_format_name(got),
                     hae_log_format_name(cases[i].fmt));
        }
    }
    assert_string_equal(hae_log_format_name(HAE_LOGFMT_AUDITD), "auditd");
    assert_string_equal(hae_log_format_name((hae_log_format)42), "unknown");
}

static void test_auth_log_line_gives_host_program_pid_and_auth_service(void **state) {
    (void)state;
    const char *line = "Nov 22 18:40:54 web01 sshd[1234]: Failed password for invalid user "
                       "admin from 203.0.113.7 port 52113 ssh2";
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUTO, line);
    assert_field(&ev, "Message", line);
    assert_field(&ev, "Hostname", "web01");
    assert_field(&ev, "Program", "sshd");
    assert_number(&ev, "Pid", "1234");
    assert_string_equal(ev.host, "web01");
    assert_string_equal(ev.product, "linux");
    assert_string_equal(ev.service, "auth");
    assert_true(ev.id[0] == '\0'); /* ids are for live events: the tail assigns them */
    char got[HAE_TIME_LEN];
    hae_time_format(ev.time_ns, got);
    /* 18:40:54 in Seoul is 09:40:54 UTC; the year is this one or the last. */
    assert_string_equal(got + 4, "-11-22T09:40:54.000000000Z");
    assert_true(ev.time_ns <= hae_time_now_ns() + 2 * 86400 * 1000000000LL);
    hae_event_clear(&ev);
}

static void test_bsd_stamp_in_the_future_belongs_to_last_year(void **state) {
    (void)state;
    time_t later = time(NULL) + 60 * 86400;
    struct tm tm;
    localtime_r(&later, &tm);
    char line[96];
    strftime(line, sizeof line, "%b %e %H:%M:%S web01 cron[7]: tick", &tm);
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_SYSLOG, line);
    time_t parsed = (time_t)(ev.time_ns / 1000000000);
    struct tm back;
    localtime_r(&parsed, &back);
    assert_int_equal(back.tm_year, tm.tm_year - 1);
    assert_int_equal(back.tm_mon, tm.tm_mon);
    assert_int_equal(back.tm_mday, tm.tm_mday);
    assert_int_equal(back.tm_hour, tm.tm_hour);
    hae_event_clear(&ev);
}

static void test_syslog_variants_of_the_tag_and_host(void **state) {
    (void)state;
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUTO, "Nov  2 08:04:05 web01 kernel: [ 5.123] audit: "
                                   "type=1400 apparmor=\"STATUS\"");
    assert_field(&ev, "Program", "kernel");
    assert_null(hae_event_get(&ev, "Pid"));
    assert_string_equal(ev.service, "syslog");
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUTO, "Nov 22 18:40:54 sshd[77]: no host name here");
    assert_null(hae_event_get(&ev, "Hostname"));
    assert_null(ev.host);
    assert_field(&ev, "Program", "sshd");
    assert_number(&ev, "Pid", "77");
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUTO, "<38>Nov 22 18:40:54 web01 sudo:    alice : TTY=pts/0 ; "
                                   "PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id");
    assert_field(&ev, "Program", "sudo");
    assert_string_equal(ev.service, "auth");
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUTO, "Nov 22 18:40:54 web01 postfix/smtpd[0042]: connect");
    assert_field(&ev, "Program", "postfix/smtpd");
    assert_number(&ev, "Pid", "42"); /* JSON numbers have no leading zeros */
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUTO, "Nov 22 18:40:54 web01 -- MARK --");
    assert_field(&ev, "Hostname", "web01");
    assert_null(hae_event_get(&ev, "Program"));
    hae_event_clear(&ev);
}

static void test_rsyslog_rfc3339_file_format(void **state) {
    (void)state;
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUTO,
             "2026-11-22T18:40:54.003417+09:00 web01 sshd[1234]: Accepted publickey for alice "
             "from 198.51.100.4 port 50022 ssh2: ED25519 SHA256:Zm9vYmFy");
    assert_time(&ev, "2026-11-22T09:40:54.003417000Z");
    assert_field(&ev, "Hostname", "web01");
    assert_field(&ev, "Program", "sshd");
    assert_string_equal(ev.service, "auth");
    hae_event_clear(&ev);
    parse_ok(&ev, HAE_LOGFMT_AUTO, "<86>2026-11-22T09:40:54Z web01 su[99]: session opened");
    assert_time(&ev, "2026-11-22T09:40:54.000000000Z");
    assert_field(&ev, "Program", "su");
    hae_event_clear(&ev);
}

static void test_rfc5424_header_and_structured_data(void **state) {
    (void)state;
    /* RFC 5424 section 6.5, example 3, with a BOM before MSG. */
    const char *line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 "
                       "ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
                       "eventID=\"1011\"][examplePriority@32473 class=\"high\"] "
                       "\xEF\xBB\xBF" "An application event log entry...";
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUTO, line);
    assert_time(&ev, "2003-10-11T22:14:15.003000000Z");
    assert_field(&ev, "Hostname", "mymachine.example.com");
    assert_field(&ev, "Program", "evntslog");
    assert_number(&ev, "Pid", "8710");
    assert_field(&ev, "MsgId", "ID47");
    assert_field(&ev, "exampleSDID@32473.iut", "3");
    assert_field(&ev, "exampleSDID@32473.eventSource", "Application");
    assert_field(&ev, "examplePriority@32473.class", "high");
    assert_field(&ev, "Message", line);
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_SYSLOG, "<13>1 - - - worker-7 - [meta@1 v=\"a\\\"b\\\\c\\]d\\n\"][x@2]");
    assert_int_equal(ev.time_ns, 0);
    assert_null(ev.host);
    assert_field(&ev, "ProcId", "worker-7");
    assert_field(&ev, "meta@1.v", "a\"b\\c]d\\n"); /* only \" \\ \] are escapes */
    assert_field(&ev, "x@2", "");
    hae_event_clear(&ev);
}

static void test_rfc5424_malformed_lines_name_the_byte(void **state) {
    (void)state;
    const char *bad_sd = "<34>1 2026-11-22T18:40:54Z host app 1 - [bad";
    assert_rejected(HAE_LOGFMT_AUTO, bad_sd, strlen(bad_sd), "byte 44: expected ']'");
    const char *open_value = "<34>1 - host app 1 - [a@1 k=\"never closed]";
    assert_rejected(HAE_LOGFMT_AUTO, open_value, strlen(open_value), "unterminated PARAM-VALUE");
    const char *bad_time = "<34>1 2026-13-22T18:40:54Z host app 1 - - msg";
    assert_rejected(HAE_LOGFMT_AUTO, bad_time, strlen(bad_time), "byte 6: bad RFC 5424 TIMESTAMP");
    const char *far_future = "<34>1 9999-01-01T00:00:00Z host app 1 - - msg";
    assert_rejected(HAE_LOGFMT_AUTO, far_future, strlen(far_future), "bad RFC 5424 TIMESTAMP");
    const char *short_header = "<34>1 - host";
    assert_rejected(HAE_LOGFMT_AUTO, short_header, strlen(short_header), "HOSTNAME");
    const char *no_sd = "<34>1 - host app 1 ID msg";
    assert_rejected(HAE_LOGFMT_AUTO, no_sd, strlen(no_sd), "expected STRUCTURED-DATA");
}

static void test_syslog_malformed_and_mismatched_lines(void **state) {
    (void)state;
    const char *bad_day = "Nov 32 18:40:54 web01 sshd[1]: x";
    assert_rejected(HAE_LOGFMT_AUTO, bad_day, strlen(bad_day), "byte 0: no such time");
    const char *bad_hour = "Nov 22 25:40:54 web01 sshd[1]: x";
    assert_rejected(HAE_LOGFMT_AUTO, bad_hour, strlen(bad_hour), "no such time");
    assert_rejected(HAE_LOGFMT_SYSLOG, "hello world", 11, "byte 0: expected <PRI> or a timestamp");
    assert_rejected(HAE_LOGFMT_SYSLOG, "<1234>x", 7, "bad <PRI>");
    assert_rejected(HAE_LOGFMT_SYSLOG, "", 0, "empty line");
    const char *bad_offset = "2026-11-22T18:40:54+9 web01 x: y";
    assert_rejected(HAE_LOGFMT_SYSLOG, bad_offset, strlen(bad_offset), "bad RFC 3339");
}

static void test_nul_and_binary_bytes_are_kept_not_fatal(void **state) {
    (void)state;
    static const char line[] = "Nov 22 18:40:54 we\0b01 prog\xff[5]: caf\xe9 \0 end";
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_log_parse_line(&ev, HAE_LOGFMT_AUTO, line, sizeof line - 1, &err), HAE_OK);
    const hae_field *msg = hae_event_get(&ev, "Message");
    assert_int_equal(msg->value_len, sizeof line - 1);
    assert_memory_equal(msg->value, line, sizeof line - 1);
    assert_null(hae_event_get(&ev, "Hostname")); /* a host name never holds NUL */
    hae_buf out = {0};
    assert_int_equal(hae_event_encode_json(&ev, &out), HAE_OK);
    hae_buf_free(&out);
    hae_event_clear(&ev);
}

static void test_auditd_syscall_record(void **state) {
    (void)state;
    const char *line =
        "type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=59 success=yes "
        "exit=0 a0=55d5c1a4e2a0 a1=55d5c1a4e310 a2=55d5c1a4e330 a3=8 items=2 ppid=812 pid=813 "
        "auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 "
        "comm=\"id\" exe=\"/usr/bin/id\" subj=unconfined key=(null)"
        "\x1d" "ARCH=x86_64 SYSCALL=execve AUID=\"alice\" UID=\"root\"";
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUTO, line);
    assert_time(&ev, "2023-11-14T22:13:20.123000000Z");
    assert_string_equal(ev.product, "linux");
    assert_string_equal(ev.service, "auditd");
    assert_field(&ev, "Message", line);
    assert_field(&ev, "type", "SYSCALL");
    assert_number(&ev, "serial", "456");
    assert_field(&ev, "syscall", "59");
    assert_field(&ev, "a0", "55d5c1a4e2a0"); /* register values: hex numbers, not text */
    assert_field(&ev, "exe", "/usr/bin/id");
    assert_field(&ev, "comm", "id");
    assert_field(&ev, "key", "(null)");
    assert_field(&ev, "SYSCALL", "execve");
    assert_field(&ev, "AUID", "alice");
    assert_null(ev.host);
    hae_event_clear(&ev);
}

static void test_auditd_hex_values_are_decoded(void **state) {
    (void)state;
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUDITD, "type=PROCTITLE msg=audit(1700000000.123:456): "
                                     "proctitle=2F62696E2F7368002D63006964");
    assert_field(&ev, "proctitle", "/bin/sh -c id");
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUDITD, "type=EXECVE msg=audit(1700000000.123:456): argc=3 "
                                     "a0=\"sh\" a1=\"-c\" a2=6964203E202F746D702F78");
    assert_field(&ev, "a0", "sh");
    assert_field(&ev, "a2", "id > /tmp/x");
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUDITD,
             "type=CWD msg=audit(1700000000.123:456): cwd=2F686F6D652F616C69636520736D697468");
    assert_field(&ev, "cwd", "/home/alice smith");
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUDITD, "type=PATH msg=audit(1700000000.123:456): item=0 "
                                     "name=ABC nametype=NORMAL");
    assert_field(&ev, "name", "ABC"); /* odd length: not hex, kept */
    hae_event_clear(&ev);
}

static void test_auditd_user_record_nests_msg_pairs(void **state) {
    (void)state;
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUTO,
             "node=web01 type=USER_AUTH msg=audit(1700000001.001:789): pid=4321 uid=0 "
             "auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:authentication "
             "grantors=? acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=203.0.113.7 "
             "addr=203.0.113.7 terminal=ssh res=failed'\x1dUID=\"root\" AUID=\"unset\"");
    assert_string_equal(ev.host, "web01");
    assert_field(&ev, "node", "web01");
    assert_field(&ev, "type", "USER_AUTH");
    assert_field(&ev, "op", "PAM:authentication");
    assert_field(&ev, "acct", "root");
    assert_field(&ev, "exe", "/usr/sbin/sshd");
    assert_field(&ev, "res", "failed");
    assert_field(&ev, "UID", "root");
    assert_null(hae_event_get(&ev, "msg"));
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUTO, "type=USER_CMD msg=audit(1700000002.500:790): pid=5000 "
                                   "uid=1000 msg='cwd=\"/home/alice\" cmd=2F7573722F62696E2F6964 "
                                   "exe=\"/usr/bin/sudo\" terminal=pts/0 res=success'");
    assert_field(&ev, "cmd", "/usr/bin/id");
    assert_field(&ev, "cwd", "/home/alice");
    hae_event_clear(&ev);

    /* "id" is the event id in the JSON lines codec: the key keeps its value
     * under "auditd.id" rather than vanishing into metadata. */
    parse_ok(&ev, HAE_LOGFMT_AUTO, "type=ADD_USER msg=audit(1700000004.000:792): pid=6000 "
                                   "uid=0 msg='op=adding user id=1001 exe=\"/usr/sbin/useradd\" "
                                   "res=success'");
    assert_field(&ev, "auditd.id", "1001");
    assert_null(hae_event_get(&ev, "id"));
    hae_event_clear(&ev);

    parse_ok(&ev, HAE_LOGFMT_AUTO, "type=AVC msg=audit(1700000003.000:791): avc:  denied  "
                                   "{ read } for  pid=1 comm=\"cat\" name=\"shadow\"");
    assert_field(&ev, "comm", "cat");
    assert_field(&ev, "name", "shadow");
    hae_event_clear(&ev);
}

static void test_auditd_malformed_lines_name_the_byte(void **state) {
    (void)state;
    const char *no_millis = "type=SYSCALL msg=audit(1700000000:456): syscall=59";
    assert_rejected(HAE_LOGFMT_AUTO, no_millis, strlen(no_millis),
                    "byte 23: expected audit(SECONDS.MILLIS:SERIAL)");
    const char *unclosed = "type=SYSCALL msg=audit(1700000000.123:456): exe=\"/usr/bin/x";
    assert_rejected(HAE_LOGFMT_AUTO, unclosed, strlen(unclosed), "byte 48: unterminated \" quote");
    assert_rejected(HAE_LOGFMT_AUDITD, "hello", 5, "byte 0: expected 'type='");
    assert_rejected(HAE_LOGFMT_AUDITD, "type=X hello", 12, "byte 7: expected 'msg=audit('");
    const char *cut = "type=SYSCALL msg=audit(1700000000.123:";
    assert_rejected(HAE_LOGFMT_AUDITD, cut, strlen(cut), "expected audit(");
}

static void test_json_lines_delegate_to_the_event_codec(void **state) {
    (void)state;
    hae_event ev;
    const char *line = "{\"time\":\"2026-11-22T09:40:54Z\",\"logsource\":{\"product\":\"linux\"},"
                       "\"Image\":\"/bin/sh\"}";
    parse_ok(&ev, HAE_LOGFMT_AUTO, line);
    assert_time(&ev, "2026-11-22T09:40:54.000000000Z");
    assert_field(&ev, "Image", "/bin/sh");
    assert_field(&ev, "Message", line);
    hae_event_clear(&ev);
    parse_ok(&ev, HAE_LOGFMT_JSON, "{\"Message\":\"own\"}");
    assert_field(&ev, "Message", "own");
    assert_int_equal(ev.field_count, 1);
    hae_event_clear(&ev);
    assert_rejected(HAE_LOGFMT_AUTO, "{\"a\":", 5, "json: ");
    assert_rejected(HAE_LOGFMT_JSON, "[1]", 3, "must be an object");
}

static void test_plain_lines_keep_the_whole_line(void **state) {
    (void)state;
    hae_event ev;
    parse_ok(&ev, HAE_LOGFMT_AUTO, "Starting backup at 02:00");
    assert_field(&ev, "Message", "Starting backup at 02:00");
    assert_string_equal(ev.product, "linux");
    assert_null(ev.service);
    assert_int_equal(ev.time_ns, 0);
    assert_int_equal(ev.field_count, 1);
    hae_event_clear(&ev);
    parse_ok(&ev, HAE_LOGFMT_PLAIN, "");
    assert_field(&ev, "Message", "");
    hae_event_clear(&ev);
}

int main(void) {
    setenv("TZ", "Asia/Seoul", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detects_each_format),
        cmocka_unit_test(test_auth_log_line_gives_host_program_pid_and_auth_service),
        cmocka_unit_test(test_bsd_stamp_in_the_future_belongs_to_last_year),
        cmocka_unit_test(test_syslog_variants_of_the_tag_and_host),
        cmocka_unit_test(test_rsyslog_rfc3339_file_format),
        cmocka_unit_test(test_rfc5424_header_and_structured_data),
        cmocka_unit_test(test_rfc5424_malformed_lines_name_the_byte),
        cmocka_unit_test(test_syslog_malformed_and_mismatched_lines),
        cmocka_unit_test(test_nul_and_binary_bytes_are_kept_not_fatal),
        cmocka_unit_test(test_auditd_syscall_record),
        cmocka_unit_test(test_auditd_hex_values_are_decoded),
        cmocka_unit_test(test_auditd_user_record_nests_msg_pairs),
        cmocka_unit_test(test_auditd_malformed_lines_name_the_byte),
        cmocka_unit_test(test_json_lines_delegate_to_the_event_codec),
        cmocka_unit_test(test_plain_lines_keep_the_whole_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
