/* Evaluating compiled rules against one event: the reference semantics.
 * The prefilter (prefilter.c) only answers the same questions faster: a
 * pattern it owns is true exactly when hits[] says so.
 *
 * Field names compare case-insensitively; a field may repeat (JSON arrays)
 * and a condition holds when any of its values matches. A JSON null value
 * counts as absent for everything but `null` (Sigma "Special Field Values"). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "detect/detect_int.h"

/* Lower-cased copies are made on first use: most events are answered by
 * the prefilter alone, and folding every value of every event cost more
 * than the scans (bench/detect-throughput). The scratch buffer is reserved
 * for all values up front, so a pointer handed out stays valid while
 * another field is folded. */
int match_prepare(detect_engine *e, const hae_event *ev) {
    if (ev->field_count > e->lower_cap) {
        size_t cap = ev->field_count * 2;
        size_t *grown = realloc(e->lower_off, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        e->lower_off = grown;
        e->lower_cap = cap;
    }
    size_t total = 0;
    for (size_t i = 0; i < ev->field_count; i++) {
        total += ev->fields[i].value_len + 1;
        e->lower_off[i] = SIZE_MAX;
    }
    hae_buf_reset(&e->scratch);
    if (hae_buf_reserve(&e->scratch, total + 1) < 0) return HAE_ENOMEM;
    e->lower_event = ev;
    return HAE_OK;
}

const char *match_lower(detect_engine *e, size_t field_index) {
    if (e->lower_off[field_index] == SIZE_MAX) {
        const hae_field *f = &e->lower_event->fields[field_index];
        char *dst = e->scratch.data + e->scratch.len; /* reserved by match_prepare */
        for (size_t k = 0; k < f->value_len; k++) {
            unsigned char c = (unsigned char)f->value[k];
            dst[k] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); /* ASCII, as Sigma */
        }
        dst[f->value_len] = '\0';
        e->lower_off[field_index] = e->scratch.len;
        e->scratch.len += f->value_len + 1;
    }
    return e->scratch.data + e->lower_off[field_index];
}

bool match_logsource(const rule *r, const hae_event *ev) {
    /* An attribute the event does not declare does not rule a rule out:
     * foreign logs (EVTX exports, plain JSON) carry no logsource. */
    if (r->product && ev->product && strcasecmp(r->product, ev->product) != 0) return false;
    if (r->category && ev->category && strcasecmp(r->category, ev->category) != 0) return false;
    if (r->service && ev->service && strcasecmp(r->service, ev->service) != 0) return false;
    return true;
}

static bool name_matches(const leaf *l, const char *name) {
    if (!l->field) return true; /* keywords search every field */
    for (size_t i = 0; i < l->name_count; i++) {
        if (strcasecmp(l->names[i], name) == 0) return true;
    }
    return false;
}

static bool fieldref_match(detect_engine *e, const pattern *p, const hae_event *ev, size_t fi) {
    const hae_field *f = &ev->fields[fi];
    for (size_t j = 0; j < ev->field_count; j++) {
        const hae_field *r = &ev->fields[j];
        if (r->type == HAE_VAL_NULL || strcasecmp(r->name, p->ref_field) != 0) continue;
        const char *a = p->cased ? f->value : match_lower(e, fi);
        const char *b = p->cased ? r->value : match_lower(e, j);
        size_t la = f->value_len, lb = r->value_len;
        bool hit = false;
        switch (p->ref_mode) {
        case REF_EQUALS: hit = la == lb && memcmp(a, b, la) == 0; break;
        case REF_CONTAINS: hit = memmem(a, la, b, lb) != NULL; break;
        case REF_STARTSWITH: hit = la >= lb && memcmp(a, b, lb) == 0; break;
        case REF_ENDSWITH: hit = la >= lb && memcmp(a + la - lb, b, lb) == 0; break;
        }
        if (hit) return true;
    }
    return false;
}

static bool value_match(detect_engine *e, const pattern *p, const hae_event *ev, size_t fi) {
    const hae_field *f = &ev->fields[fi];
    double v;
    switch (p->kind) {
    case PAT_GLOB:
        return pattern_glob_match(p, p->cased ? f->value : match_lower(e, fi), f->value_len);
    case PAT_RE:
        return pcre2_match(p->re, (PCRE2_SPTR)f->value, f->value_len, 0, 0, e->re_match, NULL) >= 0;
    case PAT_CIDR:
        return pattern_cidr_match(p, f->value, f->value_len);
    case PAT_NUMBER:
        if (p->time != TIME_NONE) {
            if (!pattern_time_part(f->value, f->value_len, p->time, p->owner->tz, &v)) return false;
        } else if (!pattern_number_parse(f->value, f->value_len, &v)) {
            return false;
        }
        return pattern_number_compare(p->op, v, p->number);
    case PAT_FIELDREF:
        return fieldref_match(e, p, ev, fi);
    case PAT_EXISTS:
    case PAT_NULL:
        break;
    }
    return false;
}

static bool field_present(const leaf *l, const hae_event *ev, bool count_null) {
    for (size_t i = 0; i < ev->field_count; i++) {
        if ((count_null || ev->fields[i].type != HAE_VAL_NULL) &&
            name_matches(l, ev->fields[i].name)) {
            return true;
        }
    }
    return false;
}

static bool pattern_hit(detect_engine *e, const leaf *l, const pattern *p, const hae_event *ev,
                        const uint8_t *hits) {
    if (hits && p->hs_id >= 0) return hits[p->global_id] != 0;
    if (p->kind == PAT_EXISTS) return field_present(l, ev, true) == p->exists;
    if (p->kind == PAT_NULL) return !field_present(l, ev, false);
    for (size_t i = 0; i < ev->field_count; i++) {
        if (ev->fields[i].type == HAE_VAL_NULL || !name_matches(l, ev->fields[i].name)) continue;
        if (value_match(e, p, ev, i)) return true;
    }
    return false;
}

static bool leaf_match(detect_engine *e, const leaf *l, const hae_event *ev, const uint8_t *hits) {
    bool result;
    if (l->all) {
        /* every value (group of alternatives) must match */
        result = true;
        for (size_t i = 0; i < l->pattern_count && result;) {
            uint32_t group = l->patterns[i]->group;
            bool group_hit = false;
            for (; i < l->pattern_count && l->patterns[i]->group == group; i++) {
                if (!group_hit && pattern_hit(e, l, l->patterns[i], ev, hits)) group_hit = true;
            }
            result = group_hit;
        }
    } else {
        result = false;
        for (size_t i = 0; i < l->pattern_count && !result; i++) {
            result = pattern_hit(e, l, l->patterns[i], ev, hits);
        }
    }
    /* neq: the field is there and differs from every value given */
    if (l->negate) return !result && field_present(l, ev, false);
    return result;
}

bool match_expr(detect_engine *e, const expr *x, const hae_event *ev, const uint8_t *hits) {
    switch (x->kind) {
    case EXPR_TRUE: return true;
    case EXPR_FALSE: return false;
    case EXPR_LEAF: return leaf_match(e, x->leaf, ev, hits);
    case EXPR_NOT: return !match_expr(e, x->kids[0], ev, hits);
    case EXPR_AND:
        for (size_t i = 0; i < x->kid_count; i++) {
            if (!match_expr(e, x->kids[i], ev, hits)) return false;
        }
        return true;
    case EXPR_OR:
        for (size_t i = 0; i < x->kid_count; i++) {
            if (match_expr(e, x->kids[i], ev, hits)) return true;
        }
        return false;
    case EXPR_ATLEAST: {
        size_t count = 0;
        for (size_t i = 0; i < x->kid_count && count < x->need; i++) {
            if (match_expr(e, x->kids[i], ev, hits)) count++;
        }
        return count >= x->need;
    }
    }
    return false;
}

/* Whether x could hold when no prefilter pattern fired: then the rule must
 * be evaluated for every event. Conservative (NOT is assumed to fire). */
bool match_can_fire_without_prefilter(const expr *x) {
    switch (x->kind) {
    case EXPR_TRUE: return true;
    case EXPR_FALSE: return false;
    case EXPR_NOT: return true;
    case EXPR_LEAF: {
        const leaf *l = x->leaf;
        if (l->negate) return true;
        for (size_t i = 0; i < l->pattern_count; i++) {
            if (l->patterns[i]->hs_id < 0) return true;
        }
        return false;
    }
    case EXPR_AND:
        for (size_t i = 0; i < x->kid_count; i++) {
            if (!match_can_fire_without_prefilter(x->kids[i])) return false;
        }
        return true;
    case EXPR_OR:
    case EXPR_ATLEAST: {
        size_t count = 0, need = x->kind == EXPR_OR ? 1 : x->need;
        for (size_t i = 0; i < x->kid_count; i++) {
            if (match_can_fire_without_prefilter(x->kids[i])) count++;
        }
        return count >= need;
    }
    }
    return true;
}

/* ---- triggers: which prefilter patterns make a rule a candidate ------ */

/* How rarely p should fire: its longest literal run (one byte fires in
 * every event, a path fragment seldom). */
static size_t pattern_rarity(const pattern *p) {
    size_t best = 0;
    for (size_t i = 0; i < p->token_count; i++) {
        if (p->tokens[i].kind == GLOB_LIT && p->tokens[i].len > best) best = p->tokens[i].len;
    }
    return best;
}

/* The group of an `all` leaf whose patterns fire most rarely: the leaf
 * needs every group, so that one alone can stand for it. */
static uint32_t rarest_group(const leaf *l, size_t *rarity) {
    uint32_t best_group = l->patterns[0]->group;
    size_t best = 0;
    for (size_t i = 0; i < l->pattern_count;) {
        uint32_t group = l->patterns[i]->group;
        size_t r = SIZE_MAX;
        for (; i < l->pattern_count && l->patterns[i]->group == group; i++) {
            size_t pr = pattern_rarity(l->patterns[i]);
            if (pr < r) r = pr;
        }
        if (r > best) {
            best = r;
            best_group = group;
        }
    }
    *rarity = best;
    return best_group;
}

/* Marks patterns of x in trigger[] (by global id) so that whenever x holds,
 * one of them fired: x must not be able to hold without a prefilter
 * pattern (match_can_fire_without_prefilter false). Returns how rarely
 * the marked set fires (the rarity of its most frequent pattern); with
 * mark false only measures. An AND needs one kid covered, an `all` leaf
 * one group; N of M needs every kid that cannot fire alone (fewer than N
 * can, so a holding kid is among them). Marking more is always safe. */
size_t match_cover(const expr *x, uint8_t *trigger, bool mark) {
    switch (x->kind) {
    case EXPR_LEAF: {
        const leaf *l = x->leaf;
        size_t rarity = SIZE_MAX;
        if (l->all) {
            uint32_t group = rarest_group(l, &rarity);
            for (size_t i = 0; mark && i < l->pattern_count; i++) {
                if (l->patterns[i]->group == group) trigger[l->patterns[i]->global_id] = 1;
            }
            return rarity;
        }
        for (size_t i = 0; i < l->pattern_count; i++) {
            size_t r = pattern_rarity(l->patterns[i]);
            if (r < rarity) rarity = r;
            if (mark) trigger[l->patterns[i]->global_id] = 1;
        }
        return rarity;
    }
    case EXPR_AND: {
        const expr *best = NULL;
        size_t best_rarity = 0;
        for (size_t i = 0; i < x->kid_count; i++) {
            if (match_can_fire_without_prefilter(x->kids[i])) continue;
            size_t r = match_cover(x->kids[i], trigger, false);
            if (!best || r > best_rarity) {
                best = x->kids[i];
                best_rarity = r;
            }
        }
        if (best && mark) match_cover(best, trigger, true);
        return best ? best_rarity : SIZE_MAX;
    }
    case EXPR_OR:
    case EXPR_ATLEAST: {
        size_t rarity = SIZE_MAX;
        for (size_t i = 0; i < x->kid_count; i++) {
            if (match_can_fire_without_prefilter(x->kids[i])) continue;
            size_t r = match_cover(x->kids[i], trigger, mark);
            if (r < rarity) rarity = r;
        }
        return rarity;
    }
    case EXPR_FALSE: return SIZE_MAX; /* never holds: nothing to cover */
    case EXPR_TRUE:
    case EXPR_NOT: break;             /* can fire alone: not called */
    }
    return 0;
}
