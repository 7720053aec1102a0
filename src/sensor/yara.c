/* yara: files and buffers scanned with YARA rules through libyara.
 *
 * Rules compile once in yara_scanner_open; a scanner is then read-only, so
 * any number of threads may scan with it at once (each yr_rules_scan_*
 * call builds its own YR_SCANNER). yr_initialize/yr_finalize are counted
 * here under a mutex: libyara's own count is not thread-safe. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yara.h>

#include "sensor/sensor.h"

#define SENSOR "yara"
#define DEFAULT_TIMEOUT_SECONDS 60
/* Evidence per rule: offsets of the first matches, each with a few bytes. */
#define MAX_MATCHES_REPORTED 16
#define PREVIEW_BYTES 16

struct yara_scanner {
    YR_RULES *rules;
    size_t rule_count;
    int timeout_seconds;
};

/* ---- library lifetime ------------------------------------------------ */

static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned library_users;

static int library_acquire(hae_err *err) {
    pthread_mutex_lock(&library_lock);
    int r = library_users == 0 ? yr_initialize() : ERROR_SUCCESS;
    if (r == ERROR_SUCCESS) library_users++;
    pthread_mutex_unlock(&library_lock);
    return r == ERROR_SUCCESS ? HAE_OK
                              : hae_err_set(err, HAE_ENOMEM, "yara: yr_initialize failed (%d)", r);
}

static void library_release(void) {
    pthread_mutex_lock(&library_lock);
    if (library_users > 0 && --library_users == 0) yr_finalize();
    pthread_mutex_unlock(&library_lock);
}

/* ---- compiling ------------------------------------------------------- */

typedef struct compile_report {
    hae_err *err;
    unsigned errors;
} compile_report;

/* libyara calls this once per error or warning with the file and line. */
static void on_compile_message(int level, const char *file, int line, const YR_RULE *rule,
                               const char *message, void *user_data) {
    compile_report *report = user_data;
    const char *rule_name = rule ? rule->identifier : NULL;
    if (level == YARA_ERROR_LEVEL_WARNING) {
        hae_log(HAE_LOG_WARN, "%s:%d: %s%s%s", file ? file : "?", line, message,
                rule_name ? " in rule " : "", rule_name ? rule_name : "");
        return;
    }
    if (report->errors++ == 0) { /* the first error is the one to fix first */
        hae_err_set(report->err, HAE_EINVAL, "%s:%d: %s", file ? file : "?", line, message);
    }
}

/* Namespace of a rule file: its name without directory and extension, so
 * rules of the same name in two files do not collide. */
static void namespace_of(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

static int compile_file(YR_COMPILER *compiler, const char *path, compile_report *report) {
    FILE *f = fopen(path, "re");
    if (!f) return hae_err_errno(report->err, errno, "yara: cannot open rule file %s", path);
    char ns[128];
    namespace_of(path, ns, sizeof ns);
    int errors = yr_compiler_add_file(compiler, f, ns, path);
    fclose(f);
    if (errors == 0) return HAE_OK;
    if (report->errors > 1 && report->err) {
        hae_err *err = report->err;
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used, " (and %u more errors)",
                 report->errors - 1);
    }
    return HAE_EINVAL;
}

/* An in-memory YR_STREAM for yr_rules_save_stream/yr_rules_load_stream. */
typedef struct rules_image {
    hae_buf bytes;
    size_t read_pos;
    bool failed;
} rules_image;

static size_t image_write(const void *ptr, size_t size, size_t count, void *user) {
    rules_image *img = user;
    if (size && count > SIZE_MAX / size) return 0;
    if (hae_buf_append(&img->bytes, ptr, size * count) < 0) {
        img->failed = true;
        return 0;
    }
    return count;
}

static size_t image_read(void *ptr, size_t size, size_t count, void *user) {
    rules_image *img = user;
    if (size && count > SIZE_MAX / size) return 0;
    size_t want = size * count;
    if (img->bytes.len - img->read_pos < want) return 0;
    memcpy(ptr, img->bytes.data + img->read_pos, want);
    img->read_pos += want;
    return count;
}

/* The compiler's arenas are sized for growth and zeroed: freshly compiled
 * rules keep ~8 MiB resident however small the rule set. Saved and loaded
 * back, the same rules occupy only their own size — the difference between
 * an agent under 8 MB and one at 20 MB. Keeps the original on failure. */
static void compact_rules(yara_scanner *s) {
    rules_image img = {0};
    YR_STREAM stream = {.user_data = &img, .read = image_read, .write = image_write};
    YR_RULES *loaded = NULL;
    if (yr_rules_save_stream(s->rules, &stream) == ERROR_SUCCESS && !img.failed &&
        yr_rules_load_stream(&stream, &loaded) == ERROR_SUCCESS) {
        yr_rules_destroy(s->rules);
        s->rules = loaded;
    }
    hae_buf_free(&img.bytes);
    malloc_trim(0); /* hand the compiler's pages back to the kernel now */
}

/* The names rules may test (as LOKI and THOR rules do): a web shell rule
 * can ask whether the web server would run the file, so sample strings in
 * source files and documentation are not web shells. */
static const char *const file_externals[] = {"filename", "filepath", "extension"};

int yara_scanner_open(yara_scanner **out, const char *const *rule_paths, size_t count,
                      hae_err *err) {
    *out = NULL;
    if (count == 0) return hae_err_set(err, HAE_EINVAL, "yara: no rule files given");
    int rc = library_acquire(err);
    if (rc < 0) return rc;
    YR_COMPILER *compiler = NULL;
    if (yr_compiler_create(&compiler) != ERROR_SUCCESS) {
        library_release();
        return hae_err_set(err, HAE_ENOMEM, "yara: out of memory creating the compiler");
    }
    compile_report report = {.err = err};
    yr_compiler_set_callback(compiler, on_compile_message, &report);
    for (size_t i = 0; i < sizeof file_externals / sizeof *file_externals; i++) {
        if (yr_compiler_define_string_variable(compiler, file_externals[i], "") != ERROR_SUCCESS) {
            rc = hae_err_set(err, HAE_ENOMEM, "yara: out of memory defining externals");
        }
    }
    /* libyara refuses more input once a file failed: stop at the first. */
    for (size_t i = 0; i < count && rc == HAE_OK; i++) {
        rc = compile_file(compiler, rule_paths[i], &report);
    }
    yara_scanner *s = NULL;
    if (rc == HAE_OK) {
        s = calloc(1, sizeof *s);
        if (!s || yr_compiler_get_rules(compiler, &s->rules) != ERROR_SUCCESS) {
            rc = hae_err_set(err, HAE_ENOMEM, "yara: out of memory building the rules");
        }
    }
    yr_compiler_destroy(compiler);
    if (rc != HAE_OK || !s) {
        free(s);
        library_release();
        return rc != HAE_OK ? rc : HAE_ENOMEM;
    }
    compact_rules(s);
    const YR_RULE *rule;
    yr_rules_foreach(s->rules, rule) {
        s->rule_count++;
    }
    s->timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
    *out = s;
    return HAE_OK;
}

void yara_scanner_set_timeout(yara_scanner *s, int seconds) {
    s->timeout_seconds = seconds > 0 ? seconds : DEFAULT_TIMEOUT_SECONDS;
}

void yara_scanner_close(yara_scanner *s) {
    if (!s) return;
    if (s->rules) yr_rules_destroy(s->rules);
    free(s);
    library_release();
}

/* ---- findings -------------------------------------------------------- */

typedef struct scan_state {
    const char *target;
    const hae_sink *sink;
    hae_err *err;
    int rc;          /* first failure of the sink or of memory */
    bool too_many;   /* libyara stopped recording matches of some string */
} scan_state;

/* Severity from the rule's meta "severity" or "level" (Sigma names). */
static hae_severity rule_severity(const YR_RULE *rule, const char **description) {
    hae_severity sev = HAE_SEV_HIGH;
    const YR_META *meta;
    *description = NULL;
    yr_rule_metas_foreach(rule, meta) {
        if (meta->type != META_TYPE_STRING) continue;
        if (strcmp(meta->identifier, "severity") == 0 || strcmp(meta->identifier, "level") == 0) {
            hae_severity parsed;
            if (hae_severity_parse(meta->string, &parsed) == HAE_OK) sev = parsed;
        } else if (strcmp(meta->identifier, "description") == 0) {
            *description = meta->string;
        }
    }
    return sev;
}

static int add_match(hae_event *ev, const YR_STRING *string, const YR_MATCH *match) {
    char hex[2 * PREVIEW_BYTES + 1] = "";
    int n = match->data_length < PREVIEW_BYTES ? match->data_length : PREVIEW_BYTES;
    for (int i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", match->data[i]);
    uint64_t at = (uint64_t)match->base + (uint64_t)match->offset;
    return hae_event_add_printf(ev, "YaraMatches", "%s@0x%" PRIx64 " len=%d hex=%s%s",
                                string->identifier, at,
                                match->match_length, hex,
                                match->match_length > PREVIEW_BYTES ? "..." : "");
}

/* libyara before 4.3.2 hands out YR_MATCH records at unaligned addresses
 * (its notebook packs them between match data: VirusTotal/yara#1928,
 * fixed by #1930; yara-rust#112), so yr_string_matches_foreach would read
 * misaligned members. Each record is copied out with memcpy instead. */
static const void *next_match(const void *raw, YR_MATCH *copy) {
    while (raw) {
        memcpy(copy, raw, sizeof *copy);
        if (!copy->is_private) return raw;
        raw = copy->next;
    }
    return NULL;
}

/* Identifiers of the strings that matched, then up to MAX_MATCHES_REPORTED
 * offsets with a short hex preview (never the whole matched bytes). */
static int add_strings(hae_event *ev, YR_SCAN_CONTEXT *context, const YR_RULE *rule) {
    const YR_STRING *string;
    unsigned reported = 0, omitted = 0;
    int rc = HAE_OK;
    yr_rule_strings_foreach(rule, string) {
        YR_MATCH match;
        const void *raw = next_match(context->matches[string->idx].head, &match);
        if (raw && rc == HAE_OK) rc = hae_event_add_str(ev, "YaraStrings", string->identifier);
        for (; raw && rc == HAE_OK; raw = next_match(match.next, &match)) {
            if (reported < MAX_MATCHES_REPORTED) {
                rc = add_match(ev, string, &match);
                reported++;
            } else {
                omitted++;
            }
        }
    }
    if (rc == HAE_OK && omitted > 0) rc = hae_event_add_uint(ev, "YaraMatchesOmitted", omitted);
    return rc;
}

static int emit_match(scan_state *st, YR_SCAN_CONTEXT *context, const YR_RULE *rule) {
    const char *description;
    hae_severity sev = rule_severity(rule, &description);
    hae_event ev;
    int rc = hae_finding_init(&ev, SENSOR, "yara.match", sev, "YARA rule %s:%s matched %s%s%s",
                              rule->ns->name, rule->identifier, st->target,
                              description ? ": " : "", description ? description : "");
    if (rc < 0) return rc;
    rc = hae_event_add_str(&ev, "TargetFilename", st->target);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "YaraRule", rule->identifier);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "YaraNamespace", rule->ns->name);
    const char *tag;
    yr_rule_tags_foreach(rule, tag) {
        if (rc == HAE_OK) rc = hae_event_add_str(&ev, "YaraTags", tag);
    }
    if (rc == HAE_OK) rc = add_strings(&ev, context, rule);
    if (rc == HAE_OK && st->too_many) rc = hae_event_add_bool(&ev, "YaraTooManyMatches", true);
    if (rc == HAE_ENOMEM) rc = hae_err_set(st->err, rc, "yara: out of memory for a finding");
    if (rc == HAE_OK) rc = hae_emit(st->sink, &ev, st->err);
    hae_event_clear(&ev);
    return rc;
}

static int on_scan_message(YR_SCAN_CONTEXT *context, int message, void *message_data,
                           void *user_data) {
    scan_state *st = user_data;
    if (message == CALLBACK_MSG_TOO_MANY_MATCHES) {
        st->too_many = true; /* the string's further matches go unrecorded */
    } else if (message == CALLBACK_MSG_RULE_MATCHING) {
        st->rc = emit_match(st, context, message_data);
        if (st->rc < 0) return CALLBACK_ERROR;
    }
    return CALLBACK_CONTINUE;
}

/* yara.error: a target that could not be scanned; scanning goes on. */
static int emit_error(const char *target, const char *reason, const hae_sink *sink,
                      hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, SENSOR, "yara.error", HAE_SEV_INFO, "cannot scan %s: %s",
                              target, reason);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", target);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Reason", reason);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

/* Maps what libyara returned: sink failures pass up, a timeout or a bad
 * file becomes a yara.error finding. */
static int scan_result(int r, const scan_state *st, int timeout, hae_err *err) {
    if (st->rc < 0) return st->rc;
    if (r == ERROR_SUCCESS) return HAE_OK;
    char reason[96];
    switch (r) {
    case ERROR_SCAN_TIMEOUT:
        snprintf(reason, sizeof reason, "scan timed out after %d s (matches so far reported)",
                 timeout);
        break;
    case ERROR_INSUFFICIENT_MEMORY: return hae_err_set(err, HAE_ENOMEM, "yara: out of memory");
    case ERROR_COULD_NOT_MAP_FILE: snprintf(reason, sizeof reason, "cannot map the file"); break;
    default: snprintf(reason, sizeof reason, "libyara error %d", r); break;
    }
    return emit_error(st->target, reason, st->sink, err);
}

/* ---- scanning -------------------------------------------------------- */

/* Opens path for a scan, or says why not in reason. O_NONBLOCK keeps a
 * FIFO from hanging us, and fstat on the same descriptor tells a regular
 * file without a race against a rename. */
static int open_regular(const char *path, const char **reason) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        *reason = strerror(errno);
        return -1;
    }
    struct stat st;
    bool is_stat = fstat(fd, &st) == 0;
    if (!is_stat || !S_ISREG(st.st_mode)) {
        *reason = !is_stat ? strerror(errno) : S_ISDIR(st.st_mode) ? "a directory" : "not a regular file";
        close(fd);
        return -1;
    }
    return fd;
}

/* One scan of fd (or of data when fd < 0) with the file externals set
 * from path: its name, and its extension lowercased. */
static int run_scan(yara_scanner *s, int fd, const void *data, size_t len, const char *path,
                    YR_CALLBACK_FUNC callback, void *ctx) {
    YR_SCANNER *scanner = NULL;
    int r = yr_scanner_create(s->rules, &scanner);
    if (r != ERROR_SUCCESS) return r;
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *name = path ? (slash ? slash + 1 : path) : "";
    const char *dot = strrchr(name, '.');
    char ext[16] = "";
    for (size_t i = 0; dot && dot != name && dot[i + 1] && i + 1 < sizeof ext; i++) {
        ext[i] = (char)tolower((unsigned char)dot[i + 1]);
    }
    if (yr_scanner_define_string_variable(scanner, "filename", name) != ERROR_SUCCESS ||
        yr_scanner_define_string_variable(scanner, "filepath", path ? path : "") != ERROR_SUCCESS ||
        yr_scanner_define_string_variable(scanner, "extension", ext) != ERROR_SUCCESS) {
        yr_scanner_destroy(scanner);
        return ERROR_INSUFFICIENT_MEMORY;
    }
    yr_scanner_set_callback(scanner, callback, ctx);
    yr_scanner_set_flags(scanner, SCAN_FLAGS_FAST_MODE);
    yr_scanner_set_timeout(scanner, s->timeout_seconds);
    r = fd >= 0 ? yr_scanner_scan_fd(scanner, fd)
                : yr_scanner_scan_mem(scanner, data, len);
    yr_scanner_destroy(scanner);
    return r;
}

int yara_scan_file(yara_scanner *s, const char *path, const hae_sink *sink, hae_err *err) {
    const char *reason = NULL;
    int fd = open_regular(path, &reason);
    if (fd < 0) return emit_error(path, reason, sink, err);
    scan_state state = {.target = path, .sink = sink, .err = err};
    int r = run_scan(s, fd, NULL, 0, path, on_scan_message, &state);
    close(fd);
    return scan_result(r, &state, s->timeout_seconds, err);
}

int yara_scan_buffer(yara_scanner *s, const void *data, size_t len, const char *label,
                     const hae_sink *sink, hae_err *err) {
    scan_state state = {.target = label ? label : "(buffer)", .sink = sink, .err = err};
    int r = run_scan(s, -1, data, len, label, on_scan_message, &state);
    return scan_result(r, &state, s->timeout_seconds, err);
}

/* ---- matches, for callers that handle them --------------------------- */

size_t yara_scanner_rule_count(const yara_scanner *s) {
    return s->rule_count;
}

typedef struct match_state {
    yara_match_fn on_match;
    void *ctx;
    hae_err *err;
    int rc;
} match_state;

static int on_match_message(YR_SCAN_CONTEXT *context, int message, void *message_data,
                            void *user_data) {
    (void)context;
    match_state *st = user_data;
    if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
    const YR_RULE *rule = message_data;
    const char *tags[32];
    size_t n = 0;
    const char *tag;
    yr_rule_tags_foreach(rule, tag) {
        if (n < sizeof tags / sizeof *tags) tags[n++] = tag;
    }
    const char *description;
    hae_severity sev = rule_severity(rule, &description);
    st->rc = st->on_match(st->ctx, rule->identifier, rule->ns ? rule->ns->name : "default", tags,
                          n, sev, st->err);
    return st->rc < 0 ? CALLBACK_ABORT : CALLBACK_CONTINUE;
}

static int match_result(int r, const match_state *st, const char *target, int timeout,
                        hae_err *err) {
    if (st->rc < 0) return st->rc;
    switch (r) {
    case ERROR_SUCCESS: return HAE_OK;
    case ERROR_SCAN_TIMEOUT:
        return hae_err_set(err, HAE_ELIMIT, "%s: YARA scan timed out after %d s", target, timeout);
    case ERROR_INSUFFICIENT_MEMORY: return hae_err_set(err, HAE_ENOMEM, "yara: out of memory");
    case ERROR_COULD_NOT_MAP_FILE:
        return hae_err_set(err, HAE_EIO, "%s: cannot map the file", target);
    default: return hae_err_set(err, HAE_EIO, "%s: YARA scan failed (libyara error %d)", target, r);
    }
}

int yara_scan_file_matches(yara_scanner *s, const char *path, yara_match_fn on_match, void *ctx,
                           hae_err *err) {
    const char *reason = NULL;
    int fd = open_regular(path, &reason);
    if (fd < 0) return hae_err_set(err, HAE_EIO, "%s: cannot scan: %s", path, reason);
    match_state st = {.on_match = on_match, .ctx = ctx, .err = err};
    int r = run_scan(s, fd, NULL, 0, path, on_match_message, &st);
    close(fd);
    return match_result(r, &st, path, s->timeout_seconds, err);
}

int yara_scan_buffer_matches(yara_scanner *s, const void *data, size_t len,
                             yara_match_fn on_match, void *ctx, hae_err *err) {
    match_state st = {.on_match = on_match, .ctx = ctx, .err = err};
    int r = run_scan(s, -1, data, len, NULL, on_match_message, &st);
    return match_result(r, &st, "buffer", s->timeout_seconds, err);
}
