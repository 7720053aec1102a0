/* Shared by the log line parsers of core (logline.c, logline_web.c,
 * logline_auth.c); not part of core's interface. */
#ifndef HAETAE_CORE_LOGLINE_INT_H
#define HAETAE_CORE_LOGLINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

int64_t hae_log_days_from_civil(int64_t y, int m, int d); /* days since 1970-01-01 */
int hae_log_month_number(const char *s);                  /* "Jan".."Dec" -> 1..12, else 0 */
bool hae_log_parse_rfc3339(const char *s, size_t len, int64_t *ns);
void hae_log_zone_changed(void); /* after TZ changed: drop cached offsets */
bool hae_tz_name_ok(const char *zone); /* an IANA name, no path tricks */

/* Apache/nginx common and combined access logs. */
bool hae_log_looks_like_access(const char *line, size_t len);
int hae_log_parse_access(hae_event *ev, const char *line, size_t len, hae_err *err);
/* Adds the W3C fields to a decoded JSON object that is an access log entry
 * (nginx/Apache JSON formats); leaves other objects alone. */
int hae_log_map_web_json(hae_event *ev);

#endif
