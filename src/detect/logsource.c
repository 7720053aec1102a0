/* Logsource attributes (product, category, service) as small numbers, so
 * the prefilter compares integers instead of strings and can tell, once
 * per kind of event, which databases and rules could apply at all.
 *
 * Every value some rule names gets an id from LOGSOURCE_FIRST on; an event
 * value no rule names is LOGSOURCE_OTHER (it differs from every rule's),
 * an absent one LOGSOURCE_ANY. Values compare ASCII case-insensitively,
 * as match_logsource does (the reference). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "detect/detect_int.h"

static const char *rule_attribute(const rule *r, int k) {
    return k == 0 ? r->product : k == 1 ? r->category : r->service;
}

static const char *event_attribute(const hae_event *ev, int k) {
    return k == 0 ? ev->product : k == 1 ? ev->category : ev->service;
}

/* The id of value among the names of attribute k, or LOGSOURCE_OTHER. */
static uint16_t lookup(const logsource_index *x, int k, const char *value) {
    size_t len = strlen(value);
    for (size_t i = 0; i < x->count[k]; i++) {
        if (x->lens[k][i] == len && strcasecmp(x->values[k][i], value) == 0) {
            return (uint16_t)(LOGSOURCE_FIRST + i);
        }
    }
    return LOGSOURCE_OTHER;
}

static int add_value(logsource_index *x, int k, const char *value, uint16_t *id) {
    *id = lookup(x, k, value);
    if (*id != LOGSOURCE_OTHER) return HAE_OK;
    if (x->count[k] + LOGSOURCE_FIRST >= UINT16_MAX) return HAE_ELIMIT;
    const char **values = realloc(x->values[k], (x->count[k] + 1) * sizeof *values);
    if (!values) return HAE_ENOMEM;
    x->values[k] = values;
    size_t *lens = realloc(x->lens[k], (x->count[k] + 1) * sizeof *lens);
    if (!lens) return HAE_ENOMEM;
    x->lens[k] = lens;
    values[x->count[k]] = value; /* the rule's string, in the engine's arena */
    lens[x->count[k]] = strlen(value);
    *id = (uint16_t)(LOGSOURCE_FIRST + x->count[k]++);
    return HAE_OK;
}

int logsource_index_build(logsource_index *x, detect_engine *e) {
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < e->rule_count; i++) {
        rule *r = e->rules[i];
        for (int k = 0; k < 3; k++) {
            const char *value = rule_attribute(r, k);
            r->logsource[k] = LOGSOURCE_ANY;
            if (!value) continue;
            int rc = add_value(x, k, value, &r->logsource[k]);
            if (rc < 0) return rc;
        }
    }
    return HAE_OK;
}

void logsource_index_free(logsource_index *x) {
    for (int k = 0; k < 3; k++) {
        free(x->values[k]);
        free(x->lens[k]);
    }
    memset(x, 0, sizeof *x);
}

void logsource_event_ids(const logsource_index *x, const hae_event *ev, uint16_t out[3]) {
    for (int k = 0; k < 3; k++) {
        const char *value = event_attribute(ev, k);
        out[k] = value ? lookup(x, k, value) : LOGSOURCE_ANY;
    }
}
