/* fim check: the current state of the roots against a baseline. Both
 * lists are sorted by path and merged in one pass; a deleted and a created
 * file that share device, inode and content are one rename, reported as
 * both findings with RenamedTo/RenamedFrom so neither side is lost. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/fim_internal.h"

/* Sort, then drop repeats (overlapping roots list a subtree twice). */
static void sort_unique(fim_entries *list) {
    fim_entries_sort(list);
    size_t out = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (out > 0 && strcmp(list->items[out - 1].path, list->items[i].path) == 0) continue;
        list->items[out++] = list->items[i];
    }
    list->count = out;
}

int fim_scan(const fim_options *opt, fim_entries *out, const hae_sink *sink, hae_err *err) {
    int rc = fim_walk((const char *const *)opt->roots, opt->root_count, out, sink, err);
    if (rc == HAE_OK) rc = fim_hash_entries(out, opt->threads, sink, err);
    if (rc == HAE_OK) sort_unique(out);
    return rc;
}

/* A reference into an entry list; arrays of them are sorted and searched. */
typedef const fim_entry *entry_ref;

typedef struct check_ctx {
    const fim_options *opt;
    const hae_sink *sink;
    hae_err *err;
    fim_canaries canaries;
    entry_ref *deleted;  /* sorted by (device, inode) for rename matching */
    size_t deleted_count;
    entry_ref *rename_target;  /* per deleted entry: its new name, or NULL */
    entry_ref *created;
    size_t created_count;
} check_ctx;

static bool same_content(const fim_entry *a, const fim_entry *b) {
    if (a->type != b->type) return false;
    if (a->type == FIM_TYPE_SYMLINK) {
        return a->link_len == b->link_len && memcmp(a->link_target, b->link_target, a->link_len) == 0;
    }
    if (a->type != FIM_TYPE_REGULAR) return true; /* directory sizes and mtimes churn */
    if (a->size != b->size) return false;
    if ((a->flags & FIM_HAS_HASH) && (b->flags & FIM_HAS_HASH)) {
        return memcmp(a->sha256, b->sha256, FIM_SHA256_LEN) == 0;
    }
    return true; /* one side unreadable: fim.error already said so */
}

static bool same_permissions(const fim_entry *a, const fim_entry *b) {
    return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid;
}

/* The findings one path gets; old or now is NULL for created/deleted. */
static int judge(check_ctx *c, const fim_entry *old, const fim_entry *now, const char *note_field,
                 const char *note_value) {
    const fim_options *opt = c->opt;
    const fim_entry *subject = now ? now : old;
    if (!subject) return HAE_OK;
    bool content = !old || !now || !same_content(old, now);
    bool permissions = old && now && !same_permissions(old, now);
    if (!content && !permissions) return HAE_OK;
    int rc = HAE_OK;
    if (!old) {
        rc = fim_emit_finding(c->sink, "fim.created", HAE_SEV_LOW, "created", NULL, now,
                              note_field, note_value, c->err);
    } else if (!now) {
        rc = fim_emit_finding(c->sink, "fim.deleted", HAE_SEV_LOW, "deleted", old, NULL,
                              note_field, note_value, c->err);
    } else {
        if (content) {
            rc = fim_emit_finding(c->sink, "fim.modified", HAE_SEV_MEDIUM, "content changed", old,
                                  now, NULL, NULL, c->err);
        }
        if (rc >= 0 && permissions) {
            rc = fim_emit_finding(c->sink, "fim.permissions", HAE_SEV_MEDIUM,
                                  "mode or owner changed", old, now, NULL, NULL, c->err);
        }
    }
    bool was_setid = old && fim_is_setid(old->mode, old->type);
    if (rc >= 0 && now && fim_is_setid(now->mode, now->type) && (!was_setid || content)) {
        rc = fim_emit_finding(c->sink, "fim.suid", HAE_SEV_HIGH,
                              !old ? "new SUID/SGID file"
                                   : (was_setid ? "SUID/SGID file changed" : "SUID/SGID bit added"),
                              old, now, NULL, NULL, c->err);
    }
    if (rc >= 0 && now && fim_is_web_path(opt, now->path) &&
        fim_is_webshell_candidate(now->path, now->mode, now->type)) {
        bool exec_added = old && !(old->mode & 0111) && (now->mode & 0111);
        if (content || exec_added) {
            rc = fim_emit_finding(c->sink, "fim.webshell", HAE_SEV_CRITICAL,
                                  !old ? "new script or executable in a web root"
                                       : "script or executable changed in a web root",
                                  old, now, NULL, NULL, c->err);
        }
    }
    if (rc >= 0 && fim_is_etc_path(opt, subject->path)) {
        rc = fim_emit_finding(c->sink, "fim.etc_changed", HAE_SEV_MEDIUM,
                              !old ? "created under /etc" : (!now ? "deleted under /etc"
                                                                  : "changed under /etc"),
                              old, now, NULL, NULL, c->err);
    }
    if (rc >= 0 && old && fim_canaries_contains(&c->canaries, old->path)) {
        rc = fim_canary_report(c->sink, old->path, !now ? "deleted" : "modified", c->err);
    }
    return rc;
}

static int compare_identity(const void *a, const void *b) {
    const fim_entry *x = *(const entry_ref *)a;
    const fim_entry *y = *(const entry_ref *)b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    if (x->inode != y->inode) return x->inode < y->inode ? -1 : 1;
    return 0;
}

/* Index into c->deleted of the file now was before a rename, or -1. */
static ptrdiff_t renamed_from(const check_ctx *c, const fim_entry *now) {
    if (!now || c->deleted_count == 0 || now->type == FIM_TYPE_DIRECTORY) return -1;
    const fim_entry *key = now;
    const entry_ref *hit = bsearch(&key, c->deleted, c->deleted_count, sizeof(entry_ref),
                                          compare_identity);
    return hit && same_content(*hit, now) ? hit - c->deleted : -1;
}

/* Splits the merge into pairs, creations and deletions. */
static int merge(check_ctx *c, const fim_entries *base, const fim_entries *now) {
    size_t i = 0, j = 0;
    int rc = HAE_OK;
    while (rc >= 0 && (i < base->count || j < now->count)) {
        int order = i == base->count ? 1
                    : j == now->count ? -1
                                      : strcmp(base->items[i].path, now->items[j].path);
        if (order == 0) {
            rc = judge(c, &base->items[i++], &now->items[j++], NULL, NULL);
        } else if (order < 0) {
            c->deleted[c->deleted_count++] = &base->items[i++];
        } else {
            c->created[c->created_count++] = &now->items[j++];
        }
    }
    if (rc < 0) return rc;
    qsort(c->deleted, c->deleted_count, sizeof(entry_ref), compare_identity);
    for (size_t k = 0; k < c->created_count && rc >= 0; k++) {
        ptrdiff_t from = renamed_from(c, c->created[k]);
        if (from >= 0) c->rename_target[from] = c->created[k];
        rc = judge(c, NULL, c->created[k], from >= 0 ? "RenamedFrom" : NULL,
                   from >= 0 ? c->deleted[from]->path : NULL);
    }
    for (size_t k = 0; k < c->deleted_count && rc >= 0; k++) {
        const fim_entry *to = c->rename_target[k];
        rc = judge(c, c->deleted[k], NULL, to ? "RenamedTo" : NULL, to ? to->path : NULL);
    }
    return rc;
}

static bool split_roots(const fim_entries *base) { return base->root_count > 0; }

/* base keeps what this run's roots cover (the rest to elsewhere); now keeps
 * what the baseline's roots cover (the rest, new ground, to fresh). */
static int compare_where_both_look(const fim_options *opt, fim_entries *base, fim_entries *now,
                                   fim_entries *elsewhere, fim_entries *fresh, hae_err *err) {
    if (!split_roots(base)) return HAE_OK;
    int rc = fim_entries_split_uncovered(base, (const char *const *)opt->roots, opt->root_count,
                                         elsewhere);
    if (rc == HAE_OK) rc = fim_entries_split_uncovered(now, base->roots, base->root_count, fresh);
    return rc < 0 ? hae_err_set(err, rc, "fim check: out of memory") : HAE_OK;
}

int fim_baseline_check(const fim_options *opt, const char *path, const hae_sink *sink,
                       hae_err *err) {
    fim_entries base = {0}, now = {0}, new_coverage = {0}, base_elsewhere = {0};
    check_ctx c = {.opt = opt, .sink = sink, .err = err};
    int rc = fim_baseline_load(path, &base, err);
    if (rc == HAE_OK) rc = fim_canaries_load(opt, &c.canaries, err);
    if (rc == HAE_OK) rc = fim_scan(opt, &now, sink, err);
    if (rc == HAE_OK) rc = compare_where_both_look(opt, &base, &now, &base_elsewhere, &new_coverage, err);
    if (rc == HAE_OK) {
        fim_entries_sort(&base);
        c.deleted = calloc(base.count + 1, sizeof(entry_ref));
        c.rename_target = calloc(base.count + 1, sizeof(entry_ref));
        c.created = calloc(now.count + 1, sizeof(entry_ref));
        if (!c.deleted || !c.rename_target || !c.created) {
            rc = hae_err_set(err, HAE_ENOMEM, "fim check: out of memory");
        }
    }
    if (rc == HAE_OK) rc = merge(&c, &base, &now);
    if (rc == HAE_OK && split_roots(&base)) {
        rc = fim_baseline_add_roots(opt, path, &base, &base_elsewhere, &new_coverage, sink, err);
    }
    free(new_coverage.items);
    free(base_elsewhere.items);
    free(c.deleted);
    free(c.rename_target);
    free(c.created);
    fim_canaries_free(&c.canaries);
    fim_entries_free(&base);
    fim_entries_free(&now);
    return rc;
}
