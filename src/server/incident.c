/* The incident lifecycle (shared/design/ARCHITECTURE.md, "Incidents and
 * clocks") and the JSON the API writes for agents, alerts, incidents and
 * transitions. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

static const char *const states[] = {"detected", "triaged",  "confirmed", "contained",
                                     "reported", "notified", "closed",    "false_positive"};
enum { STATE_COUNT = sizeof states / sizeof states[0], STATE_CLOSED = 6, STATE_FALSE = 7 };

static int state_index(const char *state) {
    for (int i = 0; i < (int)STATE_COUNT; i++) {
        if (strcmp(state, states[i]) == 0) return i;
    }
    return -1;
}

bool server_state_is_known(const char *state) { return state && state_index(state) >= 0; }

bool server_transition_is_allowed(const char *from, const char *to) {
    int f = state_index(from), t = state_index(to);
    if (f < 0 || t < 0) return false;
    if (f == t) return true;
    if (f == STATE_CLOSED || f == STATE_FALSE) return t == 1; /* reopen to triaged */
    if (t == STATE_FALSE) return true;
    return t > f;
}

static void transition_fill(store_transition *t, const store_incident *in, const char *state,
                            const char *note, const char *moment, const char *who, int64_t at) {
    memset(t, 0, sizeof *t);
    snprintf(t->incident_id, sizeof t->incident_id, "%s", in->id);
    snprintf(t->from_state, sizeof t->from_state, "%s", in->state);
    snprintf(t->to_state, sizeof t->to_state, "%s", state);
    snprintf(t->who, sizeof t->who, "%s", who && *who ? who : "unknown");
    snprintf(t->why, sizeof t->why, "%s", note ? note : "");
    snprintf(t->moment, sizeof t->moment, "%s", moment ? moment : "");
    t->at_ns = at;
}

int server_incident_update(store *st, const char *id, const char *state, const char *note,
                           const char *moment, const char *who, store_transition *out,
                           hae_err *err) {
    if (!server_state_is_known(state)) {
        return hae_err_set(err, HAE_EINVAL,
                           "unknown state '%s' (detected, triaged, confirmed, contained, reported,"
                           " notified, closed, false_positive)",
                           state ? state : "");
    }
    if (moment && *moment && !store_moment_is_known(moment)) {
        return hae_err_set(err, HAE_EINVAL,
                           "unknown moment '%s' (suspected, confirmed, classified_major,"
                           " materiality_determined, aware)",
                           moment);
    }
    store_incident in;
    int rc = store_incident_get(st, id, &in, err);
    if (rc < 0) return rc;
    if (!server_transition_is_allowed(in.state, state)) {
        return hae_err_set(err, HAE_EPERM, "incident %s cannot move from %s to %s", in.id,
                           in.state, state);
    }
    /* A moment is recorded once: a second claim would move a deadline. */
    int64_t recorded = moment && *moment ? store_incident_moment_ns(&in, moment) : 0;
    if (recorded) {
        if (out) {
            *out = (store_transition){.at_ns = recorded};
            snprintf(out->incident_id, sizeof out->incident_id, "%s", in.id);
            snprintf(out->moment, sizeof out->moment, "%s", moment);
        }
        char when[HAE_TIME_LEN];
        hae_time_format(recorded, when);
        return hae_err_set(err, HAE_EEXIST, "incident %s: moment '%s' was already recorded at %s",
                           in.id, moment, when);
    }
    /* Confirming records the confirmed moment; another moment given with it
     * is a second history entry at the same instant. */
    bool confirms = strcmp(state, "confirmed") == 0 && in.confirmed_ns == 0;
    const char *extra = moment && *moment && strcmp(moment, "confirmed") != 0 ? moment : NULL;
    int64_t now = hae_time_now_ns();
    store_transition t;
    transition_fill(&t, &in, state, note, confirms ? "confirmed" : extra, who, now);
    rc = store_incident_transition(st, &t, err);
    if (rc == HAE_OK && confirms && extra) {
        snprintf(in.state, sizeof in.state, "%s", state);
        transition_fill(&t, &in, state, note, extra, who, now);
        rc = store_incident_transition(st, &t, err);
    }
    if (rc == HAE_OK && out) *out = t;
    return rc;
}
static int json_time(hae_buf *out, const char *name, int64_t ns) {
    if (ns == 0) return hae_buf_printf(out, ",\"%s\":null", name);
    char text[HAE_TIME_LEN];
    hae_time_format(ns, text);
    return hae_buf_printf(out, ",\"%s\":\"%s\"", name, text);
}

static int json_str(hae_buf *out, const char *name, const char *value) {
    int rc = hae_buf_printf(out, ",\"%s\":", name);
    return rc < 0 ? rc : hae_json_append_string(out, value, strlen(value));
}

int server_json_agent(hae_buf *out, const store_agent *a) {
    int rc = hae_buf_printf(out, "{\"id\":\"%s\"", a->id);
    if (rc == HAE_OK) rc = json_str(out, "hostname", a->hostname);
    if (rc == HAE_OK) rc = json_str(out, "version", a->version);
    if (rc == HAE_OK) rc = json_time(out, "enrolled", a->enrolled_ns);
    if (rc == HAE_OK) rc = json_time(out, "last_seen", a->last_seen_ns);
    if (rc == HAE_OK) {
        rc = hae_buf_printf(out, ",\"last_batch\":%" PRIu64 ",\"revoked\":%s", a->last_batch,
                            a->revoked_ns ? "true" : "false");
    }
    if (rc == HAE_OK) rc = json_time(out, "revoked_at", a->revoked_ns);
    return rc == HAE_OK ? hae_buf_append_char(out, '}') : rc;
}

int server_json_alert(hae_buf *out, const store_alert *a) {
    int rc = hae_buf_printf(out, "{\"id\":\"%s\"", a->id);
    if (rc == HAE_OK) rc = json_time(out, "time", a->time_ns);
    if (rc == HAE_OK) rc = json_str(out, "rule_id", a->rule_id);
    if (rc == HAE_OK) rc = json_str(out, "rule_title", a->rule_title);
    if (rc == HAE_OK) rc = json_str(out, "level", a->level);
    if (rc == HAE_OK) rc = json_str(out, "family", a->family);
    if (rc == HAE_OK) rc = json_str(out, "host", a->host);
    if (rc == HAE_OK) rc = json_str(out, "event_id", a->event_id);
    if (rc == HAE_OK) rc = json_str(out, "incident_id", a->incident_id);
    return rc == HAE_OK ? hae_buf_append_char(out, '}') : rc;
}

int server_json_incident(hae_buf *out, const store_incident *in) {
    int rc = hae_buf_printf(out, "{\"id\":\"%s\"", in->id);
    if (rc == HAE_OK) rc = json_str(out, "state", in->state);
    if (rc == HAE_OK) rc = json_str(out, "host", in->host);
    if (rc == HAE_OK) rc = json_str(out, "family", in->family);
    if (rc == HAE_OK) rc = json_str(out, "title", in->title);
    if (rc == HAE_OK) rc = hae_buf_printf(out, ",\"alerts\":%" PRIu64, in->alert_count);
    if (rc == HAE_OK) rc = json_time(out, "detected", in->detected_ns);
    if (rc == HAE_OK) rc = json_time(out, "last_alert", in->last_alert_ns);
    if (rc == HAE_OK) rc = json_time(out, "updated", in->updated_ns);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"moments\":{");
    if (rc == HAE_OK) {
        size_t mark = out->len;
        rc = json_time(out, "suspected", in->suspected_ns);
        out->data[mark] = ' '; /* the first member has no comma */
    }
    if (rc == HAE_OK) rc = json_time(out, "confirmed", in->confirmed_ns);
    if (rc == HAE_OK) rc = json_time(out, "classified_major", in->classified_major_ns);
    if (rc == HAE_OK) rc = json_time(out, "materiality_determined", in->materiality_determined_ns);
    if (rc == HAE_OK) rc = json_time(out, "aware", in->aware_ns);
    return rc == HAE_OK ? hae_buf_append_str(out, "}}") : rc;
}

int server_json_transition(hae_buf *out, const store_transition *t) {
    int rc = hae_buf_printf(out, "{\"seq\":%" PRIu64 ",\"incident_id\":\"%s\"", t->seq,
                            t->incident_id);
    if (rc == HAE_OK) rc = json_str(out, "from", t->from_state);
    if (rc == HAE_OK) rc = json_str(out, "to", t->to_state);
    if (rc == HAE_OK) rc = json_str(out, "who", t->who);
    if (rc == HAE_OK) rc = json_str(out, "why", t->why);
    if (rc == HAE_OK) rc = json_time(out, "at", t->at_ns);
    if (rc == HAE_OK) {
        rc = t->moment[0] ? json_str(out, "moment", t->moment)
                          : hae_buf_append_str(out, ",\"moment\":null");
    }
    return rc == HAE_OK ? hae_buf_append_char(out, '}') : rc;
}
