/* Records and columns: which record a candidate belongs to (a line, a CSV
 * row, a JSON object on its line, an SQL INSERT tuple) and which column or
 * key labels it. The locator walks each line once, forward, as candidates
 * arrive in offset order, so long lines cost linear time. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scope/scope_int.h"

const char *scope_format_name(scope_format fmt) {
    static const char *const names[] = {"auto", "text", "csv", "jsonl", "sql"};
    return (unsigned)fmt <= SCOPE_FMT_SQL ? names[fmt] : "unknown";
}

void scope_columns_free(scope_columns *c) {
    for (size_t i = 0; i < c->count; i++) free(c->names[i]);
    free(c->names);
    free(c->labels);
    memset(c, 0, sizeof *c);
}

/* Adds name (trimmed of spaces and quoting) with labels from label_text. */
static int columns_push(scope_columns *c, const char *name, size_t len, const char *label_text,
                        size_t label_len) {
    while (len > 0 && strchr(" \t\r\n\"'`[", name[0])) name++, len--;
    while (len > 0 && strchr(" \t\r\n\"'`]", name[len - 1])) len--;
    char **names = realloc(c->names, (c->count + 1) * sizeof *names);
    if (!names) return HAE_ENOMEM;
    c->names = names;
    uint32_t *labels = realloc(c->labels, (c->count + 1) * sizeof *labels);
    if (!labels) return HAE_ENOMEM;
    c->labels = labels;
    char *copy = strndup(name, len);
    if (!copy) return HAE_ENOMEM;
    c->names[c->count] = copy;
    c->labels[c->count] = scope_label_kinds(label_text, label_len);
    c->count++;
    return HAE_OK;
}

int scope_columns_parse_csv(scope_columns *c, const char *line, size_t len, char sep) {
    bool quote = false;
    size_t field = 0;
    for (size_t i = 0; i <= len && c->count < 4096; i++) {
        if (i < len && line[i] == '"') quote = !quote;
        if (i == len || (!quote && (line[i] == sep || line[i] == '\n'))) {
            int rc = columns_push(c, line + field, i - field, line + field, i - field);
            if (rc < 0) return rc;
            field = i + 1;
            if (i < len && line[i] == '\n') break;
        }
    }
    return HAE_OK;
}

static bool starts_word(const char *s, size_t len, const char *word) {
    size_t wl = strlen(word);
    return len >= wl && strncasecmp(s, word, wl) == 0 &&
           (len == wl || !(isalnum((unsigned char)s[wl]) || s[wl] == '_'));
}

/* A column list "(a, b)" or a CREATE TABLE body "(a int COMMENT '주민번호',
 * PRIMARY KEY (a))": split at top-level commas; the first word of each
 * definition is the column, the whole definition feeds the labels. */
int scope_columns_parse_sql(scope_columns *c, const char *s, size_t len, bool is_create) {
    size_t i = 0;
    while (i < len && s[i] != '(') i++;
    int depth = 0;
    char quote = 0;
    size_t item = i + 1;
    for (; i < len && c->count < 4096; i++) {
        char ch = s[i];
        if (quote) {
            if (ch == '\\') i++;
            else if (ch == quote) quote = 0;
            continue;
        }
        if (ch == '\'') quote = ch;
        else if (ch == '(') depth++;
        else if ((ch == ',' && depth == 1) || (ch == ')' && depth == 1)) {
            const char *def = s + item;
            size_t def_len = i - item;
            while (def_len && isspace((unsigned char)*def)) def++, def_len--;
            size_t name_len = 0;
            if (def_len && strchr("`\"[", def[0])) {
                const char *close = memchr(def + 1, def[0] == '[' ? ']' : def[0], def_len - 1);
                name_len = close ? (size_t)(close - def) + 1 : def_len;
            } else {
                while (name_len < def_len && !isspace((unsigned char)def[name_len])) name_len++;
            }
            bool is_constraint = is_create && (starts_word(def, def_len, "PRIMARY") ||
                starts_word(def, def_len, "KEY") || starts_word(def, def_len, "UNIQUE") ||
                starts_word(def, def_len, "CONSTRAINT") || starts_word(def, def_len, "INDEX") ||
                starts_word(def, def_len, "FOREIGN") || starts_word(def, def_len, "CHECK") ||
                starts_word(def, def_len, "FULLTEXT"));
            if (name_len && !is_constraint) {
                int rc = columns_push(c, def, name_len, def, def_len);
                if (rc < 0) return rc;
            }
            item = i + 1;
            if (ch == ')') return HAE_OK;
        } else if (ch == ')') depth--;
    }
    return HAE_OK;
}

void scope_tables_free(scope_tables *t) {
    for (size_t i = 0; i < t->count; i++) {
        free(t->names[i]);
        scope_columns_free(&t->columns[i]);
    }
    free(t->names);
    free(t->columns);
    memset(t, 0, sizeof *t);
}

/* Reads a table name (quoted or schema-qualified) at s; returns its length
 * and sets *name to the bare last part. */
static size_t sql_table_name(const char *s, size_t len, const char **name, size_t *name_len) {
    size_t i = 0;
    while (i < len && isspace((unsigned char)s[i])) i++;
    size_t start = i;
    while (i < len && !isspace((unsigned char)s[i]) && s[i] != '(') i++;
    const char *n = s + start;
    size_t nl = i - start;
    const char *dot = nl ? memrchr(n, '.', nl) : NULL;
    if (dot) {
        nl -= (size_t)(dot + 1 - n);
        n = dot + 1;
    }
    while (nl && strchr("`\"[", n[0])) n++, nl--;
    while (nl && strchr("`\"]", n[nl - 1])) nl--;
    *name = n;
    *name_len = nl;
    return i;
}

static const scope_columns *tables_find(const scope_tables *t, const char *name, size_t len) {
    for (size_t i = t ? t->count : 0; i-- > 0;) {
        if (strlen(t->names[i]) == len && strncasecmp(t->names[i], name, len) == 0)
            return &t->columns[i];
    }
    return NULL;
}

int scope_tables_learn(scope_tables *t, const char *s, size_t len) {
    if (len < 12 || t->count >= 1024) return HAE_OK;
    size_t i = 12;
    while (i < len && isspace((unsigned char)s[i])) i++;
    if (starts_word(s + i, len - i, "IF")) {
        const char *exists = memmem(s + i, len - i > 32 ? 32 : len - i, "EXISTS", 6);
        if (!exists) exists = memmem(s + i, len - i > 32 ? 32 : len - i, "exists", 6);
        if (exists) i = (size_t)(exists - s) + 6;
    }
    const char *name;
    size_t name_len;
    i += sql_table_name(s + i, len - i, &name, &name_len);
    if (name_len == 0) return HAE_OK;
    scope_columns cols = {0};
    int rc = scope_columns_parse_sql(&cols, s + i, len - i, true);
    char *copy = rc == HAE_OK ? strndup(name, name_len) : NULL;
    char **names = copy ? realloc(t->names, (t->count + 1) * sizeof *names) : NULL;
    if (names) t->names = names;
    scope_columns *all = names ? realloc(t->columns, (t->count + 1) * sizeof *all) : NULL;
    if (!all) {
        free(copy);
        scope_columns_free(&cols);
        return HAE_ENOMEM;
    }
    t->columns = all;
    t->names[t->count] = copy;
    t->columns[t->count] = cols;
    t->count++;
    return HAE_OK;
}

void scope_locator_init(scope_locator *l, scope_format fmt, char sep,
                        const scope_columns *header, scope_tables *tables) {
    memset(l, 0, sizeof *l);
    l->format = fmt;
    l->sep = sep ? sep : ',';
    l->header = header;
    l->tables = tables;
}

void scope_locator_reset(scope_locator *l) {
    l->walk_active = false;
    scope_columns_free(&l->insert_columns);
}

void scope_locator_free(scope_locator *l) { scope_columns_free(&l->insert_columns); }

/* Sets up the SQL walk of an INSERT line: columns from its own list or the
 * schema seen earlier, walking from just after VALUES. */
static void sql_begin_insert(scope_locator *l, const char *buf, size_t ls, size_t le) {
    const char *s = buf + ls;
    size_t len = le - ls;
    l->walk_columns = NULL;
    const char *into = NULL;
    for (size_t i = 0; i + 4 <= len && i < 64; i++) {
        if (strncasecmp(s + i, "INTO", 4) == 0) {
            into = s + i + 4;
            break;
        }
    }
    if (!into) return;
    const char *name;
    size_t name_len;
    size_t after = (size_t)(into - s) + sql_table_name(into, len - (size_t)(into - s), &name, &name_len);
    size_t i = after;
    while (i < len && isspace((unsigned char)s[i])) i++;
    if (i < len && s[i] == '(') {
        scope_columns_free(&l->insert_columns);
        if (scope_columns_parse_sql(&l->insert_columns, s + i, len - i, false) == HAE_OK)
            l->walk_columns = &l->insert_columns;
    } else {
        l->walk_columns = tables_find(l->tables, name, name_len);
    }
    for (; i + 6 <= len; i++) {
        if (strncasecmp(s + i, "VALUES", 6) == 0) {
            l->walk_pos = ls + i + 6;
            return;
        }
    }
    l->walk_pos = le;
}

/* Starts walking the current line from its beginning. */
static void restart_walk(scope_locator *l, const char *buf) {
    l->walk_pos = l->line_start;
    l->walk_field = 0;
    l->walk_quote = false;
    l->walk_depth = 0;
    l->walk_tuple = l->line_start;
    l->walk_is_insert = false;
    l->walk_columns = NULL;
    if (l->format != SCOPE_FMT_SQL) return;
    size_t i = l->line_start;
    while (i < l->line_end && isspace((unsigned char)buf[i])) i++;
    if (starts_word(buf + i, l->line_end - i, "INSERT") ||
        starts_word(buf + i, l->line_end - i, "REPLACE")) {
        l->walk_is_insert = true;
        sql_begin_insert(l, buf, l->line_start, l->line_end);
    } else if (i < l->line_end && buf[i] == '(') {
        l->walk_is_insert = true; /* a tuple of a multi-line INSERT */
    }
}

/* Finds the line holding start; candidates arrive in increasing order, so
 * the search back starts at the end of the previous line when it can. */
static void new_line(scope_locator *l, const char *buf, size_t len, size_t start) {
    size_t lo = (l->walk_active && start >= l->line_end) ? l->line_end : 0;
    const char *nl = start > lo ? memrchr(buf + lo, '\n', start - lo) : NULL;
    l->line_start = nl ? (size_t)(nl - buf) + 1 : lo;
    const char *end = memchr(buf + start, '\n', len - start);
    l->line_end = end ? (size_t)(end - buf) : len;
    l->walk_active = true;
    restart_walk(l, buf);
}

static void walk_csv(scope_locator *l, const char *buf, size_t to) {
    for (size_t i = l->walk_pos; i < to; i++) {
        char c = buf[i];
        if (c == '"') l->walk_quote = !l->walk_quote;
        else if (c == l->sep && !l->walk_quote) l->walk_field++;
    }
    l->walk_pos = to;
}

/* SQL string literals: '' doubles a quote, MySQL also escapes with \. */
static void walk_sql(scope_locator *l, const char *buf, size_t to) {
    size_t i = l->walk_pos;
    for (; i < to; i++) {
        char c = buf[i];
        if (l->walk_quote) {
            if (c == '\\') i++;
            else if (c == '\'') l->walk_quote = false;
            continue;
        }
        if (c == '\'') {
            l->walk_quote = true;
        } else if (c == '(') {
            if (++l->walk_depth == 1) {
                l->walk_tuple = i;
                l->walk_field = 0;
            }
        } else if (c == ')') {
            l->walk_depth--;
        } else if (c == ',' && l->walk_depth == 1) {
            l->walk_field++;
        }
    }
    l->walk_pos = i;
}

/* The key of the JSON member whose value holds start: back to the opening
 * quote of the value (or to ':' for a number), then the key before ':'. */
static void json_key(const char *buf, size_t ls, size_t start, scope_place *out) {
    size_t floor = start - ls > 4096 ? start - 4096 : ls;
    size_t p = start;
    while (p > floor && !strchr("\":,{[", buf[p - 1])) p--;
    if (p <= floor) return;
    if (buf[p - 1] == '"') p--;
    while (p > floor && isspace((unsigned char)buf[p - 1])) p--;
    if (p <= floor || buf[p - 1] != ':') return;
    p--;
    while (p > floor && isspace((unsigned char)buf[p - 1])) p--;
    if (p <= floor || buf[p - 1] != '"') return;
    size_t key_end = --p;
    while (p > floor && buf[p - 1] != '"') p--;
    if (p <= floor) return;
    out->column = buf + p;
    out->column_len = key_end - p;
    out->column_labels = scope_label_kinds(out->column, out->column_len);
}

void scope_locate(scope_locator *l, const char *buf, size_t len, size_t start, scope_place *out) {
    memset(out, 0, sizeof *out);
    if (!l->walk_active || start < l->line_start || start >= l->line_end) {
        new_line(l, buf, len, start);
    } else if (start < l->walk_pos) {
        restart_walk(l, buf); /* an earlier-starting candidate on the same line */
    }
    out->record = l->line_start;
    switch (l->format) {
    case SCOPE_FMT_CSV:
        walk_csv(l, buf, start);
        if (l->header && l->walk_field < l->header->count) {
            out->column = l->header->names[l->walk_field];
            out->column_len = strlen(out->column);
            out->column_labels = l->header->labels[l->walk_field];
        }
        break;
    case SCOPE_FMT_JSONL: json_key(buf, l->line_start, start, out); break;
    case SCOPE_FMT_SQL:
        if (!l->walk_is_insert) break;
        walk_sql(l, buf, start);
        if (l->walk_depth >= 1) out->record = l->walk_tuple;
        if (l->walk_columns && l->walk_field < l->walk_columns->count) {
            out->column = l->walk_columns->names[l->walk_field];
            out->column_len = strlen(out->column);
            out->column_labels = l->walk_columns->labels[l->walk_field];
        }
        break;
    default: break;
    }
}

static bool ends_with(const char *name, size_t len, const char *suffix) {
    size_t sl = strlen(suffix);
    return len >= sl && strncasecmp(name + len - sl, suffix, sl) == 0;
}

static size_t count_in_line(const char *s, size_t len, char c, size_t *line_len) {
    size_t n = 0, i = 0;
    bool quote = false;
    for (; i < len && s[i] != '\n'; i++) {
        if (s[i] == '"') quote = !quote;
        else if (s[i] == c && !quote) n++;
    }
    *line_len = i < len ? i + 1 : i;
    return n;
}

scope_format scope_format_sniff(const char *name, const char *data, size_t len, char *sep) {
    *sep = ',';
    size_t nl = name ? strlen(name) : 0;
    static const char *const packs[] = {".gz", ".zst", ".zstd", ".tgz"};
    for (size_t i = 0; i < sizeof packs / sizeof packs[0]; i++) {
        if (ends_with(name, nl, packs[i])) nl -= strlen(packs[i]);
    }
    if (ends_with(name, nl, ".csv")) return SCOPE_FMT_CSV;
    if (ends_with(name, nl, ".tsv") || ends_with(name, nl, ".tab")) {
        *sep = '\t';
        return SCOPE_FMT_CSV;
    }
    if (ends_with(name, nl, ".jsonl") || ends_with(name, nl, ".ndjson") || ends_with(name, nl, ".json"))
        return SCOPE_FMT_JSONL;
    if (ends_with(name, nl, ".sql")) return SCOPE_FMT_SQL;
    if (ends_with(name, nl, ".log") || ends_with(name, nl, ".txt")) return SCOPE_FMT_TEXT;
    size_t i = 0;
    while (i < len && isspace((unsigned char)data[i])) i++;
    if (i < len && data[i] == '{') return SCOPE_FMT_JSONL;
    size_t probe = len < 8192 ? len : 8192;
    if (memmem(data, probe, "INSERT INTO", 11) || memmem(data, probe, "CREATE TABLE", 12) ||
        memmem(data, probe, "-- MySQL dump", 13) || memmem(data, probe, "PostgreSQL database dump", 24))
        return SCOPE_FMT_SQL;
    const char seps[] = {'\t', ',', ';', '|'};
    for (size_t k = 0; k < sizeof seps; k++) {
        size_t first_len, second_len;
        size_t a = count_in_line(data, len, seps[k], &first_len);
        if (a == 0 || first_len >= len) continue;
        size_t b = count_in_line(data + first_len, len - first_len, seps[k], &second_len);
        if (a == b) {
            *sep = seps[k];
            return SCOPE_FMT_CSV;
        }
    }
    return SCOPE_FMT_TEXT;
}
