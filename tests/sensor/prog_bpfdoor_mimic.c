/* A harmless stand-in for BPFDoor, for tests of the sock sensor and of
 * `haetae agent --once`. Interface (kept stable for other tests):
 *   - re-executes itself as argv {"dbus-daemon", "--system"} and sets its
 *     task name to "dbus-daemon" (prctl PR_SET_NAME), as BPFDoor does;
 *   - then opens an AF_PACKET SOCK_RAW socket for ETH_P_IP and attaches a
 *     classic BPF filter accepting only TCP packets whose payload starts
 *     with the halfword 0x5293, BPFDoor's TCP magic (16 instructions);
 *   - prints "ready <pid>\n" on stdout (the pid is unchanged by exec) and
 *     sleeps until killed.
 * Needs CAP_NET_RAW; on failure prints "error: <why>" on stderr, exits 1.
 * It never reads the socket: packets are queued and dropped by the kernel. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const disguise[] = {"dbus-daemon", "--system", NULL};

/* tcp[((tcp[12]&0xf0)>>2):2] = 0x5293 on an Ethernet frame, as in the
 * filter expression Elastic's YARA rule quotes from BPFDoor. */
static struct sock_filter magic_filter[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),            /* (000) ethertype */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 13), /* (001) IPv4 */
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),            /* (002) IP protocol */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 11),      /* (003) TCP */
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),            /* (004) fragment offset */
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 9, 0), /* (005) not a fragment */
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),           /* (006) X = IP header length */
    BPF_STMT(BPF_LD | BPF_B | BPF_IND, 26),            /* (007) TCP data offset byte */
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0),         /* (008) */
    BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 2),            /* (009) A = TCP header length */
    BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),            /* (010) A += IP header length */
    BPF_STMT(BPF_MISC | BPF_TAX, 0),                   /* (011) X = payload offset - 14 */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 14),            /* (012) first payload halfword */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x5293, 0, 1),  /* (013) the magic */
    BPF_STMT(BPF_RET | BPF_K, 262144),                 /* (014) accept */
    BPF_STMT(BPF_RET | BPF_K, 0),                      /* (015) drop */
};

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[0], disguise[0]) != 0 || strcmp(argv[1], disguise[1]) != 0) {
        execv("/proc/self/exe", (char *const *)disguise);
        return fail("execv /proc/self/exe");
    }
    if (prctl(PR_SET_NAME, "dbus-daemon", 0, 0, 0) < 0) return fail("prctl PR_SET_NAME");
    int sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
    if (sock < 0) return fail("socket AF_PACKET");
    struct sock_fprog prog = {sizeof magic_filter / sizeof magic_filter[0], magic_filter};
    if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
        return fail("SO_ATTACH_FILTER");
    }
    printf("ready %d\n", (int)getpid());
    if (fflush(stdout) != 0) return fail("stdout");
    for (;;) pause();
}
