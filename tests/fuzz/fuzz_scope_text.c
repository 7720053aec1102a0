/* Fuzzes the scope reader for text: the bytes scanned as x.log. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.log", SCOPE_FMT_TEXT, data, size, 0);
}
