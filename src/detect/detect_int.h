/* detect's private structures: the compiled form of a Sigma rule shared by
 * the loader, the condition parser, the matcher, the prefilter and the
 * correlation engine. Everything here lives in the engine's arena except
 * PCRE2 codes and Hyperscan databases, which the engine frees. */
#ifndef HAETAE_DETECT_INT_H
#define HAETAE_DETECT_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "detect/detect.h"
#include "yaml/yaml.h"

/* ---- patterns: one value of a field condition ------------------------ */

typedef enum {
    PAT_GLOB,     /* literal with * ? and windash classes; the common case */
    PAT_RE,       /* PCRE2 */
    PAT_CIDR,     /* IPv4 or IPv6 prefix */
    PAT_NUMBER,   /* lt/lte/gt/gte (and eq after a time part) */
    PAT_EXISTS,   /* field presence */
    PAT_NULL,     /* absent or JSON null */
    PAT_FIELDREF  /* compare with another field of the same event */
} pattern_kind;

/* Glob tokens: literal bytes, '*', '?' (one UTF-8 character), and the
 * windash class (- / en dash, em dash, horizontal bar). */
typedef enum { GLOB_LIT, GLOB_STAR, GLOB_ONE, GLOB_DASH } glob_token_kind;
typedef struct glob_token {
    glob_token_kind kind;
    const char *bytes;  /* GLOB_LIT: lower-cased unless cased */
    size_t len;
} glob_token;

typedef enum { NUM_LT, NUM_LTE, NUM_GT, NUM_GTE, NUM_EQ } number_op;
typedef enum { TIME_NONE, TIME_MINUTE, TIME_HOUR, TIME_DAY, TIME_WEEK, TIME_MONTH,
               TIME_YEAR } time_part;
typedef enum { REF_EQUALS, REF_CONTAINS, REF_STARTSWITH, REF_ENDSWITH } fieldref_mode;

typedef struct pattern {
    pattern_kind kind;
    bool cased;
    /* PAT_GLOB */
    glob_token *tokens;
    size_t token_count;
    /* PAT_RE */
    pcre2_code *re;
    /* PAT_CIDR */
    int family;          /* 4 or 6 */
    uint8_t addr[16];
    unsigned prefix;
    /* PAT_NUMBER */
    number_op op;
    double number;
    time_part time;      /* TIME_NONE: the field itself is the number */
    /* PAT_EXISTS */
    bool exists;
    /* PAT_FIELDREF */
    const char *ref_field;
    fieldref_mode ref_mode;
    /* prefilter: index into the Hyperscan database of the leaf's field, or -1 */
    int hs_id;
    uint32_t global_id;  /* index in engine->patterns */
    uint32_t group;      /* alternatives of one value (base64offset) share a group */
    struct rule *owner;  /* the rule it belongs to */
} pattern;

/* A field condition: `Field|mods: values`. keyword leaves (field == NULL)
 * search every field. A leaf matches when any (or with `all` every) pattern
 * matches some value of any of its (mapped) field names; negate is `neq`. */
typedef struct leaf {
    const char *field;        /* as written in the rule; NULL for keywords */
    const char **names;       /* event field names after mapping */
    size_t name_count;
    pattern **patterns;
    size_t pattern_count;
    bool all;
    bool negate;
} leaf;

/* EXPR_ATLEAST: `N of pattern` holds when at least need kids hold. */
typedef enum { EXPR_AND, EXPR_OR, EXPR_NOT, EXPR_LEAF, EXPR_TRUE, EXPR_FALSE, EXPR_ATLEAST }
    expr_kind;
typedef struct expr {
    expr_kind kind;
    struct expr **kids;
    size_t kid_count;
    size_t need;
    leaf *leaf;
} expr;

/* A named search identifier of `detection`. */
typedef struct search_ident {
    const char *name;
    expr *tree;
} search_ident;

typedef struct rule rule;


/* selection.c: a detection map into search identifiers and the condition. */
int selection_build(detect_engine *e, rule *r, const ynode *detection, bool *unsupported,
                    hae_err *err);

/* ---- correlations (Sigma correlation rules specification) ------------ */

typedef enum { CORR_EVENT_COUNT, CORR_VALUE_COUNT, CORR_TEMPORAL, CORR_TEMPORAL_ORDERED }
    corr_type;

typedef struct corr_alias {       /* aliases: name -> {rule ref -> field} */
    const char *name;
    const char **rule_refs;
    const char **fields;
    size_t count;
} corr_alias;

typedef struct corr_def {
    corr_type type;
    const char **rule_refs;       /* as written */
    rule **rules;                 /* resolved by detect_engine_compile */
    size_t rule_count;
    const char **group_by;
    size_t group_by_count;
    corr_alias *aliases;
    size_t alias_count;
    int64_t timespan_ns;
    number_op op;                 /* condition */
    double threshold;
    bool has_condition;
    const char *value_field;      /* value_count: condition.field */
    bool generate;                /* referenced rules also report their own matches */
} corr_def;

struct rule {
    detect_rule_info info;
    const char *product, *category, *service; /* logsource, lower-case; NULL = any */
    expr *condition;
    corr_def *corr;               /* correlation rule */
    uint32_t index;
    uint32_t *corr_users;         /* correlations that take this rule's matches */
    size_t corr_user_count;
    bool is_always;               /* prefilter cannot rule it out */
    uint16_t logsource[3];        /* product, category, service ids (logsource.c) */
    const hae_tz *tz;             /* `timezone:` for time modifiers; NULL: UTC */
};

/* ---- the engine ------------------------------------------------------ */

typedef struct field_map {
    const char *from;
    const char **to;
    size_t count;
} field_map;

typedef struct prefilter prefilter;
typedef struct correlator correlator;

struct detect_engine {
    detect_options options;
    hae_arena arena;
    rule **rules;
    size_t rule_count, rule_cap;
    pattern **patterns;
    size_t pattern_count, pattern_cap;
    field_map *maps;
    size_t map_count, map_cap;
    prefilter *prefilter;
    correlator *correlator;
    pcre2_match_data *re_match;
    hae_buf scratch;              /* lower-cased values of the current event */
    size_t *lower_off;            /* field i's lower-cased value at scratch.data + off;
                                     SIZE_MAX until match_lower folds it */
    const hae_event *lower_event; /* the event match_prepare was given */
    size_t lower_cap;
    uint32_t *seen;               /* per rule: epoch it was last a candidate */
    uint32_t epoch;
    detect_stats stats;
    bool compiled;
    hae_tz **zones;               /* loaded once per name, shared by rules */
    size_t zone_count;
};

/* pattern.c */
enum {
    GLOB_F_WILDCARDS = 1, /* interpret * ? and backslash escapes */
    GLOB_F_WINDASH = 2,   /* - / and the three dashes match each other */
    GLOB_F_CASED = 4,     /* case-sensitive (default folds ASCII case) */
    GLOB_F_LEAD = 8,      /* a star before (contains, endswith) */
    GLOB_F_TRAIL = 16     /* a star after (contains, startswith) */
};
int pattern_glob_from_sigma(hae_arena *arena, pattern *p, const char *value, size_t len,
                            unsigned flags);
int pattern_encode_base64(hae_arena *arena, const char *in, size_t len, char **out,
                          size_t *out_len);
int pattern_base64offset(hae_arena *arena, const char *in, size_t len, char *out[3],
                         size_t out_len[3]);
int pattern_utf16(hae_arena *arena, const char *in, size_t len, int kind, char **out,
                  size_t *out_len, hae_err *err);
int pattern_cidr_parse(pattern *p, const char *text, hae_err *err);
bool pattern_glob_match(const pattern *p, const char *subject, size_t len);
bool pattern_cidr_match(const pattern *p, const char *value, size_t len);
bool pattern_number_parse(const char *s, size_t len, double *out);
/* The part of a time value in tz (NULL: UTC). */
bool pattern_time_part(const char *s, size_t len, time_part part, const hae_tz *tz, double *out);
bool pattern_number_compare(number_op op, double value, double threshold);

/* condition.c: parses a condition string over the identifiers. */
int condition_parse(hae_arena *arena, const char *text, const search_ident *idents,
                    size_t ident_count, expr **out, hae_err *err);

/* match.c */
int match_prepare(detect_engine *e, const hae_event *ev); /* before match_lower */
const char *match_lower(detect_engine *e, size_t field_index); /* folded on first use */
bool match_expr(detect_engine *e, const expr *x, const hae_event *ev, const uint8_t *hits);
bool match_logsource(const rule *r, const hae_event *ev);
bool match_can_fire_without_prefilter(const expr *x);
size_t match_cover(const expr *x, uint8_t *trigger, bool mark);

/* logsource.c: product, category, service as ids. */
enum { LOGSOURCE_ANY = 0, LOGSOURCE_OTHER = 1, LOGSOURCE_FIRST = 2 };
typedef struct logsource_index {
    const char **values[3]; /* the distinct values rules name, per attribute */
    size_t *lens[3];
    size_t count[3];
} logsource_index;
int logsource_index_build(logsource_index *x, detect_engine *e); /* sets rule.logsource */
void logsource_index_free(logsource_index *x);
void logsource_event_ids(const logsource_index *x, const hae_event *ev, uint16_t out[3]);
/* match_logsource on ids: an attribute rules out a rule only when both declare it. */
static inline bool logsource_compatible(const uint16_t rule_ids[3], const uint16_t event_ids[3]) {
    for (int k = 0; k < 3; k++) {
        if (rule_ids[k] != LOGSOURCE_ANY && event_ids[k] != LOGSOURCE_ANY &&
            rule_ids[k] != event_ids[k]) {
            return false;
        }
    }
    return true;
}

/* prefilter.c (Hyperscan) */
int prefilter_build(detect_engine *e, prefilter **out, hae_err *err);
void prefilter_free(prefilter *p);
/* Scans ev, sets hits[global pattern id] for every prefilter pattern that
 * matched, and lists candidate rules (always-rules included) whose
 * logsource fits the event. *hits is NULL when the event must take the
 * reference path: then every rule is a candidate, logsource unchecked. */
int prefilter_scan(prefilter *p, const hae_event *ev, uint8_t **hits, uint32_t **candidates,
                   size_t *candidate_count, hae_err *err);

/* correlate.c */
int correlator_new(detect_engine *e, correlator **out, hae_err *err);
void correlator_free(correlator *c);
int correlator_feed(detect_engine *e, const rule *base, const hae_event *ev,
                    detect_hit_fn on_hit, void *ctx, hae_err *err);

/* loader.c */
int loader_load(detect_engine *e, const char *name, const char *yaml, size_t len,
                detect_report_fn report, void *ctx, detect_load_counts *counts, hae_err *err);
int engine_add_rule(detect_engine *e, rule *r, hae_err *err);
int engine_add_pattern(detect_engine *e, pattern *p);
void engine_map_field(const detect_engine *e, hae_arena *arena, const char *field,
                      const char ***names, size_t *count);

#endif
