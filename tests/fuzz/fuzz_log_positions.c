/* Fuzzes the saved log positions an agent restart reads back (logtail.c,
 * log_tail_resume): any bytes resume without a crash, every line that does
 * not parse becomes one log.gap finding, and the resumed tail still reads
 * the file and saves positions that resume again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor/sensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char log_path[64];

static int count_event(void *ctx, const hae_event *ev, hae_err *err) {
    (void)ev, (void)err;
    (*(size_t *)ctx)++;
    return HAE_OK;
}

static void make_log(void) {
    if (log_path[0]) return;
    snprintf(log_path, sizeof log_path, "/tmp/fuzz_log_positions.%d", (int)getpid());
    FILE *f = fopen(log_path, "w");
    if (!f) abort();
    fputs("Nov 22 18:40:54 web01 sshd[1234]: Failed password for root from 203.0.113.9\n"
          "second line\n", f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    make_log();
    const char *paths[] = {log_path};
    log_tail *t = NULL;
    hae_err err = {0};
    if (log_tail_open(&t, paths, 1, false, &err) != HAE_OK) abort();
    size_t events = 0;
    hae_sink sink = {.emit = count_event, .ctx = &events};
    if (log_tail_resume(t, (const char *)data, size, &sink, &err) != HAE_OK) abort();
    if (log_tail_read(t, &sink, &err) != HAE_OK) abort();
    hae_buf saved = {0};
    if (log_tail_positions(t, &saved) != HAE_OK) abort();
    log_tail_close(t);
    if (log_tail_open(&t, paths, 1, false, &err) != HAE_OK) abort();
    size_t gaps_before = events;
    if (log_tail_resume(t, saved.data, saved.len, &sink, &err) != HAE_OK) abort();
    if (events != gaps_before) abort(); /* our own positions resume cleanly */
    log_tail_close(t);
    hae_buf_free(&saved);
    return 0;
}
