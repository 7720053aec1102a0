/* haetae hunt --rules PATH... [--yara PATH...] [--mapping FILE]
 *             [--format jsonl|table] INPUT...
 * Sigma rules over log files collected after a breach: JSON lines (or
 * concatenated JSON objects such as EVTX exports), syslog and auditd, auto
 * detected per line; '-' reads stdin. One JSON line per match, or a table
 * of counts per rule and level on a terminal. Malformed lines are counted,
 * reported with file and line, and skipped. Exit 1 when anything matched. */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "detect/detect.h"

typedef struct rule_count {
    const detect_rule_info *rule;
    uint64_t count;
} rule_count;

typedef struct hunt {
    cli_format format;
    detect_engine *engine;
    detect_yara *yara;
    const char *file;         /* current input */
    size_t line;
    uint64_t events, hits, malformed, yara_hits;
    rule_count *counts;
    size_t count_len, count_cap;
    hae_buf out;
    bool progress;
} hunt;

static int count_hit(hunt *h, const detect_rule_info *rule) {
    for (size_t i = 0; i < h->count_len; i++) {
        if (h->counts[i].rule == rule) {
            h->counts[i].count++;
            return HAE_OK;
        }
    }
    if (h->count_len == h->count_cap) {
        size_t cap = h->count_cap ? h->count_cap * 2 : 32;
        rule_count *grown = realloc(h->counts, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        h->counts = grown;
        h->count_cap = cap;
    }
    h->counts[h->count_len++] = (rule_count){.rule = rule, .count = 1};
    return HAE_OK;
}

static int append_tags(hae_buf *b, const char *const *tags, size_t count) {
    int rc = hae_buf_append_str(b, "\"tags\":[");
    for (size_t i = 0; rc == HAE_OK && i < count; i++) {
        if (i) rc = hae_buf_append_char(b, ',');
        if (rc == HAE_OK) rc = hae_json_append_string(b, tags[i], strlen(tags[i]));
    }
    return rc == HAE_OK ? hae_buf_append_char(b, ']') : rc;
}

static int append_source(hunt *h, hae_buf *b) {
    int rc = hae_buf_append_str(b, ",\"source\":{\"file\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, h->file, strlen(h->file));
    if (rc == HAE_OK) rc = hae_buf_printf(b, ",\"line\":%zu}", h->line);
    return rc;
}

static int write_line(hunt *h, hae_err *err) {
    if (fwrite(h->out.data, 1, h->out.len, stdout) != h->out.len) {
        return hae_err_set(err, HAE_EIO, "cannot write to standard output");
    }
    return HAE_OK;
}

static int on_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    hunt *h = ctx;
    h->hits++;
    if (count_hit(h, hit->rule) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (h->format != CLI_FORMAT_JSONL) return HAE_OK;
    hae_buf *b = &h->out;
    hae_buf_reset(b);
    const detect_rule_info *r = hit->rule;
    int rc = hae_buf_append_str(b, "{\"rule_id\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, r->id, strlen(r->id));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"title\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, r->title, strlen(r->title));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"level\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, r->level, strlen(r->level));
    if (rc == HAE_OK) rc = hae_buf_append_char(b, ',');
    if (rc == HAE_OK) rc = append_tags(b, r->tags, r->tag_count);
    if (rc == HAE_OK && r->is_correlation) {
        char first[HAE_TIME_LEN], last[HAE_TIME_LEN];
        hae_time_format(hit->first_ns, first);
        hae_time_format(hit->last_ns, last);
        rc = hae_buf_append_str(b, ",\"correlation\":{\"group\":");
        if (rc == HAE_OK) rc = hae_json_append_string(b, hit->group, strlen(hit->group));
        if (rc == HAE_OK) {
            rc = hae_buf_printf(b, ",\"count\":%llu,\"first\":\"%s\",\"last\":\"%s\"}",
                                (unsigned long long)hit->count, first, last);
        }
    }
    if (rc == HAE_OK) rc = append_source(h, b);
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"event\":");
    if (rc == HAE_OK) rc = hae_event_encode_json(hit->event, b);
    /* the encoder ends the event with '\n'; close our object before it */
    if (rc == HAE_OK && b->len && b->data[b->len - 1] == '\n') b->len--;
    if (rc == HAE_OK) rc = hae_buf_append_str(b, "}\n");
    if (rc < 0) return hae_err_set(err, rc, "cannot encode a match");
    return write_line(h, err);
}

static void malformed(hunt *h, const char *why) {
    h->malformed++;
    fprintf(stderr, "haetae hunt: %s:%zu: skipped: %s\n", h->file, h->line, why);
}

static int match_event(hunt *h, hae_event *ev, hae_err *err) {
    h->events++;
    int rc = detect_event_flatten_windows(ev, err);
    if (rc == HAE_OK) rc = detect_engine_match(h->engine, ev, on_hit, h, err);
    hae_event_clear(ev);
    return rc;
}

static void progress(hunt *h, size_t done, size_t total) {
    if (!h->progress || total < (8u << 20)) return;
    static size_t last;
    size_t pct = done * 100 / total;
    if (pct == last && done != total) return;
    last = pct;
    fprintf(stderr, "\r%s [%-50.*s] %3zu%%", h->file, (int)(pct / 2),
            "##################################################", pct);
    if (done == total) fputc('\n', stderr);
}

/* A buffer of JSON objects one after another (EVTX exports are pretty-printed). */
static int hunt_json_objects(hunt *h, const char *data, size_t size, hae_err *err) {
    size_t offset = 0, start = 0, len = 0, counted = 0;
    h->line = 1;
    for (;;) {
        hae_err why = {0};
        int found = detect_json_next_object(data, size, &offset, &start, &len, &why);
        for (; counted < start && counted < size; counted++) h->line += data[counted] == '\n';
        if (found == 0) return HAE_OK;
        if (found < 0) {
            malformed(h, why.msg);
            if (offset >= size) return HAE_OK;
            continue;
        }
        hae_event ev;
        if (hae_event_decode_json(&ev, data + start, len, &why) < 0) {
            malformed(h, why.msg);
            continue;
        }
        int rc = match_event(h, &ev, err);
        if (rc < 0) return rc;
        progress(h, offset, size);
    }
}

static int hunt_lines(hunt *h, const char *data, size_t size, hae_err *err) {
    h->line = 0;
    for (size_t pos = 0; pos < size;) {
        const char *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
        h->line++;
        const char *line = data + pos;
        pos += len + 1;
        if (len && line[len - 1] == '\r') len--;
        if (len == 0) continue;
        hae_event ev;
        hae_err why = {0};
        if (hae_log_parse_line(&ev, HAE_LOGFMT_AUTO, line, len, &why) < 0) {
            malformed(h, why.msg);
            continue;
        }
        int rc = match_event(h, &ev, err);
        if (rc < 0) return rc;
        if ((h->line & 0xfff) == 0) progress(h, pos < size ? pos : size, size);
    }
    progress(h, size, size);
    return HAE_OK;
}

static int hunt_buffer(hunt *h, const char *data, size_t size, hae_err *err) {
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) i++;
    /* A first object spanning lines means pretty-printed JSON objects. */
    if (i < size && data[i] == '{') {
        const char *nl = memchr(data + i, '\n', size - i);
        size_t first_line = nl ? (size_t)(nl - (data + i)) : size - i;
        hae_event probe;
        if (hae_event_decode_json(&probe, data + i, first_line, NULL) < 0) {
            return hunt_json_objects(h, data, size, err);
        }
        hae_event_clear(&probe);
    }
    return hunt_lines(h, data, size, err);
}

static int read_all(int fd, hae_buf *buf, const char *name, hae_err *err) {
    for (;;) {
        if (hae_buf_reserve(buf, 1 << 16) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
        ssize_t n = read(fd, buf->data + buf->len, buf->cap - buf->len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return hae_err_errno(err, errno, "%s", name);
        if (n == 0) return HAE_OK;
        buf->len += (size_t)n;
    }
}

static int hunt_input(hunt *h, const char *path, hae_err *err) {
    h->file = strcmp(path, "-") == 0 ? "<stdin>" : path;
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hae_err_errno(err, errno, "%s", path);
    struct stat st;
    int rc = HAE_OK;
    if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            rc = hae_err_errno(err, errno, "%s", path);
        } else {
            rc = hunt_buffer(h, map, (size_t)st.st_size, err);
            munmap(map, (size_t)st.st_size);
        }
    } else {
        hae_buf all = {0};
        rc = read_all(fd, &all, path, err);
        if (rc == HAE_OK && all.len) rc = hunt_buffer(h, all.data, all.len, err);
        hae_buf_free(&all);
    }
    if (fd != STDIN_FILENO) close(fd);
    return rc;
}

static int on_yara_hit(void *ctx, const char *rule, const char *ns, const char *const *tags,
                       size_t tag_count, hae_err *err) {
    hunt *h = ctx;
    h->yara_hits++;
    if (h->format != CLI_FORMAT_JSONL) return HAE_OK;
    hae_buf *b = &h->out;
    hae_buf_reset(b);
    int rc = hae_buf_append_str(b, "{\"yara_rule\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, rule, strlen(rule));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"namespace\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, ns, strlen(ns));
    if (rc == HAE_OK) rc = hae_buf_append_char(b, ',');
    if (rc == HAE_OK) rc = append_tags(b, tags, tag_count);
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"source\":{\"file\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, h->file, strlen(h->file));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, "}}\n");
    if (rc < 0) return hae_err_set(err, rc, "cannot encode a YARA match");
    return write_line(h, err);
}

static int level_rank(const char *level) {
    static const char *const order[] = {"critical", "high", "medium", "low", "informational"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(level, order[i]) == 0) return i;
    }
    return 5;
}

static int compare_counts(const void *a, const void *b) {
    const rule_count *x = a, *y = b;
    int d = level_rank(x->rule->level) - level_rank(y->rule->level);
    if (d) return d;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* Counts per rule and level, most severe first (as Chainsaw and Hayabusa summarise). */
static void print_table(hunt *h) {
    qsort(h->counts, h->count_len, sizeof *h->counts, compare_counts);
    printf("%-10s %8s  %s\n", "LEVEL", "COUNT", "RULE");
    for (size_t i = 0; i < h->count_len; i++) {
        const detect_rule_info *r = h->counts[i].rule;
        printf("%-10s %8llu  %s%s\n", r->level[0] ? r->level : "-",
               (unsigned long long)h->counts[i].count, r->title,
               r->is_correlation ? " (correlation)" : "");
    }
    uint64_t per_level[6] = {0};
    for (size_t i = 0; i < h->count_len; i++) {
        per_level[level_rank(h->counts[i].rule->level)] += h->counts[i].count;
    }
    printf("\n%llu events, %llu matches: %llu critical, %llu high, %llu medium, %llu low, "
           "%llu informational; %llu YARA matches\n",
           (unsigned long long)h->events, (unsigned long long)h->hits,
           (unsigned long long)per_level[0], (unsigned long long)per_level[1],
           (unsigned long long)per_level[2], (unsigned long long)per_level[3],
           (unsigned long long)per_level[4], (unsigned long long)h->yara_hits);
}

static void load_report(void *ctx, const char *file, detect_status status,
                        const detect_rule_info *info, const char *reason) {
    (void)info;
    size_t *skipped = ctx;
    if (status == DETECT_RULE_COMPILED) return;
    (*skipped)++;
    fprintf(stderr, "haetae hunt: rule skipped (%s): %s\n", detect_status_name(status),
            reason ? reason : file);
}

typedef struct hunt_args {
    cli_strings rules, yara, maps, inputs;
    const char *format;
    bool no_prefilter;
} hunt_args;

/* CLI_PARSE_CONTINUE when the hunt should run, else the exit code. */
static int parse_args(int argc, char **argv, hunt_args *a) {
    const cli_opt options[] = {
        {.name = "rules", .short_name = 'r', .kind = CLI_OPT_STRINGS, .target = &a->rules,
         .metavar = "PATH", .help = "Sigma rules: a file or a directory"},
        {.name = "yara", .short_name = 'y', .kind = CLI_OPT_STRINGS, .target = &a->yara,
         .metavar = "PATH", .help = "YARA rules: each INPUT file is scanned too"},
        {.name = "mapping", .short_name = 'm', .kind = CLI_OPT_STRINGS, .target = &a->maps,
         .metavar = "FILE", .help = "field mapping (fieldmappings: {RuleField: EventField})"},
        {.name = "format", .short_name = 'f', .kind = CLI_OPT_STRING, .target = &a->format,
         .metavar = "jsonl|table", .help = "output (default: table on a terminal, else jsonl)"},
        {.name = "no-prefilter", .short_name = 'n', .kind = CLI_OPT_FLAG, .target = &a->no_prefilter,
         .help = "evaluate every rule on every event"},
    };
    const cli_spec spec = {
        .command = "haetae hunt",
        .synopsis = "haetae hunt --rules PATH... [--yara PATH...] [--mapping FILE]\n"
                    "                   [--format jsonl|table] [--no-prefilter] INPUT...",
        .description = "Runs Sigma rules over JSON lines, Windows JSON exports, syslog and auditd\n"
                       "files (detected per line; '-' is stdin). --yara also scans each INPUT file.",
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .positional = &a->inputs,
        .positional_name = "INPUT",
        .min_positional = 1,
        .max_positional = SIZE_MAX,
    };
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    if (a->rules.count == 0 && a->yara.count == 0) {
        return cli_fail("hunt", CLI_EXIT_USAGE, "--rules or --yara is required (see 'haetae hunt --help')");
    }
    return CLI_PARSE_CONTINUE;
}

static int setup(hunt *h, const hunt_args *a, hae_err *err) {
    detect_options eo = {.no_prefilter = a->no_prefilter};
    int rc = detect_engine_new(&h->engine, &eo, err);
    for (size_t i = 0; rc == HAE_OK && i < a->maps.count; i++) {
        rc = detect_engine_load_mapping(h->engine, a->maps.items[i], err);
    }
    size_t skipped = 0;
    detect_load_counts counts = {0};
    for (size_t i = 0; rc == HAE_OK && i < a->rules.count; i++) {
        rc = detect_engine_load_path(h->engine, a->rules.items[i], load_report, &skipped, &counts, err);
    }
    if (rc == HAE_OK) rc = detect_engine_compile(h->engine, load_report, &skipped, err);
    if (rc == HAE_OK && a->yara.count) {
        rc = detect_yara_new(&h->yara, a->yara.items, a->yara.count, err);
    }
    if (rc == HAE_OK) {
        fprintf(stderr, "haetae hunt: %zu rules loaded, %zu skipped%s\n",
                detect_engine_rule_count(h->engine), skipped,
                skipped ? " (see 'haetae rules check')" : "");
    }
    return rc;
}

int cli_cmd_hunt(int argc, char **argv) {
    hunt_args a = {0};
    int status = parse_args(argc, argv, &a);
    if (status == CLI_PARSE_CONTINUE) status = CLI_EXIT_OK;
    else if (status == CLI_EXIT_OK) status = -1; /* --help printed */
    hunt h = {0};
    hae_err err = {0};
    int rc = HAE_OK;
    if (status == 0 && cli_format_parse(a.format, stdout, &h.format) < 0) {
        status = cli_fail("hunt", CLI_EXIT_USAGE, "--format must be jsonl or table");
    }
    if (status == 0) {
        h.progress = isatty(STDERR_FILENO);
        rc = setup(&h, &a, &err);
        for (size_t i = 0; rc == HAE_OK && i < a.inputs.count; i++) {
            const char *input = a.inputs.items[i];
            rc = hunt_input(&h, input, &err);
            if (rc == HAE_OK && h.yara && strcmp(input, "-") != 0) {
                rc = detect_yara_scan_file(h.yara, input, on_yara_hit, &h, &err);
            }
        }
        if (rc < 0) {
            status = cli_fail("hunt", CLI_EXIT_FAIL, "%s", err.msg);
        } else {
            if (h.format == CLI_FORMAT_TABLE) print_table(&h);
            detect_stats st;
            detect_engine_stats(h.engine, &st);
            fprintf(stderr, "haetae hunt: %llu events, %llu matches, %llu malformed lines skipped",
                    (unsigned long long)h.events, (unsigned long long)h.hits + (unsigned long long)h.yara_hits,
                    (unsigned long long)h.malformed);
            if (st.correlation_evicted) {
                fprintf(stderr, ", %llu correlation groups evicted (bound %zu)",
                        (unsigned long long)st.correlation_evicted, st.correlation_max_groups);
            }
            fputc('\n', stderr);
            status = h.hits + h.yara_hits ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        }
    }
    if (status < 0) status = CLI_EXIT_OK; /* --help */
    detect_engine_free(h.engine);
    detect_yara_free(h.yara);
    hae_buf_free(&h.out);
    free(h.counts);
    cli_strings_free(&a.rules);
    cli_strings_free(&a.yara);
    cli_strings_free(&a.maps);
    cli_strings_free(&a.inputs);
    return status;
}
