/* sock_bpf: BPFDoor magic detection and the tcpdump -d like listing, on
 * hand-built classic BPF programs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/sock_internal.h"
#include "fixtures.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* What libpcap compiles for the expression BPFDoor carries (quoted in
 * Elastic's YARA rule Linux_Trojan_BPFDoor_e14b0b79): "(udp[8:2]=0x7255) or
 * (icmp[8:2]=0x7255) or (tcp[((tcp[12]&0xf0)>>2):2]=0x5293)". */
static const struct sock_filter bpfdoor_original[] = {
    {0x28, 0, 0, 0x0000000c}, {0x15, 0, 27, 0x00000800}, {0x30, 0, 0, 0x00000017},
    {0x15, 0, 5, 0x00000011}, {0x28, 0, 0, 0x00000014}, {0x45, 23, 0, 0x00001fff},
    {0xb1, 0, 0, 0x0000000e}, {0x48, 0, 0, 0x00000016}, {0x15, 19, 20, 0x00007255},
    {0x15, 0, 7, 0x00000001}, {0x28, 0, 0, 0x00000014}, {0x45, 17, 0, 0x00001fff},
    {0xb1, 0, 0, 0x0000000e}, {0x48, 0, 0, 0x00000016}, {0x15, 0, 14, 0x00007255},
    {0x50, 0, 0, 0x0000000e}, {0x15, 11, 12, 0x00000008}, {0x15, 0, 11, 0x00000006},
    {0x28, 0, 0, 0x00000014}, {0x45, 9, 0, 0x00001fff}, {0xb1, 0, 0, 0x0000000e},
    {0x50, 0, 0, 0x0000001a}, {0x54, 0, 0, 0x000000f0}, {0x74, 0, 0, 0x00000002},
    {0x0c, 0, 0, 0x00000000}, {0x07, 0, 0, 0x00000000}, {0x48, 0, 0, 0x0000000e},
    {0x15, 0, 1, 0x00005293}, {0x06, 0, 0, 0x0000ffff}, {0x06, 0, 0, 0x00000000},
};

/* "tcp port 22" on Ethernet as libpcap compiles it: an ordinary filter
 * (sshd-watching tools, tcpdump) that must not look like BPFDoor. */
static const struct sock_filter tcp_port_22[] = {
    {0x28, 0, 0, 0x0000000c}, {0x15, 0, 6, 0x000086dd}, {0x30, 0, 0, 0x00000014},
    {0x15, 0, 15, 0x00000006}, {0x28, 0, 0, 0x00000036}, {0x15, 12, 0, 0x00000016},
    {0x28, 0, 0, 0x00000038}, {0x15, 10, 11, 0x00000016}, {0x15, 0, 10, 0x00000800},
    {0x30, 0, 0, 0x00000017}, {0x15, 0, 8, 0x00000006}, {0x28, 0, 0, 0x00000014},
    {0x45, 6, 0, 0x00001fff}, {0xb1, 0, 0, 0x0000000e}, {0x48, 0, 0, 0x0000000e},
    {0x15, 2, 0, 0x00000016}, {0x48, 0, 0, 0x00000010}, {0x15, 0, 1, 0x00000016},
    {0x06, 0, 0, 0x00040000}, {0x06, 0, 0, 0x00000000},
};

static void test_original_filter_yields_both_magics_at_first_use(void **state) {
    (void)state;
    sock_bpf_magic found[8];
    size_t n = sock_bpf_find_magic(bpfdoor_original, COUNT(bpfdoor_original), found, 8);
    assert_int_equal(n, 2);
    assert_int_equal(found[0].value, 0x7255);
    assert_int_equal(found[0].insn_index, 8); /* the udp check; icmp's at 14 is a repeat */
    assert_non_null(strstr(found[0].name, "0x7255"));
    assert_int_equal(found[1].value, 0x5293);
    assert_int_equal(found[1].insn_index, 27);
    assert_non_null(strstr(found[1].name, "21139"));
}

static void test_ordinary_tcpdump_filter_has_no_magic(void **state) {
    (void)state;
    sock_bpf_magic found[4];
    assert_int_equal(sock_bpf_find_magic(tcp_port_22, COUNT(tcp_port_22), found, 4), 0);
}

static void test_immediate_loads_alu_and_jset_are_checked(void **state) {
    (void)state;
    const struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_IMM, 0x39393939),         /* ld #k */
        BPF_STMT(BPF_LDX | BPF_IMM, 0x9f4f),            /* ldx #k */
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_K, 0x8d6c),    /* xor #k */
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0xdead, 0, 0),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    sock_bpf_magic found[8];
    assert_int_equal(sock_bpf_find_magic(prog, COUNT(prog), found, 8), 4);
    assert_int_equal(found[0].value, 0x39393939);
    assert_int_equal(found[0].insn_index, 0);
    assert_int_equal(found[1].value, 0x9f4f);
    assert_int_equal(found[2].value, 0x8d6c);
    assert_int_equal(found[2].insn_index, 2);
    assert_int_equal(found[3].value, 0xdead);
    assert_true(sock_bpf_magic_is_strong(0x39393939));
    assert_false(sock_bpf_magic_is_strong(0xdead)); /* Rapid7's wider list */
    assert_false(sock_bpf_magic_is_strong(0x800));
}

static void test_magic_outside_an_immediate_operand_is_ignored(void **state) {
    (void)state;
    const struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0x5293),      /* packet offset */
        BPF_STMT(BPF_LD | BPF_MEM, 0x7255),              /* scratch index */
        BPF_JUMP(BPF_JMP | BPF_JA, 0x5293, 0, 0),        /* jump offset */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0x7255, 0, 0), /* compares X, k unused */
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0x5293),
        BPF_STMT(BPF_RET | BPF_K, 0x5293),               /* snap length */
    };
    sock_bpf_magic found[4];
    assert_int_equal(sock_bpf_find_magic(prog, COUNT(prog), found, 4), 0);
    assert_int_equal(sock_bpf_find_magic(NULL, 10, found, 4), 0);
}

static void test_find_magic_stops_at_max(void **state) {
    (void)state;
    sock_bpf_magic found[1];
    assert_int_equal(sock_bpf_find_magic(bpfdoor_original, COUNT(bpfdoor_original), found, 1), 1);
    assert_int_equal(found[0].value, 0x7255);
}

static void test_disassembly_reads_like_tcpdump_d(void **state) {
    (void)state;
    const struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 5),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 14),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 2),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_RET | BPF_K, 262144),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    hae_buf out = {0};
    assert_int_equal(sock_bpf_disassemble(prog, COUNT(prog), &out), HAE_OK);
    assert_string_equal(out.data,
                        "(000) ldh      [12]\n"
                        "(001) jeq      #0x800           jt 2\tjf 7\n"
                        "(002) ldxb     4*([14]&0xf)\n"
                        "(003) ldh      [x + 14]\n"
                        "(004) and      #0xf0\n"
                        "(005) rsh      #2\n"
                        "(006) tax\n"
                        "(007) ret      #262144\n"
                        "(008) ret      a\n");
    hae_buf_free(&out);
}

static void test_disassembly_names_ancillary_loads_and_bad_opcodes(void **state) {
    (void)state;
    const struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)SKF_AD_OFF + SKF_AD_PROTOCOL),
        {0xffff, 1, 2, 0x12345678},
        BPF_JUMP(BPF_JMP | BPF_JA, 0xffffffffu, 0, 0),
    };
    hae_buf out = {0};
    assert_int_equal(sock_bpf_disassemble(prog, COUNT(prog), &out), HAE_OK);
    assert_string_equal(out.data,
                        "(000) ldh      #proto\n"
                        "(001) unimp    0xffff k=0x12345678 jt=1 jf=2\n"
                        "(002) ja       4294967298\n");
    hae_buf_free(&out);
    hae_buf empty = {0};
    assert_int_equal(sock_bpf_disassemble(prog, 0, &empty), HAE_OK);
    assert_non_null(empty.data);
    assert_string_equal(empty.data, "");
    hae_buf_free(&empty);
}

static void test_disassembly_of_original_filter_shows_the_magic_compare(void **state) {
    (void)state;
    hae_buf out = {0};
    assert_int_equal(sock_bpf_disassemble(bpfdoor_original, COUNT(bpfdoor_original), &out),
                     HAE_OK);
    assert_non_null(strstr(out.data, "(027) jeq      #0x5293          jt 28\tjf 29\n"));
    assert_non_null(strstr(out.data, "(008) jeq      #0x7255          jt 28\tjf 29\n"));
    assert_non_null(strstr(out.data, "(024) add      x\n"));
    size_t lines = 0;
    for (const char *p = out.data; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, COUNT(bpfdoor_original));
    hae_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_original_filter_yields_both_magics_at_first_use),
        cmocka_unit_test(test_ordinary_tcpdump_filter_has_no_magic),
        cmocka_unit_test(test_immediate_loads_alu_and_jset_are_checked),
        cmocka_unit_test(test_magic_outside_an_immediate_operand_is_ignored),
        cmocka_unit_test(test_find_magic_stops_at_max),
        cmocka_unit_test(test_disassembly_reads_like_tcpdump_d),
        cmocka_unit_test(test_disassembly_names_ancillary_loads_and_bad_opcodes),
        cmocka_unit_test(test_disassembly_of_original_filter_shows_the_magic_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
