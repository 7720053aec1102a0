/* The ledger from the data directory, for the CLI: the same outbox drain
 * as the running server's writer when no server holds the ledger, else a
 * wait for that writer; and an incident's logged steps with proofs. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

int server_data_ledger_sync(const char *data_dir, store *st, const char *kind, const char *ref,
                            uint64_t *index, hae_err *err) {
    ledger *l = NULL;
    hae_err open_err = {0};
    int rc = server_ledger_open(data_dir, &l, &open_err);
    if (rc == HAE_OK) {
        rc = server_ledger_drain(l, st, true, NULL, err);
        ledger_close(l);
        if (rc < 0 || !kind) return rc;
        return store_ledger_index_of(st, kind, ref, index, err);
    }
    if (rc != HAE_EPERM) {
        if (err) *err = open_err;
        return rc;
    }
    /* A server has the ledger: its writer polls the outbox every 250 ms. */
    for (int i = 0; i < 200; i++) {
        hae_err find_err = {0};
        uint64_t pending = 0;
        if (!kind) {
            rc = store_ledger_pending_count(st, &pending, &find_err);
            if (rc == HAE_OK && pending) rc = HAE_ENOENT;
        } else {
            rc = store_ledger_index_of(st, kind, ref, index, &find_err);
        }
        if (rc != HAE_ENOENT) {
            if (rc < 0 && err) *err = find_err;
            return rc;
        }
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
    return hae_err_set(err, HAE_EIO, "%s %s: the running server has not logged it after 20 s",
                       kind ? kind : "records", ref ? ref : "pending");
}

/* A signed checkpoint proofs are made against. */
typedef struct proof_head {
    hae_buf note;
    uint64_t size;
} proof_head;

typedef struct timeline_ctx {
    ledger *l;
    bool proofs;
    proof_head latest, cosigned; /* cosigned.size 0: no witness cosigned yet */
    server_step_fn fn;
    void *ctx;
    hae_buf entry, proof;
} timeline_ctx;

static int copy_entry(void *ctx, uint64_t index, const void *entry, size_t len, hae_err *err) {
    (void)index;
    hae_buf *b = ctx;
    hae_buf_reset(b);
    int rc = hae_buf_append(b, entry, len);
    return rc < 0 ? hae_err_set(err, rc, "out of memory") : HAE_OK;
}

static int step(void *ctx, const store_ledger_record *r, hae_err *err) {
    timeline_ctx *t = ctx;
    int rc = ledger_scan(t->l, r->seq, 1, copy_entry, &t->entry, err);
    hae_buf_reset(&t->proof);
    /* The newest cosigned checkpoint when it covers the step: it carries the
     * witnesses' word, not the log's alone. */
    const proof_head *head = r->seq < t->cosigned.size ? &t->cosigned : &t->latest;
    if (rc == HAE_OK && t->proofs && r->seq < head->size) {
        ledger_proof proof;
        rc = ledger_prove_inclusion(t->l, r->seq, head->size, &proof, err);
        if (rc == HAE_OK) {
            rc = ledger_inclusion_format(r->seq, &proof, head->note.data, head->note.len, &t->proof);
        }
    }
    if (rc < 0) return rc;
    return t->fn(t->ctx, r, t->entry.data, t->entry.len, t->proof.len ? t->proof.data : NULL, err);
}

static int read_head(ledger *l, bool cosigned, proof_head *out, hae_err *err) {
    int rc = cosigned ? ledger_read_cosigned(l, &out->note, err) : ledger_read_checkpoint(l, 0, &out->note, err);
    ledger_checkpoint cp = {.size = 0};
    const char *blank = rc == HAE_OK ? strstr(out->note.data, "\n\n") : NULL;
    if (rc == HAE_OK && (!blank || ledger_checkpoint_parse(out->note.data, (size_t)(blank - out->note.data) + 1,
                                                           &cp, err) < 0)) {
        rc = hae_err_set(err, HAE_EIO, "ledger: unreadable checkpoint");
    }
    out->size = rc == HAE_OK ? cp.size : 0;
    return rc;
}

int server_data_timeline(const char *data_dir, store *st, const char *incident_id, bool proofs,
                         server_step_fn fn, void *ctx, hae_err *err) {
    store_incident in;
    int rc = store_incident_get(st, incident_id, &in, err);
    if (rc < 0) return rc;
    timeline_ctx t = {.proofs = proofs, .fn = fn, .ctx = ctx};
    rc = server_ledger_open(data_dir, &t.l, err);
    if (rc == HAE_EPERM) {
        return hae_err_prefix(err, "stop the server or read GET /api/v1/ledger/proof/inclusion/N: ");
    }
    if (rc == HAE_OK) rc = server_ledger_drain(t.l, st, true, NULL, err);
    if (rc == HAE_OK && proofs) {
        rc = read_head(t.l, false, &t.latest, err);
        if (read_head(t.l, true, &t.cosigned, NULL) < 0) t.cosigned.size = 0;
    }
    if (rc == HAE_OK) rc = store_ledger_incident(st, incident_id, step, &t, err);
    hae_buf_free(&t.latest.note);
    hae_buf_free(&t.cosigned.note);
    hae_buf_free(&t.entry);
    hae_buf_free(&t.proof);
    ledger_close(t.l);
    return rc;
}
