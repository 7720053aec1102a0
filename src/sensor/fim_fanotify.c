/* fim fanotify: file system wide marks with directory file ids and names
 * (FAN_REPORT_DFID_NAME, Linux >= 5.9 for create/delete/move events; see
 * fanotify_init(2), fanotify_mark(2)). One mark per file system covers
 * every directory, present and future, with no watch per directory and no
 * race for new subdirectories; events outside the roots are filtered here.
 * Needs CAP_SYS_ADMIN (marks) and CAP_DAC_READ_SEARCH (open_by_handle_at).
 * Paths come from the parent's file handle: opened O_PATH, named through
 * /proc/self/fd, and cached until a directory moves or goes away. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

#define DIR_CACHE_SLOTS 256
#define EVENT_BUFFER (64 * 1024)

struct fim_dir_cache {
    struct {
        unsigned char key[MAX_HANDLE_SZ + 16];
        size_t key_len;
        char *path;
    } slots[DIR_CACHE_SLOTS];
};

static const uint64_t event_mask = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO |
                                   FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR;

static uint64_t fsid_of(const __kernel_fsid_t *fsid) {
    return (uint64_t)(uint32_t)fsid->val[0] << 32 | (uint32_t)fsid->val[1];
}

static int add_fs(fim_watch *w, const char *root, hae_err *err) {
    struct statfs sf;
    if (statfs(root, &sf) != 0) return hae_err_errno(err, errno, "statfs %s", root);
    __kernel_fsid_t kfsid;
    memcpy(&kfsid, &sf.f_fsid, sizeof kfsid);
    uint64_t id = fsid_of(&kfsid);
    for (size_t i = 0; i < w->fs_count; i++) {
        if (w->fs_ids[i] == id) return HAE_OK;
    }
    if (fanotify_mark(w->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, event_mask, AT_FDCWD, root) != 0) {
        return hae_err_errno(err, errno, "fanotify_mark(FAN_MARK_FILESYSTEM) on %s", root);
    }
    /* open_by_handle_at refuses an O_PATH mount_fd (EBADF): open it for reading */
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return hae_err_errno(err, errno, "open %s", root);
    int *fds = realloc(w->fs_fds, (w->fs_count + 1) * sizeof *fds);
    if (fds) w->fs_fds = fds;
    uint64_t *ids = fds ? realloc(w->fs_ids, (w->fs_count + 1) * sizeof *ids) : NULL;
    if (ids) w->fs_ids = ids;
    if (!fds || !ids) {
        close(fd);
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    w->fs_fds[w->fs_count] = fd;
    w->fs_ids[w->fs_count++] = id;
    return HAE_OK;
}

int fim_fanotify_open(fim_watch *w, hae_err *err) {
    w->fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
                          O_RDONLY | O_CLOEXEC);
    if (w->fd < 0) {
        int saved = errno;
        const char *hint = saved == EPERM    ? " (needs CAP_SYS_ADMIN)"
                           : saved == EINVAL ? " (kernel lacks FAN_REPORT_DFID_NAME, < 5.9)"
                           : saved == ENOSYS ? " (kernel built without fanotify)"
                                             : "";
        return hae_err_set(err, saved == EPERM ? HAE_EPERM : HAE_ENOTSUP, "fanotify_init: %s%s",
                           strerrorname_np(saved) ? strerrorname_np(saved) : strerror(saved),
                           hint);
    }
    w->dir_cache = calloc(1, sizeof *w->dir_cache);
    if (!w->dir_cache) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    for (size_t i = 0; i < w->opt.root_count; i++) {
        int rc = add_fs(w, w->opt.roots[i], err);
        if (rc < 0) {
            /* e.g. EXDEV/EOPNOTSUPP: overlayfs or a file system without file handles */
            return rc;
        }
    }
    return HAE_OK;
}

static void cache_clear(fim_dir_cache *c) {
    for (size_t i = 0; i < DIR_CACHE_SLOTS; i++) {
        free(c->slots[i].path);
        c->slots[i].path = NULL;
        c->slots[i].key_len = 0;
    }
}

void fim_fanotify_close(fim_watch *w) {
    for (size_t i = 0; i < w->fs_count; i++) close(w->fs_fds[i]);
    free(w->fs_fds);
    free(w->fs_ids);
    w->fs_fds = NULL;
    w->fs_ids = NULL;
    w->fs_count = 0;
    if (w->dir_cache) cache_clear(w->dir_cache);
    free(w->dir_cache);
    w->dir_cache = NULL;
    if (w->fd >= 0 && !w->is_fanotify) {
        close(w->fd); /* a failed open: inotify takes the slot */
        w->fd = -1;
    }
}

/* Path of the directory a file handle names; NULL if it is gone. The
 * returned string belongs to the cache. */
static const char *dir_path(fim_watch *w, const struct fanotify_event_info_fid *info) {
    struct file_handle *handle = (struct file_handle *)info->handle;
    size_t key_len = sizeof info->fsid + sizeof *handle + handle->handle_bytes;
    if (handle->handle_bytes > MAX_HANDLE_SZ) return NULL;
    const unsigned char *key = (const unsigned char *)&info->fsid;
    uint32_t h = fim_crc32(0, key, key_len) % DIR_CACHE_SLOTS;
    fim_dir_cache *c = w->dir_cache;
    if (c->slots[h].path && c->slots[h].key_len == key_len &&
        memcmp(c->slots[h].key, key, key_len) == 0) {
        return c->slots[h].path;
    }
    int mount_fd = -1;
    for (size_t i = 0; i < w->fs_count; i++) {
        if (w->fs_ids[i] == fsid_of(&info->fsid)) mount_fd = w->fs_fds[i];
    }
    if (mount_fd < 0) return NULL;
    int fd = open_by_handle_at(mount_fd, handle, O_PATH | O_CLOEXEC);
    if (fd < 0) return NULL;
    char link[64];
    char path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    close(fd);
    if (n <= 0) return NULL;
    path[n] = '\0';
    char *copy = strdup(path);
    if (!copy) return NULL;
    free(c->slots[h].path);
    c->slots[h].path = copy;
    memcpy(c->slots[h].key, key, key_len);
    c->slots[h].key_len = key_len;
    return copy;
}

static char *join(const char *dir, const char *name) {
    char *out = NULL;
    if (strcmp(name, ".") == 0 || name[0] == '\0') return strdup(dir);
    bool root = strcmp(dir, "/") == 0;
    return asprintf(&out, "%s%s%s", dir, root ? "" : "/", name) < 0 ? NULL : out;
}

/* Actions in the order the changes happened, for a merged event mask. */
static int dispatch(fim_watch *w, uint64_t mask, const char *path, const hae_sink *sink,
                    hae_err *err) {
    int rc = HAE_OK;
    if (mask & FAN_CREATE) rc = fim_watch_change(w, path, "created", NULL, sink, err);
    /* fanotify has no rename cookie; the kernel queues from and to back to back */
    if (rc >= 0 && (mask & FAN_MOVED_FROM)) rc = fim_watch_moved_from(w, path, 0, sink, err);
    if (rc >= 0 && (mask & FAN_MOVED_TO)) rc = fim_watch_moved_to(w, path, 0, sink, err);
    if (rc >= 0 && (mask & FAN_CLOSE_WRITE)) rc = fim_watch_change(w, path, "modified", NULL,
                                                                     sink, err);
    if (rc >= 0 && (mask & FAN_ATTRIB)) rc = fim_watch_change(w, path, "attrib", NULL, sink, err);
    if (rc >= 0 && (mask & FAN_DELETE)) rc = fim_watch_change(w, path, "deleted", NULL, sink, err);
    return rc;
}

/* m is a copy of the metadata at base (events are only 4-byte aligned in
 * the buffer; the metadata holds a 64-bit mask). */
static int handle_event(fim_watch *w, const struct fanotify_event_metadata *m, const char *base,
                        const hae_sink *sink, hae_err *err) {
    if (m->mask & FAN_Q_OVERFLOW) {
        cache_clear(w->dir_cache);
        return fim_watch_overflow(w, "fanotify", sink, err);
    }
    size_t offset = m->metadata_len;
    while (offset + sizeof(struct fanotify_event_info_header) <= m->event_len) {
        const struct fanotify_event_info_fid *info = (const void *)(base + offset);
        if (info->hdr.len == 0 || offset + info->hdr.len > m->event_len) break;
        offset += info->hdr.len;
        uint8_t type = info->hdr.info_type;
        if (type != FAN_EVENT_INFO_TYPE_DFID_NAME && type != FAN_EVENT_INFO_TYPE_DFID) continue;
        const char *dir = dir_path(w, info);
        if (!dir) continue; /* parent already gone; its own delete event follows */
        const struct file_handle *handle = (const struct file_handle *)info->handle;
        const char *name = type == FAN_EVENT_INFO_TYPE_DFID_NAME
                               ? (const char *)handle->f_handle + handle->handle_bytes
                               : "";
        char *path = join(dir, name);
        if (!path) return hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
        int rc = HAE_OK;
        if (fim_watch_in_roots(w, path)) rc = dispatch(w, m->mask, path, sink, err);
        free(path);
        /* A directory that moved or went away invalidates cached paths. */
        if ((m->mask & FAN_ONDIR) && (m->mask & (FAN_MOVED_FROM | FAN_MOVED_TO | FAN_DELETE))) {
            cache_clear(w->dir_cache);
        }
        return rc;
    }
    return HAE_OK;
}

int fim_fanotify_read(fim_watch *w, const hae_sink *sink, hae_err *err) {
    _Alignas(8) char buffer[EVENT_BUFFER];
    for (;;) {
        ssize_t len = read(w->fd, buffer, sizeof buffer);
        if (len < 0 && errno == EINTR) continue;
        if (len < 0 && errno == EAGAIN) return HAE_OK;
        if (len < 0) return hae_err_errno(err, errno, "fanotify read");
        if (len == 0) return HAE_OK;
        size_t offset = 0;
        while (offset + FAN_EVENT_METADATA_LEN <= (size_t)len) {
            struct fanotify_event_metadata m;
            memcpy(&m, buffer + offset, sizeof m);
            if (m.event_len < FAN_EVENT_METADATA_LEN || offset + m.event_len > (size_t)len) break;
            if (m.vers != FANOTIFY_METADATA_VERSION) {
                return hae_err_set(err, HAE_ENOTSUP, "fanotify metadata version %u, expected %u",
                                   m.vers, FANOTIFY_METADATA_VERSION);
            }
            int rc = handle_event(w, &m, buffer + offset, sink, err);
            if (rc < 0) return rc;
            offset += m.event_len;
        }
    }
}
