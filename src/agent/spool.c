/* The spool: append-only segments of CRC-checked records (see agent.h).
 * One mutex guards it all: the sensors append from the agent's loop while
 * the transport thread reads and acknowledges. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/agent.h"
#include "agent/spool_format.h"

typedef struct segment {
    uint64_t first_seq;
    uint64_t bytes;
} segment;

struct spool {
    pthread_mutex_t lock;
    char *dir;
    int dir_fd;
    spool_options opt;
    segment *segments; /* sorted by first_seq; the last one is active */
    size_t segment_count;
    size_t segment_cap;
    int active_fd;
    uint64_t next_seq;
    uint64_t acked_seq;
    uint64_t bytes;
    bool dirty;          /* appended since the last fsync */
    bool dir_dirty;      /* a segment was created or deleted */
    uint64_t dropped_records;
    uint64_t unreported_drops; /* to announce in a spool.dropped finding */
    uint64_t recovered_torn;
    hae_buf line;
};

static const uint64_t DEFAULT_MAX_BYTES = 256u << 20;
static const uint64_t DEFAULT_SEGMENT_BYTES = 4u << 20;

static void segment_name(uint64_t first_seq, char out[SPOOL_SEGMENT_NAME_LEN]) {
    snprintf(out, SPOOL_SEGMENT_NAME_LEN, "%016" PRIx64 ".seg", first_seq);
}

static int add_segment(spool *s, uint64_t first_seq, uint64_t bytes) {
    if (s->segment_count == s->segment_cap) {
        size_t cap = s->segment_cap ? s->segment_cap * 2 : 16;
        segment *grown = realloc(s->segments, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        s->segments = grown;
        s->segment_cap = cap;
    }
    s->segments[s->segment_count++] = (segment){first_seq, bytes};
    s->bytes += bytes;
    return HAE_OK;
}

static int compare_segment(const void *a, const void *b) {
    const segment *x = a, *y = b;
    return (x->first_seq > y->first_seq) - (x->first_seq < y->first_seq);
}

static int write_all(int fd, const struct iovec *iov, int count, size_t total) {
    struct iovec local[4];
    memcpy(local, iov, (size_t)count * sizeof *iov);
    struct iovec *v = local;
    size_t done = 0;
    while (done < total) {
        ssize_t n = writev(fd, v, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)n;
        while (count > 0 && (size_t)n >= v->iov_len) { /* skip finished parts */
            n -= (ssize_t)v->iov_len;
            v++;
            count--;
        }
        if (count > 0) {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static int fsync_dir(spool *s, hae_err *err) {
    if (s->dir_dirty && fsync(s->dir_fd) != 0) {
        return hae_err_errno(err, errno, "%s: fsync", s->dir);
    }
    s->dir_dirty = false;
    return HAE_OK;
}

static int open_segment(spool *s, uint64_t first_seq, bool create, hae_err *err) {
    char name[SPOOL_SEGMENT_NAME_LEN];
    segment_name(first_seq, name);
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
    int fd = openat(s->dir_fd, name, flags, 0600);
    if (fd < 0) {
        return hae_err_errno(err, errno, "%s/%s", s->dir, name);
    }
    if (create) {
        struct iovec iov = {(void *)SPOOL_MAGIC, SPOOL_MAGIC_LEN};
        int wrc = write_all(fd, &iov, 1, SPOOL_MAGIC_LEN);
        if (wrc < 0 || add_segment(s, first_seq, SPOOL_MAGIC_LEN) < 0) {
            close(fd);
            unlinkat(s->dir_fd, name, 0);
            return wrc < 0 ? hae_err_errno(err, -wrc, "%s/%s: write", s->dir, name)
                           : hae_err_set(err, HAE_ENOMEM, "spool: out of memory");
        }
        s->dir_dirty = true;
        s->dirty = true;
    }
    if (s->active_fd >= 0) close(s->active_fd);
    s->active_fd = fd;
    return HAE_OK;
}

/* Reads a whole segment file into memory (segments are a few MiB). */
static int load_segment(const spool *s, uint64_t first_seq, hae_buf *out, hae_err *err) {
    char name[SPOOL_SEGMENT_NAME_LEN];
    segment_name(first_seq, name);
    int fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return hae_err_errno(err, errno, "%s/%s", s->dir, name);
    }
    hae_buf_reset(out);
    int rc = HAE_OK;
    for (;;) {
        if ((rc = hae_buf_reserve(out, 1 << 16)) < 0) {
            hae_err_set(err, rc, "spool: out of memory reading %s", name);
            break;
        }
        ssize_t n = read(fd, out->data + out->len, 1 << 16);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = hae_err_errno(err, errno, "%s/%s: read", s->dir, name);
            break;
        }
        if (n == 0) break;
        out->len += (size_t)n;
    }
    close(fd);
    return rc;
}

static int scan_active_tail(spool *s, hae_err *err) {
    segment *last = &s->segments[s->segment_count - 1];
    int rc = load_segment(s, last->first_seq, &s->line, err);
    if (rc < 0) return rc;
    spool_scan_result scan;
    spool_scan_records(s->line.data, s->line.len, &scan);
    char name[SPOOL_SEGMENT_NAME_LEN];
    segment_name(last->first_seq, name);
    if (!scan.header_ok) {
        /* A segment whose header never reached the disk holds nothing. */
        scan.valid_bytes = 0;
    }
    if (scan.valid_bytes < s->line.len) {
        s->recovered_torn += s->line.len - scan.valid_bytes;
        hae_log(HAE_LOG_WARN, "spool %s/%s: cut %zu bytes of torn or corrupt tail", s->dir, name,
                s->line.len - scan.valid_bytes);
        int fd = openat(s->dir_fd, name, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)scan.valid_bytes) != 0 || fsync(fd) != 0) {
            rc = hae_err_errno(err, errno, "%s/%s: truncate torn tail", s->dir, name);
        }
        if (fd >= 0) close(fd);
        if (rc < 0) return rc;
    }
    s->bytes -= last->bytes;
    last->bytes = scan.valid_bytes;
    s->bytes += last->bytes;
    s->next_seq = last->first_seq + scan.records;
    if (!scan.header_ok) { /* rewrite it from scratch */
        unlinkat(s->dir_fd, name, 0);
        s->bytes -= last->bytes;
        s->segment_count--;
        s->dir_dirty = true;
    }
    return HAE_OK;
}

static int list_segments(spool *s, hae_err *err) {
    DIR *d = fdopendir(dup(s->dir_fd));
    if (!d) {
        return hae_err_errno(err, errno, "%s", s->dir);
    }
    int rc = HAE_OK;
    struct dirent *e;
    while (rc == HAE_OK && (e = readdir(d)) != NULL) {
        uint64_t first_seq;
        if (spool_parse_segment_name(e->d_name, &first_seq)) {
            struct stat st;
            if (fstatat(s->dir_fd, e->d_name, &st, 0) != 0) {
                rc = hae_err_errno(err, errno, "%s/%s", s->dir, e->d_name);
            } else if (add_segment(s, first_seq, (uint64_t)st.st_size) < 0) {
                rc = hae_err_set(err, HAE_ENOMEM, "spool: out of memory");
            }
        }
    }
    closedir(d);
    if (rc == HAE_OK && s->segment_count > 1) {
        qsort(s->segments, s->segment_count, sizeof *s->segments, compare_segment);
    }
    return rc;
}

static int read_ack(spool *s, hae_err *err) {
    int fd = openat(s->dir_fd, "ack", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? HAE_OK : hae_err_errno(err, errno, "%s/ack", s->dir);
    }
    char text[64] = {0};
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0 || !spool_parse_ack(text, (size_t)n, &s->acked_seq)) {
        return hae_err_set(err, HAE_EINVAL, "%s/ack: not a spool acknowledgement file", s->dir);
    }
    return HAE_OK;
}

static int delete_segment(spool *s, size_t index, hae_err *err) {
    char name[SPOOL_SEGMENT_NAME_LEN];
    segment_name(s->segments[index].first_seq, name);
    if (unlinkat(s->dir_fd, name, 0) != 0 && errno != ENOENT) {
        return hae_err_errno(err, errno, "%s/%s: unlink", s->dir, name);
    }
    s->bytes -= s->segments[index].bytes;
    memmove(&s->segments[index], &s->segments[index + 1],
            (s->segment_count - index - 1) * sizeof *s->segments);
    s->segment_count--;
    s->dir_dirty = true;
    return HAE_OK;
}

/* Deletes segments (never the active one) wholly below the acknowledgement. */
static int delete_acked(spool *s, hae_err *err) {
    while (s->segment_count > 1 && s->segments[1].first_seq <= s->acked_seq) {
        int rc = delete_segment(s, 0, err);
        if (rc < 0) return rc;
    }
    return HAE_OK;
}

int spool_open(spool **out, const char *dir, const spool_options *opt, hae_err *err) {
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return hae_err_errno(err, errno, "spool %s: mkdir", dir);
    }
    spool *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return hae_err_set(err, HAE_ENOMEM, "spool: out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    s->active_fd = -1;
    s->opt.max_bytes = opt && opt->max_bytes ? opt->max_bytes : DEFAULT_MAX_BYTES;
    s->opt.segment_bytes = opt && opt->segment_bytes ? opt->segment_bytes : DEFAULT_SEGMENT_BYTES;
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = s->dir_fd < 0 ? hae_err_errno(err, errno, "spool %s", dir) : HAE_OK;
    if (rc == HAE_OK) rc = read_ack(s, err);
    if (rc == HAE_OK) rc = list_segments(s, err);
    if (rc == HAE_OK && s->segment_count > 0) rc = scan_active_tail(s, err);
    if (rc == HAE_OK && s->segment_count == 0) {
        /* Numbering continues after what was acknowledged. */
        s->next_seq = s->next_seq > s->acked_seq ? s->next_seq : s->acked_seq;
        rc = open_segment(s, s->next_seq, true, err);
    } else if (rc == HAE_OK) {
        rc = open_segment(s, s->segments[s->segment_count - 1].first_seq, false, err);
    }
    if (rc == HAE_OK) rc = delete_acked(s, err);
    if (rc == HAE_OK) rc = fsync_dir(s, err);
    if (rc < 0) {
        spool_close(s, NULL);
        return rc;
    }
    *out = s;
    return HAE_OK;
}

static int flush_locked(spool *s, hae_err *err) {
    if (s->dirty && s->active_fd >= 0 && fdatasync(s->active_fd) != 0) {
        return hae_err_errno(err, errno, "spool %s: fsync", s->dir);
    }
    s->dirty = false;
    return fsync_dir(s, err);
}

static int rotate(spool *s, hae_err *err) {
    int rc = flush_locked(s, err);
    return rc < 0 ? rc : open_segment(s, s->next_seq, true, err);
}

/* Drops the oldest segments until need more bytes fit under max_bytes. */
static int make_room(spool *s, uint64_t need, hae_err *err) {
    while (s->bytes + need > s->opt.max_bytes && s->segment_count > 1) {
        uint64_t first = s->segments[0].first_seq;
        uint64_t end = s->segments[1].first_seq;
        uint64_t unacked_from = first > s->acked_seq ? first : s->acked_seq;
        if (end > unacked_from) {
            s->dropped_records += end - unacked_from;
            s->unreported_drops += end - unacked_from;
        }
        int rc = delete_segment(s, 0, err);
        if (rc < 0) return rc;
        if (s->acked_seq < end) s->acked_seq = end;
    }
    return HAE_OK;
}

static int append_line(spool *s, const char *line, size_t len, uint64_t *seq, hae_err *err) {
    if (len > SPOOL_MAX_RECORD) {
        return hae_err_set(err, HAE_ELIMIT, "spool: event of %zu bytes exceeds the %u limit", len,
                           SPOOL_MAX_RECORD);
    }
    uint64_t record_bytes = SPOOL_RECORD_HEADER + len;
    segment *active = &s->segments[s->segment_count - 1];
    int rc = HAE_OK;
    if (active->bytes + record_bytes > s->opt.segment_bytes && active->bytes > SPOOL_MAGIC_LEN) {
        rc = rotate(s, err);
        active = &s->segments[s->segment_count - 1];
    }
    if (rc == HAE_OK) rc = make_room(s, record_bytes, err);
    if (rc < 0) return rc;
    unsigned char header[SPOOL_RECORD_HEADER];
    spool_encode_header(header, (uint32_t)len, (uint32_t)crc32(0, (const Bytef *)line, (uInt)len));
    struct iovec iov[2] = {{header, sizeof header}, {(void *)line, len}};
    int wrc = write_all(s->active_fd, iov, 2, (size_t)record_bytes);
    if (wrc < 0) {
        /* Never leave half a record: cut back to the last whole one. */
        if (ftruncate(s->active_fd, (off_t)active->bytes) != 0) {
            hae_log(HAE_LOG_ERROR, "spool %s: cannot cut a partial record", s->dir);
        }
        return hae_err_errno(err, -wrc, "spool %s: append", s->dir);
    }
    active->bytes += record_bytes;
    s->bytes += record_bytes;
    s->dirty = true;
    if (seq) *seq = s->next_seq;
    s->next_seq++;
    return HAE_OK;
}

static int report_drops(spool *s, hae_err *err) {
    hae_event ev;
    uint64_t count = s->unreported_drops;
    int rc = hae_finding_init(&ev, "agent", "spool.dropped", HAE_SEV_HIGH,
                              "spool full (%" PRIu64 " bytes): dropped %" PRIu64
                              " oldest unsent events",
                              s->opt.max_bytes, count);
    if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "DroppedEvents", count);
    if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "DroppedTotal", s->dropped_records);
    if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "SpoolMaxBytes", s->opt.max_bytes);
    hae_buf_reset(&s->line);
    if (rc == HAE_OK) rc = hae_event_encode_json(&ev, &s->line);
    s->unreported_drops = 0;
    if (rc == HAE_OK) rc = append_line(s, s->line.data, s->line.len - 1, NULL, err);
    hae_event_clear(&ev);
    return rc;
}

int spool_append(spool *s, const hae_event *ev, uint64_t *seq, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    hae_buf_reset(&s->line);
    int rc = hae_event_encode_json(ev, &s->line);
    if (rc < 0) {
        pthread_mutex_unlock(&s->lock);
        return hae_err_set(err, rc, "spool: cannot encode event");
    }
    rc = append_line(s, s->line.data, s->line.len - 1, seq, err);
    if (rc == HAE_OK && s->unreported_drops > 0) {
        rc = report_drops(s, err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int spool_flush(spool *s, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int rc = flush_locked(s, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int spool_read(spool *s, uint64_t from_seq, size_t max_records, spool_record_fn fn, void *ctx,
               uint64_t *next_seq, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    if (s->segment_count > 0 && from_seq < s->segments[0].first_seq) {
        from_seq = s->segments[0].first_seq;
    }
    *next_seq = from_seq;
    hae_buf data = {0};
    int rc = HAE_OK;
    size_t delivered = 0;
    for (size_t i = 0; i < s->segment_count && delivered < max_records && rc == HAE_OK; i++) {
        uint64_t end = i + 1 < s->segment_count ? s->segments[i + 1].first_seq : s->next_seq;
        if (end <= *next_seq) continue;
        if ((rc = load_segment(s, s->segments[i].first_seq, &data, err)) < 0) break;
        spool_cursor cur = {.data = data.data, .len = data.len, .pos = SPOOL_MAGIC_LEN,
                            .seq = s->segments[i].first_seq};
        const char *line;
        size_t len;
        while (delivered < max_records && spool_next_record(&cur, &line, &len)) {
            if (cur.seq - 1 < *next_seq) continue;
            if ((rc = fn(ctx, cur.seq - 1, line, len, err)) < 0) break;
            delivered++;
            *next_seq = cur.seq;
        }
    }
    pthread_mutex_unlock(&s->lock);
    hae_buf_free(&data);
    return rc;
}

static int ack_locked(spool *s, uint64_t seq, hae_err *err) {
    if (seq > s->next_seq) seq = s->next_seq;
    if (seq <= s->acked_seq) return HAE_OK;
    /* Records must be on disk before an acknowledgement that covers them:
     * otherwise a crash would cut them off and the numbers below the
     * acknowledgement would be given to new, never-sent records. */
    int rc = flush_locked(s, err);
    if (rc < 0) return rc;
    char text[40];
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", seq);
    int fd = openat(s->dir_fd, "ack.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct iovec iov = {text, (size_t)n};
    if (fd < 0 || write_all(fd, &iov, 1, (size_t)n) < 0 || fsync(fd) != 0) {
        rc = hae_err_errno(err, errno, "%s/ack.tmp", s->dir);
    }
    if (fd >= 0) close(fd);
    if (rc == HAE_OK && renameat(s->dir_fd, "ack.tmp", s->dir_fd, "ack") != 0) {
        rc = hae_err_errno(err, errno, "%s/ack: rename", s->dir);
    }
    if (rc < 0) return rc;
    s->acked_seq = seq;
    s->dir_dirty = true;
    rc = delete_acked(s, err);
    return rc < 0 ? rc : fsync_dir(s, err);
}

int spool_ack(spool *s, uint64_t seq, hae_err *err) {
    pthread_mutex_lock(&s->lock);
    int rc = ack_locked(s, seq, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void spool_get_stats(spool *s, spool_stats *out) {
    pthread_mutex_lock(&s->lock);
    *out = (spool_stats){.next_seq = s->next_seq, .acked_seq = s->acked_seq, .bytes = s->bytes,
                         .segments = s->segment_count, .dropped_records = s->dropped_records,
                         .recovered_torn = s->recovered_torn};
    pthread_mutex_unlock(&s->lock);
}

int spool_close(spool *s, hae_err *err) {
    if (!s) return HAE_OK;
    int rc = s->active_fd >= 0 ? flush_locked(s, err) : HAE_OK;
    if (s->active_fd >= 0) close(s->active_fd);
    if (s->dir_fd >= 0) close(s->dir_fd);
    hae_buf_free(&s->line);
    free(s->segments);
    free(s->dir);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return rc;
}

static int spool_emit(void *ctx, const hae_event *ev, hae_err *err) {
    return spool_append(ctx, ev, NULL, err);
}

hae_sink spool_sink(spool *s) {
    return (hae_sink){.emit = spool_emit, .ctx = s};
}
