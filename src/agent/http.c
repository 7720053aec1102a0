/* The agent's only door to the network: HTTPS POSTs through libcurl, TLS 1.3
 * only, the server authenticated by its pinned public key and/or a CA. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/curl_lib.h"
#include "agent/transport_internal.h"

enum { HTTP_BODY_MAX = 64 << 10 };

struct http_client {
    const curl_lib *lib;
    CURL *curl;
    char *url;
    char curl_pin[128];
    char detail[CURL_ERROR_SIZE];   /* curl's own words on the last failure */
    const atomic_bool *cancel;
};

int http_client_open(http_client **out, const http_peer *peer, const atomic_bool *cancel,
                     hae_err *err) {
    const curl_lib *lib = curl_lib_get(err);
    if (!lib) return HAE_ENOTSUP;
    if (strncmp(peer->url, "https://", 8) != 0) {
        return hae_err_set(err, HAE_EINVAL, "server URL '%s': must start with https://",
                           peer->url);
    }
    bool has_pin = peer->pin && peer->pin[0];
    bool has_ca = peer->ca_file && peer->ca_file[0];
    if (!has_pin && !has_ca) {
        return hae_err_set(err, HAE_EINVAL, "no pin and no CA: the server cannot be trusted");
    }
    http_client *c = calloc(1, sizeof *c);
    if (!c) return hae_err_set(err, HAE_ENOMEM, "http: out of memory");
    c->lib = lib;
    c->cancel = cancel;
    size_t url_len = strlen(peer->url);
    while (url_len > 8 && peer->url[url_len - 1] == '/') url_len--;
    c->url = strndup(peer->url, url_len);
    c->curl = lib->easy_init();
    int rc = !c->url || !c->curl ? hae_err_set(err, HAE_ENOMEM, "http: out of memory") : HAE_OK;
    if (rc == HAE_OK && has_pin) {
        rc = agent_pin_to_curl(peer->pin, c->curl_pin, sizeof c->curl_pin, err);
    }
    if (rc < 0) {
        http_client_close(c);
        return rc;
    }
    CURL *h = c->curl;
    CURLcode set = CURLE_OK;
    set |= c->lib->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    set |= c->lib->easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    set |= c->lib->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    set |= c->lib->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    /* A stalled transfer (under 1 KiB/s for 60 s) is a dead one; a slow
     * but moving one may take as long as it needs. */
    set |= c->lib->easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    set |= c->lib->easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    set |= c->lib->easy_setopt(h, CURLOPT_USERAGENT, "haetae-agent/" HAETAE_VERSION);
    set |= c->lib->easy_setopt(h, CURLOPT_ERRORBUFFER, c->detail);
    if (has_pin) {
        /* The pin is the trust anchor (PROTOCOL.md, Enrollment): the server's
         * certificate is self-signed, so the chain is not checked, but curl
         * aborts before sending anything unless the key hash matches. */
        set |= c->lib->easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, c->curl_pin);
    }
    if (has_ca) {
        set |= c->lib->easy_setopt(h, CURLOPT_CAINFO, peer->ca_file);
        set |= c->lib->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        set |= c->lib->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    } else {
        set |= c->lib->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        set |= c->lib->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (set != CURLE_OK) {
        http_client_close(c);
        return hae_err_set(err, HAE_ENOTSUP, "libcurl lacks an option haetae needs (TLS 1.3, "
                                             "pinning or https)");
    }
    *out = c;
    return HAE_OK;
}

static size_t on_body(char *data, size_t size, size_t count, void *ctx) {
    http_response *resp = ctx;
    size_t len = size * count;
    size_t room = HTTP_BODY_MAX > resp->body.len ? HTTP_BODY_MAX - resp->body.len : 0;
    /* Keep what fits; a server's reply longer than 64 KiB is cut, not fatal. */
    if (room > 0 && hae_buf_append(&resp->body, data, len < room ? len : room) < 0) return 0;
    return len;
}

static size_t on_header(char *data, size_t size, size_t count, void *ctx) {
    http_response *resp = ctx;
    size_t len = size * count;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        uint32_t seconds = 0;
        if (agent_parse_retry_after(data + sizeof name - 1, len - (sizeof name - 1),
                                    (int64_t)time(NULL), &seconds)) {
            resp->has_retry_after = true;
            resp->retry_after_s = seconds;
        }
    }
    return len;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const http_client *c = ctx;
    return c->cancel && atomic_load(c->cancel) ? 1 : 0;
}

/* Sends the request the caller set up on c->curl to url + path and fills
 * resp; the handle keeps its connection for the next request. */
static int perform(http_client *c, const char *path, struct curl_slist *list, http_response *resp,
                   hae_err *err) {
    hae_buf_reset(&resp->body);
    resp->status = 0;
    resp->has_retry_after = false;
    resp->retry_after_s = 0;
    hae_buf url = {0};
    if (hae_buf_printf(&url, "%s%s", c->url, path) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "http: out of memory");
    }
    CURL *h = c->curl;
    CURLcode set = CURLE_OK;
    set |= c->lib->easy_setopt(h, CURLOPT_URL, url.data);
    set |= c->lib->easy_setopt(h, CURLOPT_HTTPHEADER, list);
    set |= c->lib->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    set |= c->lib->easy_setopt(h, CURLOPT_WRITEDATA, resp);
    set |= c->lib->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    set |= c->lib->easy_setopt(h, CURLOPT_HEADERDATA, resp);
    set |= c->lib->easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    set |= c->lib->easy_setopt(h, CURLOPT_XFERINFODATA, c);
    set |= c->lib->easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    c->detail[0] = '\0';
    int rc = HAE_OK;
    CURLcode done = set == CURLE_OK ? c->lib->easy_perform(h) : set;
    if (done == CURLE_OK) {
        c->lib->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    } else {
        rc = hae_err_set(err, HAE_EIO, "%s: %s%s%s", url.data, c->lib->easy_strerror(done),
                         c->detail[0] ? ": " : "", c->detail);
    }
    /* The handle keeps the connection for the next request, not our pointers. */
    c->lib->easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    c->lib->easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    hae_buf_free(&url);
    return rc;
}

int http_post(http_client *c, const char *path, const char *const *headers, size_t header_count,
              const void *body, size_t body_len, http_response *resp, hae_err *err) {
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < header_count; i++) {
        struct curl_slist *grown = c->lib->slist_append(list, headers[i]);
        if (!grown) {
            c->lib->slist_free_all(list);
            return hae_err_set(err, HAE_ENOMEM, "http: out of memory");
        }
        list = grown;
    }
    CURLcode set = c->lib->easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    set |= c->lib->easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    int rc = set == CURLE_OK ? perform(c, path, list, resp, err)
                             : hae_err_set(err, HAE_ENOTSUP, "http: libcurl refused the POST body");
    c->lib->easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL); /* not left pointing at body */
    c->lib->slist_free_all(list);
    return rc;
}

int http_get(http_client *c, const char *path, http_response *resp, hae_err *err) {
    if (c->lib->easy_setopt(c->curl, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
        return hae_err_set(err, HAE_ENOTSUP, "http: libcurl refused a GET");
    }
    return perform(c, path, NULL, resp, err);
}

/* One request on a fresh connection: a GET when body is NULL. */
static int https_once(const char *server_url, const char *pin, const char *ca_file,
                      const char *path, const char *const *headers, size_t header_count,
                      const hae_buf *body, long *status, hae_buf *reply, hae_err *err) {
    http_peer peer = {server_url, pin, ca_file};
    http_client *c = NULL;
    http_response resp = {0};
    int rc = http_client_open(&c, &peer, NULL, err);
    if (rc == HAE_OK && c) {
        rc = body ? http_post(c, path, headers, header_count, body->data ? body->data : "",
                              body->len, &resp, err)
                  : http_get(c, path, &resp, err);
    }
    if (rc == HAE_OK && c) {
        *status = resp.status;
        hae_buf_reset(reply);
        rc = hae_buf_append(reply, resp.body.data ? resp.body.data : "", resp.body.len);
        if (rc < 0) rc = hae_err_set(err, rc, "http: out of memory");
    }
    http_response_free(&resp);
    http_client_close(c);
    return rc;
}

int agent_https_get(const char *server_url, const char *pin, const char *ca_file,
                    const char *path, long *status, hae_buf *body, hae_err *err) {
    return https_once(server_url, pin, ca_file, path, NULL, 0, NULL, status, body, err);
}

int agent_https_post(const char *server_url, const char *pin, const char *path,
                     const char *const *headers, size_t header_count, const hae_buf *body,
                     long *status, hae_buf *reply, hae_err *err) {
    return https_once(server_url, pin, NULL, path, headers, header_count, body, status, reply,
                      err);
}

void http_response_free(http_response *resp) {
    hae_buf_free(&resp->body);
}

void http_client_close(http_client *c) {
    if (!c) return;
    if (c->curl) c->lib->easy_cleanup(c->curl);
    free(c->url);
    free(c);
}
