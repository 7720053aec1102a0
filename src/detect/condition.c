/* The Sigma condition grammar (rules specification v2, "Condition"):
 *
 *   expr    := and ('or' and)*            least binding
 *   and     := unary ('and' unary)*
 *   unary   := 'not' unary | primary
 *   primary := '(' expr ')' | quant 'of' target | identifier
 *   quant   := '1' | 'any' | 'all' | N     (N of: at least N)
 *   target  := 'them' | identifier pattern with '*'
 *
 * `them` covers every search identifier not starting with '_'. Keywords
 * are matched case-insensitively. Errors quote the condition and name the
 * offset and the offending token. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "detect/detect_int.h"

#define CONDITION_MAX_DEPTH 64

typedef struct cparser {
    hae_arena *arena;
    const char *text;
    size_t pos;
    size_t tok_start, tok_len;  /* current token */
    const search_ident *idents;
    size_t ident_count;
    int depth;
    hae_err *err;
} cparser;

static bool is_token_char(char c) {
    return c != '\0' && c != '(' && c != ')' && !isspace((unsigned char)c);
}

/* Reads the next token into tok_start/tok_len; length 0 at the end. */
static void next_token(cparser *p) {
    while (isspace((unsigned char)p->text[p->pos])) p->pos++;
    p->tok_start = p->pos;
    char c = p->text[p->pos];
    if (c == '(' || c == ')') {
        p->pos++;
    } else {
        while (is_token_char(p->text[p->pos])) p->pos++;
    }
    p->tok_len = p->pos - p->tok_start;
}

static bool token_is(const cparser *p, const char *word) {
    size_t n = strlen(word);
    return p->tok_len == n && strncasecmp(p->text + p->tok_start, word, n) == 0;
}

static int syntax_error(cparser *p, const char *what) {
    if (p->tok_len == 0) {
        return hae_err_set(p->err, HAE_EINVAL, "condition '%s': %s at end", p->text, what);
    }
    return hae_err_set(p->err, HAE_EINVAL, "condition '%s': %s at offset %zu, found '%.*s'",
                       p->text, what, p->tok_start, (int)p->tok_len, p->text + p->tok_start);
}

static expr *new_expr(cparser *p, expr_kind kind, size_t kids) {
    expr *x = hae_arena_alloc(p->arena, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    x->kind = kind;
    if (kids) {
        x->kids = hae_arena_alloc(p->arena, kids * sizeof(void *));
        if (!x->kids) return NULL;
    }
    return x;
}

static int parse_or(cparser *p, expr **out);

static bool is_keyword(const cparser *p) {
    return token_is(p, "and") || token_is(p, "or") || token_is(p, "not") || token_is(p, "of");
}

static int parse_identifier(cparser *p, expr **out) {
    for (size_t i = 0; i < p->ident_count; i++) {
        if (strlen(p->idents[i].name) == p->tok_len &&
            memcmp(p->idents[i].name, p->text + p->tok_start, p->tok_len) == 0) {
            *out = p->idents[i].tree;
            next_token(p);
            return HAE_OK;
        }
    }
    return hae_err_set(p->err, HAE_EINVAL,
                       "condition '%s': unknown search identifier '%.*s' at offset %zu", p->text,
                       (int)p->tok_len, p->text + p->tok_start, p->tok_start);
}

/* quant 'of' target, with the quantifier already in the current token. */
static int parse_of(cparser *p, expr **out) {
    size_t need = 0; /* 0: all */
    if (token_is(p, "all")) {
        need = 0;
    } else if (token_is(p, "any")) {
        need = 1;
    } else {
        char *end;
        unsigned long n = strtoul(p->text + p->tok_start, &end, 10);
        if (end != p->text + p->tok_start + p->tok_len || n == 0) {
            return syntax_error(p, "expected 1, N, any or all before 'of'");
        }
        need = n;
    }
    next_token(p);
    if (!token_is(p, "of")) return syntax_error(p, "expected 'of'");
    next_token(p);
    if (p->tok_len == 0 || is_keyword(p) || p->text[p->tok_start] == '(' ||
        p->text[p->tok_start] == ')') {
        return syntax_error(p, "expected 'them' or an identifier pattern after 'of'");
    }
    bool them = token_is(p, "them");
    char pat[256];
    if (p->tok_len >= sizeof pat) return syntax_error(p, "identifier pattern too long");
    memcpy(pat, p->text + p->tok_start, p->tok_len);
    pat[p->tok_len] = '\0';
    size_t count = 0;
    expr *x = new_expr(p, EXPR_ATLEAST, p->ident_count ? p->ident_count : 1);
    if (!x) return HAE_ENOMEM;
    for (size_t i = 0; i < p->ident_count; i++) {
        const char *name = p->idents[i].name;
        bool take = them ? name[0] != '_' : fnmatch(pat, name, FNM_NOESCAPE) == 0;
        if (take) x->kids[count++] = p->idents[i].tree;
    }
    if (count == 0) {
        return hae_err_set(p->err, HAE_EINVAL,
                           "condition '%s': '%s' matches no search identifier", p->text, pat);
    }
    x->kid_count = count;
    x->need = need == 0 ? count : need;
    if (x->need > count) {
        return hae_err_set(p->err, HAE_EINVAL,
                           "condition '%s': %zu of '%s' but only %zu identifiers match", p->text,
                           x->need, pat, count);
    }
    next_token(p);
    *out = x;
    return HAE_OK;
}

static int parse_primary(cparser *p, expr **out) {
    if (p->tok_len == 0) return syntax_error(p, "expected an identifier");
    if (p->text[p->tok_start] == '(') {
        next_token(p);
        int rc = parse_or(p, out);
        if (rc < 0) return rc;
        if (!(p->tok_len == 1 && p->text[p->tok_start] == ')')) {
            return syntax_error(p, "expected ')'");
        }
        next_token(p);
        return HAE_OK;
    }
    if (p->text[p->tok_start] == ')' || is_keyword(p)) {
        return syntax_error(p, "expected an identifier");
    }
    /* Look ahead for "X of": save the position, peek, restore. */
    size_t save_pos = p->pos, save_start = p->tok_start, save_len = p->tok_len;
    next_token(p);
    bool quantified = token_is(p, "of");
    p->pos = save_pos;
    p->tok_start = save_start;
    p->tok_len = save_len;
    if (quantified) return parse_of(p, out);
    return parse_identifier(p, out);
}

static int parse_unary(cparser *p, expr **out) {
    if (++p->depth > CONDITION_MAX_DEPTH) return syntax_error(p, "nesting too deep");
    int rc;
    if (token_is(p, "not")) {
        next_token(p);
        expr *x = new_expr(p, EXPR_NOT, 1);
        if (!x) return HAE_ENOMEM;
        rc = parse_unary(p, &x->kids[0]);
        x->kid_count = 1;
        *out = x;
    } else {
        rc = parse_primary(p, out);
    }
    p->depth--;
    return rc;
}

/* Parses a chain of `sub (word sub)*` into one n-ary node. */
static int parse_chain(cparser *p, expr **out, const char *word, expr_kind kind,
                       int (*sub)(cparser *, expr **)) {
    expr *first = NULL;
    int rc = sub(p, &first);
    if (rc < 0) return rc;
    if (!token_is(p, word)) {
        *out = first;
        return HAE_OK;
    }
    size_t cap = 4, count = 1;
    expr **kids = hae_arena_alloc(p->arena, cap * sizeof(void *));
    if (!kids) return HAE_ENOMEM;
    kids[0] = first;
    while (token_is(p, word)) {
        next_token(p);
        if (count == cap) {
            expr **grown = hae_arena_alloc(p->arena, cap * 2 * sizeof(void *));
            if (!grown) return HAE_ENOMEM;
            memcpy(grown, kids, count * sizeof(void *));
            kids = grown;
            cap *= 2;
        }
        kids[count] = NULL;
        rc = sub(p, &kids[count]);
        if (rc < 0) return rc;
        count++;
    }
    expr *x = new_expr(p, kind, 0);
    if (!x) return HAE_ENOMEM;
    x->kids = kids;
    x->kid_count = count;
    *out = x;
    return HAE_OK;
}

static int parse_and(cparser *p, expr **out) {
    return parse_chain(p, out, "and", EXPR_AND, parse_unary);
}

static int parse_or(cparser *p, expr **out) {
    if (++p->depth > CONDITION_MAX_DEPTH) return syntax_error(p, "nesting too deep");
    int rc = parse_chain(p, out, "or", EXPR_OR, parse_and);
    p->depth--;
    return rc;
}

int condition_parse(hae_arena *arena, const char *text, const search_ident *idents,
                    size_t ident_count, expr **out, hae_err *err) {
    cparser p = {.arena = arena, .text = text, .idents = idents, .ident_count = ident_count,
                 .err = err};
    next_token(&p);
    if (p.tok_len == 0) return hae_err_set(err, HAE_EINVAL, "condition is empty");
    int rc = parse_or(&p, out);
    if (rc < 0) return rc;
    if (p.tok_len != 0) return syntax_error(&p, "expected 'and', 'or' or the end");
    return HAE_OK;
}
