/* JSON (RFC 8259): byte-exact string escaping, a small DOM parser into an
 * arena, and the JSON lines codec for events. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

enum { JSON_MAX_DEPTH = 64 };

/* ---- writing --------------------------------------------------------- */

/* RFC 3629 section 4: the well-formed byte sequences. */
size_t hae_utf8_sequence_length(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        if (c == 0xED) hi = 0x9F;      /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;      /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return n;
}

bool hae_utf8_is_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = hae_utf8_sequence_length(p + i, len - i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

int hae_json_append_string(hae_buf *out, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    int rc = hae_buf_reserve(out, len + 2);
    if (rc < 0) {
        return rc;
    }
    rc = hae_buf_append_char(out, '"');
    size_t run = 0; /* bytes copied verbatim in one append */
    for (size_t i = 0; i < len && rc == HAE_OK;) {
        unsigned char c = p[i];
        size_t n = hae_utf8_sequence_length(p + i, len - i);
        bool verbatim = n > 1 || (n == 1 && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f);
        if (verbatim) {
            run += n;
            i += n;
            continue;
        }
        rc = hae_buf_append(out, p + i - run, run);
        run = 0;
        char esc[7] = {'\\', 0};
        size_t esc_len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            /* control character, or a byte outside valid UTF-8: the latter
             * becomes a lone low surrogate U+DC80..U+DCFF (surrogateescape) */
            esc[1] = 'u';
            esc[2] = c < 0x80 ? '0' : 'd';
            esc[3] = c < 0x80 ? '0' : 'c';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
        }
        if (rc == HAE_OK) {
            rc = hae_buf_append(out, esc, esc_len);
        }
        i++;
    }
    if (rc == HAE_OK) {
        rc = hae_buf_append(out, p + len - run, run);
    }
    if (rc == HAE_OK) {
        rc = hae_buf_append_char(out, '"');
    }
    return rc;
}

/* ---- parsing --------------------------------------------------------- */

typedef struct json_parser {
    const char *s;
    size_t len;
    size_t pos;
    hae_arena *arena;
    hae_err *err;
    hae_buf scratch; /* decoded string bytes before they move to the arena */
} json_parser;

static int parse_fail(json_parser *p, const char *what) {
    return hae_err_set(p->err, HAE_EINVAL, "JSON: %s at byte %zu", what, p->pos);
}

static void skip_space(json_parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        p->pos++;
    }
}

static int hex4(json_parser *p, unsigned *out) {
    if (p->len - p->pos < 4) {
        return parse_fail(p, "truncated \\u escape");
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return parse_fail(p, "bad hex digit in \\u escape");
        v = v << 4 | d;
    }
    *out = v;
    return HAE_OK;
}

static int append_utf8(hae_buf *b, unsigned cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return hae_buf_append(b, u, n);
}

static int parse_unicode_escape(json_parser *p) {
    unsigned cp = 0;
    int rc = hex4(p, &cp);
    if (rc < 0) {
        return rc;
    }
    if (cp >= 0xDC80 && cp <= 0xDCFF) { /* surrogateescape: one raw byte */
        return hae_buf_append_char(&p->scratch, (char)(cp & 0xFF));
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned low = 0;
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
            return parse_fail(p, "high surrogate without its low half");
        }
        p->pos += 2;
        if ((rc = hex4(p, &low)) < 0) {
            return rc;
        }
        if (low < 0xDC00 || low > 0xDFFF) {
            return parse_fail(p, "high surrogate followed by a non-surrogate");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return parse_fail(p, "lone low surrogate");
    }
    return append_utf8(&p->scratch, cp);
}

/* Decodes the string at p->pos (after the opening quote) into the arena. */
static int parse_string(json_parser *p, const char **out, size_t *out_len) {
    hae_buf_reset(&p->scratch);
    p->pos++;
    size_t run_start = p->pos;
    for (;;) {
        if (p->pos >= p->len) {
            return parse_fail(p, "unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"' || c == '\\') {
            int rc = hae_buf_append(&p->scratch, p->s + run_start, p->pos - run_start);
            if (rc < 0) {
                return rc;
            }
            p->pos++;
            if (c == '"') {
                break;
            }
            if (p->pos >= p->len) {
                return parse_fail(p, "unterminated escape");
            }
            char e = p->s[p->pos++];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char decoded[] = "\"\\/\b\f\n\r\t";
                rc = hae_buf_append_char(&p->scratch, decoded[simple - "\"\\/bfnrt"]);
            } else if (e == 'u') {
                rc = parse_unicode_escape(p);
            } else {
                p->pos--;
                return parse_fail(p, "unknown escape");
            }
            if (rc < 0) {
                return rc;
            }
            run_start = p->pos;
        } else if (c < 0x20) {
            return parse_fail(p, "control character in string");
        } else {
            p->pos++;
        }
    }
    const char *copy = hae_arena_strndup(p->arena, p->scratch.data ? p->scratch.data : "",
                                         p->scratch.len);
    if (!copy) {
        return HAE_ENOMEM;
    }
    *out = copy;
    *out_len = p->scratch.len;
    return HAE_OK;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(json_parser *p, hae_json *node) {
    size_t start = p->pos;
    const char *s = p->s;
    if (p->pos < p->len && s[p->pos] == '-') p->pos++;
    if (p->pos < p->len && s[p->pos] == '0') {
        p->pos++;
    } else if (p->pos < p->len && is_digit(s[p->pos])) {
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    } else {
        return parse_fail(p, "bad number");
    }
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) return parse_fail(p, "bad fraction");
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) return parse_fail(p, "bad exponent");
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    node->type = HAE_JSON_NUMBER;
    node->text = hae_arena_strndup(p->arena, s + start, p->pos - start);
    node->text_len = p->pos - start;
    return node->text ? HAE_OK : HAE_ENOMEM;
}

static int parse_literal(json_parser *p, hae_json *node, const char *word, hae_json_type type) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        return parse_fail(p, "unexpected character");
    }
    p->pos += n;
    node->type = type;
    node->text = type == HAE_JSON_NULL ? "" : word;
    node->text_len = type == HAE_JSON_NULL ? 0 : n;
    return HAE_OK;
}

static int parse_value(json_parser *p, hae_json *node, int depth);

/* Parses '[' ... ']' or '{' ... '}' into node's children. */
static int parse_container(json_parser *p, hae_json *node, int depth, bool is_object) {
    if (depth >= JSON_MAX_DEPTH) {
        return parse_fail(p, "nesting deeper than 64 levels");
    }
    char close = is_object ? '}' : ']';
    node->type = is_object ? HAE_JSON_OBJECT : HAE_JSON_ARRAY;
    p->pos++;
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return HAE_OK;
    }
    hae_json **tail = &node->child;
    for (;;) {
        hae_json *item = hae_arena_alloc(p->arena, sizeof *item);
        if (!item) {
            return HAE_ENOMEM;
        }
        memset(item, 0, sizeof *item);
        skip_space(p);
        int rc;
        if (is_object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                return parse_fail(p, "expected member name");
            }
            if ((rc = parse_string(p, &item->key, &item->key_len)) < 0) {
                return rc;
            }
            skip_space(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                return parse_fail(p, "expected ':'");
            }
            p->pos++;
        }
        if ((rc = parse_value(p, item, depth + 1)) < 0) {
            return rc;
        }
        *tail = item;
        tail = &item->next;
        node->count++;
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return HAE_OK;
        }
        return parse_fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(json_parser *p, hae_json *node, int depth) {
    skip_space(p);
    if (p->pos >= p->len) {
        return parse_fail(p, "unexpected end of input");
    }
    switch (p->s[p->pos]) {
    case '{': return parse_container(p, node, depth, true);
    case '[': return parse_container(p, node, depth, false);
    case '"':
        node->type = HAE_JSON_STRING;
        return parse_string(p, &node->text, &node->text_len);
    case 't': return parse_literal(p, node, "true", HAE_JSON_BOOL);
    case 'f': return parse_literal(p, node, "false", HAE_JSON_BOOL);
    case 'n': return parse_literal(p, node, "null", HAE_JSON_NULL);
    default: return parse_number(p, node);
    }
}

int hae_json_parse(const char *text, size_t len, hae_arena *arena, hae_json **out, hae_err *err) {
    json_parser p = {.s = text, .len = len, .arena = arena, .err = err};
    hae_json *root = hae_arena_alloc(arena, sizeof *root);
    int rc = root ? HAE_OK : HAE_ENOMEM;
    if (rc == HAE_OK) {
        memset(root, 0, sizeof *root);
        rc = parse_value(&p, root, 0);
    }
    if (rc == HAE_OK) {
        skip_space(&p);
        if (p.pos != p.len) {
            rc = parse_fail(&p, "trailing characters after the JSON value");
        }
    }
    hae_buf_free(&p.scratch);
    if (rc == HAE_ENOMEM) {
        hae_err_set(err, rc, "JSON: out of memory");
    }
    if (rc == HAE_OK) {
        *out = root;
    }
    return rc;
}

const hae_json *hae_json_member(const hae_json *obj, const char *key) {
    if (!obj || obj->type != HAE_JSON_OBJECT) {
        return NULL;
    }
    size_t key_len = strlen(key);
    for (const hae_json *m = obj->child; m; m = m->next) {
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) {
            return m;
        }
    }
    return NULL;
}
