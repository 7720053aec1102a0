/* Fuzzes the sock sensor's parsers of kernel output: NETLINK_SOCK_DIAG dump
 * replies (packet_diag and inet_diag) and /proc/net table lines. The first
 * byte picks the parser; the rest is the input. Checks that every rejection
 * explains itself and that filters handed out are whole programs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sensor/sock_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_entry(void *ctx, sock_entry *e, hae_err *err) {
    (void)err;
    (*(size_t *)ctx)++;
    if ((e->filter == NULL) != (e->filter_len == 0)) abort();
    if (e->filter_len > BPF_MAXINSNS) abort();
    if (e->filter) {
        sock_bpf_magic found[4];
        (void)sock_bpf_find_magic(e->filter, e->filter_len, found, 4);
    }
    return HAE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0] % 4;
    data++;
    size--;
    if (mode < 2) {
        /* Copy into malloc'd memory as recvmsg would fill it. */
        uint8_t *buf = malloc(size ? size : 1);
        if (!buf) return 0;
        memcpy(buf, data, size);
        size_t entries = 0;
        bool done = false;
        hae_err err = {0};
        int family = mode == 0 ? AF_PACKET : AF_INET6;
        int type = mode == 0 ? SOCK_RAW : SOCK_STREAM;
        int rc = sock_diag_parse(buf, size, family, type, 6, check_entry, &entries, &done, &err);
        if (rc < 0 && err.msg[0] == '\0') abort();
        free(buf);
        return 0;
    }
    sock_entry e = {.type = SOCK_RAW, .protocol = 255};
    int rc = mode == 2 ? sock_procnet_parse_packet((const char *)data, size, &e)
                       : sock_procnet_parse_inet((const char *)data, size, &e);
    if (rc == HAE_OK && e.family != AF_PACKET && e.family != AF_INET && e.family != AF_INET6) abort();
    sock_entry_free_filter(&e);
    return 0;
}
