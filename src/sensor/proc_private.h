/* proc sensor internals: pure parsers and rule tables, separated from /proc
 * and socket I/O so tests and fuzzers can feed them bytes. Private to
 * src/sensor (proc.c, proc_watch.c, their tests and fuzz targets). */
#ifndef HAETAE_SENSOR_PROC_PRIVATE_H
#define HAETAE_SENSOR_PROC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"

/* ---- /proc/PID/stat -------------------------------------------------- */

/* PF_KTHREAD from include/linux/sched.h: the task is a kernel thread. */
#define PROC_PF_KTHREAD 0x00200000u

typedef struct proc_stat_info {
    pid_t pid;
    char state;
    pid_t ppid;
    unsigned long flags;   /* field 9, PF_* bits */
    char comm[17];         /* between the first '(' and the last ')', cut at 16 */
} proc_stat_info;

/* Parses the text of /proc/PID/stat (proc(5)). comm may hold spaces and
 * ')', so it runs to the last ')'. Errors name the field. */
int proc_stat_parse(const char *text, size_t len, proc_stat_info *out, hae_err *err);

/* ---- /proc/PID/environ ----------------------------------------------- */

/* Finds NAME=value in a NUL-separated environ block (the last entry may
 * lack its NUL). Returns true and points *value into buf when found. */
bool proc_environ_find(const char *buf, size_t len, const char *name, const char **value,
                       size_t *value_len);

/* ---- the rules behind the findings ----------------------------------- */

/* Where an executable lives, judged from the /proc/PID/exe link text with
 * " (deleted)" already stripped. */
typedef enum {
    PROC_EXE_NORMAL,
    PROC_EXE_TMP,    /* /tmp, /var/tmp, /dev/shm */
    PROC_EXE_MEMFD   /* "/memfd:NAME": memfd_create + fexecve, no file at all */
} proc_exe_kind;

proc_exe_kind proc_exe_classify(const char *exe);

/* A system daemon BPFDoor-class implants pretend to be. */
typedef struct proc_daemon {
    const char *name;                 /* what a process claims, e.g. "dbus-daemon" */
    const char *const *real_binaries; /* basenames the real daemon's exe may have */
} proc_daemon;

/* What a process claims to be: its comm (the kernel truncates it to 15
 * bytes) or the program name in argv[0] (up to the first space or ':').
 * Returns the daemon claimed when exe's basename is none of the daemon's
 * real binaries, else NULL. claimed_by is set to "comm" or "argv0". A NULL
 * exe (kernel thread, unreadable) never matches. */
const proc_daemon *proc_masquerade_check(const char *comm, const char *argv0, const char *exe,
                                         const char **claimed_by);

/* argv[0] written like a kernel thread ("[kworker/0:1]") by a process that
 * has an executable: kernel threads have none. */
bool proc_claims_kernel_thread(const char *argv0);

/* Known BPFDoor mutex/lock files, relative to the run directory. */
typedef struct proc_mutex_file {
    const char *name;         /* e.g. "haldrund.pid" */
    bool shared_with_daemon;  /* a real daemon may own this name: report only when empty */
} proc_mutex_file;

extern const proc_mutex_file proc_mutex_files[];
extern const size_t proc_mutex_file_count;

/* Checks run_dir (normally /var/run) for the known mutex files; emits
 * proc.bpfdoor_mutex findings. Tests point it at a temporary directory. */
int proc_mutex_scan(const char *run_dir, const hae_sink *sink, hae_err *err);

/* ---- netlink proc connector messages --------------------------------- */

typedef enum {
    PROC_CN_ACK,    /* PROC_EVENT_NONE: reply to a LISTEN/IGNORE request */
    PROC_CN_FORK,
    PROC_CN_EXEC,
    PROC_CN_EXIT,
    PROC_CN_OTHER   /* uid, gid, sid, ptrace, comm, coredump: counted only */
} proc_cn_kind;

typedef struct proc_cn_event {
    proc_cn_kind kind;
    uint32_t seq;          /* cn_msg seq: per-CPU counter for real events */
    uint32_t ack;          /* cn_msg ack: our request's ack + 1 for PROC_CN_ACK */
    uint32_t cpu;
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC (ktime_get_ns) */
    uint32_t ack_err;      /* PROC_CN_ACK: errno from the kernel, 0 on success */
    pid_t pid;             /* exec/exit: the process (tgid); fork: the child tgid */
    pid_t ppid;            /* fork: the parent tgid; exit: parent tgid; else 0 */
} proc_cn_event;

typedef int (*proc_cn_fn)(void *ctx, const proc_cn_event *ev);

/* Walks the netlink messages in one datagram read from a NETLINK_CONNECTOR
 * socket and calls fn for each proc connector event. Messages for other
 * connector users are skipped; malformed ones stop the walk with
 * HAE_EINVAL naming the byte offset. A negative return from fn stops the
 * walk and is returned. */
int proc_cn_parse(const void *buf, size_t len, proc_cn_fn fn, void *ctx, hae_err *err);

#endif
