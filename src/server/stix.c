/* An incident as a STIX 2.1 bundle (OASIS STIX 2.1, sections 4, 5, 6):
 * the incident; per alert an indicator (the rule, pattern_type "sigma"),
 * an observed-data of the host (a domain-name SCO) and a sighting tying the
 * two. Identifiers are UUIDv5 (section 2.9): SCOs from the STIX namespace
 * and their ID-contributing properties, SDOs and SROs from haetae's ids,
 * so exporting twice gives the same bundle. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "server/obligations.h"

/* STIX 2.1 section 2.9: the namespace for SCO identifiers. */
static const uint8_t stix_namespace[16] = {0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x4a, 0xc9,
                                           0xab, 0x00, 0x4e, 0x3e, 0x9b, 0x9e, 0x6a, 0xbc};
/* haetae's namespace for SDOs and SROs (a random UUIDv4, fixed). */
static const uint8_t haetae_namespace[16] = {0x6f, 0x1c, 0x8e, 0x2a, 0x5b, 0x3d, 0x4f, 0x7e,
                                             0x9a, 0x41, 0x0c, 0x6d, 0x2e, 0x85, 0xb3, 0x17};

/* RFC 9562 section 5.5: SHA-1(namespace || name), version 5, variant 10. */
static void uuid5(const uint8_t ns[16], const char *name, const char *type, char out[80]) {
    uint8_t input[16 + 512], digest[EVP_MAX_MD_SIZE];
    size_t len = strnlen(name, sizeof input - 16);
    memcpy(input, ns, 16);
    memcpy(input + 16, name, len);
    unsigned digest_len = 0;
    if (EVP_Digest(input, 16 + len, digest, &digest_len, EVP_sha1(), NULL) != 1) {
        memset(digest, 0, sizeof digest); /* never happens with the default provider */
    }
    digest[6] = (uint8_t)((digest[6] & 0x0f) | 0x50);
    digest[8] = (uint8_t)((digest[8] & 0x3f) | 0x80);
    int n = snprintf(out, 80, "%s--", type);
    for (int i = 0; i < 16 && n < 78; i++) {
        n += snprintf(out + n, (size_t)(80 - n), "%s%02x",
                      (i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "", digest[i]);
    }
}

static void sdo_id(const char *type, const char *ours, char out[80]) {
    char name[160];
    snprintf(name, sizeof name, "%s:%s", type, ours);
    uuid5(haetae_namespace, name, type, out);
}

/* STIX timestamps: RFC 3339 with Z; ours have nine fractional digits,
 * which the timestamp pattern allows. */
static void stamp(int64_t ns, char out[HAE_TIME_LEN]) { hae_time_format(ns ? ns : 1, out); }

static int common(hae_buf *out, const char *type, const char *id, int64_t created,
                  int64_t modified) {
    char c[HAE_TIME_LEN], m[HAE_TIME_LEN];
    stamp(created, c);
    stamp(modified, m);
    return hae_buf_printf(out, "{\"type\":\"%s\",\"spec_version\":\"2.1\",\"id\":\"%s\","
                               "\"created\":\"%s\",\"modified\":\"%s\"",
                          type, id, c, m);
}

static int str_member(hae_buf *out, const char *name, const char *value) {
    int rc = hae_buf_printf(out, ",\"%s\":", name);
    return rc < 0 ? rc : hae_json_append_string(out, value, strlen(value));
}

typedef struct export_ctx {
    hae_buf *out;
    char incident[80];
} export_ctx;

static int alert_objects(void *ctx, const store_alert *a, hae_err *err) {
    (void)err;
    export_ctx *x = ctx;
    hae_buf *out = x->out;
    char indicator[80], observed[80], sighting[80], host[80], when[HAE_TIME_LEN];
    sdo_id("indicator", a->rule_id, indicator);
    sdo_id("observed-data", a->id, observed);
    sdo_id("sighting", a->id, sighting);
    hae_buf contributing = {0};
    int rc = hae_buf_append_str(&contributing, "{\"value\":");
    if (rc == HAE_OK) rc = hae_json_append_string(&contributing, a->host, strlen(a->host));
    if (rc == HAE_OK) rc = hae_buf_append_char(&contributing, '}');
    if (rc == HAE_OK) uuid5(stix_namespace, contributing.data, "domain-name", host);
    hae_buf_free(&contributing);
    stamp(a->time_ns, when);
    if (rc == HAE_OK) rc = hae_buf_printf(out, ",{\"type\":\"domain-name\",\"spec_version\":\"2.1\",\"id\":\"%s\"", host);
    if (rc == HAE_OK) rc = str_member(out, "value", a->host);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "},");
    if (rc == HAE_OK) rc = common(out, "indicator", indicator, a->time_ns, a->time_ns);
    if (rc == HAE_OK) rc = str_member(out, "name", a->rule_title);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, ",\"indicator_types\":[\"malicious-activity\"],\"pattern\":");
    if (rc == HAE_OK) {
        char pattern[200];
        snprintf(pattern, sizeof pattern, "id: %s", a->rule_id);
        rc = hae_json_append_string(out, pattern, strlen(pattern));
    }
    if (rc == HAE_OK) rc = hae_buf_printf(out, ",\"pattern_type\":\"sigma\",\"valid_from\":\"%s\"},", when);
    if (rc == HAE_OK) rc = common(out, "observed-data", observed, a->time_ns, a->time_ns);
    if (rc == HAE_OK) {
        rc = hae_buf_printf(out, ",\"first_observed\":\"%s\",\"last_observed\":\"%s\","
                                 "\"number_observed\":1,\"object_refs\":[\"%s\"]},",
                            when, when, host);
    }
    if (rc == HAE_OK) rc = common(out, "sighting", sighting, a->time_ns, a->time_ns);
    if (rc == HAE_OK) {
        rc = hae_buf_printf(out, ",\"first_seen\":\"%s\",\"last_seen\":\"%s\",\"count\":1,"
                                 "\"sighting_of_ref\":\"%s\",\"observed_data_refs\":[\"%s\"]",
                            when, when, indicator, observed);
    }
    if (rc == HAE_OK) rc = str_member(out, "description", a->level);
    if (rc == HAE_OK) rc = hae_buf_append_char(out, '}');
    return rc;
}

int server_stix_export(store *st, const char *incident_id, hae_buf *out, hae_err *err) {
    store_incident in;
    int rc = store_incident_get(st, incident_id, &in, err);
    if (rc < 0) return rc;
    export_ctx x = {.out = out};
    char bundle[80];
    sdo_id("incident", in.id, x.incident);
    sdo_id("bundle", in.id, bundle);
    rc = hae_buf_printf(out, "{\"type\":\"bundle\",\"id\":\"%s\",\"objects\":[", bundle);
    if (rc == HAE_OK) rc = common(out, "incident", x.incident, in.created_ns, in.updated_ns);
    if (rc == HAE_OK) rc = str_member(out, "name", in.title);
    if (rc == HAE_OK) {
        char description[600];
        snprintf(description, sizeof description, "haetae incident %s on %s (%s), state %s", in.id,
                 in.host, in.family, in.state);
        rc = str_member(out, "description", description);
    }
    if (rc == HAE_OK) rc = hae_buf_append_char(out, '}');
    if (rc == HAE_OK) rc = store_incident_alerts(st, in.id, alert_objects, &x, err);
    if (rc == HAE_OK) rc = hae_buf_append_str(out, "]}\n");
    if (rc < 0 && err->code == 0) hae_err_set(err, rc, "out of memory");
    return rc;
}
