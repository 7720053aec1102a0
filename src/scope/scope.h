/* scope: the breach-scope scanner behind `haetae scan`. Finds personal data
 * (Korean resident and foreigner registration numbers, payment cards, IMEI,
 * IMEISV, IMSI, ICCID, Korean phone numbers, e-mail addresses, Korean
 * passports, labelled bank accounts) in exposed files, groups findings into
 * records (a line, a CSV row, a JSON object, an SQL INSERT tuple) and records
 * into distinct persons, and writes masked findings and salted-hash subject
 * lists. Owns the files it is asked to write; never prints, and never writes
 * an identifier in the clear unless the caller sets reveal.
 *
 * Pipeline: Hyperscan finds candidates (block mode over memory-mapped files,
 * chunks with overlap for pipes, compressed files and archive members); C
 * validators check them and score a confidence; a record locator says which
 * record and column a candidate sits in; a person table unions the
 * identifiers that share a record. docs/SCOPE.md has the details. */
#ifndef HAETAE_SCOPE_H
#define HAETAE_SCOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

/* ---- identifier kinds -------------------------------------------------- */

typedef enum scope_kind {
    SCOPE_RRN,          /* resident registration number, 7th digit 1-4, 9, 0 */
    SCOPE_FRN,          /* foreigner registration number, 7th digit 5-8 */
    SCOPE_CARD,         /* payment card (PAN) */
    SCOPE_IMEI,
    SCOPE_IMEISV,
    SCOPE_IMSI,
    SCOPE_ICCID,
    SCOPE_PHONE,        /* Korean mobile or landline */
    SCOPE_EMAIL,
    SCOPE_PASSPORT,     /* Korean passport, old and 2021 formats */
    SCOPE_BANK_ACCOUNT, /* only when labelled */
    SCOPE_KIND_COUNT
} scope_kind;

const char *scope_kind_name(scope_kind kind); /* "rrn", "card", ... */
int scope_kind_parse(const char *name, scope_kind *out);

/* Confidence levels the summary counts: high >= 0.8, medium >= 0.5. */
typedef enum { SCOPE_LOW, SCOPE_MEDIUM, SCOPE_HIGH, SCOPE_LEVEL_COUNT } scope_level;
scope_level scope_level_of(float confidence);
const char *scope_level_name(scope_level level);

/* ---- validators: pure functions over bytes ----------------------------- */

#define SCOPE_NORM_MAX 256

/* The verdict on one candidate. A structurally impossible candidate (a card
 * failing Luhn, an RRN with 13 as its month) is rejected; a doubtful but
 * possible one (an RRN issued since October 2020, whose last digit is no
 * longer a check digit) is kept with a lower confidence. */
typedef struct scope_verdict {
    bool is_valid;
    float confidence;            /* 0..1 before labels */
    scope_kind kind;             /* may refine the asked kind (RRN -> FRN) */
    char norm[SCOPE_NORM_MAX];   /* normalised identifier: digits, lower-case mail */
    size_t norm_len;
    const char *note;            /* why the confidence is what it is; static */
} scope_verdict;

bool scope_luhn_valid(const char *digits, size_t len);      /* digits only */
/* Checks text (the candidate as it appears, separators included) as kind. */
void scope_validate(scope_kind kind, const char *text, size_t len, scope_verdict *out);
/* Writes the masked form of text (separators kept) into out, NUL-terminated;
 * returns its length. out must hold len + 1 bytes. */
size_t scope_mask(scope_kind kind, const char *text, size_t len, char *out);

/* ---- formats ----------------------------------------------------------- */

typedef enum scope_format {
    SCOPE_FMT_AUTO,  /* sniffed from the name and the first bytes */
    SCOPE_FMT_TEXT,  /* plain text and logs: a line is a record */
    SCOPE_FMT_CSV,   /* CSV or TSV: a row is a record, headers label columns */
    SCOPE_FMT_JSONL, /* JSON lines: an object is a record, keys label values */
    SCOPE_FMT_SQL,   /* SQL dumps: an INSERT tuple is a record */
} scope_format;
const char *scope_format_name(scope_format fmt);

/* ---- one finding -------------------------------------------------------- */

typedef struct scope_finding {
    const char *file;        /* path; archive members as "a.tar!dir/member" */
    uint64_t offset;         /* of the identifier, in the decoded stream */
    uint64_t record_offset;  /* start of its record */
    scope_format format;
    const char *column;      /* CSV header, JSON key or SQL column; NULL if none */
    size_t column_len;
    scope_kind kind;
    float confidence;
    const char *text;        /* the identifier as it appears (in the clear) */
    size_t text_len;
    const char *norm;        /* normalised */
    size_t norm_len;
} scope_finding;

/* ---- scanning ---------------------------------------------------------- */

typedef enum { SCOPE_OUT_JSONL, SCOPE_OUT_CSV } scope_out_format;

typedef struct scope_options {
    unsigned threads;         /* 0: one per online CPU */
    bool scan_binary;         /* scan files that look binary instead of skipping */
    bool reveal;              /* write identifiers in the clear (notice team only) */
    float min_confidence;     /* findings below are dropped; default 0.3 */
    float person_confidence;  /* findings at or above make persons; default 0.5 */
    scope_out_format out_format;
    FILE *findings;           /* every finding; NULL: none written */
    FILE *subjects;           /* deduplicated persons; NULL: none written */
    const uint8_t *salt;      /* NULL: 32 random bytes per scan */
    size_t salt_len;
    scope_format force_format; /* SCOPE_FMT_AUTO normally */
} scope_options;

void scope_options_default(scope_options *opt);

/* Something that could not be read, or was read only in part. */
typedef struct scope_note {
    char *file;
    uint64_t offset;
    bool is_incomplete;  /* part of the input was not read */
    char *message;
} scope_note;

typedef struct scope_report {
    uint64_t files_seen, files_scanned, files_skipped, files_failed;
    uint64_t bytes;              /* bytes of input read (decoded for compressed) */
    uint64_t records;            /* records holding at least one finding */
    uint64_t persons;            /* distinct persons (>= person_confidence) */
    uint64_t counts[SCOPE_KIND_COUNT][SCOPE_LEVEL_COUNT];
    uint64_t persons_with[SCOPE_KIND_COUNT]; /* persons exposed per kind */
    double seconds;
    bool is_complete;            /* every byte of every file was read */
    scope_note *notes;
    size_t note_count;
    uint8_t salt[32];
    size_t salt_len;
} scope_report;

void scope_report_free(scope_report *r);

typedef struct scope_scanner scope_scanner;

/* Compiles the Hyperscan database; the options are copied. */
int scope_scanner_new(scope_scanner **out, const scope_options *opt, hae_err *err);
void scope_scanner_free(scope_scanner *s); /* NULL is fine */

/* Scans files and directories (recursively, symlinks not followed; "-" is
 * standard input). Problems with single files become notes, not errors; an
 * error means the scan itself failed (output not writable, out of memory).
 * Writes findings and subjects when the options say so. Call once. */
int scope_scan_paths(scope_scanner *s, const char *const *paths, size_t count,
                     scope_report *report, hae_err *err);

/* Live counters for a progress bar; safe from another thread. */
typedef struct scope_progress {
    uint64_t bytes_done, bytes_total, files_done, files_total, findings;
} scope_progress;
void scope_scanner_progress(const scope_scanner *s, scope_progress *out);

/* Scans bytes in memory as one file (tests, fuzzing): every finding at or
 * above min_confidence goes to fn in order of offset. name picks the format
 * when fmt is AUTO. Compressed or archived bytes are decoded. */
typedef int (*scope_finding_fn)(void *ctx, const scope_finding *f);
int scope_scan_memory(scope_scanner *s, const char *name, scope_format fmt, const void *data,
                      size_t len, scope_finding_fn fn, void *ctx, scope_report *report,
                      hae_err *err);

#endif
