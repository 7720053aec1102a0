/* transport_internal: the pieces of enrollment and transport that tests and
 * fuzzers reach directly: batch encoding and signing (docs/PROTOCOL.md,
 * "Event batches"), the agent's files in its state directory, parsers of
 * what the server sends back, the back-off schedule, and a thin libcurl
 * client. Pure functions over bytes except where a path is named.
 * Private to src/agent. */
#ifndef HAETAE_AGENT_TRANSPORT_INTERNAL_H
#define HAETAE_AGENT_TRANSPORT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

enum {
    AGENT_SECRET_KEY_LEN = 64,      /* libsodium Ed25519 secret key (seed + public key) */
    AGENT_PUBLIC_KEY_LEN = 32,
    AGENT_SIGNATURE_B64_LEN = 89,   /* base64 of 64 bytes, padded, + NUL */
    AGENT_PIN_MAX = 64,             /* base64url SHA-256: 43 characters */
    AGENT_URL_MAX = 1024,
    AGENT_PATH_MAX = 4096,
};

/* ---- files in the state directory ------------------------------------ */

#define AGENT_KEY_FILE "agent.key"     /* the 64-byte secret key, 0600 */
#define AGENT_SERVER_FILE "server.json"
#define AGENT_SEQ_FILE "batch_seq"     /* last batch sequence number used */

/* Writes dir/name through dir/name.tmp: write, fsync, rename, fsync dir,
 * so a crash leaves the old content or the new, never a mix. */
int agent_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
                            unsigned mode, hae_err *err);

/* What enrollment wrote in server.json. */
typedef struct agent_server_info {
    char url[AGENT_URL_MAX];        /* https://HOST:PORT, no trailing slash */
    char agent_id[HAE_ID_LEN];
    char pin[AGENT_PIN_MAX];        /* base64url SHA-256 of the server's SPKI; may be "" */
    char ca_file[AGENT_PATH_MAX];   /* "" when none */
} agent_server_info;

int agent_server_info_encode(const agent_server_info *info, hae_buf *out);
/* Strict: url, agent_id required, strings only, lengths checked; the error
 * names the member. */
int agent_server_info_parse(const char *text, size_t len, agent_server_info *out, hae_err *err);
int agent_server_info_load(const char *state_dir, agent_server_info *out, hae_err *err);

int agent_key_load(const char *state_dir, unsigned char sk[AGENT_SECRET_KEY_LEN], hae_err *err);

/* The batch sequence file: the last number used, decimal. A missing file
 * is 0. store fsyncs before returning (PROTOCOL.md: persisted before it
 * is sent), so a number is never used twice, even across a crash. */
int agent_seq_load(const char *state_dir, uint64_t *seq, hae_err *err);
int agent_seq_store(const char *state_dir, uint64_t seq, hae_err *err);

/* ---- enrollment token -------------------------------------------------- */

/* "<secret>.<pin>": both base64url. The pin may be absent ("<secret>"),
 * then the server must be verified against a CA. */
int agent_token_split(const char *token, char *secret, size_t secret_size, char pin[AGENT_PIN_MAX],
                      hae_err *err);
/* base64url (unpadded) SHA-256 into curl's "sha256//<base64>" form. */
int agent_pin_to_curl(const char *pin, char *out, size_t out_size, hae_err *err);

/* ---- event batches (PROTOCOL.md "Event batches") ---------------------- */

/* gzip (RFC 1952) of len bytes into out (reset first). */
int batch_compress(const void *data, size_t len, hae_buf *out, hae_err *err);
/* The exact signing string, no trailing newline:
 * haetae-batch-v1\n<agent id>\n<seq>\n<time>\n<hex sha256 of body> */
int batch_signing_string(const char *agent_id, uint64_t seq, const char *send_time,
                         const void *body, size_t body_len, hae_buf *out);
/* base64 (standard, padded) Ed25519 signature of the signing string. */
int batch_sign(const unsigned char sk[AGENT_SECRET_KEY_LEN], const char *agent_id, uint64_t seq,
               const char *send_time, const void *body, size_t body_len,
               char signature[AGENT_SIGNATURE_B64_LEN], hae_err *err);

/* ---- what the server answers ------------------------------------------ */

/* 201 {"agent_id": "<uuid>", ...} */
int agent_parse_enroll_reply(const char *text, size_t len, char agent_id[HAE_ID_LEN],
                             hae_err *err);
/* 200 {"batch": n, "stored": n, "duplicates": n} */
typedef struct batch_ack {
    uint64_t batch;
    uint64_t stored;
    uint64_t duplicates;
} batch_ack;
int agent_parse_batch_ack(const char *text, size_t len, batch_ack *out, hae_err *err);
/* {"error": "...", "message": "..."} into "error: message" (best effort:
 * anything else is quoted, cut and made printable). */
void agent_describe_error_reply(const char *text, size_t len, char *out, size_t out_size);
/* RFC 9110 10.2.3: delay-seconds or an HTTP-date (relative to now_s).
 * False when the value is neither; a date in the past is 0 seconds. */
bool agent_parse_retry_after(const char *value, size_t len, int64_t now_s, uint32_t *seconds);

/* ---- back-off ----------------------------------------------------------- */

/* 1 s doubling per failed attempt (attempt 0 is the first retry) up to
 * max_s, then "equal jitter": a random point in [d/2, d] so that agents
 * cut off together do not come back together. random is any 32 bits. */
uint32_t agent_backoff_ms(unsigned attempt, uint32_t max_s, uint32_t random);

/* ---- HTTPS client (libcurl) --------------------------------------------- */

typedef struct http_client http_client;

typedef struct http_peer {
    const char *url;      /* https://HOST:PORT */
    const char *pin;      /* base64url SHA-256 of the SPKI, NULL or "" for none */
    const char *ca_file;  /* NULL or "" for none */
} http_peer;

typedef struct http_response {
    long status;              /* 0 when no answer arrived */
    hae_buf body;             /* at most 64 KiB kept */
    bool has_retry_after;
    uint32_t retry_after_s;
} http_response;

/* TLS 1.3 only, https only; the peer's key must equal the pin, and when a
 * CA is given the chain and host name must verify against it. A transfer
 * stops early when *cancel becomes true (cancel may be NULL). */
int http_client_open(http_client **out, const http_peer *peer, const atomic_bool *cancel,
                     hae_err *err);
/* POSTs body to url + path with the given "Name: value" headers. A
 * transport failure (refused, TLS, timeout, pin mismatch) is HAE_EIO with
 * curl's explanation; any HTTP status is HAE_OK with resp->status set. */
int http_post(http_client *c, const char *path, const char *const *headers, size_t header_count,
              const void *body, size_t body_len, http_response *resp, hae_err *err);
/* GETs url + path; failures and statuses as http_post. */
int http_get(http_client *c, const char *path, http_response *resp, hae_err *err);
void http_response_free(http_response *resp);
void http_client_close(http_client *c); /* NULL is fine */

#endif
