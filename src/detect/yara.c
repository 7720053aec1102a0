/* detect's YARA rule sets: the sensor's scanner (src/sensor/yara.c, which
 * compiles, compacts the compiled rules and scans) with directories
 * expanded into their .yar/.yara files. One libyara wrapper for the agent
 * and for hunt; sensor knows nothing of detect. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "detect/detect.h"
#include "sensor/sensor.h"

struct detect_yara {
    yara_scanner *scanner;
};

typedef struct path_list {
    char **items;
    size_t count, cap;
} path_list;

static int list_add(path_list *l, const char *path) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count] = strdup(path);
    if (!l->items[l->count]) return HAE_ENOMEM;
    l->count++;
    return HAE_OK;
}

static bool is_yara_file(const char *name) {
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".yar") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yara") == 0);
}

static int compare_paths(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file named on the command line is taken whatever its name; inside a
 * directory only .yar and .yara files count, in name order. */
static int expand(path_list *l, const char *path, bool is_explicit, int depth, hae_err *err) {
    struct stat st;
    if (stat(path, &st) != 0) return hae_err_errno(err, errno, "%s", path);
    if (!S_ISDIR(st.st_mode)) {
        if (!is_explicit && !is_yara_file(path)) return HAE_OK;
        return list_add(l, path) < 0 ? hae_err_set(err, HAE_ENOMEM, "out of memory") : HAE_OK;
    }
    if (depth > 32) return hae_err_set(err, HAE_ELIMIT, "%s: nested too deep", path);
    DIR *dir = opendir(path);
    if (!dir) return hae_err_errno(err, errno, "%s", path);
    path_list children = {0};
    int rc = HAE_OK;
    struct dirent *d;
    while (rc == HAE_OK && (d = readdir(dir)) != NULL) {
        char *child = NULL;
        if (d->d_name[0] == '.') continue;
        if (asprintf(&child, "%s/%s", path, d->d_name) < 0 || list_add(&children, child) < 0) {
            rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
        }
        free(child);
    }
    closedir(dir);
    if (children.count) qsort(children.items, children.count, sizeof *children.items, compare_paths);
    for (size_t i = 0; i < children.count; i++) {
        if (rc == HAE_OK) rc = expand(l, children.items[i], false, depth + 1, err);
        free(children.items[i]);
    }
    free(children.items);
    return rc;
}

int detect_yara_new(detect_yara **out, const char *const *paths, size_t path_count,
                    hae_err *err) {
    *out = NULL;
    path_list files = {0};
    int rc = HAE_OK;
    for (size_t i = 0; i < path_count && rc == HAE_OK; i++) rc = expand(&files, paths[i], true, 0, err);
    if (rc == HAE_OK && files.count == 0) {
        rc = hae_err_set(err, HAE_EINVAL, "no .yar or .yara rule files in %s%s",
                         path_count ? paths[0] : "(nothing given)", path_count > 1 ? "..." : "");
    }
    detect_yara *y = rc == HAE_OK ? calloc(1, sizeof *y) : NULL;
    if (rc == HAE_OK && !y) rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (rc == HAE_OK) {
        rc = yara_scanner_open(&y->scanner, (const char *const *)files.items, files.count, err);
    }
    for (size_t i = 0; i < files.count; i++) free(files.items[i]);
    free(files.items);
    if (rc < 0) {
        free(y);
        return rc;
    }
    *out = y;
    return HAE_OK;
}

void detect_yara_free(detect_yara *y) {
    if (!y) return;
    yara_scanner_close(y->scanner);
    free(y);
}

size_t detect_yara_rule_count(const detect_yara *y) {
    return yara_scanner_rule_count(y->scanner);
}

int detect_yara_scan_file(detect_yara *y, const char *path, detect_yara_hit_fn on_hit, void *ctx,
                          hae_err *err) {
    return yara_scan_file_matches(y->scanner, path, on_hit, ctx, err);
}

int detect_yara_scan_buffer(detect_yara *y, const void *data, size_t len,
                            detect_yara_hit_fn on_hit, void *ctx, hae_err *err) {
    return yara_scan_buffer_matches(y->scanner, data, len, on_hit, ctx, err);
}
