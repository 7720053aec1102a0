/* fim inotify: the fallback when fanotify is not allowed (no
 * CAP_SYS_ADMIN, kernel < 5.9, a file system without file handles).
 * inotify watches one directory at a time (inotify(7)), so every directory
 * under the roots gets a watch and new directories get one as they appear.
 * Files created in a new directory before its watch exists are found by
 * scanning it right after adding the watch, and reported as created.
 * IN_Q_OVERFLOW means events were lost: report it and re-add every watch. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

#define DIR_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | \
                  IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define EVENT_BUFFER (64 * 1024)

static int remember(fim_watch *w, int wd, const char *path) {
    if ((size_t)wd >= w->wd_cap) {
        size_t cap = w->wd_cap ? w->wd_cap : 64;
        while (cap <= (size_t)wd) cap *= 2;
        char **grown = realloc(w->wd_paths, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        memset(grown + w->wd_cap, 0, (cap - w->wd_cap) * sizeof *grown);
        w->wd_paths = grown;
        w->wd_cap = cap;
    }
    if (w->wd_paths[wd] && strcmp(w->wd_paths[wd], path) == 0) return HAE_OK;
    char *copy = strdup(path);
    if (!copy) return HAE_ENOMEM;
    if (!w->wd_paths[wd]) w->wd_count++;
    free(w->wd_paths[wd]);
    w->wd_paths[wd] = copy;
    return HAE_OK;
}

typedef struct dir_stack {
    char **paths;
    size_t count;
    size_t cap;
} dir_stack;

static int stack_push(dir_stack *s, char *path) {
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **grown = realloc(s->paths, cap * sizeof *grown);
        if (!grown) {
            free(path);
            return HAE_ENOMEM;
        }
        s->paths = grown;
        s->cap = cap;
    }
    s->paths[s->count++] = path;
    return HAE_OK;
}

/* Watches one directory and queues its subdirectories. With report_new,
 * files found inside are reported as created (they beat the watch). */
static int watch_dir(fim_watch *w, dir_stack *todo, const char *dir, bool report_new,
                     const hae_sink *sink, hae_err *err) {
    int wd = inotify_add_watch(w->fd, dir, DIR_MASK);
    if (wd < 0) {
        const char *reason = errno == ENOSPC ? "inotify watch limit reached "
                                               "(fs.inotify.max_user_watches)"
                                             : strerror(errno);
        return errno == ENOENT ? HAE_OK : fim_report_error(sink, dir, strlen(dir), reason);
    }
    if (remember(w, wd, dir) < 0) return hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
    DIR *d = opendir(dir);
    if (!d) return HAE_OK; /* gone again, or unreadable: the watch still reports */
    int rc = HAE_OK;
    struct dirent *de;
    while (rc >= 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *path = NULL;
        if (asprintf(&path, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", de->d_name) < 0) {
            rc = hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
            break;
        }
        struct stat st;
        bool is_dir = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISDIR(st.st_mode);
        if (report_new) rc = fim_watch_change(w, path, "created", NULL, sink, err);
        if (rc >= 0 && is_dir) {
            rc = stack_push(todo, path);
            if (rc < 0) hae_err_set(err, rc, "fim: out of memory");
        } else {
            free(path);
        }
    }
    closedir(d);
    return rc;
}

/* Watches the tree at root; depth-first with an explicit stack. */
static int watch_tree(fim_watch *w, const char *root, bool report_new, const hae_sink *sink,
                      hae_err *err) {
    dir_stack todo = {0};
    char *first = strdup(root);
    int rc = first ? stack_push(&todo, first) : HAE_ENOMEM;
    if (rc < 0) return hae_err_set(err, rc, "fim: out of memory");
    while (rc >= 0 && todo.count > 0) {
        char *dir = todo.paths[--todo.count];
        rc = watch_dir(w, &todo, dir, report_new, sink, err);
        free(dir);
    }
    while (todo.count > 0) free(todo.paths[--todo.count]);
    free(todo.paths);
    return rc;
}

int fim_inotify_open(fim_watch *w, const hae_sink *sink, hae_err *err) {
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) return hae_err_errno(err, errno, "inotify_init1");
    int rc = HAE_OK;
    for (size_t i = 0; i < w->opt.root_count && rc >= 0; i++) {
        rc = watch_tree(w, w->opt.roots[i], false, sink, err);
    }
    return rc < 0 ? rc : HAE_OK;
}

void fim_inotify_close(fim_watch *w) {
    for (size_t i = 0; i < w->wd_cap; i++) free(w->wd_paths[i]);
    free(w->wd_paths);
    w->wd_paths = NULL;
    w->wd_cap = 0;
    w->wd_count = 0;
}

static int handle_event(fim_watch *w, const struct inotify_event *e, const hae_sink *sink,
                        hae_err *err) {
    if (e->mask & IN_Q_OVERFLOW) {
        int rc = fim_watch_overflow(w, "inotify", sink, err);
        for (size_t i = 0; i < w->opt.root_count && rc >= 0; i++) {
            rc = watch_tree(w, w->opt.roots[i], false, sink, err);
        }
        return rc;
    }
    if (e->wd < 0 || (size_t)e->wd >= w->wd_cap || !w->wd_paths[e->wd]) return HAE_OK;
    if (e->mask & IN_IGNORED) { /* the directory is gone or unmounted */
        free(w->wd_paths[e->wd]);
        w->wd_paths[e->wd] = NULL;
        w->wd_count--;
        return HAE_OK;
    }
    if (e->len == 0) return HAE_OK; /* events on the directory itself */
    const char *dir = w->wd_paths[e->wd];
    char *path = NULL;
    if (asprintf(&path, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", e->name) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
    }
    int rc = HAE_OK;
    bool is_dir = (e->mask & IN_ISDIR) != 0;
    if (e->mask & IN_CREATE) rc = fim_watch_change(w, path, "created", NULL, sink, err);
    if (rc >= 0 && (e->mask & IN_MOVED_FROM)) rc = fim_watch_moved_from(w, path, e->cookie,
                                                                         sink, err);
    if (rc >= 0 && (e->mask & IN_MOVED_TO)) rc = fim_watch_moved_to(w, path, e->cookie, sink, err);
    if (rc >= 0 && (e->mask & IN_CLOSE_WRITE)) rc = fim_watch_change(w, path, "modified", NULL,
                                                                      sink, err);
    if (rc >= 0 && (e->mask & IN_ATTRIB)) rc = fim_watch_change(w, path, "attrib", NULL, sink,
                                                                 err);
    if (rc >= 0 && (e->mask & IN_DELETE)) rc = fim_watch_change(w, path, "deleted", NULL, sink,
                                                                 err);
    /* A new or moved-in directory: watch it and everything already in it.
     * A moved directory keeps its watch but our path for it (and for its
     * subdirectories) is stale: re-adding refreshes the names. */
    if (rc >= 0 && is_dir && (e->mask & (IN_CREATE | IN_MOVED_TO))) {
        rc = watch_tree(w, path, (e->mask & IN_CREATE) != 0, sink, err);
    }
    free(path);
    return rc;
}

int fim_inotify_read(fim_watch *w, const hae_sink *sink, hae_err *err) {
    _Alignas(struct inotify_event) char buffer[EVENT_BUFFER];
    for (;;) {
        ssize_t len = read(w->fd, buffer, sizeof buffer);
        if (len < 0 && errno == EINTR) continue;
        if (len < 0 && errno == EAGAIN) return HAE_OK;
        if (len < 0) return hae_err_errno(err, errno, "inotify read");
        if (len == 0) return HAE_OK;
        for (ssize_t off = 0; off < len;) {
            const struct inotify_event *e = (const void *)(buffer + off);
            int rc = handle_event(w, e, sink, err);
            if (rc < 0) return rc;
            off += (ssize_t)(sizeof *e + e->len);
        }
    }
}
