/* fim baseline: the on-disk format, its parser and its atomic writer.
 *
 * Format version 1, all integers little-endian:
 *   header   "HAEFIMBL" (8 bytes), u32 version = 1, i64 created_ns,
 *            u32 root_count, then per root u32 length + bytes,
 *            u32 CRC-32 (IEEE 802.3) of every header byte before it
 *   record   u8 'R', u32 body_length, body, u32 CRC-32 of tag+length+body
 *     body   u8 type (FIM_TYPE_*), u8 flags (FIM_HAS_HASH, FIM_UNREADABLE),
 *            u16 zero, u32 mode, u32 uid, u32 gid, u64 size, i64 mtime_ns,
 *            u64 inode, u64 device, 32 bytes SHA-256,
 *            u32 path_length + path bytes, u32 target_length + target bytes
 *   trailer  u8 'E', u64 record_count, 32 bytes SHA-256 of every byte
 *            before the trailer; the file ends there.
 * Names are length-prefixed bytes: newlines and invalid UTF-8 survive; a
 * NUL (which no POSIX name holds) is rejected. Each record's CRC lets the
 * reader name the damaged record; the trailer catches truncation, dropped
 * records and tampering that keeps CRCs consistent (the hash is not a MAC:
 * protect the file itself, e.g. read-only media or the ledger). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

#define BASELINE_MAGIC "HAEFIMBL"
#define BASELINE_VERSION 1u
#define RECORD_FIXED 88u /* body bytes besides the two names */

static uint32_t crc_table[256];

static void crc_table_fill(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t fim_crc32(uint32_t crc, const void *bytes, size_t len) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, crc_table_fill);
    const unsigned char *p = bytes;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- writing ----------------------------------------------------------- */

static int put_u8(hae_buf *b, uint8_t v) { return hae_buf_append(b, &v, 1); }

static int put_u16(hae_buf *b, uint16_t v) {
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return hae_buf_append(b, x, sizeof x);
}

static int put_u32(hae_buf *b, uint32_t v) {
    unsigned char x[4];
    for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
    return hae_buf_append(b, x, sizeof x);
}

static int put_u64(hae_buf *b, uint64_t v) {
    unsigned char x[8];
    for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
    return hae_buf_append(b, x, sizeof x);
}

static int put_bytes(hae_buf *b, const void *p, uint32_t len) {
    int rc = put_u32(b, len);
    return rc == HAE_OK && len ? hae_buf_append(b, p, len) : rc;
}

static int put_record(hae_buf *b, const fim_entry *e) {
    size_t start = b->len;
    int rc = put_u8(b, 'R');
    if (rc == HAE_OK) rc = put_u32(b, RECORD_FIXED + e->path_len + e->link_len);
    if (rc == HAE_OK) rc = put_u8(b, e->type);
    if (rc == HAE_OK) rc = put_u8(b, e->flags);
    if (rc == HAE_OK) rc = put_u16(b, 0);
    if (rc == HAE_OK) rc = put_u32(b, e->mode);
    if (rc == HAE_OK) rc = put_u32(b, e->uid);
    if (rc == HAE_OK) rc = put_u32(b, e->gid);
    if (rc == HAE_OK) rc = put_u64(b, e->size);
    if (rc == HAE_OK) rc = put_u64(b, (uint64_t)e->mtime_ns);
    if (rc == HAE_OK) rc = put_u64(b, e->inode);
    if (rc == HAE_OK) rc = put_u64(b, e->device);
    if (rc == HAE_OK) rc = hae_buf_append(b, e->sha256, FIM_SHA256_LEN);
    if (rc == HAE_OK) rc = put_bytes(b, e->path, e->path_len);
    if (rc == HAE_OK) rc = put_bytes(b, e->link_target, e->link_len);
    if (rc == HAE_OK) rc = put_u32(b, fim_crc32(0, b->data + start, b->len - start));
    return rc;
}

int fim_baseline_serialize(const fim_entries *list, const char *const *roots,
                           size_t root_count, hae_buf *out) {
    int rc = hae_buf_append(out, BASELINE_MAGIC, 8);
    if (rc == HAE_OK) rc = put_u32(out, BASELINE_VERSION);
    if (rc == HAE_OK) rc = put_u64(out, (uint64_t)hae_time_now_ns());
    if (rc == HAE_OK) rc = put_u32(out, (uint32_t)root_count);
    for (size_t i = 0; i < root_count && rc == HAE_OK; i++) {
        rc = put_bytes(out, roots[i], (uint32_t)strlen(roots[i]));
    }
    if (rc == HAE_OK) rc = put_u32(out, fim_crc32(0, out->data, out->len));
    for (size_t i = 0; i < list->count && rc == HAE_OK; i++) {
        rc = put_record(out, &list->items[i]);
    }
    unsigned char digest[FIM_SHA256_LEN];
    if (rc == HAE_OK && EVP_Digest(out->data, out->len, digest, NULL, EVP_sha256(), NULL) != 1) {
        rc = HAE_EIO;
    }
    if (rc == HAE_OK) rc = put_u8(out, 'E');
    if (rc == HAE_OK) rc = put_u64(out, list->count);
    if (rc == HAE_OK) rc = hae_buf_append(out, digest, sizeof digest);
    return rc;
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct reader {
    const unsigned char *data;
    size_t len;
    size_t pos;
    const char *name;
    hae_err *err;
} reader;

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Fails with a message naming what was being read and where. */
static int need(reader *r, size_t n, const char *what) {
    if (r->len - r->pos < n) {
        hae_err_set(r->err, HAE_EINVAL, "%s: truncated at offset %zu: %s needs %zu bytes, %zu remain",
                    r->name, r->pos, what, n, r->len - r->pos);
        return HAE_EINVAL;
    }
    return HAE_OK;
}

static int parse_name(reader *r, const unsigned char *p, uint32_t len, hae_arena *arena,
                      const char **out) {
    (void)r;
    if (memchr(p, '\0', len)) return HAE_EINVAL;
    char *copy = hae_arena_strndup(arena, (const char *)p, len);
    if (!copy) return HAE_ENOMEM;
    *out = copy;
    return HAE_OK;
}

static int parse_header(reader *r, fim_entries *out) {
    if (need(r, 24, "header") < 0) return HAE_EINVAL;
    if (memcmp(r->data, BASELINE_MAGIC, 8) != 0) {
        return hae_err_set(r->err, HAE_EINVAL, "%s: not a haetae fim baseline (bad magic)",
                           r->name);
    }
    uint32_t version = (uint32_t)get_le(r->data + 8, 4);
    if (version != BASELINE_VERSION) {
        return hae_err_set(r->err, HAE_EINVAL, "%s: baseline version %u, this build reads %u",
                           r->name, version, BASELINE_VERSION);
    }
    uint32_t roots = (uint32_t)get_le(r->data + 20, 4);
    r->pos = 24;
    if (roots > r->len / 4) return hae_err_set(r->err, HAE_EINVAL, "%s: %u roots cannot fit the file", r->name, roots);
    out->roots = hae_arena_alloc(&out->arena, (roots ? roots : 1) * sizeof *out->roots);
    if (!out->roots) return hae_err_set(r->err, HAE_ENOMEM, "%s: out of memory", r->name);
    for (uint32_t i = 0; i < roots; i++) {
        if (need(r, 4, "root length") < 0) return HAE_EINVAL;
        uint32_t len = (uint32_t)get_le(r->data + r->pos, 4);
        r->pos += 4;
        if (need(r, len, "root name") < 0) return HAE_EINVAL;
        const char *root = NULL;
        if (len == 0 || parse_name(r, r->data + r->pos, len, &out->arena, &root) < 0) {
            return hae_err_set(r->err, HAE_EINVAL, "%s: root %u is empty or holds NUL", r->name, i);
        }
        out->roots[out->root_count++] = root;
        r->pos += len;
    }
    if (need(r, 4, "header checksum") < 0) return HAE_EINVAL;
    uint32_t stored = (uint32_t)get_le(r->data + r->pos, 4);
    if (stored != fim_crc32(0, r->data, r->pos)) {
        return hae_err_set(r->err, HAE_EINVAL, "%s: header checksum mismatch (corrupt header)",
                           r->name);
    }
    r->pos += 4;
    return HAE_OK;
}

static int record_error(reader *r, uint64_t index, size_t offset, const char *what) {
    return hae_err_set(r->err, HAE_EINVAL, "%s: record %llu at offset %zu: %s", r->name,
                       (unsigned long long)index, offset, what);
}


static int parse_record(reader *r, uint64_t index, fim_entries *out) {
    size_t start = r->pos;
    if (need(r, 5, "record header") < 0) return HAE_EINVAL;
    uint32_t body_len = (uint32_t)get_le(r->data + r->pos + 1, 4);
    if (body_len < RECORD_FIXED || r->len - r->pos - 5 < (size_t)body_len + 4) {
        return record_error(r, index, start, body_len < RECORD_FIXED
                                                 ? "record shorter than its fixed fields"
                                                 : "truncated: record runs past end of file");
    }
    const unsigned char *body = r->data + r->pos + 5;
    uint32_t stored = (uint32_t)get_le(body + body_len, 4);
    if (stored != fim_crc32(0, r->data + start, 5 + (size_t)body_len)) {
        return record_error(r, index, start, "checksum mismatch (corrupt record)");
    }
    uint32_t path_len = (uint32_t)get_le(body + 80, 4);
    if (path_len == 0 || path_len > body_len - RECORD_FIXED) {
        return record_error(r, index, start, "path length does not fit the record");
    }
    uint32_t link_len = (uint32_t)get_le(body + 84 + path_len, 4);
    if ((uint64_t)RECORD_FIXED + path_len + link_len != body_len) {
        return record_error(r, index, start, "name lengths do not add up to the record length");
    }
    fim_entry *e = fim_entries_push(out);
    if (!e) return hae_err_set(r->err, HAE_ENOMEM, "%s: out of memory", r->name);
    e->type = body[0];
    e->flags = body[1];
    if (e->type < FIM_TYPE_REGULAR || e->type > FIM_TYPE_SOCKET) {
        out->count--;
        return record_error(r, index, start, "unknown file type");
    }
    e->mode = (uint32_t)get_le(body + 4, 4);
    e->uid = (uint32_t)get_le(body + 8, 4);
    e->gid = (uint32_t)get_le(body + 12, 4);
    e->size = get_le(body + 16, 8);
    e->mtime_ns = (int64_t)get_le(body + 24, 8);
    e->inode = get_le(body + 32, 8);
    e->device = get_le(body + 40, 8);
    memcpy(e->sha256, body + 48, FIM_SHA256_LEN);
    e->path_len = path_len;
    e->link_len = link_len;
    int rc = parse_name(r, body + 84, path_len, &out->arena, &e->path);
    if (rc == HAE_OK && (link_len || e->type == FIM_TYPE_SYMLINK)) {
        rc = parse_name(r, body + 88 + path_len, link_len, &out->arena, &e->link_target);
    }
    if (rc < 0) {
        out->count--;
        return rc == HAE_ENOMEM ? hae_err_set(r->err, rc, "%s: out of memory", r->name)
                                : record_error(r, index, start, "name contains a NUL byte");
    }
    r->pos += 5 + (size_t)body_len + 4;
    return HAE_OK;
}

static int parse_trailer(reader *r, uint64_t records) {
    size_t start = r->pos;
    if (need(r, 41, "trailer") < 0) return HAE_EINVAL;
    uint64_t count = get_le(r->data + r->pos + 1, 8);
    if (count != records) {
        return hae_err_set(r->err, HAE_EINVAL,
                           "%s: trailer at offset %zu counts %llu records, file holds %llu",
                           r->name, start, (unsigned long long)count,
                           (unsigned long long)records);
    }
    unsigned char digest[FIM_SHA256_LEN];
    if (EVP_Digest(r->data, start, digest, NULL, EVP_sha256(), NULL) != 1) {
        return hae_err_set(r->err, HAE_EIO, "%s: SHA-256 failed", r->name);
    }
    if (memcmp(digest, r->data + start + 9, FIM_SHA256_LEN) != 0) {
        return hae_err_set(r->err, HAE_EINVAL,
                           "%s: file checksum mismatch (records altered or reordered)", r->name);
    }
    r->pos += 41;
    if (r->pos != r->len) {
        return hae_err_set(r->err, HAE_EINVAL, "%s: %zu unexpected bytes after the trailer",
                           r->name, r->len - r->pos);
    }
    return HAE_OK;
}

int fim_baseline_parse(const unsigned char *data, size_t len, const char *name,
                       fim_entries *out, hae_err *err) {
    reader r = {.data = data, .len = len, .name = name, .err = err};
    size_t first = out->count;
    int rc = parse_header(&r, out);
    uint64_t index = 0;
    while (rc == HAE_OK) {
        if (r.pos == r.len) {
            rc = hae_err_set(err, HAE_EINVAL,
                             "%s: truncated after record %llu (offset %zu): no trailer", name,
                             (unsigned long long)index, r.pos);
        } else if (data[r.pos] == 'R') {
            rc = parse_record(&r, index++, out);
        } else if (data[r.pos] == 'E') {
            rc = parse_trailer(&r, index);
            break;
        } else {
            rc = record_error(&r, index, r.pos, "unknown record tag (corrupt file)");
        }
    }
    if (rc < 0) out->count = first;
    return rc;
}

/* ---- files --------------------------------------------------------------- */

int fim_baseline_load(const char *path, fim_entries *out, hae_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hae_err_errno(err, errno, "%s: cannot open baseline", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return hae_err_errno(err, saved, "%s: cannot stat baseline", path);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *data = malloc(len ? len : 1);
    if (!data) {
        close(fd);
        return hae_err_set(err, HAE_ENOMEM, "%s: baseline of %zu bytes: out of memory", path, len);
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, data + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    int rc = fim_baseline_parse(data, got, path, out, err);
    free(data);
    return rc;
}

/* After a crash the path holds either the old baseline or the new one. */
static int write_atomically(const char *path, const hae_buf *content, hae_err *err) {
    return hae_file_write_atomic(path, content->data, content->len, 0600, err);
}

int fim_baseline_build(const fim_options *opt, const char *path, const hae_sink *sink,
                       hae_err *err) {
    fim_entries list = {0};
    int rc = fim_scan(opt, &list, sink, err);
    hae_buf content = {0};
    if (rc == HAE_OK) {
        rc = fim_baseline_serialize(&list, (const char *const *)opt->roots, opt->root_count,
                                    &content);
        if (rc < 0) hae_err_set(err, rc, "%s: cannot serialise baseline", path);
    }
    if (rc == HAE_OK) rc = write_atomically(path, &content, err);
    hae_buf_free(&content);
    fim_entries_free(&list);
    return rc;
}
