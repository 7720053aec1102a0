/* Private to src/server: the server's state, and the seams between the HTTP
 * layer (http.c, libmicrohttpd) and the request handlers, which take plain
 * buffers so tests and fuzzers drive them without sockets. */
#ifndef HAETAE_SERVER_INTERNAL_H
#define HAETAE_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "detect/detect.h"
#include "ledger/ledger.h"
#include "server/server.h"

#define SERVER_MAX_BODY_DEFAULT (16u << 20)
#define SERVER_MAX_DECODED_DEFAULT (64u << 20)
#define SERVER_MAX_LINE (1u << 20)
#define SERVER_TOKEN_MAX 128
#define SERVER_PIN_LEN 44        /* base64url, no padding, of 32 bytes: 43 + NUL */

typedef struct server_http server_http;

struct server {
    server_config cfg;            /* defaults filled in */
    char *data_dir;
    char url[300];
    char pin[SERVER_PIN_LEN];
    char admin_token[SERVER_TOKEN_MAX];
    store *st;                    /* HTTP threads */
    store *worker_st;             /* detection worker */
    detect_engine *engine;        /* NULL without rules; worker thread only */
    size_t rule_count;
    server_http *http;

    pthread_mutex_t lock;         /* guards the fields below */
    pthread_cond_t wake;          /* worker: new events or stop */
    pthread_cond_t idle;          /* waiters: backlog drained */
    uint64_t backlog;             /* stored, not yet through detection */
    bool is_stopping;
    bool has_worker;
    pthread_t worker;
    bool was_full;                /* last commit failed: log once per episode */

    /* The ledger writer (ledger_writer.c): drains the store's outbox into
     * data_dir/ledger, signs checkpoints, and raises overdue obligations. */
    ledger *ledger;               /* under ledger_lock: appends remap what readers read */
    pthread_mutex_t ledger_lock;
    store *ledger_st;
    struct server_policies *policies; /* NULL: no policies loaded */
    pthread_t ledger_thread;
    bool has_ledger_thread;
    pthread_cond_t ledger_wake;   /* under lock: records to log, or stop */
    pthread_cond_t ledger_round;  /* under lock: a drain finished */
    uint64_t ledger_rounds;       /* drains finished */
    bool ledger_kick;             /* a caller waits: drain now */
    bool ledger_failed;           /* the last drain failed (logged once) */
    struct witness_push *witness_push; /* witness_push.c; NULL without witnesses */

    _Atomic uint64_t batches_accepted, batches_rejected, events_stored, events_duplicate,
        busy_answers, storage_failures, alerts, incidents_created, connections_reaped;
};

/* ---- requests, as the HTTP layer hands them over ---------------------- */

typedef struct server_request {
    const char *method;
    const char *path;              /* without the query string */
    const char *query_limit, *query_since, *query_state; /* NULL when absent */
    const char *content_type, *content_encoding, *authorization;
    const char *agent, *batch, *time, *signature;        /* X-Haetae-* */
    const char *body;
    size_t body_len;
    bool is_body_too_large;        /* the HTTP layer stopped reading at the limit */
} server_request;

typedef struct server_response {
    unsigned status;
    unsigned retry_after_s;        /* 0: no Retry-After */
    hae_buf body;                  /* JSON unless content_type says; the caller frees */
    const char *content_type;      /* static text; NULL: application/json */
} server_response;

/* Answers one request; never fails (errors become JSON error answers). */
void server_handle(server *s, const server_request *req, server_response *resp);

/* Sets an error answer {"error": code, "message": ...}. */
void server_respond_error(server_response *resp, unsigned status, const char *code,
                          const char *fmt, ...) HAE_PRINTF(4, 5);

/* POST /api/v1/events (batch.c). */
void server_handle_events(server *s, const server_request *req, server_response *resp);

/* ---- batch decoding (pure) -------------------------------------------- */

typedef struct server_batch {
    char *decoded;                 /* the decompressed body (malloc'd) */
    size_t decoded_len;
    store_event_row *rows;
    size_t count;
    size_t cap;
    hae_arena arena;               /* ids and hosts */
} server_batch;

/* Gunzips body (at most max_decoded bytes), checks UTF-8, splits lines (each
 * at most SERVER_MAX_LINE) and decodes each as an event that must carry an
 * id. HAE_EINVAL names the line; HAE_ELIMIT when over max_decoded. */
int server_batch_decode(const char *body, size_t len, size_t max_decoded, server_batch *out,
                        hae_err *err);
void server_batch_free(server_batch *b);

/* ---- pieces server.c assembles ---------------------------------------- */

/* Opens the store and the engine and starts the worker (when with_worker):
 * everything but TLS and the listener. The fuzzers run handlers on this. */
int server_core_open(const server_config *cfg, bool with_worker, server **out, hae_err *err);
void server_core_close(server *s);

/* tls.c: certificate and key as PEM text (malloc'd) and the pin. */
int server_tls_load(const char *data_dir, const char *cert_file, const char *key_file,
                    char **cert_pem, char **key_pem, char pin[SERVER_PIN_LEN], hae_err *err);

/* http.c */
int server_http_start(server *s, const char *cert_pem, const char *key_pem, hae_err *err);
void server_http_stop(server_http *http);

/* pipeline.c */
int server_pipeline_start(server *s, hae_err *err);
void server_pipeline_stop(server *s);
void server_pipeline_notify(server *s, uint64_t stored);

/* ledger_writer.c */
/* Opens data_dir/ledger, creating its key on first use. */
int server_ledger_open(const char *data_dir, ledger **out, hae_err *err);
/* Appends every pending outbox record (group commit: one durable append per
 * 4096), moves them to the index, signs a checkpoint when the tree grew and
 * sign is true. First repairs a crash between an append and its move. */
int server_ledger_drain(ledger *l, store *st, bool sign, uint64_t *appended, hae_err *err);
int server_ledger_start(server *s, hae_err *err);
void server_ledger_stop(server *s);
/* Wakes the writer and waits until the record (kind, ref) has a leaf index. */
int server_ledger_sync(server *s, const char *kind, const char *ref, uint64_t *index,
                       hae_err *err);

/* witness_push.c: a thread pushing signed checkpoints to cfg.witnesses
 * (c2sp.org/tlog-witness) and storing their cosignatures. */
typedef struct witness_push witness_push;
int server_witness_push_start(server *s, hae_err *err);
void server_witness_push_stop(server *s);
/* api_ledger.c: GET /api/v1/ledger/<path>. */
void server_handle_ledger(server *s, const char *path, bool is_authorized, server_response *resp);

/* secrets */
void server_sha256(const void *data, size_t len, uint8_t out[32]);
int server_secret_new(char *out, size_t out_size); /* 32 random bytes, base64url */
/* Writes a secret to path (0600, atomically). */
int server_data_write_secret(const char *path, const char *secret, hae_err *err);

#endif
