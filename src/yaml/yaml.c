/* YAML through libfyaml, copied into a small tree of our own. Sigma rule
 * collections (action: global / reset / repeat) need documents merged,
 * which is simple on this tree and keeps libfyaml out of the rest. */
#include <string.h>

#include <libfyaml.h>

#include "yaml/yaml.h"

static int node_line(struct fy_node *n) {
    struct fy_token *t = fy_node_get_scalar_token(n);
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    return m ? m->line + 1 : 0;
}

typedef struct source {
    hae_arena *arena;
    const char *text; /* the whole input, for the marks of libfyaml's tokens */
    size_t len;
} source;

static ynode *convert(const source *src, struct fy_node *n, int depth, int parent_line);

static ynode *new_node(hae_arena *arena, ynode_type type, int line) {
    ynode *y = hae_arena_alloc(arena, sizeof *y);
    if (!y) return NULL;
    memset(y, 0, sizeof *y);
    y->type = type;
    y->line = line;
    return y;
}

/* A single-quoted scalar with '' escapes, decoded from the source (YAML
 * 1.2 section 7.3.2): libfyaml 0.7.12 misreads two or more escapes in a
 * row (SigmaHQ's `-Join'''')` came out as -Join''') and leaks on long runs
 * of them. Line breaks fold as section 6.5 says: one becomes a space, n
 * become n-1 newlines, and the white space around them goes. */
static char *single_quoted(const source *src, struct fy_node *n, size_t *out_len) {
    struct fy_token *t = fy_node_get_scalar_token(n);
    const struct fy_mark *start = t ? fy_token_start_mark(t) : NULL;
    const struct fy_mark *end = t ? fy_token_end_mark(t) : NULL;
    /* libfyaml's marks of a quoted scalar enclose its text, not the quotes */
    if (!start || !end || end->input_pos > src->len || end->input_pos < start->input_pos ||
        start->input_pos == 0 || src->text[start->input_pos - 1] != '\'') {
        return NULL;
    }
    const char *raw = src->text + start->input_pos;
    size_t raw_len = end->input_pos - start->input_pos;
    if (!memmem(raw, raw_len, "''", 2)) return NULL;
    char *out = hae_arena_alloc(src->arena, raw_len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < raw_len; i++) {
        char c = raw[i];
        if (c == '\'' && i + 1 < raw_len && raw[i + 1] == '\'') {
            out[o++] = '\'';
            i++;
        } else if (c == '\n' || c == '\r') {
            while (o && (out[o - 1] == ' ' || out[o - 1] == '\t')) o--;
            size_t breaks = 0;
            for (; i < raw_len && strchr(" \t\r\n", raw[i]); i++) breaks += raw[i] == '\n';
            i--;
            if (breaks <= 1) out[o++] = ' ';
            for (size_t k = 1; k < breaks; k++) out[o++] = '\n';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* A scalar's text in the arena; keys and values alike go through the
 * source decoder for single quotes (libfyaml also leaks the text it
 * unescapes for a key of five or more '' escapes). NULL on no memory. */
static char *scalar_text(const source *src, struct fy_node *n, size_t *len) {
    *len = 0;
    char *own = n && fy_node_get_style(n) == FYNS_SINGLE_QUOTED ? single_quoted(src, n, len) : NULL;
    if (own) return own;
    const char *text = n ? fy_node_get_scalar(n, len) : NULL;
    return hae_arena_strndup(src->arena, text ? text : "", text ? *len : 0);
}

static ynode *convert_scalar(const source *src, struct fy_node *n, int parent_line) {
    int line = node_line(n);
    ynode *y = new_node(src->arena, Y_SCALAR, line ? line : parent_line);
    if (!y) return NULL;
    size_t len = 0;
    y->text = scalar_text(src, n, &len);
    if (!y->text) return NULL;
    y->len = len;
    /* YAML 1.2 core schema: a plain null, ~ or nothing is null; '' is not. */
    bool plain = !n || fy_node_get_style(n) == FYNS_PLAIN;
    y->is_null = plain && (len == 0 || (len == 1 && y->text[0] == '~') ||
                           (len == 4 && (memcmp(y->text, "null", 4) == 0 ||
                                         memcmp(y->text, "Null", 4) == 0 ||
                                         memcmp(y->text, "NULL", 4) == 0)));
    return y;
}

static ynode *convert_map(const source *src, struct fy_node *n, int depth, int parent_line) {
    hae_arena *arena = src->arena;
    ynode *y = new_node(arena, Y_MAP, parent_line);
    if (!y) return NULL;
    int count = fy_node_mapping_item_count(n);
    if (count > 0) {
        y->pairs = hae_arena_alloc(arena, (size_t)count * sizeof *y->pairs);
        if (!y->pairs) return NULL;
    }
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &iter)) != NULL && y->count < (size_t)count) {
        struct fy_node *key = fy_node_pair_key(pair);
        ypair *p = &y->pairs[y->count];
        if (key && fy_node_get_type(key) != FYNT_SCALAR) return NULL; /* complex keys are not Sigma */
        size_t klen;
        p->key = scalar_text(src, key, &klen);
        p->line = node_line(key);
        if (!p->line) p->line = parent_line;
        if (y->count == 0) y->line = p->line;
        p->value = convert(src, fy_node_pair_value(pair), depth + 1, p->line);
        if (!p->key || !p->value) return NULL;
        y->count++;
    }
    return y;
}

static ynode *convert_seq(const source *src, struct fy_node *n, int depth, int parent_line) {
    hae_arena *arena = src->arena;
    ynode *y = new_node(arena, Y_SEQ, parent_line);
    if (!y) return NULL;
    int count = fy_node_sequence_item_count(n);
    if (count > 0) {
        y->items = hae_arena_alloc(arena, (size_t)count * sizeof(void *));
        if (!y->items) return NULL;
    }
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &iter)) != NULL && y->count < (size_t)count) {
        ynode *c = convert(src, item, depth + 1, parent_line);
        if (!c) return NULL;
        if (y->count == 0 && c->line) y->line = c->line;
        y->items[y->count++] = c;
    }
    return y;
}

static ynode *convert(const source *src, struct fy_node *n, int depth, int parent_line) {
    if (depth > 64) return NULL;
    switch (n ? fy_node_get_type(n) : FYNT_SCALAR) {
    case FYNT_MAPPING: return convert_map(src, n, depth, parent_line);
    case FYNT_SEQUENCE: return convert_seq(src, n, depth, parent_line);
    case FYNT_SCALAR: break;
    }
    return convert_scalar(src, n, parent_line);
}

/* First diagnostic libfyaml collected, as "name:line:col: message". */
static int yaml_error(struct fy_parser *parser, const char *name, hae_err *err) {
    struct fy_diag *diag = fy_parser_get_diag(parser);
    void *iter = NULL;
    struct fy_diag_error *e = diag ? fy_diag_errors_iterate(diag, &iter) : NULL;
    int rc;
    if (e) {
        rc = hae_err_set(err, HAE_EINVAL, "%s:%d:%d: invalid YAML: %s", name, e->line + 1,
                         e->column + 1, e->msg ? e->msg : "syntax error");
    } else {
        rc = hae_err_set(err, HAE_EINVAL, "%s: invalid YAML", name);
    }
    fy_diag_unref(diag);
    return rc;
}

/* Diagnostics are collected, never printed: a library does not write to stderr. */
static void discard_diag(struct fy_diag *diag, void *user, const char *buf, size_t len) {
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

/* Rule files are small (SigmaHQ's largest is under 300 KB); the bound
 * keeps a stray multi-gigabyte file from becoming a parse tree. */
#define YAML_MAX_BYTES (4u << 20)

/* YAML 1.2 section 5.4: CR, LF and CR LF all break lines; libfyaml reads
 * a directive after a lone CR as one that opens a line. */
static size_t line_length(const char *line, size_t left) {
    size_t n = 0;
    while (n < left && line[n] != '\n' && line[n] != '\r') n++;
    return n;
}

static bool is_marker(const char *line, size_t n, char c) {
    return n >= 3 && line[0] == c && line[1] == c && line[2] == c &&
           (n == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
}

/* YAML 1.2 section 6.8 defines %YAML and %TAG; libfyaml loops on some
 * reserved directives with bytes outside ASCII (found by fuzzing), and no
 * Sigma rule uses a directive at all. */
static bool is_plain_directive(const char *line, size_t n) {
    bool known = (n >= 6 && memcmp(line, "%YAML ", 6) == 0) ||
                 (n >= 5 && memcmp(line, "%TAG ", 5) == 0);
    for (size_t i = 0; known && i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        known = (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r';
    }
    return known;
}

/* What libfyaml (0.8) mishandles is refused here, with the file and line:
 *  - bytes that are not UTF-8 (YAML 1.2 section 5.2; rule files are UTF-8):
 *    libfyaml crashes reporting some of them.
 *  - C0 controls other than tab, LF and CR, and DEL: YAML 1.2 section 5.1
 *    allows printable characters only; libfyaml leaks or loops on some.
 *  - a '%' directive line inside a document: YAML 1.2 section 6.8 lets
 *    directives only open a document (before '---', after '...' or at the
 *    start); libfyaml loops on one met inside a block mapping. A '%' line
 *    inside a multi-line scalar is refused too; no Sigma rule has one.
 *  - directives other than well-formed %YAML and %TAG lines. */
static int prescreen(const char *name, const char *text, size_t len, hae_err *err) {
    if (len > YAML_MAX_BYTES) {
        return hae_err_set(err, HAE_EINVAL, "%s: %zu bytes, more than a rule file may hold (%u)",
                           name, len, YAML_MAX_BYTES);
    }
    bool in_document = false;
    int line_no = 1;
    for (size_t at = 0; at < len; line_no++) {
        const char *line = text + at;
        size_t n = line_length(line, len - at);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)line[i];
            if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
                return hae_err_set(err, HAE_EINVAL,
                                   "%s:%d: invalid YAML: control character 0x%02x", name, line_no, c);
            }
        }
        if (!hae_utf8_is_valid(line, n)) {
            return hae_err_set(err, HAE_EINVAL, "%s:%d: invalid YAML: not UTF-8", name, line_no);
        }
        size_t lead = 0;
        while (lead < n && (line[lead] == ' ' || line[lead] == '\t' || line[lead] == '\r')) lead++;
        if (n && line[0] == '%') {
            if (in_document) {
                return hae_err_set(err, HAE_EINVAL,
                                   "%s:%d: invalid YAML: '%%' directive inside a document "
                                   "(directives come before '---')", name, line_no);
            }
            if (!is_plain_directive(line, n)) {
                return hae_err_set(err, HAE_EINVAL,
                                   "%s:%d: unsupported YAML directive (only %%YAML and %%TAG, "
                                   "in printable ASCII)", name, line_no);
            }
        } else if (is_marker(line, n, '.')) {
            in_document = false;
        } else if (lead < n && line[lead] != '#') {
            in_document = true; /* '---' and any content */
        }
        at += n + (at + n + 1 < len && line[n] == '\r' && line[n + 1] == '\n' ? 2 : 1);
    }
    return HAE_OK;
}

int yaml_parse_documents(hae_arena *arena, const char *name, const char *text, size_t len,
                         ydoc **docs, size_t *count, hae_err *err) {
    int rc = prescreen(name, text, len, err);
    if (rc < 0) return rc;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = discard_diag;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    struct fy_parse_cfg cfg = {
        .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_RESOLVE_DOCUMENT,
        .diag = diag,
    };
    struct fy_parser *parser = diag ? fy_parser_create(&cfg) : NULL;
    fy_diag_unref(diag); /* the parser holds its own reference */
    if (!parser) return hae_err_set(err, HAE_ENOMEM, "%s: cannot create a YAML parser", name);
    size_t cap = 4, n = 0;
    ydoc *list = hae_arena_alloc(arena, cap * sizeof *list);
    if (!list || fy_parser_set_string(parser, text, len) != 0) {
        fy_parser_destroy(parser);
        return hae_err_set(err, HAE_ENOMEM, "%s: out of memory", name);
    }
    const source src = {.arena = arena, .text = text, .len = len};
    struct fy_document *doc;
    while ((doc = fy_parse_load_document(parser)) != NULL) {
        struct fy_node *root = fy_document_root(doc);
        if (root) {
            if (n == cap) {
                ydoc *grown = hae_arena_alloc(arena, cap * 2 * sizeof *grown);
                if (!grown) rc = HAE_ENOMEM;
                else memcpy(grown, list, n * sizeof *list);
                list = grown;
                cap *= 2;
            }
            ynode *y = rc == HAE_OK ? convert(&src, root, 0, 1) : NULL;
            if (!y) {
                rc = rc < 0 ? rc : hae_err_set(err, HAE_EINVAL, "%s: YAML too deep or complex key", name);
            } else {
                list[n].root = y;
                list[n].line = y->line ? y->line : 1;
                n++;
            }
        }
        fy_parse_document_destroy(parser, doc);
        if (rc < 0) break;
    }
    if (rc == HAE_OK && fy_parser_get_stream_error(parser)) rc = yaml_error(parser, name, err);
    fy_parser_destroy(parser);
    if (rc == HAE_ENOMEM) return hae_err_set(err, rc, "%s: out of memory", name);
    *docs = list;
    *count = n;
    return rc;
}

const ynode *yaml_get(const ynode *map, const char *key) {
    if (!map || map->type != Y_MAP) return NULL;
    for (size_t i = 0; i < map->count; i++) {
        if (strcmp(map->pairs[i].key, key) == 0) return map->pairs[i].value;
    }
    return NULL;
}

const char *yaml_scalar(const ynode *n) {
    return n && n->type == Y_SCALAR && !n->is_null ? n->text : NULL;
}

/* Deep merge for collections: maps merge key by key, anything else in
 * over replaces base (Sigma 1.0 spec, "Rule Collections"). */
ynode *yaml_merge(hae_arena *arena, const ynode *base, const ynode *over) {
    if (!base) return (ynode *)over;
    if (!over) return (ynode *)base;
    if (base->type != Y_MAP || over->type != Y_MAP) return (ynode *)over;
    ynode *m = new_node(arena, Y_MAP, over->line ? over->line : base->line);
    if (!m) return NULL;
    m->pairs = hae_arena_alloc(arena, (base->count + over->count + 1) * sizeof *m->pairs);
    if (!m->pairs) return NULL;
    for (size_t i = 0; i < base->count; i++) {
        const ynode *o = yaml_get(over, base->pairs[i].key);
        m->pairs[m->count] = base->pairs[i];
        if (o) {
            m->pairs[m->count].value = yaml_merge(arena, base->pairs[i].value, o);
            if (!m->pairs[m->count].value) return NULL;
        }
        m->count++;
    }
    for (size_t i = 0; i < over->count; i++) {
        if (!yaml_get(base, over->pairs[i].key)) m->pairs[m->count++] = over->pairs[i];
    }
    return m;
}
