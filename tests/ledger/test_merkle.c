/* RFC 9162 hashing and proofs: the transparency-dev/merkle vectors from
 * ../shared/data/merkle, reference roots, and every proof our generator
 * makes for small trees verifying (and failing once touched). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "fixtures.h"

/* ---- an in-memory tree: complete subtrees hashed from the leaves ---- */

typedef struct memtree {
    ledger_hash leaves[300];
    uint64_t size;
} memtree;

static void subtree(const memtree *t, uint64_t begin, uint64_t n, ledger_hash *out) {
    if (n == 1) {
        *out = t->leaves[begin];
        return;
    }
    ledger_hash l, r;
    subtree(t, begin, n / 2, &l);
    subtree(t, begin + n / 2, n / 2, &r);
    ledger_hash_node(&l, &r, out);
}

static int memtree_node(void *ctx, unsigned level, uint64_t index, ledger_hash *out, hae_err *err) {
    const memtree *t = ctx;
    uint64_t n = (uint64_t)1 << level, begin = index << level;
    if (begin + n > t->size) return hae_err_set(err, HAE_EINVAL, "beyond the tree");
    subtree(t, begin, n, out);
    return HAE_OK;
}

static void memtree_fill(memtree *t, uint64_t size) {
    t->size = size;
    for (uint64_t i = 0; i < size; i++) {
        char entry[32];
        int n = snprintf(entry, sizeof entry, "entry %llu", (unsigned long long)i);
        ledger_hash_leaf(entry, (size_t)n, &t->leaves[i]);
    }
}

static void hex_hash(const char *hex, ledger_hash *out) {
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(out->bytes, 32, hex, strlen(hex), NULL, &n, NULL), 0);
    assert_int_equal(n, 32);
}

static void test_reference_roots_of_the_rfc_leaves(void **state) {
    (void)state;
    static const char *leaves[] = {"", "\x00", "\x10", "\x20\x21", "\x30\x31", "\x40\x41\x42\x43",
                                   "\x50\x51\x52\x53\x54\x55\x56\x57",
                                   "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
    static const size_t lens[] = {0, 1, 1, 2, 2, 4, 8, 16};
    static const char *roots[] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    memtree t = {0};
    for (size_t i = 0; i < 8; i++) ledger_hash_leaf(leaves[i], lens[i], &t.leaves[i]);
    for (uint64_t size = 0; size <= 8; size++) {
        t.size = size;
        ledger_hash got, want;
        hae_err err = {0};
        assert_int_equal(ledger_tree_root(memtree_node, &t, size, &got, &err), HAE_OK);
        hex_hash(roots[size], &want);
        assert_memory_equal(got.bytes, want.bytes, 32);
    }
}

static void test_every_generated_proof_verifies_and_a_flipped_bit_fails(void **state) {
    (void)state;
    memtree *t = calloc(1, sizeof *t);
    assert_non_null(t);
    memtree_fill(t, 70);
    ledger_hash roots[71];
    hae_err err = {0};
    for (uint64_t n = 1; n <= 70; n++) {
        assert_int_equal(ledger_tree_root(memtree_node, t, n, &roots[n], &err), HAE_OK);
    }
    ledger_proof p;
    for (uint64_t n = 1; n <= 70; n++) {
        for (uint64_t i = 0; i < n; i++) {
            assert_int_equal(ledger_tree_inclusion(memtree_node, t, i, n, &p, &err), HAE_OK);
            assert_int_equal(ledger_verify_inclusion(i, n, &t->leaves[i], &p, &roots[n], &err), HAE_OK);
            if (p.count) {
                p.hashes[p.count - 1].bytes[5] ^= 1;
                assert_int_equal(ledger_verify_inclusion(i, n, &t->leaves[i], &p, &roots[n], &err), HAE_EINVAL);
            }
            assert_int_not_equal(ledger_verify_inclusion(i, n, &t->leaves[(i + 1) % 70], &p, &roots[n], &err), HAE_OK);
        }
        for (uint64_t m = 1; m <= n; m++) {
            assert_int_equal(ledger_tree_consistency(memtree_node, t, m, n, &p, &err), HAE_OK);
            assert_int_equal(ledger_verify_consistency(m, n, &roots[m], &roots[n], &p, &err), HAE_OK);
            if (m < n) {
                assert_int_equal(ledger_verify_consistency(m, n, &roots[n], &roots[n], &p, &err), HAE_EINVAL);
                p.hashes[0].bytes[0] ^= 0x80;
                assert_int_equal(ledger_verify_consistency(m, n, &roots[m], &roots[n], &p, &err), HAE_EINVAL);
            }
        }
    }
    free(t);
}

/* ---- the transparency-dev/merkle vectors ---------------------------- */

/* Decodes into a 32-byte hash; false when the text is not one (the
 * vectors use short and empty values to test rejection). */
static bool b64_hash(const hae_json *j, ledger_hash *out) {
    memset(out, 0, sizeof *out);
    uint8_t buf[64];
    size_t n = 0;
    if (!j || j->type != HAE_JSON_STRING) return false;
    if (sodium_base642bin(buf, sizeof buf, j->text, j->text_len, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) return false;
    memcpy(out->bytes, buf, n < 32 ? n : 32);
    return n == 32;
}

static uint64_t number(const hae_json *j) {
    assert_non_null(j);
    return strtoull(j->text, NULL, 10);
}

static bool read_proof(const hae_json *arr, ledger_proof *p) {
    p->count = 0;
    bool ok = true;
    for (const hae_json *e = arr->child; e; e = e->next) {
        if (p->count == LEDGER_PROOF_MAX) return false;
        ok &= b64_hash(e, &p->hashes[p->count++]);
    }
    return ok;
}

typedef struct tally {
    int happy;
    int rejected;
} tally;

static void run_vector(const char *path, bool is_inclusion, tally *counts) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char text[16384];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    hae_arena arena = {0};
    hae_json *doc = NULL;
    hae_err err = {0};
    assert_int_equal(hae_json_parse(text, len, &arena, &doc, &err), HAE_OK);
    bool want_err = hae_json_member(doc, "wantErr")->type == HAE_JSON_BOOL &&
                    hae_json_member(doc, "wantErr")->text[0] == 't';
    ledger_proof *p = malloc(sizeof *p);
    assert_non_null(p);
    bool ok = read_proof(hae_json_member(doc, "proof"), p);
    int rc;
    if (is_inclusion) {
        ledger_hash root, leaf;
        ok &= b64_hash(hae_json_member(doc, "root"), &root);
        ok &= b64_hash(hae_json_member(doc, "leafHash"), &leaf);
        rc = ok ? ledger_verify_inclusion(number(hae_json_member(doc, "leafIdx")),
                                          number(hae_json_member(doc, "treeSize")), &leaf, p, &root, &err)
                : HAE_EINVAL;
    } else {
        ledger_hash r1, r2;
        bool roots_ok = b64_hash(hae_json_member(doc, "root1"), &r1);
        roots_ok &= b64_hash(hae_json_member(doc, "root2"), &r2);
        uint64_t s1 = number(hae_json_member(doc, "size1")), s2 = number(hae_json_member(doc, "size2"));
        /* Equal sizes compare the roots as bytes (Go's verifyMatch), so a
         * root of another length may still match itself; otherwise a root
         * that is not 32 bytes cannot be a tree head. */
        const hae_json *j1 = hae_json_member(doc, "root1"), *j2 = hae_json_member(doc, "root2");
        bool same_text = j1->text_len == j2->text_len && memcmp(j1->text, j2->text, j1->text_len) == 0;
        if (!roots_ok && !(s1 == s2 && same_text)) ok = false;
        rc = ok ? ledger_verify_consistency(s1, s2, &r1, &r2, p, &err) : HAE_EINVAL;
    }
    if (want_err != (rc != HAE_OK)) fail_msg("%s: wantErr %d, got rc %d (%s)", path, want_err, rc, err.msg);
    if (want_err) counts->rejected++;
    else counts->happy++;
    free(p);
    hae_arena_free(&arena);
}

static void run_dir(const char *dir, bool is_inclusion, tally *counts, int *files) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    const struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
            run_vector(path, is_inclusion, counts);
            (*files)++;
        } else {
            run_dir(path, is_inclusion, counts, files);
        }
    }
    closedir(d);
}

static void run_vectors(const char *which, bool is_inclusion) {
    char rel[64];
    snprintf(rel, sizeof rel, "merkle/testdata/%s", which);
    char *dir = fixture_shared_data(rel);
    if (!dir) {
        skip(); /* shared data is not beside this checkout */
    }
    tally t = {0};
    int files = 0;
    run_dir(dir, is_inclusion, &t, &files);
    print_message("%s: %d vectors, %d valid proofs accepted, %d bad ones rejected\n", which, files,
                  t.happy, t.rejected);
    assert_true(t.happy > 0);
    assert_true(t.rejected > 0);
    free(dir);
}

static void test_inclusion_vectors_from_transparency_dev(void **state) {
    (void)state;
    run_vectors("inclusion", true);
}

static void test_consistency_vectors_from_transparency_dev(void **state) {
    (void)state;
    run_vectors("consistency", false);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_roots_of_the_rfc_leaves),
        cmocka_unit_test(test_every_generated_proof_verifies_and_a_flipped_bit_fails),
        cmocka_unit_test(test_inclusion_vectors_from_transparency_dev),
        cmocka_unit_test(test_consistency_vectors_from_transparency_dev),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
