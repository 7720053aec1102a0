/* Reports and notices: the fields a rule's report lists (policies/, JSON
 * "reports"), filled from the incident, its attributes and a scope subject
 * list, in Korean or English, as Markdown, HTML or JSON. Marking one sent
 * records it (and so logs it in the ledger). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/obligations.h"

typedef struct values {
    server_facts facts;
    char names[32][32];
    char *texts[32];
    size_t count;
    uint64_t subjects;            /* persons in the subject list */
    char subject_kinds[256];
} values;

static int keep_attr(void *ctx, const char *name, const char *value, int64_t at_ns, hae_err *err) {
    (void)at_ns;
    values *v = ctx;
    if (v->count == 32) return HAE_OK;
    char *copy = strdup(value);
    if (!copy) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    snprintf(v->names[v->count], sizeof v->names[0], "%s", name);
    v->texts[v->count++] = copy;
    return HAE_OK;
}

static const char *attr(const values *v, const char *name) {
    for (size_t i = 0; i < v->count; i++) {
        if (strcmp(v->names[i], name) == 0) return v->texts[i];
    }
    return NULL;
}

/* A `haetae scan --subjects` list (JSON lines, docs/SCOPE.md): one line per
 * person after the header; kinds gathered. Identifiers are hashes: nothing
 * personal is read. */
static int subjects_read(const char *path, values *v, hae_err *err) {
    FILE *f = fopen(path, "re");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "{\"person\":", 10) != 0) continue;
        v->subjects++;
        const char *k = strstr(line, "\"kinds\":[");
        const char *end = k ? strchr(k, ']') : NULL;
        for (const char *q = k ? k + 9 : NULL; q && q < end; q++) {
            if (*q != '"') continue;
            const char *close = memchr(q + 1, '"', (size_t)(end - q - 1));
            if (!close) break;
            char kind[32];
            snprintf(kind, sizeof kind, "%.*s", (int)(close - q - 1), q + 1);
            if (!strstr(v->subject_kinds, kind)) {
                size_t len = strlen(v->subject_kinds);
                snprintf(v->subject_kinds + len, sizeof v->subject_kinds - len, "%s%s",
                         len ? "," : "", kind);
            }
            q = close;
        }
    }
    free(line);
    fclose(f);
    return HAE_OK;
}

/* The value of a field: attributes first, then what the incident and the
 * subject list say. Writes into buf when computed; NULL when unknown. */
static const char *field_value(const values *v, const char *key, char *buf, size_t size) {
    const store_incident *in = &v->facts.incident;
    const char *a = attr(v, key);
    if (a) return a;
    int64_t moment = strcmp(key, "detected") == 0 ? in->detected_ns
                     : strcmp(key, "aware") == 0 ? in->aware_ns
                     : strcmp(key, "classified_major") == 0 ? in->classified_major_ns
                     : strcmp(key, "materiality_determined") == 0 ? in->materiality_determined_ns
                     : 0;
    if (moment) {
        hae_time_format(moment, buf);
        return buf;
    }
    if (strcmp(key, "persons") == 0 && v->subjects) {
        snprintf(buf, size, "%llu", (unsigned long long)v->subjects);
        return buf;
    }
    if (strcmp(key, "data_kinds") == 0 && v->subject_kinds[0]) return v->subject_kinds;
    return NULL;
}

static int html_text(hae_buf *out, const char *s) {
    int rc = HAE_OK;
    for (; *s && rc == HAE_OK; s++) {
        switch (*s) {
        case '<': rc = hae_buf_append_str(out, "&lt;"); break;
        case '>': rc = hae_buf_append_str(out, "&gt;"); break;
        case '&': rc = hae_buf_append_str(out, "&amp;"); break;
        case '"': rc = hae_buf_append_str(out, "&quot;"); break;
        default: rc = hae_buf_append_char(out, *s);
        }
    }
    return rc;
}

static int json_text(hae_buf *out, const char *s) {
    return s ? hae_json_append_string(out, s, strlen(s)) : hae_buf_append_str(out, "null");
}

typedef struct render {
    const server_policies *p;
    const hae_json *rule, *report;
    const server_obligation *o;
    const values *v;
    const char *lang;
    server_report_format format;
    hae_buf *out;
} render;

static int head(const render *r) {
    bool ko = strcmp(r->lang, "ko") == 0;
    const char *title = policy_lang(r->report, "title", r->lang);
    const char *notice = policy_lang(r->report, "notice", r->lang);
    char due[HAE_TIME_LEN] = "-";
    if (r->o->due_ns) hae_time_format(r->o->due_ns, due);
    hae_buf *out = r->out;
    const char *labels[4] = {ko ? "사건 번호" : "Incident", ko ? "의무" : "Obligation",
                             ko ? "기한" : "Due", ko ? "수신" : "To"};
    const char *vals[4] = {r->o->incident_id, r->o->rule_id, due, r->o->notify};
    int rc;
    if (r->format == SERVER_REPORT_MD) {
        rc = hae_buf_printf(out, "# %s\n\n", title);
        if (rc == HAE_OK && notice) rc = hae_buf_printf(out, "%s\n\n", notice);
        for (int i = 0; i < 4 && rc == HAE_OK; i++) rc = hae_buf_printf(out, "- **%s**: %s\n", labels[i], vals[i]);
        if (rc == HAE_OK) rc = hae_buf_printf(out, "- **%s**: %s\n", ko ? "근거" : "Legal basis",
                                              policy_str(r->report, "source"));
        return rc;
    }
    rc = hae_buf_printf(out, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>",
                        r->lang);
    if (rc == HAE_OK) rc = html_text(out, title);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "</title></head><body>\n<h1>");
    if (rc == HAE_OK) rc = html_text(out, title);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "</h1>\n");
    if (rc == HAE_OK && notice) {
        rc = hae_buf_append_str(out, "<p>");
        if (rc == HAE_OK) rc = html_text(out, notice);
        if (rc == HAE_OK) rc = hae_buf_append_str(out, "</p>\n");
    }
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "<dl>\n");
    for (int i = 0; i < 4 && rc == HAE_OK; i++) {
        rc = hae_buf_printf(out, "<dt>%s</dt><dd>", labels[i]);
        if (rc == HAE_OK) rc = html_text(out, vals[i]);
        if (rc == HAE_OK) rc = hae_buf_append_str(out, "</dd>\n");
    }
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "</dl>\n");
    return rc;
}

/* What a report says for a value nobody gave: when an incident began is
 * "unknown" until someone establishes it (detection is not occurrence). */
static const char *missing_text(const char *key, bool ko) {
    if (key && strcmp(key, "occurred") == 0) return ko ? "미상" : "unknown";
    return ko ? "(미기재)" : "(not yet provided)";
}

static int field(const render *r, const char *key, const char *label, const char *value,
                 bool first) {
    bool ko = strcmp(r->lang, "ko") == 0;
    const char *missing = missing_text(key, ko);
    hae_buf *out = r->out;
    int rc;
    switch (r->format) {
    case SERVER_REPORT_MD:
        /* Escaped as in HTML: Markdown passes raw HTML through, and a
         * value is an analyst's or an attacker's text. */
        rc = hae_buf_printf(out, "\n## %s\n\n", label);
        if (rc == HAE_OK) rc = html_text(out, value ? value : missing);
        return rc == HAE_OK ? hae_buf_append_char(out, '\n') : rc;
    case SERVER_REPORT_HTML:
        rc = hae_buf_append_str(out, "<h2>");
        if (rc == HAE_OK) rc = html_text(out, label);
        if (rc == HAE_OK) rc = hae_buf_append_str(out, "</h2>\n<p>");
        if (rc == HAE_OK) rc = html_text(out, value ? value : missing);
        return rc == HAE_OK ? hae_buf_append_str(out, "</p>\n") : rc;
    case SERVER_REPORT_JSON:
        rc = hae_buf_append_str(out, first ? "" : ",");
        return rc;
    }
    return HAE_OK;
}

static int fields_json(const render *r) {
    hae_buf *out = r->out;
    const hae_json *list = hae_json_member(r->report, "fields");
    char due[HAE_TIME_LEN] = "";
    if (r->o->due_ns) hae_time_format(r->o->due_ns, due);
    int rc = hae_buf_printf(out, "{\"report\":");
    if (rc == HAE_OK) rc = json_text(out, r->o->report);
    if (rc == HAE_OK) rc = hae_buf_printf(out, ",\"lang\":\"%s\",\"incident_id\":\"%s\",\"obligation\":",
                                          r->lang, r->o->incident_id);
    if (rc == HAE_OK) rc = json_text(out, r->o->rule_id);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"title\":");
    if (rc == HAE_OK) rc = json_text(out, policy_lang(r->report, "title", r->lang));
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"source\":");
    if (rc == HAE_OK) rc = json_text(out, policy_str(r->report, "source"));
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"to\":");
    if (rc == HAE_OK) rc = json_text(out, r->o->notify);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"due\":");
    if (rc == HAE_OK) rc = json_text(out, due[0] ? due : NULL);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"fields\":[");
    hae_buf missing = {0};
    for (const hae_json *f = list ? list->child : NULL; f && rc == HAE_OK; f = f->next) {
        const char *key = policy_str(f, "key");
        char buf[64];
        const char *value = key ? field_value(r->v, key, buf, sizeof buf) : NULL;
        rc = hae_buf_printf(out, "%s{\"key\":", f == list->child ? "" : ",");
        if (rc == HAE_OK) rc = json_text(out, key);
        if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"label\":");
        if (rc == HAE_OK) rc = json_text(out, policy_lang(f, r->lang, r->lang));
        if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"value\":");
        if (rc == HAE_OK) rc = json_text(out, value);
        if (rc == HAE_OK) rc = hae_buf_append_char(out, '}');
        if (rc == HAE_OK && !value) {
            rc = hae_buf_printf(&missing, "%s\"%s\"", missing.len ? "," : "", key ? key : "");
        }
    }
    if (rc == HAE_OK) rc = hae_buf_printf(out, "],\"missing\":[%s]}\n", missing.data ? missing.data : "");
    hae_buf_free(&missing);
    return rc;
}

static int body(const render *r) {
    if (r->format == SERVER_REPORT_JSON) return fields_json(r);
    int rc = head(r);
    const hae_json *list = hae_json_member(r->report, "fields");
    for (const hae_json *f = list ? list->child : NULL; f && rc == HAE_OK; f = f->next) {
        const char *key = policy_str(f, "key");
        char buf[64];
        rc = field(r, key, policy_lang(f, r->lang, r->lang),
                   key ? field_value(r->v, key, buf, sizeof buf) : NULL, f == list->child);
    }
    if (rc == HAE_OK && r->format == SERVER_REPORT_HTML) rc = hae_buf_append_str(r->out, "</body></html>\n");
    return rc;
}

typedef struct find_ctx {
    const char *rule_id;
    server_obligation found;
    bool is_found;
} find_ctx;

static int find_obligation(void *ctx, const server_obligation *o, hae_err *err) {
    (void)err;
    find_ctx *f = ctx;
    if (strcmp(o->rule_id, f->rule_id) == 0) {
        f->found = *o;
        f->is_found = true;
    }
    return HAE_OK;
}

static int obligation_get(const server_policies *p, const values *v, const char *rule_id,
                          server_obligation *out, hae_err *err) {
    find_ctx f = {.rule_id = rule_id};
    int rc = server_obligations_eval(p, &v->facts, hae_time_now_ns(), find_obligation, &f, err);
    if (rc == HAE_OK && !f.is_found) {
        rc = hae_err_set(err, HAE_ENOENT, "obligation %s does not apply to incident %s", rule_id,
                         v->facts.incident.id);
    }
    if (rc == HAE_OK) *out = f.found;
    return rc;
}

static void values_free(values *v) {
    for (size_t i = 0; i < v->count; i++) free(v->texts[i]);
    free(v);
}

int server_report_render(store *st, const server_policies *p, const char *incident_id,
                         const char *rule_id, server_report_format format, const char *lang,
                         const char *subjects_path, hae_buf *out, hae_err *err) {
    if (strcmp(lang, "ko") != 0 && strcmp(lang, "en") != 0) {
        return hae_err_set(err, HAE_EINVAL, "language: ko or en");
    }
    values *v = calloc(1, sizeof *v);
    if (!v) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    int rc = server_facts_load(st, incident_id, &v->facts, err);
    if (rc == HAE_OK) rc = store_incident_attrs(st, incident_id, keep_attr, v, err);
    if (rc == HAE_OK && subjects_path) rc = subjects_read(subjects_path, v, err);
    if (rc == HAE_OK && v->subjects && !v->facts.persons) v->facts.persons = v->subjects;
    if (rc == HAE_OK && !v->facts.data_kinds[0]) {
        snprintf(v->facts.data_kinds, sizeof v->facts.data_kinds, "%s", v->subject_kinds);
    }
    server_obligation o;
    if (rc == HAE_OK) rc = obligation_get(p, v, rule_id, &o, err);
    const hae_json *rule = rc == HAE_OK ? policy_rule_find(p, rule_id, NULL) : NULL;
    const hae_json *report = rule ? policy_report_find(p, policy_str(rule, "report")) : NULL;
    if (rc == HAE_OK && !report) rc = hae_err_set(err, HAE_EINVAL, "rule %s has no report", rule_id);
    if (rc == HAE_OK) {
        render r = {p, rule, report, &o, v, lang, format, out};
        rc = body(&r);
        if (rc < 0 && err->code == 0) hae_err_set(err, rc, "out of memory");
    }
    values_free(v);
    return rc;
}

int server_report_mark_sent(store *st, const server_policies *p, const char *incident_id,
                            const char *rule_id, const char *recipient, const char *sha256_hex,
                            const char *who, store_report *out, hae_err *err) {
    if (!policy_rule_find(p, rule_id, NULL)) {
        return hae_err_set(err, HAE_ENOENT, "no policy rule '%s'", rule_id);
    }
    if (!sha256_hex || strlen(sha256_hex) != 64 || strspn(sha256_hex, "0123456789abcdef") != 64) {
        return hae_err_set(err, HAE_EINVAL, "the report's SHA-256: 64 lowercase hex digits");
    }
    store_report r;
    memset(&r, 0, sizeof r);
    snprintf(r.incident_id, sizeof r.incident_id, "%s", incident_id);
    snprintf(r.obligation, sizeof r.obligation, "%s", rule_id);
    snprintf(r.recipient, sizeof r.recipient, "%s", recipient ? recipient : "");
    snprintf(r.who, sizeof r.who, "%s", who && *who ? who : "unknown");
    snprintf(r.report_sha256, sizeof r.report_sha256, "%s", sha256_hex);
    int rc = store_report_sent(st, &r, err);
    if (rc == HAE_OK && out) *out = r;
    return rc;
}
