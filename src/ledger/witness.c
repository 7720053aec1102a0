/* A witness (c2sp.org/tlog-cosignature): it cosigns a log's checkpoint only
 * when the checkpoint verifies under the log's key and extends the last one
 * it cosigned for that log, so any two checkpoints it signed are consistent.
 * Its state is one file per log origin: the last note it cosigned. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ledger/ledger_int.h"

/* Origins are URLs ("example.com/log"): every byte outside [A-Za-z0-9._-]
 * becomes %XX so the origin is one file name. */
static int state_path(const char *state_dir, const char *origin, hae_buf *path) {
    int rc = hae_buf_printf(path, "%s/", state_dir);
    for (const unsigned char *p = (const unsigned char *)origin; rc == HAE_OK && *p; p++) {
        bool is_plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
        rc = is_plain ? hae_buf_append_char(path, (char)*p) : hae_buf_printf(path, "%%%02X", *p);
    }
    if (rc == HAE_OK) rc = hae_buf_append_str(path, ".checkpoint");
    return rc;
}

int ledger_witness_last(const char *state_dir, const char *origin, ledger_checkpoint *out,
                        hae_err *err) {
    hae_buf path = {0}, text = {0};
    int rc = state_path(state_dir, origin, &path);
    if (rc < 0) return hae_err_set(err, rc, "witness: out of memory");
    rc = ledger_file_read(path.data, LEDGER_NOTE_MAX, &text, err);
    ledger_note note;
    if (rc == HAE_OK) {
        rc = ledger_note_parse(&note, text.data, text.len, err);
        if (rc == HAE_OK) rc = ledger_checkpoint_parse(note.text, note.text_len, out, err);
        if (rc == HAE_OK) ledger_note_free(&note);
        if (rc < 0) hae_err_prefix(err, "%s: ", path.data);
    }
    hae_buf_free(&path);
    hae_buf_free(&text);
    return rc;
}

static int check_extends(const ledger_checkpoint *last, const ledger_checkpoint *cp,
                         const ledger_proof *proof, hae_err *err) {
    if (cp->size < last->size) {
        return hae_err_set(err, HAE_EINVAL,
                           "witness: checkpoint of size %" PRIu64 " is older than the %" PRIu64
                           " already cosigned for %s", cp->size, last->size, cp->origin);
    }
    if (last->size == 0) return HAE_OK; /* every tree extends the empty one */
    if (cp->size == last->size) {
        return ledger_hash_equal(&cp->root, &last->root)
                   ? HAE_OK
                   : hae_err_set(err, HAE_EINVAL,
                                 "witness: %s shows two different trees of size %" PRIu64 " (split view)",
                                 cp->origin, cp->size);
    }
    if (!proof) {
        return hae_err_set(err, HAE_EINVAL,
                           "witness: a consistency proof from size %" PRIu64 " to %" PRIu64 " is needed",
                           last->size, cp->size);
    }
    int rc = ledger_verify_consistency(last->size, cp->size, &last->root, &cp->root, proof, err);
    return rc < 0 ? hae_err_prefix(err, "witness: %s: ", cp->origin) : HAE_OK;
}

int ledger_witness_cosign(const char *state_dir, const ledger_signer *witness,
                          const ledger_verifier *log_key, const char *checkpoint, size_t len,
                          const ledger_proof *proof, uint64_t now, hae_buf *out, hae_err *err) {
    ledger_note note;
    ledger_checkpoint cp = {.size = 0}, last = {.size = 0};
    int rc = ledger_checkpoint_open(checkpoint, len, log_key, 1, &cp, &note, err);
    if (rc < 0) return hae_err_prefix(err, "witness: ");
    rc = ledger_witness_last(state_dir, cp.origin, &last, err);
    if (rc == HAE_ENOENT) {
        hae_err_clear(err);
        last = (ledger_checkpoint){.size = 0};
        rc = HAE_OK;
    }
    if (rc == HAE_OK) rc = check_extends(&last, &cp, proof, err);
    hae_buf signed_note = {0}, path = {0};
    if (rc == HAE_OK) rc = ledger_note_cosign(&note, witness, now, &signed_note, err);
    if (rc == HAE_OK) rc = ledger_mkdir_p(state_dir, err);
    if (rc == HAE_OK && state_path(state_dir, cp.origin, &path) < 0) {
        rc = hae_err_set(err, HAE_ENOMEM, "witness: out of memory");
    }
    /* Recorded before it is handed out: after a crash the witness still
     * knows the newest tree it vouched for. */
    if (rc == HAE_OK) rc = ledger_file_write_atomic(path.data, signed_note.data, signed_note.len, 0644, err);
    if (rc == HAE_OK) rc = hae_buf_append(out, signed_note.data, signed_note.len);
    ledger_note_free(&note);
    hae_buf_free(&signed_note);
    hae_buf_free(&path);
    return rc;
}
