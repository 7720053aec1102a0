/* A readable table of findings for a person at a terminal. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static int collect_row(void *ctx, const hae_event *ev, hae_err *err) {
    cli_findings *f = ctx;
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        cli_finding_row *grown = realloc(f->rows, cap * sizeof *grown);
        if (!grown) return hae_err_set(err, HAE_ENOMEM, "out of memory collecting findings");
        f->rows = grown;
        f->cap = cap;
    }
    hae_severity sev = HAE_SEV_INFO;
    const char *sev_name = hae_event_get_str(ev, "severity");
    int severity = sev_name && hae_severity_parse(sev_name, &sev) == HAE_OK ? (int)sev : -1;
    const char *rule = hae_event_get_str(ev, "rule");
    const char *message = hae_event_get_str(ev, "message");
    cli_finding_row row = {.severity = severity,
                           .rule = strdup(rule ? rule : (ev->category ? ev->category : "event")),
                           .message = strdup(message ? message : "")};
    if (!row.rule || !row.message) {
        free(row.rule);
        free(row.message);
        return hae_err_set(err, HAE_ENOMEM, "out of memory collecting findings");
    }
    f->rows[f->count++] = row;
    return HAE_OK;
}

hae_sink cli_findings_sink(cli_findings *f) {
    return (hae_sink){.emit = collect_row, .ctx = f};
}

static int by_severity(const void *a, const void *b) {
    const cli_finding_row *x = a, *y = b;
    if (x->severity != y->severity) return y->severity - x->severity;
    return strcmp(x->rule, y->rule);
}

/* Messages hold file names and command lines: show control bytes as '?'
 * so nothing in them can move the cursor or recolour the terminal. */
static void print_sanitized(FILE *out, const char *s) {
    for (; *s; s++) fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

void cli_findings_print(const cli_findings *f, FILE *out) {
    if (f->count > 1) qsort(f->rows, f->count, sizeof *f->rows, by_severity);
    bool color = isatty(fileno(out)) && !getenv("NO_COLOR");
    static const char *const colors[] = {"\033[2m", "\033[36m", "\033[33m", "\033[31m", "\033[1;31m"};
    size_t per_severity[HAE_SEV_CRITICAL + 1] = {0};
    fprintf(out, "%-13s %-28s %s\n", "SEVERITY", "RULE", "MESSAGE");
    for (size_t i = 0; i < f->count; i++) {
        const cli_finding_row *r = &f->rows[i];
        const char *name = r->severity >= 0 ? hae_severity_name((hae_severity)r->severity) : "-";
        if (r->severity >= 0) per_severity[r->severity]++;
        if (color && r->severity >= 0) fputs(colors[r->severity], out);
        fprintf(out, "%-13s %-28s ", name, r->rule);
        print_sanitized(out, r->message);
        fputs(color && r->severity >= 0 ? "\033[0m\n" : "\n", out);
    }
    fprintf(out, "\n%zu findings:", f->count);
    for (int s = HAE_SEV_CRITICAL; s >= HAE_SEV_INFO; s--) {
        fprintf(out, " %zu %s%s", per_severity[s], hae_severity_name((hae_severity)s),
                s > HAE_SEV_INFO ? "," : "\n");
    }
}

void cli_findings_free(cli_findings *f) {
    for (size_t i = 0; i < f->count; i++) {
        free(f->rows[i].rule);
        free(f->rows[i].message);
    }
    free(f->rows);
    memset(f, 0, sizeof *f);
}
