/* Policy files (policies/, JSON, docs/OBLIGATIONS.md): loading, checking,
 * and deadline arithmetic — hours, calendar days and months, and business
 * days over a holiday calendar in the calendar's local time. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/obligations.h"

#define POLICY_MAX_BYTES (1u << 20)
#define DAY_NS (86400LL * 1000000000)
#define HOUR_NS (3600LL * 1000000000)

const char *policy_str(const hae_json *obj, const char *key) {
    const hae_json *m = obj ? hae_json_member(obj, key) : NULL;
    return m && m->type == HAE_JSON_STRING ? m->text : NULL;
}

const char *policy_lang(const hae_json *obj, const char *key, const char *lang) {
    const hae_json *m = obj ? hae_json_member(obj, key) : NULL;
    if (m && m->type == HAE_JSON_STRING) return m->text;
    const char *text = policy_str(m, lang);
    return text ? text : policy_str(m, "en");
}

static long number(const hae_json *obj, const char *key, long fallback) {
    const hae_json *m = obj ? hae_json_member(obj, key) : NULL;
    return m && m->type == HAE_JSON_NUMBER ? strtol(m->text, NULL, 10) : fallback;
}

static bool is_true(const hae_json *obj, const char *key) {
    const hae_json *m = obj ? hae_json_member(obj, key) : NULL;
    return m && m->type == HAE_JSON_BOOL && strcmp(m->text, "true") == 0;
}

/* ---- civil dates (proleptic Gregorian, days since 1970-01-01) --------- */

/* H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", days_from_civil. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static unsigned weekday(int64_t days) { /* 0 Sunday; 1970-01-01 was a Thursday */
    return (unsigned)((days % 7 + 11) % 7);
}

/* The n-th (1-based) Sunday of a month. */
static int64_t nth_sunday(int64_t y, unsigned m, unsigned n) {
    int64_t first = days_from_civil(y, m, 1);
    return first + (7 - weekday(first)) % 7 + 7 * (n - 1);
}

/* US daylight time (15 U.S.C. 260a): from 2:00 local standard time on the
 * second Sunday of March to 2:00 local daylight time on the first Sunday of
 * November. utc_ns is the instant; offset_h the standard offset. */
static bool is_us_dst(int64_t utc_ns, long offset_h) {
    int64_t local_standard = utc_ns + offset_h * HOUR_NS;
    int64_t day = floor_div(local_standard, DAY_NS);
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    int64_t start = nth_sunday(y, 3, 2) * DAY_NS + 2 * HOUR_NS;
    int64_t end = nth_sunday(y, 11, 1) * DAY_NS + 1 * HOUR_NS; /* 2:00 daylight = 1:00 standard */
    return local_standard >= start && local_standard < end;
}

static int64_t local_offset_ns(const hae_json *cal, int64_t utc_ns) {
    long offset = number(cal, "utc_offset_hours", 0);
    const char *dst = policy_str(cal, "dst");
    if (dst && strcmp(dst, "us") == 0 && is_us_dst(utc_ns, offset)) offset++;
    return offset * HOUR_NS;
}

static bool is_holiday(const hae_json *cal, int64_t day) {
    const hae_json *list = hae_json_member(cal, "holidays");
    for (const hae_json *h = list ? list->child : NULL; h; h = h->next) {
        const char *date = policy_str(h, "date");
        int y, m, d;
        if (date && sscanf(date, "%4d-%2d-%2d", &y, &m, &d) == 3 &&
            days_from_civil(y, (unsigned)m, (unsigned)d) == day) {
            return true;
        }
    }
    return false;
}

int policy_business_days(const hae_json *cal, int64_t start, unsigned n, int64_t *due,
                         hae_err *err) {
    const hae_json *years = hae_json_member(cal, "years");
    long first_year = years && years->count == 2 ? strtol(years->child->text, NULL, 10) : 0;
    long last_year = years && years->count == 2 ? strtol(years->child->next->text, NULL, 10) : 0;
    int64_t day = floor_div(start + local_offset_ns(cal, start), DAY_NS);
    for (unsigned counted = 0; counted < n;) {
        day++;
        int64_t y;
        unsigned m, d;
        civil_from_days(day, &y, &m, &d);
        if (y < first_year || y > last_year) {
            return hae_err_set(err, HAE_ELIMIT, "calendar %s covers %ld-%ld, not %lld",
                               policy_str(cal, "calendar"), first_year, last_year, (long long)y);
        }
        unsigned wd = weekday(day);
        if (wd != 0 && wd != 6 && !is_holiday(cal, day)) counted++;
    }
    int hh = 23, mm = 59;
    const char *at = policy_str(cal, "due_time");
    if (at && sscanf(at, "%2d:%2d", &hh, &mm) != 2) hh = 23, mm = 59;
    int64_t local = day * DAY_NS + (int64_t)hh * HOUR_NS + (int64_t)mm * 60 * 1000000000;
    /* The offset of that local time: try standard, then check. */
    int64_t utc = local - local_offset_ns(cal, local - number(cal, "utc_offset_hours", 0) * HOUR_NS);
    *due = utc;
    return HAE_OK;
}

static int64_t add_months(int64_t start, long months) {
    int64_t day = floor_div(start, DAY_NS), rest = start - day * DAY_NS;
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    int64_t month_index = y * 12 + (m - 1) + months;
    int64_t ny = floor_div(month_index, 12);
    unsigned nm = (unsigned)(month_index - ny * 12) + 1;
    static const unsigned lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned last = lengths[nm - 1] + (nm == 2 && ((ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0));
    return days_from_civil(ny, nm, d < last ? d : last) * DAY_NS + rest;
}

static const hae_tz *zone_find(const server_policies *p, const char *name) {
    for (size_t i = 0; name && i < p->zone_count; i++) {
        if (strcmp(hae_tz_name(p->zones[i]), name) == 0) return p->zones[i];
    }
    return NULL;
}

/* Loads a deadline's zone into the policies unless it is there. */
static int zone_add(server_policies *p, const char *name, hae_err *err) {
    if (!name) return hae_err_set(err, HAE_EINVAL, "end_of_day needs a \"zone\"");
    if (zone_find(p, name)) return HAE_OK;
    if (p->zone_count == POLICY_ZONES_MAX) {
        return hae_err_set(err, HAE_ELIMIT, "more than %d zones in the policies", POLICY_ZONES_MAX);
    }
    hae_tz *tz = NULL;
    if (hae_tz_load(name, &tz, err) < 0) return hae_err_prefix(err, "zone");
    p->zones[p->zone_count++] = tz;
    return HAE_OK;
}

/* The end of day n counting the start's local day as day 1: local
 * midnight after day n, as a UTC instant. */
static int64_t end_of_local_day(const hae_tz *tz, int64_t start, long n) {
    int64_t sec = floor_div(start, 1000000000);
    int64_t local_day = floor_div(sec + hae_tz_offset(tz, sec), 86400);
    int64_t midnight_local = (local_day + n) * 86400;
    /* The offset that holds at that midnight, found from either side. */
    int64_t guess = midnight_local - hae_tz_offset(tz, sec);
    int64_t utc = midnight_local - hae_tz_offset(tz, guess);
    return utc * 1000000000;
}

int policy_deadline_apply(const server_policies *p, const hae_json *dl, int64_t start,
                          int64_t *due, hae_err *err) {
    long n;
    if ((n = number(dl, "end_of_day", -1)) >= 1) {
        const hae_tz *tz = zone_find(p, policy_str(dl, "zone"));
        if (!tz) return hae_err_set(err, HAE_EINVAL, "deadline: zone not loaded");
        *due = end_of_local_day(tz, start, n);
    } else if ((n = number(dl, "hours", -1)) >= 0) {
        *due = start + n * HOUR_NS;
    } else if ((n = number(dl, "days", -1)) >= 0) {
        *due = start + n * DAY_NS;
    } else if ((n = number(dl, "months", -1)) >= 0) {
        *due = add_months(start, n);
    } else if ((n = number(dl, "business_days", -1)) >= 0) {
        const char *name = policy_str(dl, "calendar");
        const hae_json *cal = name ? policy_calendar_find(p, name) : NULL;
        if (!cal) return hae_err_set(err, HAE_EINVAL, "no calendar '%s'", name ? name : "");
        return policy_business_days(cal, start, (unsigned)n, due, err);
    } else if (is_true(dl, "without_delay")) {
        *due = start;
    } else if (is_true(dl, "when_known")) {
        *due = 0;
    } else {
        return hae_err_set(err, HAE_EINVAL, "deadline: hours, days, months, business_days,"
                                            " without_delay or when_known");
    }
    return HAE_OK;
}

/* ---- loading ------------------------------------------------------------ */

static const hae_json *find_in(const server_policies *p, const char *top, const char *name) {
    for (size_t i = 0; p && i < p->count; i++) {
        const hae_json *m = hae_json_member(p->docs[i], top);
        if (m && m->type == HAE_JSON_STRING && strcmp(m->text, name) == 0) return p->docs[i];
    }
    return NULL;
}

const hae_json *policy_calendar_find(const server_policies *p, const char *name) {
    return find_in(p, "calendar", name);
}

const hae_json *policy_report_find(const server_policies *p, const char *id) {
    for (size_t i = 0; p && i < p->count; i++) {
        const hae_json *r = hae_json_member(hae_json_member(p->docs[i], "reports"), id);
        if (r) return r;
    }
    return NULL;
}

const hae_json *policy_rule_find(const server_policies *p, const char *id, const hae_json **doc) {
    for (size_t i = 0; p && i < p->count; i++) {
        const hae_json *rules = hae_json_member(p->docs[i], "rules");
        for (const hae_json *r = rules ? rules->child : NULL; r; r = r->next) {
            const char *rid = policy_str(r, "id");
            if (rid && strcmp(rid, id) == 0) {
                if (doc) *doc = p->docs[i];
                return r;
            }
        }
    }
    return NULL;
}

static int rule_check(server_policies *p, const char *file, const hae_json *r,
                      hae_err *err) {
    const char *id = policy_str(r, "id");
    if (!id) return hae_err_set(err, HAE_EINVAL, "%s: a rule without \"id\"", file);
    static const char *const required[] = {"source", "starts", "report"};
    for (size_t i = 0; i < 3; i++) {
        if (!policy_str(r, required[i])) {
            return hae_err_set(err, HAE_EINVAL, "%s: rule %s: \"%s\" is required", file, id,
                               required[i]);
        }
    }
    const char *starts = policy_str(r, "starts");
    static const char *const moments[] = {"detection", "awareness", "confirmation",
                                          "classification", "materiality"};
    bool known = strncmp(starts, "report:", 7) == 0;
    if (strncmp(starts, "new_facts:", 10) == 0) {
        const hae_json *facts = hae_json_member(r, "facts");
        if (!facts || facts->type != HAE_JSON_ARRAY || facts->count == 0) {
            return hae_err_set(err, HAE_EINVAL, "%s: rule %s: new_facts needs \"facts\", the "
                               "attributes that establish new facts", file, id);
        }
        known = true;
    }
    for (size_t i = 0; i < 5 && !known; i++) known = strcmp(starts, moments[i]) == 0;
    if (!known) return hae_err_set(err, HAE_EINVAL, "%s: rule %s: unknown start '%s'", file, id, starts);
    if (!policy_report_find(p, policy_str(r, "report"))) {
        return hae_err_set(err, HAE_EINVAL, "%s: rule %s: no report '%s'", file, id,
                           policy_str(r, "report"));
    }
    const hae_json *dl = hae_json_member(r, "deadline");
    int64_t due = 0;
    int rc = HAE_OK;
    if (number(dl, "end_of_day", -1) >= 1) rc = zone_add(p, policy_str(dl, "zone"), err);
    if (rc < 0) {
        /* reported below */
    } else if (number(dl, "business_days", -1) >= 0) {
        /* Checked for its calendar only: dates outside it fail when met. */
        const char *cal = policy_str(dl, "calendar");
        if (!cal || !policy_calendar_find(p, cal)) {
            rc = hae_err_set(err, HAE_EINVAL, "no calendar '%s'", cal ? cal : "");
        }
    } else {
        rc = policy_deadline_apply(p, dl, 0, &due, err);
    }
    return rc < 0 ? hae_err_prefix(err, "%s: rule %s: ", file, id) : HAE_OK;
}

static int load_file(server_policies *p, const char *dir, const char *name, hae_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rbe");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    char *text = malloc(POLICY_MAX_BYTES);
    size_t len = text ? fread(text, 1, POLICY_MAX_BYTES, f) : 0;
    fclose(f);
    if (!text) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    int rc = HAE_OK;
    hae_json *doc = NULL;
    if (len == POLICY_MAX_BYTES) rc = hae_err_set(err, HAE_ELIMIT, "%s: over 1 MiB", path);
    if (rc == HAE_OK) rc = hae_json_parse(text, len, &p->arena, &doc, err);
    free(text);
    if (rc < 0 || !doc) return hae_err_prefix(err, "%s: ", path);
    if (doc->type != HAE_JSON_OBJECT || (!policy_str(doc, "regime") && !policy_str(doc, "calendar"))) {
        return hae_err_set(err, HAE_EINVAL, "%s: an object with \"regime\" or \"calendar\"", path);
    }
    p->docs[p->count] = doc;
    p->files[p->count] = hae_arena_strdup(&p->arena, name);
    p->count++;
    return p->files[p->count - 1] ? HAE_OK : hae_err_set(err, HAE_ENOMEM, "out of memory");
}

static int compare_names(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_json(const struct dirent *e) {
    size_t n = strlen(e->d_name);
    return n > 5 && e->d_name[0] != '.' && strcmp(e->d_name + n - 5, ".json") == 0;
}

int server_policies_load(const char *dir, server_policies **out, hae_err *err) {
    *out = NULL;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_json, compare_names);
    if (n < 0) return hae_err_errno(err, errno, "policies %s", dir);
    server_policies *p = calloc(1, sizeof *p);
    if (!p) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    int rc = HAE_OK;
    p->docs = hae_arena_alloc(&p->arena, (size_t)(n + 1) * sizeof(hae_json *));
    p->files = hae_arena_alloc(&p->arena, (size_t)(n + 1) * sizeof(char *));
    if (!p->docs || !p->files) rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (rc == HAE_OK) rc = load_file(p, dir, names[i]->d_name, err);
        free(names[i]);
    }
    free(names);
    /* Rules are checked once every file is in: reports and calendars may
     * live in other files. */
    for (size_t i = 0; rc == HAE_OK && p->docs && p->files && i < p->count; i++) {
        const hae_json *rules = hae_json_member(p->docs[i], "rules");
        for (const hae_json *r = rules ? rules->child : NULL; r && rc == HAE_OK; r = r->next) {
            rc = rule_check(p, p->files[i], r, err);
        }
    }
    if (rc < 0) {
        server_policies_free(p);
        return rc;
    }
    *out = p;
    return HAE_OK;
}

void server_policies_free(server_policies *p) {
    if (!p) return;
    for (size_t i = 0; i < p->zone_count; i++) hae_tz_free(p->zones[i]);
    hae_arena_free(&p->arena);
    free(p);
}
