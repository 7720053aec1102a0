/* Fuzzes the HTTP request handlers behind libmicrohttpd: routing, JSON
 * bodies, enrollment, authentication, batch headers. The input is a
 * request: "METHOD PATH\n", header lines "Name: value\n", a blank line,
 * the body. The handlers run on a real store in a temporary directory
 * with one enrolled agent and one API token ("fuzz-token"). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static server *srv;

static void setup(void) {
    char dir[] = "/tmp/haetae-fuzz-http-XXXXXX";
    if (!mkdtemp(dir)) abort();
    server_config cfg = {.data_dir = dir, .backlog_max_events = UINT64_MAX};
    hae_err err = {0};
    if (server_core_open(&cfg, false, &srv, &err) < 0) abort();
    uint8_t hash[32];
    server_sha256("fuzz-token", 10, hash);
    if (store_api_token_add(srv->st, "fuzz", hash, hae_time_now_ns(), &err) < 0) abort();
    hae_log_set_level(HAE_LOG_ERROR);
}

static char *take_line(char **cursor) {
    char *line = *cursor;
    if (!line) return NULL;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = NULL;
    }
    return line;
}

static void header_set(server_request *req, const char *name, const char *value) {
    static const struct { const char *name; size_t offset; } known[] = {
        {"content-type", offsetof(server_request, content_type)},
        {"content-encoding", offsetof(server_request, content_encoding)},
        {"authorization", offsetof(server_request, authorization)},
        {"x-haetae-agent", offsetof(server_request, agent)},
        {"x-haetae-batch", offsetof(server_request, batch)},
        {"x-haetae-time", offsetof(server_request, time)},
        {"x-haetae-signature", offsetof(server_request, signature)},
        {"limit", offsetof(server_request, query_limit)},
        {"since", offsetof(server_request, query_since)},
        {"state", offsetof(server_request, query_state)},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcasecmp(name, known[i].name) == 0) {
            *(const char **)((char *)req + known[i].offset) = value;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv) setup();
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    /* The body keeps its length (it may hold NULs); the head is text. */
    const char *split = memmem(text, size, "\n\n", 2);
    size_t head_len = split ? (size_t)(split - text) : size;
    server_request req = {.body = split ? split + 2 : NULL,
                          .body_len = split ? size - head_len - 2 : 0};
    text[head_len] = '\0';
    char *cursor = text;
    char *first = take_line(&cursor);
    char *space = first ? strchr(first, ' ') : NULL;
    if (space) {
        *space = '\0';
        req.method = first;
        req.path = space + 1;
    }
    for (char *line; (line = take_line(&cursor));) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        header_set(&req, line, colon[1] == ' ' ? colon + 2 : colon + 1);
    }
    req.is_body_too_large = req.body_len > 0 && (data[0] & 0x80);
    server_response resp = {0};
    server_handle(srv, &req, &resp);
    if (resp.status < 200 || resp.status > 599 || resp.body.len == 0 || resp.body.data[0] != '{')
        abort();
    hae_buf_free(&resp.body);
    free(text);
    return 0;
}
