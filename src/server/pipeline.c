/* The detection worker: follows stored events through a durable cursor,
 * runs the detection engine over them, turns hits (and the agents' own
 * findings) into alerts and alerts into incidents, all in one transaction
 * with the cursor, so a crash neither loses nor repeats an alert.
 * Ingest never waits for it: the only coupling is the backlog count, which
 * makes ingest answer 429 when detection falls too far behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

#define CHUNK_EVENTS 1024
#define CURSOR_NAME "detect"

static const char *const closed_states[] = {"closed", "false_positive", NULL};

typedef struct chunk {
    server *s;
    store_alert *alerts;
    size_t count, cap;
    uint64_t events;
} chunk;

static int chunk_push(chunk *c, store_alert **out) {
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        store_alert *grown = realloc(c->alerts, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        c->alerts = grown;
        c->cap = cap;
    }
    *out = &c->alerts[c->count++];
    memset(*out, 0, sizeof **out);
    return HAE_OK;
}

static void alert_from_event(store_alert *a, const hae_event *ev) {
    a->time_ns = ev->time_ns ? ev->time_ns : hae_time_now_ns();
    snprintf(a->host, sizeof a->host, "%s", ev->host && *ev->host ? ev->host : "unknown");
    snprintf(a->event_id, sizeof a->event_id, "%s", ev->id);
}

/* A Sigma rule's family: its first ATT&CK tactic tag (attack.persistence;
 * technique tags are attack.t1234), else the directory it was loaded from. */
static void rule_family(const detect_rule_info *r, char *out, size_t size) {
    for (size_t i = 0; i < r->tag_count; i++) {
        const char *tag = r->tags[i];
        if (strncmp(tag, "attack.", 7) == 0 && tag[7] &&
            !(strchr("tgs", tag[7]) && tag[8] >= '0' && tag[8] <= '9')) {
            snprintf(out, size, "%s", tag);
            return;
        }
    }
    const char *file = r->file ? r->file : "";
    const char *slash = strrchr(file, '/');
    if (slash && slash > file) {
        const char *start = slash - 1;
        while (start > file && start[-1] != '/') start--;
        snprintf(out, size, "%.*s", (int)(slash - start), start);
    } else {
        snprintf(out, size, "sigma");
    }
}

static int on_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    (void)err;
    chunk *c = ctx;
    if (!hit->rule->generates) return HAE_OK;
    store_alert *a = NULL;
    if (chunk_push(c, &a) < 0) return HAE_ENOMEM;
    alert_from_event(a, hit->event);
    const detect_rule_info *r = hit->rule;
    snprintf(a->rule_id, sizeof a->rule_id, "%s", r->id && *r->id ? r->id : r->title);
    snprintf(a->rule_title, sizeof a->rule_title, "%s", r->title ? r->title : "");
    snprintf(a->level, sizeof a->level, "%s", r->level && *r->level ? r->level : "medium");
    rule_family(r, a->family, sizeof a->family);
    return HAE_OK;
}

/* A sensor's finding is already a detection: it becomes an alert as is,
 * its family the sensor (the rule id's prefix: "sock" of sock.bpfdoor). */
static int finding_alert(chunk *c, const hae_event *ev) {
    const char *rule = hae_event_get_str(ev, "rule");
    if (!rule || !*rule) return HAE_OK;
    store_alert *a = NULL;
    if (chunk_push(c, &a) < 0) return HAE_ENOMEM;
    alert_from_event(a, ev);
    const char *message = hae_event_get_str(ev, "message");
    const char *severity = hae_event_get_str(ev, "severity");
    snprintf(a->rule_id, sizeof a->rule_id, "%s", rule);
    snprintf(a->rule_title, sizeof a->rule_title, "%s", message && *message ? message : rule);
    snprintf(a->level, sizeof a->level, "%s", severity && *severity ? severity : "medium");
    const char *dot = strchr(rule, '.');
    snprintf(a->family, sizeof a->family, "%.*s", dot ? (int)(dot - rule) : (int)strlen(rule),
             rule);
    return HAE_OK;
}

static int on_event(void *ctx, uint64_t seq, const char *json, size_t len, const char *host,
                    hae_err *err) {
    (void)seq;
    chunk *c = ctx;
    c->events++;
    hae_event ev;
    hae_err decode_err = {0};
    if (hae_event_decode_json(&ev, json, len, &decode_err) < 0) {
        /* Stored events were decoded at ingest; this cannot happen short of
         * corruption, which must not stop detection of the rest. */
        hae_log(HAE_LOG_WARN, "server: stored event %llu unreadable: %s", (unsigned long long)seq,
                decode_err.msg);
        return HAE_OK;
    }
    /* Rules and alerts see the host the agent enrolled as: the body's own
     * "host" is the agent's word, and any agent could name any host. */
    int rc = host ? hae_event_set_host(&ev, host) : HAE_OK;
    if (rc == HAE_OK && hae_event_is_finding(&ev)) rc = finding_alert(c, &ev);
    if (rc == HAE_OK && c->s->engine) {
        hae_err match_err = {0};
        rc = detect_engine_match(c->s->engine, &ev, on_hit, c, &match_err);
        if (rc < 0 && rc != HAE_ENOMEM) {
            hae_log(HAE_LOG_WARN, "server: detection skipped event %s: %s", ev.id, match_err.msg);
            rc = HAE_OK;
        }
    }
    hae_event_clear(&ev);
    if (rc == HAE_ENOMEM) hae_err_set(err, rc, "out of memory during detection");
    return rc;
}

static void record_alerts(server *s, const chunk *c) {
    if (!s->cfg.on_record) return;
    hae_buf json = {0};
    for (size_t i = 0; i < c->count; i++) {
        hae_buf_reset(&json);
        if (server_json_alert(&json, &c->alerts[i]) == HAE_OK) {
            s->cfg.on_record(s->cfg.record_ctx, "alert", json.data, json.len);
        }
    }
    hae_buf_free(&json);
}

/* One chunk: read, detect, commit alerts and cursor together. */
static int process_chunk(server *s, uint64_t *cursor, uint64_t *processed, hae_err *err) {
    chunk c = {.s = s};
    uint64_t last = *cursor;
    int rc = store_events_read(s->worker_st, *cursor, CHUNK_EVENTS, on_event, &c, &last, err);
    store_alert_commit done = {0};
    if (rc == HAE_OK && last != *cursor) {
        rc = store_alerts_commit(s->worker_st, c.alerts, c.count, s->cfg.incident_window_ns,
                                 closed_states, "detected", "haetae", hae_time_now_ns(),
                                 CURSOR_NAME, last, &done, err);
    }
    if (rc == HAE_OK) {
        *cursor = last;
        *processed = c.events;
        s->alerts += done.alerts;
        s->incidents_created += done.incidents_created;
        record_alerts(s, &c);
    }
    free(c.alerts);
    return rc;
}

static void *worker_main(void *arg) {
    server *s = arg;
    hae_err err = {0};
    uint64_t cursor = 0;
    while (store_cursor_get(s->worker_st, CURSOR_NAME, &cursor, &err) < 0) {
        hae_log(HAE_LOG_ERROR, "server: detection cannot read its cursor: %s", err.msg);
        nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    }
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->backlog == 0 && !s->is_stopping) pthread_cond_wait(&s->wake, &s->lock);
        if (s->is_stopping) break; /* the durable cursor resumes after a restart */
        pthread_mutex_unlock(&s->lock);
        uint64_t processed = 0;
        int rc = process_chunk(s, &cursor, &processed, &err);
        if (rc < 0) {
            hae_log(HAE_LOG_ERROR, "server: detection paused: %s", err.msg);
            nanosleep(&(struct timespec){.tv_nsec = 500000000}, NULL);
        }
        pthread_mutex_lock(&s->lock);
        if (rc == HAE_OK) {
            /* Events may be read before their batch's notify arrives: clamp,
             * and an empty read means nothing is left, whatever was counted. */
            s->backlog = processed == 0 ? 0 : s->backlog - (processed < s->backlog ? processed
                                                                                    : s->backlog);
            if (s->backlog == 0) pthread_cond_broadcast(&s->idle);
        } else if (s->is_stopping) {
            break;
        }
    }
    s->backlog = 0;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

void server_pipeline_notify(server *s, uint64_t stored) {
    if (stored == 0) return;
    pthread_mutex_lock(&s->lock);
    s->backlog += stored;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

int server_pipeline_start(server *s, hae_err *err) {
    uint64_t cursor = 0, pending = 0;
    int rc = store_cursor_get(s->worker_st, CURSOR_NAME, &cursor, err);
    if (rc == HAE_OK) rc = store_events_after_count(s->worker_st, cursor, &pending, err);
    if (rc < 0) return rc;
    s->backlog = pending;
    if (pending) hae_log(HAE_LOG_INFO, "server: %llu stored events await detection",
                         (unsigned long long)pending);
    if (pthread_create(&s->worker, NULL, worker_main, s) != 0) {
        return hae_err_set(err, HAE_ENOMEM, "cannot start the detection worker");
    }
    s->has_worker = true;
    return HAE_OK;
}

void server_pipeline_stop(server *s) {
    if (!s->has_worker) return;
    pthread_mutex_lock(&s->lock);
    s->is_stopping = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->worker, NULL);
    s->has_worker = false;
}
