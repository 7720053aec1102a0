/* Event batches as docs/PROTOCOL.md "Event batches" defines them: gzip body,
 * signing string, Ed25519 signature; the persisted batch sequence; the
 * back-off schedule. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/transport_internal.h"

int batch_compress(const void *data, size_t len, hae_buf *out, hae_err *err) {
    hae_buf_reset(out);
    z_stream z = {0};
    /* windowBits 15 + 16: a gzip wrapper (RFC 1952), which Content-Encoding:
     * gzip names; level 6 is zlib's balance of speed and size. */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return hae_err_set(err, HAE_ENOMEM, "batch: zlib cannot start");
    }
    if (len > UINT_MAX) {
        deflateEnd(&z);
        return hae_err_set(err, HAE_ELIMIT, "batch: %zu bytes is too large to compress", len);
    }
    size_t bound = deflateBound(&z, (uLong)len);
    int rc = hae_buf_reserve(out, bound + 1);
    if (rc < 0) {
        deflateEnd(&z);
        return hae_err_set(err, rc, "batch: out of memory for %zu compressed bytes", bound);
    }
    /* zlib's next_in is not const-qualified but deflate never writes it. */
    Bytef *input;
    memcpy(&input, &data, sizeof input);
    z.next_in = input;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)bound;
    int zrc = deflate(&z, Z_FINISH);
    out->len = z.total_out;
    out->data[out->len] = '\0';
    deflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        return hae_err_set(err, HAE_EIO, "batch: gzip failed (zlib %d)", zrc);
    }
    return HAE_OK;
}

int batch_signing_string(const char *agent_id, uint64_t seq, const char *send_time,
                         const void *body, size_t body_len, hae_buf *out) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, body, body_len);
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    hae_buf_reset(out);
    return hae_buf_printf(out, "haetae-batch-v1\n%s\n%" PRIu64 "\n%s\n%s", agent_id, seq,
                          send_time, hex);
}

int batch_sign(const unsigned char sk[AGENT_SECRET_KEY_LEN], const char *agent_id, uint64_t seq,
               const char *send_time, const void *body, size_t body_len,
               char signature[AGENT_SIGNATURE_B64_LEN], hae_err *err) {
    hae_buf text = {0};
    int rc = batch_signing_string(agent_id, seq, send_time, body, body_len, &text);
    if (rc < 0) {
        hae_buf_free(&text);
        return hae_err_set(err, rc, "batch: out of memory for the signing string");
    }
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)text.data, text.len, sk);
    sodium_bin2base64(signature, AGENT_SIGNATURE_B64_LEN, sig, sizeof sig,
                      sodium_base64_VARIANT_ORIGINAL);
    hae_buf_free(&text);
    return HAE_OK;
}

/* ---- files in the state directory ------------------------------------- */

static int write_fully(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int agent_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
                            unsigned mode, hae_err *err) {
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return hae_err_errno(err, errno, "%s", dir);
    char tmp[256];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", name) >= (int)sizeof tmp) {
        close(dir_fd);
        return hae_err_set(err, HAE_EINVAL, "%s: file name too long", name);
    }
    int rc = HAE_OK;
    int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0 || fchmod(fd, (mode_t)mode) != 0 || write_fully(fd, data, len) != 0 ||
        fsync(fd) != 0) {
        rc = hae_err_errno(err, errno, "%s/%s", dir, tmp);
    }
    if (fd >= 0) close(fd);
    if (rc == HAE_OK && renameat(dir_fd, tmp, dir_fd, name) != 0) {
        rc = hae_err_errno(err, errno, "%s/%s: rename", dir, name);
    }
    /* The rename is durable only once the directory is. */
    if (rc == HAE_OK && fsync(dir_fd) != 0) rc = hae_err_errno(err, errno, "%s: fsync", dir);
    if (rc < 0) unlinkat(dir_fd, tmp, 0);
    close(dir_fd);
    return rc;
}

/* Reads a small file (at most max bytes) into out, NUL-terminated. */
static int read_small_file(const char *dir, const char *name, char *out, size_t max, size_t *len,
                           hae_err *err) {
    char path[AGENT_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        return hae_err_set(err, HAE_EINVAL, "%s: path too long", dir);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hae_err_errno(err, errno, "%s", path);
    size_t got = 0;
    int rc = HAE_OK;
    while (got < max) {
        ssize_t n = read(fd, out + got, max - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = hae_err_errno(err, errno, "%s: read", path);
            break;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    char extra;
    if (rc == HAE_OK && got == max && read(fd, &extra, 1) > 0) {
        rc = hae_err_set(err, HAE_EINVAL, "%s: larger than %zu bytes", path, max);
    }
    close(fd);
    out[got < max ? got : max - 1] = '\0';
    *len = got;
    return rc;
}

int agent_seq_load(const char *state_dir, uint64_t *seq, hae_err *err) {
    char text[32];
    size_t len = 0;
    hae_err why = {0};
    int rc = read_small_file(state_dir, AGENT_SEQ_FILE, text, sizeof text - 1, &len, &why);
    if (rc == HAE_ENOENT) {
        *seq = 0;
        return HAE_OK;
    }
    if (rc < 0) return hae_err_set(err, rc, "%s", why.msg);
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (len == 0 || text[0] < '0' || text[0] > '9' || errno != 0 ||
        (*end != '\0' && *end != '\n')) {
        return hae_err_set(err, HAE_EINVAL, "%s/%s: not a batch sequence number", state_dir,
                           AGENT_SEQ_FILE);
    }
    *seq = value;
    return HAE_OK;
}

int agent_seq_store(const char *state_dir, uint64_t seq, hae_err *err) {
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", seq);
    return agent_write_file_atomic(state_dir, AGENT_SEQ_FILE, text, (size_t)n, 0600, err);
}

int agent_key_load(const char *state_dir, unsigned char sk[AGENT_SECRET_KEY_LEN], hae_err *err) {
    char data[AGENT_SECRET_KEY_LEN + 1];
    size_t len = 0;
    int rc = read_small_file(state_dir, AGENT_KEY_FILE, data, sizeof data, &len, err);
    if (rc < 0) return rc;
    unsigned char pk[AGENT_PUBLIC_KEY_LEN], derived[AGENT_SECRET_KEY_LEN];
    /* A libsodium secret key is seed + public key: derive the pair from
     * the seed again and check the stored public half matches. */
    bool is_valid = len == AGENT_SECRET_KEY_LEN &&
                    crypto_sign_seed_keypair(pk, derived, (const unsigned char *)data) == 0 &&
                    sodium_memcmp(pk, data + 32, sizeof pk) == 0;
    sodium_memzero(derived, sizeof derived);
    if (!is_valid) {
        sodium_memzero(data, sizeof data);
        return hae_err_set(err, HAE_EINVAL, "%s/%s: not an Ed25519 secret key (%zu bytes)",
                           state_dir, AGENT_KEY_FILE, len);
    }
    memcpy(sk, data, AGENT_SECRET_KEY_LEN);
    sodium_memzero(data, sizeof data);
    return HAE_OK;
}

/* ---- back-off --------------------------------------------------------- */

uint32_t agent_backoff_ms(unsigned attempt, uint32_t max_s, uint32_t random) {
    uint64_t max_ms = (uint64_t)(max_s ? max_s : 300) * 1000;
    uint64_t delay = 1000;
    for (unsigned i = 0; i < attempt && delay < max_ms; i++) delay *= 2;
    if (delay > max_ms) delay = max_ms;
    uint64_t half = delay / 2;
    return (uint32_t)(half + (half ? random % (half + 1) : 0));
}
