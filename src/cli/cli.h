/* cli: `haetae <command>`. Parses arguments, calls the module that owns the
 * work, prints results. Holds no logic that belongs to a module.
 * Exit codes: 0 success, 1 findings or failures to report, 2 usage error. */
#ifndef HAETAE_CLI_H
#define HAETAE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "core/core.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

int cli_main(int argc, char **argv);

/* Subcommands: argv[0] is the subcommand name. */
int cli_cmd_version(int argc, char **argv);
int cli_cmd_agent(int argc, char **argv);
int cli_cmd_enroll(int argc, char **argv); /* register this host's agent with a server */
int cli_cmd_up(int argc, char **argv);     /* server and local agent together */
int cli_cmd_scan(int argc, char **argv);  /* personal data in exposed files */
int cli_cmd_rules(int argc, char **argv); /* rules check: load and report Sigma rules */
int cli_cmd_hunt(int argc, char **argv);  /* Sigma and YARA over log files, offline */
int cli_cmd_fim(int argc, char **argv);
int cli_cmd_server(int argc, char **argv);   /* HTTPS server; tokens, agents offline */
int cli_cmd_incident(int argc, char **argv); /* incidents in a server data directory */
int cli_cmd_alert(int argc, char **argv);    /* alerts in a server data directory */
int cli_cmd_ledger(int argc, char **argv);  /* tamper-evident log: append, prove, verify */
int cli_cmd_witness(int argc, char **argv); /* cosign a log's checkpoints */
int cli_cmd_obligations(int argc, char **argv); /* regulatory clocks of open incidents */
int cli_cmd_report(int argc, char **argv);      /* reports and notices; mark-sent */
int cli_incident_more(int argc, char **argv);   /* incident set | timeline | export */

/* ---- shared by subcommands ------------------------------------------ */

typedef enum { CLI_FORMAT_JSONL, CLI_FORMAT_TABLE } cli_format;

/* "jsonl" or "table"; NULL picks table on a terminal, jsonl otherwise. */
int cli_format_parse(const char *name, FILE *out, cli_format *format);

/* A growable list of strings taken from repeated options (--root A --root B). */
typedef struct cli_strings {
    const char **items;
    size_t count;
    size_t cap;
} cli_strings;
int cli_strings_push(cli_strings *list, const char *s);
void cli_strings_free(cli_strings *list);

/* Prints "haetae <cmd>: <message>" to stderr and returns exit_code. */
int cli_fail(const char *cmd, int exit_code, const char *fmt, ...) HAE_PRINTF(3, 4);

/* Writes an event as a JSON line to out; a sink over a FILE *. */
int cli_emit_jsonl(void *out_file, const hae_event *ev, hae_err *err);

/* The shipped rules directory: $HAETAE_RULES_DIR, else rules/ beside the
 * source tree the binary was built in, else /usr/share/haetae/rules.
 * malloc'd; NULL when none exists. */
char *cli_find_rules_dir(void);
/* The policies directory: $HAETAE_POLICIES_DIR, else policies/ beside the
 * source tree, else /usr/share/haetae/policies. malloc'd. */
char *cli_find_policies_dir(void);

/* Findings collected for a table: severity, rule, message, key evidence. */
typedef struct cli_finding_row {
    int severity; /* hae_severity, -1 for events that are not findings */
    char *rule;
    char *message;
} cli_finding_row;
typedef struct cli_findings {
    cli_finding_row *rows;
    size_t count;
    size_t cap;
} cli_findings;
hae_sink cli_findings_sink(cli_findings *f);
/* Most severe first, then a count per severity. */
void cli_findings_print(const cli_findings *f, FILE *out);
void cli_findings_free(cli_findings *f);

#endif
