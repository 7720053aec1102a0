/* The server's ledger: every alert, incident transition (awareness and the
 * other moments included), attribute change and report sent reaches the
 * Merkle log in data_dir/ledger.
 *
 * The store is the queue. Triggers put each record into ledger_outbox in
 * the transaction that stores it, whoever stores it (the detection worker,
 * an API thread, the CLI on the data directory), so a record can never be
 * stored and forgotten. This writer appends what is pending in one batch
 * (group commit: one fdatasync pair for all of it, docs/LEDGER.md
 * "Durability"), then moves the rows to ledger_index with their leaf
 * indexes. A crash between the two leaves the ledger longer than the
 * store's cursor: the next drain moves the oldest pending rows that were
 * already appended instead of appending them again (the writer is the only
 * one appending, in outbox order). Callers that must not acknowledge before
 * the entry is durable wait for its index (server_ledger_sync). */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/obligations.h"
#include "server/server_internal.h"

#define DRAIN_BATCH 4096
#define POLL_MS 250          /* records the CLI stored beside a running server */
#define SIGN_INTERVAL_NS 1000000000LL
#define OBLIGATION_CHECK_NS (30LL * 1000000000)
#define LEDGER_DEFAULT_ORIGIN_PREFIX "haetae.local/"

int server_ledger_open(const char *data_dir, ledger **out, hae_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/ledger", data_dir);
    int rc = ledger_open(out, path, err);
    if (rc < 0) return rc;
    ledger_set_time_guard(*out, LEDGER_CLOCK_SKEW_DEFAULT_NS);
    ledger_verifier key;
    hae_err key_err = {0};
    if (ledger_read_verifier(*out, &key, &key_err) == HAE_ENOENT) {
        /* First start. c2sp.org/tlog-checkpoint wants an origin unique to
         * the log: host names repeat across fleets and reinstalls, so it is a
         * random 64-bit id, fixed for the log's life with its key. */
        uint8_t id[8];
        randombytes_buf(id, sizeof id);
        char origin[64];
        int n = snprintf(origin, sizeof origin, "%s", LEDGER_DEFAULT_ORIGIN_PREFIX);
        for (size_t i = 0; i < sizeof id; i++) n += snprintf(origin + n, sizeof origin - (size_t)n, "%02x", id[i]);
        hae_buf vkey = {0};
        rc = ledger_init_key(*out, origin, &vkey, err);
        if (rc == HAE_OK) hae_log(HAE_LOG_INFO, "server: ledger key %s", vkey.data);
        hae_buf_free(&vkey);
    }
    if (rc < 0) {
        ledger_close(*out);
        *out = NULL;
    }
    return rc;
}

typedef struct batch {
    int64_t logged_ns;         /* the server's clock as the batch reaches the ledger */
    hae_buf bytes;             /* entries back to back */
    size_t *ends;
    size_t count, cap;
} batch;

/* The canonical entry (docs/LEDGER.md "Entries") of one outbox record. */
static int entry_of(const store_ledger_record *r, int64_t logged_ns, hae_buf *out, hae_err *err) {
    hae_arena arena = {0};
    hae_json *meta = NULL;
    ledger_meta pairs[16];
    size_t count = 0;
    int rc = hae_json_parse(r->meta ? r->meta : "{}", r->meta ? strlen(r->meta) : 2, &arena,
                            &meta, err);
    if (rc == HAE_OK && meta->type != HAE_JSON_OBJECT) {
        rc = hae_err_set(err, HAE_EINVAL, "ledger: outbox %" PRIu64 ": metadata not an object",
                         r->seq);
    }
    for (const hae_json *m = rc == HAE_OK ? meta->child : NULL; m && count < 16; m = m->next) {
        if (m->type != HAE_JSON_STRING) continue; /* the triggers write strings only */
        pairs[count++] = (ledger_meta){m->key, m->text};
    }
    uint8_t hash[32];
    const char *body = r->body ? r->body : "";
    server_sha256(body, strlen(body), hash);
    if (rc == HAE_OK) rc = ledger_entry_encode(r->kind, r->at_ns, logged_ns, hash, pairs, count, out, err);
    hae_arena_free(&arena);
    return rc;
}

static int add_record(void *ctx, const store_ledger_record *r, hae_err *err) {
    batch *b = ctx;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        size_t *grown = realloc(b->ends, cap * sizeof *grown);
        if (!grown) return hae_err_set(err, HAE_ENOMEM, "ledger: out of memory");
        b->ends = grown;
        b->cap = cap;
    }
    int rc = entry_of(r, b->logged_ns, &b->bytes, err);
    if (rc < 0) return rc;
    b->ends[b->count++] = b->bytes.len;
    return HAE_OK;
}

/* A crash after an append and before its move: the store's cursor is
 * behind the log by the records appended last time. */
static int repair(ledger *l, store *st, hae_err *err) {
    uint64_t cursor = 0, pending = 0, size = ledger_size(l);
    int rc = store_cursor_get(st, "ledger", &cursor, err);
    if (rc < 0) return rc;
    if (cursor == size) return HAE_OK;
    if (cursor > size) {
        return hae_err_set(err, HAE_EIO,
                           "ledger: the store recorded %" PRIu64 " entries, the log holds %" PRIu64
                           " (ledger files lost or replaced?)", cursor, size);
    }
    if ((rc = store_ledger_pending_count(st, &pending, err)) < 0) return rc;
    if (pending < size - cursor) {
        return hae_err_set(err, HAE_EIO,
                           "ledger: %" PRIu64 " entries past the store's cursor, %" PRIu64
                           " pending records", size - cursor, pending);
    }
    hae_log(HAE_LOG_WARN, "ledger: %" PRIu64 " entries appended before a crash; recording them",
            size - cursor);
    return store_ledger_done(st, (size_t)(size - cursor), cursor, err);
}

static int drain_once(ledger *l, store *st, batch *b, uint64_t *appended, hae_err *err) {
    hae_buf_reset(&b->bytes);
    b->count = 0;
    b->logged_ns = hae_time_now_ns();
    int rc = store_ledger_pending(st, DRAIN_BATCH, add_record, b, err);
    if (rc < 0 || b->count == 0) return rc;
    ledger_entry_ref *refs = malloc(b->count * sizeof *refs);
    if (!refs) return hae_err_set(err, HAE_ENOMEM, "ledger: out of memory");
    for (size_t i = 0, start = 0; i < b->count; start = b->ends[i++]) {
        refs[i] = (ledger_entry_ref){b->bytes.data + start, b->ends[i] - start};
    }
    uint64_t first = 0;
    rc = ledger_append_batch(l, refs, b->count, &first, err);
    free(refs);
    if (rc == HAE_OK) rc = store_ledger_done(st, b->count, first, err);
    if (rc == HAE_OK) *appended += b->count;
    return rc;
}

int server_ledger_drain(ledger *l, store *st, bool sign, uint64_t *appended, hae_err *err) {
    uint64_t count = 0, before = ledger_size(l);
    batch b = {0};
    int rc = repair(l, st, err);
    size_t last = DRAIN_BATCH;
    while (rc == HAE_OK && last == DRAIN_BATCH) {
        uint64_t was = count;
        rc = drain_once(l, st, &b, &count, err);
        last = (size_t)(count - was);
    }
    hae_buf_free(&b.bytes);
    free(b.ends);
    if (rc == HAE_OK && sign && ledger_size(l) > before) {
        hae_buf note = {0};
        rc = ledger_sign_checkpoint(l, &note, err);
        hae_buf_free(&note);
    }
    if (appended) *appended = count;
    return rc;
}

/* ---- the writer thread ---------------------------------------------------- */

static void deadline_in(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void writer_round(server *s, int64_t *last_sign, int64_t *last_check) {
    hae_err err = {0};
    int64_t now = hae_time_monotonic_ns();
    uint64_t appended = 0;
    pthread_mutex_lock(&s->ledger_lock);
    int rc = server_ledger_drain(s->ledger, s->ledger_st, false, &appended, &err);
    if (rc == HAE_OK && ledger_size(s->ledger) > 0 && now - *last_sign >= SIGN_INTERVAL_NS) {
        hae_buf note = {0};
        uint64_t signed_size = 0;
        if (ledger_read_checkpoint(s->ledger, 0, &note, NULL) == HAE_OK) {
            ledger_checkpoint cp;
            const char *blank = strstr(note.data, "\n\n");
            if (blank && ledger_checkpoint_parse(note.data, (size_t)(blank - note.data) + 1, &cp,
                                                 NULL) == HAE_OK) {
                signed_size = cp.size;
            }
        }
        hae_buf_reset(&note);
        if (signed_size != ledger_size(s->ledger)) {
            rc = ledger_sign_checkpoint(s->ledger, &note, &err);
            *last_sign = now;
        }
        hae_buf_free(&note);
    }
    pthread_mutex_unlock(&s->ledger_lock);
    if (rc == HAE_OK && s->policies && now - *last_check >= OBLIGATION_CHECK_NS) {
        *last_check = now;
        size_t raised = 0;
        rc = server_obligations_raise(s->ledger_st, s->policies, hae_time_now_ns(), &raised, &err);
        if (rc == HAE_OK && raised) {
            hae_log(HAE_LOG_WARN, "server: %zu obligations overdue: alerts raised", raised);
        }
    }
    pthread_mutex_lock(&s->lock);
    if (rc < 0 && !s->ledger_failed) hae_log(HAE_LOG_ERROR, "server: ledger: %s", err.msg);
    s->ledger_failed = rc < 0;
    s->ledger_rounds++;
    pthread_cond_broadcast(&s->ledger_round);
    pthread_mutex_unlock(&s->lock);
}

static void *writer_main(void *arg) {
    server *s = arg;
    int64_t last_sign = 0, last_check = 0;
    pthread_mutex_lock(&s->lock);
    while (!s->is_stopping) {
        if (!s->ledger_kick) {
            struct timespec until;
            deadline_in(&until, POLL_MS);
            pthread_cond_timedwait(&s->ledger_wake, &s->lock, &until);
            if (s->is_stopping) break;
        }
        s->ledger_kick = false;
        pthread_mutex_unlock(&s->lock);
        writer_round(s, &last_sign, &last_check);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    /* What was stored up to the stop goes in now, signed. */
    hae_err err = {0};
    if (server_ledger_drain(s->ledger, s->ledger_st, true, NULL, &err) < 0) {
        hae_log(HAE_LOG_ERROR, "server: ledger at stop: %s", err.msg);
    }
    return NULL;
}

int server_ledger_start(server *s, hae_err *err) {
    int rc = server_ledger_open(s->data_dir, &s->ledger, err);
    if (rc == HAE_OK) rc = server_data_store_open(s->data_dir, &s->ledger_st, err);
    if (rc == HAE_OK) rc = server_ledger_drain(s->ledger, s->ledger_st, true, NULL, err);
    if (rc < 0) return hae_err_prefix(err, "ledger: ");
    if (s->cfg.ledger_clock_skew_ns > 0) ledger_set_time_guard(s->ledger, s->cfg.ledger_clock_skew_ns);
    pthread_cond_init(&s->ledger_wake, NULL);
    pthread_cond_init(&s->ledger_round, NULL);
    pthread_mutex_init(&s->ledger_lock, NULL);
    if (pthread_create(&s->ledger_thread, NULL, writer_main, s) != 0) {
        pthread_cond_destroy(&s->ledger_wake);
        pthread_cond_destroy(&s->ledger_round);
        pthread_mutex_destroy(&s->ledger_lock);
        return hae_err_set(err, HAE_ENOMEM, "cannot start the ledger writer");
    }
    s->has_ledger_thread = true;
    rc = server_witness_push_start(s, err);
    return rc < 0 ? hae_err_prefix(err, "ledger: ") : HAE_OK;
}

void server_ledger_stop(server *s) {
    server_witness_push_stop(s);
    if (s->has_ledger_thread) {
        pthread_mutex_lock(&s->lock);
        s->is_stopping = true;
        pthread_cond_broadcast(&s->ledger_wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->ledger_thread, NULL);
        pthread_cond_destroy(&s->ledger_wake);
        pthread_cond_destroy(&s->ledger_round);
        pthread_mutex_destroy(&s->ledger_lock);
        s->has_ledger_thread = false;
    }
    ledger_close(s->ledger);
    s->ledger = NULL;
    store_close(s->ledger_st);
    s->ledger_st = NULL;
}

int server_ledger_sync(server *s, const char *kind, const char *ref, uint64_t *index,
                       hae_err *err) {
    if (!s->has_ledger_thread) {
        return hae_err_set(err, HAE_ENOTSUP, "the ledger writer is not running");
    }
    for (int attempt = 0; attempt < 40; attempt++) {
        hae_err find_err = {0};
        int rc = store_ledger_index_of(s->st, kind, ref, index, &find_err);
        if (rc != HAE_ENOENT) {
            if (rc < 0 && err) *err = find_err;
            return rc;
        }
        pthread_mutex_lock(&s->lock);
        uint64_t round = s->ledger_rounds;
        s->ledger_kick = true;
        pthread_cond_signal(&s->ledger_wake);
        struct timespec until;
        deadline_in(&until, 500);
        /* Two rounds: the one running may have read the outbox before our commit. */
        while (s->ledger_rounds < round + 2 && !s->is_stopping &&
               pthread_cond_timedwait(&s->ledger_round, &s->lock, &until) == 0) {
        }
        pthread_mutex_unlock(&s->lock);
    }
    return hae_err_set(err, HAE_EIO, "%s %s: not in the ledger after 20 s", kind, ref);
}
