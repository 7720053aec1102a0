/* The server pushing its checkpoints to witnesses (c2sp.org/tlog-witness):
 * a thread, so ingest and the ledger writer never wait on a witness. For
 * each witness it keeps the size the witness holds; when the log signed a
 * larger tree it POSTs /add-checkpoint with "old <that size>" and the
 * consistency proof, adds the cosignature the witness returns to the
 * stored checkpoint (ledger_add_cosignatures) and serves it from then on.
 * A 409 tells the size the witness really holds (a restart here, or
 * another pusher): the next request uses it at once. Failures back off
 * from 1 s doubling to 60 s. The client is OpenSSL, TLS 1.3 only, the
 * witness's key pinned (base64url SHA-256 of its SPKI, as `witness serve`
 * prints) or its chain and name checked against the system's CAs. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"

#define PUSH_TICK_MS 1000
#define PUSH_BACKOFF_MAX_S 60
#define PUSH_REPLY_MAX (64u << 10)
#define PUSH_IO_TIMEOUT_S 10

typedef struct push_target {
    char url[512], host[256], port[8];
    char pin[SERVER_PIN_LEN];     /* empty: the system CAs */
    ledger_verifier key;
    uint64_t size;                /* what the witness holds, as far as we know */
    int64_t next_try_ns;
    unsigned backoff_s;
    bool is_failing;              /* logged once per episode */
} push_target;

struct witness_push {
    server *s;
    push_target *targets;
    size_t count;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool is_stopping;
};

/* "https://HOST:PORT=VKEY[=PIN]" */
static int target_parse(const char *spec, push_target *t, hae_err *err) {
    memset(t, 0, sizeof *t);
    const char *eq = strchr(spec, '=');
    if (strncmp(spec, "https://", 8) != 0 || !eq || (size_t)(eq - spec) >= sizeof t->url) {
        return hae_err_set(err, HAE_EINVAL, "--witness '%s': expected https://HOST:PORT=VKEY[=PIN]", spec);
    }
    snprintf(t->url, sizeof t->url, "%.*s", (int)(eq - spec), spec);
    const char *hostport = t->url + 8, *colon = strrchr(hostport, ':'), *slash = strchr(hostport, '/');
    if (!colon || slash || colon == hostport || strlen(colon + 1) >= sizeof t->port || !colon[1]) {
        return hae_err_set(err, HAE_EINVAL, "--witness '%s': the URL needs HOST:PORT and no path", spec);
    }
    const char *hs = hostport[0] == '[' ? hostport + 1 : hostport, *he = colon[-1] == ']' ? colon - 1 : colon;
    snprintf(t->host, sizeof t->host, "%.*s", (int)(he - hs), hs);
    snprintf(t->port, sizeof t->port, "%s", colon + 1);
    const char *vkey = eq + 1, *pin = strchr(vkey, '=');
    size_t vlen = pin ? (size_t)(pin - vkey) : strlen(vkey);
    int rc = ledger_verifier_parse(vkey, vlen, &t->key, err);
    if (rc < 0) return hae_err_prefix(err, "--witness %s: ", t->url);
    if (t->key.type != LEDGER_KEY_COSIGNATURE) {
        return hae_err_set(err, HAE_EINVAL, "--witness %s: '%s' is not a cosignature/v1 witness key", t->url, t->key.name);
    }
    if (pin && (strlen(pin + 1) != SERVER_PIN_LEN - 1)) {
        return hae_err_set(err, HAE_EINVAL, "--witness %s: the pin is 43 base64url characters", t->url);
    }
    if (pin) memcpy(t->pin, pin + 1, SERVER_PIN_LEN);
    return HAE_OK;
}

/* ---- one HTTPS POST --------------------------------------------------- */

static int connect_to(const push_target *t, hae_err *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int gai = getaddrinfo(t->host, t->port, &hints, &found);
    if (gai != 0) return hae_err_set(err, HAE_EIO, "%s: %s", t->url, gai_strerror(gai));
    int fd = -1;
    for (struct addrinfo *a = found; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {.tv_sec = PUSH_IO_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    return fd >= 0 ? fd : hae_err_errno(err, errno, "%s: cannot connect", t->url);
}

static bool pin_matches(SSL *ssl, const char *pin) {
    X509 *cert = SSL_get1_peer_certificate(ssl);
    unsigned char *der = NULL;
    int len = cert ? i2d_PUBKEY(X509_get0_pubkey(cert), &der) : -1;
    X509_free(cert);
    if (len <= 0) return false;
    uint8_t hash[32];
    SHA256(der, (size_t)len, hash);
    OPENSSL_free(der);
    char got[SERVER_PIN_LEN];
    sodium_bin2base64(got, sizeof got, hash, sizeof hash, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return sodium_memcmp(got, pin, SERVER_PIN_LEN - 1) == 0;
}

static int tls_open(const push_target *t, int fd, SSL_CTX **ctx, SSL **ssl, hae_err *err) {
    *ctx = SSL_CTX_new(TLS_client_method());
    *ssl = NULL;
    if (!*ctx || !SSL_CTX_set_min_proto_version(*ctx, TLS1_3_VERSION)) {
        return hae_err_set(err, HAE_ENOMEM, "%s: cannot set up TLS", t->url);
    }
    if (!t->pin[0]) {
        SSL_CTX_set_default_verify_paths(*ctx);
        SSL_CTX_set_verify(*ctx, SSL_VERIFY_PEER, NULL);
    }
    *ssl = SSL_new(*ctx);
    if (!*ssl || !SSL_set_fd(*ssl, fd) || !SSL_set_tlsext_host_name(*ssl, t->host) ||
        (!t->pin[0] && !SSL_set1_host(*ssl, t->host))) {
        return hae_err_set(err, HAE_ENOMEM, "%s: cannot set up TLS", t->url);
    }
    if (SSL_connect(*ssl) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        return hae_err_set(err, HAE_EIO, "%s: TLS handshake failed: %s", t->url, why);
    }
    if (t->pin[0] && !pin_matches(*ssl, t->pin)) {
        return hae_err_set(err, HAE_EPERM, "%s: the witness's public key does not match its pin", t->url);
    }
    return HAE_OK;
}

typedef struct push_reply {
    unsigned status;
    bool is_size; /* Content-Type: text/x.tlog.size */
    hae_buf body;
} push_reply;

static int reply_parse(const hae_buf *raw, push_reply *out, const char *url, hae_err *err) {
    const char *text = raw->data ? raw->data : "";
    const char *end = raw->len >= 4 ? memmem(text, raw->len, "\r\n\r\n", 4) : NULL;
    unsigned status = 0;
    if (!end || sscanf(text, "HTTP/1.%*c %3u", &status) != 1) {
        return hae_err_set(err, HAE_EIO, "%s: not an HTTP answer", url);
    }
    out->status = status;
    for (const char *line = strstr(text, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        static const char type[] = "\r\ncontent-type:";
        if (strncasecmp(line, type, sizeof type - 1) == 0) {
            const char *v = line + sizeof type - 1;
            while (*v == ' ') v++;
            out->is_size = strncmp(v, "text/x.tlog.size", 16) == 0;
        }
    }
    size_t head = (size_t)(end - text) + 4;
    return hae_buf_append(&out->body, text + head, raw->len - head) < 0 ? hae_err_set(err, HAE_ENOMEM, "out of memory")
                                                                          : HAE_OK;
}

static int post_add_checkpoint(const push_target *t, const hae_buf *body, push_reply *out, hae_err *err) {
    int fd = connect_to(t, err);
    if (fd < 0) return fd;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    hae_buf raw = {0};
    int rc = tls_open(t, fd, &ctx, &ssl, err);
    if (rc == HAE_OK) {
        rc = hae_buf_printf(&raw, "POST /add-checkpoint HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: text/plain\r\n"
                                  "Content-Length: %zu\r\nConnection: close\r\n\r\n", t->host, t->port, body->len);
        if (rc == HAE_OK) rc = hae_buf_append(&raw, body->data, body->len);
        if (rc < 0 || SSL_write(ssl, raw.data, (int)raw.len) != (int)raw.len) {
            rc = hae_err_set(err, HAE_EIO, "%s: cannot send the request", t->url);
        }
    }
    hae_buf_reset(&raw);
    char chunk[4096];
    for (int n; rc == HAE_OK && (n = SSL_read(ssl, chunk, sizeof chunk)) > 0;) {
        if (raw.len + (size_t)n > PUSH_REPLY_MAX) rc = hae_err_set(err, HAE_ELIMIT, "%s: answer too long", t->url);
        else if (hae_buf_append(&raw, chunk, (size_t)n) < 0) rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    if (rc == HAE_OK) rc = reply_parse(&raw, out, t->url, err);
    if (ssl) SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    hae_buf_free(&raw);
    return rc;
}

/* ---- the pushing ------------------------------------------------------ */

static int latest_size(const hae_buf *note, uint64_t *size, hae_err *err) {
    const char *blank = note->data ? strstr(note->data, "\n\n") : NULL;
    ledger_checkpoint cp;
    if (!blank || ledger_checkpoint_parse(note->data, (size_t)(blank - note->data) + 1, &cp, err) < 0) {
        return hae_err_set(err, HAE_EIO, "ledger: unreadable checkpoint");
    }
    *size = cp.size;
    return HAE_OK;
}

/* The request for this witness, or HAE_ENOENT when it holds our newest tree. */
static int build_request(server *s, const push_target *t, uint64_t *size, hae_buf *body, hae_err *err) {
    hae_buf note = {0};
    ledger_proof *proof = calloc(1, sizeof *proof);
    pthread_mutex_lock(&s->ledger_lock);
    int rc = proof ? ledger_read_checkpoint(s->ledger, 0, &note, err) : hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (rc == HAE_OK) rc = latest_size(&note, size, err);
    if (rc == HAE_OK && *size <= t->size) rc = t->size > *size ? hae_err_set(err, HAE_EINVAL,
        "%s holds a tree of %" PRIu64 " entries, the log signed %" PRIu64 " (log rolled back?)", t->url, t->size, *size)
                                                               : HAE_ENOENT;
    if (rc == HAE_OK && t->size > 0) rc = ledger_prove_consistency(s->ledger, t->size, *size, proof, err);
    pthread_mutex_unlock(&s->ledger_lock);
    if (rc == HAE_OK) rc = ledger_add_checkpoint_format(t->size, proof, note.data, note.len, body);
    free(proof);
    hae_buf_free(&note);
    return rc;
}

/* One exchange; true when the witness told its size and deserves another try now. */
static int push_once(server *s, push_target *t, bool *again, hae_err *err) {
    uint64_t size = 0;
    hae_buf body = {0};
    push_reply reply = {0};
    *again = false;
    int rc = build_request(s, t, &size, &body, err);
    if (rc == HAE_OK) rc = post_add_checkpoint(t, &body, &reply, err);
    if (rc == HAE_OK && reply.status == 200) {
        pthread_mutex_lock(&s->ledger_lock);
        rc = ledger_add_cosignatures(s->ledger, size, &t->key, reply.body.data, reply.body.len, err);
        pthread_mutex_unlock(&s->ledger_lock);
        if (rc == HAE_OK) {
            t->size = size;
            hae_log(HAE_LOG_INFO, "ledger: %s cosigned the tree of %" PRIu64 " entries", t->key.name, size);
        }
    } else if (rc == HAE_OK && reply.status == 409 && reply.is_size) {
        uint64_t held = 0;
        char *end = NULL;
        held = strtoull(reply.body.data ? reply.body.data : "", &end, 10);
        if (!end || *end != '\n' || held == t->size) {
            rc = hae_err_set(err, HAE_EINVAL, "%s: refused the tree of %" PRIu64 " (409, holds %" PRIu64 "): a fork?",
                             t->url, size, held);
        } else {
            hae_log(HAE_LOG_INFO, "ledger: %s holds %" PRIu64 " entries, not %" PRIu64 "; pushing again",
                    t->url, held, t->size);
            t->size = held;
            *again = true;
        }
    } else if (rc == HAE_OK) {
        rc = hae_err_set(err, HAE_EIO, "%s: HTTP %u: %.200s", t->url, reply.status, reply.body.data ? reply.body.data : "");
    }
    hae_buf_free(&body);
    hae_buf_free(&reply.body);
    return rc;
}

static void push_target_round(server *s, push_target *t) {
    int64_t now = hae_time_monotonic_ns();
    if (now < t->next_try_ns) return;
    hae_err err = {0};
    bool again = true;
    int rc = HAE_OK;
    for (int tries = 0; again && tries < 3; tries++) rc = push_once(s, t, &again, &err);
    if (rc == HAE_OK || rc == HAE_ENOENT) {
        if (t->is_failing) hae_log(HAE_LOG_INFO, "ledger: witness %s answers again", t->url);
        t->is_failing = false;
        t->backoff_s = 0;
        return;
    }
    if (!t->is_failing) hae_log(HAE_LOG_WARN, "ledger: witness push: %s", err.msg);
    t->is_failing = true;
    t->backoff_s = t->backoff_s ? t->backoff_s * 2 : 1;
    if (t->backoff_s > PUSH_BACKOFF_MAX_S) t->backoff_s = PUSH_BACKOFF_MAX_S;
    t->next_try_ns = now + (int64_t)t->backoff_s * 1000000000LL;
}

static void *push_main(void *arg) {
    witness_push *p = arg;
    /* A witness that hangs up mid-request must cost an EPIPE here, not the
     * server: SIGPIPE from a write is sent to the writing thread. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    pthread_mutex_lock(&p->lock);
    while (!p->is_stopping) {
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < p->count; i++) push_target_round(p->s, &p->targets[i]);
        pthread_mutex_lock(&p->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += PUSH_TICK_MS / 1000;
        if (!p->is_stopping) pthread_cond_timedwait(&p->wake, &p->lock, &until);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int server_witness_push_start(server *s, hae_err *err) {
    if (s->cfg.witness_count == 0) return HAE_OK;
    witness_push *p = calloc(1, sizeof *p);
    if (!p || !(p->targets = calloc(s->cfg.witness_count, sizeof *p->targets))) {
        free(p);
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    p->s = s;
    p->count = s->cfg.witness_count;
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < p->count; i++) rc = target_parse(s->cfg.witnesses[i], &p->targets[i], err);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (rc == HAE_OK && pthread_create(&p->thread, NULL, push_main, p) != 0) {
        rc = hae_err_set(err, HAE_ENOMEM, "cannot start the witness pusher");
    }
    if (rc < 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p->targets);
        free(p);
        return rc;
    }
    s->witness_push = p;
    return HAE_OK;
}

void server_witness_push_stop(server *s) {
    witness_push *p = s->witness_push;
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->is_stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->targets);
    free(p);
    s->witness_push = NULL;
}
