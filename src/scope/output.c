/* Writers: findings (JSON lines or CSV, masked unless revealed) and the
 * salted identifier hashes the subject list carries. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "scope/scope_int.h"

void scope_hex(const uint8_t *bytes, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

/* A keyed hash rather than a bare SHA-256: the space of resident numbers is
 * small enough (about 10^11) to enumerate, so an unkeyed digest would be the
 * number in the clear. The salt (the key) travels with the list. */
int scope_identifier_hash(const uint8_t *salt, size_t salt_len, scope_kind kind,
                          const char *norm, size_t len, char out[65]) {
    char msg[SCOPE_NORM_MAX + 32];
    const char *name = scope_kind_name(kind);
    size_t nl = strlen(name);
    if (len > SCOPE_NORM_MAX) return HAE_EINVAL;
    /* "kind:norm", not a C string: HMAC takes the length */
    int head = snprintf(msg, sizeof msg, "%s:", name);
    if (head != (int)nl + 1) return HAE_EINVAL;
    memcpy(msg + nl + 1, norm, len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (!HMAC(EVP_sha256(), salt, (int)salt_len, (const unsigned char *)msg, nl + 1 + len, md,
              &md_len) || md_len != 32) {
        return HAE_EIO;
    }
    scope_hex(md, 32, out);
    return HAE_OK;
}

/* RFC 4180: quote every field that holds a separator, quote or newline. */
int scope_csv_field(hae_buf *out, const char *s, size_t len) {
    bool needs_quotes = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') needs_quotes = true;
    }
    if (!needs_quotes) return hae_buf_append(out, s, len);
    int rc = hae_buf_append_char(out, '"');
    for (size_t i = 0; i < len && rc == HAE_OK; i++) {
        rc = s[i] == '"' ? hae_buf_append(out, "\"\"", 2) : hae_buf_append_char(out, s[i]);
    }
    return rc == HAE_OK ? hae_buf_append_char(out, '"') : rc;
}

int scope_findings_header(FILE *out, scope_out_format fmt) {
    if (fmt != SCOPE_OUT_CSV) return HAE_OK;
    return fputs("file,offset,record,format,column,kind,confidence,level,value\n", out) < 0
               ? HAE_EIO : HAE_OK;
}

int scope_finding_format(hae_buf *out, const scope_finding *f, scope_out_format fmt,
                         bool reveal) {
    char masked[SCOPE_NORM_MAX + 1];
    const char *value = f->text;
    size_t value_len = f->text_len;
    if (!reveal) {
        if (value_len > SCOPE_NORM_MAX) value_len = SCOPE_NORM_MAX;
        value_len = scope_mask(f->kind, f->text, value_len, masked);
        value = masked;
    }
    const char *kind = scope_kind_name(f->kind);
    const char *level = scope_level_name(scope_level_of(f->confidence));
    int rc;
    if (fmt == SCOPE_OUT_CSV) {
        rc = scope_csv_field(out, f->file, strlen(f->file));
        if (rc == HAE_OK) rc = hae_buf_printf(out, ",%llu,%llu,%s,", (unsigned long long)f->offset,
                                              (unsigned long long)f->record_offset,
                                              scope_format_name(f->format));
        if (rc == HAE_OK && f->column) rc = scope_csv_field(out, f->column, f->column_len);
        if (rc == HAE_OK) rc = hae_buf_printf(out, ",%s,%.2f,%s,", kind, (double)f->confidence, level);
        if (rc == HAE_OK) rc = scope_csv_field(out, value, value_len);
        return rc == HAE_OK ? hae_buf_append_char(out, '\n') : rc;
    }
    rc = hae_buf_append_str(out, "{\"file\":");
    if (rc == HAE_OK) rc = hae_json_append_string(out, f->file, strlen(f->file));
    if (rc == HAE_OK) rc = hae_buf_printf(out, ",\"offset\":%llu,\"record\":%llu,\"format\":\"%s\"",
                                          (unsigned long long)f->offset,
                                          (unsigned long long)f->record_offset,
                                          scope_format_name(f->format));
    if (rc == HAE_OK && f->column) {
        rc = hae_buf_append_str(out, ",\"column\":");
        if (rc == HAE_OK) rc = hae_json_append_string(out, f->column, f->column_len);
    }
    if (rc == HAE_OK) rc = hae_buf_printf(out, ",\"kind\":\"%s\",\"confidence\":%.2f,\"level\":\"%s\","
                                          "\"value\":", kind, (double)f->confidence, level);
    if (rc == HAE_OK) rc = hae_json_append_string(out, value, value_len);
    if (rc == HAE_OK) rc = hae_buf_printf(out, ",\"masked\":%s}\n", reveal ? "false" : "true");
    return rc;
}
