/* store: the server's durable state behind one interface: enrollment and API
 * tokens, agents, events, alerts, incidents and their transitions.
 *
 * Owns every table, every SQL statement and the schema migrations; nothing
 * outside src/store sees SQL or a back end. One back end today: SQLite in
 * WAL mode (synchronous=FULL, so a commit that returned survives a crash or
 * a power cut). A PostgreSQL back end (a later issue) goes behind the same
 * functions, picked by the location given to store_open.
 *
 * Knows nothing of HTTP, signatures or incident policy: states, rule
 * families and moments are opaque text chosen by the caller (the server).
 *
 * A handle is one database connection guarded by its own mutex: it may be
 * shared between threads, and several handles may be open on one database
 * (writers then queue on the database lock, up to a busy timeout). Strings
 * in the row structs below are truncated to their arrays. */
#ifndef HAETAE_STORE_H
#define HAETAE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_HASH_LEN 32   /* SHA-256 of a secret: tokens are never stored in clear */
#define STORE_KEY_LEN 32    /* Ed25519 public key */

typedef struct store store;

/* ---- opening ---------------------------------------------------------- */

/* location: a file path (SQLite; created with its schema if absent, older
 * schemas migrated in order, each migration in its own transaction). */
int store_open(store **out, const char *location, hae_err *err);
void store_close(store *s);                               /* NULL is fine */
int store_schema_version(store *s, int *version, hae_err *err);

/* Errors of commits report disk full as HAE_EIO with "disk full" in the
 * message and set this flag until the next successful commit. */
bool store_is_full(store *s);

/* ---- enrollment tokens and agents ------------------------------------- */

int store_enroll_token_add(store *s, const uint8_t hash[STORE_HASH_LEN], int64_t created_ns,
                           int64_t expires_ns, hae_err *err);

typedef struct store_agent {
    char id[HAE_ID_LEN];
    char hostname[256];
    char version[64];
    uint8_t public_key[STORE_KEY_LEN];
    int64_t enrolled_ns;
    int64_t last_seen_ns;   /* 0: never sent a batch */
    uint64_t last_batch;    /* highest accepted batch sequence, 0: none */
    int64_t revoked_ns;     /* 0: not revoked */
} store_agent;

/* In one transaction: finds an unused, unexpired token whose hash equals
 * token_hash (compared in constant time against every candidate), marks it
 * used and creates the agent from agent->hostname, version and public_key,
 * filling agent->id and enrolled_ns. HAE_EPERM when no token matches. */
int store_agent_enroll(store *s, const uint8_t token_hash[STORE_HASH_LEN], int64_t now_ns,
                       store_agent *agent, hae_err *err);
int store_agent_get(store *s, const char *id, store_agent *out, hae_err *err); /* HAE_ENOENT */
typedef int (*store_agent_fn)(void *ctx, const store_agent *agent, hae_err *err);
int store_agent_list(store *s, store_agent_fn fn, void *ctx, hae_err *err);
int store_agent_revoke(store *s, const char *id, int64_t now_ns, hae_err *err); /* HAE_ENOENT */

/* ---- API tokens (analysts) -------------------------------------------- */

int store_api_token_add(store *s, const char *user, const uint8_t hash[STORE_HASH_LEN],
                        int64_t now_ns, hae_err *err);
/* Compares hash with every token in constant time; the user (up to 63
 * bytes) of the one that matches, HAE_EPERM when none does. */
int store_api_token_check(store *s, const uint8_t hash[STORE_HASH_LEN], char user[64],
                          hae_err *err);
int store_api_token_count(store *s, uint64_t *count, hae_err *err);

/* ---- events ----------------------------------------------------------- */

typedef struct store_event_row {
    const char *id;      /* the event's id: unique per agent (the deduplication key) */
    const char *host;    /* the host the agent enrolled as; may be NULL */
    const char *claimed_host; /* what the event itself named, NULL when it equals host */
    int64_t time_ns;
    const char *json;    /* the event as one JSON line (no newline needed) */
    size_t json_len;
} store_event_row;

typedef struct store_ingest_result {
    uint64_t stored;
    uint64_t duplicates;  /* ids this agent already stored (or repeated in the batch) */
    bool is_rejected;     /* batch not above the agent's last, or agent revoked */
} store_ingest_result;

/* One transaction: accepts the batch only if batch_seq is above the agent's
 * last accepted one and the agent is not revoked (else is_rejected, nothing
 * stored), inserts every row not already stored, records batch_seq and
 * last seen, commits durably. Events get increasing sequence numbers in
 * insertion order (the detection cursor follows them). */
int store_events_ingest(store *s, const char *agent_id, uint64_t batch_seq, int64_t now_ns,
                        const store_event_row *rows, size_t count, store_ingest_result *out,
                        hae_err *err);
int store_event_count(store *s, uint64_t *count, hae_err *err);
/* Number of events with a sequence number above seq. */
int store_events_after_count(store *s, uint64_t seq, uint64_t *count, hae_err *err);
/* host is the stored (enrolled) host, NULL when the row has none. */
typedef int (*store_event_fn)(void *ctx, uint64_t seq, const char *json, size_t len,
                              const char *host, hae_err *err);
/* Calls fn for up to limit events above after_seq, in order; *last_seq is
 * the sequence number of the last one (after_seq when none). */
int store_events_read(store *s, uint64_t after_seq, size_t limit, store_event_fn fn, void *ctx,
                      uint64_t *last_seq, hae_err *err);

/* Named durable counters (the detection worker's cursor). 0 when unset. */
int store_cursor_get(store *s, const char *name, uint64_t *value, hae_err *err);

/* ---- alerts and incidents --------------------------------------------- */

typedef struct store_alert {
    char id[HAE_ID_LEN];
    int64_t time_ns;        /* the event's time */
    char rule_id[128];
    char rule_title[256];
    char level[16];
    char family[64];        /* grouping key chosen by the caller */
    char host[256];
    char event_id[HAE_ID_LEN];
    char incident_id[HAE_ID_LEN];
} store_alert;

typedef struct store_incident {
    char id[HAE_ID_LEN];
    char state[24];
    char host[256];
    char family[64];
    char title[256];         /* the first alert's rule title */
    int64_t detected_ns;     /* the first alert's time: detection time */
    int64_t created_ns;
    int64_t updated_ns;
    int64_t last_alert_ns;
    uint64_t alert_count;
    /* Recorded moments, 0 until recorded (later issues start clocks here). */
    int64_t suspected_ns;
    int64_t confirmed_ns;
    int64_t classified_major_ns;
    int64_t materiality_determined_ns;
    int64_t aware_ns;        /* the organisation became aware (GDPR art. 33, NIS2 art. 23) */
} store_incident;

typedef struct store_transition {
    uint64_t seq;
    char incident_id[HAE_ID_LEN];
    char from_state[24];     /* "" for the creation */
    char to_state[24];
    char who[64];
    char why[1024];
    char moment[32];         /* "" or the moment recorded with it */
    int64_t at_ns;
} store_transition;

typedef struct store_alert_commit {
    uint64_t alerts;
    uint64_t incidents_created;
} store_alert_commit;

/* One transaction: each alert joins the newest incident of the same host and
 * family whose state is not in closed_states (NULL-terminated, at most 16)
 * and whose alerts span comes within window_ns of the alert's time, or opens a new incident
 * in initial_state with a creation transition by `who`; then stores the
 * cursor `cursor_name` = cursor_value. Fills each alert's id and incident_id. */
int store_alerts_commit(store *s, store_alert *alerts, size_t count, int64_t window_ns,
                        const char *const *closed_states, const char *initial_state,
                        const char *who, int64_t now_ns, const char *cursor_name,
                        uint64_t cursor_value, store_alert_commit *out, hae_err *err);

typedef int (*store_alert_fn)(void *ctx, const store_alert *alert, hae_err *err);
/* Newest first; since_ns 0: all; limit 0: 1000. */
int store_alert_list(store *s, int64_t since_ns, size_t limit, store_alert_fn fn, void *ctx,
                     hae_err *err);
int store_incident_alerts(store *s, const char *incident_id, store_alert_fn fn, void *ctx,
                          hae_err *err);

typedef int (*store_incident_fn)(void *ctx, const store_incident *incident, hae_err *err);
/* Newest first; state NULL: every state. */
int store_incident_list(store *s, const char *state, store_incident_fn fn, void *ctx,
                        hae_err *err);
int store_incident_get(store *s, const char *id, store_incident *out, hae_err *err);

typedef int (*store_transition_fn)(void *ctx, const store_transition *t, hae_err *err);
int store_incident_transitions(store *s, const char *incident_id, store_transition_fn fn,
                               void *ctx, hae_err *err);

/* Moments a transition may record (t->moment): suspected, confirmed,
 * classified_major, materiality_determined, aware. The first recording counts;
 * later ones are kept in the history only. */
bool store_moment_is_known(const char *moment);
/* When the incident's moment was recorded; 0 when not yet or unknown. */
int64_t store_incident_moment_ns(const store_incident *in, const char *moment);

/* One transaction: if the incident's state is still t->from_state, appends
 * t (seq and at_ns filled), sets the state to t->to_state and records
 * t->moment at t->at_ns if not yet recorded. HAE_ENOENT for an unknown
 * incident, HAE_ELIMIT when the state changed meanwhile. */
int store_incident_transition(store *s, store_transition *t, hae_err *err);

/* An analyst joins an alert to another incident: moves it, recounts both,
 * and records a transition (same state) on the target saying who and why. */
int store_alert_move(store *s, const char *alert_id, const char *incident_id, const char *who,
                     const char *why, int64_t now_ns, hae_err *err);

/* ---- incident attributes (set by analysts; the regulatory clocks read them) */

/* Appends name = value to the incident's attribute history (the latest
 * value of a name counts). Names and values are the caller's policy.
 * Stamped by this host's clock; *seq (may be NULL) gets the entry's
 * number, its ledger ref. HAE_ENOENT for an unknown incident. */
int store_incident_attr_set(store *s, const char *incident_id, const char *name,
                            const char *value, const char *who, uint64_t *seq, hae_err *err);
typedef int (*store_attr_fn)(void *ctx, const char *name, const char *value, int64_t at_ns,
                             hae_err *err);
/* The current value of each attribute, by name. */
int store_incident_attrs(store *s, const char *incident_id, store_attr_fn fn, void *ctx,
                         hae_err *err);
/* Every value each attribute ever had, oldest first. */
int store_incident_attr_history(store *s, const char *incident_id, store_attr_fn fn, void *ctx,
                                hae_err *err);

/* ---- reports sent --------------------------------------------------------- */

typedef struct store_report {
    uint64_t seq;
    char incident_id[HAE_ID_LEN];
    char obligation[128];
    char recipient[128];
    char who[64];
    char report_sha256[65];  /* hex SHA-256 of the report as sent */
    int64_t at_ns;
} store_report;

/* Records a report as sent (r->seq filled; at_ns 0: now). HAE_ENOENT for an
 * unknown incident. */
int store_report_sent(store *s, store_report *r, hae_err *err);
typedef int (*store_report_fn)(void *ctx, const store_report *r, hae_err *err);
int store_incident_reports(store *s, const char *incident_id, store_report_fn fn, void *ctx,
                           hae_err *err);

/* An alert attached to a given incident (a->incident_id) rather than
 * grouped: the clocks' overdue alerts. Stored once per incident and rule id;
 * *is_new false when it was already there. Fills a->id. */
int store_alert_raise_once(store *s, store_alert *a, int64_t now_ns, bool *is_new,
                           hae_err *err);

/* ---- the ledger outbox ------------------------------------------------- */

/* Every alert, transition, attribute change and report sent enters the
 * outbox in its own transaction (triggers); the ledger writer appends
 * pending records to the Merkle log, then moves them to the index. */
typedef struct store_ledger_record {
    uint64_t seq;                 /* outbox order, or the leaf index once logged */
    char kind[32];                /* alert, transition, incident_attribute, report_sent */
    char ref[64];                 /* alert id, transition/attribute/report seq */
    char incident_id[HAE_ID_LEN];
    int64_t at_ns;
    const char *meta;             /* JSON object of identifiers (string values) */
    const char *body;             /* the record's canonical JSON; NULL once erased */
} store_ledger_record;
typedef int (*store_ledger_fn)(void *ctx, const store_ledger_record *r, hae_err *err);

/* Up to limit pending records, oldest first. */
int store_ledger_pending(store *s, size_t limit, store_ledger_fn fn, void *ctx, hae_err *err);
int store_ledger_pending_count(store *s, uint64_t *count, hae_err *err);
/* One transaction: the `count` oldest pending records become leaves
 * first_index.. in order, and the cursor "ledger" becomes first_index +
 * count. HAE_EINVAL when first_index is not the cursor. */
int store_ledger_done(store *s, size_t count, uint64_t first_index, hae_err *err);
/* The leaf index of a logged record; HAE_ENOENT while pending or unknown. */
int store_ledger_index_of(store *s, const char *kind, const char *ref, uint64_t *index,
                          hae_err *err);
/* The logged records of an incident, in leaf order (r->seq is the index). */
int store_ledger_incident(store *s, const char *incident_id, store_ledger_fn fn, void *ctx,
                          hae_err *err);

#endif
