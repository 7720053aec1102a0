/* log: follow log files the way `tail -F` does, one event per line.
 *
 * Each file is an open descriptor plus the offset read so far. Every
 * log_tail_read looks at every file: it reads what was appended, notices
 * truncation (copytruncate: the size fell below our offset, so read from 0)
 * and rotation (the path names another inode: finish the old descriptor,
 * then switch to the new file from its start), and opens files that did not
 * exist before. inotify on the containing directories only says when to
 * look; without it (or for a directory that does not exist yet) the caller
 * polls.
 *
 * Positions survive restarts: the agent saves log_tail_positions after the
 * events before them are durable and hands them back to log_tail_resume,
 * which picks each file up where it stopped, finishes a file rotated while
 * the agent was down from its rotated name, and says what it cannot read
 * back (a log.gap finding), so killing the agent hides nothing. Line ids
 * are derived from the file and the line (host, device, inode, offset,
 * content), so a line read twice around a crash is one event downstream. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <inttypes.h>
#include <openssl/evp.h>

#include "sensor/sensor.h"
#include "sensor/sensor_int.h"

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
    size_t head_len;    /* bytes covered by head_hash: inode numbers are reused, */
    uint64_t head_hash; /* so a saved position also names the file's first bytes */
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

/* The same bytes at the same place of the same file give the same id. */
static int line_id(char out[HAE_ID_LEN], const tail_file *f, const char *line, size_t len,
                   off_t at) {
    uintmax_t where[4] = {(uintmax_t)f->dev, (uintmax_t)f->ino, (uintmax_t)at, f->part};
    sensor_id_part parts[] = {{where, sizeof where}, {line, len}};
    return sensor_stable_id(out, parts, 2);
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
    rc = line_id(ev->id, f, line, len, at);
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
    f->head_len = 0;
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
    f->head_len = 0;
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
            f->head_len = 0;
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

/* ---- positions across restarts -------------------------------------- */

#define HEAD_MAX 1024

typedef struct saved_position {
    uintmax_t dev, ino;
    intmax_t offset;
    size_t head_len;
    uint64_t head_hash;
    char path[4096];
} saved_position;

/* BLAKE2b of the first len bytes of fd; false when they cannot be read. */
static bool hash_head(int fd, size_t len, uint64_t *hash) {
    unsigned char head[HEAD_MAX], digest[64];
    if (len > sizeof head) return false;
    ssize_t n = len ? pread(fd, head, len, 0) : 0;
    if (n != (ssize_t)len) return false;
    unsigned int digest_len = 0;
    if (!EVP_Digest(head, len, digest, &digest_len, EVP_blake2b512(), NULL)) return false;
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h = h << 8 | digest[i];
    *hash = h;
    return true;
}

/* The head grows with what was read, up to HEAD_MAX bytes. */
static void update_head(tail_file *f, off_t committed) {
    size_t want = committed < HEAD_MAX ? (size_t)committed : HEAD_MAX;
    if (want <= f->head_len) return;
    uint64_t h;
    if (hash_head(f->fd, want, &h)) {
        f->head_len = want;
        f->head_hash = h;
    }
}

static bool same_head(int fd, const saved_position *p) {
    uint64_t h;
    return hash_head(fd, p->head_len, &h) && h == p->head_hash;
}

/* Where f's next unread line starts: a held partial line is read again. */
static off_t committed_offset(const tail_file *f) {
    return f->pending.len ? f->pending_at : f->offset;
}

int log_tail_positions(log_tail *t, hae_buf *out) {
    hae_buf_reset(out);
    int rc = hae_buf_append_str(out, "");
    for (size_t i = 0; i < t->count && rc == HAE_OK; i++) {
        tail_file *f = &t->files[i];
        if (f->fd < 0 || strchr(f->path, '\n')) continue;
        off_t committed = committed_offset(f);
        update_head(f, committed);
        rc = hae_buf_printf(out, "%ju %ju %jd %zu %016" PRIx64 " %s\n", (uintmax_t)f->dev,
                            (uintmax_t)f->ino, (intmax_t)committed, f->head_len, f->head_hash,
                            f->path);
    }
    return rc;
}

/* "DEV INO OFFSET HEADLEN HEADHASH PATH", the path to the end of the line. */
static bool parse_position(const char *line, size_t n, saved_position *p) {
    char copy[sizeof p->path + 96];
    if (n == 0 || n >= sizeof copy || memchr(line, '\0', n)) return false;
    memcpy(copy, line, n);
    copy[n] = '\0';
    int used = 0;
    if (sscanf(copy, "%ju %ju %jd %zu %16" SCNx64 " %n", &p->dev, &p->ino, &p->offset,
               &p->head_len, &p->head_hash, &used) != 5 ||
        used == 0 || p->offset < 0 || p->head_len > HEAD_MAX ||
        (intmax_t)p->head_len > p->offset || copy[used] != '/' ||
        (size_t)(n - (size_t)used) >= sizeof p->path) {
        return false;
    }
    memcpy(p->path, copy + used, n - (size_t)used + 1);
    return true;
}

static int emit_gap(const char *path, const char *why, const saved_position *p,
                    const hae_sink *sink, hae_err *err) {
    hae_event ev;
    int rc = p ? hae_finding_init(&ev, SENSOR, "log.gap", HAE_SEV_MEDIUM,
                                  "%s %s: lines after byte %jd of its old file (inode %ju) "
                                  "cannot be read back", path, why, p->offset, p->ino)
               : hae_finding_init(&ev, SENSOR, "log.gap", HAE_SEV_MEDIUM, "%s", why);
    if (rc == HAE_OK && path) rc = hae_event_add_str(&ev, "LogFile", path);
    if (rc == HAE_OK && p) rc = hae_event_add_int(&ev, "GapOffset", p->offset);
    if (rc == HAE_OK && p) rc = hae_event_add_uint(&ev, "GapInode", p->ino);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

/* Reads the rest of the file rotated away from f while the agent was down
 * (same device and inode, a name starting with f's: auth.log.1,
 * auth.log-20261204); false when it is not there any more. */
static int finish_rotated(log_tail *t, const tail_file *f, const saved_position *p,
                          const hae_sink *sink, hae_err *err, bool *found) {
    *found = false;
    DIR *dir = opendir(f->dir);
    if (!dir) return HAE_OK;
    size_t name_len = strlen(f->name);
    struct dirent *d;
    int rc = HAE_OK;
    while (!*found && (d = readdir(dir)) != NULL) {
        struct stat st;
        if (strncmp(d->d_name, f->name, name_len) != 0 || d->d_name[name_len] == '\0' ||
            fstatat(dirfd(dir), d->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode) ||
            (uintmax_t)st.st_dev != p->dev || (uintmax_t)st.st_ino != p->ino) {
            continue;
        }
        tail_file old = {.fd = -1, .watch = -1, .name = f->name};
        if (asprintf(&old.path, "%s/%s", f->dir, d->d_name) < 0) {
            old.path = NULL;
            rc = hae_err_set(err, HAE_ENOMEM, "log: out of memory");
            break;
        }
        old.fd = open(old.path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (old.fd >= 0 && !same_head(old.fd, p)) { /* the inode now holds another file */
            close(old.fd);
            free(old.path);
            continue;
        }
        *found = true;
        old.dev = st.st_dev;
        old.ino = st.st_ino;
        old.offset = (off_t)p->offset;
        if (old.fd < 0) {
            rc = emit_gap(f->path, "was rotated while the agent was down and its old file is "
                          "unreadable", p, sink, err);
        } else if (st.st_size < old.offset) {
            rc = emit_gap(f->path, "was rotated and cut while the agent was down", p, sink, err);
        } else {
            rc = drain(t, &old, sink, err);
            if (rc == HAE_OK) rc = flush_pending(&old, sink, err);
        }
        close_file(&old);
        hae_buf_free(&old.pending);
        free(old.path);
    }
    closedir(dir);
    return rc;
}

static int resume_file(log_tail *t, tail_file *f, const saved_position *p,
                       const hae_sink *sink, hae_err *err) {
    if (f->fd >= 0 && (uintmax_t)f->dev == p->dev && (uintmax_t)f->ino == p->ino) {
        struct stat st;
        if (same_head(f->fd, p) && fstat(f->fd, &st) == 0 && st.st_size >= (off_t)p->offset) {
            f->offset = (off_t)p->offset;
            return HAE_OK;
        }
        /* cut, or deleted and its inode given to the new file */
        f->offset = 0;
        return emit_gap(f->path, "was truncated or replaced while the agent was down", p, sink,
                        err);
    }
    /* The name holds a new file, written while the agent was down: all of
     * it is new, after what is left of the old one. */
    if (f->fd >= 0) f->offset = 0;
    bool found;
    int rc = finish_rotated(t, f, p, sink, err, &found);
    if (rc == HAE_OK && !found) {
        rc = emit_gap(f->path, "was rotated while the agent was down and its old file is gone "
                      "or compressed", p, sink, err);
    }
    return rc;
}

static tail_file *file_named(log_tail *t, const char *path) {
    for (size_t i = 0; i < t->count; i++) {
        if (strcmp(t->files[i].path, path) == 0) return &t->files[i];
    }
    return NULL;
}

int log_tail_resume(log_tail *t, const char *saved, size_t len, const hae_sink *sink,
                    hae_err *err) {
    saved_position *p = malloc(sizeof *p);
    if (!p) return hae_err_set(err, HAE_ENOMEM, "log: out of memory");
    int rc = HAE_OK;
    size_t line = 0;
    for (size_t pos = 0; pos < len && rc == HAE_OK; line++) {
        const char *nl = memchr(saved + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - saved) : len;
        if (!parse_position(saved + pos, end - pos, p)) {
            char why[96];
            snprintf(why, sizeof why, "saved log positions: line %zu is unreadable; that file "
                     "is read from its end", line + 1);
            rc = emit_gap(NULL, why, NULL, sink, err);
        } else {
            tail_file *f = file_named(t, p->path);
            if (f) rc = resume_file(t, f, p, sink, err);
        }
        pos = end + 1;
    }
    free(p);
    return rc;
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
