/* Fuzzes spool segment recovery: whatever bytes a crash leaves behind, the
 * scan finds a valid prefix and every record in it reads back. */
#include <stdint.h>
#include <stdlib.h>

#include "agent/spool_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spool_scan_result scan;
    spool_scan_records((const char *)data, size, &scan);
    if (scan.valid_bytes > size) abort();
    if (!scan.header_ok) return 0;
    spool_cursor cur = {.data = (const char *)data, .len = scan.valid_bytes,
                        .pos = SPOOL_MAGIC_LEN};
    const char *line;
    size_t len;
    uint64_t n = 0;
    while (spool_next_record(&cur, &line, &len)) {
        if (line < (const char *)data || line + len > (const char *)data + size) abort();
        n++;
    }
    if (n != scan.records || cur.pos != scan.valid_bytes) abort();
    return 0;
}
