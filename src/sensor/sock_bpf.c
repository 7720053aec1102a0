/* Pure analysis of classic BPF programs (Documentation/networking/filter.rst):
 * finding BPFDoor's magic constants and printing a tcpdump -d like listing.
 * Nothing here touches the kernel; both functions accept any bytes. */
#include <stdio.h>
#include <string.h>

#include "sensor/sock_internal.h"

/* BPFDoor's filters accept a packet only when a payload field equals a
 * "magic" number; the operator sends that packet to wake the implant.
 * Sources, checked for each value:
 *  [E] Elastic Security, YARA rule Linux_Trojan_BPFDoor_e14b0b79
 *      (elastic/protections-artifacts yara/rules/Linux_Trojan_BPFDoor.yar),
 *      which quotes the original filter "(udp[8:2]=0x7255) or
 *      (icmp[8:2]=0x7255) or (tcp[((tcp[12]&0xf0)>>2):2]=0x5293)", and
 *      Elastic Security Labs, "A peek behind the BPFDoor" (2022).
 *  [K] KISA, "BPFDoor 악성코드 점검 가이드" (BPFDoor check guide, 2025-05-12),
 *      BPF check: ss -0pb | grep -E "21139|29269|960051513|36204|40783".
 *  [R] Rapid7 Labs, BPFDoor/rapid7_detect_bpfdoor.sh v1.1 (rapid7/Rapid7-Labs),
 *      which greps ss -0pb output for the [K] values plus the others below
 *      and hexdumps process memory for the same constants. */
typedef struct magic_def {
    uint32_t value;
    bool is_strong;
    const char *name;
} magic_def;

static const magic_def magic_table[] = {
    {0x5293, true, "BPFDoor TCP magic 0x5293 (21139) [Elastic, KISA, Rapid7]"},
    {0x7255, true, "BPFDoor UDP/ICMP magic 0x7255 (29269) [Elastic, KISA, Rapid7]"},
    {0x39393939, true, "BPFDoor variant magic 0x39393939 (960051513, \"9999\") [KISA, Rapid7]"},
    {0x8d6c, true, "BPFDoor variant magic 0x8d6c (36204) [KISA, Rapid7]"},
    {0x9f4f, true, "BPFDoor variant magic 0x9f4f (40783) [KISA, Rapid7]"},
    {0x270f, false, "BPFDoor variant magic 0x270f (9999) [Rapid7]"},
    {0x2048, false, "BPFDoor variant magic 0x2048 (8264) [Rapid7]"},
    {0x1155, false, "BPFDoor variant magic 0x1155 (4437) [Rapid7]"},
    {0x5433, false, "BPFDoor variant magic 0x5433 (21555) [Rapid7]"},
    {0x3182, false, "BPFDoor variant magic 0x3182 (12674) [Rapid7]"},
    {0x1051, false, "BPFDoor variant magic 0x1051 (4177) [Rapid7]"},
    {0x3321, false, "BPFDoor variant magic 0x3321 (13089) [Rapid7]"},
    {0xdead, false, "BPFDoor variant magic 0xdead (57005) [Rapid7]"},
};
#define MAGIC_COUNT (sizeof magic_table / sizeof magic_table[0])

static const magic_def *magic_lookup(uint32_t value) {
    for (size_t i = 0; i < MAGIC_COUNT; i++) {
        if (magic_table[i].value == value) return &magic_table[i];
    }
    return NULL;
}

bool sock_bpf_magic_is_strong(uint32_t value) {
    const magic_def *m = magic_lookup(value);
    return m && m->is_strong;
}

/* Does insn carry k as an immediate operand a filter could compare with?
 * Conditional jumps against K (jeq, jgt, jge, jset: ja's k is an offset),
 * immediate loads (ld #k, ldx #k) and ALU ops with K (a magic can be built
 * by xor/add from another constant; the constant itself still shows). */
static bool has_immediate(uint16_t code) {
    switch (BPF_CLASS(code)) {
    case BPF_JMP:
        return BPF_OP(code) != BPF_JA && BPF_SRC(code) == BPF_K;
    case BPF_LD:
    case BPF_LDX:
        return BPF_MODE(code) == BPF_IMM;
    case BPF_ALU:
        return BPF_OP(code) != BPF_NEG && BPF_SRC(code) == BPF_K;
    default:
        return false;
    }
}

size_t sock_bpf_find_magic(const struct sock_filter *prog, size_t insn_count,
                           sock_bpf_magic *out, size_t max) {
    size_t found = 0;
    for (size_t i = 0; prog && i < insn_count; i++) {
        if (!has_immediate(prog[i].code)) continue;
        const magic_def *m = magic_lookup(prog[i].k);
        if (!m) continue;
        bool seen = false; /* report each constant once, at its first use */
        for (size_t j = 0; j < found && j < max; j++) {
            if (out[j].value == m->value) seen = true;
        }
        if (seen) continue;
        if (found < max) {
            out[found] = (sock_bpf_magic){m->value, m->name, i};
            found++;
        } else {
            break;
        }
    }
    return found;
}

/* ---- disassembly --------------------------------------------------------- */

/* Linux ancillary loads: ld [SKF_AD_OFF + n] reads skb metadata. */
static const char *ancillary_name(uint32_t k) {
    static const struct { uint32_t off; const char *name; } names[] = {
        {SKF_AD_PROTOCOL, "#proto"},   {SKF_AD_PKTTYPE, "#type"},
        {SKF_AD_IFINDEX, "#ifidx"},    {SKF_AD_NLATTR, "#nla"},
        {SKF_AD_NLATTR_NEST, "#nlan"}, {SKF_AD_MARK, "#mark"},
        {SKF_AD_QUEUE, "#queue"},      {SKF_AD_HATYPE, "#hatype"},
        {SKF_AD_RXHASH, "#rxhash"},    {SKF_AD_CPU, "#cpu"},
        {SKF_AD_ALU_XOR_X, "#xor_x"},  {SKF_AD_VLAN_TAG, "#vlan_tci"},
        {SKF_AD_VLAN_TAG_PRESENT, "#vlan_avail"}, {SKF_AD_PAY_OFFSET, "#poff"},
        {SKF_AD_RANDOM, "#rand"},      {SKF_AD_VLAN_TPID, "#vlan_tpid"},
    };
    if (k < (uint32_t)SKF_AD_OFF) return NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((uint32_t)SKF_AD_OFF + names[i].off == k) return names[i].name;
    }
    return "#unknown_ancillary";
}

static const char *alu_name(uint16_t op) {
    switch (op) {
    case BPF_ADD: return "add";
    case BPF_SUB: return "sub";
    case BPF_MUL: return "mul";
    case BPF_DIV: return "div";
    case BPF_MOD: return "mod";
    case BPF_AND: return "and";
    case BPF_OR: return "or";
    case BPF_XOR: return "xor";
    case BPF_LSH: return "lsh";
    case BPF_RSH: return "rsh";
    case BPF_NEG: return "neg";
    default: return NULL;
    }
}

static const char *jmp_name(uint16_t op) {
    switch (op) {
    case BPF_JA: return "ja";
    case BPF_JEQ: return "jeq";
    case BPF_JGT: return "jgt";
    case BPF_JGE: return "jge";
    case BPF_JSET: return "jset";
    default: return NULL;
    }
}

static const char *size_suffix(uint16_t code) {
    switch (BPF_SIZE(code)) {
    case BPF_W: return "";
    case BPF_H: return "h";
    case BPF_B: return "b";
    default: return NULL;
    }
}

/* Fills op and operand for a load (BPF_LD) instruction; false if invalid. */
static bool image_ld(const struct sock_filter *f, char *op, size_t op_len, char *arg,
                     size_t arg_len) {
    const char *suffix = size_suffix(f->code);
    if (!suffix) return false;
    snprintf(op, op_len, "ld%s", suffix);
    switch (BPF_MODE(f->code)) {
    case BPF_ABS: {
        const char *anc = ancillary_name(f->k);
        if (anc) snprintf(arg, arg_len, "%s", anc);
        else snprintf(arg, arg_len, "[%u]", f->k);
        return true;
    }
    case BPF_IND: snprintf(arg, arg_len, "[x + %u]", f->k); return true;
    case BPF_IMM:
        if (BPF_SIZE(f->code) != BPF_W) return false;
        snprintf(arg, arg_len, "#0x%x", f->k);
        return true;
    case BPF_MEM:
        if (BPF_SIZE(f->code) != BPF_W) return false;
        snprintf(arg, arg_len, "M[%u]", f->k);
        return true;
    case BPF_LEN:
        if (BPF_SIZE(f->code) != BPF_W) return false;
        snprintf(arg, arg_len, "#pktlen");
        return true;
    default: return false;
    }
}

static bool image_ldx(const struct sock_filter *f, char *op, size_t op_len, char *arg,
                      size_t arg_len) {
    uint16_t mode = BPF_MODE(f->code), size = BPF_SIZE(f->code);
    if (mode == BPF_MSH && size == BPF_B) {
        snprintf(op, op_len, "ldxb");
        snprintf(arg, arg_len, "4*([%u]&0xf)", f->k);
        return true;
    }
    if (size != BPF_W) return false;
    snprintf(op, op_len, "ldx");
    switch (mode) {
    case BPF_IMM: snprintf(arg, arg_len, "#0x%x", f->k); return true;
    case BPF_MEM: snprintf(arg, arg_len, "M[%u]", f->k); return true;
    case BPF_LEN: snprintf(arg, arg_len, "#pktlen"); return true;
    default: return false;
    }
}

static bool image_alu(const struct sock_filter *f, char *op, size_t op_len, char *arg,
                      size_t arg_len) {
    uint16_t alu = BPF_OP(f->code);
    const char *name = alu_name(alu);
    if (!name) return false;
    snprintf(op, op_len, "%s", name);
    if (alu == BPF_NEG) arg[0] = '\0';
    else if (BPF_SRC(f->code) == BPF_X) snprintf(arg, arg_len, "x");
    else if (alu == BPF_AND || alu == BPF_OR || alu == BPF_XOR) snprintf(arg, arg_len, "#0x%x", f->k);
    else snprintf(arg, arg_len, "#%u", f->k);
    return true;
}

static int image_one(const struct sock_filter *f, size_t n, hae_buf *out) {
    char op[16] = "", arg[48] = "";
    bool ok = true;
    switch (BPF_CLASS(f->code)) {
    case BPF_LD: ok = image_ld(f, op, sizeof op, arg, sizeof arg); break;
    case BPF_LDX: ok = image_ldx(f, op, sizeof op, arg, sizeof arg); break;
    case BPF_ST:
    case BPF_STX:
        snprintf(op, sizeof op, BPF_CLASS(f->code) == BPF_ST ? "st" : "stx");
        snprintf(arg, sizeof arg, "M[%u]", f->k);
        ok = f->code == BPF_ST || f->code == BPF_STX;
        break;
    case BPF_ALU: ok = image_alu(f, op, sizeof op, arg, sizeof arg); break;
    case BPF_JMP: {
        const char *name = jmp_name(BPF_OP(f->code));
        if (!name) { ok = false; break; }
        snprintf(op, sizeof op, "%s", name);
        if (BPF_OP(f->code) == BPF_JA) {
            /* Targets are absolute like tcpdump's; 64-bit math avoids overflow. */
            return hae_buf_printf(out, "(%03zu) %-8s %llu\n", n, op,
                                  (unsigned long long)n + 1 + f->k);
        }
        if (BPF_SRC(f->code) == BPF_X) snprintf(arg, sizeof arg, "x");
        else snprintf(arg, sizeof arg, "#0x%x", f->k);
        return hae_buf_printf(out, "(%03zu) %-8s %-16s jt %zu\tjf %zu\n", n, op, arg,
                              n + 1 + f->jt, n + 1 + f->jf);
    }
    case BPF_RET:
        snprintf(op, sizeof op, "ret");
        if (BPF_RVAL(f->code) == BPF_K) snprintf(arg, sizeof arg, "#%u", f->k);
        else if (BPF_RVAL(f->code) == BPF_A) snprintf(arg, sizeof arg, "a");
        else ok = false;
        break;
    case BPF_MISC:
        if (BPF_MISCOP(f->code) == BPF_TAX) snprintf(op, sizeof op, "tax");
        else if (BPF_MISCOP(f->code) == BPF_TXA) snprintf(op, sizeof op, "txa");
        else ok = false;
        break;
    default: ok = false; break;
    }
    if (!ok) {
        return hae_buf_printf(out, "(%03zu) %-8s 0x%x k=0x%x jt=%u jf=%u\n", n, "unimp",
                              f->code, f->k, f->jt, f->jf);
    }
    if (arg[0] == '\0') return hae_buf_printf(out, "(%03zu) %s\n", n, op);
    return hae_buf_printf(out, "(%03zu) %-8s %s\n", n, op, arg);
}

int sock_bpf_disassemble(const struct sock_filter *prog, size_t insn_count, hae_buf *out) {
    int rc = hae_buf_append(out, "", 0); /* NUL-terminates: an empty program yields "" */
    for (size_t i = 0; rc == HAE_OK && prog && i < insn_count; i++) {
        rc = image_one(&prog[i], i, out);
    }
    return rc;
}
