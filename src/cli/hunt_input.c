/* Inputs of haetae hunt, streamed: a file is read in blocks and each
 * complete line (or JSON object) is matched as soon as it is whole, so a
 * 1 GB log costs a few MiB of memory, not a gigabyte. JSON lines, syslog,
 * auditd and access logs are detected per line; a first object spanning
 * lines means concatenated, pretty-printed JSON objects (EVTX exports). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/hunt_int.h"

#define BLOCK (1u << 20)

typedef struct reader {
    int fd;
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start, end) */
    bool eof;
    uint64_t consumed, total; /* bytes handed on; the file's size (0: unknown) */
    unsigned shown_percent;   /* last progress printed; 101: none yet */
} reader;

/* Moves what is unread to the front and reads one more block, growing the
 * buffer (up to the record bound) when a record fills it. 0 at the end. */
static int refill(reader *r, const char *name, hae_err *err) {
    if (r->eof) return 0;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->end < BLOCK / 2 && r->cap < HUNT_MAX_RECORD_BYTES + BLOCK) {
        size_t cap = r->cap ? r->cap * 2 : 4 * BLOCK;
        char *grown = realloc(r->buf, cap);
        if (!grown) return hae_err_set(err, HAE_ENOMEM, "out of memory");
        r->buf = grown;
        r->cap = cap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return hae_err_errno(err, errno, "%s", name);
        if (n == 0) r->eof = true;
        r->end += (size_t)n;
        return n > 0;
    }
}

static void progress(hunt *h, reader *r) {
    if (!h->progress || r->total < (8u << 20)) return;
    unsigned pct = (unsigned)(r->consumed * 100 / r->total);
    if (pct == r->shown_percent) return;
    r->shown_percent = pct;
    fprintf(stderr, "\r%s [%-50.*s] %3u%%", h->file, (int)(pct / 2),
            "##################################################", pct);
    if (pct == 100) fputc('\n', stderr);
}

static void malformed(hunt *h, const char *why) {
    h->malformed++;
    fprintf(stderr, "haetae hunt: %s:%zu: skipped: %s\n", h->file, h->line, why);
}

static int match_event(hunt *h, hae_event *ev, hae_err *err) {
    h->events++;
    int rc = detect_event_flatten_windows(ev, err);
    if (rc == HAE_OK) rc = detect_engine_match(h->engine, ev, hunt_on_hit, h, err);
    hae_event_clear(ev);
    return rc;
}

static int hunt_line(hunt *h, const char *line, size_t len, hae_err *err) {
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) return HAE_OK;
    hae_event ev;
    hae_err why = {0};
    if (hae_log_parse_line(&ev, HAE_LOGFMT_AUTO, line, len, &why) < 0) {
        malformed(h, why.msg);
        return HAE_OK;
    }
    return match_event(h, &ev, err);
}

/* Skips the rest of a line longer than the record bound. */
static int skip_long_line(hunt *h, reader *r, hae_err *err) {
    malformed(h, "line longer than 64 MiB");
    for (;;) {
        const char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            size_t skip = (size_t)(nl - (r->buf + r->start)) + 1;
            r->start += skip;
            r->consumed += skip;
            return HAE_OK;
        }
        r->consumed += r->end - r->start;
        r->start = r->end = 0;
        int got = refill(r, h->file, err);
        if (got <= 0) return got;
    }
}

static int hunt_lines(hunt *h, reader *r, hae_err *err) {
    for (;;) {
        const char *p = r->buf + r->start;
        size_t left = r->end - r->start;
        const char *nl = memchr(p, '\n', left);
        if (!nl && !r->eof) {
            bool full = left >= HUNT_MAX_RECORD_BYTES;
            int got = full ? skip_long_line(h, r, err) : refill(r, h->file, err);
            if (got < 0) return got;
            if (full) h->line++;
            continue;
        }
        if (!nl && left == 0) return HAE_OK;
        size_t len = nl ? (size_t)(nl - p) : left;
        h->line++;
        r->start += len + (nl != NULL);
        r->consumed += len + (nl != NULL);
        int rc = hunt_line(h, p, len, err);
        if (rc < 0) return rc;
        if ((h->line & 0xfff) == 0) progress(h, r);
    }
}

static void count_lines(hunt *h, const char *from, const char *to) {
    for (const char *p = from; p < to && (p = memchr(p, '\n', (size_t)(to - p))) != NULL; p++) {
        h->line++;
    }
}

static int hunt_object(hunt *h, const char *data, size_t len, hae_err *err) {
    hae_event ev;
    hae_err why = {0};
    if (hae_event_decode_json(&ev, data, len, &why) < 0) {
        malformed(h, why.msg);
        return HAE_OK;
    }
    return match_event(h, &ev, err);
}

/* JSON objects one after another; an object cut by the block boundary is
 * finished with the next block, one that never closes is reported. */
static int hunt_objects(hunt *h, reader *r, hae_err *err) {
    h->line = 1;
    for (;;) {
        size_t from = r->start, offset = r->start, start = 0, len = 0;
        hae_err why = {0};
        int found = detect_json_next_object(r->buf, r->end, &offset, &start, &len, &why);
        bool cut = found < 0 && offset == r->end && !r->eof;
        if ((found == 0 && !r->eof) || cut) {
            if (cut && r->end - from >= HUNT_MAX_RECORD_BYTES) {
                malformed(h, "JSON object longer than 64 MiB");
                return HAE_OK; /* nothing after it can be delimited */
            }
            int got = refill(r, h->file, err);
            if (got < 0) return got;
            continue;
        }
        if (found == 0) return HAE_OK;
        count_lines(h, r->buf + from, r->buf + (found > 0 ? start : offset));
        r->consumed += offset - from;
        r->start = offset;
        int rc = found > 0 ? hunt_object(h, r->buf + start, len, err) : HAE_OK;
        if (found < 0) malformed(h, why.msg);
        if (rc < 0) return rc;
        if (found > 0) count_lines(h, r->buf + start, r->buf + offset);
        progress(h, r);
    }
}

/* Reads until the first line is whole, then decides: a '{' whose line is
 * not an object by itself starts pretty-printed objects. */
static int choose_shape(hunt *h, reader *r, bool *objects, hae_err *err) {
    *objects = false;
    for (;;) {
        size_t i = r->start;
        while (i < r->end && strchr(" \t\r\n", r->buf[i])) i++;
        const char *nl = i < r->end ? memchr(r->buf + i, '\n', r->end - i) : NULL;
        if (i < r->end && (nl || r->eof || r->end - r->start >= HUNT_MAX_RECORD_BYTES)) {
            if (r->buf[i] != '{') return HAE_OK;
            size_t first = nl ? (size_t)(nl - (r->buf + i)) : r->end - i;
            hae_event probe;
            if (hae_event_decode_json(&probe, r->buf + i, first, NULL) < 0) {
                *objects = true;
            } else {
                hae_event_clear(&probe);
            }
            return HAE_OK;
        }
        if (r->eof) return HAE_OK;
        int got = refill(r, h->file, err);
        if (got < 0) return got;
    }
}

int hunt_input(hunt *h, const char *path, hae_err *err) {
    bool is_stdin = strcmp(path, "-") == 0;
    h->file = is_stdin ? "<stdin>" : path;
    h->line = 0;
    reader r = {.fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC),
                .shown_percent = 101};
    if (r.fd < 0) return hae_err_errno(err, errno, "%s", path);
    struct stat st;
    h->file_mtime_ns = 0;
    if (fstat(r.fd, &st) == 0 && S_ISREG(st.st_mode)) {
        r.total = (uint64_t)st.st_size;
        h->file_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    if (!is_stdin) (void)posix_fadvise(r.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    bool objects = false;
    int rc = choose_shape(h, &r, &objects, err);
    if (rc >= 0) rc = objects ? hunt_objects(h, &r, err) : hunt_lines(h, &r, err);
    if (rc >= 0) {
        r.consumed = r.total;
        progress(h, &r);
    }
    free(r.buf);
    if (!is_stdin) close(r.fd);
    return rc < 0 ? rc : HAE_OK;
}
