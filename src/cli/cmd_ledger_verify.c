/* `haetae ledger verify`: checks a checkpoint's signatures, an entry's
 * inclusion and the consistency of two checkpoints from files alone, so a
 * regulator needs neither our server nor our log to check our claims. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/ledger_cli.h"

#define KEYS_MAX 16

typedef struct verified_checkpoint {
    hae_buf text;
    ledger_note note;
    ledger_checkpoint cp;
} verified_checkpoint;

static int open_checkpoint(const char *path, const ledger_verifier *keys, size_t key_count,
                           verified_checkpoint *out, ledger_sig_result *results, hae_err *err) {
    int rc = ledger_cli_read(path, LEDGER_NOTE_MAX, &out->text, err);
    if (rc == HAE_OK) {
        rc = ledger_checkpoint_open(out->text.data, out->text.len, keys, key_count, &out->cp,
                                    &out->note, err);
    }
    if (rc == HAE_OK && results) rc = ledger_note_verify(&out->note, keys, key_count, results, err);
    if (rc < 0) return hae_err_prefix(err, "%s: ", path);
    return HAE_OK;
}

static void free_checkpoint(verified_checkpoint *v) {
    hae_buf_free(&v->text);
    ledger_note_free(&v->note);
}

static void print_checkpoint(const verified_checkpoint *v, const ledger_verifier *keys,
                             size_t key_count, const ledger_sig_result *results) {
    hae_buf root = {0};
    for (size_t i = 0; i < LEDGER_HASH_LEN; i++) hae_buf_printf(&root, "%02x", v->cp.root.bytes[i]);
    printf("checkpoint %s size %" PRIu64 " root %s\n", v->cp.origin, v->cp.size, root.data ? root.data : "");
    for (size_t k = 0; k < key_count; k++) {
        if (!results[k].is_verified) {
            printf("  signature %s: absent\n", keys[k].name);
        } else if (keys[k].type == LEDGER_KEY_COSIGNATURE) {
            char when[HAE_TIME_LEN];
            hae_time_format((int64_t)results[k].timestamp * 1000000000LL, when);
            printf("  cosignature %s: valid, witnessed at %s\n", keys[k].name, when);
        } else {
            printf("  signature %s: valid\n", keys[k].name);
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
    if (rc == HAE_OK && strcmp(old->cp.origin, v->cp.origin) != 0) {
        rc = hae_err_set(err, HAE_EINVAL, "checkpoints are from two logs: %s and %s", old->cp.origin, v->cp.origin);
    }
    if (rc == HAE_OK) rc = ledger_verify_consistency(old_size, size, &old->cp.root, &v->cp.root, proof, err);
    if (rc == HAE_OK) {
        printf("consistency: the tree of size %" PRIu64 " extends the tree of size %" PRIu64 "\n", size, old_size);
    }
    free(proof);
    hae_buf_free(&text);
    return rc;
}

int cli_ledger_verify(const char *const *key_args, size_t key_count, const char *checkpoint,
                      const char *proof, const char *entry, const char *old_checkpoint,
                      const char *consistency, hae_err *err) {
    if (!checkpoint || key_count == 0) {
        return cli_fail("ledger verify", CLI_EXIT_USAGE, "--checkpoint FILE and at least one --key VKEY are required");
    }
    if (!proof != !entry || !old_checkpoint != !consistency) {
        return cli_fail("ledger verify", CLI_EXIT_USAGE,
                        "--proof goes with --entry, --old-checkpoint with --consistency");
    }
    if (key_count > KEYS_MAX) return cli_fail("ledger verify", CLI_EXIT_USAGE, "at most %d keys", KEYS_MAX);
    ledger_verifier keys[KEYS_MAX];
    ledger_sig_result results[KEYS_MAX];
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < key_count; i++) rc = ledger_cli_verifier(key_args[i], &keys[i], err);
    verified_checkpoint now = {0}, old = {0};
    if (rc == HAE_OK) rc = open_checkpoint(checkpoint, keys, key_count, &now, results, err);
    if (rc == HAE_OK) print_checkpoint(&now, keys, key_count, results);
    if (rc == HAE_OK && proof) rc = verify_inclusion(&now, proof, entry, err);
    if (rc == HAE_OK && old_checkpoint) rc = open_checkpoint(old_checkpoint, keys, key_count, &old, NULL, err);
    if (rc == HAE_OK && old_checkpoint) rc = verify_consistency(&old, &now, consistency, err);
    free_checkpoint(&now);
    free_checkpoint(&old);
    if (rc < 0) {
        fprintf(stderr, "haetae ledger verify: FAILED: %s\n", err->msg);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
