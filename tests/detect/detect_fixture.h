/* Helpers shared by the detect tests: compile a rule from a string, feed
 * it events written as JSON, and check the prefilter path (Hyperscan)
 * against the direct path on every call, so each test also proves the two
 * agree. Include after cmocka. */
#ifndef HAETAE_TEST_DETECT_FIXTURE_H
#define HAETAE_TEST_DETECT_FIXTURE_H

#include <string.h>

#include "detect/detect.h"

typedef struct hit_log {
    int count;
    char last_rule[128];
    char last_group[256];
    uint64_t last_count;
} hit_log;

static inline int hit_log_add(void *ctx, const detect_hit *hit, hae_err *err) {
    (void)err;
    hit_log *log = ctx;
    log->count++;
    snprintf(log->last_rule, sizeof log->last_rule, "%s", hit->rule->title);
    snprintf(log->last_group, sizeof log->last_group, "%s", hit->group ? hit->group : "");
    log->last_count = hit->count;
    return 0;
}

typedef struct load_log {
    detect_status status;
    char reason[1024];
} load_log;

static inline void load_log_report(void *ctx, const char *file, detect_status status,
                                   const detect_rule_info *info, const char *reason) {
    (void)file;
    (void)info;
    load_log *log = ctx;
    if (status == DETECT_RULE_COMPILED) return; /* keep the first problem */
    if (log->reason[0]) return;
    log->status = status;
    snprintf(log->reason, sizeof log->reason, "%s", reason ? reason : "");
}

/* Engine with yaml loaded and compiled; asserts every document compiled. */
static inline detect_engine *engine_with(const char *yaml, bool prefilter) {
    detect_engine *e = NULL;
    hae_err err = {0};
    detect_options o = {.no_prefilter = !prefilter, .correlation_max_groups = 64};
    assert_int_equal(detect_engine_new(&e, &o, &err), HAE_OK);
    load_log log = {0};
    detect_load_counts counts = {0};
    assert_int_equal(detect_engine_load_string(e, "test.yml", yaml, strlen(yaml), load_log_report,
                                               &log, &counts, &err), HAE_OK);
    if (counts.compiled == 0 || counts.invalid || counts.unsupported) {
        fail_msg("rule did not compile: %s", log.reason);
    }
    assert_int_equal(detect_engine_compile(e, load_log_report, &log, &err), HAE_OK);
    return e;
}

/* Status and reason of loading yaml (one document). */
static inline detect_status load_status(const char *yaml, char *reason, size_t reason_len) {
    detect_engine *e = NULL;
    hae_err err = {0};
    assert_int_equal(detect_engine_new(&e, NULL, &err), HAE_OK);
    load_log log = {.status = DETECT_RULE_COMPILED};
    assert_int_equal(detect_engine_load_string(e, "rule.yml", yaml, strlen(yaml), load_log_report,
                                               &log, NULL, &err), HAE_OK);
    if (log.status == DETECT_RULE_COMPILED) {
        assert_int_equal(detect_engine_compile(e, load_log_report, &log, &err), HAE_OK);
    }
    detect_engine_free(e);
    if (reason) snprintf(reason, reason_len, "%s", log.reason);
    return log.status;
}

static inline int engine_feed(detect_engine *e, const char *json, hit_log *log) {
    hae_event ev;
    hae_err err = {0};
    assert_int_equal(hae_event_decode_json(&ev, json, strlen(json), &err), HAE_OK);
    int before = log->count;
    assert_int_equal(detect_engine_match(e, &ev, hit_log_add, log, &err), HAE_OK);
    hae_event_clear(&ev);
    return log->count - before;
}

/* Number of rules in yaml matching the event, the same on both paths. */
static inline int hits_of(const char *yaml, const char *json) {
    int result[2];
    for (int prefilter = 0; prefilter < 2; prefilter++) {
        detect_engine *e = engine_with(yaml, prefilter);
        hit_log log = {0};
        result[prefilter] = engine_feed(e, json, &log);
        detect_engine_free(e);
    }
    if (result[0] != result[1]) {
        fail_msg("direct path says %d, prefilter says %d for %s", result[0], result[1], json);
    }
    return result[0];
}

#define RULE(detection) \
    "title: test rule\nid: 5b0c1d9e-0000-4000-8000-000000000001\nlevel: high\n" \
    "logsource: {product: linux, category: process_creation}\ndetection:\n" detection

#endif
