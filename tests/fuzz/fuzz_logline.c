/* Fuzzes the log line parser in every format: a line either becomes an
 * event whose Message is the whole line and which encodes as JSON, or is
 * rejected with a message; nothing crashes or reads past the line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_format(hae_log_format fmt, const char *line, size_t len) {
    hae_event ev;
    hae_err err = {0};
    if (hae_log_parse_line(&ev, fmt, line, len, &err) != HAE_OK) {
        if (err.msg[0] == '\0') abort(); /* every rejection explains itself */
        hae_event_clear(&ev);
        return;
    }
    const hae_field *message = hae_event_get(&ev, "Message");
    if (!message) abort();
    bool is_json = fmt == HAE_LOGFMT_JSON ||
                   (fmt == HAE_LOGFMT_AUTO && hae_log_format_detect(line, len) == HAE_LOGFMT_JSON);
    if (!is_json && (message->value_len != len || memcmp(message->value, line, len) != 0)) abort();
    hae_buf out = {0};
    if (hae_event_encode_json(&ev, &out) != HAE_OK) abort();
    hae_event back;
    if (hae_event_decode_json(&back, out.data, out.len - 1, &err) != HAE_OK) abort();
    if (back.field_count != ev.field_count) abort();
    hae_event_clear(&back);
    hae_buf_free(&out);
    hae_event_clear(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy of exactly size bytes, so ASan catches any read past the line. */
    char *line = malloc(size ? size : 1);
    if (!line) return 0;
    if (size) memcpy(line, data, size);
    for (int fmt = HAE_LOGFMT_AUTO; fmt <= HAE_LOGFMT_PLAIN; fmt++) {
        check_format((hae_log_format)fmt, line, size);
    }
    free(line);
    return 0;
}
