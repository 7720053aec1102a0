#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "fixtures.h"

typedef struct read_back {
    uint64_t seqs[4096];
    char *lines[4096];
    size_t count;
} read_back;

static int remember(void *ctx, uint64_t seq, const char *line, size_t len, hae_err *err) {
    (void)err;
    read_back *r = ctx;
    if (r->count == 4096) return HAE_ELIMIT;
    r->seqs[r->count] = seq;
    r->lines[r->count] = strndup(line, len);
    r->count++;
    return HAE_OK;
}

static void read_back_free(read_back *r) {
    for (size_t i = 0; i < r->count; i++) free(r->lines[i]);
    r->count = 0;
}

static void append_numbered(spool *s, int from, int to) {
    for (int i = from; i < to; i++) {
        hae_event ev;
        assert_int_equal(hae_event_init(&ev, "linux", "test", NULL), HAE_OK);
        assert_int_equal(hae_event_add_int(&ev, "n", i), HAE_OK);
        assert_int_equal(hae_event_add_str(&ev, "pad", "0123456789abcdef0123456789abcdef"), HAE_OK);
        hae_err err = {0};
        uint64_t seq = 0;
        assert_int_equal(spool_append(s, &ev, &seq, &err), HAE_OK);
        hae_event_clear(&ev);
    }
}

static int field_n(const char *line) {
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, line, strlen(line), &err), HAE_OK);
    const char *n = hae_event_get_str(&ev, "n");
    int v = n ? atoi(n) : -1;
    hae_event_clear(&ev);
    return v;
}

static read_back *read_all(spool *s, uint64_t from) {
    read_back *r = calloc(1, sizeof *r);
    uint64_t next = 0;
    hae_err err = {0};
    assert_int_equal(spool_read(s, from, 4096, remember, r, &next, &err), HAE_OK);
    return r;
}

static void test_events_survive_close_and_reopen_in_order(void **state) {
    (void)state;
    char *dir = fixture_tempdir("spool");
    spool *s;
    hae_err err = {0};
    assert_int_equal(spool_open(&s, dir, NULL, &err), HAE_OK);
    append_numbered(s, 0, 100);
    assert_int_equal(spool_close(s, &err), HAE_OK);
    assert_int_equal(spool_open(&s, dir, NULL, &err), HAE_OK);
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.next_seq, 100);
    read_back *r = read_all(s, 0);
    assert_int_equal(r->count, 100);
    for (size_t i = 0; i < r->count; i++) {
        assert_int_equal(r->seqs[i], i);
        assert_int_equal(field_n(r->lines[i]), (int)i);
    }
    read_back_free(r);
    free(r);
    spool_close(s, NULL);
    fixture_rmtree(dir);
    free(dir);
}

static char *only_segment_path(const char *dir) {
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%016x.seg", dir, 0) > 0);
    return path;
}

static void test_torn_tail_is_cut_and_earlier_records_kept(void **state) {
    (void)state;
    char *dir = fixture_tempdir("spool");
    spool *s;
    hae_err err = {0};
    assert_int_equal(spool_open(&s, dir, NULL, &err), HAE_OK);
    append_numbered(s, 0, 10);
    spool_close(s, NULL);
    char *seg = only_segment_path(dir);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    /* A crash mid-write: the last record lost its final 5 bytes. */
    assert_int_equal(truncate(seg, st.st_size - 5), 0);
    assert_int_equal(spool_open(&s, dir, NULL, &err), HAE_OK);
    spool_stats stats;
    spool_get_stats(s, &stats);
    assert_int_equal(stats.next_seq, 9);
    assert_true(stats.recovered_torn > 0);
    append_numbered(s, 100, 101); /* appends after the cut, not after garbage */
    read_back *r = read_all(s, 0);
    assert_int_equal(r->count, 10);
    assert_int_equal(field_n(r->lines[8]), 8);
    assert_int_equal(field_n(r->lines[9]), 100);
    read_back_free(r);
    free(r);
    spool_close(s, NULL);
    fixture_rmtree(dir);
    free(seg);
    free(dir);
}

static void test_corrupt_byte_in_tail_is_detected_by_crc(void **state) {
    (void)state;
    char *dir = fixture_tempdir("spool");
    spool *s;
    hae_err err = {0};
    assert_int_equal(spool_open(&s, dir, NULL, &err), HAE_OK);
    append_numbered(s, 0, 3);
    spool_close(s, NULL);
    char *seg = only_segment_path(dir);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    int fd = open(seg, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, st.st_size - 3), 1);
    close(fd);
    assert_int_equal(spool_open(&s, dir, NULL, &err), HAE_OK);
    spool_stats stats;
    spool_get_stats(s, &stats);
    assert_int_equal(stats.next_seq, 2);
    spool_close(s, NULL);
    fixture_rmtree(dir);
    free(seg);
    free(dir);
}

static void test_segments_rotate_and_ack_deletes_them(void **state) {
    (void)state;
    char *dir = fixture_tempdir("spool");
    spool *s;
    hae_err err = {0};
    spool_options opt = {.segment_bytes = 4096};
    assert_int_equal(spool_open(&s, dir, &opt, &err), HAE_OK);
    append_numbered(s, 0, 200);
    spool_stats st;
    spool_get_stats(s, &st);
    assert_true(st.segments > 5);
    read_back *r = read_all(s, 150);
    assert_int_equal(r->count, 50);
    assert_int_equal(field_n(r->lines[0]), 150);
    read_back_free(r);
    free(r);

    assert_int_equal(spool_ack(s, 150, &err), HAE_OK);
    spool_stats after;
    spool_get_stats(s, &after);
    assert_true(after.segments < st.segments);
    assert_int_equal(after.acked_seq, 150);
    spool_close(s, NULL);

    assert_int_equal(spool_open(&s, dir, &opt, &err), HAE_OK);
    spool_get_stats(s, &after);
    assert_int_equal(after.acked_seq, 150);
    assert_int_equal(after.next_seq, 200);
    r = read_all(s, after.acked_seq);
    assert_int_equal(r->count, 50);
    read_back_free(r);
    free(r);
    /* Acknowledging everything keeps numbering going after a restart. */
    assert_int_equal(spool_ack(s, 200, &err), HAE_OK);
    spool_close(s, NULL);
    assert_int_equal(spool_open(&s, dir, &opt, &err), HAE_OK);
    append_numbered(s, 0, 1);
    spool_get_stats(s, &after);
    assert_int_equal(after.next_seq, 201);
    spool_close(s, NULL);
    fixture_rmtree(dir);
    free(dir);
}

static void test_full_spool_drops_oldest_and_says_so(void **state) {
    (void)state;
    char *dir = fixture_tempdir("spool");
    spool *s;
    hae_err err = {0};
    spool_options opt = {.segment_bytes = 4096, .max_bytes = 16384};
    assert_int_equal(spool_open(&s, dir, &opt, &err), HAE_OK);
    append_numbered(s, 0, 1000);
    spool_stats st;
    spool_get_stats(s, &st);
    assert_true(st.bytes <= opt.max_bytes);
    assert_true(st.dropped_records > 0);
    read_back *r = read_all(s, 0);
    size_t reports = 0;
    uint64_t reported = 0;
    for (size_t i = 0; i < r->count; i++) {
        if (strstr(r->lines[i], "\"rule\":\"spool.dropped\"")) {
            reports++;
            hae_event ev;
            assert_int_equal(hae_event_decode_json(&ev, r->lines[i], strlen(r->lines[i]), &err),
                             HAE_OK);
            const char *total = hae_event_get_str(&ev, "DroppedTotal");
            reported = strtoull(total, NULL, 10);
            hae_event_clear(&ev);
        }
    }
    assert_true(reports > 0);
    /* The last report kept counts every drop up to it. */
    assert_true(reported > 0 && reported <= st.dropped_records);
    /* The newest event is never the one dropped. */
    bool newest_kept = false;
    for (size_t i = 0; i < r->count; i++) {
        newest_kept |= !strstr(r->lines[i], "spool.dropped") && field_n(r->lines[i]) == 999;
    }
    assert_true(newest_kept);
    read_back_free(r);
    free(r);
    spool_close(s, NULL);
    fixture_rmtree(dir);
    free(dir);
}

static void test_rejects_garbage_ack_file(void **state) {
    (void)state;
    char *dir = fixture_tempdir("spool");
    char *ack = NULL;
    assert_true(asprintf(&ack, "%s/ack", dir) > 0);
    assert_int_equal(fixture_write_file(ack, "12x\n", 4), 0);
    spool *s = NULL;
    hae_err err = {0};
    assert_int_equal(spool_open(&s, dir, NULL, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "/ack: not a spool acknowledgement file"));
    fixture_rmtree(dir);
    free(ack);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_survive_close_and_reopen_in_order),
        cmocka_unit_test(test_torn_tail_is_cut_and_earlier_records_kept),
        cmocka_unit_test(test_corrupt_byte_in_tail_is_detected_by_crc),
        cmocka_unit_test(test_segments_rotate_and_ack_deletes_them),
        cmocka_unit_test(test_full_spool_drops_oldest_and_says_so),
        cmocka_unit_test(test_rejects_garbage_ack_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
