/* Fuzzes the TZif reader (tzif.c, hae_tz_parse) and its POSIX TZ footer:
 * any bytes are either refused with a message naming the zone or give a
 * zone whose offsets, asked at any instant, stay within a day of UTC. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hae_tz *tz = NULL;
    hae_err err = {0};
    int rc = hae_tz_parse("fuzz", data, size, &tz, &err);
    if (rc != HAE_OK) {
        if (tz || !strstr(err.msg, "fuzz")) abort();
        return 0;
    }
    static const int64_t instants[] = {INT64_MIN, -4000000000000, -2208988800, -1, 0,
                                       1790000000, 4102444800, 7258118400, INT64_MAX};
    for (size_t i = 0; i < sizeof instants / sizeof *instants; i++) {
        int32_t off = hae_tz_offset(tz, instants[i]);
        if (off <= -26 * 3600 || off >= 27 * 3600) abort();
    }
    hae_tz_free(tz);
    return 0;
}
