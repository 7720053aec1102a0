/* SQLite back end: opening, pragmas, migrations and the helpers the other
 * store files share. https://sqlite.org/wal.html: in WAL mode with
 * synchronous=FULL the WAL is fsynced at every commit, so a commit that
 * returned is durable; NORMAL would only be durable up to the last
 * checkpoint after a power cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

#define STORE_BUSY_TIMEOUT_MS 10000

int store_sql_fail(store *s, int rc, hae_err *err, const char *what) {
    int primary = rc & 0xff;
    if (primary == SQLITE_FULL) {
        s->is_full = true;
        return hae_err_set(err, HAE_EIO, "%s: disk full (%s)", what, sqlite3_errmsg(s->db));
    }
    if (primary == SQLITE_NOMEM) {
        return hae_err_set(err, HAE_ENOMEM, "%s: out of memory", what);
    }
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        return hae_err_set(err, HAE_ELIMIT, "%s: database busy (%s)", what,
                           sqlite3_errmsg(s->db));
    }
    if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) {
        return hae_err_set(err, HAE_EIO, "%s: %s", what, sqlite3_errmsg(s->db));
    }
    return hae_err_set(err, HAE_EIO, "%s: %s (sqlite code %d)", what, sqlite3_errmsg(s->db), rc);
}

int store_sql_exec(store *s, const char *sql, hae_err *err) {
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? HAE_OK : store_sql_fail(s, rc, err, "sql");
}

int store_sql_prepare(store *s, const char *sql, sqlite3_stmt **stmt, hae_err *err) {
    int rc = sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL);
    return rc == SQLITE_OK ? HAE_OK : store_sql_fail(s, rc, err, "prepare");
}

int store_sql_begin(store *s, hae_err *err) {
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc == SQLITE_OK ? HAE_OK : store_sql_fail(s, rc, err, "begin transaction");
}

int store_sql_commit(store *s, hae_err *err) {
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int code = store_sql_fail(s, rc, err, "commit");
        store_sql_rollback(s);
        return code;
    }
    s->is_full = false;
    return HAE_OK;
}

void store_sql_rollback(store *s) {
    if (!sqlite3_get_autocommit(s->db)) {
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

void store_sql_text(sqlite3_stmt *stmt, int col, char *out, size_t size) {
    if (size == 0) return;
    const unsigned char *text = sqlite3_column_text(stmt, col);
    out[0] = '\0';
    if (!text) return;
    size_t len = (size_t)sqlite3_column_bytes(stmt, col);
    if (len >= size) len = size - 1;
    memcpy(out, text, len);
    out[len] = '\0';
}

bool store_sql_hash_equal(const uint8_t *a, const uint8_t *b, size_t len) {
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < len; i++) diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

static int schema_current(store *s, int *version, hae_err *err) {
    sqlite3_stmt *stmt = NULL;
    int rc = store_sql_prepare(s, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                               &stmt, err);
    if (rc < 0) return rc;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        *version = sqlite3_column_int(stmt, 0);
        rc = HAE_OK;
    } else {
        rc = store_sql_fail(s, sqlite3_errcode(s->db), err, "read schema version");
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int schema_migrate(store *s, hae_err *err) {
    int rc = store_sql_exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations("
                               "version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL)", err);
    int version = 0;
    if (rc < 0 || (rc = schema_current(s, &version, err)) < 0) return rc;
    if (version > (int)store_migration_count) {
        return hae_err_set(err, HAE_ENOTSUP,
                           "database schema version %d is newer than this build's %zu", version,
                           store_migration_count);
    }
    for (size_t i = (size_t)version; i < store_migration_count; i++) {
        char record[128];
        snprintf(record, sizeof record,
                 "INSERT INTO schema_migrations(version, applied_ns) VALUES (%zu, %lld)", i + 1,
                 (long long)hae_time_now_ns());
        if ((rc = store_sql_begin(s, err)) < 0) return rc;
        if (store_sql_exec(s, store_migrations[i], err) < 0 ||
            store_sql_exec(s, record, err) < 0) {
            store_sql_rollback(s);
            return hae_err_prefix(err, "schema migration %zu", i + 1);
        }
        if ((rc = store_sql_commit(s, err)) < 0) return rc;
    }
    return HAE_OK;
}

int store_open(store **out, const char *location, hae_err *err) {
    *out = NULL;
    store *s = calloc(1, sizeof *s);
    if (!s) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return hae_err_set(err, HAE_ENOMEM, "cannot create a mutex");
    }
    if (pthread_mutex_init(&s->group_lock, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return hae_err_set(err, HAE_ENOMEM, "cannot create a mutex");
    }
    if (pthread_cond_init(&s->group_done, NULL) != 0) {
        pthread_mutex_destroy(&s->group_lock);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return hae_err_set(err, HAE_ENOMEM, "cannot create a condition variable");
    }
    int rc = sqlite3_open_v2(location, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        hae_err_set(err, HAE_EIO, "%s: cannot open database: %s", location,
                    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(s);
        return HAE_EIO;
    }
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(s->db, 1);
    if ((rc = store_sql_exec(s, "PRAGMA journal_mode=WAL", err)) < 0 ||
        (rc = store_sql_exec(s, "PRAGMA synchronous=FULL", err)) < 0 ||
        (rc = store_sql_exec(s, "PRAGMA foreign_keys=ON", err)) < 0 ||
        (rc = schema_migrate(s, err)) < 0) {
        hae_err_prefix(err, "%s", location);
        store_close(s);
        return rc;
    }
    *out = s;
    return HAE_OK;
}

void store_close(store *s) {
    if (!s) return;
    if (s->db) sqlite3_close_v2(s->db);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->group_done);
    pthread_mutex_destroy(&s->group_lock);
    free(s);
}

int store_schema_version(store *s, int *version, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int rc = schema_current(s, version, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

bool store_is_full(store *s) {
    pthread_mutex_lock(&s->lock);
    bool full = s->is_full;
    pthread_mutex_unlock(&s->lock);
    return full;
}
