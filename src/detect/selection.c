/* The `detection` section of a Sigma rule into expression trees: search
 * identifiers (maps are AND, lists of maps OR, lists of scalars keyword
 * searches), field conditions with their modifier chains (modifiers
 * appendix v2.1), then the condition (condition.c) over them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "detect/detect_int.h"

typedef struct modifiers {
    bool contains, startswith, endswith, all, cased, windash, neq;
    bool re, re_i, re_m, re_s, cidr, exists, fieldref, expand;
    bool encoded;           /* a base64/utf16 step ran: wildcards no longer apply */
    bool has_op;
    number_op op;
    time_part time;
    /* encoding steps in written order: 'b' base64, 'o' base64offset, 'l' 'B' 'u' utf16 */
    char steps[8];
    size_t step_count;
} modifiers;

static const char *const known_modifiers[] = {
    "contains", "startswith", "endswith", "all", "cased", "windash", "neq", "re", "i", "m",
    "s", "cidr", "exists", "fieldref", "expand", "base64", "base64offset", "utf16le",
    "utf16be", "utf16", "wide", "lt", "lte", "gt", "gte", "minute", "hour", "day", "week",
    "month", "year"};

/* Levenshtein distance, to suggest the modifier a typo meant. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31) return 99;
    size_t row[32];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

static int unknown_modifier(const char *name, int line, hae_err *err) {
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < sizeof known_modifiers / sizeof *known_modifiers; i++) {
        size_t d = edit_distance(name, known_modifiers[i]);
        if (d < best_d) {
            best_d = d;
            best = known_modifiers[i];
        }
    }
    if (best) {
        return hae_err_set(err, HAE_EINVAL, "%d: unknown modifier '%s' (did you mean '%s'?)",
                           line, name, best);
    }
    return hae_err_set(err, HAE_EINVAL, "%d: unknown modifier '%s'", line, name);
}

static int add_step(modifiers *m, char step, const char *name, int line, hae_err *err) {
    if (m->step_count == sizeof m->steps) {
        return hae_err_set(err, HAE_EINVAL, "%d: too many encoding modifiers ('%s')", line, name);
    }
    m->steps[m->step_count++] = step;
    return HAE_OK;
}

static int parse_modifier(modifiers *m, const char *name, int line, hae_err *err) {
    static const struct { const char *name; number_op op; } ops[] = {
        {"lt", NUM_LT}, {"lte", NUM_LTE}, {"gt", NUM_GT}, {"gte", NUM_GTE}};
    static const struct { const char *name; time_part part; } parts[] = {
        {"minute", TIME_MINUTE}, {"hour", TIME_HOUR}, {"day", TIME_DAY},
        {"week", TIME_WEEK}, {"month", TIME_MONTH}, {"year", TIME_YEAR}};
    struct { const char *name; bool *flag; } flags[] = {
        {"contains", &m->contains}, {"startswith", &m->startswith}, {"endswith", &m->endswith},
        {"all", &m->all}, {"cased", &m->cased}, {"windash", &m->windash}, {"neq", &m->neq},
        {"re", &m->re}, {"cidr", &m->cidr}, {"exists", &m->exists}, {"fieldref", &m->fieldref},
        {"expand", &m->expand}};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        if (strcmp(name, flags[i].name) == 0) {
            *flags[i].flag = true;
            return HAE_OK;
        }
    }
    /* i, m, s are sub-modifiers of re (they follow it). */
    if (m->re && (strcmp(name, "i") == 0 || strcmp(name, "m") == 0 || strcmp(name, "s") == 0)) {
        bool *f = name[0] == 'i' ? &m->re_i : name[0] == 'm' ? &m->re_m : &m->re_s;
        *f = true;
        return HAE_OK;
    }
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (strcmp(name, ops[i].name) == 0) {
            m->has_op = true;
            m->op = ops[i].op;
            return HAE_OK;
        }
    }
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        if (strcmp(name, parts[i].name) == 0) {
            m->time = parts[i].part;
            return HAE_OK;
        }
    }
    if (strcmp(name, "base64") == 0) return add_step(m, 'b', name, line, err);
    if (strcmp(name, "base64offset") == 0) return add_step(m, 'o', name, line, err);
    if (strcmp(name, "utf16le") == 0 || strcmp(name, "wide") == 0) {
        return add_step(m, 'l', name, line, err);
    }
    if (strcmp(name, "utf16be") == 0) return add_step(m, 'B', name, line, err);
    if (strcmp(name, "utf16") == 0) return add_step(m, 'u', name, line, err);
    return unknown_modifier(name, line, err);
}

/* ---- one value into one or more patterns ------------------------------ */

typedef struct pattern_list {
    pattern **items;
    size_t count, cap;
} pattern_list;

static int list_push(hae_arena *arena, pattern_list *l, pattern *p) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        pattern **grown = hae_arena_alloc(arena, cap * sizeof(void *));
        if (!grown) return HAE_ENOMEM;
        if (l->count) memcpy(grown, l->items, l->count * sizeof(void *));
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = p;
    return HAE_OK;
}

static pattern *new_pattern(detect_engine *e, uint32_t group) {
    pattern *p = hae_arena_alloc(&e->arena, sizeof *p);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->hs_id = -1;
    p->group = group;
    if (engine_add_pattern(e, p) < 0) return NULL;
    return p;
}

static int compile_regex(pattern *p, const modifiers *m, const char *text, size_t len,
                         int line, hae_err *err) {
    uint32_t options = (m->re_i ? PCRE2_CASELESS : 0) | (m->re_m ? PCRE2_MULTILINE : 0) |
                       (m->re_s ? PCRE2_DOTALL : 0);
    int code;
    PCRE2_SIZE offset;
    p->re = pcre2_compile((PCRE2_SPTR)text, len, options, &code, &offset, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return hae_err_set(err, HAE_EINVAL, "%d: bad regular expression '%s' at offset %zu: %s",
                           line, text, (size_t)offset, (const char *)msg);
    }
    /* JIT is an optimisation: without it (no executable memory) the
     * interpreter gives the same answers. */
    (void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
    p->kind = PAT_RE;
    return HAE_OK;
}

/* Runs the encoding steps; base64offset fans one value out into three. */
static int encode_value(detect_engine *e, const modifiers *m, const char *in, size_t len,
                        char **outs, size_t *out_lens, size_t *out_count, hae_err *err) {
    outs[0] = (char *)in;
    out_lens[0] = len;
    *out_count = 1;
    for (size_t s = 0; s < m->step_count; s++) {
        size_t n = *out_count;
        for (size_t k = 0; k < n; k++) {
            int rc = HAE_OK;
            char step = m->steps[s];
            if (step == 'b') {
                rc = pattern_encode_base64(&e->arena, outs[k], out_lens[k], &outs[k], &out_lens[k]);
            } else if (step == 'o') {
                if (n != 1) return hae_err_set(err, HAE_EINVAL, "base64offset applied twice");
                rc = pattern_base64offset(&e->arena, outs[0], out_lens[0], outs, out_lens);
                *out_count = 3;
            } else {
                int kind = step == 'l' ? 0 : step == 'B' ? 1 : 2;
                rc = pattern_utf16(&e->arena, outs[k], out_lens[k], kind, &outs[k], &out_lens[k], err);
            }
            if (rc < 0) return rc;
        }
    }
    return HAE_OK;
}

static int string_patterns(detect_engine *e, const modifiers *m, const ynode *v, uint32_t group,
                           pattern_list *out, bool keyword, hae_err *err) {
    char *values[3];
    size_t lens[3], count;
    int rc = encode_value(e, m, v->text, v->len, values, lens, &count, err);
    if (rc < 0) return rc;
    unsigned flags = (m->step_count ? 0 : GLOB_F_WILDCARDS) | (m->windash ? GLOB_F_WINDASH : 0) |
                     (m->cased ? GLOB_F_CASED : 0);
    if (m->contains || m->endswith || keyword) flags |= GLOB_F_LEAD;
    if (m->contains || m->startswith || keyword) flags |= GLOB_F_TRAIL;
    for (size_t k = 0; k < count; k++) {
        pattern *p = new_pattern(e, group);
        if (!p) return HAE_ENOMEM;
        if (m->re) {
            rc = compile_regex(p, m, values[k], lens[k], v->line, err);
        } else {
            rc = pattern_glob_from_sigma(&e->arena, p, values[k], lens[k], flags);
        }
        if (rc < 0 || (rc = list_push(&e->arena, out, p)) < 0) return rc;
    }
    return HAE_OK;
}

static int value_patterns(detect_engine *e, const modifiers *m, const ynode *v, uint32_t group,
                          pattern_list *out, bool keyword, hae_err *err) {
    if (v->type != Y_SCALAR) {
        return hae_err_set(err, HAE_EINVAL, "%d: a value must be a scalar, not a %s", v->line,
                           v->type == Y_MAP ? "map" : "list");
    }
    if (m->exists) {
        bool yes = strcasecmp(v->text, "true") == 0, no = strcasecmp(v->text, "false") == 0;
        if (!yes && !no) {
            return hae_err_set(err, HAE_EINVAL, "%d: exists takes true or false, not '%s'", v->line, v->text);
        }
        pattern *p = new_pattern(e, group);
        if (!p) return HAE_ENOMEM;
        p->kind = PAT_EXISTS;
        p->exists = yes;
        return list_push(&e->arena, out, p);
    }
    pattern *p;
    if (v->is_null) {
        if (!(p = new_pattern(e, group))) return HAE_ENOMEM;
        p->kind = PAT_NULL;
        return list_push(&e->arena, out, p);
    }
    if (m->has_op || m->time != TIME_NONE) {
        if (!(p = new_pattern(e, group))) return HAE_ENOMEM;
        p->kind = PAT_NUMBER;
        p->op = m->has_op ? m->op : NUM_EQ;
        p->time = m->time;
        if (!pattern_number_parse(v->text, v->len, &p->number)) {
            return hae_err_set(err, HAE_EINVAL, "%d: '%s' is not a number", v->line, v->text);
        }
        return list_push(&e->arena, out, p);
    }
    if (m->cidr) {
        if (!(p = new_pattern(e, group))) return HAE_ENOMEM;
        int rc = pattern_cidr_parse(p, v->text, err);
        if (rc < 0) return hae_err_prefix(err, "%d: ", v->line);
        return list_push(&e->arena, out, p);
    }
    if (m->fieldref) {
        if (!(p = new_pattern(e, group))) return HAE_ENOMEM;
        p->kind = PAT_FIELDREF;
        p->cased = m->cased;
        p->ref_field = hae_arena_strdup(&e->arena, v->text);
        p->ref_mode = m->contains ? REF_CONTAINS : m->startswith ? REF_STARTSWITH
                    : m->endswith ? REF_ENDSWITH : REF_EQUALS;
        if (!p->ref_field) return HAE_ENOMEM;
        return list_push(&e->arena, out, p);
    }
    return string_patterns(e, m, v, group, out, keyword, err);
}

/* ---- field conditions and search identifiers ------------------------- */

static expr *leaf_expr(detect_engine *e, leaf *l) {
    expr *x = hae_arena_alloc(&e->arena, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    x->kind = EXPR_LEAF;
    x->leaf = l;
    return x;
}

/* key "Field|mod|mod" (Field empty for keyword modifiers) and its value. */
static int build_leaf(detect_engine *e, const char *key, int line, const ynode *value,
                      expr **out, bool *unsupported, hae_err *err) {
    modifiers m = {0};
    char *copy = hae_arena_strdup(&e->arena, key);
    if (!copy) return HAE_ENOMEM;
    char *save = NULL;
    char *field = copy;
    char *bar = strchr(copy, '|');
    if (bar) {
        *bar = '\0';
        for (char *mod = strtok_r(bar + 1, "|", &save); mod; mod = strtok_r(NULL, "|", &save)) {
            int rc = parse_modifier(&m, mod, line, err);
            if (rc < 0) return rc;
        }
    }
    if (m.expand) {
        *unsupported = true;
        return hae_err_set(err, HAE_ENOTSUP,
                           "%d: '%s' uses placeholders (expand), which need site-specific values",
                           line, key);
    }
    leaf *l = hae_arena_alloc(&e->arena, sizeof *l);
    if (!l) return HAE_ENOMEM;
    memset(l, 0, sizeof *l);
    l->field = field[0] ? field : NULL;
    l->all = m.all;
    l->negate = m.neq;
    if (l->field) engine_map_field(e, &e->arena, l->field, &l->names, &l->name_count);
    if (l->field && !l->names) return HAE_ENOMEM;
    pattern_list pats = {0};
    int rc = HAE_OK;
    if (value->type == Y_SEQ) {
        if (value->count == 0) return hae_err_set(err, HAE_EINVAL, "%d: '%s' has an empty list", line, key);
        for (size_t i = 0; i < value->count && rc == HAE_OK; i++) {
            rc = value_patterns(e, &m, value->items[i], (uint32_t)i, &pats, !l->field, err);
        }
    } else {
        rc = value_patterns(e, &m, value, 0, &pats, !l->field, err);
    }
    if (rc < 0) return rc;
    l->patterns = pats.items;
    l->pattern_count = pats.count;
    *out = leaf_expr(e, l);
    return *out ? HAE_OK : HAE_ENOMEM;
}

static int build_map(detect_engine *e, const ynode *map, expr **out, bool *unsupported,
                     hae_err *err) {
    expr *x = hae_arena_alloc(&e->arena, sizeof *x);
    if (!x) return HAE_ENOMEM;
    memset(x, 0, sizeof *x);
    x->kind = EXPR_AND;
    x->kids = hae_arena_alloc(&e->arena, (map->count + 1) * sizeof(void *));
    if (!x->kids) return HAE_ENOMEM;
    for (size_t i = 0; i < map->count; i++) {
        const ypair *p = &map->pairs[i];
        int rc = build_leaf(e, p->key, p->line, p->value, &x->kids[x->kid_count], unsupported, err);
        if (rc < 0) return rc;
        x->kid_count++;
    }
    *out = x->kid_count == 1 ? x->kids[0] : x;
    return HAE_OK;
}

/* A list: maps OR-ed; consecutive scalars form one keyword leaf (OR). */
static int build_list(detect_engine *e, const ynode *seq, expr **out, bool *unsupported,
                      hae_err *err) {
    expr *x = hae_arena_alloc(&e->arena, sizeof *x);
    if (!x) return HAE_ENOMEM;
    memset(x, 0, sizeof *x);
    x->kind = EXPR_OR;
    x->kids = hae_arena_alloc(&e->arena, (seq->count + 1) * sizeof(void *));
    if (!x->kids) return HAE_ENOMEM;
    bool has_keywords = false;
    for (size_t i = 0; i < seq->count; i++) {
        const ynode *item = seq->items[i];
        if (item->type == Y_MAP) {
            int rc = build_map(e, item, &x->kids[x->kid_count++], unsupported, err);
            if (rc < 0) return rc;
        } else if (item->type == Y_SCALAR) {
            has_keywords = true;
        } else {
            return hae_err_set(err, HAE_EINVAL, "%d: a list inside a list of a search identifier", item->line);
        }
    }
    if (has_keywords) {
        ynode *words = hae_arena_alloc(&e->arena, sizeof *words);
        if (!words) return HAE_ENOMEM;
        *words = *seq;
        words->items = hae_arena_alloc(&e->arena, seq->count * sizeof(void *));
        if (!words->items) return HAE_ENOMEM;
        words->count = 0;
        for (size_t i = 0; i < seq->count; i++) {
            if (seq->items[i]->type == Y_SCALAR) words->items[words->count++] = seq->items[i];
        }
        int rc = build_leaf(e, "", seq->line, words, &x->kids[x->kid_count++], unsupported, err);
        if (rc < 0) return rc;
    }
    *out = x->kid_count == 1 ? x->kids[0] : x;
    return HAE_OK;
}

static int build_ident(detect_engine *e, const ynode *v, expr **out, bool *unsupported,
                       hae_err *err) {
    switch (v->type) {
    case Y_MAP: return build_map(e, v, out, unsupported, err);
    case Y_SEQ: return build_list(e, v, out, unsupported, err);
    case Y_SCALAR: break;
    }
    return build_leaf(e, "", v->line, v, out, unsupported, err);
}

static int parse_conditions(detect_engine *e, rule *r, const ynode *cond, const search_ident *ids,
                            size_t id_count, bool *unsupported, hae_err *err) {
    size_t n = cond->type == Y_SEQ ? cond->count : 1;
    expr *any = hae_arena_alloc(&e->arena, sizeof *any);
    if (!any) return HAE_ENOMEM;
    memset(any, 0, sizeof *any);
    any->kind = EXPR_OR;
    any->kids = hae_arena_alloc(&e->arena, n * sizeof(void *));
    if (!any->kids) return HAE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const ynode *c = cond->type == Y_SEQ ? cond->items[i] : cond;
        const char *text = yaml_scalar(c);
        if (!text) return hae_err_set(err, HAE_EINVAL, "%d: condition must be a string", c->line);
        if (strchr(text, '|')) {
            *unsupported = true;
            return hae_err_set(err, HAE_ENOTSUP,
                               "%d: condition '%s' uses a Sigma 1 aggregation ('|'); write it as a "
                               "correlation rule", c->line, text);
        }
        if (strstr(text, " near ")) {
            *unsupported = true;
            return hae_err_set(err, HAE_ENOTSUP, "%d: condition '%s' uses 'near'", c->line, text);
        }
        int rc = condition_parse(&e->arena, text, ids, id_count, &any->kids[any->kid_count], err);
        if (rc < 0) return hae_err_prefix(err, "%d: ", c->line);
        any->kid_count++;
    }
    r->condition = n == 1 ? any->kids[0] : any;
    return HAE_OK;
}

int selection_build(detect_engine *e, rule *r, const ynode *detection, bool *unsupported,
                    hae_err *err) {
    if (detection->type != Y_MAP) {
        return hae_err_set(err, HAE_EINVAL, "%d: detection must be a map", detection->line);
    }
    const ynode *cond = yaml_get(detection, "condition");
    if (!cond) return hae_err_set(err, HAE_EINVAL, "%d: detection has no condition", detection->line);
    search_ident *ids = hae_arena_alloc(&e->arena, (detection->count + 1) * sizeof *ids);
    if (!ids) return HAE_ENOMEM;
    size_t id_count = 0;
    for (size_t i = 0; i < detection->count; i++) {
        const ypair *p = &detection->pairs[i];
        /* timeframe belonged to Sigma 1 aggregations; correlations replace it. */
        if (strcmp(p->key, "condition") == 0 || strcmp(p->key, "timeframe") == 0) continue;
        ids[id_count].name = p->key;
        int rc = build_ident(e, p->value, &ids[id_count].tree, unsupported, err);
        if (rc < 0) return rc;
        id_count++;
    }
    return parse_conditions(e, r, cond, ids, id_count, unsupported, err);
}
