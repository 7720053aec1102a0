/* Time zones read from the system's TZif files (RFC 8536) into a table of
 * transitions, so a rule can ask for the hour in Seoul without touching the
 * process's TZ (glibc has one zone per process, behind a lock). Instants
 * past the last transition follow the file's footer, a POSIX TZ string
 * (RFC 8536 section 3.3): "KST-9", or "CET-1CEST,M3.5.0,M10.5.0/3". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/logline_int.h"

#define TZIF_HEADER 44
#define TZIF_MAX_BYTES (1u << 20)

typedef struct posix_date {
    char kind;           /* 'M' month.week.day, 'J' Julian 1-365 without Feb 29, 'D' 0-365 */
    int month, week, day, yday;
    int32_t time;        /* seconds after local midnight; may be negative or past a day */
} posix_date;

typedef struct posix_rule {
    int32_t std_offset, dst_offset; /* seconds east of UTC */
    bool has_dst;
    posix_date start, end;
} posix_rule;

struct hae_tz {
    char name[65];
    int64_t *times;      /* transitions, ascending */
    int32_t *offsets;    /* offsets[i] applies from times[i] */
    size_t count;
    int32_t before;      /* before the first transition: time type 0 */
    bool has_footer;
    posix_rule footer;
};

/* ---- the POSIX TZ string ------------------------------------------------ */

typedef struct cursor {
    const char *s;
    size_t len, at;
} cursor;

static bool peek(const cursor *c, char ch) { return c->at < c->len && c->s[c->at] == ch; }

static bool read_number(cursor *c, int max_digits, int *out) {
    int v = 0, n = 0;
    while (c->at < c->len && n < max_digits && c->s[c->at] >= '0' && c->s[c->at] <= '9') {
        v = v * 10 + (c->s[c->at++] - '0');
        n++;
    }
    *out = v;
    return n > 0;
}

/* std and dst names: three or more letters, or anything but '>' in <...>. */
static bool read_name(cursor *c) {
    size_t from = c->at;
    if (peek(c, '<')) {
        c->at++;
        while (c->at < c->len && c->s[c->at] != '>') c->at++;
        if (!peek(c, '>')) return false;
        c->at++;
        return c->at - from >= 5;
    }
    while (c->at < c->len && ((c->s[c->at] >= 'A' && c->s[c->at] <= 'Z') ||
                              (c->s[c->at] >= 'a' && c->s[c->at] <= 'z'))) {
        c->at++;
    }
    return c->at - from >= 3;
}

/* [+-]hh[:mm[:ss]]; hours up to 167 as RFC 8536 allows for rule times. */
static bool read_hms(cursor *c, int32_t *out) {
    int sign = 1;
    if (peek(c, '+') || peek(c, '-')) sign = c->s[c->at++] == '-' ? -1 : 1;
    int h = 0, m = 0, sec = 0;
    if (!read_number(c, 3, &h) || h > 167) return false;
    if (peek(c, ':')) {
        c->at++;
        if (!read_number(c, 2, &m) || m > 59) return false;
        if (peek(c, ':')) {
            c->at++;
            if (!read_number(c, 2, &sec) || sec > 59) return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
}

static bool read_date(cursor *c, posix_date *d) {
    d->time = 2 * 3600;
    if (peek(c, 'M')) {
        c->at++;
        d->kind = 'M';
        bool ok = read_number(c, 2, &d->month) && peek(c, '.') && (c->at++, true) &&
                  read_number(c, 1, &d->week) && peek(c, '.') && (c->at++, true) &&
                  read_number(c, 1, &d->day);
        if (!ok || d->month < 1 || d->month > 12 || d->week < 1 || d->week > 5 || d->day > 6) {
            return false;
        }
    } else {
        d->kind = peek(c, 'J') ? 'J' : 'D';
        if (d->kind == 'J') c->at++;
        if (!read_number(c, 3, &d->yday)) return false;
        if (d->kind == 'J' ? d->yday < 1 || d->yday > 365 : d->yday > 365) return false;
    }
    if (peek(c, '/')) {
        c->at++;
        if (!read_hms(c, &d->time)) return false;
    }
    return true;
}

/* POSIX offsets are hours 0 to 24; only rule times may reach 167. */
static bool read_offset(cursor *c, int32_t *west) {
    return read_hms(c, west) && *west >= -25 * 3600 && *west <= 25 * 3600;
}

static bool parse_posix(const char *s, size_t len, posix_rule *r) {
    cursor c = {.s = s, .len = len};
    int32_t west = 0;
    if (!read_name(&c) || !read_offset(&c, &west)) return false;
    r->std_offset = -west;
    if (c.at == len) return true;
    if (!read_name(&c)) return false;
    r->has_dst = true;
    r->dst_offset = r->std_offset + 3600;
    if (c.at < len && !peek(&c, ',')) {
        if (!read_offset(&c, &west)) return false;
        r->dst_offset = -west;
    }
    /* POSIX leaves the default rule to the implementation; the TZif footer
     * always spells it out, so a missing one is refused. */
    if (!peek(&c, ',')) return false;
    c.at++;
    if (!read_date(&c, &r->start) || !peek(&c, ',')) return false;
    c.at++;
    return read_date(&c, &r->end) && c.at == len;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The rule's moment in year y, in seconds since the epoch of local time. */
static int64_t date_in_year(const posix_date *d, int64_t y) {
    int64_t jan1 = hae_log_days_from_civil(y, 1, 1), day;
    if (d->kind == 'M') {
        int64_t first = hae_log_days_from_civil(y, d->month, 1);
        int weekday = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
        int mday = 1 + (d->day - weekday + 7) % 7 + (d->week - 1) * 7;
        while (mday > days_in_month(y, d->month)) mday -= 7;
        day = first + mday - 1;
    } else if (d->kind == 'J') {
        day = jan1 + d->yday - 1 + (is_leap(y) && d->yday >= 60);
    } else {
        day = jan1 + d->yday;
    }
    return day * 86400 + d->time;
}

static int64_t year_of(int64_t unix_sec) {
    int64_t days = unix_sec / 86400 - (unix_sec % 86400 < 0);
    int64_t y = 1970 + days * 400 / 146097; /* 146097 days in 400 years */
    while (hae_log_days_from_civil(y + 1, 1, 1) <= days) y++;
    while (hae_log_days_from_civil(y, 1, 1) > days) y--;
    return y;
}

static int32_t posix_offset(const posix_rule *r, int64_t t) {
    if (!r->has_dst) return r->std_offset;
    int64_t y = year_of(t + r->std_offset);
    /* the start is written in standard time, the end in daylight time */
    int64_t start = date_in_year(&r->start, y) - r->std_offset;
    int64_t end = date_in_year(&r->end, y) - r->dst_offset;
    bool dst = start < end ? t >= start && t < end : !(t >= end && t < start);
    return dst ? r->dst_offset : r->std_offset;
}

/* ---- the TZif file ---------------------------------------------------- */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) {
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static bool read_header(const uint8_t *p, size_t left, tzif_counts *n) {
    if (left < TZIF_HEADER || memcmp(p, "TZif", 4) != 0) return false;
    uint32_t *fields[] = {&n->isut, &n->isstd, &n->leap, &n->time, &n->type, &n->chars};
    for (size_t i = 0; i < 6; i++) *fields[i] = be32(p + 20 + 4 * i);
    /* RFC 8536 section 3.1: at least one type and one designation byte;
     * the standard/wall and UT/local indicators are absent or one per type */
    return n->type >= 1 && n->type <= 256 && n->chars >= 1 && n->time <= 200000 &&
           n->leap <= 100000 && (n->isut == 0 || n->isut == n->type) &&
           (n->isstd == 0 || n->isstd == n->type);
}

static size_t block_size(const tzif_counts *n, size_t time_size) {
    return n->time * time_size + n->time + n->type * 6u + n->chars +
           n->leap * (time_size + 4) + n->isstd + n->isut;
}

static int tz_error(hae_err *err, const char *name, const char *why) {
    return hae_err_set(err, HAE_EINVAL, "time zone %s: %s", name, why);
}

static int read_block(hae_tz *tz, const uint8_t *p, const tzif_counts *n, size_t time_size,
                      hae_err *err) {
    const uint8_t *types = p + n->time * time_size;
    const uint8_t *info = types + n->time;
    for (uint32_t i = 0; i < n->type; i++) {
        int32_t off = (int32_t)be32(info + 6 * i);
        if (off <= -25 * 3600 || off >= 26 * 3600 || info[6 * i + 4] > 1 || info[6 * i + 5] >= n->chars) {
            return tz_error(err, tz->name, "bad local time type");
        }
    }
    tz->before = (int32_t)be32(info);
    tz->times = calloc(n->time ? n->time : 1, sizeof *tz->times);
    tz->offsets = calloc(n->time ? n->time : 1, sizeof *tz->offsets);
    if (!tz->times || !tz->offsets) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n->time; i++) {
        tz->times[i] = time_size == 8 ? be64(p + 8 * i) : (int32_t)be32(p + 4 * i);
        if (i && tz->times[i] <= tz->times[i - 1]) return tz_error(err, tz->name, "transitions out of order");
        if (types[i] >= n->type) return tz_error(err, tz->name, "transition to an unknown type");
        tz->offsets[i] = (int32_t)be32(info + 6 * types[i]);
    }
    tz->count = n->time;
    return HAE_OK;
}

static int read_footer(hae_tz *tz, const uint8_t *p, size_t left, hae_err *err) {
    if (left < 2 || p[0] != '\n') return tz_error(err, tz->name, "no footer");
    const uint8_t *end = memchr(p + 1, '\n', left - 1);
    if (!end) return tz_error(err, tz->name, "footer not ended");
    size_t len = (size_t)(end - (p + 1));
    if (len == 0) return HAE_OK; /* no rule: the last transition holds */
    if (!parse_posix((const char *)p + 1, len, &tz->footer)) {
        return tz_error(err, tz->name, "footer is not a POSIX TZ string");
    }
    tz->has_footer = true;
    return HAE_OK;
}

int hae_tz_parse(const char *name, const uint8_t *data, size_t len, hae_tz **out, hae_err *err) {
    *out = NULL;
    hae_tz *tz = calloc(1, sizeof *tz);
    if (!tz) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    snprintf(tz->name, sizeof tz->name, "%s", name);
    tzif_counts n = {0};
    int rc = HAE_OK;
    if (!read_header(data, len, &n)) rc = tz_error(err, tz->name, "not a TZif file (RFC 8536)");
    size_t v1 = rc == HAE_OK ? block_size(&n, 4) : 0;
    bool v2 = rc == HAE_OK && data[4] >= '2';
    if (rc == HAE_OK && len - TZIF_HEADER < v1) rc = tz_error(err, tz->name, "file is cut short");
    const uint8_t *p = data + TZIF_HEADER;
    size_t left = len - TZIF_HEADER;
    if (rc == HAE_OK && v2) {
        p += v1;
        left -= v1;
        if (!read_header(p, left, &n)) rc = tz_error(err, tz->name, "bad second header");
        size_t v2_size = rc == HAE_OK ? block_size(&n, 8) : 0;
        if (rc == HAE_OK && left - TZIF_HEADER < v2_size) rc = tz_error(err, tz->name, "file is cut short");
        if (rc == HAE_OK) rc = read_block(tz, p + TZIF_HEADER, &n, 8, err);
        if (rc == HAE_OK) {
            rc = read_footer(tz, p + TZIF_HEADER + v2_size, left - TZIF_HEADER - v2_size, err);
        }
    } else if (rc == HAE_OK) {
        rc = read_block(tz, p, &n, 4, err);
    }
    if (rc < 0) {
        hae_tz_free(tz);
        return rc;
    }
    *out = tz;
    return HAE_OK;
}

/* An IANA name is a relative path of letters, digits and "_+-" under the
 * zoneinfo directory. */
bool hae_tz_name_ok(const char *zone) {
    if (!zone[0] || zone[0] == '/' || strlen(zone) > 64 || strstr(zone, "..")) return false;
    for (const char *c = zone; *c; c++) {
        bool ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                  strchr("_+-/", *c);
        if (!ok) return false;
    }
    return true;
}

int hae_tz_load(const char *zone, hae_tz **out, hae_err *err) {
    *out = NULL;
    const char *dir = getenv("TZDIR");
    if (!dir || !dir[0]) dir = "/usr/share/zoneinfo";
    const char *file = strcmp(zone, "UTC") == 0 ? "Etc/UTC" : zone;
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!hae_tz_name_ok(zone) || n < 0 || (size_t)n >= sizeof path) {
        return hae_err_set(err, HAE_EINVAL, "time zone '%s': not a zone name (e.g. Asia/Seoul, UTC)", zone);
    }
    hae_buf text = {0};
    hae_err why = {0};
    int rc = hae_file_read_all(path, &text, &why);
    if (rc == HAE_OK && text.len > TZIF_MAX_BYTES) rc = HAE_EINVAL;
    if (rc < 0) {
        hae_buf_free(&text);
        return hae_err_set(err, HAE_EINVAL, "time zone '%s': not a zone under %s (e.g. Asia/Seoul, UTC)",
                           zone, dir);
    }
    rc = hae_tz_parse(zone, (const uint8_t *)text.data, text.len, out, err);
    hae_buf_free(&text);
    return rc;
}

/* Beyond what int64 nanoseconds (the event clock) can hold, the answer
 * is that of the bound: it keeps the year arithmetic small. */
#define TZ_FAR (INT64_C(1) << 36)

int32_t hae_tz_offset(const hae_tz *tz, int64_t unix_sec) {
    if (unix_sec > TZ_FAR) unix_sec = TZ_FAR;
    if (unix_sec < -TZ_FAR) unix_sec = -TZ_FAR;
    if (tz->count == 0 || unix_sec < tz->times[0]) {
        return tz->count == 0 && tz->has_footer ? posix_offset(&tz->footer, unix_sec) : tz->before;
    }
    if (unix_sec >= tz->times[tz->count - 1] && tz->has_footer) {
        return posix_offset(&tz->footer, unix_sec);
    }
    size_t lo = 0, hi = tz->count; /* last transition at or before unix_sec */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= unix_sec) lo = mid;
        else hi = mid;
    }
    return tz->offsets[lo];
}

const char *hae_tz_name(const hae_tz *tz) { return tz->name; }

void hae_tz_free(hae_tz *tz) {
    if (!tz) return;
    free(tz->times);
    free(tz->offsets);
    free(tz);
}

/* glibc falls back to UTC for a zone it cannot load, which would shift
 * every time silently: the zone is loaded here first. */
int hae_log_set_timezone(const char *zone, hae_err *err) {
    hae_tz *tz = NULL;
    int rc = hae_tz_load(zone, &tz, err);
    hae_tz_free(tz);
    if (rc < 0) return rc;
    if (setenv("TZ", zone, 1) != 0) return hae_err_errno(err, errno, "setenv TZ");
    tzset();
    hae_log_zone_changed();
    return HAE_OK;
}
