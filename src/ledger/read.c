/* Reading the log: roots, leaves, proofs, entries, and the full audit. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"
#include "ledger/store_int.h"

static int check_size(const ledger *l, uint64_t size, hae_err *err) {
    if (size > l->state.size) {
        return hae_err_set(err, HAE_EINVAL, "ledger: size %" PRIu64 " exceeds the log's %" PRIu64,
                           size, l->state.size);
    }
    return HAE_OK;
}

int ledger_root(ledger *l, uint64_t size, ledger_hash *out, hae_err *err) {
    int rc = check_size(l, size, err);
    if (rc < 0) return rc;
    if (size == l->state.size) {
        *out = l->state.root;
        return HAE_OK;
    }
    return ledger_tree_root(ledger_store_node, l, size, out, err);
}

int ledger_leaf(ledger *l, uint64_t index, ledger_hash *out, hae_err *err) {
    if (index >= l->state.size) {
        return hae_err_set(err, HAE_EINVAL, "ledger: no entry %" PRIu64 " (size %" PRIu64 ")",
                           index, l->state.size);
    }
    return ledger_store_node(l, 0, index, out, err);
}

int ledger_find_leaf(ledger *l, const ledger_hash *leaf, uint64_t size, uint64_t *index,
                     hae_err *err) {
    int rc = check_size(l, size, err);
    for (uint64_t i = 0; rc == HAE_OK && i < size; i++) {
        ledger_hash h;
        rc = ledger_store_node(l, 0, i, &h, err);
        if (rc == HAE_OK && memcmp(h.bytes, leaf->bytes, LEDGER_HASH_LEN) == 0) {
            *index = i;
            return HAE_OK;
        }
    }
    return rc < 0 ? rc : hae_err_set(err, HAE_ENOENT, "ledger: no entry with that hash in the first %" PRIu64, size);
}

int ledger_prove_inclusion(ledger *l, uint64_t index, uint64_t size, ledger_proof *out,
                           hae_err *err) {
    int rc = check_size(l, size, err);
    return rc < 0 ? rc : ledger_tree_inclusion(ledger_store_node, l, index, size, out, err);
}

int ledger_prove_consistency(ledger *l, uint64_t old_size, uint64_t size, ledger_proof *out,
                             hae_err *err) {
    int rc = check_size(l, size, err);
    return rc < 0 ? rc : ledger_tree_consistency(ledger_store_node, l, old_size, size, out, err);
}

/* Reads the entries file front to back in large blocks. */
int ledger_scan(ledger *l, uint64_t first, uint64_t count, ledger_entry_fn fn, void *ctx,
                hae_err *err) {
    if (first > l->state.size || count > l->state.size - first) {
        return hae_err_set(err, HAE_EINVAL, "ledger: entries [%" PRIu64 ", +%" PRIu64 ") beyond size %" PRIu64,
                           first, count, l->state.size);
    }
    enum { BLOCK = 1 << 20 };
    uint8_t *buf = malloc(BLOCK + LEDGER_ENTRY_MAX + 2);
    if (!buf) return hae_err_set(err, HAE_ENOMEM, "ledger: out of memory");
    uint64_t off = 0, index = 0, end = first + count;
    size_t have = 0, pos = 0;
    int rc = HAE_OK;
    while (rc == HAE_OK && index < end) {
        if (have - pos < 2 || have - pos < 2 + ((size_t)buf[pos] << 8 | buf[pos + 1])) {
            memmove(buf, buf + pos, have - pos); /* keep the partial record */
            have -= pos;
            pos = 0;
            uint64_t left = l->state.entries_len - off;
            size_t want = left < BLOCK ? (size_t)left : BLOCK;
            if (want == 0 || ledger_store_pread(l->entries_fd, buf + have, want, off) < 0) {
                rc = hae_err_set(err, HAE_EIO, "%s/entries: ends inside entry %" PRIu64, l->dir, index);
                break;
            }
            off += want;
            have += want;
            continue;
        }
        size_t len = (size_t)buf[pos] << 8 | buf[pos + 1];
        if (index >= first) rc = fn(ctx, index, buf + pos + 2, len, err);
        pos += 2 + len;
        index++;
    }
    free(buf);
    return rc;
}

/* ---- the full audit --------------------------------------------------- */

typedef struct audit {
    ledger *l;
    ledger_hash frontier[64];
    uint64_t size;
    uint64_t node; /* next post-order position */
} audit;

static int audit_compare(audit *a, const ledger_hash *want, uint64_t index, hae_err *err) {
    ledger_hash stored;
    uint64_t off = a->node * LEDGER_HASH_LEN;
    if (ledger_store_pread(a->l->tree_fd, stored.bytes, LEDGER_HASH_LEN, off) < 0) {
        return hae_err_set(err, HAE_EIO, "%s/tree: cannot read node %" PRIu64, a->l->dir, a->node);
    }
    a->node++;
    if (!ledger_hash_equal(&stored, want)) {
        return hae_err_set(err, HAE_EINVAL,
                           "%s: entry %" PRIu64 " does not match the stored tree (tree node %" PRIu64
                           "): an entry or a hash was modified, dropped or reordered",
                           a->l->dir, index, a->node - 1);
    }
    return HAE_OK;
}

static int audit_entry(void *ctx, uint64_t index, const void *entry, size_t len, hae_err *err) {
    audit *a = ctx;
    ledger_hash carry;
    ledger_hash_leaf(entry, len, &carry);
    int rc = audit_compare(a, &carry, index, err);
    unsigned level = 0;
    while (rc == HAE_OK && ((a->size >> level) & 1)) {
        ledger_hash_node(&a->frontier[level], &carry, &carry);
        rc = audit_compare(a, &carry, index, err);
        level++;
    }
    a->frontier[level] = carry;
    a->size++;
    return rc;
}

static int audit_checkpoint(ledger *l, hae_err *err) {
    hae_buf note = {0};
    int rc = ledger_read_checkpoint(l, 0, &note, err);
    if (rc == HAE_ENOENT) {
        hae_err_clear(err);
        return HAE_OK;
    }
    ledger_verifier key;
    ledger_checkpoint cp;
    if (rc == HAE_OK) rc = ledger_read_verifier(l, &key, err);
    if (rc == HAE_OK) rc = ledger_checkpoint_open(note.data, note.len, &key, 1, &cp, NULL, err);
    ledger_hash root;
    if (rc == HAE_OK) rc = ledger_root(l, cp.size, &root, err);
    if (rc == HAE_OK && !ledger_hash_equal(&root, &cp.root)) {
        rc = hae_err_set(err, HAE_EINVAL,
                         "%s: the tree at size %" PRIu64 " no longer has the root of its signed checkpoint",
                         l->dir, cp.size);
    }
    hae_buf_free(&note);
    return rc;
}

int ledger_check(ledger *l, hae_err *err) {
    audit a = {.l = l};
    int rc = ledger_scan(l, 0, l->state.size, audit_entry, &a, err);
    if (rc < 0) return rc;
    if (a.node != ledger_store_tree_nodes(l->state.size)) {
        return hae_err_set(err, HAE_EINVAL, "%s/tree: %" PRIu64 " nodes checked, expected %" PRIu64,
                           l->dir, a.node, ledger_store_tree_nodes(l->state.size));
    }
    ledger_hash root = {{0}};
    /* The recomputed frontier gives the root from the entries alone. */
    bool has = false;
    for (int k = 0; k < 64; k++) {
        if (!((a.size >> k) & 1)) continue;
        if (!has) root = a.frontier[k];
        else ledger_hash_node(&a.frontier[k], &root, &root);
        has = true;
    }
    if (!has) ledger_hash_empty(&root);
    if (!ledger_hash_equal(&root, &l->state.root)) {
        return hae_err_set(err, HAE_EINVAL, "%s: the entries do not give the committed root", l->dir);
    }
    return audit_checkpoint(l, err);
}
