/* haetae hunt's parts: streaming the inputs into events (hunt_input.c) and
 * the rows a match becomes, printed as a timeline table with a summary, as
 * CSV or as JSON lines (hunt_output.c). cmd_hunt.c parses the command line
 * and wires them to the detect engine. */
#ifndef HAETAE_HUNT_INT_H
#define HAETAE_HUNT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detect/detect.h"

typedef enum { HUNT_OUT_TABLE, HUNT_OUT_JSONL, HUNT_OUT_CSV } hunt_output;

/* One line of the timeline: a Sigma match or a YARA match. */
typedef struct hunt_row {
    int64_t time_ns;      /* the event's time; a YARA row: the file's mtime; 0: unknown */
    uint64_t order;       /* arrival, to keep equal times in input order */
    const char *host;     /* "" when unknown */
    const char *level;
    const char *rule;     /* title, or the YARA rule's identifier */
    const char *details;  /* "Field=value ..." */
    const char *file;
    size_t line;          /* 0 for YARA rows */
    bool correlation, yara;
} hunt_row;

typedef struct rule_count {
    const char *level, *rule;
    bool correlation, yara;
    uint64_t count;
} rule_count;

typedef struct hunt {
    hunt_output output;
    detect_engine *engine;
    detect_yara *yara;
    const char *file;         /* current input */
    int64_t file_mtime_ns;    /* its modification time (the time of a YARA row); 0: unknown */
    size_t line;
    uint64_t events, hits, malformed, yara_hits;
    bool progress;            /* a bar on stderr for large inputs */
    size_t terminal_width;
    /* the timeline table keeps rows (strings in the arena) to sort them */
    hae_arena arena;
    hunt_row *rows;
    size_t row_count, row_cap;
    uint64_t rows_dropped;    /* beyond HUNT_MAX_TABLE_ROWS */
    rule_count *counts;
    size_t count_len, count_cap;
    hae_buf out, scratch;
} hunt;

/* The table sorts in memory; past this many rows it says how many it left
 * out and points at --format jsonl or csv, which stream every row. */
#define HUNT_MAX_TABLE_ROWS 100000u

/* hunt_input.c: reads path ("-": stdin) in blocks, detects JSON lines,
 * concatenated JSON objects or log lines, and matches every event. Memory
 * stays bounded by the longest line or object (HUNT_MAX_RECORD_BYTES). */
#define HUNT_MAX_RECORD_BYTES (64u << 20)
int hunt_input(hunt *h, const char *path, hae_err *err) HAE_MUST_USE;

/* hunt_output.c */
int hunt_on_hit(void *ctx, const detect_hit *hit, hae_err *err);
int hunt_on_yara(void *ctx, const char *rule, const char *ns, const char *const *tags,
                 size_t tag_count, hae_severity severity, hae_err *err);
int hunt_output_begin(hunt *h, hae_err *err) HAE_MUST_USE; /* CSV header */
int hunt_output_end(hunt *h, hae_err *err) HAE_MUST_USE;   /* the table and its summary */
void hunt_output_free(hunt *h);

#endif
