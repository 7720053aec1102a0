/* `haetae agent`: the host agent, continuously or once. */
#include <getopt.h>
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: haetae agent [--once] [options]\n"
    "  --once              run every sensor once, print findings, exit\n"
    "  --format F          jsonl or table (default: table on a terminal)\n"
    "  --state DIR         spool, FIM baseline (default /var/lib/haetae as root, else ./var/agent)\n"
    "  --fim-root DIR      watch and baseline DIR (repeatable)\n"
    "  --web-root DIR      DIR serves web pages: new scripts there are web shells (repeatable)\n"
    "  --log FILE          follow FILE (repeatable)\n"
    "  --yara FILE         YARA rule file (repeatable)\n"
    "  --scan-dir DIR      with --once, YARA-scan DIR (repeatable)\n"
    "  --no-defaults       use only the trees, logs and rules given here\n"
    "  --no-journal        do not follow journald\n"
    "  --interval SEC      socket and process scans every SEC seconds (default 60)\n"
    "  --spool-max-bytes N bound on the spool (default 268435456)\n";

typedef struct agent_args {
    bool once;
    bool defaults;
    const char *format;
    agent_config cfg;
    cli_strings fim_roots, web_roots, logs, yara, scan_dirs;
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
    free(rules);
    return rc;
}

static int parse_args(agent_args *a, int argc, char **argv) {
    enum { OPT_FORMAT = 256, OPT_STATE, OPT_FIM, OPT_WEB, OPT_LOG, OPT_YARA, OPT_SCAN,
           OPT_NODEF, OPT_NOJOURNAL, OPT_INTERVAL, OPT_SPOOLMAX, OPT_HELP };
    static const struct option options[] = {
        {"once", no_argument, NULL, 'o'}, {"format", required_argument, NULL, OPT_FORMAT},
        {"state", required_argument, NULL, OPT_STATE}, {"fim-root", required_argument, NULL, OPT_FIM},
        {"web-root", required_argument, NULL, OPT_WEB}, {"log", required_argument, NULL, OPT_LOG},
        {"yara", required_argument, NULL, OPT_YARA}, {"scan-dir", required_argument, NULL, OPT_SCAN},
        {"no-defaults", no_argument, NULL, OPT_NODEF}, {"no-journal", no_argument, NULL, OPT_NOJOURNAL},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"spool-max-bytes", required_argument, NULL, OPT_SPOOLMAX},
        {"help", no_argument, NULL, OPT_HELP}, {NULL, 0, NULL, 0}};
    a->defaults = true;
    a->cfg.journal = true;
    int c, rc = HAE_OK;
    optind = 1;
    while (rc == HAE_OK && (c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'o': a->once = true; break;
        case OPT_FORMAT: a->format = optarg; break;
        case OPT_STATE: a->cfg.state_dir = optarg; break;
        case OPT_FIM: rc = cli_strings_push(&a->fim_roots, optarg); break;
        case OPT_WEB: rc = cli_strings_push(&a->web_roots, optarg); break;
        case OPT_LOG: rc = cli_strings_push(&a->logs, optarg); break;
        case OPT_YARA: rc = cli_strings_push(&a->yara, optarg); break;
        case OPT_SCAN: rc = cli_strings_push(&a->scan_dirs, optarg); break;
        case OPT_NODEF: a->defaults = false; break;
        case OPT_NOJOURNAL: a->cfg.journal = false; break;
        case OPT_INTERVAL:
            a->cfg.scan_interval_s = (unsigned)strtoul(optarg, &end, 10);
            if (!*optarg || *end || a->cfg.scan_interval_s == 0) {
                return cli_fail("agent", CLI_EXIT_USAGE, "--interval: '%s' is not a positive number of seconds", optarg);
            }
            break;
        case OPT_SPOOLMAX:
            a->cfg.spool_max_bytes = strtoull(optarg, &end, 10);
            if (!*optarg || *end || a->cfg.spool_max_bytes < 65536) {
                return cli_fail("agent", CLI_EXIT_USAGE, "--spool-max-bytes: '%s' must be a number >= 65536", optarg);
            }
            break;
        case OPT_HELP: fputs(usage, stdout); return -1;
        default: fputs(usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        return cli_fail("agent", CLI_EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    }
    if (rc == HAE_OK && a->defaults) rc = add_defaults(a);
    if (rc < 0) return cli_fail("agent", CLI_EXIT_FAIL, "out of memory");
    if (!a->cfg.state_dir) a->cfg.state_dir = geteuid() == 0 ? "/var/lib/haetae" : "var/agent";
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
    return 0;
}

static void free_args(agent_args *a) {
    cli_strings_free(&a->fim_roots);
    cli_strings_free(&a->web_roots);
    cli_strings_free(&a->logs);
    cli_strings_free(&a->yara);
    cli_strings_free(&a->scan_dirs);
    if (a->rule_glob.gl_pathv) globfree(&a->rule_glob);
}

static int run_once(agent_args *a) {
    cli_format format;
    if (cli_format_parse(a->format, stdout, &format) < 0) {
        return cli_fail("agent", CLI_EXIT_USAGE, "--format: '%s' is not jsonl or table", a->format);
    }
    cli_findings findings = {0};
    hae_sink sink = format == CLI_FORMAT_TABLE ? cli_findings_sink(&findings)
                                               : (hae_sink){.emit = cli_emit_jsonl, .ctx = stdout};
    if (geteuid() != 0) {
        fprintf(stderr, "haetae agent: not root: other users' sockets, processes and files stay hidden\n");
    }
    hae_err err = {0};
    int rc = agent_run_once(&a->cfg, &sink, &err);
    if (format == CLI_FORMAT_TABLE) cli_findings_print(&findings, stdout);
    cli_findings_free(&findings);
    if (fflush(stdout) != 0) return cli_fail("agent", CLI_EXIT_FAIL, "cannot write output");
    return rc < 0 ? cli_fail("agent", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
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
    return rc < 0 ? cli_fail("agent", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}

int cli_cmd_agent(int argc, char **argv) {
    agent_args a = {0};
    int rc = parse_args(&a, argc, argv);
    if (rc == 0) {
        rc = a.once ? run_once(&a) : run_continuously(&a);
    } else if (rc < 0) {
        rc = CLI_EXIT_OK; /* --help */
    }
    free_args(&a);
    return rc;
}
