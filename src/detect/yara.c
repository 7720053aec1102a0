/* YARA rule sets through libyara: compiled once, then scanned over files
 * and buffers from many calls. Compile errors name the file and line. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yara.h>

#include "detect/detect.h"

struct detect_yara {
    YR_RULES *rules;
    size_t rule_count;
};

typedef struct compile_ctx {
    hae_err *err;
    int errors;
} compile_ctx;

static void on_compile_message(int level, const char *file, int line, const YR_RULE *rule,
                               const char *message, void *user) {
    (void)rule;
    compile_ctx *c = user;
    if (level != YARA_ERROR_LEVEL_ERROR) return;
    if (c->errors++ == 0) {
        hae_err_set(c->err, HAE_EINVAL, "%s:%d: %s", file ? file : "?", line, message);
    }
}

static bool is_yara_file(const char *name) {
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".yar") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yara") == 0);
}

static int add_path(YR_COMPILER *compiler, const char *path, bool explicit_file, int depth,
                    compile_ctx *c) {
    struct stat st;
    if (stat(path, &st) != 0) return hae_err_errno(c->err, errno, "%s", path);
    if (S_ISDIR(st.st_mode)) {
        if (depth > 32) return hae_err_set(c->err, HAE_ELIMIT, "%s: nested too deep", path);
        DIR *dir = opendir(path);
        if (!dir) return hae_err_errno(c->err, errno, "%s", path);
        int rc = HAE_OK;
        struct dirent *d;
        while (rc == HAE_OK && (d = readdir(dir)) != NULL) {
            if (d->d_name[0] == '.') continue;
            char *child = NULL;
            if (asprintf(&child, "%s/%s", path, d->d_name) < 0) {
                rc = hae_err_set(c->err, HAE_ENOMEM, "out of memory");
                break;
            }
            rc = add_path(compiler, child, false, depth + 1, c);
            free(child);
        }
        closedir(dir);
        return rc;
    }
    if (!explicit_file && !is_yara_file(path)) return HAE_OK;
    FILE *f = fopen(path, "re");
    if (!f) return hae_err_errno(c->err, errno, "%s", path);
    int errors = yr_compiler_add_file(compiler, f, NULL, path);
    fclose(f);
    return errors ? HAE_EINVAL : HAE_OK;
}

int detect_yara_new(detect_yara **out, const char *const *paths, size_t path_count,
                    hae_err *err) {
    if (yr_initialize() != ERROR_SUCCESS) return hae_err_set(err, HAE_ENOMEM, "libyara init failed");
    detect_yara *y = calloc(1, sizeof *y);
    YR_COMPILER *compiler = NULL;
    if (!y || yr_compiler_create(&compiler) != ERROR_SUCCESS) {
        free(y);
        yr_finalize();
        return hae_err_set(err, HAE_ENOMEM, "out of memory creating a YARA compiler");
    }
    compile_ctx c = {.err = err};
    yr_compiler_set_callback(compiler, on_compile_message, &c);
    int rc = HAE_OK;
    for (size_t i = 0; i < path_count && rc == HAE_OK; i++) rc = add_path(compiler, paths[i], true, 0, &c);
    if (rc == HAE_OK && yr_compiler_get_rules(compiler, &y->rules) != ERROR_SUCCESS) {
        rc = hae_err_set(err, HAE_ENOMEM, "out of memory compiling YARA rules");
    }
    yr_compiler_destroy(compiler);
    if (rc < 0) {
        if (rc == HAE_EINVAL && c.errors > 1) {
            hae_err_prefix(err, "%d errors, first: ", c.errors);
        }
        detect_yara_free(y);
        return rc;
    }
    const YR_RULE *rule;
    if (y->rules) {
        yr_rules_foreach(y->rules, rule) {
            y->rule_count++;
        }
    }
    *out = y;
    return HAE_OK;
}

void detect_yara_free(detect_yara *y) {
    if (!y) return;
    if (y->rules) yr_rules_destroy(y->rules);
    free(y);
    yr_finalize();
}

size_t detect_yara_rule_count(const detect_yara *y) {
    return y->rule_count;
}

typedef struct scan_ctx {
    detect_yara_hit_fn on_hit;
    void *ctx;
    hae_err *err;
    int rc;
} scan_ctx;

static int on_scan(YR_SCAN_CONTEXT *context, int message, void *data, void *user) {
    (void)context;
    scan_ctx *s = user;
    if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
    const YR_RULE *rule = data;
    const char *tags[32];
    size_t n = 0;
    const char *tag;
    yr_rule_tags_foreach(rule, tag) {
        if (n < sizeof tags / sizeof *tags) tags[n++] = tag;
    }
    s->rc = s->on_hit(s->ctx, rule->identifier, rule->ns ? rule->ns->name : "default", tags, n,
                      s->err);
    return s->rc < 0 ? CALLBACK_ABORT : CALLBACK_CONTINUE;
}

static int scan_result(int yr, const char *what, scan_ctx *s) {
    if (s->rc < 0) return s->rc;
    if (yr == ERROR_SUCCESS) return HAE_OK;
    if (yr == ERROR_COULD_NOT_OPEN_FILE || yr == ERROR_COULD_NOT_MAP_FILE) {
        return hae_err_set(s->err, HAE_EIO, "%s: cannot open or map the file", what);
    }
    if (yr == ERROR_SCAN_TIMEOUT) return hae_err_set(s->err, HAE_ELIMIT, "%s: scan timed out", what);
    return hae_err_set(s->err, HAE_EIO, "%s: YARA scan failed (error %d)", what, yr);
}

int detect_yara_scan_file(detect_yara *y, const char *path, detect_yara_hit_fn on_hit, void *ctx,
                          hae_err *err) {
    scan_ctx s = {.on_hit = on_hit, .ctx = ctx, .err = err};
    int yr = yr_rules_scan_file(y->rules, path, SCAN_FLAGS_FAST_MODE, on_scan, &s, 60);
    return scan_result(yr, path, &s);
}

int detect_yara_scan_buffer(detect_yara *y, const void *data, size_t len,
                            detect_yara_hit_fn on_hit, void *ctx, hae_err *err) {
    scan_ctx s = {.on_hit = on_hit, .ctx = ctx, .err = err};
    int yr = yr_rules_scan_mem(y->rules, data, len, SCAN_FLAGS_FAST_MODE, on_scan, &s, 60);
    return scan_result(yr, "buffer", &s);
}
