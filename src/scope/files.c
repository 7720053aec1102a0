/* Which bytes to read and by whom: walks the paths, sniffs each file
 * (compressed, archive, binary, encoding), splits big files into parts at
 * line boundaries, and runs one worker thread per core over the parts.
 * Memory-mapped reads are guarded against SIGBUS, which is how a file
 * truncated under our feet shows up. */
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scope/scope_int.h"

#define PART (64ull << 20) /* big files are split across workers in parts */
#define SAMPLE_KEEP 16384  /* bytes of each file kept for format and header */

typedef struct file_plan {
    char *path;
    struct stat st;
    bool is_stream, is_stdin;
    char *sample;
    size_t sample_len;
    atomic_bool was_skipped, has_failed;
} file_plan;

typedef struct work_item {
    file_plan *file;
    uint64_t start, end;
} work_item;

typedef struct scan_run {
    scope_scanner *s;
    file_plan **files;
    size_t file_count, file_cap;
    work_item *items;
    size_t item_count, item_cap;
    atomic_size_t next;
    atomic_int error;
} scan_run;

static _Thread_local sigjmp_buf *sigbus_jump;

/* A truncated mapped file raises SIGBUS on access past its new end: jump
 * back to the worker, which notes the file and goes on. Not for anything
 * else: without a jump target the signal keeps its default action. */
static void on_sigbus(int sig) {
    if (sigbus_jump) siglongjmp(*sigbus_jump, 1); // NOLINT(bugprone-signal-handler,cert-sig30-c)
    signal(sig, SIG_DFL);
    raise(sig);
}

static int open_readonly(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME | O_NONBLOCK);
    if (fd < 0 && errno == EPERM) fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) fcntl(fd, F_SETFL, 0); /* blocking reads; O_NONBLOCK only kept FIFOs from hanging open */
    return fd;
}

static int run_push_item(scan_run *run, file_plan *f, uint64_t start, uint64_t end) {
    if (run->item_count == run->item_cap) {
        size_t cap = run->item_cap ? run->item_cap * 2 : 64;
        work_item *items = realloc(run->items, cap * sizeof *items);
        if (!items) return HAE_ENOMEM;
        run->items = items;
        run->item_cap = cap;
    }
    run->items[run->item_count++] = (work_item){f, start, end};
    return HAE_OK;
}

static file_plan *run_add_file(scan_run *run, const char *path) {
    if (run->file_count == run->file_cap) {
        size_t cap = run->file_cap ? run->file_cap * 2 : 64;
        file_plan **files = realloc(run->files, cap * sizeof(file_plan *));
        if (!files) return NULL;
        run->files = files;
        run->file_cap = cap;
    }
    file_plan *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return NULL;
    }
    run->files[run->file_count++] = f;
    run->s->report->files_seen++;
    return f;
}

/* Decides how a regular file is read: stream (compressed, archive, CP949),
 * skipped (binary), or mapped in parts. */
static int plan_regular(scan_run *run, const char *path, const struct stat *st) {
    scope_scanner *s = run->s;
    file_plan *f = run_add_file(run, path);
    if (!f) return HAE_ENOMEM;
    f->st = *st;
    int fd = open_readonly(path);
    if (fd < 0) {
        atomic_store(&f->has_failed, true);
        return scope_add_note(s, path, 0, true, "cannot open: %s", strerror(errno));
    }
    char *sample = malloc(SCOPE_SAMPLE);
    ssize_t n = sample ? pread(fd, sample, SCOPE_SAMPLE, 0) : -1;
    int saved = errno;
    close(fd);
    if (n < 0) {
        free(sample);
        if (!sample) return HAE_ENOMEM;
        atomic_store(&f->has_failed, true);
        return scope_add_note(s, path, 0, true, "cannot read: %s", strerror(saved));
    }
    size_t len = (size_t)n, bad = 0;
    atomic_fetch_add(&s->bytes_total, (uint64_t)st->st_size);
    int rc = HAE_OK;
    if (scope_pack_sniff((const unsigned char *)sample, len) != SCOPE_PACK_NONE) {
        f->is_stream = true;
    } else if (scope_looks_binary(sample, len) && !s->opt.scan_binary) {
        atomic_store(&f->was_skipped, true);
        atomic_fetch_add(&s->bytes_done, (uint64_t)st->st_size);
        free(sample);
        return scope_add_note(s, path, 0, true, "binary file skipped (use --binary to scan it)");
    } else if (!scope_utf8_valid(sample, len, &bad)) {
        if (scope_cp949_plausible(sample, len)) f->is_stream = true;
        else rc = scope_add_note(s, path, bad, false, "invalid UTF-8 at byte %zu: scanned as bytes", bad);
    }
    f->sample_len = len < SAMPLE_KEEP ? len : SAMPLE_KEEP;
    f->sample = sample;
    if (rc < 0) return rc;
    uint64_t size = (uint64_t)st->st_size;
    if (f->is_stream || size <= PART) return run_push_item(run, f, 0, size);
    for (uint64_t at = 0; at < size; at += PART) {
        rc = run_push_item(run, f, at, at + PART < size ? at + PART : size);
        if (rc < 0) return rc;
    }
    return HAE_OK;
}

static int plan_path(scan_run *run, FTSENT *e) {
    scope_scanner *s = run->s;
    switch (e->fts_info) {
    case FTS_F: return plan_regular(run, e->fts_path, e->fts_statp);
    case FTS_DNR:
    case FTS_ERR:
    case FTS_NS: {
        file_plan *f = run_add_file(run, e->fts_path);
        if (!f) return HAE_ENOMEM;
        atomic_store(&f->has_failed, true);
        return scope_add_note(s, e->fts_path, 0, true, "cannot read: %s", strerror(e->fts_errno));
    }
    case FTS_DEFAULT: {
        file_plan *f = run_add_file(run, e->fts_path);
        if (!f) return HAE_ENOMEM;
        if (S_ISFIFO(e->fts_statp->st_mode)) {
            f->is_stream = true;
            return run_push_item(run, f, 0, 0);
        }
        atomic_store(&f->was_skipped, true);
        return scope_add_note(s, e->fts_path, 0, true, "not a regular file: skipped");
    }
    default: return HAE_OK; /* directories, symlinks inside trees (not followed) */
    }
}

static int plan_paths(scan_run *run, const char *const *paths, size_t count) {
    char **named = calloc(count + 1, sizeof *named);
    if (!named) return HAE_ENOMEM;
    size_t n = 0;
    int rc = HAE_OK;
    for (size_t i = 0; i < count && rc == HAE_OK; i++) {
        if (strcmp(paths[i], "-") == 0) {
            file_plan *f = run_add_file(run, "-");
            if (!f) rc = HAE_ENOMEM;
            else {
                f->is_stream = f->is_stdin = true;
                rc = run_push_item(run, f, 0, 0);
            }
        } else {
            named[n++] = (char *)paths[i];
        }
    }
    if (rc == HAE_OK && n > 0) {
        FTS *fts = fts_open(named, FTS_PHYSICAL | FTS_COMFOLLOW | FTS_NOCHDIR, NULL);
        if (!fts) rc = HAE_ENOMEM;
        FTSENT *e;
        while (rc == HAE_OK && fts && (e = fts_read(fts)) != NULL) rc = plan_path(run, e);
        if (fts) fts_close(fts);
    }
    free(named);
    atomic_store(&run->s->files_total, run->file_count);
    return rc;
}

/* ---- workers ---------------------------------------------------------------- */

static bool same_file(const struct stat *a, const struct stat *b) {
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Maps the file and scans the lines that start in [start, end). */
static int scan_mapped(scope_worker *w, const work_item *it, int fd, const struct stat *st) {
    scope_scanner *s = w->scanner;
    file_plan *f = it->file;
    size_t size = (size_t)st->st_size;
    if (size == 0 || it->start >= size) return HAE_OK;
    size_t end = it->end < size ? (size_t)it->end : size;
    if (end <= it->start) return HAE_OK; /* grew since listed: the listed part was empty */
    const char *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        atomic_store(&f->has_failed, true);
        return scope_add_note(s, f->path, it->start, true, "cannot map: %s", strerror(errno));
    }
    madvise((void *)map, size, MADV_SEQUENTIAL);
    scope_doc doc;
    int rc = scope_doc_init(&doc, f->path, s->opt.force_format, f->sample, f->sample_len);
    sigjmp_buf jump;
    if (rc == HAE_OK && sigsetjmp(jump, 1) == 0) {
        sigbus_jump = &jump;
        size_t from = (size_t)it->start, to = end;
        /* parts meet at the first line end at or after their nominal border */
        if (from > 0 && map[from - 1] != '\n') {
            const char *nl = memchr(map + from, '\n', size - from);
            from = nl ? (size_t)(nl - map) + 1 : size;
        }
        if (to < size && map[to - 1] != '\n') {
            const char *nl = memchr(map + to, '\n', size - to);
            to = nl ? (size_t)(nl - map) + 1 : size;
        }
        if (from < to) rc = scope_scan_span(w, &doc, map, from, to);
        sigbus_jump = NULL;
    } else if (rc == HAE_OK) {
        sigbus_jump = NULL;
        /* the scratch may be marked in use by the interrupted scan */
        hs_free_scratch(w->scratch);
        w->scratch = NULL;
        rc = hs_clone_scratch(s->proto, &w->scratch) == HS_SUCCESS ? HAE_OK : HAE_ENOMEM;
        scope_worker_discard(w);
        atomic_store(&f->has_failed, true);
        if (rc == HAE_OK)
            rc = scope_add_note(s, f->path, it->start, true, "file shrank while being read (SIGBUS): "
                            "the rest of this part was not scanned");
    }
    scope_doc_free(&doc);
    munmap((void *)map, size);
    return rc;
}

static int scan_item(scope_worker *w, const work_item *it) {
    scope_scanner *s = w->scanner;
    file_plan *f = it->file;
    int fd = f->is_stdin ? STDIN_FILENO : open_readonly(f->path);
    if (fd < 0) {
        atomic_store(&f->has_failed, true);
        return scope_add_note(s, f->path, 0, true, "cannot open: %s", strerror(errno));
    }
    struct stat before, after;
    int rc = HAE_OK;
    if (fstat(fd, &before) != 0) {
        rc = scope_add_note(s, f->path, 0, true, "cannot stat: %s", strerror(errno));
    } else if (!f->is_stdin && S_ISREG(before.st_mode) &&
               (before.st_ino != f->st.st_ino || !same_file(&before, &f->st))) {
        rc = scope_add_note(s, f->path, 0, true, "changed between listing and reading: scanned as it is now");
    }
    if (rc == HAE_OK && f->is_stream) {
        scope_source *src = NULL;
        rc = scope_source_fd(&src, fd, false);
        w->was_skipped = false;
        if (rc == HAE_OK) rc = scope_scan_source(w, f->path, src, 0);
        if (src) src->close(src);
        if (w->was_skipped) atomic_store(&f->was_skipped, true);
    } else if (rc == HAE_OK) {
        rc = scan_mapped(w, it, fd, &before);
    }
    if (rc == HAE_OK && !f->is_stdin && S_ISREG(before.st_mode) && fstat(fd, &after) == 0 &&
        !same_file(&before, &after)) {
        rc = scope_add_note(s, f->path, 0, true, "changed while being scanned: findings may be stale");
    }
    if (!f->is_stdin) close(fd);
    return rc;
}

static void *worker_main(void *arg) {
    scan_run *run = arg;
    scope_worker w;
    int rc = scope_worker_init(&w, run->s);
    while (rc == HAE_OK && atomic_load(&run->error) == HAE_OK) {
        size_t i = atomic_fetch_add(&run->next, 1);
        if (i >= run->item_count) break;
        rc = scan_item(&w, &run->items[i]);
        if (run->items[i].end >= (uint64_t)run->items[i].file->st.st_size)
            atomic_fetch_add(&run->s->files_done, 1);
        if (rc == HAE_OK) rc = scope_worker_flush(&w);
    }
    if (rc == HAE_OK) rc = scope_worker_flush(&w);
    if (rc < 0) {
        int none = HAE_OK;
        atomic_compare_exchange_strong(&run->error, &none, rc);
    }
    scope_worker_free(&w);
    return NULL;
}

static int run_workers(scan_run *run, unsigned threads) {
    if (threads > run->item_count) threads = run->item_count ? (unsigned)run->item_count : 1;
    pthread_t *ids = calloc(threads, sizeof *ids);
    if (!ids) return HAE_ENOMEM;
    unsigned started = 0;
    for (unsigned i = 1; i < threads; i++) {
        if (pthread_create(&ids[i], NULL, worker_main, run) != 0) break;
        started++;
    }
    worker_main(run);
    for (unsigned i = 1; i <= started; i++) pthread_join(ids[i], NULL);
    free(ids);
    return atomic_load(&run->error);
}

static void run_free(scan_run *run) {
    for (size_t i = 0; i < run->file_count; i++) {
        free(run->files[i]->path);
        free(run->files[i]->sample);
        free(run->files[i]);
    }
    free(run->files);
    free(run->items);
}

static int prepare(scope_scanner *s, scope_report *report, hae_err *err) {
    memset(report, 0, sizeof *report);
    report->is_complete = true;
    s->report = report;
    if (s->opt.salt && s->opt.salt_len) {
        report->salt_len = s->opt.salt_len < sizeof report->salt ? s->opt.salt_len : sizeof report->salt;
        memcpy(report->salt, s->opt.salt, report->salt_len);
    } else {
        report->salt_len = sizeof report->salt;
        if (getrandom(report->salt, sizeof report->salt, 0) != (ssize_t)sizeof report->salt)
            return hae_err_errno(err, errno, "cannot draw a random salt");
    }
    scope_people_free(s->people);
    s->people = NULL;
    if (scope_people_new(&s->people) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    return HAE_OK;
}

static int finish(scope_scanner *s, scope_report *report, int64_t started, hae_err *err) {
    scope_subject_writer writer = {.out = s->opt.subjects, .format = s->opt.out_format,
                                   .reveal = s->opt.reveal, .salt = report->salt,
                                   .salt_len = report->salt_len};
    int rc = scope_people_finish(s->people, &writer, report, err);
    report->seconds = (double)(hae_time_monotonic_ns() - started) / 1e9;
    if (rc == HAE_OK && s->opt.findings && fflush(s->opt.findings) != 0)
        rc = hae_err_errno(err, errno, "cannot write the findings file");
    if (rc == HAE_OK && s->opt.subjects && fflush(s->opt.subjects) != 0)
        rc = hae_err_errno(err, errno, "cannot write the subjects file");
    return rc;
}

int scope_scan_paths(scope_scanner *s, const char *const *paths, size_t count,
                     scope_report *report, hae_err *err) {
    int64_t started = hae_time_monotonic_ns();
    int rc = prepare(s, report, err);
    if (rc < 0) return rc;
    if (s->opt.findings && scope_findings_header(s->opt.findings, s->opt.out_format) < 0)
        return hae_err_set(err, HAE_EIO, "cannot write the findings file");
    struct sigaction sa = {.sa_handler = on_sigbus}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old);
    scan_run run = {.s = s};
    rc = plan_paths(&run, paths, count);
    if (rc < 0) {
        hae_err_set(err, rc, "cannot list the files to scan: %s", hae_err_code_name(rc));
    } else {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned threads = s->opt.threads ? s->opt.threads : cpus > 0 ? (unsigned)cpus : 1;
        rc = run_workers(&run, threads);
        if (rc < 0) hae_err_set(err, rc, "scan failed: %s (output not writable or out of memory)",
                                hae_err_code_name(rc));
    }
    sigaction(SIGBUS, &old, NULL);
    for (size_t i = 0; i < run.file_count; i++) {
        const file_plan *f = run.files[i];
        if (atomic_load(&f->has_failed)) report->files_failed++;
        else if (atomic_load(&f->was_skipped)) report->files_skipped++;
        else report->files_scanned++;
    }
    report->bytes = atomic_load(&s->bytes_done);
    run_free(&run);
    if (rc == HAE_OK) rc = finish(s, report, started, err);
    return rc;
}

int scope_scan_memory(scope_scanner *s, const char *name, scope_format fmt, const void *data,
                      size_t len, scope_finding_fn fn, void *ctx, scope_report *report,
                      hae_err *err) {
    int64_t started = hae_time_monotonic_ns();
    int rc = prepare(s, report, err);
    if (rc < 0) return rc;
    scope_format saved = s->opt.force_format;
    s->opt.force_format = fmt;
    scope_worker w;
    if (scope_worker_init(&w, s) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    w.fn = fn;
    w.fn_ctx = ctx;
    const char *bytes = data;
    size_t sample = len < SCOPE_SAMPLE ? len : SCOPE_SAMPLE;
    report->files_seen = 1;
    if (scope_pack_sniff(data, sample) != SCOPE_PACK_NONE || scope_looks_binary(bytes, sample) ||
        !scope_utf8_valid(bytes, sample, NULL)) {
        scope_source *src = NULL;
        rc = scope_source_memory(&src, data, len);
        if (rc == HAE_OK) rc = scope_scan_source(&w, name, src, 0);
        if (src) src->close(src);
    } else {
        scope_doc doc;
        rc = scope_doc_init(&doc, name, fmt, bytes, sample);
        if (rc == HAE_OK) rc = scope_scan_span(&w, &doc, bytes, 0, len);
        scope_doc_free(&doc);
    }
    if (rc == HAE_OK) rc = scope_worker_flush(&w);
    bool was_skipped = w.was_skipped;
    scope_worker_free(&w);
    s->opt.force_format = saved;
    if (rc < 0) return hae_err_set(err, rc, "scan of %s failed: %s", name, hae_err_code_name(rc));
    if (was_skipped) report->files_skipped = 1;
    else report->files_scanned = 1;
    report->bytes = len;
    return finish(s, report, started, err);
}
