/* Matching findings against allowlist entries, counting, and reporting the
 * counts (allow.h). */
#include <string.h>

#include "allow/allow_int.h"
#include "sensor/sensor.h"

/* copy_of files are hashed once, on the first finding that needs them. */
#define COPY_HASH_MAX (512u << 20)

static bool rule_matches(const char *pattern, const char *rule) {
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, ".*") == 0) return strncmp(rule, pattern, n - 1) == 0;
    return strcmp(pattern, rule) == 0;
}

static bool in_list(const string_list *l, const char *value) {
    for (size_t i = 0; value && i < l->count; i++) {
        if (strcmp(l->items[i], value) == 0) return true;
    }
    return false;
}

static bool hash_copies(allow_entry *e) {
    if (e->hashed) return e->copy_hashes != NULL;
    e->hashed = true;
    e->copy_hashes = calloc(e->copy_of.count, sizeof *e->copy_hashes);
    if (!e->copy_hashes) return false;
    for (size_t i = 0; i < e->copy_of.count; i++) {
        if (sensor_sha256_file(e->copy_of.items[i], COPY_HASH_MAX, e->copy_hashes[i]) != HAE_OK) {
            e->copy_hashes[i][0] = '\0'; /* not installed here: never matches */
        }
    }
    return true;
}

static bool is_copy(allow_entry *e, const char *sha256) {
    if (!sha256 || e->copy_of.count == 0 || !hash_copies(e)) return false;
    for (size_t i = 0; i < e->copy_of.count; i++) {
        if (e->copy_hashes[i][0] && strcmp(e->copy_hashes[i], sha256) == 0) return true;
    }
    return false;
}

static const char *content_hash(const hae_event *ev) {
    static const char *const fields[] = {"ImageSha256", "Sha256", "NewSha256"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *h = hae_event_get_str(ev, fields[i]);
        if (h) return h;
    }
    return NULL;
}

const char *allowlist_check(allowlist *a, const hae_event *ev) {
    const char *rule = hae_event_get_str(ev, "rule");
    if (!rule || !a) return NULL;
    const char *sha = content_hash(ev);
    const char *image = hae_event_get_str(ev, "Image");
    for (size_t i = 0; i < a->count; i++) {
        allow_entry *e = &a->entries[i];
        if (!rule_matches(e->rule, rule)) continue;
        if (in_list(&e->sha256, sha) || in_list(&e->image, image) || is_copy(e, sha)) {
            e->hits++;
            return e->reason;
        }
    }
    return NULL;
}

static int filter_emit(void *ctx, const hae_event *ev, hae_err *err) {
    allow_filter *f = ctx;
    return allowlist_check(f->list, ev) ? HAE_OK : hae_emit(f->next, ev, err);
}

hae_sink allow_filter_sink(allow_filter *f) {
    return (hae_sink){.emit = filter_emit, .ctx = f};
}

int allowlist_report(allowlist *a, const hae_sink *sink, hae_err *err) {
    int rc = HAE_OK;
    for (size_t i = 0; a && i < a->count && rc == HAE_OK; i++) {
        allow_entry *e = &a->entries[i];
        if (e->hits == 0) continue;
        hae_event ev;
        rc = hae_finding_init(&ev, "agent", "agent.allowlisted", HAE_SEV_INFO,
                              "%llu %s finding%s allowed by %s:%d: %s",
                              (unsigned long long)e->hits, e->rule, e->hits == 1 ? "" : "s",
                              e->file, e->line, e->reason);
        if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "Count", e->hits);
        if (rc == HAE_OK) rc = hae_event_add_str(&ev, "AllowedRule", e->rule);
        if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Reason", e->reason);
        if (rc == HAE_OK) rc = hae_event_add_printf(&ev, "AllowEntry", "%s:%d", e->file, e->line);
        if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
        else hae_err_set(err, rc, "allowlist: out of memory reporting");
        hae_event_clear(&ev);
        e->hits = 0;
    }
    return rc;
}
