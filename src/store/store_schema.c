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
    /* 2: the ledger outbox and index, incident attributes, reports sent, the
     * awareness moment. Triggers put every alert, transition, attribute
     * change and report sent into ledger_outbox in the same transaction as
     * the record itself, whoever writes it (the worker, the API, the CLI):
     * the server's ledger writer drains the outbox into the Merkle log and
     * moves each row to ledger_index with its leaf index (docs/LEDGER.md
     * "The server's ledger"). meta holds identifiers only; body is the
     * record's canonical JSON, whose SHA-256 is what the entry carries. */
    "ALTER TABLE incidents ADD COLUMN aware_ns INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE incident_attributes("
    "  seq INTEGER PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents(id),"
    "  name TEXT NOT NULL, value TEXT NOT NULL, who TEXT NOT NULL, at_ns INTEGER NOT NULL);"
    "CREATE INDEX incident_attributes_incident ON incident_attributes(incident_id, name, seq);"
    "CREATE TABLE reports_sent("
    "  seq INTEGER PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents(id),"
    "  obligation TEXT NOT NULL, recipient TEXT NOT NULL, who TEXT NOT NULL,"
    "  report_sha256 TEXT NOT NULL, at_ns INTEGER NOT NULL);"
    "CREATE INDEX reports_sent_incident ON reports_sent(incident_id, obligation, seq);"
    "CREATE TABLE ledger_outbox("
    "  seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, ref TEXT NOT NULL,"
    "  incident_id TEXT NOT NULL, at_ns INTEGER NOT NULL, meta TEXT NOT NULL,"
    "  body TEXT NOT NULL);"
    "CREATE TABLE ledger_index("
    "  idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, ref TEXT NOT NULL,"
    "  incident_id TEXT NOT NULL, at_ns INTEGER NOT NULL, body TEXT);"
    "CREATE INDEX ledger_index_incident ON ledger_index(incident_id, idx);"
    "CREATE INDEX ledger_index_ref ON ledger_index(kind, ref);"
    "CREATE TRIGGER ledger_alert AFTER INSERT ON alerts BEGIN"
    "  INSERT INTO ledger_outbox(kind, ref, incident_id, at_ns, meta, body) VALUES ('alert',"
    "  NEW.id, NEW.incident_id, NEW.created_ns,"
    "  json_object('alert_id', NEW.id, 'host_id', NEW.host, 'incident_id', NEW.incident_id,"
    "  'rule', NEW.rule_id),"
    "  json_object('id', NEW.id, 'time_ns', NEW.time_ns, 'rule_id', NEW.rule_id,"
    "  'rule_title', NEW.rule_title, 'level', NEW.level, 'family', NEW.family, 'host', NEW.host,"
    "  'event_id', NEW.event_id, 'incident_id', NEW.incident_id, 'created_ns', NEW.created_ns));"
    "END;"
    "CREATE TRIGGER ledger_transition AFTER INSERT ON transitions BEGIN"
    "  INSERT INTO ledger_outbox(kind, ref, incident_id, at_ns, meta, body) VALUES"
    "  ('transition', CAST(NEW.seq AS TEXT), NEW.incident_id, NEW.at_ns,"
    "  json_object('incident_id', NEW.incident_id, 'seq', CAST(NEW.seq AS TEXT),"
    "  'from', NEW.from_state, 'to', NEW.to_state, 'moment', NEW.moment),"
    "  json_object('seq', NEW.seq, 'incident_id', NEW.incident_id, 'from', NEW.from_state,"
    "  'to', NEW.to_state, 'who', NEW.who, 'why', NEW.why, 'moment', NEW.moment,"
    "  'at_ns', NEW.at_ns));"
    "END;"
    "CREATE TRIGGER ledger_attribute AFTER INSERT ON incident_attributes BEGIN"
    "  INSERT INTO ledger_outbox(kind, ref, incident_id, at_ns, meta, body) VALUES"
    "  ('incident_attribute', CAST(NEW.seq AS TEXT), NEW.incident_id, NEW.at_ns,"
    "  json_object('incident_id', NEW.incident_id, 'name', NEW.name, 'seq', CAST(NEW.seq AS TEXT)),"
    "  json_object('seq', NEW.seq, 'incident_id', NEW.incident_id, 'name', NEW.name,"
    "  'value', NEW.value, 'who', NEW.who, 'at_ns', NEW.at_ns));"
    "END;"
    "CREATE TRIGGER ledger_report AFTER INSERT ON reports_sent BEGIN"
    "  INSERT INTO ledger_outbox(kind, ref, incident_id, at_ns, meta, body) VALUES"
    "  ('report_sent', CAST(NEW.seq AS TEXT), NEW.incident_id, NEW.at_ns,"
    "  json_object('incident_id', NEW.incident_id, 'obligation', NEW.obligation,"
    "  'report_sha256', NEW.report_sha256, 'seq', CAST(NEW.seq AS TEXT)),"
    "  json_object('seq', NEW.seq, 'incident_id', NEW.incident_id, 'obligation', NEW.obligation,"
    "  'recipient', NEW.recipient, 'who', NEW.who, 'report_sha256', NEW.report_sha256,"
    "  'at_ns', NEW.at_ns));"
    "END;"
    /* What was recorded before this migration joins the ledger too, oldest first. */
    "INSERT INTO ledger_outbox(kind, ref, incident_id, at_ns, meta, body)"
    "  SELECT kind, ref, incident_id, at_ns, meta, body FROM ("
    "  SELECT 'alert' AS kind, id AS ref, incident_id, created_ns AS at_ns,"
    "  json_object('alert_id', id, 'host_id', host, 'incident_id', incident_id, 'rule', rule_id)"
    "  AS meta, json_object('id', id, 'time_ns', time_ns, 'rule_id', rule_id, 'rule_title',"
    "  rule_title, 'level', level, 'family', family, 'host', host, 'event_id', event_id,"
    "  'incident_id', incident_id, 'created_ns', created_ns) AS body, 0 AS tie FROM alerts"
    "  UNION ALL SELECT 'transition', CAST(seq AS TEXT), incident_id, at_ns,"
    "  json_object('incident_id', incident_id, 'seq', CAST(seq AS TEXT), 'from', from_state,"
    "  'to', to_state, 'moment', moment),"
    "  json_object('seq', seq, 'incident_id', incident_id, 'from', from_state, 'to', to_state,"
    "  'who', who, 'why', why, 'moment', moment, 'at_ns', at_ns), seq FROM transitions)"
    "  ORDER BY at_ns, tie;",
    /* 3: an event's host is the one its agent enrolled as, whatever the
     * event claims (kept in claimed_host, NULL when the same), and ids
     * deduplicate per agent, so that one agent can neither raise alerts for
     * another host nor suppress another agent's event by reusing its id.
     * SQLite cannot drop a UNIQUE constraint in place: the table is rebuilt
     * (this migration runs in one transaction). No trigger or index
     * references events, so the ledger triggers stay as they are; seq is
     * copied, so the detection cursor still points at the same event. */
    "CREATE TABLE events_rebuilt("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, agent_id TEXT NOT NULL,"
    "  host TEXT, time_ns INTEGER NOT NULL, received_ns INTEGER NOT NULL,"
    "  body TEXT NOT NULL, claimed_host TEXT, UNIQUE(agent_id, id));"
    "INSERT INTO events_rebuilt(seq, id, agent_id, host, time_ns, received_ns, body,"
    "  claimed_host)"
    "  SELECT e.seq, e.id, e.agent_id, coalesce(a.hostname, e.host), e.time_ns, e.received_ns,"
    "  e.body, CASE WHEN a.hostname IS NOT NULL AND e.host IS NOT a.hostname THEN e.host END"
    "  FROM events AS e LEFT JOIN agents AS a ON a.id = e.agent_id ORDER BY e.seq;"
    "DROP TABLE events;"
    "ALTER TABLE events_rebuilt RENAME TO events;",
};

const size_t store_migration_count = sizeof store_migrations / sizeof store_migrations[0];
