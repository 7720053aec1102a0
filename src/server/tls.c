/* The server's certificate: a configured PEM pair, or a self-signed ECDSA
 * P-256 certificate made with OpenSSL on first start and kept in
 * DATA/tls (key 0600). Agents do not need a CA: enrollment tokens carry
 * the pin, base64url(SHA-256(DER SubjectPublicKeyInfo)), as kubeadm's
 * discovery hash does. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"

#define CERT_DAYS 3650

static int read_file(const char *path, char **out, hae_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    hae_buf b = {0};
    char chunk[4096];
    size_t n;
    int rc = HAE_OK;
    while (rc == HAE_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = hae_buf_append(&b, chunk, n);
    }
    if (rc == HAE_OK && ferror(f)) rc = hae_err_set(err, HAE_EIO, "%s: read failed", path);
    fclose(f);
    if (rc == HAE_OK && b.len == 0) rc = hae_err_set(err, HAE_EINVAL, "%s: empty file", path);
    if (rc < 0) {
        hae_buf_free(&b);
        return rc;
    }
    *out = b.data;
    return HAE_OK;
}

static char *bio_text(BIO *bio) {
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    return len > 0 ? strndup(data, (size_t)len) : NULL;
}

static int add_san(X509 *cert, hae_err *err) {
    char san[512];
    snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:%s", hae_host_name());
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    if (!ext) return hae_err_set(err, HAE_EINVAL, "cannot build subjectAltName '%s'", san);
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? HAE_OK : hae_err_set(err, HAE_ENOMEM, "cannot add subjectAltName");
}

static int cert_generate(char **cert_pem, char **key_pem, hae_err *err) {
    int rc = HAE_EIO;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    BIO *cert_bio = BIO_new(BIO_s_mem()), *key_bio = BIO_new(BIO_s_mem());
    uint8_t serial[16];
    randombytes_buf(serial, sizeof serial);
    serial[0] &= 0x7f; /* RFC 5280 4.1.2.2: a positive integer */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    if (key && cert && cert_bio && key_bio && bn && name && X509_set_version(cert, 2) &&
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) &&
        X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
        X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * CERT_DAYS) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)"haetae server", -1, -1, 0) &&
        X509_set_issuer_name(cert, name) && X509_set_pubkey(cert, key) &&
        add_san(cert, err) == HAE_OK && X509_sign(cert, key, EVP_sha256()) &&
        PEM_write_bio_X509(cert_bio, cert) &&
        PEM_write_bio_PrivateKey(key_bio, key, NULL, NULL, 0, NULL, NULL)) {
        *cert_pem = bio_text(cert_bio);
        *key_pem = bio_text(key_bio);
        rc = *cert_pem && *key_pem ? HAE_OK : HAE_ENOMEM;
        if (rc == HAE_ENOMEM) hae_err_set(err, rc, "out of memory");
    }
    if (rc == HAE_EIO) hae_err_set(err, rc, "OpenSSL could not make the certificate");
    BN_free(bn);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

static int pin_compute(const char *cert_pem, const char *where, char pin[SERVER_PIN_LEN],
                       hae_err *err) {
    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!cert) return hae_err_set(err, HAE_EINVAL, "%s: not a PEM certificate", where);
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
    X509_free(cert);
    if (len <= 0) return hae_err_set(err, HAE_EINVAL, "%s: cannot encode its public key", where);
    uint8_t hash[32];
    SHA256(der, (size_t)len, hash);
    OPENSSL_free(der);
    sodium_bin2base64(pin, SERVER_PIN_LEN, hash, sizeof hash,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return HAE_OK;
}

static int self_signed(const char *data_dir, char **cert_pem, char **key_pem, hae_err *err) {
    char dir[4096], cert_path[4200], key_path[4200];
    snprintf(dir, sizeof dir, "%s/tls", data_dir);
    snprintf(cert_path, sizeof cert_path, "%s/server.crt", dir);
    snprintf(key_path, sizeof key_path, "%s/server.key", dir);
    if (access(cert_path, F_OK) == 0) {
        int rc = read_file(cert_path, cert_pem, err);
        if (rc == HAE_OK) rc = read_file(key_path, key_pem, err);
        return rc;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return hae_err_errno(err, errno, "%s", dir);
    int rc = cert_generate(cert_pem, key_pem, err);
    /* The key first: a certificate on disk means its key is there too. */
    if (rc == HAE_OK) rc = hae_file_write_atomic(key_path, *key_pem, strlen(*key_pem), 0600, err);
    if (rc == HAE_OK) rc = hae_file_write_atomic(cert_path, *cert_pem, strlen(*cert_pem), 0644, err);
    if (rc == HAE_OK) hae_log(HAE_LOG_INFO, "server: made a self-signed certificate in %s", dir);
    return rc;
}

int server_tls_load(const char *data_dir, const char *cert_file, const char *key_file,
                    char **cert_pem, char **key_pem, char pin[SERVER_PIN_LEN], hae_err *err) {
    *cert_pem = *key_pem = NULL;
    int rc;
    if (cert_file || key_file) {
        if (!cert_file || !key_file) {
            return hae_err_set(err, HAE_EINVAL, "a configured certificate needs both cert and key");
        }
        rc = read_file(cert_file, cert_pem, err);
        if (rc == HAE_OK) rc = read_file(key_file, key_pem, err);
    } else {
        rc = self_signed(data_dir, cert_pem, key_pem, err);
    }
    if (rc == HAE_OK) rc = pin_compute(*cert_pem, cert_file ? cert_file : "tls/server.crt", pin, err);
    if (rc < 0) {
        free(*cert_pem);
        if (*key_pem) sodium_memzero(*key_pem, strlen(*key_pem));
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
    }
    return rc;
}

void server_sha256(const void *data, size_t len, uint8_t out[32]) {
    crypto_hash_sha256(out, data, len);
}

int server_secret_new(char *out, size_t out_size) {
    uint8_t secret[32];
    if (out_size < sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
        return HAE_ELIMIT;
    }
    randombytes_buf(secret, sizeof secret);
    sodium_bin2base64(out, out_size, secret, sizeof secret,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(secret, sizeof secret);
    return HAE_OK;
}

int server_data_write_secret(const char *path, const char *secret, hae_err *err) {
    return hae_file_write_atomic(path, secret, strlen(secret), 0600, err);
}
