/* fim baseline + check on temporary trees: every change the check must
 * name, and the files it must survive (odd names, loops, FIFOs, unreadable). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fim_test_util.h"

#define SHA256_HELLO "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define SHA256_BYE "abc6fd595fc079d3114d4b71a4d84b1d1d0f79df1e70f8813212f2a65d8916df"

static void build(fim_tree *t) {
    hae_err err = {0};
    int rc = fim_baseline_build(&t->opt, t->baseline, &t->sink, &err);
    if (rc != HAE_OK) fail_msg("baseline: %s", err.msg);
    collector_free(&t->events);
}

static void check(fim_tree *t) {
    hae_err err = {0};
    int rc = fim_baseline_check(&t->opt, t->baseline, &t->sink, &err);
    if (rc != HAE_OK) fail_msg("check: %s", err.msg);
}

static void test_unchanged_tree_reports_nothing(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-same");
    build(t);
    check(t);
    if (t->events.count) fim_print_events(t);
    assert_int_equal(t->events.count, 0);
    fim_tree_free(t);
}

static void test_created_file_is_fim_created(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-create");
    build(t);
    fim_tree_write(t, "new.txt", "hello\n");
    check(t);
    char *p = fim_tree_path(t, "new.txt");
    const hae_event *ev = fim_find(t, "fim.created", p);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "NewSha256"), SHA256_HELLO);
    assert_string_equal(hae_event_get_str(ev, "severity"), "low");
    assert_int_equal(fim_count_above_info(t), 1);
    free(p);
    fim_tree_free(t);
}

static void test_modified_content_is_fim_modified_with_both_hashes(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-modify");
    build(t);
    fim_tree_write(t, "notes.txt", "bye\n");
    check(t);
    char *p = fim_tree_path(t, "notes.txt");
    const hae_event *ev = fim_find(t, "fim.modified", p);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "OldSha256"), SHA256_HELLO);
    assert_string_equal(hae_event_get_str(ev, "NewSha256"), SHA256_BYE);
    assert_string_equal(hae_event_get_str(ev, "OldSize"), "6");
    assert_string_equal(hae_event_get_str(ev, "NewSize"), "4");
    assert_int_equal(fim_count_above_info(t), 1);
    free(p);
    fim_tree_free(t);
}

static void test_same_size_rewrite_is_caught_by_hash(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-samesize");
    build(t);
    fim_tree_write(t, "notes.txt", "hellp\n");
    check(t);
    char *p = fim_tree_path(t, "notes.txt");
    assert_int_equal(fim_count(t, "fim.modified", p), 1);
    free(p);
    fim_tree_free(t);
}

static void test_deleted_file_is_fim_deleted(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-delete");
    build(t);
    char *p = fim_tree_path(t, "notes.txt");
    assert_int_equal(unlink(p), 0);
    check(t);
    const hae_event *ev = fim_find(t, "fim.deleted", p);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "OldSha256"), SHA256_HELLO);
    assert_int_equal(fim_count_above_info(t), 1);
    free(p);
    fim_tree_free(t);
}

static void test_rename_links_the_old_and_new_names(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-rename");
    build(t);
    char *from = fim_tree_path(t, "notes.txt");
    char *to = fim_tree_path(t, "notes.txt.locked");
    assert_int_equal(rename(from, to), 0);
    check(t);
    const hae_event *created = fim_find(t, "fim.created", to);
    const hae_event *deleted = fim_find(t, "fim.deleted", from);
    assert_non_null(created);
    assert_non_null(deleted);
    assert_string_equal(hae_event_get_str(created, "RenamedFrom"), from);
    assert_string_equal(hae_event_get_str(deleted, "RenamedTo"), to);
    free(from);
    free(to);
    fim_tree_free(t);
}

static void test_chmod_setuid_is_fim_suid_high(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-suid");
    fim_tree_write(t, "tool", "#!/bin/sh\n");
    char *p = fim_tree_path(t, "tool");
    assert_int_equal(chmod(p, 0755), 0);
    build(t);
    assert_int_equal(chmod(p, 04755), 0);
    check(t);
    const hae_event *ev = fim_find(t, "fim.suid", p);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "severity"), "high");
    assert_string_equal(hae_event_get_str(ev, "OldMode"), "0755");
    assert_string_equal(hae_event_get_str(ev, "NewMode"), "4755");
    assert_int_equal(fim_count(t, "fim.permissions", p), 1);
    assert_int_equal(fim_count(t, "fim.modified", p), 0);
    free(p);
    fim_tree_free(t);
}

static void test_new_setgid_file_is_fim_suid(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-sgid");
    build(t);
    fim_tree_write(t, "dropper", "\x7f" "ELF");
    char *p = fim_tree_path(t, "dropper");
    assert_int_equal(chmod(p, 02755), 0);
    check(t);
    assert_int_equal(fim_count(t, "fim.suid", p), 1);
    free(p);
    fim_tree_free(t);
}

static void test_webshell_drop_in_web_root_is_critical(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-webshell");
    build(t);
    fim_tree_write(t, "www/up.PhP", "<?php system($_GET['c']); ?>\n");
    fim_tree_write(t, "www/style.css", "body{}\n");
    fim_tree_write(t, "outside.php", "<?php ?>\n");
    check(t);
    char *shell = fim_tree_path(t, "www/up.PhP");
    char *css = fim_tree_path(t, "www/style.css");
    char *outside = fim_tree_path(t, "outside.php");
    const hae_event *ev = fim_find(t, "fim.webshell", shell);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "severity"), "critical");
    assert_int_equal(fim_count(t, "fim.webshell", css), 0);
    assert_int_equal(fim_count(t, "fim.webshell", outside), 0);
    assert_int_equal(fim_count(t, "fim.webshell", NULL), 1);
    free(shell);
    free(css);
    free(outside);
    fim_tree_free(t);
}

static void test_exec_bit_added_in_web_root_is_webshell(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-webexec");
    build(t);
    char *p = fim_tree_path(t, "www/index.html");
    assert_int_equal(chmod(p, 0755), 0);
    check(t);
    assert_int_equal(fim_count(t, "fim.webshell", p), 1);
    assert_int_equal(fim_count(t, "fim.permissions", p), 1);
    free(p);
    fim_tree_free(t);
}

static void test_change_under_etc_prefix_is_medium(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-etc");
    build(t);
    fim_tree_write(t, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\nevil:x:0:0::/:/bin/sh\n");
    fim_tree_write(t, "etc/ld.so.preload", "/tmp/x.so\n");
    check(t);
    char *passwd = fim_tree_path(t, "etc/passwd");
    char *preload = fim_tree_path(t, "etc/ld.so.preload");
    const hae_event *ev = fim_find(t, "fim.etc_changed", passwd);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "severity"), "medium");
    assert_int_equal(fim_count(t, "fim.etc_changed", preload), 1);
    assert_int_equal(fim_count(t, "fim.etc_changed", NULL), 2);
    free(passwd);
    free(preload);
    fim_tree_free(t);
}

static void test_names_with_newline_and_invalid_utf8_survive(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-names");
    fim_tree_write(t, "line\nbreak", "hello\n");
    fim_tree_write(t, "caf\xe9", "hello\n");
    build(t);
    check(t);
    assert_int_equal(t->events.count, 0); /* both names read back exactly */
    fim_tree_write(t, "line\nbreak", "bye\n");
    fim_tree_write(t, "caf\xe9", "bye\n");
    check(t);
    char *newline = fim_tree_path(t, "line\nbreak");
    char *latin1 = fim_tree_path(t, "caf\xe9");
    assert_int_equal(fim_count(t, "fim.modified", newline), 1);
    assert_int_equal(fim_count(t, "fim.modified", latin1), 1);
    assert_int_equal(fim_count(t, "fim.created", NULL), 0);
    free(newline);
    free(latin1);
    fim_tree_free(t);
}

static void test_symlink_loop_is_recorded_not_followed(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-loop");
    char *a = fim_tree_path(t, "a");
    char *b = fim_tree_path(t, "b");
    char *self = fim_tree_path(t, "www/self");
    assert_int_equal(symlink("b", a), 0);
    assert_int_equal(symlink("a", b), 0);
    assert_int_equal(symlink(".", self), 0); /* directory loop */
    build(t);
    check(t);
    assert_int_equal(t->events.count, 0);
    assert_int_equal(unlink(a), 0);
    assert_int_equal(symlink("/etc/shadow", a), 0);
    check(t);
    const hae_event *ev = fim_find(t, "fim.modified", a);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "OldLinkTarget"), "b");
    assert_string_equal(hae_event_get_str(ev, "NewLinkTarget"), "/etc/shadow");
    free(a);
    free(b);
    free(self);
    fim_tree_free(t);
}

static void test_fifo_is_recorded_without_blocking(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-fifo");
    char *fifo = fim_tree_path(t, "pipe");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    build(t);
    check(t);
    assert_int_equal(t->events.count, 0);
    free(fifo);
    fim_tree_free(t);
}

/* Run as an unprivileged user (root reads everything): the unreadable file
 * is reported as fim.error naming it, and the rest is still baselined. */
static void test_unreadable_file_is_reported_and_scan_goes_on(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-unreadable");
    fim_tree_write(t, "secret", "top secret\n");
    char *secret = fim_tree_path(t, "secret");
    assert_int_equal(chmod(secret, 0), 0);
    assert_int_equal(chmod(t->dir, 0777), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(10);
        hae_err err = {0};
        collected_events ev = {0};
        hae_sink sink = collector_sink(&ev);
        if (fim_baseline_build(&t->opt, t->baseline, &sink, &err) != HAE_OK) _exit(11);
        const hae_event *e = collector_find(&ev, "rule", "fim.error");
        if (!e || strcmp(hae_event_get_str(e, "TargetFilename"), secret) != 0) _exit(12);
        if (!strstr(hae_event_get_str(e, "Reason"), "ermission")) _exit(13);
        collector_free(&ev);
        if (fim_baseline_check(&t->opt, t->baseline, &sink, &err) != HAE_OK) _exit(14);
        /* unreadable both times: no false fim.modified */
        if (collector_count(&ev, "rule", "fim.modified") != 0) _exit(15);
        if (collector_count(&ev, "rule", "fim.error") != 1) _exit(16);
        collector_free(&ev);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(secret);
    fim_tree_free(t);
}

static void test_missing_root_is_an_error_finding(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-noroot");
    const char *roots[] = {t->root, "/nonexistent/haetae-fim-root"};
    t->opt.roots = roots;
    t->opt.root_count = 2;
    build(t);
    check(t);
    assert_int_equal(fim_count(t, "fim.error", "/nonexistent/haetae-fim-root"), 1);
    assert_int_equal(fim_count_above_info(t), 0);
    fim_tree_free(t);
}

static void test_canary_change_is_found_by_check(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-canary-check");
    t->opt.canary_list = t->canaries;
    hae_err err = {0};
    assert_int_equal(fim_canary_plant(&t->opt, &t->sink, &err), HAE_OK);
    assert_int_equal(fim_count(t, "fim.canary_planted", NULL), 2);
    char *canary = strdup(hae_event_get_str(fim_find(t, "fim.canary_planted", NULL),
                                            "TargetFilename"));
    build(t);
    assert_int_equal(unlink(canary), 0);
    check(t);
    assert_int_equal(fim_count(t, "fim.canary", canary), 1);
    free(canary);
    fim_tree_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unchanged_tree_reports_nothing),
        cmocka_unit_test(test_created_file_is_fim_created),
        cmocka_unit_test(test_modified_content_is_fim_modified_with_both_hashes),
        cmocka_unit_test(test_same_size_rewrite_is_caught_by_hash),
        cmocka_unit_test(test_deleted_file_is_fim_deleted),
        cmocka_unit_test(test_rename_links_the_old_and_new_names),
        cmocka_unit_test(test_chmod_setuid_is_fim_suid_high),
        cmocka_unit_test(test_new_setgid_file_is_fim_suid),
        cmocka_unit_test(test_webshell_drop_in_web_root_is_critical),
        cmocka_unit_test(test_exec_bit_added_in_web_root_is_webshell),
        cmocka_unit_test(test_change_under_etc_prefix_is_medium),
        cmocka_unit_test(test_names_with_newline_and_invalid_utf8_survive),
        cmocka_unit_test(test_symlink_loop_is_recorded_not_followed),
        cmocka_unit_test(test_fifo_is_recorded_without_blocking),
        cmocka_unit_test(test_unreadable_file_is_reported_and_scan_goes_on),
        cmocka_unit_test(test_missing_root_is_an_error_finding),
        cmocka_unit_test(test_canary_change_is_found_by_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
