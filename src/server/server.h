/* server: the HTTPS side of haetae. Enrolls agents, verifies and stores their
 * signed event batches, runs the detection engine over what was stored,
 * turns hits into alerts and alerts into incidents, and serves the JSON API
 * under /api/v1 that docs/PROTOCOL.md specifies.
 *
 * Owns: the TLS certificate (self-signed on first start unless configured),
 * the HTTP layer (libmicrohttpd over GnuTLS, TLS 1.3 only), authentication
 * (enrollment tokens, Ed25519 batch signatures, analysts' API tokens), the
 * detection worker and the incident lifecycle (states, who may move an
 * incident where). Does not own: SQL (the store module), rule matching (the
 * detect module), the ledger (issue 5 hooks in through server_config's
 * on_record).
 *
 * Ingest never waits on detection: a batch is acknowledged once durably
 * stored; a worker thread follows the stored events through a cursor kept
 * in the store, so a restart resumes where it stopped. The backlog between
 * the two is bounded: above it, batches get 429 and Retry-After.
 *
 * The data directory holds haetae.db (the store), tls/server.crt and
 * tls/server.key (0600), admin.token (0600, the admin's API token) and
 * ledger/ (the Merkle log of every alert, step and report sent; its key is
 * made on first start). */
#ifndef HAETAE_SERVER_H
#define HAETAE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "ledger/ledger.h"
#include "store/store.h"

typedef struct server server;

/* Called after an alert or an incident transition is committed, with its
 * JSON as the API shows it: kind "alert" or "transition". From the worker
 * or an HTTP thread; must be thread-safe and quick. */
typedef void (*server_record_fn)(void *ctx, const char *kind, const char *json, size_t len);

typedef struct server_config {
    const char *data_dir;          /* required; created 0700 if absent */
    const char *listen;            /* "HOST:PORT" (IPv6 as [addr]:port); port 0 picks one;
                                      NULL: 127.0.0.1:8443 */
    const char *rules_path;        /* Sigma rules (file or directory); NULL: findings only */
    const char *cert_file;         /* PEM certificate and key to use instead of the */
    const char *key_file;          /*   self-signed pair in data_dir/tls */
    size_t max_body_bytes;         /* compressed request body; 0: 16 MiB */
    size_t max_decoded_bytes;      /* decompressed batch; 0: 64 MiB */
    unsigned connection_timeout_s; /* idle connection; 0: 10 */
    unsigned request_timeout_s;    /* accept to complete request; 0: 60 */
    unsigned max_connections;      /* 0: 1024 */
    unsigned max_connections_per_ip; /* 0: 32 */
    size_t max_inflight_body_bytes; /* bodies buffered at once, all requests; 0: 256 MiB */
    unsigned threads;              /* HTTP threads; 0: 4 */
    uint64_t backlog_max_events;   /* stored but not yet detected; 0: 1000000 */
    unsigned retry_after_s;        /* Retry-After on 429 and 503; 0: 5 */
    int64_t incident_window_ns;    /* grouping window; 0: 1 hour */
    const char *policies_dir;      /* regulatory clocks (policies/, JSON); NULL: none */
    const char *const *witnesses;  /* "URL=VKEY[=PIN]": tlog-witnesses the ledger's checkpoints */
    size_t witness_count;          /*   are pushed to (witness_push.c); may be 0 */
    int64_t ledger_clock_skew_ns;  /* how far back an entry's time may go; 0: 2 s */
    server_record_fn on_record;    /* may be NULL */
    void *record_ctx;
} server_config;

/* ---- running ---------------------------------------------------------- */

/* Opens the store, loads the rules, starts the detection worker and the
 * HTTPS listener. On first start creates the certificate and an admin API
 * token (kept in data_dir/admin.token, 0600). */
int server_start(const server_config *cfg, server **out, hae_err *err);
/* Stops listening, stops the worker after its current chunk (the cursor
 * resumes there on the next start), closes. NULL is fine. */
void server_stop(server *s);

const char *server_url(const server *s);         /* "https://127.0.0.1:43121" */
const char *server_pin(const server *s);         /* base64url SHA-256 of the SPKI */
const char *server_data_dir(const server *s);
const char *server_admin_token(const server *s); /* NULL if admin.token was removed */
/* Creates a one-time enrollment token "<secret>.<pin>" valid for ttl_ns. */
int server_enroll_token_create(server *s, int64_t ttl_ns, char *out, size_t out_size,
                               hae_err *err);
/* Waits until the detection worker has caught up with every stored event;
 * HAE_ELIMIT after timeout_ms. */
int server_wait_idle(server *s, int timeout_ms, hae_err *err);

typedef struct server_stats {
    uint64_t batches_accepted, batches_rejected;
    uint64_t events_stored, events_duplicate;
    uint64_t busy_answers, storage_failures; /* 429 and 503 */
    uint64_t backlog_events;                 /* stored, not yet detected */
    uint64_t alerts, incidents_created;
    uint64_t connections_reaped;             /* slow clients cut at request_timeout_s */
    size_t rules;
} server_stats;
void server_get_stats(server *s, server_stats *out);

/* ---- the data directory without a running server (the CLI) ------------ */

int server_data_store_open(const char *data_dir, store **out, hae_err *err);
/* Same as server_enroll_token_create (makes the certificate if absent). */
int server_data_enroll_token(const char *data_dir, int64_t ttl_ns, char *out, size_t out_size,
                             hae_err *err);
/* The server serving data_dir, as the CLI beside it reaches it: the URL it
 * publishes in DATA/server.url while it runs, the pin of the key in
 * DATA/tls and the admin token from DATA/admin.token. HAE_ENOENT when no
 * server has published itself (stopped, or never started). */
#define SERVER_ENDPOINT_FILE "server.url"
typedef struct server_endpoint {
    char url[256];
    char pin[64];
    char token[128];
} server_endpoint;
int server_data_endpoint(const char *data_dir, server_endpoint *out, hae_err *err);
/* A new API token for user, printed once: only its hash is kept. */
int server_data_api_token(const char *data_dir, const char *user, char *out, size_t out_size,
                          hae_err *err);

/* ---- incidents: the lifecycle policy ---------------------------------- */

/* detected, triaged, confirmed, contained, reported, notified, closed,
 * false_positive. Moves go forward along that order (steps may be skipped);
 * false_positive from any open state; closed and false_positive reopen only
 * to triaged. A move to the same state records a note or a moment.
 * Moving to confirmed records the confirmed moment if not yet recorded. */
bool server_state_is_known(const char *state);
bool server_transition_is_allowed(const char *from, const char *to);
/* Applies a transition by `who`; moment may be NULL or "". Errors:
 * HAE_EINVAL unknown state or moment, HAE_ENOENT unknown incident,
 * HAE_EPERM a move the lifecycle forbids, HAE_ELIMIT a concurrent change,
 * HAE_EEXIST the moment was already recorded (then *out names the moment
 * and the time it was recorded at). */
int server_incident_update(store *st, const char *id, const char *state, const char *note,
                           const char *moment, const char *who, store_transition *out,
                           hae_err *err);

/* ---- JSON as the API writes it ---------------------------------------- */

int server_json_agent(hae_buf *out, const store_agent *agent);
int server_json_alert(hae_buf *out, const store_alert *alert);
int server_json_incident(hae_buf *out, const store_incident *incident);
int server_json_transition(hae_buf *out, const store_transition *t);

/* ---- regulatory clocks (policies/, docs/OBLIGATIONS.md) ---------------- */

typedef struct server_policies server_policies;
/* Loads every *.json policy and calendar in dir; errors name file and rule. */
int server_policies_load(const char *dir, server_policies **out, hae_err *err);
void server_policies_free(server_policies *p); /* NULL is fine */

/* One obligation of one incident: strings point into the policies. */
typedef struct server_obligation {
    const char *incident_id;
    const char *rule_id, *regime, *source, *report;
    const char *title_en, *title_ko;
    const char *starts;       /* detection, awareness, classification, materiality, report:<rule> */
    char notify[256];         /* recipients, comma-separated */
    int64_t start_ns;         /* 0: its moment is not recorded yet */
    int64_t due_ns;           /* 0: no fixed deadline (waiting, or when facts are known) */
    int64_t sent_ns;          /* 0: no report marked sent */
    const char *status;       /* waiting, open, overdue, met, late, when_known */
    char note[256];
} server_obligation;
typedef int (*server_obligation_fn)(void *ctx, const server_obligation *o, hae_err *err);

/* Every obligation that applies to the incident, at now_ns. */
int server_obligations_for(store *st, const server_policies *p, const char *incident_id,
                           int64_t now_ns, server_obligation_fn fn, void *ctx, hae_err *err);
/* Same for every incident not closed or false_positive. */
int server_obligations_all(store *st, const server_policies *p, int64_t now_ns,
                           server_obligation_fn fn, void *ctx, hae_err *err);
/* {"incident_id","rule","regime","title":{en,ko},"source","notify":[],"starts",
 *  "start","due","sent","status","countdown_s","note"} */
int server_json_obligation(hae_buf *out, const server_obligation *o, int64_t now_ns);

/* Attributes an analyst sets on an incident: kind, sector, region (lists),
 * persons, records, data_kinds, and the report texts (cause, damage,
 * response, contact, ...). HAE_EINVAL names the attribute when unknown or
 * malformed. Recorded in the ledger like every step (ref: *seq). */
int server_incident_set(store *st, const char *id, const char *name, const char *value,
                        const char *who, uint64_t *seq, hae_err *err);
/* The same checks without the write, so a request is refused whole. */
int server_incident_attr_check(const char *name, const char *value, hae_err *err);

/* ---- reports and exports ------------------------------------------------ */

typedef enum { SERVER_REPORT_MD, SERVER_REPORT_HTML, SERVER_REPORT_JSON } server_report_format;
/* Renders the report the rule asks for, with the fields the law lists, in
 * lang ("ko" or "en"). subjects_path: a `haetae scan --subjects` list that
 * fills the number of persons and kinds of data when not set (NULL: none). */
int server_report_render(store *st, const server_policies *p, const char *incident_id,
                         const char *rule_id, server_report_format format, const char *lang,
                         const char *subjects_path, hae_buf *out, hae_err *err);
/* Records the report as sent (its SHA-256 in hex) to recipient. */
int server_report_mark_sent(store *st, const server_policies *p, const char *incident_id,
                            const char *rule_id, const char *recipient, const char *sha256_hex,
                            const char *who, store_report *out, hae_err *err);
/* A STIX 2.1 bundle: incident, observed-data, indicator and sighting per alert. */
int server_stix_export(store *st, const char *incident_id, hae_buf *out, hae_err *err);

/* ---- the ledger from the data directory (the CLI) ---------------------- */

/* Makes sure the record (kind: alert, transition, incident_attribute,
 * report_sent; ref: its id or seq) is in data_dir/ledger and returns its leaf
 * index: appends what is pending when no server holds the ledger, else
 * waits for the running server's writer (up to 20 s). kind NULL: everything
 * pending (index untouched). */
int server_data_ledger_sync(const char *data_dir, store *st, const char *kind, const char *ref,
                            uint64_t *index, hae_err *err);
/* Calls fn with each logged step of the incident: its entry (the ledger's
 * bytes) and, when proofs, its inclusion proof file (c2sp.org/tlog-proof)
 * against the latest signed checkpoint. Needs the ledger (no running server). */
typedef int (*server_step_fn)(void *ctx, const store_ledger_record *r, const char *entry,
                              size_t entry_len, const char *proof, hae_err *err);
int server_data_timeline(const char *data_dir, store *st, const char *incident_id, bool proofs,
                         server_step_fn fn, void *ctx, hae_err *err);

/* ---- a witness (c2sp.org/tlog-witness, `haetae witness serve`) -------- */

typedef struct server_witness server_witness;
typedef struct server_witness_config {
    const char *listen;               /* HOST:PORT, port 0 picks one; NULL: 127.0.0.1:8444 */
    const char *state_dir;            /* per-log state; tls/ made here on first start */
    const char *cert_file, *key_file; /* NULL: self-signed in state_dir/tls */
    const ledger_signer *key;         /* cosignature/v1 */
    const ledger_verifier *logs;      /* the logs witnessed (key name = origin) */
    size_t log_count;
} server_witness_config;

/* Listens for POST /add-checkpoint over HTTPS (TLS 1.3). */
int server_witness_start(const server_witness_config *cfg, server_witness **out, hae_err *err);
const char *server_witness_url(const server_witness *w);
const char *server_witness_pin(const server_witness *w); /* base64url SHA-256 of the SPKI */
void server_witness_stop(server_witness *w);              /* NULL is fine */

#endif
