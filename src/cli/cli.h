/* cli: `haetae <command>`. Parses arguments, calls the module that owns the
 * work, prints results. Holds no logic that belongs to a module.
 * Exit codes, one scheme for every command (docs/CLI.md): 0 done and nothing
 * found, 1 done and something found, 2 usage, 3 input missing, unreadable or
 * incomplete, 4 internal or environment failure. */
#ifndef HAETAE_CLI_H
#define HAETAE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"
#include "server/server.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FOUND = 1, /* findings, matches, changes, denials */
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_INPUT = 3, /* a named file or store is missing, unreadable or incomplete */
    CLI_EXIT_ERROR = 4, /* the environment or haetae itself failed */
};
/* Commands not yet on the scheme above still return this for their errors. */
#define CLI_EXIT_FAIL CLI_EXIT_FOUND

int cli_main(int argc, char **argv);

/* Where `haetae agent` and `haetae enroll` keep the agent's state unless told
 * --state: apart from the server's /var/lib/haetae/server, so each package
 * purges only its own. */
#define CLI_AGENT_STATE_ROOT "/var/lib/haetae/agent"
#define CLI_AGENT_STATE_USER "var/agent"

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

/* ---- options: one parser and one contract for every command ----------- */

/* How an option's value is taken. Each kind validates before it stores:
 * UINT and DURATION against [min, max], ENUM against choices, DIR and FILE
 * must exist (exit 3 otherwise), so nothing is written on a bad value. */
typedef enum cli_opt_kind {
    CLI_OPT_FLAG,     /* bool *target = true */
    CLI_OPT_NEGATE,   /* bool *target = false ("--no-journal") */
    CLI_OPT_STRING,   /* const char **target */
    CLI_OPT_STRINGS,  /* cli_strings *target, repeatable */
    CLI_OPT_UINT,     /* uint64_t *target */
    CLI_OPT_DURATION, /* int64_t *target, nanoseconds; "30s", "15m", "1h", "7d" */
    CLI_OPT_ENUM,     /* const char **target, one of choices */
    CLI_OPT_DIR,      /* const char **target, an existing directory */
    CLI_OPT_DIRS,     /* cli_strings *target, repeatable, each an existing directory */
    CLI_OPT_FILE,     /* const char **target, an existing file */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    void *target;
    const char *metavar; /* NULL: from the kind ("N", "DIR"...) */
    const char *help;
    uint64_t min, max;          /* UINT; DURATION in nanoseconds */
    const char *const *choices; /* ENUM: NULL-terminated */
    cli_opt_kind kind;
    bool required;
    char short_name; /* 0, or the letter of "-r PATH", "-rPATH", "-n" */
} cli_opt;

struct cli_strings;
typedef struct cli_spec {
    const char *command;     /* "haetae fim baseline", the prefix of every message */
    const char *synopsis;    /* after "usage: " */
    const char *description; /* NULL or a paragraph */
    const cli_opt *opts;
    size_t count;
    struct cli_strings *positional; /* NULL: no positional arguments accepted */
    const char *positional_name;    /* "FILE" in messages */
    size_t min_positional, max_positional;
    const char *epilog;     /* NULL or text printed after the options */
    const char *exit_codes; /* NULL: the common scheme */
} cli_spec;

enum { CLI_PARSE_CONTINUE = -1, CLI_PARSE_HELP = -2 };
/* Parses argv[1..]: returns CLI_PARSE_CONTINUE when the command should run,
 * otherwise the exit code to return at once (0 after printing --help or -h,
 * 2 with a message naming the option and the valid ones, 3 for a missing
 * path). */
int cli_parse(const cli_spec *spec, int argc, char **argv) __attribute__((warn_unused_result));
void cli_usage_print(const cli_spec *spec, FILE *out);

/* Validators shared with the API: HAE_EINVAL when text is not in range. */
int cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
    __attribute__((warn_unused_result));
int cli_parse_duration(const char *text, int64_t min_ns, int64_t max_ns, int64_t *ns)
    __attribute__((warn_unused_result));

typedef struct cli_subcommand {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand */
    const char *summary;
} cli_subcommand;
/* "COMMAND SUB ...": runs the matching entry; --help/-h lists them (exit 0),
 * no subcommand or an unknown one lists them on stderr (exit 2). */
int cli_subcommand_dispatch(const char *command, const cli_subcommand *subs, size_t count,
                            int argc, char **argv);

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

/* The exit code for a module's error: bad or missing input 3, else 4. */
int cli_exit_for_error(int hae_code);

/* Prints "haetae <cmd>: <message>" to stderr and returns exit_code. */
int cli_fail(const char *cmd, int exit_code, const char *fmt, ...) HAE_PRINTF(3, 4);

/* Writes an event as a JSON line to out; a sink over a FILE *. */
int cli_emit_jsonl(void *out_file, const hae_event *ev, hae_err *err);

/* Where shipped data (kind: "rules", "policies") lives: $env_name when set,
 * else beside the source or build tree the binary runs from, else the
 * installed prefix (PREFIX/share/haetae, the configured data directory,
 * /usr/share/haetae). malloc'd and resolved; NULL when none exists, with
 * the places tried, comma-separated, in looked. */
#define CLI_LOOKED_LEN 2048
char *cli_find_share_dir(const char *kind, const char *env_name, char *looked, size_t size);
/* cli_find_share_dir("rules", "HAETAE_RULES_DIR", ...) without the list. */
char *cli_find_rules_dir(void);

/* Changes to a server's data (incident update and set, report mark-sent)
 * go through the running server's API (DIR/server.url, its pinned key and
 * DIR/admin.token), so the server's clock stamps them. With no server
 * answering they are written to the store directly only when offline, and
 * name themselves "(offline)" in who. */
typedef struct cli_writer {
    bool is_remote;
    server_endpoint endpoint;
} cli_writer;
/* CLI_EXIT_OK, or CLI_EXIT_ERROR with a message when no server answers
 * and offline is false; CLI_EXIT_USAGE when who (--who, NULL if not
 * given) would be overruled by the server, which names who acts. */
HAE_MUST_USE int cli_writer_open(const char *cmd, const char *data_dir, bool offline,
                                 const char *who, cli_writer *w);
/* POSTs a JSON body under /api/v1; HAE_OK on a 2xx with reply filled, else
 * the server's message in err (HAE_ENOENT 404, HAE_EPERM 409). */
HAE_MUST_USE int cli_writer_post(const cli_writer *w, const char *path, const hae_buf *body,
                                 hae_buf *reply, hae_err *err);
/* who as the local store should record it: "NAME (offline)". */
const char *cli_writer_who(const cli_writer *w, const char *who, char *buf, size_t size);
void cli_writer_close(cli_writer *w); /* forgets the token */

/* The rules and policies a server runs with (`haetae server`, `haetae up`):
 * --rules/--policies when given, else the shipped ones; a server that
 * would run without either must be told so (--no-rules, --no-policies). */
typedef struct cli_server_data_flags {
    const char *rules, *policies;
    bool no_rules, no_policies;
} cli_server_data_flags;
typedef struct cli_server_data {
    char *rules, *policies; /* malloc'd and resolved; NULL when told to run without */
} cli_server_data;
/* CLI_EXIT_OK, or CLI_EXIT_INPUT with a message naming where it looked. */
HAE_MUST_USE int cli_server_data_find(const char *cmd, const cli_server_data_flags *flags,
                                      cli_server_data *out);
void cli_server_data_free(cli_server_data *d);

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
