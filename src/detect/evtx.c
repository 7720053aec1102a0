/* Foreign event shapes: Windows event records exported as JSON, and
 * buffers of concatenated (possibly pretty-printed) JSON objects. */
#include <string.h>

#include "detect/detect_int.h"

/* Sigma rules specification, "Field Usage": field names as the log has
 * them with spaces stripped ("Source Name" is SourceName); attributes of
 * System tags are Tag_Attribute (Provider_Name); EventData names are
 * plain (Image). */
static const char *strip_spaces(hae_arena *arena, const char *name) {
    if (!strchr(name, ' ')) return name;
    char *out = hae_arena_strdup(arena, name);
    if (!out) return NULL;
    char *w = out;
    for (const char *r = name; *r; r++) {
        if (*r != ' ') *w++ = *r;
    }
    *w = '\0';
    return out;
}

static const char *windows_name(hae_arena *arena, const char *name) {
    static const char eventdata[] = "Event.EventData.";
    static const char system[] = "Event.System.";
    static const char userdata[] = "Event.UserData.";
    if (strncmp(name, eventdata, sizeof eventdata - 1) == 0) {
        return strip_spaces(arena, name + sizeof eventdata - 1);
    }
    if (strncmp(name, userdata, sizeof userdata - 1) == 0) {
        /* UserData wraps its fields in one element named by the provider */
        const char *dot = strchr(name + sizeof userdata - 1, '.');
        return dot ? strip_spaces(arena, dot + 1) : name;
    }
    if (strncmp(name, system, sizeof system - 1) != 0) return name;
    const char *rest = name + sizeof system - 1;
    const char *attrs = strstr(rest, ".#attributes.");
    if (attrs) {
        size_t tag = (size_t)(attrs - rest);
        const char *attr = attrs + strlen(".#attributes.");
        char *out = hae_arena_alloc(arena, tag + 1 + strlen(attr) + 1);
        if (!out) return NULL;
        memcpy(out, rest, tag);
        out[tag] = '_';
        strcpy(out + tag + 1, attr);
        return out;
    }
    const char *text = strstr(rest, ".#text");
    if (text && text[6] == '\0') return hae_arena_strndup(arena, rest, (size_t)(text - rest));
    return rest;
}

int detect_event_flatten_windows(hae_event *ev, hae_err *err) {
    bool windows = false;
    for (size_t i = 0; i < ev->field_count && !windows; i++) {
        windows = strncmp(ev->fields[i].name, "Event.System.", 13) == 0;
    }
    if (!windows) return HAE_OK;
    for (size_t i = 0; i < ev->field_count; i++) {
        const char *name = windows_name(&ev->arena, ev->fields[i].name);
        if (!name) return hae_err_set(err, HAE_ENOMEM, "out of memory flattening a Windows event");
        ev->fields[i].name = name;
    }
    if (!ev->product) return hae_event_set_source(ev, "windows", ev->category, ev->service);
    return HAE_OK;
}

int detect_json_next_object(const char *buf, size_t size, size_t *offset, size_t *start,
                            size_t *len, hae_err *err) {
    size_t i = *offset;
    while (i < size && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n' ||
                        buf[i] == ',')) {
        i++;
    }
    if (i == size) {
        *offset = i;
        return 0;
    }
    if (buf[i] != '{') {
        *offset = i + 1;
        return hae_err_set(err, HAE_EINVAL, "byte %zu: expected '{', found '%c'", i, buf[i]);
    }
    size_t depth = 0;
    bool in_string = false;
    for (size_t j = i; j < size; j++) {
        char c = buf[j];
        if (in_string) {
            if (c == '\\') j++;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') depth++;
        else if ((c == '}' || c == ']') && --depth == 0) {
            *start = i;
            *len = j + 1 - i;
            *offset = j + 1;
            return 1;
        }
    }
    *offset = size;
    return hae_err_set(err, HAE_EINVAL, "byte %zu: JSON object not closed", i);
}
