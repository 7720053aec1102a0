/* One option parser for every command: a table of options (cli.h) gives the
 * parsing, the validation of each value and the --help text, so a command
 * cannot accept what it does not document or document what it ignores. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static const char *const exit_code_help =
    "exit codes: 0 done, nothing found; 1 done, something found; 2 usage error;\n"
    "            3 input missing, unreadable or incomplete; 4 internal or environment failure\n";

static bool opt_takes_value(const cli_opt *o) {
    return o->kind != CLI_OPT_FLAG && o->kind != CLI_OPT_NEGATE;
}

static const char *opt_metavar(const cli_opt *o) {
    if (o->metavar) return o->metavar;
    switch (o->kind) {
    case CLI_OPT_UINT: return "N";
    case CLI_OPT_DURATION: return "DURATION";
    case CLI_OPT_ENUM: return "WORD";
    case CLI_OPT_DIR:
    case CLI_OPT_DIRS: return "DIR";
    case CLI_OPT_FILE: return "FILE";
    default: return "VALUE";
    }
}

static void print_choices(FILE *out, const char *const *choices) {
    for (size_t i = 0; choices && choices[i]; i++) fprintf(out, "%s%s", i ? "|" : "", choices[i]);
}

static void print_option(FILE *out, const cli_opt *o) {
    char left[64];
    char short_form[8] = "";
    if (o->short_name) snprintf(short_form, sizeof short_form, "-%c, ", o->short_name);
    if (opt_takes_value(o)) {
        snprintf(left, sizeof left, "%s--%s %s", short_form, o->name, opt_metavar(o));
    } else {
        snprintf(left, sizeof left, "%s--%s", short_form, o->name);
    }
    fprintf(out, "  %-24s %s", left, o->help ? o->help : "");
    if (o->kind == CLI_OPT_ENUM) {
        fputs(" (", out);
        print_choices(out, o->choices);
        fputc(')', out);
    }
    if (o->kind == CLI_OPT_STRINGS || o->kind == CLI_OPT_DIRS) fputs(" (repeatable)", out);
    fputc('\n', out);
}

void cli_usage_print(const cli_spec *spec, FILE *out) {
    fprintf(out, "usage: %s\n", spec->synopsis);
    if (spec->description) fprintf(out, "\n%s\n", spec->description);
    fputs("\noptions:\n", out);
    for (size_t i = 0; i < spec->count; i++) print_option(out, &spec->opts[i]);
    fprintf(out, "  %-24s %s\n", "-h, --help", "print this help and exit");
    if (spec->epilog) fprintf(out, "\n%s", spec->epilog);
    fprintf(out, "\n%s", spec->exit_codes ? spec->exit_codes : exit_code_help);
}

static int usage_error(const cli_spec *spec, const char *fmt, ...) HAE_PRINTF(2, 3);
static int usage_error(const cli_spec *spec, const char *fmt, ...) {
    fprintf(stderr, "%s: ", spec->command);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see '%s --help')\n", spec->command);
    return CLI_EXIT_USAGE;
}

static const cli_opt *opt_find(const cli_spec *spec, const char *name, size_t len) {
    for (size_t i = 0; i < spec->count; i++) {
        const char *n = spec->opts[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return &spec->opts[i];
    }
    return NULL;
}

static void list_valid_options(const cli_spec *spec) {
    fputs("valid options:", stderr);
    for (size_t i = 0; i < spec->count; i++) fprintf(stderr, " --%s", spec->opts[i].name);
    fputs(" --help\n", stderr);
}

int cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
    if (!text || text[0] < '0' || text[0] > '9') return HAE_EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v < min || v > max) return HAE_EINVAL;
    *out = v;
    return HAE_OK;
}

int cli_parse_duration(const char *text, int64_t min_ns, int64_t max_ns, int64_t *ns) {
    if (!text || text[0] < '0' || text[0] > '9') return HAE_EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    int64_t unit = 0;
    if (strcmp(end, "s") == 0) unit = 1000000000LL;
    else if (strcmp(end, "m") == 0) unit = 60LL * 1000000000LL;
    else if (strcmp(end, "h") == 0) unit = 3600LL * 1000000000LL;
    else if (strcmp(end, "d") == 0) unit = 86400LL * 1000000000LL;
    if (errno || unit == 0 || v > (unsigned long long)(INT64_MAX / unit)) return HAE_EINVAL;
    int64_t value = (int64_t)v * unit;
    if (value < min_ns || value > max_ns) return HAE_EINVAL;
    *ns = value;
    return HAE_OK;
}

static int enum_index(const char *const *choices, const char *text) {
    for (int i = 0; choices && choices[i]; i++) {
        if (strcmp(choices[i], text) == 0) return i;
    }
    return -1;
}

static int bad_enum(const cli_spec *spec, const cli_opt *o, const char *value) {
    fprintf(stderr, "%s: --%s: '%s' is not one of: ", spec->command, o->name, value);
    print_choices(stderr, o->choices);
    fprintf(stderr, "\n(see '%s --help')\n", spec->command);
    return CLI_EXIT_USAGE;
}

static int bad_range(const cli_spec *spec, const cli_opt *o, const char *value) {
    fprintf(stderr, "%s: --%s: '%s' is not ", spec->command, o->name, value);
    if (o->kind == CLI_OPT_DURATION) {
        fprintf(stderr, "a duration like 30s, 15m, 1h or 7d between %llds and %llds",
                (long long)o->min / 1000000000LL, (long long)o->max / 1000000000LL);
    } else {
        fprintf(stderr, "a whole number from %llu to %llu", (unsigned long long)o->min,
                (unsigned long long)o->max);
    }
    fprintf(stderr, "\n(see '%s --help')\n", spec->command);
    return CLI_EXIT_USAGE;
}

static int check_path(const cli_spec *spec, const cli_opt *o, const char *value) {
    struct stat st;
    if (stat(value, &st) != 0) {
        fprintf(stderr, "%s: --%s: %s: %s\n", spec->command, o->name, value, strerror(errno));
        return CLI_EXIT_INPUT;
    }
    bool want_dir = o->kind == CLI_OPT_DIR || o->kind == CLI_OPT_DIRS;
    if (want_dir != (bool)S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: --%s: %s is %s\n", spec->command, o->name, value,
                want_dir ? "not a directory" : "a directory, not a file");
        return CLI_EXIT_INPUT;
    }
    return CLI_EXIT_OK;
}

static int store_value(const cli_spec *spec, const cli_opt *o, const char *value) {
    switch (o->kind) {
    case CLI_OPT_FLAG: *(bool *)o->target = true; return CLI_EXIT_OK;
    case CLI_OPT_NEGATE: *(bool *)o->target = false; return CLI_EXIT_OK;
    case CLI_OPT_STRING: *(const char **)o->target = value; return CLI_EXIT_OK;
    case CLI_OPT_DIRS:
        if (check_path(spec, o, value) != CLI_EXIT_OK) return CLI_EXIT_INPUT;
        __attribute__((fallthrough));
    case CLI_OPT_STRINGS:
        if (cli_strings_push(o->target, value) < 0) {
            fprintf(stderr, "%s: out of memory\n", spec->command);
            return CLI_EXIT_ERROR;
        }
        return CLI_EXIT_OK;
    case CLI_OPT_UINT:
        if (cli_parse_uint(value, o->min, o->max, o->target) < 0) return bad_range(spec, o, value);
        return CLI_EXIT_OK;
    case CLI_OPT_DURATION:
        if (cli_parse_duration(value, (int64_t)o->min, (int64_t)o->max, o->target) < 0) {
            return bad_range(spec, o, value);
        }
        return CLI_EXIT_OK;
    case CLI_OPT_ENUM: {
        int index = enum_index(o->choices, value);
        if (index < 0) return bad_enum(spec, o, value);
        *(const char **)o->target = o->choices[index];
        return CLI_EXIT_OK;
    }
    case CLI_OPT_DIR:
    case CLI_OPT_FILE: {
        int rc = check_path(spec, o, value);
        if (rc == CLI_EXIT_OK) *(const char **)o->target = value;
        return rc;
    }
    }
    return CLI_EXIT_ERROR;
}

static int take_positional(const cli_spec *spec, const char *arg) {
    if (!spec->positional) {
        return usage_error(spec, "unexpected argument '%s'", arg);
    }
    if (spec->positional->count >= spec->max_positional) {
        return usage_error(spec, "unexpected argument '%s' (too many arguments)", arg);
    }
    if (cli_strings_push(spec->positional, arg) < 0) {
        fprintf(stderr, "%s: out of memory\n", spec->command);
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

/* "--name", "--name=value" or "--name value": *i advances past what it uses. */
static int take_long_option(const cli_spec *spec, int argc, char **argv, int *i) {
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len == 4 && memcmp(arg, "help", 4) == 0 && !eq) return CLI_PARSE_HELP;
    const cli_opt *o = opt_find(spec, arg, len);
    if (!o) {
        usage_error(spec, "unknown option '%s'", argv[*i]);
        list_valid_options(spec);
        return CLI_EXIT_USAGE;
    }
    if (!opt_takes_value(o)) {
        if (eq) return usage_error(spec, "--%s takes no value", o->name);
        return store_value(spec, o, NULL);
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        if (*i + 1 >= argc) return usage_error(spec, "--%s needs a value (%s)", o->name,
                                                   opt_metavar(o));
        value = argv[++*i];
    }
    return store_value(spec, o, value);
}

/* "-x", "-x value" or "-xvalue" for an option with a short name. */
static int take_short_option(const cli_spec *spec, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    const cli_opt *o = NULL;
    for (size_t k = 0; k < spec->count && !o; k++) {
        if (spec->opts[k].short_name && spec->opts[k].short_name == arg[1]) o = &spec->opts[k];
    }
    if (!o) return usage_error(spec, "unknown option '%s' (long options start with --)", arg);
    if (!opt_takes_value(o)) {
        if (arg[2]) return usage_error(spec, "unknown option '%s' (-%c takes no value)", arg, arg[1]);
        return store_value(spec, o, NULL);
    }
    const char *value = arg[2] ? arg + 2 : NULL;
    if (!value) {
        if (*i + 1 >= argc) return usage_error(spec, "-%c needs a value (%s)", arg[1], opt_metavar(o));
        value = argv[++*i];
    }
    return store_value(spec, o, value);
}

static int check_required(const cli_spec *spec) {
    for (size_t i = 0; i < spec->count; i++) {
        const cli_opt *o = &spec->opts[i];
        if (!o->required) continue;
        bool repeatable = o->kind == CLI_OPT_STRINGS || o->kind == CLI_OPT_DIRS;
        bool given = repeatable ? ((cli_strings *)o->target)->count > 0
                                                : *(const char **)o->target != NULL;
        if (!given) return usage_error(spec, "--%s is required", o->name);
    }
    if (spec->positional && spec->positional->count < spec->min_positional) {
        return usage_error(spec, "missing %s", spec->positional_name);
    }
    return CLI_EXIT_OK;
}

int cli_parse(const cli_spec *spec, int argc, char **argv) {
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = CLI_EXIT_OK;
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            rc = take_positional(spec, arg);
        } else if (strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (strcmp(arg, "-h") == 0) {
            rc = CLI_PARSE_HELP;
        } else if (arg[1] == '-') {
            rc = take_long_option(spec, argc, argv, &i);
        } else {
            rc = take_short_option(spec, argc, argv, &i);
        }
        if (rc == CLI_PARSE_HELP) {
            cli_usage_print(spec, stdout);
            return CLI_EXIT_OK;
        }
        if (rc != CLI_EXIT_OK) return rc;
    }
    int rc = check_required(spec);
    return rc == CLI_EXIT_OK ? CLI_PARSE_CONTINUE : rc;
}

int cli_subcommand_dispatch(const char *command, const cli_subcommand *subs, size_t count,
                            int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: %s <subcommand> [options]\n\nsubcommands:\n", command);
        for (size_t i = 0; i < count; i++) fprintf(out, "  %-12s %s\n", subs[i].name, subs[i].summary);
        fprintf(out, "\n'%s <subcommand> --help' describes its options.\n%s", command,
                exit_code_help);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) return subs[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: unknown subcommand '%s'; valid:", command, argv[1]);
    for (size_t i = 0; i < count; i++) fprintf(stderr, " %s", subs[i].name);
    fprintf(stderr, "\n");
    return CLI_EXIT_USAGE;
}
