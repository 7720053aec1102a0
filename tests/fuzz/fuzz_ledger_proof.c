/* Fuzzes the proof file parsers: any bytes parse or are rejected with a
 * message; what parses re-encodes to the same proof and verifies (or
 * fails) without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inclusion(const char *text, size_t size) {
    ledger_proof *p = malloc(sizeof *p), *q = malloc(sizeof *q);
    if (!p || !q) abort();
    uint64_t index = 0, again_index = 0;
    const char *cp = NULL, *cp2 = NULL;
    size_t cp_len = 0, cp2_len = 0;
    hae_err err = {0};
    if (ledger_inclusion_parse(text, size, &index, p, &cp, &cp_len, &err) != HAE_OK) {
        if (err.msg[0] == '\0') abort();
    } else {
        if (cp && (cp < text || cp + cp_len > text + size)) abort();
        hae_buf out = {0};
        if (ledger_inclusion_format(index, p, cp, cp_len, &out) != HAE_OK) abort();
        if (ledger_inclusion_parse(out.data, out.len, &again_index, q, &cp2, &cp2_len, &err) != HAE_OK) abort();
        if (again_index != index || q->count != p->count ||
            memcmp(q->hashes, p->hashes, p->count * sizeof p->hashes[0]) != 0) abort();
        ledger_hash leaf = {{0}}, root = {{0}};
        (void)ledger_verify_inclusion(index, index + 1 + (index & 0xff), &leaf, p, &root, &err);
        hae_buf_free(&out);
    }
    free(p);
    free(q);
}

static void check_consistency(const char *text, size_t size) {
    ledger_proof *p = malloc(sizeof *p), *q = malloc(sizeof *q);
    if (!p || !q) abort();
    uint64_t old_size = 0, new_size = 0, o2 = 0, n2 = 0;
    hae_err err = {0};
    if (ledger_consistency_parse(text, size, &old_size, &new_size, p, &err) != HAE_OK) {
        if (err.msg[0] == '\0') abort();
    } else {
        hae_buf out = {0};
        if (ledger_consistency_format(old_size, new_size, p, &out) != HAE_OK) abort();
        if (ledger_consistency_parse(out.data, out.len, &o2, &n2, q, &err) != HAE_OK) abort();
        if (o2 != old_size || n2 != new_size || q->count != p->count) abort();
        ledger_hash a = {{1}}, b = {{2}};
        (void)ledger_verify_consistency(old_size, new_size, &a, &b, p, &err);
        hae_buf_free(&out);
    }
    free(p);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_inclusion((const char *)data, size);
    check_consistency((const char *)data, size);
    return 0;
}
