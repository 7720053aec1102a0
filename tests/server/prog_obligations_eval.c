/* Evaluates the shipped policies for incidents read as JSON lines on
 * standard input, one line of output per obligation:
 *   CASE <TAB> RULE <TAB> DUE (RFC 3339 or -) <TAB> STATUS
 * Input members: case, kinds, regions, sectors, data_kinds (comma lists),
 * persons, detected, aware, classified, materiality (RFC 3339), now, and
 * sent: {RULE: time}. tests/server/test_deadline_matrix.sh compares the
 * output with due times it computes from the law on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/obligations.h"

static int64_t time_of(const hae_json *obj, const char *key) {
    const hae_json *m = hae_json_member(obj, key);
    int64_t ns = 0;
    if (m && m->type == HAE_JSON_STRING && hae_time_parse(m->text, m->text_len, &ns, NULL) < 0) {
        fprintf(stderr, "bad time in %s\n", key);
        exit(2);
    }
    return ns;
}

static void text_of(const hae_json *obj, const char *key, char *out, size_t size) {
    const hae_json *m = hae_json_member(obj, key);
    snprintf(out, size, "%s", m && m->type == HAE_JSON_STRING ? m->text : "");
}

static int print(void *ctx, const server_obligation *o, hae_err *err) {
    (void)err;
    char due[HAE_TIME_LEN] = "-";
    if (o->due_ns) hae_time_format(o->due_ns, due);
    printf("%s\t%s\t%s\t%s\n", (const char *)ctx, o->rule_id, due, o->status);
    return HAE_OK;
}

static void facts_from(const hae_json *c, server_facts *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->incident.id, sizeof f->incident.id, "0192c3d4-0000-7000-8000-000000000001");
    text_of(c, "kinds", f->kinds, sizeof f->kinds);
    text_of(c, "regions", f->regions, sizeof f->regions);
    text_of(c, "sectors", f->sectors, sizeof f->sectors);
    text_of(c, "data_kinds", f->data_kinds, sizeof f->data_kinds);
    const hae_json *persons = hae_json_member(c, "persons");
    f->persons = persons ? strtoull(persons->text, NULL, 10) : 0;
    f->incident.detected_ns = time_of(c, "detected");
    f->incident.aware_ns = time_of(c, "aware");
    f->incident.classified_major_ns = time_of(c, "classified");
    f->incident.materiality_determined_ns = time_of(c, "materiality");
    const hae_json *sent = hae_json_member(c, "sent");
    for (const hae_json *s = sent ? sent->child : NULL; s && f->sent_count < FACTS_SENT_MAX;
         s = s->next) {
        snprintf(f->sent[f->sent_count].rule, sizeof f->sent[0].rule, "%s", s->key);
        hae_time_parse(s->text, s->text_len, &f->sent[f->sent_count++].at_ns, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s POLICIES_DIR < cases.jsonl\n", argv[0]);
        return 2;
    }
    server_policies *p = NULL;
    hae_err err = {0};
    if (server_policies_load(argv[1], &p, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char line[8192];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, stdin)) {
        hae_arena arena = {0};
        hae_json *c = NULL;
        if (hae_json_parse(line, strlen(line), &arena, &c, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            rc = 2;
        } else {
            server_facts f;
            facts_from(c, &f);
            char name[128];
            text_of(c, "case", name, sizeof name);
            int64_t now = time_of(c, "now");
            if (server_obligations_eval(p, &f, now ? now : f.incident.detected_ns, print, name,
                                        &err) < 0) {
                fprintf(stderr, "%s: %s\n", name, err.msg);
                rc = 1;
            }
        }
        hae_arena_free(&arena);
    }
    server_policies_free(p);
    return rc;
}
