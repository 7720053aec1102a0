/* RFC 9162 section 2.1: Merkle tree hashing, audit paths and their
 * verification. Pure: subtree hashes come from a ledger_node_fn. */
#include <openssl/sha.h>
#include <sodium.h>
#include <string.h>

#include "ledger/ledger.h"

void ledger_hash_leaf(const void *entry, size_t len, ledger_hash *out) {
    /* One-shot SHA256() is OpenSSL's fast path (SHA-NI/AVX2); long entries
     * take libsodium's streaming SHA-256, which cannot fail. */
    unsigned char block[1024];
    if (len < sizeof block) {
        block[0] = 0x00;
        if (len) memcpy(block + 1, entry, len);
        SHA256(block, len + 1, out->bytes);
        return;
    }
    static const unsigned char prefix = 0x00;
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, &prefix, 1);
    crypto_hash_sha256_update(&state, entry, len);
    crypto_hash_sha256_final(&state, out->bytes);
}

void ledger_hash_node(const ledger_hash *left, const ledger_hash *right, ledger_hash *out) {
    unsigned char block[1 + 2 * LEDGER_HASH_LEN];
    block[0] = 0x01;
    memcpy(block + 1, left->bytes, LEDGER_HASH_LEN);
    memcpy(block + 1 + LEDGER_HASH_LEN, right->bytes, LEDGER_HASH_LEN);
    SHA256(block, sizeof block, out->bytes);
}

void ledger_hash_empty(ledger_hash *out) {
    SHA256((const unsigned char *)"", 0, out->bytes);
}

bool ledger_hash_equal(const ledger_hash *a, const ledger_hash *b) {
    return sodium_memcmp(a->bytes, b->bytes, LEDGER_HASH_LEN) == 0;
}

/* Largest power of two strictly below n (n >= 2): RFC 9162's split point k. */
static uint64_t split_point(uint64_t n) {
    uint64_t k = 1;
    while (k << 1 < n) k <<= 1;
    return k;
}

static unsigned log2_exact(uint64_t pow2) {
    return (unsigned)__builtin_ctzll(pow2);
}

/* MTH(D[begin:end]) for a range the RFC recursion produces: begin is a
 * multiple of every split below it, so the range is a run of complete
 * subtrees of falling size, folded from the right. */
static int range_hash(ledger_node_fn nodes, void *ctx, uint64_t begin, uint64_t end,
                      ledger_hash *out, hae_err *err) {
    ledger_hash parts[64];
    unsigned count = 0;
    while (begin < end) {
        uint64_t n = end - begin;
        uint64_t k = (n & (n - 1)) == 0 ? n : split_point(n);
        if (begin % k != 0) {
            return hae_err_set(err, HAE_EINVAL, "ledger: range [%llu, %llu) is not a tree node",
                               (unsigned long long)begin, (unsigned long long)end);
        }
        unsigned level = log2_exact(k);
        int rc = nodes(ctx, level, begin >> level, &parts[count], err);
        if (rc < 0) return rc;
        count++;
        begin += k;
    }
    if (count == 0) return hae_err_set(err, HAE_EINVAL, "ledger: empty range");
    *out = parts[count - 1];
    for (unsigned i = count - 1; i-- > 0;) ledger_hash_node(&parts[i], out, out);
    return HAE_OK;
}

int ledger_tree_root(ledger_node_fn nodes, void *ctx, uint64_t size, ledger_hash *out,
                     hae_err *err) {
    if (size == 0) {
        ledger_hash_empty(out);
        return HAE_OK;
    }
    return range_hash(nodes, ctx, 0, size, out, err);
}

static void proof_reverse(ledger_proof *p) {
    for (size_t i = 0, j = p->count; i + 1 < j; i++, j--) {
        ledger_hash t = p->hashes[i];
        p->hashes[i] = p->hashes[j - 1];
        p->hashes[j - 1] = t;
    }
}

/* RFC 9162 2.1.3.1 PATH(m, D[n]), unrolled: siblings are gathered from the
 * root down, then reversed so the leaf's sibling comes first. */
int ledger_tree_inclusion(ledger_node_fn nodes, void *ctx, uint64_t index, uint64_t size,
                          ledger_proof *out, hae_err *err) {
    out->count = 0;
    if (index >= size) {
        return hae_err_set(err, HAE_EINVAL, "ledger: index %llu is not below tree size %llu",
                           (unsigned long long)index, (unsigned long long)size);
    }
    uint64_t lo = 0, hi = size;
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        int rc;
        if (index < lo + k) {
            rc = range_hash(nodes, ctx, lo + k, hi, &out->hashes[out->count], err);
            hi = lo + k;
        } else {
            rc = range_hash(nodes, ctx, lo, lo + k, &out->hashes[out->count], err);
            lo += k;
        }
        if (rc < 0) return rc;
        out->count++;
    }
    proof_reverse(out);
    return HAE_OK;
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b), unrolled the same way. */
int ledger_tree_consistency(ledger_node_fn nodes, void *ctx, uint64_t old_size, uint64_t size,
                            ledger_proof *out, hae_err *err) {
    out->count = 0;
    if (old_size == 0 || old_size > size) {
        return hae_err_set(err, HAE_EINVAL, "ledger: no consistency proof from size %llu to %llu",
                           (unsigned long long)old_size, (unsigned long long)size);
    }
    uint64_t lo = 0, hi = size, m = old_size;
    bool is_whole = true; /* b: the old tree is a complete subtree seen so far */
    int rc;
    for (;;) {
        uint64_t n = hi - lo;
        if (m == n) {
            if (!is_whole) {
                rc = range_hash(nodes, ctx, lo, hi, &out->hashes[out->count], err);
                if (rc < 0) return rc;
                out->count++;
            }
            break;
        }
        uint64_t k = split_point(n);
        if (m <= k) {
            rc = range_hash(nodes, ctx, lo + k, hi, &out->hashes[out->count], err);
            hi = lo + k;
        } else {
            rc = range_hash(nodes, ctx, lo, lo + k, &out->hashes[out->count], err);
            lo += k;
            m -= k;
            is_whole = false;
        }
        if (rc < 0) return rc;
        out->count++;
    }
    proof_reverse(out);
    return HAE_OK;
}

int ledger_verify_inclusion(uint64_t index, uint64_t size, const ledger_hash *leaf,
                            const ledger_proof *proof, const ledger_hash *root, hae_err *err) {
    if (index >= size) {
        return hae_err_set(err, HAE_EINVAL, "inclusion: index %llu is not below tree size %llu",
                           (unsigned long long)index, (unsigned long long)size);
    }
    if (proof->count > LEDGER_PROOF_MAX) {
        return hae_err_set(err, HAE_EINVAL, "inclusion: proof too long");
    }
    uint64_t fn = index, sn = size - 1;
    ledger_hash r = *leaf;
    for (size_t i = 0; i < proof->count; i++) {
        const ledger_hash *p = &proof->hashes[i];
        if (sn == 0) {
            return hae_err_set(err, HAE_EINVAL, "inclusion: proof has %zu hashes, expected %zu",
                               proof->count, i);
        }
        if ((fn & 1) || fn == sn) {
            ledger_hash_node(p, &r, &r);
            if (!(fn & 1)) {
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            ledger_hash_node(&r, p, &r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) {
        return hae_err_set(err, HAE_EINVAL, "inclusion: proof of %zu hashes is too short",
                           proof->count);
    }
    if (!ledger_hash_equal(&r, root)) {
        return hae_err_set(err, HAE_EINVAL,
                           "inclusion: entry %llu is not in the tree of size %llu "
                           "(computed root differs)",
                           (unsigned long long)index, (unsigned long long)size);
    }
    return HAE_OK;
}

int ledger_verify_consistency(uint64_t old_size, uint64_t size, const ledger_hash *old_root,
                              const ledger_hash *root, const ledger_proof *proof, hae_err *err) {
    if (old_size > size) {
        return hae_err_set(err, HAE_EINVAL, "consistency: old size %llu exceeds size %llu",
                           (unsigned long long)old_size, (unsigned long long)size);
    }
    if (old_size == 0) {
        return hae_err_set(err, HAE_EINVAL, "consistency: a proof from the empty tree proves nothing");
    }
    if (proof->count > LEDGER_PROOF_MAX) {
        return hae_err_set(err, HAE_EINVAL, "consistency: proof too long");
    }
    if (old_size == size) {
        if (proof->count != 0) {
            return hae_err_set(err, HAE_EINVAL, "consistency: equal sizes need an empty proof");
        }
        if (!ledger_hash_equal(old_root, root)) {
            return hae_err_set(err, HAE_EINVAL, "consistency: two roots for size %llu",
                               (unsigned long long)size);
        }
        return HAE_OK;
    }
    if (proof->count == 0) return hae_err_set(err, HAE_EINVAL, "consistency: empty proof");
    /* RFC 9162 2.1.4.2: when old_size is a power of two the old root is the
     * first node of the path and is not sent. */
    size_t i = 0;
    ledger_hash fr, sr;
    if ((old_size & (old_size - 1)) == 0) {
        fr = sr = *old_root;
    } else {
        fr = sr = proof->hashes[0];
        i = 1;
    }
    uint64_t fn = old_size - 1, sn = size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < proof->count; i++) {
        const ledger_hash *c = &proof->hashes[i];
        if (sn == 0) return hae_err_set(err, HAE_EINVAL, "consistency: proof too long");
        if ((fn & 1) || fn == sn) {
            ledger_hash_node(c, &fr, &fr);
            ledger_hash_node(c, &sr, &sr);
            if (!(fn & 1)) {
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            ledger_hash_node(&sr, c, &sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) return hae_err_set(err, HAE_EINVAL, "consistency: proof too short");
    if (!ledger_hash_equal(&fr, old_root)) {
        return hae_err_set(err, HAE_EINVAL, "consistency: the old root does not match the proof");
    }
    if (!ledger_hash_equal(&sr, root)) {
        return hae_err_set(err, HAE_EINVAL,
                           "consistency: the tree of size %llu does not extend the tree of size %llu",
                           (unsigned long long)size, (unsigned long long)old_size);
    }
    return HAE_OK;
}
