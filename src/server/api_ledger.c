/* GET /api/v1/ledger/...: what a witness or an auditor pulls. Checkpoints,
 * hash tiles and proofs carry hashes only and need no token; entry bundles
 * carry identifiers (rule and incident ids, host names) and need one.
 *   checkpoint                      the latest signed checkpoint (text), with the
 *                                   cosignatures witnesses returned for it so far
 *   checkpoint/cosigned             the newest checkpoint a witness cosigned
 *   checkpoint/<size>               every checkpoint the log signed, by size
 *   tile/<L>/<N>[.p/<W>]            c2sp.org/tlog-tiles hash tiles
 *   tile/entries/<N>[.p/<W>]        entry bundles (analyst token)
 *   proof/inclusion/<index>[/<size>] c2sp.org/tlog-proof@v1 against the newest
 *                                   cosigned checkpoint covering index (else the
 *                                   latest), or against the one signed at size
 *   proof/consistency/<old>/<size>  haetae.dev/consistency-proof@v1 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define TILE_WIDTH 256

static int note_size(const hae_buf *note, ledger_checkpoint *cp, hae_err *err) {
    const char *blank = note->data ? strstr(note->data, "\n\n") : NULL;
    if (!blank) return hae_err_set(err, HAE_EIO, "unreadable checkpoint");
    return ledger_checkpoint_parse(note->data, (size_t)(blank - note->data) + 1, cp, err);
}

static int latest(server *s, hae_buf *note, ledger_checkpoint *cp, hae_err *err) {
    memset(cp, 0, sizeof *cp);
    int rc = ledger_read_checkpoint(s->ledger, 0, note, err);
    return rc < 0 ? rc : note_size(note, cp, err);
}

/* What a proof is made against: the checkpoint signed at size when asked,
 * else the newest one a witness cosigned if it covers the entry, else the
 * latest. */
static int proof_checkpoint(server *s, uint64_t index, uint64_t size, hae_buf *note, ledger_checkpoint *cp,
                            hae_err *err) {
    if (size) {
        int rc = ledger_read_checkpoint(s->ledger, size, note, err);
        return rc < 0 ? rc : note_size(note, cp, err);
    }
    if (ledger_read_cosigned(s->ledger, note, NULL) == HAE_OK && note_size(note, cp, NULL) == HAE_OK &&
        index < cp->size) {
        return HAE_OK;
    }
    hae_buf_reset(note);
    return latest(s, note, cp, err);
}

/* "x001/x234/067" back to 1234067; false when malformed. */
static bool tile_index_parse(const char *text, uint64_t *n, const char **rest) {
    uint64_t value = 0;
    for (;;) {
        bool is_x = *text == 'x';
        if (is_x) text++;
        if (!(text[0] >= '0' && text[0] <= '9' && text[1] >= '0' && text[1] <= '9' &&
              text[2] >= '0' && text[2] <= '9') || value > UINT64_MAX / 1000) {
            return false;
        }
        value = value * 1000 + (uint64_t)((text[0] - '0') * 100 + (text[1] - '0') * 10 + text[2] - '0');
        text += 3;
        if (!is_x) break;
        if (*text++ != '/') return false;
    }
    *n = value;
    *rest = text;
    return true;
}

typedef struct bundle {
    hae_buf *out;
} bundle;

static int bundle_entry(void *ctx, uint64_t index, const void *entry, size_t len, hae_err *err) {
    (void)index;
    bundle *b = ctx;
    uint8_t be[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    int rc = hae_buf_append(b->out, be, 2);
    if (rc == HAE_OK) rc = hae_buf_append(b->out, entry, len);
    return rc < 0 ? hae_err_set(err, rc, "out of memory") : HAE_OK;
}

static void handle_tile(server *s, const char *path, bool is_authorized, server_response *resp) {
    bool is_entries = strncmp(path, "entries/", 8) == 0;
    unsigned level = 0;
    const char *rest = path;
    if (is_entries) {
        rest = path + 8;
    } else if (path[0] >= '0' && path[0] <= '7' && path[1] == '/') {
        level = (unsigned)(path[0] - '0');
        rest = path + 2;
    } else {
        server_respond_error(resp, 404, "not_found", "no such tile");
        return;
    }
    uint64_t n = 0;
    unsigned width = TILE_WIDTH;
    if (!tile_index_parse(rest, &n, &rest) ||
        (*rest && (sscanf(rest, ".p/%u", &width) != 1 || width == 0 || width >= TILE_WIDTH))) {
        server_respond_error(resp, 404, "not_found", "malformed tile path");
        return;
    }
    if (is_entries && !is_authorized) {
        server_respond_error(resp, 401, "unauthorized", "entry bundles need an API token");
        return;
    }
    hae_err err = {0};
    hae_buf note = {0};
    ledger_checkpoint cp;
    int rc = latest(s, &note, &cp, &err);
    hae_buf_free(&note);
    uint64_t count = rc == HAE_OK ? cp.size >> (level * 8) : 0; /* hashes at tree level 8L */
    /* A partial tile of any width the tree has reached: a client holding an
     * older checkpoint asks for the width its size gives (its prefix of the
     * tile never changes). */
    if (rc < 0 || n > UINT64_MAX / TILE_WIDTH || n * TILE_WIDTH + width > count) {
        server_respond_error(resp, 404, "not_found", "no such tile under the latest checkpoint");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/octet-stream";
    if (is_entries) {
        bundle b = {&resp->body};
        rc = ledger_scan(s->ledger, n * TILE_WIDTH, width, bundle_entry, &b, &err);
    } else {
        for (unsigned i = 0; i < width && rc == HAE_OK; i++) {
            ledger_hash h;
            rc = ledger_node(s->ledger, level * 8, n * TILE_WIDTH + i, &h, &err);
            if (rc == HAE_OK) rc = hae_buf_append(&resp->body, h.bytes, sizeof h.bytes);
        }
    }
    if (rc < 0) server_respond_error(resp, 500, "internal", "%s", err.msg);
}

static void handle_inclusion(server *s, const char *path, server_response *resp) {
    hae_err err = {0};
    hae_buf note = {0};
    ledger_checkpoint cp;
    ledger_proof proof;
    uint64_t index = 0, size = 0;
    char tail = 0;
    int fields = sscanf(path, "%" SCNu64 "/%" SCNu64 "%c", &index, &size, &tail);
    if (fields < 1 || fields > 2 || (fields == 2 && size == 0)) {
        server_respond_error(resp, 404, "not_found", "proof/inclusion/INDEX[/SIZE]");
    } else if (proof_checkpoint(s, index, size, &note, &cp, &err) < 0) {
        server_respond_error(resp, 404, "not_found", "no signed checkpoint%s", size ? " of that size" : " yet");
    } else if (index >= cp.size) {
        server_respond_error(resp, 404, "not_found", "index %" PRIu64 " is not under the checkpoint (size %" PRIu64 ")",
                             index, cp.size);
    } else if (ledger_prove_inclusion(s->ledger, index, cp.size, &proof, &err) < 0 ||
               ledger_inclusion_format(index, &proof, note.data, note.len, &resp->body) < 0) {
        server_respond_error(resp, 500, "internal", "%s", err.msg);
    } else {
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
    }
    hae_buf_free(&note);
}

static void handle_proof(server *s, const char *path, server_response *resp) {
    hae_err err = {0};
    hae_buf note = {0};
    ledger_checkpoint cp;
    ledger_proof proof;
    uint64_t a = 0, b = 0;
    if (strncmp(path, "inclusion/", 10) == 0) {
        handle_inclusion(s, path + 10, resp);
        return;
    }
    int rc = latest(s, &note, &cp, &err);
    resp->content_type = "text/plain; charset=utf-8";
    if (rc < 0) {
        server_respond_error(resp, 404, "not_found", "no signed checkpoint yet");
    } else if (sscanf(path, "consistency/%" SCNu64 "/%" SCNu64, &a, &b) == 2) {
        if (a == 0 || a > b || b > cp.size) {
            server_respond_error(resp, 400, "bad_request", "need 0 < old <= size <= %" PRIu64, cp.size);
        } else if (ledger_prove_consistency(s->ledger, a, b, &proof, &err) < 0 ||
                   ledger_consistency_format(a, b, &proof, &resp->body) < 0) {
            server_respond_error(resp, 500, "internal", "%s", err.msg);
        } else {
            resp->status = 200;
        }
    } else {
        server_respond_error(resp, 404, "not_found", "proof/inclusion/N or proof/consistency/OLD/SIZE");
    }
    if (resp->status != 200) resp->content_type = NULL;
    hae_buf_free(&note);
}

static void handle_checkpoint(server *s, const char *which, server_response *resp) {
    hae_err err = {0};
    uint64_t size = 0;
    char tail = 0;
    int rc;
    if (!*which) {
        rc = ledger_read_checkpoint(s->ledger, 0, &resp->body, &err);
    } else if (strcmp(which, "/cosigned") == 0) {
        rc = ledger_read_cosigned(s->ledger, &resp->body, &err);
    } else if (sscanf(which, "/%" SCNu64 "%c", &size, &tail) == 1 && size > 0 && which[1] != '0') {
        rc = ledger_read_checkpoint(s->ledger, size, &resp->body, &err);
    } else {
        server_respond_error(resp, 404, "not_found", "checkpoint, checkpoint/cosigned or checkpoint/SIZE");
        return;
    }
    if (rc < 0) {
        hae_buf_reset(&resp->body);
        server_respond_error(resp, 404, "not_found", "no such checkpoint");
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain; charset=utf-8";
}

static void route(server *s, const char *path, bool is_authorized, server_response *resp) {
    if (strncmp(path, "checkpoint", 10) == 0 && (path[10] == '\0' || path[10] == '/')) {
        handle_checkpoint(s, path + 10, resp);
    } else if (strncmp(path, "tile/", 5) == 0) {
        handle_tile(s, path + 5, is_authorized, resp);
    } else if (strncmp(path, "proof/", 6) == 0) {
        handle_proof(s, path + 6, resp);
    } else {
        server_respond_error(resp, 404, "not_found", "no such ledger resource");
    }
}

void server_handle_ledger(server *s, const char *path, bool is_authorized, server_response *resp) {
    if (!s->has_ledger_thread) {
        server_respond_error(resp, 503, "unavailable", "the ledger is not open");
        return;
    }
    pthread_mutex_lock(&s->ledger_lock);
    route(s, path, is_authorized, resp);
    pthread_mutex_unlock(&s->ledger_lock);
}
