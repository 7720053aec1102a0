/* `haetae witness serve`: a witness any log can push to over HTTPS
 * (c2sp.org/tlog-witness, POST /add-checkpoint). The decisions are the
 * ledger's (ledger_witness_add_checkpoint); this file is the listener:
 * libmicrohttpd over GnuTLS, TLS 1.3 only, the certificate made in
 * STATE/tls on first start like the server's. Requests are answered one at
 * a time: the check against the stored size and the write of the new one
 * must not interleave, or two pushes could both extend the same state. */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "server/server_internal.h"

#define WITNESS_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define WITNESS_MAX_BODY ((size_t)LEDGER_NOTE_MAX + LEDGER_PROOF_MAX * 48 + 64)

struct server_witness {
    server_witness_config cfg;
    ledger_signer key;
    ledger_verifier *logs;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock; /* one add-checkpoint at a time */
    char url[300];
    char pin[SERVER_PIN_LEN];
};

typedef struct witness_request {
    hae_buf body;
    bool is_too_large;
} witness_request;

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result result = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return result;
}

static enum MHD_Result add_checkpoint(server_witness *w, struct MHD_Connection *conn,
                                      const witness_request *req) {
    ledger_witness_reply reply = {0};
    hae_err err = {0};
    pthread_mutex_lock(&w->lock);
    unsigned status = ledger_witness_add_checkpoint(w->cfg.state_dir, &w->key, w->logs, w->cfg.log_count,
                                                    req->body.data ? req->body.data : "", req->body.len,
                                                    (uint64_t)time(NULL), &reply, &err);
    pthread_mutex_unlock(&w->lock);
    if (status == 200) {
        hae_log(HAE_LOG_INFO, "witness: cosigned a checkpoint");
    } else {
        hae_log(HAE_LOG_WARN, "witness: add-checkpoint refused (%u): %s", status, err.msg);
    }
    enum MHD_Result result = answer(conn, status, reply.content_type ? reply.content_type : "text/plain",
                                    reply.body.data ? reply.body.data : "", reply.body.len);
    hae_buf_free(&reply.body);
    return result;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    server_witness *w = cls;
    witness_request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req) return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->is_too_large && req->body.len + *upload_data_size > WITNESS_MAX_BODY) {
            req->is_too_large = true;
            hae_buf_free(&req->body);
        }
        if (!req->is_too_large && hae_buf_append(&req->body, upload_data, *upload_data_size) < 0) return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    static const char not_found[] = "POST /add-checkpoint is the only resource\n";
    if (strcmp(url, "/add-checkpoint") != 0) {
        return answer(conn, 404, "text/plain", not_found, sizeof not_found - 1);
    }
    if (strcmp(method, "POST") != 0) return answer(conn, 405, "text/plain", not_found, sizeof not_found - 1);
    if (req->is_too_large) {
        static const char large[] = "request body too large\n";
        return answer(conn, 413, "text/plain", large, sizeof large - 1);
    }
    return add_checkpoint(w, conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code) {
    (void)cls, (void)conn, (void)code;
    witness_request *req = *con_cls;
    if (!req) return;
    hae_buf_free(&req->body);
    free(req);
    *con_cls = NULL;
}

static int listen_on(server_witness *w, const char *cert, const char *key, hae_err *err) {
    const char *listen = w->cfg.listen ? w->cfg.listen : "127.0.0.1:8444";
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) return hae_err_set(err, HAE_EINVAL, "--listen '%s': expected HOST:PORT", listen);
    char host[256];
    const char *start = listen[0] == '[' ? listen + 1 : listen;
    const char *end = colon[-1] == ']' ? colon - 1 : colon;
    snprintf(host, sizeof host, "%.*s", (int)(end - start), start);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &found);
    if (gai != 0) return hae_err_set(err, HAE_EINVAL, "--listen '%s': %s", listen, gai_strerror(gai));
    unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (found->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_HTTPS_MEM_KEY, key,
                                 MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_PRIORITIES,
                                 WITNESS_TLS_PRIORITIES, MHD_OPTION_SOCK_ADDR, found->ai_addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_TIMEOUT, 15u,
                                 MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                                 w, MHD_OPTION_END);
    bool is_v6 = found->ai_family == AF_INET6;
    freeaddrinfo(found);
    if (!w->daemon) return hae_err_set(err, HAE_EIO, "cannot listen on %s", listen);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(w->url, sizeof w->url, "https://%s%s%s:%u", is_v6 ? "[" : "", host, is_v6 ? "]" : "",
             info ? info->port : 0);
    return HAE_OK;
}

int server_witness_start(const server_witness_config *cfg, server_witness **out, hae_err *err) {
    *out = NULL;
    if (!cfg->state_dir || !cfg->key || cfg->log_count == 0) {
        return hae_err_set(err, HAE_EINVAL, "witness: a state directory, a key and at least one log are needed");
    }
    server_witness *w = calloc(1, sizeof *w);
    if (!w || !(w->logs = calloc(cfg->log_count, sizeof *w->logs))) {
        free(w);
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    w->cfg = *cfg;
    w->key = *cfg->key;
    memcpy(w->logs, cfg->logs, cfg->log_count * sizeof *w->logs);
    w->cfg.logs = w->logs;
    pthread_mutex_init(&w->lock, NULL);
    char *cert = NULL, *key = NULL;
    int rc = mkdir(cfg->state_dir, 0700) == 0 || errno == EEXIST ? HAE_OK : hae_err_errno(err, errno, "%s", cfg->state_dir);
    if (rc == HAE_OK) rc = server_tls_load(cfg->state_dir, cfg->cert_file, cfg->key_file, &cert, &key, w->pin, err);
    if (rc == HAE_OK) rc = listen_on(w, cert, key, err);
    free(cert);
    if (key) sodium_memzero(key, strlen(key));
    free(key);
    if (rc < 0) {
        server_witness_stop(w);
        return rc;
    }
    *out = w;
    return HAE_OK;
}

const char *server_witness_url(const server_witness *w) {
    return w->url;
}

const char *server_witness_pin(const server_witness *w) {
    return w->pin;
}

void server_witness_stop(server_witness *w) {
    if (!w) return;
    if (w->daemon) MHD_stop_daemon(w->daemon);
    pthread_mutex_destroy(&w->lock);
    ledger_signer_wipe(&w->key);
    free(w->logs);
    free(w);
}
