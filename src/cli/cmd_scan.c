/* `haetae scan`: find personal data in exposed files and count the persons.
 * Exit status: 0 every input read, no personal data; 1 every input read,
 * personal data found; 2 usage; 3 some input not read completely (the notes
 * say which); 4 the scan failed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "scope/scope.h"

static const char scan_exit_codes[] =
    "exit codes: 0 every input read, no personal data; 1 every input read, personal data found;\n"
    "            2 usage; 3 some input not read completely (see the notes); 4 the scan failed\n";

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
    const char *format, *findings, *subjects, *salt_hex, *min_confidence;
    bool has_progress;
    uint64_t threads;
    cli_strings paths;
    uint8_t salt[32];
} scan_args;

static const char *const scan_formats[] = {"table", "jsonl", "csv", NULL};

static int parse_args(int argc, char **argv, scan_args *a) {
    const cli_opt opts[] = {
        {.name = "format", .kind = CLI_OPT_ENUM, .target = &a->format, .choices = scan_formats,
         .help = "summary format (default: table on a terminal); csv also makes --findings and "
                 "--subjects CSV"},
        {.name = "threads", .kind = CLI_OPT_UINT, .target = &a->threads, .min = 1, .max = 1024,
         .help = "worker threads (default: one per CPU)"},
        {.name = "findings", .kind = CLI_OPT_STRING, .target = &a->findings, .metavar = "FILE",
         .help = "write every finding, identifiers masked ('-': stdout)"},
        {.name = "subjects", .kind = CLI_OPT_STRING, .target = &a->subjects, .metavar = "FILE",
         .help = "write the distinct persons with salted hashes"},
        {.name = "salt", .kind = CLI_OPT_STRING, .target = &a->salt_hex, .metavar = "HEX",
         .help = "key for the hashes, 2-64 hex digits (default: random, in the file header)"},
        {.name = "reveal", .kind = CLI_OPT_FLAG, .target = &a->opt.reveal,
         .help = "write identifiers in the clear (notification team only)"},
        {.name = "binary", .kind = CLI_OPT_FLAG, .target = &a->opt.scan_binary,
         .help = "scan files that look binary instead of skipping them"},
        {.name = "min-confidence", .kind = CLI_OPT_STRING, .target = &a->min_confidence,
         .metavar = "X", .help = "drop findings below X, 0 to 1 (default 0.3)"},
        {.name = "no-progress", .kind = CLI_OPT_NEGATE, .target = &a->has_progress,
         .help = "no progress bar on the terminal"},
    };
    const cli_spec spec = {
        .command = "haetae scan",
        .synopsis = "haetae scan [options] PATH...",
        .description = "Finds personal data (resident/foreigner registration numbers, cards, IMEI, "
                       "IMSI, ICCID, phones,\ne-mail, passports, labelled bank accounts) in files, "
                       "directories, compressed files and\narchives ('-' reads standard input), and "
                       "counts the persons.",
        .opts = opts,
        .count = sizeof opts / sizeof opts[0],
        .positional = &a->paths,
        .positional_name = "PATH",
        .min_positional = 1,
        .max_positional = SIZE_MAX,
        .exit_codes = scan_exit_codes,
    };
    scope_options_default(&a->opt);
    a->has_progress = isatty(STDERR_FILENO);
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    if (a->threads) a->opt.threads = (unsigned)a->threads;
    if (a->salt_hex) {
        if (parse_salt(a->salt_hex, a->salt, &a->opt.salt_len) < 0) {
            return cli_fail("scan", CLI_EXIT_USAGE, "--salt: '%s' is not 2-64 hex digits",
                            a->salt_hex);
        }
        a->opt.salt = a->salt;
    }
    if (a->min_confidence) {
        char *end = NULL;
        float v = strtof(a->min_confidence, &end);
        if (end == a->min_confidence || *end || !(v >= 0.0f && v <= 1.0f)) {
            return cli_fail("scan", CLI_EXIT_USAGE, "--min-confidence: '%s' is not a number from "
                            "0 to 1", a->min_confidence);
        }
        a->opt.min_confidence = v;
    }
    if (a->format && strcmp(a->format, "csv") == 0) a->opt.out_format = SCOPE_OUT_CSV;
    return CLI_PARSE_CONTINUE;
}

static int scan_exit_code(const scope_report *r) {
    if (!r->is_complete) return CLI_EXIT_INPUT;
    return r->persons > 0 || r->records > 0 ? CLI_EXIT_FOUND : CLI_EXIT_OK;
}

static int run_scan(scan_args *a) {
    if (a->findings && !(a->opt.findings = open_private(a->findings)))
        return cli_fail("scan", CLI_EXIT_ERROR, "cannot create %s: %s", a->findings, strerror(errno));
    if (a->subjects && !(a->opt.subjects = open_private(a->subjects)))
        return cli_fail("scan", CLI_EXIT_ERROR, "cannot create %s: %s", a->subjects, strerror(errno));
    scope_scanner *scanner = NULL;
    hae_err err = {0};
    if (scope_scanner_new(&scanner, &a->opt, &err) < 0)
        return cli_fail("scan", CLI_EXIT_ERROR, "%s", err.msg);
    progress_bar bar = {.scanner = scanner, .started = hae_time_monotonic_ns()};
    pthread_t progress;
    bool has_thread = a->has_progress && pthread_create(&progress, NULL, progress_main, &bar) == 0;
    scope_report report;
    int rc = scope_scan_paths(scanner, a->paths.items, a->paths.count, &report, &err);
    if (has_thread) {
        atomic_store(&bar.is_done, true);
        pthread_join(progress, NULL);
    }
    /* findings on stdout: the summary moves to stderr */
    FILE *out = a->findings && strcmp(a->findings, "-") == 0 ? stderr : stdout;
    int exit_code = rc < 0 ? cli_fail("scan", cli_exit_for_error(rc), "%s", err.msg)
                           : scan_exit_code(&report);
    if (rc == HAE_OK) {
        const char *fmt = a->format ? a->format : isatty(fileno(out)) ? "table" : "jsonl";
        if (strcmp(fmt, "table") == 0) print_table(out, &report);
        else if (strcmp(fmt, "csv") == 0) print_csv(out, &report);
        else if (print_jsonl(out, &report) < 0) exit_code = CLI_EXIT_ERROR;
    }
    scope_report_free(&report);
    scope_scanner_free(scanner);
    if (a->opt.findings && a->opt.findings != stdout && fclose(a->opt.findings) != 0)
        exit_code = cli_fail("scan", CLI_EXIT_ERROR, "cannot write %s", a->findings);
    if (a->opt.subjects && a->opt.subjects != stdout && fclose(a->opt.subjects) != 0)
        exit_code = cli_fail("scan", CLI_EXIT_ERROR, "cannot write %s", a->subjects);
    return exit_code;
}

int cli_cmd_scan(int argc, char **argv) {
    scan_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc == CLI_PARSE_CONTINUE) rc = run_scan(&a);
    cli_strings_free(&a.paths);
    return rc;
}
