/* agent: runs the sensors on a schedule and keeps their events in a
 * crash-safe on-disk spool until the transport has them durably stored on
 * the server (docs/PROTOCOL.md). Never loses an event silently: anything
 * the spool had to drop is counted in a spool.dropped finding written into
 * the spool itself. Knows the sensors' interfaces and the agent side of
 * the protocol (enrollment, signed batches); nothing of the server's. */
#ifndef HAETAE_AGENT_H
#define HAETAE_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---- spool: append-only segments on disk ----------------------------- */

/* Layout: DIR/<16 hex digits>.seg segments named by the sequence number of
 * their first record, each a header "HAESPL01" then records
 *   u32 little-endian length | u32 CRC-32 of payload | payload (one JSON line)
 * and DIR/ack holding the first unacknowledged sequence number.
 * Durability: spool_flush() fsyncs the active segment (and the directory
 * when a segment was created); the agent flushes after each batch of events
 * and at least every flush_interval_ms. A crash loses at most what was
 * appended since the last flush, and never corrupts what came before: on
 * open, a torn or corrupt tail of the last segment is cut off and counted. */
typedef struct spool spool;

typedef struct spool_options {
    uint64_t max_bytes;     /* bound on the spool; 0 = 256 MiB */
    uint64_t segment_bytes; /* rotate after this; 0 = 4 MiB */
} spool_options;

typedef struct spool_stats {
    uint64_t next_seq;        /* sequence number the next append gets */
    uint64_t acked_seq;       /* every record below this is acknowledged */
    uint64_t bytes;           /* on disk, all segments */
    uint64_t segments;
    uint64_t dropped_records; /* dropped since open to respect max_bytes */
    uint64_t recovered_torn;  /* bytes cut from a torn tail at open */
} spool_stats;

int spool_open(spool **out, const char *dir, const spool_options *opt, hae_err *err);
/* Appends one event; assigns it the next sequence number (in *seq if not NULL). */
int spool_append(spool *s, const hae_event *ev, uint64_t *seq, hae_err *err);
int spool_flush(spool *s, hae_err *err);
/* Reads up to max_records records starting at sequence from_seq (or the
 * oldest kept, if older ones were dropped); calls fn(ctx, seq, line, len)
 * for each. *next_seq is where the next read should start. */
typedef int (*spool_record_fn)(void *ctx, uint64_t seq, const char *line, size_t len,
                               hae_err *err);
/* fn runs with the spool locked: it must not call back into the spool. */
int spool_read(spool *s, uint64_t from_seq, size_t max_records, spool_record_fn fn, void *ctx,
               uint64_t *next_seq, hae_err *err);
/* Everything below seq is durably stored elsewhere: forget it (persisted
 * atomically after the records themselves are flushed, so a crash cannot
 * renumber unflushed records below the acknowledgement; wholly
 * acknowledged segments are deleted). */
int spool_ack(spool *s, uint64_t seq, hae_err *err);
void spool_get_stats(spool *s, spool_stats *out);
/* Flushes and closes; NULL is fine. */
int spool_close(spool *s, hae_err *err);

/* A spool may be shared by threads (the sensors append while the transport
 * reads and acknowledges): every function above takes its mutex. */

/* An hae_sink that appends to a spool. */
hae_sink spool_sink(spool *s);

/* ---- enrollment: this agent's identity with one server ---------------- */

/* Files in the state directory: agent.key (Ed25519 secret key, 0600),
 * server.json {"url","agent_id","pin","ca"} (written atomically last, so
 * its presence means enrolled), batch_seq (last batch sequence used). */
typedef struct agent_enroll_options {
    const char *server_url;  /* https://HOST:PORT */
    const char *token;       /* "<secret>.<pin>" from `haetae server token create` */
    const char *ca_file;     /* NULL: trust only the pinned key */
    const char *state_dir;   /* created 0700 if absent */
    const char *hostname;    /* NULL: this host's name */
} agent_enroll_options;

/* Makes a key pair, registers it with POST /api/v1/enroll over a
 * connection that must present the pinned key (and verify against the CA
 * when one is given), then writes the key and server.json. A failure
 * leaves an earlier enrollment as it was. Fills agent_id. */
int agent_enroll(const agent_enroll_options *opt, char agent_id[HAE_ID_LEN], hae_err *err);
bool agent_is_enrolled(const char *state_dir); /* server.json exists */
/* Enrolled with the server at this URL whose key has this pin. */
bool agent_is_enrolled_with(const char *state_dir, const char *url, const char *pin);

/* One GET of server_url + path over the agent's transport (libcurl loaded
 * at run time, TLS 1.3 only, the server's key pinned and/or its chain
 * checked against ca_file). Any HTTP status is HAE_OK with *status set;
 * body (reset first, at most 64 KiB) gets the reply. `haetae witness pull`
 * fetches checkpoints and proofs with it. */
int agent_https_get(const char *server_url, const char *pin, const char *ca_file,
                    const char *path, long *status, hae_buf *body, hae_err *err);
/* One POST of body with the given header lines, the same way: the CLI's
 * changes to a running server go through it. */
int agent_https_post(const char *server_url, const char *pin, const char *path,
                     const char *const *headers, size_t header_count, const hae_buf *body,
                     long *status, hae_buf *reply, hae_err *err);

/* ---- transport: the spool to the server, lossless --------------------- */

/* A thread that reads batches from the spool, gzips and signs them, POSTs
 * them to /api/v1/events and acknowledges the spool only after the
 * server's 200. Network failures, 429 and 503 are retried with back-off
 * (1 s doubling to backoff_max_s, jittered, never shorter than
 * Retry-After); the spool keeps filling meanwhile. A retry is a new batch
 * (new sequence number) carrying the same events: the server deduplicates
 * by event id. Never blocks the spool's writers for longer than a read. */
typedef struct transport transport;

typedef struct transport_options {
    size_t batch_max_events;  /* 0 = 5000 */
    size_t batch_max_bytes;   /* uncompressed; 0 = 4 MiB */
    unsigned idle_ms;         /* how often an empty spool is looked at; 0 = 500 */
    unsigned backoff_max_s;   /* 0 = 300 */
} transport_options;

typedef struct transport_stats {
    uint64_t batches_sent;     /* POSTs attempted */
    uint64_t batches_acked;    /* answered 200 */
    uint64_t events_acked;     /* records acknowledged in the spool */
    uint64_t events_stored;    /* what the server said it stored ... */
    uint64_t events_duplicate; /* ... and dropped as already stored */
    uint64_t failures;         /* network errors and non-200 answers */
    uint64_t bytes_sent;       /* compressed bodies */
    uint64_t bytes_raw;        /* the same, uncompressed */
    uint64_t last_batch;       /* last sequence number used */
    long last_status;          /* last HTTP status, 0 when none arrived */
} transport_stats;

/* Reads server.json and agent.key from state_dir and starts the thread
 * over spool s (which must outlive the transport). */
int transport_start(transport **out, const char *state_dir, spool *s,
                    const transport_options *opt, hae_err *err);
/* Wakes the thread to look at the spool now (after a flush, say). */
void transport_notify(transport *t);
void transport_get_stats(transport *t, transport_stats *out);
/* Cancels any transfer in flight (its records stay spooled), joins the
 * thread and frees; NULL is fine. */
void transport_stop(transport *t);

/* ---- running the sensors --------------------------------------------- */

typedef struct agent_config {
    const char *state_dir;          /* spool, baseline, canaries; created if absent */
    const char *const *fim_roots;   /* trees to watch and baseline */
    size_t fim_root_count;
    const char *const *web_roots;   /* trees where new scripts are web shells */
    size_t web_root_count;
    const char *const *log_files;   /* files to follow */
    size_t log_file_count;
    const char *const *yara_rules;  /* YARA rule files */
    size_t yara_rule_count;
    const char *const *scan_dirs;   /* --once: directories YARA scans (e.g. /dev/shm) */
    size_t scan_dir_count;
    bool journal;                   /* follow journald when available */
    unsigned scan_interval_s;       /* sock and proc stealth scans; 0 = 60 */
    unsigned flush_interval_ms;     /* spool fsync at least this often; 0 = 1000 */
    uint64_t spool_max_bytes;       /* 0 = 256 MiB */
    const char *const *allow_paths; /* allowlist files or directories (allow.h) */
    size_t allow_path_count;
} agent_config;

/* Runs every sensor once and emits findings to sink (the responder's
 * "check this host now"). A sensor that cannot run (no root, no kernel
 * support) emits an agent.sensor_unavailable finding; the others go on.
 * Findings the allowlists allow are counted into agent.allowlisted
 * findings instead; the agent's own state and output are never scanned.
 * A bad allowlist is HAE_EINVAL naming file and line, before any sensor. */
int agent_run_once(const agent_config *cfg, const hae_sink *sink, hae_err *err);

/* Runs continuously, spooling every event under cfg->state_dir/spool,
 * until *stop becomes non-zero (set it from a signal handler). When the
 * state directory holds an enrollment, a transport thread sends the spool
 * to the server meanwhile; one that cannot start is reported as an
 * agent.sensor_unavailable finding ("transport") and the spool keeps it all. */
int agent_run(const agent_config *cfg, volatile sig_atomic_t *stop, hae_err *err);

#endif
