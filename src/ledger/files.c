/* Small file and encoding helpers for the ledger (ledger_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/ledger_int.h"

int ledger_crypto_init(hae_err *err) {
    if (sodium_init() < 0) {
        return hae_err_set(err, HAE_ENOTSUP, "ledger: libsodium failed to initialise");
    }
    return HAE_OK;
}

int ledger_base64_append(hae_buf *out, const void *bytes, size_t len) {
    size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    int rc = hae_buf_reserve(out, need);
    if (rc < 0) return rc;
    sodium_bin2base64(out->data + out->len, need, bytes, len, sodium_base64_VARIANT_ORIGINAL);
    out->len += need - 1; /* need counts the NUL */
    return HAE_OK;
}

int ledger_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap,
                         size_t *out_len) {
    const char *end = NULL;
    size_t n = 0;
    if (len == 0) {
        *out_len = 0;
        return HAE_OK;
    }
    if (sodium_base642bin(out, cap, text, len, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text + len) {
        return HAE_EINVAL;
    }
    *out_len = n;
    return HAE_OK;
}

int ledger_file_read(const char *path, size_t max, hae_buf *out, hae_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hae_err_errno(err, errno, "%s", path);
    int rc = HAE_OK;
    char chunk[8192];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = hae_err_errno(err, errno, "%s", path);
            break;
        }
        if (n == 0) break;
        total += (size_t)n;
        if (total > max) {
            rc = hae_err_set(err, HAE_ELIMIT, "%s: larger than %zu bytes", path, max);
            break;
        }
        rc = hae_buf_append(out, chunk, (size_t)n);
        if (rc < 0) {
            hae_err_set(err, rc, "%s: out of memory", path);
            break;
        }
    }
    close(fd);
    if (rc == HAE_OK && !out->data) rc = hae_buf_append(out, "", 0);
    return rc;
}

int ledger_fsync_dir(const char *dir, hae_err *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return hae_err_errno(err, errno, "%s", dir);
    int rc = fsync(fd) == 0 ? HAE_OK : hae_err_errno(err, errno, "fsync %s", dir);
    close(fd);
    return rc;
}

int ledger_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                             hae_err *err) {
    return hae_file_write_atomic(path, data, len, mode, err);
}

int ledger_mkdir_p(const char *path, hae_err *err) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        return hae_err_set(err, HAE_EINVAL, "%s: path too long", path);
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) return hae_err_errno(err, errno, "%s", buf);
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return hae_err_errno(err, errno, "%s", buf);
    return HAE_OK;
}
