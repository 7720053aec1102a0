/* Encoding and validation of spool segments and records. */
#include <string.h>
#include <zlib.h>

#include "agent/spool_format.h"

static uint32_t read_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void spool_encode_header(unsigned char out[SPOOL_RECORD_HEADER], uint32_t len, uint32_t crc) {
    for (int i = 0; i < 4; i++) {
        out[i] = (unsigned char)(len >> (8 * i));
        out[4 + i] = (unsigned char)(crc >> (8 * i));
    }
}

bool spool_next_record(spool_cursor *cur, const char **line, size_t *len) {
    if (cur->len - cur->pos < SPOOL_RECORD_HEADER || cur->pos > cur->len) {
        return false;
    }
    const unsigned char *h = (const unsigned char *)cur->data + cur->pos;
    uint32_t size = read_le32(h);
    uint32_t crc = read_le32(h + 4);
    size_t body = cur->pos + SPOOL_RECORD_HEADER;
    if (size > SPOOL_MAX_RECORD || cur->len - body < size) {
        return false;
    }
    if ((uint32_t)crc32(0, (const Bytef *)cur->data + body, size) != crc) {
        return false;
    }
    *line = cur->data + body;
    *len = size;
    cur->pos = body + size;
    cur->seq++;
    return true;
}

void spool_scan_records(const char *data, size_t len, spool_scan_result *out) {
    memset(out, 0, sizeof *out);
    if (len < SPOOL_MAGIC_LEN || memcmp(data, SPOOL_MAGIC, SPOOL_MAGIC_LEN) != 0) {
        return;
    }
    out->header_ok = true;
    spool_cursor cur = {.data = data, .len = len, .pos = SPOOL_MAGIC_LEN};
    const char *line;
    size_t line_len;
    while (spool_next_record(&cur, &line, &line_len)) {
    }
    out->valid_bytes = cur.pos;
    out->records = cur.seq;
}

static bool parse_hex16(const char *s, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

bool spool_parse_segment_name(const char *name, uint64_t *first_seq) {
    return strlen(name) == SPOOL_SEGMENT_NAME_LEN - 1 && strcmp(name + 16, ".seg") == 0 &&
           parse_hex16(name, first_seq);
}

bool spool_parse_ack(const char *text, size_t len, uint64_t *seq) {
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (v > (UINT64_MAX - digit) / 10) return false;
        v = v * 10 + digit;
    }
    if (i == 0 || i + 1 != len || text[i] != '\n') return false;
    *seq = v;
    return true;
}
