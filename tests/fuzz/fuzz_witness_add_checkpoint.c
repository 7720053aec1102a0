/* Fuzzes the tlog-witness add-checkpoint request (the body any log may
 * POST to `haetae witness serve`): it parses or is rejected with a line
 * number; what parses goes through the witness, which answers one of the
 * statuses c2sp.org/tlog-witness allows and, on 200, one line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ledger_signer witness;
static ledger_verifier log_key;
static char state_dir[64];
static int ready;

static void setup(void) {
    hae_buf skey = {0}, vkey = {0};
    hae_err err = {0};
    if (ledger_key_generate("witness.example/w1", LEDGER_KEY_COSIGNATURE, &skey, &vkey, &err) != HAE_OK ||
        ledger_signer_parse(skey.data, skey.len, &witness, &err) != HAE_OK) abort();
    static const char log_vkey[] = "example.com/log1+28fca6d0+AQg3Jw1j7Yflrj9UYLiyAQ7OEhOpmCfLgphoKU4u6vKg";
    if (ledger_verifier_parse(log_vkey, sizeof log_vkey - 1, &log_key, &err) != HAE_OK) abort();
    snprintf(state_dir, sizeof state_dir, "/tmp/fuzz-witness-%d", (int)getpid());
    hae_buf_free(&skey);
    hae_buf_free(&vkey);
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) setup();
    ledger_add_checkpoint *req = malloc(sizeof *req);
    if (!req) return 0;
    hae_err err = {0};
    int rc = ledger_add_checkpoint_parse((const char *)data, size, req, &err);
    if (rc < 0 && !strstr(err.msg, "line ")) abort();
    if (rc == HAE_OK && (req->checkpoint < (const char *)data || req->checkpoint + req->checkpoint_len != (const char *)data + size ||
                         req->checkpoint_len == 0)) abort();
    ledger_witness_reply reply = {0};
    unsigned status = ledger_witness_add_checkpoint(state_dir, &witness, &log_key, 1, (const char *)data, size,
                                                    1700000000, &reply, &err);
    if (rc < 0 && status != 400) abort();
    switch (status) {
    case 200:
        if (reply.body.len == 0 || memchr(reply.body.data, '\n', reply.body.len) != reply.body.data + reply.body.len - 1) abort();
        break;
    case 400: case 403: case 404: case 409: case 422: break;
    default: abort();
    }
    hae_buf_free(&reply.body);
    free(req);
    return 0;
}
