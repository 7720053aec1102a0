/* Incident attributes, reports sent, alerts raised on a given incident, and
 * the ledger outbox (migration 2). The outbox is filled by triggers in the
 * same transaction as each record; this file only reads it and moves what
 * the ledger writer has appended into ledger_index. */
#include <stdio.h>
#include <string.h>

#include "store/store_sqlite.h"

static int run(store *s, sqlite3_stmt *stmt, hae_err *err, const char *what) {
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return step == SQLITE_DONE ? HAE_OK : store_sql_fail(s, step, err, what);
}

/* HAE_ENOENT unless the incident exists; inside the caller's lock. */
static int incident_exists(store *s, const char *id, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT 1 FROM incidents WHERE id = ?", &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (step == SQLITE_ROW) return HAE_OK;
    if (step == SQLITE_DONE) return hae_err_set(err, HAE_ENOENT, "no incident with id '%s'", id);
    return store_sql_fail(s, step, err, "find incident");
}

/* Runs one statement, bound by bind(), in a transaction that first checks
 * the incident exists; *rowid gets the new row's id. */
typedef void (*bind_fn)(sqlite3_stmt *stmt, const void *ctx);

static int insert_for_incident(store *s, const char *incident_id, const char *sql, bind_fn bind,
                               const void *ctx, uint64_t *rowid, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int rc = store_sql_begin(s, err);
    if (rc == HAE_OK) rc = incident_exists(s, incident_id, err);
    sqlite3_stmt *stmt = NULL;
    if (rc == HAE_OK) rc = store_sql_prepare(s, sql, &stmt, err);
    if (rc == HAE_OK) {
        bind(stmt, ctx);
        rc = run(s, stmt, err, "insert");
    }
    if (rc == HAE_OK && rowid) *rowid = (uint64_t)sqlite3_last_insert_rowid(s->db);
    if (rc == HAE_OK) {
        rc = store_sql_commit(s, err);
    } else {
        store_sql_rollback(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

typedef struct attr_row {
    const char *incident_id, *name, *value, *who;
    int64_t at_ns;
} attr_row;

static void bind_attr(sqlite3_stmt *stmt, const void *ctx) {
    const attr_row *a = ctx;
    sqlite3_bind_text(stmt, 1, a->incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, a->value, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, a->who, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, a->at_ns);
}

int store_incident_attr_set(store *s, const char *incident_id, const char *name,
                            const char *value, const char *who, uint64_t *seq, hae_err *err) {
    attr_row a = {incident_id, name, value, who, hae_time_now_ns()};
    return insert_for_incident(s, incident_id,
                               "INSERT INTO incident_attributes(incident_id, name, value, who,"
                               " at_ns) VALUES (?, ?, ?, ?, ?)",
                               bind_attr, &a, seq, err);
}

static int attrs_query(store *s, const char *sql, const char *incident_id, store_attr_fn fn,
                       void *ctx, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, sql, &stmt, err);
    int step = SQLITE_DONE;
    if (rc == HAE_OK) sqlite3_bind_text(stmt, 1, incident_id, -1, SQLITE_STATIC);
    while (rc == HAE_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        const char *value = (const char *)sqlite3_column_text(stmt, 1);
        rc = fn(ctx, name ? name : "", value ? value : "", sqlite3_column_int64(stmt, 2), err);
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "read attributes");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_incident_attrs(store *s, const char *incident_id, store_attr_fn fn, void *ctx,
                         hae_err *err) {
    return attrs_query(s,
                       "SELECT name, value, at_ns FROM incident_attributes a"
                       " WHERE incident_id = ?1 AND seq = (SELECT max(seq) FROM"
                       " incident_attributes b WHERE b.incident_id = ?1"
                       " AND b.name = a.name) ORDER BY name",
                       incident_id, fn, ctx, err);
}

int store_incident_attr_history(store *s, const char *incident_id, store_attr_fn fn, void *ctx,
                                hae_err *err) {
    return attrs_query(s,
                       "SELECT name, value, at_ns FROM incident_attributes"
                       " WHERE incident_id = ?1 ORDER BY seq",
                       incident_id, fn, ctx, err);
}

static void bind_report(sqlite3_stmt *stmt, const void *ctx) {
    const store_report *r = ctx;
    sqlite3_bind_text(stmt, 1, r->incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, r->obligation, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, r->recipient, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, r->who, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, r->report_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, r->at_ns);
}

int store_report_sent(store *s, store_report *r, hae_err *err) {
    if (r->at_ns == 0) r->at_ns = hae_time_now_ns();
    return insert_for_incident(s, r->incident_id,
                               "INSERT INTO reports_sent(incident_id, obligation, recipient, who,"
                               " report_sha256, at_ns) VALUES (?, ?, ?, ?, ?, ?)",
                               bind_report, r, &r->seq, err);
}

int store_incident_reports(store *s, const char *incident_id, store_report_fn fn, void *ctx,
                           hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "SELECT seq, incident_id, obligation, recipient, who, report_sha256,"
                               " at_ns FROM reports_sent WHERE incident_id = ? ORDER BY seq",
                               &stmt, err);
    int step = SQLITE_DONE;
    if (rc == HAE_OK) sqlite3_bind_text(stmt, 1, incident_id, -1, SQLITE_STATIC);
    while (rc == HAE_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        store_report r;
        memset(&r, 0, sizeof r);
        r.seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        store_sql_text(stmt, 1, r.incident_id, sizeof r.incident_id);
        store_sql_text(stmt, 2, r.obligation, sizeof r.obligation);
        store_sql_text(stmt, 3, r.recipient, sizeof r.recipient);
        store_sql_text(stmt, 4, r.who, sizeof r.who);
        store_sql_text(stmt, 5, r.report_sha256, sizeof r.report_sha256);
        r.at_ns = sqlite3_column_int64(stmt, 6);
        rc = fn(ctx, &r, err);
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "read reports");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int alert_exists(store *s, const store_alert *a, bool *exists, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT 1 FROM alerts WHERE incident_id = ? AND rule_id = ?",
                               &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, a->incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, a->rule_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    *exists = step == SQLITE_ROW;
    return step == SQLITE_ROW || step == SQLITE_DONE ? HAE_OK
                                                     : store_sql_fail(s, step, err, "find alert");
}

int store_alert_raise_once(store *s, store_alert *a, int64_t now_ns, bool *is_new,
                           hae_err *err) {
    *is_new = false;
    pthread_mutex_lock(&s->lock);
    bool exists = false;
    int rc = store_sql_begin(s, err);
    if (rc == HAE_OK) rc = incident_exists(s, a->incident_id, err);
    if (rc == HAE_OK) rc = alert_exists(s, a, &exists, err);
    if (rc == HAE_OK && !exists) {
        hae_id_new(a->id);
        rc = store_sql_alert_insert(s, a, now_ns, err);
    }
    if (rc == HAE_OK) {
        rc = store_sql_commit(s, err);
    } else {
        store_sql_rollback(s);
    }
    if (rc == HAE_OK) *is_new = !exists;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- the outbox --------------------------------------------------------- */

static int ledger_rows(store *s, sqlite3_stmt *stmt, store_ledger_fn fn, void *ctx,
                       hae_err *err) {
    int rc = HAE_OK, step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        store_ledger_record r;
        memset(&r, 0, sizeof r);
        r.seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        store_sql_text(stmt, 1, r.kind, sizeof r.kind);
        store_sql_text(stmt, 2, r.ref, sizeof r.ref);
        store_sql_text(stmt, 3, r.incident_id, sizeof r.incident_id);
        r.at_ns = sqlite3_column_int64(stmt, 4);
        r.meta = (const char *)sqlite3_column_text(stmt, 5);
        r.body = (const char *)sqlite3_column_text(stmt, 6);
        if ((rc = fn(ctx, &r, err)) < 0) break;
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "read ledger");
    sqlite3_finalize(stmt);
    return rc;
}

int store_ledger_pending(store *s, size_t limit, store_ledger_fn fn, void *ctx, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "SELECT seq, kind, ref, incident_id, at_ns, meta, body"
                               " FROM ledger_outbox ORDER BY seq LIMIT ?",
                               &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)limit);
        rc = ledger_rows(s, stmt, fn, ctx, err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_ledger_pending_count(store *s, uint64_t *count, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT count(*) FROM ledger_outbox", &stmt, err);
    if (rc == HAE_OK) {
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            *count = (uint64_t)sqlite3_column_int64(stmt, 0);
        } else {
            rc = store_sql_fail(s, step, err, "count outbox");
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int cursor_read(store *s, uint64_t *value, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT value FROM cursors WHERE name = 'ledger'", &stmt, err);
    if (rc < 0) return rc;
    int step = sqlite3_step(stmt);
    *value = step == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    return step == SQLITE_ROW || step == SQLITE_DONE ? HAE_OK
                                                     : store_sql_fail(s, step, err, "read cursor");
}

static int ledger_move(store *s, size_t count, uint64_t first_index, hae_err *err) {
    uint64_t cursor = 0;
    int rc = cursor_read(s, &cursor, err);
    if (rc < 0) return rc;
    if (cursor != first_index) {
        return hae_err_set(err, HAE_EINVAL, "ledger: records logged from %llu, the store expects %llu",
                           (unsigned long long)first_index, (unsigned long long)cursor);
    }
    static const char create[] = "CREATE TEMP TABLE IF NOT EXISTS ledger_batch(seq INTEGER PRIMARY KEY)";
    static const char clear[] = "DELETE FROM ledger_batch";
    static const char pick[] = "INSERT INTO ledger_batch SELECT seq FROM ledger_outbox ORDER BY seq LIMIT ?1";
    static const char to_index[] =
        "INSERT INTO ledger_index(idx, kind, ref, incident_id, at_ns, body)"
        " SELECT ?2 + row_number() OVER (ORDER BY seq) - 1, kind, ref, incident_id, at_ns, body"
        " FROM ledger_outbox WHERE seq IN (SELECT seq FROM ledger_batch)";
    static const char drop[] = "DELETE FROM ledger_outbox WHERE seq IN (SELECT seq FROM ledger_batch)";
    static const char cursor_sql[] = "INSERT OR REPLACE INTO cursors(name, value) VALUES ('ledger', ?2 + ?1)";
    const char *const sql[] = {create, clear, pick, to_index, drop, cursor_sql};
    for (size_t i = 0; rc == HAE_OK && i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *stmt = NULL;
        if ((rc = store_sql_prepare(s, sql[i], &stmt, err)) < 0) break;
        if (sqlite3_bind_parameter_count(stmt) >= 1) {
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)count);
        }
        if (sqlite3_bind_parameter_count(stmt) >= 2) {
            sqlite3_bind_int64(stmt, 2, (sqlite3_int64)first_index);
        }
        rc = run(s, stmt, err, "move logged records");
    }
    if (rc == HAE_OK && (uint64_t)sqlite3_changes(s->db) != 1) {
        rc = hae_err_set(err, HAE_EIO, "ledger: cursor not recorded");
    }
    return rc;
}

int store_ledger_done(store *s, size_t count, uint64_t first_index, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int rc = store_sql_begin(s, err);
    if (rc == HAE_OK) rc = ledger_move(s, count, first_index, err);
    if (rc == HAE_OK) {
        rc = store_sql_commit(s, err);
    } else {
        store_sql_rollback(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_ledger_index_of(store *s, const char *kind, const char *ref, uint64_t *index,
                          hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT idx FROM ledger_index WHERE kind = ? AND ref = ?",
                               &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, ref, -1, SQLITE_STATIC);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            *index = (uint64_t)sqlite3_column_int64(stmt, 0);
        } else if (step == SQLITE_DONE) {
            rc = hae_err_set(err, HAE_ENOENT, "%s %s is not in the ledger (yet)", kind, ref);
        } else {
            rc = store_sql_fail(s, step, err, "find ledger index");
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_ledger_incident(store *s, const char *incident_id, store_ledger_fn fn, void *ctx,
                          hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "SELECT idx, kind, ref, incident_id, at_ns, '{}', body"
                               " FROM ledger_index WHERE incident_id = ? ORDER BY idx",
                               &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_text(stmt, 1, incident_id, -1, SQLITE_STATIC);
        rc = ledger_rows(s, stmt, fn, ctx, err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
