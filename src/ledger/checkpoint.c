/* C2SP tlog-checkpoint bodies and the proof files of docs/LEDGER.md:
 * c2sp.org/tlog-proof@v1 for inclusion, our consistency format beside it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ledger/ledger_int.h"

static const char INCLUSION_HEADER[] = "c2sp.org/tlog-proof@v1";
static const char CONSISTENCY_HEADER[] = "haetae.dev/consistency-proof@v1";

/* A cursor over '\n'-terminated lines. */
typedef struct line_reader {
    const char *data;
    size_t len;
    size_t pos;
    size_t line_no;
} line_reader;

/* Next line without its newline; false at the end or on a line that has
 * no newline (everything we parse ends in one). */
static bool next_line(line_reader *r, const char **line, size_t *len) {
    if (r->pos >= r->len) return false;
    const char *nl = memchr(r->data + r->pos, '\n', r->len - r->pos);
    if (!nl) return false;
    *line = r->data + r->pos;
    *len = (size_t)(nl - *line);
    r->pos += *len + 1;
    r->line_no++;
    return true;
}

/* ASCII decimal, no sign, no leading zeroes (but "0"), fits uint64. */
bool ledger_parse_decimal(const char *s, size_t len, uint64_t *out) {
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0')) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool parse_hash(const char *s, size_t len, ledger_hash *out) {
    uint8_t buf[LEDGER_HASH_LEN + 3];
    size_t n = 0;
    if (ledger_base64_decode(s, len, buf, sizeof buf, &n) < 0 || n != LEDGER_HASH_LEN) return false;
    memcpy(out->bytes, buf, LEDGER_HASH_LEN);
    return true;
}

int ledger_checkpoint_parse(const char *text, size_t len, ledger_checkpoint *out, hae_err *err) {
    memset(out, 0, sizeof *out);
    line_reader r = {text, len, 0, 0};
    const char *line;
    size_t n;
    if (!next_line(&r, &line, &n) || n == 0 || n > LEDGER_NAME_MAX || memchr(line, '\0', n)) {
        return hae_err_set(err, HAE_EINVAL, "checkpoint: line 1: missing or invalid origin");
    }
    memcpy(out->origin, line, n);
    out->origin[n] = '\0';
    if (!next_line(&r, &line, &n) || !ledger_parse_decimal(line, n, &out->size)) {
        return hae_err_set(err, HAE_EINVAL, "checkpoint: line 2: tree size is not a decimal number");
    }
    if (!next_line(&r, &line, &n) || !parse_hash(line, n, &out->root)) {
        return hae_err_set(err, HAE_EINVAL, "checkpoint: line 3: root is not base64 of 32 bytes");
    }
    while (next_line(&r, &line, &n)) {
        if (n == 0) return hae_err_set(err, HAE_EINVAL, "checkpoint: line %zu: empty extension line", r.line_no);
    }
    if (r.pos != len) return hae_err_set(err, HAE_EINVAL, "checkpoint: text does not end in a newline");
    return HAE_OK;
}

int ledger_checkpoint_format(const ledger_checkpoint *cp, hae_buf *out) {
    int rc = hae_buf_printf(out, "%s\n%" PRIu64 "\n", cp->origin, cp->size);
    if (rc == HAE_OK) rc = ledger_base64_append(out, cp->root.bytes, LEDGER_HASH_LEN);
    if (rc == HAE_OK) rc = hae_buf_append_char(out, '\n');
    return rc;
}

int ledger_checkpoint_open(const char *data, size_t len, const ledger_verifier *keys,
                           size_t key_count, ledger_checkpoint *cp, ledger_note *note,
                           hae_err *err) {
    if (key_count > 16) return hae_err_set(err, HAE_ELIMIT, "checkpoint: at most 16 keys");
    ledger_note local = {0};
    ledger_note *n = note ? note : &local;
    int rc = ledger_note_parse(n, data, len, err);
    if (rc < 0) return rc;
    rc = ledger_checkpoint_parse(n->text, n->text_len, cp, err);
    ledger_sig_result results[16] = {{0}};
    ledger_sig_result *res = results;
    if (rc == HAE_OK) rc = ledger_note_verify(n, keys, key_count, res, err);
    if (rc >= 0) {
        /* Witness signatures alone do not make a checkpoint: the log's own
         * key (named as the origin, tlog-checkpoint "Signatures") must sign. */
        bool has_log_sig = false;
        for (size_t k = 0; k < key_count; k++) {
            has_log_sig |= res[k].is_verified && keys[k].type == LEDGER_KEY_ED25519 &&
                           strcmp(keys[k].name, cp->origin) == 0;
        }
        rc = has_log_sig ? HAE_OK
                         : hae_err_set(err, HAE_EINVAL,
                                       "checkpoint: not signed by a log key named '%s'", cp->origin);
    }
    if (rc < 0 || !note) ledger_note_free(n);
    return rc;
}

/* ---- proof files ----------------------------------------------------- */

static int append_hashes(hae_buf *out, const ledger_proof *proof) {
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < proof->count; i++) {
        rc = ledger_base64_append(out, proof->hashes[i].bytes, LEDGER_HASH_LEN);
        if (rc == HAE_OK) rc = hae_buf_append_char(out, '\n');
    }
    return rc;
}

int ledger_inclusion_format(uint64_t index, const ledger_proof *proof, const char *checkpoint,
                            size_t checkpoint_len, hae_buf *out) {
    int rc = hae_buf_printf(out, "%s\nindex %" PRIu64 "\n", INCLUSION_HEADER, index);
    if (rc == HAE_OK) rc = append_hashes(out, proof);
    if (rc == HAE_OK && checkpoint) {
        rc = hae_buf_append_char(out, '\n');
        if (rc == HAE_OK) rc = hae_buf_append(out, checkpoint, checkpoint_len);
    }
    return rc;
}

/* Hash lines up to a blank line or the end. */
static int read_hashes(line_reader *r, ledger_proof *proof, bool *saw_blank, hae_err *err) {
    const char *line;
    size_t n;
    proof->count = 0;
    *saw_blank = false;
    while (next_line(r, &line, &n)) {
        if (n == 0) {
            *saw_blank = true;
            return HAE_OK;
        }
        if (proof->count == LEDGER_PROOF_MAX) {
            return hae_err_set(err, HAE_ELIMIT, "proof: line %zu: more than %d hashes", r->line_no, LEDGER_PROOF_MAX);
        }
        if (!parse_hash(line, n, &proof->hashes[proof->count])) {
            return hae_err_set(err, HAE_EINVAL, "proof: line %zu: not base64 of a 32-byte hash", r->line_no);
        }
        proof->count++;
    }
    if (r->pos != r->len) return hae_err_set(err, HAE_EINVAL, "proof: last line has no newline");
    return HAE_OK;
}

static int expect_number_line(line_reader *r, const char *key, uint64_t *out, hae_err *err) {
    const char *line;
    size_t n, klen = strlen(key);
    if (!next_line(r, &line, &n) || n <= klen + 1 || memcmp(line, key, klen) != 0 ||
        line[klen] != ' ' || !ledger_parse_decimal(line + klen + 1, n - klen - 1, out)) {
        return hae_err_set(err, HAE_EINVAL, "proof: line %zu: expected '%s N'", r->line_no + 1, key);
    }
    return HAE_OK;
}

static int expect_header(line_reader *r, const char *header, hae_err *err) {
    const char *line;
    size_t n;
    if (!next_line(r, &line, &n) || n != strlen(header) || memcmp(line, header, n) != 0) {
        return hae_err_set(err, HAE_EINVAL, "proof: line 1: expected '%s'", header);
    }
    return HAE_OK;
}

int ledger_inclusion_parse(const char *data, size_t len, uint64_t *index, ledger_proof *proof,
                           const char **checkpoint, size_t *checkpoint_len, hae_err *err) {
    line_reader r = {data, len, 0, 0};
    *checkpoint = NULL;
    *checkpoint_len = 0;
    proof->count = 0;
    int rc = expect_header(&r, INCLUSION_HEADER, err);
    if (rc < 0) return rc;
    /* tlog-proof: an optional "extra <base64>" line precedes the index. */
    if (len - r.pos >= 6 && memcmp(data + r.pos, "extra ", 6) == 0) {
        const char *line;
        size_t n;
        if (!next_line(&r, &line, &n)) return hae_err_set(err, HAE_EINVAL, "proof: line 2: unterminated");
    }
    rc = expect_number_line(&r, "index", index, err);
    bool saw_blank = false;
    if (rc == HAE_OK) rc = read_hashes(&r, proof, &saw_blank, err);
    if (rc < 0) return rc;
    if (saw_blank) {
        if (r.pos == len) return hae_err_set(err, HAE_EINVAL, "proof: blank line but no checkpoint");
        *checkpoint = data + r.pos;
        *checkpoint_len = len - r.pos;
    }
    return HAE_OK;
}

int ledger_consistency_format(uint64_t old_size, uint64_t size, const ledger_proof *proof,
                              hae_buf *out) {
    int rc = hae_buf_printf(out, "%s\nold %" PRIu64 "\nsize %" PRIu64 "\n", CONSISTENCY_HEADER,
                            old_size, size);
    return rc < 0 ? rc : append_hashes(out, proof);
}

int ledger_consistency_parse(const char *data, size_t len, uint64_t *old_size, uint64_t *size,
                             ledger_proof *proof, hae_err *err) {
    line_reader r = {data, len, 0, 0};
    proof->count = 0;
    int rc = expect_header(&r, CONSISTENCY_HEADER, err);
    if (rc == HAE_OK) rc = expect_number_line(&r, "old", old_size, err);
    if (rc == HAE_OK) rc = expect_number_line(&r, "size", size, err);
    bool saw_blank = false;
    if (rc == HAE_OK) rc = read_hashes(&r, proof, &saw_blank, err);
    if (rc == HAE_OK && saw_blank) rc = hae_err_set(err, HAE_EINVAL, "proof: line %zu: unexpected blank line", r.line_no);
    if (rc == HAE_OK && *old_size > *size) {
        rc = hae_err_set(err, HAE_EINVAL, "proof: old size %" PRIu64 " exceeds size %" PRIu64, *old_size, *size);
    }
    return rc;
}
