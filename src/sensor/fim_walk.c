/* fim walk: lists every object under the roots with its lstat data.
 * Symlinks are recorded with their target and never followed, so a symlink
 * loop is just two entries; a directory reached twice (a bind mount loop)
 * is reported and not re-entered. The walk keeps an explicit stack, so
 * depth costs heap, not C stack, and nothing has a fixed cap. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

fim_entry *fim_entries_push(fim_entries *list) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 1024;
        fim_entry *grown = realloc(list->items, cap * sizeof *grown);
        if (!grown) {
            return NULL;
        }
        list->items = grown;
        list->cap = cap;
    }
    fim_entry *e = &list->items[list->count++];
    memset(e, 0, sizeof *e);
    return e;
}

static int compare_entries(const void *a, const void *b) {
    return strcmp(((const fim_entry *)a)->path, ((const fim_entry *)b)->path);
}

void fim_entries_sort(fim_entries *list) {
    if (list->count > 1) {
        qsort(list->items, list->count, sizeof *list->items, compare_entries);
    }
}

const fim_entry *fim_entries_find(const fim_entries *sorted, const char *path) {
    fim_entry key = {.path = path};
    if (sorted->count == 0) {
        return NULL;
    }
    return bsearch(&key, sorted->items, sorted->count, sizeof key, compare_entries);
}

void fim_entries_free(fim_entries *list) {
    free(list->items);
    hae_arena_free(&list->arena);
    memset(list, 0, sizeof *list);
}

uint8_t fim_type_from_mode(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return FIM_TYPE_REGULAR;
    case S_IFDIR: return FIM_TYPE_DIRECTORY;
    case S_IFLNK: return FIM_TYPE_SYMLINK;
    case S_IFCHR: return FIM_TYPE_CHAR;
    case S_IFBLK: return FIM_TYPE_BLOCK;
    case S_IFIFO: return FIM_TYPE_FIFO;
    case S_IFSOCK: return FIM_TYPE_SOCKET;
    default: return 0;
    }
}

const char *fim_type_name(uint8_t type) {
    static const char *const names[] = {"unknown", "file", "directory", "symlink",
                                        "char",    "block", "fifo",     "socket"};
    return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

int fim_report_error(const hae_sink *sink, const char *path, size_t path_len, const char *reason) {
    hae_event ev;
    hae_err err = {0};
    int rc = hae_finding_init(&ev, "fim", "fim.error", HAE_SEV_INFO, "cannot check %.*s: %s",
                              (int)(path_len > 400 ? 400 : path_len), path, reason);
    if (rc == HAE_OK) rc = hae_event_add_strn(&ev, "TargetFilename", path, path_len);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Reason", reason);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, &err);
    hae_event_clear(&ev);
    return rc;
}

void fim_entry_from_stat(fim_entry *e, const char *path, size_t path_len, const struct stat *st) {
    e->path = path;
    e->path_len = (uint32_t)path_len;
    e->type = fim_type_from_mode(st->st_mode);
    e->mode = (uint32_t)(st->st_mode & 07777);
    e->uid = st->st_uid;
    e->gid = st->st_gid;
    e->size = (uint64_t)st->st_size;
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    e->inode = st->st_ino;
    e->device = st->st_dev;
}

/* ---- directory identity set: (device, inode) of entered directories -- */

typedef struct dir_key {
    uint64_t device;
    uint64_t inode;
} dir_key;

typedef struct dir_set {
    dir_key *slots;  /* inode 0 marks an empty slot (no file has inode 0) */
    size_t cap;
    size_t count;
} dir_set;

static size_t dir_hash(dir_key k) {
    uint64_t h = k.inode * 0x9e3779b97f4a7c15ULL ^ k.device * 0xc2b2ae3d27d4eb4fULL;
    return (size_t)(h ^ (h >> 29));
}

/* Returns 1 when inserted, 0 when already present, HAE_ENOMEM. */
static int dir_set_insert(dir_set *s, dir_key k) {
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        dir_key *slots = calloc(cap, sizeof *slots);
        if (!slots) return HAE_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i].inode == 0) continue;
            size_t j = dir_hash(s->slots[i]) & (cap - 1);
            while (slots[j].inode != 0) j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = dir_hash(k) & (s->cap - 1);
    while (s->slots[j].inode != 0) {
        if (s->slots[j].inode == k.inode && s->slots[j].device == k.device) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = k;
    s->count++;
    return 1;
}

/* ---- the walk ---------------------------------------------------------- */

typedef struct walk_state {
    fim_entries *out;
    const hae_sink *sink;
    hae_err *err;
    size_t *stack;   /* indexes into out->items of directories to read */
    size_t depth;
    size_t stack_cap;
    dir_set seen;
} walk_state;

static int push_dir(walk_state *w, size_t index) {
    if (w->depth == w->stack_cap) {
        size_t cap = w->stack_cap ? w->stack_cap * 2 : 64;
        size_t *grown = realloc(w->stack, cap * sizeof *grown);
        if (!grown) return hae_err_set(w->err, HAE_ENOMEM, "fim walk: out of memory");
        w->stack = grown;
        w->stack_cap = cap;
    }
    w->stack[w->depth++] = index;
    return HAE_OK;
}

static int sink_error(walk_state *w, const char *path, size_t len, const char *reason) {
    int rc = fim_report_error(w->sink, path, len, reason);
    if (rc < 0 && w->err && w->err->code == 0) {
        hae_err_set(w->err, rc, "fim: cannot emit error finding");
    }
    return rc;
}

/* Records one object. dirfd/name locate it for readlinkat. */
static int record(walk_state *w, const char *path, size_t path_len, const struct stat *st,
                  int dirfd, const char *name) {
    if (path_len > UINT32_MAX) return sink_error(w, path, path_len, "path too long");
    fim_entry *e = fim_entries_push(w->out);
    char *copy = e ? hae_arena_strndup(&w->out->arena, path, path_len) : NULL;
    if (!copy) return hae_err_set(w->err, HAE_ENOMEM, "fim walk: out of memory");
    fim_entry_from_stat(e, copy, path_len, st);
    if (e->type == FIM_TYPE_SYMLINK) {
        /* st_size is the target length, but it may change under us: grow. */
        size_t cap = (size_t)st->st_size + 1 > 256 ? (size_t)st->st_size + 1 : 256;
        for (;;) {
            char *target = hae_arena_alloc(&w->out->arena, cap);
            if (!target) return hae_err_set(w->err, HAE_ENOMEM, "fim walk: out of memory");
            ssize_t n = readlinkat(dirfd, name, target, cap);
            if (n < 0) {
                return sink_error(w, path, path_len, strerror(errno));
            }
            if ((size_t)n < cap) {
                target[n] = '\0';
                e->link_target = target;
                e->link_len = (uint32_t)n;
                break;
            }
            cap *= 2;
        }
    }
    return HAE_OK;
}

static char *join_path(hae_arena *scratch, const char *dir, size_t dir_len, const char *name,
                       size_t *len) {
    size_t name_len = strlen(name);
    bool slash = !(dir_len > 0 && dir[dir_len - 1] == '/');
    char *p = hae_arena_alloc(scratch, dir_len + slash + name_len + 1);
    if (!p) return NULL;
    memcpy(p, dir, dir_len);
    if (slash) p[dir_len] = '/';
    memcpy(p + dir_len + slash, name, name_len + 1);
    *len = dir_len + slash + name_len;
    return p;
}

/* Reads one directory and records its children; subdirectories are pushed. */
static int read_dir(walk_state *w, size_t index) {
    const char *dir_path = w->out->items[index].path;
    size_t dir_len = w->out->items[index].path_len;
    int fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return sink_error(w, dir_path, dir_len, errno == ENOENT ? "vanished during scan"
                                                                : strerror(errno));
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        return sink_error(w, dir_path, dir_len, strerror(saved));
    }
    hae_arena scratch = {0};
    int rc = HAE_OK;
    struct dirent *de;
    while (rc >= 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        size_t len = 0;
        /* The parent path may move when items grows: re-read it each time. */
        const fim_entry *parent = &w->out->items[index];
        char *path = join_path(&scratch, parent->path, parent->path_len, de->d_name, &len);
        if (!path) {
            rc = hae_err_set(w->err, HAE_ENOMEM, "fim walk: out of memory");
            break;
        }
        struct stat st;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = sink_error(w, path, len, errno == ENOENT ? "vanished during scan"
                                                          : strerror(errno));
            continue;
        }
        rc = record(w, path, len, &st, fd, de->d_name);
        if (rc >= 0 && S_ISDIR(st.st_mode)) {
            rc = push_dir(w, w->out->count - 1);
        }
        hae_arena_reset(&scratch);
    }
    if (rc >= 0 && errno != 0) {
        rc = sink_error(w, dir_path, dir_len, strerror(errno));
    }
    hae_arena_free(&scratch);
    closedir(d);
    return rc;
}

static int walk_root(walk_state *w, const char *root) {
    size_t len = strlen(root);
    while (len > 1 && root[len - 1] == '/') len--; /* "/srv/www/" is "/srv/www" */
    struct stat st;
    char *trimmed = strndup(root, len);
    if (!trimmed) return hae_err_set(w->err, HAE_ENOMEM, "fim walk: out of memory");
    int rc;
    if (lstat(trimmed, &st) != 0) {
        rc = sink_error(w, trimmed, len, errno == ENOENT ? "root does not exist"
                                                         : strerror(errno));
    } else {
        rc = record(w, trimmed, len, &st, AT_FDCWD, trimmed);
        if (rc >= 0 && S_ISDIR(st.st_mode)) rc = push_dir(w, w->out->count - 1);
    }
    free(trimmed);
    while (rc >= 0 && w->depth > 0) {
        size_t index = w->stack[--w->depth];
        const fim_entry *dir = &w->out->items[index];
        int inserted = dir_set_insert(&w->seen, (dir_key){dir->device, dir->inode});
        if (inserted < 0) return hae_err_set(w->err, HAE_ENOMEM, "fim walk: out of memory");
        if (inserted == 0) {
            rc = sink_error(w, dir->path, dir->path_len,
                            "directory already visited (bind mount loop or repeated root)");
            continue;
        }
        rc = read_dir(w, index);
    }
    return rc;
}

int fim_walk(const char *const *roots, size_t root_count, fim_entries *out,
             const hae_sink *sink, hae_err *err) {
    walk_state w = {.out = out, .sink = sink, .err = err};
    int rc = HAE_OK;
    for (size_t i = 0; i < root_count && rc >= 0; i++) {
        rc = walk_root(&w, roots[i]);
    }
    free(w.stack);
    free(w.seen.slots);
    if (rc < 0 && err && err->code == 0) hae_err_set(err, rc, "fim walk failed");
    return rc < 0 ? rc : HAE_OK;
}
