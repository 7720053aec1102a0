/* Fuzzes signed-note and checkpoint parsing: any bytes either parse or are
 * rejected with a message; what parses verifies without crashing, and a
 * cosigned copy parses again with one more signature. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ledger_signer witness;
static ledger_verifier keys[2];
static int ready;

static void setup(void) {
    hae_buf skey = {0}, vkey = {0};
    hae_err err = {0};
    if (ledger_key_generate("witness.example/w1", LEDGER_KEY_COSIGNATURE, &skey, &vkey, &err) != HAE_OK ||
        ledger_signer_parse(skey.data, skey.len, &witness, &err) != HAE_OK) abort();
    keys[1] = witness.verifier;
    static const char log_vkey[] = "example.com/log1+28fca6d0+AQg3Jw1j7Yflrj9UYLiyAQ7OEhOpmCfLgphoKU4u6vKg";
    if (ledger_verifier_parse(log_vkey, sizeof log_vkey - 1, &keys[0], &err) != HAE_OK) abort();
    hae_buf_free(&skey);
    hae_buf_free(&vkey);
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) setup();
    ledger_note note;
    hae_err err = {0};
    if (ledger_note_parse(&note, (const char *)data, size, &err) != HAE_OK) {
        if (err.msg[0] == '\0') abort(); /* every rejection explains itself */
        return 0;
    }
    if (note.text_len == 0 || note.text_len > size || note.sig_count == 0) abort();
    ledger_checkpoint cp;
    (void)ledger_checkpoint_parse(note.text, note.text_len, &cp, &err);
    ledger_sig_result results[2];
    (void)ledger_note_verify(&note, keys, 2, results, &err);
    hae_buf out = {0};
    int cosigned = ledger_note_cosign(&note, &witness, 1700000000, &out, &err);
    if (cosigned == HAE_ELIMIT) { /* a note already full of signatures */
        ledger_note_free(&note);
        hae_buf_free(&out);
        return 0;
    }
    if (cosigned != HAE_OK) abort();
    ledger_note again;
    if (ledger_note_parse(&again, out.data, out.len, &err) != HAE_OK) abort();
    if (again.text_len != note.text_len || memcmp(again.text, note.text, note.text_len) != 0) abort();
    if (ledger_note_verify(&again, &keys[1], 1, NULL, &err) != 1) abort();
    ledger_note_free(&again);
    ledger_note_free(&note);
    hae_buf_free(&out);
    return 0;
}
