/* Where Hyperscan has to look. Every candidate the patterns can yield that
 * a validator could accept lives in one of four kinds of region, found here
 * with 64-byte bit masks (SSE2) at a few times the speed of the automaton:
 *
 *   - a maximal run of number characters (digits, space, - . ( ) +) holding
 *     at least 9 digits: each numeric pattern matches only number
 *     characters, and no numeric kind validates with fewer than 9 digits
 *     (kind_digits in scan.c, validate_phone's n >= 9); the region takes
 *     the byte before the run (the patterns' leading boundary) and the byte
 *     after (the digit run's trailing boundary);
 *   - an '@' and its domain label up to the first '.' and one byte more
 *     (the e-mail trigger);
 *   - a passport letter with three digits after it, and the byte before;
 *   - "CREATE TABLE", any case.
 *
 * Regions closer than SCOPE_PREFILTER_GAP bytes are merged; Hyperscan then
 * scans each merged range as its own buffer. A range starts at a byte no
 * pattern can start a match with (a non-number character, '@', a letter
 * before a passport letter, 'C') or at the window's start, and ends after a
 * non-number character or at the window's end, so "^" and "\z" in the
 * patterns match where they match in the whole window and the matches are
 * exactly those of a scan of the whole window
 * (test_prefilter_finds_what_a_full_scan_finds). On logs, exports and dumps
 * the ranges are 5-25% of the bytes. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

#include "scope/scope_int.h"

#define MIN_DIGITS 9

typedef struct block_masks {
    uint64_t digit, number, at, passport_letter, c_then_r;
} block_masks;

#ifdef __SSE2__
static uint64_t mask16(__m128i m, unsigned at) {
    return (uint64_t)(unsigned)_mm_movemask_epi8(m) << at;
}

/* p holds 64 readable bytes. */
static void block_classify(const unsigned char *p, block_masks *m) {
    memset(m, 0, sizeof *m);
    uint64_t c_mask = 0, r_mask = 0;
    for (unsigned i = 0; i < 64; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i off = _mm_sub_epi8(v, _mm_set1_epi8('0'));
        __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(off, _mm_set1_epi8(9)), off);
        __m128i sep = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('-'))),
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')), _mm_cmpeq_epi8(v, _mm_set1_epi8('+'))));
        sep = _mm_or_si128(sep, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('(')),
                                             _mm_cmpeq_epi8(v, _mm_set1_epi8(')'))));
        __m128i letter = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('M')), _mm_cmpeq_epi8(v, _mm_set1_epi8('S'))),
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('R')), _mm_cmpeq_epi8(v, _mm_set1_epi8('O'))));
        letter = _mm_or_si128(letter, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('D')),
                                                   _mm_cmpeq_epi8(v, _mm_set1_epi8('G'))));
        __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
        m->digit |= mask16(digit, i);
        m->number |= mask16(_mm_or_si128(digit, sep), i);
        m->at |= mask16(_mm_cmpeq_epi8(v, _mm_set1_epi8('@')), i);
        m->passport_letter |= mask16(letter, i);
        c_mask |= mask16(_mm_cmpeq_epi8(lower, _mm_set1_epi8('c')), i);
        r_mask |= mask16(_mm_cmpeq_epi8(lower, _mm_set1_epi8('r')), i);
    }
    m->c_then_r = c_mask & ((r_mask >> 1) | (1ull << 63)); /* bit 63: checked in full later */
}

/* The same with 32-byte vectors, where the CPU has AVX2 (checked once). */
__attribute__((target("avx2"))) static uint64_t mask32(__m256i m, unsigned at) {
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(m) << at;
}

__attribute__((target("avx2"))) static void block_classify_avx2(const unsigned char *p,
                                                                block_masks *m) {
    memset(m, 0, sizeof *m);
    uint64_t c_mask = 0, r_mask = 0;
    for (unsigned i = 0; i < 64; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
        __m256i off = _mm256_sub_epi8(v, _mm256_set1_epi8('0'));
        __m256i digit = _mm256_cmpeq_epi8(_mm256_min_epu8(off, _mm256_set1_epi8(9)), off);
        __m256i sep = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(' ')),
                            _mm256_cmpeq_epi8(v, _mm256_set1_epi8('-'))),
            _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('.')),
                            _mm256_cmpeq_epi8(v, _mm256_set1_epi8('+'))));
        sep = _mm256_or_si256(sep, _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('(')),
                                                   _mm256_cmpeq_epi8(v, _mm256_set1_epi8(')'))));
        __m256i letter = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('M')),
                            _mm256_cmpeq_epi8(v, _mm256_set1_epi8('S'))),
            _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('R')),
                            _mm256_cmpeq_epi8(v, _mm256_set1_epi8('O'))));
        letter = _mm256_or_si256(letter, _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('D')),
                                                         _mm256_cmpeq_epi8(v, _mm256_set1_epi8('G'))));
        __m256i lower = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
        m->digit |= mask32(digit, i);
        m->number |= mask32(_mm256_or_si256(digit, sep), i);
        m->at |= mask32(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('@')), i);
        m->passport_letter |= mask32(letter, i);
        c_mask |= mask32(_mm256_cmpeq_epi8(lower, _mm256_set1_epi8('c')), i);
        r_mask |= mask32(_mm256_cmpeq_epi8(lower, _mm256_set1_epi8('r')), i);
    }
    m->c_then_r = c_mask & ((r_mask >> 1) | (1ull << 63));
}

typedef void (*classify_fn)(const unsigned char *p, block_masks *m);

static classify_fn classify_pick(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? block_classify_avx2 : block_classify;
}
#else
static bool is_number_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' ||
           c == '+';
}

static bool is_passport_letter(unsigned char c) {
    return c == 'M' || c == 'S' || c == 'R' || c == 'O' || c == 'D' || c == 'G';
}

static void block_classify(const unsigned char *p, block_masks *m) {
    memset(m, 0, sizeof *m);
    for (unsigned i = 0; i < 64; i++) {
        uint64_t bit = 1ull << i;
        unsigned char c = p[i];
        if (c >= '0' && c <= '9') m->digit |= bit;
        if (is_number_byte(c)) m->number |= bit;
        if (c == '@') m->at |= bit;
        if (is_passport_letter(c)) m->passport_letter |= bit;
        if ((c | 0x20) == 'c' && (i == 63 || (p[i + 1] | 0x20) == 'r')) m->c_then_r |= bit;
    }
}

typedef void (*classify_fn)(const unsigned char *p, block_masks *m);
static classify_fn classify_pick(void) { return block_classify; }
#endif

static uint64_t low_bits(unsigned n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }

typedef struct region_list {
    scope_worker *w;
    int error;
} region_list;

static void region_add(region_list *l, size_t start, size_t end) {
    scope_worker *w = l->w;
    if (l->error) return;
    if (w->region_count == w->region_cap) {
        size_t cap = w->region_cap ? w->region_cap * 2 : 1024;
        scope_range *grown = realloc(w->regions, cap * sizeof *grown);
        if (!grown) {
            l->error = HAE_ENOMEM;
            return;
        }
        w->regions = grown;
        w->region_cap = cap;
    }
    /* regions of one block arrive by type, not by offset: insert in place
     * (they are at most a block out of order) */
    size_t i = w->region_count++;
    while (i > 0 && w->regions[i - 1].start > start) {
        w->regions[i] = w->regions[i - 1];
        i--;
    }
    w->regions[i] = (scope_range){start, end};
}

static void add_number_run(region_list *l, size_t len, size_t start, size_t end, unsigned digits) {
    if (digits < MIN_DIGITS) return;
    region_add(l, start > 0 ? start - 1 : 0, end < len ? end + 1 : len);
}

static bool is_label_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* '@', the domain label, '.', one more byte: where the trigger can end. */
static void add_email(region_list *l, const unsigned char *b, size_t len, size_t at) {
    size_t q = at + 1;
    while (q < len && is_label_byte(b[q])) q++;
    if (q < len && b[q] == '.') q = q + 2 < len ? q + 2 : len;
    region_add(l, at, q);
}

static void add_passport(region_list *l, const unsigned char *b, size_t len, size_t at) {
    for (size_t k = 1; k <= 3; k++) {
        if (at + k >= len || b[at + k] < '0' || b[at + k] > '9') return;
    }
    region_add(l, at > 0 ? at - 1 : 0, at + 9 < len ? at + 9 : len);
}

static void add_create(region_list *l, const unsigned char *b, size_t len, size_t at) {
    if (len - at >= 12 && strncasecmp((const char *)b + at, "CREATE TABLE", 12) == 0)
        region_add(l, at, at + 12);
}

static unsigned popcount64(uint64_t x) {
    /* the baseline x86-64 has no popcnt instruction: the SWAR count */
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Bit i set when x has bits i..i+8 set: where a run of 9 starts. */
static uint64_t nine_in_a_row(uint64_t x) {
    uint64_t two = x & (x >> 1), four = two & (two >> 2), eight = four & (four >> 4);
    return eight & (x >> 8);
}

/* The runs of number characters in one block that are long enough to hold
 * MIN_DIGITS digits; run_* carry a run across blocks. Only runs of 9 bytes
 * or more are looked at, most runs (a year, a port, an amount) are not. */
static void block_runs(region_list *l, size_t len, size_t o, const block_masks *m,
                       bool *is_in_run, size_t *run_start, unsigned *run_digits) {
    uint64_t digits = m->digit, number = m->number, live = number;
    if (*is_in_run) {
        unsigned t = ~number ? (unsigned)__builtin_ctzll(~number) : 64;
        *run_digits += popcount64(digits & low_bits(t));
        if (t == 64) return;
        add_number_run(l, len, *run_start, o + t, *run_digits);
        *is_in_run = false;
        live &= ~low_bits(t);
    }
    unsigned tail = 64; /* start of a run reaching the block's end */
    if (live >> 63) {
        uint64_t gaps = ~number;
        tail = gaps ? 64u - (unsigned)__builtin_clzll(gaps) : 0;
    }
    uint64_t long_runs = nine_in_a_row(live) & low_bits(tail);
    while (long_runs) {
        unsigned p = (unsigned)__builtin_ctzll(long_runs);
        uint64_t gaps_below = ~number & low_bits(p);
        unsigned s = gaps_below ? 64u - (unsigned)__builtin_clzll(gaps_below) : 0;
        unsigned e = p + (unsigned)__builtin_ctzll(~number >> p); /* a gap before tail */
        add_number_run(l, len, o + s, o + e, popcount64(digits & low_bits(e) & ~low_bits(s)));
        long_runs &= ~low_bits(e);
    }
    if (tail < 64) {
        *is_in_run = true;
        *run_start = o + tail;
        *run_digits = popcount64(digits & ~low_bits(tail));
    }
}

static classify_fn classify;
static pthread_once_t classify_once = PTHREAD_ONCE_INIT;
static void classify_init(void) { classify = classify_pick(); }

int scope_prefilter(scope_worker *w, const char *buf, size_t len) {
    pthread_once(&classify_once, classify_init);
    const unsigned char *b = (const unsigned char *)buf;
    region_list l = {.w = w};
    w->region_count = 0;
    bool is_in_run = false;
    size_t run_start = 0;
    unsigned run_digits = 0;
    for (size_t o = 0; o < len; o += 64) {
        block_masks m;
        if (len - o >= 64) {
            classify(b + o, &m);
        } else {
            unsigned char tail[64] = {0}; /* NUL is no class: runs end at len */
            memcpy(tail, b + o, len - o);
            classify(tail, &m);
            m.c_then_r &= low_bits((unsigned)(len - o));
        }
        block_runs(&l, len, o, &m, &is_in_run, &run_start, &run_digits);
        for (uint64_t x = m.at; x; x &= x - 1) add_email(&l, b, len, o + (unsigned)__builtin_ctzll(x));
        uint64_t after3 = (m.digit >> 1) & (m.digit >> 2) & (m.digit >> 3);
        uint64_t letters = m.passport_letter & (after3 | (7ull << 61)); /* 61-63: checked in full */
        for (uint64_t x = letters; x; x &= x - 1) add_passport(&l, b, len, o + (unsigned)__builtin_ctzll(x));
        for (uint64_t x = m.c_then_r; x; x &= x - 1) add_create(&l, b, len, o + (unsigned)__builtin_ctzll(x));
    }
    if (is_in_run) add_number_run(&l, len, run_start, len, run_digits);
    if (l.error) return l.error;
    /* merge overlapping and close regions */
    size_t n = 0;
    for (size_t i = 0; i < w->region_count; i++) {
        scope_range r = w->regions[i];
        if (n && r.start <= w->regions[n - 1].end + SCOPE_PREFILTER_GAP) {
            if (r.end > w->regions[n - 1].end) w->regions[n - 1].end = r.end;
        } else {
            w->regions[n++] = r;
        }
    }
    w->region_count = n;
    return HAE_OK;
}
