/* Thin reader of /proc for the sock and proc sensors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor/procfs.h"

const char *procfs_root(void) {
    const char *root = getenv("HAETAE_PROC_ROOT");
    return root && root[0] ? root : "/proc";
}

/* Reads a whole /proc file (they report size 0, so read until EOF). */
static int read_proc_file(pid_t pid, const char *name, hae_buf *out, hae_err *err) {
    char path[128];
    snprintf(path, sizeof path, "%s/%d/%s", procfs_root(), (int)pid, name);
    return hae_file_read_all(path, out, err);
}

int procfs_read_file(pid_t pid, const char *name, hae_buf *out, hae_err *err) {
    return read_proc_file(pid, name, out, err);
}

static int read_link(const char *path, char **out, hae_err *err) {
    size_t cap = 256;
    for (;;) {
        char *target = malloc(cap);
        if (!target) {
            return hae_err_set(err, HAE_ENOMEM, "%s: out of memory", path);
        }
        ssize_t n = readlink(path, target, cap);
        if (n < 0) {
            int saved = errno;
            free(target);
            return hae_err_errno(err, saved, "%s", path);
        }
        if ((size_t)n < cap) {
            target[n] = '\0';
            *out = target;
            return HAE_OK;
        }
        free(target);
        cap *= 2;
    }
}

static void read_status(pid_t pid, procfs_process *p) {
    hae_buf status = {0};
    if (read_proc_file(pid, "status", &status, NULL) == HAE_OK && status.data) {
        const char *ppid = strstr(status.data, "\nPPid:");
        const char *uid = strstr(status.data, "\nUid:");
        if (ppid) p->ppid = (pid_t)strtol(ppid + 6, NULL, 10);
        if (uid) p->uid = (uid_t)strtoul(uid + 5, NULL, 10);
    }
    hae_buf_free(&status);
}

static int read_cmdline(pid_t pid, procfs_process *p, hae_err *err) {
    hae_buf raw = {0};
    int rc = read_proc_file(pid, "cmdline", &raw, err);
    if (rc == HAE_OK && raw.len > 0) {
        /* argv is NUL-separated; the last NUL ends argv[argc-1]. */
        size_t len = raw.len;
        if (raw.data[len - 1] == '\0') len--;
        p->argv0 = strdup(raw.data);
        for (size_t i = 0; i < len; i++) {
            if (raw.data[i] == '\0') raw.data[i] = ' ';
        }
        p->cmdline = strndup(raw.data, len);
        if (!p->argv0 || !p->cmdline) {
            rc = hae_err_set(err, HAE_ENOMEM, "out of memory reading cmdline of %d", (int)pid);
        }
    }
    hae_buf_free(&raw);
    return rc;
}

int procfs_read(pid_t pid, procfs_process *out, hae_err *err) {
    memset(out, 0, sizeof *out);
    out->pid = pid;
    hae_buf comm = {0};
    int rc = read_proc_file(pid, "comm", &comm, err);
    if (rc < 0) {
        hae_buf_free(&comm);
        return rc; /* gone, or not ours to read */
    }
    if (comm.len && comm.data[comm.len - 1] == '\n') comm.data[--comm.len] = '\0';
    snprintf(out->comm, sizeof out->comm, "%s", comm.data ? comm.data : "");
    hae_buf_free(&comm);
    read_status(pid, out);

    char path[128];
    snprintf(path, sizeof path, "%s/%d/exe", procfs_root(), (int)pid);
    /* Kernel threads have no exe; EACCES without privileges: both leave NULL. */
    if (read_link(path, &out->exe, NULL) == HAE_OK) {
        static const char deleted[] = " (deleted)";
        size_t len = strlen(out->exe), dlen = sizeof deleted - 1;
        if (len > dlen && strcmp(out->exe + len - dlen, deleted) == 0) {
            out->exe[len - dlen] = '\0';
            out->exe_deleted = true;
        }
    }
    snprintf(path, sizeof path, "%s/%d/cwd", procfs_root(), (int)pid);
    (void)read_link(path, &out->cwd, NULL); /* optional: NULL when unreadable */
    rc = read_cmdline(pid, out, err);
    if (rc == HAE_ENOMEM) {
        procfs_process_free(out);
        return rc;
    }
    return HAE_OK; /* a process that exited mid-read keeps what was read */
}

void procfs_process_free(procfs_process *p) {
    free(p->exe);
    free(p->cmdline);
    free(p->argv0);
    free(p->cwd);
    p->exe = p->cmdline = p->argv0 = p->cwd = NULL;
}

int procfs_getenv(pid_t pid, const char *name, char **value, hae_err *err) {
    *value = NULL;
    hae_buf env = {0};
    int rc = read_proc_file(pid, "environ", &env, err);
    size_t name_len = strlen(name);
    for (size_t i = 0; rc == HAE_OK && i < env.len;) {
        const char *entry = env.data + i;
        size_t len = strnlen(entry, env.len - i);
        if (len > name_len && memcmp(entry, name, name_len) == 0 && entry[name_len] == '=') {
            *value = strndup(entry + name_len + 1, len - name_len - 1);
            if (!*value) rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
            break;
        }
        i += len + 1;
    }
    hae_buf_free(&env);
    return rc;
}

static bool parse_pid(const char *name, pid_t *pid) {
    char *end;
    long v = strtol(name, &end, 10);
    if (*name < '0' || *name > '9' || *end || v <= 0 || v > 4194304) {
        return false;
    }
    *pid = (pid_t)v;
    return true;
}

int procfs_each_pid(int (*fn)(void *ctx, pid_t pid), void *ctx, hae_err *err) {
    DIR *dir = opendir(procfs_root());
    if (!dir) {
        return hae_err_errno(err, errno, "%s", procfs_root());
    }
    int rc = HAE_OK;
    struct dirent *d;
    while (rc >= 0 && (d = readdir(dir)) != NULL) {
        pid_t pid;
        if (parse_pid(d->d_name, &pid)) {
            rc = fn(ctx, pid);
        }
    }
    closedir(dir);
    return rc < 0 ? rc : HAE_OK;
}

/* ---- socket inode -> owners ----------------------------------------- */

typedef struct socket_owner {
    uint64_t inode;
    pid_t pid;
} socket_owner;

struct procfs_socket_owners {
    socket_owner *items;
    size_t count;
    size_t cap;
};

static int owners_add(procfs_socket_owners *o, uint64_t inode, pid_t pid) {
    if (o->count == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        socket_owner *grown = realloc(o->items, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        o->items = grown;
        o->cap = cap;
    }
    o->items[o->count++] = (socket_owner){inode, pid};
    return HAE_OK;
}

static int collect_fds(void *ctx, pid_t pid) {
    procfs_socket_owners *o = ctx;
    char path[128];
    snprintf(path, sizeof path, "%s/%d/fd", procfs_root(), (int)pid);
    DIR *dir = opendir(path);
    if (!dir) {
        return HAE_OK; /* exited, or not ours to read */
    }
    int rc = HAE_OK;
    struct dirent *d;
    while (rc == HAE_OK && (d = readdir(dir)) != NULL) {
        char link[512], target[64];
        snprintf(link, sizeof link, "%s/%s", path, d->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 8) continue;
        target[n] = '\0';
        unsigned long long inode;
        if (sscanf(target, "socket:[%llu]", &inode) == 1) {
            rc = owners_add(o, inode, pid);
        }
    }
    closedir(dir);
    return rc;
}

static int compare_owner(const void *a, const void *b) {
    const socket_owner *x = a, *y = b;
    if (x->inode != y->inode) return x->inode < y->inode ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

int procfs_socket_owners_load(procfs_socket_owners **out, hae_err *err) {
    procfs_socket_owners *o = calloc(1, sizeof *o);
    if (!o) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    int rc = procfs_each_pid(collect_fds, o, err);
    if (rc == HAE_ENOMEM) {
        hae_err_set(err, rc, "out of memory mapping sockets to processes");
    }
    if (rc < 0) {
        procfs_socket_owners_free(o);
        return rc;
    }
    if (o->count) {
        qsort(o->items, o->count, sizeof *o->items, compare_owner);
    }
    *out = o;
    return HAE_OK;
}

size_t procfs_socket_owners_find(const procfs_socket_owners *o, uint64_t inode, pid_t *pids,
                                 size_t max) {
    size_t lo = 0, hi = o->count;
    while (lo < hi) { /* first index with items[i].inode >= inode */
        size_t mid = lo + (hi - lo) / 2;
        if (o->items[mid].inode < inode) lo = mid + 1;
        else hi = mid;
    }
    size_t found = 0;
    for (size_t i = lo; i < o->count && o->items[i].inode == inode; i++) {
        if (found < max) pids[found] = o->items[i].pid;
        found++;
    }
    return found;
}

void procfs_socket_owners_free(procfs_socket_owners *o) {
    if (o) {
        free(o->items);
        free(o);
    }
}

/* Every exec event names its user; getpwuid_r parses /etc/passwd (or asks
 * NSS) each time. A few recent answers, kept for a minute so a renamed or
 * new account shows up soon, spare the agent most of that work. */
enum { USER_CACHE_SLOTS = 16 };
static const int64_t USER_CACHE_TTL_NS = 60LL * 1000000000;

typedef struct user_cache_slot {
    uid_t uid;
    int64_t looked_up_ns; /* 0: empty */
    char name[64];
} user_cache_slot;

static user_cache_slot user_cache[USER_CACHE_SLOTS];
static pthread_mutex_t user_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void lookup_user_name(uid_t uid, char out[64]) {
    struct passwd pw, *result = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &result) == 0 && result) {
        snprintf(out, 64, "%s", result->pw_name);
    } else {
        snprintf(out, 64, "%u", (unsigned)uid);
    }
}

void procfs_user_name(uid_t uid, char out[64]) {
    int64_t now = hae_time_monotonic_ns();
    user_cache_slot *slot = &user_cache[uid % USER_CACHE_SLOTS];
    pthread_mutex_lock(&user_cache_lock);
    bool is_fresh = slot->looked_up_ns && slot->uid == uid &&
                    now - slot->looked_up_ns < USER_CACHE_TTL_NS;
    if (is_fresh) memcpy(out, slot->name, 64);
    pthread_mutex_unlock(&user_cache_lock);
    if (is_fresh) return;
    lookup_user_name(uid, out);
    pthread_mutex_lock(&user_cache_lock);
    *slot = (user_cache_slot){.uid = uid, .looked_up_ns = now};
    memcpy(slot->name, out, 64);
    pthread_mutex_unlock(&user_cache_lock);
}
