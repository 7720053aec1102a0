/* fim hash: SHA-256 of every regular file in a walk, in worker threads.
 * Workers take the next file from a shared atomic index, so a few huge
 * files do not leave the other workers idle. Files are read with large
 * buffers and POSIX_FADV_SEQUENTIAL (readahead doubles; mmap measured no
 * faster here and turns a truncated file into SIGBUS). A file is opened
 * O_NOFOLLOW|O_NONBLOCK and must still be the walked inode: a file swapped
 * for a FIFO or symlink mid-scan is reported, never followed or blocked on. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

#define HASH_BUFFER (1024 * 1024)

void fim_hex(const unsigned char *bytes, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

int fim_hash_fd(int fd, unsigned char *buffer, size_t buffer_len,
                unsigned char digest[FIM_SHA256_LEN], hae_err *err) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return hae_err_set(err, HAE_ENOMEM, "cannot allocate a SHA-256 context");
    int rc = HAE_OK;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = hae_err_set(err, HAE_ENOTSUP, "OpenSSL has no SHA-256");
    }
    while (rc == HAE_OK) {
        ssize_t n = read(fd, buffer, buffer_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = hae_err_errno(err, errno, "read");
        } else if (n == 0) {
            break;
        } else if (EVP_DigestUpdate(ctx, buffer, (size_t)n) != 1) {
            rc = hae_err_set(err, HAE_EIO, "SHA-256 update failed");
        }
    }
    unsigned int out_len = 0;
    if (rc == HAE_OK && (EVP_DigestFinal_ex(ctx, digest, &out_len) != 1 ||
                         out_len != FIM_SHA256_LEN)) {
        rc = hae_err_set(err, HAE_EIO, "SHA-256 final failed");
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* Problems found by workers are queued and reported from the calling
 * thread after the join: a sink need not be thread-safe. */
typedef struct hash_problem {
    size_t index;
    char reason[160];
    bool vanished;
} hash_problem;

typedef struct hash_job {
    fim_entries *list;
    atomic_size_t next;
    pthread_mutex_t lock;
    hash_problem *problems;
    size_t problem_count;
    size_t problem_cap;
    int fatal;  /* HAE_ENOMEM from a worker */
    atomic_bool done;
} hash_job;

static void add_problem(hash_job *job, size_t index, const char *reason, bool vanished) {
    pthread_mutex_lock(&job->lock);
    if (job->problem_count == job->problem_cap) {
        size_t cap = job->problem_cap ? job->problem_cap * 2 : 16;
        hash_problem *grown = realloc(job->problems, cap * sizeof *grown);
        if (!grown) {
            job->fatal = HAE_ENOMEM;
            pthread_mutex_unlock(&job->lock);
            return;
        }
        job->problems = grown;
        job->problem_cap = cap;
    }
    hash_problem *p = &job->problems[job->problem_count++];
    p->index = index;
    p->vanished = vanished;
    snprintf(p->reason, sizeof p->reason, "%s", reason);
    pthread_mutex_unlock(&job->lock);
}

static void hash_one(hash_job *job, size_t index, unsigned char *buffer) {
    fim_entry *e = &job->list->items[index];
    /* O_NOATIME keeps a scan from dirtying every inode; only the owner
     * (or root) may ask for it, so fall back without it on EPERM. */
    int fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOATIME);
    if (fd < 0 && errno == EPERM) {
        fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    }
    if (fd < 0) {
        int saved = errno;
        e->flags |= FIM_UNREADABLE;
        add_problem(job, index, saved == ENOENT ? "vanished during scan" : strerror(saved),
                    saved == ENOENT);
        return;
    }
    struct stat st;
    hae_err err = {0};
    if (fstat(fd, &st) != 0) {
        add_problem(job, index, strerror(errno), false);
        e->flags |= FIM_UNREADABLE;
    } else if (!S_ISREG(st.st_mode) || st.st_ino != e->inode || st.st_dev != e->device) {
        add_problem(job, index, "replaced by another file during scan", false);
        e->flags |= FIM_UNREADABLE;
    } else {
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* advice only */
        if (fim_hash_fd(fd, buffer, HASH_BUFFER, e->sha256, &err) == HAE_OK) {
            e->flags |= FIM_HAS_HASH;
            e->flags &= (uint8_t)~FIM_UNREADABLE;
        } else {
            add_problem(job, index, err.msg, false);
            e->flags |= FIM_UNREADABLE;
        }
    }
    close(fd);
}

static void *hash_worker(void *arg) {
    hash_job *job = arg;
    unsigned char *buffer = malloc(HASH_BUFFER);
    if (!buffer) {
        pthread_mutex_lock(&job->lock);
        job->fatal = HAE_ENOMEM;
        pthread_mutex_unlock(&job->lock);
        return NULL;
    }
    for (;;) {
        size_t index = atomic_fetch_add(&job->next, 1);
        if (index >= job->list->count) break;
        if (job->list->items[index].type == FIM_TYPE_REGULAR) {
            hash_one(job, index, buffer);
        }
    }
    free(buffer);
    return NULL;
}

/* Cold cache, the workers wait on the disk one file each: a prefetcher
 * keeps PREFETCH_AHEAD files ahead of them in flight with
 * POSIX_FADV_WILLNEED (asynchronous readahead), so the device sees a deep
 * queue while the hashing worker count stays what was asked. On a warm
 * cache it costs one open/close per file. */
#define PREFETCH_AHEAD 64

static void *prefetch_worker(void *arg) {
    hash_job *job = arg;
    for (size_t i = 0; i < job->list->count && !atomic_load(&job->done); i++) {
        while (i > atomic_load(&job->next) + PREFETCH_AHEAD && !atomic_load(&job->done)) {
            usleep(200);
        }
        const fim_entry *e = &job->list->items[i];
        if (e->type != FIM_TYPE_REGULAR || e->size == 0) continue;
        int fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOATIME);
        if (fd < 0) continue; /* the worker reports it */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED); /* advice only */
        close(fd);
    }
    return NULL;
}

static unsigned worker_count(unsigned threads, size_t files) {
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (unsigned)cores : 1;
    }
    if (threads > 256) threads = 256;
    if (files < threads) threads = files ? (unsigned)files : 1;
    return threads;
}

/* Reports queued problems; a file that vanished is dropped from the list
 * (it no longer exists, so it is neither baseline nor current state). */
static int report_problems(hash_job *job, const hae_sink *sink) {
    int rc = HAE_OK;
    for (size_t i = 0; i < job->problem_count && rc >= 0; i++) {
        const fim_entry *e = &job->list->items[job->problems[i].index];
        rc = fim_report_error(sink, e->path, e->path_len, job->problems[i].reason);
    }
    for (size_t i = 0; i < job->problem_count; i++) {
        if (job->problems[i].vanished) job->list->items[job->problems[i].index].type = 0;
    }
    size_t out = 0;
    for (size_t i = 0; i < job->list->count; i++) {
        if (job->list->items[i].type != 0) job->list->items[out++] = job->list->items[i];
    }
    job->list->count = out;
    return rc;
}

int fim_hash_entries(fim_entries *list, unsigned threads, const hae_sink *sink, hae_err *err) {
    hash_job job = {.list = list};
    atomic_init(&job.next, 0);
    atomic_init(&job.done, false);
    if (pthread_mutex_init(&job.lock, NULL) != 0) {
        return hae_err_set(err, HAE_EIO, "fim: cannot create a mutex");
    }
    unsigned n = worker_count(threads, list->count);
    pthread_t *ids = calloc(n, sizeof *ids);
    if (!ids) {
        pthread_mutex_destroy(&job.lock);
        return hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
    }
    unsigned started = 0;
    for (; started < n; started++) {
        if (pthread_create(&ids[started], NULL, hash_worker, &job) != 0) break;
    }
    pthread_t prefetcher;
    bool prefetching = getenv("HAETAE_FIM_NO_PREFETCH") == NULL &&
                       pthread_create(&prefetcher, NULL, prefetch_worker, &job) == 0;
    if (started == 0) hash_worker(&job); /* no threads at all: hash inline */
    for (unsigned i = 0; i < started; i++) pthread_join(ids[i], NULL);
    atomic_store(&job.done, true);
    if (prefetching) pthread_join(prefetcher, NULL);
    free(ids);
    int rc = job.fatal;
    if (rc < 0) {
        hae_err_set(err, rc, "fim: out of memory while hashing");
    } else {
        rc = report_problems(&job, sink);
        if (rc < 0 && err && err->code == 0) hae_err_set(err, rc, "fim: sink refused an event");
    }
    free(job.problems);
    pthread_mutex_destroy(&job.lock);
    return rc < 0 ? rc : HAE_OK;
}
