/* fim canaries: decoy files no legitimate process touches. Ransomware
 * walks directories and encrypts what it finds; names starting with ".0"
 * sort first, so a walk in name order meets a canary before real files.
 * They look like Office documents (a real ZIP with [Content_Types].xml) so
 * an encryptor filtering by extension or magic still picks them.
 * The list of planted paths is a file of NUL-terminated paths
 * (opt->canary_list): NUL is the one byte no path can hold. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

static const char *const canary_names[] = {".0-accounts-backup.xlsx", ".0-passwords-old.docx"};

static const char content_types[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/></Types>\n";

static void le16(hae_buf *b, unsigned v, int *rc) {
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    if (*rc == HAE_OK) *rc = hae_buf_append(b, x, 2);
}

static void le32(hae_buf *b, uint32_t v, int *rc) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    if (*rc == HAE_OK) *rc = hae_buf_append(b, x, 4);
}

/* A one-entry stored ZIP (APPNOTE.TXT 6.3: local header, data, central
 * directory header, end of central directory). */
static int canary_content(hae_buf *b) {
    static const char name[] = "[Content_Types].xml";
    uint32_t size = (uint32_t)(sizeof content_types - 1);
    uint32_t crc = fim_crc32(0, content_types, size);
    int rc = HAE_OK;
    le32(b, 0x04034b50, &rc);
    le16(b, 20, &rc); le16(b, 0, &rc); le16(b, 0, &rc); le16(b, 0, &rc); le16(b, 0x21, &rc);
    le32(b, crc, &rc); le32(b, size, &rc); le32(b, size, &rc);
    le16(b, sizeof name - 1, &rc); le16(b, 0, &rc);
    if (rc == HAE_OK) rc = hae_buf_append(b, name, sizeof name - 1);
    if (rc == HAE_OK) rc = hae_buf_append(b, content_types, size);
    uint32_t central = (uint32_t)b->len;
    le32(b, 0x02014b50, &rc);
    le16(b, 20, &rc); le16(b, 20, &rc); le16(b, 0, &rc); le16(b, 0, &rc); le16(b, 0, &rc);
    le16(b, 0x21, &rc); le32(b, crc, &rc); le32(b, size, &rc); le32(b, size, &rc);
    le16(b, sizeof name - 1, &rc); le16(b, 0, &rc); le16(b, 0, &rc); le16(b, 0, &rc);
    le16(b, 0, &rc); le32(b, 0, &rc); le32(b, 0, &rc);
    if (rc == HAE_OK) rc = hae_buf_append(b, name, sizeof name - 1);
    uint32_t central_len = (uint32_t)b->len - central;
    le32(b, 0x06054b50, &rc);
    le16(b, 0, &rc); le16(b, 0, &rc); le16(b, 1, &rc); le16(b, 1, &rc);
    le32(b, central_len, &rc); le32(b, central, &rc); le16(b, 0, &rc);
    return rc;
}

int fim_canaries_load(const fim_options *opt, fim_canaries *out, hae_err *err) {
    memset(out, 0, sizeof *out);
    if (!opt->canary_list) return HAE_OK;
    FILE *f = fopen(opt->canary_list, "rbe");
    if (!f) {
        if (errno == ENOENT) return HAE_OK;
        return hae_err_errno(err, errno, "%s: cannot read canary list", opt->canary_list);
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = HAE_OK;
    while (rc == HAE_OK && getdelim(&line, &cap, '\0', f) > 0) {
        if (line[0] == '\0') continue;
        char **grown = realloc(out->paths, (out->count + 1) * sizeof *grown);
        char *copy = grown ? strdup(line) : NULL;
        if (grown) out->paths = grown;
        if (!copy) {
            rc = hae_err_set(err, HAE_ENOMEM, "canary list: out of memory");
        } else {
            out->paths[out->count++] = copy;
        }
    }
    free(line);
    fclose(f);
    if (rc < 0) fim_canaries_free(out);
    return rc;
}

bool fim_canaries_contains(const fim_canaries *c, const char *path) {
    for (size_t i = 0; i < c->count; i++) {
        if (strcmp(c->paths[i], path) == 0) return true;
    }
    return false;
}

void fim_canaries_free(fim_canaries *c) {
    for (size_t i = 0; i < c->count; i++) free(c->paths[i]);
    free(c->paths);
    memset(c, 0, sizeof *c);
}

int fim_canary_report(const hae_sink *sink, const char *path, const char *action, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "fim", "fim.canary", HAE_SEV_CRITICAL,
                              "canary file %s: %s (no legitimate process touches it)", action,
                              path);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", path);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Action", action);
    if (rc == HAE_OK) {
        rc = hae_emit(sink, &ev, err);
    } else {
        hae_err_set(err, rc, "fim: cannot build fim.canary");
    }
    hae_event_clear(&ev);
    return rc;
}

static int plant_one(const char *path, const hae_buf *content, hae_err *err) {
    /* O_NOFOLLOW: a symlink an attacker left at the name is not written through. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return hae_err_errno(err, errno, "%s: cannot plant canary", path);
    ssize_t n = write(fd, content->data, content->len);
    int saved = errno;
    if (close(fd) != 0 || n != (ssize_t)content->len) {
        return hae_err_errno(err, n < 0 ? saved : EIO, "%s: cannot write canary", path);
    }
    return HAE_OK;
}

static int emit_planted(const hae_sink *sink, const char *path, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "fim", "fim.canary_planted", HAE_SEV_INFO,
                              "canary file planted: %s", path);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", path);
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

/* NUL-separated paths, replaced atomically. */
static int write_list(const char *list_path, const fim_canaries *c, hae_err *err) {
    hae_buf list = {0};
    int rc = HAE_OK;
    for (size_t i = 0; i < c->count && rc == HAE_OK; i++) {
        rc = hae_buf_append(&list, c->paths[i], strlen(c->paths[i]) + 1);
    }
    if (rc < 0) {
        rc = hae_err_set(err, rc, "%s: out of memory", list_path);
    } else {
        rc = hae_file_write_atomic(list_path, list.data ? list.data : "", list.len, 0600, err);
    }
    hae_buf_free(&list);
    return rc;
}

int fim_canary_plant(const fim_options *opt, const hae_sink *sink, hae_err *err) {
    if (!opt->canary_list) {
        return hae_err_set(err, HAE_EINVAL, "fim: canary_list must name a file to record canaries");
    }
    fim_canaries list;
    hae_buf content = {0};
    int rc = fim_canaries_load(opt, &list, err);
    if (rc == HAE_OK && canary_content(&content) < 0) {
        rc = hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
    }
    for (size_t r = 0; r < opt->root_count && rc == HAE_OK; r++) {
        struct stat st;
        if (stat(opt->roots[r], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        for (size_t i = 0; i < sizeof canary_names / sizeof canary_names[0] && rc == HAE_OK; i++) {
            char *path = NULL;
            int root_len = (int)strlen(opt->roots[r]);
            while (root_len > 1 && opt->roots[r][root_len - 1] == '/') root_len--;
            if (asprintf(&path, "%.*s/%s", root_len, opt->roots[r], canary_names[i]) < 0) {
                rc = hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
                break;
            }
            rc = plant_one(path, &content, err);
            if (rc == HAE_OK) rc = emit_planted(sink, path, err);
            if (rc == HAE_OK && !fim_canaries_contains(&list, path)) {
                char **grown = realloc(list.paths, (list.count + 1) * sizeof *grown);
                if (!grown) {
                    rc = hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
                } else {
                    list.paths = grown;
                    list.paths[list.count++] = path;
                    path = NULL;
                }
            }
            free(path);
        }
    }
    if (rc == HAE_OK) rc = write_list(opt->canary_list, &list, err);
    fim_canaries_free(&list);
    hae_buf_free(&content);
    return rc;
}
