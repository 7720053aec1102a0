/* NETLINK_SOCK_DIAG (sock_diag(7)): the pure parser of dump replies and the
 * thin socket I/O that feeds it. packet_diag replies follow
 * include/uapi/linux/packet_diag.h, inet_diag (tcp, udp, raw) replies
 * include/uapi/linux/inet_diag.h; attributes are netlink TLVs (RFC 3549). */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sensor/sock_internal.h"

void sock_entry_free_filter(sock_entry *e) {
    free(e->filter);
    e->filter = NULL;
    e->filter_len = 0;
}

/* PACKET_DIAG_FILTER carries the program as attached: an array of struct
 * sock_filter (net/core/sock_diag.c sock_diag_put_filterinfo). An empty
 * attribute means the kernel withheld it from a caller without
 * CAP_NET_ADMIN; no attribute means no filter. */
static int take_filter(sock_entry *e, const uint8_t *data, size_t len, size_t at, hae_err *err) {
    if (len == 0) {
        e->filter_hidden = true;
        return HAE_OK;
    }
    if (len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        return hae_err_set(err, HAE_EINVAL,
                           "sock_diag: PACKET_DIAG_FILTER at byte %zu has length %zu, not a "
                           "whole program of 8-byte instructions",
                           at, len);
    }
    sock_entry_free_filter(e);
    e->filter = malloc(len);
    if (!e->filter) return hae_err_set(err, HAE_ENOMEM, "sock_diag: out of memory for a filter");
    memcpy(e->filter, data, len); /* copy: the reply need not be aligned for sock_filter */
    e->filter_len = len / sizeof(struct sock_filter);
    return HAE_OK;
}

static int parse_packet_attr(sock_entry *e, uint16_t type, const uint8_t *data, size_t len,
                             size_t at, hae_err *err) {
    switch (type) {
    case PACKET_DIAG_INFO: {
        struct packet_diag_info info;
        if (len >= sizeof info) {
            memcpy(&info, data, sizeof info);
            e->ifindex = (int)info.pdi_index;
        }
        return HAE_OK;
    }
    case PACKET_DIAG_UID: {
        uint32_t uid;
        if (len >= sizeof uid) {
            memcpy(&uid, data, sizeof uid);
            e->uid = (uid_t)uid;
            e->has_uid = true;
        }
        return HAE_OK;
    }
    case PACKET_DIAG_FILTER:
        return take_filter(e, data, len, at, err);
    default:
        return HAE_OK; /* mclist, rings, fanout, meminfo: not evidence here */
    }
}

static int parse_inet_attr(sock_entry *e, uint16_t type, const uint8_t *data, size_t len) {
    /* raw_diag tells the socket's own protocol (the request said IPPROTO_RAW). */
    if (type == INET_DIAG_PROTOCOL && len >= 1) e->protocol = data[0];
    return HAE_OK;
}

/* Walks the attributes of one message; at is the offset of attrs in the
 * whole buffer, for error messages. */
static int parse_attrs(sock_entry *e, const uint8_t *attrs, size_t len, size_t at, hae_err *err) {
    size_t off = 0;
    while (len - off >= NLA_HDRLEN) {
        struct nlattr nla;
        memcpy(&nla, attrs + off, sizeof nla);
        if (nla.nla_len < NLA_HDRLEN || nla.nla_len > len - off) {
            return hae_err_set(err, HAE_EINVAL,
                               "sock_diag: attribute at byte %zu claims length %u, %zu bytes left",
                               at + off, nla.nla_len, len - off);
        }
        uint16_t type = nla.nla_type & NLA_TYPE_MASK;
        const uint8_t *data = attrs + off + NLA_HDRLEN;
        size_t data_len = nla.nla_len - NLA_HDRLEN;
        int rc = e->family == AF_PACKET
                     ? parse_packet_attr(e, type, data, data_len, at + off, err)
                     : parse_inet_attr(e, type, data, data_len);
        if (rc < 0) return rc;
        size_t step = NLA_ALIGN(nla.nla_len);
        if (step > len - off) break;
        off += step;
    }
    return HAE_OK;
}

static int parse_packet_msg(sock_entry *e, const uint8_t *p, size_t len, size_t at,
                            hae_err *err) {
    struct packet_diag_msg msg;
    if (len < sizeof msg) {
        return hae_err_set(err, HAE_EINVAL, "sock_diag: packet_diag_msg at byte %zu is %zu bytes",
                           at, len);
    }
    memcpy(&msg, p, sizeof msg);
    e->family = msg.pdiag_family;
    e->type = msg.pdiag_type;
    e->protocol = msg.pdiag_num; /* kernel stores ntohs(po->num): host order */
    e->inode = msg.pdiag_ino;
    e->state = -1;
    e->has_filter_info = true; /* we asked for PACKET_SHOW_FILTER */
    size_t start = NLMSG_ALIGN(sizeof msg);
    if (start >= len) return HAE_OK;
    return parse_attrs(e, p + start, len - start, at + start, err);
}

static int parse_inet_msg(sock_entry *e, const uint8_t *p, size_t len, size_t at, hae_err *err) {
    struct inet_diag_msg msg;
    if (len < sizeof msg) {
        return hae_err_set(err, HAE_EINVAL, "sock_diag: inet_diag_msg at byte %zu is %zu bytes",
                           at, len);
    }
    memcpy(&msg, p, sizeof msg);
    e->family = msg.idiag_family;
    e->state = msg.idiag_state;
    e->local_port = ntohs(msg.id.idiag_sport);
    memcpy(e->local_addr, msg.id.idiag_src, sizeof e->local_addr);
    e->uid = (uid_t)msg.idiag_uid;
    e->has_uid = true;
    e->inode = msg.idiag_inode;
    /* A raw socket's "port" is its protocol (inet_create sets inet_num). */
    if (e->type == SOCK_RAW) e->protocol = e->local_port;
    size_t start = NLMSG_ALIGN(sizeof msg);
    if (start >= len) return HAE_OK;
    return parse_attrs(e, p + start, len - start, at + start, err);
}

static int parse_error(const uint8_t *p, size_t len, size_t at, int family, hae_err *err) {
    int code;
    if (len < sizeof code) {
        return hae_err_set(err, HAE_EINVAL, "sock_diag: NLMSG_ERROR at byte %zu is truncated", at);
    }
    memcpy(&code, p, sizeof code);
    if (code == 0) return HAE_OK; /* an acknowledgement */
    if (code == -ENOENT) {
        return hae_err_set(err, HAE_ENOTSUP, "sock_diag: the kernel has no %s handler (%s)",
                           family == AF_PACKET ? "packet_diag" : "inet_diag/raw_diag",
                           family == AF_PACKET ? "CONFIG_PACKET_DIAG" : "CONFIG_INET_*_DIAG");
    }
    return hae_err_errno(err, code == INT32_MIN ? EIO : -code, "sock_diag: kernel refused the dump");
}

int sock_diag_parse(const void *buf, size_t len, int family, int type, int protocol,
                    sock_entry_fn fn, void *ctx, bool *done, hae_err *err) {
    const uint8_t *bytes = buf;
    size_t off = 0;
    *done = false;
    while (off < len) {
        struct nlmsghdr h;
        if (len - off < sizeof h) {
            return hae_err_set(err, HAE_EINVAL, "sock_diag: %zu stray bytes at byte %zu",
                               len - off, off);
        }
        memcpy(&h, bytes + off, sizeof h);
        if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off) {
            return hae_err_set(err, HAE_EINVAL,
                               "sock_diag: message at byte %zu claims length %u, %zu bytes left",
                               off, h.nlmsg_len, len - off);
        }
        const uint8_t *payload = bytes + off + NLMSG_HDRLEN;
        size_t payload_len = h.nlmsg_len - NLMSG_HDRLEN, at = off + NLMSG_HDRLEN;
        int rc = HAE_OK;
        if (h.nlmsg_type == NLMSG_DONE) {
            int status = 0; /* a dump may end with a negative errno */
            if (payload_len >= sizeof status) memcpy(&status, payload, sizeof status);
            *done = true;
            return status < 0 ? parse_error(payload, payload_len, at, family, err) : HAE_OK;
        } else if (h.nlmsg_type == NLMSG_ERROR) {
            rc = parse_error(payload, payload_len, at, family, err);
        } else if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            sock_entry e = {.type = type, .protocol = protocol};
            rc = family == AF_PACKET ? parse_packet_msg(&e, payload, payload_len, at, err)
                                     : parse_inet_msg(&e, payload, payload_len, at, err);
            if (rc == HAE_OK) rc = fn(ctx, &e, err);
            sock_entry_free_filter(&e);
        }
        if (rc < 0) return rc;
        size_t step = NLMSG_ALIGN(h.nlmsg_len);
        off = step > len - off ? len : off + step;
    }
    return HAE_OK;
}

/* ---- I/O ----------------------------------------------------------------- */

typedef struct diag_request {
    struct nlmsghdr nlh;
    union {
        struct packet_diag_req packet;
        struct inet_diag_req_v2 inet;
    } req;
} diag_request;

static size_t build_request(diag_request *r, int family, int protocol, uint32_t states) {
    memset(r, 0, sizeof *r);
    size_t body;
    if (family == AF_PACKET) {
        r->req.packet.sdiag_family = AF_PACKET;
        r->req.packet.pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_FILTER | PACKET_SHOW_FANOUT;
        body = sizeof r->req.packet;
    } else {
        r->req.inet.sdiag_family = (uint8_t)family;
        r->req.inet.sdiag_protocol = (uint8_t)protocol;
        /* raw_diag reads this byte as sdiag_raw_protocol; dumps match all. */
        r->req.inet.pad = protocol == IPPROTO_RAW ? IPPROTO_RAW : 0;
        r->req.inet.idiag_states = states;
        body = sizeof r->req.inet;
    }
    r->nlh.nlmsg_len = (uint32_t)NLMSG_LENGTH(body);
    r->nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    r->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    r->nlh.nlmsg_seq = 1;
    return r->nlh.nlmsg_len;
}

/* Netlink caps a dump skb near 32 KiB; a larger buffer never truncates. */
#define DIAG_RECV_SIZE (64 * 1024)

static int receive_all(int fd, int family, int type, int protocol, sock_entry_fn fn, void *ctx,
                       hae_err *err) {
    uint8_t *buf = malloc(DIAG_RECV_SIZE);
    if (!buf) return hae_err_set(err, HAE_ENOMEM, "sock_diag: out of memory");
    int rc = HAE_OK;
    bool done = false;
    while (rc == HAE_OK && !done) {
        struct iovec iov = {buf, DIAG_RECV_SIZE};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg(fd, &msg, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = hae_err_errno(err, errno, "sock_diag: recvmsg");
        } else if (n == 0) {
            rc = hae_err_set(err, HAE_EIO, "sock_diag: the kernel closed the dump early");
        } else if (msg.msg_flags & MSG_TRUNC) {
            rc = hae_err_set(err, HAE_EIO, "sock_diag: reply truncated at %zd bytes", n);
        } else {
            rc = sock_diag_parse(buf, (size_t)n, family, type, protocol, fn, ctx, &done, err);
        }
    }
    free(buf);
    return rc;
}

int sock_diag_dump(int family, int type, int protocol, uint32_t states, sock_entry_fn fn,
                   void *ctx, hae_err *err) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return hae_err_errno(err, errno, "sock_diag: socket(NETLINK_SOCK_DIAG)");
    /* A dump never blocks for long; the timeout guards against a kernel bug. */
    struct timeval timeout = {.tv_sec = 10};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0) {
        int saved = errno;
        close(fd);
        return hae_err_errno(err, saved, "sock_diag: SO_RCVTIMEO");
    }
    diag_request request;
    size_t len = build_request(&request, family, protocol, states);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(fd, &request, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    int rc = sent < 0 ? hae_err_errno(err, errno, "sock_diag: sendto")
                      : receive_all(fd, family, type, protocol, fn, ctx, err);
    close(fd);
    return rc;
}
