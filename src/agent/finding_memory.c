/* Differential reporting of periodic scans (see agent_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"

/* FNV-1a over the fields, which exclude id and time: the content of a
 * finding, not the moment it was seen. */
uint64_t agent_finding_hash(const hae_event *ev) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < ev->field_count; i++) {
        const hae_field *f = &ev->fields[i];
        for (const char *p = f->name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (size_t j = 0; j < f->value_len; j++) {
            h = (h ^ (unsigned char)f->value[j]) * 1099511628211ULL;
        }
        h = (h ^ 0xfe) * 1099511628211ULL;
    }
    return h;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static bool seen_before(const finding_memory *m, uint64_t h) {
    return m->previous_count &&
           bsearch(&h, m->previous, m->previous_count, sizeof h, compare_u64) != NULL;
}

static int filter_emit(void *ctx, const hae_event *ev, hae_err *err) {
    finding_filter *f = ctx;
    finding_memory *m = f->memory;
    uint64_t h = agent_finding_hash(ev);
    if (m->current_count == m->current_cap) {
        size_t cap = m->current_cap ? m->current_cap * 2 : 64;
        uint64_t *grown = realloc(m->current, cap * sizeof *grown);
        if (!grown) return hae_err_set(err, HAE_ENOMEM, "agent: out of memory");
        m->current = grown;
        m->current_cap = cap;
    }
    m->current[m->current_count++] = h;
    return seen_before(m, h) ? HAE_OK : hae_emit(f->next, ev, err);
}

hae_sink finding_filter_sink(finding_filter *f) {
    return (hae_sink){.emit = filter_emit, .ctx = f};
}

int finding_memory_end_scan(finding_memory *m) {
    if (m->current_count > 1) {
        qsort(m->current, m->current_count, sizeof *m->current, compare_u64);
    }
    uint64_t *old = m->previous;
    m->previous = m->current;
    m->previous_count = m->current_count;
    free(old);
    m->current = NULL;
    m->current_count = m->current_cap = 0;
    return HAE_OK;
}

void finding_memory_free(finding_memory *m) {
    free(m->previous);
    free(m->current);
    memset(m, 0, sizeof *m);
}
