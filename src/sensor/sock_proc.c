/* The sock sensor's fallbacks: the /proc/net socket tables (proc(5):
 * /proc/net/packet, /proc/net/{tcp,udp,raw}{,6}) when sock_diag lacks a
 * family, and a socket's classic BPF program read from its owner through
 * pidfd_getfd(2) + getsockopt(SO_GET_FILTER) when packet_diag cannot say. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sensor/procfs.h"
#include "sensor/sock_internal.h"

/* Lines are short (under 200 bytes); a longer one is not a table line. */
#define LINE_MAX_LEN 512

static bool copy_line(const char *line, size_t len, char out[LINE_MAX_LEN]) {
    if (len >= LINE_MAX_LEN || memchr(line, '\0', len)) return false;
    memcpy(out, line, len);
    out[len] = '\0';
    return true;
}

/* "sk RefCnt Type Proto Iface R Rmem User Inode" (net/packet/af_packet.c
 * packet_seq_show): Proto is ntohs(po->num) in hex. */
int sock_procnet_parse_packet(const char *line, size_t len, sock_entry *e) {
    char text[LINE_MAX_LEN];
    if (!copy_line(line, len, text)) return HAE_EINVAL;
    int type, ifindex;
    unsigned proto, uid;
    unsigned long long inode;
    if (sscanf(text, "%*s %*d %d %x %d %*d %*u %u %llu", &type, &proto, &ifindex, &uid, &inode) !=
            5 ||
        proto > 0xffff) {
        return HAE_EINVAL;
    }
    *e = (sock_entry){.family = AF_PACKET, .type = type, .protocol = (int)proto,
                      .inode = inode, .has_uid = true, .uid = (uid_t)uid, .state = -1,
                      .ifindex = ifindex};
    return HAE_OK;
}

/* Hex words as the kernel prints them with %08X: each is one __be32 read as
 * a host integer, so storing it back in host order restores network order. */
static bool parse_address(const char *hex, sock_entry *e) {
    size_t digits = strlen(hex);
    if (digits != 8 && digits != 32) return false;
    e->family = digits == 8 ? AF_INET : AF_INET6;
    for (size_t word = 0; word < digits / 8; word++) {
        char part[9];
        memcpy(part, hex + word * 8, 8);
        part[8] = '\0';
        char *end;
        uint32_t value = (uint32_t)strtoul(part, &end, 16);
        if (*end) return false;
        memcpy(e->local_addr + word * 4, &value, sizeof value);
    }
    return true;
}

/* "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt
 * uid timeout inode ..." (net/ipv4/tcp_ipv4.c, udp.c, raw.c and the ipv6
 * twins share the layout). */
int sock_procnet_parse_inet(const char *line, size_t len, sock_entry *e) {
    char text[LINE_MAX_LEN], local[40];
    if (!copy_line(line, len, text)) return HAE_EINVAL;
    unsigned port, state, uid;
    unsigned long long inode;
    if (sscanf(text, " %*u: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %u %*d %llu",
               local, &port, &state, &uid, &inode) != 5 ||
        port > 0xffff || state > 0xff) {
        return HAE_EINVAL;
    }
    int type = e->type, protocol = e->protocol;
    *e = (sock_entry){.type = type, .protocol = protocol, .inode = inode, .has_uid = true,
                      .uid = (uid_t)uid, .state = (int)state, .local_port = (uint16_t)port};
    if (!parse_address(local, e)) return HAE_EINVAL;
    if (type == SOCK_RAW) e->protocol = (int)port; /* raw "port" = protocol */
    return HAE_OK;
}

int sock_procnet_read(const char *name, int family, int type, int protocol, sock_entry_fn fn,
                      void *ctx, size_t *skipped, hae_err *err) {
    char path[256];
    snprintf(path, sizeof path, "%s/net/%s", procfs_root(), name);
    FILE *f = fopen(path, "re");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = HAE_OK;
    for (size_t number = 1; rc >= 0 && (n = getline(&line, &cap, f)) >= 0; number++) {
        if (number == 1) continue; /* the column header */
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n') len--;
        sock_entry e = {.type = type, .protocol = protocol};
        int parsed = family == AF_PACKET ? sock_procnet_parse_packet(line, len, &e)
                                         : sock_procnet_parse_inet(line, len, &e);
        if (parsed < 0) {
            hae_log(HAE_LOG_DEBUG, "%s:%zu: not a socket line, skipped", path, number);
            (*skipped)++;
            continue;
        }
        rc = fn(ctx, &e, err);
        sock_entry_free_filter(&e);
    }
    if (rc >= 0 && ferror(f)) rc = hae_err_errno(err, errno, "%s: read", path);
    free(line);
    fclose(f);
    return rc;
}

/* ---- the filter, from the owner --------------------------------------- */

/* The owner's descriptor number for socket inode, from /proc/PID/fd. */
static int find_socket_fd(pid_t pid, uint64_t inode, int *fd, hae_err *err) {
    char dir_path[128], want[48];
    snprintf(dir_path, sizeof dir_path, "%s/%d/fd", procfs_root(), (int)pid);
    snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long)inode);
    DIR *dir = opendir(dir_path);
    if (!dir) return hae_err_errno(err, errno, "%s", dir_path);
    int rc = hae_err_set(err, HAE_ENOENT, "%s: no descriptor for %s (closed meanwhile)", dir_path,
                         want);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        char link[400], target[64];
        snprintf(link, sizeof link, "%s/%s", dir_path, d->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (strcmp(target, want) == 0) {
            *fd = atoi(d->d_name);
            hae_err_clear(err);
            rc = HAE_OK;
            break;
        }
    }
    closedir(dir);
    return rc;
}

/* getsockopt(SO_GET_FILTER) counts in instructions, not bytes
 * (net/core/filter.c sk_get_filter); EACCES means an eBPF program with no
 * classic original is attached (SO_ATTACH_BPF). */
static int read_filter(int sock, struct sock_filter **filter, size_t *len, bool *is_ebpf,
                       hae_err *err) {
    struct sock_filter *prog = malloc(BPF_MAXINSNS * sizeof *prog);
    if (!prog) return hae_err_set(err, HAE_ENOMEM, "out of memory for a filter");
    socklen_t count = BPF_MAXINSNS;
    if (getsockopt(sock, SOL_SOCKET, SO_GET_FILTER, prog, &count) < 0) {
        int saved = errno;
        free(prog);
        if (saved == EACCES) {
            *is_ebpf = true;
            return HAE_OK;
        }
        return hae_err_errno(err, saved, "getsockopt(SO_GET_FILTER)");
    }
    if (count == 0 || count > BPF_MAXINSNS) {
        free(prog);
        return HAE_OK;
    }
    *filter = prog;
    *len = count;
    return HAE_OK;
}

int sock_filter_from_owner(pid_t pid, uint64_t inode, struct sock_filter **filter, size_t *len,
                           bool *is_ebpf, hae_err *err) {
    *filter = NULL;
    *len = 0;
    *is_ebpf = false;
    int target = -1;
    int rc = find_socket_fd(pid, inode, &target, err);
    if (rc < 0) return rc;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) return hae_err_errno(err, errno, "pidfd_open(%d)", (int)pid);
    int sock = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
    if (sock < 0) {
        rc = hae_err_errno(err, errno, "pidfd_getfd(%d, fd %d)", (int)pid, target);
    } else {
        rc = read_filter(sock, filter, len, is_ebpf, err);
        close(sock);
    }
    close(pidfd);
    return rc;
}
