/* haetae rules check [--mapping FILE] [--quiet] PATH...
 * Loads Sigma rule files (directories recurse) and reports, per rule,
 * compiled, unsupported or invalid with the reason, then a summary line.
 * Exit 1 when a rule is invalid. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "detect/detect.h"

typedef struct check_ctx {
    bool quiet;
    detect_load_counts late; /* correlations dropped at compile */
} check_ctx;

static void report_rule(void *ctx_ptr, const char *file, detect_status status,
                        const detect_rule_info *info, const char *reason) {
    check_ctx *ctx = ctx_ptr;
    if (status == DETECT_RULE_COMPILED) {
        if (!ctx->quiet) printf("compiled     %s: %s\n", file, info ? info->title : "");
        return;
    }
    printf("%-12s %s\n", detect_status_name(status), reason ? reason : file);
}

static void report_late(void *ctx_ptr, const char *file, detect_status status,
                        const detect_rule_info *info, const char *reason) {
    check_ctx *ctx = ctx_ptr;
    ctx->late.invalid++;
    report_rule(ctx_ptr, file, status, info, reason);
}

static void usage(FILE *out) {
    fprintf(out, "usage: haetae rules check [--mapping FILE] [--quiet] PATH...\n"
                 "  Loads Sigma rules (files or directories) and reports each one as compiled,\n"
                 "  unsupported or invalid, with the reason.\n"
                 "  --mapping FILE  field mapping (fieldmappings: {RuleField: EventField})\n"
                 "  --quiet         list only rules that did not compile\n");
}

static int rules_check(int argc, char **argv) {
    static const struct option options[] = {
        {"mapping", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    check_ctx ctx = {0};
    cli_strings maps = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:qh", options, NULL)) != -1) {
        if (opt == 'm' && cli_strings_push(&maps, optarg) < 0) return cli_fail("rules", CLI_EXIT_FAIL, "out of memory");
        if (opt == 'q') ctx.quiet = true;
        if (opt == 'h') {
            usage(stdout);
            cli_strings_free(&maps);
            return CLI_EXIT_OK;
        }
        if (opt == '?') {
            usage(stderr);
            cli_strings_free(&maps);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        cli_strings_free(&maps);
        return CLI_EXIT_USAGE;
    }
    detect_engine *engine = NULL;
    hae_err err = {0};
    /* checking needs no prefilter: it would only slow the check down */
    detect_options eo = {.no_prefilter = true};
    int rc = detect_engine_new(&engine, &eo, &err);
    for (size_t i = 0; rc == HAE_OK && i < maps.count; i++) {
        rc = detect_engine_load_mapping(engine, maps.items[i], &err);
    }
    detect_load_counts counts = {0};
    for (int i = optind; rc == HAE_OK && i < argc; i++) {
        rc = detect_engine_load_path(engine, argv[i], report_rule, &ctx, &counts, &err);
    }
    if (rc == HAE_OK) rc = detect_engine_compile(engine, report_late, &ctx, &err);
    detect_engine_free(engine);
    cli_strings_free(&maps);
    if (rc < 0) return cli_fail("rules", CLI_EXIT_FAIL, "%s", err.msg);
    counts.compiled -= ctx.late.invalid;
    counts.invalid += ctx.late.invalid;
    printf("%zu compiled, %zu unsupported, %zu invalid\n", counts.compiled, counts.unsupported,
           counts.invalid);
    return counts.invalid ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_cmd_rules(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "check") == 0) return rules_check(argc - 1, argv + 1);
    return cli_fail("rules", CLI_EXIT_USAGE, "unknown subcommand '%s' (try 'check')", argv[1]);
}
