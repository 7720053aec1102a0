/* Fuzzes the proc sensor's parsers of bytes the kernel (or, for environ and
 * stat's comm, the process itself) controls: proc connector datagrams,
 * /proc/PID/stat and environ blocks, and the masquerade rule on arbitrary
 * names. The first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/proc_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_event(void *ctx, const proc_cn_event *ev) {
    size_t *count = ctx;
    if (ev->kind > PROC_CN_OTHER) abort();
    (*count)++;
    return HAE_OK;
}

static void fuzz_cn(const uint8_t *data, size_t size) {
    /* recv() gives no alignment promise; neither does the fuzzer. */
    hae_err err = {0};
    size_t count = 0;
    int rc = proc_cn_parse(data, size, check_event, &count, &err);
    if (rc != HAE_OK && err.msg[0] == '\0') abort(); /* every rejection explains itself */
}

static void fuzz_stat(const uint8_t *data, size_t size) {
    proc_stat_info info;
    hae_err err = {0};
    int rc = proc_stat_parse((const char *)data, size, &info, &err);
    if (rc != HAE_OK && err.msg[0] == '\0') abort();
    if (rc == HAE_OK && strlen(info.comm) >= sizeof info.comm) abort();
}

static void fuzz_environ(const uint8_t *data, size_t size) {
    static const char *const names[] = {"HOME", "HISTFILE", "MYSQL_HISTFILE", "A"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *value;
        size_t len;
        if (proc_environ_find((const char *)data, size, names[i], &value, &len)) {
            const char *start = (const char *)data;
            if (value < start || value + len > start + size) abort();
        }
    }
}

static void fuzz_names(const uint8_t *data, size_t size) {
    /* three NUL-separated strings: comm, argv0, exe */
    char *copy = malloc(size + 3);
    if (!copy) return;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = copy[size + 2] = '\0';
    const char *comm = copy;
    const char *argv0 = comm + strlen(comm) + 1;
    const char *exe = argv0 + strlen(argv0) + 1;
    if (exe > copy + size + 2) exe = copy + size + 2;
    const char *by = NULL;
    const proc_daemon *d = proc_masquerade_check(comm, argv0, exe, &by);
    if (d && (!by || !d->name)) abort();
    (void)proc_claims_kernel_thread(argv0);
    (void)proc_exe_classify(exe);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    switch (data[0] % 4) {
    case 0: fuzz_cn(data + 1, size - 1); break;
    case 1: fuzz_stat(data + 1, size - 1); break;
    case 2: fuzz_environ(data + 1, size - 1); break;
    default: fuzz_names(data + 1, size - 1); break;
    }
    return 0;
}
