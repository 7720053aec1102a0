/* Whole-file reads and crash-safe replacement of small files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

int hae_fd_write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int hae_file_read_all(const char *path, hae_buf *out, hae_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return hae_err_errno(err, errno, "%s", path);
    }
    int rc = HAE_OK;
    for (;;) {
        /* Small first reads: most callers read small /proc files. */
        if ((rc = hae_buf_reserve(out, 4096)) < 0) {
            hae_err_set(err, rc, "%s: out of memory", path);
            break;
        }
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = hae_err_errno(err, errno, "%s", path);
            break;
        }
        if (n == 0) break;
        out->len += (size_t)n;
        out->data[out->len] = '\0';
    }
    close(fd);
    return rc;
}

static int fsync_parent(const char *path, hae_err *err) {
    char *copy = strdup(path);
    if (!copy) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = HAE_OK;
    if (fd < 0 || fsync(fd) != 0) {
        rc = hae_err_errno(err, errno, "%s: fsync", dir);
    }
    if (fd >= 0) close(fd);
    free(copy);
    return rc;
}

int hae_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                          hae_err *err) {
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    /* A unique name: two threads replacing the same file never share one. */
    int fd = mkostemp(tmp, O_CLOEXEC);
    int rc = HAE_OK;
    if (fd < 0) {
        rc = hae_err_errno(err, errno, "%s", tmp);
    } else {
        int wrc = fchmod(fd, (mode_t)mode) != 0 ? -errno : hae_fd_write_all(fd, data, len);
        if (wrc == 0 && fsync(fd) != 0) wrc = -errno;
        if (close(fd) != 0 && wrc == 0) wrc = -errno;
        if (wrc < 0) rc = hae_err_errno(err, -wrc, "%s", tmp);
    }
    if (rc == HAE_OK && rename(tmp, path) != 0) {
        rc = hae_err_errno(err, errno, "%s: rename", path);
    }
    if (rc < 0) {
        unlink(tmp); /* nothing half-written is left behind */
    } else {
        rc = fsync_parent(path, err);
    }
    free(tmp);
    return rc;
}
