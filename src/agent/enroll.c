/* Enrollment (docs/PROTOCOL.md "Enrollment"): a fresh Ed25519 key pair,
 * registered with the server over a pinned TLS 1.3 connection. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/transport_internal.h"

enum { TOKEN_SECRET_MAX = 256 };

bool agent_is_enrolled(const char *state_dir) {
    char path[AGENT_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", state_dir, AGENT_SERVER_FILE) >= (int)sizeof path) {
        return false;
    }
    return access(path, F_OK) == 0;
}

bool agent_is_enrolled_with(const char *state_dir, const char *url, const char *pin) {
    agent_server_info info;
    if (agent_server_info_load(state_dir, &info, NULL) < 0) return false;
    size_t url_len = strlen(url);
    while (url_len > 8 && url[url_len - 1] == '/') url_len--;
    return strlen(info.url) == url_len && strncmp(info.url, url, url_len) == 0 &&
           strcmp(info.pin, pin) == 0;
}

static int build_request(const char *secret, const char *hostname,
                         const unsigned char pk[AGENT_PUBLIC_KEY_LEN], hae_buf *out) {
    char pk_b64[sodium_base64_ENCODED_LEN(AGENT_PUBLIC_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(pk_b64, sizeof pk_b64, pk, AGENT_PUBLIC_KEY_LEN,
                      sodium_base64_VARIANT_ORIGINAL);
    int rc = hae_buf_append_str(out, "{\"token\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, secret, strlen(secret));
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"hostname\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, hostname, strlen(hostname));
    if (rc == HAE_OK) {
        rc = hae_buf_printf(out, ",\"public_key\":\"%s\",\"version\":\"%s\"}", pk_b64,
                            HAETAE_VERSION);
    }
    return rc;
}

/* POSTs the request; on 201 fills agent_id. */
static int register_key(const http_peer *peer, const char *request, size_t len,
                        char agent_id[HAE_ID_LEN], hae_err *err) {
    http_client *client = NULL;
    int rc = http_client_open(&client, peer, NULL, err);
    if (rc < 0) return rc;
    static const char *const headers[] = {"Content-Type: application/json",
                                          "Accept: application/json"};
    http_response resp = {0};
    rc = http_post(client, "/api/v1/enroll", headers, 2, request, len, &resp, err);
    if (rc == HAE_OK && resp.status == 201) {
        rc = agent_parse_enroll_reply(resp.body.data ? resp.body.data : "", resp.body.len,
                                      agent_id, err);
    } else if (rc == HAE_OK) {
        char why[300];
        agent_describe_error_reply(resp.body.data ? resp.body.data : "", resp.body.len, why,
                                   sizeof why);
        rc = hae_err_set(err, resp.status == 401 || resp.status == 403 ? HAE_EPERM : HAE_EIO,
                         "%s refused the enrollment: HTTP %ld %s", peer->url, resp.status, why);
    }
    http_response_free(&resp);
    http_client_close(client);
    return rc;
}

static int check_options(const agent_enroll_options *opt, hae_err *err) {
    if (!opt->server_url || strncmp(opt->server_url, "https://", 8) != 0) {
        return hae_err_set(err, HAE_EINVAL, "--server must be an https:// URL");
    }
    if (strlen(opt->server_url) >= AGENT_URL_MAX) {
        return hae_err_set(err, HAE_EINVAL, "--server: URL longer than %d bytes", AGENT_URL_MAX);
    }
    if (!opt->token || !opt->state_dir) {
        return hae_err_set(err, HAE_EINVAL, "enrollment needs a token and a state directory");
    }
    if (opt->ca_file && (strlen(opt->ca_file) >= AGENT_PATH_MAX || access(opt->ca_file, R_OK) != 0)) {
        return hae_err_errno(err, errno, "--ca %s", opt->ca_file);
    }
    if (sodium_init() < 0) return hae_err_set(err, HAE_EIO, "libsodium cannot start");
    if (mkdir(opt->state_dir, 0700) != 0 && errno != EEXIST) {
        return hae_err_errno(err, errno, "state directory %s", opt->state_dir);
    }
    return HAE_OK;
}

int agent_enroll(const agent_enroll_options *opt, char agent_id[HAE_ID_LEN], hae_err *err) {
    int rc = check_options(opt, err);
    if (rc < 0) return rc;
    char secret[TOKEN_SECRET_MAX];
    agent_server_info info = {0};
    rc = agent_token_split(opt->token, secret, sizeof secret, info.pin, err);
    if (rc == HAE_OK && !info.pin[0] && !opt->ca_file) {
        rc = hae_err_set(err, HAE_EINVAL, "the token carries no pin: give the server's CA with --ca");
    }
    if (rc < 0) return rc;
    size_t url_len = strlen(opt->server_url);
    while (url_len > 8 && opt->server_url[url_len - 1] == '/') url_len--;
    memcpy(info.url, opt->server_url, url_len);
    info.url[url_len] = '\0';
    if (opt->ca_file) {
        /* Kept absolute: the agent may later run from another directory. */
        char *abs = realpath(opt->ca_file, NULL);
        if (!abs || strlen(abs) >= sizeof info.ca_file) {
            free(abs);
            return hae_err_errno(err, errno ? errno : ENAMETOOLONG, "--ca %s", opt->ca_file);
        }
        memcpy(info.ca_file, abs, strlen(abs) + 1);
        free(abs);
    }

    unsigned char pk[AGENT_PUBLIC_KEY_LEN], sk[AGENT_SECRET_KEY_LEN];
    crypto_sign_keypair(pk, sk);
    hae_buf request = {0};
    if (build_request(secret, opt->hostname ? opt->hostname : hae_host_name(), pk, &request) < 0) {
        rc = hae_err_set(err, HAE_ENOMEM, "enroll: out of memory");
    }
    sodium_memzero(secret, sizeof secret);
    http_peer peer = {.url = info.url, .pin = info.pin, .ca_file = info.ca_file};
    if (rc == HAE_OK) rc = register_key(&peer, request.data, request.len, info.agent_id, err);
    sodium_memzero(request.data, request.len);
    hae_buf_free(&request);

    /* The key first, server.json last: server.json is what "enrolled" means. */
    if (rc == HAE_OK) {
        rc = agent_write_file_atomic(opt->state_dir, AGENT_KEY_FILE, sk, sizeof sk, 0600, err);
    }
    sodium_memzero(sk, sizeof sk);
    hae_buf json = {0};
    if (rc == HAE_OK && agent_server_info_encode(&info, &json) < 0) {
        rc = hae_err_set(err, HAE_ENOMEM, "enroll: out of memory");
    }
    if (rc == HAE_OK) {
        rc = agent_write_file_atomic(opt->state_dir, AGENT_SERVER_FILE, json.data, json.len, 0600,
                                     err);
    }
    hae_buf_free(&json);
    if (rc == HAE_OK) memcpy(agent_id, info.agent_id, HAE_ID_LEN);
    return rc;
}
