/* The prefilter (src/scope/prefilter.c) narrows what Hyperscan scans; it
 * must never change what is found. Each test scans the same bytes with the
 * prefilter and exhaustively (Hyperscan over every byte) and asserts the
 * same findings, on seeded text built to sit on the prefilter's edges:
 * identifiers glued to digit runs, separators, passport letters after
 * letters and digits, '@' without a domain, runs across 64-byte blocks,
 * candidates at the very start and end of the buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scope/scope_int.h"

typedef struct collected {
    hae_buf lines;
    size_t count;
} collected;

static int collect(void *ctx, const scope_finding *f) {
    collected *c = ctx;
    c->count++;
    return hae_buf_printf(&c->lines, "%llu %llu %s %.3f %.*s %.*s\n", (unsigned long long)f->offset,
                          (unsigned long long)f->record_offset, scope_kind_name(f->kind),
                          (double)f->confidence, (int)f->norm_len, f->norm,
                          (int)f->column_len, f->column ? f->column : "");
}

/* Two scanners, compiled once: one exhaustive, one prefiltered. */
static scope_scanner *scanners[2];

static int setup(void **state) {
    (void)state;
    scope_options opt;
    scope_options_default(&opt);
    opt.min_confidence = 0.0f;
    hae_err err = {0};
    for (int i = 0; i < 2; i++) {
        if (scope_scanner_new(&scanners[i], &opt, &err) < 0) return -1;
        scanners[i]->is_exhaustive = i == 0;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++) scope_scanner_free(scanners[i]);
    return 0;
}

static void scan(const char *name, const char *data, size_t len, bool is_exhaustive,
                 collected *out) {
    hae_err err = {0};
    scope_report r;
    assert_int_equal(scope_scan_memory(scanners[is_exhaustive ? 0 : 1], name, SCOPE_FMT_AUTO, data,
                                       len, collect, out, &r, &err),
                     HAE_OK);
    scope_report_free(&r);
}

/* Returns how many findings both scans made. */
static size_t assert_same_findings(const char *name, const char *data, size_t len) {
    collected full = {0}, filtered = {0};
    scan(name, data, len, true, &full);
    scan(name, data, len, false, &filtered);
    if (full.lines.len != filtered.lines.len ||
        (full.lines.len && memcmp(full.lines.data, filtered.lines.data, full.lines.len) != 0)) {
        print_message("exhaustive:\n%.*s\nprefiltered:\n%.*s\n", (int)full.lines.len,
                      full.lines.data ? full.lines.data : "", (int)filtered.lines.len,
                      filtered.lines.data ? filtered.lines.data : "");
    }
    assert_int_equal(full.count, filtered.count);
    assert_int_equal(full.lines.len, filtered.lines.len);
    if (full.lines.len) assert_memory_equal(full.lines.data, filtered.lines.data, full.lines.len);
    hae_buf_free(&full.lines);
    hae_buf_free(&filtered.lines);
    return full.count;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* Valid identifiers of every kind, and shapes that nearly are. */
static const char *const pieces[] = {
    "900101-1234568", "9001011234568", "4111 1111 1111 1111", "4111-1111-1111-1111",
    "4111111111111111", "010-2345-6789", "01023456789", "+82 10-2345-6789", "+82 (0)2-345-6789",
    "02-345-6789", "kim.lee@example.co.kr", "a@b.cd", "@x.1234567890", "M12345678", "M123A4567",
    "GM12345678", "350000000000005", "35-000000-000000-5", "450051234567890",
    "8982000000000000006", "계좌 110-123-456789", "account 1234567890", "CREATE TABLE t (a int)",
    "create table `u` (`phone` text)", "2024-05-01 12:00:00", "10.100.200.250", "12345678",
    "123456789", "1234567890", "123456789012345678901", "-", " ", ".", "(", ")", "+", "0",
    "x", "@", "\n", "주민번호 ", "phone=", ",", "'", "(", "),(", "INSERT INTO t VALUES (",
};

static size_t build(char *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        if (n + l > cap) break;
        memcpy(buf + n, p, l);
        n += l;
        if (rnd(3) == 0 && n < cap) buf[n++] = "0123456789 -.x@M,\n"[rnd(18)];
    }
    return n;
}

static void test_prefilter_finds_what_a_full_scan_finds(void **state) {
    (void)state;
    static const char *const names[] = {"a.txt", "a.csv", "a.sql", "a.jsonl"};
    char *buf = malloc(8192);
    assert_non_null(buf);
    size_t found = 0;
    for (unsigned round = 0; round < 300; round++) {
        size_t len = build(buf, 64 + rnd(8000));
        found += assert_same_findings(names[round % 4], buf, len);
    }
    print_message("prefilter: %zu findings, the same with and without\n", found);
    assert_true(found > 10000); /* the text is dense with identifiers */
    free(buf);
}

static void test_prefilter_edges_of_buffer_and_blocks(void **state) {
    (void)state;
    char buf[512];
    /* an identifier at the start, the end, and across every 64-byte border */
    for (size_t at = 0; at + 14 <= 200; at++) {
        memset(buf, 'x', 200);
        memcpy(buf + at, "900101-1234568", 14);
        assert_same_findings("a.txt", buf, 200);
        memset(buf, ' ', 200);
        memcpy(buf + at, "4111111111111111", 16 <= 200 - at ? 16 : 14);
        assert_same_findings("a.txt", buf, 200);
    }
    /* a run of digits that spans many blocks holds no candidate */
    memset(buf, '7', sizeof buf);
    assert_same_findings("a.txt", buf, sizeof buf);
}

static void test_prefilter_skips_text_without_candidates(void **state) {
    (void)state;
    scope_options opt;
    scope_options_default(&opt);
    scope_scanner *s = NULL;
    hae_err err = {0};
    assert_int_equal(scope_scanner_new(&s, &opt, &err), HAE_OK);
    scope_worker w;
    assert_int_equal(scope_worker_init(&w, s), HAE_OK);
    const char *text = "GET /api/v1/items/12345 200 took=12ms at 2024-05-01 (no identifiers)\n";
    assert_int_equal(scope_prefilter(&w, text, strlen(text)), HAE_OK);
    assert_int_equal(w.region_count, 0);
    const char *one = "call me at 010-2345-6789 please, or mail kim@example.com\n";
    assert_int_equal(scope_prefilter(&w, one, strlen(one)), HAE_OK);
    assert_int_equal(w.region_count, 2); /* further apart than SCOPE_PREFILTER_GAP */
    assert_int_equal(w.regions[0].start, 9); /* the byte before the run " 010-2345-6789 " */
    assert_int_equal(w.regions[0].end, 26);  /* and the byte after */
    assert_int_equal(w.regions[1].start, strlen("call me at 010-2345-6789 please, or mail kim"));
    assert_int_equal(w.regions[1].end, strlen("call me at 010-2345-6789 please, or mail kim@example.c"));
    const char *near = "010-2345-6789 kim@example.com";
    assert_int_equal(scope_prefilter(&w, near, strlen(near)), HAE_OK);
    assert_int_equal(w.region_count, 1); /* close regions are scanned as one */
    scope_worker_free(&w);
    scope_scanner_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefilter_finds_what_a_full_scan_finds),
        cmocka_unit_test(test_prefilter_edges_of_buffer_and_blocks),
        cmocka_unit_test(test_prefilter_skips_text_without_candidates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
