/* Bad and awkward input: each problem is reported, the scan goes on, and
 * the report says whether everything was read. Also: nothing in the clear
 * unless asked, and streams cut into chunks lose nothing at the seams. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "fixtures.h"
#include "scope/scope.h"

static const char rrn_line[] = "고객 주민번호 900101-1234568 연락처 010-2345-6789\n";

typedef struct scan_result {
    scope_report report;
    char *findings;
    char *subjects;
} scan_result;

static char *slurp(FILE *f) {
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void scan_dir(const char *dir, bool reveal, bool binary, scan_result *out) {
    FILE *findings = tmpfile(), *subjects = tmpfile();
    assert_non_null(findings);
    assert_non_null(subjects);
    scope_options opt;
    scope_options_default(&opt);
    opt.findings = findings;
    opt.subjects = subjects;
    opt.reveal = reveal;
    opt.scan_binary = binary;
    scope_scanner *s = NULL;
    hae_err err = {0};
    assert_int_equal(scope_scanner_new(&s, &opt, &err), HAE_OK);
    const char *paths[] = {dir};
    assert_int_equal(scope_scan_paths(s, paths, 1, &out->report, &err), HAE_OK);
    out->findings = slurp(findings);
    out->subjects = slurp(subjects);
    fclose(findings);
    fclose(subjects);
    scope_scanner_free(s);
}

static void result_free(scan_result *r) {
    scope_report_free(&r->report);
    free(r->findings);
    free(r->subjects);
}

static bool has_note(const scope_report *r, const char *part) {
    for (size_t i = 0; i < r->note_count; i++) {
        if (strstr(r->notes[i].message, part)) return true;
    }
    return false;
}

static void put(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(fixture_write_file(path, data, len), 0);
}

static void test_nothing_in_the_clear_unless_revealed(void **state) {
    (void)state;
    char *dir = fixture_tempdir("scope-mask");
    put(dir, "a.txt", rrn_line, strlen(rrn_line));
    scan_result r;
    scan_dir(dir, false, false, &r);
    assert_true(r.report.is_complete);
    assert_int_equal(r.report.persons, 1);
    assert_non_null(strstr(r.findings, "900101-1******"));
    assert_null(strstr(r.findings, "1234568"));
    assert_null(strstr(r.subjects, "1234568"));
    assert_null(strstr(r.subjects, "23456789"));
    assert_non_null(strstr(r.subjects, "\"salt\":\""));
    assert_non_null(strstr(r.subjects, "\"kinds\":[\"rrn\",\"phone\"]"));
    result_free(&r);
    scan_dir(dir, true, false, &r);
    assert_non_null(strstr(r.findings, "900101-1234568"));
    assert_non_null(strstr(r.subjects, "\"value\":\"9001011234568\""));
    result_free(&r);
    fixture_rmtree(dir);
    free(dir);
}

static void test_binary_skipped_with_a_note_unless_asked(void **state) {
    (void)state;
    char *dir = fixture_tempdir("scope-binary");
    char blob[256] = "ELF\0\0\0 900101-1234568 ";
    put(dir, "blob.bin", blob, sizeof blob);
    scan_result r;
    scan_dir(dir, false, false, &r);
    assert_false(r.report.is_complete);
    assert_int_equal(r.report.files_skipped, 1);
    assert_true(has_note(&r.report, "binary file skipped"));
    assert_int_equal(r.report.persons, 0);
    result_free(&r);
    scan_dir(dir, false, true, &r);
    assert_true(r.report.is_complete);
    assert_int_equal(r.report.persons, 1);
    result_free(&r);
    fixture_rmtree(dir);
    free(dir);
}

static void test_truncated_gzip_and_zstd_keep_what_was_read(void **state) {
    (void)state;
    char *dir = fixture_tempdir("scope-trunc");
    hae_buf text = {0};
    for (int i = 0; i < 2000; i++) assert_int_equal(hae_buf_append_str(&text, rrn_line), HAE_OK);
    uLongf gz_len = compressBound(text.len) + 64;
    unsigned char *gz = malloc(gz_len);
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)text.data;
    z.avail_in = (uInt)text.len;
    z.next_out = gz;
    z.avail_out = (uInt)gz_len;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    put(dir, "cut.log.gz", gz, z.total_out / 2);
    deflateEnd(&z);
    size_t zs_cap = ZSTD_compressBound(text.len);
    char *zs = malloc(zs_cap);
    size_t zs_len = ZSTD_compress(zs, zs_cap, text.data, text.len, 3);
    assert_false(ZSTD_isError(zs_len));
    put(dir, "cut.log.zst", zs, zs_len - 5);
    scan_result r;
    scan_dir(dir, false, false, &r);
    assert_false(r.report.is_complete);
    assert_true(has_note(&r.report, "truncated gzip"));
    assert_true(has_note(&r.report, "truncated zstd"));
    assert_int_equal(r.report.persons, 1);                        /* found before the cut */
    assert_true(r.report.counts[SCOPE_RRN][SCOPE_HIGH] > 100);
    result_free(&r);
    free(gz);
    free(zs);
    hae_buf_free(&text);
    fixture_rmtree(dir);
    free(dir);
}

static void test_invalid_utf8_noted_and_scanned_as_bytes(void **state) {
    (void)state;
    char *dir = fixture_tempdir("scope-utf8");
    const char text[] = "caf\xe9 \xff\xfe rrn 900101-1234568\n";
    put(dir, "latin.txt", text, sizeof text - 1);
    scan_result r;
    scan_dir(dir, false, false, &r);
    assert_true(r.report.is_complete);
    assert_true(has_note(&r.report, "invalid UTF-8 at byte 3"));
    assert_int_equal(r.report.persons, 1);
    result_free(&r);
    fixture_rmtree(dir);
    free(dir);
}

static void test_missing_and_unreadable_paths_are_failures(void **state) {
    (void)state;
    char *dir = fixture_tempdir("scope-missing");
    put(dir, "ok.txt", rrn_line, strlen(rrn_line));
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    FILE *findings = tmpfile();
    scope_options opt;
    scope_options_default(&opt);
    opt.findings = findings;
    scope_scanner *s = NULL;
    hae_err err = {0};
    assert_int_equal(scope_scanner_new(&s, &opt, &err), HAE_OK);
    const char *paths[] = {missing, dir};
    scope_report r;
    assert_int_equal(scope_scan_paths(s, paths, 2, &r, &err), HAE_OK);
    assert_false(r.is_complete);
    assert_int_equal(r.files_failed, 1);
    assert_int_equal(r.files_scanned, 1);
    assert_int_equal(r.persons, 1);
    scope_report_free(&r);
    scope_scanner_free(s);
    fclose(findings);
    fixture_rmtree(dir);
    free(dir);
}

static int count_finding(void *ctx, const scope_finding *f) {
    size_t *n = ctx;
    if (f->kind == SCOPE_RRN) (*n)++;
    return 0;
}

/* A 20 MB line through the stream path: chunk seams fall inside it, and
 * identifiers placed across every seam are found exactly once. */
static void test_stream_seams_lose_and_duplicate_nothing(void **state) {
    (void)state;
    size_t len = 20u << 20;
    char *text = malloc(len);
    memset(text, 'x', len);
    size_t placed = 0;
    for (size_t at = 1000; at + 20 < len; at += (1u << 20) - 7) {
        memcpy(text + at, " 900101-1234568 ", 16);
        placed++;
    }
    /* and around the seams of the 8 MiB chunks, where the overlap of 320
     * bytes (the longest candidate) decides who reports a candidate */
    static const size_t before_seam[] = {400, 340, 321, 300, 250, 8};
    const size_t seams[] = {8u << 20, (16u << 20) - 321};
    for (size_t k = 0; k < 2; k++) {
        for (size_t d = 0; d < sizeof before_seam / sizeof before_seam[0]; d++) {
            memcpy(text + seams[k] - before_seam[d], " 900101-1234568 ", 16);
            placed++;
        }
    }
    uLongf gz_len = compressBound(len);
    unsigned char *gz = malloc(gz_len);
    assert_int_equal(compress2(gz, &gz_len, (Bytef *)text, len, 1), Z_OK); /* zlib, not gzip */
    /* wrap as gzip so the stream path decodes it */
    z_stream z = {0};
    size_t cap = compressBound(len) + 64;
    unsigned char *gzip = malloc(cap);
    assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)text;
    z.avail_in = (uInt)len;
    z.next_out = gzip;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    scope_options opt;
    scope_options_default(&opt);
    scope_scanner *s = NULL;
    hae_err err = {0};
    assert_int_equal(scope_scanner_new(&s, &opt, &err), HAE_OK);
    size_t found = 0;
    scope_report r;
    assert_int_equal(scope_scan_memory(s, "long.gz", SCOPE_FMT_AUTO, gzip, z.total_out,
                                       count_finding, &found, &r, &err), HAE_OK);
    assert_int_equal(found, placed);
    found = 0;
    scope_report_free(&r);
    assert_int_equal(scope_scan_memory(s, "long.txt", SCOPE_FMT_AUTO, text, len, count_finding,
                                       &found, &r, &err), HAE_OK);
    assert_int_equal(found, placed);
    deflateEnd(&z);
    scope_report_free(&r);
    scope_scanner_free(s);
    free(gzip);
    free(gz);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_in_the_clear_unless_revealed),
        cmocka_unit_test(test_binary_skipped_with_a_note_unless_asked),
        cmocka_unit_test(test_truncated_gzip_and_zstd_keep_what_was_read),
        cmocka_unit_test(test_invalid_utf8_noted_and_scanned_as_bytes),
        cmocka_unit_test(test_missing_and_unreadable_paths_are_failures),
        cmocka_unit_test(test_stream_seams_lose_and_duplicate_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
