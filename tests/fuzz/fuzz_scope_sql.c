/* Fuzzes the scope reader for sql: the bytes scanned as x.sql. */
#include "fuzz_scope_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_scan("x.sql", SCOPE_FMT_SQL, data, size, 0);
}
