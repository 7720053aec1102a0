/* Fuzzes the scope reader for cp949: the bytes scanned as x.txt. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.txt", SCOPE_FMT_TEXT, data, size, 1);
}
