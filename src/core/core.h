/* core: the event model every module shares, its JSON lines codec, and the
 * small utilities beneath it: errors, growable buffers, arenas, time, ids,
 * logging. Knows nothing of any other module.
 *
 * Memory: every function that allocates says who frees. Every function that
 * can fail returns 0 or a negative HAE_E* code and, when given an hae_err,
 * fills it with a message a user can act on. */
#ifndef HAETAE_CORE_H
#define HAETAE_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HAE_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
/* Functions whose result must be checked (errors are returned, not logged). */
#define HAE_MUST_USE __attribute__((warn_unused_result))

/* ---- errors ---------------------------------------------------------- */

enum {
    HAE_OK = 0,
    HAE_ENOMEM = -1,   /* allocation failed */
    HAE_EIO = -2,      /* the OS refused a read, write or call */
    HAE_EINVAL = -3,   /* bad input: the message names file, line or field */
    HAE_ENOTSUP = -4,  /* the kernel or build lacks a feature */
    HAE_ENOENT = -5,   /* a file or object does not exist */
    HAE_EPERM = -6,    /* not allowed: run as root or fix permissions */
    HAE_ELIMIT = -7,   /* a configured bound was reached */
    HAE_EEXIST = -8,   /* recorded once and already recorded */
};

#define HAE_ERR_MSG_MAX 512
typedef struct hae_err {
    int code;
    char msg[HAE_ERR_MSG_MAX];
} hae_err;

/* Records code and message in err (err may be NULL); returns code. */
int hae_err_set(hae_err *err, int code, const char *fmt, ...) HAE_PRINTF(3, 4);
/* Like hae_err_set, maps errnum to a code and appends strerror(errnum). */
int hae_err_errno(hae_err *err, int errnum, const char *fmt, ...) HAE_PRINTF(3, 4);
/* Prefixes an existing message with context ("rules.yml: " + msg). */
int hae_err_prefix(hae_err *err, const char *fmt, ...) HAE_PRINTF(2, 3);
void hae_err_clear(hae_err *err);
const char *hae_err_code_name(int code);

/* ---- growable byte buffer -------------------------------------------- */

/* data is always NUL-terminated after a successful append (when non-NULL). */
typedef struct hae_buf {
    char *data;
    size_t len;
    size_t cap;
} hae_buf;

int hae_buf_reserve(hae_buf *b, size_t extra);
int hae_buf_append(hae_buf *b, const void *bytes, size_t len);
int hae_buf_append_str(hae_buf *b, const char *s);
int hae_buf_append_char(hae_buf *b, char c);
int hae_buf_printf(hae_buf *b, const char *fmt, ...) HAE_PRINTF(2, 3);
int hae_buf_vprintf(hae_buf *b, const char *fmt, va_list ap) HAE_PRINTF(2, 0);
void hae_buf_reset(hae_buf *b); /* len = 0, keeps memory */
void hae_buf_free(hae_buf *b);

/* ---- arena: many small allocations freed at once --------------------- */

typedef struct hae_arena_chunk hae_arena_chunk;
typedef struct hae_arena {
    hae_arena_chunk *head;
} hae_arena;

/* Returns 16-byte aligned memory owned by the arena, or NULL on OOM. */
void *hae_arena_alloc(hae_arena *a, size_t size);
/* Copies len bytes and a NUL terminator; NULL on OOM. */
char *hae_arena_strndup(hae_arena *a, const char *s, size_t len);
char *hae_arena_strdup(hae_arena *a, const char *s);
void hae_arena_reset(hae_arena *a); /* frees all but the first chunk */
void hae_arena_free(hae_arena *a);

/* ---- time ------------------------------------------------------------ */

/* "2026-11-22T18:40:54.123456789Z": RFC 3339, UTC, nanoseconds. */
#define HAE_TIME_LEN 31
int64_t hae_time_now_ns(void);           /* CLOCK_REALTIME */
int64_t hae_time_monotonic_ns(void);     /* CLOCK_MONOTONIC, for intervals */
int hae_time_format(int64_t ns, char out[HAE_TIME_LEN]);
/* Accepts RFC 3339 with any fraction (0-9 digits) and Z or +hh:mm offsets. */
int hae_time_parse(const char *s, size_t len, int64_t *ns, hae_err *err);

/* ---- ids ------------------------------------------------------------- */

/* UUIDv7 (RFC 9562): time-ordered, 74 random bits. */
#define HAE_ID_LEN 37
int hae_id_new(char out[HAE_ID_LEN]);
/* The first 16 bytes of b as an RFC 9562 UUID of the given version (7 for
 * time-ordered ids, 8 for ids derived from content); b's version and
 * variant bits are overwritten. */
void hae_id_format(unsigned char b[16], unsigned version, char out[HAE_ID_LEN]);

/* ---- files ----------------------------------------------------------- */

/* Reads the whole file at path into out (appended; NUL-terminated). Works on
 * /proc files, which report size 0. Errors name the path. */
int hae_file_read_all(const char *path, hae_buf *out, hae_err *err);
/* Writes data to path so that a crash leaves either the old file or the
 * new one, never a mix: a temporary file beside it with the given mode,
 * fsync, rename over path, fsync of the directory. */
int hae_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                          hae_err *err);
/* write(2) until done, retrying EINTR; 0 or -errno. */
int hae_fd_write_all(int fd, const void *data, size_t len);

/* Length of the valid UTF-8 sequence (RFC 3629) at s, or 0 when the bytes
 * there are not one (overlongs, surrogates and > U+10FFFF are invalid). */
size_t hae_utf8_sequence_length(const unsigned char *s, size_t avail);
bool hae_utf8_is_valid(const char *s, size_t len);

/* ---- host identity --------------------------------------------------- */

const char *hae_host_name(void); /* cached hostname; "unknown" if none */

/* ---- logging (diagnostics to stderr, never events) ------------------- */

typedef enum { HAE_LOG_DEBUG, HAE_LOG_INFO, HAE_LOG_WARN, HAE_LOG_ERROR } hae_log_level;
void hae_log_set_level(hae_log_level level);
void hae_log(hae_log_level level, const char *fmt, ...) HAE_PRINTF(2, 3);

/* ---- the event model ------------------------------------------------- */

/* JSON type a field's value had, kept so the codec round-trips. The text is
 * always available: numbers keep their literal, booleans "true"/"false",
 * null "". */
typedef enum { HAE_VAL_STRING, HAE_VAL_NUMBER, HAE_VAL_BOOL, HAE_VAL_NULL } hae_value_type;

typedef struct hae_field {
    const char *name;   /* NUL-terminated, never contains NUL */
    const char *value;  /* NUL-terminated; may contain NUL: trust value_len */
    size_t value_len;
    hae_value_type type;
} hae_field;

/* An event: flat named fields (Sigma taxonomy names: Image, CommandLine,
 * TargetFilename...), its log source, the host, the time and a unique id.
 * A name may repeat: a JSON array of scalars decodes into repeated fields
 * and encodes back into an array. All strings live in the event's arena. */
typedef struct hae_event {
    char id[HAE_ID_LEN];
    int64_t time_ns;
    const char *host;     /* NULL when unknown */
    const char *product;  /* log source; NULL when absent */
    const char *category;
    const char *service;
    hae_field *fields;
    size_t field_count;
    size_t field_cap;
    hae_arena arena;
} hae_event;

/* Fresh id, current time, this host; product/category/service may be NULL. */
int hae_event_init(hae_event *ev, const char *product, const char *category,
                   const char *service);
void hae_event_init_empty(hae_event *ev); /* no id, no time, no host */
void hae_event_clear(hae_event *ev);      /* frees everything; ev reusable after init */

int hae_event_set_source(hae_event *ev, const char *product, const char *category,
                         const char *service);
int hae_event_set_host(hae_event *ev, const char *host);
int hae_event_add(hae_event *ev, const char *name, hae_value_type type, const char *value,
                  size_t value_len);
int hae_event_add_str(hae_event *ev, const char *name, const char *value); /* NULL -> null */
int hae_event_add_strn(hae_event *ev, const char *name, const char *value, size_t len);
int hae_event_add_int(hae_event *ev, const char *name, int64_t value);
int hae_event_add_uint(hae_event *ev, const char *name, uint64_t value);
int hae_event_add_bool(hae_event *ev, const char *name, bool value);
int hae_event_add_printf(hae_event *ev, const char *name, const char *fmt, ...) HAE_PRINTF(3, 4);
/* First field with this name, or NULL. */
const hae_field *hae_event_get(const hae_event *ev, const char *name);
const char *hae_event_get_str(const hae_event *ev, const char *name); /* NULL if absent */

/* ---- findings: events a sensor raises for a person to look at -------- */

/* Severities follow Sigma's levels. */
typedef enum {
    HAE_SEV_INFO, HAE_SEV_LOW, HAE_SEV_MEDIUM, HAE_SEV_HIGH, HAE_SEV_CRITICAL
} hae_severity;

const char *hae_severity_name(hae_severity sev);
int hae_severity_parse(const char *name, hae_severity *out);

/* A finding is an event with log source product "haetae", category
 * "finding", service = the sensor, and the fields rule (stable id such as
 * "sock.packet_filter"), severity and message; evidence fields follow. */
int hae_finding_init(hae_event *ev, const char *sensor, const char *rule, hae_severity sev,
                     const char *message_fmt, ...) HAE_PRINTF(5, 6);
bool hae_event_is_finding(const hae_event *ev);

/* ---- where events go ------------------------------------------------- */

/* A sink receives events; it copies what it keeps. A negative return stops
 * the producer, which passes the error up. */
typedef int (*hae_emit_fn)(void *ctx, const hae_event *ev, hae_err *err);
typedef struct hae_sink {
    hae_emit_fn emit;
    void *ctx;
} hae_sink;

static inline int hae_emit(const hae_sink *sink, const hae_event *ev, hae_err *err) {
    return sink->emit(sink->ctx, ev, err);
}

/* ---- JSON ------------------------------------------------------------ */

/* Strings are bytes. Valid UTF-8 passes through; control characters, '"'
 * and '\\' are escaped; every byte that is not part of valid UTF-8 is
 * written as a lone low surrogate \udc80-\udcff (the "surrogateescape"
 * convention), which the decoder turns back into that byte. So any byte
 * string, file names with newlines or Latin-1 included, round-trips. */
int hae_json_append_string(hae_buf *out, const char *s, size_t len);

typedef enum {
    HAE_JSON_NULL, HAE_JSON_BOOL, HAE_JSON_NUMBER, HAE_JSON_STRING, HAE_JSON_ARRAY, HAE_JSON_OBJECT
} hae_json_type;

typedef struct hae_json hae_json;
struct hae_json {
    hae_json_type type;
    const char *text;   /* string (decoded), number literal, "true"/"false" */
    size_t text_len;
    const char *key;    /* member name when inside an object (decoded) */
    size_t key_len;
    hae_json *child;    /* first element or member */
    hae_json *next;     /* next sibling */
    size_t count;       /* number of children */
};

/* Parses one JSON text (RFC 8259) into nodes allocated in arena. Nesting is
 * limited to 64 levels. Errors name the byte offset. */
int hae_json_parse(const char *text, size_t len, hae_arena *arena, hae_json **out, hae_err *err);
const hae_json *hae_json_member(const hae_json *obj, const char *key);

/* JSON lines codec for events: one object a line.
 *   {"id":..,"time":..,"host":..,"logsource":{"product":..,"category":..,
 *    "service":..}, <fields>}
 * encode appends the line and '\n'. decode accepts any JSON object: nested
 * objects flatten to dotted names ("process.pid"), arrays of scalars become
 * repeated fields, and a missing id or time stays empty/0. */
int hae_event_encode_json(const hae_event *ev, hae_buf *out);
int hae_event_decode_json(hae_event *ev, const char *line, size_t len, hae_err *err);

/* ---- log lines: one line of a log file into an event ----------------- */

typedef enum {
    HAE_LOGFMT_AUTO,    /* detect per line */
    HAE_LOGFMT_JSON,    /* a JSON object: hae_event_decode_json */
    HAE_LOGFMT_SYSLOG,  /* RFC 3164 (BSD) or RFC 5424 */
    HAE_LOGFMT_AUDITD,  /* type=X msg=audit(SECONDS.MS:SERIAL): key=value ... */
    HAE_LOGFMT_PLAIN,   /* anything else: the line is the Message */
    HAE_LOGFMT_ACCESS   /* Apache/nginx common or combined access log */
} hae_log_format;

const char *hae_log_format_name(hae_log_format fmt);
hae_log_format hae_log_format_detect(const char *line, size_t len);
/* Parses one line (without its newline) into ev, which it initialises.
 * Every format sets Message to the whole line so keyword searches work
 * (a JSON object that has its own Message keeps it). The event has no id
 * and, unless the line names one, no host: a live sensor adds both.
 * syslog sets time (when the line has one; RFC 3164 lines lack the year and
 * take the current one), Hostname, Program, Pid and logsource service
 * ("auth" for sshd/sudo/su/login programs, else "syslog"); RFC 5424 adds
 * MsgId, ProcId (when not numeric) and "sdid.param" per structured datum.
 * auditd sets time, type, serial, node and every key=value (hex-encoded
 * values such as proctitle decoded), service "auditd"; product is "linux".
 * A line that looks like a format but breaks it is HAE_EINVAL, the message
 * naming the byte offset; the caller may keep it as HAE_LOGFMT_PLAIN.
 * Thread-safe; see docs/findings/log.md for the fields of each format. */
int hae_log_parse_line(hae_event *ev, hae_log_format fmt, const char *line, size_t len,
                       hae_err *err);
/* ---- time zones ------------------------------------------------------ */

/* A zone from the system's TZif files (RFC 8536), its transitions and the
 * POSIX rule for times after them: offsets at any instant, without the
 * process's TZ. Read-only once loaded: any thread may ask it. */
typedef struct hae_tz hae_tz;
/* An IANA name ("Asia/Seoul") or "UTC", under /usr/share/zoneinfo or
 * $TZDIR; anything else is HAE_EINVAL naming the zone. */
int hae_tz_load(const char *zone, hae_tz **out, hae_err *err) HAE_MUST_USE;
int hae_tz_parse(const char *name, const uint8_t *data, size_t len, hae_tz **out,
                 hae_err *err) HAE_MUST_USE;
int32_t hae_tz_offset(const hae_tz *tz, int64_t unix_sec); /* seconds east of UTC */
const char *hae_tz_name(const hae_tz *tz);
void hae_tz_free(hae_tz *tz); /* NULL is fine */

/* The zone of log times that carry none (RFC 3164's "Mmm dd hh:mm:ss",
 * RFC 3339 without an offset) is the process's local zone. This sets it for
 * the whole process (TZ) to an IANA zone ("Asia/Seoul") or "UTC"; a name
 * that is not a zone under /usr/share/zoneinfo ($TZDIR) is HAE_EINVAL.
 * Call before parsing starts: it is not safe beside parsing threads. */
int hae_log_set_timezone(const char *zone, hae_err *err) HAE_MUST_USE;
/* Adds the named fields of an authentication message (sshd, sudo, su,
 * cron, the shadow tools, PAM modules) from PROGRAM's MSG to ev: User,
 * TargetUser, SourceIp, SourcePort, AuthMethod, AuthResult
 * (success/failure/invalid_user), Action, CommandLine, Tty, Pam*... See
 * docs/findings/log.md. Adds nothing for a message it does not know.
 * HAE_OK or HAE_ENOMEM. The syslog parser calls it; so does journald. */
int hae_log_parse_auth(hae_event *ev, const char *program, size_t program_len, const char *msg,
                       size_t len);

#endif
