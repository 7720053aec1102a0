/* fim watch: real-time file events from fanotify or inotify, turned into
 * file_event events and the findings the check would raise (web shell,
 * SUID/SGID, /etc, canary) plus the ransomware burst signal. The two
 * kernel mechanisms live in fim_fanotify.c and fim_inotify.c; both call
 * fim_watch_change with a full path and an action. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

#define RECENT_NS (2LL * 1000000000LL)

static const char **copy_strings(hae_arena *a, const char *const *in, size_t count) {
    const char **out = hae_arena_alloc(a, (count ? count : 1) * sizeof *out);
    for (size_t i = 0; out && i < count; i++) {
        size_t len = strlen(in[i]);
        while (len > 1 && in[i][len - 1] == '/') len--;
        out[i] = hae_arena_strndup(a, in[i], len);
        if (!out[i]) return NULL;
    }
    return out;
}

static int copy_options(fim_watch *w, const fim_options *opt) {
    w->opt = *opt;
    w->opt.roots = copy_strings(&w->strings, opt->roots, opt->root_count);
    w->opt.web_roots = copy_strings(&w->strings, opt->web_roots, opt->web_root_count);
    w->opt.etc_prefix = opt->etc_prefix ? hae_arena_strdup(&w->strings, opt->etc_prefix) : NULL;
    w->opt.canary_list = NULL; /* read once at open */
    bool ok = w->opt.roots && w->opt.web_roots && (!opt->etc_prefix || w->opt.etc_prefix);
    return ok ? HAE_OK : HAE_ENOMEM;
}

static int emit_watcher(const fim_watch *w, const char *fanotify_problem, const hae_sink *sink,
                        hae_err *err) {
    hae_event ev;
    int rc;
    if (w->is_fanotify) {
        rc = hae_finding_init(&ev, "fim", "fim.watcher", HAE_SEV_INFO,
                              "file watching uses fanotify (file system marks, "
                              "FAN_REPORT_DFID_NAME) on %zu roots",
                              w->opt.root_count);
    } else {
        rc = hae_finding_init(&ev, "fim", "fim.watcher", HAE_SEV_INFO,
                              "%s, using inotify on %zu directories under %zu roots",
                              fanotify_problem, w->wd_count, w->opt.root_count);
    }
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Mechanism", w->is_fanotify ? "fanotify"
                                                                                 : "inotify");
    if (rc == HAE_OK && !w->is_fanotify) rc = hae_event_add_str(&ev, "Reason", fanotify_problem);
    for (size_t i = 0; i < w->opt.root_count && rc == HAE_OK; i++) {
        rc = hae_event_add_str(&ev, "Root", w->opt.roots[i]);
    }
    if (rc == HAE_OK) {
        rc = hae_emit(sink, &ev, err);
    } else {
        hae_err_set(err, rc, "fim: cannot build fim.watcher");
    }
    hae_event_clear(&ev);
    return rc;
}

static bool inotify_forced(const fim_options *opt) {
    const char *env = getenv("HAETAE_FIM_INOTIFY");
    return opt->force_inotify || (env && strcmp(env, "1") == 0);
}

int fim_watch_open(fim_watch **out, const fim_options *opt, const hae_sink *sink, hae_err *err) {
    *out = NULL;
    fim_watch *w = calloc(1, sizeof *w);
    if (!w) return hae_err_set(err, HAE_ENOMEM, "fim watch: out of memory");
    w->fd = -1;
    int rc = copy_options(w, opt);
    if (rc < 0) hae_err_set(err, rc, "fim watch: out of memory");
    if (rc == HAE_OK) rc = fim_burst_init(&w->burst, opt->burst_threshold, opt->burst_window_ms);
    if (rc == HAE_OK) rc = fim_canaries_load(opt, &w->canaries, err);
    char problem[HAE_ERR_MSG_MAX + 32] = "";
    if (rc == HAE_OK && inotify_forced(opt)) {
        snprintf(problem, sizeof problem,
                 "fanotify not tried: inotify forced (option or HAETAE_FIM_INOTIFY=1)");
    } else if (rc == HAE_OK) {
        hae_err why = {0};
        if (fim_fanotify_open(w, &why) == HAE_OK) {
            w->is_fanotify = true;
        } else {
            snprintf(problem, sizeof problem, "fanotify unavailable: %s", why.msg);
            fim_fanotify_close(w);
        }
    }
    if (rc == HAE_OK && !w->is_fanotify) rc = fim_inotify_open(w, sink, err);
    if (rc == HAE_OK) rc = emit_watcher(w, problem, sink, err);
    if (rc < 0) {
        fim_watch_close(w);
        return rc;
    }
    *out = w;
    return HAE_OK;
}

int fim_watch_fd(const fim_watch *w) { return w->fd; }

int fim_watch_read(fim_watch *w, const hae_sink *sink, hae_err *err) {
    int rc = w->is_fanotify ? fim_fanotify_read(w, sink, err) : fim_inotify_read(w, sink, err);
    /* A rename half left at the end of a batch moved across the roots' edge. */
    if (rc >= 0) rc = fim_watch_flush_rename(w, sink, err);
    return rc;
}

void fim_watch_close(fim_watch *w) {
    if (!w) return;
    if (w->is_fanotify) {
        fim_fanotify_close(w);
    } else {
        fim_inotify_close(w);
    }
    if (w->fd >= 0) close(w->fd);
    free(w->pending_from);
    for (size_t i = 0; i < FIM_RECENT_SLOTS; i++) free(w->recent[i].path);
    fim_canaries_free(&w->canaries);
    fim_burst_free(&w->burst);
    hae_arena_free(&w->strings);
    free(w);
}

bool fim_watch_in_roots(const fim_watch *w, const char *path) {
    for (size_t i = 0; i < w->opt.root_count; i++) {
        if (fim_path_under(path, w->opt.roots[i])) return true;
    }
    return false;
}

/* True when (rule, path) was reported within RECENT_NS; records it if not. */
static bool seen_recently(fim_watch *w, const char *rule, const char *path, int64_t now) {
    for (size_t i = 0; i < FIM_RECENT_SLOTS; i++) {
        fim_recent *r = &w->recent[i];
        if (r->path && r->rule == rule && now - r->at_ns < RECENT_NS && strcmp(r->path, path) == 0) {
            return true;
        }
    }
    fim_recent *slot = &w->recent[w->recent_next];
    w->recent_next = (w->recent_next + 1) % FIM_RECENT_SLOTS;
    free(slot->path);
    slot->path = strdup(path);
    slot->rule = rule;
    slot->at_ns = now;
    return false;
}

static int emit_file_event(const fim_watch *w, const char *path, const char *action,
                           const char *source, const hae_sink *sink, hae_err *err) {
    hae_event ev;
    int rc = hae_event_init(&ev, "linux", "file_event", NULL);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", path);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Action", action);
    if (rc == HAE_OK && source) rc = hae_event_add_str(&ev, "SourceFilename", source);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Mechanism", w->is_fanotify ? "fanotify"
                                                                                 : "inotify");
    if (rc == HAE_OK) {
        rc = hae_emit(sink, &ev, err);
    } else {
        hae_err_set(err, rc, "fim: cannot build file_event");
    }
    hae_event_clear(&ev);
    return rc;
}

/* Web shell, SUID/SGID and ransomware checks need the file as it is now. */
static int judge_present(fim_watch *w, const char *path, const char *action, int64_t now,
                         const hae_sink *sink, hae_err *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return HAE_OK; /* already gone: its delete event follows */
    fim_entry e = {0};
    fim_entry_from_stat(&e, path, strlen(path), &st);
    int rc = HAE_OK;
    bool content = strcmp(action, "attrib") != 0;
    if (fim_is_web_path(&w->opt, path) && fim_is_webshell_candidate(path, e.mode, e.type) &&
        (content || (e.mode & 0111)) && !seen_recently(w, "fim.webshell", path, now)) {
        rc = fim_emit_finding(sink, "fim.webshell", HAE_SEV_CRITICAL,
                              "script or executable written in a web root", NULL, &e, "Action",
                              action, err);
    }
    if (rc >= 0 && fim_is_setid(e.mode, e.type) && !seen_recently(w, "fim.suid", path, now)) {
        rc = fim_emit_finding(sink, "fim.suid", HAE_SEV_HIGH, "SUID/SGID file appeared or changed",
                              NULL, &e, "Action", action, err);
    }
    bool rewrite = strcmp(action, "modified") == 0 || strcmp(action, "renamed") == 0;
    if (rc >= 0 && rewrite && e.type == FIM_TYPE_REGULAR &&
        fim_file_entropy(path) >= FIM_ENTROPY_THRESHOLD) {
        rc = fim_burst_note(&w->burst, path, now, sink, err);
    }
    return rc;
}

int fim_watch_change(fim_watch *w, const char *path, const char *action, const char *source,
                     const hae_sink *sink, hae_err *err) {
    int64_t now = hae_time_monotonic_ns();
    int rc = emit_file_event(w, path, action, source, sink, err);
    if (rc >= 0 && source && fim_canaries_contains(&w->canaries, source)) {
        rc = fim_canary_report(sink, source, "renamed", err);
    } else if (rc >= 0 && fim_canaries_contains(&w->canaries, path)) {
        rc = fim_canary_report(sink, path, action, err);
    }
    if (rc >= 0 && strcmp(action, "deleted") != 0) {
        rc = judge_present(w, path, action, now, sink, err);
    }
    if (rc >= 0 && fim_is_etc_path(&w->opt, path) &&
        !seen_recently(w, "fim.etc_changed", path, now)) {
        fim_entry e = {.path = path, .path_len = (uint32_t)strlen(path)};
        struct stat st;
        bool present = strcmp(action, "deleted") != 0 && lstat(path, &st) == 0;
        if (present) fim_entry_from_stat(&e, path, e.path_len, &st);
        rc = fim_emit_finding(sink, "fim.etc_changed", HAE_SEV_MEDIUM, "changed under /etc",
                              present ? NULL : &e, present ? &e : NULL, "Action", action, err);
    }
    return rc;
}

int fim_watch_flush_rename(fim_watch *w, const hae_sink *sink, hae_err *err) {
    if (!w->pending_from) return HAE_OK;
    char *from = w->pending_from;
    w->pending_from = NULL;
    /* Moved out of the watched trees: for them, it is gone. */
    int rc = fim_watch_change(w, from, "deleted", NULL, sink, err);
    free(from);
    return rc;
}

int fim_watch_moved_from(fim_watch *w, const char *path, uint32_t cookie, const hae_sink *sink,
                         hae_err *err) {
    int rc = fim_watch_flush_rename(w, sink, err);
    if (rc < 0) return rc;
    w->pending_from = strdup(path);
    w->pending_cookie = cookie;
    return w->pending_from ? HAE_OK : hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
}

int fim_watch_moved_to(fim_watch *w, const char *path, uint32_t cookie, const hae_sink *sink,
                       hae_err *err) {
    if (w->pending_from && w->pending_cookie == cookie) {
        char *from = w->pending_from;
        w->pending_from = NULL;
        int rc = fim_watch_change(w, path, "renamed", from, sink, err);
        free(from);
        return rc;
    }
    int rc = fim_watch_flush_rename(w, sink, err);
    /* Moved in from outside the watched trees: for them, it is new. */
    return rc < 0 ? rc : fim_watch_change(w, path, "created", NULL, sink, err);
}

int fim_watch_overflow(fim_watch *w, const char *mechanism, const hae_sink *sink, hae_err *err) {
    (void)w;
    hae_event ev;
    int rc = hae_finding_init(&ev, "fim", "fim.overflow", HAE_SEV_MEDIUM,
                              "%s event queue overflowed: changes were lost; the trees were "
                              "rescanned for watches, run 'haetae fim check' to see what changed",
                              mechanism);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Mechanism", mechanism);
    if (rc == HAE_OK) {
        rc = hae_emit(sink, &ev, err);
    } else {
        hae_err_set(err, rc, "fim: cannot build fim.overflow");
    }
    hae_event_clear(&ev);
    return rc;
}
