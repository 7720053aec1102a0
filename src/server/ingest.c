/* POST /api/v1/events: the checks docs/PROTOCOL.md lists, cheapest and
 * least revealing first (media type, size, agent, time, signature), then
 * back-pressure, then decoding, then one durable transaction. A rejected
 * batch stores nothing. */
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define TIME_FUTURE_NS (5LL * 60 * 1000000000)  /* 5 minutes */
#define TIME_PAST_NS (24LL * 3600 * 1000000000) /* 24 hours */

/* "application/x-ndjson" optionally followed by parameters. */
static bool media_type_is(const char *value, const char *type) {
    if (!value) return false;
    size_t n = strlen(type);
    return strncasecmp(value, type, n) == 0 && (value[n] == '\0' || value[n] == ';' ||
                                                value[n] == ' ');
}

static bool parse_seq(const char *text, uint64_t *out) {
    if (!text || !*text || strlen(text) > 19) return false;
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > INT64_MAX) return false;
    *out = v;
    return true;
}

/* The signing string of PROTOCOL.md, verified against the agent's key. */
static bool signature_is_valid(const server_request *req, const store_agent *agent) {
    uint8_t sig[crypto_sign_BYTES];
    size_t sig_len = 0;
    if (!req->signature ||
        sodium_base642bin(sig, sizeof sig, req->signature, strlen(req->signature), NULL, &sig_len,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sig_len != sizeof sig) {
        return false;
    }
    uint8_t digest[32];
    server_sha256(req->body ? req->body : "", req->body_len, digest);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    hae_buf msg = {0};
    bool is_valid = false;
    if (hae_buf_printf(&msg, "haetae-batch-v1\n%s\n%s\n%s\n%s", req->agent, req->batch, req->time,
                       hex) == HAE_OK) {
        is_valid = crypto_sign_verify_detached(sig, (const unsigned char *)msg.data, msg.len,
                                               agent->public_key) == 0;
    }
    hae_buf_free(&msg);
    return is_valid;
}

/* Agent, time and signature; false after setting the error answer. */
static bool batch_authenticate(server *s, const server_request *req, server_response *resp,
                               store_agent *agent, uint64_t *seq) {
    hae_err err = {0};
    if (!req->agent || !*req->agent) {
        server_respond_error(resp, 401, "unknown_agent", "X-Haetae-Agent header missing");
        return false;
    }
    int rc = store_agent_get(s->st, req->agent, agent, &err);
    if (rc == HAE_ENOENT) {
        server_respond_error(resp, 401, "unknown_agent", "no enrolled agent with this id");
        return false;
    }
    if (rc < 0) {
        s->storage_failures++;
        resp->retry_after_s = s->cfg.retry_after_s;
        server_respond_error(resp, 503, "storage_unavailable", "%s", err.msg);
        return false;
    }
    if (agent->revoked_ns) {
        server_respond_error(resp, 403, "revoked_agent", "agent %s is revoked", agent->id);
        return false;
    }
    if (!parse_seq(req->batch, seq)) {
        server_respond_error(resp, 400, "bad_header",
                             "X-Haetae-Batch must be a decimal number from 1 to 2^63-1");
        return false;
    }
    int64_t sent_ns = 0, now = hae_time_now_ns();
    if (!req->time || hae_time_parse(req->time, strlen(req->time), &sent_ns, &err) < 0) {
        server_respond_error(resp, 400, "bad_time", "X-Haetae-Time is not RFC 3339");
        return false;
    }
    if (sent_ns > now + TIME_FUTURE_NS || sent_ns < now - TIME_PAST_NS) {
        server_respond_error(resp, 400, "bad_time",
                             "X-Haetae-Time is more than 5 minutes ahead or 24 hours behind the "
                             "server's clock");
        return false;
    }
    if (!signature_is_valid(req, agent)) {
        server_respond_error(resp, 401, "bad_signature",
                             "X-Haetae-Signature does not verify with the agent's key");
        return false;
    }
    if (*seq <= agent->last_batch) {
        server_respond_error(resp, 409, "replayed_batch",
                             "batch %" PRIu64 " is not above the last accepted %" PRIu64, *seq,
                             agent->last_batch);
        return false;
    }
    return true;
}

static bool backlog_is_full(server *s) {
    pthread_mutex_lock(&s->lock);
    bool is_full = s->backlog >= s->cfg.backlog_max_events;
    pthread_mutex_unlock(&s->lock);
    return is_full;
}

static void storage_failed(server *s, server_response *resp, const hae_err *err) {
    s->storage_failures++;
    pthread_mutex_lock(&s->lock);
    bool first = !s->was_full;
    s->was_full = true;
    pthread_mutex_unlock(&s->lock);
    if (first) {
        hae_log(HAE_LOG_ERROR,
                "server: storage unavailable (%s): batches are not acknowledged, agents keep "
                "their spools until it recovers",
                err->msg);
    }
    resp->retry_after_s = s->cfg.retry_after_s;
    server_respond_error(resp, 503, "storage_unavailable", "the server cannot store events now");
}

/* Every event is stored under the host its agent enrolled as; what the
 * event named is kept aside when it differs, for the analyst. */
static void batch_bind_host(const store_agent *agent, server_batch *batch) {
    for (size_t i = 0; i < batch->count; i++) {
        store_event_row *row = &batch->rows[i];
        bool is_same = row->host && strcmp(row->host, agent->hostname) == 0;
        row->claimed_host = is_same ? NULL : row->host;
        row->host = agent->hostname;
    }
}

static void batch_store(server *s, const store_agent *agent, uint64_t seq,
                        server_batch *batch, server_response *resp) {
    hae_err err = {0};
    batch_bind_host(agent, batch);
    store_ingest_result result;
    int rc = store_events_ingest(s->st, agent->id, seq, hae_time_now_ns(), batch->rows,
                                 batch->count, &result, &err);
    if (rc < 0) {
        storage_failed(s, resp, &err);
        return;
    }
    if (result.is_rejected) {
        s->batches_rejected++;
        server_respond_error(resp, 409, "replayed_batch",
                             "batch %" PRIu64 " is not above the last accepted one", seq);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->was_full) hae_log(HAE_LOG_INFO, "server: storage recovered, acknowledging again");
    s->was_full = false;
    pthread_mutex_unlock(&s->lock);
    s->batches_accepted++;
    s->events_stored += result.stored;
    s->events_duplicate += result.duplicates;
    server_pipeline_notify(s, result.stored);
    resp->status = 200;
    hae_buf_printf(&resp->body, "{\"batch\":%" PRIu64 ",\"stored\":%" PRIu64
                   ",\"duplicates\":%" PRIu64 "}", seq, result.stored, result.duplicates);
}

void server_handle_events(server *s, const server_request *req, server_response *resp) {
    if (!media_type_is(req->content_type, "application/x-ndjson")) {
        server_respond_error(resp, 415, "unsupported_media_type",
                             "Content-Type must be application/x-ndjson");
    } else if (!req->content_encoding || strcasecmp(req->content_encoding, "gzip") != 0) {
        server_respond_error(resp, 415, "unsupported_media_type",
                             "Content-Encoding must be gzip");
    } else if (req->is_body_too_large) {
        server_respond_error(resp, 413, "too_large", "body over the limit of %zu bytes",
                             s->cfg.max_body_bytes);
    } else {
        store_agent agent;
        uint64_t seq = 0;
        if (!batch_authenticate(s, req, resp, &agent, &seq)) {
            s->batches_rejected++;
            return;
        }
        if (backlog_is_full(s)) {
            s->busy_answers++;
            resp->retry_after_s = s->cfg.retry_after_s;
            server_respond_error(resp, 429, "busy", "detection is behind; retry later");
            return;
        }
        server_batch batch;
        hae_err err = {0};
        int rc = server_batch_decode(req->body, req->body_len, s->cfg.max_decoded_bytes, &batch,
                                     &err);
        if (rc == HAE_ELIMIT) {
            server_respond_error(resp, 413, "too_large", "%s", err.msg);
        } else if (rc < 0) {
            server_respond_error(resp, 400, "bad_body", "%s", err.msg);
        } else {
            batch_store(s, &agent, seq, &batch, resp);
        }
        if (resp->status != 200) s->batches_rejected++;
        server_batch_free(&batch);
        return;
    }
    s->batches_rejected++;
}
