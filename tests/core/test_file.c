#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "fixtures.h"

static void test_atomic_write_replaces_with_mode_and_leaves_no_temp(void **state) {
    (void)state;
    char *dir = fixture_tempdir("file");
    char *path = NULL;
    assert_true(asprintf(&path, "%s/state.json", dir) > 0);
    hae_err err = {0};
    assert_int_equal(hae_file_write_atomic(path, "old\n", 4, 0644, &err), HAE_OK);
    assert_int_equal(hae_file_write_atomic(path, "new\n", 4, 0600, &err), HAE_OK);
    hae_buf got = {0};
    assert_int_equal(hae_file_read_all(path, &got, &err), HAE_OK);
    assert_string_equal(got.data, "new\n");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    hae_buf listing = {0};
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "ls -A %s", dir) > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[256];
    while (fgets(line, sizeof line, p)) hae_buf_append_str(&listing, line);
    pclose(p);
    assert_string_equal(listing.data, "state.json\n"); /* no temporary left */
    hae_buf_free(&listing);
    free(cmd);
    hae_buf_free(&got);
    fixture_rmtree(dir);
    free(path);
    free(dir);
}

static void test_atomic_write_into_missing_directory_fails_cleanly(void **state) {
    (void)state;
    hae_err err = {0};
    assert_int_equal(hae_file_write_atomic("/nonexistent-haetae/x", "a", 1, 0600, &err),
                     HAE_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent-haetae/x.tmp."));
}

static void test_read_all_reads_proc_files_of_size_zero(void **state) {
    (void)state;
    hae_buf got = {0};
    hae_err err = {0};
    assert_int_equal(hae_file_read_all("/proc/self/status", &got, &err), HAE_OK);
    assert_non_null(strstr(got.data, "Pid:"));
    hae_buf_free(&got);
    assert_int_equal(hae_file_read_all("/nonexistent-haetae", &got, &err), HAE_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent-haetae: No such file"));
}

static void test_utf8_validity_follows_rfc3629(void **state) {
    (void)state;
    assert_true(hae_utf8_is_valid("해태 ok", strlen("해태 ok")));
    assert_false(hae_utf8_is_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(hae_utf8_is_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(hae_utf8_is_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(hae_utf8_is_valid("\xe2\x82", 2));         /* truncated */
    assert_int_equal(hae_utf8_sequence_length((const unsigned char *)"\xf0\x9f\x90\x89", 4), 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_write_replaces_with_mode_and_leaves_no_temp),
        cmocka_unit_test(test_atomic_write_into_missing_directory_fails_cleanly),
        cmocka_unit_test(test_read_all_reads_proc_files_of_size_zero),
        cmocka_unit_test(test_utf8_validity_follows_rfc3629),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
