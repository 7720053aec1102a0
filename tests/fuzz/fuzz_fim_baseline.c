/* Fuzzes the fim baseline parser (fim_baseline.c) from a memory buffer:
 * every rejection explains itself, and whatever parses re-serialises to a
 * file that parses to the same entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/fim_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fim_entries list = {0};
    hae_err err = {0};
    if (fim_baseline_parse(data, size, "fuzz", &list, &err) != HAE_OK) {
        if (err.msg[0] == '\0') abort();
        fim_entries_free(&list);
        return 0;
    }
    hae_buf again = {0};
    const char *roots[] = {"/"};
    if (fim_baseline_serialize(&list, roots, 1, &again) != HAE_OK) abort();
    fim_entries back = {0};
    if (fim_baseline_parse((const unsigned char *)again.data, again.len, "again", &back, &err) !=
        HAE_OK) {
        abort();
    }
    if (back.count != list.count) abort();
    for (size_t i = 0; i < list.count; i++) {
        const fim_entry *a = &list.items[i];
        const fim_entry *b = &back.items[i];
        if (a->path_len != b->path_len || memcmp(a->path, b->path, a->path_len) != 0) abort();
        if (a->size != b->size || a->mode != b->mode || a->type != b->type) abort();
        if (memcmp(a->sha256, b->sha256, sizeof a->sha256) != 0) abort();
    }
    fim_entries_free(&back);
    fim_entries_free(&list);
    hae_buf_free(&again);
    return 0;
}
