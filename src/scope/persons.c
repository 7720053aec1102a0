/* Persons, not matches. Every normalised identifier is a node; the
 * identifiers of one record are united (union-find) when the record looks
 * like one person: at most one distinct value of each kind. A record with
 * two resident numbers (a log line about a transfer, a family table) unites
 * nothing, so it can only over-count persons, which for a notice is the
 * safe side. Persons are the connected components. */
#include <stdlib.h>
#include <string.h>

#include "scope/scope_int.h"

typedef struct person_node {
    uint64_t hash;
    uint64_t value;      /* offset of kind, len, bytes in values */
    uint32_t parent;
    uint32_t records;    /* records this component appeared in (at the root) */
    uint16_t kinds;      /* kinds in this component (at the root) */
    uint8_t kind;
} person_node;

struct scope_people {
    pthread_mutex_t lock;
    person_node *nodes;
    size_t count, cap;
    uint64_t *slots;     /* open addressing: hash high 32 bits << 32 | node index + 1 */
    size_t slot_cap;
    hae_buf values;
};

int scope_people_new(scope_people **out) {
    scope_people *p = calloc(1, sizeof *p);
    if (!p) return HAE_ENOMEM;
    p->slot_cap = 1u << 16;
    p->slots = calloc(p->slot_cap, sizeof *p->slots);
    if (!p->slots || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->slots);
        free(p);
        return HAE_ENOMEM;
    }
    *out = p;
    return HAE_OK;
}

void scope_people_free(scope_people *p) {
    if (!p) return;
    pthread_mutex_destroy(&p->lock);
    free(p->nodes);
    free(p->slots);
    hae_buf_free(&p->values);
    free(p);
}

/* FNV-1a over kind and value, then a final avalanche (splitmix64). */
static uint64_t identifier_hash(uint8_t kind, const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull ^ kind;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static int slots_grow(scope_people *p) {
    size_t cap = p->slot_cap * 2;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return HAE_ENOMEM;
    for (size_t i = 0; i < p->count; i++) {
        uint64_t h = p->nodes[i].hash;
        size_t at = h & (cap - 1);
        while (slots[at]) at = (at + 1) & (cap - 1);
        slots[at] = (h >> 32) << 32 | (uint64_t)(i + 1);
    }
    free(p->slots);
    p->slots = slots;
    p->slot_cap = cap;
    return HAE_OK;
}

static bool node_equals(const scope_people *p, const person_node *n, uint8_t kind,
                        const char *s, size_t len) {
    const unsigned char *v = (const unsigned char *)p->values.data + n->value;
    return n->kind == kind && v[0] == len && memcmp(v + 1, s, len) == 0;
}

/* Index of the node for (kind, s), created when absent; negative on OOM. */
static long node_find_or_add(scope_people *p, uint8_t kind, const char *s, size_t len) {
    uint64_t h = identifier_hash(kind, s, len);
    size_t at = h & (p->slot_cap - 1);
    while (p->slots[at]) {
        uint64_t slot = p->slots[at];
        if (slot >> 32 == h >> 32) {
            size_t idx = (size_t)(slot & 0xffffffffu) - 1;
            if (p->nodes[idx].hash == h && node_equals(p, &p->nodes[idx], kind, s, len)) return (long)idx;
        }
        at = (at + 1) & (p->slot_cap - 1);
    }
    if (p->count >= UINT32_MAX - 1) return HAE_ELIMIT;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        person_node *nodes = realloc(p->nodes, cap * sizeof *nodes);
        if (!nodes) return HAE_ENOMEM;
        p->nodes = nodes;
        p->cap = cap;
    }
    uint64_t value = p->values.len;
    unsigned char lenbyte = (unsigned char)len;
    if (hae_buf_append(&p->values, &lenbyte, 1) < 0 || hae_buf_append(&p->values, s, len) < 0)
        return HAE_ENOMEM;
    size_t idx = p->count++;
    p->nodes[idx] = (person_node){.hash = h, .value = value, .parent = (uint32_t)idx,
                                  .kind = kind, .kinds = (uint16_t)(1u << kind)};
    p->slots[at] = (h >> 32) << 32 | (uint64_t)(idx + 1);
    if (p->count * 2 > p->slot_cap && slots_grow(p) < 0) return HAE_ENOMEM;
    return (long)idx;
}

static uint32_t find_root(scope_people *p, uint32_t i) {
    while (p->nodes[i].parent != i) {
        p->nodes[i].parent = p->nodes[p->nodes[i].parent].parent; /* path halving */
        i = p->nodes[i].parent;
    }
    return i;
}

static uint32_t unite(scope_people *p, uint32_t a, uint32_t b) {
    a = find_root(p, a);
    b = find_root(p, b);
    if (a == b) return a;
    if (b < a) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    p->nodes[b].parent = a;
    p->nodes[a].records += p->nodes[b].records;
    p->nodes[a].kinds |= p->nodes[b].kinds;
    return a;
}

int scope_batch_add(scope_batch *b, scope_kind kind, const char *norm, size_t len) {
    if (len > 255) len = 255;
    unsigned char head[2] = {(unsigned char)kind, (unsigned char)len};
    if (hae_buf_append(&b->entries, head, 2) < 0 || hae_buf_append(&b->entries, norm, len) < 0)
        return HAE_ENOMEM;
    return HAE_OK;
}

int scope_batch_end_record(scope_batch *b) {
    b->records++;
    return hae_buf_append_char(&b->entries, (char)0xff);
}

/* One record's identifiers: unite them when no kind holds two values. */
static int merge_record(scope_people *p, const unsigned char *rec, size_t len) {
    enum { MAX_IDS = 64 };
    uint32_t ids[MAX_IDS];
    size_t n = 0;
    bool is_one_person = true;
    for (size_t i = 0; i + 2 <= len && n < MAX_IDS;) {
        uint8_t kind = rec[i], vlen = rec[i + 1];
        long idx = node_find_or_add(p, kind, (const char *)rec + i + 2, vlen);
        if (idx < 0) return (int)idx;
        bool is_dup = false;
        for (size_t k = 0; k < n; k++) {
            if ((uint32_t)idx == ids[k]) is_dup = true;
            else if (p->nodes[ids[k]].kind == kind) is_one_person = false;
        }
        if (!is_dup) ids[n++] = (uint32_t)idx;
        i += 2u + vlen;
    }
    if (n == 0) return HAE_OK;
    if (is_one_person) {
        uint32_t root = ids[0];
        for (size_t k = 1; k < n; k++) root = unite(p, root, ids[k]);
        p->nodes[find_root(p, root)].records++;
    } else {
        for (size_t k = 0; k < n; k++) p->nodes[find_root(p, ids[k])].records++;
    }
    return HAE_OK;
}

int scope_people_merge(scope_people *p, scope_batch *b) {
    int rc = HAE_OK;
    pthread_mutex_lock(&p->lock);
    const unsigned char *e = (const unsigned char *)b->entries.data;
    size_t start = 0;
    for (size_t i = 0; i < b->entries.len && rc == HAE_OK;) {
        if (e[i] == 0xff) {
            rc = merge_record(p, e + start, i - start);
            start = ++i;
        } else {
            i += 2u + e[i + 1];
        }
    }
    pthread_mutex_unlock(&p->lock);
    hae_buf_reset(&b->entries);
    b->records = 0;
    return rc;
}

static int write_person(const scope_people *p, const scope_subject_writer *w, uint64_t number,
                        const person_node *root, const uint64_t *members, size_t count,
                        hae_buf *line) {
    hae_buf_reset(line);
    bool csv = w->format == SCOPE_OUT_CSV;
    char kinds[160] = "";
    for (unsigned k = 0; k < SCOPE_KIND_COUNT; k++) {
        if (!(root->kinds & (1u << k))) continue;
        if (kinds[0]) strcat(kinds, csv ? " " : "\",\"");
        strcat(kinds, scope_kind_name((scope_kind)k));
    }
    for (size_t m = 0; m < count; m++) {
        const person_node *n = &p->nodes[members[m] & 0xffffffffu];
        const unsigned char *v = (const unsigned char *)p->values.data + n->value;
        char hash[65];
        int rc = scope_identifier_hash(w->salt, w->salt_len, (scope_kind)n->kind,
                                       (const char *)v + 1, v[0], hash);
        if (rc < 0) return rc;
        if (csv) {
            rc = hae_buf_printf(line, "%llu,%s,%u,%s,%s", (unsigned long long)number, kinds,
                                root->records, scope_kind_name((scope_kind)n->kind), hash);
            if (rc == HAE_OK && w->reveal) {
                rc = hae_buf_append_char(line, ',');
                if (rc == HAE_OK) rc = scope_csv_field(line, (const char *)v + 1, v[0]);
            }
            if (rc == HAE_OK) rc = hae_buf_append_char(line, '\n');
        } else {
            if (m == 0) {
                rc = hae_buf_printf(line, "{\"person\":%llu,\"kinds\":[\"%s\"],\"records\":%u,"
                                    "\"identifiers\":[", (unsigned long long)number, kinds,
                                    root->records);
            }
            if (rc == HAE_OK) rc = hae_buf_printf(line, "%s{\"kind\":\"%s\",\"hash\":\"%s\"",
                                                  m ? "," : "", scope_kind_name((scope_kind)n->kind), hash);
            if (rc == HAE_OK && w->reveal) {
                rc = hae_buf_append_str(line, ",\"value\":");
                if (rc == HAE_OK) rc = hae_json_append_string(line, (const char *)v + 1, v[0]);
            }
            if (rc == HAE_OK) rc = hae_buf_append_str(line, m + 1 == count ? "}]}\n" : "}");
        }
        if (rc < 0) return rc;
    }
    return fwrite(line->data, 1, line->len, w->out) == line->len ? HAE_OK : HAE_EIO;
}

static int write_header(const scope_subject_writer *w) {
    char salt[2 * 64 + 1];
    scope_hex(w->salt, w->salt_len > 64 ? 64 : w->salt_len, salt);
    int n;
    if (w->format == SCOPE_OUT_CSV) {
        n = fprintf(w->out, "# haetae scan subjects: hash = HMAC-SHA256(salt, \"kind:normalised\"), "
                    "salt=%s\nperson,kinds,records,kind,hash%s\n", salt, w->reveal ? ",value" : "");
    } else {
        n = fprintf(w->out, "{\"haetae_subjects\":1,\"hash\":\"hmac-sha256(salt, kind:normalised)\","
                    "\"salt\":\"%s\",\"revealed\":%s}\n", salt, w->reveal ? "true" : "false");
    }
    return n < 0 ? HAE_EIO : HAE_OK;
}

/* Persons are the roots; without a subjects file nothing needs grouping. */
static void count_persons(scope_people *p, scope_report *r) {
    uint64_t number = 0;
    for (size_t i = 0; i < p->count; i++) {
        if (find_root(p, (uint32_t)i) != i) continue;
        number++;
        for (unsigned k = 0; k < SCOPE_KIND_COUNT; k++) {
            if (p->nodes[i].kinds & (1u << k)) r->persons_with[k]++;
        }
    }
    r->persons = number;
}

int scope_people_finish(scope_people *p, const scope_subject_writer *w, scope_report *r,
                        hae_err *err) {
    count_persons(p, r);
    if (!w || !w->out) return HAE_OK;
    /* each person's identifiers side by side, persons in order of their
     * root: a counting sort by root (roots are the smallest node of their
     * component, so the order is that of first appearance) */
    uint64_t *order = p->count ? calloc(p->count, sizeof *order) : NULL; /* every slot is written below */
    uint32_t *first = p->count ? calloc(p->count + 1, sizeof *first) : NULL;
    if (p->count && (!order || !first)) {
        free(order);
        free(first);
        return hae_err_set(err, HAE_ENOMEM, "out of memory listing persons");
    }
    for (size_t i = 0; i < p->count; i++) {
        uint32_t root = find_root(p, (uint32_t)i);
        p->nodes[i].parent = root; /* the scan is over: compress fully */
        first[root + 1]++;
    }
    for (size_t i = 0; i < p->count; i++) first[i + 1] += first[i];
    for (size_t i = 0; i < p->count; i++) {
        uint32_t root = p->nodes[i].parent;
        order[first[root]++] = (uint64_t)root << 32 | i;
    }
    free(first);
    int rc = write_header(w);
    hae_buf line = {0};
    uint64_t number = 0;
    for (size_t i = 0; i < p->count && rc == HAE_OK;) {
        size_t j = i;
        while (j < p->count && order[j] >> 32 == order[i] >> 32) j++;
        const person_node *root = &p->nodes[order[i] >> 32];
        number++;
        rc = write_person(p, w, number, root, order + i, j - i, &line);
        i = j;
    }
    hae_buf_free(&line);
    free(order);
    if (rc < 0) return hae_err_set(err, rc, "cannot write the subjects file");
    return HAE_OK;
}
