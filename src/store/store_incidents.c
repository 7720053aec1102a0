/* Alerts, incidents and their transitions. The grouping query and the
 * history live here; which states count as closed, what a family is and
 * which transitions are allowed are the caller's policy. */
#include <stdio.h>
#include <string.h>

#include "store/store_sqlite.h"

static const char *const moments[] = {"suspected", "confirmed", "classified_major",
                                      "materiality_determined", "aware"};

const char *store_sql_moment_column(const char *moment) {
    for (size_t i = 0; i < sizeof moments / sizeof moments[0]; i++) {
        if (strcmp(moment, moments[i]) == 0) return moments[i];
    }
    return NULL;
}

bool store_moment_is_known(const char *moment) { return store_sql_moment_column(moment) != NULL; }

int64_t store_incident_moment_ns(const store_incident *in, const char *moment) {
    const int64_t recorded[] = {in->suspected_ns, in->confirmed_ns, in->classified_major_ns,
                                in->materiality_determined_ns, in->aware_ns};
    _Static_assert(sizeof recorded / sizeof recorded[0] == sizeof moments / sizeof moments[0],
                   "one recorded time per moment");
    for (size_t i = 0; i < sizeof moments / sizeof moments[0]; i++) {
        if (strcmp(moment, moments[i]) == 0) return recorded[i];
    }
    return 0;
}

static int step_done(store *s, sqlite3_stmt *stmt, hae_err *err, const char *what) {
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return step == SQLITE_DONE ? HAE_OK : store_sql_fail(s, step, err, what);
}

int store_sql_transition_insert(store *s, store_transition *t, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "INSERT INTO transitions(incident_id, from_state, to_state, who, why,"
                               " moment, at_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, t->incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, t->from_state, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, t->to_state, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, t->who, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, t->why, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, t->moment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, t->at_ns);
    rc = step_done(s, stmt, err, "record transition");
    if (rc == HAE_OK) t->seq = (uint64_t)sqlite3_last_insert_rowid(s->db);
    return rc;
}

/* The open incident an alert joins, or "" when none. */
static int incident_find_open(store *s, const store_alert *a, int64_t window_ns,
                              const char *const *closed_states, char id[HAE_ID_LEN],
                              hae_err *err) {
    char sql[512] = "SELECT id FROM incidents WHERE host = ?1 AND family = ?2"
                    " AND last_alert_ns >= ?3 AND detected_ns <= ?4";
    size_t n = 0;
    while (closed_states && closed_states[n] && n < 16) {
        char param[32];
        snprintf(param, sizeof param, "%s?%zu", n == 0 ? " AND state NOT IN (" : ", ", n + 5);
        strncat(sql, param, sizeof sql - strlen(sql) - 1);
        n++;
    }
    if (n) strncat(sql, ")", sizeof sql - strlen(sql) - 1);
    strncat(sql, " ORDER BY last_alert_ns DESC LIMIT 1", sizeof sql - strlen(sql) - 1);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, sql, &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, a->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, a->family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, a->time_ns - window_ns);
    sqlite3_bind_int64(stmt, 4, a->time_ns + window_ns);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(stmt, (int)i + 5, closed_states[i], -1, SQLITE_STATIC);
    }
    id[0] = '\0';
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        store_sql_text(stmt, 0, id, HAE_ID_LEN);
    } else if (step != SQLITE_DONE) {
        rc = store_sql_fail(s, step, err, "find incident");
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int incident_create(store *s, store_alert *a, const char *state, const char *who,
                           int64_t now_ns, hae_err *err) {
    hae_id_new(a->incident_id);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "INSERT INTO incidents(id, state, host, family, title, detected_ns,"
                               " created_ns, updated_ns, last_alert_ns) VALUES (?,?,?,?,?,?,?,?,?)",
                               &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, a->incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, a->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, a->family, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, a->rule_title, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, a->time_ns);
    sqlite3_bind_int64(stmt, 7, now_ns);
    sqlite3_bind_int64(stmt, 8, now_ns);
    sqlite3_bind_int64(stmt, 9, a->time_ns);
    if ((rc = step_done(s, stmt, err, "create incident")) < 0) return rc;
    store_transition t = {.at_ns = now_ns};
    snprintf(t.incident_id, sizeof t.incident_id, "%s", a->incident_id);
    snprintf(t.to_state, sizeof t.to_state, "%s", state);
    snprintf(t.who, sizeof t.who, "%s", who);
    snprintf(t.why, sizeof t.why, "alert %s (%s) on %s", a->rule_id, a->rule_title, a->host);
    return store_sql_transition_insert(s, &t, err);
}

int store_sql_alert_insert(store *s, const store_alert *a, int64_t now_ns, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "INSERT INTO alerts(id, time_ns, rule_id, rule_title, level, family,"
                               " host, event_id, incident_id, created_ns)"
                               " VALUES (?,?,?,?,?,?,?,?,?,?)",
                               &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, a->time_ns);
    sqlite3_bind_text(stmt, 3, a->rule_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, a->rule_title, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, a->level, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, a->family, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, a->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 8, a->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 9, a->incident_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 10, now_ns);
    if ((rc = step_done(s, stmt, err, "store alert")) < 0) return rc;
    rc = store_sql_prepare(s,
                           "UPDATE incidents SET alert_count = alert_count + 1,"
                           " last_alert_ns = max(last_alert_ns, ?),"
                           " detected_ns = min(detected_ns, ?), updated_ns = ? WHERE id = ?",
                           &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_int64(stmt, 1, a->time_ns);
    sqlite3_bind_int64(stmt, 2, a->time_ns);
    sqlite3_bind_int64(stmt, 3, now_ns);
    sqlite3_bind_text(stmt, 4, a->incident_id, -1, SQLITE_STATIC);
    return step_done(s, stmt, err, "count alert");
}

static int cursor_set(store *s, const char *name, uint64_t value, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "INSERT OR REPLACE INTO cursors(name, value) VALUES (?, ?)",
                               &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)value);
    return step_done(s, stmt, err, "store cursor");
}

int store_alerts_commit(store *s, store_alert *alerts, size_t count, int64_t window_ns,
                        const char *const *closed_states, const char *initial_state,
                        const char *who, int64_t now_ns, const char *cursor_name,
                        uint64_t cursor_value, store_alert_commit *out, hae_err *err) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    int rc = store_sql_begin(s, err);
    for (size_t i = 0; i < count && rc == HAE_OK; i++) {
        store_alert *a = &alerts[i];
        hae_id_new(a->id);
        rc = incident_find_open(s, a, window_ns, closed_states, a->incident_id, err);
        if (rc == HAE_OK && a->incident_id[0] == '\0') {
            rc = incident_create(s, a, initial_state, who, now_ns, err);
            out->incidents_created++;
        }
        if (rc == HAE_OK) rc = store_sql_alert_insert(s, a, now_ns, err);
        out->alerts++;
    }
    if (rc == HAE_OK && cursor_name) rc = cursor_set(s, cursor_name, cursor_value, err);
    if (rc == HAE_OK) {
        rc = store_sql_commit(s, err);
    } else {
        store_sql_rollback(s);
    }
    if (rc < 0) memset(out, 0, sizeof *out);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

#define ALERT_COLUMNS \
    "id, time_ns, rule_id, rule_title, level, family, host, event_id, incident_id"

static void alert_row(sqlite3_stmt *stmt, store_alert *a) {
    memset(a, 0, sizeof *a);
    store_sql_text(stmt, 0, a->id, sizeof a->id);
    a->time_ns = sqlite3_column_int64(stmt, 1);
    store_sql_text(stmt, 2, a->rule_id, sizeof a->rule_id);
    store_sql_text(stmt, 3, a->rule_title, sizeof a->rule_title);
    store_sql_text(stmt, 4, a->level, sizeof a->level);
    store_sql_text(stmt, 5, a->family, sizeof a->family);
    store_sql_text(stmt, 6, a->host, sizeof a->host);
    store_sql_text(stmt, 7, a->event_id, sizeof a->event_id);
    store_sql_text(stmt, 8, a->incident_id, sizeof a->incident_id);
}

static int alerts_query(store *s, sqlite3_stmt *stmt, store_alert_fn fn, void *ctx,
                        hae_err *err) {
    int rc = HAE_OK, step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        store_alert a;
        alert_row(stmt, &a);
        if ((rc = fn(ctx, &a, err)) < 0) break;
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "read alerts");
    sqlite3_finalize(stmt);
    return rc;
}

int store_alert_list(store *s, int64_t since_ns, size_t limit, store_alert_fn fn, void *ctx,
                     hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "SELECT " ALERT_COLUMNS " FROM alerts WHERE time_ns >= ?"
                               " ORDER BY time_ns DESC, id DESC LIMIT ?",
                               &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_int64(stmt, 1, since_ns);
        sqlite3_bind_int64(stmt, 2, limit ? (sqlite3_int64)limit : 1000);
        rc = alerts_query(s, stmt, fn, ctx, err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_incident_alerts(store *s, const char *incident_id, store_alert_fn fn, void *ctx,
                          hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s,
                               "SELECT " ALERT_COLUMNS " FROM alerts WHERE incident_id = ?"
                               " ORDER BY time_ns, id",
                               &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_text(stmt, 1, incident_id, -1, SQLITE_STATIC);
        rc = alerts_query(s, stmt, fn, ctx, err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
