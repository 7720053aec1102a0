/* `haetae agent`: the host agent, continuously or once. */
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"

typedef struct agent_args {
    bool once;
    bool defaults;
    const char *format, *tz;
    uint64_t interval_s, spool_max_bytes;
    agent_config cfg;
    cli_strings fim_roots, web_roots, logs, yara, scan_dirs, allow;
    glob_t rule_glob;
} agent_args;

static const char *const default_fim_roots[] = {"/etc", "/usr/bin", "/usr/sbin",
                                                "/usr/local/bin", "/usr/local/sbin"};
static const char *const default_web_roots[] = {"/var/www", "/srv/www", "/usr/share/nginx/html"};
static const char *const default_logs[] = {"/var/log/auth.log", "/var/log/syslog",
                                           "/var/log/secure", "/var/log/messages",
                                           "/var/log/audit/audit.log"};
static const char *const default_scan_dirs[] = {"/dev/shm", "/tmp", "/var/tmp"};

static int push_existing(cli_strings *list, const char *const *paths, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (access(paths[i], F_OK) == 0 && cli_strings_push(list, paths[i]) < 0) return HAE_ENOMEM;
    }
    return HAE_OK;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int add_defaults(agent_args *a) {
    int rc = push_existing(&a->fim_roots, default_fim_roots, COUNT(default_fim_roots));
    if (rc == HAE_OK) rc = push_existing(&a->web_roots, default_web_roots, COUNT(default_web_roots));
    if (rc == HAE_OK) rc = push_existing(&a->logs, default_logs, COUNT(default_logs));
    if (rc == HAE_OK) rc = push_existing(&a->scan_dirs, default_scan_dirs, COUNT(default_scan_dirs));
    for (size_t i = 0; rc == HAE_OK && i < a->web_roots.count; i++) {
        rc = cli_strings_push(&a->scan_dirs, a->web_roots.items[i]);
    }
    char *rules = cli_find_rules_dir();
    if (rc == HAE_OK && rules) {
        char *pattern = NULL;
        if (asprintf(&pattern, "%s/yara/*.yar", rules) < 0) {
            rc = HAE_ENOMEM;
        } else if (glob(pattern, 0, NULL, &a->rule_glob) == 0) {
            for (size_t i = 0; rc == HAE_OK && i < a->rule_glob.gl_pathc; i++) {
                rc = cli_strings_push(&a->yara, a->rule_glob.gl_pathv[i]);
            }
        }
        free(pattern);
    }
    char *allow_dir = NULL;
    if (rc == HAE_OK && rules && asprintf(&allow_dir, "%s/allow", rules) < 0) rc = HAE_ENOMEM;
    if (rc == HAE_OK && allow_dir && access(allow_dir, F_OK) == 0) rc = cli_strings_push(&a->allow, allow_dir);
    free(allow_dir);
    free(rules);
    return rc;
}

static const char *const agent_formats[] = {"table", "jsonl", NULL};

static int parse_args(agent_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        {.name = "once", .kind = CLI_OPT_FLAG, .target = &a->once,
         .help = "run every sensor once, print findings, exit (1 when any is above informational)"},
        {.name = "format", .kind = CLI_OPT_ENUM, .target = &a->format, .choices = agent_formats,
         .help = "with --once; default: table on a terminal, else jsonl"},
        {.name = "state", .kind = CLI_OPT_STRING, .target = &a->cfg.state_dir, .metavar = "DIR",
         .help = "spool, FIM baseline (default /var/lib/haetae/agent as root, else ./var/agent)"},
        {.name = "fim-root", .kind = CLI_OPT_DIRS, .target = &a->fim_roots,
         .help = "watch and baseline DIR"},
        {.name = "web-root", .kind = CLI_OPT_DIRS, .target = &a->web_roots,
         .help = "DIR serves web pages: new scripts there are web shells"},
        {.name = "log", .kind = CLI_OPT_STRINGS, .target = &a->logs, .metavar = "FILE",
         .help = "follow FILE (it may appear later)"},
        {.name = "yara", .kind = CLI_OPT_STRINGS, .target = &a->yara, .metavar = "FILE",
         .help = "YARA rule file"},
        {.name = "tz", .kind = CLI_OPT_STRING, .target = &a->tz, .metavar = "ZONE",
         .help = "zone of log times without one (default: the host's; e.g. Asia/Seoul)"},
        {.name = "allow", .kind = CLI_OPT_STRINGS, .target = &a->allow, .metavar = "PATH",
         .help = "allowlist file or directory of them (default: the rules' allow/)"},
        {.name = "scan-dir", .kind = CLI_OPT_DIRS, .target = &a->scan_dirs,
         .help = "with --once, YARA-scan DIR"},
        {.name = "no-defaults", .kind = CLI_OPT_NEGATE, .target = &a->defaults,
         .help = "use only the trees, logs and rules given here"},
        {.name = "no-journal", .kind = CLI_OPT_NEGATE, .target = &a->cfg.journal,
         .help = "do not follow journald"},
        {.name = "interval", .kind = CLI_OPT_UINT, .target = &a->interval_s, .min = 1,
         .max = 86400, .metavar = "SEC", .help = "socket and process scans every SEC seconds (default 60)"},
        {.name = "spool-max-bytes", .kind = CLI_OPT_UINT, .target = &a->spool_max_bytes,
         .min = 65536, .max = UINT64_C(1) << 40, .help = "bound on the spool (default 268435456)"},
    };
    const cli_spec spec = {
        .command = "haetae agent",
        .synopsis = "haetae agent [--once] [options]",
        .description = "The host sensors: FIM, processes, sockets, logs, journald, YARA. Without "
                       "--once they run until\nSIGINT or SIGTERM, spooling every event and "
                       "sending it to the server once enrolled.",
        .opts = opts,
        .count = sizeof opts / sizeof opts[0],
    };
    a->defaults = true;
    a->cfg.journal = true;
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    hae_err err = {0};
    if (a->tz && hae_log_set_timezone(a->tz, &err) < 0) {
        return cli_fail("agent", CLI_EXIT_USAGE, "--tz: %s", err.msg);
    }
    a->cfg.scan_interval_s = (unsigned)a->interval_s;
    a->cfg.spool_max_bytes = a->spool_max_bytes;
    if (a->defaults && add_defaults(a) < 0) return cli_fail("agent", CLI_EXIT_ERROR, "out of memory");
    if (!a->cfg.state_dir) a->cfg.state_dir = geteuid() == 0 ? CLI_AGENT_STATE_ROOT : CLI_AGENT_STATE_USER;
    a->cfg.fim_roots = a->fim_roots.items;
    a->cfg.fim_root_count = a->fim_roots.count;
    a->cfg.web_roots = a->web_roots.items;
    a->cfg.web_root_count = a->web_roots.count;
    a->cfg.log_files = a->logs.items;
    a->cfg.log_file_count = a->logs.count;
    a->cfg.yara_rules = a->yara.items;
    a->cfg.yara_rule_count = a->yara.count;
    a->cfg.scan_dirs = a->scan_dirs.items;
    a->cfg.scan_dir_count = a->scan_dirs.count;
    a->cfg.allow_paths = a->allow.items;
    a->cfg.allow_path_count = a->allow.count;
    return CLI_PARSE_CONTINUE;
}

static void free_args(agent_args *a) {
    cli_strings_free(&a->fim_roots);
    cli_strings_free(&a->web_roots);
    cli_strings_free(&a->logs);
    cli_strings_free(&a->yara);
    cli_strings_free(&a->scan_dirs);
    cli_strings_free(&a->allow);
    if (a->rule_glob.gl_pathv) globfree(&a->rule_glob);
}

/* Counts findings above informational on their way to the real sink, for
 * the exit code. */
typedef struct counted_sink {
    hae_sink inner;
    size_t above_informational;
} counted_sink;

static int emit_counted(void *ctx, const hae_event *ev, hae_err *err) {
    counted_sink *c = ctx;
    const char *severity = hae_event_get_str(ev, "severity");
    if (severity && strcmp(severity, "informational") != 0) c->above_informational++;
    return c->inner.emit(c->inner.ctx, ev, err);
}

static int run_once(agent_args *a) {
    cli_format format;
    if (cli_format_parse(a->format, stdout, &format) < 0) {
        return cli_fail("agent", CLI_EXIT_USAGE, "--format: '%s' is not jsonl or table", a->format);
    }
    cli_findings findings = {0};
    counted_sink counter = {
        .inner = format == CLI_FORMAT_TABLE ? cli_findings_sink(&findings)
                                            : (hae_sink){.emit = cli_emit_jsonl, .ctx = stdout}};
    hae_sink sink = {.emit = emit_counted, .ctx = &counter};
    if (geteuid() != 0) {
        fprintf(stderr, "haetae agent: not root: other users' sockets, processes and files stay hidden\n");
    }
    hae_err err = {0};
    int rc = agent_run_once(&a->cfg, &sink, &err);
    if (format == CLI_FORMAT_TABLE) cli_findings_print(&findings, stdout);
    cli_findings_free(&findings);
    if (fflush(stdout) != 0) return cli_fail("agent", CLI_EXIT_ERROR, "cannot write output");
    if (rc < 0) return cli_fail("agent", cli_exit_for_error(rc), "%s", err.msg);
    return counter.above_informational > 0 ? CLI_EXIT_FOUND : CLI_EXIT_OK;
}

static volatile sig_atomic_t stop_requested;

static void request_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int run_continuously(agent_args *a) {
    struct sigaction sa = {.sa_handler = request_stop}; /* no SA_RESTART: poll wakes */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "haetae agent: spooling events under %s/spool (Ctrl-C stops)\n", a->cfg.state_dir);
    hae_err err = {0};
    int rc = agent_run(&a->cfg, &stop_requested, &err);
    return rc < 0 ? cli_fail("agent", cli_exit_for_error(rc), "%s", err.msg) : CLI_EXIT_OK;
}

int cli_cmd_agent(int argc, char **argv) {
    agent_args a = {0};
    int rc = parse_args(&a, argc, argv);
    if (rc == CLI_PARSE_CONTINUE) rc = a.once ? run_once(&a) : run_continuously(&a);
    free_args(&a);
    return rc;
}
