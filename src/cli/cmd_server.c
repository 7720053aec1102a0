/* `haetae server`: run the HTTPS server, and manage its data directory
 * offline: enrollment tokens, agents, analysts' API tokens. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"

#define DEFAULT_DATA "var/server"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int duration_parse(const char *text, int64_t *ns) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || end == text || v <= 0) return HAE_EINVAL;
    double unit = 1e9;
    if (strcmp(end, "ms") == 0) unit = 1e6;
    else if (strcmp(end, "s") == 0 || *end == '\0') unit = 1e9;
    else if (strcmp(end, "m") == 0) unit = 60e9;
    else if (strcmp(end, "h") == 0) unit = 3600e9;
    else if (strcmp(end, "d") == 0) unit = 86400e9;
    else return HAE_EINVAL;
    if (v * unit > 9e18) return HAE_EINVAL;
    *ns = (int64_t)(v * unit);
    return HAE_OK;
}

static const char server_synopsis[] =
    "haetae server [--data DIR] [--listen HOST:PORT] [--rules PATH | --no-rules]\n"
    "                     [--policies DIR | --no-policies]\n"
    "                     [--max-body BYTES] [--window DURATION] [--threads N]\n"
    "                     [--witness https://HOST:PORT=VKEY[=PIN]]...\n"
    "       haetae server token create [--ttl 1h] [--data DIR]\n"
    "       haetae server agent list [--format table|json] [--data DIR]\n"
    "       haetae server agent revoke ID [--data DIR]\n"
    "       haetae server api-token create --user NAME [--data DIR]";
static const char server_description[] =
    "Runs the HTTPS server (TLS 1.3, API under /api/v1, docs/PROTOCOL.md).\n"
    "DIR (default " DEFAULT_DATA ") keeps haetae.db, tls/ and admin.token.\n"
    "Rules and policies are found beside the build or source tree, under\n"
    "PREFIX/share/haetae, or where $HAETAE_RULES_DIR and $HAETAE_POLICIES_DIR say;\n"
    "the server refuses to start without them unless told --no-rules or --no-policies.\n"
    "--witness pushes every signed checkpoint to a c2sp.org/tlog-witness (its key pinned with PIN) and serves its cosignature.";

static void usage(FILE *out) {
    fprintf(out, "usage: %s\n\n%s\n", server_synopsis, server_description);
}

static int run_server(int argc, char **argv) {
    server_config cfg = {.data_dir = DEFAULT_DATA, .listen = "127.0.0.1:8443"};
    cli_server_data_flags data_flags = {0};
    cli_strings witnesses = {0};
    const char *window = NULL;
    uint64_t max_body = 0, threads = 0;
    const cli_opt options[] = {
        {.name = "data", .kind = CLI_OPT_STRING, .target = &cfg.data_dir, .metavar = "DIR",
         .help = "the server's data directory (default " DEFAULT_DATA ")"},
        {.name = "listen", .kind = CLI_OPT_STRING, .target = &cfg.listen, .metavar = "HOST:PORT",
         .help = "the address to listen on (default 127.0.0.1:8443; port 0: any free one)"},
        {.name = "rules", .kind = CLI_OPT_STRING, .target = &data_flags.rules, .metavar = "PATH",
         .help = "Sigma rules (default: the shipped rules directory)"},
        {.name = "no-rules", .kind = CLI_OPT_FLAG, .target = &data_flags.no_rules,
         .help = "run without Sigma rules (only the agents' findings become alerts)"},
        {.name = "policies", .kind = CLI_OPT_STRING, .target = &data_flags.policies,
         .metavar = "DIR", .help = "regulatory clocks (default: the shipped policies directory)"},
        {.name = "no-policies", .kind = CLI_OPT_FLAG, .target = &data_flags.no_policies,
         .help = "run without regulatory clocks (no obligations are shown)"},
        {.name = "max-body", .kind = CLI_OPT_UINT, .target = &max_body, .max = SIZE_MAX,
         .metavar = "BYTES", .help = "largest request body accepted (0: the default)"},
        {.name = "window", .kind = CLI_OPT_STRING, .target = &window, .metavar = "DURATION",
         .help = "alerts this close together join one incident (30m, 1h)"},
        {.name = "threads", .kind = CLI_OPT_UINT, .target = &threads, .max = 1024,
         .help = "request workers (0: the default)"},
        {.name = "witness", .kind = CLI_OPT_STRINGS, .target = &witnesses,
         .metavar = "URL=VKEY[=PIN]", .help = "push signed checkpoints to this witness"},
    };
    const cli_spec spec = {
        .command = "haetae server",
        .synopsis = server_synopsis,
        .description = server_description,
        .opts = options,
        .count = sizeof options / sizeof options[0],
    };
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed != CLI_PARSE_CONTINUE) {
        cli_strings_free(&witnesses);
        return parsed;
    }
    cfg.max_body_bytes = (size_t)max_body;
    cfg.threads = (unsigned)threads;
    if (window && duration_parse(window, &cfg.incident_window_ns) < 0) {
        cli_strings_free(&witnesses);
        return cli_fail("server", CLI_EXIT_USAGE, "--window: a duration like 30m or 1h");
    }
    cli_server_data data;
    int found = cli_server_data_find("server", &data_flags, &data);
    if (found != CLI_EXIT_OK) {
        cli_strings_free(&witnesses);
        return found;
    }
    cfg.rules_path = data.rules;
    cfg.policies_dir = data.policies;
    cfg.witnesses = witnesses.items;
    cfg.witness_count = witnesses.count;
    hae_log_set_level(HAE_LOG_INFO);
    server *srv = NULL;
    hae_err err = {0};
    int rc = server_start(&cfg, &srv, &err);
    cli_server_data_free(&data);
    if (rc < 0) {
        cli_strings_free(&witnesses);
        return cli_fail("server", CLI_EXIT_FAIL, "%s", err.msg);
    }
    printf("haetae server: %s\n  pin: %s\n  data: %s\n  admin API token: %s/admin.token\n",
           server_url(srv), server_pin(srv), server_data_dir(srv), server_data_dir(srv));
    fflush(stdout);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_requested) nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
    server_stop(srv);
    cli_strings_free(&witnesses);
    printf("haetae server: stopped\n");
    return CLI_EXIT_OK;
}

/* --data DIR, --ttl, --user, --format, positional arguments after the verb. */
typedef struct admin_args {
    const char *data, *ttl, *user, *format;
    const char *positional[4];
    size_t count;
} admin_args;

/* argv[0] is the verb. CLI_PARSE_CONTINUE when it should run, else the exit code. */
static int admin_parse(int argc, char **argv, admin_args *a) {
    a->data = DEFAULT_DATA;
    const char *verb = argv[0];
    bool is_token = strcmp(verb, "token") == 0, is_agent = strcmp(verb, "agent") == 0;
    const cli_opt options[] = {
        {.name = "data", .kind = CLI_OPT_STRING, .target = &a->data, .metavar = "DIR",
         .help = "the server's data directory (default " DEFAULT_DATA ")"},
        {.name = "ttl", .kind = CLI_OPT_STRING, .target = &a->ttl, .metavar = "DURATION",
         .help = "token create: how long the token enrolls (default 1h)"},
        {.name = "user", .kind = CLI_OPT_STRING, .target = &a->user, .metavar = "NAME",
         .help = "api-token create: the analyst the token is for"},
        {.name = "format", .kind = CLI_OPT_STRING, .target = &a->format, .metavar = "table|json",
         .help = "agent list: output format (default: table on a terminal, else json)"},
    };
    char cmd[64];
    snprintf(cmd, sizeof cmd, "haetae server %s", verb);
    cli_strings positional = {0};
    const cli_spec spec = {
        .command = cmd,
        .synopsis = is_token ? "haetae server token create [--ttl 1h] [--data DIR]"
                    : is_agent ? "haetae server agent list [--format table|json] [--data DIR]\n"
                                 "       haetae server agent revoke ID [--data DIR]"
                               : "haetae server api-token create --user NAME [--data DIR]",
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .positional = &positional,
        .positional_name = is_agent ? "list or revoke ID" : "create",
        .min_positional = 1,
        .max_positional = sizeof a->positional / sizeof a->positional[0],
    };
    int rc = cli_parse(&spec, argc, argv);
    for (size_t i = 0; i < positional.count; i++) a->positional[i] = positional.items[i];
    a->count = positional.count;
    cli_strings_free(&positional);
    return rc;
}

static int print_agent(void *ctx, const store_agent *a, hae_err *err) {
    (void)err;
    bool is_json = *(bool *)ctx;
    if (is_json) {
        hae_buf line = {0};
        int rc = server_json_agent(&line, a);
        if (rc == HAE_OK) printf("%s\n", line.data);
        hae_buf_free(&line);
        return rc;
    }
    char seen[HAE_TIME_LEN] = "never";
    if (a->last_seen_ns) hae_time_format(a->last_seen_ns, seen);
    printf("%-36s  %-20.20s  %-8s  %-10llu  %.19s\n", a->id, a->hostname,
           a->revoked_ns ? "revoked" : "active", (unsigned long long)a->last_batch, seen);
    return HAE_OK;
}

static int agent_command(const admin_args *a) {
    store *st = NULL;
    hae_err err = {0};
    int rc = server_data_store_open(a->data, &st, &err);
    if (rc < 0) return cli_fail("server agent", CLI_EXIT_FAIL, "%s", err.msg);
    if (strcmp(a->positional[0], "list") == 0 && a->count == 1) {
        bool is_json = a->format ? strcmp(a->format, "json") == 0 : !isatty(fileno(stdout));
        if (!is_json) {
            printf("%-36s  %-20s  %-8s  %-10s  %s\n", "ID", "HOSTNAME", "STATE", "LAST BATCH",
                   "LAST SEEN");
        }
        rc = store_agent_list(st, print_agent, &is_json, &err);
    } else if (strcmp(a->positional[0], "revoke") == 0 && a->count == 2) {
        rc = store_agent_revoke(st, a->positional[1], hae_time_now_ns(), &err);
        if (rc == HAE_OK) printf("agent %s revoked\n", a->positional[1]);
    } else {
        store_close(st);
        return cli_fail("server agent", CLI_EXIT_USAGE, "list, or revoke ID");
    }
    store_close(st);
    return rc < 0 ? cli_fail("server agent", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}

int cli_cmd_server(int argc, char **argv) {
    const char *verb = argc > 1 ? argv[1] : "";
    bool is_admin = strcmp(verb, "token") == 0 || strcmp(verb, "agent") == 0 ||
                    strcmp(verb, "api-token") == 0;
    if (!is_admin) return run_server(argc, argv);
    admin_args a = {0};
    int parsed = admin_parse(argc - 1, argv + 1, &a);
    if (parsed != CLI_PARSE_CONTINUE) return parsed;
    if (a.count == 0 || !a.positional[0]) { /* the parser demands one: for the analyzer */
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(verb, "agent") == 0) return agent_command(&a);
    if (strcmp(a.positional[0], "create") != 0 || a.count != 1) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    hae_err err = {0};
    char token[256];
    int rc;
    if (strcmp(verb, "token") == 0) {
        int64_t ttl = 3600LL * 1000000000;
        if (a.ttl && duration_parse(a.ttl, &ttl) < 0) {
            return cli_fail("server token", CLI_EXIT_USAGE, "--ttl: a duration like 30m or 1h");
        }
        rc = server_data_enroll_token(a.data, ttl, token, sizeof token, &err);
    } else {
        if (!a.user) return cli_fail("server api-token", CLI_EXIT_USAGE, "--user NAME is required");
        rc = server_data_api_token(a.data, a.user, token, sizeof token, &err);
    }
    if (rc < 0) return cli_fail("server", CLI_EXIT_FAIL, "%s", err.msg);
    printf("%s\n", token);
    return CLI_EXIT_OK;
}
