/* Fuzzes every validator and the masking: the first byte picks the kind,
 * the rest is the candidate text. A valid verdict must have a normalised
 * form no longer than the text (phones excepted: +82 becomes 0) and a
 * confidence in [0, 1]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scope/scope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    scope_kind kind = (scope_kind)(data[0] % SCOPE_KIND_COUNT);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    scope_verdict v;
    scope_validate(kind, text, len, &v);
    if (v.is_valid) {
        if (v.confidence < 0.0f || v.confidence > 1.0f) abort();
        if (v.norm_len == 0 || v.norm_len >= SCOPE_NORM_MAX || v.norm[v.norm_len] != '\0') abort();
        if (kind != SCOPE_PHONE && v.norm_len > len) abort();
    }
    if (len <= SCOPE_NORM_MAX) {
        char masked[SCOPE_NORM_MAX + 1];
        if (scope_mask(kind, text, len, masked) != len) abort();
    }
    (void)scope_luhn_valid(text, len);
    return 0;
}
