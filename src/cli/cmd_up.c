/* `haetae up`: everything on one host. The server on 127.0.0.1 with its
 * data under ./var/server, this host's agent enrolled with it in-process
 * (state under ./var/agent) and sending its findings; Ctrl-C stops both:
 * the agent first (its spool keeps whatever was not yet acknowledged),
 * then the server (its detection cursor resumes on the next start). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "server/server.h"

typedef struct up_args {
    const char *data;
    const char *listen;
    cli_server_data_flags shipped;
    cli_strings witnesses;  /* --witness URL=VKEY[=PIN], as `haetae server` */
    bool has_agent;
} up_args;

/* Set by the main thread on SIGINT/SIGTERM, or by the agent's thread when
 * it fails; agent_run polls it. */
static volatile sig_atomic_t stop_requested;

typedef struct agent_thread {
    agent_config cfg;
    hae_err err;
    int rc;
} agent_thread;

static void *agent_main(void *arg) {
    agent_thread *a = arg;
    a->rc = agent_run(&a->cfg, &stop_requested, &a->err);
    if (a->rc < 0) stop_requested = 1; /* an agent that died takes `up` down with it */
    return NULL;
}

/* CLI_PARSE_CONTINUE when `up` should run, else the exit code. */
static int parse_args(int argc, char **argv, up_args *a) {
    *a = (up_args){.data = "var", .listen = "127.0.0.1:8443", .has_agent = true};
    const cli_opt options[] = {
        {.name = "data", .kind = CLI_OPT_STRING, .target = &a->data, .metavar = "DIR",
         .help = "where everything lives (default ./var): DIR/server holds the store,\n"
                 "                           certificate and admin token; DIR/agent the agent's key and spool"},
        {.name = "listen", .kind = CLI_OPT_STRING, .target = &a->listen, .metavar = "HOST:PORT",
         .help = "default 127.0.0.1:8443"},
        {.name = "rules", .kind = CLI_OPT_STRING, .target = &a->shipped.rules, .metavar = "PATH",
         .help = "Sigma rules (default: the shipped rules directory)"},
        {.name = "no-rules", .kind = CLI_OPT_FLAG, .target = &a->shipped.no_rules,
         .help = "run without Sigma rules"},
        {.name = "policies", .kind = CLI_OPT_STRING, .target = &a->shipped.policies,
         .metavar = "DIR", .help = "regulatory clocks (default: the shipped policies directory)"},
        {.name = "no-policies", .kind = CLI_OPT_FLAG, .target = &a->shipped.no_policies,
         .help = "run without regulatory clocks"},
        {.name = "no-agent", .kind = CLI_OPT_NEGATE, .target = &a->has_agent,
         .help = "the server alone"},
        {.name = "witness", .kind = CLI_OPT_STRINGS, .target = &a->witnesses,
         .metavar = "URL=VKEY[=PIN]",
         .help = "push the ledger's checkpoints to this c2sp.org/tlog-witness"},
    };
    const cli_spec spec = {
        .command = "haetae up",
        .synopsis = "haetae up [--data DIR] [--listen HOST:PORT] [--no-agent]\n"
                    "                 [--rules PATH | --no-rules] [--policies DIR | --no-policies]\n"
                    "                 [--witness https://HOST:PORT=VKEY[=PIN]]...",
        .description = "Runs the server and this host's agent together until Ctrl-C.",
        .opts = options,
        .count = sizeof options / sizeof options[0],
    };
    return cli_parse(&spec, argc, argv);
}

/* Enrolls the local agent unless it already is, with this very server
 * (same URL and key: a wiped data directory makes a new key, so the agent
 * enrolls again). */
static int enroll_local_agent(server *srv, const char *state_dir, hae_err *err) {
    if (agent_is_enrolled_with(state_dir, server_url(srv), server_pin(srv))) return HAE_OK;
    char token[512], agent_id[HAE_ID_LEN];
    int rc = server_enroll_token_create(srv, 600LL * 1000000000, token, sizeof token, err);
    agent_enroll_options opt = {.server_url = server_url(srv), .token = token,
                                .state_dir = state_dir};
    if (rc == HAE_OK) rc = agent_enroll(&opt, agent_id, err);
    if (rc == HAE_OK) printf("agent:  enrolled as %s\n", agent_id);
    return rc;
}

static void print_banner(server *srv, const char *agent_state) {
    const char *token = server_admin_token(srv);
    printf("haetae is up\n"
           "URL:    %s\n"
           "token:  %s  (admin API token: Authorization: Bearer <token>)\n"
           "data:   %s  (store, certificate, admin.token)\n",
           server_url(srv), token ? token : "(admin.token was removed)", server_data_dir(srv));
    if (agent_state) printf("agent:  state and spool in %s\n", agent_state);
    printf("try:    curl -sk -H 'Authorization: Bearer %s' %s/api/v1/incidents\n"
           "Ctrl-C stops the agent and the server.\n",
           token ? token : "TOKEN", server_url(srv));
    fflush(stdout);
}

static int run_up(const up_args *a, const char *server_dir, const char *agent_dir,
                  const cli_server_data *data) {
    server_config cfg = {.data_dir = server_dir, .listen = a->listen, .rules_path = data->rules,
                         .policies_dir = data->policies,
                         .witnesses = a->witnesses.items, .witness_count = a->witnesses.count};
    server *srv = NULL;
    hae_err err = {0};
    if (server_start(&cfg, &srv, &err) < 0) return cli_fail("up", CLI_EXIT_FAIL, "%s", err.msg);
    int rc = a->has_agent ? enroll_local_agent(srv, agent_dir, &err) : HAE_OK;
    if (rc < 0) {
        server_stop(srv);
        return cli_fail("up", CLI_EXIT_FAIL, "local agent: %s", err.msg);
    }
    print_banner(srv, a->has_agent ? agent_dir : NULL);
    agent_thread agent = {.cfg = {.state_dir = agent_dir, .journal = true}};
    pthread_t thread;
    bool has_thread = a->has_agent && pthread_create(&thread, NULL, agent_main, &agent) == 0;
    if (a->has_agent && !has_thread) {
        fprintf(stderr, "haetae up: cannot start the agent's thread; the server runs alone\n");
    }
    /* SIGINT and SIGTERM are blocked in every thread (see cli_cmd_up) and
     * taken here, so no server or agent thread is interrupted by them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = 200000000};
    while (!stop_requested) {
        if (sigtimedwait(&stop_signals, NULL, &tick) > 0) stop_requested = 1;
    }
    fprintf(stderr, "haetae up: stopping\n");
    if (has_thread) pthread_join(thread, NULL);
    server_stop(srv);
    if (has_thread && agent.rc < 0) {
        return cli_fail("up", CLI_EXIT_FAIL, "agent: %s", agent.err.msg);
    }
    return CLI_EXIT_OK;
}

static int up_dirs(const up_args *a_in);

int cli_cmd_up(int argc, char **argv) {
    up_args a;
    int parsed = parse_args(argc, argv, &a);
    if (parsed != CLI_PARSE_CONTINUE) {
        cli_strings_free(&a.witnesses);
        return parsed;
    }
    int rc = up_dirs(&a);
    cli_strings_free(&a.witnesses);
    return rc;
}

static int up_dirs(const up_args *a_in) {
    up_args a = *a_in;
    if (mkdir(a.data, 0700) != 0 && errno != EEXIST) {
        return cli_fail("up", CLI_EXIT_FAIL, "%s: %s", a.data, strerror(errno));
    }
    /* Absolute, so the banner says where the data is wherever it is read. */
    char *data = realpath(a.data, NULL);
    char *server_dir = NULL, *agent_dir = NULL;
    if (!data || asprintf(&server_dir, "%s/server", data) < 0) server_dir = NULL;
    if (!data || asprintf(&agent_dir, "%s/agent", data) < 0) agent_dir = NULL;
    free(data);
    if (!server_dir || !agent_dir) {
        free(server_dir);
        free(agent_dir);
        return cli_fail("up", CLI_EXIT_FAIL, "%s: cannot resolve the data directory", a.data);
    }
    cli_server_data found;
    int rc = cli_server_data_find("up", &a.shipped, &found);
    /* Blocked before any thread starts, so every thread inherits the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (rc == CLI_EXIT_OK && pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) {
        rc = cli_fail("up", CLI_EXIT_FAIL, "cannot block SIGINT and SIGTERM");
    }
    if (rc == CLI_EXIT_OK) rc = run_up(&a, server_dir, agent_dir, &found);
    free(server_dir);
    free(agent_dir);
    cli_server_data_free(&found);
    return rc;
}
