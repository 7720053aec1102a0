/* haetae hunt --rules PATH... [--yara PATH...] [--mapping FILE] [--tz ZONE]
 *             [--format table|jsonl|csv] INPUT...
 * Sigma rules over log files collected after a breach: JSON lines (or
 * concatenated JSON objects such as EVTX exports), syslog, auditd and web
 * access logs, detected per line; '-' reads stdin. A timeline of matches
 * (a table with a summary on a terminal, else JSON lines; CSV on request).
 * Malformed lines are counted, reported with file and line, and skipped.
 * Exit 1 when anything matched. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/hunt_int.h"

static void load_report(void *ctx, const char *file, detect_status status,
                        const detect_rule_info *info, const char *reason) {
    (void)info;
    size_t *skipped = ctx;
    if (status == DETECT_RULE_COMPILED) return;
    (*skipped)++;
    fprintf(stderr, "haetae hunt: rule skipped (%s): %s\n", detect_status_name(status),
            reason ? reason : file);
}

typedef struct hunt_args {
    cli_strings rules, yara, maps, inputs;
    const char *format, *tz;
    bool no_prefilter;
} hunt_args;

/* CLI_PARSE_CONTINUE when the hunt should run, else the exit code. */
static int parse_args(int argc, char **argv, hunt_args *a) {
    const cli_opt options[] = {
        {.name = "rules", .short_name = 'r', .kind = CLI_OPT_STRINGS, .target = &a->rules,
         .metavar = "PATH", .help = "Sigma rules: a file or a directory"},
        {.name = "yara", .short_name = 'y', .kind = CLI_OPT_STRINGS, .target = &a->yara,
         .metavar = "PATH", .help = "YARA rules: each INPUT file is scanned too"},
        {.name = "mapping", .short_name = 'm', .kind = CLI_OPT_STRINGS, .target = &a->maps,
         .metavar = "FILE", .help = "field mapping (fieldmappings: {RuleField: EventField})"},
        {.name = "format", .short_name = 'f', .kind = CLI_OPT_STRING, .target = &a->format,
         .metavar = "table|jsonl|csv",
         .help = "output (default: table on a terminal, else jsonl)"},
        {.name = "tz", .kind = CLI_OPT_STRING, .target = &a->tz, .metavar = "ZONE",
         .help = "zone of log times without one, and of the table (default: the host's)"},
        {.name = "no-prefilter", .short_name = 'n', .kind = CLI_OPT_FLAG, .target = &a->no_prefilter,
         .help = "evaluate every rule on every event"},
    };
    const cli_spec spec = {
        .command = "haetae hunt",
        .synopsis = "haetae hunt --rules PATH... [--yara PATH...] [--mapping FILE] [--tz ZONE]\n"
                    "                   [--format table|jsonl|csv] [--no-prefilter] INPUT...",
        .description = "Runs Sigma rules over JSON lines, Windows JSON exports, syslog, auditd and\n"
                       "web access logs (detected per line; '-' is stdin) and prints a timeline of\n"
                       "the matches. --yara also scans each INPUT file. Year-less syslog and\n"
                       "zone-less times are read in --tz ZONE (an IANA name such as Asia/Seoul).",
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .positional = &a->inputs,
        .positional_name = "INPUT",
        .min_positional = 1,
        .max_positional = SIZE_MAX,
    };
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    if (a->rules.count == 0 && a->yara.count == 0) {
        return cli_fail("hunt", CLI_EXIT_USAGE, "--rules or --yara is required (see 'haetae hunt --help')");
    }
    return CLI_PARSE_CONTINUE;
}

static int setup(hunt *h, const hunt_args *a, hae_err *err) {
    detect_options eo = {.no_prefilter = a->no_prefilter};
    int rc = detect_engine_new(&h->engine, &eo, err);
    for (size_t i = 0; rc == HAE_OK && i < a->maps.count; i++) {
        rc = detect_engine_load_mapping(h->engine, a->maps.items[i], err);
    }
    size_t skipped = 0;
    detect_load_counts counts = {0};
    for (size_t i = 0; rc == HAE_OK && i < a->rules.count; i++) {
        rc = detect_engine_load_path(h->engine, a->rules.items[i], load_report, &skipped, &counts, err);
    }
    if (rc == HAE_OK) rc = detect_engine_compile(h->engine, load_report, &skipped, err);
    if (rc == HAE_OK && a->yara.count) {
        rc = detect_yara_new(&h->yara, a->yara.items, a->yara.count, err);
    }
    if (rc == HAE_OK) {
        fprintf(stderr, "haetae hunt: %zu rules loaded, %zu skipped%s\n",
                detect_engine_rule_count(h->engine), skipped,
                skipped ? " (see 'haetae rules check')" : "");
    }
    return rc;
}

static int parse_output(const char *name, hunt_output *out) {
    if (!name) {
        *out = isatty(STDOUT_FILENO) ? HUNT_OUT_TABLE : HUNT_OUT_JSONL;
    } else if (strcmp(name, "table") == 0) {
        *out = HUNT_OUT_TABLE;
    } else if (strcmp(name, "jsonl") == 0) {
        *out = HUNT_OUT_JSONL;
    } else if (strcmp(name, "csv") == 0) {
        *out = HUNT_OUT_CSV;
    } else {
        return HAE_EINVAL;
    }
    return HAE_OK;
}

static size_t terminal_width(void) {
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col) {
        return ws.ws_col;
    }
    return 0; /* not a terminal: nothing is cut */
}

/* Usage errors that need more than the option parser: exit 2, or 0. */
static int check_values(const hunt_args *a, hunt *h) {
    if (parse_output(a->format, &h->output) < 0) {
        return cli_fail("hunt", CLI_EXIT_USAGE, "--format must be table, jsonl or csv");
    }
    hae_err err = {0};
    if (a->tz && hae_log_set_timezone(a->tz, &err) < 0) {
        return cli_fail("hunt", CLI_EXIT_USAGE, "--tz: %s", err.msg);
    }
    return CLI_EXIT_OK;
}

static void print_totals(hunt *h) {
    detect_stats st;
    detect_engine_stats(h->engine, &st);
    fprintf(stderr, "haetae hunt: %llu events, %llu matches, %llu malformed lines skipped",
            (unsigned long long)h->events, (unsigned long long)h->hits + (unsigned long long)h->yara_hits,
            (unsigned long long)h->malformed);
    if (st.correlation_evicted) {
        fprintf(stderr, ", %llu correlation groups evicted (bound %zu)",
                (unsigned long long)st.correlation_evicted, st.correlation_max_groups);
    }
    fputc('\n', stderr);
}

static int run_hunt(hunt *h, const hunt_args *a) {
    hae_err err = {0};
    h->progress = isatty(STDERR_FILENO);
    h->terminal_width = terminal_width();
    int rc = setup(h, a, &err);
    if (rc == HAE_OK) rc = hunt_output_begin(h, &err);
    for (size_t i = 0; rc == HAE_OK && i < a->inputs.count; i++) {
        const char *input = a->inputs.items[i];
        rc = hunt_input(h, input, &err);
        if (rc == HAE_OK && h->yara && strcmp(input, "-") != 0) {
            rc = detect_yara_scan_file(h->yara, input, hunt_on_yara, h, &err);
        }
    }
    if (rc == HAE_OK) rc = hunt_output_end(h, &err);
    if (rc < 0) return cli_fail("hunt", CLI_EXIT_FAIL, "%s", err.msg);
    print_totals(h);
    return h->hits + h->yara_hits ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_cmd_hunt(int argc, char **argv) {
    hunt_args a = {0};
    hunt h = {0};
    int status = parse_args(argc, argv, &a);
    if (status == CLI_PARSE_CONTINUE) status = check_values(&a, &h);
    else if (status == CLI_EXIT_OK) status = -1; /* --help printed */
    if (status == CLI_EXIT_OK) status = run_hunt(&h, &a);
    if (status < 0) status = CLI_EXIT_OK; /* --help */
    detect_engine_free(h.engine);
    detect_yara_free(h.yara);
    hunt_output_free(&h);
    cli_strings_free(&a.rules);
    cli_strings_free(&a.yara);
    cli_strings_free(&a.maps);
    cli_strings_free(&a.inputs);
    return status;
}
