/* Fuzzes the scope reader for jsonl: the bytes scanned as x.jsonl. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.jsonl", SCOPE_FMT_JSONL, data, size, 0);
}
