/* Fuzzes the JSON lines event decoder, and checks that whatever decodes
 * re-encodes to a line that decodes to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hae_event ev;
    hae_err err = {0};
    if (hae_event_decode_json(&ev, (const char *)data, size, &err) != HAE_OK) {
        if (err.msg[0] == '\0') abort(); /* every rejection explains itself */
        return 0;
    }
    hae_buf line = {0};
    if (hae_event_encode_json(&ev, &line) != HAE_OK) abort();
    hae_event back;
    if (hae_event_decode_json(&back, line.data, line.len, &err) != HAE_OK) abort();
    if (back.field_count != ev.field_count) abort();
    for (size_t i = 0; i < ev.field_count; i++) {
        const hae_field *a = &ev.fields[i];
        const hae_field *b = hae_event_get(&back, a->name);
        if (!b) abort();
    }
    hae_event_clear(&back);
    hae_event_clear(&ev);
    hae_buf_free(&line);
    return 0;
}
