/* detect's YARA rule sets (detect_yara_*): compile errors name the file and
 * line, files and buffers are scanned, a rule matches exactly where its
 * strings occur. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/detect.h"
#include "fixtures.h"

typedef struct seen {
    int count;
    char rule[64], tag[32], ns[64];
    hae_severity severity;
} seen;

static int on_hit(void *ctx, const char *rule, const char *ns, const char *const *tags,
                  size_t tag_count, hae_severity severity, hae_err *err) {
    (void)err;
    seen *s = ctx;
    s->severity = severity;
    snprintf(s->ns, sizeof s->ns, "%s", ns);
    s->count++;
    snprintf(s->rule, sizeof s->rule, "%s", rule);
    snprintf(s->tag, sizeof s->tag, "%s", tag_count ? tags[0] : "");
    return 0;
}

static char *write_temp(const char *suffix, const char *text, size_t len) {
    char *path = NULL;
    assert_true(asprintf(&path, "/tmp/haetae-yara-set-XXXXXX%s", suffix) > 0);
    int fd = mkstemps(path, (int)strlen(suffix));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static const char rules[] =
    "rule Mutex_File : bpfdoor\n{\n  meta:\n    severity = \"critical\"\n  strings:\n    $m = \"/var/run/haldrund.pid\"\n"
    "  condition:\n    $m\n}\n";

static void test_compile_error_names_file_and_line(void **state) {
    (void)state;
    static const char text[] = "rule ok { condition: true }\n\nrule bad { condition: $nope }\n";
    char *path = write_temp(".yar", text, sizeof text - 1);
    detect_yara *y = NULL;
    hae_err err = {0};
    assert_int_equal(detect_yara_new(&y, (const char *const *)&path, 1, &err), HAE_EINVAL);
    assert_null(y);
    char want[300];
    snprintf(want, sizeof want, "%s:3: ", path);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("error was: %s", err.msg);
    unlink(path);
    free(path);
}

static void test_file_matches_and_other_file_does_not(void **state) {
    (void)state;
    char *rule_path = write_temp(".yar", rules, sizeof rules - 1);
    detect_yara *y = NULL;
    hae_err err = {0};
    assert_int_equal(detect_yara_new(&y, (const char *const *)&rule_path, 1, &err), HAE_OK);
    assert_int_equal(detect_yara_rule_count(y), 1);
    static const char evil[] = "\x7f" "ELF....lock at /var/run/haldrund.pid\n";
    static const char benign[] = "\x7f" "ELF....lock at /var/run/sshd.pid\n";
    char *evil_path = write_temp(".bin", evil, sizeof evil - 1);
    char *benign_path = write_temp(".bin", benign, sizeof benign - 1);
    seen s = {0};
    assert_int_equal(detect_yara_scan_file(y, evil_path, on_hit, &s, &err), HAE_OK);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.rule, "Mutex_File");
    assert_string_equal(s.tag, "bpfdoor");
    assert_int_equal(s.severity, HAE_SEV_CRITICAL);
    assert_int_equal(detect_yara_scan_file(y, benign_path, on_hit, &s, &err), HAE_OK);
    assert_int_equal(s.count, 1);
    assert_int_not_equal(detect_yara_scan_file(y, "/nonexistent/haetae", on_hit, &s, &err), HAE_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/haetae"));
    detect_yara_free(y);
    unlink(rule_path);
    unlink(evil_path);
    unlink(benign_path);
    free(rule_path);
    free(evil_path);
    free(benign_path);
}

static void test_buffer_scan_matches_only_with_the_string(void **state) {
    (void)state;
    char *rule_path = write_temp(".yar", rules, sizeof rules - 1);
    detect_yara *y = NULL;
    hae_err err = {0};
    assert_int_equal(detect_yara_new(&y, (const char *const *)&rule_path, 1, &err), HAE_OK);
    seen s = {0};
    static const char hit[] = "touch /var/run/haldrund.pid";
    assert_int_equal(detect_yara_scan_buffer(y, hit, sizeof hit - 1, on_hit, &s, &err), HAE_OK);
    assert_int_equal(s.count, 1);
    /* one byte short of the string */
    assert_int_equal(detect_yara_scan_buffer(y, hit, sizeof hit - 2, on_hit, &s, &err), HAE_OK);
    assert_int_equal(s.count, 1);
    assert_int_equal(detect_yara_scan_buffer(y, "", 0, on_hit, &s, &err), HAE_OK);
    assert_int_equal(s.count, 1);
    detect_yara_free(y);
    unlink(rule_path);
    free(rule_path);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* A directory stands for its .yar/.yara files (other files are skipped),
 * each compiled in a namespace named after it; no rule file is an error. */
static void test_directory_expands_to_its_rule_files(void **state) {
    (void)state;
    char dir[] = "/tmp/haetae-yara-dir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[300], b[300], notes[300];
    snprintf(a, sizeof a, "%s/mutex.yar", dir);
    snprintf(b, sizeof b, "%s/other.yara", dir);
    snprintf(notes, sizeof notes, "%s/notes.txt", dir);
    write_file(notes, "rule broken {");
    const char *dirs[] = {dir};
    detect_yara *y = NULL;
    hae_err err = {0};
    assert_int_equal(detect_yara_new(&y, dirs, 1, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, dir));
    write_file(a, rules);
    write_file(b, "rule Other { strings: $o = \"kdmtmpflush\" condition: $o }\n");
    assert_int_equal(detect_yara_new(&y, dirs, 1, &err), HAE_OK);
    assert_int_equal(detect_yara_rule_count(y), 2);
    seen s = {0};
    static const char hit[] = "touch /var/run/haldrund.pid";
    assert_int_equal(detect_yara_scan_buffer(y, hit, sizeof hit - 1, on_hit, &s, &err), HAE_OK);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ns, "mutex");
    detect_yara_free(y);
    unlink(a);
    unlink(b);
    unlink(notes);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_error_names_file_and_line),
        cmocka_unit_test(test_file_matches_and_other_file_does_not),
        cmocka_unit_test(test_buffer_scan_matches_only_with_the_string),
        cmocka_unit_test(test_directory_expands_to_its_rule_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
