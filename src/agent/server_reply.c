/* Everything the agent reads that came from elsewhere: the enrollment token,
 * server.json, the server's replies and its Retry-After header. Pure
 * functions over bytes (tests/fuzz/fuzz_agent_reply.c feeds them). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/transport_internal.h"

/* ---- enrollment token ------------------------------------------------- */

static bool is_base64url(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

int agent_token_split(const char *token, char *secret, size_t secret_size, char pin[AGENT_PIN_MAX],
                      hae_err *err) {
    const char *dot = strchr(token, '.');
    size_t secret_len = dot ? (size_t)(dot - token) : strlen(token);
    const char *pin_text = dot ? dot + 1 : "";
    size_t pin_len = strlen(pin_text);
    if (secret_len == 0 || secret_len >= secret_size || !is_base64url(token, secret_len)) {
        return hae_err_set(err, HAE_EINVAL,
                           "token: the secret before '.' must be base64url (from `haetae server "
                           "token create`)");
    }
    if (pin_len >= AGENT_PIN_MAX || !is_base64url(pin_text, pin_len)) {
        return hae_err_set(err, HAE_EINVAL, "token: the pin after '.' must be base64url");
    }
    memcpy(secret, token, secret_len);
    secret[secret_len] = '\0';
    memcpy(pin, pin_text, pin_len + 1);
    return HAE_OK;
}

int agent_pin_to_curl(const char *pin, char *out, size_t out_size, hae_err *err) {
    unsigned char hash[crypto_hash_sha256_BYTES];
    size_t hash_len = 0;
    if (sodium_base642bin(hash, sizeof hash, pin, strlen(pin), NULL, &hash_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        hash_len != sizeof hash) {
        return hae_err_set(err, HAE_EINVAL,
                           "pin '%.64s': not the base64url SHA-256 of a public key", pin);
    }
    /* CURLOPT_PINNEDPUBLICKEY takes "sha256//" and standard, padded base64. */
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, hash, sizeof hash, sodium_base64_VARIANT_ORIGINAL);
    if (snprintf(out, out_size, "sha256//%s", b64) >= (int)out_size) {
        return hae_err_set(err, HAE_EINVAL, "pin: buffer too small");
    }
    return HAE_OK;
}

/* ---- JSON helpers ------------------------------------------------------- */

/* Copies a string member into out; absent is "" unless required. */
static int copy_string(const hae_json *obj, const char *key, char *out, size_t out_size,
                       bool is_required, hae_err *err) {
    const hae_json *m = hae_json_member(obj, key);
    out[0] = '\0';
    if (!m) {
        return is_required ? hae_err_set(err, HAE_EINVAL, "member \"%s\" is missing", key)
                           : HAE_OK;
    }
    if (m->type != HAE_JSON_STRING) {
        return hae_err_set(err, HAE_EINVAL, "member \"%s\" is not a string", key);
    }
    if (m->text_len >= out_size || memchr(m->text, '\0', m->text_len)) {
        return hae_err_set(err, HAE_EINVAL, "member \"%s\" is longer than %zu bytes or holds NUL",
                           key, out_size - 1);
    }
    memcpy(out, m->text, m->text_len);
    out[m->text_len] = '\0';
    return HAE_OK;
}

static int copy_uint(const hae_json *obj, const char *key, uint64_t *out, hae_err *err) {
    const hae_json *m = hae_json_member(obj, key);
    if (!m) return hae_err_set(err, HAE_EINVAL, "member \"%s\" is missing", key);
    char text[24];
    if (m->type != HAE_JSON_NUMBER || m->text_len == 0 || m->text_len >= sizeof text ||
        m->text[0] == '-') {
        return hae_err_set(err, HAE_EINVAL, "member \"%s\" is not a non-negative integer", key);
    }
    memcpy(text, m->text, m->text_len);
    text[m->text_len] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return hae_err_set(err, HAE_EINVAL, "member \"%s\" is not a non-negative integer", key);
    }
    *out = v;
    return HAE_OK;
}

static int parse_object(const char *text, size_t len, hae_arena *arena, const hae_json **out,
                        hae_err *err) {
    hae_json *root = NULL;
    int rc = hae_json_parse(text, len, arena, &root, err);
    if (rc < 0) return rc;
    if (root->type != HAE_JSON_OBJECT) return hae_err_set(err, HAE_EINVAL, "not a JSON object");
    *out = root;
    return HAE_OK;
}

static bool is_uuid(const char *s) {
    if (strlen(s) != HAE_ID_LEN - 1) return false;
    for (size_t i = 0; s[i]; i++) {
        bool is_dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool is_hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                      (s[i] >= 'A' && s[i] <= 'F');
        if (is_dash ? s[i] != '-' : !is_hex) return false;
    }
    return true;
}

/* ---- server.json ------------------------------------------------------ */

int agent_server_info_encode(const agent_server_info *info, hae_buf *out) {
    int rc = hae_buf_append_str(out, "{\"url\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, info->url, strlen(info->url));
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"agent_id\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, info->agent_id, strlen(info->agent_id));
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"pin\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, info->pin, strlen(info->pin));
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"ca\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, info->ca_file, strlen(info->ca_file));
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "}\n");
    return rc;
}

int agent_server_info_parse(const char *text, size_t len, agent_server_info *out, hae_err *err) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    memset(out, 0, sizeof *out);
    int rc = parse_object(text, len, &arena, &root, err);
    if (rc == HAE_OK) rc = copy_string(root, "url", out->url, sizeof out->url, true, err);
    if (rc == HAE_OK) {
        rc = copy_string(root, "agent_id", out->agent_id, sizeof out->agent_id, true, err);
    }
    if (rc == HAE_OK) rc = copy_string(root, "pin", out->pin, sizeof out->pin, false, err);
    if (rc == HAE_OK) rc = copy_string(root, "ca", out->ca_file, sizeof out->ca_file, false, err);
    if (rc == HAE_OK && strncmp(out->url, "https://", 8) != 0) {
        rc = hae_err_set(err, HAE_EINVAL, "member \"url\" must start with https://");
    }
    if (rc == HAE_OK && !is_uuid(out->agent_id)) {
        rc = hae_err_set(err, HAE_EINVAL, "member \"agent_id\" is not a UUID");
    }
    if (rc == HAE_OK && !out->pin[0] && !out->ca_file[0]) {
        rc = hae_err_set(err, HAE_EINVAL, "neither \"pin\" nor \"ca\": the server cannot be "
                                          "authenticated");
    }
    hae_arena_free(&arena);
    return rc;
}

int agent_server_info_load(const char *state_dir, agent_server_info *out, hae_err *err) {
    char path[AGENT_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", state_dir, AGENT_SERVER_FILE) >= (int)sizeof path) {
        return hae_err_set(err, HAE_EINVAL, "%s: path too long", state_dir);
    }
    FILE *f = fopen(path, "re");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    char text[8192];
    size_t len = fread(text, 1, sizeof text, f);
    bool is_error = ferror(f) != 0;
    fclose(f);
    if (is_error) return hae_err_set(err, HAE_EIO, "%s: read error", path);
    if (len == sizeof text) return hae_err_set(err, HAE_EINVAL, "%s: larger than 8 KiB", path);
    int rc = agent_server_info_parse(text, len, out, err);
    return rc < 0 ? hae_err_prefix(err, "%s: ", path) : HAE_OK;
}

/* ---- replies ---------------------------------------------------------- */

int agent_parse_enroll_reply(const char *text, size_t len, char agent_id[HAE_ID_LEN],
                             hae_err *err) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    int rc = parse_object(text, len, &arena, &root, err);
    if (rc == HAE_OK) rc = copy_string(root, "agent_id", agent_id, HAE_ID_LEN, true, err);
    if (rc == HAE_OK && !is_uuid(agent_id)) {
        rc = hae_err_set(err, HAE_EINVAL, "member \"agent_id\" is not a UUID");
    }
    hae_arena_free(&arena);
    return rc < 0 ? hae_err_prefix(err, "enrollment reply: ") : HAE_OK;
}

int agent_parse_batch_ack(const char *text, size_t len, batch_ack *out, hae_err *err) {
    hae_arena arena = {0};
    const hae_json *root = NULL;
    int rc = parse_object(text, len, &arena, &root, err);
    if (rc == HAE_OK) rc = copy_uint(root, "batch", &out->batch, err);
    if (rc == HAE_OK) rc = copy_uint(root, "stored", &out->stored, err);
    if (rc == HAE_OK) rc = copy_uint(root, "duplicates", &out->duplicates, err);
    hae_arena_free(&arena);
    return rc < 0 ? hae_err_prefix(err, "batch acknowledgement: ") : HAE_OK;
}

static void printable_copy(const char *text, size_t len, char *out, size_t out_size) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < out_size; i++) {
        unsigned char c = (unsigned char)text[i];
        out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
}

void agent_describe_error_reply(const char *text, size_t len, char *out, size_t out_size) {
    if (out_size == 0) return;
    hae_arena arena = {0};
    const hae_json *root = NULL;
    char code[64], message[256];
    if (parse_object(text, len, &arena, &root, NULL) == HAE_OK &&
        copy_string(root, "error", code, sizeof code, true, NULL) == HAE_OK) {
        if (copy_string(root, "message", message, sizeof message, false, NULL) < 0) {
            message[0] = '\0';
        }
        char joined[sizeof code + sizeof message + 4];
        int n = snprintf(joined, sizeof joined, "%s%s%s", code, message[0] ? ": " : "", message);
        printable_copy(joined, n > 0 ? (size_t)n : 0, out, out_size);
    } else {
        printable_copy(text, len > 200 ? 200 : len, out, out_size);
    }
    hae_arena_free(&arena);
}


/* An HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate, and the two obsolete
 * forms a recipient must still accept. -1 when text is none of them. */
static time_t parse_http_date(const char *text) {
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* Sun, 06 Nov 1994 08:49:37 GMT */
        "%A, %d-%b-%y %H:%M:%S GMT", /* Sunday, 06-Nov-94 08:49:37 GMT */
        "%a %b %d %H:%M:%S %Y",      /* Sun Nov  6 08:49:37 1994 */
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(text, formats[i], &tm);
        if (end && *end == '\0') return timegm(&tm);
    }
    return -1;
}

bool agent_parse_retry_after(const char *value, size_t len, int64_t now_s, uint32_t *seconds) {
    while (len > 0 && (value[0] == ' ' || value[0] == '\t')) value++, len--;
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t' ||
                       value[len - 1] == '\r' || value[len - 1] == '\n')) {
        len--;
    }
    char text[64];
    if (len == 0 || len >= sizeof text) return false;
    memcpy(text, value, len);
    text[len] = '\0';
    if (memchr(text, '\0', len)) return false;
    bool is_digits = true;
    for (size_t i = 0; i < len; i++) is_digits = is_digits && text[i] >= '0' && text[i] <= '9';
    if (is_digits) {
        /* A huge delay is clamped, not wrapped: 10 digits still fit u64. */
        uint64_t v = len > 10 ? UINT32_MAX : strtoull(text, NULL, 10);
        *seconds = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
        return true;
    }
    time_t when = parse_http_date(text);
    if (when < 0) return false;
    int64_t delta = (int64_t)when - now_s;
    *seconds = delta <= 0 ? 0 : delta > UINT32_MAX ? UINT32_MAX : (uint32_t)delta;
    return true;
}
