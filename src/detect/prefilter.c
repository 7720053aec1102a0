/* The prefilter: every wildcard pattern of every rule, gathered into
 * Hyperscan databases per field name, plus one for keyword searches, so an
 * event costs one scan per field it has a database for and one keyword
 * scan, however many rules are loaded. A pattern in a database is answered
 * exactly by the scan (hits[]); patterns Hyperscan cannot express the same
 * way (regex, CIDR, numbers, '?', empty) stay with match.c. Only rules with
 * a pattern that fired, or whose condition could hold without one (NOT,
 * direct patterns), are evaluated.
 *
 * Hyperscan's per-call cost, not the pattern count, dominated
 * (bench/detect-throughput), so each field's literals and wildcard
 * patterns share one database and keywords are one scan over all values.
 * The event's values are laid end to end, each between two 0xff bytes,
 * which never occur in UTF-8, and a field is scanned as 0xff, its value,
 * 0xff: equals/startswith/endswith are the literal framed by \xff where it
 * is anchored. \z made Hyperscan's compiler several times slower on
 * SigmaHQ's thousands of Image|endswith, and \A (cheaper to scan for
 * small sets) still doubled the compile time of the full SigmaHQ set for
 * no measurable gain (bench/detect-throughput, callgrind). A field with
 * very many literals (the full set's CommandLine, Image...) keeps them in
 * a second database from Hyperscan's literal compiler, which builds large
 * sets far faster. Keywords are one scan over the whole buffer; wildcards
 * compile to [^\xff]* there, so no keyword match leaves its value.
 * Literals holding 0xff stay direct; an event with a raw 0xff byte in a
 * value (not UTF-8) skips the prefilter and is evaluated on the reference
 * path. Rules and databases whose logsource cannot fit the event's are
 * skipped, per kind of event (logsource.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "detect/detect_int.h"

/* One pattern of a field while building: its expression, and the framed
 * literal when it is one (NULL otherwise). */
typedef struct entry {
    char *re;
    char *lit;
    size_t lit_len;
    unsigned id, flags;
} entry;

typedef struct field_db {
    char *name;            /* lower-case; "" for the keyword database */
    size_t name_len;
    uint64_t hash;
    entry *entries;        /* while building */
    size_t count, cap;
    hs_database_t *db;     /* expressions (and literals, unless lit_db) */
    hs_database_t *lit_db; /* literals of a field that has very many */
    uint16_t (*sources)[3]; /* distinct logsource ids of its patterns' rules */
    size_t source_count;
    struct byte_pattern *bytes; /* contains one byte: memchr, not Hyperscan */
    size_t byte_count;
} field_db;

/* A one-byte literal anywhere ("0", "6": SigmaHQ's `init 0` keywords)
 * fires in nearly every value and made the keyword scan 2.7x slower as a
 * Hyperscan pattern; memchr answers it exactly. */
typedef struct byte_pattern {
    unsigned id;
    unsigned char byte, other_case; /* other_case == byte when cased or not a letter */
} byte_pattern;

/* What an event of one logsource class (its product, category, service
 * ids) needs: the databases holding a pattern of a rule that fits it, and
 * the always-rules that fit it. Built on the first event of the class. */
typedef struct event_class {
    uint16_t ids[3];
    uint8_t *live;         /* per database */
    uint32_t *always;
    size_t always_count;
} event_class;

/* Kinds of events remembered; past them, the rest share one unpruned class. */
enum { MAX_CLASSES = 64 };

/* From this many literals on, a field's literals get their own database:
 * compile time, not scan time, sets the bound (bench/detect-throughput). */
enum { LITERAL_SPLIT = 1024 };

struct prefilter {
    detect_engine *engine;
    field_db *dbs;
    size_t db_count, db_cap;
    size_t *table;         /* open addressing: db index + 1, 0 empty */
    size_t table_size;
    field_db *keywords;
    hs_scratch_t *scratch;
    uint8_t *hits;
    uint8_t *trigger;      /* per pattern: its firing makes its rule a candidate */
    uint32_t *fired, fired_count;
    uint32_t *always;
    size_t always_count;
    uint32_t *candidates;
    size_t candidate_count;
    hae_buf values;        /* every value of the event, each followed by 0xff */
    size_t *value_start;   /* field k's value at values.data + value_start[k] */
    size_t value_cap;
    uint32_t *all;         /* every single-event rule: the reference path */
    size_t all_count;
    logsource_index logsources;
    event_class classes[MAX_CLASSES];
    size_t class_count;
    event_class unpruned;  /* every database, every always-rule */
    uint16_t event_ids[3]; /* the current event's logsource */
};

static unsigned char lower_ascii(unsigned char c) {
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* A hash of the name with bit 0x20 set in every byte: folds ASCII case
 * (field names compare case-insensitively) eight bytes at a time; the
 * other bytes it merges only share a hash, names_equal tells them apart.
 * Field names are looked up for every field of every event. */
static uint64_t hash_name(const char *s, size_t len) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    for (; len >= 8; s += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ (w | 0x2020202020202020ULL)) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, s, len);
        h = (h ^ (w | (0x2020202020202020ULL >> (64 - 8 * len)))) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

static bool names_equal(const char *lower, const char *name, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)lower[i] != lower_ascii((unsigned char)name[i])) return false;
    }
    return true;
}

static const field_db *find_db(const prefilter *p, const char *name) {
    if (!p->table_size) return NULL;
    size_t mask = p->table_size - 1, len = strlen(name);
    uint64_t h = hash_name(name, len);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        size_t slot = p->table[i];
        if (slot == 0) return NULL;
        const field_db *d = &p->dbs[slot - 1];
        if (d->hash == h && d->name_len == len && names_equal(d->name, name, len)) return d;
    }
}

static field_db *get_db(prefilter *p, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < p->db_count; i++) {
        if (p->dbs[i].name_len == len && names_equal(p->dbs[i].name, name, len)) return &p->dbs[i];
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
    for (char *c = d->name; *c; c++) *c = (char)lower_ascii((unsigned char)*c);
    d->name_len = len;
    d->hash = hash_name(d->name, len);
    p->db_count++;
    return d;
}

/* The glob as a Hyperscan expression over 0xff, value, 0xff, or NULL when
 * it must stay direct; *lit gets the framed literal when the glob is one
 * literal with stars around it or not (equals, startswith, endswith,
 * contains). */
static char *glob_to_regex(const pattern *pat, bool is_keyword, char **lit, size_t *lit_len) {
    size_t literals = 0, n = pat->token_count;
    *lit = NULL;
    for (size_t i = 0; i < n; i++) {
        const glob_token *t = &pat->tokens[i];
        if (t->kind == GLOB_ONE) return NULL; /* '?' counts UTF-8 characters */
        if (t->kind == GLOB_LIT && memchr(t->bytes, 0xff, t->len)) return NULL;
        if (t->kind != GLOB_STAR) literals++;
    }
    if (!literals) return NULL;
    hae_buf re = {0}, plain = {0};
    bool lead = pat->tokens[0].kind == GLOB_STAR, trail = pat->tokens[n - 1].kind == GLOB_STAR;
    bool is_literal = literals == 1 && pat->tokens[lead].kind == GLOB_LIT;
    int rc = lead ? HAE_OK : hae_buf_append_str(&re, "\\xff");
    if (rc == HAE_OK && !lead) rc = hae_buf_append_char(&plain, (char)0xff);
    for (size_t i = lead; i < n - trail && rc == HAE_OK; i++) {
        const glob_token *t = &pat->tokens[i];
        if (t->kind == GLOB_STAR) {
            /* a field's slice holds 0xff only at its ends: .* is as exact
             * there and compiles faster than the class */
            rc = hae_buf_append_str(&re, is_keyword ? "[^\\xff]*" : ".*");
        } else if (t->kind == GLOB_DASH) {
            rc = hae_buf_append_str(&re, "(?:-|/|\\xe2\\x80[\\x93-\\x95])");
        } else {
            rc = hae_buf_append(&plain, t->bytes, t->len);
            for (size_t k = 0; k < t->len && rc == HAE_OK; k++) {
                unsigned char c = (unsigned char)t->bytes[k];
                rc = isalnum(c) ? hae_buf_append_char(&re, (char)c) : hae_buf_printf(&re, "\\x%02x", c);
            }
        }
    }
    if (rc == HAE_OK && !trail) rc = hae_buf_append_str(&re, "\\xff");
    if (rc == HAE_OK && !trail) rc = hae_buf_append_char(&plain, (char)0xff);
    if (rc < 0) {
        hae_buf_free(&re);
        hae_buf_free(&plain);
        return NULL;
    }
    if (is_literal) {
        *lit = plain.data;
        *lit_len = plain.len;
    } else {
        hae_buf_free(&plain);
    }
    return re.data;
}

static int add_source(field_db *d, const uint16_t ids[3]) {
    for (size_t i = 0; i < d->source_count; i++) {
        if (memcmp(d->sources[i], ids, sizeof d->sources[i]) == 0) return HAE_OK;
    }
    uint16_t (*grown)[3] = realloc(d->sources, (d->source_count + 1) * sizeof *grown);
    if (!grown) return HAE_ENOMEM;
    d->sources = grown;
    for (int k = 0; k < 3; k++) d->sources[d->source_count][k] = ids[k];
    d->source_count++;
    return HAE_OK;
}

static int add_byte(field_db *d, unsigned char byte, unsigned id, bool caseless) {
    byte_pattern *grown = realloc(d->bytes, (d->byte_count + 1) * sizeof *grown);
    if (!grown) return HAE_ENOMEM;
    d->bytes = grown;
    unsigned char other = byte;
    if (caseless && byte >= 'a' && byte <= 'z') other = (unsigned char)(byte - ('a' - 'A'));
    if (caseless && byte >= 'A' && byte <= 'Z') other = (unsigned char)(byte + ('a' - 'A'));
    d->bytes[d->byte_count++] = (byte_pattern){.id = id, .byte = byte, .other_case = other};
    return HAE_OK;
}

static int db_add(field_db *d, const char *re, const char *lit, size_t lit_len, unsigned id,
                  unsigned flags, const rule *owner) {
    if (owner && add_source(d, owner->logsource) < 0) return HAE_ENOMEM;
    if (lit && lit_len == 1) { /* contains one byte: unframed */
        return add_byte(d, (unsigned char)lit[0], id, flags & HS_FLAG_CASELESS);
    }
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        entry *grown = realloc(d->entries, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        d->entries = grown;
        d->cap = cap;
    }
    entry *en = &d->entries[d->count];
    *en = (entry){.re = strdup(re), .lit_len = lit_len, .id = id, .flags = flags};
    if (lit) en->lit = malloc(lit_len);
    if (!en->re || (lit && !en->lit)) {
        free(en->re);
        free(en->lit);
        return HAE_ENOMEM;
    }
    if (lit) memcpy(en->lit, lit, lit_len);
    d->count++;
    return HAE_OK;
}

static int register_leaf(prefilter *p, const leaf *l) {
    for (size_t i = 0; i < l->pattern_count; i++) {
        pattern *pat = l->patterns[i];
        if (pat->kind != PAT_GLOB || pat->hs_id != -1) continue; /* direct, or done */
        char *lit = NULL;
        size_t lit_len = 0;
        char *re = glob_to_regex(pat, !l->field, &lit, &lit_len);
        if (!re) {
            pat->hs_id = -2; /* direct for good */
            continue;
        }
        /* One answer per pattern is all hits[] needs. */
        unsigned flags = HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL | (pat->cased ? 0 : HS_FLAG_CASELESS);
        int rc = HAE_OK;
        if (!l->field) {
            rc = db_add(&p->dbs[0], re, lit, lit_len, pat->global_id, flags, pat->owner);
        } else {
            for (size_t n = 0; n < l->name_count && rc == HAE_OK; n++) {
                field_db *d = get_db(p, l->names[n]);
                rc = d ? db_add(d, re, lit, lit_len, pat->global_id, flags, pat->owner) : HAE_ENOMEM;
            }
        }
        free(re);
        free(lit);
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

typedef enum { PART_ALL, PART_LITERALS, PART_EXPRESSIONS } db_part;

/* Compiles the entries of d in `part` into *out (PART_LITERALS through the
 * literal compiler); a pattern Hyperscan rejects goes back to direct
 * evaluation and the rest are compiled again. */
static int compile_part(prefilter *p, field_db *d, db_part part, hs_database_t **out,
                        hae_err *err) {
    bool literals = part == PART_LITERALS;
    size_t n = 0;
    const char **exprs = calloc(d->count + 1, sizeof *exprs);
    unsigned *ids = calloc(d->count + 1, sizeof *ids), *flags = calloc(d->count + 1, sizeof *flags);
    size_t *lens = calloc(d->count + 1, sizeof *lens);
    int rc = exprs && ids && flags && lens ? HAE_OK : HAE_ENOMEM;
    for (size_t k = 0; rc == HAE_OK && k < d->count; k++) {
        const entry *en = &d->entries[k];
        if ((part == PART_LITERALS && !en->lit) || (part == PART_EXPRESSIONS && en->lit)) continue;
        exprs[n] = literals ? en->lit : en->re;
        lens[n] = en->lit_len;
        ids[n] = en->id;
        flags[n++] = literals ? en->flags & ~(unsigned)HS_FLAG_DOTALL : en->flags; /* not for literals */
    }
    while (rc == HAE_OK && n) {
        hs_compile_error_t *cerr = NULL;
        hs_error_t hrc = literals
            ? hs_compile_lit_multi(exprs, flags, ids, lens, (unsigned)n, HS_MODE_BLOCK, NULL, out, &cerr)
            : hs_compile_multi(exprs, flags, ids, (unsigned)n, HS_MODE_BLOCK, NULL, out, &cerr);
        if (hrc == HS_SUCCESS) break;
        int bad = cerr ? cerr->expression : -1;
        hae_log(HAE_LOG_DEBUG, "detect: hyperscan rejected a pattern of '%s': %s", d->name,
                cerr ? cerr->message : "?");
        hs_free_compile_error(cerr);
        if (bad < 0 || (size_t)bad >= n) {
            rc = hae_err_set(err, HAE_ENOTSUP, "hyperscan cannot compile the '%s' database", d->name);
            break;
        }
        p->engine->patterns[ids[bad]]->hs_id = -1;
        n--;
        exprs[bad] = exprs[n];
        lens[bad] = lens[n];
        ids[bad] = ids[n];
        flags[bad] = flags[n];
    }
    if (rc == HAE_OK && *out && hs_alloc_scratch(*out, &p->scratch) != HS_SUCCESS) {
        rc = hae_err_set(err, HAE_ENOMEM, "hyperscan scratch for '%s'", d->name);
    }
    free(exprs);
    free(ids);
    free(flags);
    free(lens);
    return rc == HAE_ENOMEM ? hae_err_set(err, rc, "out of memory building the prefilter") : rc;
}

static int compile_db(prefilter *p, field_db *d, hae_err *err) {
    size_t literals = 0;
    for (size_t k = 0; k < d->count; k++) literals += d->entries[k].lit != NULL;
    if (literals < LITERAL_SPLIT) return compile_part(p, d, PART_ALL, &d->db, err);
    int rc = compile_part(p, d, PART_LITERALS, &d->lit_db, err);
    return rc < 0 ? rc : compile_part(p, d, PART_EXPRESSIONS, &d->db, err);
}

static void db_release_build(field_db *d) {
    for (size_t k = 0; k < d->count; k++) {
        free(d->entries[k].re);
        free(d->entries[k].lit);
    }
    free(d->entries);
    d->entries = NULL;
    d->count = d->cap = 0;
}

static int build_table(prefilter *p) {
    size_t size = 16;
    while (size < p->db_count * 2) size *= 2;
    p->table = calloc(size, sizeof *p->table);
    if (!p->table) return HAE_ENOMEM;
    p->table_size = size;
    for (size_t k = 0; k < p->db_count; k++) {
        const field_db *d = &p->dbs[k];
        if (d->name[0] == '\0' || (!d->db && !d->lit_db && !d->byte_count)) continue;
        size_t i = p->dbs[k].hash & (size - 1);
        while (p->table[i]) i = (i + 1) & (size - 1);
        p->table[i] = k + 1;
    }
    return HAE_OK;
}

static int finish(prefilter *p, hae_err *err) {
    detect_engine *e = p->engine;
    for (size_t i = 0; i < p->db_count; i++) {
        int rc = compile_db(p, &p->dbs[i], err);
        if (rc < 0) return rc;
    }
    for (size_t i = 0; i < e->pattern_count; i++) {
        if (e->patterns[i]->hs_id == -2) e->patterns[i]->hs_id = -1;
    }
    p->hits = calloc(e->pattern_count + 1, 1);
    p->trigger = calloc(e->pattern_count + 1, 1);
    p->fired = calloc(e->pattern_count + 1, sizeof *p->fired);
    p->always = calloc(e->rule_count + 1, sizeof *p->always);
    p->candidates = calloc(e->rule_count + 1, sizeof *p->candidates);
    p->all = calloc(e->rule_count + 1, sizeof *p->all);
    if (!p->hits || !p->trigger || !p->fired || !p->always || !p->candidates || !p->all || build_table(p) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory building the prefilter");
    }
    for (size_t i = 0; i < e->rule_count; i++) {
        rule *r = e->rules[i];
        r->is_always = !r->corr && match_can_fire_without_prefilter(r->condition);
        if (r->is_always) p->always[p->always_count++] = (uint32_t)i;
        /* a rule that cannot hold without a pattern waits for the rarest
         * set of them it needs (SigmaHQ's `'|all': [dd, if=, of=]`
         * keywords would otherwise make it a candidate in every event) */
        if (!r->corr && !r->is_always) (void)match_cover(r->condition, p->trigger, true);
        if (!r->corr) p->all[p->all_count++] = (uint32_t)i;
    }
    for (size_t i = 0; i < p->db_count; i++) db_release_build(&p->dbs[i]);
    p->unpruned.live = malloc(p->db_count + 1);
    if (!p->unpruned.live) return hae_err_set(err, HAE_ENOMEM, "out of memory building the prefilter");
    memset(p->unpruned.live, 1, p->db_count + 1);
    p->unpruned.always = p->always;
    p->unpruned.always_count = p->always_count;
    return HAE_OK;
}

int prefilter_build(detect_engine *e, prefilter **out, hae_err *err) {
    prefilter *p = calloc(1, sizeof *p);
    if (!p) return hae_err_set(err, HAE_ENOMEM, "out of memory building the prefilter");
    p->engine = e;
    int rc = logsource_index_build(&p->logsources, e);
    if (rc == HAE_OK && !get_db(p, "")) rc = HAE_ENOMEM; /* dbs[0]: keywords, in every field */
    for (size_t i = 0; rc == HAE_OK && i < e->rule_count; i++) {
        if (!e->rules[i]->corr) rc = register_expr(p, e->rules[i]->condition);
    }
    if (rc < 0) rc = hae_err_set(err, rc, "out of memory building the prefilter");
    if (rc == HAE_OK) rc = finish(p, err);
    if (rc < 0) {
        prefilter_free(p);
        return rc;
    }
    p->keywords = &p->dbs[0]; /* get_db may have moved the array while building */
    *out = p;
    return HAE_OK;
}

void prefilter_free(prefilter *p) {
    if (!p) return;
    for (size_t i = 0; i < p->db_count; i++) {
        field_db *d = &p->dbs[i];
        db_release_build(d);
        hs_free_database(d->db);
        hs_free_database(d->lit_db);
        free(d->sources);
        free(d->bytes);
        free(d->name);
    }
    hs_free_scratch(p->scratch);
    free(p->dbs);
    free(p->table);
    free(p->hits);
    free(p->trigger);
    free(p->fired);
    free(p->always);
    free(p->candidates);
    free(p->all);
    for (size_t i = 0; i < p->class_count; i++) {
        free(p->classes[i].live);
        free(p->classes[i].always);
    }
    free(p->unpruned.live);
    logsource_index_free(&p->logsources);
    free(p->value_start);
    hae_buf_free(&p->values);
    free(p);
}

typedef struct scan_ctx {
    prefilter *p;
    uint32_t epoch;
} scan_ctx;

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx) {
    (void)from;
    (void)to;
    (void)flags;
    scan_ctx *s = ctx;
    prefilter *p = s->p;
    if (p->hits[id]) return 0;
    p->hits[id] = 1;
    p->fired[p->fired_count++] = id;
    const rule *r = p->engine->patterns[id]->owner;
    if (r && p->trigger[id] && p->engine->seen[r->index] != s->epoch) {
        p->engine->seen[r->index] = s->epoch;
        if (logsource_compatible(r->logsource, p->event_ids)) {
            p->candidates[p->candidate_count++] = r->index;
        }
    }
    return 0;
}

static bool sources_fit(const field_db *d, const uint16_t ids[3]) {
    for (size_t i = 0; i < d->source_count; i++) {
        if (logsource_compatible(d->sources[i], ids)) return true;
    }
    return false;
}

/* The class of events with these logsource ids, built on first use. */
static const event_class *event_class_for(prefilter *p, const uint16_t ids[3]) {
    for (size_t i = 0; i < p->class_count; i++) {
        if (memcmp(p->classes[i].ids, ids, sizeof p->classes[i].ids) == 0) return &p->classes[i];
    }
    if (p->class_count == MAX_CLASSES) return &p->unpruned;
    event_class *c = &p->classes[p->class_count];
    c->live = malloc(p->db_count + 1);
    c->always = malloc((p->always_count + 1) * sizeof *c->always);
    if (!c->live || !c->always) { /* correct without pruning, only slower */
        free(c->live);
        free(c->always);
        memset(c, 0, sizeof *c);
        return &p->unpruned;
    }
    memcpy(c->ids, ids, sizeof c->ids);
    for (size_t i = 0; i < p->db_count; i++) c->live[i] = sources_fit(&p->dbs[i], ids);
    c->always_count = 0;
    for (size_t i = 0; i < p->always_count; i++) {
        const rule *r = p->engine->rules[p->always[i]];
        if (logsource_compatible(r->logsource, ids)) c->always[c->always_count++] = p->always[i];
    }
    p->class_count++;
    return c;
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
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

static int scan(const hs_database_t *db, const char *data, size_t len, prefilter *p,
                scan_ctx *s) {
    if (len > UINT32_MAX) return HAE_OK; /* Hyperscan's limit; such a value stays unscanned */
    return hs_scan(db, data, (unsigned)len, 0, p->scratch, on_match, s) == HS_SUCCESS ? HAE_OK
                                                                                      : HAE_EIO;
}

/* Lays every value end to end between 0xff bytes (0xff v0 0xff v1 0xff);
 * *framed is false when a value holds 0xff itself (not UTF-8). */
static int join_values(prefilter *p, const hae_event *ev, bool *framed) {
    if (ev->field_count > p->value_cap) {
        size_t cap = ev->field_count * 2;
        size_t *grown = realloc(p->value_start, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        p->value_start = grown;
        p->value_cap = cap;
    }
    size_t total = 1;
    for (size_t i = 0; i < ev->field_count; i++) total += ev->fields[i].value_len + 1;
    hae_buf_reset(&p->values);
    if (hae_buf_reserve(&p->values, total + 1) < 0) return HAE_ENOMEM;
    char *out = p->values.data;
    *out++ = (char)0xff;
    for (size_t i = 0; i < ev->field_count; i++) {
        const hae_field *f = &ev->fields[i];
        if (f->type == HAE_VAL_NULL) continue;
        if (memchr(f->value, 0xff, f->value_len)) {
            *framed = false;
            return HAE_OK;
        }
        p->value_start[i] = (size_t)(out - p->values.data) - 1; /* the 0xff before it */
        memcpy(out, f->value, f->value_len);
        out += f->value_len;
        *out++ = (char)0xff;
    }
    p->values.len = (size_t)(out - p->values.data);
    *framed = true;
    return HAE_OK;
}

static void scan_bytes(const field_db *d, const char *data, size_t len, scan_ctx *s) {
    for (size_t i = 0; i < d->byte_count; i++) {
        const byte_pattern *b = &d->bytes[i];
        if (memchr(data, b->byte, len) || (b->other_case != b->byte && memchr(data, b->other_case, len))) {
            (void)on_match(b->id, 0, 0, 0, s);
        }
    }
}

static int scan_fields(prefilter *p, const event_class *c, const hae_event *ev, scan_ctx *s,
                       hae_err *err) {
    for (size_t i = 0; i < ev->field_count; i++) {
        const hae_field *f = &ev->fields[i];
        if (f->type == HAE_VAL_NULL) continue;
        const field_db *d = find_db(p, f->name);
        if (!d || !c->live[d - p->dbs]) continue;
        const char *framed = p->values.data + p->value_start[i];
        scan_bytes(d, framed + 1, f->value_len, s);
        if ((d->db && scan(d->db, framed, f->value_len + 2, p, s) < 0) ||
            (d->lit_db && scan(d->lit_db, framed, f->value_len + 2, p, s) < 0)) {
            return hae_err_set(err, HAE_EIO, "hyperscan scan failed on field %s", f->name);
        }
    }
    const field_db *k = p->keywords;
    if (c->live[0]) scan_bytes(k, p->values.data, p->values.len, s); /* 0xff is never the byte */
    if (c->live[0] && ((k->db && scan(k->db, p->values.data, p->values.len, p, s) < 0) ||
                       (k->lit_db && scan(k->lit_db, p->values.data, p->values.len, p, s) < 0))) {
        return hae_err_set(err, HAE_EIO, "hyperscan scan failed on keywords");
    }
    return HAE_OK;
}

int prefilter_scan(prefilter *p, const hae_event *ev, uint8_t **hits, uint32_t **candidates,
                   size_t *candidate_count, hae_err *err) {
    detect_engine *e = p->engine;
    for (uint32_t i = 0; i < p->fired_count; i++) p->hits[p->fired[i]] = 0;
    p->fired_count = 0;
    p->candidate_count = 0;
    bool framed;
    if (join_values(p, ev, &framed) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory scanning an event");
    }
    if (!framed) { /* the reference path: every rule, no hits */
        *hits = NULL;
        *candidates = p->all;
        *candidate_count = p->all_count;
        return HAE_OK;
    }
    if (++e->epoch == 0) {
        memset(e->seen, 0, (e->rule_count + 1) * sizeof *e->seen);
        e->epoch = 1;
    }
    scan_ctx s = {.p = p, .epoch = e->epoch};
    logsource_event_ids(&p->logsources, ev, p->event_ids);
    const event_class *c = event_class_for(p, p->event_ids);
    for (size_t i = 0; i < c->always_count; i++) {
        uint32_t index = c->always[i];
        e->seen[index] = s.epoch;
        if (c != &p->unpruned || logsource_compatible(e->rules[index]->logsource, p->event_ids)) {
            p->candidates[p->candidate_count++] = index;
        }
    }
    int rc = scan_fields(p, c, ev, &s, err);
    if (rc < 0) return rc;
    /* evaluate in load order, as the direct path does */
    sort_candidates(p->candidates, p->candidate_count);
    *hits = p->hits;
    *candidates = p->candidates;
    *candidate_count = p->candidate_count;
    return HAE_OK;
}
