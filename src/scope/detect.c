/* Validators: each identifier kind checked in C after Hyperscan found it.
 * Validation scores; it rejects only what cannot be the identifier at all
 * (a card failing Luhn, an RRN born on 31 February). */
#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "scope/scope_int.h"

static const char *const kind_names[SCOPE_KIND_COUNT] = {
    "rrn", "frn", "card", "imei", "imeisv", "imsi", "iccid", "phone", "email", "passport",
    "bank_account",
};

const char *scope_kind_name(scope_kind kind) {
    return (unsigned)kind < SCOPE_KIND_COUNT ? kind_names[kind] : "unknown";
}

int scope_kind_parse(const char *name, scope_kind *out) {
    for (unsigned k = 0; k < SCOPE_KIND_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (scope_kind)k;
            return HAE_OK;
        }
    }
    return HAE_EINVAL;
}

scope_level scope_level_of(float confidence) {
    if (confidence >= 0.8f) return SCOPE_HIGH;
    if (confidence >= 0.5f) return SCOPE_MEDIUM;
    return SCOPE_LOW;
}

const char *scope_level_name(scope_level level) {
    static const char *const names[] = {"low", "medium", "high"};
    return (unsigned)level < SCOPE_LEVEL_COUNT ? names[level] : "unknown";
}

bool scope_luhn_valid(const char *digits, size_t len) {
    if (len < 2) return false;
    unsigned sum = 0;
    bool dbl = false;
    for (size_t i = len; i-- > 0;) {
        if (digits[i] < '0' || digits[i] > '9') return false;
        unsigned d = (unsigned)(digits[i] - '0');
        if (dbl) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

/* Copies the digits of text into norm; counts separators and notes whether
 * they were all the same character. Any other byte makes it fail. */
static bool digits_only(const char *text, size_t len, scope_verdict *v, size_t *separators,
                        bool *is_uniform) {
    char sep = 0;
    *separators = 0;
    *is_uniform = true;
    v->norm_len = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9') {
            if (v->norm_len + 1 >= SCOPE_NORM_MAX) return false;
            v->norm[v->norm_len++] = c;
        } else if (c == '-' || c == ' ' || c == '.') {
            if (sep && c != sep) *is_uniform = false;
            sep = c;
            (*separators)++;
        } else {
            return false;
        }
    }
    v->norm[v->norm_len] = '\0';
    return true;
}

static bool all_same_digit(const char *d, size_t len) {
    for (size_t i = 1; i < len; i++) {
        if (d[i] != d[0]) return false;
    }
    return true;
}

static int two(const char *d) { return (d[0] - '0') * 10 + (d[1] - '0'); }

static bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* gmtime_r per candidate was a visible cost: the year is kept a minute. */
static int current_year(void) {
    static _Thread_local time_t valid_until;
    static _Thread_local int year;
    time_t now = time(NULL);
    if (now >= valid_until) {
        struct tm tm;
        year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 2100;
        valid_until = now + 60;
    }
    return year;
}

/* Resident (and foreigner) registration number: YYMMDD-SBBBBBC. The 7th
 * digit S gives sex and century (9/0: 1800s, 1/2/5/6: 1900s, 3/4/7/8:
 * 2000s; 5-8 foreigners). C is a mod-11 check digit, but numbers issued from
 * October 2020 carry random digits after S, so a failed check lowers the
 * confidence and does not reject. */
static void validate_rrn(const char *text, size_t len, scope_verdict *v) {
    size_t seps;
    bool uniform;
    if (!digits_only(text, len, v, &seps, &uniform) || v->norm_len != 13 || seps > 1) return;
    if (seps == 1 && (len != 14 || text[6] != '-')) return;
    const char *d = v->norm;
    int sex = d[6] - '0';
    int century = (sex == 9 || sex == 0) ? 1800 : (sex <= 2 || sex == 5 || sex == 6) ? 1900 : 2000;
    int year = century + two(d), month = two(d + 2), day = two(d + 4);
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return;
    if (year > current_year()) return;
    bool is_foreign = sex >= 5 && sex <= 8;
    static const int weights[12] = {2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5};
    int sum = 0;
    for (int i = 0; i < 12; i++) sum += (d[i] - '0') * weights[i];
    int check = is_foreign ? (13 - sum % 11) % 10 : (11 - sum % 11) % 10;
    v->kind = is_foreign ? SCOPE_FRN : SCOPE_RRN;
    v->is_valid = true;
    if (check == d[12] - '0') {
        v->confidence = 0.95f;
        v->note = "date, sex digit and check digit valid";
    } else if (year * 100 + month >= 202010) {
        v->confidence = 0.8f;
        v->note = "born after October 2020: no check digit";
    } else {
        v->confidence = 0.6f;
        v->note = "check digit fails: a number issued since October 2020 or a typo";
    }
    if (century == 1800) v->confidence -= 0.3f;
    if (seps == 0) v->confidence -= 0.1f;
}

static bool prefix_in(const char *d, int digits, int lo, int hi) {
    int n = 0;
    for (int i = 0; i < digits; i++) n = n * 10 + (d[i] - '0');
    return n >= lo && n <= hi;
}

/* Issuer identification numbers (ISO/IEC 7812) and the lengths each issues. */
static bool card_issuer_known(const char *d, size_t n) {
    if (d[0] == '4') return n == 13 || n == 16 || n == 19;                 /* Visa */
    if (prefix_in(d, 2, 51, 55) || prefix_in(d, 4, 2221, 2720)) return n == 16; /* Mastercard */
    if (prefix_in(d, 2, 34, 34) || prefix_in(d, 2, 37, 37)) return n == 15;  /* Amex */
    if (prefix_in(d, 4, 3528, 3589)) return n >= 16;                       /* JCB */
    if (prefix_in(d, 2, 62, 62)) return n >= 16;                           /* UnionPay */
    if (prefix_in(d, 4, 6011, 6011) || prefix_in(d, 3, 644, 649) || prefix_in(d, 2, 65, 65))
        return n >= 16;                                                    /* Discover */
    if (prefix_in(d, 3, 300, 305) || prefix_in(d, 2, 36, 36) || prefix_in(d, 2, 38, 39))
        return n >= 14 && n <= 16;                                         /* Diners */
    if (prefix_in(d, 2, 94, 94)) return n == 16;                           /* BC (Korea) */
    return false;
}

static void validate_card(const char *text, size_t len, scope_verdict *v) {
    size_t seps;
    bool uniform;
    if (!digits_only(text, len, v, &seps, &uniform) || !uniform) return;
    if (v->norm_len < 13 || v->norm_len > 19) return;
    if (!scope_luhn_valid(v->norm, v->norm_len) || all_same_digit(v->norm, v->norm_len)) return;
    v->is_valid = true;
    if (card_issuer_known(v->norm, v->norm_len)) {
        v->confidence = seps ? 0.95f : 0.85f;
        v->note = "Luhn and issuer prefix valid";
    } else {
        v->confidence = 0.35f;
        v->note = "Luhn valid, unknown issuer prefix";
    }
}

/* IMEI reporting bodies (first two TAC digits) that GSMA has allocated. */
static bool imei_rbi_known(const char *d) {
    static const int rbi[] = {1, 10, 30, 33, 35, 44, 45, 49, 50, 51, 52, 53, 54, 86, 91, 98, 99};
    int n = two(d);
    for (size_t i = 0; i < sizeof rbi / sizeof rbi[0]; i++) {
        if (rbi[i] == n) return true;
    }
    return false;
}

static void validate_imei(const char *text, size_t len, bool is_sv, scope_verdict *v) {
    size_t seps;
    bool uniform;
    if (!digits_only(text, len, v, &seps, &uniform) || !uniform) return;
    if (v->norm_len != (is_sv ? 16u : 15u) || all_same_digit(v->norm, v->norm_len)) return;
    bool known = imei_rbi_known(v->norm);
    if (is_sv) {
        /* IMEISV (3GPP TS 23.003 6.2.2): TAC, serial, 2-digit software version, no check. */
        v->is_valid = true;
        v->confidence = known ? 0.45f : 0.2f;
        v->note = "IMEISV has no check digit";
        return;
    }
    if (!scope_luhn_valid(v->norm, v->norm_len)) return;
    v->is_valid = true;
    v->confidence = known ? 0.8f : 0.5f;
    v->note = known ? "Luhn and reporting body valid" : "Luhn valid, unknown reporting body";
}

/* IMSI (3GPP TS 23.003 2.2): MCC, MNC, MSIN; 450 is Korea. */
static void validate_imsi(const char *text, size_t len, scope_verdict *v) {
    size_t seps;
    bool uniform;
    if (!digits_only(text, len, v, &seps, &uniform) || seps || v->norm_len != 15) return;
    const char *d = v->norm;
    int mcc = (d[0] - '0') * 100 + two(d + 1);
    if (mcc < 200 || mcc > 799 || all_same_digit(d, 15)) return;
    v->is_valid = true;
    if (mcc == 450) {
        static const int korean_mnc[] = {2, 3, 4, 5, 6, 8, 11, 12};
        int mnc = two(d + 3);
        bool known = false;
        for (size_t i = 0; i < sizeof korean_mnc / sizeof korean_mnc[0]; i++) {
            known = known || korean_mnc[i] == mnc;
        }
        v->confidence = known ? 0.85f : 0.55f;
        v->note = known ? "Korean MCC and MNC" : "Korean MCC, unknown MNC";
    } else {
        v->confidence = 0.3f;
        v->note = "MCC outside Korea";
    }
}

/* ICCID (ITU-T E.118): 89, country code, issuer, serial, Luhn check. */
static void validate_iccid(const char *text, size_t len, scope_verdict *v) {
    size_t seps;
    bool uniform;
    if (!digits_only(text, len, v, &seps, &uniform) || seps) return;
    if (v->norm_len < 19 || v->norm_len > 20 || v->norm[0] != '8' || v->norm[1] != '9') return;
    bool korean = v->norm[2] == '8' && v->norm[3] == '2';
    v->is_valid = true;
    if (scope_luhn_valid(v->norm, v->norm_len)) {
        v->confidence = korean ? 0.95f : 0.8f;
        v->note = "Luhn valid";
    } else {
        v->confidence = korean ? 0.5f : 0.3f;
        v->note = "Luhn fails";
    }
}

/* Korean numbers (KCC numbering plan): mobile 010 (8 digits after), old
 * 011/016-019, Seoul 02, regions 031-064, internet phones 070. */
static void validate_phone(const char *text, size_t len, scope_verdict *v) {
    char buf[32];
    size_t n = 0, seps = 0;
    size_t i = 0;
    bool intl = false;
    if (len > 0 && text[0] == '+') {
        if (len < 3 || text[1] != '8' || text[2] != '2') return;
        intl = true;
        i = 3;
        buf[n++] = '0';
    }
    for (; i < len; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9') {
            if (n >= sizeof buf - 1) return;
            if (intl && n == 1 && c == '0') continue; /* +82 (0)10 */
            buf[n++] = c;
        } else if (c == '-' || c == ' ' || c == '.' || c == ')' || c == '(') {
            seps++;
        } else {
            return;
        }
    }
    if (n < 9 || buf[0] != '0') return;
    bool is_mobile = buf[1] == '1';
    size_t area = buf[1] == '2' ? 2 : 3;
    size_t sub = n - area; /* digits after the prefix */
    if (is_mobile) {
        bool is_010 = buf[2] == '0';
        bool is_old = buf[2] == '1' || (buf[2] >= '6' && buf[2] <= '9');
        if (is_010 ? sub != 8 : !is_old || sub < 7 || sub > 8) return;
    } else if (area == 2 || (buf[1] >= '3' && buf[1] <= '6' && buf[2] >= '1' && buf[2] <= '5') ||
               (buf[1] == '7' && buf[2] == '0')) {
        if (sub < 7 || sub > 8) return;
    } else {
        return;
    }
    if (buf[area] == '0' || (buf[area] == '1' && !is_mobile)) return; /* exchange never 0 */
    memcpy(v->norm, buf, n);
    v->norm[n] = '\0';
    v->norm_len = n;
    v->is_valid = true;
    if (is_mobile && buf[2] == '0') {
        v->confidence = (seps || intl) ? 0.9f : 0.8f;
    } else if (is_mobile) {
        v->confidence = (seps || intl) ? 0.7f : 0.5f;
    } else {
        v->confidence = (seps || intl) ? 0.75f : 0.35f;
    }
    v->note = is_mobile ? "Korean mobile number" : "Korean landline";
}

static bool is_email_local(unsigned char c) {
    return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* RFC 5321 sizes: local part <= 64, domain <= 253 with a dot and a TLD. */
static void validate_email(const char *text, size_t len, scope_verdict *v) {
    const char *at = memchr(text, '@', len);
    if (!at || len >= SCOPE_NORM_MAX) return;
    size_t local = (size_t)(at - text), domain = len - local - 1;
    if (local == 0 || local > 64 || domain < 4 || domain > 253) return;
    for (size_t i = 0; i < local; i++) {
        if (!is_email_local((unsigned char)text[i])) return;
    }
    if (text[0] == '.' || text[local - 1] == '.') return;
    const char *d = at + 1;
    size_t last_dot = 0, label = 0;
    for (size_t i = 0; i < domain; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0) return;
            last_dot = i;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            label++;
        } else {
            return;
        }
    }
    if (last_dot == 0 || label < 2) return;
    for (size_t i = last_dot + 1; i < domain; i++) {
        if (!isalpha((unsigned char)d[i])) return;
    }
    for (size_t i = 0; i < len; i++) v->norm[i] = (char)tolower((unsigned char)text[i]);
    v->norm[len] = '\0';
    v->norm_len = len;
    v->is_valid = true;
    v->confidence = 0.9f;
    v->note = "well-formed address";
}

/* Korean passports: one letter (M multiple, S single, R travel, O official,
 * D diplomatic, G) and 8 digits; since December 2021 letter, 3 digits,
 * letter, 4 digits. */
static void validate_passport(const char *text, size_t len, scope_verdict *v) {
    if (len != 9 || !strchr("MSRODG", text[0]) || text[0] == '\0') return;
    bool is_new = isupper((unsigned char)text[4]);
    for (size_t i = 1; i < 9; i++) {
        if (i == 4 && is_new) continue;
        if (!isdigit((unsigned char)text[i])) return;
    }
    memcpy(v->norm, text, len);
    v->norm[len] = '\0';
    v->norm_len = len;
    if (!is_new && all_same_digit(text + 1, 8)) return;
    v->is_valid = true;
    v->confidence = is_new ? 0.6f : (text[0] == 'M' || text[0] == 'S') ? 0.5f : 0.4f;
    v->note = is_new ? "2021 passport format" : "passport format";
}

/* Korean bank accounts are 10-14 digits in bank-specific groupings; the
 * shape alone says nothing, so only a label gives confidence. */
static void validate_bank(const char *text, size_t len, scope_verdict *v) {
    size_t seps;
    bool uniform;
    if (!digits_only(text, len, v, &seps, &uniform) || !uniform) return;
    if (v->norm_len < 10 || v->norm_len > 14 || all_same_digit(v->norm, v->norm_len)) return;
    v->is_valid = true;
    v->confidence = 0.0f;
    v->note = "needs a label";
}

void scope_validate(scope_kind kind, const char *text, size_t len, scope_verdict *out) {
    /* not memset: the verdict is 300 bytes and numeric runs are validated
     * as several kinds; the validators write norm before setting is_valid */
    out->is_valid = false;
    out->confidence = 0.0f;
    out->norm[0] = '\0';
    out->norm_len = 0;
    out->kind = kind;
    out->note = "";
    if (len == 0 || len >= SCOPE_NORM_MAX) return;
    switch (kind) {
    case SCOPE_RRN:
    case SCOPE_FRN: validate_rrn(text, len, out); break;
    case SCOPE_CARD: validate_card(text, len, out); break;
    case SCOPE_IMEI: validate_imei(text, len, false, out); break;
    case SCOPE_IMEISV: validate_imei(text, len, true, out); break;
    case SCOPE_IMSI: validate_imsi(text, len, out); break;
    case SCOPE_ICCID: validate_iccid(text, len, out); break;
    case SCOPE_PHONE: validate_phone(text, len, out); break;
    case SCOPE_EMAIL: validate_email(text, len, out); break;
    case SCOPE_PASSPORT: validate_passport(text, len, out); break;
    case SCOPE_BANK_ACCOUNT: validate_bank(text, len, out); break;
    default: break;
    }
    if (!out->is_valid) out->confidence = 0.0f;
}

/* ---- labels --------------------------------------------------------------- */

typedef struct label_word {
    const char *word; /* lower-case ASCII or UTF-8 Korean */
    uint32_t kinds;
} label_word;

#define K(k) (1u << (k))
static const label_word label_words[] = {
    {"주민", K(SCOPE_RRN) | K(SCOPE_FRN)},      {"resident", K(SCOPE_RRN) | K(SCOPE_FRN)},
    {"rrn", K(SCOPE_RRN) | K(SCOPE_FRN)},       {"jumin", K(SCOPE_RRN) | K(SCOPE_FRN)},
    {"ssn", K(SCOPE_RRN) | K(SCOPE_FRN)},       {"외국인", K(SCOPE_FRN) | K(SCOPE_RRN)},
    {"등록번호", K(SCOPE_RRN) | K(SCOPE_FRN)},  {"frn", K(SCOPE_FRN) | K(SCOPE_RRN)},
    {"card", K(SCOPE_CARD)},                    {"카드", K(SCOPE_CARD)},
    {"pan", K(SCOPE_CARD)},                     {"cc_num", K(SCOPE_CARD)},
    {"imeisv", K(SCOPE_IMEISV)},                {"imei", K(SCOPE_IMEI) | K(SCOPE_IMEISV)},
    {"단말", K(SCOPE_IMEI) | K(SCOPE_IMEISV)},  {"imsi", K(SCOPE_IMSI)},
    {"가입자식별", K(SCOPE_IMSI)},              {"iccid", K(SCOPE_ICCID)},
    {"usim", K(SCOPE_ICCID) | K(SCOPE_IMSI)},   {"phone", K(SCOPE_PHONE)},
    {"mobile", K(SCOPE_PHONE)},                 {"tel", K(SCOPE_PHONE)},
    {"전화", K(SCOPE_PHONE)},                   {"휴대", K(SCOPE_PHONE)},
    {"연락처", K(SCOPE_PHONE)},                 {"msisdn", K(SCOPE_PHONE)},
    {"mail", K(SCOPE_EMAIL)},                   {"메일", K(SCOPE_EMAIL)},
    {"passport", K(SCOPE_PASSPORT)},            {"여권", K(SCOPE_PASSPORT)},
    {"계좌", K(SCOPE_BANK_ACCOUNT)},            {"account", K(SCOPE_BANK_ACCOUNT)},
    {"acct", K(SCOPE_BANK_ACCOUNT)},            {"bank", K(SCOPE_BANK_ACCOUNT)},
    {"은행", K(SCOPE_BANK_ACCOUNT)},
};

/* Label words indexed by their first (lower-cased) byte, so the search
 * costs one table lookup per byte of context: labels are looked up for
 * every candidate, decoys included. */
static unsigned char label_first[256];           /* 1 + index of the first word, 0 none */
static unsigned char label_next[sizeof label_words / sizeof label_words[0]];
static unsigned char label_len[sizeof label_words / sizeof label_words[0]];
static unsigned char label_second[sizeof label_words / sizeof label_words[0]];
static pthread_once_t label_once = PTHREAD_ONCE_INIT;

static unsigned char ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }

static void label_index_build(void) {
    size_t n = sizeof label_words / sizeof label_words[0];
    for (size_t i = n; i-- > 0;) {
        unsigned char c = (unsigned char)label_words[i].word[0];
        label_len[i] = (unsigned char)strlen(label_words[i].word);
        label_second[i] = (unsigned char)label_words[i].word[1]; /* every word has two bytes */
        label_next[i] = label_first[c];
        label_first[c] = (unsigned char)(i + 1);
    }
}

uint32_t scope_label_kinds(const char *s, size_t len) {
    pthread_once(&label_once, label_index_build);
    uint32_t kinds = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned first = label_first[ascii_lower((unsigned char)s[i])];
        if (!first) continue;
        /* the second byte rules out most words before a full comparison */
        unsigned char second = ascii_lower((unsigned char)s[i + 1]);
        for (unsigned w = first; w; w = label_next[w - 1]) {
            size_t wl = label_len[w - 1];
            if (label_second[w - 1] == second && wl <= len - i &&
                strncasecmp(s + i, label_words[w - 1].word, wl) == 0)
                kinds |= label_words[w - 1].kinds;
        }
    }
    /* "account" also appears in "account_id" of any system; an e-mail label
     * beside it ("account_email") names the mail, not a bank. */
    if ((kinds & K(SCOPE_EMAIL)) || (kinds & K(SCOPE_PHONE))) kinds &= ~K(SCOPE_BANK_ACCOUNT);
    return kinds;
}

float scope_label_adjust(scope_kind kind, float confidence, uint32_t labels) {
    float c = confidence;
    if (labels & K(kind)) {
        c = kind == SCOPE_BANK_ACCOUNT ? 0.85f : c + 0.35f;
        if (c > 0.99f) c = 0.99f;
    } else if (labels) {
        c -= 0.2f;
    }
    return c < 0.0f ? 0.0f : c;
}
#undef K

/* ---- masking -------------------------------------------------------------- */

/* How many significant characters stay visible at each end, per kind:
 * enough to tell records apart in a review, never enough to act on. */
static void mask_keep(scope_kind kind, size_t *head, size_t *tail) {
    static const unsigned char keep[SCOPE_KIND_COUNT][2] = {
        [SCOPE_RRN] = {7, 0},   [SCOPE_FRN] = {7, 0},      [SCOPE_CARD] = {4, 4},
        [SCOPE_IMEI] = {8, 0},  [SCOPE_IMEISV] = {8, 0},   [SCOPE_IMSI] = {5, 0},
        [SCOPE_ICCID] = {6, 0}, [SCOPE_PHONE] = {3, 4},    [SCOPE_EMAIL] = {1, 0},
        [SCOPE_PASSPORT] = {1, 0}, [SCOPE_BANK_ACCOUNT] = {0, 4},
    };
    *head = (unsigned)kind < SCOPE_KIND_COUNT ? keep[kind][0] : 0;
    *tail = (unsigned)kind < SCOPE_KIND_COUNT ? keep[kind][1] : 0;
}

size_t scope_mask(scope_kind kind, const char *text, size_t len, char *out) {
    size_t head, tail;
    mask_keep(kind, &head, &tail);
    size_t end = len;
    if (kind == SCOPE_EMAIL) {
        const char *at = memchr(text, '@', len);
        if (at) end = (size_t)(at - text); /* the domain stays visible */
    }
    size_t significant = 0;
    for (size_t i = 0; i < end; i++) significant += isalnum((unsigned char)text[i]) ? 1 : 0;
    if (head + tail >= significant) {
        head = significant > 1 ? 1 : 0;
        tail = 0;
    }
    size_t seen = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (i < end && isalnum((unsigned char)c)) {
            seen++;
            out[i] = (seen <= head || seen > significant - tail) ? c : '*';
        } else {
            out[i] = c;
        }
    }
    out[len] = '\0';
    return len;
}
