/* The shared option parser: every value is validated before the command
 * runs, help exits 0, mistakes exit 2 (3 for a missing path). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"

typedef struct parsed {
    bool flag, negated;
    const char *word, *format, *dir;
    uint64_t count;
    int64_t window_ns;
    cli_strings many, positional;
} parsed;

static const char *const formats[] = {"table", "json", "jsonl", NULL};

static int parse(parsed *p, int argc, char **argv) {
    const cli_opt opts[] = {
        {.name = "flag", .short_name = 'f', .kind = CLI_OPT_FLAG, .target = &p->flag, .help = "a flag"},
        {.name = "no-thing", .kind = CLI_OPT_NEGATE, .target = &p->negated, .help = "negated"},
        {.name = "word", .short_name = 'w', .kind = CLI_OPT_STRING, .target = &p->word, .help = "any text"},
        {.name = "format", .kind = CLI_OPT_ENUM, .target = &p->format, .choices = formats},
        {.name = "count", .kind = CLI_OPT_UINT, .target = &p->count, .min = 1, .max = 100},
        {.name = "window", .kind = CLI_OPT_DURATION, .target = &p->window_ns,
         .min = 1000000000ULL, .max = 7ULL * 86400 * 1000000000ULL},
        {.name = "dir", .kind = CLI_OPT_DIR, .target = &p->dir},
        {.name = "many", .kind = CLI_OPT_STRINGS, .target = &p->many},
    };
    const cli_spec spec = {.command = "haetae test", .synopsis = "haetae test [options] ARG...",
                           .opts = opts, .count = sizeof opts / sizeof opts[0],
                           .positional = &p->positional, .positional_name = "ARG",
                           .min_positional = 1, .max_positional = 2};
    p->negated = true;
    return cli_parse(&spec, argc, argv);
}

#define ARGS(...) ((char *[]){"test", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"test", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(p, ...) parse(p, ARGC(__VA_ARGS__), ARGS(__VA_ARGS__))

static void release(parsed *p) {
    cli_strings_free(&p->many);
    cli_strings_free(&p->positional);
}

static void test_every_kind_is_stored(void **state) {
    (void)state;
    parsed p = {0};
    assert_int_equal(PARSE(&p, "--flag", "--no-thing", "--word=hello", "--format", "jsonl",
                           "--count", "42", "--window", "2h", "--dir", "/tmp", "--many", "a",
                           "--many", "b", "pos"),
                     CLI_PARSE_CONTINUE);
    assert_true(p.flag);
    assert_false(p.negated);
    assert_string_equal(p.word, "hello");
    assert_string_equal(p.format, "jsonl");
    assert_int_equal(p.count, 42);
    assert_int_equal(p.window_ns, 2LL * 3600 * 1000000000LL);
    assert_string_equal(p.dir, "/tmp");
    assert_int_equal(p.many.count, 2);
    assert_string_equal(p.many.items[1], "b");
    assert_int_equal(p.positional.count, 1);
    assert_string_equal(p.positional.items[0], "pos");
    release(&p);
}

static void test_help_and_h_exit_zero(void **state) {
    (void)state;
    parsed p = {0};
    assert_int_equal(PARSE(&p, "--help"), CLI_EXIT_OK);
    release(&p);
    assert_int_equal(PARSE(&p, "-h"), CLI_EXIT_OK);
    release(&p);
}

static void test_bad_values_are_usage_errors(void **state) {
    (void)state;
    parsed p = {0};
    const char *const bad[][2] = {
        {"--count", "0"},  {"--count", "101"},   {"--count", "-5"},    {"--count", "abc"},
        {"--count", "1x"}, {"--count", ""},      {"--format", "xml"},  {"--window", "99999d"},
        {"--window", "5"}, {"--window", "-5m"},  {"--window", "0s"},   {"--bogus", "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"test", (char *)bad[i][0], (char *)bad[i][1], "pos", NULL};
        assert_int_equal(parse(&p, 4, argv), CLI_EXIT_USAGE);
        release(&p);
        memset(&p, 0, sizeof p);
    }
}

static void test_missing_value_flag_with_value_and_short_options_fail(void **state) {
    (void)state;
    parsed p = {0};
    assert_int_equal(PARSE(&p, "pos", "--word"), CLI_EXIT_USAGE);
    release(&p);
    assert_int_equal(PARSE(&p, "pos", "--flag=yes"), CLI_EXIT_USAGE);
    release(&p);
    assert_int_equal(PARSE(&p, "pos", "-x"), CLI_EXIT_USAGE);
    release(&p);
}

static void test_short_names_take_values_like_long_ones(void **state) {
    (void)state;
    parsed p = {0};
    assert_int_equal(PARSE(&p, "-w", "hello", "-f", "pos"), CLI_PARSE_CONTINUE);
    assert_string_equal(p.word, "hello");
    assert_true(p.flag);
    release(&p);
    parsed q = {0};
    assert_int_equal(PARSE(&q, "-whi", "pos"), CLI_PARSE_CONTINUE);
    assert_string_equal(q.word, "hi");
    assert_false(q.flag);
    release(&q);
    parsed r = {0};
    assert_int_equal(PARSE(&r, "pos", "-w"), CLI_EXIT_USAGE);
    release(&r);
    assert_int_equal(PARSE(&r, "pos", "-fx"), CLI_EXIT_USAGE);
    release(&r);
}

static void test_positional_counts_are_kept(void **state) {
    (void)state;
    parsed p = {0};
    char *none[] = {"test", NULL};
    assert_int_equal(parse(&p, 1, none), CLI_EXIT_USAGE);
    release(&p);
    assert_int_equal(PARSE(&p, "a", "b", "c"), CLI_EXIT_USAGE);
    release(&p);
    assert_int_equal(PARSE(&p, "--", "--flag"), CLI_PARSE_CONTINUE);
    assert_false(p.flag);
    assert_string_equal(p.positional.items[0], "--flag");
    release(&p);
}

static void test_missing_directory_is_an_input_error(void **state) {
    (void)state;
    parsed p = {0};
    assert_int_equal(PARSE(&p, "--dir", "/no/such/haetae/dir", "pos"), CLI_EXIT_INPUT);
    release(&p);
    assert_int_equal(PARSE(&p, "--dir", "/etc/hostname", "pos"), CLI_EXIT_INPUT);
    release(&p);
}

static void test_shared_validators(void **state) {
    (void)state;
    uint64_t v = 0;
    assert_int_equal(cli_parse_uint("65535", 1, 65535, &v), HAE_OK);
    assert_int_equal(v, 65535);
    assert_int_equal(cli_parse_uint("65536", 1, 65535, &v), HAE_EINVAL);
    assert_int_equal(cli_parse_uint("+5", 0, 10, &v), HAE_EINVAL);
    assert_int_equal(cli_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), HAE_EINVAL);
    int64_t ns = 0;
    assert_int_equal(cli_parse_duration("30m", 0, INT64_MAX, &ns), HAE_OK);
    assert_int_equal(ns, 1800LL * 1000000000LL);
    assert_int_equal(cli_parse_duration("9999999999999d", 0, INT64_MAX, &ns), HAE_EINVAL);
    assert_int_equal(cli_parse_duration("1w", 0, INT64_MAX, &ns), HAE_EINVAL);
}

int main(void) {
    /* Messages go to stderr; the assertions are on the return codes. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_is_stored),
        cmocka_unit_test(test_help_and_h_exit_zero),
        cmocka_unit_test(test_bad_values_are_usage_errors),
        cmocka_unit_test(test_missing_value_flag_with_value_and_short_options_fail),
        cmocka_unit_test(test_short_names_take_values_like_long_ones),
        cmocka_unit_test(test_positional_counts_are_kept),
        cmocka_unit_test(test_missing_directory_is_an_input_error),
        cmocka_unit_test(test_shared_validators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
