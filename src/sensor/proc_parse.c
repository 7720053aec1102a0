/* Pure parsers for the proc sensor: /proc/PID/stat, environ blocks and
 * netlink proc connector datagrams. No I/O here, so the fuzzers and unit
 * tests feed them arbitrary bytes. */
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/proc_private.h"

/* ---- /proc/PID/stat --------------------------------------------------- */

/* Reads an unsigned decimal at *p (skipping one leading space), advancing
 * *p past it; false when there is none or it overflows. */
static bool next_number(const char *text, size_t len, size_t *p, bool allow_minus,
                        long long *value) {
    if (*p < len && text[*p] == ' ') (*p)++;
    bool negative = false;
    if (allow_minus && *p < len && text[*p] == '-') {
        negative = true;
        (*p)++;
    }
    size_t start = *p;
    unsigned long long v = 0;
    while (*p < len && text[*p] >= '0' && text[*p] <= '9') {
        unsigned digit = (unsigned)(text[*p] - '0');
        if (v > (0x7fffffffffffffffULL - digit) / 10) return false;
        v = v * 10 + digit;
        (*p)++;
    }
    if (*p == start) return false;
    *value = negative ? -(long long)v : (long long)v;
    return true;
}

static bool skip_field(const char *text, size_t len, size_t *p) {
    if (*p >= len || text[*p] != ' ') return false;
    (*p)++;
    while (*p < len && text[*p] != ' ' && text[*p] != '\n') (*p)++;
    return true;
}

int proc_stat_parse(const char *text, size_t len, proc_stat_info *out, hae_err *err) {
    memset(out, 0, sizeof *out);
    size_t p = 0;
    long long v;
    /* proc(5): "pid (comm) state ppid pgrp session tty_nr tpgid flags ..." */
    if (!next_number(text, len, &p, false, &v) || v > 0x7fffffff) {
        return hae_err_set(err, HAE_EINVAL, "stat: field 1 (pid) is not a number");
    }
    out->pid = (pid_t)v;
    const char *open = p < len ? memchr(text + p, '(', len - p) : NULL;
    const char *close = NULL;
    for (size_t i = len; open && i > (size_t)(open - text); i--) {
        if (text[i - 1] == ')') {
            close = text + i - 1;
            break;
        }
    }
    if (!open || !close || open != text + p + 1) {
        return hae_err_set(err, HAE_EINVAL, "stat: field 2 (comm) is not in parentheses");
    }
    size_t comm_len = (size_t)(close - open - 1);
    if (comm_len > sizeof out->comm - 1) comm_len = sizeof out->comm - 1;
    memcpy(out->comm, open + 1, comm_len);
    out->comm[comm_len] = '\0';
    p = (size_t)(close - text) + 1;
    if (p + 2 > len || text[p] != ' ') {
        return hae_err_set(err, HAE_EINVAL, "stat: field 3 (state) missing");
    }
    out->state = text[p + 1];
    p += 2;
    if (!next_number(text, len, &p, true, &v) || v < 0 || v > 0x7fffffff) {
        return hae_err_set(err, HAE_EINVAL, "stat: field 4 (ppid) is not a pid");
    }
    out->ppid = (pid_t)v;
    for (int field = 5; field <= 8; field++) { /* pgrp session tty_nr tpgid */
        if (!skip_field(text, len, &p)) {
            return hae_err_set(err, HAE_EINVAL, "stat: field %d missing", field);
        }
    }
    if (!next_number(text, len, &p, false, &v)) {
        return hae_err_set(err, HAE_EINVAL, "stat: field 9 (flags) is not a number");
    }
    out->flags = (unsigned long)v;
    return HAE_OK;
}

/* ---- environ ----------------------------------------------------------- */

bool proc_environ_find(const char *buf, size_t len, const char *name, const char **value,
                       size_t *value_len) {
    size_t name_len = strlen(name);
    for (size_t i = 0; i < len;) {
        const char *entry = buf + i;
        const char *nul = memchr(entry, '\0', len - i);
        size_t entry_len = nul ? (size_t)(nul - entry) : len - i;
        if (entry_len > name_len && memcmp(entry, name, name_len) == 0 &&
            entry[name_len] == '=') {
            *value = entry + name_len + 1;
            *value_len = entry_len - name_len - 1;
            return true;
        }
        i += entry_len + 1;
    }
    return false;
}

/* ---- proc connector ---------------------------------------------------- */

/* Byte offsets inside struct proc_event (linux/cn_proc.h): what, cpu,
 * timestamp_ns (8-aligned), then the union. Read with memcpy because a
 * datagram from recv() promises no alignment to the parser. */
enum {
    EV_WHAT = 0,
    EV_CPU = 4,
    EV_TIMESTAMP = 8,
    EV_DATA = 16,
};

static uint32_t load_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int parse_proc_event(const struct cn_msg *cn, const unsigned char *data, size_t len,
                            proc_cn_event *ev) {
    memset(ev, 0, sizeof *ev);
    if (len < EV_DATA + 4) return -1;
    uint32_t what = load_u32(data + EV_WHAT);
    ev->seq = cn->seq;
    ev->ack = cn->ack;
    ev->cpu = load_u32(data + EV_CPU);
    memcpy(&ev->timestamp_ns, data + EV_TIMESTAMP, sizeof ev->timestamp_ns);
    const unsigned char *u = data + EV_DATA;
    size_t room = len - EV_DATA;
    switch (what) {
    case PROC_EVENT_NONE:
        ev->kind = PROC_CN_ACK;
        ev->ack_err = load_u32(u);
        return 0;
    case PROC_EVENT_FORK: /* parent_pid, parent_tgid, child_pid, child_tgid */
        if (room < 16) return -1;
        ev->kind = PROC_CN_FORK;
        ev->ppid = (pid_t)load_u32(u + 4);
        ev->pid = (pid_t)load_u32(u + 12);
        return 0;
    case PROC_EVENT_EXEC: /* process_pid, process_tgid */
        if (room < 8) return -1;
        ev->kind = PROC_CN_EXEC;
        ev->pid = (pid_t)load_u32(u + 4);
        return 0;
    case PROC_EVENT_EXIT: /* pid, tgid, exit_code, exit_signal, parent_pid, parent_tgid */
        if (room < 8) return -1;
        ev->kind = PROC_CN_EXIT;
        ev->pid = (pid_t)load_u32(u + 4);
        ev->ppid = room >= 24 ? (pid_t)load_u32(u + 20) : 0;
        return 0;
    default:
        ev->kind = PROC_CN_OTHER;
        return 0;
    }
}

int proc_cn_parse(const void *buf, size_t len, proc_cn_fn fn, void *ctx, hae_err *err) {
    const unsigned char *bytes = buf;
    size_t off = 0;
    while (len - off >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr nh;
        memcpy(&nh, bytes + off, sizeof nh);
        if (nh.nlmsg_len < sizeof nh || nh.nlmsg_len > len - off) {
            return hae_err_set(err, HAE_EINVAL,
                               "proc connector: netlink length %u at byte %zu exceeds the "
                               "%zu bytes received",
                               (unsigned)nh.nlmsg_len, off, len);
        }
        size_t payload = nh.nlmsg_len - sizeof nh;
        const unsigned char *body = bytes + off + NLMSG_HDRLEN;
        if (nh.nlmsg_type == NLMSG_ERROR) {
            int error = 0;
            if (payload >= sizeof error) memcpy(&error, body, sizeof error);
            if (error != 0) { /* error 0 is a plain acknowledgement */
                return hae_err_set(err, HAE_EIO, "proc connector: netlink error %d at byte %zu",
                                   error, off);
            }
        } else if (nh.nlmsg_type == NLMSG_OVERRUN) {
            return hae_err_set(err, HAE_EIO, "proc connector: netlink overrun at byte %zu", off);
        } else if (nh.nlmsg_type != NLMSG_NOOP && payload >= sizeof(struct cn_msg)) {
            struct cn_msg cn;
            memcpy(&cn, body, sizeof cn);
            size_t data_room = nh.nlmsg_len - NLMSG_HDRLEN - sizeof cn;
            if (cn.len > data_room) {
                return hae_err_set(err, HAE_EINVAL,
                                   "proc connector: cn_msg length %u at byte %zu exceeds its "
                                   "netlink message",
                                   (unsigned)cn.len, off);
            }
            if (cn.id.idx == CN_IDX_PROC && cn.id.val == CN_VAL_PROC) {
                proc_cn_event ev;
                if (parse_proc_event(&cn, body + sizeof cn, cn.len, &ev) < 0) {
                    return hae_err_set(err, HAE_EINVAL,
                                       "proc connector: event at byte %zu is truncated "
                                       "(%u bytes)",
                                       off, (unsigned)cn.len);
                }
                int rc = fn(ctx, &ev);
                if (rc < 0) return rc;
            }
        }
        size_t step = NLMSG_ALIGN(nh.nlmsg_len);
        if (step > len - off) break; /* last message without padding */
        off += step;
    }
    return HAE_OK;
}
