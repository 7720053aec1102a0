/* Helpers shared by subcommands: output formats, option lists, errors,
 * rule discovery. Kept apart from the command table so that a binary with
 * one command (haetae-agent) links only what that command needs. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_format_parse(const char *name, FILE *out, cli_format *format) {
    if (!name) {
        *format = isatty(fileno(out)) ? CLI_FORMAT_TABLE : CLI_FORMAT_JSONL;
        return HAE_OK;
    }
    if (strcmp(name, "jsonl") == 0) {
        *format = CLI_FORMAT_JSONL;
    } else if (strcmp(name, "table") == 0) {
        *format = CLI_FORMAT_TABLE;
    } else {
        return HAE_EINVAL;
    }
    return HAE_OK;
}

int cli_strings_push(cli_strings *list, const char *s) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        const char **grown = realloc(list->items, cap * sizeof *grown);
        if (!grown) {
            return HAE_ENOMEM;
        }
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = s;
    return HAE_OK;
}

void cli_strings_free(cli_strings *list) {
    free(list->items);
    memset(list, 0, sizeof *list);
}

int cli_exit_for_error(int hae_code) {
    switch (hae_code) {
    case HAE_EINVAL:
    case HAE_ENOENT: return CLI_EXIT_INPUT;
    default: return CLI_EXIT_ERROR;
    }
}

int cli_fail(const char *cmd, int exit_code, const char *fmt, ...) {
    fprintf(stderr, "haetae %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return exit_code;
}

char *cli_find_rules_dir(void) {
    const char *env = getenv("HAETAE_RULES_DIR");
    char *dir = NULL;
    if (env && env[0]) {
        return access(env, F_OK) == 0 ? strdup(env) : NULL;
    }
    /* Built in SOURCE/build/<tree>/haetae: the rules are at SOURCE/rules. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        if (asprintf(&dir, "%s/../../rules", exe) > 0 && access(dir, F_OK) == 0) {
            char *resolved = realpath(dir, NULL);
            free(dir);
            return resolved;
        }
        free(dir);
    }
    return access("/usr/share/haetae/rules", F_OK) == 0 ? strdup("/usr/share/haetae/rules") : NULL;
}

int cli_emit_jsonl(void *out_file, const hae_event *ev, hae_err *err) {
    hae_buf line = {0};
    int rc = hae_event_encode_json(ev, &line);
    if (rc == HAE_OK && fwrite(line.data, 1, line.len, (FILE *)out_file) != line.len) {
        rc = hae_err_set(err, HAE_EIO, "cannot write to standard output");
    } else if (rc < 0) {
        hae_err_set(err, rc, "cannot encode event: %s", hae_err_code_name(rc));
    }
    hae_buf_free(&line);
    return rc;
}
