/* Time zones from TZif files: offsets agree with glibc's localtime_r for
 * instants from 1900 to 2200 in zones with and without daylight time, in
 * both hemispheres (the far future follows the file's POSIX rule); known
 * moments of Seoul and Berlin; bad files and names are refused by name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

static hae_tz *load(const char *zone) {
    hae_tz *tz = NULL;
    hae_err err = {0};
    if (hae_tz_load(zone, &tz, &err) != HAE_OK) fail_msg("%s", err.msg);
    return tz;
}

static int64_t utc(int y, int mon, int d, int h, int min, int s) {
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = min, .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static void test_seoul_and_berlin_known_moments(void **state) {
    (void)state;
    hae_tz *seoul = load("Asia/Seoul");
    assert_int_equal(hae_tz_offset(seoul, utc(2026, 7, 1, 0, 0, 0)), 9 * 3600);
    assert_int_equal(hae_tz_offset(seoul, utc(1988, 6, 1, 0, 0, 0)), 10 * 3600); /* KDT */
    assert_int_equal(hae_tz_offset(seoul, utc(2150, 1, 1, 0, 0, 0)), 9 * 3600);
    assert_string_equal(hae_tz_name(seoul), "Asia/Seoul");
    hae_tz_free(seoul);
    hae_tz *berlin = load("Europe/Berlin");
    int64_t spring = utc(2026, 3, 29, 1, 0, 0); /* 02:00 CET becomes 03:00 CEST */
    assert_int_equal(hae_tz_offset(berlin, spring - 1), 3600);
    assert_int_equal(hae_tz_offset(berlin, spring), 7200);
    assert_int_equal(hae_tz_offset(berlin, utc(2100, 7, 1, 12, 0, 0)), 7200);
    assert_int_equal(hae_tz_offset(berlin, utc(2100, 12, 1, 12, 0, 0)), 3600);
    hae_tz_free(berlin);
    hae_tz *u = load("UTC");
    assert_int_equal(hae_tz_offset(u, utc(2026, 7, 1, 0, 0, 0)), 0);
    hae_tz_free(u);
}

static int32_t glibc_offset(const char *zone, int64_t t) {
    setenv("TZ", zone, 1);
    tzset();
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(localtime_r(&tt, &tm));
    return (int32_t)tm.tm_gmtoff;
}

static void test_agrees_with_glibc(void **state) {
    (void)state;
    static const char *const zones[] = {"Asia/Seoul", "Europe/Berlin", "America/New_York",
                                        "Australia/Sydney", "America/Santiago", "Asia/Kolkata",
                                        "Pacific/Chatham", "Europe/Dublin", "Africa/Casablanca"};
    const int64_t from = utc(1900, 1, 1, 0, 0, 0), to = utc(2200, 1, 1, 0, 0, 0);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t checked = 0;
    for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
        hae_tz *tz = load(zones[z]);
        for (int i = 0; i < 4000; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            int64_t t = from + (int64_t)((seed >> 11) % (uint64_t)(to - from));
            int32_t want = glibc_offset(zones[z], t), got = hae_tz_offset(tz, t);
            if (want != got) fail_msg("%s at %lld: glibc %d, haetae %d", zones[z], (long long)t, want, got);
            checked++;
        }
        hae_tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
    assert_int_equal(checked, 4000 * (sizeof zones / sizeof *zones));
}

static void assert_refused(const char *zone, const char *needle) {
    hae_tz *tz = NULL;
    hae_err err = {0};
    assert_int_equal(hae_tz_load(zone, &tz, &err), HAE_EINVAL);
    assert_null(tz);
    if (!strstr(err.msg, needle)) fail_msg("'%s' does not say '%s'", err.msg, needle);
}

static void test_bad_names_and_files_are_refused(void **state) {
    (void)state;
    assert_refused("Mars/Olympus", "time zone 'Mars/Olympus': not a zone under");
    assert_refused("../../etc/passwd", "not a zone name");
    assert_refused("/etc/localtime", "not a zone name");
    assert_refused("", "not a zone name");
    assert_refused("zone.tab", "not a zone name"); /* '.' is not in a zone name */
    hae_buf file = {0};
    hae_err err = {0};
    assert_int_equal(hae_file_read_all("/usr/share/zoneinfo/Europe/Berlin", &file, &err), HAE_OK);
    hae_tz *tz = NULL;
    for (size_t cut = 0; cut < file.len; cut += 97) {
        int rc = hae_tz_parse("cut", (const uint8_t *)file.data, cut, &tz, &err);
        if (rc == HAE_OK) fail_msg("a file cut at %zu of %zu bytes was accepted", cut, file.len);
        assert_null(tz);
        assert_non_null(strstr(err.msg, "time zone cut: "));
    }
    memcpy(file.data, "TZjf", 4);
    assert_int_equal(hae_tz_parse("magic", (const uint8_t *)file.data, file.len, &tz, &err), HAE_EINVAL);
    assert_non_null(strstr(err.msg, "not a TZif file"));
    hae_buf_free(&file);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seoul_and_berlin_known_moments),
        cmocka_unit_test(test_agrees_with_glibc),
        cmocka_unit_test(test_bad_names_and_files_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
