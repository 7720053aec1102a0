/* The agent's transport against the real server (server_start, HTTPS on
 * loopback): enrollment with the pin, every spooled event stored exactly
 * once, the spool acknowledged only after the server's 200, a server that
 * goes away and comes back, a wrong pin, a used token, a revoked agent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/transport_internal.h"
#include "fixtures.h"
#include "server/server.h"
#include "store/store.h"

typedef struct fixture {
    char *root;
    char data_dir[4096];
    char state_dir[4096];
    char listen[64];
    uint64_t backlog_max_events; /* 0: the server's default */
    unsigned retry_after_s;      /* 0: the server's default */
    server *srv;
    spool *spool;
    transport *transport;
} fixture;

static const transport_options fast = {.idle_ms = 20, .backoff_max_s = 1};

static void server_up(fixture *f) {
    server_config cfg = {.data_dir = f->data_dir,
                         .listen = f->listen[0] ? f->listen : "127.0.0.1:0",
                         .backlog_max_events = f->backlog_max_events,
                         .retry_after_s = f->retry_after_s};
    hae_err err = {0};
    if (server_start(&cfg, &f->srv, &err) < 0) fail_msg("server_start: %s", err.msg);
    if (!f->listen[0]) {
        /* The restart must come back on the same port the agent knows. */
        const char *url = server_url(f->srv);
        snprintf(f->listen, sizeof f->listen, "%s", url + strlen("https://"));
    }
}

static void server_down(fixture *f) {
    server_stop(f->srv);
    f->srv = NULL;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->root = fixture_tempdir("transport");
    snprintf(f->data_dir, sizeof f->data_dir, "%s/server", f->root);
    snprintf(f->state_dir, sizeof f->state_dir, "%s/agent", f->root);
    server_up(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    transport_stop(f->transport);
    spool_close(f->spool, NULL);
    server_stop(f->srv);
    fixture_rmtree(f->root);
    free(f->root);
    free(f);
    return 0;
}

static void enroll(fixture *f) {
    char token[256], id[HAE_ID_LEN];
    hae_err err = {0};
    assert_int_equal(server_enroll_token_create(f->srv, 3600LL * 1000000000, token, sizeof token,
                                                &err),
                     HAE_OK);
    agent_enroll_options opt = {.server_url = server_url(f->srv), .token = token,
                                .state_dir = f->state_dir, .hostname = "agent-under-test"};
    if (agent_enroll(&opt, id, &err) < 0) fail_msg("enroll: %s", err.msg);
    assert_true(agent_is_enrolled(f->state_dir));
}

static void open_spool_and_transport(fixture *f) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/spool", f->state_dir);
    hae_err err = {0};
    assert_int_equal(spool_open(&f->spool, dir, NULL, &err), HAE_OK);
    if (transport_start(&f->transport, f->state_dir, f->spool, &fast, &err) < 0) {
        fail_msg("transport_start: %s", err.msg);
    }
}

static void append_events(fixture *f, int from, int to) {
    for (int i = from; i < to; i++) {
        hae_event ev;
        assert_int_equal(hae_event_init(&ev, "linux", "test", NULL), HAE_OK);
        assert_int_equal(hae_event_add_int(&ev, "n", i), HAE_OK);
        hae_err err = {0};
        assert_int_equal(spool_append(f->spool, &ev, NULL, &err), HAE_OK);
        hae_event_clear(&ev);
    }
    assert_int_equal(spool_flush(f->spool, NULL), HAE_OK);
}

/* Waits (generously: the machine may be loaded) until the spool is empty. */
static bool wait_spool_drained(fixture *f, int seconds) {
    for (int i = 0; i < seconds * 50; i++) {
        spool_stats st;
        spool_get_stats(f->spool, &st);
        if (st.acked_seq == st.next_seq) return true;
        usleep(20000);
    }
    return false;
}

static uint64_t stored_events(fixture *f) {
    store *st = NULL;
    hae_err err = {0};
    assert_int_equal(server_data_store_open(f->data_dir, &st, &err), HAE_OK);
    uint64_t count = 0;
    assert_int_equal(store_event_count(st, &count, &err), HAE_OK);
    store_close(st);
    return count;
}

static void test_enrolled_agent_delivers_every_event_once(void **state) {
    fixture *f = *state;
    enroll(f);
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/agent.key", f->state_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    open_spool_and_transport(f);
    int64_t start = hae_time_monotonic_ns();
    append_events(f, 0, 20000);
    assert_true(wait_spool_drained(f, 120));
    double seconds = (double)(hae_time_monotonic_ns() - start) / 1e9;
    assert_int_equal(stored_events(f), 20000);
    /* The spool is acknowledged a moment before the counters move. */
    transport_stats ts;
    for (int i = 0; i < 500; i++) {
        transport_get_stats(f->transport, &ts);
        if (ts.events_acked == 20000) break;
        usleep(10000);
    }
    assert_int_equal(ts.events_acked, 20000);
    assert_int_equal(ts.events_stored, 20000);
    assert_int_equal(ts.events_duplicate, 0);
    assert_true(ts.batches_acked >= 4); /* at most 5000 events a batch */
    printf("# 20000 events in %" PRIu64 " batches, %.2f s (%.0f events/s), %" PRIu64
           " bytes gzip of %" PRIu64 " (%.1fx)\n",
           ts.batches_acked, seconds, 20000 / seconds, ts.bytes_sent, ts.bytes_raw,
           (double)ts.bytes_raw / (double)ts.bytes_sent);
    uint64_t seq = 0;
    assert_int_equal(agent_seq_load(f->state_dir, &seq, NULL), HAE_OK);
    assert_true(seq == ts.last_batch && seq >= ts.batches_acked);
}

static void test_server_away_then_back_loses_and_doubles_nothing(void **state) {
    fixture *f = *state;
    enroll(f);
    open_spool_and_transport(f);
    append_events(f, 0, 1000);
    assert_true(wait_spool_drained(f, 60));
    server_down(f);
    append_events(f, 1000, 3000); /* the agent keeps spooling */
    usleep(1500 * 1000);          /* several failed tries meanwhile */
    spool_stats st;
    spool_get_stats(f->spool, &st);
    assert_int_equal(st.next_seq - st.acked_seq, 2000); /* nothing acknowledged */
    transport_stats ts;
    transport_get_stats(f->transport, &ts);
    assert_true(ts.failures >= 1);
    server_up(f);
    append_events(f, 3000, 3500);
    assert_true(wait_spool_drained(f, 60));
    assert_int_equal(stored_events(f), 3500);
}

static int setup_busy_server(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->root = fixture_tempdir("transport");
    snprintf(f->data_dir, sizeof f->data_dir, "%s/server", f->root);
    snprintf(f->state_dir, sizeof f->state_dir, "%s/agent", f->root);
    f->backlog_max_events = 1; /* any undetected event makes the next batch 429 */
    /* Longer than the agent's own first back-off (at most 1 s, then 2 s), so
     * only honouring Retry-After explains the waits measured below. */
    f->retry_after_s = 3;
    server_up(f);
    *state = f;
    return 0;
}

static void test_busy_server_429_is_retried_no_sooner_than_retry_after(void **state) {
    fixture *f = *state;
    enroll(f);
    open_spool_and_transport(f);
    int64_t start = hae_time_monotonic_ns();
    append_events(f, 0, 15000); /* three batches at least, back to back */
    assert_true(wait_spool_drained(f, 120));
    double seconds = (double)(hae_time_monotonic_ns() - start) / 1e9;
    server_stats ss;
    server_get_stats(f->srv, &ss);
    transport_stats ts;
    transport_get_stats(f->transport, &ts);
    printf("# %" PRIu64 " busy answers, %" PRIu64 " transport failures, %.2f s\n",
           ss.busy_answers, ts.failures, seconds);
    assert_true(ss.busy_answers >= 1);
    assert_true(ts.failures >= ss.busy_answers);
    /* Each 429 said Retry-After: 3; the agent waited at least that long. */
    assert_true(seconds >= (double)ss.busy_answers * 3.0);
    assert_int_equal(stored_events(f), 15000);
}

static void test_wrong_pin_is_refused_before_anything_is_sent(void **state) {
    fixture *f = *state;
    char token[256], id[HAE_ID_LEN];
    hae_err err = {0};
    assert_int_equal(server_enroll_token_create(f->srv, 3600LL * 1000000000, token, sizeof token,
                                                &err),
                     HAE_OK);
    /* Same secret, the pin of another key (SHA-256 of nothing). */
    char *dot = strchr(token, '.');
    assert_non_null(dot);
    strcpy(dot + 1, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    agent_enroll_options opt = {.server_url = server_url(f->srv), .token = token,
                                .state_dir = f->state_dir};
    assert_int_equal(agent_enroll(&opt, id, &err), HAE_EIO);
    assert_non_null(strstr(err.msg, "pinned"));
    assert_false(agent_is_enrolled(f->state_dir));
    /* The secret never reached the server: the same token still works. */
    char *fixed = strchr(token, '.');
    snprintf(fixed + 1, sizeof token - (size_t)(fixed + 1 - token), "%s", server_pin(f->srv));
    assert_int_equal(agent_enroll(&opt, id, &err), HAE_OK);
}

static void test_used_token_is_refused(void **state) {
    fixture *f = *state;
    char token[256], id[HAE_ID_LEN];
    hae_err err = {0};
    assert_int_equal(server_enroll_token_create(f->srv, 3600LL * 1000000000, token, sizeof token,
                                                &err),
                     HAE_OK);
    agent_enroll_options opt = {.server_url = server_url(f->srv), .token = token,
                                .state_dir = f->state_dir};
    assert_int_equal(agent_enroll(&opt, id, &err), HAE_OK);
    char again[HAE_ID_LEN];
    assert_int_equal(agent_enroll(&opt, again, &err), HAE_EPERM);
    assert_non_null(strstr(err.msg, "401"));
    /* The first enrollment is intact. */
    agent_server_info info;
    assert_int_equal(agent_server_info_load(f->state_dir, &info, &err), HAE_OK);
    assert_string_equal(info.agent_id, id);
}

static void test_revoked_agent_keeps_its_spool(void **state) {
    fixture *f = *state;
    enroll(f);
    open_spool_and_transport(f);
    append_events(f, 0, 10);
    assert_true(wait_spool_drained(f, 60));
    agent_server_info info;
    hae_err err = {0};
    assert_int_equal(agent_server_info_load(f->state_dir, &info, &err), HAE_OK);
    store *st = NULL;
    assert_int_equal(server_data_store_open(f->data_dir, &st, &err), HAE_OK);
    assert_int_equal(store_agent_revoke(st, info.agent_id, hae_time_now_ns(), &err), HAE_OK);
    store_close(st);
    append_events(f, 10, 20);
    usleep(1000 * 1000);
    spool_stats ss;
    spool_get_stats(f->spool, &ss);
    assert_int_equal(ss.next_seq - ss.acked_seq, 10);
    transport_stats ts;
    transport_get_stats(f->transport, &ts);
    assert_int_equal(ts.last_status, 403);
    assert_int_equal(stored_events(f), 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enrolled_agent_delivers_every_event_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_away_then_back_loses_and_doubles_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_server_429_is_retried_no_sooner_than_retry_after,
                                        setup_busy_server, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_pin_is_refused_before_anything_is_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_used_token_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_agent_keeps_its_spool, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
