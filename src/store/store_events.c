/* Events: batches deduplicated by (agent, event id), committed in groups, read back
 * in arrival order by the detection worker. */
#include <string.h>

#include "store/store_sqlite.h"

/* Claims the batch sequence: succeeds only for a live agent whose last batch
 * is below seq, inside the caller's transaction (so two racing copies of a
 * batch cannot both pass). */
static int batch_claim(store *s, const char *agent_id, uint64_t batch_seq, int64_t now_ns,
                       bool *claimed, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "UPDATE agents SET last_batch = ?, last_seen_ns = ?"
                               " WHERE id = ? AND last_batch < ? AND revoked_ns = 0",
                               &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)batch_seq);
    sqlite3_bind_int64(stmt, 2, now_ns);
    sqlite3_bind_text(stmt, 3, agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)batch_seq);
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (step != SQLITE_DONE) return store_sql_fail(s, step, err, "claim batch");
    *claimed = sqlite3_changes(s->db) == 1;
    return HAE_OK;
}

static int rows_insert(store *s, const char *agent_id, int64_t now_ns,
                       const store_event_row *rows, size_t count, store_ingest_result *out,
                       hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "INSERT OR IGNORE INTO events(id, agent_id, host, time_ns,"
                               " received_ns, body, claimed_host) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 2, agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now_ns);
    for (size_t i = 0; i < count && rc == HAE_OK; i++) {
        sqlite3_bind_text(stmt, 1, rows[i].id, -1, SQLITE_STATIC);
        if (rows[i].host) {
            sqlite3_bind_text(stmt, 3, rows[i].host, -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(stmt, 3);
        }
        if (rows[i].claimed_host) {
            sqlite3_bind_text(stmt, 7, rows[i].claimed_host, -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(stmt, 7);
        }
        sqlite3_bind_int64(stmt, 4, rows[i].time_ns);
        sqlite3_bind_text(stmt, 6, rows[i].json, (int)rows[i].json_len, SQLITE_STATIC);
        int step = sqlite3_step(stmt);
        if (step != SQLITE_DONE) {
            rc = store_sql_fail(s, step, err, "store event");
        } else if (sqlite3_changes(s->db) == 1) {
            out->stored++;
        } else {
            out->duplicates++;
        }
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* One caller's batch waiting for a group commit. */
struct ingest_request {
    const char *agent_id;
    uint64_t batch_seq;
    int64_t now_ns;
    const store_event_row *rows;
    size_t count;
    store_ingest_result *out;
    hae_err *err;
    int rc;
    bool claimed;
    bool is_done;
    ingest_request *next;
};

/* One batch inside the group's transaction, under a savepoint so that a
 * batch that fails (or is a replay) leaves the others untouched. */
static void group_write_one(store *s, ingest_request *r) {
    memset(r->out, 0, sizeof *r->out);
    r->rc = store_sql_exec(s, "SAVEPOINT batch", r->err);
    if (r->rc == HAE_OK) {
        r->rc = batch_claim(s, r->agent_id, r->batch_seq, r->now_ns, &r->claimed, r->err);
    }
    if (r->rc == HAE_OK && r->claimed) {
        r->rc = rows_insert(s, r->agent_id, r->now_ns, r->rows, r->count, r->out, r->err);
    }
    if (r->rc < 0 || !r->claimed) {
        (void)sqlite3_exec(s->db, "ROLLBACK TO batch", NULL, NULL, NULL);
        r->claimed = false;
    }
    (void)sqlite3_exec(s->db, "RELEASE batch", NULL, NULL, NULL);
}

/* Writes the whole group and commits once: the fsync that dominates a
 * durable insert is paid per group, not per batch (what makes ingest keep
 * up with many agents). Nobody is answered before the commit returns. */
static void group_write(store *s, ingest_request *group) {
    pthread_mutex_lock(&s->lock);
    hae_err begin_err = {0};
    int rc = store_sql_begin(s, &begin_err);
    for (ingest_request *r = group; r && rc == HAE_OK; r = r->next) group_write_one(s, r);
    if (rc == HAE_OK) rc = store_sql_commit(s, &begin_err);
    else store_sql_rollback(s);
    for (ingest_request *r = group; r; r = r->next) {
        if (rc < 0 && (r->rc == HAE_OK || r->claimed)) {
            /* Nothing of the group is stored: every batch hears why. */
            r->rc = rc;
            if (r->err) *r->err = begin_err;
        }
        if (r->rc < 0 || !r->claimed) {
            r->out->stored = r->out->duplicates = 0;
            r->out->is_rejected = r->rc == HAE_OK;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

int store_events_ingest(store *s, const char *agent_id, uint64_t batch_seq, int64_t now_ns,
                        const store_event_row *rows, size_t count, store_ingest_result *out,
                        hae_err *err) {
    ingest_request me = {.agent_id = agent_id, .batch_seq = batch_seq, .now_ns = now_ns,
                         .rows = rows, .count = count, .out = out, .err = err};
    pthread_mutex_lock(&s->group_lock);
    /* Queue in arrival order (tail append keeps batches of one agent in
     * sequence order within a group). */
    ingest_request **tail = &s->group_queue;
    while (*tail) tail = &(*tail)->next;
    *tail = &me;
    while (!me.is_done) {
        if (s->group_has_leader) {
            pthread_cond_wait(&s->group_done, &s->group_lock);
            continue;
        }
        /* Lead: take everything queued so far, ours included. */
        s->group_has_leader = true;
        ingest_request *group = s->group_queue;
        s->group_queue = NULL;
        pthread_mutex_unlock(&s->group_lock);
        group_write(s, group);
        pthread_mutex_lock(&s->group_lock);
        for (ingest_request *r = group, *next; r; r = next) {
            next = r->next; /* r may return (and vanish) once is_done is seen */
            r->is_done = true;
        }
        s->group_has_leader = false;
        pthread_cond_broadcast(&s->group_done);
    }
    pthread_mutex_unlock(&s->group_lock);
    return me.rc;
}

static int count_query(store *s, const char *sql, bool has_arg, uint64_t arg, uint64_t *count,
                       hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, sql, &stmt, err);
    if (rc == HAE_OK) {
        if (has_arg) sqlite3_bind_int64(stmt, 1, (sqlite3_int64)arg);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            *count = (uint64_t)sqlite3_column_int64(stmt, 0);
        } else {
            rc = store_sql_fail(s, step, err, "count events");
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_event_count(store *s, uint64_t *count, hae_err *err) {
    return count_query(s, "SELECT count(*) FROM events", false, 0, count, err);
}

int store_events_after_count(store *s, uint64_t seq, uint64_t *count, hae_err *err) {
    return count_query(s, "SELECT count(*) FROM events WHERE seq > ?", true, seq, count, err);
}

int store_events_read(store *s, uint64_t after_seq, size_t limit, store_event_fn fn, void *ctx,
                      uint64_t *last_seq, hae_err *err) {
    *last_seq = after_seq;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT seq, body, host FROM events WHERE seq > ? ORDER BY seq"
                               " LIMIT ?",
                               &stmt, err);
    int step = SQLITE_DONE;
    if (rc == HAE_OK) {
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)after_seq);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)limit);
    }
    while (rc == HAE_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        const char *body = (const char *)sqlite3_column_text(stmt, 1);
        size_t len = (size_t)sqlite3_column_bytes(stmt, 1);
        const char *host = (const char *)sqlite3_column_text(stmt, 2);
        rc = fn(ctx, seq, body ? body : "", len, host, err);
        *last_seq = seq;
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "read events");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_cursor_get(store *s, const char *name, uint64_t *value, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    *value = 0;
    int rc = store_sql_prepare(s, "SELECT value FROM cursors WHERE name = ?", &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            *value = (uint64_t)sqlite3_column_int64(stmt, 0);
        } else if (step != SQLITE_DONE) {
            rc = store_sql_fail(s, step, err, "read cursor");
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
