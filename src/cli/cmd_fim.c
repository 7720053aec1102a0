/* `haetae fim`: file integrity from the command line.
 *   haetae fim baseline --root DIR... --out FILE [--threads N]
 *   haetae fim check    --root DIR... --baseline FILE [--threads N]
 *   haetae fim watch    --root DIR... [--seconds N] [--inotify]
 *   haetae fim canary   --root DIR... --canary-list FILE
 * Findings and events go to stdout as JSON lines; check exits 1 when it
 * reports anything above informational. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sensor/sensor.h"

typedef struct fim_args {
    cli_strings roots;
    cli_strings web_roots;
    fim_options opt;
    const char *file;  /* --out or --baseline */
    long seconds;
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

static void usage(FILE *out) {
    fprintf(out,
            "usage: haetae fim baseline --root DIR... --out FILE [options]\n"
            "       haetae fim check    --root DIR... --baseline FILE [options]\n"
            "       haetae fim watch    --root DIR... [--seconds N] [--inotify] [options]\n"
            "       haetae fim canary   --root DIR... --canary-list FILE\n\n"
            "options:\n"
            "  --root DIR          tree to baseline, check or watch (repeatable)\n"
            "  --web-root DIR      tree where new scripts are web shells (repeatable)\n"
            "  --etc-prefix DIR    changes below it are fim.etc_changed (default /etc)\n"
            "  --canary-list FILE  list of planted canary files\n"
            "  --threads N         hashing workers, 0 = one per core (default)\n"
            "  --burst N / --burst-window MS   ransomware burst threshold and window\n"
            "Findings are JSON lines on stdout (docs/findings/fim.md).\n");
}

static int parse_uint(const char *text, unsigned *out) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || !end || *end || v > 1000000) return HAE_EINVAL;
    *out = (unsigned)v;
    return HAE_OK;
}

static int parse_args(int argc, char **argv, fim_args *a, const char *file_option) {
    enum { O_ROOT = 1, O_WEB, O_ETC, O_CANARY, O_THREADS, O_FILE, O_SECONDS, O_INOTIFY, O_BURST,
           O_WINDOW, O_HELP };
    const struct option options[] = {
        {"root", required_argument, NULL, O_ROOT},
        {"web-root", required_argument, NULL, O_WEB},
        {"etc-prefix", required_argument, NULL, O_ETC},
        {"canary-list", required_argument, NULL, O_CANARY},
        {"threads", required_argument, NULL, O_THREADS},
        {file_option ? file_option : "unused-file", required_argument, NULL, O_FILE},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"inotify", no_argument, NULL, O_INOTIFY},
        {"burst", required_argument, NULL, O_BURST},
        {"burst-window", required_argument, NULL, O_WINDOW},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    unsigned seconds = 0;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        int rc = HAE_OK;
        switch (c) {
        case O_ROOT: rc = cli_strings_push(&a->roots, optarg); break;
        case O_WEB: rc = cli_strings_push(&a->web_roots, optarg); break;
        case O_ETC: a->opt.etc_prefix = optarg; break;
        case O_CANARY: a->opt.canary_list = optarg; break;
        case O_THREADS: rc = parse_uint(optarg, &a->opt.threads); break;
        case O_FILE: a->file = optarg; break;
        case O_SECONDS: rc = parse_uint(optarg, &seconds); break;
        case O_INOTIFY: a->opt.force_inotify = true; break;
        case O_BURST: rc = parse_uint(optarg, &a->opt.burst_threshold); break;
        case O_WINDOW: rc = parse_uint(optarg, &a->opt.burst_window_ms); break;
        case O_HELP: usage(stdout); return -1; /* asked for help: not an error */
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
        if (rc < 0) return cli_fail("fim", CLI_EXIT_USAGE, "bad value '%s'", optarg);
    }
    if (optind != argc) return cli_fail("fim", CLI_EXIT_USAGE, "unexpected '%s'", argv[optind]);
    if (a->roots.count == 0) return cli_fail("fim", CLI_EXIT_USAGE, "give at least one --root");
    if (file_option && !a->file) return cli_fail("fim", CLI_EXIT_USAGE, "--%s is required",
                                                 file_option);
    a->seconds = seconds;
    a->opt.roots = a->roots.items;
    a->opt.root_count = a->roots.count;
    a->opt.web_roots = a->web_roots.items;
    a->opt.web_root_count = a->web_roots.count;
    return HAE_OK;
}

static int run_watch(const fim_args *a, const hae_sink *sink) {
    fim_watch *w = NULL;
    hae_err err = {0};
    if (fim_watch_open(&w, &a->opt, sink, &err) < 0) {
        return cli_fail("fim watch", CLI_EXIT_FAIL, "%s", err.msg);
    }
    int64_t deadline = a->seconds ? hae_time_monotonic_ns() + a->seconds * 1000000000LL : 0;
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
            status = cli_fail("fim watch", CLI_EXIT_FAIL, "poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && fim_watch_read(w, sink, &err) < 0) {
            status = cli_fail("fim watch", CLI_EXIT_FAIL, "%s", err.msg);
            break;
        }
    }
    fim_watch_close(w);
    return status;
}

int cli_cmd_fim(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *verb = argv[1];
    const char *file_option = strcmp(verb, "baseline") == 0 ? "out"
                              : strcmp(verb, "check") == 0  ? "baseline"
                                                            : NULL;
    if (!file_option && strcmp(verb, "watch") != 0 && strcmp(verb, "canary") != 0) {
        usage(stderr);
        return cli_fail("fim", CLI_EXIT_USAGE, "unknown action '%s'", verb);
    }
    fim_args a = {0};
    int status = parse_args(argc - 1, argv + 1, &a, file_option);
    if (status == -1) status = CLI_EXIT_OK;
    else if (status == HAE_OK) {
        counting_sink counter = {.out = stdout};
        hae_sink sink = {.emit = emit_counted, .ctx = &counter};
        hae_err err = {0};
        int rc = HAE_OK;
        if (strcmp(verb, "baseline") == 0) {
            rc = fim_baseline_build(&a.opt, a.file, &sink, &err);
        } else if (strcmp(verb, "check") == 0) {
            rc = fim_baseline_check(&a.opt, a.file, &sink, &err);
            if (rc == HAE_OK && counter.above_info > 0) status = CLI_EXIT_FAIL;
        } else if (strcmp(verb, "canary") == 0) {
            rc = fim_canary_plant(&a.opt, &sink, &err);
        } else {
            status = run_watch(&a, &sink);
        }
        if (rc < 0) status = cli_fail("fim", CLI_EXIT_FAIL, "%s", err.msg);
    }
    cli_strings_free(&a.roots);
    cli_strings_free(&a.web_roots);
    return status;
}
