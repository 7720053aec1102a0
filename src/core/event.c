/* The event model: flat named fields in an arena, plus findings. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void hae_event_init_empty(hae_event *ev) {
    memset(ev, 0, sizeof *ev);
}

int hae_event_init(hae_event *ev, const char *product, const char *category,
                   const char *service) {
    hae_event_init_empty(ev);
    int rc = hae_id_new(ev->id);
    if (rc < 0) {
        return rc;
    }
    ev->time_ns = hae_time_now_ns();
    rc = hae_event_set_host(ev, hae_host_name());
    if (rc == HAE_OK) {
        rc = hae_event_set_source(ev, product, category, service);
    }
    if (rc < 0) {
        hae_event_clear(ev);
    }
    return rc;
}

void hae_event_clear(hae_event *ev) {
    free(ev->fields);
    hae_arena_free(&ev->arena);
    hae_event_init_empty(ev);
}

static int copy_optional(hae_event *ev, const char *s, const char **dst) {
    if (!s) {
        *dst = NULL;
        return HAE_OK;
    }
    *dst = hae_arena_strdup(&ev->arena, s);
    return *dst ? HAE_OK : HAE_ENOMEM;
}

int hae_event_set_source(hae_event *ev, const char *product, const char *category,
                         const char *service) {
    int rc = copy_optional(ev, product, &ev->product);
    if (rc == HAE_OK) {
        rc = copy_optional(ev, category, &ev->category);
    }
    if (rc == HAE_OK) {
        rc = copy_optional(ev, service, &ev->service);
    }
    return rc;
}

int hae_event_set_host(hae_event *ev, const char *host) {
    return copy_optional(ev, host, &ev->host);
}

int hae_event_add(hae_event *ev, const char *name, hae_value_type type, const char *value,
                  size_t value_len) {
    if (ev->field_count == ev->field_cap) {
        size_t cap = ev->field_cap ? ev->field_cap * 2 : 16;
        hae_field *grown = realloc(ev->fields, cap * sizeof *grown);
        if (!grown) {
            return HAE_ENOMEM;
        }
        ev->fields = grown;
        ev->field_cap = cap;
    }
    char *name_copy = hae_arena_strdup(&ev->arena, name);
    char *value_copy = hae_arena_strndup(&ev->arena, value ? value : "", value ? value_len : 0);
    if (!name_copy || !value_copy) {
        return HAE_ENOMEM;
    }
    ev->fields[ev->field_count++] = (hae_field){
        .name = name_copy, .value = value_copy, .value_len = value ? value_len : 0, .type = type};
    return HAE_OK;
}

int hae_event_add_strn(hae_event *ev, const char *name, const char *value, size_t len) {
    return hae_event_add(ev, name, HAE_VAL_STRING, value, len);
}

int hae_event_add_str(hae_event *ev, const char *name, const char *value) {
    if (!value) {
        return hae_event_add(ev, name, HAE_VAL_NULL, "", 0);
    }
    return hae_event_add(ev, name, HAE_VAL_STRING, value, strlen(value));
}

int hae_event_add_int(hae_event *ev, const char *name, int64_t value) {
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRId64, value);
    return hae_event_add(ev, name, HAE_VAL_NUMBER, text, (size_t)n);
}

int hae_event_add_uint(hae_event *ev, const char *name, uint64_t value) {
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRIu64, value);
    return hae_event_add(ev, name, HAE_VAL_NUMBER, text, (size_t)n);
}

int hae_event_add_bool(hae_event *ev, const char *name, bool value) {
    return hae_event_add(ev, name, HAE_VAL_BOOL, value ? "true" : "false", value ? 4 : 5);
}

int hae_event_add_printf(hae_event *ev, const char *name, const char *fmt, ...) {
    hae_buf text = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = hae_buf_vprintf(&text, fmt, ap);
    va_end(ap);
    if (rc == HAE_OK) {
        rc = hae_event_add(ev, name, HAE_VAL_STRING, text.data, text.len);
    }
    hae_buf_free(&text);
    return rc;
}

const hae_field *hae_event_get(const hae_event *ev, const char *name) {
    for (size_t i = 0; i < ev->field_count; i++) {
        if (strcmp(ev->fields[i].name, name) == 0) {
            return &ev->fields[i];
        }
    }
    return NULL;
}

const char *hae_event_get_str(const hae_event *ev, const char *name) {
    const hae_field *f = hae_event_get(ev, name);
    return f ? f->value : NULL;
}

/* ---- findings -------------------------------------------------------- */

static const char *const severity_names[] = {"informational", "low", "medium", "high",
                                             "critical"};

const char *hae_severity_name(hae_severity sev) {
    if ((unsigned)sev > HAE_SEV_CRITICAL) {
        return "unknown";
    }
    return severity_names[sev];
}

int hae_severity_parse(const char *name, hae_severity *out) {
    for (unsigned i = 0; i <= HAE_SEV_CRITICAL; i++) {
        if (strcmp(name, severity_names[i]) == 0) {
            *out = (hae_severity)i;
            return HAE_OK;
        }
    }
    if (strcmp(name, "info") == 0) {
        *out = HAE_SEV_INFO;
        return HAE_OK;
    }
    return HAE_EINVAL;
}

int hae_finding_init(hae_event *ev, const char *sensor, const char *rule, hae_severity sev,
                     const char *message_fmt, ...) {
    int rc = hae_event_init(ev, "haetae", "finding", sensor);
    if (rc < 0) {
        return rc;
    }
    hae_buf message = {0};
    va_list ap;
    va_start(ap, message_fmt);
    rc = hae_buf_vprintf(&message, message_fmt, ap);
    va_end(ap);
    if (rc == HAE_OK) {
        rc = hae_event_add_str(ev, "rule", rule);
    }
    if (rc == HAE_OK) {
        rc = hae_event_add_str(ev, "severity", hae_severity_name(sev));
    }
    if (rc == HAE_OK) {
        rc = hae_event_add_strn(ev, "message", message.data, message.len);
    }
    hae_buf_free(&message);
    if (rc < 0) {
        hae_event_clear(ev);
    }
    return rc;
}

bool hae_event_is_finding(const hae_event *ev) {
    return ev->category && strcmp(ev->category, "finding") == 0 && hae_event_get(ev, "rule");
}
