/* Helpers shared by subcommands: output formats, option lists, errors,
 * rule discovery. Kept apart from the command table so that a binary with
 * one command (haetae-agent) links only what that command needs. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
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

/* Appends dir to the list of places looked in, for the message. */
static void looked_add(char *looked, size_t size, const char *dir) {
    size_t used = strlen(looked);
    if (used + 1 >= size) return;
    snprintf(looked + used, size - used, "%s%s", used ? ", " : "", dir);
}

/* dir when it exists (malloc'd, resolved), else NULL; dir is consumed. */
static char *existing(char *dir, char *looked, size_t size) {
    if (!dir) return NULL;
    looked_add(looked, size, dir);
    char *resolved = access(dir, F_OK) == 0 ? realpath(dir, NULL) : NULL;
    free(dir);
    return resolved;
}

/* The directory that holds the running binary, into exe; false if unknown. */
static bool exe_dir(char *exe, size_t size) {
    ssize_t n = readlink("/proc/self/exe", exe, size - 1);
    if (n <= 0) return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    *slash = '\0';
    return true;
}

char *cli_find_share_dir(const char *kind, const char *env_name, char *looked, size_t size) {
    looked[0] = '\0';
    const char *env = getenv(env_name);
    if (env && env[0]) return existing(strdup(env), looked, size);
    /* build/<tree>/haetae and build/haetae in a source tree, then
     * PREFIX/bin/haetae beside PREFIX/share/haetae, then the shared ones. */
    char exe[4096];
    bool has_exe = exe_dir(exe, sizeof exe);
    static const char *const beside_exe[] = {"../..", "..", "../share/haetae"};
    static const char *const shared[] = {HAETAE_DATADIR, "/usr/share/haetae"};
    const size_t beside = has_exe ? sizeof beside_exe / sizeof beside_exe[0] : 0;
    for (size_t i = 0; i < beside + sizeof shared / sizeof shared[0]; i++) {
        char *dir = NULL;
        int n = i < beside ? asprintf(&dir, "%s/%s/%s", exe, beside_exe[i], kind)
                           : asprintf(&dir, "%s/%s", shared[i - beside], kind);
        if (n < 0) return NULL;
        char *found = existing(dir, looked, size);
        if (found) return found;
    }
    return NULL;
}

char *cli_find_rules_dir(void) {
    char looked[CLI_LOOKED_LEN];
    return cli_find_share_dir("rules", "HAETAE_RULES_DIR", looked, sizeof looked);
}

/* flag when given, else the shipped kind; NULL with *failed set (and the
 * message printed) when none exists. */
static char *shipped_dir(const char *cmd, const char *flag, const char *kind,
                             const char *env_name, bool *failed) {
    char looked[CLI_LOOKED_LEN];
    char *dir = flag ? realpath(flag, NULL) : cli_find_share_dir(kind, env_name, looked, sizeof looked);
    if (dir) return dir;
    *failed = true;
    if (flag) {
        cli_fail(cmd, CLI_EXIT_INPUT, "--%s %s: %s", kind, flag, strerror(errno));
    } else {
        cli_fail(cmd, CLI_EXIT_INPUT,
                 "no %s found (looked in %s); give --%s DIR, set %s, or run with --no-%s",
                 kind, looked, kind, env_name, kind);
    }
    return NULL;
}

int cli_server_data_find(const char *cmd, const cli_server_data_flags *flags,
                         cli_server_data *out) {
    *out = (cli_server_data){0};
    bool failed = false;
    if (!flags->no_rules) {
        out->rules = shipped_dir(cmd, flags->rules, "rules", "HAETAE_RULES_DIR", &failed);
    }
    /* The shipped directory also holds allowlists and YARA rules, which
     * are the agents' business: the server's detection reads sigma/. */
    char *sigma = NULL;
    if (out->rules && !flags->rules && asprintf(&sigma, "%s/sigma", out->rules) > 0) {
        if (access(sigma, F_OK) == 0) {
            free(out->rules);
            out->rules = sigma;
            sigma = NULL;
        }
        free(sigma);
    }
    if (!failed && !flags->no_policies) {
        out->policies = shipped_dir(cmd, flags->policies, "policies", "HAETAE_POLICIES_DIR",
                                        &failed);
    }
    if (!failed) return CLI_EXIT_OK;
    cli_server_data_free(out);
    return CLI_EXIT_INPUT;
}

void cli_server_data_free(cli_server_data *d) {
    free(d->rules);
    free(d->policies);
    *d = (cli_server_data){0};
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
