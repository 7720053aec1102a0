/* Private to src/scope: the pieces the scanner's files share. */
#ifndef HAETAE_SCOPE_INT_H
#define HAETAE_SCOPE_INT_H

#include <hs/hs.h>
#include <pthread.h>
#include <stdatomic.h>

#include "scope/scope.h"

#define SCOPE_LABEL_LOOKBACK 48   /* bytes before a candidate searched for a label */
#define SCOPE_MAX_MATCH 320       /* longest candidate (an e-mail address) */
#define SCOPE_SAMPLE 65536        /* bytes sniffed to choose format and encoding */

/* ---- detect.c: labels ----------------------------------------------------- */

/* Bitmask (1u << kind) of the kinds the words in s name ("주민", "card"...). */
uint32_t scope_label_kinds(const char *s, size_t len);
/* Raises confidence when labels name kind, lowers it when they name only
 * other kinds. Bank accounts have no confidence without a label. */
float scope_label_adjust(scope_kind kind, float confidence, uint32_t labels);

/* ---- patterns.c: the Hyperscan database ------------------------------------ */

/* DIGIT_PAST: the match may end one byte past the candidate (its trailing
 * boundary). */
typedef enum {
    SCOPE_BOUND_DIGIT, SCOPE_BOUND_DIGIT_PAST, SCOPE_BOUND_ALNUM, SCOPE_BOUND_EMAIL
} scope_bound;
typedef struct scope_pattern {
    const char *regex;
    uint32_t kinds;  /* (1u << kind) for each kind a match may be */
    scope_bound bound;
} scope_pattern;
extern const scope_pattern scope_patterns[];
extern const size_t scope_pattern_count;
#define SCOPE_PATTERN_CREATE_TABLE 1000u /* id of the SQL schema marker */

int scope_db_compile(hs_database_t **db, hae_err *err);

/* ---- records.c: which record and column a candidate sits in --------------- */

typedef struct scope_columns {
    char **names;
    uint32_t *labels;
    size_t count;
} scope_columns;
void scope_columns_free(scope_columns *c);
/* Splits a CSV/TSV header line (quotes honoured). */
int scope_columns_parse_csv(scope_columns *c, const char *line, size_t len, char sep);
/* Parses "(a, `b`, "c")" column lists and CREATE TABLE bodies. */
int scope_columns_parse_sql(scope_columns *c, const char *s, size_t len, bool is_create);

typedef struct scope_tables {
    char **names;
    scope_columns *columns;
    size_t count;
} scope_tables;
void scope_tables_free(scope_tables *t);
/* Parses "CREATE TABLE name (...)" at s; remembers its columns. */
int scope_tables_learn(scope_tables *t, const char *s, size_t len);

/* Where a candidate lives. Column points into the document or the header. */
typedef struct scope_place {
    uint64_t record;        /* offset of the record start in the buffer */
    const char *column;
    size_t column_len;
    uint32_t column_labels;
} scope_place;

typedef struct scope_locator {
    scope_format format;
    char sep;                     /* CSV separator */
    const scope_columns *header;  /* CSV header, may be NULL */
    scope_tables *tables;         /* SQL schemas seen so far */
    /* cache of the line being walked */
    size_t line_start, line_end, walk_pos;
    size_t walk_field, walk_tuple;
    bool walk_quote, walk_active, walk_is_insert;
    int walk_depth;
    scope_columns insert_columns; /* INSERT ... (cols) VALUES */
    const scope_columns *walk_columns;
} scope_locator;

void scope_locator_init(scope_locator *l, scope_format fmt, char sep,
                        const scope_columns *header, scope_tables *tables);
void scope_locator_reset(scope_locator *l); /* a new buffer */
void scope_locator_free(scope_locator *l);
/* buf[0..len) is the window; start is the candidate's offset in it. */
void scope_locate(scope_locator *l, const char *buf, size_t len, size_t start,
                  scope_place *out);

/* Picks a format from the name and the first bytes. */
scope_format scope_format_sniff(const char *name, const char *data, size_t len, char *sep);

/* ---- persons.c: distinct persons from records ---------------------------- */

typedef struct scope_people scope_people;
int scope_people_new(scope_people **out);
void scope_people_free(scope_people *p);

/* A worker's pending records: (kind, norm) entries, record by record. */
typedef struct scope_batch {
    hae_buf entries;   /* packed: u8 kind, u8 len, bytes; u8 0xff ends a record */
    size_t records;
} scope_batch;
int scope_batch_add(scope_batch *b, scope_kind kind, const char *norm, size_t len);
int scope_batch_end_record(scope_batch *b);
/* Merges the batch into the table (takes the table's lock) and empties it. */
int scope_people_merge(scope_people *p, scope_batch *b);
typedef struct scope_subject_writer {
    FILE *out;
    scope_out_format format;
    bool reveal;
    const uint8_t *salt;
    size_t salt_len;
} scope_subject_writer;
/* Counts persons and persons per kind; writes them when w->out is set. */
int scope_people_finish(scope_people *p, const scope_subject_writer *w, scope_report *r,
                        hae_err *err);

/* ---- output.c: writing findings ------------------------------------------ */

int scope_finding_format(hae_buf *out, const scope_finding *f, scope_out_format fmt,
                         bool reveal);
int scope_findings_header(FILE *out, scope_out_format fmt);
/* HMAC-SHA256(salt, "kind:norm") as 64 hex characters + NUL. */
int scope_identifier_hash(const uint8_t *salt, size_t salt_len, scope_kind kind,
                          const char *norm, size_t len, char out[65]);
void scope_hex(const uint8_t *bytes, size_t len, char *out);
int scope_csv_field(hae_buf *out, const char *s, size_t len);

/* ---- source.c: bytes from files, decoders and archives -------------------- */

typedef struct scope_source scope_source;
struct scope_source {
    /* Reads up to cap bytes; 0 at the end; negative with err on failure. */
    long (*read)(scope_source *s, char *buf, size_t cap, hae_err *err);
    void (*close)(scope_source *s);
    uint64_t consumed; /* bytes taken from the underlying file, for progress */
};
typedef enum { SCOPE_PACK_NONE, SCOPE_PACK_GZIP, SCOPE_PACK_ZSTD, SCOPE_PACK_ARCHIVE } scope_pack;
scope_pack scope_pack_sniff(const unsigned char *data, size_t len);
bool scope_looks_binary(const char *data, size_t len);
bool scope_utf8_valid(const char *data, size_t len, size_t *bad_offset);
bool scope_cp949_plausible(const char *data, size_t len);

int scope_source_fd(scope_source **out, int fd, bool owns_fd);
int scope_source_memory(scope_source **out, const void *data, size_t len);
/* Wraps inner (takes ownership). */
int scope_source_gzip(scope_source **out, scope_source *inner);
int scope_source_zstd(scope_source **out, scope_source *inner);
int scope_source_cp949(scope_source **out, scope_source *inner, hae_err *err);

/* Archives: a member at a time. */
typedef struct scope_archive scope_archive;
int scope_archive_open(scope_archive **out, scope_source *inner, hae_err *err);
/* 1 and a member source (valid until the next call) or 0 at the end. */
int scope_archive_next(scope_archive *a, const char **name, scope_source **member,
                       hae_err *err);
void scope_archive_close(scope_archive *a);

/* ---- scan.c: one window of bytes through Hyperscan and the validators ---- */

typedef struct scope_doc {
    const char *name;
    scope_format format;
    char sep;
    scope_columns header;  /* CSV header when the first row is one */
    scope_tables tables;   /* SQL schemas seen in this document */
    scope_locator loc;
} scope_doc;

/* Sets the format (sniffed unless forced) and the CSV header from sample. */
int scope_doc_init(scope_doc *d, const char *name, scope_format forced, const char *sample,
                   size_t len);
void scope_doc_free(scope_doc *d);

typedef struct scope_cand {
    size_t start, end;
    scope_kind kind;
    float confidence;
    const char *column;
    size_t column_len;
    bool is_dropped;
    char norm[SCOPE_NORM_MAX];
    size_t norm_len;
} scope_cand;

typedef struct scope_range {
    size_t start, end;
} scope_range;

typedef struct scope_scanner scope_scanner;
typedef struct scope_worker {
    scope_scanner *scanner;
    hs_scratch_t *scratch;
    /* the window being scanned */
    scope_doc *doc;
    const char *buf;
    size_t len, accept_from, accept_to;
    uint64_t base;
    size_t last_email_at;
    bool has_email;
    /* numeric matches ending at one offset, merged into one walk back */
    size_t number_end;
    uint32_t number_kinds;
    /* prefilter.c: the ranges of the window Hyperscan scans */
    scope_range *regions;
    size_t region_count, region_cap;
    size_t region_base;  /* offset of the range being scanned in the window */
    /* the record being assembled */
    bool has_record;
    size_t record;
    scope_cand *cands;
    size_t cand_count, cand_cap;
    /* results, merged under locks now and then */
    hae_buf findings_out;
    scope_batch batch;
    uint64_t counts[SCOPE_KIND_COUNT][SCOPE_LEVEL_COUNT];
    uint64_t records, findings;
    scope_finding_fn fn;
    void *fn_ctx;
    int error;
    /* what the last stream scan saw */
    uint64_t stream_bytes;
    bool was_skipped;
    const char *encoding;
} scope_worker;

/* Scans buf[0..len): candidates starting in [accept_from, accept_to) count.
 * base is the offset of buf[0] in the document. */
int scope_scan_window(scope_worker *w, scope_doc *d, const char *buf, size_t len, uint64_t base,
                      size_t accept_from, size_t accept_to);
/* ---- prefilter.c: where in a window Hyperscan has to look ---------------- */

#define SCOPE_PREFILTER_GAP 16 /* regions closer than this are scanned as one */
/* Fills w->regions with the sorted, merged ranges of buf[0..len) that can
 * hold a candidate; scanning only them finds what a scan of all finds. */
int scope_prefilter(scope_worker *w, const char *buf, size_t len);

/* Drops the record being assembled (after a SIGBUS, say). */
void scope_worker_discard(scope_worker *w);
void scope_worker_free(scope_worker *w);

/* ---- engine.c: the scanner's shared state the workers reach ---------------- */

struct scope_scanner {
    scope_options opt;
    hs_database_t *db;
    hs_scratch_t *proto;
    scope_people *people;
    pthread_mutex_t lock;   /* findings file, notes, report */
    _Atomic uint64_t bytes_done, bytes_total, files_done, files_total, findings;
    scope_report *report;
    bool is_used;
    bool is_exhaustive;     /* Hyperscan over every byte, no prefilter (tests) */
};

int scope_worker_init(scope_worker *w, scope_scanner *s);
/* Writes a worker's buffered findings and merges its persons. */
int scope_worker_flush(scope_worker *w);
/* Records a problem with one input; is_incomplete when bytes went unread. */
int scope_add_note(scope_scanner *s, const char *file, uint64_t offset, bool is_incomplete,
               const char *fmt, ...) HAE_PRINTF(5, 6);
/* data[from..to) in line-aligned windows; offsets are relative to data. */
int scope_scan_span(scope_worker *w, scope_doc *d, const char *data, size_t from, size_t to);
/* A stream: sniffed, decoded (gzip, zstd, CP949, archives), scanned in
 * chunks. Does not close src. */
int scope_scan_source(scope_worker *w, const char *name, scope_source *src, int depth);
/* Takes ownership of src. */
int scope_scan_archive(scope_worker *w, const char *name, scope_source *src, int depth);

#endif
