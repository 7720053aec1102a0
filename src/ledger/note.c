/* C2SP signed-note (c2sp.org/signed-note): keys, parsing, signing and
 * verification, including tlog-cosignature/v1 timestamped signatures. */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ledger/ledger_int.h"

static const char EM_DASH_SPACE[] = "\xe2\x80\x94 "; /* U+2014 then U+0020 */
#define EM_DASH_SPACE_LEN 4
static const char SKEY_PREFIX[] = "PRIVATE+KEY+";
#define COSIG_SIG_LEN (8 + crypto_sign_BYTES)

/* Unicode White_Space characters beyond ASCII, as UTF-8 sequences. */
static size_t unicode_space_len(const unsigned char *p, size_t left) {
    if (left >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) return 2;
    if (left >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) return 3;
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
        (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf)) return 3;
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) return 3;
    if (left >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) return 3;
    return 0;
}

/* signed-note: key names are non-empty, without Unicode spaces or '+'. */
static bool is_valid_name(const char *name, size_t len) {
    if (len == 0 || len > LEDGER_NAME_MAX) return false;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] == 0x7f || p[i] == '+') return false;
        if (unicode_space_len(p + i, len - i)) return false;
    }
    return true;
}

/* Valid UTF-8 (no overlongs, surrogates or > U+10FFFF), no controls but \n. */
static bool is_note_text(const char *s, size_t len, size_t *bad) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n') || c == 0x7f) break;
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07;
        } else {
            break;
        }
        if (i + n > len) break;
        size_t k = 1;
        for (; k < n && (p[i + k] & 0xc0) == 0x80; k++) cp = (cp << 6) | (p[i + k] & 0x3f);
        if (k != n) break;
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) break;
        i += n;
    }
    *bad = i;
    return i == len;
}

static uint32_t compute_key_id(const char *name, uint8_t type, const uint8_t pub[32]) {
    const uint8_t sep[2] = {'\n', type};
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&state, sep, sizeof sep);
    crypto_hash_sha256_update(&state, pub, 32);
    uint8_t digest[32];
    crypto_hash_sha256_final(&state, digest);
    return (uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 | (uint32_t)digest[2] << 8 |
           digest[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static uint64_t get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

int ledger_verifier_format(const ledger_verifier *key, hae_buf *out) {
    uint8_t material[33];
    material[0] = key->type;
    memcpy(material + 1, key->public_key, 32);
    int rc = hae_buf_printf(out, "%s+%08" PRIx32 "+", key->name, key->key_id);
    return rc < 0 ? rc : ledger_base64_append(out, material, sizeof material);
}

/* name+hex+base64(type||32 bytes): shared by vkeys and the tail of skeys. */
static int parse_key_text(const char *text, size_t len, const char *what, ledger_verifier *out,
                          uint8_t material[32], hae_err *err) {
    const char *plus1 = memchr(text, '+', len);
    const char *plus2 = plus1 ? memchr(plus1 + 1, '+', len - (size_t)(plus1 + 1 - text)) : NULL;
    if (!plus2) return hae_err_set(err, HAE_EINVAL, "%s: expected name+keyid+key", what);
    size_t name_len = (size_t)(plus1 - text);
    if (!is_valid_name(text, name_len)) {
        return hae_err_set(err, HAE_EINVAL, "%s: invalid key name", what);
    }
    if (plus2 - plus1 - 1 != 8) return hae_err_set(err, HAE_EINVAL, "%s: key id is not 8 hex digits", what);
    uint32_t id = 0;
    for (const char *p = plus1 + 1; p < plus2; p++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0'
                : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
        if (d < 0) return hae_err_set(err, HAE_EINVAL, "%s: key id is not hex", what);
        id = id << 4 | (uint32_t)d;
    }
    uint8_t decoded[64];
    size_t n = 0;
    const char *b64 = plus2 + 1;
    if (ledger_base64_decode(b64, len - (size_t)(b64 - text), decoded, sizeof decoded, &n) < 0 ||
        n != 33) {
        return hae_err_set(err, HAE_EINVAL, "%s: key material is not base64 of 33 bytes", what);
    }
    if (decoded[0] != LEDGER_KEY_ED25519 && decoded[0] != LEDGER_KEY_COSIGNATURE) {
        return hae_err_set(err, HAE_EINVAL, "%s: unsupported signature type 0x%02x", what,
                           decoded[0]);
    }
    memcpy(out->name, text, name_len);
    out->name[name_len] = '\0';
    out->type = decoded[0];
    out->key_id = id;
    memcpy(material, decoded + 1, 32);
    sodium_memzero(decoded, sizeof decoded);
    return HAE_OK;
}

int ledger_verifier_parse(const char *vkey, size_t len, ledger_verifier *out, hae_err *err) {
    while (len > 0 && (vkey[len - 1] == '\n' || vkey[len - 1] == '\r')) len--;
    memset(out, 0, sizeof *out);
    int rc = parse_key_text(vkey, len, "vkey", out, out->public_key, err);
    if (rc < 0) return rc;
    if (compute_key_id(out->name, out->type, out->public_key) != out->key_id) {
        return hae_err_set(err, HAE_EINVAL, "vkey: key id does not match the key");
    }
    return HAE_OK;
}

int ledger_signer_parse(const char *skey, size_t len, ledger_signer *out, hae_err *err) {
    int rc = ledger_crypto_init(err);
    if (rc < 0) return rc;
    while (len > 0 && (skey[len - 1] == '\n' || skey[len - 1] == '\r')) len--;
    memset(out, 0, sizeof *out);
    size_t plen = sizeof SKEY_PREFIX - 1;
    if (len < plen || memcmp(skey, SKEY_PREFIX, plen) != 0) {
        return hae_err_set(err, HAE_EINVAL, "skey: does not start with %s", SKEY_PREFIX);
    }
    uint8_t seed[32];
    rc = parse_key_text(skey + plen, len - plen, "skey", &out->verifier, seed, err);
    if (rc < 0) return rc;
    crypto_sign_seed_keypair(out->verifier.public_key, out->secret_key, seed);
    sodium_memzero(seed, sizeof seed);
    ledger_verifier *v = &out->verifier;
    if (compute_key_id(v->name, v->type, v->public_key) != v->key_id) {
        ledger_signer_wipe(out);
        return hae_err_set(err, HAE_EINVAL, "skey: key id does not match the key");
    }
    return HAE_OK;
}

void ledger_signer_wipe(ledger_signer *s) {
    sodium_memzero(s, sizeof *s);
}

int ledger_key_generate(const char *name, uint8_t type, hae_buf *skey, hae_buf *vkey,
                        hae_err *err) {
    int rc = ledger_crypto_init(err);
    if (rc < 0) return rc;
    if (!is_valid_name(name, strlen(name))) {
        return hae_err_set(err, HAE_EINVAL,
                           "key name '%s' must be non-empty, at most %d bytes, without spaces or '+'",
                           name, LEDGER_NAME_MAX);
    }
    if (type != LEDGER_KEY_ED25519 && type != LEDGER_KEY_COSIGNATURE) {
        return hae_err_set(err, HAE_EINVAL, "unsupported key type 0x%02x", type);
    }
    ledger_signer s;
    memset(&s, 0, sizeof s);
    snprintf(s.verifier.name, sizeof s.verifier.name, "%s", name);
    s.verifier.type = type;
    crypto_sign_keypair(s.verifier.public_key, s.secret_key);
    s.verifier.key_id = compute_key_id(name, type, s.verifier.public_key);
    uint8_t material[33];
    material[0] = type;
    crypto_sign_ed25519_sk_to_seed(material + 1, s.secret_key);
    rc = hae_buf_printf(skey, "%s%s+%08" PRIx32 "+", SKEY_PREFIX, name, s.verifier.key_id);
    if (rc == HAE_OK) rc = ledger_base64_append(skey, material, sizeof material);
    if (rc == HAE_OK) rc = ledger_verifier_format(&s.verifier, vkey);
    sodium_memzero(material, sizeof material);
    ledger_signer_wipe(&s);
    return rc < 0 ? hae_err_set(err, rc, "out of memory") : HAE_OK;
}

/* ---- notes ---------------------------------------------------------- */

static int parse_sig_line(ledger_note *note, const char *line, size_t len, size_t line_no,
                          hae_err *err) {
    if (len < EM_DASH_SPACE_LEN || memcmp(line, EM_DASH_SPACE, EM_DASH_SPACE_LEN) != 0) {
        return hae_err_set(err, HAE_EINVAL, "note: line %zu: signature lines start with an em dash", line_no);
    }
    line += EM_DASH_SPACE_LEN, len -= EM_DASH_SPACE_LEN;
    const char *space = memchr(line, ' ', len);
    if (!space) return hae_err_set(err, HAE_EINVAL, "note: line %zu: no signature after key name", line_no);
    size_t name_len = (size_t)(space - line);
    if (!is_valid_name(line, name_len)) {
        return hae_err_set(err, HAE_EINVAL, "note: line %zu: invalid key name", line_no);
    }
    const char *b64 = space + 1;
    size_t b64_len = len - name_len - 1;
    size_t cap = b64_len / 4 * 3 + 3;
    uint8_t *raw = hae_arena_alloc(&note->arena, cap);
    char *name = hae_arena_strndup(&note->arena, line, name_len);
    if (!raw || !name) return hae_err_set(err, HAE_ENOMEM, "note: out of memory");
    size_t n = 0;
    if (ledger_base64_decode(b64, b64_len, raw, cap, &n) < 0 || n < 5) {
        return hae_err_set(err, HAE_EINVAL, "note: line %zu: signature is not base64 of 5 or more bytes", line_no);
    }
    if (note->sig_count == LEDGER_NOTE_SIGS_MAX) {
        return hae_err_set(err, HAE_ELIMIT, "note: more than %d signatures", LEDGER_NOTE_SIGS_MAX);
    }
    ledger_note_sig *s = &note->sigs[note->sig_count++];
    s->name = name;
    s->key_id = get_be32(raw);
    s->sig = raw + 4;
    s->sig_len = n - 4;
    return HAE_OK;
}

int ledger_note_parse(ledger_note *out, const char *data, size_t len, hae_err *err) {
    memset(out, 0, sizeof *out);
    if (len > LEDGER_NOTE_MAX) return hae_err_set(err, HAE_ELIMIT, "note: larger than %d bytes", LEDGER_NOTE_MAX);
    size_t bad = 0;
    if (!is_note_text(data, len, &bad)) {
        return hae_err_set(err, HAE_EINVAL, "note: byte %zu: not UTF-8 text without control characters", bad);
    }
    if (len == 0 || data[len - 1] != '\n') return hae_err_set(err, HAE_EINVAL, "note: does not end in a newline");
    /* The text ends at the last blank line (signed-note "Format"). */
    size_t sep = len;
    for (size_t i = len - 1; i-- > 0;) {
        if (data[i] == '\n' && data[i + 1] == '\n') {
            sep = i;
            break;
        }
    }
    if (sep == len) return hae_err_set(err, HAE_EINVAL, "note: no blank line before the signatures");
    out->sigs = hae_arena_alloc(&out->arena, LEDGER_NOTE_SIGS_MAX * sizeof *out->sigs);
    out->text = hae_arena_strndup(&out->arena, data, sep + 1);
    if (!out->sigs || !out->text) {
        ledger_note_free(out);
        return hae_err_set(err, HAE_ENOMEM, "note: out of memory");
    }
    out->text_len = sep + 1;
    size_t line_no = 1;
    for (size_t i = 0; i <= sep; i++) line_no += data[i] == '\n';
    for (size_t pos = sep + 2; pos < len; line_no++) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t line_len = (size_t)(nl - (data + pos)); /* data ends in '\n': nl is found */
        int rc = parse_sig_line(out, data + pos, line_len, line_no, err);
        if (rc < 0) {
            ledger_note_free(out);
            return rc;
        }
        pos += line_len + 1;
    }
    if (out->sig_count == 0) {
        ledger_note_free(out);
        return hae_err_set(err, HAE_EINVAL, "note: no signature lines");
    }
    return HAE_OK;
}

void ledger_note_free(ledger_note *note) {
    if (!note) return;
    hae_arena_free(&note->arena);
    memset(note, 0, sizeof *note);
}

static int cosig_message(const char *text, size_t len, uint64_t timestamp, hae_buf *msg) {
    int rc = hae_buf_printf(msg, "cosignature/v1\ntime %" PRIu64 "\n", timestamp);
    return rc < 0 ? rc : hae_buf_append(msg, text, len);
}

static int verify_one(const ledger_note *note, const ledger_note_sig *s, const ledger_verifier *k,
                      ledger_sig_result *result, hae_err *err) {
    const uint8_t *text = (const uint8_t *)note->text;
    if (k->type == LEDGER_KEY_ED25519) {
        if (s->sig_len != crypto_sign_BYTES ||
            crypto_sign_verify_detached(s->sig, text, note->text_len, k->public_key) != 0) {
            return hae_err_set(err, HAE_EINVAL, "note: signature by %s does not verify", k->name);
        }
        result->timestamp = 0;
        return HAE_OK;
    }
    if (s->sig_len != COSIG_SIG_LEN) {
        return hae_err_set(err, HAE_EINVAL, "note: cosignature by %s has %zu bytes, expected %d",
                           k->name, s->sig_len, COSIG_SIG_LEN);
    }
    uint64_t ts = get_be64(s->sig);
    if (ts > INT64_MAX) return hae_err_set(err, HAE_EINVAL, "note: cosignature time exceeds 2^63-1");
    hae_buf msg = {0};
    int rc = cosig_message(note->text, note->text_len, ts, &msg);
    if (rc < 0) return hae_err_set(err, rc, "note: out of memory");
    if (crypto_sign_verify_detached(s->sig + 8, (const uint8_t *)msg.data, msg.len, k->public_key) != 0) {
        rc = hae_err_set(err, HAE_EINVAL, "note: cosignature by %s does not verify", k->name);
    }
    hae_buf_free(&msg);
    result->timestamp = ts;
    return rc;
}

int ledger_note_verify(const ledger_note *note, const ledger_verifier *keys, size_t key_count,
                       ledger_sig_result *results, hae_err *err) {
    int rc = ledger_crypto_init(err);
    if (rc < 0) return rc;
    int verified = 0;
    for (size_t k = 0; k < key_count; k++) {
        ledger_sig_result r = {0};
        for (size_t i = 0; i < note->sig_count; i++) {
            const ledger_note_sig *s = &note->sigs[i];
            if (s->key_id != keys[k].key_id || strcmp(s->name, keys[k].name) != 0) continue;
            rc = verify_one(note, s, &keys[k], &r, err);
            if (rc < 0) return rc; /* a known key that fails rejects the note */
            r.is_verified = true;
        }
        if (r.is_verified) verified++;
        if (results) results[k] = r;
    }
    if (verified == 0) return hae_err_set(err, HAE_EINVAL, "note: no signature from a known key");
    return verified;
}

static int append_sig_line(hae_buf *out, const char *name, uint32_t key_id, const uint8_t *sig,
                           size_t sig_len) {
    uint8_t raw[4 + COSIG_SIG_LEN + 4096];
    if (sig_len > sizeof raw - 4) return HAE_EINVAL;
    put_be32(raw, key_id);
    memcpy(raw + 4, sig, sig_len);
    int rc = hae_buf_printf(out, "%s%s ", EM_DASH_SPACE, name);
    if (rc == HAE_OK) rc = ledger_base64_append(out, raw, 4 + sig_len);
    if (rc == HAE_OK) rc = hae_buf_append_char(out, '\n');
    return rc;
}

int ledger_note_sign(const char *text, size_t len, const ledger_signer *key, hae_buf *out,
                     hae_err *err) {
    int rc = ledger_crypto_init(err);
    if (rc < 0) return rc;
    if (key->verifier.type != LEDGER_KEY_ED25519) {
        return hae_err_set(err, HAE_EINVAL, "note: %s is not a note-signing (Ed25519) key", key->verifier.name);
    }
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)text, len, key->secret_key);
    rc = append_sig_line(out, key->verifier.name, key->verifier.key_id, sig, sizeof sig);
    return rc < 0 ? hae_err_set(err, rc, "note: out of memory") : HAE_OK;
}

int ledger_note_cosign(const ledger_note *note, const ledger_signer *witness, uint64_t timestamp,
                       hae_buf *out, hae_err *err) {
    int rc = ledger_crypto_init(err);
    if (rc < 0) return rc;
    const ledger_verifier *w = &witness->verifier;
    if (w->type != LEDGER_KEY_COSIGNATURE) {
        return hae_err_set(err, HAE_EINVAL, "cosign: %s is not a cosignature (type 0x04) key", w->name);
    }
    if (timestamp > INT64_MAX) return hae_err_set(err, HAE_EINVAL, "cosign: time exceeds 2^63-1");
    /* The result must parse again: room for one more signature unless this
     * witness's own (replaced below) is among them. */
    size_t kept = 0;
    for (size_t i = 0; i < note->sig_count; i++) {
        const ledger_note_sig *s = &note->sigs[i];
        kept += !(s->key_id == w->key_id && strcmp(s->name, w->name) == 0);
    }
    if (kept >= LEDGER_NOTE_SIGS_MAX) {
        return hae_err_set(err, HAE_ELIMIT, "cosign: the note already carries %d signatures",
                           LEDGER_NOTE_SIGS_MAX);
    }
    hae_buf msg = {0};
    rc = cosig_message(note->text, note->text_len, timestamp, &msg);
    uint8_t sig[COSIG_SIG_LEN];
    put_be64(sig, timestamp);
    if (rc == HAE_OK) {
        crypto_sign_detached(sig + 8, NULL, (const uint8_t *)msg.data, msg.len, witness->secret_key);
        rc = hae_buf_append(out, note->text, note->text_len);
    }
    if (rc == HAE_OK) rc = hae_buf_append_char(out, '\n');
    for (size_t i = 0; rc == HAE_OK && i < note->sig_count; i++) {
        const ledger_note_sig *s = &note->sigs[i];
        if (s->key_id == w->key_id && strcmp(s->name, w->name) == 0) continue; /* replaced */
        rc = append_sig_line(out, s->name, s->key_id, s->sig, s->sig_len);
    }
    if (rc == HAE_OK) rc = append_sig_line(out, w->name, w->key_id, sig, sizeof sig);
    hae_buf_free(&msg);
    return rc < 0 ? hae_err_set(err, rc, "cosign: cannot encode the note") : HAE_OK;
}
