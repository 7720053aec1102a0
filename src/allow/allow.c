/* Allowlist entries, their matching and their counts (allow.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allow/allow_int.h"
#include "yaml/yaml.h"

int allowlist_new(allowlist **out, hae_err *err) {
    *out = calloc(1, sizeof **out);
    return *out ? HAE_OK : hae_err_set(err, HAE_ENOMEM, "allowlist: out of memory");
}

void allowlist_free(allowlist *a) {
    if (!a) return;
    for (size_t i = 0; i < a->count; i++) free(a->entries[i].copy_hashes);
    free(a->entries);
    hae_arena_free(&a->arena);
    free(a);
}

size_t allowlist_entry_count(const allowlist *a) { return a->count; }

/* ---- loading ---------------------------------------------------------- */

static int field_error(const char *file, int line, const char *field, const char *what,
                       hae_err *err) {
    return hae_err_set(err, HAE_EINVAL, "%s:%d: %s: %s", file, line, field, what);
}

static bool is_sha256_hex(const char *s) {
    if (strlen(s) != 64) return false;
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    }
    return true;
}

/* A scalar or a sequence of scalars; absolute paths unless is_hash. */
static int read_list(allowlist *a, const ynode *entry, const char *field, bool is_hash,
                     string_list *out, const char *file, hae_err *err) {
    const ynode *n = yaml_get(entry, field);
    if (!n) return HAE_OK;
    size_t count = n->type == Y_SEQ ? n->count : 1;
    out->items = hae_arena_alloc(&a->arena, (count ? count : 1) * sizeof *out->items);
    if (!out->items) return hae_err_set(err, HAE_ENOMEM, "allowlist: out of memory");
    for (size_t i = 0; i < count; i++) {
        const ynode *item = n->type == Y_SEQ ? n->items[i] : n;
        const char *s = yaml_scalar(item);
        int line = item->line ? item->line : entry->line;
        if (!s || !s[0]) return field_error(file, line, field, "expected a value or a list of values", err);
        if (is_hash && !is_sha256_hex(s)) return field_error(file, line, field, "not 64 lowercase hex digits", err);
        if (!is_hash && s[0] != '/') return field_error(file, line, field, "not an absolute path", err);
        out->items[out->count++] = s;
    }
    return HAE_OK;
}

static int check_keys(const ynode *entry, const char *file, hae_err *err) {
    static const char *const known[] = {"rule", "reason", "copy_of", "sha256", "image"};
    for (size_t i = 0; i < entry->count; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof *known && !ok; k++) {
            ok = strcmp(entry->pairs[i].key, known[k]) == 0;
        }
        if (!ok) return field_error(file, entry->pairs[i].line, entry->pairs[i].key, "unknown field (rule, reason, copy_of, sha256, image)", err);
    }
    return HAE_OK;
}

static int add_entry(allowlist *a, const ynode *n, const char *file, hae_err *err) {
    if (n->type != Y_MAP) return field_error(file, n->line, "entry", "expected a mapping", err);
    allow_entry e = {.file = file, .line = n->line};
    int rc = check_keys(n, file, err);
    e.rule = yaml_scalar(yaml_get(n, "rule"));
    e.reason = yaml_scalar(yaml_get(n, "reason"));
    if (rc == HAE_OK && (!e.rule || !e.rule[0])) rc = field_error(file, n->line, "rule", "missing", err);
    if (rc == HAE_OK && (!e.reason || !e.reason[0])) rc = field_error(file, n->line, "reason", "missing: say why this is benign", err);
    if (rc == HAE_OK) rc = read_list(a, n, "copy_of", false, &e.copy_of, file, err);
    if (rc == HAE_OK) rc = read_list(a, n, "sha256", true, &e.sha256, file, err);
    if (rc == HAE_OK) rc = read_list(a, n, "image", false, &e.image, file, err);
    if (rc == HAE_OK && e.copy_of.count + e.sha256.count + e.image.count == 0) {
        rc = field_error(file, n->line, "entry", "needs copy_of, sha256 or image: a rule alone would allow every program", err);
    }
    if (rc < 0) return rc;
    if (a->count == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        allow_entry *grown = realloc(a->entries, cap * sizeof *grown);
        if (!grown) return hae_err_set(err, HAE_ENOMEM, "allowlist: out of memory");
        a->entries = grown;
        a->cap = cap;
    }
    a->entries[a->count++] = e;
    return HAE_OK;
}

int allowlist_add_text(allowlist *a, const char *name, const char *text, size_t len,
                       hae_err *err) {
    if (!a) return hae_err_set(err, HAE_EINVAL, "allowlist: none to add to");
    const char *file = hae_arena_strdup(&a->arena, name);
    ydoc *docs = NULL;
    size_t count = 0;
    if (!file) return hae_err_set(err, HAE_ENOMEM, "allowlist: out of memory");
    int rc = yaml_parse_documents(&a->arena, file, text, len, &docs, &count, err);
    size_t before = a->count;
    for (size_t d = 0; rc == HAE_OK && d < count; d++) {
        const ynode *root = docs[d].root;
        if (root->type == Y_SCALAR && root->is_null) continue;
        if (root->type != Y_SEQ) {
            rc = field_error(file, root->line, "file", "expected a sequence of entries", err);
            break;
        }
        for (size_t i = 0; rc == HAE_OK && i < root->count; i++) rc = add_entry(a, root->items[i], file, err);
    }
    if (rc < 0) a->count = before; /* nothing of a bad file */
    return rc;
}

static int add_file(allowlist *a, const char *path, hae_err *err) {
    hae_buf text = {0};
    int rc = hae_file_read_all(path, &text, err);
    if (rc == HAE_OK) rc = allowlist_add_text(a, path, text.data ? text.data : "", text.len, err);
    hae_buf_free(&text);
    return rc;
}

static bool is_yaml_name(const char *name) {
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
                              (n > 5 && strcmp(name + n - 5, ".yaml") == 0));
}

static int add_dir(allowlist *a, const char *dir, hae_err *err) {
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) return hae_err_errno(err, errno, "allowlist %s", dir);
    int rc = HAE_OK;
    for (int i = 0; i < n; i++) {
        char *path = NULL;
        if (rc == HAE_OK && is_yaml_name(names[i]->d_name)) {
            if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
                rc = hae_err_set(err, HAE_ENOMEM, "allowlist: out of memory");
            } else {
                rc = add_file(a, path, err);
            }
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

int allowlist_load(allowlist **out, const char *const *paths, size_t count, hae_err *err) {
    int rc = allowlist_new(out, err);
    for (size_t i = 0; rc == HAE_OK && i < count; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            rc = hae_err_errno(err, errno, "allowlist %s", paths[i]);
        } else {
            rc = S_ISDIR(st.st_mode) ? add_dir(*out, paths[i], err) : add_file(*out, paths[i], err);
        }
    }
    if (rc < 0) {
        allowlist_free(*out);
        *out = NULL;
    }
    return rc;
}
