/* Fuzzes the scope reader for zstd: the bytes scanned as x.zst. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.zst", SCOPE_FMT_AUTO, data, size, 1);
}
