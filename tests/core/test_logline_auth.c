/* Authentication messages into named fields, one real-looking line per
 * form (Debian 12's auth.log as OpenSSH 9.2, sudo 1.9, util-linux su,
 * cron, shadow-utils and pam_unix write it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "fixtures.h"

typedef struct {
    const char *line;
    const char *fields; /* "Name=value;Name=value" expected, in any order */
} auth_case;

static void assert_fields(const hae_event *ev, const char *line, const char *expected) {
    char copy[512];
    snprintf(copy, sizeof copy, "%s", expected);
    for (char *save = NULL, *pair = strtok_r(copy, ";", &save); pair;
         pair = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(pair, '=');
        *eq = '\0';
        const char *got = hae_event_get_str(ev, pair);
        if (!got) fail_msg("%s: no field %s (wanted '%s')", line, pair, eq + 1);
        if (strcmp(got, eq + 1) != 0) fail_msg("%s: %s is '%s', wanted '%s'", line, pair, got, eq + 1);
    }
}

static void check_cases(const auth_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        hae_event ev;
        hae_err err = {0};
        if (hae_log_parse_line(&ev, HAE_LOGFMT_AUTO, cases[i].line, strlen(cases[i].line), &err)) {
            fail_msg("%s: %s", cases[i].line, err.msg);
        }
        assert_fields(&ev, cases[i].line, cases[i].fields);
        hae_event_clear(&ev);
    }
}

static void test_sshd_messages_name_source_user_method_and_result(void **state) {
    (void)state;
    static const auth_case cases[] = {
        {"Mar  1 02:00:00 bastion sshd[7000]: Failed password for root from 198.51.100.7 port 40000 ssh2",
         "User=root;SourceIp=198.51.100.7;SourcePort=40000;AuthMethod=password;AuthResult=failure"},
        {"Mar  1 02:00:00 bastion sshd[7000]: Failed password for invalid user oracle from 2001:db8::7 port 22 ssh2",
         "User=oracle;SourceIp=2001:db8::7;AuthResult=failure"},
        {"Mar  1 02:05:00 bastion sshd[7100]: Accepted publickey for alice from 203.0.113.5 port 50122 ssh2: ED25519 SHA256:abc",
         "User=alice;SourceIp=203.0.113.5;SourcePort=50122;AuthMethod=publickey;AuthResult=success"},
        {"Mar  1 02:05:00 bastion sshd-session[7100]: Accepted keyboard-interactive/pam for bob from 203.0.113.6 port 2 ssh2",
         "User=bob;AuthMethod=keyboard-interactive/pam;AuthResult=success"},
        {"Mar  1 02:00:00 bastion sshd[7000]: Invalid user admin from 198.51.100.8 port 41000",
         "User=admin;SourceIp=198.51.100.8;AuthResult=invalid_user"},
        {"Mar  1 02:00:00 bastion sshd[7000]: Invalid user  from 198.51.100.8 port 41000",
         "User=;SourceIp=198.51.100.8;AuthResult=invalid_user"},
        {"Mar  1 02:00:00 bastion sshd[7000]: error: maximum authentication attempts exceeded for invalid user x from 198.51.100.9 port 1 ssh2 [preauth]",
         "User=x;SourceIp=198.51.100.9;AuthResult=failure"},
        {"Mar  1 02:00:00 bastion sshd[7000]: Connection closed by authenticating user root 198.51.100.7 port 40010 [preauth]",
         "User=root;SourceIp=198.51.100.7;SourcePort=40010"},
        {"Mar  1 02:00:00 bastion sshd[7000]: Disconnected from user alice 203.0.113.5 port 50122",
         "User=alice;SourceIp=203.0.113.5"},
        {"Mar  1 02:00:00 bastion sshd[7000]: Received disconnect from 198.51.100.7 port 40000:11: Bye [preauth]",
         "SourceIp=198.51.100.7"},
        {"Mar  1 02:00:00 bastion sshd[7000]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7  user=root",
         "PamModule=pam_unix;PamService=sshd;PamType=auth;AuthResult=failure;SourceIp=198.51.100.7;User=root;Tty=ssh"},
        {"Mar  1 02:00:00 bastion sshd[7000]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
         "TargetUser=alice;Action=session_opened"},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_sudo_su_cron_and_account_tools(void **state) {
    (void)state;
    static const auth_case cases[] = {
        {"Mar  1 03:00:00 web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice/my dir ; USER=root ; COMMAND=/usr/bin/id -u",
         "User=alice;Tty=pts/0;CurrentDirectory=/home/alice/my dir;TargetUser=root;CommandLine=/usr/bin/id -u;AuthResult=success"},
        {"Mar  1 03:00:00 web01 sudo:    mallory : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash",
         "User=mallory;SudoError=3 incorrect password attempts;AuthResult=failure;CommandLine=/bin/bash"},
        {"Mar  1 03:00:00 web01 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
         "TargetUser=root;User=alice;PamService=sudo;Action=session_opened"},
        {"Mar  1 03:00:00 web01 su[900]: (to root) alice on pts/0", "TargetUser=root;User=alice;Tty=pts/0;AuthResult=success"},
        {"Mar  1 03:00:00 web01 su[900]: FAILED SU (to root) mallory on pts/1", "TargetUser=root;User=mallory;AuthResult=failure"},
        {"Mar  1 03:00:00 web01 CRON[881]: (root) CMD (cd / && run-parts --report /etc/cron.hourly)",
         "User=root;CommandLine=cd / && run-parts --report /etc/cron.hourly;Action=command_run"},
        {"Mar  1 03:00:00 web01 useradd[1200]: new user: name=backdoor, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0",
         "TargetUser=backdoor;TargetUid=0;Action=user_created"},
        {"Mar  1 03:00:00 web01 groupadd[1199]: new group: name=backdoor, GID=1001", "Group=backdoor;Action=group_created"},
        {"Mar  1 03:00:00 web01 usermod[1300]: add 'backdoor' to group 'sudo'", "TargetUser=backdoor;Group=sudo;Action=group_member_added"},
        {"Mar  1 03:00:00 web01 userdel[1400]: delete user 'backdoor'", "TargetUser=backdoor;Action=user_deleted"},
        {"Mar  1 03:00:00 web01 passwd[1500]: pam_unix(passwd:chauthtok): password changed for alice", "TargetUser=alice;Action=password_changed"},
        {"<86>1 2026-03-01T03:00:00+09:00 web01 sshd 77 - - Accepted password for carol from 192.0.2.4 port 9 ssh2",
         "User=carol;SourceIp=192.0.2.4;AuthResult=success"},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_unknown_messages_and_programs_add_nothing(void **state) {
    (void)state;
    static const char *const lines[] = {
        "Mar  1 02:00:00 bastion sshd[7000]: Server listening on 0.0.0.0 port 22.",
        "Mar  1 02:00:00 bastion sshd[7000]: Failed password for root from",
        "Mar  1 02:00:00 bastion kernel: Failed password for root from 1.2.3.4 port 5 ssh2",
        "Mar  1 02:00:00 bastion sshd[7000]: pam_unix(sshd:auth",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        hae_event ev;
        hae_err err = {0};
        assert_int_equal(hae_log_parse_line(&ev, HAE_LOGFMT_AUTO, lines[i], strlen(lines[i]), &err), HAE_OK);
        if (hae_event_get(&ev, "User") || hae_event_get(&ev, "AuthResult")) fail_msg("%s: parsed", lines[i]);
        hae_event_clear(&ev);
    }
}

/* Backtracking is bounded: a line built to make the templates try every
 * split still parses, in well under the test's timeout. */
static void test_hostile_message_stays_linear(void **state) {
    (void)state;
    static char line[70000];
    size_t n = (size_t)snprintf(line, sizeof line, "Mar  1 03:00:00 web01 sudo: a : ");
    while (n + 8 < sizeof line) n += (size_t)snprintf(line + n, sizeof line - n, " ; TTY=");
    for (int round = 0; round < 50; round++) {
        hae_event ev;
        hae_err err = {0};
        assert_int_equal(hae_log_parse_line(&ev, HAE_LOGFMT_AUTO, line, n, &err), HAE_OK);
        assert_null(hae_event_get(&ev, "AuthResult"));
        hae_event_clear(&ev);
    }
}

int main(void) {
    setenv("TZ", "UTC", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sshd_messages_name_source_user_method_and_result),
        cmocka_unit_test(test_sudo_su_cron_and_account_tools),
        cmocka_unit_test(test_unknown_messages_and_programs_add_nothing),
        cmocka_unit_test(test_hostile_message_stays_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
