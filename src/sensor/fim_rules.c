/* fim rules: which changes matter and the evidence a finding carries.
 * Shared by the baseline check and the real-time watch so both raise the
 * same rule for the same change. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sensor/fim_internal.h"

bool fim_path_under(const char *path, const char *prefix) {
    size_t len = strlen(prefix);
    while (len > 1 && prefix[len - 1] == '/') len--;
    if (len == 1 && prefix[0] == '/') return path[0] == '/';
    return strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

bool fim_is_web_path(const fim_options *opt, const char *path) {
    for (size_t i = 0; i < opt->web_root_count; i++) {
        if (fim_path_under(path, opt->web_roots[i])) return true;
    }
    return false;
}

bool fim_is_etc_path(const fim_options *opt, const char *path) {
    return fim_path_under(path, opt->etc_prefix ? opt->etc_prefix : "/etc");
}

/* Extensions web servers hand to an interpreter. Beyond the classic list,
 * .phar/.php7/.pht/.phps are what web shells use to slip past upload
 * filters that only block ".php" (OWASP Unrestricted File Upload). */
static const char *const script_extensions[] = {
    ".php", ".phtml", ".php3", ".php4", ".php5", ".php7", ".pht", ".phar", ".jsp", ".jspx",
    ".asp", ".aspx", ".ashx", ".cgi",  ".pl",   ".py",   ".sh",
};

bool fim_is_webshell_candidate(const char *path, uint32_t mode, uint8_t type) {
    if (type != FIM_TYPE_REGULAR) return false;
    if (mode & 0111) return true;
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot) return false;
    for (size_t i = 0; i < sizeof script_extensions / sizeof script_extensions[0]; i++) {
        if (strcasecmp(dot, script_extensions[i]) == 0) return true;
    }
    return false;
}

bool fim_is_setid(uint32_t mode, uint8_t type) {
    return type == FIM_TYPE_REGULAR && (mode & 06000) != 0;
}

int fim_add_entry_evidence(hae_event *ev, const char *prefix, const fim_entry *e) {
    char name[64];
    char text[HAE_TIME_LEN > 2 * FIM_SHA256_LEN + 1 ? HAE_TIME_LEN : 2 * FIM_SHA256_LEN + 1];
    int rc = HAE_OK;
#define FIELD(suffix) (snprintf(name, sizeof name, "%s%s", prefix, suffix), name)
    rc = hae_event_add_str(ev, FIELD("Type"), fim_type_name(e->type));
    if (rc == HAE_OK) rc = hae_event_add_printf(ev, FIELD("Mode"), "%04o", e->mode);
    if (rc == HAE_OK) rc = hae_event_add_uint(ev, FIELD("Uid"), e->uid);
    if (rc == HAE_OK) rc = hae_event_add_uint(ev, FIELD("Gid"), e->gid);
    if (rc == HAE_OK) rc = hae_event_add_uint(ev, FIELD("Size"), e->size);
    if (rc == HAE_OK && hae_time_format(e->mtime_ns, text) == HAE_OK) {
        rc = hae_event_add_str(ev, FIELD("Mtime"), text);
    }
    if (rc == HAE_OK) rc = hae_event_add_uint(ev, FIELD("Inode"), e->inode);
    if (rc == HAE_OK && (e->flags & FIM_HAS_HASH)) {
        fim_hex(e->sha256, FIM_SHA256_LEN, text);
        rc = hae_event_add_str(ev, FIELD("Sha256"), text);
    }
    if (rc == HAE_OK && e->link_target) {
        rc = hae_event_add_strn(ev, FIELD("LinkTarget"), e->link_target, e->link_len);
    }
#undef FIELD
    return rc;
}

int fim_emit_finding(const hae_sink *sink, const char *rule, hae_severity sev, const char *what,
                     const fim_entry *old, const fim_entry *now, const char *note_field,
                     const char *note_value, hae_err *err) {
    const fim_entry *subject = now ? now : old;
    if (!subject) return hae_err_set(err, HAE_EINVAL, "fim: finding %s without a file", rule);
    int shown = (int)(subject->path_len > 400 ? 400 : subject->path_len);
    hae_event ev;
    int rc = hae_finding_init(&ev, "fim", rule, sev, "%s: %.*s", what, shown, subject->path);
    if (rc == HAE_OK) rc = hae_event_add_strn(&ev, "TargetFilename", subject->path,
                                              subject->path_len);
    if (rc == HAE_OK && old) rc = fim_add_entry_evidence(&ev, "Old", old);
    if (rc == HAE_OK && now) rc = fim_add_entry_evidence(&ev, "New", now);
    if (rc == HAE_OK && note_field && note_value) {
        rc = hae_event_add_str(&ev, note_field, note_value);
    }
    if (rc < 0) {
        hae_err_set(err, rc, "fim: cannot build finding %s", rule);
    } else {
        rc = hae_emit(sink, &ev, err);
    }
    hae_event_clear(&ev);
    return rc;
}
