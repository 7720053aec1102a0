/* One window through Hyperscan: each candidate gets its exact boundaries,
 * its validation, its record and column, and its labels; overlapping
 * candidates in a record keep the most confident reading (a 15-digit Luhn
 * number is an IMEI or a card, not both). A finished record becomes
 * findings, counts and one entry of the person batch. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "scope/scope_int.h"

int scope_doc_init(scope_doc *d, const char *name, scope_format forced, const char *sample,
                   size_t len) {
    memset(d, 0, sizeof *d);
    d->name = name;
    d->format = scope_format_sniff(name, sample, len, &d->sep);
    if (forced != SCOPE_FMT_AUTO) d->format = forced;
    if (d->format == SCOPE_FMT_CSV) {
        /* a first row without a run of 6 digits is a header */
        const char *nl = memchr(sample, '\n', len);
        size_t first = nl ? (size_t)(nl - sample) : len;
        size_t run = 0;
        bool has_number = false;
        for (size_t i = 0; i < first; i++) {
            run = isdigit((unsigned char)sample[i]) ? run + 1 : 0;
            has_number = has_number || run >= 6;
        }
        if (!has_number) {
            int rc = scope_columns_parse_csv(&d->header, sample, first, d->sep);
            if (rc < 0) return rc;
        }
    }
    scope_locator_init(&d->loc, d->format, d->sep, d->header.count ? &d->header : NULL, &d->tables);
    return HAE_OK;
}

void scope_doc_free(scope_doc *d) {
    scope_locator_free(&d->loc);
    scope_columns_free(&d->header);
    scope_tables_free(&d->tables);
}

void scope_worker_discard(scope_worker *w) {
    w->cand_count = 0;
    w->has_record = false;
}

void scope_worker_free(scope_worker *w) {
    free(w->cands);
    free(w->regions);
    hae_buf_free(&w->findings_out);
    hae_buf_free(&w->batch.entries);
    if (w->scratch) hs_free_scratch(w->scratch);
    memset(w, 0, sizeof *w);
}

static int emit_record(scope_worker *w) {
    const scope_options *opt = &w->scanner->opt;
    bool has_person = false, has_any = false;
    for (size_t i = 0; i < w->cand_count; i++) {
        const scope_cand *c = &w->cands[i];
        if (c->is_dropped) continue;
        has_any = true;
        scope_finding f = {
            .file = w->doc->name, .offset = w->base + c->start, .record_offset = w->base + w->record,
            .format = w->doc->format, .column = c->column, .column_len = c->column_len,
            .kind = c->kind, .confidence = c->confidence, .text = w->buf + c->start,
            .text_len = c->end - c->start, .norm = c->norm, .norm_len = c->norm_len,
        };
        w->counts[c->kind][scope_level_of(c->confidence)]++;
        w->findings++;
        if (w->fn && w->fn(w->fn_ctx, &f) < 0) return HAE_EINVAL;
        if (opt->findings) {
            int rc = scope_finding_format(&w->findings_out, &f, opt->out_format, opt->reveal);
            if (rc < 0) return rc;
        }
        if (c->confidence >= opt->person_confidence) {
            int rc = scope_batch_add(&w->batch, c->kind, c->norm, c->norm_len);
            if (rc < 0) return rc;
            has_person = true;
        }
    }
    if (has_any) w->records++;
    w->cand_count = 0;
    w->has_record = false;
    return has_person ? scope_batch_end_record(&w->batch) : HAE_OK;
}

/* x wins over y: more confident, then longer, then the earlier kind. */
static bool beats(const scope_cand *x, const scope_cand *y) {
    if (x->confidence != y->confidence) return x->confidence > y->confidence;
    size_t xl = x->end - x->start, yl = y->end - y->start;
    if (xl != yl) return xl > yl;
    return x->kind <= y->kind;
}

static int add_cand(scope_worker *w, const scope_cand *c) {
    for (size_t i = 0; i < w->cand_count; i++) {
        const scope_cand *x = &w->cands[i];
        if (!x->is_dropped && x->start < c->end && c->start < x->end && beats(x, c)) return HAE_OK;
    }
    for (size_t i = 0; i < w->cand_count; i++) {
        scope_cand *x = &w->cands[i];
        if (x->start < c->end && c->start < x->end) x->is_dropped = true;
    }
    if (w->cand_count == w->cand_cap) {
        size_t cap = w->cand_cap ? w->cand_cap * 2 : 16;
        scope_cand *grown = realloc(w->cands, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        w->cands = grown;
        w->cand_cap = cap;
    }
    w->cands[w->cand_count++] = *c;
    return HAE_OK;
}

static bool is_domain_char(char c) { return isalnum((unsigned char)c) || c == '.' || c == '-'; }

static bool is_local_char(char c) {
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* The trigger ends somewhere in the domain: walk back to '@', then out to
 * both ends of the address. Each '@' is reported once. */
static bool email_span(scope_worker *w, size_t end, size_t *s, size_t *e) {
    const char *b = w->buf;
    size_t at = end;
    while (at > 0 && end - at < 256 && b[at - 1] != '@' && is_domain_char(b[at - 1])) at--;
    if (at == 0 || b[at - 1] != '@') return false;
    at--;
    if (w->has_email && w->last_email_at == at) return false;
    w->has_email = true;
    w->last_email_at = at;
    size_t start = at;
    while (start > 0 && at - start < 64 && is_local_char(b[start - 1])) start--;
    size_t stop = at + 1;
    while (stop < w->len && stop - at < 254 && is_domain_char(b[stop])) stop++;
    while (stop > at + 1 && (b[stop - 1] == '.' || b[stop - 1] == '-')) stop--;
    *s = start;
    *e = stop;
    return start < at;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Explicit boundaries: no candidate inside a longer run of digits, counting
 * "12-" or "-34" glued on with a hyphen as part of the run. */
static bool left_bounded(const char *b, size_t s) {
    if (s > 0 && is_digit(b[s - 1])) return false;
    return !(s > 1 && b[s - 1] == '-' && is_digit(b[s - 2]));
}

static bool right_bounded(const char *b, size_t len, size_t e) {
    if (e < len && is_digit(b[e])) return false;
    return !(e + 1 < len && b[e] == '-' && is_digit(b[e + 1]));
}

/* What a numeric candidate can be made of, walking back from its end. */
static bool is_number_char(char c) {
    return is_digit(c) || c == '-' || c == ' ' || c == '.' || c == '(' || c == ')' || c == '+';
}

static int on_create_table(scope_worker *w, size_t to) {
    if (w->doc->format != SCOPE_FMT_SQL || to < 12) return 0;
    size_t start = to - 12;
    size_t len = w->len - start < 65536 ? w->len - start : 65536;
    /* learning may move the tables the locator's walk points into: the next
     * candidate starts a fresh walk, which finds its table again */
    w->doc->loc.walk_active = false;
    return scope_tables_learn(&w->doc->tables, w->buf + start, len) < 0 ? 1 : 0;
}

/* A validated candidate: its record, column, labels and confidence. */
static int consider(scope_worker *w, const scope_verdict *v, size_t s, size_t e) {
    const char *b = w->buf;
    scope_place place;
    scope_locate(&w->doc->loc, b, w->len, s, &place);
    uint32_t labels = place.column_labels;
    if (!labels && !(w->doc->format == SCOPE_FMT_CSV && w->doc->header.count)) {
        size_t line = w->doc->loc.line_start;
        size_t lb = s - line > SCOPE_LABEL_LOOKBACK ? s - SCOPE_LABEL_LOOKBACK : line;
        labels = scope_label_kinds(b + lb, s - lb);
    }
    float conf = scope_label_adjust(v->kind, v->confidence, labels);
    if (conf < w->scanner->opt.min_confidence) return HAE_OK;
    if (w->has_record && place.record != w->record) {
        int rc = emit_record(w);
        if (rc < 0) return rc;
    }
    w->has_record = true;
    w->record = (size_t)place.record;
    scope_cand c = {.start = s, .end = e, .kind = v->kind, .confidence = conf,
                    .column = place.column, .column_len = place.column_len, .norm_len = v->norm_len};
    memcpy(c.norm, v->norm, v->norm_len + 1);
    return add_cand(w, &c);
}

/* How many digits each kind has (a +82 phone has one more than national). */
static const unsigned char kind_digits[SCOPE_KIND_COUNT][2] = {
    [SCOPE_RRN] = {13, 13},   [SCOPE_FRN] = {13, 13},   [SCOPE_CARD] = {13, 19},
    [SCOPE_IMEI] = {15, 15},  [SCOPE_IMEISV] = {16, 16}, [SCOPE_IMSI] = {15, 15},
    [SCOPE_ICCID] = {19, 20}, [SCOPE_PHONE] = {9, 13},  [SCOPE_EMAIL] = {0, 255},
    [SCOPE_PASSPORT] = {0, 255}, [SCOPE_BANK_ACCOUNT] = {10, 14},
};

/* A numeric match ends at e. Its start is one of the bounded positions a
 * short walk back finds; each kind the pattern stands for takes the
 * leftmost start that validates. */
static int on_number(scope_worker *w, uint32_t kinds, size_t e) {
    const char *b = w->buf;
    if (!right_bounded(b, w->len, e)) return HAE_OK;
    /* One walk back over the candidate's alphabet collects the bounded
     * starts and the digits from each to the end; no kind has more than 20
     * digits, so the walk stops there. */
    size_t floor = e > 26 ? e - 26 : 0;
    size_t starts[32];
    unsigned char digits_from[32];
    unsigned count = 0, n = 0;
    for (size_t q = e; q > floor && is_number_char(b[q - 1]) && n <= 20;) {
        q--;
        n += is_digit(b[q]) ? 1 : 0;
        if (q + 1 < e && (is_digit(b[q]) || b[q] == '+') && left_bounded(b, q)) {
            starts[count] = q;
            digits_from[count++] = (unsigned char)n;
        }
    }
    for (unsigned k = 0; k < SCOPE_KIND_COUNT && count; k++) {
        if (!(kinds & (1u << k))) continue;
        for (unsigned i = count; i-- > 0;) { /* leftmost start first */
            size_t q = starts[i];
            unsigned digits = digits_from[i];
            if (digits < kind_digits[k][0] || digits > kind_digits[k][1]) continue;
            scope_verdict v;
            scope_validate((scope_kind)k, b + q, e - q, &v);
            if (!v.is_valid) continue;
            if (q >= w->accept_from && q < w->accept_to) {
                int rc = consider(w, &v, q, e);
                if (rc < 0) return rc;
            }
            break;
        }
    }
    return HAE_OK;
}

/* Runs the numeric matches gathered for one end offset. */
static int flush_number(scope_worker *w) {
    uint32_t kinds = w->number_kinds;
    w->number_kinds = 0;
    return kinds ? on_number(w, kinds, w->number_end) : HAE_OK;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx) {
    (void)flags;
    (void)from; /* no start of match is tracked: see patterns.c */
    scope_worker *w = ctx;
    const char *b = w->buf;
    size_t e = w->region_base + (size_t)to, s;
    const scope_pattern *p = id == SCOPE_PATTERN_CREATE_TABLE ? NULL : &scope_patterns[id];
    bool is_number = p && (p->bound == SCOPE_BOUND_DIGIT || p->bound == SCOPE_BOUND_DIGIT_PAST);
    if (is_number && p->bound == SCOPE_BOUND_DIGIT_PAST && e > 0 && !is_digit(b[e - 1])) e--;
    /* Several patterns (and a digit run's trailing boundary one byte later)
     * report the same candidate end: one walk back serves them all. Matches
     * arrive in order of end, so a different end means the pending one is
     * complete; candidates still reach consider() in offset order. */
    if (is_number && w->number_kinds && w->number_end == e) {
        w->number_kinds |= p->kinds;
        return 0;
    }
    w->error = flush_number(w);
    if (w->error < 0) return 1;
    if (is_number) {
        w->number_end = e;
        w->number_kinds = p->kinds;
        return 0;
    }
    if (!p) return on_create_table(w, e);
    scope_kind kind = p->bound == SCOPE_BOUND_EMAIL ? SCOPE_EMAIL : SCOPE_PASSPORT;
    if (p->bound == SCOPE_BOUND_EMAIL) {
        if (!email_span(w, e, &s, &e)) return 0;
    } else {
        s = e - 9; /* passports are 9 characters */
        if ((s > 0 && isalnum((unsigned char)b[s - 1])) || (e < w->len && isalnum((unsigned char)b[e])))
            return 0;
    }
    if (s < w->accept_from || s >= w->accept_to) return 0;
    scope_verdict v;
    scope_validate(kind, b + s, e - s, &v);
    if (!v.is_valid) return 0;
    w->error = consider(w, &v, s, e);
    return w->error < 0 ? 1 : 0;
}

int scope_scan_window(scope_worker *w, scope_doc *d, const char *buf, size_t len, uint64_t base,
                      size_t accept_from, size_t accept_to) {
    if (len == 0) return HAE_OK;
    w->doc = d;
    w->buf = buf;
    w->len = len;
    w->base = base;
    w->accept_from = accept_from;
    w->accept_to = accept_to;
    w->has_email = false;
    w->number_kinds = 0;
    w->error = HAE_OK;
    scope_locator_reset(&d->loc);
    scope_worker_discard(w);
    /* Windows are at most WINDOW + LINE_REACH bytes (engine.c), well within
     * Hyperscan's unsigned int lengths. */
    int out = HAE_OK;
    if (w->scanner->is_exhaustive) {
        w->region_count = 1;
        if (!w->regions && !(w->regions = malloc(sizeof *w->regions))) return HAE_ENOMEM;
        w->region_cap = w->region_cap ? w->region_cap : 1;
        w->regions[0] = (scope_range){0, len};
    } else {
        out = scope_prefilter(w, buf, len);
        if (out < 0) return out;
    }
    for (size_t i = 0; i < w->region_count; i++) {
        const scope_range *r = &w->regions[i];
        w->region_base = r->start;
        hs_error_t rc = hs_scan(w->scanner->db, buf + r->start, (unsigned)(r->end - r->start), 0,
                                w->scratch, on_match, w);
        if (rc == HS_SCAN_TERMINATED) return w->error < 0 ? w->error : HAE_EINVAL;
        if (rc != HS_SUCCESS) return HAE_EIO;
    }
    out = flush_number(w);
    if (out < 0) return out;
    return w->has_record ? emit_record(w) : HAE_OK;
}
