/* Enrollment tokens, agents and analysts' API tokens. Secrets arrive here
 * already hashed; lookups compare every candidate hash in constant time so
 * that how long a refusal takes says nothing about how close a guess was. */
#include <string.h>

#include "store/store_sqlite.h"

int store_enroll_token_add(store *s, const uint8_t hash[STORE_HASH_LEN], int64_t created_ns,
                           int64_t expires_ns, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(
        s, "INSERT INTO enroll_tokens(hash, created_ns, expires_ns) VALUES (?, ?, ?)", &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_blob(stmt, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, created_ns);
        sqlite3_bind_int64(stmt, 3, expires_ns);
        int step = sqlite3_step(stmt);
        rc = step == SQLITE_DONE ? HAE_OK : store_sql_fail(s, step, err, "add enrollment token");
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Id of the unused, unexpired token matching hash; 0 when none. Every
 * candidate is compared, matched or not. */
static int token_find(store *s, const uint8_t hash[STORE_HASH_LEN], int64_t now_ns,
                      int64_t *token_id, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(
        s, "SELECT id, hash FROM enroll_tokens WHERE used_ns = 0 AND expires_ns > ?", &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_int64(stmt, 1, now_ns);
    *token_id = 0;
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const void *candidate = sqlite3_column_blob(stmt, 1);
        if (candidate && sqlite3_column_bytes(stmt, 1) == STORE_HASH_LEN &&
            store_sql_hash_equal(candidate, hash, STORE_HASH_LEN)) {
            *token_id = sqlite3_column_int64(stmt, 0);
        }
    }
    rc = step == SQLITE_DONE ? HAE_OK : store_sql_fail(s, step, err, "read enrollment tokens");
    sqlite3_finalize(stmt);
    return rc;
}

static int agent_insert(store *s, int64_t token_id, int64_t now_ns, store_agent *a,
                        hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "UPDATE enroll_tokens SET used_ns = ?, used_by = ? WHERE id = ?",
                               &stmt, err);
    if (rc < 0) return rc;
    hae_id_new(a->id);
    a->enrolled_ns = now_ns;
    a->last_seen_ns = 0;
    a->last_batch = 0;
    a->revoked_ns = 0;
    sqlite3_bind_int64(stmt, 1, now_ns);
    sqlite3_bind_text(stmt, 2, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, token_id);
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (step != SQLITE_DONE) return store_sql_fail(s, step, err, "use enrollment token");
    rc = store_sql_prepare(s,
                           "INSERT INTO agents(id, hostname, version, public_key, enrolled_ns)"
                           " VALUES (?, ?, ?, ?, ?)",
                           &stmt, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(stmt, 1, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, a->hostname, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, a->version, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 4, a->public_key, STORE_KEY_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now_ns);
    step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return step == SQLITE_DONE ? HAE_OK : store_sql_fail(s, step, err, "create agent");
}

int store_agent_enroll(store *s, const uint8_t token_hash[STORE_HASH_LEN], int64_t now_ns,
                       store_agent *agent, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int64_t token_id = 0;
    int rc = store_sql_begin(s, err);
    if (rc == HAE_OK && (rc = token_find(s, token_hash, now_ns, &token_id, err)) == HAE_OK) {
        if (token_id == 0) {
            rc = hae_err_set(err, HAE_EPERM, "token unknown, already used or expired");
        } else {
            rc = agent_insert(s, token_id, now_ns, agent, err);
        }
    }
    if (rc == HAE_OK) {
        rc = store_sql_commit(s, err);
    } else {
        store_sql_rollback(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

#define AGENT_COLUMNS \
    "id, hostname, version, public_key, enrolled_ns, last_seen_ns, last_batch, revoked_ns"

static void agent_row(sqlite3_stmt *stmt, store_agent *a) {
    memset(a, 0, sizeof *a);
    store_sql_text(stmt, 0, a->id, sizeof a->id);
    store_sql_text(stmt, 1, a->hostname, sizeof a->hostname);
    store_sql_text(stmt, 2, a->version, sizeof a->version);
    const void *key = sqlite3_column_blob(stmt, 3);
    if (key && sqlite3_column_bytes(stmt, 3) == STORE_KEY_LEN) {
        memcpy(a->public_key, key, STORE_KEY_LEN);
    }
    a->enrolled_ns = sqlite3_column_int64(stmt, 4);
    a->last_seen_ns = sqlite3_column_int64(stmt, 5);
    a->last_batch = (uint64_t)sqlite3_column_int64(stmt, 6);
    a->revoked_ns = sqlite3_column_int64(stmt, 7);
}

int store_agent_get(store *s, const char *id, store_agent *out, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT " AGENT_COLUMNS " FROM agents WHERE id = ?", &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            agent_row(stmt, out);
        } else if (step == SQLITE_DONE) {
            rc = hae_err_set(err, HAE_ENOENT, "no agent with id '%s'", id);
        } else {
            rc = store_sql_fail(s, step, err, "read agent");
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_agent_list(store *s, store_agent_fn fn, void *ctx, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT " AGENT_COLUMNS " FROM agents ORDER BY enrolled_ns",
                               &stmt, err);
    int step = SQLITE_DONE;
    while (rc == HAE_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        store_agent a;
        agent_row(stmt, &a);
        rc = fn(ctx, &a, err);
    }
    if (rc == HAE_OK && step != SQLITE_DONE) rc = store_sql_fail(s, step, err, "list agents");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_agent_revoke(store *s, const char *id, int64_t now_ns, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(
        s, "UPDATE agents SET revoked_ns = ? WHERE id = ? AND revoked_ns = 0", &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_int64(stmt, 1, now_ns);
        sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
        int step = sqlite3_step(stmt);
        if (step != SQLITE_DONE) {
            rc = store_sql_fail(s, step, err, "revoke agent");
        } else if (sqlite3_changes(s->db) == 0) {
            sqlite3_stmt *exists = NULL;
            rc = store_sql_prepare(s, "SELECT 1 FROM agents WHERE id = ?", &exists, err);
            if (rc == HAE_OK) {
                sqlite3_bind_text(exists, 1, id, -1, SQLITE_STATIC);
                if (sqlite3_step(exists) != SQLITE_ROW) {
                    rc = hae_err_set(err, HAE_ENOENT, "no agent with id '%s'", id);
                }
            }
            sqlite3_finalize(exists);
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_api_token_add(store *s, const char *user, const uint8_t hash[STORE_HASH_LEN],
                        int64_t now_ns, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "INSERT INTO api_tokens(user, hash, created_ns) VALUES (?, ?, ?)",
                               &stmt, err);
    if (rc == HAE_OK) {
        sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_blob(stmt, 2, hash, STORE_HASH_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, now_ns);
        int step = sqlite3_step(stmt);
        rc = step == SQLITE_DONE ? HAE_OK : store_sql_fail(s, step, err, "add API token");
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_api_token_check(store *s, const uint8_t hash[STORE_HASH_LEN], char user[64],
                          hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    bool found = false;
    int rc = store_sql_prepare(s, "SELECT user, hash FROM api_tokens WHERE revoked_ns = 0", &stmt,
                               err);
    int step = SQLITE_DONE;
    while (rc == HAE_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const void *candidate = sqlite3_column_blob(stmt, 1);
        if (candidate && sqlite3_column_bytes(stmt, 1) == STORE_HASH_LEN &&
            store_sql_hash_equal(candidate, hash, STORE_HASH_LEN)) {
            store_sql_text(stmt, 0, user, 64);
            found = true;
        }
    }
    if (rc == HAE_OK && step != SQLITE_DONE) {
        rc = store_sql_fail(s, step, err, "read API tokens");
    } else if (rc == HAE_OK && !found) {
        rc = hae_err_set(err, HAE_EPERM, "unknown or revoked API token");
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_api_token_count(store *s, uint64_t *count, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT count(*) FROM api_tokens WHERE revoked_ns = 0", &stmt,
                               err);
    if (rc == HAE_OK) {
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            *count = (uint64_t)sqlite3_column_int64(stmt, 0);
        } else {
            rc = store_sql_fail(s, step, err, "count API tokens");
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
