/* sock sensor internals, private to src/sensor: the pure parsers of
 * NETLINK_SOCK_DIAG replies and /proc/net tables (fuzzed in tests/fuzz),
 * the netlink I/O beneath them, and the scan options tests use to force the
 * fallback paths. See sensor.h for the public contract. */
#ifndef HAETAE_SENSOR_SOCK_INTERNAL_H
#define HAETAE_SENSOR_SOCK_INTERNAL_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sensor/sensor.h"

/* ---- BPF magic table --------------------------------------------------- */

/* True for the five constants KISA's 2025 check guide greps for (0x5293,
 * 0x7255, 0x39393939, 0x8d6c, 0x9f4f); false for the wider Rapid7 list,
 * whose small values (9999, 4437...) also occur as ordinary port numbers. */
bool sock_bpf_magic_is_strong(uint32_t value);

/* ---- one socket, as any source reports it ------------------------------ */

typedef struct sock_entry {
    int family;              /* AF_PACKET, AF_INET, AF_INET6 */
    int type;                /* SOCK_RAW, SOCK_DGRAM, SOCK_STREAM */
    int protocol;            /* AF_PACKET: ethertype (host order); inet: IPPROTO_* */
    uint64_t inode;
    bool has_uid;
    uid_t uid;               /* the socket's creator (PACKET_DIAG_UID, idiag_uid) */
    int state;               /* inet: TCP_* state; packet: -1 */
    uint8_t local_addr[16];  /* network order; 4 bytes used for AF_INET */
    uint16_t local_port;     /* host order; raw sockets: the IP protocol */
    int ifindex;             /* packet: bound interface, 0 = all */
    bool has_filter_info;    /* the source said whether a filter is attached */
    bool filter_hidden;      /* the kernel withheld it (no CAP_NET_ADMIN) */
    struct sock_filter *filter; /* malloc'd copy, or NULL; filter_len insns */
    size_t filter_len;
} sock_entry;

void sock_entry_free_filter(sock_entry *e);

typedef int (*sock_entry_fn)(void *ctx, sock_entry *e, hae_err *err);

/* ---- NETLINK_SOCK_DIAG replies (pure: bytes in, entries out) ----------- */

/* Parses one received buffer of netlink messages answering a dump for
 * family (AF_PACKET: packet_diag_msg; AF_INET/AF_INET6: inet_diag_msg) and
 * calls fn for each socket. The entry and its filter live only for the call.
 * Sets *done on NLMSG_DONE. An NLMSG_ERROR reply returns HAE_ENOTSUP for
 * ENOENT (the kernel lacks the diag handler) else the errno as a code;
 * malformed input returns HAE_EINVAL naming the byte offset. */
int sock_diag_parse(const void *buf, size_t len, int family, int type, int protocol,
                    sock_entry_fn fn, void *ctx, bool *done, hae_err *err);

/* Sends a SOCK_DIAG_BY_FAMILY dump request and feeds the replies to
 * sock_diag_parse. Requests: AF_PACKET (protocol ignored) or
 * AF_INET/AF_INET6 with IPPROTO_TCP/UDP/RAW and a TCP state mask. */
int sock_diag_dump(int family, int type, int protocol, uint32_t states, sock_entry_fn fn,
                   void *ctx, hae_err *err);

/* ---- /proc/net tables (pure line parsers) ------------------------------ */

/* One data line of /proc/net/packet into e; HAE_EINVAL if malformed. */
int sock_procnet_parse_packet(const char *line, size_t len, sock_entry *e);
/* One data line of /proc/net/{tcp,udp,raw}{,6} into e (family AF_INET or
 * AF_INET6 by address width); HAE_EINVAL if malformed. */
int sock_procnet_parse_inet(const char *line, size_t len, sock_entry *e);
/* Reads root/net/name (procfs_root) and calls fn per parsed line; a line
 * that does not parse is counted in *skipped, not fatal. */
int sock_procnet_read(const char *name, int family, int type, int protocol, sock_entry_fn fn,
                      void *ctx, size_t *skipped, hae_err *err);

/* ---- filters read from the owner (pidfd_getfd + SO_GET_FILTER) --------- */

/* Duplicates the owner's descriptor for socket inode into this process
 * (pidfd_getfd, Linux 5.6) and reads its classic BPF program with
 * getsockopt(SO_GET_FILTER). *filter is malloc'd (NULL when none);
 * *is_ebpf says an eBPF program (SO_ATTACH_BPF) is attached instead. */
int sock_filter_from_owner(pid_t pid, uint64_t inode, struct sock_filter **filter,
                           size_t *len, bool *is_ebpf, hae_err *err);

/* ---- the scan ---------------------------------------------------------- */

typedef struct sock_scan_options {
    bool skip_packet_diag; /* act as if packet_diag were missing */
    bool skip_inet_diag;   /* act as if inet_diag (tcp/udp/raw) were missing */
} sock_scan_options;

int sock_scan_with(const sock_scan_options *opt, const hae_sink *sink, hae_err *err);

#endif
