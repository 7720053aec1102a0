/* Helpers for the fim tests: a temporary tree with a web root and an
 * "etc" directory standing in for /etc, and lookups over findings. */
#ifndef HAETAE_TEST_FIM_UTIL_H
#define HAETAE_TEST_FIM_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "sensor/sensor.h"

typedef struct fim_tree {
    char *dir;        /* temporary directory, removed at the end */
    char *root;       /* dir/tree: the watched root */
    char *www;        /* root/www: the web root */
    char *etc;        /* root/etc: the etc prefix */
    char *baseline;   /* dir/base.db */
    char *canaries;   /* dir/canaries.list */
    const char *roots[1];
    const char *web_roots[1];
    fim_options opt;
    collected_events events;
    hae_sink sink;
} fim_tree;

static inline char *fim_tree_path(const fim_tree *t, const char *relative) {
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", t->root, relative) > 0);
    return p;
}

static inline void fim_tree_write(const fim_tree *t, const char *relative, const char *content) {
    char *p = fim_tree_path(t, relative);
    assert_int_equal(fixture_write_file(p, content, strlen(content)), 0);
    free(p);
}

static inline fim_tree *fim_tree_new(const char *label) {
    fim_tree *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->dir = fixture_tempdir(label);
    assert_non_null(t->dir);
    assert_true(asprintf(&t->root, "%s/tree", t->dir) > 0);
    assert_true(asprintf(&t->www, "%s/www", t->root) > 0);
    assert_true(asprintf(&t->etc, "%s/etc", t->root) > 0);
    assert_true(asprintf(&t->baseline, "%s/base.db", t->dir) > 0);
    assert_true(asprintf(&t->canaries, "%s/canaries.list", t->dir) > 0);
    assert_int_equal(mkdir(t->root, 0755), 0);
    assert_int_equal(mkdir(t->www, 0755), 0);
    assert_int_equal(mkdir(t->etc, 0755), 0);
    fim_tree_write(t, "www/index.html", "<html>hello</html>\n");
    fim_tree_write(t, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    fim_tree_write(t, "notes.txt", "hello\n");
    t->roots[0] = t->root;
    t->web_roots[0] = t->www;
    t->opt = (fim_options){.roots = t->roots, .root_count = 1, .web_roots = t->web_roots,
                           .web_root_count = 1, .threads = 2, .etc_prefix = t->etc};
    t->sink = collector_sink(&t->events);
    return t;
}

static inline void fim_tree_free(fim_tree *t) {
    fixture_rmtree(t->dir);
    collector_free(&t->events);
    free(t->dir);
    free(t->root);
    free(t->www);
    free(t->etc);
    free(t->baseline);
    free(t->canaries);
    free(t);
}

/* Number of collected findings with this rule whose TargetFilename is path
 * (path NULL: any). */
static inline size_t fim_count(const fim_tree *t, const char *rule, const char *path) {
    size_t n = 0;
    for (size_t i = 0; i < t->events.count; i++) {
        const hae_event *ev = &t->events.events[i];
        const char *r = hae_event_get_str(ev, "rule");
        const char *target = hae_event_get_str(ev, "TargetFilename");
        if (r && strcmp(r, rule) == 0 && (!path || (target && strcmp(target, path) == 0))) n++;
    }
    return n;
}

static inline const hae_event *fim_find(const fim_tree *t, const char *rule, const char *path) {
    for (size_t i = 0; i < t->events.count; i++) {
        const hae_event *ev = &t->events.events[i];
        const char *r = hae_event_get_str(ev, "rule");
        const char *target = hae_event_get_str(ev, "TargetFilename");
        if (r && strcmp(r, rule) == 0 && (!path || (target && strcmp(target, path) == 0))) {
            return ev;
        }
    }
    return NULL;
}

/* Findings other than informational ones (fim.error, fim.watcher...). */
static inline size_t fim_count_above_info(const fim_tree *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->events.count; i++) {
        const char *sev = hae_event_get_str(&t->events.events[i], "severity");
        if (sev && strcmp(sev, "informational") != 0) n++;
    }
    return n;
}

static inline void fim_print_events(const fim_tree *t) {
    for (size_t i = 0; i < t->events.count; i++) {
        hae_buf line = {0};
        if (hae_event_encode_json(&t->events.events[i], &line) == HAE_OK) {
            fprintf(stderr, "  %s", line.data);
        }
        hae_buf_free(&line);
    }
}

#endif
