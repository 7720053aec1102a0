/* sock sensor: one pass over the host's sockets. Packet sockets and their
 * classic BPF filters (the BPFDoor class, MITRE ATT&CK T1205.002), raw
 * sockets, listening TCP and bound UDP ports, each tied to its owners.
 * Sources, best first: NETLINK_SOCK_DIAG (packet_diag, inet_diag,
 * raw_diag); /proc/net tables when a diag handler is missing; a filter read
 * from the owner with pidfd_getfd when packet_diag cannot show it. */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/procfs.h"
#include "sensor/sock_internal.h"

#define SENSOR "sock"
#define MAX_OWNERS 16
#define MAX_MAGIC 16

typedef struct scan_ctx {
    const hae_sink *sink;
    const procfs_socket_owners *owners; /* NULL when /proc could not be mapped */
    const char *method;                 /* how the current source found sockets */
    bool record_seen;                   /* remember inodes (the diag pass) */
    bool skip_seen;                     /* ignore remembered inodes (the fallback pass) */
    uint64_t *seen;
    size_t seen_count, seen_cap;
    bool sink_failed;                   /* the sink asked us to stop */
} scan_ctx;

/* The owners of one socket and the first one's /proc view. */
typedef struct owner_info {
    pid_t pids[MAX_OWNERS];
    size_t count, shown;
    bool have_process;
    procfs_process process;
    char user[64];
    char who[320];
} owner_info;

/* ---- seen set: inodes the diag pass reported -------------------------- */

static int remember(scan_ctx *s, uint64_t inode) {
    if (s->seen_count == s->seen_cap) {
        size_t cap = s->seen_cap ? s->seen_cap * 2 : 64;
        uint64_t *grown = realloc(s->seen, cap * sizeof *grown);
        if (!grown) return HAE_ENOMEM;
        s->seen = grown;
        s->seen_cap = cap;
    }
    s->seen[s->seen_count++] = inode;
    return HAE_OK;
}

static int compare_inode(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static bool was_seen(const scan_ctx *s, uint64_t inode) {
    return s->seen_count &&
           bsearch(&inode, s->seen, s->seen_count, sizeof inode, compare_inode) != NULL;
}

/* ---- naming ------------------------------------------------------------ */

static const char *family_name(int family) {
    switch (family) {
    case AF_PACKET: return "AF_PACKET";
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    default: return "unknown";
    }
}

static const char *type_name(int type) {
    switch (type) {
    case SOCK_RAW: return "SOCK_RAW";
    case SOCK_DGRAM: return "SOCK_DGRAM";
    case SOCK_STREAM: return "SOCK_STREAM";
    default: return "unknown";
    }
}

static void protocol_name(const sock_entry *e, char out[32]) {
    static const struct { int family; int number; const char *name; } names[] = {
        {AF_PACKET, ETH_P_ALL, "ETH_P_ALL"},     {AF_PACKET, ETH_P_IP, "ETH_P_IP"},
        {AF_PACKET, ETH_P_IPV6, "ETH_P_IPV6"},   {AF_PACKET, ETH_P_ARP, "ETH_P_ARP"},
        {AF_PACKET, ETH_P_8021Q, "ETH_P_8021Q"}, {AF_PACKET, 0x88cc, "ETH_P_LLDP"},
        {AF_PACKET, 0, "none"},                  {AF_INET, IPPROTO_TCP, "tcp"},
        {AF_INET, IPPROTO_UDP, "udp"},           {AF_INET, IPPROTO_ICMP, "icmp"},
        {AF_INET, IPPROTO_ICMPV6, "icmpv6"},     {AF_INET, IPPROTO_IGMP, "igmp"},
        {AF_INET, IPPROTO_RAW, "raw"},
    };
    int family = e->family == AF_INET6 ? AF_INET : e->family;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].family == family && names[i].number == e->protocol) {
            snprintf(out, 32, "%s", names[i].name);
            return;
        }
    }
    snprintf(out, 32, e->family == AF_PACKET ? "0x%04x" : "%d", (unsigned)e->protocol);
}

/* ---- owners ------------------------------------------------------------ */

static void owner_lookup(const scan_ctx *s, const sock_entry *e, owner_info *o) {
    memset(o, 0, sizeof *o);
    if (s->owners) {
        o->count = procfs_socket_owners_find(s->owners, e->inode, o->pids, MAX_OWNERS);
        o->shown = o->count < MAX_OWNERS ? o->count : MAX_OWNERS;
    }
    /* The process may have exited since the fd walk: keep the pid anyway. */
    if (o->count && procfs_read(o->pids[0], &o->process, NULL) == HAE_OK) {
        o->have_process = true;
        procfs_user_name(o->process.uid, o->user);
        snprintf(o->who, sizeof o->who, "%s (pid %d, %s)", o->process.comm, (int)o->pids[0],
                 o->process.exe ? o->process.exe : "exe unreadable");
    } else if (o->count) {
        snprintf(o->who, sizeof o->who, "pid %d (exited)", (int)o->pids[0]);
    } else {
        snprintf(o->who, sizeof o->who, "an unknown process (owner unknown)");
    }
}

static int add_owner_fields(hae_event *ev, const owner_info *o) {
    int rc = HAE_OK;
    if (o->count == 0) return hae_event_add_bool(ev, "OwnerUnknown", true);
    rc = hae_event_add_int(ev, "ProcessId", o->pids[0]);
    if (rc == HAE_OK && o->have_process) {
        rc = hae_event_add_str(ev, "Image", o->process.exe);
        if (rc == HAE_OK) rc = hae_event_add_str(ev, "CommandLine", o->process.cmdline);
        if (rc == HAE_OK) rc = hae_event_add_str(ev, "ProcessName", o->process.comm);
        if (rc == HAE_OK) rc = hae_event_add_str(ev, "User", o->user);
    }
    for (size_t i = 0; rc == HAE_OK && o->count > 1 && i < o->shown; i++) {
        rc = hae_event_add_int(ev, "OwnerProcessIds", o->pids[i]);
    }
    return rc;
}

/* ---- evidence ---------------------------------------------------------- */

static int add_socket_fields(hae_event *ev, const sock_entry *e, const char *method) {
    char protocol[32];
    protocol_name(e, protocol);
    int rc = hae_event_add_uint(ev, "SocketInode", e->inode);
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "Family", family_name(e->family));
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "SocketType", type_name(e->type));
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "Protocol", protocol);
    if (rc == HAE_OK && e->has_uid) {
        char user[64];
        procfs_user_name(e->uid, user);
        rc = hae_event_add_str(ev, "SocketUser", user);
    }
    if (rc == HAE_OK && e->family == AF_PACKET) {
        char name[IF_NAMESIZE] = "any";
        if (e->ifindex > 0 && !if_indextoname((unsigned)e->ifindex, name)) {
            snprintf(name, sizeof name, "if%d", e->ifindex);
        }
        rc = hae_event_add_str(ev, "Interface", name);
    }
    if (rc == HAE_OK && (e->family == AF_INET || e->family == AF_INET6)) {
        char ip[INET6_ADDRSTRLEN] = "";
        inet_ntop(e->family, e->local_addr, ip, sizeof ip);
        rc = hae_event_add_str(ev, "LocalIp", ip);
        if (rc == HAE_OK && e->type != SOCK_RAW) rc = hae_event_add_uint(ev, "LocalPort", e->local_port);
    }
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "Method", method);
    return rc;
}

typedef struct filter_view {
    hae_buf listing;        /* disassembly, when a classic program is known */
    bool is_ebpf;
    char problem[HAE_ERR_MSG_MAX + 32]; /* why the filter could not be read, or "" */
    sock_bpf_magic magic[MAX_MAGIC];
    size_t magic_count;
} filter_view;

static int add_filter_fields(hae_event *ev, const sock_entry *e, const filter_view *f,
                             bool with_magic) {
    int rc = HAE_OK;
    if (e->filter) {
        rc = hae_event_add_str(ev, "FilterType", "classic");
        if (rc == HAE_OK) rc = hae_event_add_uint(ev, "FilterInstructions", e->filter_len);
        if (rc == HAE_OK) rc = hae_event_add_strn(ev, "Filter", f->listing.data, f->listing.len);
    } else if (f->is_ebpf) {
        rc = hae_event_add_str(ev, "FilterType", "ebpf");
    }
    if (rc == HAE_OK && f->problem[0]) rc = hae_event_add_str(ev, "FilterError", f->problem);
    for (size_t i = 0; rc == HAE_OK && with_magic && i < f->magic_count; i++) {
        rc = hae_event_add_printf(ev, "MagicValues", "0x%x", f->magic[i].value);
        if (rc == HAE_OK) rc = hae_event_add_str(ev, "MagicNames", f->magic[i].name);
        if (rc == HAE_OK) rc = hae_event_add_uint(ev, "MagicInstructions", f->magic[i].insn_index);
    }
    return rc;
}

/* Builds and emits one finding; message is already formatted. */
static int emit_socket_finding(scan_ctx *s, const char *rule, hae_severity sev,
                               const char *message, const sock_entry *e, const owner_info *o,
                               const filter_view *f, const char *method, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, SENSOR, rule, sev, "%s", message);
    if (rc < 0) return hae_err_set(err, rc, "sock: out of memory building %s", rule);
    rc = add_owner_fields(&ev, o);
    if (rc == HAE_OK) rc = add_socket_fields(&ev, e, method);
    if (rc == HAE_OK && f) rc = add_filter_fields(&ev, e, f, strcmp(rule, "sock.bpfdoor_magic") == 0);
    if (rc < 0) {
        hae_event_clear(&ev);
        return hae_err_set(err, rc, "sock: out of memory building %s", rule);
    }
    rc = hae_emit(s->sink, &ev, err);
    if (rc < 0) s->sink_failed = true;
    hae_event_clear(&ev);
    return rc;
}

static int emit_error(scan_ctx *s, const char *source, const char *fallback, const hae_err *why,
                      hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, SENSOR, "sock.error", HAE_SEV_INFO, "%s failed: %s%s%s", source,
                              why->msg, fallback ? "; falling back to " : "",
                              fallback ? fallback : "");
    if (rc < 0) return hae_err_set(err, rc, "sock: out of memory");
    rc = hae_event_add_str(&ev, "Source", source);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Error", why->msg);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "ErrorCode", hae_err_code_name(why->code));
    if (rc == HAE_OK && fallback) rc = hae_event_add_str(&ev, "Fallback", fallback);
    if (rc == HAE_OK) rc = hae_emit(s->sink, &ev, err);
    if (rc < 0) s->sink_failed = true;
    hae_event_clear(&ev);
    return rc;
}

/* ---- classification ---------------------------------------------------- */

static bool is_listening(const sock_entry *e) {
    if (e->type == SOCK_STREAM) return e->state == TCP_LISTEN;
    /* An unconnected UDP socket sits in TCP_CLOSE; port 0 is not bound. */
    return e->type == SOCK_DGRAM && e->state == TCP_CLOSE && e->local_port != 0;
}

/* Packet and raw sockets: find the filter (asking the owner when the source
 * could not tell), then raise bpfdoor_magic and one of packet_filter,
 * packet_socket, raw_socket. */
static int report_sniffer(scan_ctx *s, sock_entry *e, const owner_info *o, hae_err *err) {
    filter_view f = {0};
    char method[64];
    snprintf(method, sizeof method, "%s", s->method);
    if (!e->has_filter_info || e->filter_hidden) {
        hae_err why = {0};
        int rc = o->count ? sock_filter_from_owner(o->pids[0], e->inode, &e->filter,
                                                   &e->filter_len, &f.is_ebpf, &why)
                          : hae_err_set(&why, HAE_ENOENT, "no owning process to read it from");
        if (rc == HAE_ENOMEM) return hae_err_set(err, rc, "%s", why.msg);
        if (rc == HAE_OK) snprintf(method, sizeof method, "%s+pidfd_getfd", s->method);
        else snprintf(f.problem, sizeof f.problem, "filter unknown: %s", why.msg);
    }
    int rc = HAE_OK;
    if (e->filter) {
        f.magic_count = sock_bpf_find_magic(e->filter, e->filter_len, f.magic, MAX_MAGIC);
        rc = sock_bpf_disassemble(e->filter, e->filter_len, &f.listing);
        if (rc < 0) rc = hae_err_set(err, rc, "sock: out of memory disassembling a filter");
    }
    bool is_packet = e->family == AF_PACKET;
    const char *kind = is_packet ? "packet" : "raw";
    char message[512];
    if (rc == HAE_OK && f.magic_count) {
        bool strong = false;
        for (size_t i = 0; i < f.magic_count; i++) strong |= sock_bpf_magic_is_strong(f.magic[i].value);
        snprintf(message, sizeof message,
                 "%s socket %llu owned by %s has a BPF filter comparing packets with BPFDoor "
                 "magic 0x%x%s",
                 kind, (unsigned long long)e->inode, o->who, f.magic[0].value,
                 f.magic_count > 1 ? " and others" : "");
        rc = emit_socket_finding(s, "sock.bpfdoor_magic", strong ? HAE_SEV_CRITICAL : HAE_SEV_HIGH,
                                 message, e, o, &f, method, err);
    }
    if (rc == HAE_OK && (e->filter || f.is_ebpf)) {
        if (f.is_ebpf) {
            snprintf(message, sizeof message, "%s socket %llu owned by %s has an eBPF socket filter",
                     kind, (unsigned long long)e->inode, o->who);
        } else {
            snprintf(message, sizeof message,
                     "%s socket %llu owned by %s has a %zu-instruction BPF filter", kind,
                     (unsigned long long)e->inode, o->who, e->filter_len);
        }
        rc = emit_socket_finding(s, "sock.packet_filter", HAE_SEV_HIGH, message, e, o, &f, method,
                                 err);
    } else if (rc == HAE_OK) {
        snprintf(message, sizeof message, "%s socket %llu (%s) without a filter, owned by %s", kind,
                 (unsigned long long)e->inode, type_name(e->type), o->who);
        rc = emit_socket_finding(s, is_packet ? "sock.packet_socket" : "sock.raw_socket",
                                 HAE_SEV_MEDIUM, message, e, o, &f, method, err);
    }
    hae_buf_free(&f.listing);
    return rc;
}

static int report_listener(scan_ctx *s, const sock_entry *e, const owner_info *o, hae_err *err) {
    char ip[INET6_ADDRSTRLEN] = "";
    inet_ntop(e->family, e->local_addr, ip, sizeof ip);
    char message[512];
    snprintf(message, sizeof message, "%s %s port %u is %s by %s",
             e->type == SOCK_STREAM ? "tcp" : "udp", ip, (unsigned)e->local_port,
             e->type == SOCK_STREAM ? "listened on" : "bound", o->who);
    return emit_socket_finding(s, "sock.listen", HAE_SEV_INFO, message, e, o, NULL, s->method, err);
}

static int on_socket(void *arg, sock_entry *e, hae_err *err) {
    scan_ctx *s = arg;
    if (s->skip_seen && was_seen(s, e->inode)) return HAE_OK;
    if (s->record_seen && remember(s, e->inode) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "sock: out of memory");
    }
    bool is_sniffer = e->family == AF_PACKET || e->type == SOCK_RAW;
    if (!is_sniffer && !is_listening(e)) return HAE_OK;
    owner_info o;
    owner_lookup(s, e, &o);
    int rc = is_sniffer ? report_sniffer(s, e, &o, err) : report_listener(s, e, &o, err);
    if (o.have_process) procfs_process_free(&o.process);
    return rc;
}

/* ---- one source after another ----------------------------------------- */

typedef struct source {
    int family, type, protocol;
    uint32_t states;
    const char *diag_name; /* for messages */
    const char *proc_name; /* /proc/net table */
} source;

static const source sources[] = {
    {AF_PACKET, SOCK_RAW, 0, 0, "packet_diag", "packet"},
    {AF_INET, SOCK_RAW, IPPROTO_RAW, ~0u, "raw_diag (AF_INET)", "raw"},
    {AF_INET6, SOCK_RAW, IPPROTO_RAW, ~0u, "raw_diag (AF_INET6)", "raw6"},
    {AF_INET, SOCK_STREAM, IPPROTO_TCP, 1u << TCP_LISTEN, "inet_diag tcp (AF_INET)", "tcp"},
    {AF_INET6, SOCK_STREAM, IPPROTO_TCP, 1u << TCP_LISTEN, "inet_diag tcp (AF_INET6)", "tcp6"},
    {AF_INET, SOCK_DGRAM, IPPROTO_UDP, 1u << TCP_CLOSE, "inet_diag udp (AF_INET)", "udp"},
    {AF_INET6, SOCK_DGRAM, IPPROTO_UDP, 1u << TCP_CLOSE, "inet_diag udp (AF_INET6)", "udp6"},
};

/* Runs one source: sock_diag first, then /proc/net for what it missed.
 * Packet sockets always get the /proc/net/packet pass: a socket packet_diag
 * did not list (a filter too large for one netlink message, or created
 * mid-scan) is still reported. Returns < 0 only to stop the whole scan. */
static int scan_source(scan_ctx *s, const source *src, bool skip_diag, hae_err *err) {
    char fallback[64];
    snprintf(fallback, sizeof fallback, "proc_net_%s", src->proc_name);
    s->seen_count = 0;
    bool diag_ok = false;
    if (!skip_diag) {
        hae_err why = {0};
        s->method = "sock_diag";
        s->record_seen = true;
        s->skip_seen = false;
        int rc = sock_diag_dump(src->family, src->type, src->protocol, src->states, on_socket, s,
                                &why);
        s->record_seen = false;
        if (s->sink_failed || rc == HAE_ENOMEM) return hae_err_set(err, rc, "%s", why.msg);
        diag_ok = rc == HAE_OK;
        if (!diag_ok && (rc = emit_error(s, src->diag_name, fallback, &why, err)) < 0) return rc;
    } else {
        hae_err why = {0};
        hae_err_set(&why, HAE_ENOTSUP, "skipped by request");
        int rc = emit_error(s, src->diag_name, fallback, &why, err);
        if (rc < 0) return rc;
    }
    if (diag_ok && src->family != AF_PACKET) return HAE_OK;
    if (s->seen_count) qsort(s->seen, s->seen_count, sizeof *s->seen, compare_inode);
    s->skip_seen = true;
    s->method = fallback;
    size_t skipped = 0;
    hae_err why = {0};
    int rc = sock_procnet_read(src->proc_name, src->family == AF_PACKET ? AF_PACKET : AF_INET,
                               src->type, src->protocol, on_socket, s, &skipped, &why);
    s->skip_seen = false;
    if (s->sink_failed || rc == HAE_ENOMEM) return hae_err_set(err, rc, "%s", why.msg);
    if (rc < 0) return emit_error(s, fallback, NULL, &why, err);
    if (skipped) {
        hae_err_set(&why, HAE_EINVAL, "%zu malformed lines skipped", skipped);
        return emit_error(s, fallback, NULL, &why, err);
    }
    return HAE_OK;
}

int sock_scan_with(const sock_scan_options *opt, const hae_sink *sink, hae_err *err) {
    scan_ctx s = {.sink = sink};
    procfs_socket_owners *owners = NULL;
    hae_err why = {0};
    int rc = procfs_socket_owners_load(&owners, &why);
    if (rc == HAE_ENOMEM) return hae_err_set(err, rc, "%s", why.msg);
    if (rc < 0) rc = emit_error(&s, "mapping sockets to processes", NULL, &why, err);
    s.owners = owners;
    for (size_t i = 0; rc >= 0 && i < sizeof sources / sizeof sources[0]; i++) {
        bool skip = sources[i].family == AF_PACKET ? opt->skip_packet_diag : opt->skip_inet_diag;
        rc = scan_source(&s, &sources[i], skip, err);
    }
    procfs_socket_owners_free(owners);
    free(s.seen);
    return rc < 0 ? rc : HAE_OK;
}

int sock_scan(const hae_sink *sink, hae_err *err) {
    const sock_scan_options defaults = {0};
    return sock_scan_with(&defaults, sink, err);
}
