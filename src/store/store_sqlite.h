/* Private to src/store: the SQLite back end's handle and helpers. */
#ifndef HAETAE_STORE_SQLITE_H
#define HAETAE_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

typedef struct ingest_request ingest_request;

struct store {
    sqlite3 *db;
    pthread_mutex_t lock;
    bool is_full;  /* the last commit failed for lack of space */
    /* Group commit of event batches (store_events.c): requests queue here;
     * one caller at a time leads, writing every queued batch in one
     * transaction and one fsync, and wakes the others with their results. */
    pthread_mutex_t group_lock;
    pthread_cond_t group_done;
    ingest_request *group_queue;
    bool group_has_leader;
};

/* The schema, oldest first: migration i brings the schema to version i + 1. */
extern const char *const store_migrations[];
extern const size_t store_migration_count;

/* Fills err from the connection's last error ("what: message"); maps
 * SQLITE_FULL to HAE_EIO "disk full" and records it, busy to HAE_ELIMIT. */
int store_sql_fail(store *s, int rc, hae_err *err, const char *what);
int store_sql_exec(store *s, const char *sql, hae_err *err);
int store_sql_prepare(store *s, const char *sql, sqlite3_stmt **stmt, hae_err *err);
/* BEGIN IMMEDIATE, so a writer takes the lock before reading what it changes. */
int store_sql_begin(store *s, hae_err *err);
int store_sql_commit(store *s, hae_err *err);
void store_sql_rollback(store *s);

/* Copies column col as text into out (size bytes, truncated, NUL-terminated). */
void store_sql_text(sqlite3_stmt *stmt, int col, char *out, size_t size);
/* Appends t to the history (t->seq filled), inside the caller's transaction. */
int store_sql_transition_insert(store *s, store_transition *t, hae_err *err);
/* Inserts a (id and incident_id set) and counts it in its incident. */
int store_sql_alert_insert(store *s, const store_alert *a, int64_t now_ns, hae_err *err);
/* The fixed column prefix of a moment ("confirmed" -> confirmed_ns), NULL if unknown. */
const char *store_sql_moment_column(const char *moment);
bool store_sql_hash_equal(const uint8_t *a, const uint8_t *b, size_t len); /* constant time */

#endif
