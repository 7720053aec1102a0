/* The transport thread: spool → signed gzip batches → POST /api/v1/events →
 * spool_ack after the server's 200 (docs/PROTOCOL.md "Event batches").
 * At-least-once delivery: nothing leaves the spool before the server says
 * it is durably stored; whatever happens in between (lost answer, crash,
 * server killed) makes the same events go again in a new batch, and the
 * server's deduplication by event id makes storage exactly-once. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/transport_internal.h"

struct transport {
    pthread_t thread;
    pthread_mutex_t lock;      /* guards is_woken and stats */
    pthread_cond_t wake;
    bool is_woken;
    atomic_bool stop;
    spool *spool;
    char *state_dir;
    agent_server_info server;
    unsigned char secret_key[AGENT_SECRET_KEY_LEN];
    transport_options opt;
    size_t batch_limit;        /* events per batch now: shrinks on 413, grows back */
    http_client *http;
    uint64_t batch_seq;        /* last sequence number used (and persisted) */
    unsigned attempt;          /* failed attempts in a row */
    transport_stats stats;
    hae_buf raw;               /* the batch as JSON lines */
    hae_buf body;              /* the same, gzip */
    http_response resp;
    char last_problem[HAE_ERR_MSG_MAX];
};

typedef struct batch_builder {
    hae_buf *raw;
    size_t max_bytes;
    size_t count;
} batch_builder;

static int collect_record(void *ctx, uint64_t seq, const char *line, size_t len, hae_err *err) {
    (void)seq;
    batch_builder *b = ctx;
    /* The first record always goes, however large; the server judges it. */
    if (b->count > 0 && b->raw->len + len + 1 > b->max_bytes) return HAE_ELIMIT;
    int rc = hae_buf_append(b->raw, line, len);
    if (rc == HAE_OK) rc = hae_buf_append_char(b->raw, '\n');
    if (rc < 0) return hae_err_set(err, rc, "transport: out of memory for a batch");
    b->count++;
    return HAE_OK;
}

/* Sleeps up to ms; stop always ends the wait, transport_notify only when
 * is_idle (a back-off is never cut short by new events). */
static void wait_ms(transport *t, uint32_t ms, bool is_idle) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->lock);
    while (!atomic_load(&t->stop) && !(is_idle && t->is_woken)) {
        if (pthread_cond_timedwait(&t->wake, &t->lock, &deadline) == ETIMEDOUT) break;
    }
    t->is_woken = false;
    pthread_mutex_unlock(&t->lock);
}

/* Says what went wrong once, not at every retry, and returns the delay. */
static uint32_t fail(transport *t, const char *problem, uint32_t retry_after_s) {
    uint32_t delay = agent_backoff_ms(t->attempt, t->opt.backoff_max_s, randombytes_random());
    if (t->attempt < 32) t->attempt++;
    if ((uint64_t)retry_after_s * 1000 > delay) {
        delay = retry_after_s > 3600 ? 3600u * 1000 : retry_after_s * 1000;
    }
    if (strcmp(problem, t->last_problem) != 0) {
        hae_log(HAE_LOG_WARN, "transport: %s; events stay spooled, next try in %.1f s", problem,
                delay / 1000.0);
        snprintf(t->last_problem, sizeof t->last_problem, "%s", problem);
    }
    pthread_mutex_lock(&t->lock);
    t->stats.failures++;
    pthread_mutex_unlock(&t->lock);
    return delay;
}

/* A single event the server refuses as malformed or too large would block
 * the spool forever: it is acknowledged, and a finding that says so (with
 * the server's reason) takes its place, so nothing disappears silently. */
static int skip_rejected_event(transport *t, uint64_t seq, const char *why, hae_err *err) {
    hae_event original, ev;
    hae_event_init_empty(&original);
    const char *line_end = memchr(t->raw.data, '\n', t->raw.len);
    size_t line_len = line_end ? (size_t)(line_end - t->raw.data) : t->raw.len;
    hae_err ignored = {0};
    bool is_decoded = hae_event_decode_json(&original, t->raw.data, line_len, &ignored) == HAE_OK;
    int rc = hae_finding_init(&ev, "agent", "transport.event_rejected", HAE_SEV_HIGH,
                              "the server refused an event (%zu bytes) for good: %s", line_len,
                              why);
    if (rc == HAE_OK && is_decoded && original.id[0]) {
        rc = hae_event_add_str(&ev, "RejectedEventId", original.id);
    }
    if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "RejectedEventBytes", line_len);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Reason", why);
    if (rc == HAE_OK) rc = spool_append(t->spool, &ev, NULL, err);
    if (rc == HAE_OK) rc = spool_ack(t->spool, seq + 1, err);
    hae_event_clear(&ev);
    hae_event_clear(&original);
    return rc;
}

static int post_batch(transport *t, uint64_t seq, hae_err *err) {
    char now[HAE_TIME_LEN], signature[AGENT_SIGNATURE_B64_LEN];
    hae_time_format(hae_time_now_ns(), now);
    int rc = batch_sign(t->secret_key, t->server.agent_id, seq, now, t->body.data, t->body.len,
                        signature, err);
    if (rc < 0) return rc;
    char agent_header[64], batch_header[48], time_header[64], signature_header[128];
    snprintf(agent_header, sizeof agent_header, "X-Haetae-Agent: %s", t->server.agent_id);
    snprintf(batch_header, sizeof batch_header, "X-Haetae-Batch: %" PRIu64, seq);
    snprintf(time_header, sizeof time_header, "X-Haetae-Time: %s", now);
    snprintf(signature_header, sizeof signature_header, "X-Haetae-Signature: %s", signature);
    /* "Expect:" drops curl's 100-continue round trip on large bodies. */
    const char *const headers[] = {"Content-Type: application/x-ndjson", "Content-Encoding: gzip",
                                   agent_header, batch_header, time_header, signature_header,
                                   "Expect:"};
    return http_post(t->http, "/api/v1/events", headers, sizeof headers / sizeof *headers,
                     t->body.data, t->body.len, &t->resp, err);
}

static void count_sent(transport *t, size_t raw_len) {
    pthread_mutex_lock(&t->lock);
    t->stats.batches_sent++;
    t->stats.bytes_sent += t->body.len;
    t->stats.bytes_raw += raw_len;
    t->stats.last_batch = t->batch_seq;
    t->stats.last_status = t->resp.status;
    pthread_mutex_unlock(&t->lock);
}

/* The server answered 200: its events are durable, the spool may forget them. */
static uint32_t on_stored(transport *t, uint64_t seq, uint64_t next, size_t count) {
    batch_ack ack = {0};
    hae_err why = {0};
    if (agent_parse_batch_ack(t->resp.body.data ? t->resp.body.data : "", t->resp.body.len, &ack,
                              &why) < 0 || ack.batch != seq) {
        /* 200 is the acknowledgement; a body we cannot read does not undo it. */
        hae_log(HAE_LOG_WARN, "transport: batch %" PRIu64 " acknowledged with an unexpected body"
                              " (%s)", seq, why.msg[0] ? why.msg : "other batch number");
        ack.stored = count;
    }
    hae_err err = {0};
    if (spool_ack(t->spool, next, &err) < 0) return fail(t, err.msg, 0);
    if (t->attempt > 0 || t->last_problem[0]) {
        hae_log(HAE_LOG_INFO, "transport: the server stores events again (batch %" PRIu64 ")",
                seq);
    }
    t->attempt = 0;
    t->last_problem[0] = '\0';
    if (t->batch_limit < t->opt.batch_max_events) {
        t->batch_limit = t->batch_limit * 2 < t->opt.batch_max_events ? t->batch_limit * 2
                                                                       : t->opt.batch_max_events;
    }
    pthread_mutex_lock(&t->lock);
    t->stats.batches_acked++;
    t->stats.events_acked += count;
    t->stats.events_stored += ack.stored;
    t->stats.events_duplicate += ack.duplicates;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* Every answer but 200; returns the delay before the next try. */
static uint32_t on_refused(transport *t, uint64_t from, size_t count) {
    char why[300], problem[HAE_ERR_MSG_MAX];
    agent_describe_error_reply(t->resp.body.data ? t->resp.body.data : "", t->resp.body.len, why,
                               sizeof why);
    long status = t->resp.status;
    snprintf(problem, sizeof problem, "%.150s answered HTTP %ld %.300s", t->server.url, status,
             why);
    bool is_body_refused = status == 413 || (status == 400 && strncmp(why, "bad_body", 8) == 0);
    if (is_body_refused && count > 1) {
        /* Find the offending event by halving: the others go meanwhile. */
        t->batch_limit = count / 2;
        return 0;
    }
    if (is_body_refused) {
        hae_err err = {0};
        if (skip_rejected_event(t, from, why, &err) < 0) return fail(t, err.msg, 0);
        hae_log(HAE_LOG_ERROR, "transport: %s; the event is replaced by a "
                               "transport.event_rejected finding", problem);
        return 0;
    }
    if (status == 409) {
        /* Our sequence is at or below the server's: the state directory was
         * restored or batch_seq lost. Jump to the clock in microseconds,
         * above any count this agent could have reached, and go on. */
        uint64_t floor = (uint64_t)(hae_time_now_ns() / 1000);
        hae_err err = {0};
        if (floor > t->batch_seq) {
            if (agent_seq_store(t->state_dir, floor, &err) < 0) return fail(t, err.msg, 0);
            t->batch_seq = floor;
        }
    }
    return fail(t, problem, t->resp.has_retry_after ? t->resp.retry_after_s : 0);
}

/* One batch: returns how long to wait before the next. */
static uint32_t send_once(transport *t) {
    spool_stats st;
    spool_get_stats(t->spool, &st);
    if (st.acked_seq >= st.next_seq) return t->opt.idle_ms;
    hae_buf_reset(&t->raw);
    batch_builder builder = {.raw = &t->raw, .max_bytes = t->opt.batch_max_bytes};
    uint64_t next = st.acked_seq;
    hae_err err = {0};
    int rc = spool_read(t->spool, st.acked_seq, t->batch_limit, collect_record, &builder, &next,
                        &err);
    if (rc < 0 && rc != HAE_ELIMIT) return fail(t, err.msg, 0);
    if (builder.count == 0) return t->opt.idle_ms;
    uint64_t from = next - builder.count;
    if (batch_compress(t->raw.data, t->raw.len, &t->body, &err) < 0) return fail(t, err.msg, 0);
    /* Persisted before it is sent: a number is never used twice. */
    uint64_t seq = t->batch_seq + 1;
    if (agent_seq_store(t->state_dir, seq, &err) < 0) return fail(t, err.msg, 0);
    t->batch_seq = seq;
    rc = post_batch(t, seq, &err);
    count_sent(t, t->raw.len);
    if (atomic_load(&t->stop)) return 0;
    if (rc < 0) return fail(t, err.msg, 0);
    if (t->resp.status == 200) return on_stored(t, seq, next, builder.count);
    return on_refused(t, from, builder.count);
}

static void *transport_main(void *arg) {
    transport *t = arg;
    while (!atomic_load(&t->stop)) {
        uint32_t delay = send_once(t);
        if (delay > 0) wait_ms(t, delay, t->attempt == 0);
    }
    return NULL;
}

static void transport_free(transport *t) {
    http_client_close(t->http);
    http_response_free(&t->resp);
    hae_buf_free(&t->raw);
    hae_buf_free(&t->body);
    sodium_memzero(t->secret_key, sizeof t->secret_key);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t->state_dir);
    free(t);
}

static int transport_init(transport *t, const char *state_dir, const transport_options *opt,
                          hae_err *err) {
    if (opt) t->opt = *opt;
    if (!t->opt.batch_max_events) t->opt.batch_max_events = 5000;
    if (!t->opt.batch_max_bytes) t->opt.batch_max_bytes = 4u << 20;
    if (!t->opt.idle_ms) t->opt.idle_ms = 500;
    if (!t->opt.backoff_max_s) t->opt.backoff_max_s = 300;
    t->batch_limit = t->opt.batch_max_events;
    if (sodium_init() < 0) return hae_err_set(err, HAE_EIO, "libsodium cannot start");
    if (!(t->state_dir = strdup(state_dir))) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    int rc = agent_server_info_load(state_dir, &t->server, err);
    if (rc == HAE_OK) rc = agent_key_load(state_dir, t->secret_key, err);
    if (rc == HAE_OK) rc = agent_seq_load(state_dir, &t->batch_seq, err);
    http_peer peer = {.url = t->server.url, .pin = t->server.pin, .ca_file = t->server.ca_file};
    if (rc == HAE_OK) rc = http_client_open(&t->http, &peer, &t->stop, err);
    return rc;
}

int transport_start(transport **out, const char *state_dir, spool *s,
                    const transport_options *opt, hae_err *err) {
    transport *t = calloc(1, sizeof *t);
    if (!t) return hae_err_set(err, HAE_ENOMEM, "transport: out of memory");
    t->spool = s;
    atomic_init(&t->stop, false);
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = transport_init(t, state_dir, opt, err);
    if (rc == HAE_OK && (rc = pthread_create(&t->thread, NULL, transport_main, t)) != 0) {
        rc = hae_err_errno(err, rc, "transport: cannot start its thread");
    }
    if (rc < 0) {
        transport_free(t);
        return rc;
    }
    *out = t;
    return HAE_OK;
}

void transport_notify(transport *t) {
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->is_woken = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
}

void transport_get_stats(transport *t, transport_stats *out) {
    pthread_mutex_lock(&t->lock);
    *out = t->stats;
    pthread_mutex_unlock(&t->lock);
}

void transport_stop(transport *t) {
    if (!t) return;
    atomic_store(&t->stop, true);
    pthread_mutex_lock(&t->lock);
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    transport_free(t);
}
