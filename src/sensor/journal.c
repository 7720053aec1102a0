/* log: journald entries as events, read through libsystemd's sd-journal
 * (sd-journal(3)): the local journal, from its head or only what comes
 * next, or from the cursor a previous run saved, so entries written while
 * the agent was down are read on restart. An entry's id comes from its
 * cursor: read twice, it is one event downstream. Messages of sshd, sudo
 * and the other auth programs get the same named fields as auth.log lines.
 * Built only with HAETAE_HAVE_SYSTEMD; without it every call says
 * HAE_ENOTSUP. */
#include <stdlib.h>
#include <string.h>

#include "sensor/sensor.h"
#include "sensor/sensor_int.h"

#ifdef HAETAE_HAVE_SYSTEMD

#define SENSOR_NAME "log"

#include <systemd/sd-journal.h>

struct log_journal {
    sd_journal *journal;
    char *cursor; /* of the last entry read, NULL before the first */
};

/* dir NULL: the local system journal; else the journal files in dir. */
static int journal_open(log_journal **out, const char *dir, bool from_start, hae_err *err) {
    *out = NULL;
    log_journal *j = calloc(1, sizeof *j);
    if (!j) return hae_err_set(err, HAE_ENOMEM, "journal: out of memory");
    int r = dir ? sd_journal_open_directory(&j->journal, dir, 0)
                : sd_journal_open(&j->journal, SD_JOURNAL_LOCAL_ONLY);
    const char *step = dir ? "sd_journal_open_directory" : "sd_journal_open";
    if (r >= 0) {
        /* After seek_tail, sd_journal_next() would return the last entry
         * again; stepping back once makes it return only new ones. */
        step = from_start ? "sd_journal_seek_head" : "sd_journal_seek_tail";
        r = from_start ? sd_journal_seek_head(j->journal) : sd_journal_seek_tail(j->journal);
        if (r >= 0 && !from_start) r = sd_journal_previous(j->journal);
    }
    if (r >= 0) {
        step = "sd_journal_get_fd";
        r = sd_journal_get_fd(j->journal); /* sets up inotify now, not on first wait */
    }
    if (r < 0) {
        int rc = hae_err_errno(err, -r, "journal%s%s: %s", dir ? " " : "", dir ? dir : "", step);
        log_journal_close(j);
        return rc;
    }
    if (!dir && !sd_journal_has_runtime_files(j->journal) &&
        !sd_journal_has_persistent_files(j->journal)) {
        hae_log(HAE_LOG_WARN, "journal: no journal files yet (is systemd-journald running?)");
    }
    *out = j;
    return HAE_OK;
}

int log_journal_open(log_journal **out, bool from_start, hae_err *err) {
    return journal_open(out, NULL, from_start, err);
}

int log_journal_open_directory(log_journal **out, const char *dir, bool from_start,
                               hae_err *err) {
    return journal_open(out, dir, from_start, err);
}

int log_journal_fd(const log_journal *j) {
    return sd_journal_get_fd(j->journal);
}

/* The data of one journal field without its "NAME=" prefix. */
static bool field_data(sd_journal *journal, const char *name, const char **value, size_t *len) {
    const void *data = NULL;
    size_t size = 0;
    if (sd_journal_get_data(journal, name, &data, &size) < 0) return false;
    size_t prefix = strlen(name) + 1;
    if (size < prefix) return false;
    *value = (const char *)data + prefix;
    *len = size - prefix;
    return true;
}

static bool is_decimal(const char *s, size_t n) {
    if (n == 0 || n > 19) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
}

/* The same programs hae_log_parse_line puts under service "auth", so one
 * rule covers /var/log/auth.log and the journal alike. */
static const char *journal_service(sd_journal *journal) {
    static const char *const auth[] = {"sshd", "sshd-session", "sshd-auth", "sudo", "su", "login"};
    const char *id;
    size_t n;
    if (field_data(journal, "SYSLOG_IDENTIFIER", &id, &n)) {
        for (size_t i = 0; i < sizeof auth / sizeof *auth; i++) {
            if (strlen(auth[i]) == n && memcmp(auth[i], id, n) == 0) return "auth";
        }
    }
    return "syslog";
}

static int add_fields(hae_event *ev, sd_journal *journal) {
    static const struct { const char *journal; const char *event; bool is_number; } map[] = {
        {"MESSAGE", "Message", false},        {"_HOSTNAME", "Hostname", false},
        {"SYSLOG_IDENTIFIER", "Program", false}, {"_PID", "Pid", true},
        {"_EXE", "Image", false},              {"_CMDLINE", "CommandLine", false},
        {"_COMM", "Comm", false},              {"_UID", "Uid", true},
        {"_SYSTEMD_UNIT", "Unit", false},      {"PRIORITY", "Priority", true},
    };
    int rc = HAE_OK;
    for (size_t i = 0; i < sizeof map / sizeof *map && rc == HAE_OK; i++) {
        const char *value;
        size_t len;
        if (!field_data(journal, map[i].journal, &value, &len)) continue;
        bool is_number = map[i].is_number && is_decimal(value, len) && (len == 1 || value[0] != '0');
        rc = hae_event_add(ev, map[i].event, is_number ? HAE_VAL_NUMBER : HAE_VAL_STRING, value,
                           len);
        if (rc == HAE_OK && strcmp(map[i].event, "Hostname") == 0 && !memchr(value, '\0', len)) {
            ev->host = ev->fields[ev->field_count - 1].value;
        }
    }
    return rc;
}

static int parse_auth_message(hae_event *ev, sd_journal *journal) {
    const char *program, *message;
    size_t program_len, message_len;
    if (!field_data(journal, "SYSLOG_IDENTIFIER", &program, &program_len) ||
        !field_data(journal, "MESSAGE", &message, &message_len)) {
        return HAE_OK;
    }
    return hae_log_parse_auth(ev, program, program_len, message, message_len);
}

static int emit_entry(sd_journal *journal, const char *cursor, const hae_sink *sink,
                      hae_err *err) {
    hae_event ev;
    int rc = hae_event_init(&ev, "linux", NULL, journal_service(journal));
    sensor_id_part part = {cursor, strlen(cursor)};
    if (rc == HAE_OK) rc = sensor_stable_id(ev.id, &part, 1);
    uint64_t usec = 0;
    if (rc == HAE_OK && sd_journal_get_realtime_usec(journal, &usec) >= 0 &&
        usec < (uint64_t)INT64_MAX / 1000) {
        ev.time_ns = (int64_t)usec * 1000;
    }
    if (rc == HAE_OK) rc = add_fields(&ev, journal);
    if (rc == HAE_OK) rc = parse_auth_message(&ev, journal);
    if (rc == HAE_ENOMEM) rc = hae_err_set(err, rc, "journal: out of memory for an entry");
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

int log_journal_read(log_journal *j, const hae_sink *sink, hae_err *err) {
    int r = sd_journal_process(j->journal); /* consumes the fd's inotify events */
    if (r < 0) return hae_err_errno(err, -r, "journal: sd_journal_process");
    for (;;) {
        r = sd_journal_next(j->journal);
        if (r < 0) return hae_err_errno(err, -r, "journal: sd_journal_next");
        if (r == 0) return HAE_OK;
        char *cursor = NULL;
        r = sd_journal_get_cursor(j->journal, &cursor);
        if (r < 0) return hae_err_errno(err, -r, "journal: sd_journal_get_cursor");
        int rc = emit_entry(j->journal, cursor, sink, err);
        if (rc < 0) {
            free(cursor);
            return rc;
        }
        free(j->cursor);
        j->cursor = cursor;
    }
}

const char *log_journal_cursor(const log_journal *j) {
    return j->cursor;
}

static int emit_journal_gap(const char *cursor, const hae_sink *sink, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, SENSOR_NAME, "log.gap", HAE_SEV_MEDIUM,
                              "journal: the entry read last before the restart is gone "
                              "(vacuumed or its file removed); entries after it may be lost");
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "JournalCursor", cursor);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

int log_journal_resume(log_journal *j, const char *cursor, const hae_sink *sink, hae_err *err) {
    if (!cursor || !cursor[0]) return HAE_OK;
    int r = sd_journal_seek_cursor(j->journal, cursor);
    if (r >= 0) r = sd_journal_next(j->journal);
    if (r < 0) return emit_journal_gap(cursor, sink, err);
    if (r > 0 && sd_journal_test_cursor(j->journal, cursor) > 0) {
        char *copy = strdup(cursor);
        if (!copy) return hae_err_set(err, HAE_ENOMEM, "journal: out of memory");
        free(j->cursor);
        j->cursor = copy;
        return HAE_OK; /* at the saved entry: the next read starts after it */
    }
    /* Not found: sd-journal stands at the nearest later entry, which the
     * next read must return too, so step back over it. */
    if (r > 0) (void)sd_journal_previous(j->journal);
    return emit_journal_gap(cursor, sink, err);
}

void log_journal_close(log_journal *j) {
    if (!j) return;
    sd_journal_close(j->journal);
    free(j->cursor);
    free(j);
}

#else /* !HAETAE_HAVE_SYSTEMD */

static int no_systemd(hae_err *err) {
    return hae_err_set(err, HAE_ENOTSUP,
                       "journal: haetae was built without libsystemd; install libsystemd-dev "
                       "and rebuild to read journald");
}

int log_journal_open(log_journal **out, bool from_start, hae_err *err) {
    (void)from_start;
    *out = NULL;
    return no_systemd(err);
}

int log_journal_open_directory(log_journal **out, const char *dir, bool from_start,
                               hae_err *err) {
    (void)dir;
    return log_journal_open(out, from_start, err);
}

int log_journal_fd(const log_journal *j) {
    (void)j;
    return -1;
}

int log_journal_read(log_journal *j, const hae_sink *sink, hae_err *err) {
    (void)j, (void)sink;
    return no_systemd(err);
}

const char *log_journal_cursor(const log_journal *j) {
    (void)j;
    return NULL;
}

int log_journal_resume(log_journal *j, const char *cursor, const hae_sink *sink, hae_err *err) {
    (void)j, (void)cursor, (void)sink;
    return no_systemd(err);
}

void log_journal_close(log_journal *j) { (void)j; }

#endif
