/* c2sp.org/tlog-witness add-checkpoint: the request parser, and the
 * witness's answers (200 with a cosignature line, 409 with its size, 422 on
 * a bad proof, 403/404 for a wrong key or an unknown origin, 400 on
 * malformed bodies) against a real log and a real state directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "fixtures.h"

typedef struct world {
    char *dir, *state;
    ledger *log;
    ledger_verifier log_key;
    ledger_signer witness;
} world;

static void make_signer(const char *name, uint8_t type, ledger_signer *s, ledger_verifier *v) {
    hae_buf skey = {0}, vkey = {0};
    hae_err err = {0};
    assert_int_equal(ledger_key_generate(name, type, &skey, &vkey, &err), HAE_OK);
    if (s) assert_int_equal(ledger_signer_parse(skey.data, skey.len, s, &err), HAE_OK);
    if (v) assert_int_equal(ledger_verifier_parse(vkey.data, vkey.len, v, &err), HAE_OK);
    hae_buf_free(&skey);
    hae_buf_free(&vkey);
}

static int setup(void **state) {
    world *w = calloc(1, sizeof *w);
    w->dir = fixture_tempdir("witness-protocol");
    char path[4096];
    snprintf(path, sizeof path, "%s/log", w->dir);
    hae_err err = {0};
    assert_int_equal(ledger_open(&w->log, path, &err), HAE_OK);
    hae_buf vkey = {0};
    assert_int_equal(ledger_init_key(w->log, "example.com/log", &vkey, &err), HAE_OK);
    assert_int_equal(ledger_verifier_parse(vkey.data, vkey.len, &w->log_key, &err), HAE_OK);
    hae_buf_free(&vkey);
    make_signer("witness.example/w", LEDGER_KEY_COSIGNATURE, &w->witness, NULL);
    snprintf(path, sizeof path, "%s/wstate", w->dir);
    w->state = strdup(path);
    *state = w;
    return 0;
}

static int teardown(void **state) {
    world *w = *state;
    ledger_close(w->log);
    fixture_rmtree(w->dir);
    free(w->dir);
    free(w->state);
    free(w);
    return 0;
}

static void grow_and_sign(world *w, unsigned n, hae_buf *note) {
    hae_err err = {0};
    for (unsigned i = 0; i < n; i++) {
        char e[32];
        int len = snprintf(e, sizeof e, "entry %" PRIu64, ledger_size(w->log));
        assert_int_equal(ledger_append(w->log, e, (size_t)len, NULL, &err), HAE_OK);
    }
    hae_buf_reset(note);
    assert_int_equal(ledger_sign_checkpoint(w->log, note, &err), HAE_OK);
}

static unsigned push(world *w, uint64_t old_size, const hae_buf *note, ledger_witness_reply *reply) {
    ledger_proof proof = {.count = 0};
    hae_err err = {0};
    uint64_t size = ledger_size(w->log);
    if (old_size > 0 && old_size < size) {
        assert_int_equal(ledger_prove_consistency(w->log, old_size, size, &proof, &err), HAE_OK);
    }
    hae_buf body = {0};
    assert_int_equal(ledger_add_checkpoint_format(old_size, &proof, note->data, note->len, &body), HAE_OK);
    unsigned status = ledger_witness_add_checkpoint(w->state, &w->witness, &w->log_key, 1, body.data, body.len,
                                                    1700000000, reply, &err);
    hae_buf_free(&body);
    return status;
}

static void test_parse_reads_old_size_proof_and_checkpoint(void **state) {
    (void)state;
    static const char body[] = "old 7\n"
                               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
                               "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"
                               "\n"
                               "example.com/log\n9\nroot\n\n— example.com/log sig\n";
    ledger_add_checkpoint req;
    hae_err err = {0};
    assert_int_equal(ledger_add_checkpoint_parse(body, sizeof body - 1, &req, &err), HAE_OK);
    assert_int_equal(req.old_size, 7);
    assert_int_equal(req.proof.count, 2);
    assert_int_equal(req.proof.hashes[1].bytes[31], 1);
    assert_int_equal(req.checkpoint - body, strstr(body, "example.com") - body);
    assert_int_equal(req.checkpoint_len, strlen(strstr(body, "example.com")));
}

static void test_parse_names_the_bad_line(void **state) {
    (void)state;
    static const struct {
        const char *body, *message;
    } cases[] = {
        {"", "line 1: expected 'old <size>'"},
        {"old 01\n\ncp\n", "line 1"},
        {"old -1\n\ncp\n", "line 1"},
        {"new 1\n\ncp\n", "line 1"},
        {"old 18446744073709551616\n\ncp\n", "line 1"},
        {"old 1\nnot-base64\n\ncp\n", "line 2: not base64 of a 32-byte hash"},
        {"old 1\nAAAA\n\ncp\n", "line 2: not base64"},
        {"old 1\n", "line 2: no blank line"},
        {"old 1\n\n", "line 3: no checkpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ledger_add_checkpoint req;
        hae_err err = {0};
        assert_int_equal(ledger_add_checkpoint_parse(cases[i].body, strlen(cases[i].body), &req, &err), HAE_EINVAL);
        if (!strstr(err.msg, cases[i].message)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].message);
    }
}

static void test_witness_cosigns_growth_and_answers_with_one_line(void **state) {
    world *w = *state;
    hae_buf note = {0};
    ledger_witness_reply reply = {0};
    grow_and_sign(w, 3, &note);
    assert_int_equal(push(w, 0, &note, &reply), 200);
    assert_string_equal(reply.content_type, "text/plain; charset=utf-8");
    assert_true(strncmp(reply.body.data, "— witness.example/w ", strlen("— witness.example/w ")) == 0);
    assert_non_null(memchr(reply.body.data, '\n', reply.body.len));
    assert_int_equal(reply.body.data[reply.body.len - 1], '\n');
    assert_null(memchr(reply.body.data, '\n', reply.body.len - 1)); /* one line */
    /* The line added to the log's note verifies under the witness's key. */
    hae_buf cosigned = {0};
    hae_buf_append(&cosigned, note.data, note.len);
    hae_buf_append(&cosigned, reply.body.data, reply.body.len);
    ledger_note parsed;
    hae_err err = {0};
    assert_int_equal(ledger_note_parse(&parsed, cosigned.data, cosigned.len, &err), HAE_OK);
    ledger_sig_result res;
    assert_int_equal(ledger_witness_quorum(&parsed, &w->witness.verifier, 1, 1, &res, &err), HAE_OK);
    assert_int_equal(res.timestamp, 1700000000);
    ledger_note_free(&parsed);
    grow_and_sign(w, 5, &note);
    assert_int_equal(push(w, 3, &note, &reply), 200);
    ledger_checkpoint last;
    assert_int_equal(ledger_witness_last(w->state, "example.com/log", &last, &err), HAE_OK);
    assert_int_equal(last.size, 8);
    hae_buf_free(&cosigned);
    hae_buf_free(&note);
    hae_buf_free(&reply.body);
}

static void test_stale_old_size_gets_409_with_the_witness_size(void **state) {
    world *w = *state;
    hae_buf note = {0};
    ledger_witness_reply reply = {0};
    grow_and_sign(w, 4, &note);
    assert_int_equal(push(w, 0, &note, &reply), 200);
    grow_and_sign(w, 2, &note);
    assert_int_equal(push(w, 0, &note, &reply), 409);
    assert_string_equal(reply.content_type, "text/x.tlog.size");
    assert_string_equal(reply.body.data, "4\n");
    assert_int_equal(push(w, 5, &note, &reply), 409);
    assert_string_equal(reply.body.data, "4\n");
    assert_int_equal(push(w, 4, &note, &reply), 200); /* the retry with the right size */
    hae_buf_free(&note);
    hae_buf_free(&reply.body);
}

static void test_bad_proof_is_422_and_the_state_stays(void **state) {
    world *w = *state;
    hae_buf note = {0}, body = {0};
    ledger_witness_reply reply = {0};
    grow_and_sign(w, 4, &note);
    assert_int_equal(push(w, 0, &note, &reply), 200);
    grow_and_sign(w, 3, &note);
    ledger_proof proof;
    hae_err err = {0};
    assert_int_equal(ledger_prove_consistency(w->log, 4, 7, &proof, &err), HAE_OK);
    proof.hashes[0].bytes[0] ^= 1;
    assert_int_equal(ledger_add_checkpoint_format(4, &proof, note.data, note.len, &body), HAE_OK);
    assert_int_equal(ledger_witness_add_checkpoint(w->state, &w->witness, &w->log_key, 1, body.data, body.len, 1,
                                                   &reply, &err), 422);
    ledger_checkpoint last;
    assert_int_equal(ledger_witness_last(w->state, "example.com/log", &last, &err), HAE_OK);
    assert_int_equal(last.size, 4);
    hae_buf_free(&note);
    hae_buf_free(&body);
    hae_buf_free(&reply.body);
}

static void test_fork_at_the_same_size_is_refused(void **state) {
    world *w = *state;
    hae_buf note = {0}, forged = {0};
    ledger_witness_reply reply = {0};
    grow_and_sign(w, 2, &note);
    assert_int_equal(push(w, 0, &note, &reply), 200);
    /* Another log under the same key: the same origin and size, another root. */
    char path[4096];
    snprintf(path, sizeof path, "%s/fork", w->dir);
    ledger *fork = NULL;
    hae_err err = {0};
    assert_int_equal(ledger_open(&fork, path, &err), HAE_OK);
    char from[4200], to[4200];
    snprintf(from, sizeof from, "%s/log/key", w->dir);
    snprintf(to, sizeof to, "%s/key", path);
    FILE *f = fopen(from, "rb");
    char chunk[512];
    size_t n = fread(chunk, 1, sizeof chunk, f);
    fclose(f);
    assert_int_equal(fixture_write_file(to, chunk, n), 0);
    assert_int_equal(ledger_append(fork, "x", 1, NULL, &err), HAE_OK);
    assert_int_equal(ledger_append(fork, "y", 1, NULL, &err), HAE_OK);
    assert_int_equal(ledger_sign_checkpoint(fork, &forged, &err), HAE_OK);
    ledger_close(fork);
    hae_buf body = {0};
    assert_int_equal(ledger_add_checkpoint_format(2, NULL, forged.data, forged.len, &body), HAE_OK);
    assert_int_equal(ledger_witness_add_checkpoint(w->state, &w->witness, &w->log_key, 1, body.data, body.len, 1,
                                                   &reply, &err), 409);
    assert_non_null(strstr(err.msg, "fork"));
    hae_buf_free(&note);
    hae_buf_free(&forged);
    hae_buf_free(&body);
    hae_buf_free(&reply.body);
}

static void test_unknown_origin_404_wrong_key_403_garbage_400(void **state) {
    world *w = *state;
    hae_buf note = {0}, body = {0};
    ledger_witness_reply reply = {0};
    hae_err err = {0};
    grow_and_sign(w, 1, &note);
    ledger_verifier other_name, same_name;
    make_signer("other.example/log", LEDGER_KEY_ED25519, NULL, &other_name);
    make_signer("example.com/log", LEDGER_KEY_ED25519, NULL, &same_name);
    assert_int_equal(ledger_add_checkpoint_format(0, NULL, note.data, note.len, &body), HAE_OK);
    assert_int_equal(ledger_witness_add_checkpoint(w->state, &w->witness, &other_name, 1, body.data, body.len, 1,
                                                   &reply, &err), 404);
    assert_int_equal(ledger_witness_add_checkpoint(w->state, &w->witness, &same_name, 1, body.data, body.len, 1,
                                                   &reply, &err), 403);
    assert_int_equal(ledger_witness_add_checkpoint(w->state, &w->witness, &w->log_key, 1, "old 0\n\nno note\n", 15, 1,
                                                   &reply, &err), 400);
    assert_int_equal(ledger_witness_add_checkpoint(w->state, &w->witness, &w->log_key, 1, "junk", 4, 1, &reply, &err),
                     400);
    ledger_checkpoint last;
    assert_int_equal(ledger_witness_last(w->state, "example.com/log", &last, &err), HAE_ENOENT);
    hae_buf_free(&note);
    hae_buf_free(&body);
    hae_buf_free(&reply.body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reads_old_size_proof_and_checkpoint),
        cmocka_unit_test(test_parse_names_the_bad_line),
        cmocka_unit_test_setup_teardown(test_witness_cosigns_growth_and_answers_with_one_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_old_size_gets_409_with_the_witness_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_proof_is_422_and_the_state_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_at_the_same_size_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_origin_404_wrong_key_403_garbage_400, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
