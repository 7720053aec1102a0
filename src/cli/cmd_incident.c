/* `haetae incident` and `haetae alert`: the analyst's view of a server's
 * data directory. These read and change the store directly (--data DIR,
 * the server's directory, on the server host; SQLite in WAL mode lets them
 * run beside a live server) and apply the same lifecycle policy as the
 * API (server_incident_update), so both paths record the same history.
 * Remote analysts use the HTTPS API (docs/PROTOCOL.md) with an API token. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"

#define DEFAULT_DATA "var/server"

typedef struct incident_args {
    const char *data, *format, *state, *note, *moment, *who, *since;
    size_t limit;
    bool offline;
    const char *positional[3];
    size_t count;
    bool is_json;
    /* show --format json prints arrays inside one document: items are
     * separated by commas there, not by newlines */
    bool is_json_array;
    size_t json_items;
} incident_args;

static const char incident_synopsis[] =
    "haetae incident list [--state S] | show ID |"
    " update ID --state S --note TEXT [--moment M] [--offline [--who NAME]] |\n"
    "       set ID NAME=VALUE... | timeline ID [--proofs] [--out DIR] | export ID --stix\n"
    "       [--data DIR] [--format table|json]";
static const char alert_synopsis[] =
    "haetae alert [list] [--limit N] [--since TIME] [--data DIR] [--format table|json]";

/* Returns CLI_PARSE_CONTINUE when the command should run, else its exit code. */
static int args_parse(const char *cmd, int argc, char **argv, incident_args *a) {
    memset(a, 0, sizeof *a);
    a->data = DEFAULT_DATA;
    uint64_t limit = 0;
    const cli_opt options[] = {
        {.name = "data", .kind = CLI_OPT_STRING, .target = &a->data, .metavar = "DIR",
         .help = "the server's data directory (default " DEFAULT_DATA ")"},
        {.name = "format", .kind = CLI_OPT_STRING, .target = &a->format, .metavar = "table|json",
         .help = "output format (default: table on a terminal, else json)"},
        {.name = "state", .kind = CLI_OPT_STRING, .target = &a->state, .metavar = "S",
         .help = "list: only this state; update: the new state"},
        {.name = "note", .kind = CLI_OPT_STRING, .target = &a->note, .metavar = "TEXT",
         .help = "update: why the state changes"},
        {.name = "moment", .kind = CLI_OPT_STRING, .target = &a->moment, .metavar = "M",
         .help = "update: the regulatory moment this step marks (aware, confirmed...)"},
        {.name = "who", .kind = CLI_OPT_STRING, .target = &a->who, .metavar = "NAME",
         .help = "update --offline: who acts (default: the login name); through the server\n"
                 "                           the API token's user acts"},
        {.name = "offline", .kind = CLI_OPT_FLAG, .target = &a->offline,
         .help = "update: write a stopped server's store directly (entries say offline)"},
        {.name = "limit", .kind = CLI_OPT_UINT, .target = &limit, .max = 1000000,
         .help = "alert: at most N alerts (default 100)"},
        {.name = "since", .kind = CLI_OPT_STRING, .target = &a->since, .metavar = "TIME",
         .help = "alert: only alerts from this RFC 3339 time on"},
    };
    cli_strings positional = {0};
    bool is_alert = strcmp(cmd, "haetae alert") == 0;
    const cli_spec spec = {
        .command = cmd,
        .synopsis = is_alert ? alert_synopsis : incident_synopsis,
        .description = is_alert ? "Lists alerts from a server data directory, newest first."
                                : "Lists, shows and updates incidents in a server data directory.",
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .positional = &positional,
        .positional_name = "ARGUMENT",
        .max_positional = 3,
    };
    int rc = cli_parse(&spec, argc, argv);
    for (size_t i = 0; i < positional.count; i++) a->positional[i] = positional.items[i];
    a->count = positional.count;
    cli_strings_free(&positional);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    a->limit = (size_t)limit;
    if (a->format && strcmp(a->format, "json") != 0 && strcmp(a->format, "table") != 0) {
        return cli_fail(cmd + 7, CLI_EXIT_USAGE, "--format: table or json");
    }
    a->is_json = a->format ? strcmp(a->format, "json") == 0 : !isatty(fileno(stdout));
    return CLI_PARSE_CONTINUE;
}

static void short_time(int64_t ns, char out[HAE_TIME_LEN]) {
    if (!ns) {
        strcpy(out, "-");
        return;
    }
    hae_time_format(ns, out);
    out[19] = '\0'; /* to the second: a table is for reading */
}

static int print_incident(void *ctx, const store_incident *in, hae_err *err) {
    (void)err;
    const incident_args *a = ctx;
    if (a->is_json) {
        hae_buf line = {0};
        int rc = server_json_incident(&line, in);
        if (rc == HAE_OK) printf("%s\n", line.data);
        hae_buf_free(&line);
        return rc;
    }
    char detected[HAE_TIME_LEN];
    short_time(in->detected_ns, detected);
    printf("%-36s  %-14s  %-19s  %-16.16s  %-20.20s  %6llu  %.50s\n", in->id, in->state, detected,
           in->host, in->family, (unsigned long long)in->alert_count, in->title);
    return HAE_OK;
}

/* One JSON item: a line of its own, or the next element of an array. */
static void print_json_item(incident_args *a, const hae_buf *item) {
    if (a->is_json_array) {
        printf("%s%s", a->json_items++ ? "," : "", item->data);
    } else {
        printf("%s\n", item->data);
    }
}

static int print_alert(void *ctx, const store_alert *al, hae_err *err) {
    (void)err;
    incident_args *a = ctx;
    if (a->is_json) {
        hae_buf line = {0};
        int rc = server_json_alert(&line, al);
        if (rc == HAE_OK) print_json_item(a, &line);
        hae_buf_free(&line);
        return rc;
    }
    char when[HAE_TIME_LEN];
    short_time(al->time_ns, when);
    printf("%-19s  %-8s  %-16.16s  %-36s  %.60s\n", when, al->level, al->host, al->incident_id,
           al->rule_title);
    return HAE_OK;
}

static int print_transition(void *ctx, const store_transition *t, hae_err *err) {
    (void)err;
    incident_args *a = ctx;
    if (a->is_json) {
        hae_buf line = {0};
        int rc = server_json_transition(&line, t);
        if (rc == HAE_OK) print_json_item(a, &line);
        hae_buf_free(&line);
        return rc;
    }
    char when[HAE_TIME_LEN];
    short_time(t->at_ns, when);
    printf("  %-19s  %-14s -> %-14s  %-12.12s  %s%s%s\n", when,
           t->from_state[0] ? t->from_state : "(new)", t->to_state, t->who, t->why,
           t->moment[0] ? "  [moment: " : "", t->moment[0] ? t->moment : "");
    if (t->moment[0]) printf("]\n");
    return HAE_OK;
}

static int incident_show(store *st, incident_args *a, hae_err *err) {
    store_incident in;
    int rc = store_incident_get(st, a->positional[1], &in, err);
    if (rc < 0) return rc;
    if (a->is_json) {
        /* Same shape as GET /api/v1/incidents/{id}, one document. */
        hae_buf doc = {0};
        rc = hae_buf_append_str(&doc, "{\"incident\":");
        if (rc == HAE_OK) rc = server_json_incident(&doc, &in);
        if (rc == HAE_OK) printf("%s,\"alerts\":[", doc.data);
        hae_buf_free(&doc);
        a->is_json_array = true;
    } else {
        print_incident(a, &in, err);
        char t[4][HAE_TIME_LEN];
        short_time(in.suspected_ns, t[0]);
        short_time(in.confirmed_ns, t[1]);
        short_time(in.classified_major_ns, t[2]);
        short_time(in.materiality_determined_ns, t[3]);
        printf("moments: suspected %s, confirmed %s, classified major %s, materiality %s\n"
               "alerts:\n", t[0], t[1], t[2], t[3]);
    }
    if (rc == HAE_OK) rc = store_incident_alerts(st, in.id, print_alert, a, err);
    if (a->is_json) printf("],\"transitions\":[");
    else printf("transitions:\n");
    a->json_items = 0;
    if (rc == HAE_OK) rc = store_incident_transitions(st, in.id, print_transition, a, err);
    if (a->is_json) printf("]}\n");
    return rc;
}

static const char *who_am_i(const char *given) {
    if (given && *given) return given;
    const struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name ? pw->pw_name : "cli";
}

/* The transition as the API answers it (server_json_transition). */
static int transition_from_json(const hae_buf *reply, store_transition *t, hae_err *err) {
    memset(t, 0, sizeof *t);
    hae_arena arena = {0};
    hae_json *root = NULL;
    int rc = hae_json_parse(reply->data ? reply->data : "", reply->len, &arena, &root, err);
    struct { const char *key; char *out; size_t size; } texts[] = {
        {"incident_id", t->incident_id, sizeof t->incident_id},
        {"from", t->from_state, sizeof t->from_state},
        {"to", t->to_state, sizeof t->to_state},
        {"who", t->who, sizeof t->who},
        {"why", t->why, sizeof t->why},
        {"moment", t->moment, sizeof t->moment},
    };
    for (size_t i = 0; rc == HAE_OK && i < sizeof texts / sizeof texts[0]; i++) {
        const hae_json *m = hae_json_member(root, texts[i].key);
        if (m && m->type == HAE_JSON_STRING) snprintf(texts[i].out, texts[i].size, "%s", m->text);
    }
    const hae_json *at = rc == HAE_OK ? hae_json_member(root, "at") : NULL;
    const hae_json *seq = rc == HAE_OK ? hae_json_member(root, "seq") : NULL;
    if (at && at->type == HAE_JSON_STRING) rc = hae_time_parse(at->text, at->text_len, &t->at_ns, err);
    if (seq && seq->type == HAE_JSON_NUMBER) t->seq = strtoull(seq->text, NULL, 10);
    hae_arena_free(&arena);
    return rc < 0 ? hae_err_prefix(err, "the server's answer") : HAE_OK;
}

static int update_remote(const cli_writer *w, const incident_args *a, store_transition *t,
                         hae_err *err) {
    hae_buf body = {0}, reply = {0}, path = {0};
    int rc = hae_buf_append_str(&body, "{\"state\":");
    if (rc == HAE_OK) rc = hae_json_append_string(&body, a->state, strlen(a->state));
    if (rc == HAE_OK && a->note) rc = hae_buf_append_str(&body, ",\"note\":");
    if (rc == HAE_OK && a->note) rc = hae_json_append_string(&body, a->note, strlen(a->note));
    if (rc == HAE_OK && a->moment) rc = hae_buf_append_str(&body, ",\"moment\":");
    if (rc == HAE_OK && a->moment) rc = hae_json_append_string(&body, a->moment, strlen(a->moment));
    if (rc == HAE_OK) rc = hae_buf_append_char(&body, '}');
    if (rc == HAE_OK) rc = hae_buf_printf(&path, "/api/v1/incidents/%s/transitions", a->positional[1]);
    if (rc < 0) {
        rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
    } else {
        rc = cli_writer_post(w, path.data, &body, &reply, err);
    }
    if (rc == HAE_OK) rc = transition_from_json(&reply, t, err);
    hae_buf_free(&body);
    hae_buf_free(&reply);
    hae_buf_free(&path);
    return rc;
}

static int update_offline(const cli_writer *w, const incident_args *a, store_transition *t,
                          hae_err *err) {
    store *st = NULL;
    int rc = server_data_store_open(a->data, &st, err);
    char who[96];
    if (rc == HAE_OK) {
        rc = server_incident_update(st, a->positional[1], a->state, a->note, a->moment,
                                    cli_writer_who(w, who_am_i(a->who), who, sizeof who), t, err);
    }
    /* Done only once in the ledger: the same outbox the server drains. */
    uint64_t index = 0;
    char ref[32];
    if (rc == HAE_OK) {
        snprintf(ref, sizeof ref, "%llu", (unsigned long long)t->seq);
        rc = server_data_ledger_sync(a->data, st, "transition", ref, &index, err);
    }
    store_close(st);
    return rc;
}

static int incident_update(incident_args *a) {
    cli_writer w;
    int rc = cli_writer_open("incident update", a->data, a->offline, a->who, &w);
    if (rc != CLI_EXIT_OK) return rc;
    hae_err err = {0};
    store_transition t;
    rc = w.is_remote ? update_remote(&w, a, &t, &err) : update_offline(&w, a, &t, &err);
    cli_writer_close(&w);
    if (rc == HAE_OK) print_transition(a, &t, &err);
    return rc < 0 ? cli_fail("incident update", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}

int cli_cmd_incident(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "set") == 0 || strcmp(argv[1], "timeline") == 0 ||
                      strcmp(argv[1], "export") == 0)) {
        return cli_incident_more(argc, argv);
    }
    char cmd[64] = "haetae incident";
    if (argc >= 2 && (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "show") == 0 ||
                      strcmp(argv[1], "update") == 0)) {
        snprintf(cmd, sizeof cmd, "haetae incident %s", argv[1]);
    }
    incident_args a;
    int rc = args_parse(cmd, argc, argv, &a);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    const char *verb = a.count ? a.positional[0] : "list";
    if (strcmp(verb, "help") == 0) {
        printf("usage: %s\n", incident_synopsis);
        return CLI_EXIT_OK;
    }
    bool is_list = strcmp(verb, "list") == 0 && a.count <= 1;
    bool is_show = strcmp(verb, "show") == 0 && a.count == 2;
    bool is_update = strcmp(verb, "update") == 0 && a.count == 2 && a.state;
    /* A wrong verb is a usage error even where no store exists yet. */
    if (!is_list && !is_show && !is_update) {
        return cli_fail("incident", CLI_EXIT_USAGE, "list | show ID | update ID --state S --note TEXT");
    }
    if (is_update) return incident_update(&a);
    store *st = NULL;
    hae_err err = {0};
    if (server_data_store_open(a.data, &st, &err) < 0) {
        return cli_fail("incident", CLI_EXIT_FAIL, "%s", err.msg);
    }
    if (is_list) {
        if (!a.is_json) {
            printf("%-36s  %-14s  %-19s  %-16s  %-20s  %6s  %s\n", "ID", "STATE", "DETECTED",
                   "HOST", "FAMILY", "ALERTS", "TITLE");
        }
        rc = store_incident_list(st, a.state, print_incident, &a, &err);
    } else {
        rc = incident_show(st, &a, &err);
    }
    store_close(st);
    return rc < 0 ? cli_fail("incident", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}

int cli_cmd_alert(int argc, char **argv) {
    incident_args a;
    int rc = args_parse("haetae alert", argc, argv, &a);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    if (a.count > 1 || (a.count == 1 && strcmp(a.positional[0], "list") != 0)) {
        return cli_fail("alert", CLI_EXIT_USAGE,
                        "list [--limit N] [--since TIME] [--data DIR] [--format table|json]");
    }
    int64_t since = 0;
    hae_err err = {0};
    if (a.since && hae_time_parse(a.since, strlen(a.since), &since, &err) < 0) {
        return cli_fail("alert", CLI_EXIT_USAGE, "--since: %s", err.msg);
    }
    store *st = NULL;
    if (server_data_store_open(a.data, &st, &err) < 0) {
        return cli_fail("alert", CLI_EXIT_FAIL, "%s", err.msg);
    }
    if (!a.is_json) {
        printf("%-19s  %-8s  %-16s  %-36s  %s\n", "TIME", "LEVEL", "HOST", "INCIDENT", "RULE");
    }
    rc = store_alert_list(st, since, a.limit ? a.limit : 100, print_alert, &a, &err);
    store_close(st);
    return rc < 0 ? cli_fail("alert", CLI_EXIT_FAIL, "%s", err.msg) : CLI_EXIT_OK;
}
