/* Detectors one by one: valid, invalid and edge cases for each kind, then
 * the boundaries and ambiguities only a scan shows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "scope/scope.h"

static float confidence_of(scope_kind kind, const char *text, scope_kind *got) {
    scope_verdict v;
    scope_validate(kind, text, strlen(text), &v);
    if (got) *got = v.kind;
    return v.is_valid ? v.confidence : -1.0f;
}

static void test_luhn_accepts_known_numbers_and_rejects_one_digit_off(void **state) {
    (void)state;
    assert_true(scope_luhn_valid("4111111111111111", 16));
    assert_true(scope_luhn_valid("490154203237518", 15));
    assert_false(scope_luhn_valid("4111111111111112", 16));
    assert_false(scope_luhn_valid("41111111x1111111", 16));
    assert_false(scope_luhn_valid("0", 1));
}

static void test_rrn_with_valid_check_digit_is_high(void **state) {
    (void)state;
    scope_kind kind;
    /* 900101-1234568: weights 2..9,2..5 give 171, (11 - 171 % 11) % 10 = 8 */
    assert_true(confidence_of(SCOPE_RRN, "900101-1234568", &kind) >= 0.9f);
    assert_int_equal(kind, SCOPE_RRN);
    float hyphenless = confidence_of(SCOPE_RRN, "9001011234568", NULL);
    assert_true(hyphenless >= 0.8f && hyphenless < 0.95f);
}

static void test_rrn_post_2020_without_check_digit_is_kept(void **state) {
    (void)state;
    /* born 2021-03-04, 3 = 2000s male; last digit not a check digit */
    float c = confidence_of(SCOPE_RRN, "210304-3123456", NULL);
    assert_true(c >= 0.5f);
    /* an older birth date failing the check is kept too, lower */
    float older = confidence_of(SCOPE_RRN, "900101-1234567", NULL);
    assert_true(older >= 0.5f && older < c);
}

static void test_rrn_rejects_impossible_dates_and_future_births(void **state) {
    (void)state;
    assert_true(confidence_of(SCOPE_RRN, "901301-1234568", NULL) < 0); /* month 13 */
    assert_true(confidence_of(SCOPE_RRN, "900230-1234568", NULL) < 0); /* 30 February */
    assert_true(confidence_of(SCOPE_RRN, "010229-3234568", NULL) < 0); /* 2001 not leap */
    assert_true(confidence_of(SCOPE_RRN, "000229-3234560", NULL) >= 0); /* 2000 leap */
    assert_true(confidence_of(SCOPE_RRN, "990101-4234568", NULL) < 0); /* 2099 */
    assert_true(confidence_of(SCOPE_RRN, "900101_1234568", NULL) < 0);
}

static void test_foreigner_numbers_use_their_own_check(void **state) {
    (void)state;
    scope_kind kind;
    /* 900101-5234561: sum 179... (13 - sum % 11) % 10 */
    const char *d = "900101523456";
    static const int w[12] = {2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5};
    int sum = 0;
    for (int i = 0; i < 12; i++) sum += (d[i] - '0') * w[i];
    char frn[16];
    snprintf(frn, sizeof frn, "900101-523456%d", (13 - sum % 11) % 10);
    assert_true(confidence_of(SCOPE_RRN, frn, &kind) >= 0.9f);
    assert_int_equal(kind, SCOPE_FRN);
}

static void test_cards_need_luhn_and_a_known_issuer(void **state) {
    (void)state;
    assert_true(confidence_of(SCOPE_CARD, "4111 1111 1111 1111", NULL) >= 0.9f);
    assert_true(confidence_of(SCOPE_CARD, "5500-0000-0000-0004", NULL) >= 0.9f);
    assert_true(confidence_of(SCOPE_CARD, "378282246310005", NULL) >= 0.8f);   /* Amex */
    assert_true(confidence_of(SCOPE_CARD, "4111111111111112", NULL) < 0);       /* Luhn */
    assert_true(confidence_of(SCOPE_CARD, "4111-1111 1111-1111", NULL) < 0);    /* mixed */
    assert_true(confidence_of(SCOPE_CARD, "0000000000000000", NULL) < 0);
    float unknown = confidence_of(SCOPE_CARD, "8111111111111112", NULL);
    assert_true(unknown >= 0 && unknown < 0.5f);
}

static void test_imei_imeisv_imsi_iccid(void **state) {
    (void)state;
    assert_true(confidence_of(SCOPE_IMEI, "490154203237518", NULL) >= 0.8f);
    assert_true(confidence_of(SCOPE_IMEI, "49-015420-323751-8", NULL) >= 0.8f);
    assert_true(confidence_of(SCOPE_IMEI, "490154203237519", NULL) < 0);
    assert_true(confidence_of(SCOPE_IMEISV, "4901542032375101", NULL) >= 0);
    assert_true(confidence_of(SCOPE_IMSI, "450051234567890", NULL) >= 0.8f);
    float foreign = confidence_of(SCOPE_IMSI, "310150123456789", NULL);
    assert_true(foreign >= 0 && foreign < 0.5f);
    assert_true(confidence_of(SCOPE_IMSI, "100051234567890", NULL) < 0);
    assert_true(confidence_of(SCOPE_ICCID, "8982300000000000008", NULL) >= 0.9f);
    assert_true(confidence_of(SCOPE_ICCID, "8982300000000000003", NULL) < 0.9f);
    assert_true(confidence_of(SCOPE_ICCID, "7982300000000000008", NULL) < 0);
}

static void test_korean_phone_numbers(void **state) {
    (void)state;
    assert_true(confidence_of(SCOPE_PHONE, "010-1234-5678", NULL) >= 0.8f);
    assert_true(confidence_of(SCOPE_PHONE, "+82-10-1234-5678", NULL) >= 0.8f);
    assert_true(confidence_of(SCOPE_PHONE, "+82 (0)10 1234 5678", NULL) >= 0.8f);
    assert_true(confidence_of(SCOPE_PHONE, "02-312-4567", NULL) >= 0.5f);
    assert_true(confidence_of(SCOPE_PHONE, "031-312-4567", NULL) >= 0.5f);
    assert_true(confidence_of(SCOPE_PHONE, "010-123-5678", NULL) < 0);  /* 010 needs 8 */
    assert_true(confidence_of(SCOPE_PHONE, "020-312-4567", NULL) < 0);
    assert_true(confidence_of(SCOPE_PHONE, "02-012-4567", NULL) < 0);
    scope_verdict v;
    scope_validate(SCOPE_PHONE, "+82 10 1234 5678", 16, &v);
    assert_true(v.is_valid);
    assert_string_equal(v.norm, "01012345678");
}

static void test_email_and_passport(void **state) {
    (void)state;
    scope_verdict v;
    scope_validate(SCOPE_EMAIL, "Kim.Chul+x@Example.CO.KR", 24, &v);
    assert_true(v.is_valid);
    assert_string_equal(v.norm, "kim.chul+x@example.co.kr");
    assert_true(confidence_of(SCOPE_EMAIL, "a@b", NULL) < 0);
    assert_true(confidence_of(SCOPE_EMAIL, ".a@example.com", NULL) < 0);
    assert_true(confidence_of(SCOPE_EMAIL, "a@example.c0m", NULL) < 0);
    assert_true(confidence_of(SCOPE_PASSPORT, "M12345678", NULL) >= 0.5f);
    assert_true(confidence_of(SCOPE_PASSPORT, "M123A4567", NULL) >= 0.5f);
    assert_true(confidence_of(SCOPE_PASSPORT, "X12345678", NULL) < 0);
    assert_true(confidence_of(SCOPE_PASSPORT, "M00000000", NULL) < 0);
}

static void test_masks_keep_separators_and_hide_the_middle(void **state) {
    (void)state;
    char out[64];
    scope_mask(SCOPE_RRN, "900101-1234568", 14, out);
    assert_string_equal(out, "900101-1******");
    scope_mask(SCOPE_CARD, "4111 1111 1111 1111", 19, out);
    assert_string_equal(out, "4111 **** **** 1111");
    scope_mask(SCOPE_PHONE, "010-1234-5678", 13, out);
    assert_string_equal(out, "010-****-5678");
    scope_mask(SCOPE_EMAIL, "kim@example.com", 15, out);
    assert_string_equal(out, "k**@example.com");
}

/* ---- through the scanner ------------------------------------------------ */

typedef struct seen {
    char kinds[32][16];
    char texts[32][64];
    float conf[32];
    size_t count;
} seen;

static int collect(void *ctx, const scope_finding *f) {
    seen *s = ctx;
    if (s->count < 32) {
        snprintf(s->kinds[s->count], 16, "%s", scope_kind_name(f->kind));
        snprintf(s->texts[s->count], 64, "%.*s", (int)f->text_len, f->text);
        s->conf[s->count] = f->confidence;
        s->count++;
    }
    return 0;
}

static void scan_text(const char *name, const char *text, seen *out) {
    scope_options opt;
    scope_options_default(&opt);
    scope_scanner *s = NULL;
    hae_err err = {0};
    assert_int_equal(scope_scanner_new(&s, &opt, &err), HAE_OK);
    scope_report r;
    memset(out, 0, sizeof *out);
    assert_int_equal(scope_scan_memory(s, name, SCOPE_FMT_AUTO, text, strlen(text), collect, out,
                                       &r, &err), HAE_OK);
    scope_report_free(&r);
    scope_scanner_free(s);
}

static void test_no_match_inside_a_longer_digit_run(void **state) {
    (void)state;
    seen s;
    scan_text("x.log", "id 19001011234568 and 9001011234568123 and 4111111111111111111111\n", &s);
    assert_int_equal(s.count, 0);
    scan_text("x.log", "ref 12-900101-1234568 end\n", &s);
    assert_int_equal(s.count, 0);
    scan_text("x.log", "rrn:9001011234568.\n", &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.texts[0], "9001011234568");
}

static void test_spaced_card_number_is_one_finding(void **state) {
    (void)state;
    seen s;
    scan_text("x.log", "paid with 4111 1111 1111 1111 today\n", &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.kinds[0], "card");
    assert_string_equal(s.texts[0], "4111 1111 1111 1111");
}

static void test_imei_versus_card_ambiguity(void **state) {
    (void)state;
    seen s;
    /* 15 digits, Luhn valid, reporting body 49: an IMEI, not an Amex card */
    scan_text("x.log", "device 490154203237518 seen\n", &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.kinds[0], "imei");
    /* Amex prefix 37, 15 digits, Luhn valid: a card */
    scan_text("x.log", "card 378282246310005 charged\n", &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.kinds[0], "card");
    /* the label decides between readings of the same digits */
    scan_text("x.log", "imei=378282246310005\n", &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.kinds[0], "imei");
}

static void test_bank_accounts_only_when_labelled(void **state) {
    (void)state;
    seen s;
    scan_text("x.log", "ref 110-234-567890 done\n", &s);
    assert_int_equal(s.count, 0);
    scan_text("x.log", "계좌번호 110-234-567890 done\n", &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.kinds[0], "bank_account");
    scan_text("t.csv", "name,account_no\nkim,110234567890\n", &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.kinds[0], "bank_account");
}

static void test_column_header_raises_and_lowers_confidence(void **state) {
    (void)state;
    seen s;
    scan_text("t.csv", "rrn,order_phone\n900101-1234567,900101-1234567\n", &s);
    assert_int_equal(s.count, 2);
    assert_true(s.conf[0] > s.conf[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luhn_accepts_known_numbers_and_rejects_one_digit_off),
        cmocka_unit_test(test_rrn_with_valid_check_digit_is_high),
        cmocka_unit_test(test_rrn_post_2020_without_check_digit_is_kept),
        cmocka_unit_test(test_rrn_rejects_impossible_dates_and_future_births),
        cmocka_unit_test(test_foreigner_numbers_use_their_own_check),
        cmocka_unit_test(test_cards_need_luhn_and_a_known_issuer),
        cmocka_unit_test(test_imei_imeisv_imsi_iccid),
        cmocka_unit_test(test_korean_phone_numbers),
        cmocka_unit_test(test_email_and_passport),
        cmocka_unit_test(test_masks_keep_separators_and_hide_the_middle),
        cmocka_unit_test(test_no_match_inside_a_longer_digit_run),
        cmocka_unit_test(test_spaced_card_number_is_one_finding),
        cmocka_unit_test(test_imei_versus_card_ambiguity),
        cmocka_unit_test(test_bank_accounts_only_when_labelled),
        cmocka_unit_test(test_column_header_raises_and_lowers_confidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
