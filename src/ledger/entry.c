/* The canonical entry haetae logs (docs/LEDGER.md "Entries"): the hash of
 * an event's canonical JSON, never the event, so the store can erase the
 * record under privacy law while the tree stays whole. */
#include <stdio.h>
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

int ledger_entry_encode(const char *kind, int64_t time_ns, int64_t logged_ns,
                        const uint8_t event_sha256[32], const ledger_meta *meta, size_t meta_count,
                        hae_buf *out, hae_err *err) {
    if (!is_valid_kind(kind)) {
        return hae_err_set(err, HAE_EINVAL, "entry: kind '%s' must be 1-64 of [a-z0-9_.]", kind ? kind : "");
    }
    char when[HAE_TIME_LEN], logged[HAE_TIME_LEN];
    if (hae_time_format(time_ns, when) < 0 || (logged_ns && hae_time_format(logged_ns, logged) < 0)) {
        return hae_err_set(err, HAE_EINVAL, "entry: time out of range");
    }
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
    if (rc == HAE_OK) rc = hae_buf_printf(out, "\",\"kind\":\"%s\",", kind);
    if (rc == HAE_OK && logged_ns) rc = hae_buf_printf(out, "\"logged\":\"%s\",", logged);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "\"metadata\":{");
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

/* The value of "name":"<RFC 3339>" in a canonical entry. Metadata values
 * are escaped strings, so the member is found by its exact spelling at the
 * top level: "logged" and "time" come after "kind", before and after the
 * metadata object. */
static bool find_time(const char *text, size_t len, const char *name, int64_t *ns) {
    char key[16];
    int klen = snprintf(key, sizeof key, "\"%s\":\"", name);
    const char *meta = memmem(text, len, "\"metadata\":{", 12);
    const char *from = text, *until = text + len;
    if (strcmp(name, "logged") == 0) until = meta ? meta : until;
    else if (meta) from = meta; /* "time" follows the metadata */
    const char *hit = NULL;
    for (const char *p = from; p && p < until;) {
        const char *q = memmem(p, (size_t)(until - p), key, (size_t)klen);
        if (!q) break;
        hit = q; /* the last one: "time" is the final member */
        p = q + 1;
    }
    if (!hit) return false;
    const char *v = hit + klen, *end = memchr(v, '"', (size_t)(text + len - v));
    return end && hae_time_parse(v, (size_t)(end - v), ns, NULL) == HAE_OK;
}

int ledger_entry_time(const void *entry, size_t len, int64_t *ns) {
    const char *text = entry;
    if (len < 2 || text[0] != '{' || text[len - 1] != '}' || !memmem(text, len, "{\"event_sha256\":\"", 17)) {
        return HAE_ENOENT;
    }
    if (find_time(text, len, "logged", ns) || find_time(text, len, "time", ns)) return HAE_OK;
    return HAE_ENOENT;
}

int ledger_time_check(int64_t previous_ns, int64_t t_ns, int64_t skew_ns, hae_err *err) {
    if (t_ns >= previous_ns || previous_ns - t_ns <= skew_ns) return HAE_OK;
    char prev[HAE_TIME_LEN], now[HAE_TIME_LEN];
    hae_time_format(previous_ns, prev);
    hae_time_format(t_ns, now);
    return hae_err_set(err, HAE_EINVAL,
                       "ledger: entry time %s is %.3f s before the previous entry's %s (allowed skew %.3f s): "
                       "refusing a back-dated entry", now, (double)(previous_ns - t_ns) / 1e9, prev,
                       (double)skew_ns / 1e9);
}
