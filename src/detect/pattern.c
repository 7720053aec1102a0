/* Values of Sigma field conditions: wildcard parsing with the spec's escape
 * rules, the encoding modifiers (base64, base64offset, utf16*), windash,
 * CIDR, numbers and time parts, and the glob matcher itself.
 *
 * Sigma rules specification v2, "Wildcards" and "Escaping": '*' is any
 * run of characters, '?' exactly one; a backslash escapes '*', '?' and
 * itself, and is a plain character before anything else (so "C:\Windows"
 * needs no doubling, "\\*" is a backslash then a wildcard). */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect/detect_int.h"

/* ---- glob construction ----------------------------------------------- */

typedef struct glob_builder {
    hae_arena *arena;
    glob_token *tokens;
    size_t count, cap;
    hae_buf lit;
    bool cased;
} glob_builder;

static int builder_push(glob_builder *b, glob_token_kind kind) {
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        glob_token *grown = hae_arena_alloc(b->arena, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        if (b->count) memcpy(grown, b->tokens, b->count * sizeof *grown);
        b->tokens = grown;
        b->cap = cap;
    }
    b->tokens[b->count++] = (glob_token){.kind = kind};
    return HAE_OK;
}

static int builder_flush(glob_builder *b) {
    if (b->lit.len == 0) return HAE_OK;
    char *copy = hae_arena_strndup(b->arena, b->lit.data, b->lit.len);
    if (!copy || builder_push(b, GLOB_LIT) < 0) return HAE_ENOMEM;
    b->tokens[b->count - 1].bytes = copy;
    b->tokens[b->count - 1].len = b->lit.len;
    hae_buf_reset(&b->lit);
    return HAE_OK;
}

static int builder_special(glob_builder *b, glob_token_kind kind) {
    if (builder_flush(b) < 0) return HAE_ENOMEM;
    /* "**" is one star: keeps the matcher linear in common rules. */
    if (kind == GLOB_STAR && b->count && b->tokens[b->count - 1].kind == GLOB_STAR) {
        return HAE_OK;
    }
    return builder_push(b, kind);
}

static int builder_byte(glob_builder *b, unsigned char c) {
    char ch = (char)(b->cased ? c : (unsigned char)tolower(c));
    return hae_buf_append_char(&b->lit, ch);
}

/* Length of a windash character at s (one of - / – — ―), or 0. */
static size_t windash_len(const char *s, size_t len) {
    if (len >= 1 && (s[0] == '-' || s[0] == '/')) return 1;
    if (len >= 3 && (unsigned char)s[0] == 0xe2 && (unsigned char)s[1] == 0x80 &&
        (unsigned char)s[2] >= 0x93 && (unsigned char)s[2] <= 0x95) {
        return 3;
    }
    return 0;
}

int pattern_glob_from_sigma(hae_arena *arena, pattern *p, const char *value, size_t len,
                            unsigned flags) {
    bool wildcards = flags & GLOB_F_WILDCARDS, windash = flags & GLOB_F_WINDASH;
    bool cased = flags & GLOB_F_CASED;
    glob_builder b = {.arena = arena, .cased = cased};
    int rc = flags & GLOB_F_LEAD ? builder_special(&b, GLOB_STAR) : HAE_OK;
    for (size_t i = 0; i < len && rc == HAE_OK;) {
        unsigned char c = (unsigned char)value[i];
        size_t dash = windash ? windash_len(value + i, len - i) : 0;
        if (wildcards && c == '\\' && i + 1 < len &&
            (value[i + 1] == '*' || value[i + 1] == '?' || value[i + 1] == '\\')) {
            rc = builder_byte(&b, (unsigned char)value[i + 1]);
            i += 2;
        } else if (wildcards && c == '*') {
            rc = builder_special(&b, GLOB_STAR);
            i++;
        } else if (wildcards && c == '?') {
            rc = builder_special(&b, GLOB_ONE);
            i++;
        } else if (dash) {
            rc = builder_special(&b, GLOB_DASH);
            i += dash;
        } else {
            rc = builder_byte(&b, c);
            i++;
        }
    }
    if (rc == HAE_OK) rc = builder_flush(&b);
    if (rc == HAE_OK && (flags & GLOB_F_TRAIL)) rc = builder_special(&b, GLOB_STAR);
    hae_buf_free(&b.lit);
    if (rc < 0) return rc;
    p->kind = PAT_GLOB;
    p->cased = cased;
    p->tokens = b.tokens;
    p->token_count = b.count;
    return HAE_OK;
}

/* ---- glob matching --------------------------------------------------- */

static size_t utf8_char_len(const char *s, size_t len) {
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    for (size_t i = 1; i < n; i++) {
        if (i >= len || ((unsigned char)s[i] & 0xc0) != 0x80) return i;
    }
    return n;
}

/* Tries token t at s; returns the bytes consumed or (size_t)-1. */
static size_t token_step(const glob_token *t, const char *s, size_t len) {
    switch (t->kind) {
    case GLOB_LIT:
        return len >= t->len && memcmp(s, t->bytes, t->len) == 0 ? t->len : (size_t)-1;
    case GLOB_ONE:
        return len ? utf8_char_len(s, len) : (size_t)-1;
    case GLOB_DASH: {
        size_t n = windash_len(s, len);
        return n ? n : (size_t)-1;
    }
    case GLOB_STAR:
        break;
    }
    return (size_t)-1;
}

/* Classic wildcard matching with one backtrack point: the last star. The
 * alternatives of a windash class start with distinct bytes, so every
 * non-star token consumes a determined length and this stays exact. */
static bool glob_match_tokens(const glob_token *tokens, size_t count, const char *s,
                              size_t len) {
    size_t ti = 0, si = 0, star_ti = (size_t)-1, star_si = 0;
    while (ti < count || si < len) {
        if (ti < count) {
            if (tokens[ti].kind == GLOB_STAR) {
                star_ti = ti++;
                star_si = si;
                continue;
            }
            size_t step = token_step(&tokens[ti], s + si, len - si);
            if (step != (size_t)-1) {
                si += step;
                ti++;
                continue;
            }
        }
        if (star_ti != (size_t)-1 && star_si < len) {
            si = ++star_si;
            ti = star_ti + 1;
            continue;
        }
        return false;
    }
    return true;
}

bool pattern_glob_match(const pattern *p, const char *s, size_t len) {
    const glob_token *t = p->tokens;
    size_t n = p->token_count;
    /* The shapes nearly every rule uses: equals, startswith, endswith, contains. */
    if (n == 0) return len == 0;
    if (n == 1 && t[0].kind == GLOB_LIT) return len == t[0].len && memcmp(s, t[0].bytes, len) == 0;
    if (n == 1 && t[0].kind == GLOB_STAR) return true;
    if (n == 2 && t[0].kind == GLOB_LIT && t[1].kind == GLOB_STAR) {
        return len >= t[0].len && memcmp(s, t[0].bytes, t[0].len) == 0;
    }
    if (n == 2 && t[0].kind == GLOB_STAR && t[1].kind == GLOB_LIT) {
        return len >= t[1].len && memcmp(s + len - t[1].len, t[1].bytes, t[1].len) == 0;
    }
    if (n == 3 && t[0].kind == GLOB_STAR && t[1].kind == GLOB_LIT && t[2].kind == GLOB_STAR) {
        return memmem(s, len, t[1].bytes, t[1].len) != NULL;
    }
    return glob_match_tokens(t, n, s, len);
}

/* ---- encodings ------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int pattern_encode_base64(hae_arena *arena, const char *in, size_t len, char **out,
                          size_t *out_len) {
    size_t n = (len + 2) / 3 * 4;
    char *o = hae_arena_alloc(arena, n + 1);
    if (!o) return HAE_ENOMEM;
    const unsigned char *u = (const unsigned char *)in;
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16;
        if (i + 1 < len) v |= (uint32_t)u[i + 1] << 8;
        if (i + 2 < len) v |= u[i + 2];
        o[j++] = b64_alphabet[(v >> 18) & 63];
        o[j++] = b64_alphabet[(v >> 12) & 63];
        o[j++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        o[j++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    o[j] = '\0';
    *out = o;
    *out_len = j;
    return HAE_OK;
}

/* The three encodings of value shifted by 0, 1 and 2 bytes inside a longer
 * base64 text, trimmed to the characters that do not depend on neighbours:
 * the start drops 0/2/3 characters, the end drops 0/3/2 by (len+shift)%3.
 * Same offsets as pySigma's SigmaBase64OffsetModifier. */
int pattern_base64offset(hae_arena *arena, const char *in, size_t len, char *out[3],
                         size_t out_len[3]) {
    static const size_t start_drop[3] = {0, 2, 3};
    static const size_t end_drop[3] = {0, 3, 2};
    for (size_t shift = 0; shift < 3; shift++) {
        char *padded = hae_arena_alloc(arena, len + shift + 1);
        if (!padded) return HAE_ENOMEM;
        memset(padded, ' ', shift);
        memcpy(padded + shift, in, len);
        char *enc;
        size_t enc_len;
        if (pattern_encode_base64(arena, padded, len + shift, &enc, &enc_len) < 0) {
            return HAE_ENOMEM;
        }
        size_t start = start_drop[shift], end = end_drop[(len + shift) % 3];
        if (start + end > enc_len) {
            start = 0;
            end = 0;
        }
        out[shift] = enc + start;
        out_len[shift] = enc_len - start - end;
        out[shift][out_len[shift]] = '\0';
    }
    return HAE_OK;
}

/* Decodes one UTF-8 code point; invalid bytes stand for themselves. */
static uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *used) {
    size_t n = utf8_char_len((const char *)s, len);
    uint32_t cp = s[0];
    if (n == 2) cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    if (n == 3) cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    if (n == 4) {
        cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
             (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
    }
    if (n == 1 && s[0] >= 0x80) n = 1;
    *used = n;
    return cp;
}

static void put_unit(char *o, size_t *j, uint32_t unit, bool big_endian) {
    char lo = (char)(unit & 0xff), hi = (char)(unit >> 8);
    o[(*j)++] = big_endian ? hi : lo;
    o[(*j)++] = big_endian ? lo : hi;
}

/* kind 0: utf16le (wide), 1: utf16be, 2: utf16 (FF FE byte order mark, then LE). */
int pattern_utf16(hae_arena *arena, const char *in, size_t len, int kind, char **out,
                  size_t *out_len, hae_err *err) {
    (void)err;
    char *o = hae_arena_alloc(arena, len * 4 + 3);
    if (!o) return HAE_ENOMEM;
    size_t j = 0;
    bool be = kind == 1;
    if (kind == 2) put_unit(o, &j, 0xfeff, false);
    for (size_t i = 0; i < len;) {
        size_t used;
        uint32_t cp = utf8_decode((const unsigned char *)in + i, len - i, &used);
        i += used;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            put_unit(o, &j, 0xd800 | (cp >> 10), be);
            put_unit(o, &j, 0xdc00 | (cp & 0x3ff), be);
        } else {
            put_unit(o, &j, cp, be);
        }
    }
    o[j] = '\0';
    *out = o;
    *out_len = j;
    return HAE_OK;
}

/* ---- CIDR ------------------------------------------------------------ */

int pattern_cidr_parse(pattern *p, const char *text, hae_err *err) {
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof addr) {
        return hae_err_set(err, HAE_EINVAL, "bad CIDR '%s'", text);
    }
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(p->addr, 0, sizeof p->addr);
    if (inet_pton(AF_INET, addr, p->addr) == 1) {
        p->family = 4;
    } else if (inet_pton(AF_INET6, addr, p->addr) == 1) {
        p->family = 6;
    } else {
        return hae_err_set(err, HAE_EINVAL, "bad CIDR '%s': not an IP address", text);
    }
    unsigned max = p->family == 4 ? 32 : 128;
    p->prefix = max;
    if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (*end != '\0' || end == slash + 1 || bits < 0 || (unsigned long)bits > max) {
            return hae_err_set(err, HAE_EINVAL, "bad CIDR '%s': prefix length", text);
        }
        p->prefix = (unsigned)bits;
    }
    p->kind = PAT_CIDR;
    return HAE_OK;
}

bool pattern_cidr_match(const pattern *p, const char *value, size_t len) {
    char text[64];
    uint8_t addr[16];
    if (len == 0 || len >= sizeof text) return false;
    memcpy(text, value, len);
    text[len] = '\0';
    if (inet_pton(p->family == 4 ? AF_INET : AF_INET6, text, addr) != 1) return false;
    unsigned full = p->prefix / 8, rest = p->prefix % 8;
    if (memcmp(addr, p->addr, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == (p->addr[full] & mask);
}

/* ---- numbers and times ----------------------------------------------- */

bool pattern_number_parse(const char *s, size_t len, double *out) {
    char text[64];
    if (len == 0 || len >= sizeof text) return false;
    memcpy(text, s, len);
    text[len] = '\0';
    char *end;
    double v = strtod(text, &end);
    if (*end != '\0' || end == text || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool pattern_time_part(const char *s, size_t len, time_part part, const hae_tz *tz, double *out) {
    int64_t ns;
    if (hae_time_parse(s, len, &ns, NULL) < 0) {
        /* "2025-01-02 03:04:05" as many logs write it */
        char text[40];
        if (len < 19 || len >= sizeof text) return false;
        memcpy(text, s, len);
        text[len] = '\0';
        if (text[10] == ' ') text[10] = 'T';
        if (len == 19) memcpy(text + 19, "Z", 2);
        if (hae_time_parse(text, strlen(text), &ns, NULL) < 0) return false;
    }
    int64_t unix_sec = ns / 1000000000LL;
    time_t secs = (time_t)(unix_sec + (tz ? hae_tz_offset(tz, unix_sec) : 0));
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) return false;
    switch (part) {
    case TIME_MINUTE: *out = tm.tm_min; break;
    case TIME_HOUR: *out = tm.tm_hour; break;
    case TIME_DAY: *out = tm.tm_mday; break;
    case TIME_WEEK: {
        char week[4];
        if (strftime(week, sizeof week, "%V", &tm) == 0) return false;
        *out = atoi(week);
        break;
    }
    case TIME_MONTH: *out = tm.tm_mon + 1; break;
    case TIME_YEAR: *out = tm.tm_year + 1900; break;
    case TIME_NONE: return false;
    }
    return true;
}

bool pattern_number_compare(number_op op, double value, double threshold) {
    switch (op) {
    case NUM_LT: return value < threshold;
    case NUM_LTE: return value <= threshold;
    case NUM_GT: return value > threshold;
    case NUM_GTE: return value >= threshold;
    case NUM_EQ: return value == threshold;
    }
    return false;
}
