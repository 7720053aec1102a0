/* Which policy rules cover an incident, when each clock started, when it is
 * due and where it stands; overdue obligations become alerts; the incident
 * attributes the rules read. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/obligations.h"

/* ---- attributes --------------------------------------------------------- */

/* The values the policies' covers compare with: an attribute outside
 * these would silently match no rule, so it is refused with the list. */
static const char *const kinds[] = {"intrusion", "personal_data_leak", "ransomware", "outage", NULL};
static const char *const regions[] = {"kr", "eu", "jp", "us", NULL};
static const char *const sectors[] = {
    "financial", "banking", "insurance", "investment", "card", "securities", "payment",
    "telecom", "public", "public_administration", "energy", "transport", "health", "water",
    "digital_infrastructure", "ict_services", "space", "postal", "waste", "chemicals", "food",
    "manufacturing", "digital_providers", "research", "us_listed", "retail", "other", NULL};
static const char *const data_kinds[] = {
    "rrn", "frn", "passport", "driver_license", "unique_id", "card", "bank_account", "imei",
    "imeisv", "imsi", "iccid", "phone", "email", "name", "address", "location", "credentials",
    "sensitive", "health", "genetic", "biometric", "belief", "political", "union", "sex_life",
    "criminal", "other", NULL};
static const struct {
    const char *name;
    const char *const *values;
} list_attrs[] = {{"kind", kinds}, {"region", regions}, {"sector", sectors},
                  {"data_kinds", data_kinds}};
static const char *const text_attrs[] = {
    "org", "occurred", "cause", "damage", "response", "contact", "remedy", "subject_actions",
    "consequences", "measures", "dpo", "nature", "cross_border", "announcement",
    "other_matters", "notice_result", "delay_reasons", "suspected_malicious", "indicators", NULL};
#define COUNT_MAX 10000000000ULL /* persons, records: more than the world's people */

static bool in_list(const char *const *list, const char *s, size_t len) {
    for (size_t i = 0; list[i]; i++) {
        if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0) return true;
    }
    return false;
}

static const char *const *values_of(const char *name) {
    for (size_t i = 0; i < sizeof list_attrs / sizeof list_attrs[0]; i++) {
        if (strcmp(list_attrs[i].name, name) == 0) return list_attrs[i].values;
    }
    return NULL;
}

static bool is_text_attr(const char *name) {
    for (size_t i = 0; text_attrs[i]; i++) {
        if (strcmp(text_attrs[i], name) == 0) return true;
    }
    return strcmp(name, "persons") == 0 || strcmp(name, "records") == 0;
}

/* "a, b, c" lists the values for a message. */
static void values_join(const char *const *values, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; values[i] && used + 1 < size; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", values[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* A comma list lowercased and without blanks, each item one of values. */
static int list_normalise(const char *name, const char *const *values, const char *value,
                          char *out, size_t size, hae_err *err) {
    size_t used = 0;
    for (const char *p = value; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        size_t n = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == ' ' || p[i] == '\t') continue;
            if (n + 1 >= sizeof item) break;
            item[n++] = (char)tolower((unsigned char)p[i]);
        }
        item[n] = '\0';
        if (!in_list(values, item, n)) {
            char valid[1024];
            values_join(values, valid, sizeof valid);
            return hae_err_set(err, HAE_EINVAL, "%s: '%.*s' is not one of %s", name,
                               (int)(len > 64 ? 64 : len), p, valid);
        }
        if (used + n + 2 > size) return hae_err_set(err, HAE_EINVAL, "%s: too many values", name);
        used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "", item);
        p = comma ? comma + 1 : p + len;
    }
    if (!used) return hae_err_set(err, HAE_EINVAL, "%s: at least one value", name);
    return HAE_OK;
}

static int count_check(const char *name, const char *value, hae_err *err) {
    bool digits = *value && strspn(value, "0123456789") == strlen(value) && strlen(value) <= 11;
    if (!digits || strtoull(value, NULL, 10) > COUNT_MAX) {
        return hae_err_set(err, HAE_EINVAL, "%s: '%.32s' is not a whole number from 0 to %llu",
                           name, value, COUNT_MAX);
    }
    return HAE_OK;
}

/* The value as stored: lists normalised, counts checked, texts as given. */
static int attr_normalise(const char *name, const char *value, char *out, size_t size,
                          hae_err *err) {
    if (!name || !value || strlen(value) > 4000) {
        return hae_err_set(err, HAE_EINVAL, "an attribute needs a name and a value (<= 4000 bytes)");
    }
    const char *const *values = values_of(name);
    if (values) return list_normalise(name, values, value, out, size, err);
    if (!is_text_attr(name)) {
        char valid[1024] = "kind, region, sector, data_kinds, persons, records, ";
        values_join(text_attrs, valid + strlen(valid), sizeof valid - strlen(valid));
        return hae_err_set(err, HAE_EINVAL, "unknown attribute '%.64s' (%s)", name, valid);
    }
    if (strcmp(name, "persons") == 0 || strcmp(name, "records") == 0) {
        int rc = count_check(name, value, err);
        if (rc < 0) return rc;
    }
    snprintf(out, size, "%s", value);
    return HAE_OK;
}

int server_incident_attr_check(const char *name, const char *value, hae_err *err) {
    char normal[4096];
    return attr_normalise(name, value, normal, sizeof normal, err);
}

int server_incident_set(store *st, const char *id, const char *name, const char *value,
                        const char *who, uint64_t *seq, hae_err *err) {
    char normal[4096];
    int rc = attr_normalise(name, value, normal, sizeof normal, err);
    if (rc < 0) return rc;
    return store_incident_attr_set(st, id, name, normal, who && *who ? who : "unknown", seq, err);
}

/* ---- facts -------------------------------------------------------------- */

static int fact_attr(void *ctx, const char *name, const char *value, int64_t at_ns, hae_err *err) {
    (void)at_ns;
    (void)err;
    server_facts *f = ctx;
    if (strcmp(name, "kind") == 0) snprintf(f->kinds, sizeof f->kinds, "%s", value);
    if (strcmp(name, "sector") == 0) snprintf(f->sectors, sizeof f->sectors, "%s", value);
    if (strcmp(name, "region") == 0) snprintf(f->regions, sizeof f->regions, "%s", value);
    if (strcmp(name, "data_kinds") == 0) snprintf(f->data_kinds, sizeof f->data_kinds, "%s", value);
    if (strcmp(name, "persons") == 0) f->persons = strtoull(value, NULL, 10);
    return HAE_OK;
}

static int fact_report(void *ctx, const store_report *r, hae_err *err) {
    (void)err;
    server_facts *f = ctx;
    for (size_t i = 0; i < f->sent_count; i++) {
        if (strcmp(f->sent[i].rule, r->obligation) == 0) {
            if (r->at_ns > f->sent[i].latest_ns) f->sent[i].latest_ns = r->at_ns;
            return HAE_OK; /* the first counts */
        }
    }
    if (f->sent_count == FACTS_SENT_MAX) return HAE_OK;
    snprintf(f->sent[f->sent_count].rule, sizeof f->sent[0].rule, "%s", r->obligation);
    f->sent[f->sent_count].latest_ns = r->at_ns;
    f->sent[f->sent_count++].at_ns = r->at_ns;
    return HAE_OK;
}

static int fact_change(void *ctx, const char *name, const char *value, int64_t at_ns,
                       hae_err *err) {
    (void)value;
    (void)err;
    server_facts *f = ctx;
    if (f->change_count == FACTS_CHANGES_MAX) {
        memmove(&f->changes[0], &f->changes[1], sizeof f->changes[0] * (FACTS_CHANGES_MAX - 1));
        f->change_count--;
    }
    snprintf(f->changes[f->change_count].name, sizeof f->changes[0].name, "%s", name);
    f->changes[f->change_count++].at_ns = at_ns;
    return HAE_OK;
}

int server_facts_load(store *st, const char *incident_id, server_facts *f, hae_err *err) {
    memset(f, 0, sizeof *f);
    int rc = store_incident_get(st, incident_id, &f->incident, err);
    if (rc == HAE_OK) rc = store_incident_attrs(st, incident_id, fact_attr, f, err);
    if (rc == HAE_OK) rc = store_incident_reports(st, incident_id, fact_report, f, err);
    if (rc == HAE_OK) rc = store_incident_attr_history(st, incident_id, fact_change, f, err);
    return rc;
}

/* ---- covers ------------------------------------------------------------- */

/* Whether the comma list has any of the JSON array's strings. */
static bool list_meets(const hae_json *wanted, const char *list) {
    for (const hae_json *w = wanted ? wanted->child : NULL; w; w = w->next) {
        size_t n = w->text_len;
        for (const char *p = list; p && *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (len == n && strncmp(p, w->text, n) == 0) return true;
            p = comma ? comma + 1 : NULL;
        }
    }
    return false;
}

bool policy_covers(const hae_json *c, const server_facts *f) {
    if (!c) return true;
    static const struct {
        const char *key;
        size_t offset;
    } lists[] = {{"kinds", offsetof(server_facts, kinds)},
                 {"sectors", offsetof(server_facts, sectors)},
                 {"regions", offsetof(server_facts, regions)},
                 {"data_kinds", offsetof(server_facts, data_kinds)}};
    for (size_t i = 0; i < 4; i++) {
        const hae_json *wanted = hae_json_member(c, lists[i].key);
        if (wanted && !list_meets(wanted, (const char *)f + lists[i].offset)) return false;
    }
    const hae_json *min = hae_json_member(c, "min_persons");
    if (min && f->persons < strtoull(min->text, NULL, 10)) return false;
    const hae_json *any = hae_json_member(c, "any");
    if (any) {
        bool met = false;
        for (const hae_json *a = any->child; a && !met; a = a->next) met = policy_covers(a, f);
        if (!met) return false;
    }
    const hae_json *none = hae_json_member(c, "none");
    for (const hae_json *a = none ? none->child : NULL; a; a = a->next) {
        if (policy_covers(a, f)) return false;
    }
    return true;
}

/* ---- one obligation ------------------------------------------------------ */

static int64_t sent_at(const server_facts *f, const char *rule) {
    for (size_t i = 0; i < f->sent_count; i++) {
        if (strcmp(f->sent[i].rule, rule) == 0) return f->sent[i].at_ns;
    }
    return 0;
}

static int64_t sent_latest(const server_facts *f, const char *rule) {
    for (size_t i = 0; i < f->sent_count; i++) {
        if (strcmp(f->sent[i].rule, rule) == 0) return f->sent[i].latest_ns;
    }
    return 0;
}

static bool names_fact(const hae_json *facts, const char *name) {
    for (const hae_json *x = facts ? facts->child : NULL; x; x = x->next) {
        if (x->type == HAE_JSON_STRING && strcmp(x->text, name) == 0) return true;
    }
    return false;
}

/* "new_facts:<report rule>": the first change of one of the rule's facts
 * after that report was sent and after this rule's own latest report, so
 * each newly established fact starts a clock a follow-up stops. 0: none
 * pending. */
static int64_t new_facts_start(const server_facts *f, const hae_json *rule, const char *after) {
    int64_t reported = sent_at(f, after);
    if (!reported) return 0;
    int64_t own = sent_latest(f, policy_str(rule, "id"));
    int64_t since = own > reported ? own : reported;
    const hae_json *facts = hae_json_member(rule, "facts");
    for (size_t i = 0; i < f->change_count; i++) {
        if (f->changes[i].at_ns > since && names_fact(facts, f->changes[i].name)) {
            return f->changes[i].at_ns;
        }
    }
    return 0;
}

/* The instant a start names; 0 when not recorded. Awareness unrecorded
 * counts from detection (the earlier, safe side) with a note. */
static int64_t start_of(const server_facts *f, const char *starts, char *note, size_t size) {
    const store_incident *in = &f->incident;
    if (strcmp(starts, "detection") == 0) return in->detected_ns;
    if (strcmp(starts, "confirmation") == 0) return in->confirmed_ns;
    if (strcmp(starts, "classification") == 0) return in->classified_major_ns;
    if (strcmp(starts, "materiality") == 0) return in->materiality_determined_ns;
    if (strcmp(starts, "awareness") == 0) {
        if (in->aware_ns) return in->aware_ns;
        snprintf(note, size, "awareness not recorded: counted from detection");
        return in->detected_ns;
    }
    if (strncmp(starts, "report:", 7) == 0) return sent_at(f, starts + 7);
    return 0;
}

static void notify_join(const hae_json *rule, char *out, size_t size) {
    out[0] = '\0';
    const hae_json *list = hae_json_member(rule, "notify");
    for (const hae_json *n = list ? list->child : NULL; n; n = n->next) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", len ? ", " : "", n->text);
    }
}

static void status_of(server_obligation *o, int64_t now) {
    if (o->start_ns == 0) {
        o->status = "waiting";
    } else if (o->due_ns == 0) {
        o->status = o->sent_ns ? "met" : "when_known";
    } else if (o->sent_ns) {
        o->status = o->sent_ns <= o->due_ns ? "met" : "late";
    } else {
        o->status = now > o->due_ns ? "overdue" : "open";
    }
}

static int obligation_fill(const server_policies *p, const hae_json *doc, const hae_json *rule,
                           const server_facts *f, int64_t now, server_obligation *o,
                           hae_err *err) {
    memset(o, 0, sizeof *o);
    o->incident_id = f->incident.id;
    o->rule_id = policy_str(rule, "id");
    o->regime = policy_str(doc, "regime");
    o->source = policy_str(rule, "source");
    o->report = policy_str(rule, "report");
    o->title_en = policy_lang(rule, "title", "en");
    o->title_ko = policy_lang(rule, "title", "ko");
    o->starts = policy_str(rule, "starts");
    notify_join(rule, o->notify, sizeof o->notify);
    const char *extra = policy_lang(rule, "note", "en");
    if (extra) snprintf(o->note, sizeof o->note, "%s", extra);
    bool is_follow_up = strncmp(o->starts, "new_facts:", 10) == 0;
    if (is_follow_up) {
        /* Met by the latest follow-up until a newer fact needs another. */
        o->start_ns = new_facts_start(f, rule, o->starts + 10);
        o->sent_ns = 0;
    } else {
        o->start_ns = start_of(f, o->starts, o->note, sizeof o->note);
        o->sent_ns = sent_at(f, o->rule_id);
    }
    int rc = HAE_OK;
    if (o->start_ns) {
        rc = policy_deadline_apply(p, hae_json_member(rule, "deadline"), o->start_ns, &o->due_ns, err);
    }
    /* DORA: "and no later than 24 hours" from another moment. */
    const hae_json *cap = hae_json_member(rule, "no_later_than");
    char unused[8];
    int64_t cap_start = cap ? start_of(f, policy_str(cap, "starts") ? policy_str(cap, "starts") : "",
                                       unused, sizeof unused) : 0;
    if (rc == HAE_OK && cap && cap_start) {
        int64_t cap_due = 0;
        rc = policy_deadline_apply(p, cap, cap_start, &cap_due, err);
        if (rc == HAE_OK && (o->due_ns == 0 || cap_due < o->due_ns)) {
            o->due_ns = cap_due;
            if (!o->start_ns) o->start_ns = cap_start;
        }
    }
    status_of(o, now);
    if (is_follow_up && !o->start_ns && sent_latest(f, o->rule_id)) {
        o->sent_ns = sent_latest(f, o->rule_id);
        o->status = "met";
    }
    return rc < 0 ? hae_err_prefix(err, "rule %s: ", o->rule_id) : HAE_OK;
}

int server_obligations_eval(const server_policies *p, const server_facts *f, int64_t now_ns,
                            server_obligation_fn fn, void *ctx, hae_err *err) {
    int rc = HAE_OK;
    for (size_t i = 0; p && i < p->count && rc == HAE_OK; i++) {
        const hae_json *rules = hae_json_member(p->docs[i], "rules");
        for (const hae_json *r = rules ? rules->child : NULL; r && rc == HAE_OK; r = r->next) {
            if (!policy_covers(hae_json_member(r, "covers"), f)) continue;
            server_obligation o;
            rc = obligation_fill(p, p->docs[i], r, f, now_ns, &o, err);
            if (rc == HAE_OK) rc = fn(ctx, &o, err);
        }
    }
    return rc;
}

int server_obligations_for(store *st, const server_policies *p, const char *incident_id,
                           int64_t now_ns, server_obligation_fn fn, void *ctx, hae_err *err) {
    server_facts *f = malloc(sizeof *f);
    if (!f) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    int rc = server_facts_load(st, incident_id, f, err);
    if (rc == HAE_OK) rc = server_obligations_eval(p, f, now_ns, fn, ctx, err);
    free(f);
    return rc;
}

typedef struct id_list {
    char (*ids)[HAE_ID_LEN];
    size_t count, cap;
} id_list;

static int collect_open(void *ctx, const store_incident *in, hae_err *err) {
    id_list *l = ctx;
    if (strcmp(in->state, "closed") == 0 || strcmp(in->state, "false_positive") == 0) return HAE_OK;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char(*grown)[HAE_ID_LEN] = realloc(l->ids, cap * sizeof *grown);
        if (!grown) return hae_err_set(err, HAE_ENOMEM, "out of memory");
        l->ids = grown;
        l->cap = cap;
    }
    memcpy(l->ids[l->count++], in->id, HAE_ID_LEN);
    return HAE_OK;
}

int server_obligations_all(store *st, const server_policies *p, int64_t now_ns,
                           server_obligation_fn fn, void *ctx, hae_err *err) {
    id_list l = {0};
    int rc = store_incident_list(st, NULL, collect_open, &l, err);
    for (size_t i = 0; i < l.count && rc == HAE_OK; i++) {
        rc = server_obligations_for(st, p, l.ids[i], now_ns, fn, ctx, err);
    }
    free(l.ids);
    return rc;
}

/* ---- overdue alerts ----------------------------------------------------- */

typedef struct raise_ctx {
    store *st;
    int64_t now;
    size_t raised;
} raise_ctx;

static int raise_one(void *ctx, const server_obligation *o, hae_err *err) {
    raise_ctx *r = ctx;
    if (strcmp(o->status, "overdue") != 0) return HAE_OK;
    store_incident in;
    int rc = store_incident_get(r->st, o->incident_id, &in, err);
    if (rc < 0) return rc;
    store_alert a;
    memset(&a, 0, sizeof a);
    a.time_ns = r->now;
    snprintf(a.rule_id, sizeof a.rule_id, "obligation.overdue.%s", o->rule_id);
    char due[HAE_TIME_LEN];
    hae_time_format(o->due_ns, due);
    hae_buf title = {0};
    rc = hae_buf_printf(&title, "overdue since %s: %s (%s) to %s", due,
                        o->title_en ? o->title_en : o->rule_id, o->rule_id, o->notify);
    if (rc < 0) return hae_err_set(err, rc, "out of memory");
    size_t len = title.len < sizeof a.rule_title - 1 ? title.len : sizeof a.rule_title - 1;
    memcpy(a.rule_title, title.data, len); /* a is zeroed: NUL-terminated */
    hae_buf_free(&title);
    snprintf(a.level, sizeof a.level, "high");
    snprintf(a.family, sizeof a.family, "obligation");
    snprintf(a.host, sizeof a.host, "%s", in.host);
    snprintf(a.event_id, sizeof a.event_id, "%s", in.id);
    snprintf(a.incident_id, sizeof a.incident_id, "%s", in.id);
    bool is_new = false;
    rc = store_alert_raise_once(r->st, &a, r->now, &is_new, err);
    if (rc == HAE_OK && is_new) r->raised++;
    return rc;
}

int server_obligations_raise(store *st, const server_policies *p, int64_t now_ns,
                             size_t *raised, hae_err *err) {
    raise_ctx r = {.st = st, .now = now_ns};
    int rc = server_obligations_all(st, p, now_ns, raise_one, &r, err);
    *raised = r.raised;
    return rc;
}

/* ---- JSON --------------------------------------------------------------- */

static int json_time_or_null(hae_buf *out, const char *name, int64_t ns) {
    if (!ns) return hae_buf_printf(out, ",\"%s\":null", name);
    char text[HAE_TIME_LEN];
    hae_time_format(ns, text);
    return hae_buf_printf(out, ",\"%s\":\"%s\"", name, text);
}

static int json_member(hae_buf *out, const char *name, const char *value) {
    int rc = hae_buf_printf(out, ",\"%s\":", name);
    if (rc < 0) return rc;
    return value ? hae_json_append_string(out, value, strlen(value)) : hae_buf_append_str(out, "null");
}

int server_json_obligation(hae_buf *out, const server_obligation *o, int64_t now_ns) {
    int rc = hae_buf_printf(out, "{\"incident_id\":\"%s\"", o->incident_id);
    if (rc == HAE_OK) rc = json_member(out, "rule", o->rule_id);
    if (rc == HAE_OK) rc = json_member(out, "regime", o->regime);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"title\":{\"en\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, o->title_en ? o->title_en : "", o->title_en ? strlen(o->title_en) : 0);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"ko\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, o->title_ko ? o->title_ko : "", o->title_ko ? strlen(o->title_ko) : 0);
    if (rc == HAE_OK) rc = hae_buf_append_char(out, '}');
    if (rc == HAE_OK) rc = json_member(out, "source", o->source);
    if (rc == HAE_OK) rc = json_member(out, "notify", o->notify);
    if (rc == HAE_OK) rc = json_member(out, "report", o->report);
    if (rc == HAE_OK) rc = json_member(out, "starts", o->starts);
    if (rc == HAE_OK) rc = json_time_or_null(out, "start", o->start_ns);
    if (rc == HAE_OK) rc = json_time_or_null(out, "due", o->due_ns);
    if (rc == HAE_OK) rc = json_time_or_null(out, "sent", o->sent_ns);
    if (rc == HAE_OK) rc = json_member(out, "status", o->status);
    if (rc == HAE_OK) {
        rc = o->due_ns ? hae_buf_printf(out, ",\"countdown_s\":%" PRId64, (o->due_ns - now_ns) / 1000000000)
                       : hae_buf_append_str(out, ",\"countdown_s\":null");
    }
    if (rc == HAE_OK) rc = json_member(out, "note", o->note[0] ? o->note : NULL);
    return rc == HAE_OK ? hae_buf_append_char(out, '}') : rc;
}
