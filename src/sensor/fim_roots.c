/* FIM roots across runs: a baseline covers the roots it was built over. A
 * check compares only where the baseline and this run both look, so a root
 * dropped from the command line is not a flood of deletions; a root added
 * since is recorded in the baseline on first sight, quietly except for one
 * informational finding, so it is not a flood of creations either. */
#include <stdlib.h>
#include <string.h>

#include "sensor/fim_internal.h"

static bool covered(const char *path, const char *const *roots, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (fim_path_under(path, roots[i])) return true;
    }
    return false;
}

int fim_entries_split_uncovered(fim_entries *list, const char *const *roots, size_t n,
                                fim_entries *uncovered) {
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (covered(list->items[i].path, roots, n)) {
            list->items[kept++] = list->items[i];
            continue;
        }
        fim_entry *moved = fim_entries_push(uncovered);
        if (!moved) return HAE_ENOMEM;
        *moved = list->items[i]; /* its strings stay in list's arena */
    }
    list->count = kept;
    return HAE_OK;
}

/* The roots of opt that the baseline's roots do not already cover. */
static size_t new_roots(const fim_options *opt, const fim_entries *base, const char **out) {
    size_t n = 0;
    for (size_t i = 0; i < opt->root_count; i++) {
        if (!covered(opt->roots[i], base->roots, base->root_count)) out[n++] = opt->roots[i];
    }
    return n;
}

static int append_all(fim_entries *to, const fim_entries *from) {
    for (size_t i = 0; i < from->count; i++) {
        fim_entry *e = fim_entries_push(to);
        if (!e) return HAE_ENOMEM;
        *e = from->items[i];
    }
    return HAE_OK;
}

static int report_added(const hae_sink *sink, const char *const *roots, size_t n, size_t files,
                        const char *path, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "fim", "fim.root_baselined", HAE_SEV_INFO,
                              "%zu new FIM root%s (first: %s) recorded in the baseline %s with "
                              "%zu entr%s; changes there are reported from the next check",
                              n, n == 1 ? "" : "s", roots[0], path, files,
                              files == 1 ? "y" : "ies");
    for (size_t i = 0; i < n && rc == HAE_OK; i++) rc = hae_event_add_str(&ev, "FimRoot", roots[i]);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", path);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

int fim_baseline_add_roots(const fim_options *opt, const char *path, const fim_entries *base,
                           const fim_entries *elsewhere, const fim_entries *added,
                           const hae_sink *sink, hae_err *err) {
    if (base->root_count == 0) return HAE_OK; /* a baseline without roots covers everything */
    const char **fresh = calloc(opt->root_count + 1, sizeof *fresh);
    const char **roots = calloc(base->root_count + opt->root_count + 1, sizeof *roots);
    fim_entries merged = {0};
    hae_buf content = {0};
    int rc = fresh && roots ? HAE_OK : HAE_ENOMEM;
    size_t n = rc == HAE_OK ? new_roots(opt, base, fresh) : 0;
    if (rc == HAE_OK && n > 0) {
        memcpy(roots, base->roots, base->root_count * sizeof *roots);
        memcpy(roots + base->root_count, fresh, n * sizeof *roots);
        rc = append_all(&merged, base);
        if (rc == HAE_OK) rc = append_all(&merged, elsewhere);
        if (rc == HAE_OK) rc = append_all(&merged, added);
        if (rc == HAE_OK) fim_entries_sort(&merged);
        if (rc == HAE_OK) rc = fim_baseline_serialize(&merged, roots, base->root_count + n, &content);
        if (rc == HAE_OK) rc = hae_file_write_atomic(path, content.data, content.len, 0600, err);
        if (rc == HAE_OK) rc = report_added(sink, fresh, n, added->count, path, err);
    }
    if (rc == HAE_ENOMEM) hae_err_set(err, rc, "%s: out of memory adding FIM roots", path);
    free(merged.items); /* the strings belong to base and added */
    hae_buf_free(&content);
    free(fresh);
    free(roots);
    return rc;
}
