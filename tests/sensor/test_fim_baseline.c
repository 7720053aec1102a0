/* The fim baseline file: round trip, and every kind of damage rejected
 * with a message naming the file and the record. Also fim_entropy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fim_test_util.h"
#include "sensor/fim_internal.h"

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    unsigned char *data = malloc((size_t)size);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return data;
}

static void write_all(const char *path, const unsigned char *data, size_t len) {
    assert_int_equal(fixture_write_file(path, data, len), 0);
}

static fim_tree *built_tree(void) {
    fim_tree *t = fim_tree_new("fimb");
    fim_tree_write(t, "odd\nname\xff", "x");
    char *link = fim_tree_path(t, "link");
    assert_int_equal(symlink("notes.txt", link), 0);
    free(link);
    hae_err err = {0};
    assert_int_equal(fim_baseline_build(&t->opt, t->baseline, &t->sink, &err), HAE_OK);
    return t;
}

/* Expects check to fail with HAE_EINVAL and a message containing each needle. */
static void assert_rejected(fim_tree *t, const char *needle1, const char *needle2) {
    hae_err err = {0};
    collector_free(&t->events);
    assert_int_equal(fim_baseline_check(&t->opt, t->baseline, &t->sink, &err), HAE_EINVAL);
    printf("  rejected: %s\n", err.msg);
    assert_non_null(strstr(err.msg, t->baseline));
    assert_non_null(strstr(err.msg, needle1));
    if (needle2) assert_non_null(strstr(err.msg, needle2));
    assert_int_equal(t->events.count, 0); /* no findings from a bad baseline */
}

static void test_baseline_round_trips_every_field(void **state) {
    (void)state;
    fim_tree *t = built_tree();
    fim_entries list = {0};
    hae_err err = {0};
    assert_int_equal(fim_baseline_load(t->baseline, &list, &err), HAE_OK);
    /* tree, www, www/index.html, etc, etc/passwd, notes.txt, odd name, link */
    assert_int_equal(list.count, 8);
    char *odd = fim_tree_path(t, "odd\nname\xff");
    const fim_entry *e = fim_entries_find(&list, odd);
    assert_non_null(e);
    assert_int_equal(e->type, FIM_TYPE_REGULAR);
    assert_int_equal(e->size, 1);
    assert_true(e->flags & FIM_HAS_HASH);
    char *link = fim_tree_path(t, "link");
    e = fim_entries_find(&list, link);
    assert_non_null(e);
    assert_int_equal(e->type, FIM_TYPE_SYMLINK);
    assert_string_equal(e->link_target, "notes.txt");
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_int_equal(e->inode, st.st_ino);
    assert_int_equal(e->mtime_ns, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    fim_entries_free(&list);
    free(odd);
    free(link);
    fim_tree_free(t);
}

static void test_truncated_baseline_is_rejected(void **state) {
    (void)state;
    fim_tree *t = built_tree();
    size_t len;
    unsigned char *data = read_all(t->baseline, &len);
    write_all(t->baseline, data, len - 20); /* inside the trailer */
    assert_rejected(t, "truncated", NULL);
    write_all(t->baseline, data, len / 2); /* inside a record */
    assert_rejected(t, "record", "truncated");
    free(data);
    fim_tree_free(t);
}

static void test_flipped_byte_names_the_record(void **state) {
    (void)state;
    fim_tree *t = built_tree();
    size_t len;
    unsigned char *data = read_all(t->baseline, &len);
    data[len - 60] ^= 0x40; /* a name byte in the last record */
    write_all(t->baseline, data, len);
    assert_rejected(t, "record 7 at offset", "checksum mismatch");
    free(data);
    fim_tree_free(t);
}

static void test_dropped_record_is_caught_by_the_trailer(void **state) {
    (void)state;
    fim_tree *t = built_tree();
    size_t len;
    unsigned char *data = read_all(t->baseline, &len);
    fim_entries list = {0};
    hae_err err = {0};
    assert_int_equal(fim_baseline_parse(data, len, "mem", &list, &err), HAE_OK);
    /* the first record begins right after the header; cut it out */
    size_t header = 8 + 4 + 8 + 4 + 4 + strlen(t->root) + 4;
    assert_int_equal(data[header], 'R');
    size_t body = data[header + 1] | (size_t)data[header + 2] << 8;
    size_t record = 1 + 4 + body + 4;
    memmove(data + header, data + header + record, len - header - record);
    write_all(t->baseline, data, len - record);
    assert_rejected(t, "counts 8 records, file holds 7", NULL);
    fim_entries_free(&list);
    free(data);
    fim_tree_free(t);
}

static void test_wrong_magic_and_trailing_bytes_are_rejected(void **state) {
    (void)state;
    fim_tree *t = built_tree();
    size_t len;
    unsigned char *data = read_all(t->baseline, &len);
    unsigned char *longer = malloc(len + 3);
    assert_non_null(longer);
    memcpy(longer, data, len);
    memcpy(longer + len, "xyz", 3);
    write_all(t->baseline, longer, len + 3);
    assert_rejected(t, "3 unexpected bytes after the trailer", NULL);
    data[0] = 'X';
    write_all(t->baseline, data, len);
    assert_rejected(t, "not a haetae fim baseline", NULL);
    write_all(t->baseline, (const unsigned char *)"", 0);
    hae_err err = {0};
    assert_int_equal(fim_baseline_check(&t->opt, t->baseline, &t->sink, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "truncated"));
    free(longer);
    free(data);
    fim_tree_free(t);
}

static void test_missing_baseline_names_the_file(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fimb-missing");
    hae_err err = {0};
    assert_int_equal(fim_baseline_check(&t->opt, t->baseline, &t->sink, &err), HAE_ENOENT);
    assert_non_null(strstr(err.msg, t->baseline));
    fim_tree_free(t);
}

static void test_build_replaces_atomically_and_leaves_no_temp(void **state) {
    (void)state;
    fim_tree *t = built_tree();
    hae_err err = {0};
    assert_int_equal(fim_baseline_build(&t->opt, t->baseline, &t->sink, &err), HAE_OK);
    char *pattern = NULL;
    assert_true(asprintf(&pattern, "%s/base.db.tmp.", t->dir) > 0);
    FILE *ls = NULL;
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "ls -a '%s' | grep -c tmp", t->dir) > 0);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    int count = -1;
    assert_int_equal(fscanf(ls, "%d", &count), 1);
    pclose(ls);
    assert_int_equal(count, 0);
    free(cmd);
    free(pattern);
    fim_tree_free(t);
}

static void test_entropy_of_uniform_and_constant_bytes(void **state) {
    (void)state;
    unsigned char bytes[4096];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)i;
    assert_true(fabs(fim_entropy(bytes, sizeof bytes) - 8.0) < 1e-9);
    memset(bytes, 'a', sizeof bytes);
    assert_true(fim_entropy(bytes, sizeof bytes) == 0.0);
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(i % 2);
    assert_true(fabs(fim_entropy(bytes, sizeof bytes) - 1.0) < 1e-9);
    assert_true(fim_entropy(bytes, 0) == 0.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_round_trips_every_field),
        cmocka_unit_test(test_truncated_baseline_is_rejected),
        cmocka_unit_test(test_flipped_byte_names_the_record),
        cmocka_unit_test(test_dropped_record_is_caught_by_the_trailer),
        cmocka_unit_test(test_wrong_magic_and_trailing_bytes_are_rejected),
        cmocka_unit_test(test_missing_baseline_names_the_file),
        cmocka_unit_test(test_build_replaces_atomically_and_leaves_no_temp),
        cmocka_unit_test(test_entropy_of_uniform_and_constant_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
