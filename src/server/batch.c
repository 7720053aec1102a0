/* Event batches (docs/PROTOCOL.md, "Event batches"): decoding is pure and
 * separate from verification, so the fuzzer feeds it bytes; the handler
 * checks headers, agent, time and signature before it decompresses a byte,
 * and answers only after the store's commit returned. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "server/server_internal.h"


/* Inflates a gzip stream (RFC 1952; several members are one stream). */
static int gunzip(const char *in, size_t len, size_t max, hae_buf *out, hae_err *err) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return hae_err_set(err, HAE_ENOMEM, "cannot start zlib");
    }
    zs.next_in = (Bytef *)in; /* zlib does not write through next_in */
    zs.avail_in = (uInt)len;
    int rc = HAE_OK;
    for (;;) {
        if (out->cap - out->len < 65536 + 1) {
            if (out->len >= max + 1) break;
            if ((rc = hae_buf_reserve(out, 65536 + 1)) < 0) break;
        }
        size_t room = out->cap - out->len - 1;
        if (room > max + 1 - out->len) room = max + 1 - out->len;
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)room;
        int z = inflate(&zs, Z_NO_FLUSH);
        out->len += room - zs.avail_out;
        out->data[out->len] = '\0';
        if (out->len > max) break;
        if (z == Z_STREAM_END) {
            if (zs.avail_in == 0) break;
            if (inflateReset(&zs) != Z_OK) {
                rc = hae_err_set(err, HAE_EINVAL, "gzip: cannot read the next member");
                break;
            }
        } else if (z == Z_BUF_ERROR && zs.avail_in == 0) {
            rc = hae_err_set(err, HAE_EINVAL, "gzip: stream truncated after %zu bytes", len);
            break;
        } else if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = hae_err_set(err, HAE_EINVAL, "gzip: %s at compressed byte %zu",
                             zs.msg ? zs.msg : "corrupt data", len - zs.avail_in);
            break;
        }
    }
    inflateEnd(&zs);
    if (rc == HAE_OK && out->len > max) {
        rc = hae_err_set(err, HAE_ELIMIT, "decompressed body exceeds the limit of %zu bytes", max);
    }
    return rc;
}

/* Offset of the first byte that is not valid UTF-8 (RFC 3629), or len. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t n = hae_utf8_sequence_length(s + i, len - i);
        if (n == 0) return i;
        i += n;
    }
    return len;
}

static int batch_add_line(server_batch *b, hae_event *ev, const char *line, size_t len,
                          size_t line_no, hae_err *err) {
    if (len > SERVER_MAX_LINE) {
        return hae_err_set(err, HAE_EINVAL, "line %zu: %zu bytes, over the 1 MiB line limit",
                           line_no, len);
    }
    int rc = hae_event_decode_json(ev, line, len, err);
    if (rc < 0) return hae_err_prefix(err, "line %zu", line_no);
    if (ev->id[0] == '\0') {
        hae_event_clear(ev);
        return hae_err_set(err, HAE_EINVAL, "line %zu: event has no \"id\"", line_no);
    }
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        store_event_row *grown = realloc(b->rows, cap * sizeof *grown);
        if (!grown) {
            hae_event_clear(ev);
            return hae_err_set(err, HAE_ENOMEM, "out of memory");
        }
        b->rows = grown;
        b->cap = cap;
    }
    store_event_row *row = &b->rows[b->count];
    row->id = hae_arena_strdup(&b->arena, ev->id);
    row->host = ev->host ? hae_arena_strdup(&b->arena, ev->host) : NULL;
    row->time_ns = ev->time_ns;
    row->json = line;
    row->json_len = len;
    bool is_ok = row->id && (!ev->host || row->host);
    hae_event_clear(ev);
    if (!is_ok) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    b->count++;
    return HAE_OK;
}

int server_batch_decode(const char *body, size_t len, size_t max_decoded, server_batch *out,
                        hae_err *err) {
    memset(out, 0, sizeof *out);
    hae_buf text = {0};
    int rc = gunzip(body, len, max_decoded, &text, err);
    out->decoded = text.data;
    out->decoded_len = text.len;
    if (rc < 0) return rc;
    const char *s = text.data ? text.data : "";
    size_t bad = utf8_invalid_at((const unsigned char *)s, text.len);
    size_t line_no = 1;
    for (size_t i = 0; i < bad; i++) line_no += s[i] == '\n';
    if (bad < text.len) {
        return hae_err_set(err, HAE_EINVAL, "line %zu: invalid UTF-8 at byte %zu", line_no, bad);
    }
    hae_event ev;
    line_no = 0;
    for (size_t pos = 0; pos < text.len && rc == HAE_OK;) {
        const char *nl = memchr(s + pos, '\n', text.len - pos);
        size_t end = nl ? (size_t)(nl - s) : text.len;
        size_t line_len = end - pos;
        line_no++;
        if (line_len && s[pos + line_len - 1] == '\r') line_len--;
        bool is_blank = true;
        for (size_t k = 0; k < line_len && is_blank; k++) {
            is_blank = s[pos + k] == ' ' || s[pos + k] == '\t';
        }
        if (!is_blank) rc = batch_add_line(out, &ev, s + pos, line_len, line_no, err);
        pos = end + 1;
    }
    return rc;
}

void server_batch_free(server_batch *b) {
    free(b->decoded);
    free(b->rows);
    hae_arena_free(&b->arena);
    memset(b, 0, sizeof *b);
}
