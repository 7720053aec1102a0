/* The knowledge behind the proc sensor's stealth findings: where droppers
 * run from, which daemons BPFDoor-class implants pretend to be, and which
 * mutex files they leave behind. Sources (also in docs/findings/proc.md):
 *
 * [1] BPFDoor source leaked in 2022, github.com/gwillgues/BPFDoor bpfdoor.c:
 *     self[] picks one of ten disguises at random ("/sbin/udevd -d",
 *     "/sbin/mingetty /dev/tty7", "/usr/sbin/console-kit-daemon --no-daemon",
 *     "hald-addon-acpi: listening on acpi kernel interface /proc/acpi/event",
 *     "dbus-daemon --system", "hald-runner", "pickup -l -t fifo -u",
 *     "avahi-daemon: chroot helper", "/sbin/auditd -n",
 *     "/usr/lib/systemd/systemd-journald"); its shell children are named
 *     "/usr/libexec/postfix/master" and run as "qmgr -l -t fifo -u" with
 *     HOME=/tmp, HISTFILE=/dev/null, MYSQL_HISTFILE=/dev/null; it copies
 *     itself to /dev/shm/kdmtmpflush, runs it and deletes it; its mutex is
 *     an empty /var/run/haldrund.pid created with mode 0644.
 * [2] KISA, "BPFDoor 악성코드 점검 가이드" (2025-05-12), check items: 0-byte
 *     mode-644 .pid and .lock files in /var/run; processes whose environment
 *     holds HOME=/tmp, HISTFILE=/dev/null, MYSQL_HISTFILE=/dev/null;
 *     processes running from /dev/shm disguised as abrtd, cmathreshd,
 *     pickup and other daemons.
 * [3] SigmaHQ rule lnx_auditd_bpfdoor_file_accessed (id 808146b2-9332-
 *     4d78-9416-d7e47012d83d), compiled from Sandfly, Elastic and Rapid7
 *     write-ups: the mutex/lock file names of known BPFDoor variants. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/proc_private.h"

static bool has_dir_prefix(const char *path, const char *dir) {
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

proc_exe_kind proc_exe_classify(const char *exe) {
    if (!exe) return PROC_EXE_NORMAL;
    /* memfd_create(2) files show as "/memfd:NAME (deleted)" in /proc/PID/exe. */
    if (strncmp(exe, "/memfd:", 7) == 0) return PROC_EXE_MEMFD;
    static const char *const tmp_dirs[] = {"/tmp", "/var/tmp", "/dev/shm"};
    for (size_t i = 0; i < sizeof tmp_dirs / sizeof *tmp_dirs; i++) {
        if (has_dir_prefix(exe, tmp_dirs[i])) return PROC_EXE_TMP;
    }
    return PROC_EXE_NORMAL;
}

/* ---- masquerading ------------------------------------------------------- */

#define BINARIES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Names from [1] and [2]; real_binaries are the basenames the genuine
 * daemon's /proc/PID/exe has across Debian, RHEL and SUSE (udevd is a link
 * to systemd-udevd or udevadm on systemd distributions). */
static const proc_daemon known_daemons[] = {
    {"udevd", BINARIES("udevd", "systemd-udevd", "udevadm")},
    {"mingetty", BINARIES("mingetty")},
    {"console-kit-daemon", BINARIES("console-kit-daemon")},
    {"hald-addon-acpi", BINARIES("hald-addon-acpi")},
    {"dbus-daemon", BINARIES("dbus-daemon")},
    {"hald-runner", BINARIES("hald-runner")},
    {"pickup", BINARIES("pickup")},
    {"qmgr", BINARIES("qmgr")},
    {"master", BINARIES("master")},
    {"avahi-daemon", BINARIES("avahi-daemon")},
    {"auditd", BINARIES("auditd")},
    {"systemd-journald", BINARIES("systemd-journald")},
    {"abrtd", BINARIES("abrtd")},
    {"cmathreshd", BINARIES("cmathreshd")},
};

static const char *base_name(const char *path, size_t len, size_t *base_len) {
    const char *base = path;
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '/') base = path + i + 1;
    }
    *base_len = len - (size_t)(base - path);
    return base;
}

/* The program argv[0] names: up to the first space or ':' ("avahi-daemon:
 * running", "dbus-daemon --system" written as one string), then basename. */
static const char *argv0_program(const char *argv0, size_t *len) {
    size_t n = strcspn(argv0, " :");
    return base_name(argv0, n, len);
}

static bool is_real_binary(const proc_daemon *d, const char *exe) {
    size_t len;
    const char *base = base_name(exe, strlen(exe), &len);
    for (const char *const *b = d->real_binaries; *b; b++) {
        if (strlen(*b) == len && memcmp(*b, base, len) == 0) return true;
    }
    return false;
}

const proc_daemon *proc_masquerade_check(const char *comm, const char *argv0, const char *exe,
                                         const char **claimed_by) {
    if (!exe || !exe[0]) return NULL;
    size_t arg_len = 0;
    const char *arg_name = argv0 ? argv0_program(argv0, &arg_len) : NULL;
    for (size_t i = 0; i < sizeof known_daemons / sizeof *known_daemons; i++) {
        const proc_daemon *d = &known_daemons[i];
        size_t name_len = strlen(d->name);
        /* TASK_COMM_LEN is 16: the kernel keeps 15 bytes of the name. */
        size_t comm_len = name_len > 15 ? 15 : name_len;
        const char *by = NULL;
        if (comm && strlen(comm) == comm_len && memcmp(comm, d->name, comm_len) == 0) {
            by = "comm";
        } else if (arg_name && arg_len == name_len && memcmp(arg_name, d->name, name_len) == 0) {
            by = "argv0";
        }
        if (by && !is_real_binary(d, exe)) {
            if (claimed_by) *claimed_by = by;
            return d;
        }
    }
    return NULL;
}

bool proc_claims_kernel_thread(const char *argv0) {
    size_t len = argv0 ? strlen(argv0) : 0;
    return len >= 3 && argv0[0] == '[' && argv0[len - 1] == ']';
}

/* ---- mutex files ----------------------------------------------------- */

/* From [3]; haldrund.pid also in [1]. Names a genuine daemon may also use
 * are reported only when empty: a real pid file holds a pid, BPFDoor's
 * mutex is created empty ([1], [2]). */
const proc_mutex_file proc_mutex_files[] = {
    {"haldrund.pid", false},     {"hald-smartd.pid", false}, {"hald-addon.pid", false},
    {"kdevrund.pid", false},     {"system.pid", true},       {"xinetd.lock", true},
    {"aepmonend.pid", true},     {"auditd.lock", true},      {"cma.lock", true},
    {"console-kit.pid", true},   {"consolekit.pid", true},   {"daemon.pid", true},
    {"hp-health.pid", true},     {"hpasmlit.lock", true},    {"hpasmlited.pid", true},
    {"lldpad.lock", true},       {"mcelog.pid", true},       {"uvp-srv.pid", true},
    {"vmtoolagt.pid", true},
};
const size_t proc_mutex_file_count = sizeof proc_mutex_files / sizeof *proc_mutex_files;

static int emit_mutex(const hae_sink *sink, const char *path, const struct stat *st,
                      hae_severity sev, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "proc", "proc.bpfdoor_mutex", sev,
                              "%s exists%s: a known BPFDoor mutex/lock file", path,
                              st->st_size == 0 ? " and is empty" : "");
    if (rc < 0) return hae_err_set(err, rc, "proc: out of memory building a finding");
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", path);
    if (rc == HAE_OK) rc = hae_event_add_int(&ev, "FileSize", (int64_t)st->st_size);
    if (rc == HAE_OK) {
        rc = hae_event_add_printf(&ev, "FileMode", "%04o", (unsigned)(st->st_mode & 07777));
    }
    if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "FileOwnerUid", st->st_uid);
    if (rc == HAE_OK) rc = hae_event_add_int(&ev, "FileModifiedTime", (int64_t)st->st_mtime);
    if (rc == HAE_OK) {
        rc = hae_emit(sink, &ev, err);
    } else {
        hae_err_set(err, rc, "proc: out of memory building a finding");
    }
    hae_event_clear(&ev);
    return rc;
}

int proc_mutex_scan(const char *run_dir, const hae_sink *sink, hae_err *err) {
    for (size_t i = 0; i < proc_mutex_file_count; i++) {
        const proc_mutex_file *m = &proc_mutex_files[i];
        char path[512];
        snprintf(path, sizeof path, "%s/%s", run_dir, m->name);
        struct stat st;
        if (lstat(path, &st) != 0) {
            if (errno != ENOENT) {
                hae_log(HAE_LOG_DEBUG, "proc: cannot stat %s: %s", path, strerror(errno));
            }
            continue;
        }
        bool is_empty = S_ISREG(st.st_mode) && st.st_size == 0;
        if (m->shared_with_daemon && !is_empty) {
            continue; /* a genuine pid file of that daemon */
        }
        int rc = emit_mutex(sink, path, &st, is_empty ? HAE_SEV_CRITICAL : HAE_SEV_HIGH, err);
        if (rc < 0) return rc;
    }
    return HAE_OK;
}
