/*
 * BPFDoor: a passive Linux backdoor (attributed to Red Menshen) that opens
 * a packet socket, attaches a classic BPF filter so that only a "magic"
 * packet reaches it, and hides under the name of a system daemon. It ran
 * unseen on SK Telecom's subscriber servers for years.
 *
 * haetae's own rules, written from these public analyses:
 *  [1] BPFDoor source leaked in 2022, bpfdoor.c in github.com/gwillgues/BPFDoor:
 *      the sock_filter program comparing with 0x7255 (UDP, ICMP) and 0x5293
 *      (TCP); self[], ten disguise command lines; "kdmtmpflush", the name
 *      it copies itself to under /dev/shm; the /var/run/haldrund.pid mutex;
 *      the shell environment HISTFILE=/dev/null, MYSQL_HISTFILE=/dev/null.
 *  [2] Elastic Security Labs, "A peek behind the BPFDoor" (2022), and
 *      Elastic's Linux_Trojan_BPFDoor rules: samples carrying the filter as
 *      the tcpdump expression "(udp[8:2]=0x7255) or (icmp[8:2]=0x7255) or
 *      (tcp[((tcp[12]&0xf0)>>2):2]=0x5293)" and the iptables REDIRECT
 *      command it runs for the reverse shell.
 *  [3] KISA, "BPFDoor 악성코드 점검 가이드" (BPFDoor check guide, 2025-05-12):
 *      filter constants 21139 (0x5293), 29269 (0x7255), 960051513
 *      (0x39393939), 36204 (0x8d6c), 40783 (0x9f4f); /dev/shm/kdmtmpflush;
 *      0-byte lock files such as /var/run/haldrund.pid.
 *  [4] MITRE ATT&CK S1161 BPFDoor: "creates a zero byte PID file at
 *      /var/run/haldrund.pid ... to ensure only one instance is executing".
 *  [5] Sandfly Security, "BPFDoor - an evasive Linux backdoor technical
 *      analysis" (2022): the disguise names and the /dev/shm copy.
 */

rule BPFDoor_Filter_Magic : bpfdoor backdoor linux
{
    meta:
        description = "ELF file holding a classic BPF program that compares packet data with BPFDoor magic numbers"
        severity = "critical"
        author = "haetae"
        reference = "github.com/gwillgues/BPFDoor bpfdoor.c; KISA BPFDoor check guide 2025-05-12; elastic.co/security-labs/a-peek-behind-the-bpfdoor"

    strings:
        /* struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in little
         * endian: code 0x0015 is BPF_JMP|BPF_JEQ|BPF_K, then any jump
         * offsets, then the constant k. */
        $jeq_7255     = { 15 00 ?? ?? 55 72 00 00 }   /* [1][3] UDP and ICMP magic */
        $jeq_5293     = { 15 00 ?? ?? 93 52 00 00 }   /* [1][3] TCP magic */
        $jeq_39393939 = { 15 00 ?? ?? 39 39 39 39 }   /* [3] later variants */
        $jeq_8d6c     = { 15 00 ?? ?? 6C 8D 00 00 }   /* [3] */
        $jeq_9f4f     = { 15 00 ?? ?? 4F 9F 00 00 }   /* [3] */
        /* ldh [12]; jeq #0x800: the filter's first test, "is it IPv4" [1] */
        $ethertype_ipv4 = { 28 00 00 00 0C 00 00 00 15 00 ?? ?? 00 08 00 00 }
        $tcpdump_expression = "(udp[8:2]=0x7255)"    /* [2] */

    condition:
        uint32(0) == 0x464C457F and
        (2 of ($jeq_*) or ($ethertype_ipv4 and 1 of ($jeq_*)) or $tcpdump_expression)
}

rule BPFDoor_Implant_Strings : bpfdoor backdoor linux
{
    meta:
        description = "ELF file with BPFDoor's dropper name, mutex, disguises or shell set-up"
        severity = "critical"
        author = "haetae"
        reference = "github.com/gwillgues/BPFDoor bpfdoor.c; attack.mitre.org/software/S1161; KISA BPFDoor check guide 2025-05-12"

    strings:
        $dropper = "kdmtmpflush"                  /* [1][3][5] /dev/shm/kdmtmpflush */
        $mutex   = "/var/run/haldrund.pid"        /* [1][3][4] */
        /* the disguises of self[] [1][5], whole command lines */
        $s_acpi     = "hald-addon-acpi: listening on acpi kernel interface /proc/acpi/event"
        $s_avahi    = "avahi-daemon: chroot helper"
        $s_pickup   = "pickup -l -t fifo -u"
        $s_ck       = "/usr/sbin/console-kit-daemon --no-daemon"
        $s_mingetty = "/sbin/mingetty /dev/tty7"
        $s_dbus     = "dbus-daemon --system"
        $s_udevd    = "/sbin/udevd -d"
        $s_hald     = "hald-runner"
        $s_auditd   = "/sbin/auditd -n"
        /* what the shell it hands out does [1][2] */
        $s_qmgr     = "qmgr -l -t fifo -u"
        $s_master   = "/usr/libexec/postfix/master"
        $s_mysqlhist = "MYSQL_HISTFILE=/dev/null"
        $s_redirect = "-j REDIRECT --to-ports %d"

    condition:
        uint32(0) == 0x464C457F and
        (3 of ($s_*) or (($dropper or $mutex) and 1 of ($s_*)) or ($dropper and $mutex))
}
