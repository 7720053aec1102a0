/* Fuzzes the scope reader for archive: the bytes scanned as x.tar. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.tar", SCOPE_FMT_AUTO, data, size, 1);
}
