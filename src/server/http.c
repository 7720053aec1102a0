/* The HTTP layer: libmicrohttpd over GnuTLS, TLS 1.3 only, a pool of
 * threads on epoll. It gathers a request into a server_request and hands
 * it to server_handle; nothing here knows the API.
 *
 * Slow clients: MHD closes a connection idle for connection_timeout_s and
 * bounds connections in total and per IP; a client that keeps a connection
 * busy by dripping bytes (slow loris) is cut by a reaper thread once a
 * request has taken longer than request_timeout_s from its first byte (or
 * the previous request's end), like nginx's client_header_timeout. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/server_internal.h"

/* RFC 8446 only; Debian's libmicrohttpd is built with GnuTLS. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define HEADER_MEMORY_LIMIT (64u << 10)
/* A body from nobody in particular: enrollment and login JSON fit easily. */
#define ANONYMOUS_BODY_MAX (8u << 10)

typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    int64_t started_ns;        /* first byte of the current request, or so */
    bool is_reaped;
} conn_track;

struct server_http {
    server *s;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    pthread_cond_t reaper_wake;
    conn_track *conns;
    bool is_stopping;
    pthread_t reaper;
    bool has_reaper;
    size_t inflight_bytes;     /* bodies buffered now, under lock */
};

/* Why a request was refused before its body was read (0: it was not). */
typedef enum refusal {
    REFUSAL_NONE,
    REFUSAL_UNKNOWN_AGENT,
    REFUSAL_REVOKED_AGENT,
    REFUSAL_ANONYMOUS_TOO_LARGE,
    REFUSAL_BUSY,
} refusal;

typedef struct request_ctx {
    hae_buf body;
    size_t max;                /* this request's body limit */
    size_t reserved;           /* bytes of inflight_bytes this request holds */
    bool is_anonymous;         /* neither Authorization nor X-Haetae-Agent */
    bool is_too_large;
    refusal refused;
} request_ctx;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    server_http *h = cls;
    pthread_mutex_lock(&h->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_track *t = calloc(1, sizeof *t);
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (t && info) {
            t->fd = info->connect_fd;
            t->started_ns = hae_time_monotonic_ns();
            t->next = h->conns;
            if (h->conns) h->conns->prev = t;
            h->conns = t;
        } else {
            free(t);
            t = NULL;
        }
        *socket_context = t;
    } else if (*socket_context) {
        conn_track *t = *socket_context;
        if (t->prev) t->prev->next = t->next;
        else h->conns = t->next;
        if (t->next) t->next->prev = t->prev;
        free(t);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&h->lock);
}

static void *reaper_main(void *arg) {
    server_http *h = arg;
    int64_t limit = (int64_t)h->s->cfg.request_timeout_s * 1000000000;
    pthread_mutex_lock(&h->lock);
    while (!h->is_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&h->reaper_wake, &h->lock, &until);
        int64_t now = hae_time_monotonic_ns();
        for (conn_track *t = h->conns; t; t = t->next) {
            if (!t->is_reaped && now - t->started_ns > limit) {
                /* MHD sees the error on its next read and closes the
                 * connection; the fd stays valid until its CLOSED notice. */
                shutdown(t->fd, SHUT_RDWR);
                t->is_reaped = true;
                h->s->connections_reaped++;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void request_restart_clock(server_http *h, struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (!info || !info->socket_context) return;
    pthread_mutex_lock(&h->lock);
    ((conn_track *)info->socket_context)->started_ns = hae_time_monotonic_ns();
    pthread_mutex_unlock(&h->lock);
}

/* Takes n bytes of the global body budget; false when it would overflow. */
static bool budget_take(server_http *h, request_ctx *ctx, size_t n) {
    pthread_mutex_lock(&h->lock);
    bool is_room = h->inflight_bytes + n <= h->s->cfg.max_inflight_body_bytes;
    if (is_room) {
        h->inflight_bytes += n;
        ctx->reserved += n;
    }
    pthread_mutex_unlock(&h->lock);
    return is_room;
}

static void budget_release(server_http *h, request_ctx *ctx) {
    pthread_mutex_lock(&h->lock);
    h->inflight_bytes -= ctx->reserved;
    ctx->reserved = 0;
    pthread_mutex_unlock(&h->lock);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code) {
    (void)code;
    request_ctx *ctx = *con_cls;
    if (ctx) {
        budget_release(cls, ctx);
        hae_buf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
    request_restart_clock(cls, conn);
}

static const char *header(struct MHD_Connection *conn, const char *name) {
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result queue(struct MHD_Connection *conn, server_response *resp);

static enum MHD_Result respond(struct MHD_Connection *conn, request_ctx *ctx, const char *url,
                               const char *method, server *s) {
    server_request req = {
        .method = method,
        .path = url,
        .query_limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit"),
        .query_since = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since"),
        .query_state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state"),
        .content_type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE),
        .content_encoding = header(conn, MHD_HTTP_HEADER_CONTENT_ENCODING),
        .authorization = header(conn, MHD_HTTP_HEADER_AUTHORIZATION),
        .agent = header(conn, "X-Haetae-Agent"),
        .batch = header(conn, "X-Haetae-Batch"),
        .time = header(conn, "X-Haetae-Time"),
        .signature = header(conn, "X-Haetae-Signature"),
        .body = ctx->body.data,
        .body_len = ctx->body.len,
        .is_body_too_large = ctx->is_too_large,
    };
    server_response resp = {0};
    server_handle(s, &req, &resp);
    return queue(conn, &resp);
}

/* The answer to a request refused before its body was buffered. */
static enum MHD_Result respond_refused(struct MHD_Connection *conn, const request_ctx *ctx,
                                       server *s) {
    server_response resp = {0};
    if (ctx->refused == REFUSAL_UNKNOWN_AGENT) {
        server_respond_error(&resp, 401, "unknown_agent", "no enrolled agent with this id");
    } else if (ctx->refused == REFUSAL_REVOKED_AGENT) {
        server_respond_error(&resp, 403, "revoked_agent", "this agent is revoked");
    } else if (ctx->refused == REFUSAL_ANONYMOUS_TOO_LARGE) {
        server_respond_error(&resp, 413, "too_large",
                             "body over the limit of %u bytes for a request without credentials",
                             ANONYMOUS_BODY_MAX);
    } else {
        s->busy_answers++;
        resp.retry_after_s = s->cfg.retry_after_s;
        server_respond_error(&resp, 503, "busy", "too many request bodies in flight; retry later");
    }
    return queue(conn, &resp);
}

/* A request naming an agent is refused before its body is read unless the
 * agent is enrolled and live; the signature is still checked on the whole
 * body later. A store failure decides nothing here: the handler reports it. */
static refusal agent_refusal(server *s, const char *agent_id) {
    store_agent agent;
    hae_err err = {0};
    int rc = store_agent_get(s->st, agent_id, &agent, &err);
    if (rc == HAE_ENOENT) return REFUSAL_UNKNOWN_AGENT;
    if (rc == HAE_OK && agent.revoked_ns) return REFUSAL_REVOKED_AGENT;
    return REFUSAL_NONE;
}

static request_ctx *request_begin(server_http *h, struct MHD_Connection *conn) {
    request_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    const char *agent = header(conn, "X-Haetae-Agent");
    bool is_anonymous = !header(conn, MHD_HTTP_HEADER_AUTHORIZATION) && !(agent && *agent);
    ctx->is_anonymous = is_anonymous;
    ctx->max = is_anonymous ? ANONYMOUS_BODY_MAX : h->s->cfg.max_body_bytes;
    if (ctx->max > h->s->cfg.max_body_bytes) ctx->max = h->s->cfg.max_body_bytes;
    if (agent && *agent) ctx->refused = agent_refusal(h->s, agent);
    const char *length = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = length ? strtoull(length, NULL, 10) : 0;
    if (declared > ctx->max) {
        ctx->is_too_large = true;
        if (is_anonymous) ctx->refused = REFUSAL_ANONYMOUS_TOO_LARGE;
    }
    return ctx;
}

/* Keeps a chunk of body, within the request's limit and the global budget;
 * past either the rest is read and dropped, so the client sees the answer
 * instead of a reset (request_timeout_s bounds the wait). */
static int request_body_add(server_http *h, request_ctx *ctx, const char *data, size_t n) {
    if (ctx->refused || ctx->is_too_large) return HAE_OK;
    if (ctx->body.len + n > ctx->max) {
        ctx->is_too_large = true;
        if (ctx->is_anonymous) ctx->refused = REFUSAL_ANONYMOUS_TOO_LARGE;
    } else if (!budget_take(h, ctx, n)) {
        ctx->refused = REFUSAL_BUSY;
    }
    if (ctx->refused || ctx->is_too_large) {
        hae_buf_free(&ctx->body);
        budget_release(h, ctx);
        return HAE_OK;
    }
    return hae_buf_append(&ctx->body, data, n);
}

/* Sends resp and frees its body. */
static enum MHD_Result queue(struct MHD_Connection *conn, server_response *resp) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->body.len, resp->body.data ? resp->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    enum MHD_Result result = MHD_NO;
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type ? resp->content_type : "application/json");
        if (resp->retry_after_s) {
            char seconds[16];
            snprintf(seconds, sizeof seconds, "%u", resp->retry_after_s);
            MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
        }
        result = MHD_queue_response(conn, resp->status, r);
        MHD_destroy_response(r);
    }
    hae_buf_free(&resp->body);
    return result;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    server_http *h = cls;
    request_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = request_begin(h, conn);
        if (!ctx) return MHD_NO;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (request_body_add(h, ctx, upload_data, *upload_data_size) < 0) return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (ctx->refused) return respond_refused(conn, ctx, h->s);
    return respond(conn, ctx, url, method, h->s);
}

HAE_PRINTF(2, 0) static void on_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = '\0';
    hae_log(HAE_LOG_DEBUG, "server: http: %s", line);
}

/* "HOST:PORT" or "[V6]:PORT" into an address. */
static int listen_parse(const char *listen, struct sockaddr_storage *addr, char *host,
                        size_t host_size, hae_err *err) {
    memset(addr, 0, sizeof *addr);
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) {
        return hae_err_set(err, HAE_EINVAL, "listen address '%s': expected HOST:PORT", listen);
    }
    const char *start = listen, *end = colon;
    if (*start == '[' && end[-1] == ']') {
        start++;
        end--;
    }
    snprintf(host, host_size, "%.*s", (int)(end - start), start);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &found);
    if (rc != 0) {
        return hae_err_set(err, HAE_EINVAL, "listen address '%s': %s", listen, gai_strerror(rc));
    }
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    return HAE_OK;
}

static int daemon_start(server_http *h, const char *cert_pem, const char *key_pem,
                        hae_err *err) {
    server *s = h->s;
    struct sockaddr_storage addr;
    char host[256] = "";
    int rc = listen_parse(s->cfg.listen, &addr, host, sizeof host, err);
    if (rc < 0) return rc;
    unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
        MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->cfg.threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)s->cfg.connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)s->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)s->cfg.max_connections_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HEADER_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_EXTERNAL_LOGGER, on_log,
        NULL, MHD_OPTION_END);
    if (!h->daemon) {
        return hae_err_set(err, HAE_EIO,
                           "cannot listen on %s (address in use, or TLS setup refused)",
                           s->cfg.listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    bool is_any = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || host[0] == '\0';
    const char *shown = is_any ? hae_host_name() : host;
    bool is_v6 = strchr(shown, ':') != NULL;
    snprintf(s->url, sizeof s->url, "https://%s%s%s:%u", is_v6 ? "[" : "", shown,
             is_v6 ? "]" : "", port);
    return HAE_OK;
}

int server_http_start(server *s, const char *cert_pem, const char *key_pem, hae_err *err) {
    server_http *h = calloc(1, sizeof *h);
    if (!h) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    h->s = s;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->reaper_wake, NULL);
    s->http = h;
    int rc = daemon_start(h, cert_pem, key_pem, err);
    if (rc == HAE_OK) {
        if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
            rc = hae_err_set(err, HAE_ENOMEM, "cannot start the connection reaper");
        } else {
            h->has_reaper = true;
        }
    }
    if (rc < 0) {
        server_http_stop(h);
        s->http = NULL;
    }
    return rc;
}

void server_http_stop(server_http *h) {
    if (!h) return;
    if (h->daemon) MHD_stop_daemon(h->daemon);
    pthread_mutex_lock(&h->lock);
    h->is_stopping = true;
    pthread_cond_signal(&h->reaper_wake);
    pthread_mutex_unlock(&h->lock);
    if (h->has_reaper) pthread_join(h->reaper, NULL);
    pthread_cond_destroy(&h->reaper_wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
