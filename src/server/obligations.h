/* Private to src/server: regulatory clocks. Policies are JSON data files in
 * policies/ (one per regime, docs/OBLIGATIONS.md); policy.c loads and checks
 * them and does the deadline arithmetic, obligations.c decides which rules
 * cover an incident and computes due times and status, report.c renders
 * the reports the rules ask for. */
#ifndef HAETAE_SERVER_OBLIGATIONS_H
#define HAETAE_SERVER_OBLIGATIONS_H

#include "server/server.h"

/* The facts about an incident the rules look at (attributes an analyst set,
 * moments recorded, reports sent). Lists are comma-separated. */
#define FACTS_SENT_MAX 64
#define FACTS_CHANGES_MAX 256
typedef struct server_facts {
    store_incident incident;
    char kinds[256], sectors[256], regions[128], data_kinds[512];
    uint64_t persons;
    struct {
        char rule[128];
        int64_t at_ns;      /* the first report sent for the rule: the one that counts */
        int64_t latest_ns;  /* the latest (follow-ups sent again and again) */
    } sent[FACTS_SENT_MAX];
    size_t sent_count;
    /* Every attribute change, oldest first (the newest kept past the cap):
     * rules starting at "new_facts:" read when facts were established. */
    struct {
        char name[32];
        int64_t at_ns;
    } changes[FACTS_CHANGES_MAX];
    size_t change_count;
} server_facts;

typedef struct policy_rule policy_rule;
typedef struct policy_calendar policy_calendar;

#define POLICY_ZONES_MAX 8
struct server_policies {
    hae_arena arena;
    hae_json **docs;          /* one parsed document per file */
    char **files;
    size_t count;
    /* Zones the deadlines name, loaded once with the policies: evaluation
     * runs on several threads and reads them only. */
    hae_tz *zones[POLICY_ZONES_MAX];
    size_t zone_count;
};

/* A deadline: one of hours, days, months, business_days (+ calendar),
 * end_of_day (+ zone: the end of the Nth calendar day there, the start's
 * day counted as day 1), without_delay, when_known. *due 0 means no fixed time (when_known). */
int policy_deadline_apply(const server_policies *p, const hae_json *deadline, int64_t start,
                          int64_t *due, hae_err *err);
/* n business days after start in the calendar (weekends and its holidays
 * skipped), at its due_time local. */
int policy_business_days(const hae_json *calendar, int64_t start, unsigned n, int64_t *due,
                         hae_err *err);
const hae_json *policy_calendar_find(const server_policies *p, const char *name);
const hae_json *policy_report_find(const server_policies *p, const char *id);
const hae_json *policy_rule_find(const server_policies *p, const char *id,
                                 const hae_json **doc);
/* A string member, or NULL. ("title", "ko") for nested language maps. */
const char *policy_str(const hae_json *obj, const char *key);
const char *policy_lang(const hae_json *obj, const char *key, const char *lang);

/* Whether covers holds for facts. */
bool policy_covers(const hae_json *covers, const server_facts *f);
/* Calls fn for each obligation of the incident described by facts. */
int server_obligations_eval(const server_policies *p, const server_facts *f, int64_t now_ns,
                            server_obligation_fn fn, void *ctx, hae_err *err);
int server_facts_load(store *st, const char *incident_id, server_facts *f, hae_err *err);

/* Overdue obligations of open incidents become alerts (once each). */
int server_obligations_raise(store *st, const server_policies *p, int64_t now_ns,
                             size_t *raised, hae_err *err);

#endif
