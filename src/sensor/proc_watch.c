/* Real-time process execution through the netlink proc connector
 * (Documentation/driver-api/connector.rst, include/uapi/linux/cn_proc.h,
 * drivers/connector/cn_proc.c). Each PROC_EVENT_EXEC becomes a
 * process_creation event enriched from /proc by proc_describe.
 *
 * Losses are never silent: the kernel numbers proc events per CPU
 * (cn_proc.c send_msg: msg->seq = per-CPU counter), so a gap in a CPU's
 * sequence is a count of events we did not get, and ENOBUFS from recv says
 * the socket buffer overflowed. Both raise proc.watch_overrun. */
#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sensor/proc_private.h"
#include "sensor/sensor.h"

enum {
    PARENT_SLOTS = 4096,          /* fork hints: child tgid -> parent tgid */
    MAX_CPUS = 8192,              /* bound on the per-CPU sequence table */
    RCVBUF_BYTES = 4 << 20,       /* room for bursts of fork/exec/exit */
    ACK_TIMEOUT_MS = 2000,
    DRAIN_MAX = 4096,             /* datagrams per read call; poll wakes us again */
};

typedef struct parent_hint {
    pid_t pid;
    pid_t ppid;
} parent_hint;

struct proc_watch {
    int fd;
    bool is_listening;
    bool is_opening;
    bool has_ack;
    uint32_t listen_seq;     /* nonce sent as cn_msg seq and ack */
    uint32_t ack_err;
    uint32_t *cpu_next_seq;  /* next expected seq per CPU; 0 = none seen yet... */
    bool *cpu_seen;
    size_t cpu_count;
    uint64_t lost;           /* events missing from the sequences, not yet reported */
    uint64_t overruns;       /* ENOBUFS seen, not yet reported */
    const hae_sink *sink;    /* for the duration of one proc_watch_read */
    hae_err *err;
    pid_t self;
    parent_hint parents[PARENT_SLOTS];
};

/* Sends one proc connector control message (LISTEN or IGNORE): a netlink
 * header, a cn_msg addressed to CN_IDX_PROC, and the 4-byte op. */
static int send_mcast_op(proc_watch *w, enum proc_cn_mcast_op op, hae_err *err) {
    struct nlmsghdr nh = {0};
    struct cn_msg cn = {0};
    uint32_t op_value = (uint32_t)op;
    unsigned char msg[NLMSG_HDRLEN + sizeof cn + sizeof op_value];
    nh.nlmsg_len = sizeof msg;
    nh.nlmsg_type = NLMSG_DONE;
    nh.nlmsg_seq = w->listen_seq;
    cn.id.idx = CN_IDX_PROC;
    cn.id.val = CN_VAL_PROC;
    cn.seq = w->listen_seq;
    cn.ack = w->listen_seq; /* echoed back + 1: how we know our reply */
    cn.len = sizeof op_value;
    memcpy(msg, &nh, sizeof nh);
    memcpy(msg + NLMSG_HDRLEN, &cn, sizeof cn);
    memcpy(msg + NLMSG_HDRLEN + sizeof cn, &op_value, sizeof op_value);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    for (;;) {
        if (sendto(w->fd, msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) >= 0) {
            return HAE_OK;
        }
        if (errno != EINTR) {
            return hae_err_errno(err, errno, "proc connector: sending %s",
                                 op == PROC_CN_MCAST_LISTEN ? "PROC_CN_MCAST_LISTEN"
                                                            : "PROC_CN_MCAST_IGNORE");
        }
    }
}

/* ---- sequence accounting ------------------------------------------------- */

static int track_sequence(proc_watch *w, uint32_t cpu, uint32_t seq) {
    if (cpu >= MAX_CPUS) return HAE_OK; /* impossible today; not worth failing over */
    if (cpu >= w->cpu_count) {
        size_t count = (size_t)cpu + 1 > w->cpu_count * 2 ? (size_t)cpu + 1 : w->cpu_count * 2;
        uint32_t *next = realloc(w->cpu_next_seq, count * sizeof *next);
        if (!next) return HAE_ENOMEM;
        w->cpu_next_seq = next;
        bool *seen = realloc(w->cpu_seen, count * sizeof *seen);
        if (!seen) return HAE_ENOMEM;
        w->cpu_seen = seen;
        memset(w->cpu_seen + w->cpu_count, 0, (count - w->cpu_count) * sizeof *seen);
        w->cpu_count = count;
    }
    if (w->cpu_seen[cpu]) {
        uint32_t gap = seq - w->cpu_next_seq[cpu]; /* modulo 2^32 */
        if (gap < 0x80000000u) w->lost += gap;     /* else: stale, out of order */
    }
    w->cpu_seen[cpu] = true;
    w->cpu_next_seq[cpu] = seq + 1;
    return HAE_OK;
}

static void remember_parent(proc_watch *w, pid_t pid, pid_t ppid) {
    parent_hint *slot = &w->parents[(unsigned)pid % PARENT_SLOTS];
    slot->pid = pid;
    slot->ppid = ppid;
}

static pid_t recall_parent(const proc_watch *w, pid_t pid) {
    const parent_hint *slot = &w->parents[(unsigned)pid % PARENT_SLOTS];
    return slot->pid == pid ? slot->ppid : 0;
}

/* ---- events -------------------------------------------------------------- */

/* Kernel timestamps are CLOCK_MONOTONIC; events carry wall-clock time. */
static int64_t exec_wall_time(uint64_t monotonic_ns) {
    int64_t age = hae_time_monotonic_ns() - (int64_t)monotonic_ns;
    return hae_time_now_ns() - (age > 0 ? age : 0);
}

static int emit_exec(proc_watch *w, const proc_cn_event *cn) {
    hae_event ev;
    int rc = hae_event_init(&ev, "linux", "process_creation", NULL);
    if (rc < 0) return hae_err_set(w->err, rc, "proc watch: cannot create an event");
    ev.time_ns = exec_wall_time(cn->timestamp_ns);
    hae_err why = {0};
    rc = proc_describe(cn->pid, &ev, &why);
    if (rc == HAE_ENOMEM) {
        hae_event_clear(&ev);
        return hae_err_set(w->err, rc, "proc watch: %s", why.msg);
    }
    if (rc < 0) {
        /* Gone (or unreadable) before we looked: say what we know. */
        pid_t ppid = recall_parent(w, cn->pid);
        rc = hae_event_add_int(&ev, "ProcessId", cn->pid);
        if (rc == HAE_OK) {
            rc = ppid > 0 ? hae_event_add_int(&ev, "ParentProcessId", ppid)
                          : hae_event_add_str(&ev, "ParentProcessId", NULL);
        }
        if (rc == HAE_OK) rc = hae_event_add_str(&ev, "EnrichmentFailed", why.msg);
        if (rc < 0) {
            hae_event_clear(&ev);
            return hae_err_set(w->err, rc, "proc watch: out of memory");
        }
    }
    rc = hae_emit(w->sink, &ev, w->err);
    hae_event_clear(&ev);
    return rc;
}

static int on_event(void *arg, const proc_cn_event *ev) {
    proc_watch *w = arg;
    if (ev->kind == PROC_CN_ACK) {
        /* cn_proc_ack() answers with our ack + 1; acks to other listeners
         * reach us too (the reply is multicast) and only count below. */
        if (w->is_opening && ev->ack == w->listen_seq + 1) {
            w->has_ack = true;
            w->ack_err = ev->ack_err;
        }
        /* Kernels whose send_msg() numbers acks from the per-CPU counter
         * stamp a real CPU; older ones kept cpu = -1 and our own seq. */
        if (ev->cpu == UINT32_MAX) return HAE_OK;
    }
    if (track_sequence(w, ev->cpu, ev->seq) < 0) {
        return hae_err_set(w->err, HAE_ENOMEM, "proc watch: out of memory");
    }
    if (ev->kind == PROC_CN_FORK) {
        remember_parent(w, ev->pid, ev->ppid);
    } else if (ev->kind == PROC_CN_EXEC && !w->is_opening && ev->pid != w->self) {
        return emit_exec(w, ev);
    }
    return HAE_OK;
}

static int emit_overrun(proc_watch *w) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "proc", "proc.watch_overrun", HAE_SEV_MEDIUM,
                              "process events were lost: %llu missing from the kernel's "
                              "sequence, %llu socket buffer overruns",
                              (unsigned long long)w->lost, (unsigned long long)w->overruns);
    if (rc < 0) return hae_err_set(w->err, rc, "proc watch: cannot create a finding");
    rc = hae_event_add_uint(&ev, "LostEvents", w->lost);
    if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "Overruns", w->overruns);
    if (rc == HAE_OK) {
        rc = hae_emit(w->sink, &ev, w->err);
    } else {
        hae_err_set(w->err, rc, "proc watch: out of memory");
    }
    hae_event_clear(&ev);
    w->lost = 0;
    w->overruns = 0;
    return rc;
}

/* Receives one datagram and hands it to the parser. Returns 1 when one was
 * handled, 0 when nothing is pending, or a negative error. */
static int receive_one(proc_watch *w) {
    union {
        struct nlmsghdr align;
        unsigned char bytes[8192];
    } buf;
    struct sockaddr_nl from = {0};
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(w->fd, buf.bytes, sizeof buf.bytes, MSG_DONTWAIT,
                         (struct sockaddr *)&from, &from_len);
    if (n < 0) {
        if (errno == EINTR) return 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno == ENOBUFS) { /* the kernel dropped events: counted, reported */
            w->overruns++;
            return 1;
        }
        return hae_err_errno(w->err, errno, "proc connector: recv");
    }
    if (from.nl_pid != 0) {
        /* Only the kernel speaks for the proc connector; a local process
         * unicasting to our port could otherwise forge exec events. */
        hae_log(HAE_LOG_WARN, "proc watch: ignored a datagram from user port %u",
                (unsigned)from.nl_pid);
        return 1;
    }
    hae_err parse_err = {0};
    int rc = proc_cn_parse(buf.bytes, (size_t)n, on_event, w, &parse_err);
    if (rc == HAE_EINVAL || rc == HAE_EIO) {
        hae_log(HAE_LOG_WARN, "proc watch: %s; datagram skipped", parse_err.msg);
        return 1;
    }
    return rc < 0 ? rc : 1;
}

/* ---- public interface ---------------------------------------------------- */

static int wait_for_ack(proc_watch *w, hae_err *err) {
    int64_t deadline = hae_time_monotonic_ns() + (int64_t)ACK_TIMEOUT_MS * 1000000;
    w->sink = NULL; /* nothing is emitted while opening (is_opening) */
    w->err = err;
    while (!w->has_ack) {
        int64_t left_ms = (deadline - hae_time_monotonic_ns()) / 1000000;
        if (left_ms <= 0) {
            return hae_err_set(err, HAE_ENOTSUP,
                               "proc connector: no reply to PROC_CN_MCAST_LISTEN within %d ms "
                               "(kernel without CONFIG_PROC_EVENTS, or haetae is not in the "
                               "initial PID and user namespace)",
                               (int)ACK_TIMEOUT_MS);
        }
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)left_ms);
        if (ready < 0 && errno != EINTR) return hae_err_errno(err, errno, "proc connector: poll");
        if (ready > 0) {
            int rc;
            while ((rc = receive_one(w)) > 0 && !w->has_ack) {
            }
            if (rc < 0) return rc;
        }
    }
    if (w->ack_err == EPERM || w->ack_err == EACCES) {
        return hae_err_set(err, HAE_EPERM,
                           "proc connector: the kernel refused PROC_CN_MCAST_LISTEN: needs "
                           "CAP_NET_ADMIN (run as root)");
    }
    if (w->ack_err != 0) {
        return hae_err_errno(err, (int)w->ack_err, "proc connector: PROC_CN_MCAST_LISTEN failed");
    }
    return HAE_OK;
}

static int open_socket(proc_watch *w, hae_err *err) {
    w->fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (w->fd < 0) {
        int code = hae_err_errno(err, errno, "proc connector: socket(NETLINK_CONNECTOR)");
        if (code == HAE_ENOTSUP) {
            hae_err_prefix(err, "kernel built without CONFIG_CONNECTOR: ");
        }
        return code;
    }
    /* Bursts (a build, a fork bomb) outrun any reader; a big buffer makes
     * loss rare, the sequence check makes it visible. FORCE needs root. */
    int size = RCVBUF_BYTES;
    if (setsockopt(w->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
        setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0) {
        hae_log(HAE_LOG_DEBUG, "proc watch: cannot enlarge the receive buffer: %s",
                strerror(errno));
    }
    struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
    if (bind(w->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int code = hae_err_errno(err, errno, "proc connector: bind to CN_IDX_PROC");
        if (code == HAE_EPERM) hae_err_prefix(err, "needs CAP_NET_ADMIN (run as root): ");
        return code;
    }
    return HAE_OK;
}

int proc_watch_open(proc_watch **out, hae_err *err) {
    *out = NULL;
    proc_watch *w = calloc(1, sizeof *w);
    if (!w) return hae_err_set(err, HAE_ENOMEM, "proc watch: out of memory");
    w->fd = -1;
    w->self = getpid();
    w->listen_seq = (uint32_t)hae_time_monotonic_ns() | 1u;
    w->is_opening = true;
    int rc = open_socket(w, err);
    if (rc == HAE_OK) rc = send_mcast_op(w, PROC_CN_MCAST_LISTEN, err);
    if (rc == HAE_OK) {
        w->is_listening = true;
        rc = wait_for_ack(w, err);
    }
    w->is_opening = false;
    w->sink = NULL;
    w->err = NULL;
    if (rc < 0) {
        proc_watch_close(w);
        return rc;
    }
    /* Events that raced the acknowledgement predate the open; only the
     * sequence baseline they set is kept. */
    w->lost = 0;
    w->overruns = 0;
    *out = w;
    return HAE_OK;
}

int proc_watch_fd(const proc_watch *w) { return w->fd; }

int proc_watch_read(proc_watch *w, const hae_sink *sink, hae_err *err) {
    w->sink = sink;
    w->err = err;
    int rc = 1;
    for (int i = 0; i < DRAIN_MAX && rc > 0; i++) {
        rc = receive_one(w);
    }
    if (rc >= 0 && (w->lost || w->overruns)) {
        rc = emit_overrun(w);
    }
    w->sink = NULL;
    w->err = NULL;
    return rc < 0 ? rc : HAE_OK;
}

void proc_watch_close(proc_watch *w) {
    if (!w) return;
    if (w->fd >= 0) {
        /* The kernel counts listeners and builds events while any remain. */
        if (w->is_listening && send_mcast_op(w, PROC_CN_MCAST_IGNORE, NULL) < 0) {
            hae_log(HAE_LOG_DEBUG, "proc watch: PROC_CN_MCAST_IGNORE not sent");
        }
        close(w->fd);
    }
    free(w->cpu_next_seq);
    free(w->cpu_seen);
    free(w);
}
