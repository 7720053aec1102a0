/* The log's key and the checkpoints it signs. The last signed checkpoint
 * (dir/checkpoint) is the log's promise: nothing is signed that does not
 * extend it (tlog-checkpoint "Signatures": a log MUST NOT sign a checkpoint
 * inconsistent with one it signed before). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- cosigned checkpoints --------------------------------------------- */

static int size_of_note(const hae_buf *note, uint64_t *size, hae_err *err) {
    ledger_note parsed;
    ledger_checkpoint cp;
    int rc = ledger_note_parse(&parsed, note->data, note->len, err);
    if (rc < 0) return rc;
    rc = ledger_checkpoint_parse(parsed.text, parsed.text_len, &cp, err);
    ledger_note_free(&parsed);
    if (rc == HAE_OK) *size = cp.size;
    return rc;
}

static bool has_signature_of(const hae_buf *note, const ledger_verifier *key) {
    ledger_note parsed;
    if (ledger_note_parse(&parsed, note->data, note->len, NULL) < 0) return false;
    bool has = false;
    for (size_t i = 0; i < parsed.sig_count; i++) {
        has |= parsed.sigs[i].key_id == key->key_id && strcmp(parsed.sigs[i].name, key->name) == 0;
    }
    ledger_note_free(&parsed);
    return has;
}

/* Rewrites the file at path with the note when it holds the same tree. */
static int replace_if_size(const char *path, uint64_t size, const hae_buf *note, bool newer_too, hae_err *err) {
    hae_buf old = {0};
    uint64_t old_size = 0;
    int rc = ledger_file_read(path, LEDGER_NOTE_MAX, &old, err);
    bool is_absent = rc == HAE_ENOENT;
    if (is_absent) hae_err_clear(err);
    if (rc == HAE_OK) rc = size_of_note(&old, &old_size, err);
    hae_buf_free(&old);
    if (rc < 0 && !is_absent) return rc;
    if (is_absent ? newer_too : (old_size == size || (newer_too && old_size < size))) {
        return ledger_file_write_atomic(path, note->data, note->len, 0644, err);
    }
    return HAE_OK;
}

int ledger_add_cosignatures(ledger *l, uint64_t size, const ledger_verifier *witness, const char *lines,
                            size_t len, hae_err *err) {
    if (l->is_snapshot) return hae_err_set(err, HAE_EPERM, "%s: opened read-only", l->dir);
    hae_buf note = {0};
    int rc = ledger_read_checkpoint(l, size, &note, err);
    if (rc < 0 || has_signature_of(&note, witness)) {
        hae_buf_free(&note);
        return rc; /* the earliest cosignature of a tree is the one worth keeping */
    }
    rc = hae_buf_append(&note, lines, len);
    if (rc < 0) rc = hae_err_set(err, rc, "ledger: out of memory");
    ledger_note parsed = {0};
    ledger_sig_result result;
    if (rc == HAE_OK) rc = ledger_note_parse(&parsed, note.data, note.len, err);
    if (rc == HAE_OK) rc = ledger_witness_quorum(&parsed, witness, 1, 1, &result, err);
    ledger_note_free(&parsed);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/checkpoints/%" PRIu64, l->dir, size);
    if (rc == HAE_OK) rc = ledger_file_write_atomic(path, note.data, note.len, 0644, err);
    path_in(l, "checkpoint", path);
    if (rc == HAE_OK) rc = replace_if_size(path, size, &note, false, err);
    path_in(l, "cosigned", path);
    if (rc == HAE_OK) rc = replace_if_size(path, size, &note, true, err);
    hae_buf_free(&note);
    return rc;
}

int ledger_read_cosigned(ledger *l, hae_buf *note, hae_err *err) {
    char path[PATH_MAX];
    path_in(l, "cosigned", path);
    return ledger_file_read(path, LEDGER_NOTE_MAX, note, err);
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ledger_checkpoint_sizes(ledger *l, uint64_t **sizes, size_t *count, hae_err *err) {
    *sizes = NULL;
    *count = 0;
    char path[PATH_MAX];
    path_in(l, "checkpoints", path);
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? HAE_OK : hae_err_errno(err, errno, "%s", path);
    size_t cap = 0;
    int rc = HAE_OK;
    for (struct dirent *e; rc == HAE_OK && (e = readdir(d));) {
        char *end = NULL;
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        unsigned long long v = strtoull(e->d_name, &end, 10);
        if (*end) continue; /* temporary files of an atomic write */
        if (*count == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *grown = realloc(*sizes, cap * sizeof *grown);
            if (!grown) {
                rc = hae_err_set(err, HAE_ENOMEM, "ledger: out of memory");
                break;
            }
            *sizes = grown;
        }
        (*sizes)[(*count)++] = v;
    }
    closedir(d);
    if (rc == HAE_OK && *count) qsort(*sizes, *count, sizeof **sizes, compare_u64);
    if (rc < 0) {
        free(*sizes);
        *sizes = NULL;
        *count = 0;
    }
    return rc;
}
