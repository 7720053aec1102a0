/* The SQLite schema as a list of migrations. Never edit a released
 * migration: append a new one; store_open applies those not yet recorded in
 * schema_migrations, each in its own transaction.
 *
 * Times are int64 nanoseconds since the epoch (0 = not yet). Secrets are
 * stored only as SHA-256 (BLOB). events.seq orders events by arrival, which
 * is what the detection cursor follows; events.id is the deduplication key. */
#include "store/store_sqlite.h"

const char *const store_migrations[] = {
    /* 1: enrollment, agents, events, detection, incidents */
    "CREATE TABLE enroll_tokens("
    "  id INTEGER PRIMARY KEY, hash BLOB NOT NULL, created_ns INTEGER NOT NULL,"
    "  expires_ns INTEGER NOT NULL, used_ns INTEGER NOT NULL DEFAULT 0, used_by TEXT);"
    "CREATE TABLE agents("
    "  id TEXT PRIMARY KEY, hostname TEXT NOT NULL, version TEXT NOT NULL,"
    "  public_key BLOB NOT NULL, enrolled_ns INTEGER NOT NULL,"
    "  last_seen_ns INTEGER NOT NULL DEFAULT 0, last_batch INTEGER NOT NULL DEFAULT 0,"
    "  revoked_ns INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE api_tokens("
    "  id INTEGER PRIMARY KEY, user TEXT NOT NULL, hash BLOB NOT NULL,"
    "  created_ns INTEGER NOT NULL, revoked_ns INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE events("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, agent_id TEXT NOT NULL,"
    "  host TEXT, time_ns INTEGER NOT NULL, received_ns INTEGER NOT NULL,"
    "  body TEXT NOT NULL);"
    "CREATE TABLE cursors(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE incidents("
    "  id TEXT PRIMARY KEY, state TEXT NOT NULL, host TEXT NOT NULL, family TEXT NOT NULL,"
    "  title TEXT NOT NULL, detected_ns INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    "  updated_ns INTEGER NOT NULL, last_alert_ns INTEGER NOT NULL,"
    "  alert_count INTEGER NOT NULL DEFAULT 0,"
    "  suspected_ns INTEGER NOT NULL DEFAULT 0, confirmed_ns INTEGER NOT NULL DEFAULT 0,"
    "  classified_major_ns INTEGER NOT NULL DEFAULT 0,"
    "  materiality_determined_ns INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX incidents_grouping ON incidents(host, family, last_alert_ns);"
    "CREATE TABLE alerts("
    "  id TEXT PRIMARY KEY, time_ns INTEGER NOT NULL, rule_id TEXT NOT NULL,"
    "  rule_title TEXT NOT NULL, level TEXT NOT NULL, family TEXT NOT NULL,"
    "  host TEXT NOT NULL, event_id TEXT NOT NULL,"
    "  incident_id TEXT NOT NULL REFERENCES incidents(id), created_ns INTEGER NOT NULL);"
    "CREATE INDEX alerts_incident ON alerts(incident_id);"
    "CREATE INDEX alerts_time ON alerts(time_ns);"
    "CREATE TABLE transitions("
    "  seq INTEGER PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents(id),"
    "  from_state TEXT NOT NULL, to_state TEXT NOT NULL, who TEXT NOT NULL,"
    "  why TEXT NOT NULL, moment TEXT NOT NULL DEFAULT '', at_ns INTEGER NOT NULL);"
    "CREATE INDEX transitions_incident ON transitions(incident_id, seq);",
};

const size_t store_migration_count = sizeof store_migrations / sizeof store_migrations[0];
