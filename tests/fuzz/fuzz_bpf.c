/* Fuzzes classic BPF analysis: any bytes as a sock_filter array through
 * sock_bpf_find_magic and sock_bpf_disassemble. Checks that every reported
 * magic points at an instruction holding it, and that the listing has one
 * line per instruction. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/sock_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t count = size / sizeof(struct sock_filter);
    struct sock_filter *prog = NULL;
    if (count) {
        prog = malloc(count * sizeof *prog);
        if (!prog) return 0;
        memcpy(prog, data, count * sizeof *prog); /* aligned copy */
    }
    sock_bpf_magic found[8];
    size_t n = sock_bpf_find_magic(prog, count, found, 8);
    if (n > 8) abort();
    for (size_t i = 0; i < n; i++) {
        if (found[i].insn_index >= count || prog[found[i].insn_index].k != found[i].value) abort();
        if (!found[i].name) abort();
    }
    hae_buf out = {0};
    if (sock_bpf_disassemble(prog, count, &out) != HAE_OK) abort();
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++) lines += out.data[i] == '\n';
    if (lines != count || strlen(out.data) != out.len) abort();
    hae_buf_free(&out);
    free(prog);
    return 0;
}
