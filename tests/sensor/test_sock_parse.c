/* The sock sensor's pure parsers: NETLINK_SOCK_DIAG replies built by hand
 * (packet_diag, inet_diag, errors, malformed lengths) and /proc/net lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "sensor/sock_internal.h"
#include "fixtures.h"

typedef struct message_builder {
    uint8_t bytes[4096];
    size_t len;
    size_t msg_start;
} message_builder;

static void put(message_builder *b, const void *data, size_t len) {
    assert_true(b->len + len <= sizeof b->bytes);
    memcpy(b->bytes + b->len, data, len);
    b->len += len;
    while (b->len % 4) b->bytes[b->len++] = 0;
}

static void begin(message_builder *b, uint16_t type) {
    b->msg_start = b->len;
    struct nlmsghdr h = {.nlmsg_type = type};
    put(b, &h, sizeof h);
}

static void end(message_builder *b) {
    uint32_t len = (uint32_t)(b->len - b->msg_start);
    memcpy(b->bytes + b->msg_start, &len, sizeof len);
}

static void attr(message_builder *b, uint16_t type, const void *data, size_t len) {
    struct nlattr nla = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
    put(b, &nla, sizeof nla);
    if (len) put(b, data, len);
}

typedef struct seen {
    size_t count;
    sock_entry last;
    struct sock_filter filter[8];
} seen;

static int keep(void *ctx, sock_entry *e, hae_err *err) {
    (void)err;
    seen *s = ctx;
    s->count++;
    s->last = *e;
    if (e->filter && e->filter_len <= 8) memcpy(s->filter, e->filter, e->filter_len * sizeof *e->filter);
    s->last.filter = NULL; /* owned by the parser */
    return HAE_OK;
}

static void test_packet_diag_reply_yields_socket_uid_interface_and_filter(void **state) {
    (void)state;
    message_builder b = {0};
    begin(&b, SOCK_DIAG_BY_FAMILY);
    struct packet_diag_msg msg = {.pdiag_family = AF_PACKET, .pdiag_type = SOCK_RAW,
                                  .pdiag_num = 0x0800, .pdiag_ino = 4242};
    put(&b, &msg, sizeof msg);
    struct packet_diag_info info = {.pdi_index = 3};
    attr(&b, PACKET_DIAG_INFO, &info, sizeof info);
    uint32_t uid = 1000;
    attr(&b, PACKET_DIAG_UID, &uid, sizeof uid);
    struct sock_filter prog[] = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x5293, 0, 1),
                                 BPF_STMT(BPF_RET | BPF_K, 0)};
    attr(&b, PACKET_DIAG_FILTER, prog, sizeof prog);
    end(&b);
    begin(&b, NLMSG_DONE);
    int zero = 0;
    put(&b, &zero, sizeof zero);
    end(&b);

    seen s = {0};
    bool done = false;
    hae_err err = {0};
    assert_int_equal(sock_diag_parse(b.bytes, b.len, AF_PACKET, 0, 0, keep, &s, &done, &err), HAE_OK);
    assert_true(done);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.last.family, AF_PACKET);
    assert_int_equal(s.last.type, SOCK_RAW);
    assert_int_equal(s.last.protocol, 0x0800);
    assert_int_equal(s.last.inode, 4242);
    assert_int_equal(s.last.ifindex, 3);
    assert_true(s.last.has_uid);
    assert_int_equal(s.last.uid, 1000);
    assert_true(s.last.has_filter_info);
    assert_false(s.last.filter_hidden);
    assert_int_equal(s.last.filter_len, 2);
    assert_int_equal(s.filter[0].k, 0x5293);
}

static void test_empty_filter_attribute_means_the_kernel_withheld_it(void **state) {
    (void)state;
    message_builder b = {0};
    begin(&b, SOCK_DIAG_BY_FAMILY);
    struct packet_diag_msg msg = {.pdiag_family = AF_PACKET, .pdiag_type = SOCK_DGRAM, .pdiag_ino = 7};
    put(&b, &msg, sizeof msg);
    attr(&b, PACKET_DIAG_FILTER, NULL, 0);
    end(&b);
    seen s = {0};
    bool done = true;
    hae_err err = {0};
    assert_int_equal(sock_diag_parse(b.bytes, b.len, AF_PACKET, 0, 0, keep, &s, &done, &err), HAE_OK);
    assert_false(done);
    assert_int_equal(s.count, 1);
    assert_true(s.last.filter_hidden);
    assert_int_equal(s.last.filter_len, 0);
}

static void test_inet_diag_reply_yields_address_port_state_and_owner_uid(void **state) {
    (void)state;
    message_builder b = {0};
    begin(&b, SOCK_DIAG_BY_FAMILY);
    struct inet_diag_msg msg = {.idiag_family = AF_INET6, .idiag_state = TCP_LISTEN,
                                .idiag_uid = 33, .idiag_inode = 99};
    msg.id.idiag_sport = htons(8443);
    ((uint8_t *)msg.id.idiag_src)[15] = 1; /* ::1 */
    put(&b, &msg, sizeof msg);
    end(&b);
    seen s = {0};
    bool done = false;
    hae_err err = {0};
    assert_int_equal(sock_diag_parse(b.bytes, b.len, AF_INET6, SOCK_STREAM, IPPROTO_TCP, keep, &s,
                                     &done, &err),
                     HAE_OK);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.last.family, AF_INET6);
    assert_int_equal(s.last.type, SOCK_STREAM);
    assert_int_equal(s.last.protocol, IPPROTO_TCP);
    assert_int_equal(s.last.state, TCP_LISTEN);
    assert_int_equal(s.last.local_port, 8443);
    assert_int_equal(s.last.local_addr[15], 1);
    assert_int_equal(s.last.uid, 33);
    assert_int_equal(s.last.inode, 99);
}

static int parse_error_reply(int code, hae_err *err) {
    message_builder b = {0};
    begin(&b, NLMSG_ERROR);
    struct nlmsgerr e = {.error = code};
    put(&b, &e, sizeof e);
    end(&b);
    seen s = {0};
    bool done = false;
    return sock_diag_parse(b.bytes, b.len, AF_INET, SOCK_RAW, IPPROTO_RAW, keep, &s, &done, err);
}

static void test_missing_diag_handler_is_not_supported_other_errors_keep_errno(void **state) {
    (void)state;
    hae_err err = {0};
    assert_int_equal(parse_error_reply(-ENOENT, &err), HAE_ENOTSUP);
    assert_non_null(strstr(err.msg, "raw_diag"));
    assert_int_equal(parse_error_reply(-EPERM, &err), HAE_EPERM);
    assert_int_equal(parse_error_reply(0, &err), HAE_OK); /* an ack */
}

static void test_malformed_lengths_are_rejected_with_the_offset(void **state) {
    (void)state;
    message_builder b = {0};
    begin(&b, SOCK_DIAG_BY_FAMILY);
    struct packet_diag_msg msg = {.pdiag_family = AF_PACKET, .pdiag_ino = 1};
    put(&b, &msg, sizeof msg);
    uint8_t odd[12] = {0};
    attr(&b, PACKET_DIAG_FILTER, odd, sizeof odd); /* not whole instructions */
    end(&b);
    seen s = {0};
    bool done = false;
    hae_err err = {0};
    assert_int_equal(sock_diag_parse(b.bytes, b.len, AF_PACKET, 0, 0, keep, &s, &done, &err),
                     HAE_EINVAL);
    assert_non_null(strstr(err.msg, "PACKET_DIAG_FILTER at byte 32 has length 12"));
    assert_int_equal(s.count, 0);

    uint32_t too_long = 4096; /* header claims more than the buffer holds */
    memcpy(b.bytes, &too_long, sizeof too_long);
    assert_int_equal(sock_diag_parse(b.bytes, b.len, AF_PACKET, 0, 0, keep, &s, &done, &err),
                     HAE_EINVAL);
    assert_non_null(strstr(err.msg, "message at byte 0 claims length 4096"));
    assert_int_equal(sock_diag_parse(b.bytes, 10, AF_PACKET, 0, 0, keep, &s, &done, &err),
                     HAE_EINVAL);
    assert_non_null(strstr(err.msg, "10 stray bytes at byte 0"));
}

static void test_proc_net_packet_line(void **state) {
    (void)state;
    const char *line = "ffff8880053e6000 3      3    0003   2     1 0      1000   46473";
    sock_entry e = {0};
    assert_int_equal(sock_procnet_parse_packet(line, strlen(line), &e), HAE_OK);
    assert_int_equal(e.family, AF_PACKET);
    assert_int_equal(e.type, SOCK_RAW);
    assert_int_equal(e.protocol, 0x0003);
    assert_int_equal(e.ifindex, 2);
    assert_int_equal(e.uid, 1000);
    assert_int_equal(e.inode, 46473);
    assert_false(e.has_filter_info); /* /proc/net/packet does not say */
    assert_int_equal(sock_procnet_parse_packet("sk RefCnt Type", 14, &e), HAE_EINVAL);
}

static void test_proc_net_inet_lines_decode_addresses_in_network_order(void **state) {
    (void)state;
    const char *tcp = "   0: 0100007F:07E8 00000000:0000 0A 00000000:00000000 00:00000000 "
                      "00000000     0        0 128 1 0000000000000000 100 0 0 10 0";
    sock_entry e = {.type = SOCK_STREAM, .protocol = IPPROTO_TCP};
    assert_int_equal(sock_procnet_parse_inet(tcp, strlen(tcp), &e), HAE_OK);
    assert_int_equal(e.family, AF_INET);
    const uint8_t loopback[4] = {127, 0, 0, 1};
    assert_memory_equal(e.local_addr, loopback, 4);
    assert_int_equal(e.local_port, 2024);
    assert_int_equal(e.state, TCP_LISTEN);
    assert_int_equal(e.inode, 128);
    assert_int_equal(e.protocol, IPPROTO_TCP);

    const char *raw6 = "   1: 00000000000000000000000001000000:003A "
                       "00000000000000000000000000000000:0000 07 00000000:00000000 "
                       "00:00000000 00000000     0        0 4242 2 0000000000000000 0";
    e = (sock_entry){.type = SOCK_RAW, .protocol = IPPROTO_RAW};
    assert_int_equal(sock_procnet_parse_inet(raw6, strlen(raw6), &e), HAE_OK);
    assert_int_equal(e.family, AF_INET6);
    assert_int_equal(e.local_addr[15], 1); /* ::1 */
    assert_int_equal(e.protocol, IPPROTO_ICMPV6); /* a raw socket's "port" */
    assert_int_equal(e.inode, 4242);

    const char *short_address = "   0: 0100007:07E8 00000000:0000 0A 0:0 0:0 0 0 0 1";
    assert_int_equal(sock_procnet_parse_inet(short_address, strlen(short_address), &e), HAE_EINVAL);
    char embedded_nul[] = "   0: 0100007F:07E8\0";
    assert_int_equal(sock_procnet_parse_inet(embedded_nul, sizeof embedded_nul - 1, &e), HAE_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packet_diag_reply_yields_socket_uid_interface_and_filter),
        cmocka_unit_test(test_empty_filter_attribute_means_the_kernel_withheld_it),
        cmocka_unit_test(test_inet_diag_reply_yields_address_port_state_and_owner_uid),
        cmocka_unit_test(test_missing_diag_handler_is_not_supported_other_errors_keep_errno),
        cmocka_unit_test(test_malformed_lengths_are_rejected_with_the_offset),
        cmocka_unit_test(test_proc_net_packet_line),
        cmocka_unit_test(test_proc_net_inet_lines_decode_addresses_in_network_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
