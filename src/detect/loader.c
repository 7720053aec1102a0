/* Sigma documents into rules: metadata, logsource, detection (selection.c)
 * and correlation sections, rule collections (action: global / reset /
 * repeat, Sigma 1.0 "Rule Collections"), and the report of every document
 * as compiled, unsupported or invalid with file, line and reason. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "detect/detect_int.h"

static const char *dup_lower(hae_arena *arena, const char *s) {
    if (!s) return NULL;
    char *d = hae_arena_strdup(arena, s);
    if (!d) return NULL;
    for (char *c = d; *c; c++) *c = (char)tolower((unsigned char)*c);
    return d;
}

/* A scalar or a list of scalars into an array of strings in arena. */
static int string_list(hae_arena *arena, const ynode *n, const char ***out, size_t *count,
                       const char *what, hae_err *err) {
    *out = NULL;
    *count = 0;
    if (!n || n->is_null) return HAE_OK;
    size_t total = n->type == Y_SEQ ? n->count : 1;
    const char **list = hae_arena_alloc(arena, (total + 1) * sizeof *list);
    if (!list) return HAE_ENOMEM;
    for (size_t i = 0; i < total; i++) {
        const ynode *item = n->type == Y_SEQ ? n->items[i] : n;
        const char *s = yaml_scalar(item);
        if (!s) return hae_err_set(err, HAE_EINVAL, "%d: %s must be strings", item->line, what);
        if (!(list[i] = hae_arena_strdup(arena, s))) return HAE_ENOMEM;
    }
    *out = list;
    *count = total;
    return HAE_OK;
}

/* "30s", "5m", "1h", "2d", "1w" (correlation specification, timespan). */
static int parse_timespan(const ynode *n, int64_t *out, hae_err *err) {
    const char *s = yaml_scalar(n);
    if (!s) return hae_err_set(err, HAE_EINVAL, "correlation has no timespan");
    char *end;
    long long v = strtoll(s, &end, 10);
    static const struct { char unit; int64_t ns; } units[] = {
        {'s', 1000000000LL}, {'m', 60000000000LL}, {'h', 3600000000000LL},
        {'d', 86400000000000LL}, {'w', 604800000000000LL}};
    if (end != s && v > 0 && end[0] && !end[1]) {
        for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
            if (end[0] == units[i].unit && v < INT64_MAX / units[i].ns) {
                *out = v * units[i].ns;
                return HAE_OK;
            }
        }
    }
    return hae_err_set(err, HAE_EINVAL, "%d: bad timespan '%s' (use 30s, 5m, 1h, 2d or 1w)",
                       n->line, s);
}

static int parse_corr_condition(hae_arena *arena, corr_def *c, const ynode *cond, hae_err *err) {
    static const struct { const char *name; number_op op; } ops[] = {
        {"lt", NUM_LT}, {"lte", NUM_LTE}, {"gt", NUM_GT}, {"gte", NUM_GTE}, {"eq", NUM_EQ}};
    if (!cond) return HAE_OK;
    if (cond->type != Y_MAP) return hae_err_set(err, HAE_EINVAL, "%d: correlation condition must be a map", cond->line);
    for (size_t i = 0; i < cond->count; i++) {
        const ypair *p = &cond->pairs[i];
        if (strcmp(p->key, "field") == 0) {
            const char *field = yaml_scalar(p->value);
            c->value_field = field ? hae_arena_strdup(arena, field) : NULL;
            if (field && !c->value_field) return HAE_ENOMEM;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
            if (strcmp(p->key, ops[k].name) != 0) continue;
            const char *v = yaml_scalar(p->value);
            if (!v || !pattern_number_parse(v, strlen(v), &c->threshold)) {
                return hae_err_set(err, HAE_EINVAL, "%d: condition %s needs a number", p->line, p->key);
            }
            c->op = ops[k].op;
            c->has_condition = known = true;
        }
        if (!known) {
            return hae_err_set(err, HAE_EINVAL, "%d: unknown correlation condition '%s'", p->line, p->key);
        }
    }
    return HAE_OK;
}

static int parse_aliases(hae_arena *arena, corr_def *c, const ynode *aliases, hae_err *err) {
    if (!aliases) return HAE_OK;
    if (aliases->type != Y_MAP) return hae_err_set(err, HAE_EINVAL, "%d: aliases must be a map", aliases->line);
    c->aliases = hae_arena_alloc(arena, (aliases->count + 1) * sizeof *c->aliases);
    if (!c->aliases) return HAE_ENOMEM;
    for (size_t i = 0; i < aliases->count; i++) {
        const ypair *p = &aliases->pairs[i];
        corr_alias *a = &c->aliases[c->alias_count++];
        memset(a, 0, sizeof *a);
        a->name = hae_arena_strdup(arena, p->key);
        if (!a->name) return HAE_ENOMEM;
        if (p->value->type != Y_MAP) return hae_err_set(err, HAE_EINVAL, "%d: alias '%s' must map rules to fields", p->line, p->key);
        a->rule_refs = hae_arena_alloc(arena, (p->value->count + 1) * sizeof *a->rule_refs);
        a->fields = hae_arena_alloc(arena, (p->value->count + 1) * sizeof *a->fields);
        if (!a->rule_refs || !a->fields) return HAE_ENOMEM;
        for (size_t k = 0; k < p->value->count; k++) {
            const char *field = yaml_scalar(p->value->pairs[k].value);
            if (!field) return hae_err_set(err, HAE_EINVAL, "%d: alias '%s' needs field names", p->line, p->key);
            a->rule_refs[k] = hae_arena_strdup(arena, p->value->pairs[k].key);
            a->fields[k] = hae_arena_strdup(arena, field);
            if (!a->rule_refs[k] || !a->fields[k]) return HAE_ENOMEM;
            a->count++;
        }
    }
    return HAE_OK;
}

static int parse_correlation(detect_engine *e, rule *r, const ynode *doc, const ynode *corr,
                             hae_err *err) {
    static const struct { const char *name; corr_type type; } types[] = {
        {"event_count", CORR_EVENT_COUNT}, {"value_count", CORR_VALUE_COUNT},
        {"temporal", CORR_TEMPORAL}, {"temporal_ordered", CORR_TEMPORAL_ORDERED}};
    if (corr->type != Y_MAP) return hae_err_set(err, HAE_EINVAL, "%d: correlation must be a map", corr->line);
    corr_def *c = hae_arena_alloc(&e->arena, sizeof *c);
    if (!c) return HAE_ENOMEM;
    memset(c, 0, sizeof *c);
    const char *type = yaml_scalar(yaml_get(corr, "type"));
    bool known = false;
    for (size_t i = 0; type && i < sizeof types / sizeof *types; i++) {
        if (strcmp(type, types[i].name) == 0) {
            c->type = types[i].type;
            known = true;
        }
    }
    if (!known) {
        return hae_err_set(err, HAE_EINVAL, "%d: correlation type '%s' is not event_count, "
                           "value_count, temporal or temporal_ordered", corr->line, type ? type : "");
    }
    int rc = string_list(&e->arena, yaml_get(corr, "rules"), &c->rule_refs, &c->rule_count, "rules", err);
    if (rc == HAE_OK) {
        rc = string_list(&e->arena, yaml_get(corr, "group-by"), &c->group_by, &c->group_by_count,
                         "group-by", err);
    }
    const ynode *span = yaml_get(corr, "timespan");
    if (!span) span = yaml_get(corr, "timeframe");
    if (rc == HAE_OK) rc = parse_timespan(span ? span : corr, &c->timespan_ns, err);
    if (rc == HAE_OK) rc = parse_corr_condition(&e->arena, c, yaml_get(corr, "condition"), err);
    if (rc == HAE_OK) rc = parse_aliases(&e->arena, c, yaml_get(corr, "aliases"), err);
    if (rc < 0) return rc;
    if (c->rule_count == 0) return hae_err_set(err, HAE_EINVAL, "%d: correlation names no rules", corr->line);
    bool counting = c->type == CORR_EVENT_COUNT || c->type == CORR_VALUE_COUNT;
    if (counting && !c->has_condition) {
        return hae_err_set(err, HAE_EINVAL, "%d: %s needs a condition such as gte: 10", corr->line, type);
    }
    if (c->type == CORR_VALUE_COUNT && !c->value_field) {
        return hae_err_set(err, HAE_EINVAL, "%d: value_count needs condition.field", corr->line);
    }
    /* Referenced rules stay quiet unless a correlation asks (generate: true). */
    const char *generate = yaml_scalar(yaml_get(corr, "generate"));
    if (!generate) generate = yaml_scalar(yaml_get(doc, "generate"));
    c->generate = generate && strcasecmp(generate, "true") == 0;
    r->info.is_correlation = true;
    r->corr = c;
    if (!c->has_condition) {
        /* temporal without a condition: every referenced rule must match */
        c->op = NUM_GTE;
        c->threshold = (double)c->rule_count;
    }
    return HAE_OK;
}

/* `timezone: Asia/Seoul` (a custom attribute, as Sigma allows): the zone
 * the rule's minute, hour, day, week, month and year modifiers mean. */
static int rule_zone(detect_engine *e, rule *r, const ynode *doc, hae_err *err) {
    const ynode *node = yaml_get(doc, "timezone");
    const char *zone = yaml_scalar(node);
    if (!node) return HAE_OK;
    if (!zone) return hae_err_set(err, HAE_EINVAL, "%d: timezone must be a zone name", node->line);
    for (size_t i = 0; i < e->zone_count; i++) {
        if (strcmp(hae_tz_name(e->zones[i]), zone) == 0) {
            r->tz = e->zones[i];
            return HAE_OK;
        }
    }
    hae_tz **grown = realloc(e->zones, (e->zone_count + 1) * sizeof(hae_tz *));
    if (!grown) return HAE_ENOMEM;
    e->zones = grown;
    hae_err why = {0};
    hae_tz *tz = NULL;
    int rc = hae_tz_load(zone, &tz, &why);
    if (rc == HAE_ENOMEM) return rc;
    if (rc < 0) return hae_err_set(err, HAE_EINVAL, "%d: timezone: %s", node->line, why.msg);
    e->zones[e->zone_count++] = tz;
    r->tz = tz;
    return HAE_OK;
}

static int parse_metadata(detect_engine *e, rule *r, const ynode *doc, hae_err *err) {
    hae_arena *a = &e->arena;
    const char *title = yaml_scalar(yaml_get(doc, "title"));
    if (!title) return hae_err_set(err, HAE_EINVAL, "%d: rule has no title", doc->line);
    const char *id = yaml_scalar(yaml_get(doc, "id"));
    const char *name = yaml_scalar(yaml_get(doc, "name"));
    const char *level = yaml_scalar(yaml_get(doc, "level"));
    r->info.title = hae_arena_strdup(a, title);
    r->info.id = hae_arena_strdup(a, id ? id : "");
    r->info.name = name ? hae_arena_strdup(a, name) : NULL;
    r->info.level = dup_lower(a, level ? level : "");
    if (!r->info.title || !r->info.id || (name && !r->info.name) || !r->info.level) return HAE_ENOMEM;
    const char **tags;
    size_t tag_count;
    int rc = string_list(a, yaml_get(doc, "tags"), &tags, &tag_count, "tags", err);
    if (rc < 0) return rc;
    r->info.tags = tags;
    r->info.tag_count = tag_count;
    const ynode *ls = yaml_get(doc, "logsource");
    r->product = dup_lower(a, yaml_scalar(yaml_get(ls, "product")));
    r->category = dup_lower(a, yaml_scalar(yaml_get(ls, "category")));
    r->service = dup_lower(a, yaml_scalar(yaml_get(ls, "service")));
    return rule_zone(e, r, doc, err);
}

static void add_shown_field(const char **fields, size_t *count, const char *field) {
    for (size_t i = 0; i < *count; i++) {
        if (strcmp(fields[i], field) == 0) return;
    }
    if (*count < DETECT_MAX_SHOWN_FIELDS) fields[(*count)++] = field;
}

static void walk_shown_fields(const expr *x, const char **fields, size_t *count) {
    if (!x || x->kind == EXPR_NOT) return; /* a filter's fields say what did not match */
    if (x->kind == EXPR_LEAF) {
        if (x->leaf->field && !x->leaf->negate) add_shown_field(fields, count, x->leaf->field);
        return;
    }
    for (size_t i = 0; i < x->kid_count; i++) walk_shown_fields(x->kids[i], fields, count);
}

static int set_shown_fields(detect_engine *e, rule *r) {
    if (r->corr) {
        r->info.fields = r->corr->group_by;
        r->info.field_count = r->corr->group_by_count;
        return HAE_OK;
    }
    const char **fields = hae_arena_alloc(&e->arena, DETECT_MAX_SHOWN_FIELDS * sizeof *fields);
    if (!fields) return HAE_ENOMEM;
    size_t count = 0;
    walk_shown_fields(r->condition, fields, &count);
    r->info.fields = fields;
    r->info.field_count = count;
    return HAE_OK;
}

/* Builds one rule from a (merged) document; on failure says why. */
static int build_rule(detect_engine *e, const char *file, int line, const ynode *doc,
                      rule **out, bool *unsupported, hae_err *err) {
    if (doc->type != Y_MAP) return hae_err_set(err, HAE_EINVAL, "%d: a rule must be a map", line);
    rule *r = hae_arena_alloc(&e->arena, sizeof *r);
    if (!r) return HAE_ENOMEM;
    memset(r, 0, sizeof *r);
    r->info.file = hae_arena_strdup(&e->arena, file);
    r->info.line = line;
    r->info.generates = true;
    if (!r->info.file) return HAE_ENOMEM;
    int rc = parse_metadata(e, r, doc, err);
    if (rc < 0) return rc;
    const ynode *detection = yaml_get(doc, "detection");
    const ynode *corr = yaml_get(doc, "correlation");
    if (corr) {
        rc = parse_correlation(e, r, doc, corr, err);
    } else if (detection) {
        rc = selection_build(e, r, detection, unsupported, err);
    } else if (yaml_get(doc, "filter")) {
        *unsupported = true;
        rc = hae_err_set(err, HAE_ENOTSUP, "%d: Sigma filter documents (meta filters) are not "
                         "applied; merge the filter into the rules", line);
    } else {
        rc = hae_err_set(err, HAE_EINVAL, "%d: rule has neither detection nor correlation", line);
    }
    if (rc == HAE_OK) rc = set_shown_fields(e, r);
    if (rc < 0) return rc;
    *out = r;
    return HAE_OK;
}

static void unwind_patterns(detect_engine *e, size_t keep) {
    for (size_t i = keep; i < e->pattern_count; i++) {
        pcre2_code_free(e->patterns[i]->re);
        e->patterns[i]->re = NULL;
    }
    e->pattern_count = keep;
}

static int load_document(detect_engine *e, const char *name, int line, const ynode *doc,
                         detect_report_fn report, void *ctx, detect_load_counts *counts) {
    hae_err why = {0};
    rule *r = NULL;
    bool unsupported = false;
    size_t patterns_before = e->pattern_count;
    int rc = build_rule(e, name, line, doc, &r, &unsupported, &why);
    if (rc == HAE_OK) rc = engine_add_rule(e, r, &why);
    if (rc == HAE_ENOMEM) return rc;
    if (rc < 0) {
        unwind_patterns(e, patterns_before);
        const char *title = yaml_scalar(yaml_get(doc, "title"));
        detect_rule_info info = {.title = title ? title : "", .file = name, .line = line,
                                 .id = yaml_scalar(yaml_get(doc, "id")), .level = ""};
        if (!info.id) info.id = "";
        char reason[HAE_ERR_MSG_MAX + 256];
        /* Messages start with the line ("12: ..."); give them the file name. */
        bool has_line = isdigit((unsigned char)why.msg[0]);
        snprintf(reason, sizeof reason, "%s:%s%s", name, has_line ? "" : " ", why.msg);
        detect_status st = unsupported ? DETECT_RULE_UNSUPPORTED : DETECT_RULE_INVALID;
        if (counts) *(unsupported ? &counts->unsupported : &counts->invalid) += 1;
        if (report) report(ctx, name, st, &info, reason);
        return HAE_OK;
    }
    for (size_t i = patterns_before; i < e->pattern_count; i++) e->patterns[i]->owner = r;
    if (counts) counts->compiled++;
    if (report) report(ctx, name, DETECT_RULE_COMPILED, &r->info, NULL);
    return HAE_OK;
}

static ynode *without_action(hae_arena *arena, const ynode *doc) {
    ynode *copy = hae_arena_alloc(arena, sizeof *copy);
    if (!copy) return NULL;
    *copy = *doc;
    copy->count = 0;
    copy->pairs = hae_arena_alloc(arena, (doc->count + 1) * sizeof *copy->pairs);
    if (!copy->pairs) return NULL;
    for (size_t i = 0; i < doc->count; i++) {
        if (strcmp(doc->pairs[i].key, "action") != 0) copy->pairs[copy->count++] = doc->pairs[i];
    }
    return copy;
}

int loader_load(detect_engine *e, const char *name, const char *yaml, size_t len,
                detect_report_fn report, void *ctx, detect_load_counts *counts, hae_err *err) {
    hae_arena tmp = {0};
    ydoc *docs = NULL;
    size_t n = 0;
    hae_err why = {0};
    int rc = yaml_parse_documents(&tmp, name, yaml, len, &docs, &n, &why);
    if (rc == HAE_EINVAL) {
        if (counts) counts->invalid++;
        if (report) report(ctx, name, DETECT_RULE_INVALID, NULL, why.msg);
        hae_arena_free(&tmp);
        return HAE_OK;
    }
    if (rc < 0) {
        hae_arena_free(&tmp);
        return hae_err_set(err, rc, "%s", why.msg);
    }
    const ynode *global = NULL, *previous = NULL;
    for (size_t i = 0; i < n && rc == HAE_OK; i++) {
        const ynode *doc = docs[i].root;
        const char *action = doc->type == Y_MAP ? yaml_scalar(yaml_get(doc, "action")) : NULL;
        const ynode *merged = NULL;
        if (action && strcmp(action, "global") == 0) {
            global = yaml_merge(&tmp, global, without_action(&tmp, doc));
            if (!global) rc = HAE_ENOMEM;
            continue;
        }
        if (action && strcmp(action, "reset") == 0) {
            global = NULL;
            continue;
        }
        if (action && strcmp(action, "repeat") == 0) {
            merged = yaml_merge(&tmp, previous, without_action(&tmp, doc));
        } else {
            merged = yaml_merge(&tmp, global, doc);
        }
        if (!merged) {
            rc = HAE_ENOMEM;
            break;
        }
        previous = merged;
        rc = load_document(e, name, docs[i].line, merged, report, ctx, counts);
    }
    hae_arena_free(&tmp);
    if (rc < 0) return hae_err_set(err, rc, "%s: out of memory", name);
    return HAE_OK;
}
