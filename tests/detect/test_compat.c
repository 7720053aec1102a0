/* Compatibility with real Sigma rules, read from ../shared/data/sigma:
 * at least 99% of SigmaHQ's rules/ compile and every other rule carries a
 * precise reason; every regression case (a Windows event export with the
 * rule it must trigger) matches, on the direct path and with the prefilter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"
#include "fixtures.h"

typedef struct tally {
    size_t compiled, other, without_reason;
} tally;

static void count_rule(void *ctx, const char *file, detect_status status,
                       const detect_rule_info *info, const char *reason) {
    (void)info;
    tally *t = ctx;
    if (status == DETECT_RULE_COMPILED) {
        t->compiled++;
        return;
    }
    t->other++;
    /* a precise reason names the file and a line ("path:12: ...") */
    if (!reason || strncmp(reason, file, strlen(file)) != 0 || reason[strlen(file)] != ':') {
        t->without_reason++;
        print_error("no precise reason for %s: %s\n", file, reason ? reason : "(none)");
    }
}

static char *shared(const char *relative) {
    char *path = fixture_shared_data(relative);
    if (!path) {
        print_message("skipped: ../shared/data/%s is not present\n", relative);
        skip();
    }
    return path;
}

/* Loading and compiling thousands of rules dominates this program's time
 * under ASan, so every rule set is loaded once, into one engine on the
 * direct path and one with the prefilter, and the tests share them. */
static const char *const rule_sets[] = {"sigma/rules", "sigma/rules-emerging-threats",
                                        "sigma/rules-threat-hunting", "sigma/rules-placeholder",
                                        "sigma/rules-compliance"};
enum { SET_COUNT = sizeof rule_sets / sizeof *rule_sets, REGRESSION_SETS = 2 };

typedef struct compat {
    detect_engine *engines[2];  /* direct (every set), prefilter (the regression sets) */
    tally tallies[SET_COUNT];
    char *dirs[SET_COUNT];      /* NULL when the set is not present */
    bool has_rules;
} compat;

/* Reports go to the tally of the set the file is under. */
static void count_by_set(void *ctx, const char *file, detect_status status,
                         const detect_rule_info *info, const char *reason) {
    compat *c = ctx;
    for (size_t i = 0; i < SET_COUNT; i++) {
        size_t n = c->dirs[i] ? strlen(c->dirs[i]) : 0;
        if (n && strncmp(file, c->dirs[i], n) == 0 && file[n] == '/') {
            count_rule(&c->tallies[i], file, status, info, reason);
            return;
        }
    }
}

static int setup_engines(void **state) {
    compat *c = calloc(1, sizeof *c);
    if (!c) return -1;
    hae_err err = {0};
    for (int k = 0; k < 2; k++) {
        detect_options o = {.no_prefilter = k == 0};
        if (detect_engine_new(&c->engines[k], &o, &err) != HAE_OK) return -1;
    }
    for (size_t i = 0; i < SET_COUNT; i++) {
        c->dirs[i] = fixture_shared_data(rule_sets[i]);
        if (!c->dirs[i]) continue;
        if (detect_engine_load_path(c->engines[0], c->dirs[i], count_by_set, c, NULL, &err) != HAE_OK ||
            (i < REGRESSION_SETS &&
             detect_engine_load_path(c->engines[1], c->dirs[i], NULL, NULL, NULL, &err) != HAE_OK)) {
            print_error("%s: %s\n", c->dirs[i], err.msg);
            return -1;
        }
    }
    if (detect_engine_compile(c->engines[0], count_by_set, c, &err) != HAE_OK ||
        detect_engine_compile(c->engines[1], NULL, NULL, &err) != HAE_OK) {
        print_error("compile: %s\n", err.msg);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown_engines(void **state) {
    compat *c = *state;
    if (!c) return 0;
    detect_engine_free(c->engines[0]);
    detect_engine_free(c->engines[1]);
    for (size_t i = 0; i < SET_COUNT; i++) free(c->dirs[i]);
    free(c);
    return 0;
}

static void test_sigmahq_rules_compile_at_least_99_percent(void **state) {
    compat *c = *state;
    free(shared(rule_sets[0]));
    const tally *t = &c->tallies[0];
    print_message("rules/: %zu compiled, %zu not\n", t->compiled, t->other);
    assert_true(t->compiled > 1000);
    assert_true(t->compiled * 100 >= (t->compiled + t->other) * 99);
    assert_int_equal(t->without_reason, 0);
}

static void test_other_rule_sets_report_a_reason_for_every_rule(void **state) {
    compat *c = *state;
    for (size_t i = 1; i < SET_COUNT; i++) {
        if (!c->dirs[i]) continue;
        const tally *t = &c->tallies[i];
        print_message("%s: %zu compiled, %zu not\n", rule_sets[i], t->compiled, t->other);
        assert_int_equal(t->without_reason, 0);
    }
}

/* ---- regression cases ------------------------------------------------- */

typedef struct regression {
    detect_engine *engines[2]; /* direct, prefilter */
    size_t cases, passed;
    const char *wanted;
    bool hit[2];
    int engine_index;
} regression;

static regression *current;

static int on_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    (void)err;
    regression *r = ctx;
    if (strcmp(hit->rule->id, r->wanted) == 0) r->hit[r->engine_index] = true;
    return 0;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char *data = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&data, &cap);
    char chunk[65536];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, mem);
    fclose(f);
    if (mem) fclose(mem);
    *len = cap;
    return data;
}

/* The rule id under rule_metadata in info.yml. */
static bool wanted_rule(const char *info, char *id, size_t id_len) {
    const char *meta = strstr(info, "rule_metadata:");
    const char *key = meta ? strstr(meta, "id:") : NULL;
    if (!key) return false;
    key += 3;
    while (*key == ' ') key++;
    size_t n = strcspn(key, " \r\n");
    if (n == 0 || n >= id_len) return false;
    memcpy(id, key, n);
    id[n] = '\0';
    return true;
}

static void run_events(regression *r, const char *json_path) {
    size_t len = 0;
    char *data = slurp(json_path, &len);
    assert_non_null(data);
    size_t offset = 0, start, object_len;
    hae_err err = {0};
    int found;
    while ((found = detect_json_next_object(data, len, &offset, &start, &object_len, &err)) > 0) {
        hae_event ev;
        assert_int_equal(hae_event_decode_json(&ev, data + start, object_len, &err), HAE_OK);
        assert_int_equal(detect_event_flatten_windows(&ev, &err), HAE_OK);
        for (r->engine_index = 0; r->engine_index < 2; r->engine_index++) {
            assert_int_equal(detect_engine_match(r->engines[r->engine_index], &ev, on_hit, r, &err), HAE_OK);
        }
        hae_event_clear(&ev);
    }
    assert_int_equal(found, 0);
    free(data);
}

static int visit_case(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 9 || strcmp(path + n - 9, "/info.yml") != 0) return 0;
    regression *r = current;
    size_t len;
    char *info = slurp(path, &len);
    char id[128];
    assert_non_null(info);
    assert_true(wanted_rule(info, id, sizeof id));
    free(info);
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(n - 9), path);
    char json[4400];
    snprintf(json, sizeof json, "%s/%s.json", dir, id);
    r->wanted = id;
    r->hit[0] = r->hit[1] = false;
    run_events(r, json);
    r->cases++;
    if (r->hit[0] && r->hit[1]) {
        r->passed++;
    } else {
        print_error("regression %s: rule %s did not match (direct %d, prefilter %d)\n", dir, id,
                    r->hit[0], r->hit[1]);
    }
    return 0;
}

static void test_every_regression_case_matches_its_rule(void **state) {
    compat *c = *state;
    char *cases = shared("sigma/regression");
    for (size_t i = 0; i < REGRESSION_SETS; i++) free(shared(rule_sets[i]));
    regression r = {.engines = {c->engines[0], c->engines[1]}};
    current = &r;
    assert_int_equal(nftw(cases, visit_case, 16, FTW_PHYS), 0);
    print_message("regression: %zu of %zu cases pass\n", r.passed, r.cases);
    assert_true(r.cases >= 100);
    assert_int_equal(r.passed, r.cases);
    free(cases);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmahq_rules_compile_at_least_99_percent),
        cmocka_unit_test(test_other_rule_sets_report_a_reason_for_every_rule),
        cmocka_unit_test(test_every_regression_case_matches_its_rule),
    };
    return cmocka_run_group_tests(tests, setup_engines, teardown_engines);
}
