/* `haetae obligations`, `haetae report` and the incident verbs of issue 5
 * (set, timeline, export), over a server data directory (--data DIR):
 *   haetae obligations [--incident ID] [--due-within 24h] [--format table|json]
 *   haetae report ID --obligation RULE [--format md|html|json] [--lang ko|en]
 *                 [--subjects FILE] [--out FILE]
 *   haetae report mark-sent ID --obligation RULE [--recipient TEXT] [--file REPORT]
 *   haetae incident set ID NAME=VALUE...
 *   haetae incident timeline ID [--proofs] [--out DIR]
 *   haetae incident export ID --stix
 * Every change goes through the server module and is in the ledger before
 * the command says it is done. */
#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"

#define DEFAULT_DATA "var/server"

typedef struct more_args {
    const char *data, *format, *lang, *obligation, *subjects, *out, *recipient, *file, *within;
    const char *incident, *who;
    bool proofs, stix, offline;
    const char *positional[16];
    size_t count;
} more_args;

/* Returns CLI_PARSE_CONTINUE when the command should run, else its exit code. */
static int parse(const char *cmd, const char *synopsis, int argc, char **argv, more_args *a) {
    memset(a, 0, sizeof *a);
    a->data = DEFAULT_DATA;
    a->lang = "en";
    const cli_opt options[] = {
        {.name = "data", .kind = CLI_OPT_STRING, .target = &a->data, .metavar = "DIR",
         .help = "the server's data directory (default " DEFAULT_DATA ")"},
        {.name = "format", .kind = CLI_OPT_STRING, .target = &a->format, .metavar = "WORD",
         .help = "obligations: table|json; report: md|html|json"},
        {.name = "lang", .kind = CLI_OPT_STRING, .target = &a->lang, .metavar = "ko|en",
         .help = "report: the language of the text (default en)"},
        {.name = "obligation", .kind = CLI_OPT_STRING, .target = &a->obligation, .metavar = "RULE",
         .help = "report: the obligation's rule id (kr.network_act.48-3...)"},
        {.name = "subjects", .kind = CLI_OPT_STRING, .target = &a->subjects, .metavar = "FILE",
         .help = "report: the data subjects to notify"},
        {.name = "out", .kind = CLI_OPT_STRING, .target = &a->out, .metavar = "PATH",
         .help = "report, export: file to write; timeline: directory for entries and proofs"},
        {.name = "recipient", .kind = CLI_OPT_STRING, .target = &a->recipient, .metavar = "TEXT",
         .help = "mark-sent: to whom the report went"},
        {.name = "file", .kind = CLI_OPT_STRING, .target = &a->file, .metavar = "REPORT",
         .help = "mark-sent: the report as sent (default: rendered again as json)"},
        {.name = "due-within", .kind = CLI_OPT_STRING, .target = &a->within, .metavar = "DURATION",
         .help = "obligations: only those due within this time (24h, 3d)"},
        {.name = "incident", .kind = CLI_OPT_STRING, .target = &a->incident, .metavar = "ID",
         .help = "obligations: only this incident's"},
        {.name = "who", .kind = CLI_OPT_STRING, .target = &a->who, .metavar = "NAME",
         .help = "with --offline: who acts (default: the login name)"},
        {.name = "offline", .kind = CLI_OPT_FLAG, .target = &a->offline,
         .help = "set, mark-sent: write a stopped server's store directly (entries say offline)"},
        {.name = "proofs", .kind = CLI_OPT_FLAG, .target = &a->proofs,
         .help = "timeline: print the inclusion proof of each step"},
        {.name = "stix", .kind = CLI_OPT_FLAG, .target = &a->stix,
         .help = "export: as a STIX 2.1 bundle"},
    };
    cli_strings positional = {0};
    const cli_spec spec = {
        .command = cmd,
        .synopsis = synopsis,
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .positional = &positional,
        .positional_name = "ARGUMENT",
        .max_positional = sizeof a->positional / sizeof a->positional[0],
    };
    int rc = cli_parse(&spec, argc, argv);
    for (size_t i = 0; i < positional.count; i++) a->positional[i] = positional.items[i];
    a->count = positional.count;
    cli_strings_free(&positional);
    return rc;
}

static const char obligations_synopsis[] =
    "haetae obligations [--incident ID] [--due-within 24h] [--format table|json] [--data DIR]";
static const char report_synopsis[] =
    "haetae report ID --obligation RULE [--format md|html|json] [--lang ko|en]\n"
    "                     [--subjects FILE] [--out FILE] [--data DIR]\n"
    "       haetae report mark-sent ID --obligation RULE [--recipient TEXT] [--file REPORT]\n"
    "                     [--data DIR]";

static const char *who_am_i(const char *given) {
    if (given && *given) return given;
    const struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name ? pw->pw_name : "cli";
}

static int policies_open(server_policies **out, hae_err *err) {
    char looked[CLI_LOOKED_LEN];
    char *dir = cli_find_share_dir("policies", "HAETAE_POLICIES_DIR", looked, sizeof looked);
    if (!dir) {
        return hae_err_set(err, HAE_ENOENT,
                           "no policies found (looked in %s; set HAETAE_POLICIES_DIR)", looked);
    }
    int rc = server_policies_load(dir, out, err);
    free(dir);
    return rc;
}

static int duration_s(const char *text, int64_t *seconds) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || end == text || v < 0) return HAE_EINVAL;
    double unit = strcmp(end, "d") == 0 ? 86400 : strcmp(end, "h") == 0 ? 3600
                : strcmp(end, "m") == 0 ? 60 : (strcmp(end, "s") == 0 || !*end) ? 1 : -1;
    if (unit < 0) return HAE_EINVAL;
    *seconds = (int64_t)(v * unit);
    return HAE_OK;
}

typedef struct print_ctx {
    bool is_json;
    int64_t now, within_s;
    bool has_within;
    size_t shown;
} print_ctx;

static int print_obligation(void *ctx, const server_obligation *o, hae_err *err) {
    (void)err;
    print_ctx *p = ctx;
    if (p->has_within && (o->due_ns == 0 || o->sent_ns ||
                          (o->due_ns - p->now) / 1000000000 > p->within_s)) {
        return HAE_OK;
    }
    p->shown++;
    if (p->is_json) {
        hae_buf line = {0};
        int rc = server_json_obligation(&line, o, p->now);
        if (rc == HAE_OK) printf("%s\n", line.data);
        hae_buf_free(&line);
        return rc;
    }
    char due[HAE_TIME_LEN] = "-", left[32] = "-";
    if (o->due_ns) {
        hae_time_format(o->due_ns, due);
        due[16] = '\0';
        int64_t s = (o->due_ns - p->now) / 1000000000;
        snprintf(left, sizeof left, "%s%lldh%02lldm", s < 0 ? "-" : "", (long long)(llabs(s) / 3600),
                 (long long)(llabs(s) % 3600 / 60));
    }
    printf("%-36s  %-34.34s  %-10s  %-16s  %10s  %.40s\n", o->incident_id, o->rule_id, o->status,
           due, left, o->notify);
    return HAE_OK;
}

int cli_cmd_obligations(int argc, char **argv) {
    more_args a;
    int rc = parse("haetae obligations", obligations_synopsis, argc, argv, &a);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    if (a.count) {
        bool is_help = strcmp(a.positional[0], "help") == 0;
        if (!is_help) fprintf(stderr, "haetae obligations: unexpected argument '%s'\n", a.positional[0]);
        fprintf(is_help ? stdout : stderr, "usage: %s\n", obligations_synopsis);
        return is_help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    print_ctx p = {.now = hae_time_now_ns()};
    p.is_json = a.format ? strcmp(a.format, "json") == 0 : !isatty(fileno(stdout));
    if (a.within && duration_s(a.within, &p.within_s) < 0) {
        return cli_fail("obligations", CLI_EXIT_USAGE, "--due-within: a duration like 24h or 3d");
    }
    p.has_within = a.within != NULL;
    hae_err err = {0};
    server_policies *pol = NULL;
    store *st = NULL;
    rc = policies_open(&pol, &err);
    if (rc == HAE_OK) rc = server_data_store_open(a.data, &st, &err);
    if (rc == HAE_OK && !p.is_json) {
        printf("%-36s  %-34s  %-10s  %-16s  %10s  %s\n", "INCIDENT", "OBLIGATION", "STATUS",
               "DUE (UTC)", "LEFT", "TO");
    }
    if (rc == HAE_OK) {
        rc = a.incident ? server_obligations_for(st, pol, a.incident, p.now, print_obligation, &p, &err)
                        : server_obligations_all(st, pol, p.now, print_obligation, &p, &err);
    }
    store_close(st);
    server_policies_free(pol);
    return rc < 0 ? cli_fail("obligations", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}

static int write_out(const char *path, const hae_buf *b, hae_err *err) {
    if (!path) {
        bool ok = fwrite(b->data, 1, b->len, stdout) == b->len && fflush(stdout) == 0;
        return ok ? HAE_OK : hae_err_set(err, HAE_EIO, "stdout: write failed");
    }
    FILE *f = fopen(path, "we");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    bool ok = fwrite(b->data, 1, b->len, f) == b->len;
    ok &= fclose(f) == 0;
    return ok ? HAE_OK : hae_err_set(err, HAE_EIO, "%s: write failed", path ? path : "stdout");
}

/* A JSON string member: ,"key":"value" (or {"key":... when first). */
static int json_member(hae_buf *b, const char *key, const char *value) {
    int rc = hae_buf_printf(b, "%c\"%s\":", b->len ? ',' : '{', key);
    return rc < 0 ? rc : hae_json_append_string(b, value, strlen(value));
}

static int mark_sent_remote(const cli_writer *w, const more_args *a, const char *hex,
                            uint64_t *index, hae_err *err) {
    hae_buf body = {0}, reply = {0};
    char path[128];
    snprintf(path, sizeof path, "/api/v1/incidents/%.40s/reports", a->positional[2]);
    int rc = json_member(&body, "obligation", a->obligation);
    if (rc == HAE_OK && a->recipient) rc = json_member(&body, "recipient", a->recipient);
    if (rc == HAE_OK) rc = json_member(&body, "sha256", hex);
    if (rc == HAE_OK) rc = hae_buf_append_char(&body, '}');
    rc = rc < 0 ? hae_err_set(err, rc, "out of memory") : cli_writer_post(w, path, &body, &reply, err);
    const char *at = rc == HAE_OK && reply.data ? strstr(reply.data, "\"ledger_index\":") : NULL;
    if (at) *index = strtoull(at + 15, NULL, 10);
    hae_buf_free(&body);
    hae_buf_free(&reply);
    return rc;
}

static int mark_sent_offline(const cli_writer *w, const more_args *a, store *st,
                             const server_policies *pol, const char *hex, uint64_t *index,
                             hae_err *err) {
    store_report r;
    char who[96];
    int rc = server_report_mark_sent(st, pol, a->positional[2], a->obligation, a->recipient, hex,
                                     cli_writer_who(w, who_am_i(a->who), who, sizeof who), &r, err);
    char ref[32];
    if (rc == HAE_OK) {
        snprintf(ref, sizeof ref, "%llu", (unsigned long long)r.seq);
        rc = server_data_ledger_sync(a->data, st, "report_sent", ref, index, err);
    }
    return rc;
}

static int report_mark_sent(const more_args *a, store *st, const server_policies *pol,
                            const cli_writer *w, hae_err *err) {
    hae_buf report = {0};
    int rc = HAE_OK;
    if (a->file) {
        FILE *f = fopen(a->file, "re");
        if (!f) return hae_err_errno(err, errno, "%s", a->file);
        char chunk[8192];
        size_t n;
        while (rc == HAE_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = hae_buf_append(&report, chunk, n);
        fclose(f);
    } else {
        rc = server_report_render(st, pol, a->positional[2], a->obligation, SERVER_REPORT_JSON, a->lang,
                                  a->subjects, &report, err);
    }
    char hex[65] = "";
    if (rc == HAE_OK) {
        uint8_t hash[32];
        /* The hash of what was sent goes in the ledger, the text stays here. */
        crypto_hash_sha256(hash, (const unsigned char *)(report.data ? report.data : ""), report.len);
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    }
    hae_buf_free(&report);
    uint64_t index = 0;
    if (rc == HAE_OK) {
        rc = w->is_remote ? mark_sent_remote(w, a, hex, &index, err)
                          : mark_sent_offline(w, a, st, pol, hex, &index, err);
    }
    if (rc == HAE_OK) {
        printf("report %s for incident %s marked sent (sha256 %s), ledger index %llu\n",
               a->obligation, a->positional[2], hex, (unsigned long long)index);
    }
    return rc;
}

int cli_cmd_report(int argc, char **argv) {
    more_args a;
    const char *cmd = argc >= 2 && strcmp(argv[1], "mark-sent") == 0 ? "haetae report mark-sent"
                                                                      : "haetae report";
    int rc = parse(cmd, report_synopsis, argc, argv, &a);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    bool is_mark = a.count == 2 && strcmp(a.positional[0], "mark-sent") == 0;
    if ((a.count != 1 && !is_mark) || !a.obligation) {
        fprintf(stderr, "usage: %s\n", report_synopsis);
        return CLI_EXIT_USAGE;
    }
    server_report_format format = SERVER_REPORT_MD;
    if (a.format && strcmp(a.format, "html") == 0) format = SERVER_REPORT_HTML;
    else if (a.format && strcmp(a.format, "json") == 0) format = SERVER_REPORT_JSON;
    else if (a.format && strcmp(a.format, "md") != 0) return cli_fail("report", CLI_EXIT_USAGE, "--format: md, html or json");
    hae_err err = {0};
    server_policies *pol = NULL;
    store *st = NULL;
    rc = policies_open(&pol, &err);
    if (rc == HAE_OK) rc = server_data_store_open(a.data, &st, &err);
    if (rc == HAE_OK && is_mark) {
        a.positional[2] = a.positional[1];
        cli_writer w;
        int opened = cli_writer_open("report mark-sent", a.data, a.offline, a.who, &w);
        if (opened != CLI_EXIT_OK) {
            store_close(st);
            server_policies_free(pol);
            return opened;
        }
        rc = report_mark_sent(&a, st, pol, &w, &err);
        cli_writer_close(&w);
    } else if (rc == HAE_OK) {
        hae_buf out = {0};
        rc = server_report_render(st, pol, a.positional[0], a.obligation, format, a.lang, a.subjects,
                                  &out, &err);
        if (rc == HAE_OK) rc = write_out(a.out, &out, &err);
        hae_buf_free(&out);
    }
    store_close(st);
    server_policies_free(pol);
    return rc < 0 ? cli_fail("report", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}

/* ---- incident set | timeline | export ------------------------------------ */

typedef struct timeline_ctx {
    const char *out_dir;
    size_t steps;
} timeline_ctx;

static int write_file(const char *dir, const char *name, const char *data, size_t len, hae_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    bool ok = fwrite(data, 1, len, f) == len;
    ok &= fclose(f) == 0;
    return ok ? HAE_OK : hae_err_set(err, HAE_EIO, "%s: write failed", path);
}

static int print_step(void *ctx, const store_ledger_record *r, const char *entry, size_t len,
                      const char *proof, hae_err *err) {
    timeline_ctx *t = ctx;
    t->steps++;
    char when[HAE_TIME_LEN];
    hae_time_format(r->at_ns, when);
    printf("step %zu  ledger index %llu  %s  %s %s\n  entry: %.*s\n", t->steps,
           (unsigned long long)r->seq, when, r->kind, r->ref, (int)len, entry);
    if (proof) printf("  proof:\n    %s\n", proof);
    if (!t->out_dir) return HAE_OK;
    char name[64];
    snprintf(name, sizeof name, "%llu.entry", (unsigned long long)r->seq);
    int rc = write_file(t->out_dir, name, entry, len, err);
    if (rc == HAE_OK && proof) {
        snprintf(name, sizeof name, "%llu.proof", (unsigned long long)r->seq);
        rc = write_file(t->out_dir, name, proof, strlen(proof), err);
    }
    return rc;
}

static int incident_timeline(const more_args *a, store *st, hae_err *err) {
    timeline_ctx t = {.out_dir = a->out};
    if (a->out && mkdir(a->out, 0755) != 0 && errno != EEXIST) return hae_err_errno(err, errno, "%s", a->out);
    int rc = server_data_timeline(a->data, st, a->positional[1], a->proofs, print_step, &t, err);
    if (rc == HAE_OK && a->out) {
        /* The checkpoint and the log's key beside the proofs: `haetae ledger
         * verify` then needs nothing else. */
        char src[4200];
        snprintf(src, sizeof src, "%s/ledger/key.vkey", a->data);
        hae_buf text = {0};
        FILE *f = fopen(src, "re");
        char chunk[4096];
        size_t n;
        while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = hae_buf_append(&text, chunk, n);
        if (f) fclose(f);
        if (rc == HAE_OK && text.data) rc = write_file(a->out, "key.vkey", text.data, text.len, err);
        hae_buf_free(&text);
    }
    return rc;
}

static const char more_synopsis[] =
    "haetae incident set ID NAME=VALUE... [--who NAME] [--data DIR]\n"
    "       haetae incident timeline ID [--proofs] [--out DIR] [--data DIR]\n"
    "       haetae incident export ID --stix [--out FILE] [--data DIR]";

/* NAME=VALUE: the name into name, the value returned; NULL when the
 * argument has no '=' or the name does not fit. */
static const char *attr_split(const char *arg, char name[64]) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq - arg >= 64) return NULL;
    snprintf(name, 64, "%.*s", (int)(eq - arg), arg);
    return eq + 1;
}

/* NAME=VALUE arguments, each checked before anything is written. */
static int attrs_check(const more_args *a, hae_err *err) {
    for (size_t i = 2; i < a->count; i++) {
        char name[64];
        const char *value = attr_split(a->positional[i], name);
        if (!value) return hae_err_set(err, HAE_EINVAL, "'%s': NAME=VALUE", a->positional[i]);
        int rc = server_incident_attr_check(name, value, err);
        if (rc < 0) return rc;
    }
    return HAE_OK;
}

static int set_remote(const cli_writer *w, const more_args *a, hae_err *err) {
    hae_buf body = {0}, reply = {0};
    int rc = HAE_OK;
    for (size_t i = 2; rc == HAE_OK && i < a->count; i++) {
        char name[64];
        const char *value = attr_split(a->positional[i], name);
        rc = json_member(&body, name, value);
    }
    if (rc == HAE_OK) rc = hae_buf_append_char(&body, '}');
    char path[128];
    snprintf(path, sizeof path, "/api/v1/incidents/%.40s/attributes", a->positional[1]);
    rc = rc < 0 ? hae_err_set(err, rc, "out of memory") : cli_writer_post(w, path, &body, &reply, err);
    hae_buf_free(&body);
    hae_buf_free(&reply);
    return rc;
}

static int set_offline(const cli_writer *w, const more_args *a, hae_err *err) {
    store *st = NULL;
    int rc = server_data_store_open(a->data, &st, err);
    char who[96];
    cli_writer_who(w, who_am_i(a->who), who, sizeof who);
    for (size_t i = 2; rc == HAE_OK && i < a->count; i++) {
        char name[64];
        const char *value = attr_split(a->positional[i], name);
        rc = server_incident_set(st, a->positional[1], name, value, who, NULL, err);
    }
    /* Attribute changes are logged like every step. */
    uint64_t index = 0;
    if (rc == HAE_OK) rc = server_data_ledger_sync(a->data, st, NULL, NULL, &index, err);
    store_close(st);
    return rc;
}

static int incident_set(const more_args *a) {
    hae_err err = {0};
    if (attrs_check(a, &err) < 0) return cli_fail("incident set", CLI_EXIT_INPUT, "%s", err.msg);
    cli_writer w;
    int rc = cli_writer_open("incident set", a->data, a->offline, a->who, &w);
    if (rc != CLI_EXIT_OK) return rc;
    rc = w.is_remote ? set_remote(&w, a, &err) : set_offline(&w, a, &err);
    cli_writer_close(&w);
    if (rc < 0) return cli_fail("incident set", CLI_EXIT_FAIL, "%s", err.msg);
    printf("incident %s: %zu attributes set\n", a->positional[1], a->count - 2);
    return CLI_EXIT_OK;
}

int cli_incident_more(int argc, char **argv) {
    more_args a;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "haetae incident %s", argv[1]);
    int rc = parse(cmd, more_synopsis, argc, argv, &a);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    const char *verb = a.count ? a.positional[0] : "";
    hae_err err = {0};
    store *st = NULL;
    if (a.count < 2) return cli_fail("incident", CLI_EXIT_USAGE, "%s needs an incident id", verb);
    bool is_set = strcmp(verb, "set") == 0 && a.count >= 3;
    bool is_timeline = strcmp(verb, "timeline") == 0 && a.count == 2;
    bool is_export = strcmp(verb, "export") == 0 && a.count == 2 && a.stix;
    /* A wrong shape is a usage error even where no store exists yet. */
    if (!is_set && !is_timeline && !is_export) {
        return cli_fail("incident", CLI_EXIT_USAGE,
                        "set ID NAME=VALUE... | timeline ID [--proofs] [--out DIR] | export ID --stix");
    }
    if (server_data_store_open(a.data, &st, &err) < 0) return cli_fail("incident", CLI_EXIT_FAIL, "%s", err.msg);
    if (is_set) {
        store_close(st);
        return incident_set(&a);
    } else if (is_timeline) {
        rc = incident_timeline(&a, st, &err);
    } else {
        hae_buf out = {0};
        rc = server_stix_export(st, a.positional[1], &out, &err);
        if (rc == HAE_OK) rc = write_out(a.out, &out, &err);
        hae_buf_free(&out);
    }
    store_close(st);
    return rc < 0 ? cli_fail("incident", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}
