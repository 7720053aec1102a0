/* Web server access logs into the W3C field names SigmaHQ's webserver rules
 * use (c-ip, cs-method, cs-uri-stem, cs-uri-query, sc-status,
 * cs-user-agent, cs-referer...): Apache's and nginx's common and combined
 * formats (optionally led by "vhost:port", Apache's vhost_combined) and
 * their JSON variants, whatever the key names nginx or Apache were told to
 * use among the usual ones. The servers' own escapes (\\" and \\xHH) are
 * undone, so a field holds what the client sent; percent-encoding is kept,
 * because the rules match the encoded forms too. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/logline_int.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static size_t word_end(const char *s, size_t len, size_t pos) {
    while (pos < len && s[pos] != ' ') pos++;
    return pos;
}

/* "[10/Oct/2026:13:55:36 +0900]" at s: Apache's %t, nginx's $time_local. */
static bool is_clf_time(const char *s, size_t len) {
    static const char shape[] = "[dd/Mmm/dddd:dd:dd:dd sdddd]";
    if (len < sizeof shape - 1) return false;
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        char want = shape[i], c = s[i];
        bool ok = want == 'd'   ? is_digit(c)
                  : want == 'M' ? hae_log_month_number(s + i) > 0
                  : want == 'm' ? true
                  : want == 's' ? c == '+' || c == '-'
                                : c == want;
        if (!ok) return false;
    }
    return true;
}

static int digits(const char *s, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

static bool parse_clf_time(const char *s, int64_t *ns) {
    int day = digits(s + 1, 2), mon = hae_log_month_number(s + 4), year = digits(s + 8, 4);
    int hour = digits(s + 13, 2), min = digits(s + 16, 2), sec = digits(s + 19, 2);
    int zone = digits(s + 23, 2) * 3600 + digits(s + 25, 2) * 60;
    if (day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return false;
    if (s[22] == '-') zone = -zone;
    int64_t local = hae_log_days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 +
                    (sec == 60 ? 59 : sec);
    *ns = (local - zone) * 1000000000;
    return true;
}

/* Offset of the "[" of %t when the line is HOST IDENT USER [TIME] or
 * VHOST:PORT HOST IDENT USER [TIME]; 0 when it is not. */
static size_t clf_time_offset(const char *s, size_t len) {
    size_t pos = 0;
    for (int words = 0; words < 4 && pos < len; words++) {
        size_t end = word_end(s, len, pos);
        if (end == pos || end >= len) return 0;
        pos = end + 1;
        if (words >= 2 && pos < len && s[pos] == '[') {
            return is_clf_time(s + pos, len - pos) ? pos : 0;
        }
    }
    return 0;
}

bool hae_log_looks_like_access(const char *line, size_t len) {
    return clf_time_offset(line, len) > 0;
}

/* A quoted field at *pos; Apache writes \" inside it, nginx \x22. */
static bool read_quoted(const char *s, size_t len, size_t *pos, const char **value, size_t *n) {
    if (*pos >= len || s[*pos] != '"') return false;
    size_t p = *pos + 1;
    while (p < len && s[p] != '"') p += (s[p] == '\\' && p + 1 < len) ? 2 : 1;
    if (p >= len) return false;
    *value = s + *pos + 1;
    *n = p - *pos - 1;
    *pos = p + 1;
    return true;
}

static bool is_dash(const char *s, size_t n) { return n == 1 && s[0] == '-'; }

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Undoes Apache's and nginx's log escapes (\", \\, \xHH) into out, which
 * holds n bytes; returns the decoded length. Unknown escapes stay as they are. */
static size_t unescape(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        bool escape = s[i] == '\\' && i + 1 < n;
        if (escape && (s[i + 1] == '"' || s[i + 1] == '\\')) {
            out[o++] = s[++i];
        } else if (escape && s[i + 1] == 'x' && i + 3 < n && hex_digit(s[i + 2]) >= 0 &&
                   hex_digit(s[i + 3]) >= 0) {
            out[o++] = (char)(hex_digit(s[i + 2]) * 16 + hex_digit(s[i + 3]));
            i += 3;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

typedef int (*add_fn)(hae_event *ev, const char *name, const char *s, size_t n);

static int add_unescaped(hae_event *ev, const char *name, const char *s, size_t n, add_fn add) {
    if (n == 0 || !memchr(s, '\\', n)) return add(ev, name, s, n);
    char *plain = malloc(n);
    if (!plain) return HAE_ENOMEM;
    int rc = add(ev, name, plain, unescape(s, n, plain));
    free(plain);
    return rc;
}

static int add_unless_dash(hae_event *ev, const char *name, const char *s, size_t n) {
    return is_dash(s, n) || n == 0 ? HAE_OK : hae_event_add_strn(ev, name, s, n);
}

static int add_number_or_text(hae_event *ev, const char *name, const char *s, size_t n) {
    if (is_dash(s, n)) return HAE_OK;
    bool is_number = n > 0 && n < 19 && (s[0] != '0' || n == 1);
    for (size_t i = 0; is_number && i < n; i++) is_number = is_digit(s[i]);
    return is_number ? hae_event_add(ev, name, HAE_VAL_NUMBER, s, n)
                     : hae_event_add_strn(ev, name, s, n);
}

/* The request target split as IIS logs it: stem before '?', query after. */
static int add_uri(hae_event *ev, const char *uri, size_t n) {
    const char *q = memchr(uri, '?', n);
    size_t stem = q ? (size_t)(q - uri) : n;
    int rc = hae_event_add_strn(ev, "cs-uri", uri, n);
    if (rc == HAE_OK) rc = hae_event_add_strn(ev, "cs-uri-stem", uri, stem);
    if (rc == HAE_OK && q && stem + 1 < n) {
        rc = hae_event_add_strn(ev, "cs-uri-query", q + 1, n - stem - 1);
    }
    return rc;
}

/* "%r": METHOD SP TARGET SP PROTOCOL; anything else (a TLS handshake sent
 * to the plain port, "-") is kept whole as cs-request. */
static int add_request(hae_event *ev, const char *name, const char *r, size_t n) {
    int rc = add_unless_dash(ev, name, r, n);
    const char *sp1 = memchr(r, ' ', n);
    if (rc < 0 || !sp1) return rc;
    size_t method_len = (size_t)(sp1 - r);
    const char *target = sp1 + 1;
    size_t rest = n - method_len - 1;
    const char *sp2 = memchr(target, ' ', rest);
    size_t target_len = sp2 ? (size_t)(sp2 - target) : rest;
    rc = hae_event_add_strn(ev, "cs-method", r, method_len);
    if (rc == HAE_OK) rc = add_uri(ev, target, target_len);
    if (rc == HAE_OK && sp2) {
        rc = hae_event_add_strn(ev, "cs-version", sp2 + 1, rest - target_len - 1);
    }
    return rc;
}

static int add_prefix_words(hae_event *ev, const char *s, size_t time_at) {
    size_t ends[4] = {0}, starts[4] = {0}, count = 0, pos = 0;
    while (pos + 1 < time_at && count < 4) {
        starts[count] = pos;
        ends[count] = word_end(s, time_at, pos);
        pos = ends[count++] + 1;
    }
    size_t first = count == 4 ? 1 : 0; /* vhost_combined leads with %v:%p */
    int rc = HAE_OK;
    if (first == 1) {
        const char *colon = memchr(s, ':', ends[0]);
        rc = hae_event_add_strn(ev, "cs-host", s, colon ? (size_t)(colon - s) : ends[0]);
    }
    if (rc == HAE_OK) rc = hae_event_add_strn(ev, "c-ip", s + starts[first], ends[first] - starts[first]);
    if (rc == HAE_OK) {
        rc = add_unless_dash(ev, "cs-username", s + starts[first + 2],
                             ends[first + 2] - starts[first + 2]);
    }
    return rc;
}

static size_t skip_space(const char *s, size_t len, size_t pos) {
    while (pos < len && s[pos] == ' ') pos++;
    return pos;
}

/* After %t: "%r" %>s %b ["%{Referer}i" "%{User-agent}i"] */
static int parse_after_time(hae_event *ev, const char *s, size_t len, size_t pos, hae_err *err) {
    const char *request;
    size_t request_len;
    pos = skip_space(s, len, pos);
    if (!read_quoted(s, len, &pos, &request, &request_len)) {
        return hae_err_set(err, HAE_EINVAL, "access log: byte %zu: expected the quoted request", pos);
    }
    int rc = add_unescaped(ev, "cs-request", request, request_len, add_request);
    for (int i = 0; rc == HAE_OK && i < 2; i++) {
        pos = skip_space(s, len, pos);
        size_t end = word_end(s, len, pos);
        if (end == pos) return hae_err_set(err, HAE_EINVAL, "access log: byte %zu: expected %s", pos,
                                           i == 0 ? "the status" : "the size");
        rc = add_number_or_text(ev, i == 0 ? "sc-status" : "sc-bytes", s + pos, end - pos);
        pos = end;
    }
    static const char *const quoted_names[] = {"cs-referer", "cs-user-agent"};
    for (int i = 0; rc == HAE_OK && i < 2; i++) {
        const char *v;
        size_t n;
        pos = skip_space(s, len, pos);
        if (!read_quoted(s, len, &pos, &v, &n)) break; /* the common format ends here */
        rc = add_unescaped(ev, quoted_names[i], v, n, add_unless_dash);
    }
    return rc;
}

int hae_log_parse_access(hae_event *ev, const char *s, size_t len, hae_err *err) {
    size_t at = clf_time_offset(s, len);
    if (at == 0) return hae_err_set(err, HAE_EINVAL, "access log: byte 0: expected HOST IDENT USER [TIME]");
    if (!parse_clf_time(s + at, &ev->time_ns)) {
        return hae_err_set(err, HAE_EINVAL, "access log: byte %zu: no such time", at);
    }
    int rc = add_prefix_words(ev, s, at);
    if (rc == HAE_OK) rc = parse_after_time(ev, s, len, at + 28, err);
    if (rc == HAE_OK) rc = hae_event_set_source(ev, NULL, "webserver", NULL);
    return rc;
}

/* ---- JSON access logs ------------------------------------------------- */

/* The key names nginx and Apache JSON log formats are usually given
 * (nginx's variable names, Apache's mod_log_config names, ECS-like
 * spellings), each mapped to the W3C name the rules use. */
static const struct { const char *key; const char *field; } json_keys[] = {
    {"remote_addr", "c-ip"},       {"client_ip", "c-ip"},          {"remoteIP", "c-ip"},
    {"remote_user", "cs-username"}, {"request_method", "cs-method"}, {"method", "cs-method"},
    {"status", "sc-status"},       {"body_bytes_sent", "sc-bytes"}, {"bytes_sent", "sc-bytes"},
    {"http_referer", "cs-referer"}, {"referer", "cs-referer"},      {"http_user_agent", "cs-user-agent"},
    {"user_agent", "cs-user-agent"}, {"host", "cs-host"},           {"server_name", "cs-host"},
    {"server_protocol", "cs-version"}, {"protocol", "cs-version"},
};

static bool has_any(const hae_event *ev, const char *const *names) {
    for (; *names; names++) {
        if (hae_event_get(ev, *names)) return true;
    }
    return false;
}

static int map_request_target(hae_event *ev) {
    const hae_field *f = hae_event_get(ev, "request_uri");
    if (!f) f = hae_event_get(ev, "uri");
    if (f) {
        int rc = add_uri(ev, f->value, f->value_len);
        const hae_field *args = hae_event_get(ev, "args");
        if (rc == HAE_OK && args && !memchr(f->value, '?', f->value_len) && args->value_len > 0) {
            rc = hae_event_add_strn(ev, "cs-uri-query", args->value, args->value_len);
        }
        return rc;
    }
    f = hae_event_get(ev, "request");
    return f ? add_request(ev, "cs-request", f->value, f->value_len) : HAE_OK;
}

/* nginx's $time_local ("10/Oct/2026:13:55:36 +0900") or $time_iso8601,
 * Apache's %{%FT%T%z}t, when the object had no time of its own. */
static void map_time(hae_event *ev) {
    const hae_field *f = hae_event_get(ev, "time_local");
    char bracketed[32];
    if (f && f->value_len == 26) {
        bracketed[0] = '[';
        memcpy(bracketed + 1, f->value, 26);
        bracketed[27] = ']';
        if (is_clf_time(bracketed, 28)) (void)parse_clf_time(bracketed, &ev->time_ns);
        return;
    }
    f = hae_event_get(ev, "time_iso8601");
    if (f) (void)hae_log_parse_rfc3339(f->value, f->value_len, &ev->time_ns);
}

int hae_log_map_web_json(hae_event *ev) {
    static const char *const request_keys[] = {"request", "request_uri", "uri", NULL};
    static const char *const client_keys[] = {"remote_addr", "client_ip", "remoteIP",
                                              "http_user_agent", "user_agent", NULL};
    if (ev->category || hae_event_get(ev, "cs-method") || !has_any(ev, request_keys) ||
        !has_any(ev, client_keys) || !hae_event_get(ev, "status")) {
        return HAE_OK;
    }
    size_t count = ev->field_count; /* the mapped fields are added after these */
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < count; i++) {
        const hae_field f = ev->fields[i];
        for (size_t k = 0; k < sizeof json_keys / sizeof *json_keys; k++) {
            if (strcmp(f.name, json_keys[k].key) == 0 && !hae_event_get(ev, json_keys[k].field)) {
                rc = hae_event_add(ev, json_keys[k].field, f.type, f.value, f.value_len);
                break;
            }
        }
    }
    if (rc == HAE_OK) rc = map_request_target(ev);
    if (rc == HAE_OK && ev->time_ns == 0) map_time(ev);
    if (rc == HAE_OK) rc = hae_event_set_source(ev, ev->product, "webserver", ev->service);
    return rc;
}
