/* A libcurl client and an agent's signing for the server tests: real TLS
 * to the real server on 127.0.0.1. */
#ifndef HAETAE_SERVER_TEST_UTIL_H
#define HAETAE_SERVER_TEST_UTIL_H

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/core.h"

typedef struct http_reply {
    long status;
    hae_buf body;
    long retry_after;
} http_reply;

static size_t reply_write(char *data, size_t size, size_t n, void *ctx) {
    hae_buf *b = ctx;
    return hae_buf_append(b, data, size * n) == HAE_OK ? size * n : 0;
}

static size_t reply_header(char *data, size_t size, size_t n, void *ctx) {
    http_reply *r = ctx;
    if (size * n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        r->retry_after = strtol(data + 12, NULL, 10);
    }
    return size * n;
}

/* Performs a request trusting only the server's certificate file; headers
 * is a NULL-terminated list. Returns the curl code. */
static CURLcode http_do(const char *url, const char *cafile, const char *method,
                        const char *const *headers, const void *body, size_t len,
                        http_reply *reply) {
    memset(reply, 0, sizeof *reply);
    CURL *h = curl_easy_init();
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++) list = curl_slist_append(list, headers[i]);
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, reply_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, reply_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return rc;
}

static void gzip_bytes(const void *in, size_t len, hae_buf *out) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    hae_buf_reset(out);
    if (hae_buf_reserve(out, cap) != HAE_OK) abort();
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->data;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    out->len = cap - zs.avail_out;
    deflateEnd(&zs);
}

typedef struct test_agent {
    char id[64];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
} test_agent;

/* The X-Haetae-* headers of docs/PROTOCOL.md for body as sent. */
static void batch_headers(const test_agent *a, unsigned long long seq, const char *when,
                          const void *body, size_t len, char out[4][256]) {
    unsigned char digest[32], sig[crypto_sign_BYTES];
    crypto_hash_sha256(digest, body, len);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    char msg[512];
    int n = snprintf(msg, sizeof msg, "haetae-batch-v1\n%s\n%llu\n%s\n%s", a->id, seq, when, hex);
    crypto_sign_detached(sig, NULL, (unsigned char *)msg, (unsigned long long)n, a->sk);
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out[0], 256, "X-Haetae-Agent: %s", a->id);
    snprintf(out[1], 256, "X-Haetae-Batch: %llu", seq);
    snprintf(out[2], 256, "X-Haetae-Time: %s", when);
    snprintf(out[3], 256, "X-Haetae-Signature: %s", b64);
}

#endif
