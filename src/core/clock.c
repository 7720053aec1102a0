/* Time (RFC 3339 UTC with nanoseconds), ids (UUIDv7), host name, logging. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static const int64_t NS_PER_SEC = 1000000000;

static int64_t clock_ns(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) {
        return 0;
    }
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t hae_time_now_ns(void) { return clock_ns(CLOCK_REALTIME); }
int64_t hae_time_monotonic_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

int hae_time_format(int64_t ns, char out[HAE_TIME_LEN]) {
    int64_t sec = ns / NS_PER_SEC;
    int64_t frac = ns % NS_PER_SEC;
    if (frac < 0) { /* floor division for times before 1970 */
        frac += NS_PER_SEC;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        snprintf(out, HAE_TIME_LEN, "0000-00-00T00:00:00.000000000Z");
        return HAE_EINVAL;
    }
    /* The compiler cannot see tm's ranges; format into room it can prove. */
    char text[96];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
    memcpy(out, text, HAE_TIME_LEN - 1);
    out[HAE_TIME_LEN - 1] = '\0';
    return HAE_OK;
}

/* Reads exactly n digits at *p; -1 if any is not a digit. */
static int read_digits(const char *s, size_t len, size_t *pos, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (*pos >= len || s[*pos] < '0' || s[*pos] > '9') {
            return -1;
        }
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
    }
    return v;
}

static bool expect(const char *s, size_t len, size_t *pos, const char *any_of) {
    if (*pos < len && s[*pos] && strchr(any_of, s[*pos])) {
        (*pos)++;
        return true;
    }
    return false;
}

int hae_time_parse(const char *s, size_t len, int64_t *ns, hae_err *err) {
    size_t p = 0;
    int year = read_digits(s, len, &p, 4);
    bool ok = year >= 0 && expect(s, len, &p, "-");
    int mon = ok ? read_digits(s, len, &p, 2) : -1;
    ok = ok && mon >= 1 && mon <= 12 && expect(s, len, &p, "-");
    int day = ok ? read_digits(s, len, &p, 2) : -1;
    ok = ok && day >= 1 && day <= 31 && expect(s, len, &p, "Tt ");
    int hour = ok ? read_digits(s, len, &p, 2) : -1;
    ok = ok && hour >= 0 && hour <= 23 && expect(s, len, &p, ":");
    int min = ok ? read_digits(s, len, &p, 2) : -1;
    ok = ok && min >= 0 && min <= 59 && expect(s, len, &p, ":");
    int sec = ok ? read_digits(s, len, &p, 2) : -1;
    ok = ok && sec >= 0 && sec <= 60; /* 60: leap second, folded below */
    if (!ok) {
        return hae_err_set(err, HAE_EINVAL, "time '%.*s' is not RFC 3339 (YYYY-MM-DDTHH:MM:SSZ)",
                           (int)(len > 40 ? 40 : len), s);
    }
    int64_t frac = 0;
    if (p < len && s[p] == '.') {
        p++;
        size_t digits = 0;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            if (digits < 9) {
                frac = frac * 10 + (s[p] - '0');
            }
            digits++;
            p++;
        }
        if (digits == 0) {
            return hae_err_set(err, HAE_EINVAL, "time '%.*s': empty fraction", (int)len, s);
        }
        for (; digits < 9; digits++) {
            frac *= 10;
        }
    }
    int64_t offset = 0;
    if (expect(s, len, &p, "Zz")) {
        offset = 0;
    } else if (p < len && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p] == '-' ? -1 : 1;
        p++;
        int oh = read_digits(s, len, &p, 2);
        bool colon = expect(s, len, &p, ":");
        int om = colon ? read_digits(s, len, &p, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59) {
            return hae_err_set(err, HAE_EINVAL, "time '%.*s': bad UTC offset", (int)len, s);
        }
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return hae_err_set(err, HAE_EINVAL, "time '%.*s': missing 'Z' or UTC offset", (int)len, s);
    }
    if (p != len) {
        return hae_err_set(err, HAE_EINVAL, "time '%.*s': trailing characters", (int)len, s);
    }
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = min, .tm_sec = sec == 60 ? 59 : sec};
    time_t t = timegm(&tm);
    if (tm.tm_mday != day) {
        return hae_err_set(err, HAE_EINVAL, "time '%.*s': no such day", (int)len, s);
    }
    int64_t unix_sec = (int64_t)t - offset;
    if (unix_sec >= INT64_MAX / NS_PER_SEC || unix_sec <= INT64_MIN / NS_PER_SEC) {
        /* int64 nanoseconds span 1677-09-21 to 2262-04-11 */
        return hae_err_set(err, HAE_EINVAL, "time '%.*s': outside years 1678-2261", (int)len, s);
    }
    *ns = unix_sec * NS_PER_SEC + frac;
    return HAE_OK;
}

int hae_id_new(char out[HAE_ID_LEN]) {
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return HAE_EIO;
        }
        got += (size_t)n;
    }
    uint64_t ms = (uint64_t)(hae_time_now_ns() / 1000000);
    for (int i = 0; i < 6; i++) { /* RFC 9562 5.7: 48-bit big-endian Unix ms */
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    }
    hae_id_format(b, 7, out);
    return HAE_OK;
}

void hae_id_format(unsigned char b[16], unsigned version, char out[HAE_ID_LEN]) {
    b[6] = (unsigned char)((version & 0x0f) << 4 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* RFC 9562 variant 10 */
    snprintf(out, HAE_ID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

const char *hae_host_name(void) {
    static char name[256];
    if (!name[0]) {
        if (gethostname(name, sizeof name - 1) != 0 || !name[0]) {
            snprintf(name, sizeof name, "unknown");
        }
    }
    return name;
}

static hae_log_level log_threshold = HAE_LOG_INFO;

void hae_log_set_level(hae_log_level level) { log_threshold = level; }

void hae_log(hae_log_level level, const char *fmt, ...) {
    if (level < log_threshold) {
        return;
    }
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char when[HAE_TIME_LEN];
    hae_time_format(hae_time_now_ns(), when);
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent threads do not interleave. */
    fprintf(stderr, "%s haetae %s: %s\n", when, names[level], line);
}
