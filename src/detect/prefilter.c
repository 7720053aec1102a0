/* The prefilter: every wildcard pattern of every rule, gathered into one
 * Hyperscan database per field name (plus one for keyword searches, run
 * over every field), so an event costs one scan per field however many
 * rules are loaded. A pattern in a database is answered exactly by the
 * scan (hits[]); patterns Hyperscan cannot express the same way (regex,
 * CIDR, numbers, '?', empty) stay with match.c. Only rules with a pattern
 * that fired, or whose condition could hold without one (NOT, direct
 * patterns), are evaluated. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "detect/detect_int.h"

/* Patterns of one field, while building and once compiled. Plain
 * literals (equals, startswith, endswith, contains) go to Hyperscan's
 * literal compiler, which builds large sets far faster than regexes; the
 * anchoring is checked from the match end offset. */
typedef struct pattern_set {
    hs_database_t *db;
    char **exprs;
    unsigned *ids, *flags;
    size_t *lens;
    size_t count, cap;
    bool literal;
} pattern_set;

typedef struct field_db {
    char *name;            /* lower-case; "" for the keyword database */
    pattern_set sets[2];   /* [0] regex, [1] literal */
} field_db;

enum { SHAPE_ANY, SHAPE_EQUALS, SHAPE_PREFIX, SHAPE_SUFFIX };

struct prefilter {
    detect_engine *engine;
    field_db *dbs;
    size_t db_count, db_cap;
    size_t *table;         /* open addressing: db index + 1, 0 empty */
    size_t table_size;
    field_db *keywords;
    hs_scratch_t *scratch;
    uint8_t *hits;
    uint32_t *fired, fired_count;
    uint32_t *always;
    size_t always_count;
    uint32_t *candidates;
    size_t candidate_count;
    uint8_t *shape;        /* per pattern: how a literal match must sit */
    uint32_t *lit_len;
    hae_buf values;        /* every value of the event, for the keyword literals */
    size_t *value_start;   /* field k's value at values.data + value_start[k] ... */
    size_t *value_end;     /* ... up to value_end[k] (exclusive) */
    size_t value_cap;
};

static uint64_t hash_name(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 1099511628211ULL;
    }
    return h;
}

static bool name_equal(const char *lower, const char *name) {
    for (; *lower && *name; lower++, name++) {
        if (*lower != (char)tolower((unsigned char)*name)) return false;
    }
    return *lower == *name;
}

static field_db *find_db(const prefilter *p, const char *name) {
    if (!p->table_size) return NULL;
    size_t mask = p->table_size - 1;
    for (size_t i = hash_name(name, strlen(name)) & mask;; i = (i + 1) & mask) {
        size_t slot = p->table[i];
        if (slot == 0) return NULL;
        if (name_equal(p->dbs[slot - 1].name, name)) return &p->dbs[slot - 1];
    }
}

static field_db *get_db(prefilter *p, const char *name) {
    for (size_t i = 0; i < p->db_count; i++) {
        if (name_equal(p->dbs[i].name, name)) return &p->dbs[i];
    }
    if (p->db_count == p->db_cap) {
        size_t cap = p->db_cap ? p->db_cap * 2 : 16;
        field_db *grown = realloc(p->dbs, cap * sizeof *grown);
        if (!grown) return NULL;
        p->dbs = grown;
        p->db_cap = cap;
    }
    field_db *d = &p->dbs[p->db_count];
    memset(d, 0, sizeof *d);
    d->name = strdup(name);
    if (!d->name) return NULL;
    for (char *c = d->name; *c; c++) *c = (char)tolower((unsigned char)*c);
    p->db_count++;
    return d;
}

/* The glob as a Hyperscan expression, or NULL when it must stay direct. */
static char *glob_to_regex(const pattern *pat) {
    bool has_literal = false;
    for (size_t i = 0; i < pat->token_count; i++) {
        if (pat->tokens[i].kind == GLOB_ONE) return NULL; /* '?' counts UTF-8 characters */
        if (pat->tokens[i].kind != GLOB_STAR) has_literal = true;
    }
    if (!has_literal) return NULL;
    hae_buf re = {0};
    size_t first = 0, last = pat->token_count;
    int rc = HAE_OK;
    if (pat->tokens[0].kind == GLOB_STAR) first = 1;
    else rc = hae_buf_append_str(&re, "\\A");
    bool trailing_star = pat->tokens[last - 1].kind == GLOB_STAR;
    if (trailing_star) last--;
    for (size_t i = first; i < last && rc == HAE_OK; i++) {
        const glob_token *t = &pat->tokens[i];
        if (t->kind == GLOB_STAR) {
            rc = hae_buf_append_str(&re, ".*");
        } else if (t->kind == GLOB_DASH) {
            rc = hae_buf_append_str(&re, "(?:-|/|\\xe2\\x80[\\x93-\\x95])");
        } else {
            for (size_t k = 0; k < t->len && rc == HAE_OK; k++) {
                unsigned char c = (unsigned char)t->bytes[k];
                rc = isalnum(c) ? hae_buf_append_char(&re, (char)c) : hae_buf_printf(&re, "\\x%02x", c);
            }
        }
    }
    if (rc == HAE_OK && !trailing_star) rc = hae_buf_append_str(&re, "\\z");
    if (rc < 0) {
        hae_buf_free(&re);
        return NULL;
    }
    return re.data;
}

static int set_add(pattern_set *d, const char *text, size_t len, unsigned id, unsigned flags) {
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        char **e = realloc(d->exprs, cap * sizeof(void *));
        if (e) d->exprs = e;
        unsigned *i = realloc(d->ids, cap * sizeof *i);
        if (i) d->ids = i;
        unsigned *f = realloc(d->flags, cap * sizeof *f);
        if (f) d->flags = f;
        size_t *l = realloc(d->lens, cap * sizeof *l);
        if (l) d->lens = l;
        if (!e || !i || !f || !l) return HAE_ENOMEM;
        d->cap = cap;
    }
    d->exprs[d->count] = malloc(len + 1);
    if (!d->exprs[d->count]) return HAE_ENOMEM;
    memcpy(d->exprs[d->count], text, len);
    d->exprs[d->count][len] = '\0';
    d->lens[d->count] = len;
    d->ids[d->count] = id;
    d->flags[d->count] = flags;
    d->count++;
    return HAE_OK;
}

/* The literal of an equals/startswith/endswith/contains glob, or NULL. */
static const glob_token *literal_shape(const pattern *pat, uint8_t *shape) {
    const glob_token *t = pat->tokens;
    size_t n = pat->token_count;
    bool lead = n && t[0].kind == GLOB_STAR, trail = n > 1 && t[n - 1].kind == GLOB_STAR;
    size_t lits = n - lead - trail;
    if (lits != 1 || t[lead].kind != GLOB_LIT) return NULL;
    *shape = lead && trail ? SHAPE_ANY : lead ? SHAPE_SUFFIX : trail ? SHAPE_PREFIX : SHAPE_EQUALS;
    return &t[lead];
}

static int add_pattern(prefilter *p, field_db *d, const pattern *pat, const glob_token *lit,
                       const char *re) {
    unsigned caseless = pat->cased ? 0 : HS_FLAG_CASELESS;
    if (lit) {
        /* Anchored literals need every occurrence to check the position;
         * keyword literals are scanned over all values at once, where a
         * first occurrence may straddle two values and a later one not. */
        bool is_keyword = d->name[0] == '\0';
        unsigned single =
            p->shape[pat->global_id] == SHAPE_ANY && !is_keyword ? HS_FLAG_SINGLEMATCH : 0;
        return set_add(&d->sets[1], lit->bytes, lit->len, pat->global_id, caseless | single);
    }
    return set_add(&d->sets[0], re, strlen(re), pat->global_id,
                   HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL | caseless);
}

static int register_leaf(prefilter *p, const leaf *l) {
    for (size_t i = 0; i < l->pattern_count; i++) {
        pattern *pat = l->patterns[i];
        if (pat->kind != PAT_GLOB || pat->hs_id != -1) continue; /* direct, or done */
        uint8_t shape = SHAPE_ANY;
        const glob_token *lit = literal_shape(pat, &shape);
        char *re = lit ? NULL : glob_to_regex(pat);
        if (!lit && !re) {
            pat->hs_id = -2; /* direct for good */
            continue;
        }
        p->shape[pat->global_id] = shape;
        p->lit_len[pat->global_id] = lit ? (uint32_t)lit->len : 0;
        int rc = HAE_OK;
        if (!l->field) {
            rc = add_pattern(p, &p->dbs[0], pat, lit, re);
        } else {
            for (size_t n = 0; n < l->name_count && rc == HAE_OK; n++) {
                field_db *d = get_db(p, l->names[n]);
                rc = d ? add_pattern(p, d, pat, lit, re) : HAE_ENOMEM;
            }
        }
        free(re);
        if (rc < 0) return rc;
        pat->hs_id = (int)pat->global_id;
    }
    return HAE_OK;
}

static int register_expr(prefilter *p, const expr *x) {
    if (x->kind == EXPR_LEAF) return register_leaf(p, x->leaf);
    for (size_t i = 0; i < x->kid_count; i++) {
        int rc = register_expr(p, x->kids[i]);
        if (rc < 0) return rc;
    }
    return HAE_OK;
}

/* Compiles one set; a pattern Hyperscan rejects goes back to direct
 * evaluation and the rest are compiled again. */
static int compile_set(prefilter *p, const char *name, pattern_set *d, hae_err *err) {
    while (d->count) {
        hs_compile_error_t *cerr = NULL;
        hs_error_t rc = d->literal
            ? hs_compile_lit_multi((const char *const *)d->exprs, d->flags, d->ids, d->lens,
                                   (unsigned)d->count, HS_MODE_BLOCK, NULL, &d->db, &cerr)
            : hs_compile_multi((const char *const *)d->exprs, d->flags, d->ids,
                               (unsigned)d->count, HS_MODE_BLOCK, NULL, &d->db, &cerr);
        if (rc == HS_SUCCESS) break;
        int bad = cerr ? cerr->expression : -1;
        hae_log(HAE_LOG_DEBUG, "detect: hyperscan rejected a pattern of '%s': %s", name,
                cerr ? cerr->message : "?");
        hs_free_compile_error(cerr);
        if (bad < 0 || (size_t)bad >= d->count) {
            return hae_err_set(err, HAE_ENOTSUP, "hyperscan cannot compile the '%s' database", name);
        }
        p->engine->patterns[d->ids[bad]]->hs_id = -1;
        free(d->exprs[bad]);
        d->count--;
        d->exprs[bad] = d->exprs[d->count];
        d->ids[bad] = d->ids[d->count];
        d->flags[bad] = d->flags[d->count];
        d->lens[bad] = d->lens[d->count];
    }
    if (d->db && hs_alloc_scratch(d->db, &p->scratch) != HS_SUCCESS) {
        return hae_err_set(err, HAE_ENOMEM, "hyperscan scratch for '%s'", name);
    }
    return HAE_OK;
}

static void set_release_build(pattern_set *d) {
    for (size_t k = 0; d->exprs && k < d->count; k++) free(d->exprs[k]);
    free(d->exprs);
    free(d->ids);
    free(d->flags);
    free(d->lens);
    d->exprs = NULL;
    d->ids = d->flags = NULL;
    d->lens = NULL;
}

static int build_table(prefilter *p) {
    size_t size = 16;
    while (size < p->db_count * 2) size *= 2;
    p->table = calloc(size, sizeof *p->table);
    if (!p->table) return HAE_ENOMEM;
    p->table_size = size;
    for (size_t k = 0; k < p->db_count; k++) {
        if (p->dbs[k].name[0] == '\0') continue;
        size_t i = hash_name(p->dbs[k].name, strlen(p->dbs[k].name)) & (size - 1);
        while (p->table[i]) i = (i + 1) & (size - 1);
        p->table[i] = k + 1;
    }
    return HAE_OK;
}

static int finish(prefilter *p, hae_err *err) {
    detect_engine *e = p->engine;
    for (size_t i = 0; i < p->db_count; i++) {
        for (int k = 0; k < 2; k++) {
            p->dbs[i].sets[k].literal = k == 1;
            int rc = compile_set(p, p->dbs[i].name, &p->dbs[i].sets[k], err);
            if (rc < 0) return rc;
        }
    }
    for (size_t i = 0; i < e->pattern_count; i++) {
        if (e->patterns[i]->hs_id == -2) e->patterns[i]->hs_id = -1;
    }
    p->hits = calloc(e->pattern_count + 1, 1);
    p->fired = calloc(e->pattern_count + 1, sizeof *p->fired);
    p->always = calloc(e->rule_count + 1, sizeof *p->always);
    p->candidates = calloc(e->rule_count + 1, sizeof *p->candidates);
    if (!p->hits || !p->fired || !p->always || !p->candidates || build_table(p) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory building the prefilter");
    }
    for (size_t i = 0; i < e->rule_count; i++) {
        rule *r = e->rules[i];
        r->is_always = !r->corr && match_can_fire_without_prefilter(r->condition);
        if (r->is_always) p->always[p->always_count++] = (uint32_t)i;
    }
    for (size_t i = 0; i < p->db_count; i++) {
        set_release_build(&p->dbs[i].sets[0]);
        set_release_build(&p->dbs[i].sets[1]);
    }
    return HAE_OK;
}

int prefilter_build(detect_engine *e, prefilter **out, hae_err *err) {
    prefilter *p = calloc(1, sizeof *p);
    if (!p) return hae_err_set(err, HAE_ENOMEM, "out of memory building the prefilter");
    p->engine = e;
    int rc = HAE_OK;
    p->shape = calloc(e->pattern_count + 1, 1);
    p->lit_len = calloc(e->pattern_count + 1, sizeof *p->lit_len);
    if (!p->shape || !p->lit_len) rc = HAE_ENOMEM;
    if (rc == HAE_OK && !get_db(p, "")) rc = HAE_ENOMEM; /* dbs[0]: keywords, in every field */
    for (size_t i = 0; rc == HAE_OK && i < e->rule_count; i++) {
        if (!e->rules[i]->corr) rc = register_expr(p, e->rules[i]->condition);
    }
    if (rc == HAE_OK) p->keywords = &p->dbs[0]; /* get_db may have moved the array */
    if (rc < 0) rc = hae_err_set(err, rc, "out of memory building the prefilter");
    if (rc == HAE_OK) rc = finish(p, err);
    if (rc < 0) {
        prefilter_free(p);
        return rc;
    }
    *out = p;
    return HAE_OK;
}

void prefilter_free(prefilter *p) {
    if (!p) return;
    for (size_t i = 0; i < p->db_count; i++) {
        field_db *d = &p->dbs[i];
        for (int k = 0; k < 2; k++) {
            set_release_build(&d->sets[k]);
            hs_free_database(d->sets[k].db);
        }
        free(d->name);
    }
    hs_free_scratch(p->scratch);
    free(p->dbs);
    free(p->table);
    free(p->hits);
    free(p->fired);
    free(p->always);
    free(p->candidates);
    free(p->shape);
    free(p->lit_len);
    hae_buf_free(&p->values);
    free(p->value_start);
    free(p->value_end);
    free(p);
}

typedef struct scan_ctx {
    prefilter *p;
    uint32_t epoch;
    unsigned long long value_len;
    size_t value_count;    /* values joined in p->values */
} scan_ctx;

static void record_hit(scan_ctx *s, unsigned int id) {
    prefilter *p = s->p;
    p->hits[id] = 1;
    p->fired[p->fired_count++] = id;
    const rule *r = p->engine->patterns[id]->owner;
    if (r && p->engine->seen[r->index] != s->epoch) {
        p->engine->seen[r->index] = s->epoch;
        p->candidates[p->candidate_count++] = r->index;
    }
}

/* Whether a literal match ending at `to` sits as its shape requires in a
 * value [start, end) (offsets in the same buffer). */
static bool shape_holds(const prefilter *p, unsigned int id, unsigned long long start,
                        unsigned long long end, unsigned long long to) {
    unsigned long long from = to - p->lit_len[id];
    if (to < p->lit_len[id] || from < start || to > end) return false;
    switch (p->shape[id]) {
    case SHAPE_EQUALS: return from == start && to == end;
    case SHAPE_PREFIX: return from == start;
    case SHAPE_SUFFIX: return to == end;
    default: return true;
    }
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx) {
    (void)from;
    (void)flags;
    scan_ctx *s = ctx;
    prefilter *p = s->p;
    if (p->hits[id]) return 0;
    if (p->shape[id] != SHAPE_ANY && !shape_holds(p, id, 0, s->value_len, to)) return 0;
    record_hit(s, id);
    return 0;
}

/* Keyword literals over all values joined: the match must lie within one
 * value (Sigma keywords match values, not the text between them). */
static int on_keyword_match(unsigned int id, unsigned long long from, unsigned long long to,
                            unsigned int flags, void *ctx) {
    (void)from;
    (void)flags;
    scan_ctx *s = ctx;
    prefilter *p = s->p;
    if (p->hits[id] || to < p->lit_len[id]) return 0;
    /* the value holding the match's first byte: last k with start <= from */
    unsigned long long first = to - p->lit_len[id];
    size_t lo = 0, hi = s->value_count;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->value_start[mid] <= first) lo = mid;
        else hi = mid;
    }
    if (s->value_count && shape_holds(p, id, p->value_start[lo], p->value_end[lo], to)) {
        record_hit(s, id);
    }
    return 0;
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Lays every value end to end (one separator byte between them, so that
 * offsets tell values apart) for the single keyword-literal scan. */
static int join_values(prefilter *p, const hae_event *ev, size_t *count) {
    if (ev->field_count > p->value_cap) {
        size_t cap = ev->field_count * 2;
        size_t *starts = realloc(p->value_start, cap * sizeof *starts);
        if (starts) p->value_start = starts;
        size_t *ends = realloc(p->value_end, cap * sizeof *ends);
        if (ends) p->value_end = ends;
        if (!starts || !ends) return HAE_ENOMEM;
        p->value_cap = cap;
    }
    hae_buf_reset(&p->values);
    size_t n = 0;
    for (size_t i = 0; i < ev->field_count; i++) {
        const hae_field *f = &ev->fields[i];
        if (f->type == HAE_VAL_NULL) continue;
        p->value_start[n] = p->values.len;
        if (hae_buf_append(&p->values, f->value, f->value_len) < 0 ||
            hae_buf_append_char(&p->values, '\n') < 0) {
            return HAE_ENOMEM;
        }
        p->value_end[n++] = p->values.len - 1;
    }
    *count = n;
    return HAE_OK;
}

static void sort_candidates(uint32_t *c, size_t n) {
    if (n > 64) {
        qsort(c, n, sizeof *c, compare_u32);
        return;
    }
    for (size_t i = 1; i < n; i++) { /* few and mostly in order already */
        uint32_t v = c[i];
        size_t k = i;
        for (; k > 0 && c[k - 1] > v; k--) c[k] = c[k - 1];
        c[k] = v;
    }
}

int prefilter_scan(prefilter *p, const hae_event *ev, uint8_t **hits, uint32_t **candidates,
                   size_t *candidate_count, hae_err *err) {
    detect_engine *e = p->engine;
    for (uint32_t i = 0; i < p->fired_count; i++) p->hits[p->fired[i]] = 0;
    p->fired_count = 0;
    p->candidate_count = 0;
    if (++e->epoch == 0) {
        memset(e->seen, 0, (e->rule_count + 1) * sizeof *e->seen);
        e->epoch = 1;
    }
    scan_ctx s = {.p = p, .epoch = e->epoch};
    for (size_t i = 0; i < p->always_count; i++) {
        e->seen[p->always[i]] = s.epoch;
        p->candidates[p->candidate_count++] = p->always[i];
    }
    /* per field: its own databases and the keyword regexes */
    for (size_t i = 0; i < ev->field_count; i++) {
        const hae_field *f = &ev->fields[i];
        if (f->type == HAE_VAL_NULL || f->value_len > UINT32_MAX) continue;
        const field_db *d = find_db(p, f->name);
        const hs_database_t *dbs[3] = {d ? d->sets[0].db : NULL, d ? d->sets[1].db : NULL,
                                       p->keywords->sets[0].db};
        s.value_len = f->value_len;
        for (int k = 0; k < 3; k++) {
            if (!dbs[k]) continue;
            if (hs_scan(dbs[k], f->value, (unsigned)f->value_len, 0, p->scratch, on_match, &s) !=
                HS_SUCCESS) {
                return hae_err_set(err, HAE_EIO, "hyperscan scan failed on field %s", f->name);
            }
        }
    }
    /* keyword literals: one scan over all values instead of one per field */
    if (p->keywords->sets[1].db) {
        if (join_values(p, ev, &s.value_count) < 0) {
            return hae_err_set(err, HAE_ENOMEM, "out of memory scanning keywords");
        }
        if (p->values.len <= UINT32_MAX &&
            hs_scan(p->keywords->sets[1].db, p->values.data, (unsigned)p->values.len, 0,
                    p->scratch, on_keyword_match, &s) != HS_SUCCESS) {
            return hae_err_set(err, HAE_EIO, "hyperscan scan failed on keywords");
        }
    }
    /* evaluate in load order, as the direct path does */
    sort_candidates(p->candidates, p->candidate_count);
    *hits = p->hits;
    *candidates = p->candidates;
    *candidate_count = p->candidate_count;
    return HAE_OK;
}
