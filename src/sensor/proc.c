/* proc sensor: process_creation records from /proc (proc_describe) and the
 * stealth scan over every process (proc_scan). The rules themselves live in
 * proc_rules.c with their sources; this file is the /proc side. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/proc_private.h"
#include "sensor/procfs.h"
#include "sensor/sensor.h"
#include "sensor/sensor_int.h"

/* memfd executables are programs, not disk images: hash up to this much. */
#define MEMFD_HASH_MAX (256u << 20)

/* ---- proc_describe ------------------------------------------------------ */

static int add_optional(hae_event *ev, const char *name, const char *value) {
    return hae_event_add_str(ev, name, value && value[0] ? value : NULL);
}

static int describe_parent(pid_t ppid, hae_event *ev) {
    procfs_process parent;
    /* ppid 0: init and kthreadd have no parent; a parent that already exited
     * leaves the fields null rather than failing the whole record. */
    if (ppid <= 0 || procfs_read(ppid, &parent, NULL) != HAE_OK) {
        int rc = hae_event_add_str(ev, "ParentImage", NULL);
        return rc == HAE_OK ? hae_event_add_str(ev, "ParentCommandLine", NULL) : rc;
    }
    int rc = add_optional(ev, "ParentImage", parent.exe);
    if (rc == HAE_OK) rc = add_optional(ev, "ParentCommandLine", parent.cmdline);
    procfs_process_free(&parent);
    return rc;
}

int proc_describe(pid_t pid, hae_event *ev, hae_err *err) {
    procfs_process p;
    int rc = procfs_read(pid, &p, err);
    if (rc < 0) return rc;
    if (!ev->category) {
        rc = hae_event_set_source(ev, "linux", "process_creation", NULL);
    }
    char user[64];
    procfs_user_name(p.uid, user);
    if (rc == HAE_OK) rc = hae_event_add_int(ev, "ProcessId", p.pid);
    if (rc == HAE_OK) rc = add_optional(ev, "Image", p.exe);
    if (rc == HAE_OK) rc = add_optional(ev, "CommandLine", p.cmdline);
    if (rc == HAE_OK) rc = add_optional(ev, "CurrentDirectory", p.cwd);
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "User", user);
    if (rc == HAE_OK) rc = hae_event_add_int(ev, "ParentProcessId", p.ppid);
    if (rc == HAE_OK) rc = describe_parent(p.ppid, ev);
    procfs_process_free(&p);
    if (rc < 0) return hae_err_set(err, rc, "proc: out of memory describing pid %d", (int)pid);
    return HAE_OK;
}

/* ---- proc_scan ---------------------------------------------------------- */

typedef struct scan_ctx {
    const hae_sink *sink;
    hae_err *err;
    pid_t self;
    size_t skipped;
} scan_ctx;

/* A finding about one process, with the evidence every proc finding has. */
static int finding_begin(hae_event *ev, const procfs_process *p, const char *rule,
                         hae_severity sev, const char *what) {
    char user[64];
    procfs_user_name(p->uid, user);
    int rc = hae_finding_init(ev, "proc", rule, sev, "pid %d (%s, %s): %s", (int)p->pid, p->comm,
                              p->exe ? p->exe : "no executable", what);
    if (rc < 0) return rc;
    rc = hae_event_add_int(ev, "ProcessId", p->pid);
    if (rc == HAE_OK) rc = add_optional(ev, "Image", p->exe);
    if (rc == HAE_OK) rc = add_optional(ev, "CommandLine", p->cmdline);
    if (rc == HAE_OK) rc = hae_event_add_int(ev, "ParentProcessId", p->ppid);
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "User", user);
    if (rc == HAE_OK) rc = hae_event_add_str(ev, "Comm", p->comm);
    if (rc < 0) hae_event_clear(ev);
    return rc;
}

/* The executable's content, the only name a memfd program has: evidence,
 * and what an allowlist recognises a container runtime's own copy by. */
static int add_image_hash(hae_event *ev, pid_t pid) {
    char path[48], hex[65];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    int rc = sensor_sha256_file(path, MEMFD_HASH_MAX, hex);
    if (rc == HAE_ENOMEM) return rc;
    return rc == HAE_OK ? hae_event_add_str(ev, "ImageSha256", hex) : HAE_OK;
}

static int finding_end(scan_ctx *ctx, hae_event *ev, int rc) {
    if (rc == HAE_OK) {
        rc = hae_emit(ctx->sink, ev, ctx->err);
    } else {
        hae_err_set(ctx->err, rc, "proc: out of memory building a finding");
    }
    hae_event_clear(ev);
    return rc;
}

static int check_exe(scan_ctx *ctx, const procfs_process *p) {
    hae_event ev;
    int rc = HAE_OK;
    proc_exe_kind kind = proc_exe_classify(p->exe);
    if (kind == PROC_EXE_MEMFD) {
        /* The memfd is always "deleted": one finding says it all. */
        rc = finding_begin(&ev, p, "proc.memfd_exe", HAE_SEV_CRITICAL,
                           "runs from an anonymous memfd, no file on disk");
        if (rc == HAE_OK) rc = add_image_hash(&ev, p->pid);
        return rc < 0 ? rc : finding_end(ctx, &ev, rc);
    }
    if (p->exe_deleted) {
        /* A package upgrade replaces a running daemon's binary: the old
         * inode shows "(deleted)" while a new file sits at the path. Nothing
         * at the path is what droppers leave. */
        struct stat st;
        bool is_replaced = stat(p->exe, &st) == 0;
        rc = finding_begin(&ev, p, "proc.deleted_exe",
                           is_replaced ? HAE_SEV_MEDIUM : HAE_SEV_HIGH,
                           is_replaced ? "executable was replaced on disk since it started"
                                       : "executable was deleted from disk");
        if (rc < 0) return rc;
        rc = hae_event_add_bool(&ev, "ImageDeleted", true);
        if (rc == HAE_OK) rc = hae_event_add_bool(&ev, "ImageReplaced", is_replaced);
        if ((rc = finding_end(ctx, &ev, rc)) < 0) return rc;
    }
    if (kind == PROC_EXE_TMP) {
        rc = finding_begin(&ev, p, "proc.tmp_exe", HAE_SEV_HIGH,
                           "executable lives in a world-writable temporary directory");
        if (rc < 0) return rc;
        rc = hae_event_add_bool(&ev, "ImageDeleted", p->exe_deleted);
        rc = finding_end(ctx, &ev, rc);
    }
    return rc;
}

static int check_masquerade(scan_ctx *ctx, const procfs_process *p) {
    const char *claimed_by = NULL;
    const proc_daemon *d = proc_masquerade_check(p->comm, p->argv0, p->exe, &claimed_by);
    bool claims_kthread = !d && proc_claims_kernel_thread(p->argv0);
    if (!d && !claims_kthread) return HAE_OK;
    hae_event ev;
    char what[160];
    if (d) {
        snprintf(what, sizeof what, "its %s claims to be %s but the executable is not", claimed_by,
                 d->name);
    } else {
        snprintf(what, sizeof what, "argv[0] is written like a kernel thread but it has an "
                                    "executable");
    }
    int rc = finding_begin(&ev, p, "proc.masquerade", HAE_SEV_CRITICAL, what);
    if (rc < 0) return rc;
    rc = hae_event_add_str(&ev, "ClaimedName", d ? d->name : p->argv0);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "ClaimedBy", d ? claimed_by : "argv0");
    if (rc == HAE_OK) rc = add_optional(&ev, "Argv0", p->argv0);
    return finding_end(ctx, &ev, rc);
}

static int env_finding(scan_ctx *ctx, const procfs_process *p, const char *rule,
                       hae_severity sev, const char *name, const char *value, size_t len) {
    hae_event ev;
    char what[128];
    snprintf(what, sizeof what, "environment sets %s=%.*s", name, (int)(len > 64 ? 64 : len),
             value);
    int rc = finding_begin(&ev, p, rule, sev, what);
    if (rc < 0) return rc;
    rc = hae_event_add_strn(&ev, name, value, len);
    return finding_end(ctx, &ev, rc);
}

static bool value_is(const char *value, size_t len, const char *expected) {
    return len == strlen(expected) && memcmp(value, expected, len) == 0;
}

static int check_environ(scan_ctx *ctx, const procfs_process *p) {
    hae_buf env = {0};
    int rc = procfs_read_file(p->pid, "environ", &env, NULL);
    if (rc < 0) {
        hae_buf_free(&env);
        if (rc == HAE_ENOMEM) return hae_err_set(ctx->err, rc, "proc: out of memory");
        hae_log(HAE_LOG_DEBUG, "proc: environ of pid %d unreadable, skipped", (int)p->pid);
        return HAE_OK;
    }
    const char *value;
    size_t len;
    /* BPFDoor's shells drop history for bash and the mysql client ([1], [2]). */
    static const char *const history_vars[] = {"HISTFILE", "MYSQL_HISTFILE"};
    for (size_t i = 0; rc == HAE_OK && i < 2; i++) {
        if (proc_environ_find(env.data, env.len, history_vars[i], &value, &len) &&
            value_is(value, len, "/dev/null")) {
            rc = env_finding(ctx, p, "proc.histfile_null", HAE_SEV_HIGH, history_vars[i], value,
                             len);
        }
    }
    if (rc == HAE_OK && proc_environ_find(env.data, env.len, "HOME", &value, &len) &&
        (value_is(value, len, "/tmp") || value_is(value, len, "/tmp/") ||
         value_is(value, len, "/var/tmp") || value_is(value, len, "/var/tmp/"))) {
        rc = env_finding(ctx, p, "proc.home_tmp", HAE_SEV_MEDIUM, "HOME", value, len);
    }
    hae_buf_free(&env);
    return rc;
}

static bool is_kernel_thread(pid_t pid) {
    hae_buf stat_text = {0};
    proc_stat_info info;
    bool is_kthread = procfs_read_file(pid, "stat", &stat_text, NULL) == HAE_OK &&
                      proc_stat_parse(stat_text.data, stat_text.len, &info, NULL) == HAE_OK &&
                      (info.flags & PROC_PF_KTHREAD);
    hae_buf_free(&stat_text);
    return is_kthread;
}

static int scan_one(void *arg, pid_t pid) {
    scan_ctx *ctx = arg;
    if (pid == ctx->self) return HAE_OK; /* haetae itself */
    procfs_process p;
    hae_err read_err = {0};
    int rc = procfs_read(pid, &p, &read_err);
    if (rc == HAE_ENOMEM) return hae_err_set(ctx->err, rc, "%s", read_err.msg);
    if (rc < 0) {
        /* Exited between readdir and open, or not ours to read. */
        hae_log(HAE_LOG_DEBUG, "proc: pid %d skipped: %s", (int)pid, read_err.msg);
        ctx->skipped++;
        return HAE_OK;
    }
    if (is_kernel_thread(pid)) {
        procfs_process_free(&p);
        return HAE_OK;
    }
    if (!p.exe) {
        /* Zombie, exited mid-read, or exe not readable: name rules need it. */
        hae_log(HAE_LOG_DEBUG, "proc: pid %d (%s): executable unknown, exe checks skipped",
                (int)pid, p.comm);
    }
    rc = check_exe(ctx, &p);
    if (rc == HAE_OK) rc = check_masquerade(ctx, &p);
    if (rc == HAE_OK) rc = check_environ(ctx, &p);
    procfs_process_free(&p);
    return rc;
}

int proc_scan(const hae_sink *sink, hae_err *err) {
    scan_ctx ctx = {.sink = sink, .err = err, .self = getpid()};
    int rc = procfs_each_pid(scan_one, &ctx, err);
    if (rc < 0) return rc;
    if (ctx.skipped) {
        hae_log(HAE_LOG_DEBUG, "proc: %zu processes exited or were unreadable during the scan",
                ctx.skipped);
    }
    /* /var/run is where BPFDoor keeps its mutex on every variant seen. */
    return proc_mutex_scan("/var/run", sink, err);
}
