/* Batches as docs/PROTOCOL.md "Event batches" defines them: gzip body,
 * signing string and Ed25519 signature; the persisted batch sequence; the
 * back-off schedule; what the agent reads from the server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "agent/agent.h"
#include "agent/transport_internal.h"
#include "fixtures.h"

static const char *const agent_id = "0190f4c2-1a2b-7c3d-8e4f-0123456789ab";

static void gunzip(const hae_buf *in, hae_buf *out) {
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    assert_int_equal(hae_buf_reserve(out, 1 << 20), HAE_OK);
    z.next_in = (Bytef *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)out->cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    out->len = z.total_out;
    inflateEnd(&z);
}

static void test_batch_compress_is_gzip_that_round_trips(void **state) {
    (void)state;
    hae_buf raw = {0}, gz = {0}, back = {0};
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(hae_buf_printf(&raw, "{\"id\":\"%d\",\"message\":\"hello\"}\n", i), 0);
    }
    hae_err err = {0};
    assert_int_equal(batch_compress(raw.data, raw.len, &gz, &err), HAE_OK);
    /* RFC 1952 member header: ID1 ID2 CM=deflate */
    assert_true(gz.len > 10);
    assert_int_equal((unsigned char)gz.data[0], 0x1f);
    assert_int_equal((unsigned char)gz.data[1], 0x8b);
    assert_int_equal(gz.data[2], 8);
    assert_true(gz.len * 5 < raw.len); /* repetitive JSON compresses well */
    gunzip(&gz, &back);
    assert_int_equal(back.len, raw.len);
    assert_memory_equal(back.data, raw.data, raw.len);
    hae_buf_free(&raw);
    hae_buf_free(&gz);
    hae_buf_free(&back);
}

static void test_batch_compress_of_nothing_is_a_valid_empty_gzip(void **state) {
    (void)state;
    hae_buf gz = {0}, back = {0};
    assert_int_equal(batch_compress("", 0, &gz, NULL), HAE_OK);
    gunzip(&gz, &back);
    assert_int_equal(back.len, 0);
    hae_buf_free(&gz);
    hae_buf_free(&back);
}

static void test_signing_string_is_exactly_the_protocol_text(void **state) {
    (void)state;
    hae_buf text = {0};
    /* SHA-256("abc") from FIPS 180-2 appendix B.1. */
    assert_int_equal(batch_signing_string(agent_id, 42, "2026-11-22T18:40:54Z", "abc", 3, &text),
                     HAE_OK);
    const char *expected = "haetae-batch-v1\n"
                           "0190f4c2-1a2b-7c3d-8e4f-0123456789ab\n"
                           "42\n"
                           "2026-11-22T18:40:54Z\n"
                           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_string_equal(text.data, expected);
    assert_int_equal(text.len, strlen(expected)); /* no trailing newline */
    hae_buf_free(&text);
}

static void test_batch_signature_verifies_and_tampering_breaks_it(void **state) {
    (void)state;
    assert_true(sodium_init() >= 0);
    unsigned char pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    const char body[] = "\x1f\x8b compressed bytes";
    char sig_b64[AGENT_SIGNATURE_B64_LEN];
    hae_err err = {0};
    assert_int_equal(batch_sign(sk, agent_id, 7, "2026-01-01T00:00:00Z", body, sizeof body - 1,
                                sig_b64, &err),
                     HAE_OK);
    unsigned char sig[64];
    size_t sig_len = 0;
    assert_int_equal(sodium_base642bin(sig, sizeof sig, sig_b64, strlen(sig_b64), NULL, &sig_len,
                                       NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(sig_len, 64);
    hae_buf text = {0};
    assert_int_equal(batch_signing_string(agent_id, 7, "2026-01-01T00:00:00Z", body,
                                          sizeof body - 1, &text),
                     HAE_OK);
    assert_int_equal(crypto_sign_verify_detached(sig, (unsigned char *)text.data, text.len, pk), 0);
    /* Another sequence number (a replay under a new number) no longer verifies. */
    assert_int_equal(batch_signing_string(agent_id, 8, "2026-01-01T00:00:00Z", body,
                                          sizeof body - 1, &text),
                     HAE_OK);
    assert_int_not_equal(crypto_sign_verify_detached(sig, (unsigned char *)text.data, text.len, pk),
                         0);
    /* Nor does a body changed by one byte. */
    char tampered[sizeof body];
    memcpy(tampered, body, sizeof body);
    tampered[5] ^= 1;
    assert_int_equal(batch_signing_string(agent_id, 7, "2026-01-01T00:00:00Z", tampered,
                                          sizeof body - 1, &text),
                     HAE_OK);
    assert_int_not_equal(crypto_sign_verify_detached(sig, (unsigned char *)text.data, text.len, pk),
                         0);
    hae_buf_free(&text);
}

static void test_batch_sequence_persists_across_loads(void **state) {
    (void)state;
    char *dir = fixture_tempdir("seq");
    uint64_t seq = 99;
    hae_err err = {0};
    assert_int_equal(agent_seq_load(dir, &seq, &err), HAE_OK);
    assert_int_equal(seq, 0); /* no file yet: nothing used */
    assert_int_equal(agent_seq_store(dir, 1, &err), HAE_OK);
    assert_int_equal(agent_seq_store(dir, 18446744073709551615ull, &err), HAE_OK);
    assert_int_equal(agent_seq_load(dir, &seq, &err), HAE_OK);
    assert_true(seq == 18446744073709551615ull);
    char path[4096];
    snprintf(path, sizeof path, "%s/batch_seq", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/batch_seq.tmp", dir);
    assert_int_not_equal(stat(path, &st), 0); /* the temporary is renamed away */
    fixture_rmtree(dir);
    free(dir);
}

static void test_batch_sequence_file_that_is_not_a_number_is_an_error(void **state) {
    (void)state;
    char *dir = fixture_tempdir("seq");
    char path[4096];
    snprintf(path, sizeof path, "%s/batch_seq", dir);
    const char *bad[] = {"", "-1\n", "12x\n", "99999999999999999999999\n", "\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(fixture_write_file(path, bad[i], strlen(bad[i])), 0);
        uint64_t seq = 5;
        hae_err err = {0};
        assert_int_equal(agent_seq_load(dir, &seq, &err), HAE_EINVAL);
        assert_non_null(strstr(err.msg, "batch_seq"));
    }
    fixture_rmtree(dir);
    free(dir);
}

static void test_backoff_doubles_from_one_second_to_the_cap_with_jitter(void **state) {
    (void)state;
    /* random 0 gives the low edge d/2, UINT32_MAX % (d/2+1) lands inside. */
    assert_int_equal(agent_backoff_ms(0, 300, 0), 500);
    assert_int_equal(agent_backoff_ms(1, 300, 0), 1000);
    assert_int_equal(agent_backoff_ms(2, 300, 0), 2000);
    assert_int_equal(agent_backoff_ms(8, 300, 0), 128000);
    assert_int_equal(agent_backoff_ms(9, 300, 0), 150000);  /* 512 s capped at 300 */
    assert_int_equal(agent_backoff_ms(60, 300, 0), 150000); /* no overflow */
    for (uint32_t r = 0; r < 100000; r += 997) {
        uint32_t d = agent_backoff_ms(3, 300, r * 2654435761u);
        assert_true(d >= 4000 && d <= 8000);
    }
    assert_int_equal(agent_backoff_ms(0, 300, 500), 1000);
}

static void test_retry_after_accepts_seconds_and_http_dates(void **state) {
    (void)state;
    uint32_t s = 0;
    assert_true(agent_parse_retry_after(" 5\r\n", 4, 0, &s));
    assert_int_equal(s, 5);
    assert_true(agent_parse_retry_after("99999999999999", 14, 0, &s));
    assert_int_equal(s, UINT32_MAX);
    /* RFC 9110 IMF-fixdate: 784111777 is Sun, 06 Nov 1994 08:49:37 GMT. */
    const char *date = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_true(agent_parse_retry_after(date, strlen(date), 784111777 - 120, &s));
    assert_int_equal(s, 120);
    assert_true(agent_parse_retry_after(date, strlen(date), 784111777 + 50, &s));
    assert_int_equal(s, 0); /* in the past: now */
    assert_false(agent_parse_retry_after("soon", 4, 0, &s));
    assert_false(agent_parse_retry_after("", 0, 0, &s));
    assert_false(agent_parse_retry_after("-3", 2, 0, &s));
}

static void test_server_json_round_trips_and_rejects_what_cannot_be_trusted(void **state) {
    (void)state;
    agent_server_info info = {0}, back;
    strcpy(info.url, "https://127.0.0.1:8443");
    strcpy(info.agent_id, agent_id);
    strcpy(info.pin, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    hae_buf json = {0};
    assert_int_equal(agent_server_info_encode(&info, &json), HAE_OK);
    hae_err err = {0};
    assert_int_equal(agent_server_info_parse(json.data, json.len, &back, &err), HAE_OK);
    assert_string_equal(back.url, info.url);
    assert_string_equal(back.agent_id, info.agent_id);
    assert_string_equal(back.pin, info.pin);
    assert_string_equal(back.ca_file, "");
    hae_buf_free(&json);

    const struct {
        const char *text;
        const char *says;
    } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"agent_id\":\"0190f4c2-1a2b-7c3d-8e4f-0123456789ab\",\"pin\":\"x\"}", "\"url\""},
        {"{\"url\":\"http://h:1\",\"agent_id\":\"0190f4c2-1a2b-7c3d-8e4f-0123456789ab\","
         "\"pin\":\"x\"}", "https://"},
        {"{\"url\":\"https://h:1\",\"agent_id\":\"nope\",\"pin\":\"x\"}", "agent_id"},
        {"{\"url\":\"https://h:1\",\"agent_id\":7,\"pin\":\"x\"}", "not a string"},
        {"{\"url\":\"https://h:1\",\"agent_id\":\"0190f4c2-1a2b-7c3d-8e4f-0123456789ab\"}",
         "authenticated"},
        {"{\"url\":\"https://h:1\\u0000x\",\"agent_id\":\"0190f4c2-1a2b-7c3d-8e4f-0123456789ab\","
         "\"pin\":\"x\"}", "NUL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hae_err_clear(&err);
        assert_int_equal(agent_server_info_parse(bad[i].text, strlen(bad[i].text), &back, &err),
                         HAE_EINVAL);
        if (!strstr(err.msg, bad[i].says)) fail_msg("case %zu: '%s'", i, err.msg);
    }
}

static void test_token_splits_into_secret_and_pin_and_pin_becomes_curls_form(void **state) {
    (void)state;
    char secret[128], pin[AGENT_PIN_MAX], curl_pin[128];
    hae_err err = {0};
    /* SHA-256 of the empty string, base64url: 47DEQpj8... */
    assert_int_equal(agent_token_split("c2VjcmV0_-x.47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
                                       secret, sizeof secret, pin, &err),
                     HAE_OK);
    assert_string_equal(secret, "c2VjcmV0_-x");
    assert_string_equal(pin, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    assert_int_equal(agent_pin_to_curl(pin, curl_pin, sizeof curl_pin, &err), HAE_OK);
    assert_string_equal(curl_pin, "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_int_equal(agent_token_split("onlysecret", secret, sizeof secret, pin, &err), HAE_OK);
    assert_string_equal(pin, "");
    assert_int_equal(agent_token_split(".pin", secret, sizeof secret, pin, &err), HAE_EINVAL);
    assert_int_equal(agent_token_split("se cret.pin", secret, sizeof secret, pin, &err),
                     HAE_EINVAL);
    assert_int_equal(agent_token_split("s.p.q", secret, sizeof secret, pin, &err), HAE_EINVAL);
    assert_int_equal(agent_pin_to_curl("AAAA", curl_pin, sizeof curl_pin, &err), HAE_EINVAL);
}

static void test_server_replies_parse_strictly(void **state) {
    (void)state;
    batch_ack ack;
    hae_err err = {0};
    const char *ok = "{\"batch\":12,\"stored\":1000,\"duplicates\":3}";
    assert_int_equal(agent_parse_batch_ack(ok, strlen(ok), &ack, &err), HAE_OK);
    assert_true(ack.batch == 12 && ack.stored == 1000 && ack.duplicates == 3);
    const char *negative = "{\"batch\":-1,\"stored\":0,\"duplicates\":0}";
    assert_int_equal(agent_parse_batch_ack(negative, strlen(negative), &ack, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "\"batch\""));
    const char *missing = "{\"batch\":1}";
    assert_int_equal(agent_parse_batch_ack(missing, strlen(missing), &ack, &err), HAE_EINVAL);

    char id[HAE_ID_LEN];
    const char *enrolled = "{\"agent_id\":\"0190f4c2-1a2b-7c3d-8e4f-0123456789ab\","
                           "\"server_time\":\"2026-01-01T00:00:00Z\"}";
    assert_int_equal(agent_parse_enroll_reply(enrolled, strlen(enrolled), id, &err), HAE_OK);
    assert_string_equal(id, agent_id);
    const char *long_id = "{\"agent_id\":\"0190f4c2-1a2b-7c3d-8e4f-0123456789abcdef\"}";
    assert_int_equal(agent_parse_enroll_reply(long_id, strlen(long_id), id, &err), HAE_EINVAL);

    char why[64];
    const char *refusal = "{\"error\":\"invalid_token\",\"message\":\"token used\"}";
    agent_describe_error_reply(refusal, strlen(refusal), why, sizeof why);
    assert_string_equal(why, "invalid_token: token used");
    agent_describe_error_reply("<html>\x01</html>", 14, why, sizeof why);
    assert_string_equal(why, "<html>?</html>");
}

static void test_key_file_must_hold_a_matching_key_pair(void **state) {
    (void)state;
    assert_true(sodium_init() >= 0);
    char *dir = fixture_tempdir("key");
    unsigned char pk[32], sk[64], loaded[64];
    crypto_sign_keypair(pk, sk);
    hae_err err = {0};
    assert_int_equal(agent_write_file_atomic(dir, "agent.key", sk, sizeof sk, 0600, &err), HAE_OK);
    assert_int_equal(agent_key_load(dir, loaded, &err), HAE_OK);
    assert_memory_equal(loaded, sk, sizeof sk);
    sk[40] ^= 1; /* the public half no longer matches the seed */
    assert_int_equal(agent_write_file_atomic(dir, "agent.key", sk, sizeof sk, 0600, &err), HAE_OK);
    assert_int_equal(agent_key_load(dir, loaded, &err), HAE_EINVAL);
    assert_int_equal(agent_write_file_atomic(dir, "agent.key", sk, 10, 0600, &err), HAE_OK);
    assert_int_equal(agent_key_load(dir, loaded, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "agent.key"));
    fixture_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_compress_is_gzip_that_round_trips),
        cmocka_unit_test(test_batch_compress_of_nothing_is_a_valid_empty_gzip),
        cmocka_unit_test(test_signing_string_is_exactly_the_protocol_text),
        cmocka_unit_test(test_batch_signature_verifies_and_tampering_breaks_it),
        cmocka_unit_test(test_batch_sequence_persists_across_loads),
        cmocka_unit_test(test_batch_sequence_file_that_is_not_a_number_is_an_error),
        cmocka_unit_test(test_backoff_doubles_from_one_second_to_the_cap_with_jitter),
        cmocka_unit_test(test_retry_after_accepts_seconds_and_http_dates),
        cmocka_unit_test(test_server_json_round_trips_and_rejects_what_cannot_be_trusted),
        cmocka_unit_test(test_token_splits_into_secret_and_pin_and_pin_becomes_curls_form),
        cmocka_unit_test(test_server_replies_parse_strictly),
        cmocka_unit_test(test_key_file_must_hold_a_matching_key_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
