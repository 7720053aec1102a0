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
};

typedef struct request_ctx {
    hae_buf body;
    bool is_too_large;
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

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code) {
    (void)code;
    request_ctx *ctx = *con_cls;
    if (ctx) {
        hae_buf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
    request_restart_clock(cls, conn);
}

static const char *header(struct MHD_Connection *conn, const char *name) {
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

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
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp.body.len, resp.body.data ? resp.body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    enum MHD_Result result = MHD_NO;
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp.content_type ? resp.content_type : "application/json");
        if (resp.retry_after_s) {
            char seconds[16];
            snprintf(seconds, sizeof seconds, "%u", resp.retry_after_s);
            MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
        }
        result = MHD_queue_response(conn, resp.status, r);
        MHD_destroy_response(r);
    }
    hae_buf_free(&resp.body);
    return result;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    server_http *h = cls;
    size_t max = h->s->cfg.max_body_bytes;
    request_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx) return MHD_NO;
        const char *length = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        ctx->is_too_large = length && strtoull(length, NULL, 10) > max;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* Over the limit the rest is read and dropped, so the client sees
         * the 413 instead of a reset; request_timeout_s bounds the wait. */
        if (!ctx->is_too_large && ctx->body.len + *upload_data_size > max) {
            ctx->is_too_large = true;
            hae_buf_free(&ctx->body);
        }
        if (!ctx->is_too_large &&
            hae_buf_append(&ctx->body, upload_data, *upload_data_size) < 0) {
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
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
