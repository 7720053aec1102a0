/* The log's key and the checkpoints it signs. The last signed checkpoint
 * (dir/checkpoint) is the log's promise: nothing is signed that does not
 * extend it (tlog-checkpoint "Signatures": a log MUST NOT sign a checkpoint
 * inconsistent with one it signed before). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/ledger_int.h"
#include "ledger/store_int.h"

static void path_in(const ledger *l, const char *name, char out[PATH_MAX]) {
    snprintf(out, PATH_MAX, "%s/%s", l->dir, name);
}

int ledger_init_key(ledger *l, const char *origin, hae_buf *vkey, hae_err *err) {
    if (l->is_snapshot) return hae_err_set(err, HAE_EPERM, "%s: opened read-only", l->dir);
    char key_path[PATH_MAX], vkey_path[PATH_MAX];
    path_in(l, "key", key_path);
    path_in(l, "key.vkey", vkey_path);
    if (access(key_path, F_OK) == 0) {
        return hae_err_set(err, HAE_EINVAL, "%s: a key exists; a log keeps its key for life", key_path);
    }
    hae_buf skey = {0}, pub = {0};
    int rc = ledger_key_generate(origin, LEDGER_KEY_ED25519, &skey, &pub, err);
    if (rc == HAE_OK) rc = hae_buf_append_char(&skey, '\n');
    if (rc == HAE_OK) rc = hae_buf_append_char(&pub, '\n');
    if (rc == HAE_OK) rc = ledger_file_write_atomic(key_path, skey.data, skey.len, 0600, err);
    if (rc == HAE_OK) rc = ledger_file_write_atomic(vkey_path, pub.data, pub.len, 0644, err);
    if (rc == HAE_OK) rc = hae_buf_append(vkey, pub.data, pub.len - 1);
    if (skey.data) sodium_memzero(skey.data, skey.len);
    hae_buf_free(&skey);
    hae_buf_free(&pub);
    return rc;
}

int ledger_read_verifier(ledger *l, ledger_verifier *out, hae_err *err) {
    char path[PATH_MAX];
    path_in(l, "key.vkey", path);
    hae_buf text = {0};
    int rc = ledger_file_read(path, 4096, &text, err);
    if (rc == HAE_OK) rc = ledger_verifier_parse(text.data, text.len, out, err);
    if (rc < 0) hae_err_prefix(err, "%s: ", path);
    hae_buf_free(&text);
    return rc;
}

static int read_signer(ledger *l, ledger_signer *out, hae_err *err) {
    char path[PATH_MAX];
    path_in(l, "key", path);
    hae_buf text = {0};
    int rc = ledger_file_read(path, 4096, &text, err);
    if (rc == HAE_ENOENT) hae_err_set(err, rc, "%s: no key; run 'haetae ledger init' first", path);
    if (rc == HAE_OK) rc = ledger_signer_parse(text.data, text.len, out, err);
    if (text.data) sodium_memzero(text.data, text.len);
    hae_buf_free(&text);
    return rc;
}

int ledger_read_checkpoint(ledger *l, uint64_t size, hae_buf *note, hae_err *err) {
    char path[PATH_MAX];
    if (size == 0 && l->is_snapshot) {
        int rc = hae_buf_append(note, l->snapshot_checkpoint.data, l->snapshot_checkpoint.len);
        return rc < 0 ? hae_err_set(err, rc, "ledger: out of memory") : HAE_OK;
    }
    if (size == 0) {
        path_in(l, "checkpoint", path);
    } else {
        snprintf(path, sizeof path, "%s/checkpoints/%" PRIu64, l->dir, size);
    }
    int rc = ledger_file_read(path, LEDGER_NOTE_MAX, note, err);
    if (rc == HAE_ENOENT) {
        return hae_err_set(err, rc, "%s: no checkpoint signed%s; run 'haetae ledger checkpoint'",
                           path, size ? " at that size" : "");
    }
    return rc;
}

/* The tree now must extend the last signed checkpoint. */
static int check_extends_last(ledger *l, const ledger_signer *key, hae_err *err) {
    hae_buf note = {0};
    int rc = ledger_read_checkpoint(l, 0, &note, err);
    if (rc == HAE_ENOENT) {
        hae_err_clear(err);
        return HAE_OK;
    }
    ledger_checkpoint last = {.size = 0};
    if (rc == HAE_OK) rc = ledger_checkpoint_open(note.data, note.len, &key->verifier, 1, &last, NULL, err);
    hae_buf_free(&note);
    if (rc < 0) return hae_err_prefix(err, "last signed checkpoint: ");
    uint64_t size = l->state.size;
    if (last.size > size) {
        return hae_err_set(err, HAE_EINVAL,
                           "refusing to sign: the log has %" PRIu64 " entries but already signed %" PRIu64
                           " (entries were removed)", size, last.size);
    }
    if (last.size == 0) return HAE_OK;
    ledger_proof proof;
    rc = ledger_prove_consistency(l, last.size, size, &proof, err);
    if (rc == HAE_OK) {
        rc = ledger_verify_consistency(last.size, size, &last.root, &l->state.root, &proof, err);
    }
    if (rc < 0) {
        return hae_err_prefix(err, "refusing to sign: the tree does not extend the checkpoint signed at size %" PRIu64 ": ",
                              last.size);
    }
    return HAE_OK;
}

int ledger_sign_checkpoint(ledger *l, hae_buf *note, hae_err *err) {
    if (l->is_snapshot) return hae_err_set(err, HAE_EPERM, "%s: opened read-only", l->dir);
    ledger_signer key;
    int rc = read_signer(l, &key, err);
    if (rc < 0) return rc;
    rc = check_extends_last(l, &key, err);
    ledger_checkpoint cp = {.size = l->state.size, .root = l->state.root};
    snprintf(cp.origin, sizeof cp.origin, "%s", key.verifier.name);
    hae_buf out = {0};
    if (rc == HAE_OK) rc = ledger_checkpoint_format(&cp, &out);
    size_t text_len = out.len;
    if (rc == HAE_OK) rc = hae_buf_append_char(&out, '\n');
    if (rc == HAE_OK) rc = ledger_note_sign(out.data, text_len, &key, &out, err);
    ledger_signer_wipe(&key);
    char dir[PATH_MAX], path[PATH_MAX];
    path_in(l, "checkpoints", dir);
    if (rc == HAE_OK && snprintf(path, sizeof path, "%s/%" PRIu64, dir, cp.size) >= (int)sizeof path) {
        rc = hae_err_set(err, HAE_EINVAL, "%s: path too long", dir);
    }
    if (rc == HAE_OK) rc = ledger_mkdir_p(dir, err);
    if (rc == HAE_OK) rc = ledger_file_write_atomic(path, out.data, out.len, 0644, err);
    path_in(l, "checkpoint", path);
    if (rc == HAE_OK) rc = ledger_file_write_atomic(path, out.data, out.len, 0644, err);
    if (rc == HAE_OK) rc = hae_buf_append(note, out.data, out.len);
    hae_buf_free(&out);
    return rc;
}
