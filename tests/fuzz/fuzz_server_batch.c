/* Fuzzes the batch decoder: gunzip within limits, UTF-8, line splitting,
 * event decoding. An odd first byte means "gzip the rest first", so the
 * fuzzer reaches the line parser as well as zlib's error paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "server/server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t gzip(const uint8_t *in, size_t len, uint8_t **out) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    *out = malloc(cap);
    if (!*out) abort();
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t *body = NULL;
    size_t len = size - 1;
    if (data[0] & 1) {
        len = gzip(data + 1, size - 1, &body);
    } else {
        body = malloc(len ? len : 1);
        if (!body) abort();
        memcpy(body, data + 1, len);
    }
    server_batch batch;
    hae_err err = {0};
    int rc = server_batch_decode((const char *)body, len, 1u << 20, &batch, &err);
    if (rc == HAE_OK) {
        for (size_t i = 0; i < batch.count; i++) {
            const store_event_row *r = &batch.rows[i];
            if (!r->id || !r->id[0]) abort();
            if (r->json < batch.decoded || r->json + r->json_len > batch.decoded + batch.decoded_len)
                abort();
        }
    } else if (err.msg[0] == '\0') {
        abort(); /* every refusal says why */
    }
    server_batch_free(&batch);
    free(body);
    return 0;
}
