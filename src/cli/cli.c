/* Dispatch to subcommands and the small helpers they share. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"agent", cli_cmd_agent, "run the host sensors (--once: check this host now)"},
    {"alert", cli_cmd_alert, "list alerts from a server data directory"},
    {"enroll", cli_cmd_enroll, "register this host's agent with a server (--server, --token)"},
    {"fim", cli_cmd_fim, "file integrity: baseline, check, watch, canary"},
    {"hunt", cli_cmd_hunt, "run Sigma (and YARA) rules over log files"},
    {"incident", cli_cmd_incident, "list, show and update incidents"},
    {"ledger", cli_cmd_ledger, "tamper-evident log: init, append, checkpoint, prove, verify, export"},
    {"rules", cli_cmd_rules, "check Sigma rules: compiled, unsupported or invalid"},
    {"scan", cli_cmd_scan, "find personal data in files and count the persons exposed"},
    {"server", cli_cmd_server, "run the HTTPS server; enrollment tokens, agents"},
    {"up", cli_cmd_up, "server and this host's agent together, on 127.0.0.1 (Ctrl-C stops)"},
    {"version", cli_cmd_version, "print the version"},
    {"witness", cli_cmd_witness, "cosign a log's checkpoints after checking consistency"},
};

static void print_usage(FILE *out) {
    fprintf(out, "usage: haetae <command> [options]\n\n"
                 "haetae detects, records and reports breaches on Linux hosts.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'haetae <command> --help' describes a command's options.\n");
}

int cli_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("haetae %s\n", HAETAE_VERSION);
    return CLI_EXIT_OK;
}

int cli_main(int argc, char **argv) {
    const char *level = getenv("HAETAE_LOG");
    if (level && strcmp(level, "debug") == 0) {
        hae_log_set_level(HAE_LOG_DEBUG);
    }
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        return cli_cmd_version(argc - 1, argv + 1);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "haetae: unknown command '%s'\n", name);
    print_usage(stderr);
    return CLI_EXIT_USAGE;
}

int cli_format_parse(const char *name, FILE *out, cli_format *format) {
    if (!name) {
        *format = isatty(fileno(out)) ? CLI_FORMAT_TABLE : CLI_FORMAT_JSONL;
        return HAE_OK;
    }
    if (strcmp(name, "jsonl") == 0) {
        *format = CLI_FORMAT_JSONL;
    } else if (strcmp(name, "table") == 0) {
        *format = CLI_FORMAT_TABLE;
    } else {
        return HAE_EINVAL;
    }
    return HAE_OK;
}

int cli_strings_push(cli_strings *list, const char *s) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        const char **grown = realloc(list->items, cap * sizeof *grown);
        if (!grown) {
            return HAE_ENOMEM;
        }
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = s;
    return HAE_OK;
}

void cli_strings_free(cli_strings *list) {
    free(list->items);
    memset(list, 0, sizeof *list);
}

int cli_fail(const char *cmd, int exit_code, const char *fmt, ...) {
    fprintf(stderr, "haetae %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return exit_code;
}

char *cli_find_rules_dir(void) {
    const char *env = getenv("HAETAE_RULES_DIR");
    char *dir = NULL;
    if (env && env[0]) {
        return access(env, F_OK) == 0 ? strdup(env) : NULL;
    }
    /* Built in SOURCE/build/<tree>/haetae: the rules are at SOURCE/rules. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        if (asprintf(&dir, "%s/../../rules", exe) > 0 && access(dir, F_OK) == 0) {
            char *resolved = realpath(dir, NULL);
            free(dir);
            return resolved;
        }
        free(dir);
    }
    return access("/usr/share/haetae/rules", F_OK) == 0 ? strdup("/usr/share/haetae/rules") : NULL;
}

int cli_emit_jsonl(void *out_file, const hae_event *ev, hae_err *err) {
    hae_buf line = {0};
    int rc = hae_event_encode_json(ev, &line);
    if (rc == HAE_OK && fwrite(line.data, 1, line.len, (FILE *)out_file) != line.len) {
        rc = hae_err_set(err, HAE_EIO, "cannot write to standard output");
    } else if (rc < 0) {
        hae_err_set(err, rc, "cannot encode event: %s", hae_err_code_name(rc));
    }
    hae_buf_free(&line);
    return rc;
}
