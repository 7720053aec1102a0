/* `haetae ledger verify` and `haetae ledger audit`: a checkpoint's
 * signatures under a witness policy, an entry's inclusion and the
 * consistency of two checkpoints from files alone; and the audit of a log
 * (its directory, or a server over the API) against checkpoints the
 * auditor holds, so a regulator needs neither our word nor our log. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/ledger_cli.h"

#define KEYS_MAX 16

typedef struct verified_checkpoint {
    hae_buf text;
    ledger_note note;
    ledger_checkpoint cp;
} verified_checkpoint;

/* The keys of a run: log keys (signed-note Ed25519) and witnesses. */
typedef struct key_set {
    ledger_verifier all[2 * KEYS_MAX];
    size_t count;
    ledger_verifier witnesses[2 * KEYS_MAX];
    size_t witness_count, quorum;
} key_set;

static int load_keys(const ledger_verify_opts *o, key_set *k, hae_err *err) {
    if (o->key_count + o->witness_count > KEYS_MAX) {
        return hae_err_set(err, HAE_EINVAL, "at most %d keys and witnesses", KEYS_MAX);
    }
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < o->key_count + o->witness_count; i++) {
        bool is_witness_arg = i >= o->key_count;
        const char *arg = is_witness_arg ? o->witnesses[i - o->key_count] : o->keys[i];
        ledger_verifier *v = &k->all[k->count];
        rc = ledger_cli_verifier(arg, v, err);
        if (rc == HAE_OK && is_witness_arg && v->type != LEDGER_KEY_COSIGNATURE) {
            rc = hae_err_set(err, HAE_EINVAL, "--witness %s: not a cosignature/v1 witness key", arg);
        }
        if (rc < 0) break;
        /* A witness key given with --key is a required cosignature too. */
        if (v->type == LEDGER_KEY_COSIGNATURE) k->witnesses[k->witness_count++] = *v;
        k->count++;
    }
    k->quorum = o->has_quorum ? o->quorum : k->witness_count;
    if (rc == HAE_OK && k->quorum > k->witness_count) {
        rc = hae_err_set(err, HAE_EINVAL, "--quorum %zu but %zu witness keys", k->quorum, k->witness_count);
    }
    return rc;
}

static bool has_log_key(const key_set *k) {
    for (size_t i = 0; i < k->count; i++) {
        if (k->all[i].type == LEDGER_KEY_ED25519) return true;
    }
    return false;
}

static int open_note(const char *what, const char *data, size_t len, const key_set *k,
                     verified_checkpoint *out, ledger_sig_result *results, hae_err *err) {
    int rc = ledger_checkpoint_open(data, len, k->all, k->count, &out->cp, &out->note, err);
    if (rc == HAE_OK && results) rc = ledger_note_verify(&out->note, k->all, k->count, results, err);
    if (rc > 0) rc = HAE_OK;
    if (rc == HAE_OK && k->witness_count) {
        ledger_sig_result wres[2 * KEYS_MAX];
        rc = ledger_witness_quorum(&out->note, k->witnesses, k->witness_count, k->quorum, wres, err);
    }
    if (rc < 0) return hae_err_prefix(err, "%s: ", what);
    return HAE_OK;
}

static int open_checkpoint(const char *path, const key_set *k, verified_checkpoint *out,
                           ledger_sig_result *results, hae_err *err) {
    int rc = ledger_cli_read(path, LEDGER_NOTE_MAX, &out->text, err);
    if (rc < 0) return rc;
    return open_note(path, out->text.data, out->text.len, k, out, results, err);
}

static void free_checkpoint(verified_checkpoint *v) {
    hae_buf_free(&v->text);
    ledger_note_free(&v->note);
    memset(v, 0, sizeof *v);
}

static void print_checkpoint(const verified_checkpoint *v, const key_set *k,
                             const ledger_sig_result *results) {
    hae_buf root = {0};
    for (size_t i = 0; i < LEDGER_HASH_LEN; i++) hae_buf_printf(&root, "%02x", v->cp.root.bytes[i]);
    printf("checkpoint %s size %" PRIu64 " root %s\n", v->cp.origin, v->cp.size, root.data ? root.data : "");
    for (size_t i = 0; i < k->count; i++) {
        if (!results[i].is_verified) {
            printf("  signature %s: absent\n", k->all[i].name);
        } else if (k->all[i].type == LEDGER_KEY_COSIGNATURE) {
            char when[HAE_TIME_LEN];
            hae_time_format((int64_t)results[i].timestamp * 1000000000LL, when);
            printf("  cosignature %s: valid, witnessed at %s\n", k->all[i].name, when);
        } else {
            printf("  signature %s: valid\n", k->all[i].name);
        }
    }
    hae_buf_free(&root);
}

static int verify_inclusion(const verified_checkpoint *v, const char *proof_path,
                            const char *entry_path, hae_err *err) {
    hae_buf proof_text = {0}, entry = {0};
    ledger_proof *proof = malloc(sizeof *proof);
    uint64_t index = 0;
    const char *embedded = NULL;
    size_t embedded_len = 0;
    int rc = proof ? ledger_cli_read(proof_path, 1 << 20, &proof_text, err)
                   : hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (rc == HAE_OK) {
        rc = ledger_inclusion_parse(proof_text.data, proof_text.len, &index, proof, &embedded,
                                    &embedded_len, err);
        if (rc < 0) hae_err_prefix(err, "%s: ", proof_path);
    }
    if (rc == HAE_OK && embedded) {
        /* The proof carries the checkpoint it was made for: it must be the
         * tree head we verified, not another one. */
        ledger_note note;
        ledger_checkpoint cp;
        rc = ledger_note_parse(&note, embedded, embedded_len, err);
        if (rc == HAE_OK) {
            rc = ledger_checkpoint_parse(note.text, note.text_len, &cp, err);
            ledger_note_free(&note);
        }
        if (rc == HAE_OK && (cp.size != v->cp.size || !ledger_hash_equal(&cp.root, &v->cp.root))) {
            rc = hae_err_set(err, HAE_EINVAL, "%s: made for the tree of size %" PRIu64 ", not the checkpoint's %" PRIu64,
                             proof_path, cp.size, v->cp.size);
        }
    }
    if (rc == HAE_OK) rc = ledger_cli_read(entry_path, LEDGER_ENTRY_MAX, &entry, err);
    if (rc == HAE_OK) {
        ledger_hash leaf;
        ledger_hash_leaf(entry.data, entry.len, &leaf);
        rc = ledger_verify_inclusion(index, v->cp.size, &leaf, proof, &v->cp.root, err);
    }
    if (rc == HAE_OK) printf("inclusion: %s is entry %" PRIu64 " of the checkpointed tree\n", entry_path, index);
    free(proof);
    hae_buf_free(&proof_text);
    hae_buf_free(&entry);
    return rc;
}

static int verify_consistency(const verified_checkpoint *old, const verified_checkpoint *v,
                              const char *path, hae_err *err) {
    hae_buf text = {0};
    ledger_proof *proof = malloc(sizeof *proof);
    uint64_t old_size = 0, size = 0;
    int rc = proof ? ledger_cli_read(path, 1 << 20, &text, err) : hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (rc == HAE_OK) rc = ledger_consistency_parse(text.data, text.len, &old_size, &size, proof, err);
    if (rc == HAE_OK && (old_size != old->cp.size || size != v->cp.size)) {
        rc = hae_err_set(err, HAE_EINVAL, "%s: proves %" PRIu64 " -> %" PRIu64 ", the checkpoints are %" PRIu64 " -> %" PRIu64,
                         path, old_size, size, old->cp.size, v->cp.size);
    }
    if (rc == HAE_OK) rc = ledger_check_extends(&old->cp, &v->cp, proof, err);
    if (rc == HAE_OK) {
        printf("consistency: the tree of size %" PRIu64 " extends the tree of size %" PRIu64 "\n", size, old_size);
    }
    free(proof);
    hae_buf_free(&text);
    return rc;
}

static int verify_files(const ledger_verify_opts *o, const key_set *k, hae_err *err) {
    if (o->checkpoint_count != 1 || !has_log_key(k)) {
        return hae_err_set(err, HAE_EINVAL, "one --checkpoint FILE and the log's --key VKEY are required without --dir");
    }
    ledger_sig_result results[2 * KEYS_MAX];
    verified_checkpoint now = {0}, old = {0};
    int rc = open_checkpoint(o->checkpoints[0], k, &now, results, err);
    if (rc == HAE_OK) print_checkpoint(&now, k, results);
    if (rc == HAE_OK && o->proof) rc = verify_inclusion(&now, o->proof, o->entry, err);
    /* The older checkpoint needs the log's signature only. */
    key_set log_only = *k;
    log_only.witness_count = log_only.quorum = 0;
    if (rc == HAE_OK && o->old_checkpoint) rc = open_checkpoint(o->old_checkpoint, &log_only, &old, NULL, err);
    if (rc == HAE_OK && o->old_checkpoint) rc = verify_consistency(&old, &now, o->consistency, err);
    free_checkpoint(&now);
    free_checkpoint(&old);
    return rc;
}

/* ---- audits against held checkpoints ---------------------------------- */

/* Without --key the log is trusted under the key it holds: a held
 * checkpoint of another log then fails its signature check. */
static int trust_dir_key(ledger *l, key_set *k, hae_err *err) {
    if (has_log_key(k)) return HAE_OK;
    if (k->count == 2 * KEYS_MAX) return hae_err_set(err, HAE_EINVAL, "too many keys");
    int rc = ledger_read_verifier(l, &k->all[k->count], err);
    if (rc == HAE_OK) k->count++;
    return rc;
}

static int audit_held(ledger *l, const key_set *k, const ledger_checkpoint *current,
                      const char *path, hae_err *err) {
    verified_checkpoint held = {0};
    int rc = open_checkpoint(path, k, &held, NULL, err);
    if (rc == HAE_OK) rc = ledger_prove_extends(l, &held.cp, current, err);
    if (rc < 0) hae_err_prefix(err, "%s: ", path);
    else printf("  extends %s (size %" PRIu64 ")\n", path, held.cp.size);
    free_checkpoint(&held);
    return rc;
}

static int cli_ledger_audit_dir(const ledger_verify_opts *o, hae_err *err) {
    key_set k = {0};
    ledger *l = NULL;
    int rc = load_keys(o, &k, err);
    if (rc == HAE_OK) rc = ledger_open_snapshot(&l, o->dir, err);
    if (rc == HAE_OK) rc = trust_dir_key(l, &k, err);
    verified_checkpoint current = {0};
    key_set log_only = k;
    log_only.witness_count = log_only.quorum = 0;
    if (rc == HAE_OK) rc = ledger_read_checkpoint(l, 0, &current.text, err);
    if (rc == HAE_OK) rc = open_note(o->dir, current.text.data, current.text.len, &log_only, &current, NULL, err);
    if (rc == HAE_OK) rc = ledger_check(l, err);
    if (rc == HAE_OK) {
        printf("log %s: %" PRIu64 " entries audited, checkpoint %s size %" PRIu64 ", storage intact\n", o->dir,
               ledger_size(l), current.cp.origin, current.cp.size);
    }
    for (size_t i = 0; rc == HAE_OK && i < o->checkpoint_count; i++) {
        rc = audit_held(l, &k, &current.cp, o->checkpoints[i], err);
    }
    free_checkpoint(&current);
    ledger_close(l);
    return rc;
}

int cli_ledger_verify(const ledger_verify_opts *o, hae_err *err) {
    if (!o->proof != !o->entry || !o->old_checkpoint != !o->consistency) {
        return cli_fail("ledger verify", CLI_EXIT_USAGE,
                        "--proof goes with --entry, --old-checkpoint with --consistency");
    }
    int rc = HAE_OK;
    if (o->checkpoint_count == 0) {
        return cli_fail("ledger verify", CLI_EXIT_USAGE, "--checkpoint FILE is required");
    }
    if (o->dir && (o->proof || o->old_checkpoint)) {
        return cli_fail("ledger verify", CLI_EXIT_USAGE, "--dir audits held checkpoints; give proofs without it");
    }
    if (o->dir) {
        rc = cli_ledger_audit_dir(o, err);
    } else {
        key_set k = {0};
        rc = load_keys(o, &k, err);
        if (rc == HAE_OK) rc = verify_files(o, &k, err);
    }
    if (rc < 0) {
        fprintf(stderr, "haetae ledger verify: FAILED: %s\n", err->msg);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* ---- remote audit ----------------------------------------------------- */

typedef struct remote {
    const ledger_verify_opts *o;
    key_set keys;
    verified_checkpoint current;
} remote;

static int remote_held(remote *r, const char *what, const char *data, size_t len, hae_err *err) {
    verified_checkpoint held = {0};
    hae_buf path = {0}, text = {0};
    ledger_proof *proof = calloc(1, sizeof *proof);
    int rc = proof ? open_note(what, data, len, &r->keys, &held, NULL, err) : hae_err_set(err, HAE_ENOMEM, "out of memory");
    const ledger_checkpoint *cur = &r->current.cp;
    if (rc == HAE_OK && held.cp.size > 0 && held.cp.size < cur->size &&
        strcmp(held.cp.origin, cur->origin) == 0) {
        uint64_t old_size = 0, size = 0;
        rc = hae_buf_printf(&path, "/api/v1/ledger/proof/consistency/%" PRIu64 "/%" PRIu64, held.cp.size, cur->size);
        if (rc < 0) rc = hae_err_set(err, rc, "out of memory");
        if (rc == HAE_OK) rc = ledger_cli_fetch(r->o->server, r->o->pin, r->o->ca, path.data, 1 << 20, &text, err);
        if (rc == HAE_OK) rc = ledger_consistency_parse(text.data, text.len, &old_size, &size, proof, err);
        if (rc == HAE_OK && (old_size != held.cp.size || size != cur->size)) {
            rc = hae_err_set(err, HAE_EINVAL, "%s: the server proved %" PRIu64 " -> %" PRIu64 " instead",
                             path.data, old_size, size);
        }
    }
    if (rc == HAE_OK) rc = ledger_check_extends(&held.cp, cur, proof, err);
    if (rc < 0) hae_err_prefix(err, "%s: ", what);
    else printf("  extends %s (size %" PRIu64 ")\n", what, held.cp.size);
    free(proof);
    free_checkpoint(&held);
    hae_buf_free(&path);
    hae_buf_free(&text);
    return rc;
}

static int remote_audit(remote *r, hae_err *err) {
    const ledger_verify_opts *o = r->o;
    /* Under a witness policy the tree to extend from is one the witnesses
     * saw: the newest cosigned checkpoint, not the latest signed. */
    const char *path = r->keys.witness_count ? "/api/v1/ledger/checkpoint/cosigned" : "/api/v1/ledger/checkpoint";
    int rc = ledger_cli_fetch(o->server, o->pin, o->ca, path, LEDGER_NOTE_MAX, &r->current.text, err);
    if (rc == HAE_OK) rc = open_note(o->server, r->current.text.data, r->current.text.len, &r->keys, &r->current, NULL, err);
    if (rc == HAE_OK) printf("log %s: checkpoint %s size %" PRIu64 "\n", o->server, r->current.cp.origin, r->current.cp.size);
    for (size_t i = 0; rc == HAE_OK && i < o->checkpoint_count; i++) {
        hae_buf held = {0};
        rc = ledger_cli_read(o->checkpoints[i], LEDGER_NOTE_MAX, &held, err);
        if (rc == HAE_OK) rc = remote_held(r, o->checkpoints[i], held.data, held.len, err);
        hae_buf_free(&held);
    }
    hae_buf state = {0};
    int src = o->state ? ledger_cli_read(o->state, LEDGER_NOTE_MAX, &state, err) : HAE_ENOENT;
    if (rc == HAE_OK && src == HAE_OK) rc = remote_held(r, o->state, state.data, state.len, err);
    else if (rc == HAE_OK && src != HAE_ENOENT) rc = src;
    else if (rc == HAE_OK) hae_err_clear(err);
    hae_buf_free(&state);
    /* Only a checkpoint that extends everything held becomes the next run's
     * starting point. */
    if (rc == HAE_OK && o->state) {
        rc = hae_file_write_atomic(o->state, r->current.text.data, r->current.text.len, 0644, err);
    }
    return rc;
}

int cli_ledger_audit(const ledger_verify_opts *o, hae_err *err) {
    if (!o->server || (!o->pin && !o->ca) || o->key_count == 0 || (o->checkpoint_count == 0 && !o->state)) {
        return cli_fail("ledger audit", CLI_EXIT_USAGE,
                        "--server URL, --pin or --ca, --key VKEY and --checkpoint FILE or --state FILE are required");
    }
    remote r = {.o = o};
    int rc = load_keys(o, &r.keys, err);
    if (rc == HAE_OK && !has_log_key(&r.keys)) rc = hae_err_set(err, HAE_EINVAL, "--key: the log's key is required");
    if (rc == HAE_OK) rc = remote_audit(&r, err);
    free_checkpoint(&r.current);
    if (rc < 0) {
        fprintf(stderr, "haetae ledger audit: FAILED: %s\n", err->msg);
        return CLI_EXIT_FAIL;
    }
    printf("log %s extends every held checkpoint\n", o->server);
    return CLI_EXIT_OK;
}
