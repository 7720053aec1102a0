/* Log lines into events: RFC 3164 and RFC 5424 syslog (and the RFC 3339
 * stamped variant rsyslog writes to files by default), auditd records, JSON
 * objects, and plain text. This runs once per line in `haetae hunt`, so it
 * walks each line once, copies each field once and never allocates per byte. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/logline_int.h"

static const char *const format_names[] = {"auto", "json", "syslog", "auditd", "plain", "access"};

const char *hae_log_format_name(hae_log_format fmt) {
    if ((unsigned)fmt > HAE_LOGFMT_ACCESS) {
        return "unknown";
    }
    return format_names[fmt];
}

/* ---- small scanners -------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool all_digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return false;
    }
    return n > 0;
}

static int digits_value(const char *s, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

static bool has_prefix(const char *s, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* Index of the first c at or after pos, or len. */
static size_t find_char(const char *s, size_t len, size_t pos, char c) {
    const char *hit = pos < len ? memchr(s + pos, c, len - pos) : NULL;
    return hit ? (size_t)(hit - s) : len;
}

static size_t skip_spaces(const char *s, size_t len, size_t pos) {
    while (pos < len && s[pos] == ' ') pos++;
    return pos;
}

/* Adds an unsigned decimal as a JSON number, dropping leading zeros that
 * JSON (RFC 8259 section 6) does not allow. */
static int add_decimal(hae_event *ev, const char *name, const char *digits, size_t n) {
    while (n > 1 && digits[0] == '0') {
        digits++;
        n--;
    }
    return hae_event_add(ev, name, HAE_VAL_NUMBER, digits, n);
}

/* The JSON lines codec keeps id, time, host and logsource for the event's
 * own metadata; a log key of that name (auditd's ADD_USER "id=1001") is
 * renamed "<format>.<key>" so it survives a round trip as a field. */
static const char *unreserved_name(const char *name, const char *format, char *room,
                                   size_t room_len) {
    static const char *const reserved[] = {"id", "time", "host", "logsource"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
        if (strcmp(name, reserved[i]) == 0) {
            snprintf(room, room_len, "%s.%s", format, name);
            return room;
        }
    }
    return name;
}

/* ---- time ------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); timegm() costs several times more per line. */
int64_t hae_log_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int year_of_days(int64_t days) {
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return (int)(yoe + era * 400 + (mp >= 10));
}

/* UTC offset of local time around local_sec, cached per hour: log lines
 * arrive in order, so localtime_r (which takes glibc's tz lock) runs about
 * once per hour of log rather than once per line. */
static _Atomic unsigned zone_generation; /* bumped when the zone changes */

static int64_t local_utc_offset(int64_t local_sec) {
    static _Thread_local int64_t cached_hour = INT64_MIN;
    static _Thread_local int64_t cached_offset;
    static _Thread_local unsigned cached_generation;
    int64_t hour = local_sec / 3600;
    unsigned generation = zone_generation;
    if (hour != cached_hour || generation != cached_generation) {
        cached_generation = generation;
        time_t guess = (time_t)local_sec;
        struct tm tm;
        long offset = localtime_r(&guess, &tm) ? tm.tm_gmtoff : 0;
        guess = (time_t)(local_sec - offset); /* refine across a DST change */
        cached_offset = localtime_r(&guess, &tm) ? tm.tm_gmtoff : offset;
        cached_hour = hour;
    }
    return cached_offset;
}

void hae_log_zone_changed(void) { zone_generation++; }

int hae_log_month_number(const char *s) {
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++) {
        if (memcmp(s, names + 3 * i, 3) == 0) return i + 1;
    }
    return 0;
}

/* RFC 3164 section 4.1.2: "Mmm dd hh:mm:ss" in local time, day padded with
 * a space ("Nov  2"); we also accept "Nov 02" and an unpadded "Nov 2". */
static bool is_bsd_timestamp(const char *s, size_t len, size_t *end) {
    if (len < 14 || hae_log_month_number(s) == 0 || s[3] != ' ') return false;
    size_t p = 4;
    if (s[p] == ' ') p++;
    if (!is_digit(s[p])) return false;
    p += is_digit(s[p + 1]) ? 2 : 1;
    if (len < p + 9 || s[p] != ' ') return false;
    const char *t = s + p + 1;
    if (!(is_digit(t[0]) && is_digit(t[1]) && t[2] == ':' && is_digit(t[3]) && is_digit(t[4]) &&
          t[5] == ':' && is_digit(t[6]) && is_digit(t[7]))) {
        return false;
    }
    *end = p + 9;
    return true;
}

/* The year is absent: take the current one, or the previous one when that
 * would put the line more than two days in the future (a December line read
 * in January), as rsyslog and journald do. */
static int parse_bsd_time(const char *s, size_t end, int64_t *ns, hae_err *err) {
    int mon = hae_log_month_number(s);
    size_t p = 4 + (s[4] == ' ');
    size_t day_len = end - 9 - p;
    int day = digits_value(s + p, day_len);
    const char *t = s + end - 8;
    int hour = digits_value(t, 2), min = digits_value(t + 3, 2), sec = digits_value(t + 6, 2);
    if (day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
        return hae_err_set(err, HAE_EINVAL, "syslog: byte 0: no such time '%.*s'", (int)end, s);
    }
    int64_t now_utc = hae_time_now_ns() / 1000000000;
    int64_t now_local = now_utc + local_utc_offset(now_utc);
    int year = year_of_days(now_local / 86400);
    int64_t clock = hour * 3600 + min * 60 + (sec == 60 ? 59 : sec);
    int64_t local = hae_log_days_from_civil(year, mon, day) * 86400 + clock;
    if (local > now_local + 2 * 86400) {
        local = hae_log_days_from_civil(year - 1, mon, day) * 86400 + clock;
    }
    *ns = (local - local_utc_offset(local)) * 1000000000;
    return HAE_OK;
}

static bool is_rfc3339_start(const char *s, size_t len) {
    return len >= 19 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
           all_digits(s + 8, 2) && (s[10] == 'T' || s[10] == 't');
}

/* RFC 3339 section 5.6 date-time, the whole of s[0..len). */
bool hae_log_parse_rfc3339(const char *s, size_t len, int64_t *ns) {
    if (!is_rfc3339_start(s, len) || !all_digits(s + 11, 2) || s[13] != ':' ||
        !all_digits(s + 14, 2) || s[16] != ':' || !all_digits(s + 17, 2)) {
        return false;
    }
    int mon = digits_value(s + 5, 2), day = digits_value(s + 8, 2);
    int hour = digits_value(s + 11, 2), min = digits_value(s + 14, 2);
    int sec = digits_value(s + 17, 2);
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
        return false;
    }
    size_t p = 19;
    int64_t frac = 0;
    if (p < len && s[p] == '.') {
        size_t digits = 0;
        for (p++; p < len && is_digit(s[p]); p++, digits++) {
            if (digits < 9) frac = frac * 10 + (s[p] - '0');
        }
        if (digits == 0) return false;
        for (; digits < 9; digits++) frac *= 10;
    }
    int64_t offset = 0;
    bool zoned = true;
    if (p + 1 == len && (s[p] == 'Z' || s[p] == 'z')) {
        p++;
    } else if (p == len) {
        zoned = false;
    } else if (p + 6 == len && (s[p] == '+' || s[p] == '-') && all_digits(s + p + 1, 2) &&
               s[p + 3] == ':' && all_digits(s + p + 4, 2)) {
        offset = digits_value(s + p + 1, 2) * 3600 + digits_value(s + p + 4, 2) * 60;
        offset = s[p] == '-' ? -offset : offset;
        p += 6;
    }
    if (p != len) return false;
    int64_t days = hae_log_days_from_civil(digits_value(s, 4), mon, day);
    int64_t unix_sec = days * 86400 + hour * 3600 + min * 60 + (sec == 60 ? 59 : sec) - offset;
    if (!zoned) unix_sec -= local_utc_offset(unix_sec); /* a local time, as rsyslog writes */
    if (unix_sec >= INT64_MAX / 1000000000 || unix_sec <= INT64_MIN / 1000000000) {
        return false; /* int64 nanoseconds end in 1677 and 2262 */
    }
    *ns = unix_sec * 1000000000 + frac;
    return true;
}

/* ---- syslog ---------------------------------------------------------- */

/* "<PRI>", PRI 0..191 (RFC 5424 section 6.2.1); sets *end past '>'. */
static bool read_priority(const char *s, size_t len, size_t *end) {
    if (len < 3 || s[0] != '<') return false;
    size_t p = 1;
    while (p < len && p < 4 && is_digit(s[p])) p++;
    if (p == 1 || p >= len || s[p] != '>' || digits_value(s + 1, p - 1) > 191) return false;
    *end = p + 1;
    return true;
}

/* RFC 5424 VERSION: one or two digits, not zero, then a space. */
static bool is_5424_version(const char *s, size_t len, size_t pos) {
    size_t n = 0;
    while (pos + n < len && n < 3 && is_digit(s[pos + n])) n++;
    return n >= 1 && n <= 2 && pos + n < len && s[pos + n] == ' ' && s[pos] != '0';
}

/* What the header parsers learn that the message parsers need. */
typedef struct {
    const char *service;
    const char *program; /* the TAG's program or APP-NAME, not NUL-terminated */
    size_t program_len;
    size_t msg; /* offset of MSG, len when absent */
} syslog_head;

/* RFC 5424 section 6.4: an UTF-8 MSG may start with a BOM. */
static size_t skip_bom(const char *s, size_t len, size_t pos) {
    if (len - pos >= 3 && memcmp(s + pos, "\xEF\xBB\xBF", 3) == 0) return pos + 3;
    return pos;
}

static const char *syslog_service(const char *program, size_t n) {
    static const char *const auth_programs[] = {"sshd", "sshd-session", "sshd-auth", "sudo",
                                                "su", "login"};
    for (size_t i = 0; i < sizeof auth_programs / sizeof *auth_programs; i++) {
        if (strlen(auth_programs[i]) == n && memcmp(auth_programs[i], program, n) == 0) {
            return "auth";
        }
    }
    return "syslog";
}

static int set_hostname(hae_event *ev, const char *s, size_t n) {
    if (n == 0 || memchr(s, '\0', n)) return HAE_OK; /* a host name never holds NUL */
    int rc = hae_event_add_strn(ev, "Hostname", s, n);
    if (rc == HAE_OK) {
        ev->host = ev->fields[ev->field_count - 1].value;
    }
    return rc;
}

/* RFC 3164 section 4.1.3 TAG: "program[pid]:" or "program:" at pos. Fills
 * head; sets nothing when pos does not hold a tag. */
static int parse_bsd_tag(hae_event *ev, const char *s, size_t len, size_t pos,
                         syslog_head *head) {
    size_t end = pos;
    while (end < len && s[end] != '[' && s[end] != ':' && s[end] != ' ' && s[end] != '\0') end++;
    size_t name_end = end;
    size_t pid_start = 0, pid_len = 0;
    if (end < len && s[end] == '[') {
        pid_start = end + 1;
        size_t close = pid_start;
        while (close < len && is_digit(s[close])) close++;
        if (close >= len || s[close] != ']') return HAE_OK;
        pid_len = close - pid_start;
        end = close + 1;
    }
    if (name_end == pos || end >= len || s[end] != ':') return HAE_OK;
    head->service = syslog_service(s + pos, name_end - pos);
    head->program = s + pos;
    head->program_len = name_end - pos;
    head->msg = skip_spaces(s, len, end + 1);
    int rc = hae_event_add_strn(ev, "Program", s + pos, name_end - pos);
    if (rc == HAE_OK && pid_len > 0) {
        rc = add_decimal(ev, "Pid", s + pid_start, pid_len);
    }
    return rc;
}

/* RFC 3164 after the timestamp: HOSTNAME SP TAG. The host name is absent
 * when the first word already looks like a tag ("sshd[1]:", "kernel:"). */
static int parse_bsd_rest(hae_event *ev, const char *s, size_t len, size_t pos,
                          syslog_head *head) {
    pos = skip_spaces(s, len, pos);
    size_t word_end = find_char(s, len, pos, ' ');
    size_t bracket = find_char(s, word_end, pos, '[');
    bool is_tag = word_end > pos && (s[word_end - 1] == ':' || bracket < word_end);
    if (!is_tag) {
        int rc = set_hostname(ev, s + pos, word_end - pos);
        if (rc < 0) return rc;
        pos = skip_spaces(s, len, word_end);
    }
    return parse_bsd_tag(ev, s, len, pos, head);
}

/* One RFC 5424 header field (section 6): NILVALUE "-" or printable
 * US-ASCII up to max octets. */
static bool read_header_field(const char *s, size_t len, size_t *pos, size_t max,
                              const char **value, size_t *n) {
    size_t end = find_char(s, len, *pos, ' ');
    if (end == *pos || end - *pos > max || end >= len) return false;
    for (size_t i = *pos; i < end; i++) {
        if (s[i] < 33 || s[i] > 126) return false;
    }
    *value = s + *pos;
    *n = end - *pos;
    if (*n == 1 && **value == '-') *n = 0;
    *pos = end + 1;
    return true;
}

static bool is_sd_name_char(char c) {
    return c > 32 && c < 127 && c != '=' && c != ']' && c != '"';
}

static size_t read_sd_name(const char *s, size_t len, size_t pos) {
    size_t end = pos;
    while (end < len && end - pos < 33 && is_sd_name_char(s[end])) end++;
    return end - pos <= 32 ? end : pos;
}

/* PARAM-VALUE between quotes; only \" \\ \] are escapes (section 6.3.3). */
static int add_sd_value(hae_event *ev, const char *name, const char *s, size_t len, size_t *pos,
                        hae_buf *scratch, hae_err *err) {
    size_t start = *pos, p = start;
    bool escaped = false;
    while (p < len && s[p] != '"') {
        if (s[p] == '\\' && p + 1 < len) {
            escaped = true;
            p++;
        }
        p++;
    }
    if (p >= len) {
        return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: unterminated PARAM-VALUE", start);
    }
    *pos = p + 1;
    if (!escaped) {
        return hae_event_add_strn(ev, name, s + start, p - start);
    }
    hae_buf_reset(scratch);
    for (size_t i = start; i < p; i++) {
        bool drop = s[i] == '\\' && (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == ']');
        int rc = hae_buf_append_char(scratch, s[drop ? ++i : i]);
        if (rc < 0) return rc;
    }
    return hae_event_add_strn(ev, name, scratch->data, scratch->len);
}

/* One SD-ELEMENT "[id name="value" ...]": each parameter becomes a field
 * "id.name" (RFC 5424 section 6.3), an element without any the field "id". */
static int parse_sd_element(hae_event *ev, const char *s, size_t len, size_t *pos,
                            hae_buf *scratch, hae_err *err) {
    size_t p = *pos + 1;
    size_t id_end = read_sd_name(s, len, p);
    if (id_end == p) return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: bad SD-ID", p);
    char name[72];
    size_t id_len = id_end - p;
    memcpy(name, s + p, id_len);
    name[id_len] = '\0';
    bool has_param = false;
    p = id_end;
    while (p < len && s[p] == ' ') {
        size_t name_start = p + 1;
        size_t name_end = read_sd_name(s, len, name_start);
        if (name_end == name_start || name_end + 1 >= len || s[name_end] != '=' ||
            s[name_end + 1] != '"') {
            return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: bad SD-PARAM", name_start);
        }
        name[id_len] = '.';
        memcpy(name + id_len + 1, s + name_start, name_end - name_start);
        name[id_len + 1 + name_end - name_start] = '\0';
        p = name_end + 2;
        int rc = add_sd_value(ev, name, s, len, &p, scratch, err);
        if (rc < 0) return rc;
        has_param = true;
    }
    if (p >= len || s[p] != ']') {
        return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: expected ']'", p);
    }
    *pos = p + 1;
    name[id_len] = '\0';
    char room[24];
    return has_param ? HAE_OK
                     : hae_event_add_strn(ev, unreserved_name(name, "syslog", room, sizeof room),
                                          "", 0);
}

/* RFC 5424 section 6: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP
 * PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]; pos is at VERSION. */
static int parse_5424(hae_event *ev, const char *s, size_t len, size_t pos,
                      syslog_head *head, hae_err *err) {
    pos = find_char(s, len, pos, ' ') + 1;
    const char *f[5];
    size_t n[5];
    static const size_t max[5] = {64, 255, 48, 128, 32};
    for (int i = 0; i < 5; i++) {
        size_t at = pos;
        if (!read_header_field(s, len, &pos, max[i], &f[i], &n[i])) {
            static const char *const what[5] = {"TIMESTAMP", "HOSTNAME", "APP-NAME", "PROCID",
                                                "MSGID"};
            return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: bad RFC 5424 %s", at, what[i]);
        }
    }
    if (n[0] > 0 && !hae_log_parse_rfc3339(f[0], n[0], &ev->time_ns)) {
        return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: bad RFC 5424 TIMESTAMP",
                           (size_t)(f[0] - s));
    }
    int rc = set_hostname(ev, f[1], n[1]);
    if (rc == HAE_OK && n[2] > 0) {
        head->service = syslog_service(f[2], n[2]);
        head->program = f[2];
        head->program_len = n[2];
        rc = hae_event_add_strn(ev, "Program", f[2], n[2]);
    }
    if (rc == HAE_OK && n[3] > 0) {
        rc = all_digits(f[3], n[3]) && n[3] < 20 ? add_decimal(ev, "Pid", f[3], n[3])
                                                 : hae_event_add_strn(ev, "ProcId", f[3], n[3]);
    }
    if (rc == HAE_OK && n[4] > 0) rc = hae_event_add_strn(ev, "MsgId", f[4], n[4]);
    if (rc < 0) return rc;
    if (pos >= len || (s[pos] != '-' && s[pos] != '[')) {
        return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: expected STRUCTURED-DATA", pos);
    }
    if (s[pos] == '-') pos++;
    hae_buf scratch = {0};
    while (rc == HAE_OK && pos < len && s[pos] == '[') {
        rc = parse_sd_element(ev, s, len, &pos, &scratch, err);
    }
    hae_buf_free(&scratch);
    if (rc == HAE_OK && pos < len && s[pos] != ' ') {
        rc = hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: expected a space before MSG", pos);
    }
    head->msg = pos < len ? skip_bom(s, len, pos + 1) : len;
    return rc;
}

static int parse_syslog(hae_event *ev, const char *s, size_t len, hae_err *err) {
    syslog_head head = {.service = "syslog", .msg = len};
    size_t pos = 0;
    bool has_priority = read_priority(s, len, &pos);
    if (s[0] == '<' && !has_priority) {
        return hae_err_set(err, HAE_EINVAL, "syslog: byte 0: bad <PRI> (0-191)");
    }
    int rc = HAE_OK;
    size_t end = 0;
    if (has_priority && is_5424_version(s, len, pos)) {
        rc = parse_5424(ev, s, len, pos, &head, err);
    } else if (is_bsd_timestamp(s + pos, len - pos, &end)) {
        rc = parse_bsd_time(s + pos, end, &ev->time_ns, err);
        if (rc == HAE_OK) rc = parse_bsd_rest(ev, s, len, pos + end, &head);
    } else if (is_rfc3339_start(s + pos, len - pos)) {
        end = find_char(s, len, pos, ' ');
        if (!hae_log_parse_rfc3339(s + pos, end - pos, &ev->time_ns)) {
            return hae_err_set(err, HAE_EINVAL, "syslog: byte %zu: bad RFC 3339 timestamp", pos);
        }
        rc = parse_bsd_rest(ev, s, len, end, &head);
    } else if (has_priority) {
        rc = parse_bsd_tag(ev, s, len, pos, &head); /* RFC 3164 4.3.3: no timestamp */
    } else {
        return hae_err_set(err, HAE_EINVAL, "syslog: byte 0: expected <PRI> or a timestamp");
    }
    if (rc == HAE_OK && head.program && head.msg < len) {
        rc = hae_log_parse_auth(ev, head.program, head.program_len, s + head.msg, len - head.msg);
    }
    if (rc == HAE_OK) rc = hae_event_set_source(ev, "linux", NULL, head.service);
    return rc;
}

/* ---- auditd ---------------------------------------------------------- */

/* auditd writes these untrusted strings hex-encoded when they hold a space,
 * quote or control character (audit_log_untrustedstring() in the kernel's
 * kernel/audit.c; auparse's interpretation tables list the same). The
 * argument fields a0, a1[0]... are hex text only in EXECVE records. */
static bool is_hex_field(const char *key, size_t n, bool is_execve) {
#define NAME(s) {s, sizeof s - 1}
    static const struct { const char *text; size_t len; } names[] = {
        NAME("proctitle"), NAME("cmd"), NAME("comm"), NAME("exe"), NAME("cwd"), NAME("name"),
        NAME("path"), NAME("acct"), NAME("key"), NAME("data"), NAME("ocomm")};
#undef NAME
    if (is_execve && n >= 2 && key[0] == 'a' && is_digit(key[1])) {
        size_t i = 1;
        while (i < n && is_digit(key[i])) i++;
        return i == n || key[i] == '[';
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (names[i].len == n && names[i].text[0] == key[0] && memcmp(names[i].text, key, n) == 0) {
            return true;
        }
    }
    return false;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes a value that is all hex: 1 when decoded into out, 0 when it is
 * not hex (keep it as written). Trailing NULs go; inner NULs (proctitle's
 * argv separators) become spaces. */
static int hex_decode(const char *s, size_t n, hae_buf *out) {
    if (n == 0 || n % 2 != 0) return 0;
    for (size_t i = 0; i < n; i++) {
        if (hex_digit(s[i]) < 0) return 0;
    }
    hae_buf_reset(out);
    int rc = hae_buf_reserve(out, n / 2 + 1);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n; i += 2) {
        out->data[out->len++] = (char)(hex_digit(s[i]) << 4 | hex_digit(s[i + 1]));
    }
    while (out->len > 0 && out->data[out->len - 1] == '\0') out->len--;
    for (size_t i = 0; i < out->len; i++) {
        if (out->data[i] == '\0') out->data[i] = ' ';
    }
    out->data[out->len] = '\0';
    return 1;
}

/* Bytes of an auditd key: letters, digits and "_-[]." ("a1[0]", "a1_len"). */
static const bool key_chars[256] = {
    ['_'] = true, ['-'] = true, ['['] = true, [']'] = true, ['.'] = true,
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true};

static bool is_key_char(char c) { return key_chars[(unsigned char)c]; }

typedef struct audit_state {
    bool is_execve;
    hae_buf scratch;
} audit_state;

static int parse_audit_pairs(hae_event *ev, const char *s, size_t len, size_t pos,
                             audit_state *st, int depth, hae_err *err);

/* key=value at s[pos..) with the key already read; sets *pos past it. */
static int add_audit_value(hae_event *ev, const char *key, size_t key_len, const char *s,
                           size_t len, size_t *pos, audit_state *st, int depth, hae_err *err) {
    size_t p = *pos;
    if (p < len && (s[p] == '"' || s[p] == '\'')) {
        size_t close = find_char(s, len, p + 1, s[p]);
        if (close >= len) {
            return hae_err_set(err, HAE_EINVAL, "auditd: byte %zu: unterminated %c quote", p,
                               s[p]);
        }
        *pos = close + 1;
        /* msg='op=PAM:auth acct="root" ...' in USER_* records nests pairs. */
        if (s[p] == '\'' && depth == 0 && strcmp(key, "msg") == 0) {
            return parse_audit_pairs(ev, s, close, p + 1, st, depth + 1, err);
        }
        return hae_event_add_strn(ev, key, s + p + 1, close - p - 1);
    }
    size_t end = p;
    while (end < len && s[end] != ' ' && s[end] != '\x1d') end++;
    *pos = end;
    int decoded = is_hex_field(key, key_len, st->is_execve)
                      ? hex_decode(s + p, end - p, &st->scratch)
                      : 0;
    if (decoded != 0) {
        return decoded < 0 ? decoded
                           : hae_event_add_strn(ev, key, st->scratch.data, st->scratch.len);
    }
    return hae_event_add_strn(ev, key, s + p, end - p);
}

/* key=value pairs separated by spaces; the enriched format (log_format =
 * ENRICHED in auditd.conf) appends interpreted pairs after a 0x1d byte.
 * Words without '=' ("avc:  denied  { read }") stay in Message only. */
static int parse_audit_pairs(hae_event *ev, const char *s, size_t len, size_t pos,
                             audit_state *st, int depth, hae_err *err) {
    while (pos < len) {
        while (pos < len && (s[pos] == ' ' || s[pos] == '\x1d')) pos++;
        size_t key_end = pos;
        while (key_end < len && is_key_char(s[key_end])) key_end++;
        char key[64];
        if (key_end == pos || key_end >= len || s[key_end] != '=' || key_end - pos >= sizeof key) {
            while (pos < len && s[pos] != ' ' && s[pos] != '\x1d') pos++;
            continue;
        }
        size_t key_len = key_end - pos;
        memcpy(key, s + pos, key_len);
        key[key_len] = '\0';
        pos = key_end + 1;
        char room[24];
        const char *name = unreserved_name(key, "auditd", room, sizeof room);
        if (name != key) key_len = strlen(name);
        int rc = add_audit_value(ev, name, key_len, s, len, &pos, st, depth, err);
        if (rc < 0) return rc;
    }
    return HAE_OK;
}

/* "SECONDS.MILLIS:SERIAL)" at *pos, as auditd prints it ("%lu.%03u:%lu"). */
static bool read_audit_stamp(const char *s, size_t len, size_t *pos, int64_t *ns,
                             size_t *serial, size_t *serial_len) {
    size_t p = *pos, sec_end = p;
    while (sec_end < len && sec_end - p < 13 && is_digit(s[sec_end])) sec_end++;
    if (sec_end == p || sec_end - p > 12 || len - sec_end < 7 || s[sec_end] != '.' ||
        !all_digits(s + sec_end + 1, 3) || s[sec_end + 4] != ':') {
        return false;
    }
    size_t end = sec_end + 5;
    while (end < len && end - sec_end < 25 && is_digit(s[end])) end++;
    if (end == sec_end + 5 || end >= len || s[end] != ')') return false;
    int64_t seconds = 0;
    for (size_t i = p; i < sec_end; i++) seconds = seconds * 10 + (s[i] - '0');
    if (seconds > INT64_MAX / 1000000000 - 1) return false; /* past year 2262 */
    *ns = seconds * 1000000000 + (int64_t)digits_value(s + sec_end + 1, 3) * 1000000;
    *serial = sec_end + 5;
    *serial_len = end - *serial;
    *pos = end + 1;
    return true;
}

/* "[node=N ]type=T msg=audit(SECONDS.MILLIS:SERIAL): pairs" (auditd's
 * log format, see auditd.conf(5) and ausearch's record layout). */
static int parse_auditd(hae_event *ev, const char *s, size_t len, hae_err *err) {
    size_t pos = 0;
    int rc = hae_event_set_source(ev, "linux", NULL, "auditd");
    if (rc == HAE_OK && has_prefix(s, len, "node=")) {
        size_t end = find_char(s, len, 5, ' ');
        rc = set_hostname(ev, s + 5, end - 5);
        if (rc == HAE_OK) rc = hae_event_add_strn(ev, "node", s + 5, end - 5);
        pos = skip_spaces(s, len, end);
    }
    if (rc < 0) return rc;
    if (!has_prefix(s + pos, len - pos, "type=")) {
        return hae_err_set(err, HAE_EINVAL, "auditd: byte %zu: expected 'type='", pos);
    }
    size_t type_end = find_char(s, len, pos + 5, ' ');
    rc = hae_event_add_strn(ev, "type", s + pos + 5, type_end - pos - 5);
    if (rc < 0) return rc;
    audit_state st = {.is_execve = type_end - pos - 5 == 6 && has_prefix(s + pos + 5, 6, "EXECVE")};
    pos = skip_spaces(s, len, type_end);
    if (!has_prefix(s + pos, len - pos, "msg=audit(")) {
        return hae_err_set(err, HAE_EINVAL, "auditd: byte %zu: expected 'msg=audit('", pos);
    }
    pos += 10;
    size_t serial = 0, serial_len = 0;
    if (!read_audit_stamp(s, len, &pos, &ev->time_ns, &serial, &serial_len)) {
        return hae_err_set(err, HAE_EINVAL,
                           "auditd: byte %zu: expected audit(SECONDS.MILLIS:SERIAL)", pos);
    }
    rc = add_decimal(ev, "serial", s + serial, serial_len);
    if (pos < len && s[pos] == ':') pos++;
    if (rc == HAE_OK) rc = parse_audit_pairs(ev, s, len, pos, &st, 0, err);
    hae_buf_free(&st.scratch);
    return rc;
}

/* ---- detection and dispatch ------------------------------------------ */

static bool looks_like_auditd(const char *s, size_t len) {
    size_t pos = 0;
    if (has_prefix(s, len, "node=")) {
        pos = skip_spaces(s, len, find_char(s, len, 5, ' '));
    }
    if (!has_prefix(s + pos, len - pos, "type=")) return false;
    pos = skip_spaces(s, len, find_char(s, len, pos, ' '));
    return has_prefix(s + pos, len - pos, "msg=audit(");
}

static bool looks_like_syslog(const char *s, size_t len) {
    size_t pos = 0, end = 0;
    if (read_priority(s, len, &pos)) return true;
    return is_bsd_timestamp(s, len, &end) ||
           (is_rfc3339_start(s, len) && hae_log_parse_rfc3339(s, find_char(s, len, 0, ' '), &(int64_t){0}));
}

hae_log_format hae_log_format_detect(const char *line, size_t len) {
    size_t pos = 0;
    while (pos < len && (line[pos] == ' ' || line[pos] == '\t')) pos++;
    if (pos < len && line[pos] == '{') return HAE_LOGFMT_JSON;
    if (looks_like_auditd(line, len)) return HAE_LOGFMT_AUDITD;
    if (hae_log_looks_like_access(line, len)) return HAE_LOGFMT_ACCESS;
    if (looks_like_syslog(line, len)) return HAE_LOGFMT_SYSLOG;
    return HAE_LOGFMT_PLAIN;
}

/* JSON objects decode as events; Message is the whole line unless the
 * object brings its own. */
static int parse_json(hae_event *ev, const char *line, size_t len, hae_err *err) {
    int rc = hae_event_decode_json(ev, line, len, err);
    if (rc == HAE_OK && !hae_event_get(ev, "Message")) {
        rc = hae_event_add_strn(ev, "Message", line, len);
    }
    if (rc == HAE_OK) rc = hae_log_map_web_json(ev);
    if (rc < 0) hae_err_prefix(err, "json: ");
    return rc;
}

int hae_log_parse_line(hae_event *ev, hae_log_format fmt, const char *line, size_t len,
                       hae_err *err) {
    if (fmt == HAE_LOGFMT_AUTO) fmt = hae_log_format_detect(line, len);
    if (fmt == HAE_LOGFMT_JSON) return parse_json(ev, line, len, err);
    hae_event_init_empty(ev);
    int rc = hae_event_add_strn(ev, "Message", line, len);
    if (rc == HAE_OK) {
        switch (fmt) {
        case HAE_LOGFMT_SYSLOG: rc = len ? parse_syslog(ev, line, len, err)
                                         : hae_err_set(err, HAE_EINVAL, "syslog: empty line");
            break;
        case HAE_LOGFMT_AUDITD: rc = parse_auditd(ev, line, len, err); break;
        case HAE_LOGFMT_ACCESS: rc = hae_log_parse_access(ev, line, len, err); break;
        case HAE_LOGFMT_PLAIN: rc = hae_event_set_source(ev, "linux", NULL, NULL); break;
        default: rc = hae_err_set(err, HAE_EINVAL, "log format %d unknown", (int)fmt); break;
        }
    }
    if (rc == HAE_ENOMEM) hae_err_set(err, rc, "out of memory parsing a log line");
    if (rc < 0) hae_event_clear(ev);
    return rc;
}
