/* Assembling the server: configuration defaults, the data directory, the
 * store handles, the rules, the worker and the listener; tokens. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/obligations.h"
#include "server/server_internal.h"

#define ADMIN_USER "admin"

static void config_defaults(server_config *c) {
    if (!c->listen) c->listen = "127.0.0.1:8443";
    if (!c->max_body_bytes) c->max_body_bytes = SERVER_MAX_BODY_DEFAULT;
    if (!c->max_decoded_bytes) c->max_decoded_bytes = SERVER_MAX_DECODED_DEFAULT;
    /* Idle connections cost a slot of the per-IP limit: free them soon. */
    if (!c->connection_timeout_s) c->connection_timeout_s = 10;
    if (!c->request_timeout_s) c->request_timeout_s = 60;
    if (!c->max_connections) c->max_connections = 1024;
    /* Low enough that 1024 needs 32 addresses, high enough for a NAT of agents. */
    if (!c->max_connections_per_ip) c->max_connections_per_ip = 32;
    if (!c->max_inflight_body_bytes) c->max_inflight_body_bytes = (size_t)256 << 20;
    if (!c->threads) c->threads = 4;
    if (!c->backlog_max_events) c->backlog_max_events = 1000000;
    if (!c->retry_after_s) c->retry_after_s = 5;
    if (!c->incident_window_ns) c->incident_window_ns = 3600LL * 1000000000;
}

static int data_dir_prepare(const char *dir, hae_err *err) {
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return hae_err_errno(err, errno, "data directory %s", dir);
    }
    return HAE_OK;
}

int server_data_store_open(const char *data_dir, store **out, hae_err *err) {
    int rc = data_dir_prepare(data_dir, err);
    if (rc < 0) return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/haetae.db", data_dir);
    return store_open(out, path, err);
}

static void report_rule(void *ctx, const char *file, detect_status status,
                        const detect_rule_info *info, const char *reason) {
    (void)ctx;
    if (status != DETECT_RULE_COMPILED) {
        hae_log(HAE_LOG_DEBUG, "server: rule %s %s: %s", info && info->title ? info->title : file,
                detect_status_name(status), reason ? reason : "");
    }
}

static int rules_load(server *s, hae_err *err) {
    if (!s->cfg.rules_path) {
        hae_log(HAE_LOG_WARN, "server: no rules given: only the agents' findings become alerts");
        return HAE_OK;
    }
    detect_load_counts counts = {0};
    int rc = detect_engine_new(&s->engine, NULL, err);
    if (rc == HAE_OK) {
        rc = detect_engine_load_path(s->engine, s->cfg.rules_path, report_rule, s, &counts, err);
    }
    if (rc == HAE_OK) rc = detect_engine_compile(s->engine, report_rule, s, err);
    if (rc < 0) return hae_err_prefix(err, "rules %s", s->cfg.rules_path);
    s->rule_count = detect_engine_rule_count(s->engine);
    hae_log(HAE_LOG_INFO, "server: %zu rules from %s (%zu unsupported, %zu invalid)",
            s->rule_count, s->cfg.rules_path, counts.unsupported, counts.invalid);
    return HAE_OK;
}

static int policies_load(server *s, hae_err *err) {
    if (!s->cfg.policies_dir) {
        hae_log(HAE_LOG_WARN, "server: no policies given: incidents carry no obligations");
        return HAE_OK;
    }
    int rc = server_policies_load(s->cfg.policies_dir, &s->policies, err);
    if (rc == HAE_OK && s->policies->count == 0) {
        rc = hae_err_set(err, HAE_ENOENT, "policies %s: no *.json policy files",
                         s->cfg.policies_dir);
    }
    if (rc < 0) return rc;
    hae_log(HAE_LOG_INFO, "server: %zu policy files from %s", s->policies->count,
            s->cfg.policies_dir);
    return HAE_OK;
}

int server_core_open(const server_config *cfg, bool with_worker, server **out, hae_err *err) {
    *out = NULL;
    if (!cfg->data_dir) return hae_err_set(err, HAE_EINVAL, "a data directory is required");
    if (sodium_init() < 0) return hae_err_set(err, HAE_ENOTSUP, "libsodium cannot start");
    server *s = calloc(1, sizeof *s);
    if (!s) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    s->cfg = *cfg;
    config_defaults(&s->cfg);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->data_dir = strdup(cfg->data_dir);
    int rc = HAE_OK;
    if (!s->data_dir) {
        rc = HAE_ENOMEM;
        hae_err_set(err, rc, "out of memory");
    }
    if (rc == HAE_OK) rc = server_data_store_open(s->data_dir, &s->st, err);
    if (rc == HAE_OK) rc = server_data_store_open(s->data_dir, &s->worker_st, err);
    if (rc == HAE_OK) rc = rules_load(s, err);
    if (rc == HAE_OK) rc = policies_load(s, err);
    if (rc == HAE_OK && with_worker) rc = server_ledger_start(s, err);
    if (rc == HAE_OK && with_worker) rc = server_pipeline_start(s, err);
    if (rc < 0) {
        server_core_close(s);
        return rc;
    }
    *out = s;
    return HAE_OK;
}

void server_core_close(server *s) {
    if (!s) return;
    server_pipeline_stop(s);
    server_ledger_stop(s);
    server_policies_free(s->policies);
    detect_engine_free(s->engine);
    store_close(s->worker_st);
    store_close(s->st);
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    sodium_memzero(s->admin_token, sizeof s->admin_token);
    free(s->data_dir);
    free(s);
}

/* Line `wanted` (0: the first) of path into out, without its line break. */
static int file_line(const char *path, int wanted, char *out, size_t size, hae_err *err) {
    FILE *f = fopen(path, "re");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    bool has_line = false;
    for (int i = 0; i <= wanted; i++) has_line = fgets(out, (int)size, f) != NULL;
    fclose(f);
    if (!has_line) return hae_err_set(err, HAE_EINVAL, "%s: line %d missing", path, wanted + 1);
    out[strcspn(out, "\r\n")] = '\0';
    return HAE_OK;
}

/* First start: an admin API token, its hash in the store, the token itself
 * in DATA/admin.token (0600) so `haetae up` can show it again. */
static int admin_token_prepare(server *s, hae_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/admin.token", s->data_dir);
    uint64_t count = 0;
    int rc = store_api_token_count(s->st, &count, err);
    if (rc < 0) return rc;
    if (count == 0) {
        if ((rc = server_secret_new(s->admin_token, sizeof s->admin_token)) < 0) return rc;
        uint8_t hash[32];
        server_sha256(s->admin_token, strlen(s->admin_token), hash);
        rc = server_data_write_secret(path, s->admin_token, err);
        if (rc == HAE_OK) rc = store_api_token_add(s->st, ADMIN_USER, hash, hae_time_now_ns(), err);
        if (rc == HAE_OK) hae_log(HAE_LOG_INFO, "server: admin API token written to %s", path);
        return rc;
    }
    /* Removed by the operator: the server runs, `up` cannot show it. */
    hae_err unread = {0};
    if (file_line(path, 0, s->admin_token, sizeof s->admin_token, &unread) < 0) {
        s->admin_token[0] = '\0';
    }
    return HAE_OK;
}

/* DATA/server.url tells the CLI on this host where the running server is,
 * so its changes go through the server's clock. Not a secret: the pin
 * comes from DATA/tls and the token from DATA/admin.token. */
static void endpoint_publish(server *s) {
    char path[4200], line[4400];
    snprintf(path, sizeof path, "%s/" SERVER_ENDPOINT_FILE, s->data_dir);
    char *real = realpath(s->data_dir, NULL);
    /* The directory's own path beside the URL: a copy of it (a backup
     * restored elsewhere) does not send its CLI to this server. */
    int n = snprintf(line, sizeof line, "%s\n%s\n", s->url, real ? real : s->data_dir);
    free(real);
    hae_err err = {0};
    if (hae_file_write_atomic(path, line, (size_t)n, 0600, &err) < 0) {
        hae_log(HAE_LOG_WARN, "server: %s: the CLI will not find this server", err.msg);
    }
}

static void endpoint_withdraw(const server *s) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" SERVER_ENDPOINT_FILE, s->data_dir);
    unlink(path);
}

int server_start(const server_config *cfg, server **out, hae_err *err) {
    server *s = NULL;
    int rc = server_core_open(cfg, true, &s, err);
    if (rc < 0 || !s) return rc < 0 ? rc : HAE_ENOMEM;
    char *cert = NULL, *key = NULL;
    rc = server_tls_load(s->data_dir, s->cfg.cert_file, s->cfg.key_file, &cert, &key, s->pin, err);
    if (rc == HAE_OK) rc = admin_token_prepare(s, err);
    if (rc == HAE_OK) rc = server_http_start(s, cert, key, err);
    free(cert);
    if (key) sodium_memzero(key, strlen(key));
    free(key);
    if (rc < 0) {
        server_core_close(s);
        return rc;
    }
    hae_log(HAE_LOG_INFO, "server: listening on %s, data in %s", s->url, s->data_dir);
    endpoint_publish(s);
    *out = s;
    return HAE_OK;
}

void server_stop(server *s) {
    if (!s) return;
    endpoint_withdraw(s);
    server_http_stop(s->http);
    s->http = NULL;
    server_core_close(s);
}

const char *server_url(const server *s) { return s->url; }
const char *server_pin(const server *s) { return s->pin; }
const char *server_data_dir(const server *s) { return s->data_dir; }
const char *server_admin_token(const server *s) {
    return s->admin_token[0] ? s->admin_token : NULL;
}

static int enroll_token_make(store *st, const char *pin, int64_t ttl_ns, char *out,
                             size_t out_size, hae_err *err) {
    if (ttl_ns <= 0) return hae_err_set(err, HAE_EINVAL, "the token's lifetime must be positive");
    char secret[SERVER_TOKEN_MAX];
    int rc = server_secret_new(secret, sizeof secret);
    if (rc < 0) return hae_err_set(err, rc, "cannot make a token");
    if ((size_t)snprintf(out, out_size, "%s.%s", secret, pin) >= out_size) {
        return hae_err_set(err, HAE_ELIMIT, "token buffer too small");
    }
    uint8_t hash[32];
    server_sha256(secret, strlen(secret), hash);
    sodium_memzero(secret, sizeof secret);
    int64_t now = hae_time_now_ns();
    return store_enroll_token_add(st, hash, now, now + ttl_ns, err);
}

int server_enroll_token_create(server *s, int64_t ttl_ns, char *out, size_t out_size,
                               hae_err *err) {
    return enroll_token_make(s->st, s->pin, ttl_ns, out, out_size, err);
}

int server_data_enroll_token(const char *data_dir, int64_t ttl_ns, char *out, size_t out_size,
                             hae_err *err) {
    if (sodium_init() < 0) return hae_err_set(err, HAE_ENOTSUP, "libsodium cannot start");
    store *st = NULL;
    char *cert = NULL, *key = NULL, pin[SERVER_PIN_LEN];
    int rc = server_data_store_open(data_dir, &st, err);
    if (rc == HAE_OK) rc = server_tls_load(data_dir, NULL, NULL, &cert, &key, pin, err);
    if (rc == HAE_OK) rc = enroll_token_make(st, pin, ttl_ns, out, out_size, err);
    free(cert);
    if (key) sodium_memzero(key, strlen(key));
    free(key);
    store_close(st);
    return rc;
}

int server_data_endpoint(const char *data_dir, server_endpoint *out, hae_err *err) {
    memset(out, 0, sizeof *out);
    char path[4200];
    snprintf(path, sizeof path, "%s/" SERVER_ENDPOINT_FILE, data_dir);
    if (access(path, F_OK) != 0) {
        return hae_err_set(err, HAE_ENOENT, "no server is serving %s (no %s)", data_dir, path);
    }
    int rc = file_line(path, 0, out->url, sizeof out->url, err);
    char served[4200];
    char *real = realpath(data_dir, NULL);
    if (rc == HAE_OK) rc = file_line(path, 1, served, sizeof served, err);
    if (rc == HAE_OK && (!real || strcmp(real, served) != 0)) {
        rc = hae_err_set(err, HAE_ENOENT, "no server is serving %s (%s names %s: a copy)",
                         data_dir, path, served);
    }
    free(real);
    snprintf(path, sizeof path, "%s/admin.token", data_dir);
    if (rc == HAE_OK) rc = file_line(path, 0, out->token, sizeof out->token, err);
    char *cert = NULL, *key = NULL, pin[SERVER_PIN_LEN];
    if (rc == HAE_OK) rc = server_tls_load(data_dir, NULL, NULL, &cert, &key, pin, err);
    if (rc == HAE_OK) snprintf(out->pin, sizeof out->pin, "%s", pin);
    free(cert);
    if (key) sodium_memzero(key, strlen(key));
    free(key);
    if (rc < 0) sodium_memzero(out->token, sizeof out->token);
    return rc;
}

int server_data_api_token(const char *data_dir, const char *user, char *out, size_t out_size,
                          hae_err *err) {
    if (sodium_init() < 0) return hae_err_set(err, HAE_ENOTSUP, "libsodium cannot start");
    if (!user || !*user || strlen(user) > 63) {
        return hae_err_set(err, HAE_EINVAL, "a user name of 1 to 63 bytes is required");
    }
    store *st = NULL;
    int rc = server_data_store_open(data_dir, &st, err);
    if (rc == HAE_OK && (rc = server_secret_new(out, out_size)) < 0) {
        hae_err_set(err, rc, "token buffer too small");
    }
    if (rc == HAE_OK) {
        uint8_t hash[32];
        server_sha256(out, strlen(out), hash);
        rc = store_api_token_add(st, user, hash, hae_time_now_ns(), err);
    }
    store_close(st);
    return rc;
}

int server_wait_idle(server *s, int timeout_ms, hae_err *err) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    int rc = HAE_OK;
    pthread_mutex_lock(&s->lock);
    while (s->backlog > 0 && rc == HAE_OK) {
        if (pthread_cond_timedwait(&s->idle, &s->lock, &until) != 0) {
            rc = hae_err_set(err, HAE_ELIMIT, "detection still has %llu events after %d ms",
                             (unsigned long long)s->backlog, timeout_ms);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void server_get_stats(server *s, server_stats *out) {
    memset(out, 0, sizeof *out);
    out->batches_accepted = s->batches_accepted;
    out->batches_rejected = s->batches_rejected;
    out->events_stored = s->events_stored;
    out->events_duplicate = s->events_duplicate;
    out->busy_answers = s->busy_answers;
    out->storage_failures = s->storage_failures;
    out->alerts = s->alerts;
    out->incidents_created = s->incidents_created;
    out->connections_reaped = s->connections_reaped;
    out->rules = s->rule_count;
    pthread_mutex_lock(&s->lock);
    out->backlog_events = s->backlog;
    pthread_mutex_unlock(&s->lock);
}
