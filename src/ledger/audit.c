/* Auditing a log against checkpoints someone holds (docs/LEDGER.md
 * "Auditing"): a checkpoint handed out is a promise that every later tree
 * of the log extends it (RFC 9162 section 2.1.4, tlog-checkpoint
 * "Signatures"). A rewrite, a rollback below it or another log break the
 * promise, whoever re-signed the result. */
#include <inttypes.h>
#include <string.h>

#include "ledger/ledger_int.h"

int ledger_check_extends(const ledger_checkpoint *held, const ledger_checkpoint *current,
                         const ledger_proof *proof, hae_err *err) {
    if (strcmp(held->origin, current->origin) != 0) {
        return hae_err_set(err, HAE_EINVAL, "held checkpoint of size %" PRIu64 " is from log '%s', not '%s'",
                           held->size, held->origin, current->origin);
    }
    if (held->size > current->size) {
        return hae_err_set(err, HAE_EINVAL,
                           "held checkpoint of size %" PRIu64 ": the log was rolled back to %" PRIu64 " entries",
                           held->size, current->size);
    }
    if (held->size == current->size) {
        return ledger_hash_equal(&held->root, &current->root)
                   ? HAE_OK
                   : hae_err_set(err, HAE_EINVAL,
                                 "held checkpoint of size %" PRIu64 ": the log now has another tree of that size "
                                 "(rewritten)", held->size);
    }
    if (held->size == 0) return HAE_OK; /* every tree extends the empty one */
    if (!proof) {
        return hae_err_set(err, HAE_EINVAL, "held checkpoint of size %" PRIu64 ": no consistency proof to %" PRIu64,
                           held->size, current->size);
    }
    int rc = ledger_verify_consistency(held->size, current->size, &held->root, &current->root, proof, err);
    if (rc < 0) {
        return hae_err_prefix(err, "held checkpoint of size %" PRIu64 ": the log's tree of size %" PRIu64
                              " does not extend it (rewritten): ", held->size, current->size);
    }
    return HAE_OK;
}

int ledger_prove_extends(ledger *l, const ledger_checkpoint *held, const ledger_checkpoint *current,
                         hae_err *err) {
    ledger_proof proof = {.count = 0};
    if (held->size > 0 && held->size < current->size && current->size <= ledger_size(l)) {
        int rc = ledger_prove_consistency(l, held->size, current->size, &proof, err);
        if (rc < 0) return rc;
    }
    return ledger_check_extends(held, current, &proof, err);
}

int ledger_witness_quorum(const ledger_note *note, const ledger_verifier *witnesses, size_t count,
                          size_t quorum, ledger_sig_result *results, hae_err *err) {
    size_t valid = 0;
    for (size_t i = 0; i < count; i++) {
        results[i] = (ledger_sig_result){0};
        /* One witness at a time: a bad cosignature from one fails it alone
         * instead of the whole note (signed-note rejects the note). */
        hae_err one = {0};
        if (ledger_note_verify(note, &witnesses[i], 1, &results[i], &one) >= 1) valid++;
        else results[i].is_verified = false;
    }
    if (valid < quorum) {
        hae_buf missing = {0};
        for (size_t i = 0; i < count; i++) {
            if (!results[i].is_verified) hae_buf_printf(&missing, "%s%s", missing.len ? ", " : "", witnesses[i].name);
        }
        int rc = hae_err_set(err, HAE_EINVAL, "%zu of %zu required cosignatures valid (quorum %zu); absent or invalid: %s",
                             valid, count, quorum, missing.data ? missing.data : "");
        hae_buf_free(&missing);
        return rc;
    }
    return HAE_OK;
}
