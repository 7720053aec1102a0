/* detect: Sigma rules (specification v2, correlations included) and YARA
 * rule sets, evaluated over hae_events.
 *
 * Owns: the Sigma loader (YAML through libfyaml), the compiled matcher
 * (Hyperscan databases per field as a prefilter, PCRE2 JIT for `re`),
 * field-mapping tables, correlation state (bounded, evictions counted) and
 * YARA rule sets (a thin layer over sensor's libyara scanner). Does not own:
 * where events come from (core's codec and log-line parser), where matches
 * go (the caller's callback), storage.
 *
 * Life of an engine: detect_engine_new, then any number of
 * detect_engine_load_* calls (each rule is reported compiled, unsupported or
 * invalid through a callback; one bad rule never stops the others), then
 * detect_engine_compile once, then detect_engine_match per event, from one
 * thread at a time. Memory: the engine owns every rule; hits point into it
 * and into the event, valid only during the callback. */
#ifndef HAETAE_DETECT_H
#define HAETAE_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef struct detect_engine detect_engine;

/* ---- rules as the caller sees them ----------------------------------- */

typedef enum {
    DETECT_RULE_COMPILED,    /* loaded and will match */
    DETECT_RULE_UNSUPPORTED, /* valid Sigma using something we do not run */
    DETECT_RULE_INVALID      /* not valid Sigma (or not valid YAML) */
} detect_status;

const char *detect_status_name(detect_status status);

typedef struct detect_rule_info {
    const char *id;       /* "" when the rule has none */
    const char *name;     /* Sigma `name` (correlations refer to it); may be NULL */
    const char *title;
    const char *level;    /* Sigma level; "" when absent */
    const char *file;     /* where it was loaded from */
    int line;             /* 1-based line of the document in file */
    const char *const *tags;
    size_t tag_count;
    bool is_correlation;
    bool generates;       /* false for correlation inputs with generate: false */
    /* Fields worth showing beside a match: those the detection tests
     * (outside its filters, at most DETECT_MAX_SHOWN_FIELDS), or a
     * correlation's group-by. */
    const char *const *fields;
    size_t field_count;
} detect_rule_info;

#define DETECT_MAX_SHOWN_FIELDS 8

/* One loaded document: status, and for a rule that did not compile the reason
 * ("file:line: unknown modifier 'contians'"). info is NULL for a document that
 * never became a rule (e.g. invalid YAML). */
typedef void (*detect_report_fn)(void *ctx, const char *file, detect_status status,
                                 const detect_rule_info *info, const char *reason);

typedef struct detect_load_counts {
    size_t compiled, unsupported, invalid;
} detect_load_counts;

/* ---- engine ---------------------------------------------------------- */

typedef struct detect_options {
    bool no_prefilter;        /* evaluate every rule directly (reference path, tests) */
    size_t correlation_max_groups; /* bound on live correlation groups; 0: 100000 */
} detect_options;

int detect_engine_new(detect_engine **out, const detect_options *options, hae_err *err);
void detect_engine_free(detect_engine *engine); /* NULL is fine */

/* Field mapping like a pySigma processing pipeline: a YAML file
 *   name: ecs-to-haetae
 *   fieldmappings: { Image: process.executable, User: [user.name, User] }
 * A rule field mapped to a list matches when any of the listed fields does.
 * Must come before the rules it applies to. */
int detect_engine_load_mapping(detect_engine *engine, const char *path, hae_err *err);
int detect_engine_add_mapping(detect_engine *engine, const char *rule_field,
                              const char *event_field, hae_err *err);

/* Loads every document of a rule file (a collection with action: global,
 * reset and repeat included). Returns 0 even when rules in it were
 * unsupported or invalid (they are reported and counted); a negative code
 * only when the file cannot be read or memory runs out. */
int detect_engine_load_file(detect_engine *engine, const char *path, detect_report_fn report,
                            void *ctx, detect_load_counts *counts, hae_err *err);
int detect_engine_load_string(detect_engine *engine, const char *name, const char *yaml,
                              size_t len, detect_report_fn report, void *ctx,
                              detect_load_counts *counts, hae_err *err);
/* Loads every *.yml / *.yaml under path (a file or a directory, recursively). */
int detect_engine_load_path(detect_engine *engine, const char *path, detect_report_fn report,
                            void *ctx, detect_load_counts *counts, hae_err *err);

/* Resolves correlation references and builds the prefilter. A correlation
 * naming an unknown rule is reported invalid (and dropped) through report. */
int detect_engine_compile(detect_engine *engine, detect_report_fn report, void *ctx,
                          hae_err *err);

size_t detect_engine_rule_count(const detect_engine *engine);

/* ---- matching -------------------------------------------------------- */

typedef struct detect_hit {
    const detect_rule_info *rule;
    const hae_event *event;    /* the event that matched (for a correlation: the last one) */
    /* correlations only */
    const char *group;         /* group-by values joined with '|' ("" when none) */
    uint64_t count;            /* events or distinct values in the window */
    int64_t first_ns, last_ns; /* window of the evidence */
} detect_hit;

/* A negative return stops matching and is passed up. */
typedef int (*detect_hit_fn)(void *ctx, const detect_hit *hit, hae_err *err);

/* Evaluates every rule against ev and calls on_hit for each match, single
 * event rules first, then correlations the event completes. Events should
 * arrive in time order for correlations (time_ns; 0 counts as "now"). */
int detect_engine_match(detect_engine *engine, const hae_event *ev, detect_hit_fn on_hit,
                        void *ctx, hae_err *err);

typedef struct detect_stats {
    uint64_t events;
    uint64_t hits;
    uint64_t correlation_groups;   /* live now */
    uint64_t correlation_evicted;  /* groups dropped to honour the bound */
    size_t correlation_max_groups;
    size_t prefilter_patterns;     /* patterns in Hyperscan databases */
    size_t direct_patterns;        /* patterns evaluated without them */
} detect_stats;

void detect_engine_stats(const detect_engine *engine, detect_stats *out);

/* ---- event shapes ---------------------------------------------------- */

/* Windows event records exported as JSON (evtx_dump, the Sigma regression
 * set): fields under Event.EventData.X become X, Event.System.X become X,
 * and XML attributes Event.System.Tag.#attributes.Attr become Tag_Attr as
 * the Sigma spec says (Provider_Name, Execution_ProcessID). A no-op for
 * events without an Event.System field. */
int detect_event_flatten_windows(hae_event *ev, hae_err *err);

/* Splits a buffer holding JSON objects one after another (pretty-printed,
 * concatenated or one a line): sets *start and *len to the next object at or
 * after *offset and advances *offset. Returns 1 when an object was found,
 * 0 at the end, HAE_EINVAL on unbalanced input (offset names the byte). */
int detect_json_next_object(const char *buf, size_t size, size_t *offset, size_t *start,
                            size_t *len, hae_err *err);

/* ---- YARA ------------------------------------------------------------ */

typedef struct detect_yara detect_yara;

/* Compiles every rule file given (directories recurse over their .yar and
 * .yara files) through the sensor's scanner (compiled rules compacted; each
 * file its own namespace, named after it). Errors name the file and line; no
 * rule file at all is an error. Compiled once, then scanned from many calls. */
int detect_yara_new(detect_yara **out, const char *const *paths, size_t path_count,
                    hae_err *err);
void detect_yara_free(detect_yara *yara);
size_t detect_yara_rule_count(const detect_yara *yara);

/* Called once per matching rule, with the severity its meta names
 * (severity or level; high when absent); a scan error names the file (HAE_EIO, or
 * HAE_ELIMIT on a timeout). */
typedef int (*detect_yara_hit_fn)(void *ctx, const char *rule, const char *ns,
                                  const char *const *tags, size_t tag_count,
                                  hae_severity severity, hae_err *err);
int detect_yara_scan_file(detect_yara *yara, const char *path, detect_yara_hit_fn on_hit,
                          void *ctx, hae_err *err);
int detect_yara_scan_buffer(detect_yara *yara, const void *data, size_t len,
                            detect_yara_hit_fn on_hit, void *ctx, hae_err *err);

#endif
