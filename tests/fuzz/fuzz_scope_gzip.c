/* Fuzzes the scope reader for gzip: the bytes scanned as x.gz. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.gz", SCOPE_FMT_AUTO, data, size, 1);
}
