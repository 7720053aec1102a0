/* The shipped policies (policies/, JSON) rule by rule, and the deadline
 * arithmetic: hours, calendar months, business days over US federal
 * holidays and daylight time. Also the ledger outbox through the store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "server/obligations.h"
#include "server/server_internal.h"

static server_policies *policies;

static int64_t at(const char *rfc3339) {
    int64_t ns = 0;
    assert_int_equal(hae_time_parse(rfc3339, strlen(rfc3339), &ns, NULL), HAE_OK);
    return ns;
}

typedef struct found {
    char rules[32][64];
    server_obligation obligations[32];
    size_t count;
} found;

static int collect(void *ctx, const server_obligation *o, hae_err *err) {
    (void)err;
    found *f = ctx;
    assert_true(f->count < 32);
    snprintf(f->rules[f->count], sizeof f->rules[0], "%s", o->rule_id);
    f->obligations[f->count++] = *o;
    return HAE_OK;
}

static const server_obligation *find(const found *f, const char *rule) {
    for (size_t i = 0; i < f->count; i++) {
        if (strcmp(f->rules[i], rule) == 0) return &f->obligations[i];
    }
    return NULL;
}

static void facts_init(server_facts *f, const char *kinds, const char *regions,
                       const char *sectors, const char *data_kinds, uint64_t persons) {
    memset(f, 0, sizeof *f);
    snprintf(f->incident.id, sizeof f->incident.id, "0192c3d4-0000-7000-8000-000000000001");
    snprintf(f->kinds, sizeof f->kinds, "%s", kinds);
    snprintf(f->regions, sizeof f->regions, "%s", regions);
    snprintf(f->sectors, sizeof f->sectors, "%s", sectors);
    snprintf(f->data_kinds, sizeof f->data_kinds, "%s", data_kinds);
    f->persons = persons;
}

static void eval(const server_facts *f, int64_t now, found *out) {
    memset(out, 0, sizeof *out);
    hae_err err = {0};
    assert_int_equal(server_obligations_eval(policies, f, now, collect, out, &err), HAE_OK);
}

static void assert_due(const found *f, const char *rule, const char *due) {
    const server_obligation *o = find(f, rule);
    if (!o) fail_msg("obligation %s missing", rule);
    char text[HAE_TIME_LEN];
    hae_time_format(o->due_ns, text);
    assert_int_equal(o->due_ns, at(due));
}

/* SK Telecom's timeline (aware 18 April 2025 23:20 KST) on a telecom that
 * also serves EU residents and is listed in the US. */
static void test_intrusion_with_personal_data_gets_korean_gdpr_nis2_and_sec_clocks(void **state) {
    (void)state;
    server_facts f;
    facts_init(&f, "intrusion,personal_data_leak", "kr,eu,us", "telecom,us_listed", "rrn,phone,imsi", 1500);
    f.incident.detected_ns = at("2025-04-18T11:00:00Z");
    f.incident.aware_ns = at("2025-04-18T23:20:00+09:00");
    f.incident.materiality_determined_ns = at("2025-07-01T15:00:00Z"); /* a Tuesday */
    found o;
    eval(&f, at("2025-04-19T00:00:00Z"), &o);
    assert_due(&o, "kr.network_act.48-3", "2025-04-19T14:20:00Z");     /* 24 h */
    assert_due(&o, "kr.pipa.34-1.subjects", "2025-04-21T14:20:00Z");   /* 72 h */
    assert_due(&o, "kr.pipa.34-3.regulator", "2025-04-21T14:20:00Z");  /* 72 h, >= 1,000 */
    assert_due(&o, "eu.gdpr.33", "2025-04-21T14:20:00Z");              /* 72 h */
    assert_due(&o, "eu.nis2.23-4a", "2025-04-19T14:20:00Z");           /* 24 h */
    assert_due(&o, "eu.nis2.23-4b", "2025-04-21T14:20:00Z");           /* 72 h */
    /* Wed 2, Thu 3, (Fri 4 July holiday), Mon 7, Tue 8; 17:30 EDT. */
    assert_due(&o, "us.sec.8-k.1.05", "2025-07-08T21:30:00Z");
    assert_string_equal(find(&o, "kr.network_act.48-3")->status, "open");
    assert_string_equal(find(&o, "eu.nis2.23-4d")->status, "waiting"); /* after 23-4b is sent */
    assert_null(find(&o, "kr.efta.21-5"));  /* not financial */
    assert_null(find(&o, "eu.dora.19-4a")); /* not financial */
    /* Resident registration numbers are national identifiers: high risk
     * to the persons (GDPR art. 34 with art. 87), told without delay. */
    assert_due(&o, "eu.gdpr.34", "2025-04-18T14:20:00Z");
    assert_null(find(&o, "jp.appi.26.preliminary"));
    assert_string_equal(find(&o, "kr.network_act.48-3")->notify, "MSIT, KISA");
}

static void test_pipa_regulator_report_needs_1000_persons_unique_ids_or_intrusion(void **state) {
    (void)state;
    server_facts f;
    found o;
    facts_init(&f, "personal_data_leak", "kr", "", "email,phone", 999);
    f.incident.detected_ns = f.incident.aware_ns = at("2025-01-10T00:00:00Z");
    eval(&f, f.incident.aware_ns, &o);
    assert_non_null(find(&o, "kr.pipa.34-1.subjects"));
    assert_null(find(&o, "kr.pipa.34-3.regulator"));
    assert_null(find(&o, "kr.network_act.48-3")); /* not an intrusion */
    f.persons = 1000;
    eval(&f, f.incident.aware_ns, &o);
    assert_non_null(find(&o, "kr.pipa.34-3.regulator"));
    f.persons = 3;
    snprintf(f.data_kinds, sizeof f.data_kinds, "rrn");
    eval(&f, f.incident.aware_ns, &o);
    assert_non_null(find(&o, "kr.pipa.34-3.regulator"));
    snprintf(f.data_kinds, sizeof f.data_kinds, "email");
    snprintf(f.kinds, sizeof f.kinds, "personal_data_leak,intrusion");
    eval(&f, f.incident.aware_ns, &o);
    assert_non_null(find(&o, "kr.pipa.34-3.regulator"));
}

static void test_financial_sector_is_due_without_delay_under_efta(void **state) {
    (void)state;
    server_facts f;
    found o;
    facts_init(&f, "outage", "kr", "financial", "", 0);
    f.incident.detected_ns = at("2025-02-01T01:00:00Z");
    eval(&f, at("2025-02-01T02:00:00Z"), &o);
    const server_obligation *efta = find(&o, "kr.efta.21-5");
    assert_non_null(efta);
    assert_int_equal(efta->due_ns, f.incident.detected_ns); /* awareness unrecorded: detection */
    assert_string_equal(efta->status, "overdue");
    assert_non_null(strstr(efta->note, "awareness not recorded"));
}

static void test_dora_initial_is_4h_after_classification_but_no_later_than_24h_after_awareness(void **state) {
    (void)state;
    server_facts f;
    found o;
    facts_init(&f, "outage", "eu", "financial", "", 0);
    f.incident.detected_ns = f.incident.aware_ns = at("2025-03-03T00:00:00Z");
    eval(&f, at("2025-03-03T01:00:00Z"), &o);
    /* Not classified yet: the 24 h cap from awareness runs anyway. */
    assert_due(&o, "eu.dora.19-4a", "2025-03-04T00:00:00Z");
    f.incident.classified_major_ns = at("2025-03-03T10:00:00Z");
    eval(&f, at("2025-03-03T11:00:00Z"), &o);
    assert_due(&o, "eu.dora.19-4a", "2025-03-03T14:00:00Z");
    f.incident.classified_major_ns = at("2025-03-03T22:00:00Z");
    eval(&f, at("2025-03-03T23:00:00Z"), &o);
    assert_due(&o, "eu.dora.19-4a", "2025-03-04T00:00:00Z");
    /* Intermediate: 72 h after the initial notification was sent. */
    snprintf(f.sent[0].rule, sizeof f.sent[0].rule, "eu.dora.19-4a");
    f.sent[0].at_ns = at("2025-03-03T23:30:00Z");
    f.sent_count = 1;
    eval(&f, at("2025-03-04T00:00:00Z"), &o);
    assert_string_equal(find(&o, "eu.dora.19-4a")->status, "met");
    assert_due(&o, "eu.dora.19-4b", "2025-03-06T23:30:00Z");
}

static void test_nis2_final_report_is_one_calendar_month_after_notification(void **state) {
    (void)state;
    server_facts f;
    found o;
    facts_init(&f, "ransomware", "eu", "health", "", 0);
    f.incident.detected_ns = f.incident.aware_ns = at("2025-01-27T08:00:00Z");
    snprintf(f.sent[0].rule, sizeof f.sent[0].rule, "eu.nis2.23-4b");
    f.sent[0].at_ns = at("2025-01-31T09:15:00Z");
    f.sent_count = 1;
    eval(&f, at("2025-02-01T00:00:00Z"), &o);
    assert_string_equal(find(&o, "eu.nis2.23-4b")->status, "late"); /* 72 h ended 30 Jan */
    assert_due(&o, "eu.nis2.23-4d", "2025-02-28T09:15:00Z");         /* 31 Jan + 1 month */
}

static void test_appi_final_report_is_60_days_for_intrusions_and_30_otherwise(void **state) {
    (void)state;
    server_facts f;
    found o;
    facts_init(&f, "personal_data_leak,intrusion", "jp", "", "email", 10);
    f.incident.detected_ns = f.incident.aware_ns = at("2025-05-01T00:00:00Z");
    eval(&f, f.incident.aware_ns, &o);
    assert_due(&o, "jp.appi.26.preliminary", "2025-05-06T00:00:00Z");
    /* 09:00 JST on 1 May is day 1; day 60 is 29 June, which ends at
     * midnight JST (15:00 UTC). */
    assert_due(&o, "jp.appi.26.final_malicious", "2025-06-29T15:00:00Z");
    assert_null(find(&o, "jp.appi.26.final"));
    assert_due(&o, "jp.appi.26-2.subjects", "2025-05-01T00:00:00Z"); /* promptly */
    facts_init(&f, "personal_data_leak", "jp", "", "card", 10);
    f.incident.detected_ns = f.incident.aware_ns = at("2025-05-01T00:00:00Z");
    eval(&f, f.incident.aware_ns, &o);
    assert_due(&o, "jp.appi.26.final", "2025-05-30T15:00:00Z"); /* end of 30 May JST */
    assert_null(find(&o, "jp.appi.26.final_malicious"));
    /* 16:00 UTC on 1 May is already 2 May in Japan: day 30 is 31 May. */
    f.incident.aware_ns = at("2025-05-01T16:00:00Z");
    eval(&f, f.incident.aware_ns, &o);
    assert_due(&o, "jp.appi.26.final", "2025-05-31T15:00:00Z");
    facts_init(&f, "personal_data_leak", "jp", "", "email", 10); /* none of the four cases */
    f.incident.detected_ns = f.incident.aware_ns = at("2025-05-01T00:00:00Z");
    eval(&f, f.incident.aware_ns, &o);
    assert_int_equal(o.count, 0);
}

static void fact_changed(server_facts *f, const char *name, const char *when) {
    snprintf(f->changes[f->change_count].name, sizeof f->changes[0].name, "%s", name);
    f->changes[f->change_count++].at_ns = at(when);
}

static void report_sent(server_facts *f, const char *rule, const char *when) {
    for (size_t i = 0; i < f->sent_count; i++) {
        if (strcmp(f->sent[i].rule, rule) == 0) {
            f->sent[i].latest_ns = at(when);
            return;
        }
    }
    snprintf(f->sent[f->sent_count].rule, sizeof f->sent[0].rule, "%s", rule);
    f->sent[f->sent_count].at_ns = f->sent[f->sent_count].latest_ns = at(when);
    f->sent_count++;
}

/* Decree art. 58-2(2): each fact newly established after the report starts
 * 24 hours for a supplementary one; a follow-up stops the clocks of the
 * facts before it. */
static void test_new_facts_after_the_report_start_24_hours(void **state) {
    (void)state;
    server_facts f;
    found o;
    facts_init(&f, "intrusion", "kr", "telecom", "", 0);
    f.incident.detected_ns = f.incident.aware_ns = at("2025-04-18T14:20:00Z");
    fact_changed(&f, "cause", "2025-04-19T10:00:00Z"); /* in the first report */
    report_sent(&f, "kr.network_act.48-3", "2025-04-19T12:00:00Z");
    eval(&f, at("2025-04-19T13:00:00Z"), &o);
    assert_string_equal(find(&o, "kr.network_act.48-3.supplementary")->status, "waiting");
    fact_changed(&f, "response", "2025-04-20T01:00:00Z"); /* not a new fact of the decree */
    fact_changed(&f, "damage", "2025-04-20T02:00:00Z");
    fact_changed(&f, "persons", "2025-04-20T05:00:00Z");
    eval(&f, at("2025-04-20T06:00:00Z"), &o);
    assert_due(&o, "kr.network_act.48-3.supplementary", "2025-04-21T02:00:00Z");
    assert_string_equal(find(&o, "kr.network_act.48-3.supplementary")->status, "open");
    report_sent(&f, "kr.network_act.48-3.supplementary", "2025-04-20T03:00:00Z");
    eval(&f, at("2025-04-21T06:00:00Z"), &o);
    assert_due(&o, "kr.network_act.48-3.supplementary", "2025-04-21T05:00:00Z");
    assert_string_equal(find(&o, "kr.network_act.48-3.supplementary")->status, "overdue");
    report_sent(&f, "kr.network_act.48-3.supplementary", "2025-04-21T07:00:00Z");
    eval(&f, at("2025-04-21T08:00:00Z"), &o);
    assert_string_equal(find(&o, "kr.network_act.48-3.supplementary")->status, "met");
}

static void test_attribute_values_are_checked_and_case_insensitive(void **state) {
    (void)state;
    hae_err err = {0};
    assert_int_equal(server_incident_attr_check("region", "KR, eu", &err), HAE_OK);
    assert_int_equal(server_incident_attr_check("sector", "Insurance", &err), HAE_OK);
    assert_int_equal(server_incident_attr_check("sector", "bank", &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "sector: 'bank' is not one of financial, banking,"));
    assert_int_equal(server_incident_attr_check("data_kinds", "rrn,medical", &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "'medical'"));
    assert_int_equal(server_incident_attr_check("region", "", &err), HAE_EINVAL);
    assert_int_equal(server_incident_attr_check("persons", "0", &err), HAE_OK);
    assert_int_equal(server_incident_attr_check("persons", "10000000000", &err), HAE_OK);
    assert_int_equal(server_incident_attr_check("persons", "10000000001", &err), HAE_EINVAL);
    assert_int_equal(server_incident_attr_check("persons", "-1", &err), HAE_EINVAL);
    assert_int_equal(server_incident_attr_check("persons", "1e3", &err), HAE_EINVAL);
    assert_int_equal(server_incident_attr_check("persons", "99999999999999999999", &err),
                     HAE_EINVAL);
    assert_int_equal(server_incident_attr_check("colour", "red", &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "unknown attribute 'colour' (kind, region"));
}

static void test_sec_waits_for_the_materiality_determination(void **state) {
    (void)state;
    server_facts f;
    found o;
    facts_init(&f, "intrusion", "us", "us_listed", "", 0);
    f.incident.detected_ns = at("2025-06-01T00:00:00Z");
    eval(&f, at("2025-06-02T00:00:00Z"), &o);
    assert_string_equal(find(&o, "us.sec.8-k.1.05")->status, "waiting");
    assert_int_equal(find(&o, "us.sec.8-k.1.05")->due_ns, 0);
}

static void business(const char *start, unsigned n, const char *due) {
    const hae_json *cal = policy_calendar_find(policies, "us-federal");
    assert_non_null(cal);
    int64_t got = 0;
    assert_int_equal(policy_business_days(cal, at(start), n, &got, NULL), HAE_OK);
    char text[HAE_TIME_LEN];
    hae_time_format(got, text);
    if (got != at(due)) fail_msg("%s + %u business days: %s, expected %s", start, n, text, due);
}

static void test_business_days_skip_weekends_holidays_and_follow_daylight_time(void **state) {
    (void)state;
    /* Thanksgiving (27 Nov): Fri 28, Mon 1, Tue 2, Wed 3; EST. */
    business("2025-11-26T15:00:00Z", 4, "2025-12-03T22:30:00Z");
    /* A Saturday; daylight time from Sunday 9 March: Mon 10 .. Thu 13, EDT. */
    business("2025-03-08T12:00:00Z", 4, "2025-03-13T21:30:00Z");
    /* 23:30 EST on Monday is Tuesday in UTC but still Monday in New York. */
    business("2025-01-14T04:30:00Z", 1, "2025-01-14T22:30:00Z");
    /* Christmas and New Year's Day 2026 (Thursdays). */
    business("2025-12-23T15:00:00Z", 4, "2025-12-30T22:30:00Z");
    business("2025-12-30T15:00:00Z", 2, "2026-01-02T22:30:00Z");
    /* Observed Independence Day 2026: Friday 3 July. */
    business("2026-07-02T15:00:00Z", 1, "2026-07-06T21:30:00Z");
    int64_t due = 0;
    hae_err err = {0};
    assert_int_equal(policy_business_days(policy_calendar_find(policies, "us-federal"),
                                          at("2028-12-28T15:00:00Z"), 4, &due, &err),
                     HAE_ELIMIT);
    assert_non_null(strstr(err.msg, "covers 2024-2028"));
}

static void test_every_shipped_rule_cites_its_source_and_has_a_report(void **state) {
    (void)state;
    size_t rules = 0;
    for (size_t i = 0; i < policies->count; i++) {
        const hae_json *list = hae_json_member(policies->docs[i], "rules");
        for (const hae_json *r = list ? list->child : NULL; r; r = r->next, rules++) {
            assert_non_null(policy_str(r, "source"));
            assert_true(strlen(policy_str(r, "source")) > 20);
            const hae_json *report = policy_report_find(policies, policy_str(r, "report"));
            assert_non_null(report);
            assert_non_null(policy_lang(report, "title", "ko"));
            assert_non_null(policy_lang(report, "title", "en"));
        }
    }
    assert_int_equal(rules, 18); /* KR 5, GDPR 2, NIS2 3, DORA 3, SEC 1, APPI 4 */
}

static void test_a_bad_policy_file_is_refused_with_its_name(void **state) {
    (void)state;
    char *dir = fixture_tempdir("policy");
    char path[4200];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    const char *text = "{\"regime\":\"x\",\"reports\":{\"r\":{}},\"rules\":[{\"id\":\"x.1\","
                       "\"source\":\"somewhere\",\"starts\":\"lunch\",\"report\":\"r\","
                       "\"deadline\":{\"hours\":1}}]}";
    assert_int_equal(fixture_write_file(path, text, strlen(text)), 0);
    server_policies *p = NULL;
    hae_err err = {0};
    assert_int_equal(server_policies_load(dir, &p, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "bad.json: rule x.1: unknown start 'lunch'"));
    fixture_rmtree(dir);
    free(dir);
}

static int setup(void **state) {
    (void)state;
    const char *source = getenv("HAETAE_SOURCE_DIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/policies", source ? source : ".");
    hae_err err = {0};
    if (server_policies_load(dir, &policies, &err) < 0) {
        fprintf(stderr, "policies: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    server_policies_free(policies);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intrusion_with_personal_data_gets_korean_gdpr_nis2_and_sec_clocks),
        cmocka_unit_test(test_pipa_regulator_report_needs_1000_persons_unique_ids_or_intrusion),
        cmocka_unit_test(test_financial_sector_is_due_without_delay_under_efta),
        cmocka_unit_test(test_dora_initial_is_4h_after_classification_but_no_later_than_24h_after_awareness),
        cmocka_unit_test(test_nis2_final_report_is_one_calendar_month_after_notification),
        cmocka_unit_test(test_appi_final_report_is_60_days_for_intrusions_and_30_otherwise),
        cmocka_unit_test(test_attribute_values_are_checked_and_case_insensitive),
        cmocka_unit_test(test_new_facts_after_the_report_start_24_hours),
        cmocka_unit_test(test_sec_waits_for_the_materiality_determination),
        cmocka_unit_test(test_business_days_skip_weekends_holidays_and_follow_daylight_time),
        cmocka_unit_test(test_every_shipped_rule_cites_its_source_and_has_a_report),
        cmocka_unit_test(test_a_bad_policy_file_is_refused_with_its_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
