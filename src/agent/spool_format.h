/* spool_format: the spool's on-disk encoding, pure functions over bytes so
 * that recovery and reading can be tested and fuzzed without files.
 * Private to src/agent. */
#ifndef HAETAE_AGENT_SPOOL_FORMAT_H
#define HAETAE_AGENT_SPOOL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_MAGIC "HAESPL01"
enum {
    SPOOL_MAGIC_LEN = 8,
    SPOOL_RECORD_HEADER = 8,         /* u32 LE length, u32 LE CRC-32 */
    SPOOL_MAX_RECORD = 16u << 20,    /* one event line; larger is refused */
    SPOOL_SEGMENT_NAME_LEN = 21,     /* 16 hex digits + ".seg" + NUL */
};

typedef struct spool_scan_result {
    bool header_ok;
    size_t valid_bytes; /* prefix made of the header and whole, valid records */
    uint64_t records;
} spool_scan_result;

/* Walks a segment's bytes and finds where the valid records end. */
void spool_scan_records(const char *data, size_t len, spool_scan_result *out);

typedef struct spool_cursor {
    const char *data;
    size_t len;
    size_t pos;   /* offset of the next record */
    uint64_t seq; /* sequence number of the next record */
} spool_cursor;

/* Returns the next valid record and advances; false at the end or at the
 * first torn or corrupt record. */
bool spool_next_record(spool_cursor *cur, const char **line, size_t *len);

void spool_encode_header(unsigned char out[SPOOL_RECORD_HEADER], uint32_t len, uint32_t crc);
bool spool_parse_segment_name(const char *name, uint64_t *first_seq);
bool spool_parse_ack(const char *text, size_t len, uint64_t *seq);

#endif
