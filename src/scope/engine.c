/* The scan itself: list the files, hand them to one worker per core (each
 * with its own Hyperscan scratch), read regular files through mmap in
 * line-aligned windows and everything else (pipes, compressed files,
 * archive members, CP949 text) as a stream of chunks with overlap, and
 * record every problem as a note while the scan goes on. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scope/scope_int.h"

#define WINDOW (16u << 20)        /* bytes per hs_scan call over a mapping */
#define LINE_REACH (64u << 20)    /* how far a window stretches to end on a newline */
#define STREAM_CHUNK (8u << 20)

void scope_options_default(scope_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->min_confidence = 0.3f;
    opt->person_confidence = 0.5f;
}

void scope_report_free(scope_report *r) {
    for (size_t i = 0; i < r->note_count; i++) {
        free(r->notes[i].file);
        free(r->notes[i].message);
    }
    free(r->notes);
    r->notes = NULL;
    r->note_count = 0;
}

int scope_add_note(scope_scanner *s, const char *file, uint64_t offset, bool is_incomplete,
               const char *fmt, ...) {
    char msg[HAE_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->lock);
    scope_report *r = s->report;
    int rc = HAE_ENOMEM;
    scope_note *notes = realloc(r->notes, (r->note_count + 1) * sizeof *notes);
    if (notes) {
        r->notes = notes;
        scope_note *n = &notes[r->note_count];
        n->file = strdup(file);
        n->message = strdup(msg);
        n->offset = offset;
        n->is_incomplete = is_incomplete;
        if (n->file && n->message) {
            r->note_count++;
            rc = HAE_OK;
        } else {
            free(n->file);
            free(n->message);
        }
    }
    if (is_incomplete) r->is_complete = false;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int scope_scanner_new(scope_scanner **out, const scope_options *opt, hae_err *err) {
    scope_scanner *s = calloc(1, sizeof *s);
    if (!s) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    s->opt = *opt;
    int rc = scope_db_compile(&s->db, err);
    if (rc == HAE_OK && hs_alloc_scratch(s->db, &s->proto) != HS_SUCCESS)
        rc = hae_err_set(err, HAE_ENOMEM, "hyperscan: cannot allocate scratch");
    if (rc == HAE_OK && pthread_mutex_init(&s->lock, NULL) != 0)
        rc = hae_err_set(err, HAE_ENOMEM, "cannot create a mutex");
    if (rc < 0) {
        if (s->proto) hs_free_scratch(s->proto);
        if (s->db) hs_free_database(s->db);
        free(s);
        return rc;
    }
    *out = s;
    return HAE_OK;
}

void scope_scanner_free(scope_scanner *s) {
    if (!s) return;
    hs_free_scratch(s->proto);
    hs_free_database(s->db);
    scope_people_free(s->people);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void scope_scanner_progress(const scope_scanner *s, scope_progress *out) {
    out->bytes_done = atomic_load(&s->bytes_done);
    out->bytes_total = atomic_load(&s->bytes_total);
    out->files_done = atomic_load(&s->files_done);
    out->files_total = atomic_load(&s->files_total);
    out->findings = atomic_load(&s->findings);
}

int scope_worker_init(scope_worker *w, scope_scanner *s) {
    memset(w, 0, sizeof *w);
    w->scanner = s;
    return hs_clone_scratch(s->proto, &w->scratch) == HS_SUCCESS ? HAE_OK : HAE_ENOMEM;
}

int scope_worker_flush(scope_worker *w) {
    scope_scanner *s = w->scanner;
    int rc = HAE_OK;
    if (w->findings_out.len) {
        pthread_mutex_lock(&s->lock);
        if (fwrite(w->findings_out.data, 1, w->findings_out.len, s->opt.findings) != w->findings_out.len)
            rc = HAE_EIO;
        pthread_mutex_unlock(&s->lock);
        hae_buf_reset(&w->findings_out);
    }
    if (rc == HAE_OK && w->batch.entries.len && s->people) rc = scope_people_merge(s->people, &w->batch);
    atomic_fetch_add(&s->findings, w->findings);
    pthread_mutex_lock(&s->lock);
    for (unsigned k = 0; k < SCOPE_KIND_COUNT; k++) {
        for (unsigned l = 0; l < SCOPE_LEVEL_COUNT; l++) s->report->counts[k][l] += w->counts[k][l];
    }
    s->report->records += w->records;
    pthread_mutex_unlock(&s->lock);
    memset(w->counts, 0, sizeof w->counts);
    w->records = 0;
    w->findings = 0;
    return rc;
}

/* ---- windows over memory ----------------------------------------------------- */

/* Scans data[from..to) (line-aligned by the caller) in windows that end on
 * a newline; a line longer than LINE_REACH is cut with an overlap. */
int scope_scan_span(scope_worker *w, scope_doc *d, const char *data, size_t from, size_t to) {
    size_t pos = from, accept_from = 0;
    while (pos < to) {
        size_t end = to - pos > WINDOW ? pos + WINDOW : to;
        size_t accept_to;
        if (end < to) {
            size_t reach = to - end > LINE_REACH ? LINE_REACH : to - end;
            const char *nl = memchr(data + end, '\n', reach);
            if (nl) {
                end = (size_t)(nl - data) + 1;
                accept_to = end - pos;
            } else {
                end += reach;
                accept_to = end < to ? end - pos - SCOPE_MAX_MATCH : end - pos;
            }
        } else {
            accept_to = end - pos;
        }
        int rc = scope_scan_window(w, d, data + pos, end - pos, pos, accept_from, accept_to);
        if (rc < 0) return rc;
        atomic_fetch_add(&w->scanner->bytes_done, (uint64_t)(end - pos));
        if (w->findings_out.len > (1u << 20) || w->batch.entries.len > (4u << 20)) {
            rc = scope_worker_flush(w);
            if (rc < 0) return rc;
        }
        if (end == to) break;
        if (accept_to == end - pos) {
            pos = end;
            accept_from = 0;
        } else {
            pos = pos + accept_to - 1; /* keep one byte for the boundary check */
            accept_from = 1;
        }
    }
    return HAE_OK;
}

/* ---- streams --------------------------------------------------------------- */

typedef struct prefix_source {
    scope_source base;
    scope_source *inner;
    const char *prefix;
    size_t len, pos;
} prefix_source;

static long prefix_read(scope_source *s, char *buf, size_t cap, hae_err *err) {
    prefix_source *p = (prefix_source *)s;
    if (p->pos < p->len) {
        size_t n = p->len - p->pos < cap ? p->len - p->pos : cap;
        memcpy(buf, p->prefix + p->pos, n);
        p->pos += n;
        return (long)n;
    }
    long n = p->inner->read(p->inner, buf, cap, err);
    s->consumed = p->inner->consumed;
    return n;
}

static void prefix_close(scope_source *s) { free(s); }

/* Replays prefix, then reads on from inner (which it does not own). */
static int source_prefix(scope_source **out, const char *prefix, size_t len, scope_source *inner) {
    prefix_source *p = calloc(1, sizeof *p);
    if (!p) return HAE_ENOMEM;
    p->base = (scope_source){.read = prefix_read, .close = prefix_close, .consumed = inner->consumed};
    p->inner = inner;
    p->prefix = prefix;
    p->len = len;
    *out = &p->base;
    return HAE_OK;
}

/* Reads until cap bytes or the end; returns the count or a negative error. */
static long read_full(scope_source *src, char *buf, size_t cap, hae_err *err) {
    size_t have = 0;
    while (have < cap) {
        long n = src->read(src, buf + have, cap - have, err);
        if (n < 0) return have ? (long)have : n;
        if (n == 0) break;
        have += (size_t)n;
    }
    return (long)have;
}

/* Chunks with overlap: each chunk is scanned up to its last newline and the
 * rest carried into the next one, so records stay whole. */
static int scan_chunks(scope_worker *w, scope_doc *d, scope_source *src, char *buf,
                       size_t have, bool is_eof, hae_err *read_err) {
    uint64_t base = 0, last_consumed = src->consumed;
    size_t accept_from = 0;
    for (;;) {
        if (!is_eof && have < STREAM_CHUNK) {
            long n = read_full(src, buf + have, STREAM_CHUNK - have, read_err);
            if (n < 0 || read_err->code < 0) is_eof = true; /* scan what we have, then report */
            if (n > 0) have += (size_t)n;
            if (n == 0) is_eof = true;
        }
        size_t cut = have, accept_to = have, keep = 0;
        if (!is_eof) {
            const char *nl = memrchr(buf, '\n', have);
            if (nl && (size_t)(nl - buf) + 1 > accept_from) {
                cut = accept_to = (size_t)(nl - buf) + 1;
                keep = have - cut;
            } else {
                accept_to = have - SCOPE_MAX_MATCH;
                keep = SCOPE_MAX_MATCH + 1;
            }
        }
        int rc = scope_scan_window(w, d, buf, cut, base, accept_from, accept_to);
        if (rc < 0) return rc;
        atomic_fetch_add(&w->scanner->bytes_done, src->consumed - last_consumed);
        last_consumed = src->consumed;
        if (w->findings_out.len > (1u << 20) || w->batch.entries.len > (4u << 20)) {
            rc = scope_worker_flush(w);
            if (rc < 0) return rc;
        }
        if (is_eof) {
            w->stream_bytes = base + have;
            return HAE_OK;
        }
        memmove(buf, buf + have - keep, keep);
        base += have - keep;
        accept_from = keep == SCOPE_MAX_MATCH + 1 ? 1 : 0;
        have = keep;
    }
}

int scope_scan_source(scope_worker *w, const char *name, scope_source *src, int depth) {
    scope_scanner *s = w->scanner;
    hae_err err = {0};
    char *buf = malloc(STREAM_CHUNK);
    if (!buf) return HAE_ENOMEM;
    long n = read_full(src, buf, SCOPE_SAMPLE, &err);
    int rc = HAE_OK;
    if (n < 0) {
        rc = scope_add_note(s, name, 0, true, "unreadable: %s", err.msg);
        free(buf);
        return rc;
    }
    size_t have = (size_t)n;
    bool is_eof = have < SCOPE_SAMPLE || err.code < 0; /* a decoder error ends the stream */
    scope_pack pack = scope_pack_sniff((const unsigned char *)buf, have);
    scope_source *pre = NULL, *dec = NULL;
    if (pack != SCOPE_PACK_NONE && depth < 4) {
        rc = source_prefix(&pre, buf, have, src);
        if (rc == HAE_OK && pack == SCOPE_PACK_GZIP) rc = scope_source_gzip(&dec, pre);
        else if (rc == HAE_OK && pack == SCOPE_PACK_ZSTD) rc = scope_source_zstd(&dec, pre);
        if (rc == HAE_OK && dec) {
            rc = scope_scan_source(w, name, dec, depth + 1);
            dec->close(dec); /* closes pre too */
        } else if (rc == HAE_OK) {
            rc = scope_scan_archive(w, name, pre, depth);
        }
        free(buf);
        return rc;
    }
    if (scope_looks_binary(buf, have) && !s->opt.scan_binary) {
        free(buf);
        atomic_fetch_add(&s->bytes_done, src->consumed);
        w->was_skipped = true;
        return scope_add_note(s, name, 0, true, "binary file skipped (use --binary to scan it)");
    }
    size_t bad = 0;
    scope_source *reader = src;
    if (!scope_utf8_valid(buf, have, &bad)) {
        if (scope_cp949_plausible(buf, have)) {
            rc = source_prefix(&pre, buf, have, src);
            if (rc == HAE_OK) rc = scope_source_cp949(&dec, pre, &err);
            if (rc < 0) {
                if (pre && !dec) pre->close(pre);
                free(buf);
                return rc;
            }
            char *decoded = malloc(STREAM_CHUNK);
            n = decoded ? read_full(dec, decoded, SCOPE_SAMPLE, &err) : HAE_ENOMEM;
            free(buf);
            buf = decoded;
            have = n > 0 ? (size_t)n : 0;
            is_eof = n < (long)SCOPE_SAMPLE || err.code < 0;
            reader = dec;
            w->encoding = "cp949";
        } else {
            rc = scope_add_note(s, name, bad, false, "invalid UTF-8 at byte %zu: scanned as bytes", bad);
        }
    }
    if (buf && rc == HAE_OK) {
        scope_doc doc;
        rc = scope_doc_init(&doc, name, s->opt.force_format, buf, have);
        if (rc == HAE_OK) rc = scan_chunks(w, &doc, reader, buf, have, is_eof, &err);
        scope_doc_free(&doc);
        if (rc == HAE_OK && err.code < 0) rc = scope_add_note(s, name, w->stream_bytes, true, "%s", err.msg);
    } else if (!buf) {
        rc = HAE_ENOMEM;
    }
    if (dec) dec->close(dec);
    free(buf);
    return rc;
}

int scope_scan_archive(scope_worker *w, const char *name, scope_source *src, int depth) {
    hae_err err = {0};
    scope_archive *ar = NULL;
    int rc = scope_archive_open(&ar, src, &err); /* owns src now */
    if (rc < 0) return scope_add_note(w->scanner, name, 0, true, "%s", err.msg);
    hae_buf member_name = {0};
    for (;;) {
        const char *member;
        scope_source *msrc;
        int more = scope_archive_next(ar, &member, &msrc, &err);
        if (more < 0) {
            rc = scope_add_note(w->scanner, name, 0, true, "%s", err.msg);
            break;
        }
        if (more == 0) break;
        hae_buf_reset(&member_name);
        if (hae_buf_printf(&member_name, "%s!%s", name, member) < 0) {
            rc = HAE_ENOMEM;
            break;
        }
        rc = scope_scan_source(w, member_name.data, msrc, depth + 1);
        if (rc < 0) break;
    }
    hae_buf_free(&member_name);
    scope_archive_close(ar);
    return rc;
}
