/* The engine: owns rules and patterns, loads rule files and mapping
 * tables, compiles (correlation references, prefilter) and matches. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "detect/detect_int.h"

const char *detect_status_name(detect_status status) {
    switch (status) {
    case DETECT_RULE_COMPILED: return "compiled";
    case DETECT_RULE_UNSUPPORTED: return "unsupported";
    case DETECT_RULE_INVALID: return "invalid";
    }
    return "?";
}

int detect_engine_new(detect_engine **out, const detect_options *options, hae_err *err) {
    detect_engine *e = calloc(1, sizeof *e);
    if (!e) return hae_err_set(err, HAE_ENOMEM, "out of memory creating the detection engine");
    if (options) e->options = *options;
    if (e->options.correlation_max_groups == 0) e->options.correlation_max_groups = 100000;
    e->re_match = pcre2_match_data_create(1, NULL);
    if (!e->re_match) {
        free(e);
        return hae_err_set(err, HAE_ENOMEM, "out of memory creating the detection engine");
    }
    *out = e;
    return HAE_OK;
}

void detect_engine_free(detect_engine *e) {
    if (!e) return;
    for (size_t i = 0; i < e->pattern_count; i++) pcre2_code_free(e->patterns[i]->re);
    prefilter_free(e->prefilter);
    correlator_free(e->correlator);
    pcre2_match_data_free(e->re_match);
    hae_buf_free(&e->scratch);
    free(e->lower_off);
    free(e->seen);
    free(e->patterns);
    free(e->rules);
    free(e->maps);
    for (size_t i = 0; i < e->zone_count; i++) hae_tz_free(e->zones[i]);
    free(e->zones);
    hae_arena_free(&e->arena);
    free(e);
}

static int grow(void **items, size_t *cap, size_t count, size_t size) {
    if (count < *cap) return HAE_OK;
    size_t n = *cap ? *cap * 2 : 64;
    void *grown = realloc(*items, n * size);
    if (!grown) return HAE_ENOMEM;
    *items = grown;
    *cap = n;
    return HAE_OK;
}

int engine_add_pattern(detect_engine *e, pattern *p) {
    if (grow((void **)&e->patterns, &e->pattern_cap, e->pattern_count, sizeof(void *)) < 0) {
        return HAE_ENOMEM;
    }
    p->global_id = (uint32_t)e->pattern_count;
    e->patterns[e->pattern_count++] = p;
    return HAE_OK;
}

int engine_add_rule(detect_engine *e, rule *r, hae_err *err) {
    if (e->compiled) return hae_err_set(err, HAE_EINVAL, "rules added after compile");
    if (grow((void **)&e->rules, &e->rule_cap, e->rule_count, sizeof(void *)) < 0) {
        return HAE_ENOMEM;
    }
    r->index = (uint32_t)e->rule_count;
    e->rules[e->rule_count++] = r;
    return HAE_OK;
}

size_t detect_engine_rule_count(const detect_engine *e) {
    return e->rule_count;
}

/* ---- field mapping --------------------------------------------------- */

static field_map *mapping_for(detect_engine *e, const char *rule_field) {
    for (size_t i = 0; i < e->map_count; i++) {
        if (strcasecmp(e->maps[i].from, rule_field) == 0) return &e->maps[i];
    }
    if (grow((void **)&e->maps, &e->map_cap, e->map_count, sizeof *e->maps) < 0) return NULL;
    field_map *m = &e->maps[e->map_count];
    memset(m, 0, sizeof *m);
    m->from = hae_arena_strdup(&e->arena, rule_field);
    if (!m->from) return NULL;
    e->map_count++;
    return m;
}

int detect_engine_add_mapping(detect_engine *e, const char *rule_field, const char *event_field,
                              hae_err *err) {
    field_map *m = mapping_for(e, rule_field);
    const char **to = m ? hae_arena_alloc(&e->arena, (m->count + 1) * sizeof(void *)) : NULL;
    if (!to) return hae_err_set(err, HAE_ENOMEM, "out of memory adding a field mapping");
    if (m->count) memcpy(to, m->to, m->count * sizeof(void *));
    to[m->count] = hae_arena_strdup(&e->arena, event_field);
    if (!to[m->count]) return hae_err_set(err, HAE_ENOMEM, "out of memory adding a field mapping");
    m->to = to;
    m->count++;
    return HAE_OK;
}

void engine_map_field(const detect_engine *e, hae_arena *arena, const char *field,
                      const char ***names, size_t *count) {
    for (size_t i = 0; i < e->map_count; i++) {
        if (strcasecmp(e->maps[i].from, field) == 0) {
            *names = e->maps[i].to;
            *count = e->maps[i].count;
            return;
        }
    }
    const char **one = hae_arena_alloc(arena, sizeof *one);
    if (one) one[0] = field;
    *names = one;
    *count = one ? 1 : 0;
}

int detect_engine_load_mapping(detect_engine *e, const char *path, hae_err *err) {
    hae_buf text = {0};
    int rc = hae_file_read_all(path, &text, err);
    hae_arena tmp = {0};
    ydoc *docs = NULL;
    size_t n = 0;
    if (rc == HAE_OK) rc = yaml_parse_documents(&tmp, path, text.data ? text.data : "", text.len, &docs, &n, err);
    const ynode *maps = rc == HAE_OK && n ? yaml_get(docs[0].root, "fieldmappings") : NULL;
    if (rc == HAE_OK && (!maps || maps->type != Y_MAP)) {
        rc = hae_err_set(err, HAE_EINVAL, "%s: expected a 'fieldmappings' map", path);
    }
    for (size_t i = 0; rc == HAE_OK && maps && i < maps->count; i++) {
        const ypair *p = &maps->pairs[i];
        size_t total = p->value->type == Y_SEQ ? p->value->count : 1;
        for (size_t k = 0; rc == HAE_OK && k < total; k++) {
            const char *to = yaml_scalar(p->value->type == Y_SEQ ? p->value->items[k] : p->value);
            if (!to) {
                rc = hae_err_set(err, HAE_EINVAL, "%s:%d: mapping of '%s' must be field names",
                                 path, p->line, p->key);
            } else {
                rc = detect_engine_add_mapping(e, p->key, to, err);
            }
        }
    }
    hae_arena_free(&tmp);
    hae_buf_free(&text);
    return rc;
}

/* ---- loading rules --------------------------------------------------- */

int detect_engine_load_string(detect_engine *e, const char *name, const char *yaml, size_t len,
                              detect_report_fn report, void *ctx, detect_load_counts *counts,
                              hae_err *err) {
    if (e->compiled) return hae_err_set(err, HAE_EINVAL, "%s: rules loaded after compile", name);
    return loader_load(e, name, yaml, len, report, ctx, counts, err);
}

int detect_engine_load_file(detect_engine *e, const char *path, detect_report_fn report,
                            void *ctx, detect_load_counts *counts, hae_err *err) {
    hae_buf text = {0};
    int rc = hae_file_read_all(path, &text, err);
    if (rc == HAE_OK) {
        rc = detect_engine_load_string(e, path, text.data ? text.data : "", text.len, report, ctx,
                                       counts, err);
    }
    hae_buf_free(&text);
    return rc;
}

static bool is_rule_file(const char *name) {
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(detect_engine *e, const char *path, detect_report_fn report, void *ctx,
                    detect_load_counts *counts, int depth, hae_err *err) {
    if (depth > 32) return hae_err_set(err, HAE_ELIMIT, "%s: directories nested too deep", path);
    DIR *dir = opendir(path);
    if (!dir) return hae_err_errno(err, errno, "%s", path);
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = HAE_OK;
    struct dirent *d;
    while (rc == HAE_OK && (d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.') continue;
        if (grow((void **)&names, &cap, count, sizeof *names) < 0 ||
            !(names[count] = strdup(d->d_name))) {
            rc = hae_err_set(err, HAE_ENOMEM, "%s: out of memory", path);
            break;
        }
        count++;
    }
    closedir(dir);
    if (count) qsort(names, count, sizeof *names, compare_names); /* stable order for reports */
    for (size_t i = 0; i < count; i++) {
        char *child = NULL;
        struct stat st;
        if (rc == HAE_OK && asprintf(&child, "%s/%s", path, names[i]) < 0) {
            rc = hae_err_set(err, HAE_ENOMEM, "%s: out of memory", path);
        }
        if (rc == HAE_OK && stat(child, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                rc = load_dir(e, child, report, ctx, counts, depth + 1, err);
            } else if (is_rule_file(names[i])) {
                rc = detect_engine_load_file(e, child, report, ctx, counts, err);
            }
        }
        free(child);
        free(names[i]);
    }
    free(names);
    return rc;
}

int detect_engine_load_path(detect_engine *e, const char *path, detect_report_fn report,
                            void *ctx, detect_load_counts *counts, hae_err *err) {
    struct stat st;
    if (stat(path, &st) != 0) return hae_err_errno(err, errno, "%s", path);
    if (S_ISDIR(st.st_mode)) return load_dir(e, path, report, ctx, counts, 0, err);
    return detect_engine_load_file(e, path, report, ctx, counts, err);
}

/* ---- compile --------------------------------------------------------- */

static rule *find_rule(detect_engine *e, const char *ref) {
    for (size_t i = 0; i < e->rule_count; i++) {
        const detect_rule_info *info = &e->rules[i]->info;
        if ((info->name && strcmp(info->name, ref) == 0) || strcmp(info->id, ref) == 0) {
            return e->rules[i];
        }
    }
    return NULL;
}

static int link_user(detect_engine *e, rule *base, uint32_t corr_index) {
    uint32_t *users = hae_arena_alloc(&e->arena, (base->corr_user_count + 1) * sizeof *users);
    if (!users) return HAE_ENOMEM;
    if (base->corr_user_count) memcpy(users, base->corr_users, base->corr_user_count * sizeof *users);
    users[base->corr_user_count++] = corr_index;
    base->corr_users = users;
    return HAE_OK;
}

enum { CORRELATION_DEPTH_MAX = 4 };

/* NULL when every rule r refers to is loaded and, for a correlation of
 * correlations, resolves in turn without a cycle; else the failing name. */
static const char *unresolved_ref(detect_engine *e, const rule *r, int depth) {
    const corr_def *c = r->corr;
    for (size_t k = 0; c && k < c->rule_count; k++) {
        const rule *ref = find_rule(e, c->rule_refs[k]);
        if (!ref || ref == r) return c->rule_refs[k];
        if (ref->corr && (depth >= CORRELATION_DEPTH_MAX || unresolved_ref(e, ref, depth + 1))) {
            return c->rule_refs[k];
        }
    }
    return NULL;
}

static void report_unresolved(const rule *r, const char *missing, detect_report_fn report,
                              void *ctx) {
    if (!report) return;
    char reason[512];
    snprintf(reason, sizeof reason, "%s:%d: correlation refers to '%s', which is not a loaded "
             "rule (or its references form a cycle)", r->info.file, r->info.line, missing);
    report(ctx, r->info.file, DETECT_RULE_INVALID, &r->info, reason);
}

/* Resolves each correlation's rule references, which may name detection
 * rules or other correlations; drops (and reports) those that do not
 * resolve. Validity is decided over the whole set before any rule is
 * dropped, so the answer does not depend on file order. */
static int resolve_correlations(detect_engine *e, detect_report_fn report, void *ctx,
                                hae_err *err) {
    bool *keep = calloc(e->rule_count + 1, sizeof *keep);
    if (!keep) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    for (size_t i = 0; i < e->rule_count; i++) {
        const char *missing = unresolved_ref(e, e->rules[i], 0);
        keep[i] = !missing;
        if (missing) report_unresolved(e->rules[i], missing, report, ctx);
    }
    size_t kept = 0;
    for (size_t i = 0; i < e->rule_count; i++) {
        if (!keep[i]) continue;
        e->rules[i]->index = (uint32_t)kept;
        e->rules[kept++] = e->rules[i];
    }
    free(keep);
    e->rule_count = kept;
    for (size_t i = 0; i < e->rule_count; i++) {
        corr_def *c = e->rules[i]->corr;
        if (!c) continue;
        c->rules = hae_arena_alloc(&e->arena, c->rule_count * sizeof(void *));
        if (!c->rules) return hae_err_set(err, HAE_ENOMEM, "out of memory");
        for (size_t k = 0; k < c->rule_count; k++) {
            c->rules[k] = find_rule(e, c->rule_refs[k]);
            if (link_user(e, c->rules[k], (uint32_t)i) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
            if (!c->generate) c->rules[k]->info.generates = false;
        }
    }
    return HAE_OK;
}

int detect_engine_compile(detect_engine *e, detect_report_fn report, void *ctx, hae_err *err) {
    if (e->compiled) return HAE_OK;
    int rc = resolve_correlations(e, report, ctx, err);
    if (rc < 0) return rc;
    /* patterns remember their rule by index; renumber after dropping */
    for (size_t i = 0; i < e->pattern_count; i++) e->patterns[i]->hs_id = -1;
    if (!e->options.no_prefilter) {
        rc = prefilter_build(e, &e->prefilter, err);
        if (rc < 0) return rc;
    }
    e->seen = calloc(e->rule_count + 1, sizeof *e->seen);
    if (!e->seen) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    rc = correlator_new(e, &e->correlator, err);
    if (rc < 0) return rc;
    for (size_t i = 0; i < e->pattern_count; i++) {
        if (e->patterns[i]->hs_id >= 0) e->stats.prefilter_patterns++;
        else e->stats.direct_patterns++;
    }
    e->stats.correlation_max_groups = e->options.correlation_max_groups;
    e->compiled = true;
    return HAE_OK;
}

/* ---- matching -------------------------------------------------------- */

static int rule_matched(detect_engine *e, rule *r, const hae_event *ev, detect_hit_fn on_hit,
                        void *ctx, hae_err *err) {
    e->stats.hits++;
    if (r->info.generates) {
        detect_hit hit = {.rule = &r->info, .event = ev, .group = "", .count = 1,
                          .first_ns = ev->time_ns, .last_ns = ev->time_ns};
        int rc = on_hit(ctx, &hit, err);
        if (rc < 0) return rc;
    }
    if (r->corr_user_count) return correlator_feed(e, r, ev, on_hit, ctx, err);
    return HAE_OK;
}

int detect_engine_match(detect_engine *e, const hae_event *ev, detect_hit_fn on_hit, void *ctx,
                        hae_err *err) {
    if (!e->compiled) return hae_err_set(err, HAE_EINVAL, "detect_engine_compile was not called");
    e->stats.events++;
    if (match_prepare(e, ev) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory matching");
    if (!e->prefilter) {
        for (size_t i = 0; i < e->rule_count; i++) {
            rule *r = e->rules[i];
            if (r->corr || !match_logsource(r, ev) || !match_expr(e, r->condition, ev, NULL)) continue;
            int rc = rule_matched(e, r, ev, on_hit, ctx, err);
            if (rc < 0) return rc;
        }
        return HAE_OK;
    }
    uint8_t *hits;
    uint32_t *candidates;
    size_t count;
    int rc = prefilter_scan(e->prefilter, ev, &hits, &candidates, &count, err);
    for (size_t i = 0; rc == HAE_OK && i < count; i++) {
        rule *r = e->rules[candidates[i]];
        /* the prefilter checked logsource, unless it sent the event down the reference path */
        if ((!hits && !match_logsource(r, ev)) || !match_expr(e, r->condition, ev, hits)) continue;
        rc = rule_matched(e, r, ev, on_hit, ctx, err);
    }
    return rc;
}

void detect_engine_stats(const detect_engine *e, detect_stats *out) {
    *out = e->stats;
}
