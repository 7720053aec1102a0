/* What a hunt match becomes: a row of the timeline (time, host, level,
 * rule, the fields the rule looked at), written as JSON lines or CSV as it
 * happens, or kept, sorted by time and printed as a table with a summary by
 * level and rule, as Chainsaw and Hayabusa show a hunt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/hunt_int.h"

static const char *const level_order[] = {"critical", "high", "medium", "low", "informational"};
#define LEVELS 5

static int level_rank(const char *level) {
    for (int i = 0; i < LEVELS; i++) {
        if (strcmp(level, level_order[i]) == 0) return i;
    }
    return LEVELS;
}

static int count_match(hunt *h, const char *level, const char *rule, bool correlation, bool yara) {
    for (size_t i = 0; i < h->count_len; i++) {
        rule_count *c = &h->counts[i];
        if (c->yara == yara && strcmp(c->rule, rule) == 0 && strcmp(c->level, level) == 0) {
            c->count++;
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
    const char *own = hae_arena_strdup(&h->arena, rule);
    if (!own) return HAE_ENOMEM;
    h->counts[h->count_len++] = (rule_count){.level = level, .rule = own,
                                             .correlation = correlation, .yara = yara, .count = 1};
    return HAE_OK;
}

/* ---- details: the fields the rule looked at --------------------------- */

/* A value on one line of a table: control characters become spaces and a
 * long value is cut with an ellipsis. NUL becomes a space everywhere: the
 * details are a C string. */
static int append_shown_value(hae_buf *b, const char *v, size_t len, bool for_table) {
    size_t limit = for_table && len > 60 ? 57 : len;
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < limit; i++) {
        unsigned char c = (unsigned char)v[i];
        rc = hae_buf_append_char(b, c == 0 || (for_table && c < 0x20) ? ' ' : (char)c);
    }
    if (rc == HAE_OK && limit < len) rc = hae_buf_append_str(b, "...");
    return rc;
}

/* The event's value of the rule's i-th shown field; NULL when it has none. */
static const hae_field *shown_field(const detect_hit *hit, size_t i) {
    const hae_field *f = hae_event_get(hit->event, hit->rule->fields[i]);
    return f && f->type != HAE_VAL_NULL ? f : NULL;
}

static int append_details(hae_buf *b, const detect_hit *hit, bool for_table) {
    const detect_rule_info *r = hit->rule;
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < r->field_count; i++) {
        const hae_field *f = shown_field(hit, i);
        if (!f) continue;
        if (b->len) rc = hae_buf_append_char(b, ' ');
        if (rc == HAE_OK) rc = hae_buf_printf(b, "%s=", r->fields[i]);
        if (rc == HAE_OK) rc = append_shown_value(b, f->value, f->value_len, for_table);
    }
    if (rc == HAE_OK && r->is_correlation) {
        rc = hae_buf_printf(b, "%scount=%llu", b->len ? " " : "", (unsigned long long)hit->count);
    }
    return rc;
}

/* ---- JSON lines -------------------------------------------------------- */

static int append_tags(hae_buf *b, const char *const *tags, size_t count) {
    int rc = hae_buf_append_str(b, "\"tags\":[");
    for (size_t i = 0; rc == HAE_OK && i < count; i++) {
        if (i) rc = hae_buf_append_char(b, ',');
        if (rc == HAE_OK) rc = hae_json_append_string(b, tags[i], strlen(tags[i]));
    }
    return rc == HAE_OK ? hae_buf_append_char(b, ']') : rc;
}

static int append_time(hae_buf *b, int64_t ns) {
    if (ns == 0) return hae_buf_append_str(b, "null");
    char text[HAE_TIME_LEN];
    hae_time_format(ns, text);
    return hae_buf_printf(b, "\"%s\"", text);
}

static int append_fields_json(hae_buf *b, const detect_hit *hit) {
    const detect_rule_info *r = hit->rule;
    int rc = hae_buf_append_str(b, ",\"fields\":{");
    bool first = true;
    for (size_t i = 0; rc == HAE_OK && i < r->field_count; i++) {
        const hae_field *f = shown_field(hit, i);
        if (!f) continue;
        if (!first) rc = hae_buf_append_char(b, ',');
        first = false;
        if (rc == HAE_OK) rc = hae_json_append_string(b, r->fields[i], strlen(r->fields[i]));
        if (rc == HAE_OK) rc = hae_buf_append_char(b, ':');
        if (rc == HAE_OK) rc = hae_json_append_string(b, f->value, f->value_len);
    }
    return rc == HAE_OK ? hae_buf_append_char(b, '}') : rc;
}

static int hit_json(hunt *h, const detect_hit *hit, hae_buf *b) {
    const detect_rule_info *r = hit->rule;
    const char *host = hit->event->host ? hit->event->host : "";
    int rc = hae_buf_append_str(b, "{\"time\":");
    if (rc == HAE_OK) rc = append_time(b, hit->event->time_ns);
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"host\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, host, strlen(host));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"rule_id\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, r->id, strlen(r->id));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"title\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, r->title, strlen(r->title));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"level\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, r->level, strlen(r->level));
    if (rc == HAE_OK) rc = hae_buf_append_char(b, ',');
    if (rc == HAE_OK) rc = append_tags(b, r->tags, r->tag_count);
    if (rc == HAE_OK) rc = append_fields_json(b, hit);
    if (rc == HAE_OK && r->is_correlation) {
        rc = hae_buf_append_str(b, ",\"correlation\":{\"group\":");
        if (rc == HAE_OK) rc = hae_json_append_string(b, hit->group, strlen(hit->group));
        if (rc == HAE_OK) rc = hae_buf_printf(b, ",\"count\":%llu,\"first\":",
                                              (unsigned long long)hit->count);
        if (rc == HAE_OK) rc = append_time(b, hit->first_ns);
        if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"last\":");
        if (rc == HAE_OK) rc = append_time(b, hit->last_ns);
        if (rc == HAE_OK) rc = hae_buf_append_char(b, '}');
    }
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"source\":{\"file\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, h->file, strlen(h->file));
    if (rc == HAE_OK) rc = hae_buf_printf(b, ",\"line\":%zu}", h->line);
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"event\":");
    if (rc == HAE_OK) rc = hae_event_encode_json(hit->event, b);
    /* the encoder ends the event with '\n'; close our object before it */
    if (rc == HAE_OK && b->len && b->data[b->len - 1] == '\n') b->len--;
    if (rc == HAE_OK) rc = hae_buf_append_str(b, "}\n");
    return rc;
}

/* ---- CSV (RFC 4180) ---------------------------------------------------- */

/* Quotes when needed; a cell a spreadsheet would run as a formula (=, +, @,
 * or - before a letter: log fields are attacker-chosen) gets a leading '. */
static int csv_cell(hae_buf *b, const char *v, size_t len, bool last) {
    bool formula = len && (strchr("=+@\t\r", v[0]) ||
                           (v[0] == '-' && len > 1 && !(v[1] >= '0' && v[1] <= '9')));
    bool quote = formula || memchr(v, ',', len) || memchr(v, '"', len) || memchr(v, '\n', len) ||
                 memchr(v, '\r', len);
    int rc = quote ? hae_buf_append_char(b, '"') : HAE_OK;
    if (rc == HAE_OK && formula) rc = hae_buf_append_char(b, '\'');
    for (size_t i = 0; rc == HAE_OK && i < len; i++) {
        if (v[i] == '"') rc = hae_buf_append_char(b, '"');
        if (rc == HAE_OK) rc = hae_buf_append_char(b, v[i]);
    }
    if (rc == HAE_OK && quote) rc = hae_buf_append_char(b, '"');
    return rc == HAE_OK ? hae_buf_append_char(b, last ? '\n' : ',') : rc;
}

static int csv_row(hae_buf *b, const hunt_row *row) {
    char time_text[HAE_TIME_LEN] = "";
    if (row->time_ns) hae_time_format(row->time_ns, time_text);
    char line_text[24] = "";
    if (row->line) snprintf(line_text, sizeof line_text, "%zu", row->line);
    const char *cells[] = {time_text, row->host, row->level, row->rule, row->details,
                           row->file, line_text};
    size_t n = sizeof cells / sizeof *cells;
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < n; i++) rc = csv_cell(b, cells[i], strlen(cells[i]), i + 1 == n);
    return rc;
}

int hunt_output_begin(hunt *h, hae_err *err) {
    if (h->output != HUNT_OUT_CSV) return HAE_OK;
    if (fputs("time,host,level,rule,details,file,line\n", stdout) == EOF) {
        return hae_err_set(err, HAE_EIO, "cannot write to standard output");
    }
    return HAE_OK;
}

/* ---- rows -------------------------------------------------------------- */

static int write_out(hunt *h, hae_err *err) {
    if (fwrite(h->out.data, 1, h->out.len, stdout) != h->out.len) {
        return hae_err_set(err, HAE_EIO, "cannot write to standard output");
    }
    return HAE_OK;
}

static int keep_row(hunt *h, const hunt_row *row) {
    if (h->row_count == HUNT_MAX_TABLE_ROWS) {
        h->rows_dropped++;
        return HAE_OK;
    }
    if (h->row_count == h->row_cap) {
        size_t cap = h->row_cap ? h->row_cap * 2 : 256;
        hunt_row *grown = realloc(h->rows, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        h->rows = grown;
        h->row_cap = cap;
    }
    hunt_row kept = *row;
    kept.host = hae_arena_strdup(&h->arena, row->host);
    kept.rule = hae_arena_strdup(&h->arena, row->rule);
    kept.details = hae_arena_strdup(&h->arena, row->details);
    kept.file = hae_arena_strdup(&h->arena, row->file);
    if (!kept.host || !kept.rule || !kept.details || !kept.file) return HAE_ENOMEM;
    kept.order = h->row_count;
    h->rows[h->row_count++] = kept;
    return HAE_OK;
}

/* Table and CSV rows; JSON lines carry more and are written by the caller. */
static int emit_row(hunt *h, const hunt_row *row, hae_err *err) {
    if (h->output == HUNT_OUT_TABLE) {
        return keep_row(h, row) < 0 ? hae_err_set(err, HAE_ENOMEM, "out of memory") : HAE_OK;
    }
    hae_buf_reset(&h->out);
    if (csv_row(&h->out, row) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    return write_out(h, err);
}

int hunt_on_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    hunt *h = ctx;
    const detect_rule_info *r = hit->rule;
    const char *level = r->level[0] ? r->level : "-";
    h->hits++;
    if (count_match(h, level, r->title, r->is_correlation, false) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    if (h->output == HUNT_OUT_JSONL) {
        hae_buf_reset(&h->out);
        if (hit_json(h, hit, &h->out) < 0) return hae_err_set(err, HAE_ENOMEM, "cannot encode a match");
        return write_out(h, err);
    }
    hae_buf_reset(&h->scratch);
    if (append_details(&h->scratch, hit, h->output == HUNT_OUT_TABLE) < 0 ||
        hae_buf_append_char(&h->scratch, '\0') < 0) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    hunt_row row = {.time_ns = hit->event->time_ns, .host = hit->event->host ? hit->event->host : "",
                    .level = level, .rule = r->title, .details = h->scratch.data,
                    .file = h->file, .line = h->line, .correlation = r->is_correlation};
    return emit_row(h, &row, err);
}

static int yara_json(hunt *h, const hunt_row *row, const char *ns, const char *const *tags,
                     size_t tag_count) {
    hae_buf *b = &h->out;
    int rc = hae_buf_append_str(b, "{\"time\":");
    if (rc == HAE_OK) rc = append_time(b, row->time_ns);
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"yara_rule\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, row->rule, strlen(row->rule));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"namespace\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, ns, strlen(ns));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"level\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, row->level, strlen(row->level));
    if (rc == HAE_OK) rc = hae_buf_append_char(b, ',');
    if (rc == HAE_OK) rc = append_tags(b, tags, tag_count);
    if (rc == HAE_OK) rc = hae_buf_append_str(b, ",\"source\":{\"file\":");
    if (rc == HAE_OK) rc = hae_json_append_string(b, row->file, strlen(row->file));
    if (rc == HAE_OK) rc = hae_buf_append_str(b, "}}\n");
    return rc;
}

/* A YARA match on an input file: its time is the file's modification time
 * (read when hunt_input opened it), the moment its content was last written. */
int hunt_on_yara(void *ctx, const char *rule, const char *ns, const char *const *tags,
                 size_t tag_count, hae_severity severity, hae_err *err) {
    hunt *h = ctx;
    h->yara_hits++;
    const char *level = hae_severity_name(severity);
    if (count_match(h, level, rule, false, true) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    char details[160];
    snprintf(details, sizeof details, "namespace=%s%s%s", ns, tag_count ? " tags=" : "",
             tag_count ? tags[0] : "");
    hunt_row row = {.time_ns = h->file_mtime_ns, .host = "", .level = level, .rule = rule,
                    .details = details, .file = h->file, .yara = true};
    if (h->output != HUNT_OUT_JSONL) return emit_row(h, &row, err);
    hae_buf_reset(&h->out);
    if (yara_json(h, &row, ns, tags, tag_count) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "cannot encode a YARA match");
    }
    return write_out(h, err);
}

/* ---- the table ---------------------------------------------------------- */

static int compare_rows(const void *a, const void *b) {
    const hunt_row *x = a, *y = b;
    if (x->time_ns != y->time_ns) return x->time_ns < y->time_ns ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int compare_counts(const void *a, const void *b) {
    const rule_count *x = a, *y = b;
    int d = level_rank(x->level) - level_rank(y->level);
    if (d) return d;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->rule, y->rule);
}

/* Time in the display zone (--tz, else the host's), with its offset. */
static void display_time(int64_t ns, char out[32]) {
    if (ns == 0) {
        snprintf(out, 32, "-");
        return;
    }
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    if (!localtime_r(&secs, &tm) || strftime(out, 32, "%Y-%m-%d %H:%M:%S %z", &tm) == 0) {
        snprintf(out, 32, "?");
    }
}

static size_t widen(size_t width, size_t n, size_t cap) {
    if (n > width) width = n;
    return width > cap ? cap : width;
}

static void print_timeline(hunt *h) {
    if (h->row_count) qsort(h->rows, h->row_count, sizeof *h->rows, compare_rows);
    size_t host_w = 4, rule_w = 4;
    for (size_t i = 0; i < h->row_count; i++) {
        host_w = widen(host_w, strlen(h->rows[i].host), 24);
        rule_w = widen(rule_w, strlen(h->rows[i].rule) + (h->rows[i].yara ? 5 : 0), 48);
    }
    printf("%-25s  %-*s  %-13s  %-*s  %s\n", "TIME", (int)host_w, "HOST", "LEVEL", (int)rule_w,
           "RULE", "DETAILS");
    size_t used = 25 + 2 + host_w + 2 + 13 + 2 + rule_w + 2;
    for (size_t i = 0; i < h->row_count; i++) {
        const hunt_row *r = &h->rows[i];
        char when[32];
        display_time(r->time_ns, when);
        char rule[64];
        snprintf(rule, sizeof rule, "%s%s", r->yara ? "YARA " : "", r->rule);
        int room = h->terminal_width > used + 10 ? (int)(h->terminal_width - used) : -1;
        printf("%-25s  %-*.*s  %-13s  %-*.*s  %.*s\n", when, (int)host_w, (int)host_w,
               r->host[0] ? r->host : "-", r->level, (int)rule_w, (int)rule_w, rule,
               room, r->details);
    }
    if (h->rows_dropped) {
        printf("... %llu more matches not shown (the table keeps %u); --format jsonl or csv lists "
               "them all\n", (unsigned long long)h->rows_dropped, HUNT_MAX_TABLE_ROWS);
    }
}

static void print_summary(hunt *h) {
    if (h->count_len) qsort(h->counts, h->count_len, sizeof *h->counts, compare_counts);
    printf("\n%-13s %8s  %s\n", "LEVEL", "COUNT", "RULE");
    uint64_t per_level[LEVELS + 1] = {0};
    for (size_t i = 0; i < h->count_len; i++) {
        const rule_count *c = &h->counts[i];
        per_level[level_rank(c->level)] += c->count;
        printf("%-13s %8llu  %s%s%s\n", c->level, (unsigned long long)c->count,
               c->yara ? "YARA " : "", c->rule, c->correlation ? " (correlation)" : "");
    }
    printf("\n%llu events, %llu matches: %llu critical, %llu high, %llu medium, %llu low, "
           "%llu informational; %llu of them YARA\n",
           (unsigned long long)h->events, (unsigned long long)h->hits + (unsigned long long)h->yara_hits,
           (unsigned long long)per_level[0], (unsigned long long)per_level[1],
           (unsigned long long)per_level[2], (unsigned long long)per_level[3],
           (unsigned long long)per_level[4], (unsigned long long)h->yara_hits);
}

int hunt_output_end(hunt *h, hae_err *err) {
    if (h->output == HUNT_OUT_TABLE) {
        print_timeline(h);
        print_summary(h);
    }
    if (fflush(stdout) == EOF) return hae_err_set(err, HAE_EIO, "cannot write to standard output");
    return HAE_OK;
}

void hunt_output_free(hunt *h) {
    free(h->rows);
    free(h->counts);
    hae_buf_free(&h->out);
    hae_buf_free(&h->scratch);
    hae_arena_free(&h->arena);
}
