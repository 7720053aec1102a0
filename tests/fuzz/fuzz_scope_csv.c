/* Fuzzes the scope reader for csv: the bytes scanned as x.csv. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.csv", SCOPE_FMT_CSV, data, size, 0);
}
