/* Reading incidents and their history, and changing their state. */
#include <stdio.h>
#include <string.h>

#include "store/store_sqlite.h"

#define INCIDENT_COLUMNS                                                                   \
    "id, state, host, family, title, detected_ns, created_ns, updated_ns, last_alert_ns," \
    " alert_count, suspected_ns, confirmed_ns, classified_major_ns, materiality_determined_ns," \
    " aware_ns"

static void incident_row(sqlite3_stmt *stmt, store_incident *in) {
    memset(in, 0, sizeof *in);
    store_sql_text(stmt, 0, in->id, sizeof in->id);
    store_sql_text(stmt, 1, in->state, sizeof in->state);
    store_sql_text(stmt, 2, in->host, sizeof in->host);
    store_sql_text(stmt, 3, in->family, sizeof in->family);
    store_sql_text(stmt, 4, in->title, sizeof in->title);
    in->detected_ns = sqlite3_column_int64(stmt, 5);
    in->created_ns = sqlite3_column_int64(stmt, 6);
    in->updated_ns = sqlite3_column_int64(stmt, 7);
    in->last_alert_ns = sqlite3_column_int64(stmt, 8);
    in->alert_count = (uint64_t)sqlite3_column_int64(stmt, 9);
    in->suspected_ns = sqlite3_column_int64(stmt, 10);
    in->confirmed_ns = sqlite3_column_int64(stmt, 11);
    in->classified_major_ns = sqlite3_column_int64(stmt, 12);
    in->materiality_determined_ns = sqlite3_column_int64(stmt, 13);
    in->aware_ns = sqlite3_column_int64(stmt, 14);
}

int store_incident_list(store *s, const char *state, store_incident_fn fn, void *ctx,
                        hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "SELECT " INCIDENT_COLUMNS " FROM incidents"
                               " WHERE ?1 IS NULL OR state = ?1 ORDER BY detected_ns DESC, id",
                               &stmt, err);
    int step = SQLITE_DONE;
    if (rc == HAE_OK && state) sqlite3_bind_text(stmt, 1, state, -1, SQLITE_STATIC);
    while (rc == HAE_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        store_incident in;
        incident_row(stmt, &in);
        rc = fn(ctx, &in, err);
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "list incidents");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int incident_read(store *s, const char *id, store_incident *out, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE id = ?", &stmt,
                               err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        incident_row(stmt, out);
    } else if (step == SQLITE_DONE) {
        rc = hae_err_set(err, HAE_ENOENT, "no incident with id '%s'", id);
    } else {
        rc = store_sql_fail(s, step, err, "read incident");
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_incident_get(store *s, const char *id, store_incident *out, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int rc = incident_read(s, id, out, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_incident_transitions(store *s, const char *incident_id, store_transition_fn fn,
                               void *ctx, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "SELECT seq, incident_id, from_state, to_state, who, why, moment,"
                               " at_ns FROM transitions WHERE incident_id = ? ORDER BY seq",
                               &stmt, err);
    int step = SQLITE_DONE;
    if (rc == HAE_OK) sqlite3_bind_text(stmt, 1, incident_id, -1, SQLITE_STATIC);
    while (rc == HAE_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        store_transition t;
        memset(&t, 0, sizeof t);
        t.seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        store_sql_text(stmt, 1, t.incident_id, sizeof t.incident_id);
        store_sql_text(stmt, 2, t.from_state, sizeof t.from_state);
        store_sql_text(stmt, 3, t.to_state, sizeof t.to_state);
        store_sql_text(stmt, 4, t.who, sizeof t.who);
        store_sql_text(stmt, 5, t.why, sizeof t.why);
        store_sql_text(stmt, 6, t.moment, sizeof t.moment);
        t.at_ns = sqlite3_column_int64(stmt, 7);
        rc = fn(ctx, &t, err);
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "read transitions");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int run(store *s, sqlite3_stmt *stmt, hae_err *err, const char *what) {
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return step == SQLITE_DONE ? HAE_OK : store_sql_fail(s, step, err, what);
}

static int transition_apply(store *s, store_transition *t, hae_err *err) {
    store_incident in;
    int rc = incident_read(s, t->incident_id, &in, err);
    if (rc < 0) return rc;
    if (strcmp(in.state, t->from_state) != 0) {
        return hae_err_set(err, HAE_ELIMIT, "incident %s is now %s, not %s", in.id, in.state,
                           t->from_state);
    }
    if ((rc = store_sql_transition_insert(s, t, err)) < 0) return rc;
    sqlite3_stmt *stmt = NULL;
    if ((rc = store_sql_prepare(s, "UPDATE incidents SET state = ?, updated_ns = ? WHERE id = ?",
                                &stmt, err)) < 0) {
        return rc;
    }
    sqlite3_bind_text(stmt, 1, t->to_state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, t->at_ns);
    sqlite3_bind_text(stmt, 3, t->incident_id, -1, SQLITE_STATIC);
    if ((rc = run(s, stmt, err, "change state")) < 0 || t->moment[0] == '\0') return rc;
    /* The column name comes from the fixed list, never from the caller's text. */
    const char *column = store_sql_moment_column(t->moment);
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE incidents SET %s_ns = ? WHERE id = ? AND %s_ns = 0", column,
             column);
    if ((rc = store_sql_prepare(s, sql, &stmt, err)) < 0) return rc;
    sqlite3_bind_int64(stmt, 1, t->at_ns);
    sqlite3_bind_text(stmt, 2, t->incident_id, -1, SQLITE_STATIC);
    return run(s, stmt, err, "record moment");
}

int store_incident_transition(store *s, store_transition *t, hae_err *err) {
    if (t->moment[0] && !store_moment_is_known(t->moment)) {
        return hae_err_set(err, HAE_EINVAL, "unknown moment '%s'", t->moment);
    }
    if (t->at_ns == 0) t->at_ns = hae_time_now_ns();
    pthread_mutex_lock(&s->lock);
    int rc = store_sql_begin(s, err);
    if (rc == HAE_OK) rc = transition_apply(s, t, err);
    if (rc == HAE_OK) {
        rc = store_sql_commit(s, err);
    } else {
        store_sql_rollback(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int recount(store *s, const char *incident_id, int64_t now_ns, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(
        s,
        "UPDATE incidents SET alert_count = (SELECT count(*) FROM alerts WHERE incident_id = ?1),"
        " last_alert_ns = coalesce((SELECT max(time_ns) FROM alerts WHERE incident_id = ?1),"
        " last_alert_ns),"
        " detected_ns = coalesce((SELECT min(time_ns) FROM alerts WHERE incident_id = ?1),"
        " detected_ns), updated_ns = ?2 WHERE id = ?1",
        &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now_ns);
    return run(s, stmt, err, "recount incident");
}

static int alert_move_locked(store *s, const char *alert_id, const char *incident_id,
                             const char *who, const char *why, int64_t now_ns, hae_err *err) {
    store_incident target;
    int rc = incident_read(s, incident_id, &target, err);
    if (rc < 0) return rc;
    sqlite3_stmt *stmt = NULL;
    if ((rc = store_sql_prepare(s, "SELECT incident_id FROM alerts WHERE id = ?", &stmt, err)) < 0)
        return rc;
    sqlite3_bind_text(stmt, 1, alert_id, -1, SQLITE_STATIC);
    char source[HAE_ID_LEN] = "";
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) store_sql_text(stmt, 0, source, sizeof source);
    sqlite3_finalize(stmt);
    if (step == SQLITE_DONE) return hae_err_set(err, HAE_ENOENT, "no alert with id '%s'", alert_id);
    if (step != SQLITE_ROW) return store_sql_fail(s, step, err, "read alert");
    if ((rc = store_sql_prepare(s, "UPDATE alerts SET incident_id = ? WHERE id = ?", &stmt, err)) < 0)
        return rc;
    sqlite3_bind_text(stmt, 1, incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, alert_id, -1, SQLITE_STATIC);
    if ((rc = run(s, stmt, err, "move alert")) < 0 ||
        (rc = recount(s, source, now_ns, err)) < 0 ||
        (rc = recount(s, incident_id, now_ns, err)) < 0) {
        return rc;
    }
    store_transition t = {.at_ns = now_ns};
    snprintf(t.incident_id, sizeof t.incident_id, "%s", incident_id);
    snprintf(t.from_state, sizeof t.from_state, "%s", target.state);
    snprintf(t.to_state, sizeof t.to_state, "%s", target.state);
    snprintf(t.who, sizeof t.who, "%s", who);
    snprintf(t.why, sizeof t.why, "alert %s joined from incident %s: %s", alert_id, source, why);
    return store_sql_transition_insert(s, &t, err);
}

int store_alert_move(store *s, const char *alert_id, const char *incident_id, const char *who,
                     const char *why, int64_t now_ns, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int rc = store_sql_begin(s, err);
    if (rc == HAE_OK) rc = alert_move_locked(s, alert_id, incident_id, who, why, now_ns, err);
    if (rc == HAE_OK) {
        rc = store_sql_commit(s, err);
    } else {
        store_sql_rollback(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
