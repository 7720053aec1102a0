/* sock_scan on the real kernel: a BPFDoor stand-in (prog_bpfdoor_mimic),
 * raw and listening sockets opened here, through sock_diag and through the
 * /proc/net + pidfd_getfd fallbacks. Needs root (CAP_NET_RAW/NET_ADMIN). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sensor/sock_internal.h"
#include "fixtures.h"

typedef struct mimic {
    pid_t pid;
    char pid_text[16];
} mimic;

static bool event_has(const hae_event *ev, const char *name, const char *value) {
    for (size_t i = 0; i < ev->field_count; i++) {
        if (strcmp(ev->fields[i].name, name) == 0 && strcmp(ev->fields[i].value, value) == 0) {
            return true;
        }
    }
    return false;
}

/* The finding of rule whose field name equals value, or NULL. */
static const hae_event *find_finding(const collected_events *c, const char *rule,
                                     const char *name, const char *value) {
    for (size_t i = 0; i < c->count; i++) {
        if (event_has(&c->events[i], "rule", rule) && event_has(&c->events[i], name, value)) {
            return &c->events[i];
        }
    }
    return NULL;
}

static void scan(const sock_scan_options *opt, collected_events *c) {
    hae_sink sink = collector_sink(c);
    hae_err err = {0};
    int rc = sock_scan_with(opt, &sink, &err);
    if (rc != HAE_OK) fail_msg("sock_scan: %s", err.msg);
}

/* Starts the stand-in and waits for its "ready <pid>" line. */
static int mimic_start(void **state) {
    mimic *m = calloc(1, sizeof *m);
    char *path = fixture_test_program("prog_bpfdoor_mimic");
    int out[2];
    if (!m || !path || pipe(out) < 0) return -1;
    m->pid = fork();
    if (m->pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execl(path, "prog_bpfdoor_mimic", (char *)NULL);
        _exit(127);
    }
    free(path);
    close(out[1]);
    char line[64] = "";
    size_t len = 0;
    struct pollfd pfd = {out[0], POLLIN, 0};
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && poll(&pfd, 1, 30000) > 0) {
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        line[len] = '\0';
    }
    close(out[0]);
    int reported = 0;
    if (sscanf(line, "ready %d", &reported) != 1 || reported != m->pid) {
        fprintf(stderr, "prog_bpfdoor_mimic said \"%s\"\n", line);
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        free(m);
        return -1;
    }
    snprintf(m->pid_text, sizeof m->pid_text, "%d", (int)m->pid);
    *state = m;
    return 0;
}

static int mimic_stop(void **state) {
    mimic *m = *state;
    kill(m->pid, SIGKILL);
    waitpid(m->pid, NULL, 0);
    free(m);
    return 0;
}

static void assert_mimic_filter(const hae_event *ev) {
    assert_string_equal(hae_event_get_str(ev, "FilterInstructions"), "16");
    assert_string_equal(hae_event_get_str(ev, "FilterType"), "classic");
    const char *listing = hae_event_get_str(ev, "Filter");
    assert_non_null(listing);
    assert_non_null(strstr(listing, "(013) jeq      #0x5293          jt 14\tjf 15\n"));
    assert_non_null(strstr(listing, "(000) ldh      [12]\n"));
    assert_string_equal(hae_event_get_str(ev, "Family"), "AF_PACKET");
    assert_string_equal(hae_event_get_str(ev, "SocketType"), "SOCK_RAW");
    assert_string_equal(hae_event_get_str(ev, "Protocol"), "ETH_P_IP");
    assert_string_equal(hae_event_get_str(ev, "CommandLine"), "dbus-daemon --system");
    assert_string_equal(hae_event_get_str(ev, "ProcessName"), "dbus-daemon");
    assert_non_null(strstr(hae_event_get_str(ev, "Image"), "prog_bpfdoor_mimic"));
    assert_string_equal(hae_event_get_str(ev, "User"), "root");
}

static void test_bpfdoor_mimic_is_reported_with_pid_and_filter(void **state) {
    const mimic *m = *state;
    collected_events c = {0};
    const sock_scan_options defaults = {0};
    scan(&defaults, &c);
    const hae_event *magic = find_finding(&c, "sock.bpfdoor_magic", "ProcessId", m->pid_text);
    assert_non_null(magic);
    assert_string_equal(hae_event_get_str(magic, "severity"), "critical");
    assert_string_equal(hae_event_get_str(magic, "MagicValues"), "0x5293");
    assert_string_equal(hae_event_get_str(magic, "MagicInstructions"), "13");
    assert_non_null(strstr(hae_event_get_str(magic, "MagicNames"), "BPFDoor TCP magic"));
    assert_mimic_filter(magic);
    /* This kernel has packet_diag; one without it takes the fallback. */
    const char *method = hae_event_get_str(magic, "Method");
    assert_true(strcmp(method, "sock_diag") == 0 ||
                strcmp(method, "proc_net_packet+pidfd_getfd") == 0);

    const hae_event *filter = find_finding(&c, "sock.packet_filter", "ProcessId", m->pid_text);
    assert_non_null(filter);
    assert_string_equal(hae_event_get_str(filter, "severity"), "high");
    assert_mimic_filter(filter);
    assert_null(hae_event_get(filter, "MagicValues"));
    assert_null(find_finding(&c, "sock.packet_socket", "ProcessId", m->pid_text));
    collector_free(&c);
}

static void test_without_packet_diag_the_filter_is_read_through_pidfd(void **state) {
    const mimic *m = *state;
    collected_events c = {0};
    const sock_scan_options no_diag = {.skip_packet_diag = true};
    scan(&no_diag, &c);
    const hae_event *magic = find_finding(&c, "sock.bpfdoor_magic", "ProcessId", m->pid_text);
    assert_non_null(magic);
    assert_string_equal(hae_event_get_str(magic, "Method"), "proc_net_packet+pidfd_getfd");
    assert_mimic_filter(magic);
    assert_non_null(find_finding(&c, "sock.packet_filter", "ProcessId", m->pid_text));
    const hae_event *said = find_finding(&c, "sock.error", "Source", "packet_diag");
    assert_non_null(said);
    assert_string_equal(hae_event_get_str(said, "Fallback"), "proc_net_packet");
    assert_string_equal(hae_event_get_str(said, "severity"), "informational");
    collector_free(&c);
}

static int open_bound(int type, struct sockaddr_in *addr) {
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *addr;
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    if (type == SOCK_STREAM) assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

static void assert_listen_reported(const sock_scan_options *opt, const char *method) {
    struct sockaddr_in tcp_addr, udp_addr;
    int tcp = open_bound(SOCK_STREAM, &tcp_addr), udp = open_bound(SOCK_DGRAM, &udp_addr);
    char tcp_port[8], udp_port[8], self[16];
    snprintf(tcp_port, sizeof tcp_port, "%u", ntohs(tcp_addr.sin_port));
    snprintf(udp_port, sizeof udp_port, "%u", ntohs(udp_addr.sin_port));
    snprintf(self, sizeof self, "%d", (int)getpid());
    collected_events c = {0};
    scan(opt, &c);
    const hae_event *ev = find_finding(&c, "sock.listen", "LocalPort", tcp_port);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "ProcessId"), self);
    assert_string_equal(hae_event_get_str(ev, "Protocol"), "tcp");
    assert_string_equal(hae_event_get_str(ev, "LocalIp"), "127.0.0.1");
    assert_string_equal(hae_event_get_str(ev, "severity"), "informational");
    assert_string_equal(hae_event_get_str(ev, "Method"), method);
    ev = find_finding(&c, "sock.listen", "LocalPort", udp_port);
    assert_non_null(ev);
    assert_string_equal(hae_event_get_str(ev, "Protocol"), "udp");
    assert_string_equal(hae_event_get_str(ev, "ProcessId"), self);
    collector_free(&c);
    close(tcp);
    close(udp);
}

static void test_listening_tcp_and_bound_udp_are_reported_with_port_and_pid(void **state) {
    (void)state;
    const sock_scan_options defaults = {0};
    assert_listen_reported(&defaults, "sock_diag");
}

static void test_without_inet_diag_listeners_come_from_proc_net(void **state) {
    (void)state;
    const sock_scan_options no_diag = {.skip_inet_diag = true};
    assert_listen_reported(&no_diag, "proc_net_tcp");
}

static void test_raw_sockets_are_reported_and_their_filter_read_from_the_owner(void **state) {
    (void)state;
    int plain = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    int filtered = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
    assert_true(plain >= 0 && filtered >= 0);
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 28),             /* udp[8:2], after a 20-byte IP header */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x7255, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {4, insns};
    assert_int_equal(setsockopt(filtered, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog), 0);
    struct stat st_plain, st_filtered;
    assert_int_equal(fstat(plain, &st_plain), 0);
    assert_int_equal(fstat(filtered, &st_filtered), 0);
    char plain_inode[24], filtered_inode[24], self[16];
    snprintf(plain_inode, sizeof plain_inode, "%llu", (unsigned long long)st_plain.st_ino);
    snprintf(filtered_inode, sizeof filtered_inode, "%llu", (unsigned long long)st_filtered.st_ino);
    snprintf(self, sizeof self, "%d", (int)getpid());

    collected_events c = {0};
    const sock_scan_options defaults = {0};
    scan(&defaults, &c);
    const hae_event *raw = find_finding(&c, "sock.raw_socket", "SocketInode", plain_inode);
    assert_non_null(raw);
    assert_string_equal(hae_event_get_str(raw, "ProcessId"), self);
    assert_string_equal(hae_event_get_str(raw, "Protocol"), "icmp");
    assert_string_equal(hae_event_get_str(raw, "Family"), "AF_INET");
    assert_string_equal(hae_event_get_str(raw, "severity"), "medium");
    const hae_event *magic = find_finding(&c, "sock.bpfdoor_magic", "SocketInode", filtered_inode);
    assert_non_null(magic);
    assert_string_equal(hae_event_get_str(magic, "ProcessId"), self);
    assert_string_equal(hae_event_get_str(magic, "MagicValues"), "0x7255");
    assert_string_equal(hae_event_get_str(magic, "Protocol"), "udp");
    assert_string_equal(hae_event_get_str(magic, "FilterInstructions"), "4");
    assert_non_null(strstr(hae_event_get_str(magic, "Method"), "+pidfd_getfd"));
    assert_non_null(find_finding(&c, "sock.packet_filter", "SocketInode", filtered_inode));
    assert_null(find_finding(&c, "sock.raw_socket", "SocketInode", filtered_inode));
    collector_free(&c);
    close(plain);
    close(filtered);
}

static int refuse(void *ctx, const hae_event *ev, hae_err *err) {
    (void)ev;
    (*(int *)ctx)++;
    return hae_err_set(err, HAE_ELIMIT, "sink full");
}

static void test_a_failing_sink_stops_the_scan_with_its_error(void **state) {
    (void)state;
    struct sockaddr_in addr;
    int tcp = open_bound(SOCK_STREAM, &addr); /* at least one finding to emit */
    int calls = 0;
    hae_sink sink = {refuse, &calls};
    hae_err err = {0};
    assert_int_equal(sock_scan(&sink, &err), HAE_ELIMIT);
    assert_int_equal(calls, 1);
    assert_string_equal(err.msg, "sink full");
    close(tcp);
}

int main(void) {
    if (!fixture_is_root()) {
        fprintf(stderr, "test_sock_scan needs root (CAP_NET_RAW, CAP_NET_ADMIN, ptrace)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bpfdoor_mimic_is_reported_with_pid_and_filter,
                                        mimic_start, mimic_stop),
        cmocka_unit_test_setup_teardown(test_without_packet_diag_the_filter_is_read_through_pidfd,
                                        mimic_start, mimic_stop),
        cmocka_unit_test(test_listening_tcp_and_bound_udp_are_reported_with_port_and_pid),
        cmocka_unit_test(test_without_inet_diag_listeners_come_from_proc_net),
        cmocka_unit_test(test_raw_sockets_are_reported_and_their_filter_read_from_the_owner),
        cmocka_unit_test(test_a_failing_sink_stops_the_scan_with_its_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
