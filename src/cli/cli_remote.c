/* How the CLI changes a server's data: through the running server's API,
 * so that the server's clock stamps every moment, transition and report
 * and its ledger writer logs them; a stopped server's store is written
 * directly only when the operator says --offline, and such entries name
 * themselves offline. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/cli.h"

static bool server_answers(const server_endpoint *e, hae_err *err) {
    long status = 0;
    hae_buf reply = {0};
    int rc = agent_https_get(e->url, e->pin, NULL, "/api/v1/health", &status, &reply, err);
    hae_buf_free(&reply);
    if (rc == HAE_OK && status != 200) {
        hae_err_set(err, HAE_EIO, "%s/api/v1/health answered %ld", e->url, status);
    }
    return rc == HAE_OK && status == 200;
}

int cli_writer_open(const char *cmd, const char *data_dir, bool offline, const char *who,
                    cli_writer *w) {
    memset(w, 0, sizeof *w);
    hae_err err = {0};
    int rc = server_data_endpoint(data_dir, &w->endpoint, &err);
    if (rc == HAE_OK && server_answers(&w->endpoint, &err)) {
        w->is_remote = true;
        if (!who) return CLI_EXIT_OK;
        cli_writer_close(w);
        return cli_fail(cmd, CLI_EXIT_USAGE,
                        "--who: the running server records the API token's user; --who is for "
                        "--offline");
    }
    sodium_memzero(&w->endpoint, sizeof w->endpoint);
    if (offline) return CLI_EXIT_OK;
    if (rc == HAE_ENOENT) {
        return cli_fail(cmd, CLI_EXIT_ERROR,
                        "%s; changes go through the running server so that its clock stamps "
                        "them: start it, or give --offline to write the stopped server's store "
                        "(the entries say so)",
                        err.msg);
    }
    return cli_fail(cmd, CLI_EXIT_ERROR,
                    "the server of %s does not answer (%s); give --offline only if it is "
                    "stopped", data_dir, err.msg);
}

void cli_writer_close(cli_writer *w) { sodium_memzero(w, sizeof *w); }

/* The server's own words for a refusal: the "message" member, else the body. */
static void server_message(const hae_buf *reply, long status, hae_err *err) {
    hae_arena arena = {0};
    hae_json *root = NULL;
    const hae_json *msg = NULL;
    if (reply->len && hae_json_parse(reply->data, reply->len, &arena, &root, NULL) == HAE_OK) {
        msg = hae_json_member(root, "message");
    }
    int code = status == 404 ? HAE_ENOENT : status == 409 ? HAE_EPERM
             : status >= 500 ? HAE_EIO : HAE_EINVAL;
    if (msg && msg->type == HAE_JSON_STRING) {
        hae_err_set(err, code, "%.*s", (int)(msg->text_len > 400 ? 400 : msg->text_len), msg->text);
    } else {
        hae_err_set(err, code, "the server answered %ld", status);
    }
    hae_arena_free(&arena);
}

int cli_writer_post(const cli_writer *w, const char *path, const hae_buf *body, hae_buf *reply,
                    hae_err *err) {
    char auth[sizeof w->endpoint.token + 32];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->endpoint.token);
    const char *const headers[] = {auth, "Content-Type: application/json"};
    long status = 0;
    int rc = agent_https_post(w->endpoint.url, w->endpoint.pin, path, headers, 2, body, &status,
                              reply, err);
    sodium_memzero(auth, sizeof auth);
    if (rc == HAE_OK && (status < 200 || status > 299)) {
        server_message(reply, status, err);
        rc = err->code;
    }
    return rc;
}

const char *cli_writer_who(const cli_writer *w, const char *who, char *buf, size_t size) {
    if (w->is_remote) return who;
    snprintf(buf, size, "%s (offline)", who);
    return buf;
}
