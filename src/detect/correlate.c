/* Correlation rules (Sigma correlation rules specification v2): event_count,
 * value_count, temporal and temporal_ordered over matches of base rules,
 * grouped by field values, within a sliding timespan.
 *
 * State is one group per (correlation, group-by values), in a hash table
 * with an LRU list. The number of groups is bounded (options); when full the
 * least recently updated group is evicted and counted in the stats, so a
 * flood of distinct keys costs memory once, never silently. A correlation
 * fires when its condition holds after an event, then its group restarts,
 * so one burst yields one alert. A correlation may take another's firings
 * as its input (brute force, then a success from the same source). Events
 * must come in time order. */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

#define VALUES_MAX 4096   /* distinct values / timestamps kept per group */

typedef struct stamp {
    int64_t t;
    char *value;          /* value_count: the distinct value; else NULL */
} stamp;

typedef struct group {
    struct group *next_hash;
    struct group *lru_prev, *lru_next;
    uint32_t corr;        /* rule index of the correlation */
    char *key;            /* group-by values joined with '|' */
    uint64_t hash;
    stamp *stamps;        /* time order */
    size_t count, cap;
    int64_t *rule_time;   /* temporal: last match per referenced rule (0 none) */
    int64_t *chain_start; /* temporal_ordered: start of the chain through rule k */
} group;

struct correlator {
    group **buckets;
    size_t bucket_count;
    group *lru_head, *lru_tail;  /* head: most recent */
    size_t groups;
};

int correlator_new(detect_engine *e, correlator **out, hae_err *err) {
    correlator *c = calloc(1, sizeof *c);
    size_t n = 1024;
    while (n < e->options.correlation_max_groups / 2 && n < (1u << 22)) n *= 2;
    if (c) c->buckets = calloc(n, sizeof(void *));
    if (!c || !c->buckets) {
        free(c);
        return hae_err_set(err, HAE_ENOMEM, "out of memory for correlation state");
    }
    c->bucket_count = n;
    *out = c;
    return HAE_OK;
}

static void group_free(group *g) {
    for (size_t i = 0; i < g->count; i++) free(g->stamps[i].value);
    free(g->stamps);
    free(g->rule_time);
    free(g->chain_start);
    free(g->key);
    free(g);
}

void correlator_free(correlator *c) {
    if (!c) return;
    for (group *g = c->lru_head; g;) {
        group *next = g->lru_next;
        group_free(g);
        g = next;
    }
    free(c->buckets);
    free(c);
}

static uint64_t hash_key(uint32_t corr, const char *key) {
    uint64_t h = 1469598103934665603ULL ^ corr;
    for (const char *s = key; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void lru_unlink(correlator *c, group *g) {
    if (g->lru_prev) g->lru_prev->lru_next = g->lru_next;
    else c->lru_head = g->lru_next;
    if (g->lru_next) g->lru_next->lru_prev = g->lru_prev;
    else c->lru_tail = g->lru_prev;
    g->lru_prev = g->lru_next = NULL;
}

static void lru_push_front(correlator *c, group *g) {
    g->lru_next = c->lru_head;
    if (c->lru_head) c->lru_head->lru_prev = g;
    c->lru_head = g;
    if (!c->lru_tail) c->lru_tail = g;
}

static void group_remove(correlator *c, group *g) {
    group **slot = &c->buckets[g->hash & (c->bucket_count - 1)];
    while (*slot != g) slot = &(*slot)->next_hash;
    *slot = g->next_hash;
    lru_unlink(c, g);
    group_free(g);
    c->groups--;
}

static group *group_get(detect_engine *e, uint32_t corr, const char *key, size_t refs) {
    correlator *c = e->correlator;
    uint64_t h = hash_key(corr, key);
    for (group *g = c->buckets[h & (c->bucket_count - 1)]; g; g = g->next_hash) {
        if (g->hash == h && g->corr == corr && strcmp(g->key, key) == 0) {
            lru_unlink(c, g);
            lru_push_front(c, g);
            return g;
        }
    }
    if (c->groups >= e->options.correlation_max_groups && c->lru_tail) {
        group_remove(c, c->lru_tail);
        e->stats.correlation_evicted++;
    }
    group *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->key = strdup(key);
    g->rule_time = calloc(refs, sizeof *g->rule_time);
    g->chain_start = calloc(refs, sizeof *g->chain_start);
    if (!g->key || !g->rule_time || !g->chain_start) {
        group_free(g);
        return NULL;
    }
    g->corr = corr;
    g->hash = h;
    g->next_hash = c->buckets[h & (c->bucket_count - 1)];
    c->buckets[h & (c->bucket_count - 1)] = g;
    lru_push_front(c, g);
    c->groups++;
    return g;
}

/* Field that carries alias/group-by name `field` for base rule `base`. */
static const char *field_for(const corr_def *c, const rule *base, const char *field) {
    for (size_t i = 0; i < c->alias_count; i++) {
        const corr_alias *a = &c->aliases[i];
        if (strcmp(a->name, field) != 0) continue;
        for (size_t k = 0; k < a->count; k++) {
            if ((base->info.name && strcmp(a->rule_refs[k], base->info.name) == 0) ||
                strcmp(a->rule_refs[k], base->info.id) == 0) {
                return a->fields[k];
            }
        }
    }
    return field;
}

static int group_key(const corr_def *c, const rule *base, const hae_event *ev, hae_buf *key) {
    hae_buf_reset(key);
    if (hae_buf_append_str(key, "") < 0) return HAE_ENOMEM;
    for (size_t i = 0; i < c->group_by_count; i++) {
        const char *v = hae_event_get_str(ev, field_for(c, base, c->group_by[i]));
        if ((i && hae_buf_append_char(key, '|') < 0) || hae_buf_append_str(key, v ? v : "") < 0) {
            return HAE_ENOMEM;
        }
    }
    return HAE_OK;
}

static void expire(group *g, int64_t now, int64_t span) {
    size_t drop = 0;
    while (drop < g->count && now - g->stamps[drop].t > span) free(g->stamps[drop++].value);
    if (drop) {
        memmove(g->stamps, g->stamps + drop, (g->count - drop) * sizeof *g->stamps);
        g->count -= drop;
    }
}

static int add_stamp(group *g, int64_t t, const char *value) {
    if (value) {
        for (size_t i = 0; i < g->count; i++) {
            if (strcmp(g->stamps[i].value, value) == 0) {
                /* keep each value once, at its latest time */
                char *v = g->stamps[i].value;
                memmove(g->stamps + i, g->stamps + i + 1, (g->count - i - 1) * sizeof *g->stamps);
                g->stamps[g->count - 1] = (stamp){.t = t, .value = v};
                return HAE_OK;
            }
        }
    }
    if (g->count == VALUES_MAX) {
        free(g->stamps[0].value);
        memmove(g->stamps, g->stamps + 1, (g->count - 1) * sizeof *g->stamps);
        g->count--;
    }
    if (g->count == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        stamp *grown = realloc(g->stamps, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        g->stamps = grown;
        g->cap = cap;
    }
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy) return HAE_ENOMEM;
    g->stamps[g->count++] = (stamp){.t = t, .value = copy};
    return HAE_OK;
}

static size_t ref_index(const corr_def *c, const rule *base) {
    for (size_t k = 0; k < c->rule_count; k++) {
        if (c->rules[k] == base) return k;
    }
    return 0;
}

/* Updates g with base's match at t; returns the count the condition reads. */
static int update(const corr_def *c, group *g, const rule *base, const hae_event *ev, int64_t t,
                  uint64_t *count, int64_t *first) {
    expire(g, t, c->timespan_ns);
    size_t k = ref_index(c, base);
    switch (c->type) {
    case CORR_EVENT_COUNT:
    case CORR_VALUE_COUNT: {
        const char *value = NULL;
        if (c->type == CORR_VALUE_COUNT) {
            value = hae_event_get_str(ev, field_for(c, base, c->value_field));
            if (!value) break; /* no value: nothing to count */
        }
        if (add_stamp(g, t, value) < 0) return HAE_ENOMEM;
        break;
    }
    case CORR_TEMPORAL:
        g->rule_time[k] = t;
        break;
    case CORR_TEMPORAL_ORDERED:
        /* rule k extends the chain when rule k-1 completed first, in time */
        if (k == 0) {
            g->chain_start[0] = t;
            g->rule_time[0] = t;
        } else if (g->rule_time[k - 1] && t - g->chain_start[k - 1] <= c->timespan_ns) {
            g->chain_start[k] = g->chain_start[k - 1];
            g->rule_time[k] = t;
        }
        break;
    }
    *first = t;
    if (c->type == CORR_EVENT_COUNT || c->type == CORR_VALUE_COUNT) {
        *count = g->count;
        if (g->count) *first = g->stamps[0].t;
    } else {
        *count = 0;
        for (size_t i = 0; i < c->rule_count; i++) {
            bool live = g->rule_time[i] && t - g->rule_time[i] <= c->timespan_ns;
            if (c->type == CORR_TEMPORAL_ORDERED) {
                live = live && t - g->chain_start[i] <= c->timespan_ns;
            }
            if (live) {
                (*count)++;
                if (g->rule_time[i] < *first) *first = g->rule_time[i];
            }
        }
        if (c->type == CORR_TEMPORAL_ORDERED) {
            size_t last = c->rule_count - 1;
            bool done = g->rule_time[last] == t && t - g->chain_start[last] <= c->timespan_ns;
            *count = done ? c->rule_count : 0;
            if (done) *first = g->chain_start[last];
        }
    }
    return HAE_OK;
}

int correlator_feed(detect_engine *e, const rule *base, const hae_event *ev, detect_hit_fn on_hit,
                    void *ctx, hae_err *err) {
    int64_t t = ev->time_ns ? ev->time_ns : hae_time_now_ns();
    hae_buf key = {0};
    int rc = HAE_OK;
    for (size_t u = 0; u < base->corr_user_count && rc == HAE_OK; u++) {
        const rule *cr = e->rules[base->corr_users[u]];
        const corr_def *c = cr->corr;
        if (group_key(c, base, ev, &key) < 0) {
            rc = hae_err_set(err, HAE_ENOMEM, "out of memory in correlation");
            break;
        }
        group *g = group_get(e, cr->index, key.data, c->rule_count);
        uint64_t count = 0;
        int64_t first = t;
        if (!g || update(c, g, base, ev, t, &count, &first) < 0) {
            rc = hae_err_set(err, HAE_ENOMEM, "out of memory in correlation");
            break;
        }
        if (count == 0 || !pattern_number_compare(c->op, (double)count, c->threshold)) continue;
        detect_hit hit = {.rule = &cr->info, .event = ev, .group = key.data, .count = count,
                          .first_ns = first, .last_ns = t};
        e->stats.hits++;
        if (cr->info.generates) rc = on_hit(ctx, &hit, err);
        group_remove(e->correlator, g); /* one alert per burst: start counting again */
        /* a correlation of correlations sees this firing as one match, at the
         * event that completed it; resolution bounded the depth */
        if (rc == HAE_OK && cr->corr_user_count) rc = correlator_feed(e, cr, ev, on_hit, ctx, err);
    }
    e->stats.correlation_groups = e->correlator->groups;
    hae_buf_free(&key);
    return rc;
}
