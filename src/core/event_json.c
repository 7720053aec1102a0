/* JSON lines codec for events (the format on disk and on the wire). */
#include <string.h>

#include "core/core.h"

static int append_key(hae_buf *out, bool *first, const char *key) {
    int rc = *first ? HAE_OK : hae_buf_append_char(out, ',');
    *first = false;
    if (rc == HAE_OK) {
        rc = hae_json_append_string(out, key, strlen(key));
    }
    if (rc == HAE_OK) {
        rc = hae_buf_append_char(out, ':');
    }
    return rc;
}

static int append_value(hae_buf *out, const hae_field *f) {
    switch (f->type) {
    case HAE_VAL_NUMBER:
    case HAE_VAL_BOOL: return hae_buf_append(out, f->value, f->value_len);
    case HAE_VAL_NULL: return hae_buf_append_str(out, "null");
    default: return hae_json_append_string(out, f->value, f->value_len);
    }
}

static int append_logsource(hae_buf *out, const hae_event *ev, bool *first) {
    const char *names[] = {"product", "category", "service"};
    const char *values[] = {ev->product, ev->category, ev->service};
    if (!ev->product && !ev->category && !ev->service) {
        return HAE_OK;
    }
    int rc = append_key(out, first, "logsource");
    if (rc == HAE_OK) {
        rc = hae_buf_append_char(out, '{');
    }
    bool inner_first = true;
    for (int i = 0; i < 3 && rc == HAE_OK; i++) {
        if (values[i]) {
            rc = append_key(out, &inner_first, names[i]);
            if (rc == HAE_OK) {
                rc = hae_json_append_string(out, values[i], strlen(values[i]));
            }
        }
    }
    return rc == HAE_OK ? hae_buf_append_char(out, '}') : rc;
}

static bool name_seen_before(const hae_event *ev, size_t index) {
    for (size_t j = 0; j < index; j++) {
        if (strcmp(ev->fields[j].name, ev->fields[index].name) == 0) {
            return true;
        }
    }
    return false;
}

/* Writes field i, or every field of its name as an array when it repeats. */
static int append_field_group(hae_buf *out, const hae_event *ev, size_t i, bool *first) {
    const hae_field *f = &ev->fields[i];
    size_t repeats = 0;
    for (size_t j = i; j < ev->field_count; j++) {
        repeats += strcmp(ev->fields[j].name, f->name) == 0;
    }
    int rc = append_key(out, first, f->name);
    if (rc < 0 || repeats == 1) {
        return rc < 0 ? rc : append_value(out, f);
    }
    rc = hae_buf_append_char(out, '[');
    bool first_item = true;
    for (size_t j = i; j < ev->field_count && rc == HAE_OK; j++) {
        if (strcmp(ev->fields[j].name, f->name) != 0) {
            continue;
        }
        rc = first_item ? HAE_OK : hae_buf_append_char(out, ',');
        first_item = false;
        if (rc == HAE_OK) {
            rc = append_value(out, &ev->fields[j]);
        }
    }
    return rc == HAE_OK ? hae_buf_append_char(out, ']') : rc;
}

/* The members that carry an event's metadata, in the order written. */
static const char *const reserved_keys[] = {"id", "time", "host", "logsource"};

int hae_event_encode_json(const hae_event *ev, hae_buf *out) {
    size_t start = out->len;
    bool first = true;
    int rc = hae_buf_append_char(out, '{');
    if (rc == HAE_OK && ev->id[0]) {
        rc = append_key(out, &first, "id");
        if (rc == HAE_OK) rc = hae_json_append_string(out, ev->id, strlen(ev->id));
    }
    if (rc == HAE_OK && ev->time_ns) {
        char when[HAE_TIME_LEN];
        hae_time_format(ev->time_ns, when);
        rc = append_key(out, &first, "time");
        if (rc == HAE_OK) rc = hae_json_append_string(out, when, strlen(when));
    }
    if (rc == HAE_OK && ev->host) {
        rc = append_key(out, &first, "host");
        if (rc == HAE_OK) rc = hae_json_append_string(out, ev->host, strlen(ev->host));
    }
    if (rc == HAE_OK) {
        rc = append_logsource(out, ev, &first);
    }
    /* A field named like a reserved member whose metadata is absent would
     * be read back as that metadata: a null first says "absent", so the
     * field that follows stays a field (see take_meta). */
    bool meta_present[] = {ev->id[0] != '\0', ev->time_ns != 0, ev->host != NULL,
                           ev->product || ev->category || ev->service};
    for (size_t k = 0; k < sizeof reserved_keys / sizeof *reserved_keys && rc == HAE_OK; k++) {
        if (!meta_present[k] && hae_event_get(ev, reserved_keys[k])) {
            rc = append_key(out, &first, reserved_keys[k]);
            if (rc == HAE_OK) rc = hae_buf_append_str(out, "null");
        }
    }
    for (size_t i = 0; i < ev->field_count && rc == HAE_OK; i++) {
        if (!name_seen_before(ev, i)) {
            rc = append_field_group(out, ev, i, &first);
        }
    }
    if (rc == HAE_OK) {
        rc = hae_buf_append(out, "}\n", 2);
    }
    if (rc < 0) { /* leave no half line behind */
        out->len = start;
        if (out->data) out->data[start] = '\0';
    }
    return rc;
}

/* ---- decoding -------------------------------------------------------- */

static hae_value_type value_type_of(const hae_json *v) {
    switch (v->type) {
    case HAE_JSON_NUMBER: return HAE_VAL_NUMBER;
    case HAE_JSON_BOOL: return HAE_VAL_BOOL;
    case HAE_JSON_NULL: return HAE_VAL_NULL;
    default: return HAE_VAL_STRING;
    }
}

/* Adds v under name; objects flatten to "name.key", arrays repeat name. */
static int add_flattened(hae_event *ev, hae_buf *name, const hae_json *v, hae_err *err) {
    if (v->type == HAE_JSON_ARRAY) {
        for (const hae_json *item = v->child; item; item = item->next) {
            int rc = add_flattened(ev, name, item, err);
            if (rc < 0) return rc;
        }
        return HAE_OK;
    }
    if (v->type == HAE_JSON_OBJECT) {
        size_t base = name->len;
        for (const hae_json *m = v->child; m; m = m->next) {
            name->len = base;
            int rc = base ? hae_buf_append_char(name, '.') : HAE_OK;
            if (rc == HAE_OK) rc = hae_buf_append(name, m->key, m->key_len);
            if (rc == HAE_OK) rc = add_flattened(ev, name, m, err);
            if (rc < 0) return rc;
        }
        name->len = base;
        if (name->data) name->data[base] = '\0';
        return HAE_OK;
    }
    if (name->data && memchr(name->data, '\0', name->len)) {
        return hae_err_set(err, HAE_EINVAL, "field name '%s' contains a NUL byte", name->data);
    }
    int rc = hae_event_add(ev, name->data ? name->data : "", value_type_of(v), v->text,
                           v->text_len);
    return rc == HAE_ENOMEM ? hae_err_set(err, rc, "out of memory decoding event") : rc;
}

static bool key_is(const hae_json *m, const char *key) {
    size_t n = strlen(key);
    return m->key_len == n && memcmp(m->key, key, n) == 0;
}

static bool is_plain_string(const hae_json *v) {
    return v && v->type == HAE_JSON_STRING && !memchr(v->text, '\0', v->text_len);
}

/* Takes the first occurrence of each reserved member (id, time, host,
 * logsource) as metadata when well formed, or as "absent" when null; any
 * other value, and every later occurrence, is an ordinary field. */
static int take_meta(hae_event *ev, const hae_json *m, bool seen[4], bool *taken) {
    *taken = false;
    for (size_t k = 0; k < sizeof reserved_keys / sizeof *reserved_keys; k++) {
        if (key_is(m, reserved_keys[k])) {
            if (seen[k]) return HAE_OK;
            seen[k] = true;
            if (m->type == HAE_JSON_NULL) {
                *taken = true;
                return HAE_OK;
            }
        }
    }
    if (key_is(m, "id") && is_plain_string(m) && m->text_len < HAE_ID_LEN) {
        memcpy(ev->id, m->text, m->text_len + 1);
        *taken = true;
    } else if (key_is(m, "time") && m->type == HAE_JSON_STRING) {
        *taken = hae_time_parse(m->text, m->text_len, &ev->time_ns, NULL) == HAE_OK;
    } else if (key_is(m, "host") && is_plain_string(m)) {
        *taken = true;
        return hae_event_set_host(ev, m->text);
    } else if (key_is(m, "logsource") && m->type == HAE_JSON_OBJECT) {
        const hae_json *parts[3] = {hae_json_member(m, "product"), hae_json_member(m, "category"),
                                    hae_json_member(m, "service")};
        for (int i = 0; i < 3; i++) {
            if (parts[i] && !is_plain_string(parts[i])) return HAE_OK;
        }
        size_t known = (size_t)(parts[0] != NULL) + (parts[1] != NULL) + (parts[2] != NULL);
        if (m->count != known) {
            return HAE_OK; /* unknown members: keep it all as fields */
        }
        *taken = true;
        return hae_event_set_source(ev, parts[0] ? parts[0]->text : NULL,
                                    parts[1] ? parts[1]->text : NULL,
                                    parts[2] ? parts[2]->text : NULL);
    }
    return HAE_OK;
}

int hae_event_decode_json(hae_event *ev, const char *line, size_t len, hae_err *err) {
    hae_event_init_empty(ev);
    hae_json *root = NULL;
    int rc = hae_json_parse(line, len, &ev->arena, &root, err);
    if (rc == HAE_OK && root->type != HAE_JSON_OBJECT) {
        rc = hae_err_set(err, HAE_EINVAL, "JSON: an event must be an object");
    }
    hae_buf name = {0};
    bool seen[4] = {false, false, false, false};
    for (const hae_json *m = rc == HAE_OK ? root->child : NULL; m && rc == HAE_OK; m = m->next) {
        bool taken = false;
        rc = take_meta(ev, m, seen, &taken);
        if (rc == HAE_OK && !taken) {
            hae_buf_reset(&name);
            rc = hae_buf_append(&name, m->key, m->key_len);
            if (rc == HAE_OK) {
                rc = add_flattened(ev, &name, m, err);
            }
        }
        if (rc == HAE_ENOMEM) {
            hae_err_set(err, rc, "out of memory decoding event");
        }
    }
    hae_buf_free(&name);
    if (rc < 0) {
        hae_event_clear(ev);
    }
    return rc;
}
