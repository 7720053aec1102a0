/* The canonical entry haetae logs (docs/LEDGER.md "Entries"): the hash of
 * an event's canonical JSON, never the event, so the store can erase the
 * record under privacy law while the tree stays whole. */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

static bool is_valid_kind(const char *kind) {
    if (!kind || !kind[0] || strlen(kind) > 64) return false;
    for (const char *p = kind; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.')) {
            return false;
        }
    }
    return true;
}

static int compare_meta(const void *a, const void *b) {
    return strcmp(((const ledger_meta *)a)->key, ((const ledger_meta *)b)->key);
}

int ledger_entry_encode(const char *kind, int64_t time_ns, const uint8_t event_sha256[32],
                        const ledger_meta *meta, size_t meta_count, hae_buf *out, hae_err *err) {
    if (!is_valid_kind(kind)) {
        return hae_err_set(err, HAE_EINVAL, "entry: kind '%s' must be 1-64 of [a-z0-9_.]", kind ? kind : "");
    }
    char when[HAE_TIME_LEN];
    if (hae_time_format(time_ns, when) < 0) return hae_err_set(err, HAE_EINVAL, "entry: time out of range");
    ledger_meta *sorted = NULL;
    if (meta_count) {
        sorted = malloc(meta_count * sizeof *sorted);
        if (!sorted) return hae_err_set(err, HAE_ENOMEM, "entry: out of memory");
        memcpy(sorted, meta, meta_count * sizeof *sorted);
        /* RFC 8785 sorts by UTF-16 code units; for the ASCII keys we allow
         * that is byte order. */
        qsort(sorted, meta_count, sizeof *sorted, compare_meta);
    }
    int rc = HAE_OK;
    for (size_t i = 0; i < meta_count; i++) {
        const char *k = sorted[i].key;
        if (!k || !k[0] || !sorted[i].value || (i > 0 && strcmp(k, sorted[i - 1].key) == 0)) {
            rc = hae_err_set(err, HAE_EINVAL, "entry: metadata key '%s' is empty, repeated or has no value", k ? k : "");
            break;
        }
        for (const char *p = k; *p; p++) {
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
                rc = hae_err_set(err, HAE_EINVAL, "entry: metadata key '%s' must be printable ASCII", k);
                break;
            }
        }
        if (rc < 0) break;
    }
    size_t start = out->len;
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "{\"event_sha256\":\"");
    for (int i = 0; rc == HAE_OK && i < 32; i++) rc = hae_buf_printf(out, "%02x", event_sha256[i]);
    if (rc == HAE_OK) rc = hae_buf_printf(out, "\",\"kind\":\"%s\",\"metadata\":{", kind);
    for (size_t i = 0; rc == HAE_OK && i < meta_count; i++) {
        if (i) rc = hae_buf_append_char(out, ',');
        if (rc == HAE_OK) rc = hae_json_append_string(out, sorted[i].key, strlen(sorted[i].key));
        if (rc == HAE_OK) rc = hae_buf_append_char(out, ':');
        if (rc == HAE_OK) rc = hae_json_append_string(out, sorted[i].value, strlen(sorted[i].value));
    }
    if (rc == HAE_OK) rc = hae_buf_printf(out, "},\"time\":\"%s\"}", when);
    if (rc == HAE_OK && out->len - start > LEDGER_ENTRY_MAX) {
        rc = hae_err_set(err, HAE_ELIMIT, "entry: %zu bytes, at most %u fit", out->len - start, LEDGER_ENTRY_MAX);
    }
    if (rc < 0 && err && err->code == 0) hae_err_set(err, rc, "entry: out of memory");
    free(sorted);
    return rc;
}
