/* `haetae scan`: find personal data in exposed files and count the persons.
 * Exit status: 0 every input was read completely, 1 some input was not (the
 * notes say which) or the scan failed, 2 usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "scope/scope.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: haetae scan [options] PATH...\n\n"
            "Finds personal data (resident/foreigner registration numbers, cards, IMEI, IMSI,\n"
            "ICCID, phones, e-mail, passports, labelled bank accounts) in files, directories,\n"
            "compressed files and archives ('-' reads standard input), and counts the persons.\n\n"
            "  --format table|jsonl|csv  summary format (default: table on a terminal);\n"
            "                            csv also makes --findings/--subjects CSV\n"
            "  --threads N               worker threads (default: one per CPU)\n"
            "  --findings FILE           write every finding, identifiers masked ('-': stdout)\n"
            "  --subjects FILE           write the distinct persons with salted hashes\n"
            "  --salt HEX                key for the hashes (default: random, in the file header)\n"
            "  --reveal                  write identifiers in the clear (notification team only)\n"
            "  --binary                  scan files that look binary instead of skipping them\n"
            "  --min-confidence X        drop findings below X (default 0.3)\n"
            "  --no-progress             no progress bar on the terminal\n\n"
            "Exit status: 0 all input read, 1 some input unread or the scan failed, 2 usage.\n");
}

typedef struct progress_bar {
    const scope_scanner *scanner;
    atomic_bool is_done;
    int64_t started;
} progress_bar;

static void human_bytes(double bytes, char *out, size_t len) {
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    unsigned u = 0;
    while (bytes >= 1000.0 && u < 4) {
        bytes /= 1000.0;
        u++;
    }
    snprintf(out, len, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

static void *progress_main(void *arg) {
    progress_bar *bar = arg;
    while (!atomic_load(&bar->is_done)) {
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
        scope_progress p;
        scope_scanner_progress(bar->scanner, &p);
        double secs = (double)(hae_time_monotonic_ns() - bar->started) / 1e9;
        double frac = p.bytes_total ? (double)p.bytes_done / (double)p.bytes_total : 0.0;
        if (frac > 1.0) frac = 1.0;
        char bar_text[31];
        int filled = (int)(frac * 30.0);
        for (int i = 0; i < 30; i++) bar_text[i] = i < filled ? '#' : '.';
        bar_text[30] = '\0';
        char done[32], total[32], rate[32];
        human_bytes((double)p.bytes_done, done, sizeof done);
        human_bytes((double)p.bytes_total, total, sizeof total);
        human_bytes(secs > 0 ? (double)p.bytes_done / secs : 0.0, rate, sizeof rate);
        fprintf(stderr, "\r[%s] %3.0f%% %s / %s  %s/s  files %llu/%llu  findings %llu ", bar_text,
                frac * 100.0, done, total, rate, (unsigned long long)p.files_done,
                (unsigned long long)p.files_total, (unsigned long long)p.findings);
        fflush(stderr);
    }
    fprintf(stderr, "\r%100s\r", "");
    return NULL;
}

static void print_table(FILE *out, const scope_report *r) {
    char bytes[32], rate[32];
    human_bytes((double)r->bytes, bytes, sizeof bytes);
    human_bytes(r->seconds > 0 ? (double)r->bytes / r->seconds : 0.0, rate, sizeof rate);
    fprintf(out, "files      %llu seen, %llu scanned, %llu skipped, %llu failed\n",
            (unsigned long long)r->files_seen, (unsigned long long)r->files_scanned,
            (unsigned long long)r->files_skipped, (unsigned long long)r->files_failed);
    fprintf(out, "read       %s in %.2f s (%s/s)\n", bytes, r->seconds, rate);
    fprintf(out, "records    %llu holding personal data\n", (unsigned long long)r->records);
    fprintf(out, "persons    %llu distinct (%.0f persons/s)\n\n", (unsigned long long)r->persons,
            r->seconds > 0 ? (double)r->persons / r->seconds : 0.0);
    fprintf(out, "%-14s %10s %10s %10s %10s\n", "kind", "high", "medium", "low", "persons");
    for (unsigned k = 0; k < SCOPE_KIND_COUNT; k++) {
        const uint64_t *c = r->counts[k];
        if (!c[0] && !c[1] && !c[2]) continue;
        fprintf(out, "%-14s %10llu %10llu %10llu %10llu\n", scope_kind_name((scope_kind)k),
                (unsigned long long)c[SCOPE_HIGH], (unsigned long long)c[SCOPE_MEDIUM],
                (unsigned long long)c[SCOPE_LOW], (unsigned long long)r->persons_with[k]);
    }
    if (r->note_count) fprintf(out, "\nnotes (%zu):\n", r->note_count);
    for (size_t i = 0; i < r->note_count && i < 50; i++) {
        fprintf(out, "  %s: %s%s\n", r->notes[i].file, r->notes[i].message,
                r->notes[i].is_incomplete ? " [not fully read]" : "");
    }
    if (r->note_count > 50) fprintf(out, "  ... %zu more\n", r->note_count - 50);
    fprintf(out, "\n%s\n", r->is_complete ? "every input was read completely"
                                          : "some input was NOT read completely (see notes)");
}

static int print_jsonl(FILE *out, const scope_report *r) {
    hae_buf b = {0};
    int rc = hae_buf_printf(&b, "{\"files_seen\":%llu,\"files_scanned\":%llu,\"files_skipped\":%llu,"
                            "\"files_failed\":%llu,\"bytes\":%llu,\"seconds\":%.3f,\"records\":%llu,"
                            "\"persons\":%llu,\"complete\":%s,\"kinds\":{",
                            (unsigned long long)r->files_seen, (unsigned long long)r->files_scanned,
                            (unsigned long long)r->files_skipped, (unsigned long long)r->files_failed,
                            (unsigned long long)r->bytes, r->seconds, (unsigned long long)r->records,
                            (unsigned long long)r->persons, r->is_complete ? "true" : "false");
    bool first = true;
    for (unsigned k = 0; k < SCOPE_KIND_COUNT && rc == HAE_OK; k++) {
        const uint64_t *c = r->counts[k];
        if (!c[0] && !c[1] && !c[2]) continue;
        rc = hae_buf_printf(&b, "%s\"%s\":{\"high\":%llu,\"medium\":%llu,\"low\":%llu,\"persons\":%llu}",
                            first ? "" : ",", scope_kind_name((scope_kind)k),
                            (unsigned long long)c[SCOPE_HIGH], (unsigned long long)c[SCOPE_MEDIUM],
                            (unsigned long long)c[SCOPE_LOW], (unsigned long long)r->persons_with[k]);
        first = false;
    }
    if (rc == HAE_OK) rc = hae_buf_append_str(&b, "},\"notes\":[");
    for (size_t i = 0; i < r->note_count && rc == HAE_OK; i++) {
        rc = hae_buf_append_str(&b, i ? ",{\"file\":" : "{\"file\":");
        if (rc == HAE_OK) rc = hae_json_append_string(&b, r->notes[i].file, strlen(r->notes[i].file));
        if (rc == HAE_OK) rc = hae_buf_append_str(&b, ",\"message\":");
        if (rc == HAE_OK) rc = hae_json_append_string(&b, r->notes[i].message, strlen(r->notes[i].message));
        if (rc == HAE_OK) rc = hae_buf_printf(&b, ",\"incomplete\":%s}", r->notes[i].is_incomplete ? "true" : "false");
    }
    if (rc == HAE_OK) rc = hae_buf_append_str(&b, "]}\n");
    if (rc == HAE_OK && fwrite(b.data, 1, b.len, out) != b.len) rc = HAE_EIO;
    hae_buf_free(&b);
    return rc;
}

static void print_csv(FILE *out, const scope_report *r) {
    fprintf(out, "kind,high,medium,low,persons\n");
    for (unsigned k = 0; k < SCOPE_KIND_COUNT; k++) {
        const uint64_t *c = r->counts[k];
        fprintf(out, "%s,%llu,%llu,%llu,%llu\n", scope_kind_name((scope_kind)k),
                (unsigned long long)c[SCOPE_HIGH], (unsigned long long)c[SCOPE_MEDIUM],
                (unsigned long long)c[SCOPE_LOW], (unsigned long long)r->persons_with[k]);
    }
    fprintf(out, "persons,,,,%llu\n", (unsigned long long)r->persons);
}

/* Output files hold personal data: created owner-only. */
static FILE *open_private(const char *path) {
    if (strcmp(path, "-") == 0) return stdout;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0) close(fd);
    return f;
}

static int parse_salt(const char *hex, uint8_t *salt, size_t *len) {
    size_t n = strlen(hex);
    if (n == 0 || n % 2 || n > 64) return HAE_EINVAL;
    for (size_t i = 0; i < n; i += 2) {
        char byte[3] = {hex[i], hex[i + 1], '\0'};
        char *end;
        unsigned long v = strtoul(byte, &end, 16);
        if (*end) return HAE_EINVAL;
        salt[i / 2] = (uint8_t)v;
    }
    *len = n / 2;
    return HAE_OK;
}

typedef struct scan_args {
    scope_options opt;
    const char *format, *findings, *subjects;
    bool has_progress;
    uint8_t salt[32];
} scan_args;

static int parse_args(int argc, char **argv, scan_args *a) {
    static const struct option longs[] = {
        {"format", required_argument, NULL, 'f'},  {"threads", required_argument, NULL, 't'},
        {"findings", required_argument, NULL, 'o'}, {"subjects", required_argument, NULL, 's'},
        {"salt", required_argument, NULL, 'k'},    {"reveal", no_argument, NULL, 'r'},
        {"binary", no_argument, NULL, 'b'},        {"min-confidence", required_argument, NULL, 'm'},
        {"no-progress", no_argument, NULL, 'n'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    scope_options_default(&a->opt);
    a->has_progress = isatty(STDERR_FILENO);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'f': a->format = optarg; break;
        case 't': {
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || n == 0 || n > 1024) return cli_fail("scan", CLI_EXIT_USAGE, "--threads wants 1-1024");
            a->opt.threads = (unsigned)n;
            break;
        }
        case 'o': a->findings = optarg; break;
        case 's': a->subjects = optarg; break;
        case 'k':
            if (parse_salt(optarg, a->salt, &a->opt.salt_len) < 0)
                return cli_fail("scan", CLI_EXIT_USAGE, "--salt wants 2-64 hex digits");
            a->opt.salt = a->salt;
            break;
        case 'r': a->opt.reveal = true; break;
        case 'b': a->opt.scan_binary = true; break;
        case 'm': {
            float v = strtof(optarg, &end);
            if (*end || v < 0.0f || v > 1.0f) return cli_fail("scan", CLI_EXIT_USAGE, "--min-confidence wants 0-1");
            a->opt.min_confidence = v;
            break;
        }
        case 'n': a->has_progress = false; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (a->format && strcmp(a->format, "table") != 0 && strcmp(a->format, "jsonl") != 0 &&
        strcmp(a->format, "csv") != 0)
        return cli_fail("scan", CLI_EXIT_USAGE, "--format wants table, jsonl or csv");
    if (a->format && strcmp(a->format, "csv") == 0) a->opt.out_format = SCOPE_OUT_CSV;
    return CLI_EXIT_OK;
}

static int run_scan(scan_args *a, int argc, char **argv) {
    if (a->findings && !(a->opt.findings = open_private(a->findings)))
        return cli_fail("scan", CLI_EXIT_FAIL, "cannot create %s: %s", a->findings, strerror(errno));
    if (a->subjects && !(a->opt.subjects = open_private(a->subjects)))
        return cli_fail("scan", CLI_EXIT_FAIL, "cannot create %s: %s", a->subjects, strerror(errno));
    scope_scanner *scanner = NULL;
    hae_err err = {0};
    if (scope_scanner_new(&scanner, &a->opt, &err) < 0)
        return cli_fail("scan", CLI_EXIT_FAIL, "%s", err.msg);
    progress_bar bar = {.scanner = scanner, .started = hae_time_monotonic_ns()};
    pthread_t progress;
    bool has_thread = a->has_progress && pthread_create(&progress, NULL, progress_main, &bar) == 0;
    scope_report report;
    int rc = scope_scan_paths(scanner, (const char *const *)argv + optind, (size_t)(argc - optind),
                              &report, &err);
    if (has_thread) {
        atomic_store(&bar.is_done, true);
        pthread_join(progress, NULL);
    }
    /* findings on stdout: the summary moves to stderr */
    FILE *out = a->findings && strcmp(a->findings, "-") == 0 ? stderr : stdout;
    int exit_code = rc < 0 ? cli_fail("scan", CLI_EXIT_FAIL, "%s", err.msg)
                           : report.is_complete ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (rc == HAE_OK) {
        const char *fmt = a->format ? a->format : isatty(fileno(out)) ? "table" : "jsonl";
        if (strcmp(fmt, "table") == 0) print_table(out, &report);
        else if (strcmp(fmt, "csv") == 0) print_csv(out, &report);
        else if (print_jsonl(out, &report) < 0) exit_code = CLI_EXIT_FAIL;
    }
    scope_report_free(&report);
    scope_scanner_free(scanner);
    if (a->opt.findings && a->opt.findings != stdout && fclose(a->opt.findings) != 0)
        exit_code = cli_fail("scan", CLI_EXIT_FAIL, "cannot write %s", a->findings);
    if (a->opt.subjects && a->opt.subjects != stdout && fclose(a->opt.subjects) != 0)
        exit_code = cli_fail("scan", CLI_EXIT_FAIL, "cannot write %s", a->subjects);
    return exit_code;
}

int cli_cmd_scan(int argc, char **argv) {
    scan_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc < 0) return CLI_EXIT_OK; /* --help */
    if (rc != CLI_EXIT_OK) return rc;
    return run_scan(&a, argc, argv);
}
