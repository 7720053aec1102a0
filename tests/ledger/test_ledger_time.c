/* Ledger time only moves forward: the canonical entry carries the server's
 * "logged" time beside the record's own, and a log with the time guard on
 * refuses an entry (alone or in a batch, before or after a reopen) that is
 * earlier than the previous entry by more than the skew. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "fixtures.h"

#define S 1000000000LL
#define T0 (1763837454LL * S)

static void entry_at(int64_t time_ns, int64_t logged_ns, hae_buf *out) {
    uint8_t digest[32] = {0};
    ledger_meta meta[] = {{"time", "2001-01-01T00:00:00.000000000Z"}};
    hae_err err = {0};
    hae_buf_reset(out);
    assert_int_equal(ledger_entry_encode("alert", time_ns, logged_ns, digest, meta, 1, out, &err), HAE_OK);
}

static void test_entry_carries_logged_beside_time(void **state) {
    (void)state;
    hae_buf e = {0};
    entry_at(T0, T0 + 5 * S, &e);
    assert_string_equal(e.data, "{\"event_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
                                "\"kind\":\"alert\",\"logged\":\"2025-11-22T18:50:59.000000000Z\","
                                "\"metadata\":{\"time\":\"2001-01-01T00:00:00.000000000Z\"},"
                                "\"time\":\"2025-11-22T18:50:54.000000000Z\"}");
    int64_t t = 0;
    assert_int_equal(ledger_entry_time(e.data, e.len, &t), HAE_OK);
    assert_int_equal(t, T0 + 5 * S);
    entry_at(T0, 0, &e); /* no logged: the record's time, not the metadata's */
    assert_int_equal(ledger_entry_time(e.data, e.len, &t), HAE_OK);
    assert_int_equal(t, T0);
    assert_int_equal(ledger_entry_time("raw bytes", 9, &t), HAE_ENOENT);
    hae_buf_free(&e);
}

static void test_time_check_allows_the_skew_only(void **state) {
    (void)state;
    hae_err err = {0};
    assert_int_equal(ledger_time_check(T0, T0 + S, 2 * S, &err), HAE_OK);
    assert_int_equal(ledger_time_check(T0, T0 - 2 * S, 2 * S, &err), HAE_OK);
    assert_int_equal(ledger_time_check(T0, T0 - 2 * S - 1, 2 * S, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "refusing a back-dated entry"));
    assert_non_null(strstr(err.msg, "allowed skew 2.000 s"));
}

static void test_log_refuses_back_dated_entries(void **state) {
    (void)state;
    char *dir = fixture_tempdir("ledger-time");
    ledger *l = NULL;
    hae_err err = {0};
    hae_buf e = {0};
    assert_int_equal(ledger_open(&l, dir, &err), HAE_OK);
    ledger_set_time_guard(l, LEDGER_CLOCK_SKEW_DEFAULT_NS);
    entry_at(T0, T0 + 100 * S, &e);
    assert_int_equal(ledger_append(l, e.data, e.len, NULL, &err), HAE_OK);
    entry_at(T0 - 3600 * S, T0 + 99 * S, &e); /* claims an hour ago; logged within the skew */
    assert_int_equal(ledger_append(l, e.data, e.len, NULL, &err), HAE_OK);
    entry_at(T0, T0 + 90 * S, &e);
    assert_int_equal(ledger_append(l, e.data, e.len, NULL, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "back-dated"));
    assert_int_equal(ledger_size(l), 2);
    assert_int_equal(ledger_append(l, "raw", 3, NULL, &err), HAE_OK); /* no time, no check */
    /* A batch with one back-dated entry is refused whole. */
    hae_buf good = {0};
    entry_at(T0, T0 + 101 * S, &good);
    entry_at(T0, T0 + 97 * S, &e);
    ledger_entry_ref batch[] = {{good.data, good.len}, {e.data, e.len}};
    assert_int_equal(ledger_append_batch(l, batch, 2, NULL, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "batch entry 1"));
    assert_int_equal(ledger_size(l), 3);
    /* After a reopen the guard reads the last timed entry from the log. */
    entry_at(T0, T0 + 99 * S, &e);
    assert_int_equal(ledger_append(l, e.data, e.len, NULL, &err), HAE_OK);
    ledger_close(l);
    assert_int_equal(ledger_open(&l, dir, &err), HAE_OK);
    ledger_set_time_guard(l, LEDGER_CLOCK_SKEW_DEFAULT_NS);
    entry_at(T0, T0 + 96 * S, &e);
    assert_int_equal(ledger_append(l, e.data, e.len, NULL, &err), HAE_EINVAL);
    entry_at(T0, T0 + 98 * S, &e);
    assert_int_equal(ledger_append(l, e.data, e.len, NULL, &err), HAE_OK);
    assert_int_equal(ledger_size(l), 5);
    /* Without the guard the log takes opaque bytes as before. */
    ledger_set_time_guard(l, -1);
    entry_at(T0, T0, &e);
    assert_int_equal(ledger_append(l, e.data, e.len, NULL, &err), HAE_OK);
    ledger_close(l);
    hae_buf_free(&e);
    hae_buf_free(&good);
    fixture_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_carries_logged_beside_time),
        cmocka_unit_test(test_time_check_allows_the_skew_only),
        cmocka_unit_test(test_log_refuses_back_dated_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
