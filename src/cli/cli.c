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
    {"obligations", cli_cmd_obligations, "regulatory deadlines of open incidents (--due-within 24h)"},
    {"report", cli_cmd_report, "render a report or notice for an obligation; mark-sent"},
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
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'haetae <command> --help' describes a command's options.\n");
}

int cli_cmd_version(int argc, char **argv) {
    const cli_spec spec = {.command = "haetae version", .synopsis = "haetae version",
                           .description = "Prints the version."};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed != CLI_PARSE_CONTINUE) return parsed;
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
