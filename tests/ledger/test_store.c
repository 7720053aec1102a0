/* The log on disk: reopening, crash recovery at every byte of the last
 * append, tampering caught by open or the audit, refusing to sign a tree
 * that does not extend the last checkpoint; notes, cosignatures, entries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "fixtures.h"

static void entry_text(uint64_t i, char *buf, size_t cap, size_t *len) {
    *len = (size_t)snprintf(buf, cap, "{\"n\":%llu}", (unsigned long long)i);
}

static ledger *open_ok(const char *dir) {
    ledger *l = NULL;
    hae_err err = {0};
    if (ledger_open(&l, dir, &err) != HAE_OK) fail_msg("open %s: %s", dir, err.msg);
    return l;
}

static void append_n(ledger *l, uint64_t from, uint64_t n) {
    hae_err err = {0};
    uint64_t first = ledger_size(l);
    for (uint64_t i = from; i < from + n; i++) {
        char buf[64];
        size_t len;
        entry_text(i, buf, sizeof buf, &len);
        uint64_t index;
        assert_int_equal(ledger_append(l, buf, len, &index, &err), HAE_OK);
        assert_int_equal(index, first + (i - from));
    }
}

static void root_of(ledger *l, ledger_hash *out) {
    hae_err err = {0};
    assert_int_equal(ledger_root(l, ledger_size(l), out, &err), HAE_OK);
}

typedef struct blob {
    char *data;
    size_t len;
} blob;

static blob slurp(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    blob b = {malloc(1 << 20), 0};
    b.len = fread(b.data, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void put(const char *dir, const char *name, const char *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(fixture_write_file(path, data, len), 0);
}

static void test_reopen_keeps_size_root_and_proofs(void **state) {
    (void)state;
    char *dir = fixture_tempdir("ledger");
    ledger *l = open_ok(dir);
    append_n(l, 0, 300);
    ledger_hash root, again;
    root_of(l, &root);
    ledger_close(l);
    l = open_ok(dir);
    assert_int_equal(ledger_size(l), 300);
    root_of(l, &again);
    assert_memory_equal(root.bytes, again.bytes, 32);
    hae_err err = {0};
    ledger_proof p;
    ledger_hash leaf, old_root;
    for (uint64_t i = 0; i < 300; i += 7) {
        assert_int_equal(ledger_prove_inclusion(l, i, 300, &p, &err), HAE_OK);
        assert_int_equal(ledger_leaf(l, i, &leaf, &err), HAE_OK);
        assert_int_equal(ledger_verify_inclusion(i, 300, &leaf, &p, &root, &err), HAE_OK);
        if (i == 0) continue;
        assert_int_equal(ledger_root(l, i, &old_root, &err), HAE_OK);
        assert_int_equal(ledger_prove_consistency(l, i, 300, &p, &err), HAE_OK);
        assert_int_equal(ledger_verify_consistency(i, 300, &old_root, &root, &p, &err), HAE_OK);
    }
    assert_int_equal(ledger_check(l, &err), HAE_OK);
    ledger *second = NULL;
    assert_int_equal(ledger_open(&second, dir, &err), HAE_EPERM); /* one writer */
    ledger_close(l);
    fixture_rmtree(dir);
    free(dir);
}

/* Restores the files as a crash could leave them and checks recovery. */
static void expect_recovers(const char *dir, blob entries, blob tree, blob st,
                            uint64_t want_size, const ledger_hash *want_root,
                            const ledger_hash *root_after_append) {
    put(dir, "entries", entries.data, entries.len);
    put(dir, "tree", tree.data, tree.len);
    put(dir, "state", st.data, st.len);
    ledger *l = open_ok(dir);
    assert_int_equal(ledger_size(l), want_size);
    ledger_hash root;
    root_of(l, &root);
    assert_memory_equal(root.bytes, want_root->bytes, 32);
    if (want_size == 37) {
        append_n(l, 37, 1); /* the log goes on where it stopped */
        root_of(l, &root);
        assert_memory_equal(root.bytes, root_after_append->bytes, 32);
    }
    hae_err err = {0};
    assert_int_equal(ledger_check(l, &err), HAE_OK);
    ledger_close(l);
}

static void test_crash_at_every_byte_of_the_last_append_recovers(void **state) {
    (void)state;
    char *dir = fixture_tempdir("ledger-crash");
    ledger *l = open_ok(dir);
    append_n(l, 0, 37);
    ledger_hash root37, root38;
    root_of(l, &root37);
    ledger_close(l);
    blob e0 = slurp(dir, "entries"), t0 = slurp(dir, "tree"), s0 = slurp(dir, "state");
    l = open_ok(dir);
    append_n(l, 37, 1);
    root_of(l, &root38);
    ledger_close(l);
    blob e1 = slurp(dir, "entries"), t1 = slurp(dir, "tree"), s1 = slurp(dir, "state");
    assert_true(e1.len > e0.len && t1.len > t0.len);
    /* Before the commit record: any prefix of the new data, old state. */
    for (size_t cut = e0.len; cut <= e1.len; cut++) {
        expect_recovers(dir, (blob){e1.data, cut}, t1, s0, 37, &root37, &root38);
    }
    for (size_t cut = t0.len; cut <= t1.len; cut++) {
        expect_recovers(dir, e1, (blob){t1.data, cut}, s0, 37, &root37, &root38);
    }
    /* A torn commit record: the bytes of the new slot up to cut are new,
     * the rest old; the other slot still holds the previous commit. */
    size_t slot = s1.len > 4096 && memcmp(s1.data + 4096, s0.data + 4096, 64) != 0 ? 4096 : 0;
    for (size_t cut = 0; cut < 64; cut++) {
        char *torn = malloc(s1.len > s0.len ? s1.len : s0.len);
        size_t len = s1.len > s0.len ? s1.len : s0.len;
        memset(torn, 0, len);
        memcpy(torn, s0.data, s0.len);
        memcpy(torn + slot, s1.data + slot, cut);
        expect_recovers(dir, e1, t1, (blob){torn, len}, 37, &root37, &root38);
        free(torn);
    }
    expect_recovers(dir, e1, t1, s1, 38, &root38, NULL); /* committed: kept */
    free(e0.data), free(t0.data), free(s0.data), free(e1.data), free(t1.data), free(s1.data);
    fixture_rmtree(dir);
    free(dir);
}

static void test_tampering_is_caught_by_open_or_the_audit(void **state) {
    (void)state;
    char *dir = fixture_tempdir("ledger-tamper");
    ledger *l = open_ok(dir);
    append_n(l, 0, 20);
    ledger_close(l);
    blob e = slurp(dir, "entries"), t = slurp(dir, "tree");
    hae_err err = {0};
    /* A flipped byte in an entry: the audit recomputes its leaf. */
    e.data[2 + 3] ^= 1;
    put(dir, "entries", e.data, e.len);
    l = open_ok(dir);
    assert_int_equal(ledger_check(l, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "entry 0"));
    ledger_close(l);
    e.data[2 + 3] ^= 1;
    /* Two entries of equal length swapped ({"n":1} and {"n":2}). */
    size_t rec = 2 + 7;
    char tmp[16];
    memcpy(tmp, e.data + rec, rec);
    memcpy(e.data + rec, e.data + 2 * rec, rec);
    memcpy(e.data + 2 * rec, tmp, rec);
    put(dir, "entries", e.data, e.len);
    l = open_ok(dir);
    assert_int_equal(ledger_check(l, &err), HAE_EINVAL);
    ledger_close(l);
    memcpy(e.data + 2 * rec, e.data + rec, rec);
    memcpy(e.data + rec, tmp, rec);
    /* An entry dropped: the file is shorter than committed. */
    char *dropped = malloc(e.len);
    memcpy(dropped, e.data, rec);
    memcpy(dropped + rec, e.data + 2 * rec, e.len - 2 * rec);
    put(dir, "entries", dropped, e.len - rec);
    l = NULL;
    assert_int_equal(ledger_open(&l, dir, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "missing"));
    put(dir, "entries", e.data, e.len);
    /* A flipped interior hash: caught by the audit; in the frontier (the
     * last node), caught at open. */
    t.data[32 * 2 + 1] ^= 1;
    put(dir, "tree", t.data, t.len);
    l = open_ok(dir);
    assert_int_equal(ledger_check(l, &err), HAE_EINVAL);
    ledger_close(l);
    t.data[32 * 2 + 1] ^= 1;
    t.data[t.len - 1] ^= 1;
    put(dir, "tree", t.data, t.len);
    assert_int_equal(ledger_open(&l, dir, &err), HAE_EINVAL);
    t.data[t.len - 1] ^= 1;
    put(dir, "tree", t.data, t.len);
    l = open_ok(dir);
    assert_int_equal(ledger_check(l, &err), HAE_OK);
    ledger_close(l);
    free(dropped), free(e.data), free(t.data);
    fixture_rmtree(dir);
    free(dir);
}

static void test_log_refuses_to_sign_a_tree_that_does_not_extend_its_checkpoint(void **state) {
    (void)state;
    char *dir = fixture_tempdir("ledger-sign"), *other = fixture_tempdir("ledger-other");
    hae_err err = {0};
    hae_buf vkey = {0}, note = {0};
    ledger *l = open_ok(dir);
    assert_int_equal(ledger_init_key(l, "example.com/log", &vkey, &err), HAE_OK);
    assert_int_equal(ledger_init_key(l, "example.com/log", &vkey, &err), HAE_EINVAL);
    append_n(l, 0, 3);
    assert_int_equal(ledger_sign_checkpoint(l, &note, &err), HAE_OK);
    append_n(l, 3, 2);
    hae_buf_reset(&note);
    assert_int_equal(ledger_sign_checkpoint(l, &note, &err), HAE_OK); /* extends: fine */
    ledger_close(l);
    /* Someone rebuilds the log with other history, keeping key and checkpoint. */
    ledger *o = open_ok(other);
    append_n(o, 100, 6);
    ledger_close(o);
    const char *files[] = {"entries", "tree", "state"};
    for (int i = 0; i < 3; i++) {
        blob b = slurp(other, files[i]);
        put(dir, files[i], b.data, b.len);
        free(b.data);
    }
    l = open_ok(dir);
    hae_buf_reset(&note);
    assert_int_equal(ledger_sign_checkpoint(l, &note, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "refusing to sign"));
    assert_int_equal(ledger_check(l, &err), HAE_EINVAL); /* the audit sees it too */
    ledger_close(l);
    hae_buf_free(&vkey), hae_buf_free(&note);
    fixture_rmtree(dir), fixture_rmtree(other);
    free(dir), free(other);
}

static void test_notes_checkpoints_and_cosignatures(void **state) {
    (void)state;
    hae_err err = {0};
    hae_buf skey = {0}, vkey = {0}, wskey = {0}, wvkey = {0}, note = {0}, cosigned = {0};
    assert_int_equal(ledger_key_generate("example.com/log", LEDGER_KEY_ED25519, &skey, &vkey, &err), HAE_OK);
    assert_int_equal(ledger_key_generate("w.example/1", LEDGER_KEY_COSIGNATURE, &wskey, &wvkey, &err), HAE_OK);
    assert_int_equal(ledger_key_generate("bad name", LEDGER_KEY_ED25519, &skey, &vkey, &err), HAE_EINVAL);
    ledger_signer log, witness;
    ledger_verifier keys[2];
    assert_int_equal(ledger_signer_parse(skey.data, skey.len, &log, &err), HAE_OK);
    assert_int_equal(ledger_signer_parse(wskey.data, wskey.len, &witness, &err), HAE_OK);
    assert_int_equal(ledger_verifier_parse(vkey.data, vkey.len, &keys[0], &err), HAE_OK);
    assert_int_equal(ledger_verifier_parse(wvkey.data, wvkey.len, &keys[1], &err), HAE_OK);
    assert_memory_equal(keys[0].public_key, log.verifier.public_key, 32);
    ledger_checkpoint cp = {.origin = "example.com/log", .size = 5}, got;
    ledger_hash_leaf("x", 1, &cp.root);
    assert_int_equal(ledger_checkpoint_format(&cp, &note), HAE_OK);
    size_t text_len = note.len;
    assert_int_equal(hae_buf_append_char(&note, '\n'), HAE_OK);
    assert_int_equal(ledger_note_sign(note.data, text_len, &log, &note, &err), HAE_OK);
    assert_int_equal(ledger_checkpoint_open(note.data, note.len, keys, 1, &got, NULL, &err), HAE_OK);
    assert_int_equal(got.size, 5);
    assert_int_equal(ledger_checkpoint_open(note.data, note.len, &keys[1], 1, &got, NULL, &err), HAE_EINVAL);
    ledger_note parsed;
    assert_int_equal(ledger_note_parse(&parsed, note.data, note.len, &err), HAE_OK);
    assert_int_equal(ledger_note_cosign(&parsed, &witness, 1700000000, &cosigned, &err), HAE_OK);
    ledger_note_free(&parsed);
    ledger_sig_result results[2];
    assert_int_equal(ledger_note_parse(&parsed, cosigned.data, cosigned.len, &err), HAE_OK);
    assert_int_equal(ledger_note_verify(&parsed, keys, 2, results, &err), 2);
    assert_true(results[1].is_verified);
    assert_int_equal(results[1].timestamp, 1700000000);
    ledger_note_free(&parsed);
    note.data[1] ^= 0x20; /* "example" -> "eXample": the signature breaks */
    assert_int_equal(ledger_checkpoint_open(note.data, note.len, keys, 1, &got, NULL, &err), HAE_EINVAL);
    ledger_signer_wipe(&log), ledger_signer_wipe(&witness);
    hae_buf_free(&skey), hae_buf_free(&vkey), hae_buf_free(&wskey), hae_buf_free(&wvkey);
    hae_buf_free(&note), hae_buf_free(&cosigned);
}

static void test_entry_is_canonical_and_holds_only_a_hash(void **state) {
    (void)state;
    uint8_t digest[32];
    memset(digest, 0xab, sizeof digest);
    ledger_meta meta[] = {{"rule", "sock.bpfdoor_magic"}, {"host_id", "h1"}};
    hae_buf out = {0};
    hae_err err = {0};
    assert_int_equal(ledger_entry_encode("alert", 1763837454123456789LL, 0, digest, meta, 2, &out, &err), HAE_OK);
    assert_string_equal(out.data,
                        "{\"event_sha256\":\"abababababababababababababababababababababababababababababababab\","
                        "\"kind\":\"alert\",\"metadata\":{\"host_id\":\"h1\",\"rule\":\"sock.bpfdoor_magic\"},"
                        "\"time\":\"2025-11-22T18:50:54.123456789Z\"}");
    hae_buf_reset(&out);
    ledger_meta twice[] = {{"a", "1"}, {"a", "2"}};
    assert_int_equal(ledger_entry_encode("alert", 0, 0, digest, twice, 2, &out, &err), HAE_EINVAL);
    assert_int_equal(ledger_entry_encode("Alert!", 0, 0, digest, NULL, 0, &out, &err), HAE_EINVAL);
    hae_buf_free(&out);
}

/* An audit beside the writer: the snapshot sees the log as of the commit
 * after the checkpoint it read, keeps seeing it while the writer appends
 * and signs, never writes, and refuses to append or sign. */
static void test_snapshot_reads_a_commit_point_beside_the_writer(void **state) {
    (void)state;
    char *dir = fixture_tempdir("ledger-snapshot");
    ledger *w = open_ok(dir), *r = NULL;
    hae_err err = {0};
    hae_buf vkey = {0}, note = {0};
    assert_int_equal(ledger_init_key(w, "example.com/snap", &vkey, &err), HAE_OK);
    append_n(w, 0, 5);
    assert_int_equal(ledger_sign_checkpoint(w, &note, &err), HAE_OK);
    append_n(w, 5, 2); /* committed, not yet signed */
    assert_int_equal(ledger_open_snapshot(&r, dir, &err), HAE_OK); /* no lock: the writer holds it */
    assert_int_equal(ledger_size(r), 7);
    append_n(w, 7, 4);
    hae_buf_reset(&note);
    assert_int_equal(ledger_sign_checkpoint(w, &note, &err), HAE_OK);
    assert_int_equal(ledger_size(r), 7);
    assert_int_equal(ledger_check(r, &err), HAE_OK); /* against the checkpoint of 5 it read */
    ledger_hash a, b;
    assert_int_equal(ledger_root(r, 7, &a, &err), HAE_OK);
    assert_int_equal(ledger_root(w, 7, &b, &err), HAE_OK);
    assert_true(ledger_hash_equal(&a, &b));
    assert_int_equal(ledger_append(r, "x", 1, NULL, &err), HAE_EPERM);
    assert_int_equal(ledger_sign_checkpoint(r, &note, &err), HAE_EPERM);
    ledger_close(r);
    assert_int_equal(ledger_open_snapshot(&r, dir, &err), HAE_OK);
    assert_int_equal(ledger_size(r), 11);
    ledger_close(r);
    ledger_close(w);
    hae_buf_free(&vkey);
    hae_buf_free(&note);
    fixture_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reopen_keeps_size_root_and_proofs),
        cmocka_unit_test(test_crash_at_every_byte_of_the_last_append_recovers),
        cmocka_unit_test(test_tampering_is_caught_by_open_or_the_audit),
        cmocka_unit_test(test_log_refuses_to_sign_a_tree_that_does_not_extend_its_checkpoint),
        cmocka_unit_test(test_notes_checkpoints_and_cosignatures),
        cmocka_unit_test(test_entry_is_canonical_and_holds_only_a_hash),
        cmocka_unit_test(test_snapshot_reads_a_commit_point_beside_the_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
