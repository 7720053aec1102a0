/* Shared by the scope fuzz targets: one scanner for the process, and a
 * scan of the input as one file of a given name and format. Whatever the
 * bytes, the scan must not crash, leak or report a finding outside them. */
#ifndef HAETAE_FUZZ_SCOPE_COMMON_H
#define HAETAE_FUZZ_SCOPE_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scope/scope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_bounds {
    size_t size;
    int is_stream;
} fuzz_bounds;

static int fuzz_check_finding(void *ctx, const scope_finding *f) {
    const fuzz_bounds *b = ctx;
    if (f->text_len == 0 || f->norm_len == 0 || f->confidence < 0.0f || f->confidence > 1.0f) abort();
    if (!b->is_stream && (f->offset + f->text_len > b->size || f->record_offset > f->offset)) abort();
    char masked[SCOPE_NORM_MAX + 1];
    if (f->text_len <= SCOPE_NORM_MAX) scope_mask(f->kind, f->text, f->text_len, masked);
    return 0;
}

static int fuzz_scan(const char *name, scope_format fmt, const uint8_t *data, size_t size,
                     int is_stream) {
    static scope_scanner *scanner;
    if (!scanner) {
        scope_options opt;
        scope_options_default(&opt);
        opt.scan_binary = 1;
        hae_err err = {0};
        if (scope_scanner_new(&scanner, &opt, &err) != HAE_OK) abort();
    }
    /* ASCII input is scanned as it is, so offsets must fall inside it */
    int is_decoded = is_stream;
    for (size_t i = 0; i < size && !is_decoded; i++) is_decoded = data[i] >= 0x80 || data[i] == 0;
    fuzz_bounds b = {size, is_decoded};
    scope_report report;
    hae_err err = {0};
    int rc = scope_scan_memory(scanner, name, fmt, data, size, fuzz_check_finding, &b, &report, &err);
    if (rc != HAE_OK && err.msg[0] == '\0') abort();
    scope_report_free(&report);
    return 0;
}

#endif
