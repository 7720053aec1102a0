/* `haetae fim`: file integrity from the command line.
 *   haetae fim baseline --root DIR... --out FILE [--threads N]
 *   haetae fim check    --root DIR... --baseline FILE [--threads N]
 *   haetae fim watch    --root DIR... [--seconds N] [--inotify]
 *   haetae fim canary   --root DIR... --canary-list FILE
 * Findings and events go to stdout as JSON lines; check exits 1 when it
 * reports anything above informational. Roots must exist: a missing root is
 * exit 3 before anything is written. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sensor/sensor.h"

typedef struct fim_args {
    cli_strings roots;
    cli_strings web_roots;
    fim_options opt;
    const char *file; /* --out or --baseline */
    uint64_t seconds, threads, burst, burst_window_ms;
} fim_args;

typedef struct counting_sink {
    FILE *out;
    size_t above_info;
} counting_sink;

static int emit_counted(void *ctx, const hae_event *ev, hae_err *err) {
    counting_sink *c = ctx;
    const char *severity = hae_event_get_str(ev, "severity");
    if (severity && strcmp(severity, "informational") != 0) c->above_info++;
    int rc = cli_emit_jsonl(c->out, ev, err);
    if (rc == HAE_OK) fflush(c->out); /* line by line: readers measure latency */
    return rc;
}

#define FIM_COMMON_OPTIONS(a)                                                                   \
    {.name = "root", .kind = CLI_OPT_DIRS, .target = &(a)->roots, .required = true,            \
     .help = "tree to check (an existing directory)"},                                          \
    {.name = "web-root", .kind = CLI_OPT_DIRS, .target = &(a)->web_roots,                       \
     .help = "tree where new scripts are web shells"},                                          \
    {.name = "etc-prefix", .kind = CLI_OPT_STRING, .target = &(a)->opt.etc_prefix,              \
     .metavar = "DIR", .help = "changes below it are fim.etc_changed (default /etc)"},          \
    {.name = "canary-list", .kind = CLI_OPT_STRING, .target = &(a)->opt.canary_list,            \
     .metavar = "FILE", .help = "list of planted canary files"},                                \
    {.name = "threads", .kind = CLI_OPT_UINT, .target = &(a)->threads, .max = 1024,             \
     .help = "hashing workers, 0 = one per core (default)"},                                    \
    {.name = "burst", .kind = CLI_OPT_UINT, .target = &(a)->burst, .min = 1, .max = 1000000,    \
     .help = "ransomware signal: this many high-entropy changes... (default 20)"},              \
    {.name = "burst-window", .kind = CLI_OPT_UINT, .target = &(a)->burst_window_ms, .min = 1,   \
     .max = 86400000, .metavar = "MS", .help = "...within this many milliseconds (default 10000)"}

static const char fim_epilog[] = "Findings are JSON lines on stdout (docs/findings/fim.md).\n";

static int parse_verb(const char *verb, fim_args *a, int argc, char **argv) {
    const cli_opt baseline_opts[] = {
        FIM_COMMON_OPTIONS(a),
        {.name = "out", .kind = CLI_OPT_STRING, .target = &a->file, .metavar = "FILE",
         .required = true, .help = "where to write the baseline (replaced atomically)"},
    };
    const cli_opt check_opts[] = {
        FIM_COMMON_OPTIONS(a),
        {.name = "baseline", .kind = CLI_OPT_FILE, .target = &a->file, .required = true,
         .help = "the baseline written by 'fim baseline'"},
    };
    const cli_opt watch_opts[] = {
        FIM_COMMON_OPTIONS(a),
        {.name = "seconds", .kind = CLI_OPT_UINT, .target = &a->seconds, .max = 31536000,
         .help = "stop after N seconds (default: until interrupted)"},
        {.name = "inotify", .kind = CLI_OPT_FLAG, .target = &a->opt.force_inotify,
         .help = "use inotify even where fanotify works"},
    };
    const cli_opt canary_opts[] = {
        FIM_COMMON_OPTIONS(a),
    };
    cli_spec spec = {.epilog = fim_epilog};
    if (strcmp(verb, "baseline") == 0) {
        spec = (cli_spec){.command = "haetae fim baseline",
                          .synopsis = "haetae fim baseline --root DIR... --out FILE [options]",
                          .description = "Hashes every file under the roots (SHA-256) and records modes and owners.",
                          .opts = baseline_opts, .count = sizeof baseline_opts / sizeof baseline_opts[0]};
    } else if (strcmp(verb, "check") == 0) {
        spec = (cli_spec){.command = "haetae fim check",
                          .synopsis = "haetae fim check --root DIR... --baseline FILE [options]",
                          .description = "Compares the roots with a baseline; exit 1 when anything above "
                          "informational changed.",
                          .opts = check_opts, .count = sizeof check_opts / sizeof check_opts[0]};
    } else if (strcmp(verb, "watch") == 0) {
        spec = (cli_spec){.command = "haetae fim watch",
                          .synopsis = "haetae fim watch --root DIR... [--seconds N] [options]",
                          .description = "Reports changes as they happen (fanotify, else inotify).",
                          .opts = watch_opts, .count = sizeof watch_opts / sizeof watch_opts[0]};
    } else {
        spec = (cli_spec){.command = "haetae fim canary",
                          .synopsis = "haetae fim canary --root DIR... --canary-list FILE",
                          .description = "Plants canary files in each root and lists them in --canary-list.",
                          .opts = canary_opts, .count = sizeof canary_opts / sizeof canary_opts[0]};
    }
    spec.epilog = fim_epilog;
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    if (strcmp(verb, "canary") == 0 && !a->opt.canary_list) {
        return cli_fail("fim canary", CLI_EXIT_USAGE, "--canary-list is required");
    }
    a->opt.threads = (unsigned)a->threads;
    a->opt.burst_threshold = (unsigned)a->burst;
    a->opt.burst_window_ms = (unsigned)a->burst_window_ms;
    a->opt.roots = a->roots.items;
    a->opt.root_count = a->roots.count;
    a->opt.web_roots = a->web_roots.items;
    a->opt.web_root_count = a->web_roots.count;
    return CLI_PARSE_CONTINUE;
}

static int run_watch(const fim_args *a, const hae_sink *sink) {
    fim_watch *w = NULL;
    hae_err err = {0};
    if (fim_watch_open(&w, &a->opt, sink, &err) < 0) {
        return cli_fail("fim watch", cli_exit_for_error(err.code), "%s", err.msg);
    }
    int64_t deadline = a->seconds ? hae_time_monotonic_ns() + (int64_t)a->seconds * 1000000000LL : 0;
    int status = CLI_EXIT_OK;
    for (;;) {
        int timeout = -1;
        if (deadline) {
            int64_t left = deadline - hae_time_monotonic_ns();
            if (left <= 0) break;
            timeout = (int)(left / 1000000) + 1;
        }
        struct pollfd p = {.fd = fim_watch_fd(w), .events = POLLIN};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            status = cli_fail("fim watch", CLI_EXIT_ERROR, "poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && fim_watch_read(w, sink, &err) < 0) {
            status = cli_fail("fim watch", cli_exit_for_error(err.code), "%s", err.msg);
            break;
        }
    }
    fim_watch_close(w);
    return status;
}

static int run_verb(const char *verb, int argc, char **argv) {
    fim_args a = {0};
    int status = parse_verb(verb, &a, argc, argv);
    if (status == CLI_PARSE_CONTINUE) {
        status = CLI_EXIT_OK;
        counting_sink counter = {.out = stdout};
        hae_sink sink = {.emit = emit_counted, .ctx = &counter};
        hae_err err = {0};
        int rc = HAE_OK;
        if (strcmp(verb, "baseline") == 0) {
            rc = fim_baseline_build(&a.opt, a.file, &sink, &err);
        } else if (strcmp(verb, "check") == 0) {
            rc = fim_baseline_check(&a.opt, a.file, &sink, &err);
            if (rc == HAE_OK && counter.above_info > 0) status = CLI_EXIT_FOUND;
        } else if (strcmp(verb, "canary") == 0) {
            rc = fim_canary_plant(&a.opt, &sink, &err);
        } else {
            status = run_watch(&a, &sink);
        }
        if (rc < 0) status = cli_fail("fim", cli_exit_for_error(rc), "%s", err.msg);
    }
    cli_strings_free(&a.roots);
    cli_strings_free(&a.web_roots);
    return status;
}

static int run_baseline(int argc, char **argv) { return run_verb("baseline", argc, argv); }
static int run_check(int argc, char **argv) { return run_verb("check", argc, argv); }
static int run_watch_verb(int argc, char **argv) { return run_verb("watch", argc, argv); }
static int run_canary(int argc, char **argv) { return run_verb("canary", argc, argv); }

int cli_cmd_fim(int argc, char **argv) {
    static const cli_subcommand subs[] = {
        {"baseline", run_baseline, "hash the trees and record a baseline"},
        {"check", run_check, "compare the trees with a baseline (exit 1 on changes)"},
        {"watch", run_watch_verb, "report changes as they happen"},
        {"canary", run_canary, "plant canary files whose change is ransomware's signal"},
    };
    return cli_subcommand_dispatch("haetae fim", subs, sizeof subs / sizeof subs[0], argc, argv);
}
