/* log: follow log files the way `tail -F` does, one event per line.
 *
 * Each file is an open descriptor plus the offset read so far. Every
 * log_tail_read looks at every file: it reads what was appended, notices
 * truncation (copytruncate: the size fell below our offset, so read from 0)
 * and rotation (the path names another inode: finish the old descriptor,
 * then switch to the new file from its start), and opens files that did not
 * exist before. inotify on the containing directories only says when to
 * look; without it (or for a directory that does not exist yet) the caller
 * polls. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/sensor.h"

#define SENSOR "log"
/* Longer lines are split into parts of this size, each marked. */
#define LOG_LINE_MAX (64 * 1024)
#define READ_CHUNK (64 * 1024)

typedef struct tail_file {
    char *path;
    char *dir;          /* containing directory, watched with inotify */
    const char *name;   /* basename: the logsource service of plain lines */
    int fd;             /* -1 while the file does not exist */
    dev_t dev;
    ino_t ino;
    off_t offset;       /* bytes of fd consumed */
    hae_buf pending;    /* the line being read, not yet ended by '\n' */
    off_t pending_at;   /* its offset in the file */
    unsigned part;      /* parts of an overlong line emitted so far */
    int watch;          /* inotify watch descriptor, -1 when unwatched */
    int last_errno;     /* the error already reported, so it is said once */
} tail_file;

struct log_tail {
    tail_file *files;
    size_t count;
    int inotify_fd;
    char chunk[READ_CHUNK];
};

/* ---- events ---------------------------------------------------------- */

static int emit_error(const tail_file *f, int errnum, const char *what, const hae_sink *sink,
                      hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, SENSOR, "log.error", HAE_SEV_INFO, "cannot %s %s: %s", what,
                              f->path, strerror(errnum));
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "LogFile", f->path);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

/* Reports errnum once per distinct error; 0 clears the state. */
static int note_error(tail_file *f, int errnum, const char *what, const hae_sink *sink,
                      hae_err *err) {
    if (errnum == f->last_errno) return HAE_OK;
    f->last_errno = errnum;
    return errnum ? emit_error(f, errnum, what, sink, err) : HAE_OK;
}

/* Parses the line (a line that breaks its format stays a plain line with
 * ParseError saying why), then adds where it came from. */
static int line_event(hae_event *ev, const tail_file *f, const char *line, size_t len,
                      off_t at, bool is_cut) {
    hae_err perr = {0};
    int rc = hae_log_parse_line(ev, HAE_LOGFMT_AUTO, line, len, &perr);
    if (rc == HAE_EINVAL) {
        rc = hae_log_parse_line(ev, HAE_LOGFMT_PLAIN, line, len, NULL);
        if (rc == HAE_OK) rc = hae_event_add_str(ev, "ParseError", perr.msg);
    }
    if (rc < 0) return rc;
    rc = hae_id_new(ev->id);
    if (ev->time_ns == 0) ev->time_ns = hae_time_now_ns();
    if (rc == HAE_OK && !ev->host) rc = hae_event_set_host(ev, hae_host_name());
    if (rc == HAE_OK && !ev->service) {
        rc = hae_event_set_source(ev, ev->product ? ev->product : "linux", ev->category, f->name);
    }
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "LogFile", f->path);
    if (rc == HAE_OK) rc = hae_event_add_int(ev, "FileOffset", (int64_t)at);
    if (rc == HAE_OK && (is_cut || f->part > 0)) {
        rc = hae_event_add_uint(ev, "LinePart", f->part + 1);
        if (rc == HAE_OK && is_cut) rc = hae_event_add_bool(ev, "Truncated", true);
    }
    return rc;
}

/* Emits one line, or one part of an overlong line when is_cut. */
static int emit_line(tail_file *f, const char *line, size_t len, off_t at, bool is_cut,
                     const hae_sink *sink, hae_err *err) {
    if (!is_cut && len > 0 && line[len - 1] == '\r') len--; /* CRLF files */
    if (len == 0 && f->part == 0) return HAE_OK;            /* blank lines carry nothing */
    hae_event ev;
    int rc = line_event(&ev, f, line, len, at, is_cut);
    if (rc == HAE_ENOMEM) rc = hae_err_set(err, rc, "log: out of memory for a line of %s", f->path);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    f->part = is_cut ? f->part + 1 : 0;
    return rc;
}

/* Emits the held partial line as it is: its file rotated or was truncated,
 * so it will never be completed. */
static int flush_pending(tail_file *f, const hae_sink *sink, hae_err *err) {
    if (f->pending.len == 0) return HAE_OK;
    int rc = emit_line(f, f->pending.data, f->pending.len, f->pending_at, false, sink, err);
    hae_buf_reset(&f->pending);
    return rc;
}

/* ---- reading --------------------------------------------------------- */

/* Splits bytes (read at file offset at) into lines; the unfinished tail
 * joins f->pending, which is emitted in LOG_LINE_MAX parts when it grows
 * past the bound. */
static int take_bytes(tail_file *f, const char *bytes, size_t n, off_t at, const hae_sink *sink,
                      hae_err *err) {
    size_t pos = 0;
    int rc = HAE_OK;
    while (pos < n && rc == HAE_OK) {
        const char *nl = memchr(bytes + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - bytes) : n;
        if (f->pending.len == 0) f->pending_at = at + (off_t)pos;
        size_t room = LOG_LINE_MAX - f->pending.len;
        if (end - pos > room) {
            rc = hae_buf_append(&f->pending, bytes + pos, room);
            if (rc == HAE_OK) {
                rc = emit_line(f, f->pending.data, f->pending.len, f->pending_at, true, sink, err);
            }
            hae_buf_reset(&f->pending);
            pos += room;
            continue;
        }
        if (!nl) {
            rc = hae_buf_append(&f->pending, bytes + pos, end - pos);
            break;
        }
        if (f->pending.len > 0) {
            rc = hae_buf_append(&f->pending, bytes + pos, end - pos);
            if (rc == HAE_OK) rc = flush_pending(f, sink, err);
        } else {
            rc = emit_line(f, bytes + pos, end - pos, f->pending_at, false, sink, err);
        }
        pos = end + 1;
    }
    if (rc == HAE_ENOMEM) hae_err_set(err, rc, "log: out of memory reading %s", f->path);
    return rc;
}

/* Reads fd from f->offset to its end. */
static int drain(log_tail *t, tail_file *f, const hae_sink *sink, hae_err *err) {
    for (;;) {
        ssize_t n = pread(f->fd, t->chunk, sizeof t->chunk, f->offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return note_error(f, errno, "read", sink, err);
        if (n == 0) return HAE_OK;
        off_t at = f->offset;
        f->offset += n;
        int rc = take_bytes(f, t->chunk, (size_t)n, at, sink, err);
        if (rc < 0) return rc;
    }
}

static void close_file(tail_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->offset = 0;
    f->part = 0;
    hae_buf_reset(&f->pending);
}

/* Opens the file at f->path; at_end skips what it already holds. A path
 * that does not exist yet is not an error: it is looked for again. */
static int open_file(tail_file *f, bool at_end, const hae_sink *sink, hae_err *err) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return errno == ENOENT ? note_error(f, 0, "", sink, err)
                               : note_error(f, errno, "open", sink, err);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int errnum = errno;
        close(fd);
        return note_error(f, errnum, "stat", sink, err);
    }
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->offset = at_end ? st.st_size : 0;
    f->part = 0;
    hae_buf_reset(&f->pending);
    return note_error(f, 0, "", sink, err);
}

/* One look at one file: truncation, new data, then rotation. */
static int poll_file(log_tail *t, tail_file *f, const hae_sink *sink, hae_err *err) {
    int rc = HAE_OK;
    if (f->fd >= 0) {
        struct stat st;
        if (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < f->offset) {
            rc = flush_pending(f, sink, err); /* copytruncate: start over */
            f->offset = 0;
            f->part = 0;
        }
        if (rc == HAE_OK) rc = drain(t, f, sink, err);
    }
    if (rc < 0) return rc;
    struct stat now;
    if (stat(f->path, &now) != 0) {
        /* Renamed or deleted: keep reading the old descriptor until a new
         * file takes the name; report only errors other than absence. */
        return errno == ENOENT || f->fd >= 0 ? HAE_OK : note_error(f, errno, "stat", sink, err);
    }
    if (f->fd >= 0 && now.st_dev == f->dev && now.st_ino == f->ino) return HAE_OK;
    if (f->fd >= 0) { /* rotated: the old file is finished, its last line too */
        rc = drain(t, f, sink, err);
        if (rc == HAE_OK) rc = flush_pending(f, sink, err);
        close_file(f);
        if (rc < 0) return rc;
    }
    rc = open_file(f, false, sink, err);
    return rc == HAE_OK && f->fd >= 0 ? drain(t, f, sink, err) : rc;
}

/* ---- the tail -------------------------------------------------------- */

static void watch_dir(log_tail *t, tail_file *f) {
    if (t->inotify_fd < 0 || f->watch >= 0) return;
    /* IN_MODIFY on a directory reports writes to the files in it. */
    f->watch = inotify_add_watch(t->inotify_fd, f->dir,
                                 IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                     IN_ATTRIB | IN_CLOSE_WRITE | IN_ONLYDIR);
}

static int file_init(tail_file *f, const char *path) {
    f->fd = -1;
    f->watch = -1;
    f->path = strdup(path);
    char *copy = strdup(path);
    f->dir = copy ? strdup(dirname(copy)) : NULL;
    free(copy);
    if (!f->path || !f->dir) return HAE_ENOMEM;
    const char *slash = strrchr(f->path, '/');
    f->name = slash ? slash + 1 : f->path;
    return HAE_OK;
}

/* Errors met while opening cannot go to a sink yet: the file stays closed
 * and the first read, trying again, reports them. */
static int discard(void *ctx, const hae_event *ev, hae_err *err) {
    (void)ctx, (void)ev, (void)err;
    return HAE_OK;
}

int log_tail_open(log_tail **out, const char *const *paths, size_t count, bool from_start,
                  hae_err *err) {
    *out = NULL;
    log_tail *t = calloc(1, sizeof *t);
    if (!t) return hae_err_set(err, HAE_ENOMEM, "log: out of memory");
    t->files = calloc(count ? count : 1, sizeof *t->files);
    t->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (t->inotify_fd < 0) {
        hae_log(HAE_LOG_WARN, "log: inotify unavailable (%s), polling files", strerror(errno));
    }
    int rc = t->files ? HAE_OK : HAE_ENOMEM;
    hae_sink quiet = {.emit = discard};
    for (size_t i = 0; i < count && rc == HAE_OK; i++) {
        if (!paths[i] || !paths[i][0]) {
            rc = hae_err_set(err, HAE_EINVAL, "log: path %zu is empty", i);
            break;
        }
        rc = file_init(&t->files[i], paths[i]);
        t->count = i + 1;
        if (rc == HAE_OK) {
            watch_dir(t, &t->files[i]);
            rc = open_file(&t->files[i], !from_start, &quiet, err);
            t->files[i].last_errno = 0;
        }
    }
    if (rc < 0) {
        if (rc == HAE_ENOMEM) hae_err_set(err, rc, "log: out of memory");
        log_tail_close(t);
        return rc;
    }
    *out = t;
    return HAE_OK;
}

int log_tail_fd(const log_tail *t) {
    for (size_t i = 0; i < t->count; i++) {
        if (t->files[i].watch < 0) return -1; /* a directory inotify cannot see: poll */
    }
    return t->inotify_fd;
}

/* inotify only wakes us: every file is looked at on each read anyway, so
 * the events themselves (and IN_Q_OVERFLOW) need no decoding. */
static void drain_inotify(log_tail *t) {
    if (t->inotify_fd < 0) return;
    while (read(t->inotify_fd, t->chunk, sizeof t->chunk) > 0) {
    }
}

int log_tail_read(log_tail *t, const hae_sink *sink, hae_err *err) {
    drain_inotify(t);
    for (size_t i = 0; i < t->count; i++) {
        tail_file *f = &t->files[i];
        watch_dir(t, f); /* a directory created since */
        int rc = poll_file(t, f, sink, err);
        if (rc < 0) return rc;
    }
    return HAE_OK;
}

void log_tail_close(log_tail *t) {
    if (!t) return;
    for (size_t i = 0; i < t->count; i++) {
        close_file(&t->files[i]);
        hae_buf_free(&t->files[i].pending);
        free(t->files[i].path);
        free(t->files[i].dir);
    }
    if (t->inotify_fd >= 0) close(t->inotify_fd);
    free(t->files);
    free(t);
}
