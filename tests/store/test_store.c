/* The store on a real SQLite file: schema and migrations, tokens, dedup,
 * grouping, transitions and the durability of a commit across kill -9. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"
#include "server/server.h"
#include "store/store.h"
#include "store/store_sqlite.h"

#define SEC 1000000000LL

typedef struct fixture {
    char *dir;
    char path[4096];
    store *st;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = fixture_tempdir("store");
    snprintf(f->path, sizeof f->path, "%s/test.db", f->dir);
    hae_err err = {0};
    assert_int_equal(store_open(&f->st, f->path, &err), HAE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    store_close(f->st);
    fixture_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void hash_of(const char *secret, uint8_t out[32]) {
    memset(out, 0, 32);
    for (size_t i = 0; secret[i]; i++) out[i % 32] = (uint8_t)(out[i % 32] * 31 + secret[i]);
}

static void enroll(store *st, const char *secret, store_agent *a) {
    uint8_t h[32];
    hash_of(secret, h);
    hae_err err = {0};
    int64_t now = hae_time_now_ns();
    assert_int_equal(store_enroll_token_add(st, h, now, now + 3600 * SEC, &err), HAE_OK);
    memset(a, 0, sizeof *a);
    snprintf(a->hostname, sizeof a->hostname, "host-%s", secret);
    assert_int_equal(store_agent_enroll(st, h, now, a, &err), HAE_OK);
}

static store_event_row row(const char *id, char *json, size_t size) {
    snprintf(json, size, "{\"id\":\"%s\",\"host\":\"h\",\"n\":1}", id);
    return (store_event_row){.id = id, .host = "h", .time_ns = hae_time_now_ns(), .json = json,
                             .json_len = strlen(json)};
}

static void test_schema_is_at_the_current_version_and_reopens(void **state) {
    fixture *f = *state;
    hae_err err = {0};
    int version = 0;
    assert_int_equal(store_schema_version(f->st, &version, &err), HAE_OK);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    store *again = NULL;
    assert_int_equal(store_open(&again, f->path, &err), HAE_OK);
    assert_int_equal(store_schema_version(again, &version, &err), HAE_OK);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    store_close(again);
}

static void test_enrollment_token_is_single_use_and_expires(void **state) {
    fixture *f = *state;
    hae_err err = {0};
    store_agent a;
    enroll(f->st, "one", &a);
    assert_int_equal(strlen(a.id), HAE_ID_LEN - 1);
    uint8_t h[32];
    hash_of("one", h);
    store_agent b = {.hostname = "again"};
    assert_int_equal(store_agent_enroll(f->st, h, hae_time_now_ns(), &b, &err), HAE_EPERM);
    hash_of("late", h);
    int64_t now = hae_time_now_ns();
    assert_int_equal(store_enroll_token_add(f->st, h, now - 10 * SEC, now - SEC, &err), HAE_OK);
    assert_int_equal(store_agent_enroll(f->st, h, now, &b, &err), HAE_EPERM);
    store_agent got;
    assert_int_equal(store_agent_get(f->st, a.id, &got, &err), HAE_OK);
    assert_string_equal(got.hostname, "host-one");
    assert_int_equal(store_agent_get(f->st, "nope", &got, &err), HAE_ENOENT);
}

static void test_events_dedup_by_id_and_batches_must_increase(void **state) {
    fixture *f = *state;
    hae_err err = {0};
    store_agent a;
    enroll(f->st, "dedup", &a);
    char j1[128], j2[128], j3[128];
    store_event_row rows[3] = {row("e-1", j1, sizeof j1), row("e-2", j2, sizeof j2),
                               row("e-1", j3, sizeof j3)};
    store_ingest_result r;
    assert_int_equal(store_events_ingest(f->st, a.id, 1, hae_time_now_ns(), rows, 3, &r, &err),
                     HAE_OK);
    assert_false(r.is_rejected);
    assert_int_equal(r.stored, 2);
    assert_int_equal(r.duplicates, 1);
    /* A retry under a new batch number stores nothing new. */
    assert_int_equal(store_events_ingest(f->st, a.id, 2, hae_time_now_ns(), rows, 2, &r, &err),
                     HAE_OK);
    assert_int_equal(r.stored, 0);
    assert_int_equal(r.duplicates, 2);
    /* A replayed batch number is refused whole. */
    char j4[128];
    store_event_row fresh = row("e-3", j4, sizeof j4);
    assert_int_equal(store_events_ingest(f->st, a.id, 2, hae_time_now_ns(), &fresh, 1, &r, &err),
                     HAE_OK);
    assert_true(r.is_rejected);
    assert_int_equal(store_agent_revoke(f->st, a.id, hae_time_now_ns(), &err), HAE_OK);
    assert_int_equal(store_events_ingest(f->st, a.id, 9, hae_time_now_ns(), &fresh, 1, &r, &err),
                     HAE_OK);
    assert_true(r.is_rejected);
    uint64_t count = 0;
    assert_int_equal(store_event_count(f->st, &count, &err), HAE_OK);
    assert_int_equal(count, 2);
    assert_int_equal(store_agent_revoke(f->st, "missing", hae_time_now_ns(), &err), HAE_ENOENT);
}

static store_alert alert(const char *host, const char *family, int64_t t) {
    store_alert a;
    memset(&a, 0, sizeof a);
    snprintf(a.host, sizeof a.host, "%s", host);
    snprintf(a.family, sizeof a.family, "%s", family);
    snprintf(a.rule_id, sizeof a.rule_id, "%s.rule", family);
    snprintf(a.rule_title, sizeof a.rule_title, "%s title", family);
    snprintf(a.level, sizeof a.level, "high");
    snprintf(a.event_id, sizeof a.event_id, "ev");
    a.time_ns = t;
    return a;
}

static const char *const closed[] = {"closed", "false_positive", NULL};

/* Group commit: many threads ingest at once; each batch gets its own
 * result, a replay among them is refused without undoing the others, and
 * every stored event is there exactly once. */
enum { GROUP_THREADS = 8, GROUP_BATCHES = 40, GROUP_ROWS = 25 };

typedef struct group_worker {
    store *st;
    store_agent agent;
    int index;
    uint64_t stored, rejected;
    int rc;
} group_worker;

static void *ingest_worker(void *arg) {
    group_worker *w = arg;
    for (int b = 1; b <= GROUP_BATCHES && w->rc == HAE_OK; b++) {
        char ids[GROUP_ROWS][48], json[GROUP_ROWS][128];
        store_event_row rows[GROUP_ROWS];
        for (int i = 0; i < GROUP_ROWS; i++) {
            snprintf(ids[i], sizeof ids[i], "w%d-b%d-e%d", w->index, b, i);
            rows[i] = row(ids[i], json[i], sizeof json[i]);
        }
        store_ingest_result r;
        hae_err err = {0};
        /* every fifth batch is sent twice with the same number: a replay */
        int sends = b % 5 == 0 ? 2 : 1;
        for (int k = 0; k < sends && w->rc == HAE_OK; k++) {
            w->rc = store_events_ingest(w->st, w->agent.id, (uint64_t)b, hae_time_now_ns(), rows,
                                        GROUP_ROWS, &r, &err);
            if (r.is_rejected) w->rejected++;
            w->stored += r.stored;
        }
    }
    return NULL;
}

static void test_concurrent_batches_commit_together_and_alone_in_effect(void **state) {
    fixture *f = *state;
    group_worker workers[GROUP_THREADS];
    pthread_t threads[GROUP_THREADS];
    for (int t = 0; t < GROUP_THREADS; t++) {
        char secret[16];
        snprintf(secret, sizeof secret, "group%d", t);
        workers[t] = (group_worker){.st = f->st, .index = t};
        enroll(f->st, secret, &workers[t].agent);
    }
    for (int t = 0; t < GROUP_THREADS; t++) {
        assert_int_equal(pthread_create(&threads[t], NULL, ingest_worker, &workers[t]), 0);
    }
    uint64_t stored = 0;
    for (int t = 0; t < GROUP_THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
        assert_int_equal(workers[t].rc, HAE_OK);
        assert_int_equal(workers[t].rejected, GROUP_BATCHES / 5);
        assert_int_equal(workers[t].stored, (uint64_t)GROUP_BATCHES * GROUP_ROWS);
        stored += workers[t].stored;
    }
    uint64_t count = 0;
    hae_err err = {0};
    assert_int_equal(store_event_count(f->st, &count, &err), HAE_OK);
    assert_int_equal(count, stored);
    assert_int_equal(count, (uint64_t)GROUP_THREADS * GROUP_BATCHES * GROUP_ROWS);
}

static void test_alerts_group_by_host_and_family_within_the_window(void **state) {
    fixture *f = *state;
    hae_err err = {0};
    int64_t t0 = 1700000000 * SEC;
    store_alert batch[5] = {alert("a", "sock", t0), alert("a", "sock", t0 + 60 * SEC),
                            alert("a", "proc", t0 + 61 * SEC), alert("b", "sock", t0 + 62 * SEC),
                            alert("a", "sock", t0 + 7200 * SEC)};
    store_alert_commit done;
    assert_int_equal(store_alerts_commit(f->st, batch, 5, 3600 * SEC, closed, "detected", "haetae",
                                         hae_time_now_ns(), "detect", 42, &done, &err),
                     HAE_OK);
    assert_int_equal(done.alerts, 5);
    assert_int_equal(done.incidents_created, 4);
    assert_string_equal(batch[0].incident_id, batch[1].incident_id);
    assert_string_not_equal(batch[0].incident_id, batch[2].incident_id);
    assert_string_not_equal(batch[0].incident_id, batch[3].incident_id);
    assert_string_not_equal(batch[0].incident_id, batch[4].incident_id);
    store_incident in;
    assert_int_equal(store_incident_get(f->st, batch[0].incident_id, &in, &err), HAE_OK);
    assert_int_equal(in.alert_count, 2);
    assert_int_equal(in.detected_ns, t0); /* the first alert's time */
    assert_string_equal(in.state, "detected");
    uint64_t cursor = 0;
    assert_int_equal(store_cursor_get(f->st, "detect", &cursor, &err), HAE_OK);
    assert_int_equal(cursor, 42);
    /* A closed incident takes no more alerts. */
    store_transition t = {.at_ns = hae_time_now_ns()};
    snprintf(t.incident_id, sizeof t.incident_id, "%s", in.id);
    strcpy(t.from_state, "detected");
    strcpy(t.to_state, "closed");
    strcpy(t.who, "ana");
    assert_int_equal(store_incident_transition(f->st, &t, &err), HAE_OK);
    store_alert late = alert("a", "sock", t0 + 120 * SEC);
    assert_int_equal(store_alerts_commit(f->st, &late, 1, 3600 * SEC, closed, "detected", "haetae",
                                         hae_time_now_ns(), NULL, 0, &done, &err),
                     HAE_OK);
    assert_int_equal(done.incidents_created, 1);
    assert_string_not_equal(late.incident_id, in.id);
}

typedef struct history {
    store_transition items[16];
    size_t count;
} history;

static int remember(void *ctx, const store_transition *t, hae_err *err) {
    (void)err;
    history *h = ctx;
    if (h->count < 16) h->items[h->count++] = *t;
    return HAE_OK;
}

static void test_transitions_store_who_when_why_and_moments_once(void **state) {
    fixture *f = *state;
    hae_err err = {0};
    store_alert a = alert("h", "fim", 1700000000 * SEC);
    store_alert_commit done;
    assert_int_equal(store_alerts_commit(f->st, &a, 1, SEC, closed, "detected", "haetae",
                                         hae_time_now_ns(), NULL, 0, &done, &err),
                     HAE_OK);
    store_transition t;
    assert_int_equal(server_incident_update(f->st, a.incident_id, "triaged", "looking", "suspected",
                                            "ana", &t, &err),
                     HAE_OK);
    assert_int_equal(server_incident_update(f->st, a.incident_id, "confirmed", "real", NULL, "bo",
                                            &t, &err),
                     HAE_OK);
    assert_string_equal(t.moment, "confirmed");
    assert_int_equal(server_incident_update(f->st, a.incident_id, "detected", "back", NULL, "bo",
                                            &t, &err),
                     HAE_EPERM);
    assert_int_equal(server_incident_update(f->st, a.incident_id, "bogus", "", NULL, "bo", &t,
                                            &err),
                     HAE_EINVAL);
    assert_int_equal(server_incident_update(f->st, a.incident_id, "confirmed", "",
                                            "classified_major", "cy", &t, &err),
                     HAE_OK);
    store_incident in;
    assert_int_equal(store_incident_get(f->st, a.incident_id, &in, &err), HAE_OK);
    assert_string_equal(in.state, "confirmed");
    assert_true(in.suspected_ns > 0 && in.confirmed_ns >= in.suspected_ns);
    assert_true(in.classified_major_ns >= in.confirmed_ns);
    assert_int_equal(in.materiality_determined_ns, 0);
    history h = {0};
    assert_int_equal(store_incident_transitions(f->st, a.incident_id, remember, &h, &err), HAE_OK);
    assert_int_equal(h.count, 4);
    assert_string_equal(h.items[0].to_state, "detected");
    assert_string_equal(h.items[0].who, "haetae");
    assert_string_equal(h.items[1].who, "ana");
    assert_string_equal(h.items[1].why, "looking");
    assert_string_equal(h.items[1].from_state, "detected");
    assert_string_equal(h.items[2].to_state, "confirmed");
    assert_true(h.items[2].at_ns >= h.items[1].at_ns);
    /* A stale expectation loses against a concurrent change. */
    store_transition stale = {.at_ns = hae_time_now_ns()};
    snprintf(stale.incident_id, sizeof stale.incident_id, "%s", a.incident_id);
    strcpy(stale.from_state, "triaged");
    strcpy(stale.to_state, "contained");
    strcpy(stale.who, "dee");
    assert_int_equal(store_incident_transition(f->st, &stale, &err), HAE_ELIMIT);
}

/* The child ingests batches and reports each commit's batch number on a
 * pipe; it is killed with SIGKILL mid-stream. Every reported batch must be
 * there after reopening, and the database must be intact. */
static void ingest_forever(const char *path, int out_fd) {
    store *st = NULL;
    hae_err err = {0};
    if (store_open(&st, path, &err) < 0) _exit(3);
    store_agent a;
    enroll(st, "crash", &a);
    if (write(out_fd, a.id, HAE_ID_LEN) != HAE_ID_LEN) _exit(4);
    char ids[100][48], json[100][128];
    store_event_row rows[100];
    for (uint64_t seq = 1;; seq++) {
        for (int i = 0; i < 100; i++) {
            snprintf(ids[i], sizeof ids[i], "b%llu-e%d", (unsigned long long)seq, i);
            rows[i] = row(ids[i], json[i], sizeof json[i]);
        }
        store_ingest_result r;
        if (store_events_ingest(st, a.id, seq, hae_time_now_ns(), rows, 100, &r, &err) < 0) _exit(5);
        if (write(out_fd, &seq, sizeof seq) != sizeof seq) _exit(6);
    }
}

static void test_acknowledged_commits_survive_kill_9(void **state) {
    fixture *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        ingest_forever(f->path, fds[1]);
    }
    close(fds[1]);
    char agent_id[HAE_ID_LEN];
    assert_int_equal(read(fds[0], agent_id, HAE_ID_LEN), HAE_ID_LEN);
    uint64_t acked = 0, seq;
    while (acked < 30 && read(fds[0], &seq, sizeof seq) == sizeof seq) acked = seq;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    while (read(fds[0], &seq, sizeof seq) == sizeof seq) acked = seq;
    close(fds[0]);
    assert_true(acked >= 30);

    store *st = NULL;
    hae_err err = {0};
    assert_int_equal(store_open(&st, f->path, &err), HAE_OK);
    store_agent a;
    assert_int_equal(store_agent_get(st, agent_id, &a, &err), HAE_OK);
    assert_true(a.last_batch >= acked);
    uint64_t count = 0;
    assert_int_equal(store_event_count(st, &count, &err), HAE_OK);
    /* Whole batches only: each commit is all or nothing. */
    assert_int_equal(count, a.last_batch * 100);
    store_close(st);
}

static void test_event_ids_deduplicate_per_agent(void **state) {
    fixture *f = *state;
    hae_err err = {0};
    store_agent a, b;
    enroll(f->st, "per-a", &a);
    enroll(f->st, "per-b", &b);
    char j1[128], j2[128];
    store_event_row mine = row("shared-1", j1, sizeof j1);
    store_event_row theirs = row("shared-1", j2, sizeof j2);
    store_ingest_result r;
    assert_int_equal(store_events_ingest(f->st, a.id, 1, hae_time_now_ns(), &mine, 1, &r, &err),
                     HAE_OK);
    assert_int_equal(r.stored, 1);
    /* Another agent's event with the same id is its own event. */
    assert_int_equal(store_events_ingest(f->st, b.id, 1, hae_time_now_ns(), &theirs, 1, &r, &err),
                     HAE_OK);
    assert_int_equal(r.stored, 1);
    assert_int_equal(r.duplicates, 0);
    assert_int_equal(store_events_ingest(f->st, a.id, 2, hae_time_now_ns(), &mine, 1, &r, &err),
                     HAE_OK);
    assert_int_equal(r.stored, 0);
    assert_int_equal(r.duplicates, 1);
}

static void sql_ok(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "sqlite: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
}

static int64_t sql_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

/* A database as version 2 left it: one agent enrolled as web01, one event
 * naming its own host and one naming another. */
static void write_version_2(const char *path) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sql_ok(db, "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY,"
               " applied_ns INTEGER NOT NULL)");
    sql_ok(db, store_migrations[0]);
    sql_ok(db, store_migrations[1]);
    sql_ok(db, "INSERT INTO schema_migrations VALUES (1, 1), (2, 2);"
               "INSERT INTO agents(id, hostname, version, public_key, enrolled_ns)"
               "  VALUES ('agent-1', 'web01', 't', x'00', 1);"
               "INSERT INTO events(seq, id, agent_id, host, time_ns, received_ns, body) VALUES"
               "  (5, 'ev-1', 'agent-1', 'web01', 1, 1, '{\"id\":\"ev-1\"}'),"
               "  (9, 'ev-2', 'agent-1', 'db01', 2, 2, '{\"id\":\"ev-2\"}');"
               "INSERT INTO cursors VALUES ('detect', 5);");
    sqlite3_close(db);
}

static void test_version_2_database_migrates_keeping_its_events(void **state) {
    fixture *f = *state;
    char old[4200];
    snprintf(old, sizeof old, "%s/v2.db", f->dir);
    write_version_2(old);
    hae_err err = {0};
    store *st = NULL;
    assert_int_equal(store_open(&st, old, &err), HAE_OK);
    int version = 0;
    assert_int_equal(store_schema_version(st, &version, &err), HAE_OK);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    uint64_t count = 0, after = 0;
    assert_int_equal(store_event_count(st, &count, &err), HAE_OK);
    assert_int_equal(count, 2);
    assert_int_equal(store_events_after_count(st, 5, &after, &err), HAE_OK);
    assert_int_equal(after, 1);
    /* Per-agent ids: another agent may now store ev-1. */
    store_agent b;
    enroll(st, "after", &b);
    char j[128];
    store_event_row again = row("ev-1", j, sizeof j);
    store_ingest_result r;
    assert_int_equal(store_events_ingest(st, b.id, 1, hae_time_now_ns(), &again, 1, &r, &err),
                     HAE_OK);
    assert_int_equal(r.stored, 1);
    store_close(st);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE seq = 9 AND host = 'web01'"
                                 " AND claimed_host = 'db01'"),
                     1);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE seq = 5 AND host = 'web01'"
                                 " AND claimed_host IS NULL"),
                     1);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                                 " AND name LIKE 'ledger_%'"),
                     4);
    sqlite3_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_is_at_the_current_version_and_reopens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enrollment_token_is_single_use_and_expires, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_event_ids_deduplicate_per_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_2_database_migrates_keeping_its_events,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_dedup_by_id_and_batches_must_increase, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_batches_commit_together_and_alone_in_effect,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_group_by_host_and_family_within_the_window,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions_store_who_when_why_and_moments_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_commits_survive_kill_9, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
