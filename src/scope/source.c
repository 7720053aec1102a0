/* Byte sources for the streaming path: a file descriptor or memory, and the
 * decoders layered on them (gzip, zstd, CP949 to UTF-8, archive members).
 * Each reports a truncated or corrupt input as an error after yielding
 * every byte it could decode, so the scan keeps what it read. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "scope/scope_int.h"

#define INNER_CHUNK (256 * 1024)

/* ---- sniffing -------------------------------------------------------------- */

scope_pack scope_pack_sniff(const unsigned char *d, size_t len) {
    if (len >= 2 && d[0] == 0x1f && d[1] == 0x8b) return SCOPE_PACK_GZIP;
    if (len >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f && d[3] == 0xfd) return SCOPE_PACK_ZSTD;
    if (len >= 4 && d[0] == 'P' && d[1] == 'K' && d[2] == 3 && d[3] == 4) return SCOPE_PACK_ARCHIVE;
    if (len >= 262 && memcmp(d + 257, "ustar", 5) == 0) return SCOPE_PACK_ARCHIVE;
    if (len >= 3 && d[0] == 'B' && d[1] == 'Z' && d[2] == 'h') return SCOPE_PACK_ARCHIVE; /* bzip2 */
    if (len >= 6 && memcmp(d, "\xfd" "7zXZ", 6) == 0) return SCOPE_PACK_ARCHIVE;        /* xz */
    return SCOPE_PACK_NONE;
}

/* Like grep: a NUL byte in the first block means binary. */
bool scope_looks_binary(const char *data, size_t len) {
    return memchr(data, '\0', len < 8192 ? len : 8192) != NULL;
}

bool scope_utf8_valid(const char *data, size_t len, size_t *bad_offset) {
    const unsigned char *s = (const unsigned char *)data;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4)) goto bad;
        if (i + n > len) return true; /* cut by the sample's end */
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) goto bad;
        }
        if (n == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))) goto bad;
        if (n == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) goto bad;
        i += n;
        continue;
    bad:
        if (bad_offset) *bad_offset = i;
        return false;
    }
    return true;
}

/* CP949 (a superset of EUC-KR): lead 0x81-0xFE, trail 0x41-0x5A, 0x61-0x7A,
 * 0x81-0xFE. Plausible when every high byte pairs up and some do. */
bool scope_cp949_plausible(const char *data, size_t len) {
    const unsigned char *s = (const unsigned char *)data;
    size_t pairs = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x80) continue;
        if (s[i] == 0x80 || s[i] == 0xff) return false;
        if (i + 1 == len) break;
        unsigned char t = s[i + 1];
        if (!((t >= 0x41 && t <= 0x5a) || (t >= 0x61 && t <= 0x7a) || (t >= 0x81 && t <= 0xfe)))
            return false;
        pairs++;
        i++;
    }
    return pairs > 0;
}

/* ---- file descriptor and memory -------------------------------------------- */

typedef struct fd_source {
    scope_source base;
    int fd;
    bool owns_fd;
} fd_source;

static long fd_read(scope_source *s, char *buf, size_t cap, hae_err *err) {
    fd_source *f = (fd_source *)s;
    for (;;) {
        ssize_t n = read(f->fd, buf, cap);
        if (n >= 0) {
            s->consumed += (uint64_t)n;
            return (long)n;
        }
        if (errno != EINTR) return hae_err_errno(err, errno, "read failed at byte %llu",
                                                 (unsigned long long)s->consumed);
    }
}

static void fd_close(scope_source *s) {
    fd_source *f = (fd_source *)s;
    if (f->owns_fd) close(f->fd);
    free(f);
}

int scope_source_fd(scope_source **out, int fd, bool owns_fd) {
    fd_source *f = calloc(1, sizeof *f);
    if (!f) return HAE_ENOMEM;
    f->base = (scope_source){.read = fd_read, .close = fd_close};
    f->fd = fd;
    f->owns_fd = owns_fd;
    *out = &f->base;
    return HAE_OK;
}

typedef struct mem_source {
    scope_source base;
    const char *data;
    size_t len, pos;
} mem_source;

static long mem_read(scope_source *s, char *buf, size_t cap, hae_err *err) {
    (void)err;
    mem_source *m = (mem_source *)s;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    s->consumed += n;
    return (long)n;
}

static void plain_close(scope_source *s) { free(s); }

int scope_source_memory(scope_source **out, const void *data, size_t len) {
    mem_source *m = calloc(1, sizeof *m);
    if (!m) return HAE_ENOMEM;
    m->base = (scope_source){.read = mem_read, .close = plain_close};
    m->data = data;
    m->len = len;
    *out = &m->base;
    return HAE_OK;
}

/* ---- gzip (RFC 1952), concatenated members included ------------------------ */

typedef struct gz_source {
    scope_source base;
    scope_source *inner;
    z_stream z;
    char in[INNER_CHUNK];
    bool at_member_end, is_eof;
} gz_source;

static long gz_read(scope_source *s, char *buf, size_t cap, hae_err *err) {
    gz_source *g = (gz_source *)s;
    g->z.next_out = (Bytef *)buf;
    g->z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
    for (;;) {
        if (g->z.avail_in == 0 && !g->is_eof) {
            long n = g->inner->read(g->inner, g->in, sizeof g->in, err);
            if (n < 0) return n;
            s->consumed = g->inner->consumed;
            g->is_eof = n == 0;
            g->z.next_in = (Bytef *)g->in;
            g->z.avail_in = (uInt)n;
        }
        if (g->z.avail_in == 0 && g->is_eof) {
            if (g->at_member_end) return 0;
            return hae_err_set(err, HAE_EINVAL, "truncated gzip: stream ends at compressed byte %llu "
                               "inside a member", (unsigned long long)g->inner->consumed);
        }
        if (g->at_member_end) { /* another member follows (gzip -c a b > ab.gz) */
            if (inflateReset(&g->z) != Z_OK) return hae_err_set(err, HAE_EIO, "gzip: reset failed");
            g->at_member_end = false;
        }
        int rc = inflate(&g->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            g->at_member_end = true;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return hae_err_set(err, HAE_EINVAL, "corrupt gzip near compressed byte %llu: %s",
                               (unsigned long long)(g->inner->consumed - g->z.avail_in),
                               g->z.msg ? g->z.msg : "inflate failed");
        }
        if (g->z.next_out != (Bytef *)buf) break;
    }
    return (long)((char *)g->z.next_out - buf);
}

static void gz_close(scope_source *s) {
    gz_source *g = (gz_source *)s;
    inflateEnd(&g->z);
    g->inner->close(g->inner);
    free(g);
}

int scope_source_gzip(scope_source **out, scope_source *inner) {
    gz_source *g = calloc(1, sizeof *g);
    if (!g) return HAE_ENOMEM;
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
        free(g);
        return HAE_ENOMEM;
    }
    g->base = (scope_source){.read = gz_read, .close = gz_close};
    g->inner = inner;
    *out = &g->base;
    return HAE_OK;
}

/* ---- zstd (RFC 8878) ------------------------------------------------------- */

typedef struct zstd_source {
    scope_source base;
    scope_source *inner;
    ZSTD_DStream *z;
    char in[INNER_CHUNK];
    ZSTD_inBuffer input;
    size_t last;  /* last ZSTD_decompressStream result: 0 at a frame end */
    bool is_eof;
} zstd_source;

static long zstd_read(scope_source *s, char *buf, size_t cap, hae_err *err) {
    zstd_source *z = (zstd_source *)s;
    ZSTD_outBuffer output = {buf, cap, 0};
    while (output.pos == 0) {
        if (z->input.pos == z->input.size && !z->is_eof) {
            long n = z->inner->read(z->inner, z->in, sizeof z->in, err);
            if (n < 0) return n;
            s->consumed = z->inner->consumed;
            z->is_eof = n == 0;
            z->input = (ZSTD_inBuffer){z->in, (size_t)n, 0};
        }
        if (z->input.pos == z->input.size && z->is_eof) {
            if (z->last == 0) return 0;
            return hae_err_set(err, HAE_EINVAL, "truncated zstd: stream ends at compressed byte "
                               "%llu inside a frame", (unsigned long long)z->inner->consumed);
        }
        z->last = ZSTD_decompressStream(z->z, &output, &z->input);
        if (ZSTD_isError(z->last)) {
            return hae_err_set(err, HAE_EINVAL, "corrupt zstd near compressed byte %llu: %s",
                               (unsigned long long)z->inner->consumed,
                               ZSTD_getErrorName(z->last));
        }
    }
    return (long)output.pos;
}

static void zstd_close(scope_source *s) {
    zstd_source *z = (zstd_source *)s;
    ZSTD_freeDStream(z->z);
    z->inner->close(z->inner);
    free(z);
}

int scope_source_zstd(scope_source **out, scope_source *inner) {
    zstd_source *z = calloc(1, sizeof *z);
    if (!z) return HAE_ENOMEM;
    z->z = ZSTD_createDStream();
    if (!z->z) {
        free(z);
        return HAE_ENOMEM;
    }
    z->base = (scope_source){.read = zstd_read, .close = zstd_close};
    z->inner = inner;
    *out = &z->base;
    return HAE_OK;
}

/* ---- CP949 / EUC-KR to UTF-8 through glibc iconv ---------------------------- */

typedef struct cp949_source {
    scope_source base;
    scope_source *inner;
    iconv_t cd;
    char in[INNER_CHUNK];
    size_t in_len;
    bool is_eof;
} cp949_source;

static long cp949_read(scope_source *s, char *buf, size_t cap, hae_err *err) {
    cp949_source *c = (cp949_source *)s;
    if (cap < 8) return hae_err_set(err, HAE_EINVAL, "cp949: output buffer too small");
    for (;;) {
        if (!c->is_eof && c->in_len < sizeof c->in / 2) {
            long n = c->inner->read(c->inner, c->in + c->in_len, sizeof c->in - c->in_len, err);
            if (n < 0) return n;
            s->consumed = c->inner->consumed;
            c->is_eof = n == 0;
            c->in_len += (size_t)n;
        }
        if (c->in_len == 0) return 0;
        char *inp = c->in, *outp = buf;
        size_t in_left = c->in_len, out_left = cap;
        size_t rc = iconv(c->cd, &inp, &in_left, &outp, &out_left);
        if (rc == (size_t)-1 && errno == EILSEQ) {
            /* a byte CP949 does not know: keep going with U+FFFD */
            if (out_left >= 3) {
                static const char replacement[3] = {'\xef', '\xbf', '\xbd'}; /* U+FFFD */
                memcpy(outp, replacement, sizeof replacement);
                outp += sizeof replacement;
                inp++;
                in_left--;
            }
        } else if (rc == (size_t)-1 && errno == EINVAL && c->is_eof) {
            in_left = 0; /* a lead byte cut by the end of the file */
        }
        memmove(c->in, inp, in_left);
        c->in_len = in_left;
        if (outp != buf) return (long)(outp - buf);
        if (c->is_eof && c->in_len == 0) return 0;
    }
}

static void cp949_close(scope_source *s) {
    cp949_source *c = (cp949_source *)s;
    iconv_close(c->cd);
    c->inner->close(c->inner);
    free(c);
}

int scope_source_cp949(scope_source **out, scope_source *inner, hae_err *err) {
    cp949_source *c = calloc(1, sizeof *c);
    if (!c) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    c->cd = iconv_open("UTF-8", "CP949");
    if (c->cd == (iconv_t)-1) { // NOLINT(performance-no-int-to-ptr): iconv's documented error value
        free(c);
        return hae_err_errno(err, errno, "iconv cannot convert CP949");
    }
    c->base = (scope_source){.read = cp949_read, .close = cp949_close};
    c->inner = inner;
    *out = &c->base;
    return HAE_OK;
}

/* ---- archives through libarchive ------------------------------------------ */

struct scope_archive {
    struct archive *a;
    scope_source *inner;
    char in[INNER_CHUNK];
    hae_err inner_err;
    struct member_source {
        scope_source base;
        scope_archive *owner;
    } member;
};

static la_ssize_t archive_read_cb(struct archive *a, void *ctx, const void **buf) {
    (void)a;
    scope_archive *ar = ctx;
    long n = ar->inner->read(ar->inner, ar->in, sizeof ar->in, &ar->inner_err);
    *buf = ar->in;
    return n < 0 ? -1 : (la_ssize_t)n;
}

static long member_read(scope_source *s, char *buf, size_t cap, hae_err *err) {
    scope_archive *ar = ((struct member_source *)s)->owner;
    la_ssize_t n = archive_read_data(ar->a, buf, cap);
    if (n < 0) {
        return hae_err_set(err, HAE_EINVAL, "archive member unreadable: %s",
                           ar->inner_err.msg[0] ? ar->inner_err.msg : archive_error_string(ar->a));
    }
    s->consumed = ar->inner->consumed;
    return (long)n;
}

static void member_close(scope_source *s) { (void)s; /* the archive owns it */ }

int scope_archive_open(scope_archive **out, scope_source *inner, hae_err *err) {
    scope_archive *ar = calloc(1, sizeof *ar);
    if (!ar) {
        inner->close(inner);
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    ar->inner = inner;
    ar->a = archive_read_new();
    ar->member.base = (scope_source){.read = member_read, .close = member_close};
    ar->member.owner = ar;
    if (!ar->a || archive_read_support_filter_all(ar->a) != ARCHIVE_OK ||
        archive_read_support_format_all(ar->a) != ARCHIVE_OK ||
        archive_read_open(ar->a, ar, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
        int rc = hae_err_set(err, HAE_EINVAL, "not a readable archive: %s",
                             ar->a ? archive_error_string(ar->a) : "libarchive failed");
        scope_archive_close(ar);
        return rc;
    }
    *out = ar;
    return HAE_OK;
}

int scope_archive_next(scope_archive *ar, const char **name, scope_source **member, hae_err *err) {
    for (;;) {
        struct archive_entry *e;
        int rc = archive_read_next_header(ar->a, &e);
        if (rc == ARCHIVE_EOF) return 0;
        if (rc < ARCHIVE_WARN) {
            return hae_err_set(err, HAE_EINVAL, "archive listing stops: %s",
                               ar->inner_err.msg[0] ? ar->inner_err.msg : archive_error_string(ar->a));
        }
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        *name = archive_entry_pathname(e);
        if (!*name) *name = "?";
        *member = &ar->member.base;
        return 1;
    }
}

void scope_archive_close(scope_archive *ar) {
    if (!ar) return;
    if (ar->a) archive_read_free(ar->a);
    ar->inner->close(ar->inner);
    free(ar);
}
