/* The /api/v1 router, enrollment and the analysts' endpoints
 * (docs/PROTOCOL.md). Handlers take a server_request and fill a
 * server_response: no sockets here, so tests and fuzzers call them. */
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define API "/api/v1"

void server_respond_error(server_response *resp, unsigned status, const char *code,
                          const char *fmt, ...) {
    char message[HAE_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    resp->status = status;
    hae_buf_reset(&resp->body);
    if (hae_buf_printf(&resp->body, "{\"error\":\"%s\",\"message\":", code) < 0 ||
        hae_json_append_string(&resp->body, message, strlen(message)) < 0 ||
        hae_buf_append_char(&resp->body, '}') < 0) {
        hae_buf_reset(&resp->body);
    }
}

static void respond_store_error(server *s, server_response *resp, const hae_err *err) {
    if (err->code == HAE_ENOENT) {
        server_respond_error(resp, 404, "not_found", "%s", err->msg);
    } else if (err->code == HAE_EINVAL) {
        server_respond_error(resp, 400, "bad_request", "%s", err->msg);
    } else if (err->code == HAE_EPERM) {
        server_respond_error(resp, 409, "invalid_transition", "%s", err->msg);
    } else if (err->code == HAE_ELIMIT) {
        server_respond_error(resp, 409, "conflict", "%s", err->msg);
    } else {
        s->storage_failures++;
        resp->retry_after_s = s->cfg.retry_after_s;
        server_respond_error(resp, 503, "storage_unavailable", "%s", err->msg);
    }
}

/* Parses a JSON request body; false after setting the error answer. */
static bool json_body(const server_request *req, server_response *resp, hae_arena *arena,
                      const hae_json **root) {
    if (!req->content_type || strncasecmp(req->content_type, "application/json", 16) != 0) {
        server_respond_error(resp, 415, "unsupported_media_type",
                             "Content-Type must be application/json");
        return false;
    }
    if (req->is_body_too_large) {
        server_respond_error(resp, 413, "too_large", "body over the limit");
        return false;
    }
    hae_err err = {0};
    hae_json *node = NULL;
    if (hae_json_parse(req->body ? req->body : "", req->body_len, arena, &node, &err) < 0) {
        server_respond_error(resp, 400, "bad_body", "%s", err.msg);
        return false;
    }
    if (node->type != HAE_JSON_OBJECT) {
        server_respond_error(resp, 400, "bad_body", "the body must be a JSON object");
        return false;
    }
    *root = node;
    return true;
}

/* A string member of at most max bytes without NUL, or NULL. */
static const char *member_str(const hae_json *obj, const char *key, size_t max) {
    const hae_json *m = hae_json_member(obj, key);
    if (!m || m->type != HAE_JSON_STRING || m->text_len > max ||
        memchr(m->text, '\0', m->text_len)) {
        return NULL;
    }
    return m->text;
}

static void handle_enroll(server *s, const server_request *req, server_response *resp) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    if (!json_body(req, resp, &arena, &root)) goto out;
    const char *token = member_str(root, "token", SERVER_TOKEN_MAX);
    const char *hostname = member_str(root, "hostname", 255);
    const char *key_text = member_str(root, "public_key", 64);
    const char *version = member_str(root, "version", 63);
    store_agent agent;
    memset(&agent, 0, sizeof agent);
    size_t key_len = 0;
    if (!hostname || !*hostname) {
        server_respond_error(resp, 400, "bad_request", "\"hostname\": a string is required");
    } else if (!key_text ||
               sodium_base642bin(agent.public_key, sizeof agent.public_key, key_text,
                                 strlen(key_text), NULL, &key_len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) != 0 ||
               key_len != STORE_KEY_LEN) {
        server_respond_error(resp, 400, "bad_request",
                             "\"public_key\": base64 of a 32-byte Ed25519 key is required");
    } else if (!token) {
        server_respond_error(resp, 401, "invalid_token", "\"token\" is missing");
    } else {
        /* The agent may send the whole "<secret>.<pin>" token: the secret counts. */
        const char *dot = strchr(token, '.');
        size_t secret_len = dot ? (size_t)(dot - token) : strlen(token);
        uint8_t hash[32];
        server_sha256(token, secret_len, hash);
        snprintf(agent.hostname, sizeof agent.hostname, "%s", hostname);
        snprintf(agent.version, sizeof agent.version, "%s", version ? version : "");
        hae_err err = {0};
        int rc = store_agent_enroll(s->st, hash, hae_time_now_ns(), &agent, &err);
        if (rc == HAE_EPERM) {
            server_respond_error(resp, 401, "invalid_token", "token unknown, used or expired");
        } else if (rc < 0) {
            respond_store_error(s, resp, &err);
        } else {
            char now[HAE_TIME_LEN];
            hae_time_format(hae_time_now_ns(), now);
            resp->status = 201;
            hae_buf_printf(&resp->body, "{\"agent_id\":\"%s\",\"server_time\":\"%s\"}", agent.id,
                           now);
            hae_log(HAE_LOG_INFO, "server: enrolled agent %s (%s)", agent.id, agent.hostname);
        }
    }
out:
    hae_arena_free(&arena);
}

/* The analyst behind the bearer token; false after setting 401. */
static bool authenticate(server *s, const server_request *req, server_response *resp,
                         char user[64]) {
    const char *auth = req->authorization;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) > SERVER_TOKEN_MAX) {
        server_respond_error(resp, 401, "unauthorized", "Authorization: Bearer <token> required");
        return false;
    }
    uint8_t hash[32];
    server_sha256(auth + 7, strlen(auth + 7), hash);
    hae_err err = {0};
    int rc = store_api_token_check(s->st, hash, user, &err);
    if (rc == HAE_EPERM) {
        server_respond_error(resp, 401, "unauthorized", "unknown or revoked API token");
        return false;
    }
    if (rc < 0) {
        respond_store_error(s, resp, &err);
        return false;
    }
    return true;
}

static int list_open(server_response *resp, const char *name) {
    resp->status = 200;
    return hae_buf_printf(&resp->body, "{\"%s\":[", name);
}

static void list_close(server_response *resp) {
    if (resp->body.len && resp->body.data[resp->body.len - 1] == ',') resp->body.len--;
    hae_buf_append_str(&resp->body, "]}");
}

static int add_agent(void *ctx, const store_agent *a, hae_err *err) {
    (void)err;
    hae_buf *b = ctx;
    int rc = server_json_agent(b, a);
    return rc < 0 ? rc : hae_buf_append_char(b, ',');
}

static int add_alert(void *ctx, const store_alert *a, hae_err *err) {
    (void)err;
    hae_buf *b = ctx;
    int rc = server_json_alert(b, a);
    return rc < 0 ? rc : hae_buf_append_char(b, ',');
}

static int add_incident(void *ctx, const store_incident *in, hae_err *err) {
    (void)err;
    hae_buf *b = ctx;
    int rc = server_json_incident(b, in);
    return rc < 0 ? rc : hae_buf_append_char(b, ',');
}

static int add_transition(void *ctx, const store_transition *t, hae_err *err) {
    (void)err;
    hae_buf *b = ctx;
    int rc = server_json_transition(b, t);
    return rc < 0 ? rc : hae_buf_append_char(b, ',');
}

static int add_obligation(void *ctx, const server_obligation *o, hae_err *err) {
    (void)err;
    hae_buf *b = ctx;
    int rc = server_json_obligation(b, o, hae_time_now_ns());
    return rc < 0 ? rc : hae_buf_append_char(b, ',');
}

static void finish(server *s, server_response *resp, int rc, const hae_err *err) {
    if (rc < 0) {
        respond_store_error(s, resp, err);
    } else {
        list_close(resp);
    }
}

static void handle_alerts(server *s, const server_request *req, server_response *resp) {
    hae_err err = {0};
    size_t limit = 100;
    int64_t since = 0;
    if (req->query_limit) {
        char *end = NULL;
        unsigned long v = strtoul(req->query_limit, &end, 10);
        if (!end || *end || v == 0 || v > 10000) {
            server_respond_error(resp, 400, "bad_request", "limit: a number from 1 to 10000");
            return;
        }
        limit = v;
    }
    if (req->query_since &&
        hae_time_parse(req->query_since, strlen(req->query_since), &since, &err) < 0) {
        server_respond_error(resp, 400, "bad_request", "since: %s", err.msg);
        return;
    }
    list_open(resp, "alerts");
    finish(s, resp, store_alert_list(s->st, since, limit, add_alert, &resp->body, &err), &err);
}

static void handle_incident_show(server *s, const char *id, server_response *resp) {
    hae_err err = {0};
    store_incident in;
    int rc = store_incident_get(s->st, id, &in, &err);
    if (rc < 0) {
        respond_store_error(s, resp, &err);
        return;
    }
    resp->status = 200;
    hae_buf_append_str(&resp->body, "{\"incident\":");
    server_json_incident(&resp->body, &in);
    hae_buf_append_str(&resp->body, ",\"alerts\":[");
    rc = store_incident_alerts(s->st, id, add_alert, &resp->body, &err);
    list_close(resp);
    resp->body.len--; /* reopen after "]}" -> "]" */
    hae_buf_append_str(&resp->body, ",\"transitions\":[");
    if (rc == HAE_OK) {
        rc = store_incident_transitions(s->st, id, add_transition, &resp->body, &err);
    }
    finish(s, resp, rc, &err);
}

/* Acknowledged only once in the ledger (issue 5): waits for the writer's
 * next group commit. */
static int record_logged_at(server *s, const char *kind, uint64_t seq, uint64_t *index,
                            hae_err *err) {
    char ref[32];
    snprintf(ref, sizeof ref, "%llu", (unsigned long long)seq);
    return s->has_ledger_thread ? server_ledger_sync(s, kind, ref, index, err) : HAE_OK;
}

static int record_logged(server *s, const char *kind, uint64_t seq, hae_err *err) {
    uint64_t index = 0;
    return record_logged_at(s, kind, seq, &index, err);
}

static void handle_obligations(server *s, const char *id, server_response *resp) {
    hae_err err = {0};
    list_open(resp, "obligations");
    finish(s, resp, server_obligations_for(s->st, s->policies, id, hae_time_now_ns(),
                                           add_obligation, &resp->body, &err), &err);
}

/* The first member of obj not in allowed, or NULL. Times are never taken
 * from a request: the server's clock stamps every moment. */
static const hae_json *unexpected_member(const hae_json *obj, const char *const *allowed,
                                         size_t count) {
    for (const hae_json *m = obj->child; m; m = m->next) {
        bool is_allowed = false;
        for (size_t i = 0; i < count && !is_allowed; i++) {
            is_allowed = strlen(allowed[i]) == m->key_len && memcmp(allowed[i], m->key, m->key_len) == 0;
        }
        if (!is_allowed) return m;
    }
    return NULL;
}

static bool refuse_unexpected(const hae_json *root, const char *const *allowed, size_t count,
                              server_response *resp) {
    if (root->type != HAE_JSON_OBJECT) {
        server_respond_error(resp, 400, "bad_request", "the body must be a JSON object");
        return true;
    }
    const hae_json *m = unexpected_member(root, allowed, count);
    if (!m) return false;
    bool is_time = m->key_len == 2 && memcmp(m->key, "at", 2) == 0;
    server_respond_error(resp, 400, "bad_request", "\"%.*s\": %s", (int)(m->key_len > 64 ? 64 : m->key_len), m->key,
                         is_time ? "times are stamped by the server's clock, not the client's"
                                 : "not a member of this request");
    return true;
}

/* 409 naming the moment and when it was recorded, so a client sees the
 * deadline already running instead of believing it moved it. */
static void respond_moment_recorded(const store_transition *t, const hae_err *err,
                                    server_response *resp) {
    char when[HAE_TIME_LEN];
    hae_time_format(t->at_ns, when);
    resp->status = 409;
    hae_buf_append_str(&resp->body, "{\"error\":\"moment_recorded\",\"message\":");
    hae_json_append_string(&resp->body, err->msg, strlen(err->msg));
    hae_buf_printf(&resp->body, ",\"moment\":\"%s\",\"recorded_at\":\"%s\"}", t->moment, when);
}

static void handle_transition(server *s, const char *id, const char *user,
                              const server_request *req, server_response *resp) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    if (json_body(req, resp, &arena, &root)) {
        const char *state = member_str(root, "state", 32);
        const char *note = member_str(root, "note", 1000);
        const char *moment = member_str(root, "moment", 32);
        static const char *const allowed[] = {"state", "note", "moment"};
        hae_err err = {0};
        store_transition t;
        if (refuse_unexpected(root, allowed, sizeof allowed / sizeof allowed[0], resp)) {
            /* answered */
        } else if (!state) {
            server_respond_error(resp, 400, "bad_request", "\"state\": a string is required");
        } else if (server_incident_update(s->st, id, state, note, moment, user, &t, &err) < 0) {
            if (err.code == HAE_EEXIST) {
                respond_moment_recorded(&t, &err, resp);
            } else {
                respond_store_error(s, resp, &err);
            }
        } else if (record_logged(s, "transition", t.seq, &err) < 0) {
            server_respond_error(resp, 503, "ledger_unavailable", "%s", err.msg);
        } else {
            resp->status = 200;
            server_json_transition(&resp->body, &t);
            if (s->cfg.on_record) {
                s->cfg.on_record(s->cfg.record_ctx, "transition", resp->body.data,
                                 resp->body.len);
            }
        }
    }
    hae_arena_free(&arena);
}

/* POST /incidents/ID/attributes {"NAME":"VALUE",...}: every attribute is
 * checked before any is set, so a refused request changes nothing. */
static void handle_attributes(server *s, const char *id, const char *user,
                              const server_request *req, server_response *resp) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    hae_err err = {0};
    if (!json_body(req, resp, &arena, &root)) goto out;
    if (root->type != HAE_JSON_OBJECT || root->count == 0) {
        server_respond_error(resp, 400, "bad_request", "an object of NAME: VALUE strings is required");
        goto out;
    }
    for (const hae_json *m = root->child; m; m = m->next) {
        if (m->type != HAE_JSON_STRING || strlen(m->key) != m->key_len ||
            strlen(m->text) != m->text_len) {
            server_respond_error(resp, 400, "bad_request", "\"%.64s\": a string is required", m->key);
            goto out;
        }
        if (server_incident_attr_check(m->key, m->text, &err) < 0) {
            server_respond_error(resp, 400, "bad_request", "%s", err.msg);
            goto out;
        }
    }
    uint64_t seq = 0;
    int rc = HAE_OK;
    for (const hae_json *m = root->child; m && rc == HAE_OK; m = m->next) {
        rc = server_incident_set(s->st, id, m->key, m->text, user, &seq, &err);
    }
    if (rc < 0) {
        respond_store_error(s, resp, &err);
    } else if (record_logged(s, "incident_attribute", seq, &err) < 0) {
        server_respond_error(resp, 503, "ledger_unavailable", "%s", err.msg);
    } else {
        resp->status = 200;
        hae_buf_printf(&resp->body, "{\"incident_id\":\"%s\",\"set\":%zu}", id, root->count);
    }
out:
    hae_arena_free(&arena);
}

/* POST /incidents/ID/reports {"obligation","recipient","sha256"}: the
 * report went out; the server's clock says when. */
static void handle_report_sent(server *s, const char *id, const char *user,
                               const server_request *req, server_response *resp) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    static const char *const allowed[] = {"obligation", "recipient", "sha256"};
    if (!json_body(req, resp, &arena, &root) ||
        refuse_unexpected(root, allowed, sizeof allowed / sizeof allowed[0], resp)) {
        hae_arena_free(&arena);
        return;
    }
    const char *obligation = member_str(root, "obligation", 127);
    const char *recipient = member_str(root, "recipient", 127);
    const char *sha256 = member_str(root, "sha256", 64);
    hae_err err = {0};
    store_report r;
    uint64_t index = 0;
    if (!obligation || !sha256) {
        server_respond_error(resp, 400, "bad_request", "\"obligation\" and \"sha256\" are required");
    } else if (!s->policies) {
        server_respond_error(resp, 409, "no_policies", "the server runs without policies");
    } else if (server_report_mark_sent(s->st, s->policies, id, obligation, recipient, sha256, user,
                                       &r, &err) < 0) {
        respond_store_error(s, resp, &err);
    } else if (record_logged_at(s, "report_sent", r.seq, &index, &err) < 0) {
        server_respond_error(resp, 503, "ledger_unavailable", "%s", err.msg);
    } else {
        char when[HAE_TIME_LEN];
        hae_time_format(r.at_ns, when);
        resp->status = 200;
        hae_buf_printf(&resp->body,
                       "{\"incident_id\":\"%s\",\"obligation\":", id);
        hae_json_append_string(&resp->body, r.obligation, strlen(r.obligation));
        hae_buf_printf(&resp->body, ",\"sha256\":\"%s\",\"at\":\"%s\",\"ledger_index\":%llu}",
                       r.report_sha256, when, (unsigned long long)index);
    }
    hae_arena_free(&arena);
}

static void handle_join(server *s, const char *id, const char *user, const server_request *req,
                        server_response *resp) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    if (json_body(req, resp, &arena, &root)) {
        const char *alert = member_str(root, "alert_id", 64);
        const char *note = member_str(root, "note", 1000);
        static const char *const allowed[] = {"alert_id", "note"};
        hae_err err = {0};
        if (refuse_unexpected(root, allowed, sizeof allowed / sizeof allowed[0], resp)) {
            /* answered */
        } else if (!alert) {
            server_respond_error(resp, 400, "bad_request", "\"alert_id\": a string is required");
        } else if (store_alert_move(s->st, alert, id, user, note ? note : "", hae_time_now_ns(),
                                    &err) < 0) {
            respond_store_error(s, resp, &err);
        } else {
            handle_incident_show(s, id, resp);
        }
    }
    hae_arena_free(&arena);
}

/* Routes under /api/v1 that need a bearer token. */
static void route_analyst(server *s, const server_request *req, const char *path,
                          bool is_get, server_response *resp) {
    char user[64];
    if (!authenticate(s, req, resp, user)) return;
    hae_err err = {0};
    char id[HAE_ID_LEN + 1];
    const char *rest = NULL;
    if (strcmp(path, "/agents") == 0 && is_get) {
        list_open(resp, "agents");
        finish(s, resp, store_agent_list(s->st, add_agent, &resp->body, &err), &err);
    } else if (strcmp(path, "/alerts") == 0 && is_get) {
        handle_alerts(s, req, resp);
    } else if (strcmp(path, "/incidents") == 0 && is_get) {
        if (req->query_state && !server_state_is_known(req->query_state)) {
            server_respond_error(resp, 400, "bad_request", "state: unknown state");
            return;
        }
        list_open(resp, "incidents");
        finish(s, resp,
               store_incident_list(s->st, req->query_state, add_incident, &resp->body, &err),
               &err);
    } else if (sscanf(path, "/agents/%37[^/]", id) == 1 && (rest = path + 8 + strlen(id)) &&
               strcmp(rest, "/revoke") == 0 && !is_get) {
        if (store_agent_revoke(s->st, id, hae_time_now_ns(), &err) < 0) {
            respond_store_error(s, resp, &err);
        } else {
            resp->status = 200;
            hae_buf_printf(&resp->body, "{\"agent_id\":\"%s\",\"revoked\":true}", id);
            hae_log(HAE_LOG_INFO, "server: agent %s revoked by %s", id, user);
        }
    } else if (sscanf(path, "/incidents/%37[^/]", id) == 1 && strlen(id) < HAE_ID_LEN) {
        rest = path + 11 + strlen(id);
        if (*rest == '\0' && is_get) {
            handle_incident_show(s, id, resp);
        } else if (strcmp(rest, "/transitions") == 0 && !is_get) {
            handle_transition(s, id, user, req, resp);
        } else if (strcmp(rest, "/obligations") == 0 && is_get) {
            handle_obligations(s, id, resp);
        } else if (strcmp(rest, "/alerts") == 0 && !is_get) {
            handle_join(s, id, user, req, resp);
        } else if (strcmp(rest, "/attributes") == 0 && !is_get) {
            handle_attributes(s, id, user, req, resp);
        } else if (strcmp(rest, "/reports") == 0 && !is_get) {
            handle_report_sent(s, id, user, req, resp);
        } else {
            server_respond_error(resp, 404, "not_found", "no such resource");
        }
    } else {
        server_respond_error(resp, 404, "not_found", "no such resource");
    }
}

void server_handle(server *s, const server_request *req, server_response *resp) {
    resp->status = 500;
    resp->retry_after_s = 0;
    hae_buf_reset(&resp->body);
    const char *path = req->path ? req->path : "";
    bool is_get = req->method && strcmp(req->method, "GET") == 0;
    bool is_post = req->method && strcmp(req->method, "POST") == 0;
    if (strncmp(path, API "/", sizeof API) != 0) {
        server_respond_error(resp, 404, "not_found", "the API lives under " API);
    } else if (!is_get && !is_post) {
        server_respond_error(resp, 405, "method_not_allowed", "GET or POST only");
    } else if (strcmp(path, API "/health") == 0 && is_get) {
        resp->status = 200;
        hae_buf_printf(&resp->body, "{\"status\":\"%s\",\"version\":\"%s\"}",
                       store_is_full(s->st) ? "storage_unavailable" : "ok", HAETAE_VERSION);
    } else if (strcmp(path, API "/events") == 0 && is_post) {
        server_handle_events(s, req, resp);
    } else if (strcmp(path, API "/enroll") == 0 && is_post) {
        handle_enroll(s, req, resp);
    } else if (strncmp(path, API "/ledger/", sizeof API + 7) == 0 && is_get) {
        char user[64];
        bool is_entries = strncmp(path + sizeof API + 7, "tile/entries/", 13) == 0;
        /* Only entry bundles need a token; authenticate() answers 401 itself. */
        if (!is_entries || authenticate(s, req, resp, user)) {
            server_handle_ledger(s, path + sizeof API + 7, true, resp);
        }
    } else {
        route_analyst(s, req, path + sizeof API - 1, is_get, resp);
    }
    if (resp->body.len == 0) server_respond_error(resp, 500, "internal", "out of memory");
}
