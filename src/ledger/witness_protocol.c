/* c2sp.org/tlog-witness: the add-checkpoint request a log pushes to a
 * witness, and the witness's answer. Transport-free: the HTTP layers on
 * both sides hand bodies in and out.
 *
 *   request   old <size>\n, one base64 consistency-proof hash a line,
 *             \n, the signed checkpoint note
 *   200       the witness's cosignature line(s) (tlog-cosignature)
 *   409       text/x.tlog.size: the size the witness holds, when old is not it
 *   422       the consistency proof does not verify
 *   403/404   the signature fails / the origin is not a log it witnesses
 *   400       anything malformed */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

#define OLD_PREFIX "old "

int ledger_add_checkpoint_parse(const char *body, size_t len, ledger_add_checkpoint *out,
                                hae_err *err) {
    memset(out, 0, sizeof *out);
    const char *nl = memchr(body, '\n', len);
    size_t plen = sizeof OLD_PREFIX - 1;
    if (!nl || (size_t)(nl - body) <= plen || memcmp(body, OLD_PREFIX, plen) != 0 ||
        !ledger_parse_decimal(body + plen, (size_t)(nl - body) - plen, &out->old_size)) {
        return hae_err_set(err, HAE_EINVAL, "add-checkpoint: line 1: expected 'old <size>'");
    }
    size_t pos = (size_t)(nl - body) + 1, line_no = 1;
    for (;;) {
        line_no++;
        nl = pos < len ? memchr(body + pos, '\n', len - pos) : NULL;
        if (!nl) return hae_err_set(err, HAE_EINVAL, "add-checkpoint: line %zu: no blank line before the checkpoint", line_no);
        size_t n = (size_t)(nl - (body + pos));
        if (n == 0) break;
        if (out->proof.count == LEDGER_PROOF_MAX) {
            return hae_err_set(err, HAE_ELIMIT, "add-checkpoint: line %zu: more than %d proof hashes", line_no, LEDGER_PROOF_MAX);
        }
        uint8_t raw[LEDGER_HASH_LEN + 3];
        size_t got = 0;
        if (ledger_base64_decode(body + pos, n, raw, sizeof raw, &got) < 0 || got != LEDGER_HASH_LEN) {
            return hae_err_set(err, HAE_EINVAL, "add-checkpoint: line %zu: not base64 of a 32-byte hash", line_no);
        }
        memcpy(out->proof.hashes[out->proof.count++].bytes, raw, LEDGER_HASH_LEN);
        pos += n + 1;
    }
    pos++;
    if (pos >= len) return hae_err_set(err, HAE_EINVAL, "add-checkpoint: line %zu: no checkpoint after the blank line", line_no + 1);
    out->checkpoint = body + pos;
    out->checkpoint_len = len - pos;
    return HAE_OK;
}

int ledger_add_checkpoint_format(uint64_t old_size, const ledger_proof *proof, const char *checkpoint,
                                 size_t len, hae_buf *out) {
    int rc = hae_buf_printf(out, OLD_PREFIX "%" PRIu64 "\n", old_size);
    for (size_t i = 0; rc == HAE_OK && proof && i < proof->count; i++) {
        rc = ledger_base64_append(out, proof->hashes[i].bytes, LEDGER_HASH_LEN);
        if (rc == HAE_OK) rc = hae_buf_append_char(out, '\n');
    }
    if (rc == HAE_OK) rc = hae_buf_append_char(out, '\n');
    if (rc == HAE_OK) rc = hae_buf_append(out, checkpoint, len);
    return rc;
}

static unsigned reply_error(ledger_witness_reply *reply, unsigned status, hae_err *err) {
    reply->status = status;
    reply->content_type = "text/plain; charset=utf-8";
    hae_buf_reset(&reply->body);
    hae_buf_printf(&reply->body, "%s\n", err->msg);
    return status;
}

static unsigned reply_conflict(ledger_witness_reply *reply, uint64_t size) {
    reply->status = 409;
    reply->content_type = "text/x.tlog.size";
    hae_buf_reset(&reply->body);
    hae_buf_printf(&reply->body, "%" PRIu64 "\n", size);
    return 409;
}

/* The last line of a note is the signature just added. */
static int last_line(const hae_buf *note, hae_buf *out) {
    size_t end = note->len - 1, start = end;
    while (start > 0 && note->data[start - 1] != '\n') start--;
    return hae_buf_append(out, note->data + start, end - start + 1);
}

static const ledger_verifier *find_log(const ledger_verifier *logs, size_t count, const char *origin) {
    for (size_t i = 0; i < count; i++) {
        if (strcmp(logs[i].name, origin) == 0) return &logs[i];
    }
    return NULL;
}

unsigned ledger_witness_add_checkpoint(const char *state_dir, const ledger_signer *witness,
                                       const ledger_verifier *logs, size_t log_count, const char *body,
                                       size_t len, uint64_t now, ledger_witness_reply *reply, hae_err *err) {
    ledger_add_checkpoint *req = malloc(sizeof *req);
    if (!req) {
        hae_err_set(err, HAE_ENOMEM, "witness: out of memory");
        return reply_error(reply, 500, err);
    }
    unsigned status = 0;
    ledger_note note = {0};
    ledger_checkpoint cp, last = {.size = 0};
    const ledger_verifier *log = NULL;
    if (ledger_add_checkpoint_parse(body, len, req, err) < 0 ||
        ledger_note_parse(&note, req->checkpoint, req->checkpoint_len, err) < 0 ||
        ledger_checkpoint_parse(note.text, note.text_len, &cp, err) < 0) {
        status = reply_error(reply, 400, err);
    } else if (!(log = find_log(logs, log_count, cp.origin))) {
        hae_err_set(err, HAE_ENOENT, "witness: no log with origin '%s' is witnessed here", cp.origin);
        status = reply_error(reply, 404, err);
    } else if (ledger_checkpoint_open(req->checkpoint, req->checkpoint_len, log, 1, &cp, NULL, err) < 0) {
        status = reply_error(reply, 403, err);
    }
    ledger_note_free(&note);
    int rc = status ? HAE_EINVAL : ledger_witness_last(state_dir, cp.origin, &last, err);
    if (rc == HAE_ENOENT) {
        hae_err_clear(err); /* a log never seen: its size here is 0 */
    } else if (rc < 0 && !status) {
        status = reply_error(reply, 500, err);
    }
    if (!status && req->old_size != last.size) {
        hae_err_set(err, HAE_EINVAL, "witness: old size %" PRIu64 " is not the %" PRIu64 " held for %s",
                    req->old_size, last.size, cp.origin);
        status = reply_conflict(reply, last.size);
    } else if (!status && req->old_size > cp.size) {
        hae_err_set(err, HAE_EINVAL, "witness: old size %" PRIu64 " exceeds the checkpoint's %" PRIu64, req->old_size, cp.size);
        status = reply_error(reply, 400, err);
    } else if (!status && req->old_size == cp.size && !ledger_hash_equal(&last.root, &cp.root) && cp.size > 0) {
        /* Two trees of one size: a fork, never cosigned. */
        hae_err_set(err, HAE_EINVAL, "witness: %s shows another tree of size %" PRIu64 " (fork)", cp.origin, cp.size);
        status = reply_conflict(reply, last.size);
    } else if (!status && req->old_size > 0 && req->old_size < cp.size &&
               ledger_verify_consistency(last.size, cp.size, &last.root, &cp.root, &req->proof, err) < 0) {
        status = reply_error(reply, 422, err);
    } else if (!status && (req->old_size == 0 || req->old_size == cp.size) && req->proof.count) {
        hae_err_set(err, HAE_EINVAL, "witness: a proof from size %" PRIu64 " must be empty", req->old_size);
        status = reply_error(reply, 422, err);
    }
    hae_buf cosigned = {0};
    if (!status) {
        /* The same checks again inside, and the state recorded before the
         * cosignature leaves. */
        rc = ledger_witness_cosign(state_dir, witness, log, req->checkpoint, req->checkpoint_len, &req->proof,
                                   now, &cosigned, err);
        hae_buf_reset(&reply->body);
        if (rc == HAE_OK) rc = last_line(&cosigned, &reply->body);
        if (rc < 0) {
            status = reply_error(reply, rc == HAE_EINVAL ? 409 : 500, err);
        } else {
            reply->status = status = 200;
            reply->content_type = "text/plain; charset=utf-8";
        }
    }
    hae_buf_free(&cosigned);
    free(req);
    return status;
}
