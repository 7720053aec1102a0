/* haetae rules check [--mapping FILE] [--quiet] PATH...
 * Loads Sigma rule files (directories recurse) and reports, per rule,
 * compiled, unsupported or invalid with the reason, then a summary line.
 * Exit 1 when a rule is invalid. */
#include <stdint.h>
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

static const char rules_synopsis[] = "haetae rules check [--mapping FILE] [--quiet] PATH...";
static const char rules_description[] =
    "Loads Sigma rules (files or directories) and reports each one as compiled,\n"
    "unsupported or invalid, with the reason.";

static int rules_check(int argc, char **argv) {
    check_ctx ctx = {0};
    cli_strings maps = {0}, paths = {0};
    const cli_opt options[] = {
        {.name = "mapping", .short_name = 'm', .kind = CLI_OPT_STRINGS, .target = &maps,
         .metavar = "FILE", .help = "field mapping (fieldmappings: {RuleField: EventField})"},
        {.name = "quiet", .short_name = 'q', .kind = CLI_OPT_FLAG, .target = &ctx.quiet,
         .help = "list only rules that did not compile"},
    };
    const cli_spec spec = {
        .command = "haetae rules check",
        .synopsis = rules_synopsis,
        .description = rules_description,
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .positional = &paths,
        .positional_name = "PATH",
        .min_positional = 1,
        .max_positional = SIZE_MAX,
    };
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed != CLI_PARSE_CONTINUE) {
        cli_strings_free(&maps);
        cli_strings_free(&paths);
        return parsed;
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
    for (size_t i = 0; rc == HAE_OK && i < paths.count; i++) {
        rc = detect_engine_load_path(engine, paths.items[i], report_rule, &ctx, &counts, &err);
    }
    if (rc == HAE_OK) rc = detect_engine_compile(engine, report_late, &ctx, &err);
    detect_engine_free(engine);
    cli_strings_free(&maps);
    cli_strings_free(&paths);
    if (rc < 0) return cli_fail("rules", CLI_EXIT_FAIL, "%s", err.msg);
    counts.compiled -= ctx.late.invalid;
    counts.invalid += ctx.late.invalid;
    printf("%zu compiled, %zu unsupported, %zu invalid\n", counts.compiled, counts.unsupported,
           counts.invalid);
    return counts.invalid ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_cmd_rules(int argc, char **argv) {
    static const cli_subcommand subs[] = {
        {"check", rules_check, "load Sigma rules and report each as compiled, unsupported or invalid"},
    };
    return cli_subcommand_dispatch("haetae rules", subs, sizeof subs / sizeof subs[0], argc, argv);
}
