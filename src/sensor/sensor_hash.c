/* Hashes the sensors share: content-derived event ids for records that may
 * be read twice, and SHA-256 of an executable for evidence. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "sensor/sensor.h"
#include "sensor/sensor_int.h"

int sensor_stable_id(char out[HAE_ID_LEN], const sensor_id_part *parts, size_t count) {
    unsigned char b[64];
    const char *host = hae_host_name();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_blake2b512(), NULL) &&
              EVP_DigestUpdate(md, host, strlen(host) + 1);
    for (size_t i = 0; ok && i < count; i++) {
        uint64_t len = parts[i].len; /* length-prefixed: parts cannot run into each other */
        ok = EVP_DigestUpdate(md, &len, sizeof len) &&
             EVP_DigestUpdate(md, parts[i].data, parts[i].len);
    }
    ok = ok && EVP_DigestFinal_ex(md, b, NULL);
    EVP_MD_CTX_free(md);
    if (!ok) return HAE_ENOMEM;
    hae_id_format(b, 8, out);
    return HAE_OK;
}

int sensor_sha256_file(const char *path, uint64_t max_bytes, char hex[65]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return errno == ENOENT ? HAE_ENOENT : HAE_EIO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    unsigned char chunk[65536], digest[32];
    uint64_t total = 0;
    ssize_t n = 0;
    while (ok && (n = read(fd, chunk, sizeof chunk)) > 0 && (total += (uint64_t)n) <= max_bytes) {
        ok = EVP_DigestUpdate(md, chunk, (size_t)n);
    }
    int rc = !ok ? HAE_ENOMEM : n < 0 ? HAE_EIO : total > max_bytes ? HAE_ELIMIT : HAE_OK;
    if (rc == HAE_OK && !EVP_DigestFinal_ex(md, digest, NULL)) rc = HAE_ENOMEM;
    EVP_MD_CTX_free(md);
    close(fd);
    for (int i = 0; rc == HAE_OK && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return rc;
}
